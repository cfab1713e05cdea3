/* buckets — filesystem blob backend (file:// URLs; see src/store/blob_backend.h).
 *
 * The only code that knows blob paths and file descriptors. Layout under the
 * root directory:
 *
 *   <root>/xorbs/<h0h1>/<h2h3>/<64-hex>     serialized xorbs (as uploaded)
 *   <root>/shards/<h0h1>/<h2h3>/<64-hex>    shards (as uploaded)
 *   <root>/tmp/                             staged writes (bk_afile temp files)
 *   <root>/trash/<kind>-<64-hex>            trashed blobs (two-phase delete, gc)
 *
 * Durability goes through fsutil (fsync of the file, rename, fsync of the
 * directory); fan-out directories are created with bk_mkdir_p (durable).
 */
#include "store/blob_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "store/blob_backend.h"

/* A streaming writer starts the kernel's writeback of what it staged every
 * WRITEBACK_STEP bytes (sync_file_range, no wait), so that the fsync at
 * commit finds little dirty data left and a large upload does not fill the
 * page cache with dirty pages first. */
#define WRITEBACK_STEP (8u << 20)

typedef struct fs_backend {
  bk_blob_backend base;
  char root[PATH_MAX / 2];
} fs_backend;

typedef struct fs_reader {
  struct bk_blob_reader base;
  int fd;
} fs_reader;

typedef struct fs_writer {
  struct bk_blob_writer base;
  bk_afile *f;
  uint64_t flushed; /* writeback started for [0, flushed) */
} fs_writer;

static const char *KIND_DIR[BK_BLOB_NKINDS] = {"xorbs", "shards"};

static fs_backend *fsb(bk_blob_backend *be) { return (fs_backend *)be; }

/* out = a + "/" + b; -1 when it does not fit. */
static int join2(char *out, size_t n, const char *a, const char *b) {
  int w = snprintf(out, n, "%s/%s", a, b);
  return (w < 0 || (size_t)w >= n) ? -1 : 0;
}

/* <root>/<kinddir>/<ab>/<cd> for the file name <hex>. */
static int blob_dir(const fs_backend *fs, bk_blob_kind k, const char *hex, char *out, size_t n) {
  int w = snprintf(out, n, "%s/%s/%.2s/%.2s", fs->root, KIND_DIR[k], hex, hex + 2);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "blob path too long");
  return 0;
}

static int fs_path(const fs_backend *fs, bk_blob_kind k, const bk_hash *h, char *out, size_t n) {
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
  int w = snprintf(out, n, "%s/%s/%.2s/%.2s/%s", fs->root, KIND_DIR[k], hex, hex + 2, hex);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "blob path too long");
  return 0;
}

/* Creates <root>/<kinddir>/<ab>/<cd> for h; writes it into dir and the file
 * name into hex. */
static int make_blob_dir(const fs_backend *fs, bk_blob_kind k, const bk_hash *h, char *dir,
                         size_t n, char hex[BK_HASH_HEX_LEN + 1]) {
  bk_hash_to_hex(h, hex);
  int rc = blob_dir(fs, k, hex, dir, n);
  if (rc) return rc;
  return bk_mkdir_p(dir, 0755);
}

static int fs_stat_path(const char *path, bk_blob_kind k, struct stat *st) {
  if (stat(path, st) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", bk_blob_kind_name(k));
    return bk_seterr(BK_EIO, "stat %s: %s", path, strerror(errno));
  }
  if (!S_ISREG(st->st_mode)) return bk_seterr(BK_EIO, "%s is not a regular file", path);
  return 0;
}

/* The change token: any write to the file changes its ctime (and mtime), a
 * replacement changes the inode; mixed into one non-zero 63-bit value. */
static int64_t stamp_of(const struct stat *st) {
  uint64_t v[6] = {(uint64_t)st->st_ino, (uint64_t)st->st_dev, (uint64_t)st->st_size,
                   (uint64_t)st->st_ctim.tv_sec, (uint64_t)st->st_ctim.tv_nsec,
                   (uint64_t)st->st_mtim.tv_sec ^ ((uint64_t)st->st_mtim.tv_nsec << 32)};
  uint64_t x = 0xcbf29ce484222325ull;
  for (int i = 0; i < 6; i++) {
    x ^= v[i];
    x *= 0x100000001b3ull;
    x ^= x >> 29;
  }
  return (int64_t)(x >> 1) | 1; /* never 0: 0 means "not recorded" */
}

static int fs_stat(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, uint64_t *size,
                   int64_t *stamp) {
  char path[PATH_MAX];
  int rc = fs_path(fsb(be), k, h, path, sizeof path);
  if (rc) return rc;
  struct stat st;
  if ((rc = fs_stat_path(path, k, &st))) return rc;
  if (size) *size = (uint64_t)st.st_size;
  if (stamp) *stamp = stamp_of(&st);
  return 0;
}

static int fs_put(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, const void *data,
                  size_t len, int replace) {
  /* Blobs are immutable: an existing blob is never replaced by a plain put
   * (two valid serializations of one xorb may differ; the database row
   * describes the one on disk, see bk_db_xorb_register). */
  fs_backend *fs = fsb(be);
  int rc;
  if (!replace) {
    rc = fs_stat(be, k, h, NULL, NULL);
    if (rc == 0) return bk_seterr(BK_EEXIST, "%s exists", bk_blob_kind_name(k));
    if (rc != BK_ENOTFOUND) return rc;
    bk_clearerr();
  }
  char hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  if ((rc = make_blob_dir(fs, k, h, dir, sizeof dir, hex))) return rc;
  if (replace) return bk_write_file_durable_mode(dir, hex, data, len, 0644);
  return bk_write_file_durable_noreplace(dir, hex, data, len, 0644); /* BK_EEXIST: a race lost */
}

static int fs_del(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h) {
  char path[PATH_MAX];
  int rc = fs_path(fsb(be), k, h, path, sizeof path);
  if (rc) return rc;
  if (unlink(path) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", bk_blob_kind_name(k));
    return bk_seterr(BK_EIO, "unlink %s: %s", path, strerror(errno));
  }
  return 0;
}

/* ---- list ---- */

static int is_hex2(const char *s) {
  for (int i = 0; i < 2; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return s[2] == 0;
}

/* A valid blob file name: 64 lowercase hex chars whose first 4 match the
 * two directory levels. */
static int parse_blob_name(const char *name, const char *d1, const char *d2, bk_hash *h) {
  if (strlen(name) != BK_HASH_HEX_LEN) return 0;
  for (int i = 0; i < BK_HASH_HEX_LEN; i++) {
    char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  if (memcmp(name, d1, 2) != 0 || memcmp(name + 2, d2, 2) != 0) return 0;
  return bk_hash_parse(name, h) == 0;
}

static int report_stray(bk_blob_stray_cb stray, void *ctx, const char *rel, const struct stat *st) {
  if (!stray) return 0;
  return stray(ctx, rel, st ? (uint64_t)st->st_size : 0, st ? (int64_t)st->st_mtime : 0);
}

static int is_dot(const char *n) { return !strcmp(n, ".") || !strcmp(n, ".."); }

/* One leaf directory <kind>/<d1>/<d2>: blobs to cb, the rest to stray. */
static int list_leaf(bk_blob_kind k, const char *p2, const char *rel2, const char *d1,
                     const char *d2, bk_blob_list_cb cb, bk_blob_stray_cb stray, void *ctx) {
  DIR *d = opendir(p2);
  if (!d) return bk_seterr(BK_EIO, "opendir %s: %s", p2, strerror(errno));
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d))) {
    if (is_dot(e->d_name)) continue;
    char p3[PATH_MAX + 80], rel3[PATH_MAX + 80];
    if (join2(p3, sizeof p3, p2, e->d_name) || join2(rel3, sizeof rel3, rel2, e->d_name)) continue;
    struct stat st;
    bk_hash h;
    int have = stat(p3, &st) == 0;
    if (have && S_ISREG(st.st_mode) && parse_blob_name(e->d_name, d1, d2, &h))
      rc = cb(ctx, k, &h, (uint64_t)st.st_size, (int64_t)st.st_mtime);
    else
      rc = report_stray(stray, ctx, rel3, have ? &st : NULL);
  }
  closedir(d);
  return rc;
}

/* One directory level below p (names <hex2>): a leaf at depth 2, else
 * recurse once. Anything that is not a <hex2> directory is a stray. */
static int list_level(bk_blob_kind k, const char *p, const char *rel, const char *d1, int depth,
                      bk_blob_list_cb cb, bk_blob_stray_cb stray, void *ctx) {
  DIR *d = opendir(p);
  if (!d) {
    if (depth == 0 && errno == ENOENT) return 0;
    return bk_seterr(BK_EIO, "opendir %s: %s", p, strerror(errno));
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d))) {
    if (is_dot(e->d_name)) continue;
    char pn[PATH_MAX], reln[PATH_MAX];
    if (join2(pn, sizeof pn, p, e->d_name) || join2(reln, sizeof reln, rel, e->d_name)) continue;
    struct stat st;
    int have = stat(pn, &st) == 0;
    if (!is_hex2(e->d_name) || !have || !S_ISDIR(st.st_mode)) {
      rc = report_stray(stray, ctx, reln, have ? &st : NULL);
      continue;
    }
    if (depth == 0)
      rc = list_level(k, pn, reln, e->d_name, 1, cb, stray, ctx);
    else
      rc = list_leaf(k, pn, reln, d1, e->d_name, cb, stray, ctx);
  }
  closedir(d);
  return rc;
}

static int fs_list(bk_blob_backend *be, bk_blob_kind k, bk_blob_list_cb cb, bk_blob_stray_cb stray,
                   void *ctx) {
  char top[PATH_MAX];
  if (join2(top, sizeof top, fsb(be)->root, KIND_DIR[k])) return bk_seterr(BK_ELIMIT, "path too long");
  return list_level(k, top, KIND_DIR[k], NULL, 0, cb, stray, ctx);
}

/* ---- streaming writer ---- */

static int fs_writer_open(bk_blob_backend *be, bk_blob_kind k, struct bk_blob_writer **out) {
  fs_writer *w = calloc(1, sizeof *w);
  if (!w) return bk_seterr(BK_ENOMEM, "out of memory");
  char tmp[PATH_MAX];
  if (join2(tmp, sizeof tmp, fsb(be)->root, "tmp")) {
    free(w);
    return bk_seterr(BK_ELIMIT, "path too long");
  }
  int rc = bk_afile_open(tmp, NULL, 0644, &w->f);
  if (rc) {
    free(w);
    return rc;
  }
  w->base.be = be;
  w->base.kind = k;
  *out = &w->base;
  return 0;
}

static int fs_writer_write(struct bk_blob_writer *bw, const void *data, size_t len) {
  fs_writer *w = (fs_writer *)bw;
  int rc = bk_afile_write(w->f, data, len);
  if (rc) return rc;
  uint64_t size = bk_afile_size(w->f);
  if (size - w->flushed >= WRITEBACK_STEP) {
    (void)sync_file_range(bk_afile_fd(w->f), (off64_t)w->flushed, (off64_t)(size - w->flushed),
                          SYNC_FILE_RANGE_WRITE);
    w->flushed = size;
  }
  return 0;
}

static uint64_t fs_writer_size(const struct bk_blob_writer *bw) {
  return bk_afile_size(((const fs_writer *)bw)->f);
}

static void fs_writer_abort(struct bk_blob_writer *bw) {
  fs_writer *w = (fs_writer *)bw;
  bk_afile_abort(w->f);
  free(w);
}

static int fs_writer_commit(struct bk_blob_writer *bw, const bk_hash *h, int replace) {
  fs_writer *w = (fs_writer *)bw;
  char hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  int rc = make_blob_dir(fsb(bw->be), bw->kind, h, dir, sizeof dir, hex);
  if (rc) {
    fs_writer_abort(bw);
    return rc;
  }
  /* fsync, rename (over an existing one only when replacing), fsync dir;
   * releases f also on failure */
  if (replace)
    rc = bk_afile_commit_as(w->f, dir, hex);
  else
    rc = bk_afile_commit_as_noreplace(w->f, dir, hex);
  free(w);
  return rc;
}

/* ---- reader ---- */

static int fs_reader_open(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h,
                          struct bk_blob_reader **out) {
  char path[PATH_MAX];
  int rc = fs_path(fsb(be), k, h, path, sizeof path);
  if (rc) return rc;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", bk_blob_kind_name(k));
    return bk_seterr(BK_EIO, "open %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return bk_seterr(BK_EIO, "%s: not a readable regular file", path);
  }
  fs_reader *r = malloc(sizeof *r);
  if (!r) {
    close(fd);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  r->base.be = be;
  r->base.kind = k;
  r->base.size = (uint64_t)st.st_size;
  r->fd = fd;
  *out = &r->base;
  return 0;
}

static int fs_reader_read_at(struct bk_blob_reader *br, uint64_t off, void *buf, size_t len,
                             size_t *got) {
  fs_reader *r = (fs_reader *)br;
  if (off > (uint64_t)INT64_MAX) return bk_seterr(BK_EINVAL, "offset too large");
  ssize_t n;
  do n = pread(r->fd, buf, len, (off_t)off);
  while (n < 0 && errno == EINTR);
  if (n < 0) return bk_seterr(BK_EIO, "pread %s: %s", bk_blob_kind_name(br->kind), strerror(errno));
  *got = (size_t)n;
  return 0;
}

static int fs_reader_fd(const struct bk_blob_reader *br) { return ((const fs_reader *)br)->fd; }

static void fs_reader_close(struct bk_blob_reader *br) {
  fs_reader *r = (fs_reader *)br;
  close(r->fd);
  free(r);
}

/* ---- two-phase delete: the trash directory ---- */

static int trash_path(const fs_backend *fs, bk_blob_kind k, const bk_hash *h, char *out, size_t n) {
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
  int w = snprintf(out, n, "%s/trash/%s-%s", fs->root, bk_blob_kind_name(k), hex);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "path too long");
  return 0;
}

static int fs_trash(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h) {
  char from[PATH_MAX], to[PATH_MAX];
  int rc = fs_path(fsb(be), k, h, from, sizeof from);
  if (rc == 0) rc = trash_path(fsb(be), k, h, to, sizeof to);
  if (rc) return rc;
  if (rename(from, to) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s not found", bk_blob_kind_name(k));
    return bk_seterr(bk_errno_code(errno), "rename %s: %s", from, strerror(errno));
  }
  return 0;
}

static int fs_untrash(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h) {
  char from[PATH_MAX], to[PATH_MAX], hex[BK_HASH_HEX_LEN + 1], dir[PATH_MAX];
  int rc = trash_path(fsb(be), k, h, from, sizeof from);
  if (rc == 0) rc = make_blob_dir(fsb(be), k, h, dir, sizeof dir, hex);
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

static int fs_trash_purge(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h) {
  char p[PATH_MAX];
  int rc = trash_path(fsb(be), k, h, p, sizeof p);
  if (rc) return rc;
  if (unlink(p) != 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "not in the trash");
    return bk_seterr(BK_EIO, "unlink %s: %s", p, strerror(errno));
  }
  return 0;
}

/* "<kind>-<64-hex>" -> kind and hash; -1 if not a trash name. */
static int parse_trash_name(const char *name, bk_blob_kind *k, bk_hash *h) {
  for (int i = 0; i < BK_BLOB_NKINDS; i++) {
    const char *kn = bk_blob_kind_name((bk_blob_kind)i);
    size_t kl = strlen(kn);
    if (strncmp(name, kn, kl) != 0 || name[kl] != '-') continue;
    const char *hex = name + kl + 1;
    if (strlen(hex) != BK_HASH_HEX_LEN || bk_hash_parse(hex, h) != 0) return -1;
    *k = (bk_blob_kind)i;
    return 0;
  }
  return -1;
}

static int fs_trash_list(bk_blob_backend *be, bk_blob_list_cb cb, void *ctx) {
  char dir[PATH_MAX];
  if (join2(dir, sizeof dir, fsb(be)->root, "trash")) return bk_seterr(BK_ELIMIT, "path too long");
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return bk_seterr(BK_EIO, "opendir %s: %s", dir, strerror(errno));
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d))) {
    bk_blob_kind k;
    bk_hash h;
    char p[PATH_MAX + 300];
    struct stat st;
    if (parse_trash_name(e->d_name, &k, &h) != 0) continue;
    if (join2(p, sizeof p, dir, e->d_name) || stat(p, &st) != 0) continue;
    rc = cb(ctx, k, &h, (uint64_t)st.st_size, (int64_t)st.st_mtime);
  }
  closedir(d);
  return rc;
}

/* Leftovers of durable writes interrupted inside the kind directories
 * (".tmp.*" next to the blob they were to become), older than older_than. */
struct stale_ctx {
  const char *root;
  int64_t older_than;
  size_t *removed;
};

static int skip_blob(void *ctx, bk_blob_kind k, const bk_hash *h, uint64_t size, int64_t mtime) {
  (void)ctx, (void)k, (void)h, (void)size, (void)mtime;
  return 0;
}

static int stale_stray(void *ctx, const char *rel, uint64_t size, int64_t mtime) {
  (void)size;
  struct stale_ctx *s = ctx;
  const char *base = strrchr(rel, '/');
  base = base ? base + 1 : rel;
  if (strncmp(base, ".tmp.", 5) != 0 || mtime >= s->older_than) return 0;
  char p[PATH_MAX + 300];
  if (join2(p, sizeof p, s->root, rel)) return 0;
  if (unlink(p) == 0 && s->removed) (*s->removed)++;
  return 0;
}

static int fs_clean_stale(bk_blob_backend *be, int64_t older_than, size_t *removed) {
  struct stale_ctx sc = {fsb(be)->root, older_than, removed};
  for (int k = 0; k < BK_BLOB_NKINDS; k++) {
    int rc = fs_list(be, (bk_blob_kind)k, skip_blob, stale_stray, &sc);
    if (rc) return rc;
  }
  char dir[PATH_MAX];
  if (join2(dir, sizeof dir, fsb(be)->root, "tmp")) return bk_seterr(BK_ELIMIT, "path too long");
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return bk_seterr(BK_EIO, "opendir %s: %s", dir, strerror(errno));
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (is_dot(e->d_name)) continue;
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

/* ---- instance ---- */

static void fs_close(bk_blob_backend *be) { free(be); }

static const bk_blob_backend FS_TEMPLATE = {
    .version = BK_BLOB_BACKEND_VERSION,
    .caps = BK_BLOB_CAP_FD | BK_BLOB_CAP_TRASH,
    .scheme = "file",
    .close = fs_close,
    .put = fs_put,
    .stat = fs_stat,
    .del = fs_del,
    .list = fs_list,
    .writer_open = fs_writer_open,
    .writer_write = fs_writer_write,
    .writer_size = fs_writer_size,
    .writer_commit = fs_writer_commit,
    .writer_abort = fs_writer_abort,
    .reader_open = fs_reader_open,
    .reader_read_at = fs_reader_read_at,
    .reader_close = fs_reader_close,
    .reader_fd = fs_reader_fd,
    .presign = NULL, /* a local path is no URL a client could fetch */
    .trash = fs_trash,
    .untrash = fs_untrash,
    .trash_purge = fs_trash_purge,
    .trash_list = fs_trash_list,
    .clean_stale = fs_clean_stale,
};

int bk_blob_fs_open(const char *root, bk_blob_backend **out) {
  *out = NULL;
  if (!root || !*root) return bk_seterr(BK_EINVAL, "empty blob store root");
  size_t n = strlen(root);
  while (n > 1 && root[n - 1] == '/') n--;
  fs_backend *fs = calloc(1, sizeof *fs);
  if (!fs) return bk_seterr(BK_ENOMEM, "out of memory");
  if (n + 100 >= sizeof fs->root) {
    free(fs);
    return bk_seterr(BK_EINVAL, "blob store root path too long");
  }
  memcpy(fs->root, root, n);
  fs->root[n] = 0;
  fs->base = FS_TEMPLATE;
  const char *subs[] = {"xorbs", "shards", "tmp", "trash"};
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    char p[PATH_MAX];
    int rc = join2(p, sizeof p, fs->root, subs[i]) ? bk_seterr(BK_ELIMIT, "path too long")
                                                   : bk_mkdir_p(p, 0755);
    if (rc) {
      free(fs);
      return rc;
    }
  }
  *out = &fs->base;
  return 0;
}

int bk_blob_path(const bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, char *out,
                 size_t n) {
  bk_blob_backend *be = bk_blobstore_backend(bs);
  if (be->close != fs_close) return bk_seterr(BK_ENOTSUP, "not a file:// blob store");
  if ((unsigned)kind >= BK_BLOB_NKINDS) return bk_seterr(BK_EINVAL, "bad blob kind");
  return fs_path(fsb(be), kind, h, out, n);
}
