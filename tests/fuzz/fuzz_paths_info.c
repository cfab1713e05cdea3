/* libFuzzer target: the paths-info body parser (hub_paths_parse), JSON and
 * application/x-www-form-urlencoded. Input: first byte selects the content
 * type (odd = form), the rest is the body. Checks: at most BK_PATHS_INFO_MAX
 * paths, every returned path is a valid key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "server/hub_parse.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *ct = (data[0] & 1) ? "application/x-www-form-urlencoded; charset=utf-8"
                                 : ((data[0] & 2) ? "application/json" : NULL);
  hub_paths p;
  int st = hub_paths_parse(ct, data + 1, size - 1, &p);
  ASSERT(st == 0 || st == 400 || st == 503);
  if (st) {
    ASSERT(p.err[0]);
  } else {
    ASSERT(p.n <= BK_PATHS_INFO_MAX && p.nvalid <= p.n);
    for (size_t i = 0; i < p.nvalid; i++) ASSERT(bk_path_valid(p.paths[i], strlen(p.paths[i])));
  }
  hub_paths_free(&p);
  return 0;
}
