/* buckets — blob backend interface, for backend authors (not public API).
 *
 * The generic front (src/store/blobstore.c) implements the public
 * store/blobstore.h once for every backend: it checks kinds and
 * arguments, maps "already exists" to *existed, loops short reads, builds
 * get / read_range on the reader, and answers BK_ENOTSUP for an optional
 * operation a backend leaves NULL. A backend implements the operations below
 * and nothing else; it never sees an invalid kind or a NULL hash.
 *
 * Names: a blob is (kind, 32-byte hash). A backend derives its object name
 * from the hash alone (bk_hash_to_hex); no caller string ever reaches it.
 *
 * Objects: a backend allocates its own reader and writer structs with the
 * base struct (struct bk_blob_reader / struct bk_blob_writer) as their FIRST
 * member and fills the base; the front dispatches through base.be.
 *
 * Ownership: the backend instance returned by a registry open function is
 * owned by the blob store (released with be->close). A reader is owned by
 * the caller until reader_close; a writer until commit (always released,
 * also on failure) or abort.
 *
 * Thread safety: every operation may be called from any number of threads at
 * once on one backend instance; one reader or writer is used by one thread at
 * a time.
 */
#ifndef BUCKETS_STORE_BLOB_BACKEND_H
#define BUCKETS_STORE_BLOB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "store/blobstore.h"

#define BK_BLOB_BACKEND_VERSION 1

typedef struct bk_blob_backend bk_blob_backend;

/* Base of every backend reader: be and kind filled by reader_open, size is
 * the blob's size when it was opened (a reader sees one immutable version). */
struct bk_blob_reader {
  bk_blob_backend *be;
  bk_blob_kind kind;
  uint64_t size;
};

/* Base of every backend writer: be and kind filled by writer_open; tag too
 * (a fresh random tag, stored with the blob) by a BK_BLOB_CAP_TAG backend.
 * named / name: set by the front right after writer_open, before any write,
 * when the caller named the blob (bk_blob_writer_open_as); such a writer is
 * only ever committed as that name (the front refuses any other), so a
 * backend may stage the bytes under the name itself where nothing is visible
 * before the commit (S3: a multipart upload of the final key). */
struct bk_blob_writer {
  bk_blob_backend *be;
  bk_blob_kind kind;
  char tag[BK_BLOB_TAG_MAX];
  int named;
  bk_hash name;
};

struct bk_blob_backend {
  int version;   /* BK_BLOB_BACKEND_VERSION */
  unsigned caps; /* BK_BLOB_CAP_* the backend implements */
  const char *scheme;

  void (*close)(bk_blob_backend *be); /* releases be */

  /* Stores data as (kind, h). replace = 0: when a blob of that name exists,
   * writes nothing and returns BK_EEXIST (also when a concurrent put wins);
   * replace = 1: atomically replaces a stored one (readers see the old or the
   * new bytes). 0 only once the blob is durable. */
  int (*put)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h, const void *data,
             size_t len, int replace);
  /* Size and change token (non-zero; changes whenever the stored bytes are
   * written or replaced) of a stored blob; either out may be NULL.
   * BK_ENOTFOUND, BK_EIO. */
  int (*stat)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h, uint64_t *size,
              int64_t *stamp);
  /* Removes a blob at once. BK_ENOTFOUND if absent. */
  int (*del)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h);
  /* Every stored blob of a kind; names that are not blob names go to stray
   * (may be NULL). A non-zero callback result stops and is returned. */
  int (*list)(bk_blob_backend *be, bk_blob_kind kind, bk_blob_list_cb cb,
              bk_blob_stray_cb stray, void *ctx);

  /* Streaming writer: bytes are staged where no reader sees them. */
  int (*writer_open)(bk_blob_backend *be, bk_blob_kind kind, struct bk_blob_writer **out);
  int (*writer_write)(struct bk_blob_writer *w, const void *data, size_t len);
  uint64_t (*writer_size)(const struct bk_blob_writer *w);
  /* Makes the staged bytes the blob h (replace as for put: BK_EEXIST when
   * replace = 0 and the name is taken). Always releases w. */
  int (*writer_commit)(struct bk_blob_writer *w, const bk_hash *h, int replace);
  void (*writer_abort)(struct bk_blob_writer *w); /* releases w */

  /* Opens one version of the blob for reading; sets base.size.
   * BK_ENOTFOUND, BK_EIO. */
  int (*reader_open)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h,
                     struct bk_blob_reader **out);
  /* Reads up to len bytes at off (off < size, len > 0 guaranteed by the
   * front) into buf; *got may be short (the front loops), 0 only at the end. */
  int (*reader_read_at)(struct bk_blob_reader *r, uint64_t off, void *buf, size_t len,
                        size_t *got);
  void (*reader_close)(struct bk_blob_reader *r); /* releases r */
  /* BK_BLOB_CAP_FD only (else NULL): a local fd of the opened version,
   * owned by r (valid until reader_close, also after the blob is deleted). */
  int (*reader_fd)(const struct bk_blob_reader *r);

  /* BK_BLOB_CAP_PRESIGN only (else NULL): writes into url[0..n) a URL from
   * which an HTTP client may GET bytes [off, off+len) of the blob until
   * expires_at (unix seconds) without other credentials. BK_ELIMIT if n is
   * too small, BK_ENOTFOUND. */
  int (*presign)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h, uint64_t off,
                 uint64_t len, int64_t expires_at, char *url, size_t n);

  /* Two-phase delete (gc). trash: the blob disappears from stat/get/list at
   * once but stays recoverable; untrash: restores it (a blob of that name put
   * meanwhile wins, the trashed copy is dropped; 0 either way); trash_purge:
   * removes it for good; trash_list: what is trashed (after a crash).
   * BK_ENOTFOUND when there is nothing to move. BK_BLOB_CAP_TRASH only (all
   * four set, else all four NULL). */
  int (*trash)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h);
  int (*untrash)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h);
  int (*trash_purge)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h);
  int (*trash_list)(bk_blob_backend *be, bk_blob_list_cb cb, void *ctx);

  /* BK_BLOB_CAP_TAG only (else NULL): the tag stored with the blob into
   * out[0..BK_BLOB_TAG_MAX) ("" if none) and its size (may be NULL).
   * BK_ENOTFOUND, BK_EIO. */
  int (*tag)(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h, char *out, uint64_t *size);

  /* Removes staged writes abandoned before older_than (unix seconds), e.g.
   * by a crash; counts them in *removed. NULL: the backend leaves nothing
   * behind (the front answers 0 removed). */
  int (*clean_stale)(bk_blob_backend *be, int64_t older_than, size_t *removed);
};

/* ---- registry by URL scheme (src/store/blobstore.c) ----
 * A backend's open function gets the URL after "<scheme>://" and returns a
 * ready instance. Errors: BK_EINVAL (malformed URL), BK_EIO, BK_ENOMEM. */
typedef int (*bk_blob_backend_open_fn)(const char *rest, bk_blob_backend **out);

/* The filesystem backend (src/store/blob_fs.c): rest = "/abs/path" (from
 * file:///abs/path). Creates <root>/{xorbs,shards,tmp,trash}. */
int bk_blob_fs_open(const char *rest, bk_blob_backend **out);

/* Opens a store over a backend that is not in the URL registry: open(rest)
 * builds the instance, the front checks it like a registered one (ops and
 * caps agree) and owns it from then on. For wrappers and tests (e.g. a
 * test-only backend announcing fewer capabilities than the one it wraps);
 * bucketd itself opens stores by URL only. Errors as the open function's,
 * BK_EINVAL for an incomplete backend. */
int bk_blobstore_open_backend(bk_blob_backend_open_fn open, const char *rest,
                              bk_blobstore **out);

/* The backend behind a store (for backend-specific helpers and tests). */
bk_blob_backend *bk_blobstore_backend(const bk_blobstore *bs);

#endif
