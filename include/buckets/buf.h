/* buckets — growable, capped byte buffer.
 *
 * Ownership: a bk_buf owns its heap storage `p`; release it with bk_buf_free.
 * Every buffer has a hard cap (`max`); appends past it fail with BK_ELIMIT
 * and leave the buffer unchanged. A zero-initialised bk_buf with max = 0 is
 * invalid: use bk_buf_init.
 */
#ifndef BUCKETS_BUF_H
#define BUCKETS_BUF_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

typedef struct bk_buf {
  uint8_t *p;
  size_t len;
  size_t cap;
  size_t max;
} bk_buf;

BK_API void bk_buf_init(bk_buf *b, size_t max);
BK_API void bk_buf_free(bk_buf *b);
BK_API void bk_buf_reset(bk_buf *b);                    /* len = 0, keeps storage */
BK_API int bk_buf_reserve(bk_buf *b, size_t extra);     /* ensure cap >= len+extra */
BK_API int bk_buf_append(bk_buf *b, const void *data, size_t n);
BK_API int bk_buf_append_u8(bk_buf *b, uint8_t v);
BK_API int bk_buf_append_u32le(bk_buf *b, uint32_t v);
BK_API int bk_buf_append_u64le(bk_buf *b, uint64_t v);
BK_API int bk_buf_append_zeros(bk_buf *b, size_t n);
BK_API int bk_buf_printf(bk_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Growable arrays: room for element n. Returns arr itself while n < *cap;
 * otherwise arr reallocated to twice *cap elements of elem bytes (first when
 * *cap is 0, at most max elements when max > 0), with *cap updated. NULL when
 * out of memory, when the size would overflow, or when the array is already
 * at max: arr is then unchanged and still the caller's. No error message is
 * set (callers report in their own words). */
BK_API void *bk_grow(void *arr, size_t n, size_t *cap, size_t elem, size_t first, size_t max);

/* Little-endian loads/stores on raw memory (no bounds checks: callers check). */
static inline uint32_t bk_load_u24le(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}
static inline uint32_t bk_load_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
static inline uint64_t bk_load_u64le(const uint8_t *p) {
  return (uint64_t)bk_load_u32le(p) | ((uint64_t)bk_load_u32le(p + 4) << 32);
}
static inline void bk_store_u24le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16);
}
static inline void bk_store_u32le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static inline void bk_store_u64le(uint8_t *p, uint64_t v) {
  bk_store_u32le(p, (uint32_t)v); bk_store_u32le(p + 4, (uint32_t)(v >> 32));
}

#endif
