/* buckets — content-addressed blob store (xorbs and shards).
 *
 * Blobs are named ONLY by their content hash (string form, 64 lowercase hex
 * chars as produced by bk_hash_to_hex) and kind; no user-supplied string ever
 * becomes a path. Filesystem backend layout under the root directory:
 *
 *   <root>/xorbs/<h0h1>/<h2h3>/<64-hex>     serialized xorbs (as uploaded)
 *   <root>/shards/<h0h1>/<h2h3>/<64-hex>    shards (as uploaded)
 *   <root>/tmp/                             in-progress writes (temp files)
 *   <root>/trash/<kind>-<64-hex>            blobs being deleted by gc
 *
 * The backend sits behind an internal operations table (src/store/blobstore.c)
 * so another backend (e.g. S3) can be added without changing this API.
 *
 * Durability: bk_blob_put / bk_blob_writer_commit return 0 only once the blob
 * and its directory entry are fsync'ed. Blobs are immutable: if a blob with
 * that name exists, a put writes nothing and reports *existed = 1 (two valid
 * serializations of one xorb hash can differ in compression; the database
 * row describes the one on disk — bk_db_xorb_register checks it and removes
 * a damaged one, answering BK_ENOTFOUND "put it again"). The one exception:
 * a blob known to be damaged is replaced by bytes known to verify
 * (bk_blob_writer_commit_replace, bk_blob_replace; done under the database
 * write lock by bk_db_xorb_register_ex, see docs/store.md "Damaged blobs").
 * The store does NOT verify that the content matches the hash: callers
 * (server-cas) verify before putting; bk_db_xorb_check, fsck --read-data and
 * scrub re-verify.
 *
 * Ownership: bk_blobstore_open returns a store owned by the caller
 * (bk_blobstore_close). A bk_blob_writer is owned by the caller until
 * commit/abort, which release it. Thread safety: a bk_blobstore may be used
 * by any number of threads at once (it holds no mutable state after open).
 */
#ifndef BUCKETS_BLOBSTORE_H
#define BUCKETS_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"
#include "buckets/hash.h"

typedef enum bk_blob_kind {
  BK_BLOB_XORB = 0,
  BK_BLOB_SHARD = 1,
} bk_blob_kind;
#define BK_BLOB_NKINDS 2

typedef struct bk_blobstore bk_blobstore;

/* Opens (creating directories as needed) a filesystem store rooted at root
 * (e.g. "<data>/blobs"). Errors: BK_EINVAL, BK_EIO, BK_ENOMEM. */
int bk_blobstore_open(const char *root, bk_blobstore **out);
void bk_blobstore_close(bk_blobstore *bs); /* NULL ok */

/* "xorb" / "shard". */
const char *bk_blob_kind_name(bk_blob_kind kind);

/* Writes the filesystem path of a blob into out (for messages and tools;
 * never needed for I/O, use the functions below). BK_ELIMIT if n too small. */
int bk_blob_path(const bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                 char *out, size_t n);

/* Durably stores data[0..len) as blob (kind, h). *existed (may be NULL) is
 * set to 1 if a blob of that name was already present (nothing written),
 * else 0. */
int bk_blob_put(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                const void *data, size_t len, int *existed);

/* Streaming put: bytes go to a temp file in <root>/tmp; commit names it. */
typedef struct bk_blob_writer bk_blob_writer;
int bk_blob_writer_open(bk_blobstore *bs, bk_blob_kind kind, bk_blob_writer **out);
int bk_blob_writer_write(bk_blob_writer *w, const void *data, size_t len);
uint64_t bk_blob_writer_size(const bk_blob_writer *w);
/* The temp file fd (to pread back and verify before commit). Owned by w. */
int bk_blob_writer_fd(const bk_blob_writer *w);
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
 * the file is written, replaced or resized (filesystem backend: inode,
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

/* Opens the blob read-only for zero-copy responses: *fd (caller closes it,
 * O_CLOEXEC) and *size. The fd stays valid even if gc later unlinks the blob.
 * BK_ENOTFOUND, BK_EIO. */
int bk_blob_open(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                 int *fd, uint64_t *size);

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

/* ---- gc support ----
 * gc moves a blob to the trash while it holds the database write lock, then
 * commits and empties the trash. A crash in between leaves blobs in the
 * trash; bk_blob_trash_list lets the next gc restore (bk_blob_untrash) those
 * whose database row still exists and delete (bk_blob_trash_purge) the rest. */
int bk_blob_trash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);
/* Restores a trashed blob; if a blob of that name was put meanwhile, that one
 * is kept and the trashed copy is dropped (returns 0 either way). */
int bk_blob_untrash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);
int bk_blob_trash_purge(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h);
int bk_blob_trash_list(bk_blobstore *bs, bk_blob_list_cb cb, void *ctx);

/* Removes temp files in <root>/tmp older than older_than (unix seconds);
 * *removed (may be NULL) counts them. */
int bk_blob_clean_tmp(bk_blobstore *bs, int64_t older_than, size_t *removed);

#endif
