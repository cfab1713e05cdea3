/* buckets storage service — copy a whole store (metadata and blobs) into
 * another one: `bucketd migrate` (docs/service.md "Migration",
 * docs/server.md "bucketd migrate").
 *
 * Order, so that a target never has rows pointing at missing blobs and a
 * run killed at any point is simply run again:
 *   1. fingerprint the source metadata (store/db_copy.h); a target whose
 *      marker is this fingerprint is complete: nothing to do. A target with
 *      any other data is refused (BK_EEXIST).
 *   2. every source blob that has a row (xorbs, shards) is read, VERIFIED
 *      as the server verifies an upload (a xorb by its xorb hash through the
 *      streaming parser, a shard by the BLAKE3 hash of its bytes) while it is
 *      written to the target, and committed only when it verified. A blob the
 *      target holds already with the same size is skipped (it can only be a
 *      committed copy of an earlier run: writers commit atomically, and the
 *      target held no data when the first run started). A source blob
 *      without a row is garbage gc would remove: not copied, counted. A
 *      blob that does not verify, or a row without its blob, stops the
 *      migration before any metadata is written (BK_EHASH / BK_ENOTFOUND,
 *      the message names the blob; `bucketd fsck --read-data` and a
 *      re-upload repair the source).
 *   3. every metadata row, in ONE transaction on the target.
 *
 * Ownership: the four handles are borrowed; stats are the caller's. The
 * caller makes sure no server writes to the source meanwhile (the CLI holds
 * the data dir's serve lock).
 */
#ifndef BUCKETS_SVC_MIGRATE_H
#define BUCKETS_SVC_MIGRATE_H

#include <stdint.h>

#include "store/blobstore.h"
#include "store/db.h"
#include "store/db_copy.h"

/* After each blob (kind: "xorb" or "shard"; copied = 1, or skipped because
 * present = 0); a non-zero return stops the migration and is returned. */
typedef int (*bk_svc_migrate_blob_cb)(void *ctx, const char *kind, const bk_hash *h,
                                      uint64_t size, int copied);

struct bk_svc_migrate_config {
  bk_db *src_db, *dst_db;
  bk_blobstore *src_blobs, *dst_blobs;
  bk_svc_migrate_blob_cb blob_cb; /* may be NULL */
  bk_db_copy_cb table_cb;         /* may be NULL: after each table (store/db_copy.h) */
  void *ctx;
};

/* Stats are indexed by blob kind: [0] xorbs, [1] shards. */
typedef struct bk_svc_migrate_stats {
  int nothing_to_do;                    /* the target is a complete copy already */
  uint64_t copied[BK_BLOB_NKINDS], copied_bytes[BK_BLOB_NKINDS];
  uint64_t present[BK_BLOB_NKINDS], present_bytes[BK_BLOB_NKINDS]; /* skipped */
  uint64_t orphans[BK_BLOB_NKINDS];     /* source blobs without a row: not copied */
  bk_db_copy_stats meta;                /* rows per table (the source's, when nothing_to_do) */
} bk_svc_migrate_stats;

/* Runs the migration described above. 0 (also when there was nothing to
 * do), BK_EEXIST (target holds other data), BK_EHASH (a source blob does not
 * verify), BK_ENOTFOUND (a row without its blob), or a store error. */
int bk_svc_migrate(const struct bk_svc_migrate_config *cfg, bk_svc_migrate_stats *st);

#endif
