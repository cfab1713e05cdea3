/* buckets storage service — the one layer that coordinates metadata (bk_db)
 * and blobs (bk_blobstore). See docs/service.md.
 *
 * Contract: every operation that touches both the xorb/shard/CAS metadata
 * and the blob store goes through this layer: putting a xorb (streamed and
 * verified), putting a shard (verified against the stored chunk tables,
 * then registered), the dedup lookup, reconstruction plans and xorb range
 * opens, reading a file back (ranges, every chunk verified), ingesting a
 * file from bytes (server-side chunking), gc, fsck and scrub. Callers
 * (the HTTP handlers in src/server/, the web pages, the admin commands, a
 * later S3 API) speak their protocol and call bk_svc_*; they never call the
 * blob store or the xorb/shard metadata functions themselves. The service
 * knows nothing of HTTP, HTML or forms: results are BK_E* codes (details in
 * bk_errmsg), structs, or report lines through a callback.
 *
 * Ownership: bk_svc_open copies what it needs of the configuration (the
 * strings are only read during the call). The db and blob store given in
 * the config are BORROWED (the caller keeps them open until after
 * bk_svc_close); URLs or paths given instead are opened and OWNED by the
 * service (a URL wins over a path).
 * Objects returned by the service (writers, readers, plans) are owned by the
 * caller and released with their free or close function.
 *
 * Threads: one bk_svc is shared by all request threads; every bk_svc_*
 * call is safe concurrently (the db and blob store do their own locking;
 * the only mutable state of the service itself, the region cache and the
 * replication wakeups, is behind its own mutexes). A single writer, reader
 * or plan is used by one thread at a time.
 */
#ifndef BUCKETS_SERVICE_H
#define BUCKETS_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/blobstore.h"
#include "buckets/buf.h"
#include "store/db.h"
#include "buckets/hash.h"
#include "buckets/shard.h"

typedef struct bk_svc bk_svc;

#define BK_REGION_NAME_MAX 32

struct bk_svc_config {
  bk_db *db;               /* borrowed when set; else db_url or db_path is opened (owned) */
  bk_blobstore *blobs;     /* borrowed when set; else blob_url or blob_root is opened (owned) */
  const char *db_url;      /* metadata URL ("sqlite:///abs/meta.db"), used when db is NULL */
  const char *blob_url;    /* blob store URL ("file:///abs/blobs"), used when blobs is NULL */
  const char *db_path;     /* SQLite file: shorthand for db_url "sqlite://" path */
  const char *blob_root;   /* blob store root: shorthand for blob_url "file://" path */
  int dedup_scope;         /* enum bk_dedup_scope (store/db.h) */
  int64_t reverify_ms;     /* trust a verification this recent (the xorb check) */
  int64_t delete_grace_ms; /* gc on a store without BK_BLOB_CAP_TRASH: how long a blob
                              recorded for deletion stays readable (0 = the default
                              BK_SVC_DELETE_GRACE_MS, BK_SVC_DELETE_NOW = due at once,
                              > 0 = that many ms); ignored on a store with the trash */
  int direct_downloads;    /* 1 = reconstructions hand out presigned URLs of the blob
                              store (bk_svc_xorb_presign); the store must have
                              BK_BLOB_CAP_PRESIGN, else bk_svc_open fails (BK_EINVAL) */
  /* Regions (docs/regions.md): when the database has regions configured,
   * the service opens every region's store from the table. The blob store
   * of the config is then optional; when given, blob_url (also set beside a
   * borrowed `blobs`, naming it) must be a configured region's URL (else
   * BK_EINVAL) and that region uses it; a store given without a URL is not
   * used for any region (each region's store is opened from its URL). */
};

/* Lifetime of a presigned direct-download URL (bk_svc_xorb_presign callers):
 * 15 minutes. A client that holds a reconstruction longer asks again (its
 * CAS read token lives an hour). */
#define BK_SVC_PRESIGN_TTL_S 900
/* Default delete grace of gc on a store without the trash: the presigned-URL
 * lifetime plus 5 minutes, so a client holding a direct-download URL of a xorb
 * that gc just unreferenced can still finish its download. */
#define BK_SVC_DELETE_GRACE_MS ((int64_t)(BK_SVC_PRESIGN_TTL_S + 300) * 1000)
#define BK_SVC_DELETE_NOW ((int64_t)-1)

/* Opens the service. On failure *out is NULL and nothing stays open. */
int bk_svc_open(const struct bk_svc_config *cfg, bk_svc **out);
void bk_svc_close(bk_svc *svc); /* NULL ok */

/* Accessors for callers that still need the handles for non-CAS metadata
 * (buckets, accounts, file index). Borrowed, valid until bk_svc_close. */
bk_db *bk_svc_db(const bk_svc *svc);

/* ------------------------------------------------------------ put a xorb */

/* Streaming xorb upload, verified as it arrives (see docs/service.md).
 * open: expected_len < 0 when unknown; a stored blob of exactly that size is
 * compared instead of rewritten while the bytes are equal. write: feed the
 * body in pieces; a failure is sticky (the rest is discarded) and reported
 * by commit. commit: finishes verification (hash against `want`, footer),
 * commits the blob, registers the row and chunk table and references it
 * from bucket_id. Returns 0 with *inserted (1 = new row or repaired blob),
 * BK_EHASH / BK_EFORMAT / ... for bytes that do not verify (*verify_failed
 * = 1), BK_ESTALE when a concurrent gc removed the blob before the
 * registration (the caller's client sends the bytes again), or a store
 * error. free releases the writer (NULL ok); nothing is left behind unless
 * commit succeeded. */
typedef struct bk_svc_xorb_put bk_svc_xorb_put;
int bk_svc_xorb_open(bk_svc *svc, const bk_hash *want, int64_t bucket_id, int64_t expected_len,
                     bk_svc_xorb_put **out);
void bk_svc_xorb_write(bk_svc_xorb_put *p, const uint8_t *data, size_t len);
int bk_svc_xorb_commit(bk_svc_xorb_put *p, int *inserted, int *verify_failed);
void bk_svc_xorb_free(bk_svc_xorb_put *p);

/* ----------------------------------------------------------- put a shard */

/* What was wrong with a refused shard (the caller maps it to its protocol). */
typedef enum {
  BK_SVC_SHARD_INVALID = 1,  /* malformed, or inconsistent with the stored xorbs */
  BK_SVC_SHARD_FILE_HASH,    /* a file's hash does not match its terms */
  BK_SVC_SHARD_RANGE_HASH,   /* a verification range hash does not match */
  BK_SVC_SHARD_XORB_MISSING, /* references a xorb that was not uploaded (msg names it) */
  BK_SVC_SHARD_XORB_DAMAGED, /* references a damaged xorb (msg: "damaged xorb <hex>") */
  BK_SVC_SHARD_NOMEM,        /* out of memory */
  BK_SVC_SHARD_STORE,        /* storage error: rc holds the BK_E* code */
} bk_svc_shard_fault;

typedef struct bk_svc_shard_err {
  bk_svc_shard_fault fault;
  int rc;         /* BK_E* for BK_SVC_SHARD_STORE */
  char msg[512];
} bk_svc_shard_err;

/* Parses, verifies every file and the xorb-info section against the stored
 * chunk tables, stores the shard blob and registers it for bucket_id.
 * Returns 0 (*existed = 1 when it was registered already; *nfiles = files
 * described) or -1 with *e filled. */
int bk_svc_shard_put(bk_svc *svc, const uint8_t *body, size_t len, int64_t bucket_id,
                     int *existed, uint32_t *nfiles, bk_svc_shard_err *e);

/* ----------------------------------------------------------------- dedup */

/* The stored xorb holding chunk, within the configured dedup scope for
 * bucket_id, verified before it is offered (a damaged holder is marked and
 * the next is tried, at most max_checks). *chunks (malloc'd, caller frees)
 * receives its chunk table. BK_ENOTFOUND when none qualifies. */
int bk_svc_dedup_lookup(bk_svc *svc, const bk_hash *chunk, int64_t bucket_id, int max_checks,
                        bk_hash *xorb, bk_xorb_info *info, bk_xorb_chunk **chunks);

/* -------------------------------------------------------- reconstruction */

typedef struct bk_svc_term {
  bk_hash xorb;
  uint32_t cs, ce;   /* chunk range [cs, ce) */
  uint64_t ulen;     /* unpacked bytes */
} bk_svc_term;

typedef struct bk_svc_fetch {
  bk_hash xorb;
  uint32_t cs, ce;   /* chunk range [cs, ce) */
  uint64_t bs, be;   /* record bytes [bs, be] */
  char region[BK_REGION_NAME_MAX + 1]; /* the region to read it from (the client's when
                                          it holds a copy, else the home); "" when
                                          regions are not configured */
} bk_svc_fetch;

/* A reconstruction: terms (per file, in order) and fetch entries (per xorb,
 * merged ranges, sorted by xorb then chunk). The caller zero-initialises
 * it, owns it and frees its arrays with bk_svc_recon_free. */
typedef struct bk_svc_recon {
  bk_svc_term *terms;
  size_t nterms, cap;
  bk_svc_fetch *fetch;
  size_t nfetch;
  bk_hash damaged;   /* set when bk_svc_recon_finish answered BK_EHASH */
  const char *region; /* the client's region (NULL = no preference), set by the
                         caller before bk_svc_recon_finish; borrowed */
} bk_svc_recon;

/* Size and terms of a CAS file. The unregistered empty file (zero hash) is
 * size 0 with no terms. 0, BK_ENOTFOUND or a store error. *ft malloc'd. */
int bk_svc_file_terms(bk_svc *svc, const bk_hash *file, uint64_t *size, bk_file_term **ft,
                      size_t *nft);
/* Appends the terms of file (ft/nft/size from bk_svc_file_terms) restricted
 * to bytes [s, e]; *offset_first = bytes to skip in the first term added. */
int bk_svc_recon_add(bk_svc *svc, bk_svc_recon *r, const bk_file_term *ft, size_t nft,
                     uint64_t size, uint64_t s, uint64_t e, uint64_t *offset_first);
/* Builds the fetch entries and checks their xorbs (damaged: BK_EHASH with
 * r->damaged set; a xorb whose blob changed is verified again). */
int bk_svc_recon_finish(bk_svc *svc, bk_svc_recon *r);
void bk_svc_recon_free(bk_svc_recon *r);

/* A xorb opened for serving a byte range from a store without local files
 * (no BK_BLOB_CAP_FD): one version of the blob, read through the blob
 * store's reader in windows of at most BK_SVC_RANGE_WINDOW bytes. */
typedef struct bk_svc_xorb_reader bk_svc_xorb_reader;
#define BK_SVC_RANGE_WINDOW (8u << 20)

/* Opens xorb for serving a byte range: verified unless that was done within
 * reverify_ms and the blob is unchanged. BK_EHASH when damaged,
 * BK_ENOTFOUND when unknown. On success *size is the xorb's size and either
 * *fd >= 0 (a BK_BLOB_CAP_FD store: a private descriptor for sendfile, the
 * caller closes it; *rd = NULL) or *fd = -1 and *rd a reader (any other
 * store; the caller releases it with bk_svc_xorb_reader_close). */
/* region: the fetch entry's region (NULL/"" = the home); a region that
 * holds no copy is BK_ENOTFOUND; an unreachable one BK_ENET "region 'x' is
 * unavailable: ...". A copy outside the home was verified when it was made
 * (replication); the home copy is checked as described. */
int bk_svc_xorb_open_range(bk_svc *svc, const bk_hash *xorb, const char *region, int *fd,
                           bk_svc_xorb_reader **rd, uint64_t *size);
/* Reads up to max bytes at off (< the bound, default the size) into buf:
 * > 0 bytes, 0 at the bound, negative BK_E* (the blob vanished or changed
 * while served: the caller aborts the response; never other bytes). The
 * reader fetches a window of up to BK_SVC_RANGE_WINDOW bytes (never past the
 * bound) per blob store read. */
ssize_t bk_svc_xorb_reader_read(bk_svc_xorb_reader *rd, uint64_t off, void *buf, size_t max);
/* Reads stop at end (exclusive; clamped to the size): the served range's end,
 * so no window reads past it. */
void bk_svc_xorb_reader_bound(bk_svc_xorb_reader *rd, uint64_t end);
void bk_svc_xorb_reader_close(bk_svc_xorb_reader *rd); /* NULL ok */

/* region (both functions above and below): the region whose store to read
 * (NULL or "" = the xorb's home, or the default); an unreachable region's
 * store -> BK_ENET with "region 'eu' is unavailable: ...". */
/* A URL of the blob store from which any HTTP client may GET record bytes
 * [first, last] of xorb until expires_at (unix seconds), for
 * --direct-downloads (BK_SVC_PRESIGN_TTL_S). BK_ENOTSUP when the service was
 * not opened with direct_downloads, BK_ELIMIT if n is too small, a store
 * error otherwise. */
int bk_svc_xorb_presign(bk_svc *svc, const bk_hash *xorb, const char *region, uint64_t first,
                        uint64_t last, int64_t expires_at, char *url, size_t n);
/* 1 when the service was opened with direct_downloads. */
int bk_svc_direct_downloads(const bk_svc *svc);

/* --------------------------------------------------------- read a file */

/* A file read back from its xorbs: every chunk decoded and its hash checked
 * before a byte of it is returned. */
typedef struct bk_svc_reader bk_svc_reader;

#define BK_SVC_READ_MARK_DAMAGED 1u /* on a chunk mismatch, check the whole xorb
                                       (marks it damaged) and fail */

/* Opens file (CAS hash). BK_ENOTFOUND when the CAS has no such file.
 * *size = the CAS size, *terms_size = what its terms add up to (the caller
 * decides whether a mismatch is an error). The empty file (zero hash) is
 * size 0. */
int bk_svc_reader_open(bk_svc *svc, const bk_hash *file, unsigned flags, uint64_t *size,
                       uint64_t *terms_size, bk_svc_reader **out);
/* Restricts the read to bytes [start, end] (inclusive; default: all). */
void bk_svc_reader_range(bk_svc_reader *r, uint64_t start, uint64_t end);
/* Regions: read each xorb from region's copy when it holds one (the client's
 * region, docs/regions.md), else the home, else any copy (NULL/"" = the home
 * first). region is copied. */
void bk_svc_reader_region(bk_svc_reader *r, const char *region);
/* Reads up to max bytes: > 0 bytes, 0 at the end, negative BK_E* (details
 * in bk_errmsg, naming the xorb and term). */
ssize_t bk_svc_reader_read(bk_svc_reader *r, void *buf, size_t max);
void bk_svc_reader_close(bk_svc_reader *r); /* NULL ok */

/* Appends up to max bytes from the start of file to out (previews); marks a
 * xorb that fails to verify (BK_ESTALE when it verifies on the re-check). */
int bk_svc_read_prefix(bk_svc *svc, const bk_hash *file, size_t max, bk_buf *out);

/* ---------------------------------------------------- ingest from bytes */

struct bk_svc_ingest_stats {
  uint64_t chunks, new_chunks;
  uint64_t new_bytes;      /* uncompressed bytes of new chunks */
  int whole_file_dedup;    /* the file hash was already known */
};

/* Ingests data[0..len) for bucket_id with server-side chunking; *file
 * receives the Xet file hash (zero for the empty file). Chunks are reused
 * from stored xorbs within the dedup scope once they verify; new chunks are
 * packed into new xorbs; a shard describing the file is stored and
 * registered with the bucket's grant. */
int bk_svc_ingest(bk_svc *svc, int64_t bucket_id, const uint8_t *data, size_t len,
                  bk_hash *file, struct bk_svc_ingest_stats *st);

/* ------------------------------------------------------ gc, fsck, scrub */

/* Report lines ("DAMAGE: ...", "warning: ...", "repaired: ...", "gc: ...")
 * without the newline, in the order found. */
typedef void (*bk_svc_line_cb)(void *ctx, const char *line);

typedef struct bk_svc_gc_result {
  bk_gc_stats st;
  size_t orphans;
  uint64_t temp_files;
  uint64_t missing;        /* removed rows that had no blob */
  uint64_t restored, purged; /* recovery of an interrupted gc */
  /* stores without BK_BLOB_CAP_TRASH (pending deletes, docs/store.md): */
  uint64_t pending;        /* blobs recorded for deletion after the delete grace */
  uint64_t deleted;        /* recorded blobs deleted now that they were due */
  uint64_t kept;           /* recorded blobs registered again meanwhile: kept */
  int summary;             /* 1 = the orphan step ran: the counts above are a result
                              (also when that step then failed) */
} bk_svc_gc_result;

/* Removes unreferenced metadata older than cutoff_ms, then their blobs,
 * orphan blobs and temp files older than cutoff_s (see docs/store.md).
 * On a store with BK_BLOB_CAP_TRASH the blobs go at once (two-phase delete).
 * On one without it the blobs are recorded as pending deletes (due after
 * the delete grace, in the same fenced transaction that removes their rows)
 * and deleted by the last step of this or a later run once due, after a
 * re-check under the fence (a blob registered again meanwhile is kept).
 * `what` (may be NULL) receives the failing step's name on error. */
int bk_svc_gc(bk_svc *svc, int64_t cutoff_ms, int64_t cutoff_s, size_t batch,
              bk_svc_gc_result *out, const char **what);

typedef struct bk_svc_fsck_result {
  uint64_t damage, warnings, xorbs, shards, blobs, files, marked;
  uint64_t pending; /* blobs without a row that gc recorded for deletion (not damage) */
} bk_svc_fsck_result;

/* Checks the database, every row against its blob, orphan and stray blobs,
 * and (read_data) every blob's content and every file's hash; findings go
 * to cb. The only writes are damaged marks (docs/store.md). */
int bk_svc_fsck(bk_svc *svc, int read_data, bk_svc_line_cb cb, void *ctx,
                bk_svc_fsck_result *out);

typedef struct bk_svc_scrub_result {
  uint64_t bytes, blobs, xorbs, shards, damaged, errors;
  int stopped;   /* budget reached: the next run resumes */
} bk_svc_scrub_result;

/* Verifies blobs from the stored resume point until max_bytes/max_blobs
 * (at least one blob) or the end; findings go to cb. */
int bk_svc_scrub(bk_svc *svc, uint64_t max_bytes, uint64_t max_blobs, bk_svc_line_cb cb,
                 void *ctx, bk_svc_scrub_result *out);

/* ------------------------------------------------------------- regions */

/* Regions and pre-warming (docs/regions.md). Without any region configured
 * the service is the single store of its config and these report so:
 * bk_svc_regions_enabled 0, lists empty, bucket regions only labels. */
#define BK_REGION_NAME_MAX 32
typedef struct bk_svc_region {
  char name[BK_REGION_NAME_MAX + 1];
  char url_masked[512]; /* blob URL, secrets masked */
  int is_default;
} bk_svc_region;
/* Adds a region (name [a-z][a-z0-9-]{0,31}, blob_url any URL --blobs takes).
 * The first region over a database holding xorbs records all of them as
 * present there after checking a few exist in its store (refused with
 * BK_EINVAL otherwise). msg: what was done. */
int bk_svc_region_add(bk_svc *svc, const char *name, const char *blob_url, char *msg,
                      size_t msgn);
/* *out malloc'd, caller frees; default first. */
int bk_svc_region_list(bk_svc *svc, bk_svc_region **out, size_t *n);
/* BK_EBUSY (message says why) while buckets are homed there or keep it
 * warm, xorbs are homed there or a blob's only copy is there, unless force;
 * BK_ENOTFOUND. */
int bk_svc_region_remove(bk_svc *svc, const char *name, int force);
/* 1 when regions are configured. */
int bk_svc_regions_enabled(bk_svc *svc);
/* 0 if name is a configured region (or, without regions, 'us'/'eu');
 * BK_EINVAL with a message listing the configured ones. */
int bk_svc_region_check_name(bk_svc *svc, const char *name);
/* Replaces the bucket's warm list; BK_EINVAL unknown region. */
int bk_svc_bucket_warm_set(bk_svc *svc, int64_t bucket_id, const char *const *names, size_t n);

#define BK_SVC_ROLE_HOME 1u
#define BK_SVC_ROLE_WARM 2u
#define BK_SVC_ROLE_PREWARM 4u
typedef struct bk_svc_region_status {
  char name[BK_REGION_NAME_MAX + 1];
  unsigned roles;          /* BK_SVC_ROLE_* */
  int warm;                /* 1 = nothing missing ("warm"), 0 = "warming" */
  uint64_t bytes_present, bytes_needed, xorbs_present, xorbs_needed;
  int64_t lag_ms;          /* age of the oldest referenced xorb missing there; 0 when warm */
} bk_svc_region_status;
/* Home first, then warm / pre-warm targets; *out malloc'd (NULL, *n = 0
 * without regions). */
int bk_svc_bucket_regions(bk_svc *svc, int64_t bucket_id, bk_svc_region_status **out, size_t *n);
/* Queues a pre-warm job of the bucket's files under prefix (NULL = all)
 * into region. BK_EINVAL unknown region / no regions. */
int bk_svc_prewarm(bk_svc *svc, int64_t bucket_id, const char *region, const char *prefix,
                   int64_t *job_id);
/* One bounded slice (about budget_ms) of replication work: a leased
 * pre-warm job, else the warm lists. *did_work = 1 when something was copied
 * or recorded. owner: this node's lease name (<= 63 bytes). */
int bk_svc_replicate_step(bk_svc *svc, const char *owner, int64_t budget_ms, int *did_work);
void bk_svc_replicate_wake(bk_svc *svc);          /* called on xorb registration */
/* Blocks until bk_svc_replicate_wake (1) or max_ms passed (0). */
int bk_svc_replicate_wait(bk_svc *svc, int64_t max_ms);
/* The serve node's replication thread: loops on bk_svc_replicate_step
 * (budget 2 s) and, when a step did nothing, waits for a wakeup or poll_ms
 * (0 = 500). owner is copied. A failed step (an unreachable region) is
 * retried after the wait and reported through log (at most one line per
 * 10 s; log may be NULL; called on the replication thread). stop joins it
 * (no-op when none runs); bk_svc_close stops it too. */
int bk_svc_replicate_start(bk_svc *svc, const char *owner, int64_t poll_ms, bk_svc_line_cb log,
                           void *log_ctx);
void bk_svc_replicate_stop(bk_svc *svc);
/* Blob PUTs replication made in this process (tests). */
uint64_t bk_svc_replicate_puts(void);

#endif
