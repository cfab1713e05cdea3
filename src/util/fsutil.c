/* buckets — filesystem helpers (see util/fsutil.h). */
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/error.h"

int bk_random_bytes(void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return bk_seterr(BK_EIO, "getrandom: %s", strerror(errno));
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int bk_errno_code(int e) { return e == ENOSPC || e == EDQUOT ? BK_ENOSPC : BK_EIO; }

/* bk_seterr for the failed call `what` [on name] with the code of errno
 * (BK_ENOSPC for a full disk or quota, else BK_EIO). Call right after the
 * failing call, before anything can change errno. */
static int fail_errno(const char *what, const char *name) {
  int e = errno;
  if (name) return bk_seterr(bk_errno_code(e), "%s %s: %s", what, name, strerror(e));
  return bk_seterr(bk_errno_code(e), "%s: %s", what, strerror(e));
}

int bk_write_full(int fd, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail_errno("write", NULL);
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int bk_pread_full(int fd, void *buf, size_t len, uint64_t off) {
  uint8_t *p = buf;
  if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
    return bk_seterr(BK_EINVAL, "pread range overflows");
  while (len > 0) {
    ssize_t r = pread(fd, p, len, (off_t)off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return bk_seterr(BK_EIO, "pread: %s", strerror(errno));
    }
    if (r == 0) return bk_seterr(BK_ETRUNCATED, "file ends before the requested range");
    p += r;
    len -= (size_t)r;
    off += (uint64_t)r;
  }
  return 0;
}

static int fsync_fd_dir(int dfd) {
  if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) return fail_errno("fsync(dir)", NULL);
  return 0;
}

int bk_fsync_dir(const char *path) {
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return bk_seterr(BK_EIO, "open dir %s: %s", path, strerror(errno));
  int rc = fsync_fd_dir(dfd);
  close(dfd);
  return rc;
}

int bk_mkdir_p(const char *path, mode_t mode) {
  if (!path || !*path) return bk_seterr(BK_EINVAL, "empty directory path");
  size_t n = strlen(path);
  if (n >= PATH_MAX) return bk_seterr(BK_EINVAL, "path too long");
  char buf[PATH_MAX];
  memcpy(buf, path, n + 1);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
  struct stat st;
  if (stat(buf, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    return bk_seterr(BK_EIO, "%s exists and is not a directory", buf);
  }
  /* create parents first */
  char *slash = strrchr(buf, '/');
  if (slash && slash != buf) {
    *slash = 0;
    int rc = bk_mkdir_p(buf, mode);
    *slash = '/';
    if (rc) return rc;
  }
  if (mkdir(buf, mode) != 0) {
    if (errno == EEXIST && stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    return fail_errno("mkdir", buf);
  }
  /* make the new entry durable: fsync the parent */
  if (slash == buf) return bk_fsync_dir("/");
  if (!slash) return bk_fsync_dir(".");
  *slash = 0;
  int rc = bk_fsync_dir(buf);
  *slash = '/';
  return rc;
}

static int name_ok(const char *name) {
  return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 &&
         strcmp(name, "..") != 0 && strlen(name) < 200;
}

static void tmp_name(char *out, size_t n, const char *name) {
  uint8_t r[8];
  uint64_t v = 0;
  if (bk_random_bytes(r, sizeof r) == 0) memcpy(&v, r, sizeof v);
  else v = (uint64_t)getpid() ^ ((uint64_t)(uintptr_t)out << 16);
  snprintf(out, n, ".tmp.%s.%016llx", name ? name : "blob", (unsigned long long)v);
}

int bk_write_file_durable_at(int dirfd, const char *name, const void *data,
                             size_t len, mode_t mode) {
  if (!name_ok(name)) return bk_seterr(BK_EINVAL, "bad file name");
  char tmp[256];
  tmp_name(tmp, sizeof tmp, name);
  int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fail_errno("create", tmp);
  int rc = bk_write_full(fd, data, len);
  if (rc == 0 && fsync(fd) != 0) rc = fail_errno("fsync", name);
  if (close(fd) != 0 && rc == 0) rc = fail_errno("close", name);
  if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
    rc = fail_errno("rename to", name);
  if (rc) {
    unlinkat(dirfd, tmp, 0);
    return rc;
  }
  return fsync_fd_dir(dirfd);
}

int bk_write_file_durable_mode(const char *dir, const char *name,
                               const void *data, size_t len, mode_t mode) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return bk_seterr(BK_EIO, "open dir %s: %s", dir, strerror(errno));
  int rc = bk_write_file_durable_at(dfd, name, data, len, mode);
  close(dfd);
  return rc;
}

int bk_write_file_durable(const char *dir, const char *name, const void *data,
                          size_t len) {
  return bk_write_file_durable_mode(dir, name, data, len, 0644);
}

/* ---- streaming ---- */

struct bk_afile {
  int dfd;
  int fd;
  uint64_t size;
  char tmp[256];
  char name[256];
};

int bk_afile_open(const char *dir, const char *name, mode_t mode, bk_afile **out) {
  *out = NULL;
  if (name && !name_ok(name)) return bk_seterr(BK_EINVAL, "bad file name");
  bk_afile *f = calloc(1, sizeof *f);
  if (!f) return bk_seterr(BK_ENOMEM, "out of memory");
  f->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (f->dfd < 0) {
    int e = errno;
    free(f);
    return bk_seterr(BK_EIO, "open dir %s: %s", dir, strerror(e));
  }
  if (name) snprintf(f->name, sizeof f->name, "%s", name);
  tmp_name(f->tmp, sizeof f->tmp, name);
  f->fd = openat(f->dfd, f->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (f->fd < 0) {
    int rc = fail_errno("create temp in", dir);
    close(f->dfd);
    free(f);
    return rc;
  }
  *out = f;
  return 0;
}

int bk_afile_write(bk_afile *f, const void *data, size_t len) {
  int rc = bk_write_full(f->fd, data, len);
  if (rc == 0) f->size += len;
  return rc;
}

int bk_afile_fd(const bk_afile *f) { return f->fd; }
uint64_t bk_afile_size(const bk_afile *f) { return f->size; }

void bk_afile_abort(bk_afile *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  unlinkat(f->dfd, f->tmp, 0);
  close(f->dfd);
  free(f);
}

/* rename that never replaces an existing target: BK_EEXIST then (the source
 * stays). renameat2(RENAME_NOREPLACE) where the filesystem supports it, else
 * link + unlink (link fails with EEXIST atomically). */
static int rename_noreplace(int odfd, const char *old, int ndfd, const char *new_name) {
  if (renameat2(odfd, old, ndfd, new_name, RENAME_NOREPLACE) == 0) return 0;
  if (errno == EEXIST) return bk_seterr(BK_EEXIST, "%s exists", new_name);
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    return fail_errno("rename to", new_name);
  if (linkat(odfd, old, ndfd, new_name, 0) != 0) {
    if (errno == EEXIST) return bk_seterr(BK_EEXIST, "%s exists", new_name);
    return fail_errno("link to", new_name);
  }
  unlinkat(odfd, old, 0);
  return 0;
}

static int afile_commit_to(bk_afile *f, int final_dfd, const char *final_name, int noreplace) {
  int rc = 0;
  if (fsync(f->fd) != 0) rc = fail_errno("fsync", NULL);
  /* closed also when fsync failed: an open descriptor would keep the removed
   * temp file's blocks allocated (found by tests/integration/store_faults.sh) */
  if (close(f->fd) != 0 && rc == 0) rc = fail_errno("close", NULL);
  f->fd = -1;
  if (rc == 0 && noreplace) rc = rename_noreplace(f->dfd, f->tmp, final_dfd, final_name);
  else if (rc == 0 && renameat(f->dfd, f->tmp, final_dfd, final_name) != 0)
    rc = fail_errno("rename to", final_name);
  if (rc == 0) rc = fsync_fd_dir(final_dfd);
  if (rc) {
    bk_afile_abort(f);
    return rc;
  }
  close(f->dfd);
  free(f);
  return 0;
}

int bk_afile_commit(bk_afile *f) {
  if (!f->name[0]) {
    bk_afile_abort(f);
    return bk_seterr(BK_EINVAL, "no final name: use bk_afile_commit_as");
  }
  return afile_commit_to(f, f->dfd, f->name, 0);
}

static int commit_as(bk_afile *f, const char *final_dir, const char *final_name, int noreplace) {
  if (!name_ok(final_name)) {
    bk_afile_abort(f);
    return bk_seterr(BK_EINVAL, "bad file name");
  }
  int dfd = open(final_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    int e = errno;
    bk_afile_abort(f);
    return bk_seterr(BK_EIO, "open dir %s: %s", final_dir, strerror(e));
  }
  int rc = afile_commit_to(f, dfd, final_name, noreplace);
  close(dfd);
  return rc;
}

int bk_afile_commit_as(bk_afile *f, const char *final_dir, const char *final_name) {
  return commit_as(f, final_dir, final_name, 0);
}

int bk_afile_commit_as_noreplace(bk_afile *f, const char *final_dir, const char *final_name) {
  return commit_as(f, final_dir, final_name, 1);
}

int bk_write_file_durable_noreplace(const char *dir, const char *name, const void *data,
                                    size_t len, mode_t mode) {
  bk_afile *f;
  int rc = bk_afile_open(dir, name, mode, &f);
  if (rc) return rc;
  rc = bk_afile_write(f, data, len);
  if (rc) {
    bk_afile_abort(f);
    return rc;
  }
  return commit_as(f, dir, name, 1);
}

/* ---- reading ---- */

int bk_read_file(const char *path, size_t max, bk_buf *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
  if (fd < 0) {
    if (errno == ENOENT) return bk_seterr(BK_ENOTFOUND, "%s: no such file", path);
    return bk_seterr(BK_EIO, "open %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return bk_seterr(BK_EIO, "stat %s: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return bk_seterr(BK_EIO, "%s is not a regular file", path);
  }
  uint64_t sz = (uint64_t)st.st_size;
  if (sz > max || sz > out->max - out->len) {
    close(fd);
    return bk_seterr(BK_ELIMIT, "%s: %llu bytes exceeds the limit", path,
                     (unsigned long long)sz);
  }
  int rc = bk_buf_reserve(out, (size_t)sz);
  if (rc == 0) rc = bk_pread_full(fd, out->p + out->len, (size_t)sz, 0);
  close(fd);
  if (rc == 0) out->len += (size_t)sz;
  return rc;
}

/* ---- durations ---- */

int bk_parse_duration(const char *s, int64_t *seconds) {
  if (!s || !*s) return bk_seterr(BK_EINVAL, "empty duration");
  int64_t total = 0;
  const char *p = s;
  while (*p) {
    if (*p < '0' || *p > '9') return bk_seterr(BK_EINVAL, "bad duration '%s'", s);
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
      if (v > (INT64_MAX - 9) / 10) return bk_seterr(BK_EINVAL, "duration overflows");
      v = v * 10 + (*p - '0');
      p++;
    }
    int64_t mul = 1;
    switch (*p) {
    case 0: break;
    case 's': mul = 1; p++; break;
    case 'm': mul = 60; p++; break;
    case 'h': mul = 3600; p++; break;
    case 'd': mul = 86400; p++; break;
    default: return bk_seterr(BK_EINVAL, "bad duration unit in '%s'", s);
    }
    if (v > INT64_MAX / mul || total > INT64_MAX - v * mul)
      return bk_seterr(BK_EINVAL, "duration overflows");
    total += v * mul;
  }
  *seconds = total;
  return 0;
}
