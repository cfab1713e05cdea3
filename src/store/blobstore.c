/* buckets — blob store front (see store/blobstore.h).
 *
 * Backend-independent: picks the backend by URL scheme, checks kinds and
 * arguments, maps "already exists" to *existed, and builds get / read_range /
 * the deprecated fd calls on the reader — once, for every backend. Backends
 * implement struct bk_blob_backend (src/store/blob_backend.h); only they know
 * where and how bytes are stored.
 */
#include "store/blobstore.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/error.h"
#include "store/blob_backend.h"
#include "store/blob_s3.h"

struct bk_blobstore {
  bk_blob_backend *be;
};

/* Backends by URL scheme. */
static const struct {
  const char *scheme;
  bk_blob_backend_open_fn open;
} BACKENDS[] = {
    {"file", bk_blob_fs_open},
    {"s3", bk_blob_s3_open},
};

static const char *KIND_NAME[BK_BLOB_NKINDS] = {"xorb", "shard"};

const char *bk_blob_kind_name(bk_blob_kind kind) {
  return (unsigned)kind < BK_BLOB_NKINDS ? KIND_NAME[kind] : "?";
}

static int check(const bk_blobstore *bs, bk_blob_kind kind, const void *h) {
  if (!bs) return bk_seterr(BK_EINVAL, "no blob store");
  if ((unsigned)kind >= BK_BLOB_NKINDS) return bk_seterr(BK_EINVAL, "bad blob kind");
  if (!h) return bk_seterr(BK_EINVAL, "no blob hash");
  return 0;
}

/* A backend instance must be complete: every required operation set, and
 * an optional one exactly when its capability is announced. */
static int backend_ok(const bk_blob_backend *be) {
  if (be->version != BK_BLOB_BACKEND_VERSION) return 0;
  if (!be->close || !be->put || !be->stat || !be->del || !be->list) return 0;
  if (!be->writer_open || !be->writer_write || !be->writer_size || !be->writer_commit ||
      !be->writer_abort)
    return 0;
  if (!be->reader_open || !be->reader_read_at || !be->reader_close) return 0;
  int tr = (be->caps & BK_BLOB_CAP_TRASH) != 0;
  int ops = (be->trash != NULL) + (be->untrash != NULL) + (be->trash_purge != NULL) +
            (be->trash_list != NULL);
  if (ops != (tr ? 4 : 0)) return 0;
  int fd = (be->caps & BK_BLOB_CAP_FD) != 0;
  if (fd != (be->reader_fd != NULL)) return 0;
  if (((be->caps & BK_BLOB_CAP_TAG) != 0) != (be->tag != NULL)) return 0;
  return ((be->caps & BK_BLOB_CAP_PRESIGN) != 0) == (be->presign != NULL);
}

static int wrap(const char *scheme, bk_blob_backend_open_fn open, const char *rest,
                bk_blobstore **out) {
  *out = NULL;
  bk_blob_backend *be = NULL;
  int rc = open(rest, &be);
  if (rc) return rc;
  if (!backend_ok(be)) {
    be->close(be);
    return bk_seterr(BK_EINVAL, "blob backend %s:// is incomplete", scheme);
  }
  bk_blobstore *bs = malloc(sizeof *bs);
  if (!bs) {
    be->close(be);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  bs->be = be;
  *out = bs;
  return 0;
}

/* file:// URLs: an absolute path, no host, nothing to decode. */
static int check_file_url(const char *url, const char *rest) {
  if (rest[0] != '/')
    return bk_seterr(BK_EINVAL, "blob store URL %s: file:// needs an absolute path (file:///dir)", url);
  if (strpbrk(rest, "%?#"))
    return bk_seterr(BK_EINVAL, "blob store URL %s: %%-escapes, queries and fragments are not supported",
                     url);
  return 0;
}

int bk_blobstore_open_url(const char *url, bk_blobstore **out) {
  *out = NULL;
  if (!url || !*url) return bk_seterr(BK_EINVAL, "empty blob store URL");
  const char *sep = strstr(url, "://");
  if (!sep || sep == url)
    return bk_seterr(BK_EINVAL, "blob store URL %s has no scheme (e.g. file:///var/blobs)", url);
  size_t sl = (size_t)(sep - url);
  const char *rest = sep + 3;
  for (size_t i = 0; i < sizeof BACKENDS / sizeof BACKENDS[0]; i++) {
    if (strlen(BACKENDS[i].scheme) != sl || strncmp(url, BACKENDS[i].scheme, sl) != 0) continue;
    if (!strcmp(BACKENDS[i].scheme, "file")) {
      int rc = check_file_url(url, rest);
      if (rc) return rc;
    }
    return wrap(BACKENDS[i].scheme, BACKENDS[i].open, rest, out);
  }
  return bk_seterr(BK_EINVAL, "blob store URL %s: unknown scheme %.*s:// (supported: file://, s3://)", url,
                   (int)(sl > 32 ? 32 : sl), url);
}

int bk_blobstore_open(const char *root, bk_blobstore **out) {
  *out = NULL;
  if (!root || !*root) return bk_seterr(BK_EINVAL, "empty blob store root");
  return wrap("file", bk_blob_fs_open, root, out);
}

int bk_blobstore_open_backend(bk_blob_backend_open_fn open, const char *rest,
                              bk_blobstore **out) {
  *out = NULL;
  if (!open || !rest) return bk_seterr(BK_EINVAL, "no backend open function");
  return wrap("custom", open, rest, out);
}

void bk_blobstore_close(bk_blobstore *bs) {
  if (!bs) return;
  bs->be->close(bs->be);
  free(bs);
}

unsigned bk_blobstore_caps(const bk_blobstore *bs) { return bs->be->caps; }
const char *bk_blobstore_scheme(const bk_blobstore *bs) { return bs->be->scheme; }
bk_blob_backend *bk_blobstore_backend(const bk_blobstore *bs) { return bs->be; }

/* ---- whole blobs ---- */

/* put / replace: BK_EEXIST from the backend is "existed" */
int bk_blob_put(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, const void *data,
                size_t len, int *existed) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if (!data && len) return bk_seterr(BK_EINVAL, "no data");
  rc = bs->be->put(bs->be, kind, h, data, len, 0);
  if (rc == BK_EEXIST) { /* stored already, or a concurrent put won: keep it */
    bk_clearerr();
    if (existed) *existed = 1;
    return 0;
  }
  if (rc == 0 && existed) *existed = 0;
  return rc;
}

int bk_blob_replace(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, const void *data,
                    size_t len) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if (!data && len) return bk_seterr(BK_EINVAL, "no data");
  return bs->be->put(bs->be, kind, h, data, len, 1);
}

int bk_blob_stat(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, uint64_t *size) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  return bs->be->stat(bs->be, kind, h, size, NULL);
}

int bk_blob_stamp(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, int64_t *stamp) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  return bs->be->stat(bs->be, kind, h, NULL, stamp);
}

int bk_blob_exists(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  int rc = bk_blob_stat(bs, kind, h, NULL);
  if (rc == 0) return 1;
  if (rc == BK_ENOTFOUND) {
    bk_clearerr();
    return 0;
  }
  return rc;
}

int bk_blob_delete(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  return bs->be->del(bs->be, kind, h);
}

int bk_blob_list(bk_blobstore *bs, bk_blob_kind kind, bk_blob_list_cb cb,
                 bk_blob_stray_cb stray_cb, void *ctx) {
  int rc = check(bs, kind, cb);
  if (rc) return rc;
  return bs->be->list(bs->be, kind, cb, stray_cb, ctx);
}

/* ---- reader ---- */

int bk_blob_reader_open(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                        bk_blob_reader **out) {
  *out = NULL;
  int rc = check(bs, kind, h);
  if (rc) return rc;
  return bs->be->reader_open(bs->be, kind, h, out);
}

int bk_blob_reader_read_at(bk_blob_reader *r, uint64_t off, void *buf, size_t len, size_t *got) {
  *got = 0;
  if (!buf && len) return bk_seterr(BK_EINVAL, "no buffer");
  if (off >= r->size || len == 0) return 0;
  if (len > r->size - off) len = (size_t)(r->size - off);
  /* a backend may answer short (a partial pread, an HTTP range cut short):
   * loop until len or the backend has nothing more */
  size_t done = 0;
  while (done < len) {
    size_t n = 0;
    int rc = r->be->reader_read_at(r, off + done, (char *)buf + done, len - done, &n);
    if (rc) return rc;
    if (n == 0) break;
    if (n > len - done) return bk_seterr(BK_EIO, "blob backend read past the buffer");
    done += n;
  }
  *got = done;
  return 0;
}

uint64_t bk_blob_reader_size(const bk_blob_reader *r) { return r->size; }

int bk_blob_reader_fd(const bk_blob_reader *r) {
  if (!(r->be->caps & BK_BLOB_CAP_FD))
    return bk_seterr(BK_ENOTSUP, "the %s:// blob store has no local file descriptors", r->be->scheme);
  return r->be->reader_fd(r);
}

void bk_blob_reader_close(bk_blob_reader *r) {
  if (r) r->be->reader_close(r);
}

/* Reads exactly len bytes at off; BK_ETRUNCATED when the blob (as opened)
 * is shorter. */
static int read_exact(bk_blob_reader *r, uint64_t off, void *dst, size_t len) {
  if (off > r->size || len > r->size - off)
    return bk_seterr(BK_ETRUNCATED, "range passes the end of the %s", KIND_NAME[r->kind]);
  size_t got = 0;
  int rc = bk_blob_reader_read_at(r, off, dst, len, &got);
  if (rc == 0 && got != len)
    rc = bk_seterr(BK_ETRUNCATED, "%s ends before the requested range", KIND_NAME[r->kind]);
  return rc;
}

int bk_blob_get(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, size_t max, bk_buf *out) {
  bk_blob_reader *r;
  int rc = bk_blob_reader_open(bs, kind, h, &r);
  if (rc) return rc;
  uint64_t size = r->size;
  if (size > max || size > out->max - out->len) {
    bk_blob_reader_close(r);
    return bk_seterr(BK_ELIMIT, "%s of %llu bytes exceeds the limit", KIND_NAME[kind],
                     (unsigned long long)size);
  }
  rc = bk_buf_reserve(out, (size_t)size);
  if (rc == 0) rc = read_exact(r, 0, out->p + out->len, (size_t)size);
  bk_blob_reader_close(r);
  if (rc == 0) out->len += (size_t)size;
  return rc;
}

int bk_blob_read_range(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, uint64_t off,
                       size_t len, void *dst) {
  bk_blob_reader *r;
  int rc = bk_blob_reader_open(bs, kind, h, &r);
  if (rc) return rc;
  rc = read_exact(r, off, dst, len);
  bk_blob_reader_close(r);
  return rc;
}

int bk_blob_presign(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, uint64_t off,
                    uint64_t len, int64_t expires_at, char *url, size_t n) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if (!(bs->be->caps & BK_BLOB_CAP_PRESIGN))
    return bk_seterr(BK_ENOTSUP, "the %s:// blob store cannot presign URLs", bs->be->scheme);
  if (!url || n == 0) return bk_seterr(BK_ELIMIT, "no room for the URL");
  if (len == 0) return bk_seterr(BK_EINVAL, "empty range");
  uint64_t size;
  if ((rc = bs->be->stat(bs->be, kind, h, &size, NULL))) return rc;
  if (off > size || len > size - off)
    return bk_seterr(BK_ETRUNCATED, "range passes the end of the %s", KIND_NAME[kind]);
  return bs->be->presign(bs->be, kind, h, off, len, expires_at, url, n);
}

/* ---- streaming writer ---- */

int bk_blob_writer_open(bk_blobstore *bs, bk_blob_kind kind, bk_blob_writer **out) {
  *out = NULL;
  int rc = check(bs, kind, bs); /* no hash yet: bs stands in for it */
  if (rc) return rc;
  return bs->be->writer_open(bs->be, kind, out);
}

int bk_blob_writer_open_as(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                           bk_blob_writer **out) {
  *out = NULL;
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if ((rc = bs->be->writer_open(bs->be, kind, out))) return rc;
  (*out)->named = 1;
  (*out)->name = *h;
  return 0;
}

/* A named writer commits as its name only (it may be staged under it). */
static int name_ok(bk_blob_writer *w, const bk_hash *h) {
  if (!h) {
    w->be->writer_abort(w);
    return bk_seterr(BK_EINVAL, "no blob hash");
  }
  if (w->named && !bk_hash_eq(&w->name, h)) {
    w->be->writer_abort(w);
    return bk_seterr(BK_EINVAL, "writer opened for another blob name");
  }
  return 0;
}

int bk_blob_writer_write(bk_blob_writer *w, const void *data, size_t len) {
  if (len == 0) return 0;
  if (!data) return bk_seterr(BK_EINVAL, "no data");
  return w->be->writer_write(w, data, len);
}

uint64_t bk_blob_writer_size(const bk_blob_writer *w) { return w->be->writer_size(w); }

void bk_blob_writer_abort(bk_blob_writer *w) {
  if (w) w->be->writer_abort(w);
}

const char *bk_blob_writer_tag(const bk_blob_writer *w) {
  return (w->be->caps & BK_BLOB_CAP_TAG) ? w->tag : "";
}

int bk_blob_tag(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, char *out,
                uint64_t *size) {
  out[0] = 0;
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if (!(bs->be->caps & BK_BLOB_CAP_TAG))
    return bk_seterr(BK_ENOTSUP, "the %s:// blob store keeps no write tags", bs->be->scheme);
  rc = bs->be->tag(bs->be, kind, h, out, size);
  out[BK_BLOB_TAG_MAX - 1] = 0;
  return rc;
}

int bk_blob_writer_try_commit(bk_blob_writer *w, const bk_hash *h, int *existed) {
  *existed = 0;
  bk_blob_backend *be = w->be;
  int rc = name_ok(w, h);
  if (rc) return rc;
  rc = be->stat(be, w->kind, h, NULL, NULL);
  if (rc == 0) { /* stored already: the caller decides (w stays open) */
    *existed = 1;
    return 0;
  }
  if (rc != BK_ENOTFOUND) {
    be->writer_abort(w);
    return rc;
  }
  bk_clearerr();
  rc = be->writer_commit(w, h, 0); /* releases w */
  if (rc == BK_EEXIST) {           /* lost a race with a concurrent put: its blob stays */
    bk_clearerr();
    *existed = 2;
    return 0;
  }
  return rc;
}

int bk_blob_writer_commit(bk_blob_writer *w, const bk_hash *h, int *existed) {
  int ex = 0;
  int rc = bk_blob_writer_try_commit(w, h, &ex);
  if (rc == 0 && ex == 1) bk_blob_writer_abort(w); /* immutable: keep the stored one */
  if (rc == 0 && existed) *existed = ex != 0;
  return rc;
}

int bk_blob_writer_commit_replace(bk_blob_writer *w, const bk_hash *h) {
  int rc = name_ok(w, h);
  return rc ? rc : w->be->writer_commit(w, h, 1);
}

/* ---- two-phase delete, abandoned writes ---- */

static int no_trash(const bk_blobstore *bs) {
  return bk_seterr(BK_ENOTSUP, "the %s:// blob store has no two-phase delete (gc uses the "
                   "pending-delete table)", bs->be->scheme);
}

int bk_blob_trash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if (!(bs->be->caps & BK_BLOB_CAP_TRASH)) return no_trash(bs);
  return bs->be->trash(bs->be, kind, h);
}

int bk_blob_untrash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if (!(bs->be->caps & BK_BLOB_CAP_TRASH)) return no_trash(bs);
  return bs->be->untrash(bs->be, kind, h);
}

int bk_blob_trash_purge(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  int rc = check(bs, kind, h);
  if (rc) return rc;
  if (!(bs->be->caps & BK_BLOB_CAP_TRASH)) return no_trash(bs);
  return bs->be->trash_purge(bs->be, kind, h);
}

int bk_blob_trash_list(bk_blobstore *bs, bk_blob_list_cb cb, void *ctx) {
  if (!bs || !cb) return bk_seterr(BK_EINVAL, "no blob store or callback");
  if (!(bs->be->caps & BK_BLOB_CAP_TRASH)) return no_trash(bs);
  return bs->be->trash_list(bs->be, cb, ctx);
}

int bk_blob_clean_tmp(bk_blobstore *bs, int64_t older_than, size_t *removed) {
  size_t n = 0;
  if (!bs) return bk_seterr(BK_EINVAL, "no blob store");
  int rc = bs->be->clean_stale ? bs->be->clean_stale(bs->be, older_than, &n) : 0;
  if (removed) *removed = n;
  return rc;
}
