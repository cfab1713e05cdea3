/* libFuzzer target: the HTTP Range header parser (bk_http_parse_range).
 * Input: 8 bytes little-endian file size (any value, short inputs pad with
 * zeros), then the header value. Checks: a satisfiable answer lies inside
 * the file and start <= end; nothing is touched on "ignore". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t fsize = 0;
  size_t hdr = size < 8 ? size : 8;
  for (size_t i = 0; i < hdr; i++) fsize |= (uint64_t)data[i] << (8 * i);
  /* small sizes are the interesting ones half of the time */
  if (hdr && (data[0] & 1)) fsize &= 0xffff;
  char *h = malloc(size - hdr + 1);
  if (!h) return 0;
  memcpy(h, data + hdr, size - hdr);
  h[size - hdr] = 0;
  uint64_t s = 12345, e = 67890;
  int r = bk_http_parse_range(h, fsize, &s, &e);
  ASSERT(r >= -1 && r <= 1);
  if (r == 1) {
    ASSERT(fsize > 0);
    ASSERT(s <= e);
    ASSERT(e < fsize);
  } else {
    ASSERT(s == 12345 && e == 67890);
  }
  free(h);
  return 0;
}
