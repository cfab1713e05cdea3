/* bucketd — JSON output helpers. See jsonout.h. */
#include "server/jsonout.h"

#include <string.h>

#include "server/http.h"

int bk_jstr(bk_buf *b, const char *s) {
  static const char hx[] = "0123456789abcdef";
  size_t n = strlen(s);
  /* worst case 6 bytes per input byte + quotes */
  if (n > (SIZE_MAX - 2) / 6) return bk_buf_reserve(b, SIZE_MAX);
  int rc = bk_buf_reserve(b, n + 2);
  if (rc) return rc;
  b->p[b->len++] = '"';
  const unsigned char *p = (const unsigned char *)s;
  const unsigned char *run = p;
  for (;; p++) {
    unsigned c = *p;
    if (c && c >= 0x20 && c != '"' && c != '\\') continue;
    if (p > run && (rc = bk_buf_append(b, run, (size_t)(p - run)))) return rc;
    if (!c) break;
    char e[6];
    size_t el = 2;
    e[0] = '\\';
    switch (c) {
    case '"': e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    default:
      e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hx[c >> 4]; e[5] = hx[c & 15];
      el = 6;
    }
    if ((rc = bk_buf_append(b, e, el))) return rc;
    run = p + 1;
  }
  return bk_buf_append_u8(b, '"');
}

int bk_jkey(bk_buf *b, const char *key) {
  int rc = bk_jstr(b, key);
  return rc ? rc : bk_buf_append_u8(b, ':');
}

int bk_jhash(bk_buf *b, const bk_hash *h) {
  char hex[BK_HASH_HEX_LEN + 3];
  hex[0] = '"';
  bk_hash_to_hex(h, hex + 1);
  hex[BK_HASH_HEX_LEN + 1] = '"';
  return bk_buf_append(b, hex, BK_HASH_HEX_LEN + 2);
}

int bk_jtime(bk_buf *b, int64_t ms) {
  char t[32];
  bk_iso8601_ms(ms, t);
  size_t n = strlen(t);
  int rc = bk_buf_reserve(b, n + 2);
  if (rc) return rc;
  b->p[b->len++] = '"';
  memcpy(b->p + b->len, t, n);
  b->len += n;
  b->p[b->len++] = '"';
  return 0;
}
