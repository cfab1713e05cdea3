/* Xet hashes: keyed BLAKE3 (official C implementation, SIMD-dispatched) and
 * the hash string form with its per-u64 byte-order quirk (xet.md §2).
 * Pure functions; no allocation. */
#include "buckets/hash.h"

#include <string.h>

#include "blake3.h"
#include "buckets/error.h"

/* Keys from xet.md §2 (raw bytes, in order). */
const uint8_t BK_DATA_KEY[32] = {
    0x66, 0x97, 0xf5, 0x77, 0x5b, 0x95, 0x50, 0xde, 0x31, 0x35, 0xcb,
    0xac, 0xa5, 0x97, 0x18, 0x1c, 0x9d, 0xe4, 0x21, 0x10, 0x9b, 0xeb,
    0x2b, 0x58, 0xb4, 0xd0, 0xb0, 0x4b, 0x93, 0xad, 0xf2, 0x29};
const uint8_t BK_INTERNAL_NODE_KEY[32] = {
    0x01, 0x7e, 0xc5, 0xc7, 0xa5, 0x47, 0x29, 0x96, 0xfd, 0x94, 0x66,
    0x66, 0xb4, 0x8a, 0x02, 0xe6, 0x5d, 0xdd, 0x53, 0x6f, 0x37, 0xc7,
    0x6d, 0xd2, 0xf8, 0x63, 0x52, 0xe6, 0x4a, 0x53, 0x71, 0x3f};
const uint8_t BK_VERIFICATION_KEY[32] = {
    0x7f, 0x18, 0x57, 0xd6, 0xce, 0x56, 0xed, 0x66, 0x12, 0x7f, 0xf9,
    0x13, 0xe7, 0xa5, 0xc3, 0xf3, 0xa4, 0xcd, 0x26, 0xd5, 0xb5, 0xdb,
    0x49, 0xe6, 0x41, 0x24, 0x98, 0x7f, 0x28, 0xfb, 0x94, 0xc3};

void bk_keyed_hash(const uint8_t key[32], const void *data, size_t len, bk_hash *out) {
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, key);
  if (len) blake3_hasher_update(&h, data, len);
  blake3_hasher_finalize(&h, out->b, BK_HASH_LEN);
}

void bk_chunk_hash(const void *data, size_t len, bk_hash *out) {
  bk_keyed_hash(BK_DATA_KEY, data, len, out);
}

void bk_blake3(const void *data, size_t len, uint8_t out[32]) {
  blake3_hasher h;
  blake3_hasher_init(&h);
  if (len) blake3_hasher_update(&h, data, len);
  blake3_hasher_finalize(&h, out, 32);
}

void bk_hash_hmac(const bk_hash *h, const uint8_t key[32], bk_hash *out) {
  bk_hash tmp = *h; /* out may alias h */
  bk_keyed_hash(key, tmp.b, BK_HASH_LEN, out);
}

static const char HEXD[] = "0123456789abcdef";

void bk_hash_to_hex(const bk_hash *h, char out[BK_HASH_HEX_LEN + 1]) {
  char *o = out;
  for (int g = 0; g < 4; g++) {
    for (int i = 7; i >= 0; i--) {
      uint8_t v = h->b[g * 8 + i];
      *o++ = HEXD[v >> 4];
      *o++ = HEXD[v & 15];
    }
  }
  *o = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int bk_hash_from_hex(const char *s, bk_hash *out) {
  bk_hash tmp;
  for (int g = 0; g < 4; g++) {
    for (int i = 0; i < 8; i++) {
      /* stop at the first bad char (a NUL included): never read past it */
      int hi = hexval(s[(g * 8 + i) * 2]);
      if (hi < 0) return bk_seterr(BK_EINVAL, "invalid hex digit in hash");
      int lo = hexval(s[(g * 8 + i) * 2 + 1]);
      if (lo < 0) return bk_seterr(BK_EINVAL, "invalid hex digit in hash");
      tmp.b[g * 8 + (7 - i)] = (uint8_t)(hi << 4 | lo);
    }
  }
  *out = tmp;
  return 0;
}

int bk_hash_parse(const char *s, bk_hash *out) {
  if (!s) return bk_seterr(BK_EINVAL, "hash string is NULL");
  size_t n = strnlen(s, BK_HASH_HEX_LEN + 1);
  if (n != BK_HASH_HEX_LEN)
    return bk_seterr(BK_EINVAL, "hash string must be %d hex chars", BK_HASH_HEX_LEN);
  return bk_hash_from_hex(s, out);
}

int bk_hash_eq(const bk_hash *a, const bk_hash *b) {
  return memcmp(a->b, b->b, BK_HASH_LEN) == 0;
}

int bk_hash_is_zero(const bk_hash *h) {
  uint8_t acc = 0;
  for (int i = 0; i < BK_HASH_LEN; i++) acc |= h->b[i];
  return acc == 0;
}

static uint64_t load64le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

uint64_t bk_hash_tail_u64(const bk_hash *h) { return load64le(h->b + 24); }
uint64_t bk_hash_head_u64(const bk_hash *h) { return load64le(h->b); }

/* Mirrors blake3_dispatch.c's preference order for the bulk hash_many path:
 * AVX-512 (F+VL), AVX2, SSE4.1, SSE2, portable. */
const char *bk_blake3_impl(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
    return "avx512";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  if (__builtin_cpu_supports("sse4.1")) return "sse41";
  if (__builtin_cpu_supports("sse2")) return "sse2";
  return "portable";
#else
  return "portable";
#endif
}
