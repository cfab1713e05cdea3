/* buckets — Xet content-defined chunking (gear hash, xet.md §1).
 *
 * Two layers:
 *  - bk_cdc: the pure boundary finder. Feed it bytes; it tells where the
 *    current chunk ends. It never copies data. Constant memory.
 *  - bk_chunker: feed arbitrary buffers, get a callback per finished chunk
 *    with its bytes and its chunk hash. Keeps at most one partial chunk
 *    (BK_CDC_MAX bytes). Constant memory for any input size.
 * Ownership: objects created with _new are released with _free.
 */
#ifndef BUCKETS_CDC_H
#define BUCKETS_CDC_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

#include "buckets/hash.h"

#define BK_CDC_TARGET 65536u
#define BK_CDC_MIN 8192u
#define BK_CDC_MAX 131072u
#define BK_CDC_MASK 0xFFFF000000000000ull

BK_API extern const uint64_t BK_GEAR_TABLE[256];

typedef struct bk_cdc bk_cdc;

BK_API int bk_cdc_new(bk_cdc **out);
BK_API void bk_cdc_free(bk_cdc *c);
BK_API void bk_cdc_reset(bk_cdc *c);

/* Scans data[0..len) as the continuation of the current chunk.
 * If a boundary falls inside, returns the number of bytes up to and
 * including the chunk's last byte and sets *cut = 1 (state is reset for the
 * next chunk). Otherwise consumes everything, returns len, sets *cut = 0.
 * At end of input, any bytes fed since the last cut form the final chunk. */
BK_API size_t bk_cdc_scan(bk_cdc *c, const uint8_t *data, size_t len, int *cut);

/* Bytes in the current (unfinished) chunk. */
BK_API uint64_t bk_cdc_pending(const bk_cdc *c);

/* Called once per chunk, in order. data is valid only during the call.
 * Return 0 to continue, non-zero to abort (returned from feed/finish). */
typedef int (*bk_chunk_cb)(void *ctx, uint64_t offset, const uint8_t *data,
                           size_t len, const bk_hash *hash);

typedef struct bk_chunker bk_chunker;

BK_API int bk_chunker_new(bk_chunk_cb cb, void *ctx, bk_chunker **out);
BK_API void bk_chunker_free(bk_chunker *k);
/* Feeds bytes; calls cb for each completed chunk. */
BK_API int bk_chunker_feed(bk_chunker *k, const void *data, size_t len);
/* Flushes the final partial chunk (if any). The chunker may then be reused
 * for a new stream. */
BK_API int bk_chunker_finish(bk_chunker *k);
/* Total bytes fed since the stream began. */
BK_API uint64_t bk_chunker_offset(const bk_chunker *k);

/* Boundaries of a whole in-memory buffer: writes cumulative end offsets into
 * ends (malloc'd, caller frees) and their count. */
BK_API int bk_cdc_boundaries(const uint8_t *data, size_t len, uint64_t **ends, size_t *n);

/* Same result, computed with up to nthreads threads (xet.md §1 "Parallel
 * chunking": segments are joined at provably stable boundaries). */
BK_API int bk_cdc_boundaries_parallel(const uint8_t *data, size_t len, unsigned nthreads,
                               uint64_t **ends, size_t *n);

/* Parallel chunk + hash of a whole in-memory buffer: same boundaries as
 * bk_cdc_boundaries, plus each chunk's hash (bk_chunk_hash), computed by the
 * thread that found the chunk. ends and hashes are malloc'd (caller frees
 * both); *n chunks. nthreads is capped at 64 and reduced for small inputs. */
BK_API int bk_cdc_chunks_parallel(const uint8_t *data, size_t len, unsigned nthreads,
                           uint64_t **ends, bk_hash **hashes, size_t *n);

/* Process-wide counters of the parallel chunker: segment joins at stable
 * boundaries, and defensive fallbacks to sequential chunking (expected 0). */
BK_API void bk_cdc_parallel_stats(uint64_t *joins, uint64_t *fallbacks);

#endif
