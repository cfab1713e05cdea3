/* buckets — the region tables of the metadata database (schema v9,
 * docs/regions.md): the region registry, which region holds a copy of which
 * blob, xorb homes, buckets' warm-region lists and pre-warm jobs.
 *
 * The metadata layer never touches blobs: the storage service
 * (src/service/svc_region.c, svc_replicate.c) decides what is recorded and
 * when. Portable SQL (same text on SQLite and PostgreSQL).
 *
 * Conventions as store/db.h: 0 or a negative BK_E* (details in bk_errmsg);
 * times in unix ms; every string argument is only read during the call;
 * arrays filled through `**out` are malloc'd and the caller frees them.
 */
#ifndef BUCKETS_STORE_REGIONS_H
#define BUCKETS_STORE_REGIONS_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

#define BK_REGION_URL_MAX 1023
#define BK_REGIONS_MAX 64          /* regions per deployment */
#define BK_PREWARM_OWNER_MAX 63
#define BK_PREWARM_ERR_MAX 255
#define BK_REGION_PAGE_MAX 10000   /* rows per paged call */

typedef struct bk_region_row {
  int64_t id;
  char name[BK_REGION_NAME_MAX + 1];
  char blob_url[BK_REGION_URL_MAX + 1];
  int64_t created_ms;
} bk_region_row;

/* ---- registry ---- */

/* Adds a region. BK_EINVAL (bad name, empty or too long URL, more than
 * BK_REGIONS_MAX), BK_EEXIST (name taken). *id may be NULL. */
int bk_db_region_add(bk_db *db, const char *name, const char *blob_url, int64_t *id);
/* Every region ordered by id (the default region first). *out malloc'd
 * (NULL when *n = 0). */
int bk_db_region_list(bk_db *db, bk_region_row **out, size_t *n);
/* Deletes the region row; its blob_copies, bucket_warm and prewarm_jobs rows
 * go with it (cascade). Xorbs homed there get home NULL (the default). */
int bk_db_region_delete(bk_db *db, int64_t id);

/* What still lives in a region (removal refusals). */
typedef struct bk_region_usage {
  uint64_t buckets_home;   /* buckets whose region label names it */
  uint64_t buckets_warm;   /* buckets listing it as warm */
  uint64_t xorbs_home;     /* xorbs whose home it is */
  uint64_t blobs_only;     /* blobs whose only copy is there */
} bk_region_usage;
int bk_db_region_usage(bk_db *db, int64_t id, const char *name, int is_default,
                       bk_region_usage *u);

/* First region over a database that already holds blobs: records every
 * xorb and shard as stored in region id and every xorb without a home as
 * homed there, in one write transaction. *xorbs / *shards = rows recorded. */
int bk_db_region_adopt_all(bk_db *db, int64_t id, uint64_t *xorbs, uint64_t *shards);
/* Up to max xorb hashes (spread over the table: ids stepping by count/max),
 * for the spot check of bk_db_region_adopt_all's caller. */
int bk_db_xorb_sample(bk_db *db, bk_hash *out, size_t max, size_t *n);

/* ---- blob copies ---- */

/* Records a verified copy of the blob in region_id (idempotent). */
int bk_db_copy_add(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t region_id);
int bk_db_copy_add_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h, int64_t region_id);
/* Removes the copy row of one region (region_id > 0) or of all (0). */
int bk_db_copy_del(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t region_id);
int bk_db_copy_del_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h, int64_t region_id);
/* The regions holding a copy, ordered by region id: ids[0..*n), at most max. */
int bk_db_copy_regions(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t *ids, size_t max,
                       size_t *n);
/* A page of the copies recorded in region_id, after (kind, hash) (after_kind
 * < 0 = from the start), ordered by kind then hash; at most limit. */
typedef struct bk_copy_row {
  bk_blob_kind kind;
  bk_hash hash;
} bk_copy_row;
int bk_db_copy_page(bk_db *db, int64_t region_id, int after_kind, const bk_hash *after,
                    size_t limit, bk_copy_row *out, size_t *n);

/* ---- xorb home ---- */

/* *region_id = the xorb's home (0 = NULL: stored before regions, i.e. the
 * default region). BK_ENOTFOUND when no row. */
int bk_db_xorb_home(bk_db *db, const bk_hash *xorb, int64_t *region_id);
/* Sets the home when none is recorded yet (the first store wins). */
int bk_db_xorb_set_home_tx(bk_db_tx *tx, const bk_hash *xorb, int64_t region_id);

/* ---- warm regions of a bucket ---- */

/* Replaces the list. */
int bk_db_warm_set(bk_db *db, int64_t bucket_id, const int64_t *region_ids, size_t n);
/* ids ordered by region id, at most max. */
int bk_db_warm_get(bk_db *db, int64_t bucket_id, int64_t *region_ids, size_t max, size_t *n);
/* A page of (bucket, region) warm pairs after (after_bucket, after_region). */
typedef struct bk_warm_pair {
  int64_t bucket_id, region_id;
} bk_warm_pair;
int bk_db_warm_page(bk_db *db, int64_t after_bucket, int64_t after_region, size_t limit,
                    bk_warm_pair *out, size_t *n);

/* ---- pre-warm jobs ---- */

typedef struct bk_prewarm_job {
  int64_t id, bucket_id, region_id;
  char prefix[BK_PATH_MAX + 1];
  char state[16];                  /* "queued", "done", "failed" */
  int64_t created_ms, updated_ms, lease_until_ms;
  char lease_owner[BK_PREWARM_OWNER_MAX + 1];
  uint64_t bytes_needed, bytes_copied, xorbs_copied;
  char error[BK_PREWARM_ERR_MAX + 1];
} bk_prewarm_job;

/* Queues a job (prefix NULL or "" = the whole bucket). */
int bk_db_prewarm_add(bk_db *db, int64_t bucket_id, int64_t region_id, const char *prefix,
                      int64_t *id);
/* Claims the oldest queued job whose lease is free or expired (or already
 * owner's): sets lease_owner = owner, lease_until_ms = now + lease_ms.
 * BK_ENOTFOUND when none. */
int bk_db_prewarm_claim(bk_db *db, const char *owner, int64_t now, int64_t lease_ms,
                        bk_prewarm_job *out);
/* Extends the lease and adds progress (bytes_needed is set when >= 0).
 * BK_ESTALE when owner no longer holds the job (expired and taken). */
int bk_db_prewarm_progress(bk_db *db, int64_t id, const char *owner, int64_t now,
                           int64_t lease_ms, int64_t bytes_needed, uint64_t dbytes,
                           uint64_t dxorbs);
/* Ends the job: state "done" or "failed" (error may be NULL); the lease is
 * released. BK_ESTALE when owner does not hold it. */
int bk_db_prewarm_finish(bk_db *db, int64_t id, const char *owner, const char *state,
                         const char *error);
/* Jobs of a bucket, newest first, at most max. */
int bk_db_prewarm_list(bk_db *db, int64_t bucket_id, bk_prewarm_job **out, size_t max,
                       size_t *n);
int bk_db_prewarm_get(bk_db *db, int64_t id, bk_prewarm_job *out);

/* ---- what a region lacks ---- */

typedef struct bk_region_xorb {
  int64_t id;
  bk_hash hash;
  uint64_t size;       /* bytes_on_disk */
  int64_t created_ms;
} bk_region_xorb;

/* Xorbs referenced by the bucket's files whose path starts with prefix
 * (NULL/"" = all) that have no copy recorded in region_id, id > after_id,
 * ordered by id, at most limit (<= BK_REGION_PAGE_MAX). Keyset paging. */
int bk_db_region_missing(bk_db *db, int64_t bucket_id, const char *prefix, int64_t region_id,
                         int64_t after_id, size_t limit, bk_region_xorb *out, size_t *n);

typedef struct bk_region_stats {
  uint64_t xorbs_needed, bytes_needed;   /* distinct referenced xorbs */
  uint64_t xorbs_present, bytes_present; /* those with a copy in the region */
  int64_t oldest_missing_ms;             /* created_ms of the oldest missing; 0 = none */
} bk_region_stats;
/* Sums over the distinct xorbs referenced by the bucket's files (prefix as
 * above). */
int bk_db_region_stats(bk_db *db, int64_t bucket_id, const char *prefix, int64_t region_id,
                       bk_region_stats *st);

/* Xorbs with no copy recorded in any region (fsck: damage with regions
 * configured), id > after_id, ordered by id, at most limit. */
int bk_db_xorbs_uncopied(bk_db *db, int64_t after_id, size_t limit, bk_region_xorb *out,
                         size_t *n);
/* Removes copy rows whose xorb / shard row is gone (gc). */
int bk_db_copy_prune(bk_db *db, uint64_t *removed);

#endif
