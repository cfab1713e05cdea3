/* buckets — content-addressed blob store, filesystem backend
 * (see include/buckets/blobstore.h).
 *
 * The public functions validate arguments and dispatch through a small
 * operations table so that another backend (S3, ...) can be added later
 * without touching callers. Only the filesystem backend exists today.
 */
#include "buckets/blobstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"
#include "buckets/fsutil.h"

struct blob_ops {
  int (*put)(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h, const void *d,
             size_t len, int *existed);
  int (*stat)(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h, uint64_t *size);
  int (*open)(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h, int *fd,
              uint64_t *size);
  int (*del)(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h);
  int (*list)(bk_blobstore *bs, bk_blob_kind k, bk_blob_list_cb cb,
              bk_blob_stray_cb stray, void *ctx);
};

struct bk_blobstore {
  const struct blob_ops *ops;
  char root[PATH_MAX / 2];
};

static const char *KIND_DIR[BK_BLOB_NKINDS] = {"xorbs", "shards"};
static const char *KIND_NAME[BK_BLOB_NKINDS] = {"xorb", "shard"};

const char *bk_blob_kind_name(bk_blob_kind kind) {
  return (unsigned)kind < BK_BLOB_NKINDS ? KIND_NAME[kind] : "?";
}

/* out = a + "/" + b; -1 when it does not fit. */
static int join2(char *out, size_t n, const char *a, const char *b) {
  int w = snprintf(out, n, "%s/%s", a, b);
  return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

static int kind_ok(bk_blob_kind k) {
  return (unsigned)k < BK_BLOB_NKINDS;
}

/* <root>/<kinddir>/<ab>/<cd> and the file name <hex>. */
static int blob_dir(const bk_blobstore *bs, bk_blob_kind k, const char *hex,
                    char *out, size_t n) {
  int w = snprintf(out, n, "%s/%s/%.2s/%.2s", bs->root, KIND_DIR[k], hex, hex + 2);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "blob path too long");
  return 0;
}

int bk_blob_path(const bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                 char *out, size_t n) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
  int w = snprintf(out, n, "%s/%s/%.2s/%.2s/%s", bs->root, KIND_DIR[kind], hex,
                   hex + 2, hex);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "blob path too long");
  return 0;
}

/* ---- filesystem backend ---- */

static int fs_stat(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h,
                   uint64_t *size) {
  char path[PATH_MAX];
  int rc = bk_blob_path(bs, k, h, path, sizeof path);
  if (rc) return rc;
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", KIND_NAME[k]);
    return bk_seterr(BK_EIO, "stat %s: %s", path, strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return bk_seterr(BK_EIO, "%s is not a regular file", path);
  if (size) *size = (uint64_t)st.st_size;
  return 0;
}

static int fs_put(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h,
                  const void *data, size_t len, int *existed) {
  /* Blobs are immutable: an existing blob is never replaced (two valid
   * serializations of one xorb may differ; the database row describes the
   * one on disk, see bk_db_xorb_register). A damaged blob is removed by
   * whoever detects it (register, fsck operator) and then re-created. */
  int rc = fs_stat(bs, k, h, NULL);
  if (rc == 0) {
    if (existed) *existed = 1;
    return 0;
  }
  if (rc != BK_ENOTFOUND) return rc;
  char hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  bk_hash_to_hex(h, hex);
  if ((rc = blob_dir(bs, k, hex, dir, sizeof dir))) return rc;
  if ((rc = bk_mkdir_p(dir, 0755))) return rc;
  rc = bk_write_file_durable_noreplace(dir, hex, data, len, 0644);
  if (rc == BK_EEXIST) { /* a concurrent put won: keep its blob */
    bk_clearerr();
    if (existed) *existed = 1;
    return 0;
  }
  if (rc) return rc;
  if (existed) *existed = 0;
  return 0;
}

static int fs_open(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h, int *fd,
                   uint64_t *size) {
  char path[PATH_MAX];
  int rc = bk_blob_path(bs, k, h, path, sizeof path);
  if (rc) return rc;
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", KIND_NAME[k]);
    return bk_seterr(BK_EIO, "open %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(f);
    return bk_seterr(BK_EIO, "%s: not a readable regular file", path);
  }
  *fd = f;
  if (size) *size = (uint64_t)st.st_size;
  return 0;
}

static int fs_del(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h) {
  char path[PATH_MAX];
  int rc = bk_blob_path(bs, k, h, path, sizeof path);
  if (rc) return rc;
  if (unlink(path) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", KIND_NAME[k]);
    return bk_seterr(BK_EIO, "unlink %s: %s", path, strerror(errno));
  }
  return 0;
}

static int is_hex2(const char *s) {
  for (int i = 0; i < 2; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return s[2] == 0;
}

/* A valid blob file name: 64 lowercase hex chars whose first 4 match the
 * two directory levels. */
static int parse_blob_name(const char *name, const char *d1, const char *d2,
                           bk_hash *h) {
  if (strlen(name) != BK_HASH_HEX_LEN) return 0;
  for (int i = 0; i < BK_HASH_HEX_LEN; i++) {
    char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  if (memcmp(name, d1, 2) != 0 || memcmp(name + 2, d2, 2) != 0) return 0;
  return bk_hash_parse(name, h) == 0;
}

static int report_stray(bk_blob_stray_cb stray, void *ctx, const char *rel,
                        const struct stat *st) {
  if (!stray) return 0;
  return stray(ctx, rel, st ? (uint64_t)st->st_size : 0, st ? (int64_t)st->st_mtime : 0);
}

static int fs_list(bk_blobstore *bs, bk_blob_kind k, bk_blob_list_cb cb,
                   bk_blob_stray_cb stray, void *ctx) {
  char top[PATH_MAX];
  if (join2(top, sizeof top, bs->root, KIND_DIR[k])) return bk_seterr(BK_ELIMIT, "path too long");
  DIR *d0 = opendir(top);
  if (!d0) {
    if (errno == ENOENT) return 0;
    return bk_seterr(BK_EIO, "opendir %s: %s", top, strerror(errno));
  }
  int rc = 0;
  struct dirent *e0;
  while (rc == 0 && (e0 = readdir(d0))) {
    if (!strcmp(e0->d_name, ".") || !strcmp(e0->d_name, "..")) continue;
    char p1[PATH_MAX], rel[PATH_MAX];
    if (join2(p1, sizeof p1, top, e0->d_name)) continue;
    if (join2(rel, sizeof rel, KIND_DIR[k], e0->d_name)) continue;
    struct stat st;
    if (!is_hex2(e0->d_name) || stat(p1, &st) != 0 || !S_ISDIR(st.st_mode)) {
      rc = report_stray(stray, ctx, rel, stat(p1, &st) == 0 ? &st : NULL);
      continue;
    }
    DIR *d1 = opendir(p1);
    if (!d1) { rc = bk_seterr(BK_EIO, "opendir %s: %s", p1, strerror(errno)); break; }
    struct dirent *e1;
    while (rc == 0 && (e1 = readdir(d1))) {
      if (!strcmp(e1->d_name, ".") || !strcmp(e1->d_name, "..")) continue;
      char p2[PATH_MAX], rel2[PATH_MAX];
      if (join2(p2, sizeof p2, p1, e1->d_name)) continue;
      if (join2(rel2, sizeof rel2, rel, e1->d_name)) continue;
      if (!is_hex2(e1->d_name) || stat(p2, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = report_stray(stray, ctx, rel2, stat(p2, &st) == 0 ? &st : NULL);
        continue;
      }
      DIR *d2 = opendir(p2);
      if (!d2) { rc = bk_seterr(BK_EIO, "opendir %s: %s", p2, strerror(errno)); break; }
      struct dirent *e2;
      while (rc == 0 && (e2 = readdir(d2))) {
        if (!strcmp(e2->d_name, ".") || !strcmp(e2->d_name, "..")) continue;
        char p3[PATH_MAX + 80], rel3[PATH_MAX + 80];
        if (join2(p3, sizeof p3, p2, e2->d_name)) continue;
        if (join2(rel3, sizeof rel3, rel2, e2->d_name)) continue;
        bk_hash h;
        int have = stat(p3, &st) == 0;
        if (have && S_ISREG(st.st_mode) &&
            parse_blob_name(e2->d_name, e0->d_name, e1->d_name, &h))
          rc = cb(ctx, k, &h, (uint64_t)st.st_size, (int64_t)st.st_mtime);
        else
          rc = report_stray(stray, ctx, rel3, have ? &st : NULL);
      }
      closedir(d2);
    }
    closedir(d1);
  }
  closedir(d0);
  return rc;
}

static const struct blob_ops FS_OPS = {fs_put, fs_stat, fs_open, fs_del, fs_list};

/* ---- public API ---- */

int bk_blobstore_open(const char *root, bk_blobstore **out) {
  *out = NULL;
  if (!root || !*root) return bk_seterr(BK_EINVAL, "empty blob store root");
  bk_blobstore *bs = calloc(1, sizeof *bs);
  if (!bs) return bk_seterr(BK_ENOMEM, "out of memory");
  size_t n = strlen(root);
  while (n > 1 && root[n - 1] == '/') n--;
  if (n + 100 >= sizeof bs->root) {
    free(bs);
    return bk_seterr(BK_EINVAL, "blob store root path too long");
  }
  memcpy(bs->root, root, n);
  bs->root[n] = 0;
  bs->ops = &FS_OPS;
  const char *subs[] = {"xorbs", "shards", "tmp", "trash"};
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    char p[PATH_MAX];
    if (join2(p, sizeof p, bs->root, subs[i])) { free(bs); return bk_seterr(BK_ELIMIT, "path too long"); }
    int rc = bk_mkdir_p(p, 0755);
    if (rc) {
      free(bs);
      return rc;
    }
  }
  *out = bs;
  return 0;
}

void bk_blobstore_close(bk_blobstore *bs) { free(bs); }

int bk_blob_put(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                const void *data, size_t len, int *existed) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  return bs->ops->put(bs, kind, h, data, len, existed);
}

int bk_blob_stat(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                 uint64_t *size) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  return bs->ops->stat(bs, kind, h, size);
}

int bk_blob_exists(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  int rc = bk_blob_stat(bs, kind, h, NULL);
  if (rc == 0) return 1;
  if (rc == BK_ENOTFOUND) return 0;
  return rc;
}

int bk_blob_open(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, int *fd,
                 uint64_t *size) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  return bs->ops->open(bs, kind, h, fd, size);
}

int bk_blob_get(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                size_t max, bk_buf *out) {
  int fd;
  uint64_t size;
  int rc = bk_blob_open(bs, kind, h, &fd, &size);
  if (rc) return rc;
  if (size > max || size > out->max - out->len) {
    close(fd);
    return bk_seterr(BK_ELIMIT, "%s of %llu bytes exceeds the limit",
                     KIND_NAME[kind], (unsigned long long)size);
  }
  rc = bk_buf_reserve(out, (size_t)size);
  if (rc == 0) rc = bk_pread_full(fd, out->p + out->len, (size_t)size, 0);
  close(fd);
  if (rc == 0) out->len += (size_t)size;
  return rc;
}

int bk_blob_read_range(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h,
                       uint64_t off, size_t len, void *dst) {
  int fd;
  uint64_t size;
  int rc = bk_blob_open(bs, kind, h, &fd, &size);
  if (rc) return rc;
  if (off > size || len > size - off) {
    close(fd);
    return bk_seterr(BK_ETRUNCATED, "range passes the end of the %s",
                     KIND_NAME[kind]);
  }
  rc = bk_pread_full(fd, dst, len, off);
  close(fd);
  return rc;
}

int bk_blob_delete(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  return bs->ops->del(bs, kind, h);
}

int bk_blob_list(bk_blobstore *bs, bk_blob_kind kind, bk_blob_list_cb cb,
                 bk_blob_stray_cb stray_cb, void *ctx) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  return bs->ops->list(bs, kind, cb, stray_cb, ctx);
}

/* ---- streaming writer ---- */

struct bk_blob_writer {
  bk_blobstore *bs;
  bk_blob_kind kind;
  bk_afile *f;
};

int bk_blob_writer_open(bk_blobstore *bs, bk_blob_kind kind, bk_blob_writer **out) {
  *out = NULL;
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  bk_blob_writer *w = calloc(1, sizeof *w);
  if (!w) return bk_seterr(BK_ENOMEM, "out of memory");
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s/tmp", bs->root);
  int rc = bk_afile_open(tmp, NULL, 0644, &w->f);
  if (rc) {
    free(w);
    return rc;
  }
  w->bs = bs;
  w->kind = kind;
  *out = w;
  return 0;
}

int bk_blob_writer_write(bk_blob_writer *w, const void *data, size_t len) {
  return bk_afile_write(w->f, data, len);
}

uint64_t bk_blob_writer_size(const bk_blob_writer *w) { return bk_afile_size(w->f); }
int bk_blob_writer_fd(const bk_blob_writer *w) { return bk_afile_fd(w->f); }

void bk_blob_writer_abort(bk_blob_writer *w) {
  if (!w) return;
  bk_afile_abort(w->f);
  free(w);
}

int bk_blob_writer_commit(bk_blob_writer *w, const bk_hash *h, int *existed) {
  int ex = 0;
  int rc = bk_blob_writer_try_commit(w, h, &ex);
  if (rc == 0 && ex == 1) bk_blob_writer_abort(w); /* immutable: keep the stored one (see fs_put) */
  if (rc == 0 && existed) *existed = ex != 0;
  return rc;
}

int bk_blob_writer_try_commit(bk_blob_writer *w, const bk_hash *h, int *existed) {
  *existed = 0;
  int rc = bk_blob_stat(w->bs, w->kind, h, NULL);
  if (rc == 0) {
    *existed = 1;
    return 0;
  }
  if (rc != BK_ENOTFOUND) {
    bk_blob_writer_abort(w);
    return rc;
  }
  char hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  bk_hash_to_hex(h, hex);
  rc = blob_dir(w->bs, w->kind, hex, dir, sizeof dir);
  if (rc == 0) rc = bk_mkdir_p(dir, 0755);
  if (rc) {
    bk_blob_writer_abort(w);
    return rc;
  }
  rc = bk_afile_commit_as_noreplace(w->f, dir, hex); /* releases w->f */
  free(w);
  if (rc == BK_EEXIST) { /* lost a race with a concurrent put: its blob stays */
    bk_clearerr();
    *existed = 2;
    return 0;
  }
  return rc;
}

int bk_blob_writer_commit_replace(bk_blob_writer *w, const bk_hash *h) {
  char hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  bk_hash_to_hex(h, hex);
  int rc = blob_dir(w->bs, w->kind, hex, dir, sizeof dir);
  if (rc == 0) rc = bk_mkdir_p(dir, 0755);
  if (rc) {
    bk_blob_writer_abort(w);
    return rc;
  }
  rc = bk_afile_commit_as(w->f, dir, hex); /* fsync, rename over, fsync dir; releases f */
  free(w);
  return rc;
}

int bk_blob_replace(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, const void *data,
                    size_t len) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  char hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  bk_hash_to_hex(h, hex);
  int rc = blob_dir(bs, kind, hex, dir, sizeof dir);
  if (rc == 0) rc = bk_mkdir_p(dir, 0755);
  if (rc == 0) rc = bk_write_file_durable_mode(dir, hex, data, len, 0644);
  return rc;
}

int bk_blob_stamp(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, int64_t *stamp) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  char path[PATH_MAX];
  int rc = bk_blob_path(bs, kind, h, path, sizeof path);
  if (rc) return rc;
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", KIND_NAME[kind]);
    return bk_seterr(BK_EIO, "stat %s: %s", path, strerror(errno));
  }
  /* any write to the file changes its ctime (and mtime); a replacement
   * changes the inode: mix them into one 63-bit token */
  uint64_t v[6] = {(uint64_t)st.st_ino, (uint64_t)st.st_dev, (uint64_t)st.st_size,
                   (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec,
                   (uint64_t)st.st_mtim.tv_sec ^ ((uint64_t)st.st_mtim.tv_nsec << 32)};
  uint64_t x = 0xcbf29ce484222325ull;
  for (int i = 0; i < 6; i++) {
    x ^= v[i];
    x *= 0x100000001b3ull;
    x ^= x >> 29;
  }
  *stamp = (int64_t)(x >> 1) | 1; /* never 0: 0 means "not recorded" */
  return 0;
}

/* ---- trash (gc) ---- */

static int trash_path(const bk_blobstore *bs, bk_blob_kind k, const bk_hash *h,
                      char *out, size_t n) {
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
  int w = snprintf(out, n, "%s/trash/%s-%s", bs->root, KIND_NAME[k], hex);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "path too long");
  return 0;
}

int bk_blob_trash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  char from[PATH_MAX], to[PATH_MAX];
  int rc = bk_blob_path(bs, kind, h, from, sizeof from);
  if (rc == 0) rc = trash_path(bs, kind, h, to, sizeof to);
  if (rc) return rc;
  if (rename(from, to) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", KIND_NAME[kind]);
    return bk_seterr(bk_errno_code(errno), "rename %s: %s", from, strerror(errno));
  }
  return 0;
}

int bk_blob_untrash(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  char from[PATH_MAX], to[PATH_MAX], hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  bk_hash_to_hex(h, hex);
  int rc = trash_path(bs, kind, h, from, sizeof from);
  if (rc == 0) rc = blob_dir(bs, kind, hex, dir, sizeof dir);
  if (rc == 0) rc = bk_mkdir_p(dir, 0755);
  if (rc) return rc;
  if (join2(to, sizeof to, dir, hex)) return bk_seterr(BK_ELIMIT, "path too long");
  /* never over a blob put meantime (its row may already describe it) */
  int r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
  if (r != 0 && (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP)) {
    r = link(from, to);
    if (r == 0) unlink(from);
  }
  if (r != 0) {
    if (errno == EEXIST) { /* a newer copy is in place: drop the trashed one */
      unlink(from);
      return 0;
    }
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "not in the trash");
    return bk_seterr(bk_errno_code(errno), "rename %s: %s", from, strerror(errno));
  }
  return bk_fsync_dir(dir);
}

int bk_blob_trash_purge(bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h) {
  if (!kind_ok(kind)) return bk_seterr(BK_EINVAL, "bad blob kind");
  char p[PATH_MAX];
  int rc = trash_path(bs, kind, h, p, sizeof p);
  if (rc) return rc;
  if (unlink(p) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "not in the trash");
    return bk_seterr(BK_EIO, "unlink %s: %s", p, strerror(errno));
  }
  return 0;
}

int bk_blob_trash_list(bk_blobstore *bs, bk_blob_list_cb cb, void *ctx) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/trash", bs->root);
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return bk_seterr(BK_EIO, "opendir %s: %s", dir, strerror(errno));
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d))) {
    for (int k = 0; k < BK_BLOB_NKINDS; k++) {
      size_t kl = strlen(KIND_NAME[k]);
      if (strncmp(e->d_name, KIND_NAME[k], kl) != 0 || e->d_name[kl] != '-') continue;
      const char *hex = e->d_name + kl + 1;
      bk_hash h;
      if (strlen(hex) != BK_HASH_HEX_LEN || bk_hash_parse(hex, &h) != 0) continue;
      char p[PATH_MAX + 300];
      struct stat st;
      if (join2(p, sizeof p, dir, e->d_name)) continue;
      if (stat(p, &st) != 0) continue;
      rc = cb(ctx, (bk_blob_kind)k, &h, (uint64_t)st.st_size, (int64_t)st.st_mtime);
    }
  }
  closedir(d);
  return rc;
}

int bk_blob_clean_tmp(bk_blobstore *bs, int64_t older_than, size_t *removed) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/tmp", bs->root);
  if (removed) *removed = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return bk_seterr(BK_EIO, "opendir %s: %s", dir, strerror(errno));
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[PATH_MAX + 300];
    struct stat st;
    if (join2(p, sizeof p, dir, e->d_name)) continue;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((int64_t)st.st_mtime >= older_than) continue;
    if (unlink(p) == 0 && removed) (*removed)++;
  }
  closedir(d);
  return 0;
}
