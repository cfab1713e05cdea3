/* Test-only blob backend "bare": the filesystem backend (src/store/blob_fs.c)
 * announcing neither BK_BLOB_CAP_FD nor BK_BLOB_CAP_TRASH, like an object
 * store (S3). Compiled into test programs only (header with static
 * functions), never into bucketd; opened with bk_blobstore_open_backend.
 *
 * What it changes, so the service's object-store paths run for real:
 * - no trash, no reader fd: those ops are NULL (the front answers BK_ENOTSUP);
 * - readers behave like ranged GETs with If-Match: reader_open records the
 *   blob's size and change stamp; every read_at opens the stored blob anew,
 *   refuses (BK_EIO) when its stamp changed and answers BK_ENOTFOUND when it
 *   is gone (a deleted object) — no fd keeps a deleted blob readable;
 * - optional BK_BLOB_CAP_PRESIGN (bare_presign_base non-empty when the
 *   store is opened): URLs "<base>/<kind>/<hex>?r=<first>-<last>&exp=<unix s>"
 *   (no signature: a test checks what the service asked for);
 * - bare_delete_at_off != UINT64_MAX: a read_at at exactly that offset first
 *   deletes the blob (a concurrent gc between two reads, deterministically;
 *   one shot: the knob resets itself);
 * - bare_die_on_delete: 1 = the process exits (_exit 9) when a blob is about
 *   to be deleted, 2 = right after it was deleted (a crash of gc).
 * Every other operation (put, stat, delete, list, writers, clean_stale) is the
 * filesystem backend's. Writers are the inner backend's own objects (the
 * front dispatches through their base.be).
 *
 * Ownership: as every backend (store/blob_backend.h): the instance is owned
 * by the store; readers by the caller until reader_close. The two knobs are
 * process globals for single-threaded test setup. */
#ifndef BUCKETS_TEST_BARE_BACKEND_H
#define BUCKETS_TEST_BARE_BACKEND_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "buckets/error.h"
#include "store/blob_backend.h"

static char bare_presign_base[256];       /* "" = no BK_BLOB_CAP_PRESIGN */
static volatile uint64_t bare_delete_at_off = UINT64_MAX;
static volatile int bare_die_on_delete;
static volatile unsigned bare_reads; /* read_at calls (each one request on S3) */

struct bare_be {
  bk_blob_backend base; /* first */
  bk_blob_backend *in;  /* the filesystem backend */
  char presign[256];
};

struct bare_reader {
  struct bk_blob_reader base; /* first */
  bk_hash h;
  int64_t stamp;
};

static bk_blob_backend *bare_in(bk_blob_backend *be) { return ((struct bare_be *)be)->in; }

static void bare_close(bk_blob_backend *be) {
  bare_in(be)->close(bare_in(be));
  free(be);
}
static int bare_put(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, const void *d, size_t n,
                    int replace) {
  return bare_in(be)->put(bare_in(be), k, h, d, n, replace);
}
static int bare_stat(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, uint64_t *size,
                     int64_t *stamp) {
  return bare_in(be)->stat(bare_in(be), k, h, size, stamp);
}
static int bare_del(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h) {
  if (bare_die_on_delete == 1) _exit(9);
  int rc = bare_in(be)->del(bare_in(be), k, h);
  if (bare_die_on_delete == 2) _exit(9);
  return rc;
}
static int bare_list(bk_blob_backend *be, bk_blob_kind k, bk_blob_list_cb cb, bk_blob_stray_cb st,
                     void *ctx) {
  return bare_in(be)->list(bare_in(be), k, cb, st, ctx);
}
static int bare_writer_open(bk_blob_backend *be, bk_blob_kind k, struct bk_blob_writer **out) {
  return bare_in(be)->writer_open(bare_in(be), k, out);
}
/* Never called: the inner backend's writers carry the inner backend. */
static int bare_writer_write(struct bk_blob_writer *w, const void *d, size_t n) {
  return w->be->writer_write(w, d, n);
}
static uint64_t bare_writer_size(const struct bk_blob_writer *w) {
  return w->be->writer_size(w);
}
static int bare_writer_commit(struct bk_blob_writer *w, const bk_hash *h, int replace) {
  return w->be->writer_commit(w, h, replace);
}
static void bare_writer_abort(struct bk_blob_writer *w) { w->be->writer_abort(w); }
static int bare_clean_stale(bk_blob_backend *be, int64_t older, size_t *removed) {
  bk_blob_backend *in = bare_in(be);
  if (!in->clean_stale) {
    if (removed) *removed = 0;
    return 0;
  }
  return in->clean_stale(in, older, removed);
}

static int bare_reader_open(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h,
                            struct bk_blob_reader **out) {
  uint64_t size = 0;
  int64_t stamp = 0;
  int rc = bare_in(be)->stat(bare_in(be), k, h, &size, &stamp);
  if (rc) return rc;
  struct bare_reader *r = calloc(1, sizeof *r);
  if (!r) return bk_seterr(BK_ENOMEM, "out of memory");
  r->base.be = be;
  r->base.kind = k;
  r->base.size = size;
  r->h = *h;
  r->stamp = stamp;
  *out = &r->base;
  return 0;
}

/* One ranged GET: open, check the version, read, close. */
static int bare_read_at(struct bk_blob_reader *rb, uint64_t off, void *buf, size_t len,
                        size_t *got) {
  struct bare_reader *r = (struct bare_reader *)rb;
  bk_blob_backend *in = bare_in(rb->be);
  struct bk_blob_reader *ir = NULL;
  *got = 0;
  bare_reads++;
  if (off == bare_delete_at_off) {
    bare_delete_at_off = UINT64_MAX;
    in->del(in, rb->kind, &r->h);
  }
  int rc = in->reader_open(in, rb->kind, &r->h, &ir);
  if (rc) return rc == BK_ENOTFOUND ? bk_seterr(BK_ENOTFOUND, "bare: blob is gone") : rc;
  int64_t stamp = 0;
  rc = in->stat(in, rb->kind, &r->h, NULL, &stamp);
  if (rc == 0 && stamp != r->stamp) rc = bk_seterr(BK_EIO, "bare: blob changed (If-Match)");
  if (rc == 0) rc = in->reader_read_at(ir, off, buf, len, got);
  in->reader_close(ir);
  return rc;
}

static void bare_reader_close(struct bk_blob_reader *r) { free(r); }

static int bare_presign(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, uint64_t off,
                        uint64_t len, int64_t exp, char *url, size_t n) {
  struct bare_be *b = (struct bare_be *)be;
  uint64_t size = 0;
  int rc = b->in->stat(b->in, k, h, &size, NULL);
  if (rc) return rc;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
  int w = snprintf(url, n, "%s/%s/%s?r=%" PRIu64 "-%" PRIu64 "&exp=%" PRId64, b->presign,
                   bk_blob_kind_name(k), hex, off, off + len - 1, exp);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "URL buffer too small");
  return 0;
}

/* bk_blob_backend_open_fn: rest = the filesystem root ("/abs/path"). */
static int bare_open(const char *rest, bk_blob_backend **out) {
  struct bare_be *b = calloc(1, sizeof *b);
  if (!b) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = bk_blob_fs_open(rest, &b->in);
  if (rc) {
    free(b);
    return rc;
  }
  snprintf(b->presign, sizeof b->presign, "%s", bare_presign_base);
  b->base = (bk_blob_backend){
      .version = BK_BLOB_BACKEND_VERSION,
      .caps = b->presign[0] ? BK_BLOB_CAP_PRESIGN : 0,
      .scheme = "bare",
      .close = bare_close,
      .put = bare_put,
      .stat = bare_stat,
      .del = bare_del,
      .list = bare_list,
      .writer_open = bare_writer_open,
      .writer_write = bare_writer_write,
      .writer_size = bare_writer_size,
      .writer_commit = bare_writer_commit,
      .writer_abort = bare_writer_abort,
      .reader_open = bare_reader_open,
      .reader_read_at = bare_read_at,
      .reader_close = bare_reader_close,
      .presign = b->presign[0] ? bare_presign : NULL,
      .clean_stale = bare_clean_stale,
  };
  *out = &b->base;
  return 0;
}

/* A "bare" store over the filesystem root dir (created as needed). */
static int bare_store_open(const char *dir, const char *presign_base, bk_blobstore **out) {
  snprintf(bare_presign_base, sizeof bare_presign_base, "%s", presign_base ? presign_base : "");
  int rc = bk_blobstore_open_backend(bare_open, dir, out);
  bare_presign_base[0] = 0;
  return rc;
}

#endif
