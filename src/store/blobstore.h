/* buckets — content-addressed blob store (xorbs and shards).
 *
 * Blobs are named ONLY by their content hash (string form, 64 lowercase hex
 * chars as produced by bk_hash_to_hex) and kind; no user-supplied string ever
 * becomes an object name or a path.
 *
 * Backends: a store is opened from a URL (bk_blobstore_open_url); the scheme
 * picks the backend. Today: file:///abs/path (src/store/blob_fs.c, layout in
 * docs/store.md). Backend authors implement struct bk_blob_backend
 * (src/store/blob_backend.h); this front checks arguments and builds the
 * operations below on it once for every backend. Optional capabilities are
 * announced in bk_blobstore_caps (BK_BLOB_CAP_*); asking for a missing one
 * answers BK_ENOTSUP.
 *
 * Durability: bk_blob_put / bk_blob_writer_commit return 0 only once the blob
 * is durable. Blobs are immutable: if a blob with that name exists, a put
 * writes nothing and reports *existed = 1 (two valid serializations of one
 * xorb hash can differ in compression; the database row describes the one
 * stored — bk_db_xorb_register checks it and removes a damaged one, answering
 * BK_ENOTFOUND "put it again"). The one exception: a blob known to be damaged
 * is replaced by bytes known to verify (bk_blob_writer_commit_replace,
 * bk_blob_replace; done under the database write lock by
 * bk_db_xorb_register_ex, see docs/store.md "Damaged blobs").
 * The store does NOT verify that the content matches the hash: callers
 * (server-cas) verify before putting; bk_db_xorb_check, fsck --read-data and
 * scrub re-verify.
 *
 * Ownership: bk_blobstore_open / _open_url return a store owned by the caller
 * (bk_blobstore_close). A bk_blob_writer is owned by the caller until
 * commit/abort, which release it (try_commit: see there). A bk_blob_reader is
 * owned by the caller until bk_blob_reader_close. Buffers are the caller's.
 * Thread safety: a bk_blobstore may be used by any number of threads at once
 * (it holds no mutable state after open); one reader or writer is used by
 * one thread at a time.
 */
#ifndef BUCKETS_BLOBSTORE_H
#define BUCKETS_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/blobkind.h"
#include "buckets/buf.h"
#include "buckets/hash.h"

typedef struct bk_blobstore bk_blobstore;

/* Optional backend capabilities (bk_blobstore_caps). */
#define BK_BLOB_CAP_FD 0x1u      /* readers have a local fd (bk_blob_reader_fd) */
#define BK_BLOB_CAP_PRESIGN 0x2u /* bk_blob_presign makes direct-download URLs */
#define BK_BLOB_CAP_TRASH 0x4u   /* bk_blob_trash & co.: a native two-phase delete */
#define BK_BLOB_CAP_TAG 0x8u     /* writers store a random tag with their blob (bk_blob_tag) */

/* A write tag: up to 32 hex digits and the NUL. */
#define BK_BLOB_TAG_MAX 33

/* Opens the store a URL names: "file:///abs/path" (filesystem backend rooted
 * at /abs/path, directories created as needed; no host, no %-escapes, no
 * query or fragment). Errors: BK_EINVAL (malformed URL or unknown scheme,
 * with a message naming it), BK_EIO, BK_ENOMEM, BK_ENOSPC. */
int bk_blobstore_open_url(const char *url, bk_blobstore **out);
/* Shorthand for the filesystem backend rooted at root (may be relative,
 * e.g. "<data>/blobs"). Errors: BK_EINVAL, BK_EIO, BK_ENOMEM. */
int bk_blobstore_open(const char *root, bk_blobstore **out);
void bk_blobstore_close(bk_blobstore *bs); /* NULL ok */
/* BK_BLOB_CAP_* flags of the store's backend. */
unsigned bk_blobstore_caps(const bk_blobstore *bs);
/* The backend's URL scheme, e.g. "file" (static string). */
const char *bk_blobstore_scheme(const bk_blobstore *bs);

/* "xorb" / "shard". */
const char *bk_blob_kind_name(bk_blob_kind kind);

/* Durably stores data[0..len) as blob (kind, h). *existed (may be NULL) is
 * set to 1 if a blob of that name was already present (nothing written),
 * else 0. */
int bk_blob_put(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                const void *data, size_t len, int *existed);

/* Streaming put: bytes are staged where no reader sees them (filesystem: a
 * temp file; writeback to disk is started every 8 MiB); commit names them. */
typedef struct bk_blob_writer bk_blob_writer;
int bk_blob_writer_open(bk_blobstore *bs, bk_blob_kind kind, bk_blob_writer **out);
/* The same for a blob whose name is known before its bytes (a xorb upload
 * names its hash in the URL): the writer may only be committed as h (any
 * other name: BK_EINVAL, w released); the backend may stage under h (S3: no
 * staging key, no server-side copy at commit). */
int bk_blob_writer_open_as(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                           bk_blob_writer **out);
int bk_blob_writer_write(bk_blob_writer *w, const void *data, size_t len);
uint64_t bk_blob_writer_size(const bk_blob_writer *w);
/* fsync + rename to the blob named h (like bk_blob_put: an existing blob is
 * kept, *existed = 1; may be NULL). Releases w, also on failure. */
int bk_blob_writer_commit(bk_blob_writer *w, const bk_hash *h, int *existed);
void bk_blob_writer_abort(bk_blob_writer *w); /* NULL ok; releases w */
/* Like commit, but when a blob of that name is stored already nothing is
 * committed, *existed = 1 and w is NOT released (the caller may still
 * bk_blob_writer_commit_replace or abort it). Otherwise w is released:
 * *existed = 0 (committed) or 2 (a concurrent put won the race; its blob is
 * kept and these bytes are dropped). */
int bk_blob_writer_try_commit(bk_blob_writer *w, const bk_hash *h, int *existed);
/* BK_BLOB_CAP_TAG stores: the random tag this writer stores with its blob
 * (fresh for every writer), "" without the capability. Read it before the
 * commit (which releases w): bk_blob_tag then tells whether the stored blob
 * is still the one this writer committed (another writer's put or copy of
 * the same name, or a replace, carries another tag). */
const char *bk_blob_writer_tag(const bk_blob_writer *w);
/* BK_BLOB_CAP_TAG stores: the tag stored with blob (kind, h) into
 * out[0..BK_BLOB_TAG_MAX) ("" when no tagging writer stored it) and its size
 * (may be NULL), in one request. BK_ENOTFOUND, BK_ENOTSUP (no capability),
 * BK_EIO. */
int bk_blob_tag(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, char *out,
                uint64_t *size);
/* fsync + rename OVER an existing blob of that name (atomic: readers see the
 * old or the new file, open fds keep the old one) + fsync dir. Only for
 * replacing a blob known to be damaged by bytes known to verify; callers
 * serialise it with the metadata (bk_db_xorb_register_ex holds the database
 * write lock). Releases w, also on failure. */
int bk_blob_writer_commit_replace(bk_blob_writer *w, const bk_hash *h);
/* Durably writes data as blob (kind, h), replacing a stored one (same rule
 * as bk_blob_writer_commit_replace). */
int bk_blob_replace(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, const void *data,
                    size_t len);
/* Change token of the stored blob: a non-zero value that changes whenever
 * the blob is written, replaced or resized (filesystem backend: inode,
 * ctime, mtime, size). Lets a verification be reused while the token is the
 * same. BK_ENOTFOUND, BK_EIO. */
int bk_blob_stamp(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, int64_t *stamp);

/* Size of a blob. BK_ENOTFOUND, BK_EIO. */
int bk_blob_stat(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                 uint64_t *size);
/* 1 if present, 0 if not, negative BK_E* on error. */
int bk_blob_exists(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);

/* Appends the whole blob to out (caller-initialised). BK_ELIMIT if larger
 * than max or than what out can hold (out unchanged). BK_ENOTFOUND, BK_EIO. */
int bk_blob_get(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                size_t max, bk_buf *out);

/* Reads exactly len bytes at offset off into dst. BK_ETRUNCATED if the range
 * passes the end of the blob. BK_ENOTFOUND, BK_EIO. */
int bk_blob_read_range(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                       uint64_t off, size_t len, void *dst);

/* Reader: one version of a blob, readable at any offset; it stays readable
 * even if the blob is deleted or replaced after the open (gc, repair).
 * open: BK_ENOTFOUND, BK_EIO, BK_ENOMEM, BK_EINVAL (kind). */
typedef struct bk_blob_reader bk_blob_reader;
int bk_blob_reader_open(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                        bk_blob_reader **out);
/* Reads up to len bytes at off into buf; *got < len only when the range
 * passes the end of the blob (0 at or past the end; not an error).
 * BK_EIO. */
int bk_blob_reader_read_at(bk_blob_reader *r, uint64_t off, void *buf, size_t len,
                           size_t *got);
/* Size of the opened version. */
uint64_t bk_blob_reader_size(const bk_blob_reader *r);
/* BK_BLOB_CAP_FD stores: a local read-only fd of the opened version for
 * sendfile/mmap, owned by r (valid until bk_blob_reader_close; do not close
 * it). BK_ENOTSUP (negative) without the capability. */
int bk_blob_reader_fd(const bk_blob_reader *r);
void bk_blob_reader_close(bk_blob_reader *r); /* NULL ok; releases r */


/* BK_BLOB_CAP_PRESIGN stores: writes into url[0..n) a URL from which any
 * HTTP client may GET bytes [off, off+len) of the blob until expires_at
 * (unix seconds). BK_ENOTSUP without the capability (the filesystem backend),
 * BK_ETRUNCATED if the range passes the end, BK_ELIMIT if n is too small,
 * BK_ENOTFOUND, BK_EINVAL (len 0, expiry in the past). */
int bk_blob_presign(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, uint64_t off,
                    uint64_t len, int64_t expires_at, char *url, size_t n);

/* Removes a blob. BK_ENOTFOUND if absent. */
int bk_blob_delete(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);

/* Enumerates every blob of a kind (order unspecified). cb returns 0 to go
 * on, non-zero to stop (that value is returned). Files whose names are not
 * valid blob names (stray files) are reported through stray_cb if not NULL
 * (path relative to the root) and otherwise skipped. mtime is unix seconds. */
typedef int (*bk_blob_list_cb)(void *ctx, bk_blob_kind kind, const bk_hash *h,
                               uint64_t size, int64_t mtime);
typedef int (*bk_blob_stray_cb)(void *ctx, const char *relpath, uint64_t size,
                                int64_t mtime);
int bk_blob_list(bk_blobstore *bs, bk_blob_kind kind, bk_blob_list_cb cb,
                 bk_blob_stray_cb stray_cb, void *ctx);

/* ---- gc support: two-phase delete ----
 * gc moves a blob to the trash while it holds the database write lock, then
 * commits and empties the trash. A trashed blob is gone for stat, get, list
 * and readers opened afterwards, but recoverable. A crash in between leaves
 * blobs in the trash; bk_blob_trash_list lets the next gc restore
 * (bk_blob_untrash) those whose database row still exists and delete
 * (bk_blob_trash_purge) the rest. Where the trash lives is the backend's
 * business (filesystem: <root>/trash/<kind>-<64-hex>).
 * Optional: only BK_BLOB_CAP_TRASH stores have it; the others answer
 * BK_ENOTSUP to all four calls (an object store has no cheap atomic move;
 * gc then records garbage in the metadata's pending-delete table and
 * deletes the blob after a grace period instead). */
int bk_blob_trash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);
/* Restores a trashed blob; if a blob of that name was put meanwhile, that one
 * is kept and the trashed copy is dropped (returns 0 either way). */
int bk_blob_untrash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);
int bk_blob_trash_purge(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);
int bk_blob_trash_list(bk_blobstore *bs, bk_blob_list_cb cb, void *ctx);

/* Removes staged writes abandoned (by a crash) before older_than (unix
 * seconds; filesystem: temp files in <root>/tmp and ".tmp.*" leftovers of
 * interrupted durable writes inside the blob directories); *removed (may be NULL)
 * counts them. 0 removed on a backend that leaves none behind. */
int bk_blob_clean_tmp(bk_blobstore *bs, int64_t older_than, size_t *removed);

#endif
