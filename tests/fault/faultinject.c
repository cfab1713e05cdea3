/* faultinject — LD_PRELOAD shim that injects EIO / ENOSPC (any errno) into
 * the Nth write / pwrite / fsync / rename of a process, see faultinject.h.
 *
 * Intercepted (what bucketd and SQLite's unix VFS call; checked with strace):
 *   write                       -> op write   (fsutil bk_write_full)
 *   pwrite, pwrite64            -> op pwrite  (SQLite: db, -wal, -shm)
 *   fsync, fdatasync            -> op fsync   (fsutil; SQLite syncs with fdatasync)
 *   rename, renameat, renameat2 -> op rename  (fsutil commit, gc trash)
 * glibc-internal calls (stdio's __write) are not interposable and are not
 * used on store files. Only regular files and directories whose path is
 * below FAULTINJECT_DIR are counted; the rest passes through untouched.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "faultinject.h"

static struct fi_ctl local_ctl; /* environment-only mode */
static struct fi_ctl *ctl;      /* NULL: inactive */
static char dir[PATH_MAX];
static size_t dirlen;

/* raw write for our own messages (never intercepted, never counted) */
static void say(const char *fmt, ...) {
  char b[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n > 0) syscall(SYS_write, 2, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static int parse_ops(const char *s) {
  if (!s || !*s || !strcmp(s, "all")) return (1 << FI_NOPS) - 1;
  int m = 0;
  for (int i = 0; i < FI_NOPS; i++)
    if (strstr(s, FI_OP_NAMES[i])) m |= 1 << i;
  return m;
}

static int parse_errno(const char *s) {
  if (!s || !*s || !strcmp(s, "EIO")) return EIO;
  if (!strcmp(s, "ENOSPC")) return ENOSPC;
  if (!strcmp(s, "EDQUOT")) return EDQUOT;
  return atoi(s) > 0 ? atoi(s) : EIO;
}

__attribute__((constructor)) static void fi_init(void) {
  const char *d = getenv("FAULTINJECT_DIR");
  if (!d || !realpath(d, dir)) {
    say("faultinject: FAULTINJECT_DIR unset or missing: inactive\n");
    return;
  }
  dirlen = strlen(dir);
  const char *cf = getenv("FAULTINJECT_CTL");
  if (cf) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, cf, O_RDWR | O_CLOEXEC);
    void *p = fd >= 0 ? mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                      : MAP_FAILED;
    if (fd >= 0) close(fd);
    if (p == MAP_FAILED || ((struct fi_ctl *)p)->magic != FI_MAGIC) {
      say("faultinject: cannot map control file %s: inactive\n", cf);
      return;
    }
    ctl = p;
    return;
  }
  local_ctl.magic = FI_MAGIC;
  local_ctl.ops = parse_ops(getenv("FAULTINJECT_OPS"));
  local_ctl.err = parse_errno(getenv("FAULTINJECT_ERRNO"));
  local_ctl.nth = getenv("FAULTINJECT_NTH") ? atoll(getenv("FAULTINJECT_NTH")) : 0;
  local_ctl.sticky = getenv("FAULTINJECT_STICKY") && atoi(getenv("FAULTINJECT_STICKY"));
  local_ctl.armed = 1;
  ctl = &local_ctl;
}

__attribute__((destructor)) static void fi_fini(void) {
  if (ctl != &local_ctl) return;
  say("faultinject: calls=%lld fired=%lld write=%lld pwrite=%lld fsync=%lld rename=%lld "
      "sqlite=%lld blob=%lld other=%lld\n",
      (long long)ctl->calls, (long long)ctl->fired, (long long)ctl->by_op[0],
      (long long)ctl->by_op[1], (long long)ctl->by_op[2], (long long)ctl->by_op[3],
      (long long)ctl->by_class[0], (long long)ctl->by_class[1], (long long)ctl->by_class[2]);
}

static int classify(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (!strncmp(base, "buckets.db", 10)) return FI_CLASS_SQLITE;
  if (strstr(path + dirlen, "/blobs")) return FI_CLASS_BLOB;
  return FI_CLASS_OTHER;
}

static int under_dir(const char *path) {
  return dirlen && !strncmp(path, dir, dirlen) && (path[dirlen] == '/' || !path[dirlen]);
}

/* The decision for one call of op on path (NULL: not ours). Returns the
 * errno to fail with, or 0 to pass the call through. */
static int decide(int op, const char *path) {
  if (!path || !under_dir(path)) return 0;
  int cls = classify(path);
  int64_t n = __atomic_add_fetch(&ctl->calls, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&ctl->by_op[op], 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&ctl->by_class[cls], 1, __ATOMIC_SEQ_CST);
  int64_t nth = ctl->nth;
  if (nth <= 0 || n < nth || (n > nth && !ctl->sticky)) return 0;
  if (__atomic_add_fetch(&ctl->fired, 1, __ATOMIC_SEQ_CST) == 1) {
    ctl->fired_op = op;
    ctl->fired_class = cls;
    snprintf(ctl->fired_path, sizeof ctl->fired_path, "%s", path);
  }
  return ctl->err ? ctl->err : EIO;
}

static int active(int op) {
  return ctl && __atomic_load_n(&ctl->armed, __ATOMIC_SEQ_CST) && (ctl->ops & (1 << op));
}

/* path of an fd that is a regular file or a directory, else NULL */
static const char *fd_path(int fd, char *buf, size_t n) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return NULL;
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t r = readlink(link, buf, n - 1);
  if (r <= 0) return NULL;
  buf[r] = 0;
  return buf;
}

/* absolute form of (dirfd, path) */
static const char *at_path(int dirfd, const char *p, char *buf, size_t n) {
  if (!p) return NULL;
  if (p[0] == '/') return p;
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (!getcwd(base, sizeof base)) return NULL;
  } else if (!fd_path(dirfd, base, sizeof base)) {
    return NULL;
  }
  int w = snprintf(buf, n, "%s/%s", base, p);
  return w > 0 && (size_t)w < n ? buf : NULL;
}

static int fd_fault(int op, int fd) {
  if (!active(op)) return 0;
  char b[PATH_MAX];
  return decide(op, fd_path(fd, b, sizeof b));
}

static int at_fault(int op, int dirfd, const char *p) {
  if (!active(op)) return 0;
  char b[PATH_MAX];
  return decide(op, at_path(dirfd, p, b, sizeof b));
}

/* the next definition of name (libc's, or a sanitizer's interceptor) */
#define REAL(name) \
  static __typeof__(&name) real_##name; \
  if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

#define FAIL_WITH(e) \
  do { \
    errno = (e); \
    return -1; \
  } while (0)

ssize_t write(int fd, const void *buf, size_t n) {
  REAL(write);
  int e = fd_fault(FI_OP_WRITE, fd);
  if (e) FAIL_WITH(e);
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  REAL(pwrite);
  int e = fd_fault(FI_OP_PWRITE, fd);
  if (e) FAIL_WITH(e);
  return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
  REAL(pwrite64);
  int e = fd_fault(FI_OP_PWRITE, fd);
  if (e) FAIL_WITH(e);
  return real_pwrite64(fd, buf, n, off);
}

int fsync(int fd) {
  REAL(fsync);
  int e = fd_fault(FI_OP_FSYNC, fd);
  if (e) FAIL_WITH(e);
  return real_fsync(fd);
}

int fdatasync(int fd) {
  REAL(fdatasync);
  int e = fd_fault(FI_OP_FSYNC, fd);
  if (e) FAIL_WITH(e);
  return real_fdatasync(fd);
}

int rename(const char *a, const char *b) {
  REAL(rename);
  int e = at_fault(FI_OP_RENAME, AT_FDCWD, a);
  if (e) FAIL_WITH(e);
  return real_rename(a, b);
}

int renameat(int da, const char *a, int db, const char *b) {
  REAL(renameat);
  int e = at_fault(FI_OP_RENAME, da, a);
  if (e) FAIL_WITH(e);
  return real_renameat(da, a, db, b);
}

int renameat2(int da, const char *a, int db, const char *b, unsigned flags) {
  REAL(renameat2);
  int e = at_fault(FI_OP_RENAME, da, a);
  if (e) FAIL_WITH(e);
  return real_renameat2(da, a, db, b, flags);
}
