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
 * call is safe concurrently (the db and blob store do their own locking,
 * the service keeps no mutable state). A single writer, reader or plan is
 * used by one thread at a time.
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

struct bk_svc_config {
  bk_db *db;               /* borrowed when set; else db_url or db_path is opened (owned) */
  bk_blobstore *blobs;     /* borrowed when set; else blob_url or blob_root is opened (owned) */
  const char *db_url;      /* metadata URL ("sqlite:///abs/meta.db"), used when db is NULL */
  const char *blob_url;    /* blob store URL ("file:///abs/blobs"), used when blobs is NULL */
  const char *db_path;     /* SQLite file: shorthand for db_url "sqlite://" path */
  const char *blob_root;   /* blob store root: shorthand for blob_url "file://" path */
  int dedup_scope;         /* enum bk_dedup_scope (store/db.h) */
  int64_t reverify_ms;     /* trust a verification this recent (the xorb check) */
};

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

/* Opens xorb for serving a byte range: verified unless that was done within
 * reverify_ms and the blob is unchanged. BK_EHASH when damaged,
 * BK_ENOTFOUND when unknown. *fd (caller closes) and *size on success. */
int bk_svc_xorb_open_range(bk_svc *svc, const bk_hash *xorb, int *fd, uint64_t *size);

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
  int summary;             /* 1 = the orphan step ran: the counts above are a result
                              (also when that step then failed) */
} bk_svc_gc_result;

/* Removes unreferenced metadata older than cutoff_ms, then their blobs,
 * orphan blobs and temp files older than cutoff_s (see docs/store.md).
 * `what` (may be NULL) receives the failing step's name on error. */
int bk_svc_gc(bk_svc *svc, int64_t cutoff_ms, int64_t cutoff_s, size_t batch,
              bk_svc_gc_result *out, const char **what);

typedef struct bk_svc_fsck_result {
  uint64_t damage, warnings, xorbs, shards, blobs, files, marked;
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

#endif
