/* buckets client — local files written by downloads stay beneath their
 * target directory.
 *
 * Every path that comes from a bucket (a key, a plan line) is resolved
 * relative to an open directory fd of the target, never as a string: the
 * parent directory with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or,
 * where openat2 is missing (or BK_NO_OPENAT2=1), one openat(O_NOFOLLOW |
 * O_DIRECTORY) per component (mkdirat for missing ones). A symlink anywhere
 * below the target — intermediate directory or the file name itself — is
 * refused, never followed; so is a non-directory in the middle of a path.
 * Temp files are created with O_EXCL | O_NOFOLLOW next to the destination
 * and renamed with renameat within the same directory fd.
 * Ownership: fds returned to the caller are closed by the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buckets/cdc.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"
#include "client/internal.h"

static int use_openat2(void) {
  static atomic_int state; /* 0 unknown, 1 yes, -1 no */
  int s = atomic_load(&state);
  if (s == 0) {
    const char *e = getenv("BK_NO_OPENAT2");
    s = (e && *e && strcmp(e, "0") != 0) ? -1 : 1;
    atomic_store(&state, s);
  }
  return s > 0;
}

/* Describes why component comp (under dfd) cannot be used as a directory. */
static int refuse(int dfd, const char *rel, const char *comp, int err) {
  struct stat st;
  if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    return bk_seterr(BK_EIO, "%.200s: '%.200s' is a symbolic link (not followed: downloads stay inside the target)",
                     rel, comp);
  if (err == ENOTDIR || err == ELOOP)
    return bk_seterr(BK_EIO, "%.200s: '%.200s' is not a directory", rel, comp);
  return bk_seterr(BK_EIO, "%.200s: cannot open directory '%.200s': %s", rel, comp, strerror(err));
}

int bk_lfs_open_dir(const char *path, int create, int *fd) {
  *fd = -1;
  if (!path || !*path) return bk_seterr(BK_EINVAL, "empty directory path");
  if (create) {
    size_t n = strlen(path);
    char *buf = malloc(n + 1);
    if (!buf) return bk_seterr(BK_ENOMEM, "out of memory");
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
      if (*p != '/') continue;
      *p = 0;
      if (mkdir(buf, 0755) && errno != EEXIST) {
        int e = errno;
        free(buf);
        return bk_seterr(BK_EIO, "mkdir %.300s: %s", path, strerror(e));
      }
      *p = '/';
    }
    int bad = mkdir(buf, 0755) && errno != EEXIST;
    int e = errno;
    free(buf);
    if (bad) return bk_seterr(BK_EIO, "mkdir %.300s: %s", path, strerror(e));
  }
  /* the target itself is the caller's choice: it may be a symlink */
  *fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*fd < 0) return bk_seterr(errno == ENOENT ? BK_ENOTFOUND : BK_EIO, "cannot open directory %.300s: %s",
                                path, strerror(errno));
  return 0;
}

/* Per-component walk: openat(O_NOFOLLOW | O_DIRECTORY), mkdirat when asked. */
static int walk_parent(int rootfd, const char *rel, char *dir, int create, int *out) {
  int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  if (cur < 0) return bk_seterr(BK_EIO, "dup: %s", strerror(errno));
  char *comp = dir;
  while (comp && *comp) {
    char *slash = strchr(comp, '/');
    if (slash) *slash = 0;
    int fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(cur, comp, 0755) && errno != EEXIST) {
        int rc = bk_seterr(BK_EIO, "%.200s: cannot create directory '%.200s': %s", rel, comp,
                           strerror(errno));
        close(cur);
        return rc;
      }
      fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      int e = errno;
      int rc = e == ENOENT ? bk_seterr(BK_ENOTFOUND, "%.200s: no such directory", rel)
                           : refuse(cur, rel, comp, e);
      close(cur);
      return rc;
    }
    close(cur);
    cur = fd;
    comp = slash ? slash + 1 : NULL;
  }
  *out = cur;
  return 0;
}

int bk_lfs_parent(int rootfd, const char *rel, int create, int *dirfd, const char **base) {
  *dirfd = -1;
  if (!bk_safe_relpath(rel))
    return bk_seterr(BK_EIO, "%.300s: unsafe path (absolute, '..', '.' or empty segment)", rel);
  const char *slash = strrchr(rel, '/');
  *base = slash ? slash + 1 : rel;
  if (!slash) {
    *dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    return *dirfd < 0 ? bk_seterr(BK_EIO, "dup: %s", strerror(errno)) : 0;
  }
  size_t n = (size_t)(slash - rel);
  char *dir = malloc(n + 1);
  if (!dir) return bk_seterr(BK_ENOMEM, "out of memory");
  memcpy(dir, rel, n);
  dir[n] = 0;
  if (use_openat2()) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, rootfd, dir, &how, sizeof how);
    if (fd >= 0) {
      *dirfd = (int)fd;
      free(dir);
      return 0;
    }
    /* ENOENT (create it), ENOSYS (old kernel), ELOOP (a symlink), EXDEV,
     * ENOTDIR, ...: the per-component walk creates what is missing and
     * names the culprit; it follows no symlink either */
  }
  int rc = walk_parent(rootfd, rel, dir, create, dirfd);
  free(dir);
  return rc;
}

int bk_lfs_check_dest(int dirfd, const char *rel, const char *base) {
  struct stat st;
  if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode))
      return bk_seterr(BK_EIO, "%.300s is a symbolic link (not followed, not replaced)", rel);
    if (!S_ISREG(st.st_mode)) return bk_seterr(BK_EIO, "%.300s exists and is not a regular file", rel);
    return 0;
  }
  if (errno == ENOENT) return 0;
  return bk_seterr(BK_EIO, "%.300s: %s", rel, strerror(errno));
}

int bk_lfs_lstat(int rootfd, const char *rel, struct stat *st) {
  int dfd;
  const char *base;
  int rc = bk_lfs_parent(rootfd, rel, 0, &dfd, &base);
  if (rc) return rc;
  if (fstatat(dfd, base, st, AT_SYMLINK_NOFOLLOW)) {
    int e = errno;
    close(dfd);
    return e == ENOENT ? bk_seterr(BK_ENOTFOUND, "%.300s: no such file", rel)
                       : bk_seterr(BK_EIO, "%.300s: %s", rel, strerror(e));
  }
  close(dfd);
  return 0;
}

int bk_lfs_open_read(int rootfd, const char *rel, int *fd) {
  int dfd;
  const char *base;
  *fd = -1;
  int rc = bk_lfs_parent(rootfd, rel, 0, &dfd, &base);
  if (rc) return rc;
  *fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  int e = errno;
  close(dfd);
  if (*fd < 0) return bk_seterr(BK_EIO, "%.300s: %s", rel, strerror(e));
  return 0;
}

static atomic_uint tmp_seq;

int bk_lfs_create_temp(int rootfd, const char *rel, char *tmp_rel, size_t n, int *fd) {
  int dfd;
  const char *base;
  *fd = -1;
  int rc = bk_lfs_parent(rootfd, rel, 1, &dfd, &base);
  if (!rc) rc = bk_lfs_check_dest(dfd, rel, base);
  if (rc) {
    if (dfd >= 0) close(dfd);
    return rc;
  }
  /* unique per process (counter) and per host (pid); ".bkpart." marks it as
   * ours for the local walk. The name is cut to 100 bytes of the original. */
  char name[160];
  snprintf(name, sizeof name, ".%.100s.bkpart.%d.%u", base, (int)getpid(),
           atomic_fetch_add(&tmp_seq, 1));
  size_t dl = (size_t)(base - rel);
  if (dl + strlen(name) + 1 > n) {
    close(dfd);
    return bk_seterr(BK_ELIMIT, "%.300s: path too long", rel);
  }
  memcpy(tmp_rel, rel, dl);
  snprintf(tmp_rel + dl, n - dl, "%s", name);
  int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  *fd = openat(dfd, name, flags, 0644);
  if (*fd < 0 && errno == EEXIST) { /* a leftover of an earlier process with our pid */
    (void)unlinkat(dfd, name, 0);
    *fd = openat(dfd, name, flags, 0644);
  }
  int e = errno;
  close(dfd);
  if (*fd < 0) return bk_seterr(BK_EIO, "%.300s: cannot create a temp file: %s", rel, strerror(e));
  return 0;
}

int bk_lfs_commit(int rootfd, const char *tmp_rel, const char *rel, int fsync_dir) {
  int dfd;
  const char *base;
  int rc = bk_lfs_parent(rootfd, rel, 0, &dfd, &base);
  if (rc) return rc;
  const char *tslash = strrchr(tmp_rel, '/');
  const char *tbase = tslash ? tslash + 1 : tmp_rel;
  /* the destination may have become a symlink or directory meanwhile:
   * renameat would replace a symlink (never follow it); refuse anyway */
  rc = bk_lfs_check_dest(dfd, rel, base);
  if (!rc && renameat(dfd, tbase, dfd, base))
    rc = bk_seterr(BK_EIO, "%.300s: rename: %s", rel, strerror(errno));
  if (rc) (void)unlinkat(dfd, tbase, 0);
  if (!rc && fsync_dir) (void)fsync(dfd);
  close(dfd);
  return rc;
}

int bk_lfs_unlink(int rootfd, const char *rel) {
  int dfd;
  const char *base;
  int rc = bk_lfs_parent(rootfd, rel, 0, &dfd, &base);
  if (rc == BK_ENOTFOUND) return 0;
  if (rc) return rc;
  if (unlinkat(dfd, base, 0) && errno != ENOENT)
    rc = bk_seterr(BK_EIO, "cannot delete %.300s: %s", rel, strerror(errno));
  close(dfd);
  return rc;
}

void bk_lfs_rmdir_parents(int rootfd, const char *rel) {
  size_t n = strlen(rel);
  char *buf = malloc(n + 1);
  if (!buf) return;
  memcpy(buf, rel, n + 1);
  for (;;) {
    char *s = strrchr(buf, '/');
    if (!s) break;
    *s = 0;
    int dfd;
    const char *base;
    if (bk_lfs_parent(rootfd, buf, 0, &dfd, &base)) break;
    int bad = unlinkat(dfd, base, AT_REMOVEDIR);
    close(dfd);
    if (bad) break;
  }
  free(buf);
}

typedef struct hctx {
  bk_merkle *m;
} hctx;

static int on_chunk(void *ctx, uint64_t off, const uint8_t *data, size_t len, const bk_hash *h) {
  (void)off;
  (void)data;
  return bk_merkle_push(((hctx *)ctx)->m, h, len);
}

#define HASH_PARALLEL_MIN (32u << 20)
#define HASH_WIN (64u << 20)

/* Big files: 64 MiB windows chunked and hashed on all cores
 * (bk_cdc_chunks_parallel); the unfinished last chunk of a window is moved
 * in front of the next one, so the boundaries equal the streaming
 * chunker's (a boundary resets the gear state), as in the upload. */
static int hash_windows(int fd, bk_merkle *m) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned nt = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
  uint8_t *buf = malloc((size_t)BK_CDC_MAX + HASH_WIN);
  if (!buf) return bk_seterr(BK_ENOMEM, "out of memory");
  size_t tail = 0;
  int rc = 0, eof = 0;
  while (!rc && !eof) {
    size_t got = 0;
    while (got < HASH_WIN) {
      ssize_t r = read(fd, buf + BK_CDC_MAX + got, HASH_WIN - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        rc = bk_seterr(BK_EIO, "read: %s", strerror(errno));
        break;
      }
      if (r == 0) {
        eof = 1;
        break;
      }
      got += (size_t)r;
    }
    uint8_t *win = buf + BK_CDC_MAX - tail;
    size_t have = tail + got;
    if (rc || have == 0) break;
    uint64_t *ends = NULL;
    bk_hash *hashes = NULL;
    size_t n = 0;
    rc = bk_cdc_chunks_parallel(win, have, nt, &ends, &hashes, &n);
    size_t use = eof ? n : (n > 0 ? n - 1 : 0);
    if (!rc && !eof && use == 0) rc = bk_seterr(BK_EINVAL, "chunking window too small");
    size_t prev = 0;
    for (size_t i = 0; !rc && i < use; i++) {
      rc = bk_merkle_push(m, &hashes[i], ends[i] - prev);
      prev = (size_t)ends[i];
    }
    free(ends);
    free(hashes);
    tail = have - prev;
    if (!rc && tail > BK_CDC_MAX) rc = bk_seterr(BK_EINVAL, "unfinished chunk longer than the maximum");
    if (!rc && !eof) memmove(buf + BK_CDC_MAX - tail, win + prev, tail);
  }
  free(buf);
  return rc;
}

int bk_lfs_hash_fd(int fd, char hex[65]) {
  enum { BLOCK = 1 << 20 };
  hctx h = {0};
  bk_chunker *k = NULL;
  uint8_t *buf = NULL;
  int rc = bk_merkle_new(&h.m);
  struct stat st;
  if (!rc && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)HASH_PARALLEL_MIN) {
    rc = hash_windows(fd, h.m);
  } else if (!rc) {
    buf = malloc(BLOCK);
    if (!buf) rc = bk_seterr(BK_ENOMEM, "out of memory");
    if (!rc) rc = bk_chunker_new(on_chunk, &h, &k);
    while (!rc) {
      ssize_t r = read(fd, buf, BLOCK);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) rc = bk_seterr(BK_EIO, "read: %s", strerror(errno));
      if (r <= 0) break;
      rc = bk_chunker_feed(k, buf, (size_t)r);
    }
    if (!rc) rc = bk_chunker_finish(k);
  }
  bk_hash root, fh;
  if (!rc) rc = bk_merkle_finish(h.m, &root);
  if (!rc) {
    bk_file_hash_from_root(&root, bk_merkle_count(h.m) > 0, NULL, &fh);
    bk_hash_to_hex(&fh, hex);
  }
  bk_chunker_free(k);
  bk_merkle_free(h.m);
  free(buf);
  return rc;
}
