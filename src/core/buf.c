/* Growable, capped byte buffer. */
#include "buckets/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"

void *bk_grow(void *arr, size_t n, size_t *cap, size_t elem, size_t first, size_t max) {
  if (n < *cap) return arr;
  size_t nc = *cap ? *cap * 2 : first;
  if (max && nc > max) nc = max;
  if (nc <= n || elem == 0 || nc > SIZE_MAX / elem) return NULL;
  void *p = realloc(arr, nc * elem);
  if (p) *cap = nc;
  return p;
}

void bk_buf_init(bk_buf *b, size_t max) {
  b->p = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void bk_buf_free(bk_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

void bk_buf_reset(bk_buf *b) { b->len = 0; }

int bk_buf_reserve(bk_buf *b, size_t extra) {
  if (extra > b->max || b->len > b->max - extra)
    return bk_seterr(BK_ELIMIT, "buffer limit %zu bytes exceeded", b->max);
  size_t need = b->len + extra;
  if (need <= b->cap) return 0;
  size_t ncap = b->cap ? b->cap : 256;
  while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  if (ncap > b->max) ncap = b->max;
  uint8_t *np = realloc(b->p, ncap);
  if (!np) return bk_seterr(BK_ENOMEM, "cannot grow buffer to %zu bytes", ncap);
  b->p = np;
  b->cap = ncap;
  return 0;
}

int bk_buf_append(bk_buf *b, const void *data, size_t n) {
  int rc = bk_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

int bk_buf_append_u8(bk_buf *b, uint8_t v) { return bk_buf_append(b, &v, 1); }

int bk_buf_append_u32le(bk_buf *b, uint32_t v) {
  uint8_t t[4];
  bk_store_u32le(t, v);
  return bk_buf_append(b, t, 4);
}

int bk_buf_append_u64le(bk_buf *b, uint64_t v) {
  uint8_t t[8];
  bk_store_u64le(t, v);
  return bk_buf_append(b, t, 8);
}

int bk_buf_append_zeros(bk_buf *b, size_t n) {
  int rc = bk_buf_reserve(b, n);
  if (rc) return rc;
  memset(b->p + b->len, 0, n);
  b->len += n;
  return 0;
}

int bk_buf_printf(bk_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return bk_seterr(BK_EINVAL, "bad format string");
  int rc = bk_buf_reserve(b, (size_t)n + 1);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}
