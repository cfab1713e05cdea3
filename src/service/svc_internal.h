/* buckets storage service — internals shared by the src/service/ files.
 * Not a public header: only the src/service/ sources include it. */
#ifndef BUCKETS_SVC_INTERNAL_H
#define BUCKETS_SVC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "service/service.h"
#include "store/regions.h"

/* One configured region as this node sees it (svc_region.c). Entries are
 * never freed before bk_svc_close (a removed region is only flagged), so a
 * pointer handed out stays valid for the service's lifetime. */
struct svc_region {
  int64_t id;
  char name[BK_REGION_NAME_MAX + 1];
  char url[BK_REGION_URL_MAX + 1];
  bk_blobstore *bs;
  int own_bs;
  int removed;
};

/* Where a new xorb goes (placement): the store and its region (region_id 0
 * and name "" when regions are not configured: the one store). */
struct svc_place {
  bk_blobstore *bs;
  int64_t region_id;
};

struct bk_svc {
  bk_db *db;
  bk_blobstore *bs;
  int own_db, own_bs;
  int dedup_scope;
  int64_t reverify_ms;
  int64_t delete_grace_ms; /* resolved: >= 0 */
  int direct_downloads;
  /* regions (svc_region.c): guarded by rmu; entries stable (see above) */
  pthread_mutex_t rmu;
  struct svc_region *regions[BK_REGIONS_MAX * 2];
  size_t nregions;
  int regions_on;          /* regions are configured */
  int64_t default_region;  /* lowest id (0 when none) */
  char *cfg_blob_url;      /* the URL of cfg->blob_url (owned), NULL when none */
  bk_blobstore *cfg_bs;    /* the store given / opened from the config, NULL when none */
  int own_cfg_bs;
  int64_t regions_loaded_ms;
  /* replication wakeups (svc_replicate.c) */
  pthread_mutex_t wmu;
  pthread_cond_t wcv;
  uint64_t wakes;
  _Atomic uint64_t repl_puts; /* PUTs replication made through this service (kill hook) */
  /* bk_svc_replicate_start's thread */
  pthread_t repl_th;
  int repl_running;
  _Atomic int repl_stop;
  char repl_owner[64];
  int64_t repl_poll_ms;
  bk_svc_line_cb repl_log; /* failed steps, at most every 10 s (may be NULL) */
  void *repl_log_ctx;
};

/* ---- regions (svc_region.c) ---- */

/* Loads the region table at open: with regions configured, opens every
 * region's store (the configured blob store, when its URL is a region's,
 * is used for that region) and points svc->bs at the default region's.
 * BK_EINVAL when blob_url is given but names no configured region. */
int svc_regions_open(bk_svc *svc);
void svc_regions_close(bk_svc *svc);
/* Re-reads the table (new regions opened, removed ones flagged). */
int svc_regions_reload(bk_svc *svc);
/* Lookups; id 0 = the default region. BK_ENOTFOUND (message names the
 * configured regions) after one reload. */
int svc_region_by_id(bk_svc *svc, int64_t id, struct svc_region **out);
int svc_region_by_name(bk_svc *svc, const char *name, struct svc_region **out);
/* The bucket's home region (its label when it names a configured region,
 * else the default). Only with regions configured. */
int svc_bucket_home(bk_svc *svc, int64_t bucket_id, struct svc_region **out);
/* The xorb's home region (row's home, NULL = default). BK_ENOTFOUND no row. */
int svc_xorb_home(bk_svc *svc, const bk_hash *xorb, struct svc_region **out);
/* Where a new xorb of bucket_id goes: an existing row's home, else the
 * bucket's home region; the one store without regions. */
int svc_place(bk_svc *svc, int64_t bucket_id, const bk_hash *xorb, struct svc_place *pl);
/* The store holding the xorb's home copy (svc->bs without regions). */
int svc_xorb_store(bk_svc *svc, const bk_hash *xorb, bk_blobstore **bs);
/* Makes sure r's store is open (a store that could not be opened when the
 * region was loaded is tried again): 0, or BK_ENET "region 'x' is
 * unavailable: <cause>". */
int svc_region_ready(bk_svc *svc, struct svc_region *r);
/* rc from an operation on region r's store: BK_ENET becomes "region 'x' is
 * unavailable: <cause>"; other codes are returned unchanged. */
int svc_region_err(const struct svc_region *r, int rc);
/* The same for a store known by its handle (no-op without regions). */
int svc_store_err(bk_svc *svc, bk_blobstore *bs, int rc);
/* Opens a reader of the xorb from the preferred region (NULL/"" = none),
 * else its home, else any region holding a copy; *bs = the store read. */
int svc_xorb_reader(bk_svc *svc, const bk_hash *xorb, const char *prefer, bk_blob_reader **r,
                    bk_blobstore **bs);
/* Reconstruction: the region a fetch entry reads xorb from (name into
 * out, "" without regions): the client's (prefer) when it holds a copy, else
 * the home, else any holding one. *home = 1 when that is the home copy. */
int svc_fetch_region(bk_svc *svc, const bk_hash *xorb, const char *prefer,
                     char out[BK_REGION_NAME_MAX + 1], int *home);
/* Serving: the store of region (NULL/"" = the home) for xorb; BK_ENOTFOUND
 * when that region holds no copy. *home = 1 when it is the home copy. */
int svc_region_store(bk_svc *svc, const bk_hash *xorb, const char *region, bk_blobstore **bs,
                     int *home);
/* Reads the whole xorb blob from bs and verifies it (size, every chunk, the
 * xorb hash): 0, BK_EHASH / BK_EFORMAT / ... when it does not verify. */
int svc_xorb_verify_blob(bk_blobstore *bs, const bk_hash *x, uint64_t size);
/* A snapshot of the configured regions (at most max, removed ones left
 * out); 0 without regions. Entries stay valid (see struct svc_region). */
size_t svc_regions_snapshot(bk_svc *svc, struct svc_region **out, size_t max);
/* Registration hook: with regions configured, records the copy in the
 * placement region and the xorb's home (inside tx). */
int svc_region_register_tx(bk_svc *svc, bk_db_tx *tx, const bk_hash *xorb,
                           const struct svc_place *pl);

/* The one "blob stored, now register it" step (put a xorb, ingest), in
 * svc_check.c: a BK_TX_GC_FENCE transaction in which the service checks the
 * stored blob (it exists, the row describes its layout; a writer `pass`
 * holding verified bytes that differ from the stored blob replaces it when
 * the stored one is damaged) and then calls bk_db_xorb_register_tx. See
 * docs/service.md "The gc race". A registration that finds the blob gone (a
 * concurrent gc removed it as an orphan before the row existed, or the
 * stored blob was damaged and removed) answers BK_ESTALE "xorb storage raced
 * with gc; retry" and registers nothing; nothing is retried here. Consumes
 * pass. */
int svc_xorb_register(bk_svc *svc, const bk_hash *xorb, uint64_t size,
                      const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                      bk_blob_writer *pass, int *existed);
/* The same for a xorb put into placement pl (its store and region; NULL =
 * svc->bs, the one store): the blob is checked in pl's store and, with
 * regions configured, the copy and the home are recorded. */
int svc_xorb_register_at(bk_svc *svc, const struct svc_place *pl, const bk_hash *xorb,
                         uint64_t size, const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                         bk_blob_writer *pass, int *existed);
/* The same for a blob the caller's own writer just committed into placement pl (BK_XORB_REG_VERIFIED
 * bytes laid out exactly as chunks / size say) with write tag `tag`
 * (bk_blob_writer_tag; "" or NULL: none). Under the fence, when the stored
 * blob still carries that tag (one HEAD on S3), it is the blob this writer
 * stored, so its layout is compared with chunks in memory instead of read
 * back from the store; any other tag (a concurrent put or copy of the same
 * name, a replace) or none: the blob is read as by svc_xorb_register. */
int svc_xorb_register_mine(bk_svc *svc, const struct svc_place *pl, const bk_hash *xorb,
                           uint64_t size, const bk_xorb_chunk *chunks, size_t n, const char *tag,
                           int *existed);

/* Registers a shard whose blob sh was put: under BK_TX_GC_FENCE the blob
 * must still be stored (else BK_ESTALE, nothing registered), then
 * bk_db_shard_register_tx. */
int svc_shard_register(bk_svc *svc, const bk_hash *sh, uint64_t size, const bk_shard *s,
                       int64_t bucket_id, bk_hash *missing, int *existed);

/* Stores the shard blob (healing a damaged stored copy) and registers it,
 * putting the blob again when a concurrent gc removed it (BK_ESTALE from
 * the registration), at most 3 attempts. *missing names a xorb the
 * registration found missing (BK_ENOTFOUND) or damaged (BK_EHASH). */
int svc_shard_store(bk_svc *svc, const uint8_t *body, size_t len, const bk_shard *s,
                    int64_t bucket_id, bk_hash *missing, int *existed);

/* Makes sure a registered xorb's stored blob verifies before it is handed
 * out (dedup answer, shard reference, served range). 0: good; BK_EHASH: the
 * xorb is damaged (marked now, or earlier; message names it); BK_ENOTFOUND:
 * no row; other errors (BK_EIO, BK_EDB) leave the state unchanged.
 * A row verified at most max_age_ms ago whose blob change token
 * (bk_blob_stamp) is unchanged is trusted without reading the blob (one
 * stat); otherwise the whole blob is parsed (every chunk decoded and hashed,
 * the xorb hash, the chunk table compared with the row) and the verdict
 * recorded (bk_db_xorb_set_verdict). max_age_ms == INT64_MAX: read only a
 * blob that changed since its last verification (a never-verified row is
 * trusted). max_age_ms < 0: always read (fsck --read-data, scrub), also a
 * xorb marked damaged, whose mark is cleared if it verifies now (restored by
 * an operator). A missing blob counts as damaged. Recording the verdict is
 * best effort: when the row cannot be written (full disk, busy database)
 * the verdict is still returned and the check is simply redone next time. */
int svc_xorb_check(bk_svc *svc, const bk_hash *xorb, int64_t max_age_ms);

/* Reads the stored shard blob and checks it hashes to its name; records the
 * outcome (damaged mark). 0 good, BK_EHASH damaged (also a missing or
 * unreadable blob), BK_ENOTFOUND (no row), other errors. */
int svc_shard_check(bk_svc *svc, const bk_hash *shard_hash);

/* 1 if a xorb/shard row exists for the blob, 0 if not, negative on error. */
int svc_row_exists(bk_db *db, bk_blob_kind kind, const bk_hash *h);

#endif
