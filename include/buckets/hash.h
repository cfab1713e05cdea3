/* buckets — Xet hashes: keyed BLAKE3 chunk hashes and the hash string form.
 *
 * All hashes are 32 raw bytes (bk_hash). The string form (64 lowercase hex
 * chars) reverses each 8-byte group before hex-encoding (xet.md §2).
 * No allocation; no ownership concerns.
 */
#ifndef BUCKETS_HASH_H
#define BUCKETS_HASH_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

#define BK_HASH_LEN 32
#define BK_HASH_HEX_LEN 64

typedef struct bk_hash {
  uint8_t b[BK_HASH_LEN];
} bk_hash;

BK_API extern const uint8_t BK_DATA_KEY[32];         /* chunk hashes */
BK_API extern const uint8_t BK_INTERNAL_NODE_KEY[32]; /* merkle nodes */
BK_API extern const uint8_t BK_VERIFICATION_KEY[32]; /* term range hashes */

/* blake3_keyed(key, data). */
BK_API void bk_keyed_hash(const uint8_t key[32], const void *data, size_t len, bk_hash *out);

/* Chunk hash = blake3_keyed(DATA_KEY, chunk). */
BK_API void bk_chunk_hash(const void *data, size_t len, bk_hash *out);

/* Plain (unkeyed) BLAKE3, for internal uses such as token digests. */
BK_API void bk_blake3(const void *data, size_t len, uint8_t out[32]);

/* "hmac" of xet dedup shards: blake3_keyed(key, raw h). */
BK_API void bk_hash_hmac(const bk_hash *h, const uint8_t key[32], bk_hash *out);

/* Writes the 64-char string form plus NUL into out[65]. */
BK_API void bk_hash_to_hex(const bk_hash *h, char out[BK_HASH_HEX_LEN + 1]);

/* Parses exactly 64 hex chars (either case) at s (not necessarily
 * NUL-terminated: reads 64 bytes). Returns 0 or BK_EINVAL. */
BK_API int bk_hash_from_hex(const char *s, bk_hash *out);

/* Parses a NUL-terminated string that must be exactly 64 hex chars. */
BK_API int bk_hash_parse(const char *s, bk_hash *out);

BK_API int bk_hash_eq(const bk_hash *a, const bk_hash *b);
BK_API int bk_hash_is_zero(const bk_hash *h);

/* The u64 made of bytes 24..31 little-endian (used by merkle cuts and
 * global-dedup eligibility). */
BK_API uint64_t bk_hash_tail_u64(const bk_hash *h);

/* First u64 (bytes 0..7 LE): the shard "truncated hash" lookup key. */
BK_API uint64_t bk_hash_head_u64(const bk_hash *h);

/* Which SIMD implementation BLAKE3 dispatches to at run time (static string). */
BK_API const char *bk_blake3_impl(void);

#endif
