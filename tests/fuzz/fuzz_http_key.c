/* libFuzzer target: object keys as they arrive in URLs and bodies —
 * percent-decoding (bk_http_unescape, both '+' modes), encoding round trip
 * (bk_http_escape), UTF-8 validation, key validation (bk_path_valid), the
 * tree prefix normalisation (hub_tree_prefix) and repo ids
 * (hub_split_repo_id). Input: the raw bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "store/db.h"
#include "server/http.h"
#include "server/hub_parse.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

static void roundtrip(const char *s, int keep_slash) {
  bk_buf b;
  bk_buf_init(&b, 1u << 20);
  if (bk_http_escape(&b, s, keep_slash) == 0) {
    size_t n = 0;
    char *back = bk_http_unescape((const char *)b.p, b.len, 0, &n);
    ASSERT(back && n == strlen(s) && !memcmp(back, s, n));
    for (size_t i = 0; i < b.len; i++) {
      uint8_t c = b.p[i];
      ASSERT(c > 0x20 && c < 0x7f && c != '?' && c != '#' && c != '&' && c != '+');
      if (!keep_slash) ASSERT(c != '/');
    }
    free(back);
  }
  bk_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *src = (const char *)data;
  for (int plus = 0; plus < 2; plus++) {
    size_t n = 12345;
    char *d = bk_http_unescape(src, size, plus, &n);
    if (!d) continue;
    ASSERT(n <= size && strlen(d) == n); /* no NUL inside */
    int u8 = bk_utf8_valid(d, n);
    int valid = bk_path_valid(d, n);
    if (valid) {
      ASSERT(u8);
      ASSERT(n >= 1 && n <= BK_PATH_MAX);
      ASSERT(d[0] != '/' && d[n - 1] != '/' && !strchr(d, '\\'));
      for (size_t i = 0; i < n; i++) ASSERT((uint8_t)d[i] >= 0x20 && (uint8_t)d[i] != 0x7f);
      ASSERT(!strstr(d, "//") && strcmp(d, ".") && strcmp(d, "..") && strncmp(d, "./", 2) &&
             strncmp(d, "../", 3) && !strstr(d, "/./") && !strstr(d, "/../"));
    }
    roundtrip(d, plus);
    char prefix[BK_PATH_MAX + 2];
    long pl = hub_tree_prefix(d, prefix);
    ASSERT(pl >= -2);
    if (pl >= 0) {
      ASSERT((size_t)pl == strlen(prefix) && (size_t)pl <= n);
      ASSERT(pl == 0 || bk_path_valid(prefix, (size_t)pl));
    }
    char buf[256];
    char *ns = NULL, *name = NULL;
    if (hub_split_repo_id(d, buf, sizeof buf, &ns, &name) == 0) {
      ASSERT(bk_name_valid(ns) && bk_name_valid(name));
      ASSERT(!strchr(ns, '/') && !strchr(name, '/'));
    }
    free(d);
  }
  return 0;
}
