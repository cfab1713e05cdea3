/* buckets — Xet merkle aggregation: xorb hash, file hash, range hash.
 *
 * Pure functions over caller-owned arrays. Functions that need scratch space
 * allocate it internally and free it before returning.
 */
#ifndef BUCKETS_MERKLE_H
#define BUCKETS_MERKLE_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

#include "buckets/hash.h"

typedef struct bk_merkle_leaf {
  bk_hash hash;
  uint64_t len;
} bk_merkle_leaf;

/* Merkle root over n leaves (xet.md §2). n == 0 -> zero hash; n == 1 -> the
 * leaf hash. Returns 0, BK_ENOMEM. */
BK_API int bk_merkle_root(const bk_merkle_leaf *leaves, size_t n, bk_hash *out);

/* Xorb hash = merkle root over the xorb's chunks. */
BK_API int bk_xorb_hash(const bk_merkle_leaf *chunks, size_t n, bk_hash *out);

/* File hash = blake3_keyed(salt, root) over the file's chunks in order;
 * zero hash when n == 0. salt NULL means 32 zero bytes. */
BK_API int bk_file_hash(const bk_merkle_leaf *chunks, size_t n, const uint8_t *salt,
                 bk_hash *out);

/* File hash from an already computed root (and whether the file has chunks). */
BK_API void bk_file_hash_from_root(const bk_hash *root, int has_chunks,
                            const uint8_t *salt, bk_hash *out);

/* Term verification hash = blake3_keyed(VERIFICATION_KEY, raw hashes...). */
BK_API void bk_range_hash(const bk_hash *chunk_hashes, size_t n, bk_hash *out);

/* Incremental merkle builder: push leaves one at a time, then finish.
 * Streaming: memory is bounded (a few pending entries per tree level, about
 * 80 KiB in all, independent of n); same root as bk_merkle_root.
 * Ownership: created with _new, released with _free. */
typedef struct bk_merkle bk_merkle;
BK_API int bk_merkle_new(bk_merkle **out);
BK_API int bk_merkle_push(bk_merkle *m, const bk_hash *h, uint64_t len);
BK_API size_t bk_merkle_count(const bk_merkle *m);
/* Root over everything pushed so far (the builder stays usable). */
BK_API int bk_merkle_finish(bk_merkle *m, bk_hash *root);
BK_API void bk_merkle_free(bk_merkle *m);

#endif
