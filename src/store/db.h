/* buckets — metadata database (SQLite): buckets, bucket files, CAS metadata
 * (xorbs, chunk tables, file reconstructions, shards, global dedup index),
 * accounting and gc support. Users, orgs, tokens and permissions are in
 * store/accounts.h (same bk_db handle).
 *
 * Concurrency model: a bk_db is one process-wide handle, safe to use from any
 * number of threads at once. Internally it keeps a small pool of SQLite
 * connections (WAL mode, busy_timeout 10 s, foreign keys on); each call
 * borrows a connection for its duration, so readers run in parallel and
 * writers are serialised by SQLite (write transactions use BEGIN IMMEDIATE).
 * Other processes (bucketd admin commands) may open the same file at the same
 * time. Prepared statements are cached per connection.
 *
 * Conventions:
 *  - Every function returns 0 or a negative BK_E* (detail in bk_errmsg()).
 *    BK_EDB = SQLite failure (including "database busy" after the timeout).
 *  - Times are int64 unix MILLISECONDS ("_ms").
 *  - Hashes are bk_hash (raw 32 bytes; string form via bk_hash_to_hex).
 *  - Strings returned inside structs with fixed arrays are NUL-terminated
 *    copies; strings passed to callbacks are valid only during the call.
 *  - Callbacks return 0 to continue; a non-zero value stops the iteration
 *    and is returned by the function. Callbacks may call other bk_db
 *    functions: a nested call uses another connection and never waits for
 *    the pool.
 *  - The metadata layer never touches blobs: it takes no blob store, and
 *    the steps that need both (registration under the gc fence, checks,
 *    gc) are driven by the storage service (src/service/, docs/service.md)
 *    through the _tx functions and bk_db_gc_page_tx below.
 *
 * Ownership: bk_db_open returns a handle owned by the caller (bk_db_close).
 * Pointers filled with malloc'd memory say so ("caller frees").
 */
#ifndef BUCKETS_DB_H
#define BUCKETS_DB_H

#include <stddef.h>
#include <stdint.h>

#include "store/blobkind.h"
#include "buckets/hash.h"
#include "buckets/names.h"
#include "buckets/xorb.h"

typedef struct bk_db bk_db;

#define BK_CTYPE_MAX 255        /* content type, bytes */
#define BK_PATHS_INFO_MAX 1000  /* paths per bk_db_paths_info call */
#define BK_BATCH_MAX 100000     /* ops per bk_db_batch call */
#define BK_TREE_LIMIT_MAX 100000

/* ---- open / close ---- */

/* Opens (creating on first use) the database file at path, creates or
 * upgrades the schema (PRAGMA user_version). Errors: BK_EDB, BK_EVERSION
 * (file made by a newer schema), BK_ENOMEM. Shorthand for
 * bk_db_open_url("sqlite://" path). */
int bk_db_open(const char *path, bk_db **out);
/* Same by metadata URL; the scheme chooses the SQL driver:
 * "sqlite:///abs/path/meta.db" (the only driver today). BK_EINVAL for an
 * unknown scheme or a URL without one. url is only read during the call. */
int bk_db_open_url(const char *url, bk_db **out);
void bk_db_close(bk_db *db); /* NULL ok */
/* Schema version this code writes. */
int bk_db_schema_version(void);

/* ---- transactions (for the layer above: the service) ---- */

/* Named lock modes (the driver maps them, see docs/store.md):
 *  BK_TX_READ      a read snapshot;
 *  BK_TX_WRITE     a write transaction holding the write lock from BEGIN;
 *  BK_TX_GC_FENCE  the mode gc and xorb/shard registration use to exclude
 *                  each other (SQLite: BEGIN IMMEDIATE; PostgreSQL takes
 *                  advisory locks: the fence key, then the write key). */
typedef enum bk_tx_mode { BK_TX_READ = 1, BK_TX_WRITE = 2, BK_TX_GC_FENCE = 3 } bk_tx_mode;
typedef struct bk_db_tx bk_db_tx;
/* Begins a transaction on a connection borrowed from db's pool for the
 * transaction's lifetime. The handle (*out) is owned by the caller and is
 * freed by exactly one of commit / rollback (which also give the connection
 * back). A thread holding a tx may call other bk_db functions: they use
 * another connection (so they do NOT see the tx's uncommitted writes, and a
 * write from the same thread waits for the tx: use the _tx variants).
 * BK_EINVAL (bad mode), BK_EDB (busy after the timeout). */
int bk_db_tx_begin(bk_db *db, bk_tx_mode mode, bk_db_tx **out);
/* Commits (on failure the tx is rolled back). Frees tx in every case. */
int bk_db_tx_commit(bk_db_tx *tx);
void bk_db_tx_rollback(bk_db_tx *tx); /* NULL ok; frees tx */

/* Validation (bk_name_valid, bk_path_valid, bk_region_valid, BK_NAME_MAX,
 * BK_PATH_MAX): buckets/names.h, included here. */

/* ---- buckets ---- */

typedef struct bk_bucket {
  int64_t id;
  int64_t ns_id;                 /* owning namespace (user or org) */
  char ns[BK_NAME_MAX + 1];      /* namespace name */
  char name[BK_NAME_MAX + 1];
  int is_private;
  int64_t created_ms;
  int64_t updated_ms;            /* last change of its file index or settings */
  char region[BK_REGION_NAME_MAX + 1]; /* storage region chosen at creation ("us",
                                    "eu", or any valid region name of a multi-region
                                    deployment, docs/regions.md), "" when none was given */
} bk_bucket;

/* Creates namespace/name. BK_EINVAL (bad name), BK_ENOTFOUND (no such
 * namespace id), BK_EEXIST. out may be NULL. No region is recorded. */
int bk_db_bucket_create(bk_db *db, int64_t ns_id, const char *name,
                        int is_private, bk_bucket *out);
/* Same with a storage region: NULL = none (stored as NULL, reported as ""),
 * else it must satisfy bk_region_name_valid (BK_EINVAL otherwise; whether it
 * names a configured region is the service's check, bk_svc_region_check_name).
 * region is only
 * read during the call. */
int bk_db_bucket_create_ex(bk_db *db, int64_t ns_id, const char *name,
                           int is_private, const char *region, bk_bucket *out);
/* By namespace name and bucket name (exact, case-sensitive). BK_ENOTFOUND. */
int bk_db_bucket_get(bk_db *db, const char *ns, const char *name, bk_bucket *out);
int bk_db_bucket_get_by_id(bk_db *db, int64_t id, bk_bucket *out);

/* Lists buckets of a namespace ordered by name, names > after (NULL or ""
 * = from the start), at most limit (1..BK_TREE_LIMIT_MAX). search (NULL/"" =
 * all) keeps names containing it (case-insensitive substring).
 * include_private = 0 hides private buckets (pass 1 when the viewer has read
 * access to the namespace). *more (may be NULL) = 1 when more rows follow the
 * last one returned (use its name as `after` for the next page). */
typedef int (*bk_bucket_cb)(void *ctx, const bk_bucket *b);
int bk_db_bucket_list(bk_db *db, int64_t ns_id, const char *search,
                      int include_private, const char *after, size_t limit,
                      bk_bucket_cb cb, void *ctx, int *more);

/* Deletes a bucket and all its file entries (content stays in CAS until gc).
 * BK_ENOTFOUND. */
int bk_db_bucket_delete(bk_db *db, int64_t bucket_id);
/* Renames and/or moves to another namespace. BK_EINVAL, BK_ENOTFOUND,
 * BK_EEXIST (target taken). */
int bk_db_bucket_move(bk_db *db, int64_t bucket_id, int64_t new_ns_id,
                      const char *new_name);
int bk_db_bucket_set_private(bk_db *db, int64_t bucket_id, int is_private);

/* ---- bucket files ---- */

typedef struct bk_file_entry {
  int is_dir;                /* tree listing: 1 = "directory" entry */
  const char *path;          /* full path from the bucket root */
  uint64_t size;             /* files only */
  bk_hash xet_hash;          /* files only */
  int64_t mtime_ms;          /* files only (client-supplied or upload time) */
  int64_t uploaded_ms;       /* file: upload time; dir: see bk_db_tree */
  const char *content_type;  /* files only; NULL when unknown */
  uint64_t nfiles;           /* dirs only: files below it (size = their bytes) */
} bk_file_entry;
typedef int (*bk_file_cb)(void *ctx, const bk_file_entry *e);

/* One file. BK_ENOTFOUND. out->path and out->content_type point into buf
 * storage inside *out (valid as long as *out). */
typedef struct bk_file_info {
  bk_file_entry e;
  char path_buf[BK_PATH_MAX + 1];
  char ctype_buf[BK_CTYPE_MAX + 1];
} bk_file_info;
int bk_db_file_get(bk_db *db, int64_t bucket_id, const char *path,
                   bk_file_info *out);

enum {
  BK_TREE_RECURSIVE = 1, /* all files below prefix, no directory entries */
  BK_TREE_DIR_STATS = 2, /* accepted, no longer needed: directory entries
                            always carry their aggregates (see bk_db_tree) */
};

/* Ordered (bytewise by path) listing of a bucket below prefix.
 * prefix: NULL or "" = root; trailing '/' ignored; matched on path
 * boundaries: "logs" lists "logs" itself (if it is a file) and "logs/...",
 * never "logs.json".
 * Non-recursive: direct children; a deeper path yields one directory entry
 * (path = prefix/child) and the scan jumps past the whole subtree. A
 * directory entry carries aggregates kept up to date by every batch (one
 * point lookup, no subtree scan): nfiles and size (files and bytes below it)
 * and uploaded_ms = the latest change (upload or delete) below it.
 * cursor: NULL/"" = start, else a string from a previous *next_cursor
 * (opaque, URL-safe base64; BK_EINVAL if malformed). limit: 1..BK_TREE_LIMIT_MAX
 * entries. *next_cursor: malloc'd (caller frees) when more entries may
 * follow, NULL at the end. */
int bk_db_tree(bk_db *db, int64_t bucket_id, const char *prefix, unsigned flags,
               const char *cursor, size_t limit, bk_file_cb cb, void *ctx,
               char **next_cursor);

/* Aggregates of one directory (path without trailing '/'; "" = the whole
 * bucket): files below it, their bytes, the latest change below it. One
 * point lookup (the root sums the bucket). BK_ENOTFOUND when no file lies
 * below path. */
typedef struct bk_dir_stats {
  uint64_t nfiles;
  uint64_t bytes;
  int64_t updated_ms;
} bk_dir_stats;
int bk_db_dir_stats(bk_db *db, int64_t bucket_id, const char *path, bk_dir_stats *out);

/* Entries for the given paths, in input order; missing paths (and folders)
 * are silently skipped. n <= BK_PATHS_INFO_MAX (else BK_ELIMIT). */
int bk_db_paths_info(bk_db *db, int64_t bucket_id, const char *const *paths,
                     size_t n, bk_file_cb cb, void *ctx);

enum bk_batch_op_type { BK_OP_ADD = 1, BK_OP_COPY = 2, BK_OP_DELETE = 3 };

enum {
  /* addFile only accepts a xet hash that was registered by a shard uploaded
   * with a CAS token of THIS bucket (bk_db_shard_register's bucket_id) or
   * that is already used in this bucket, or the empty file (zero hash).
   * Without it any registered file hash is accepted. */
  BK_BATCH_REQUIRE_GRANT = 1,
};

typedef struct bk_batch_op {
  /* in */
  int type;                  /* BK_OP_* */
  const char *path;          /* validated with bk_path_valid */
  bk_hash xet_hash;          /* add, copy */
  int64_t mtime_ms;          /* add, copy; < 0 = unset (upload time used) */
  const char *content_type;  /* add; NULL = none; printable ASCII, at most
                                BK_CTYPE_MAX bytes (else the op fails) */
  int64_t size;              /* add; client-declared size, < 0 = not sent;
                                when sent it must equal the registered size */
  int64_t src_bucket_id;     /* copy: source bucket (caller checked read
                                access); the hash must be used by a file of it */
  /* out */
  int result;                /* 0 or BK_E* */
  const char *error;         /* static message when result != 0 */
} bk_batch_op;

/* Applies ops in order inside ONE transaction. Per-op failures (bad path,
 * unknown xet hash -> BK_ENOTFOUND, size mismatch -> BK_ESIZE, copy source
 * missing -> BK_ENOTFOUND, not granted -> BK_EPERM) are reported in
 * ops[i].result/error and do not stop the others; deleting a missing path
 * succeeds. Returns 0 (with *nfailed, may be NULL, = failed op count) or a
 * global error (BK_EDB/BK_ENOTFOUND bucket/BK_ELIMIT n) in which case NOTHING
 * was applied. addFile of an existing path overwrites it. */
int bk_db_batch(bk_db *db, int64_t bucket_id, bk_batch_op *ops, size_t n,
                unsigned flags, size_t *nfailed);

/* ---- accounting ---- */

typedef struct bk_usage {
  uint64_t nfiles;         /* bucket file entries */
  uint64_t logical_bytes;  /* sum of their sizes */
  uint64_t stored_bytes;   /* sum of record_len (compressed record bytes,
                              8-byte header included) over the DISTINCT
                              stored chunks (xorb, index) that the files'
                              reconstructions reference */
  uint64_t nchunks;        /* number of those distinct chunks */
} bk_usage;
int bk_db_bucket_usage(bk_db *db, int64_t bucket_id, bk_usage *out);
/* Same over every bucket of a namespace (chunks shared by two of its buckets
 * count once). */
int bk_db_ns_usage(bk_db *db, int64_t ns_id, bk_usage *out);

/* ---- CAS: xorbs ---- */

typedef struct bk_xorb_info {
  bk_hash hash;
  uint64_t bytes_on_disk;   /* serialized length as stored */
  uint64_t unpacked_bytes;
  uint32_t nchunks;
  int64_t created_ms;
  int64_t touched_ms;       /* last (re-)registration or dedup hit; gc age */
  int damaged;              /* 1: the stored blob was found not to verify (schema v5) */
  int64_t verified_ms;      /* last full verification of the stored blob, 0 = never */
  int64_t blob_stamp;       /* bk_blob_stamp of the blob at that verification */
  int64_t row_id;           /* internal id (order of registration; scrub cursor) */
} bk_xorb_info;

/* Registers a verified xorb and its chunk table (chunks[0..n), in order, as
 * produced by bk_xorb_parse; bytes_on_disk = the serialized length), in its
 * own BK_TX_GC_FENCE transaction. Touches no blob: the caller (the service)
 * checked that the blob is stored and laid out as chunks say (see
 * bk_db_xorb_register_tx). Idempotent: an existing row is touched
 * (*existed = 1, may be NULL). Chunks whose hash is global-dedup eligible
 * (bk_hash_tail_u64 % 1024 == 0) enter the dedup index. BK_EINVAL / BK_ESIZE
 * for a malformed table. */
int bk_db_xorb_register(bk_db *db, const bk_hash *xorb, uint64_t bytes_on_disk,
                        const bk_xorb_chunk *chunks, size_t n, int *existed);

/* Registration flags:
 *  - BK_XORB_REG_VERIFIED: the stored blob was verified by the caller just
 *    now: the row is recorded as verified (damaged = 0, verified_ms = now,
 *    blob_stamp = the given change token, bk_blob_stamp).
 *  - BK_XORB_REG_RELAYOUT: an existing row describes another serialization
 *    than the blob now stored: its bytes_on_disk and record layout are
 *    rewritten to bytes_on_disk / chunks (no effect on a new row). */
#define BK_XORB_REG_VERIFIED 1u
#define BK_XORB_REG_RELAYOUT 2u
/* The registration inside a transaction the caller holds (bk_db_tx_begin
 * with BK_TX_GC_FENCE, so gc cannot remove the blob between the caller's
 * check and the commit; BK_TX_WRITE is accepted, BK_TX_READ is BK_EINVAL).
 * Touches no blob: the caller has checked that the blob exists and that
 * bytes_on_disk / chunks describe it. *existed = 1 when the row existed.
 * Nothing is durable before bk_db_tx_commit. */
int bk_db_xorb_register_tx(bk_db_tx *tx, const bk_hash *xorb, uint64_t bytes_on_disk,
                           const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                           int64_t blob_stamp, int *existed);
/* bk_db_xorb_get / bk_db_xorb_chunks inside the caller's transaction (they
 * see its uncommitted writes). */
int bk_db_xorb_get_tx(bk_db_tx *tx, const bk_hash *xorb, bk_xorb_info *out);
int bk_db_xorb_chunks_tx(bk_db_tx *tx, const bk_hash *xorb, uint32_t start, uint32_t end,
                         bk_xorb_chunk *out);

/* Records the verdict of a full verification of the stored blob that the
 * caller (the service's xorb check) started at started_ms: damaged = 0
 * records it verified (damaged cleared, verified_ms = started_ms,
 * blob_stamp = stamp); damaged = 1 marks the row damaged unless a
 * verification was recorded after started_ms (e.g. a repairing upload).
 * A missing row is not an error (nothing to record). */
int bk_db_xorb_set_verdict(bk_db *db, const bk_hash *xorb, int damaged, int64_t started_ms,
                           int64_t stamp);
/* Sets (1) or clears (0: also forgets the last verification) the damaged
 * mark. BK_ENOTFOUND. */
int bk_db_xorb_set_damaged(bk_db *db, const bk_hash *xorb, int damaged);

/* Bucket files whose content references a damaged xorb, ordered by
 * namespace, bucket, path (one call per (file, damaged xorb)). Strings are
 * valid during the call. */
typedef struct bk_damaged_ref {
  char ns[BK_NAME_MAX + 1];
  char bucket[BK_NAME_MAX + 1];
  const char *path;
  bk_hash xorb;
} bk_damaged_ref;
typedef int (*bk_damaged_ref_cb)(void *ctx, const bk_damaged_ref *r);
int bk_db_damaged_refs(bk_db *db, bk_damaged_ref_cb cb, void *ctx);

/* scrub resume point per blob kind: the internal id of the last row
 * checked (0 = start). */
int bk_db_scrub_cursor(bk_db *db, bk_blob_kind kind, int64_t *last_id);
int bk_db_scrub_set_cursor(bk_db *db, bk_blob_kind kind, int64_t last_id);
/* BK_ENOTFOUND. */
int bk_db_xorb_get(bk_db *db, const bk_hash *xorb, bk_xorb_info *out);
/* 1 / 0 / negative error. */
int bk_db_xorb_exists(bk_db *db, const bk_hash *xorb);
/* Chunk rows [start, end) into out[0..end-start) (scheme is set to 0xff:
 * not recorded). BK_ENOTFOUND (xorb), BK_EINVAL (bad range). */
int bk_db_xorb_chunks(bk_db *db, const bk_hash *xorb, uint32_t start,
                      uint32_t end, bk_xorb_chunk *out);
/* Byte range of the records of chunks [start, end) in the stored xorb:
 * [*byte_start, *byte_end] INCLUSIVE (the url_range), and the unpacked length
 * of those chunks. BK_ENOTFOUND, BK_EINVAL (empty or out-of-range). */
int bk_db_xorb_range(bk_db *db, const bk_hash *xorb, uint32_t start,
                     uint32_t end, uint64_t *byte_start, uint64_t *byte_end,
                     uint64_t *unpacked);
typedef int (*bk_xorb_cb)(void *ctx, const bk_xorb_info *x);
int bk_db_xorb_list(bk_db *db, bk_xorb_cb cb, void *ctx);
/* Rows with internal id > after_id in id order, at most limit (scrub). */
int bk_db_xorb_list_after(bk_db *db, int64_t after_id, size_t limit, bk_xorb_cb cb, void *ctx);


/* ---- CAS: file reconstructions ---- */

typedef struct bk_cas_file {
  bk_hash hash;
  uint64_t size;
  int has_sha256;
  bk_hash sha256;      /* raw, as in the shard metadata ext */
  uint32_t nterms;
  int64_t created_ms;
} bk_cas_file;

typedef struct bk_file_term {
  bk_hash xorb;
  uint32_t chunk_start;    /* inclusive */
  uint32_t chunk_end;      /* exclusive */
  uint32_t unpacked_bytes;
} bk_file_term;

/* Every registered file reconstruction (order unspecified). */
typedef int (*bk_cas_file_cb)(void *ctx, const bk_cas_file *f);
int bk_db_cas_file_list(bk_db *db, bk_cas_file_cb cb, void *ctx);

/* BK_ENOTFOUND. The empty file (zero hash) is only found if registered. */
int bk_db_cas_file_get(bk_db *db, const bk_hash *file, bk_cas_file *out);
/* All terms in order; *terms malloc'd (caller frees; NULL when n == 0). */
int bk_db_cas_file_terms(bk_db *db, const bk_hash *file, bk_file_term **terms,
                         size_t *n);

/* ---- CAS: shards ---- */

struct bk_shard; /* buckets/shard.h */

/* Registers a parsed, verified shard whose blob (shard_hash = hash of the
 * uploaded bytes, size bytes) is already durable, in its own BK_TX_GC_FENCE
 * transaction (no blob check: the service's shard put checks the blob under
 * the fence and uses bk_db_shard_register_tx). In one transaction:
 * every xorb referenced by a file term or listed in the xorb section must be
 * registered (else BK_ENOTFOUND and *missing, may be NULL, = the first missing
 * xorb) and not marked damaged (else BK_EHASH, *missing = that xorb); each term's range must lie inside its xorb (BK_EINVAL) and its
 * unpacked_bytes must equal the sum of those chunk lengths (BK_ESIZE);
 * new files get rows (existing ones are touched); the first chunk of each
 * file and chunks flagged BK_SHARD_CHUNK_GLOBAL_DEDUP enter the dedup index;
 * if bucket_id > 0 the bucket is granted every file of the shard (see
 * BK_BATCH_REQUIRE_GRANT). *existed (may be NULL) = 1 if the shard row
 * existed. Nothing is changed on error. */
int bk_db_shard_register(bk_db *db, const bk_hash *shard_hash, uint64_t size,
                         const struct bk_shard *s, int64_t bucket_id,
                         bk_hash *missing, int *existed);
/* The same inside a transaction the caller holds (as bk_db_xorb_register_tx:
 * BK_TX_GC_FENCE; no blob check: the caller checked the shard blob). */
int bk_db_shard_register_tx(bk_db_tx *tx, const bk_hash *shard_hash, uint64_t size,
                            const struct bk_shard *s, int64_t bucket_id, bk_hash *missing,
                            int *existed);
int bk_db_shard_exists(bk_db *db, const bk_hash *shard_hash);
typedef struct bk_shard_info {
  bk_hash hash;
  uint64_t size;
  int64_t created_ms;
  int64_t touched_ms;
  int damaged;       /* 1: the stored blob does not hash to its name (v5) */
  int64_t row_id;    /* internal id (scrub cursor) */
} bk_shard_info;
typedef int (*bk_shard_cb)(void *ctx, const bk_shard_info *s);
int bk_db_shard_list(bk_db *db, bk_shard_cb cb, void *ctx);
int bk_db_shard_list_after(bk_db *db, int64_t after_id, size_t limit, bk_shard_cb cb,
                           void *ctx);
/* Sets or clears the damaged mark of a shard row. BK_ENOTFOUND. */
int bk_db_shard_set_damaged(bk_db *db, const bk_hash *shard_hash, int damaged);
/* Grants a bucket the right to addFile a file hash (also done by
 * bk_db_shard_register). */
int bk_db_file_grant(bk_db *db, const bk_hash *file, int64_t bucket_id);

/* ---- CAS: dedup ---- */

/* Which xorbs a dedup query may answer with (`bucketd serve --dedup-scope`).
 * A bucket "references" a xorb when it was granted or lists a file whose
 * terms use the xorb, or when the xorb was uploaded with a write token of the
 * bucket (table xorb_refs; rows stay until the bucket or the xorb is
 * deleted). */
enum bk_dedup_scope {
  BK_DEDUP_GLOBAL = 0,    /* any stored xorb (the Hub's behaviour) */
  BK_DEDUP_NAMESPACE = 1, /* xorbs referenced by a bucket of the caller's namespace */
  BK_DEDUP_BUCKET = 2     /* xorbs referenced by the caller's bucket */
};

/* Looks up an eligible chunk hash: the (lowest-id) xorb holding it that is
 * inside `scope` as seen from bucket_id (ignored for BK_DEDUP_GLOBAL), and
 * the chunk's index in it. Point lookups only: the dedup index by chunk hash,
 * then per candidate xorb one xorb_refs probe (bucket) or one probe per
 * bucket of the namespace (namespace). Touches the xorb (so a concurrent gc
 * keeps it). Xorbs marked damaged are never answered (the next holder is).
 * BK_ENOTFOUND (normal; also for a chunk only held outside the
 * scope), BK_EINVAL (unknown scope). */
int bk_db_dedup_lookup(bk_db *db, const bk_hash *chunk, int scope, int64_t bucket_id,
                       bk_hash *xorb, uint32_t *idx);

/* Records that bucket_id references the xorb (it uploaded it with one of its
 * write tokens), for the namespace and bucket dedup scopes. Idempotent.
 * BK_ENOTFOUND when the xorb is not registered or the bucket does not exist. */
int bk_db_xorb_ref(bk_db *db, const bk_hash *xorb, int64_t bucket_id);

/* ---- gc ---- */

typedef struct bk_gc_stats {
  uint64_t files;   /* file reconstructions removed */
  uint64_t xorbs;   /* xorb rows removed (blobs trashed) */
  uint64_t shards;  /* shard rows removed (blobs trashed) */
  uint64_t xorb_bytes, shard_bytes;
} bk_gc_stats;

/* One page of a gc pass over the metadata, inside the caller's transaction
 * (the service's gc opens it with BK_TX_GC_FENCE): removes file
 * reconstructions no bucket file references, then xorbs no file term
 * references, then shards none of whose files/xorbs survive — each only if
 * its touched time is older than cutoff_ms (damaged xorbs/shards whatever
 * their age, docs/store.md) — at most limit rows (1..BK_GC_PAGE_MAX) in
 * all. *phase (start with 0) is the step to continue from, advanced as steps
 * run out; 3 = the pass is complete. The removed xorb and shard rows are
 * returned in items[0..*nitems) (the caller's array of limit entries): their
 * blobs are the caller's to remove once the transaction committed. Adds the
 * removed counts to *stats (may be NULL). Touches no blob. On error
 * *nitems = 0 and the caller rolls the transaction back. */
#define BK_GC_PAGE_MAX 100000
typedef struct bk_gc_item {
  bk_blob_kind kind;
  bk_hash hash;
  uint64_t size;
} bk_gc_item;
int bk_db_gc_page_tx(bk_db_tx *tx, int64_t cutoff_ms, int *phase, size_t limit,
                     bk_gc_item *items, size_t *nitems, bk_gc_stats *stats);

/* 1 if a xorb (kind BK_BLOB_XORB) or shard row named h exists, as seen by
 * the caller's transaction; 0 if not; negative on error. The orphan re-check
 * of gc: under BK_TX_GC_FENCE a concurrent registration either committed
 * before (the row is seen, the blob kept) or runs after and finds the blob
 * gone (BK_ESTALE from the service). */
int bk_db_blob_row_exists_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h);

/* ---- pending deletes (gc on a blob store without BK_BLOB_CAP_TRASH) ----
 * A blob whose row gc removed (or an orphan blob) is recorded in the table
 * pending_deletes (kind, hash, due_ms) inside gc's BK_TX_GC_FENCE
 * transaction and deleted by a later gc step once due_ms has passed, after a
 * re-check under the fence that no row references it again (pending.c,
 * docs/store.md "Garbage collection"). Portable SQL (?N placeholders). */

/* Records (kind, h) as due for deletion at due_ms in the caller's writable
 * transaction. An existing record keeps the later of the two due times
 * (a blob removed again after a re-registration gets its full grace again);
 * with keep = 1 an existing record is left as it is (the orphan scan, which
 * finds pending blobs again on every run). */
int bk_db_pending_add_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h, int64_t due_ms,
                         int keep);
/* Removes the record of (kind, h) in the caller's writable transaction (0
 * also when there was none). */
int bk_db_pending_del_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h);
/* The records due at now_ms (due_ms <= now_ms), oldest due first, at most
 * limit (1..BK_GC_PAGE_MAX) into items[0..*n) (the caller's array; size is
 * 0). Its own short read; no transaction stays open. */
int bk_db_pending_due(bk_db *db, int64_t now_ms, size_t limit, bk_gc_item *items, size_t *n);
/* 1 and *due_ms (may be NULL) when (kind, h) is recorded, 0 if not,
 * negative on error. */
int bk_db_pending_get(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t *due_ms);
/* How many records there are (fsck, tests). */
int bk_db_pending_count(bk_db *db, uint64_t *n);

/* ---- integrity ---- */

/* PRAGMA quick_check + foreign_key_check; problems are reported through cb
 * (one message each). Returns 0 when clean, 1 when something was reported,
 * negative on error. */
typedef int (*bk_msg_cb)(void *ctx, const char *msg);
int bk_db_check(bk_db *db, bk_msg_cb cb, void *ctx);

#endif
