/* buckets — filesystem helpers: THE durable write path, mkdir -p, bounded
 * whole-file reads, full pread/write loops, duration parsing.
 *
 * Durability rule of the project: nothing is acknowledged before it is on
 * disk. Every file that must survive a crash is written through
 * bk_write_file_durable / bk_afile_*: temp file in the same directory,
 * write, fsync(file), rename over the target, fsync(directory).
 *
 * Ownership: plain functions take caller-owned buffers. A bk_afile created by
 * bk_afile_open is owned by the caller until bk_afile_commit or bk_afile_abort,
 * which both release it (exactly one of them must be called).
 * Thread safety: all functions are reentrant; a bk_afile is used by one
 * thread at a time.
 */
#ifndef BUCKETS_FSUTIL_H
#define BUCKETS_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buckets/buf.h"

/* BK_ENOSPC for errno ENOSPC or EDQUOT (the disk or the quota is full), else
 * BK_EIO: the code every failed write, fsync, rename, link, mkdir or create
 * of the store reports, so a full disk reaches callers as one named error. */
int bk_errno_code(int e);

/* Creates directory `path` and its missing parents (mode, e.g. 0755). Every
 * directory it creates is made durable (its parent is fsync'ed). Existing
 * directories are fine. Errors: BK_EINVAL (empty path), BK_EIO, BK_ENOSPC. */
int bk_mkdir_p(const char *path, mode_t mode);

/* fsync a directory (so that a rename/creation inside it is durable). */
int bk_fsync_dir(const char *path);

/* Atomically and durably replaces dir/name with data[0..len): temp file
 * "dir/.tmp.<name>.<random>", write, fsync, rename, fsync(dir). The file gets
 * mode 0644 (use bk_write_file_durable_mode for another one). `name` must be
 * a single path component (no '/'). On failure the temp file is removed and
 * the old content (if any) is unchanged. Errors: BK_EINVAL, BK_EIO, BK_ENOSPC
 * (disk or quota full). */
int bk_write_file_durable(const char *dir, const char *name, const void *data,
                          size_t len);
int bk_write_file_durable_mode(const char *dir, const char *name,
                               const void *data, size_t len, mode_t mode);
/* Same, relative to an open directory fd (not closed). */
int bk_write_file_durable_at(int dirfd, const char *name, const void *data,
                             size_t len, mode_t mode);

/* ---- streaming durable write ---- */
typedef struct bk_afile bk_afile;

/* Opens a temp file in `dir` that will become dir/name on commit. `name` may
 * be NULL when the final name is only known at commit time (then pass it to
 * bk_afile_commit_as). Errors: BK_EINVAL, BK_EIO, BK_ENOMEM. */
int bk_afile_open(const char *dir, const char *name, mode_t mode, bk_afile **out);
/* Appends bytes (loops over short writes). */
int bk_afile_write(bk_afile *f, const void *data, size_t len);
/* The temp file's fd (e.g. to pread back what was written). Owned by f. */
int bk_afile_fd(const bk_afile *f);
/* Bytes written so far. */
uint64_t bk_afile_size(const bk_afile *f);
/* fsync, rename to dir/name, fsync dir; releases f (also on failure, in
 * which case the temp file is removed). */
int bk_afile_commit(bk_afile *f);
/* fsync, rename to final_dir/final_name (final_dir must be on the same
 * filesystem; it is fsync'ed), releases f. */
int bk_afile_commit_as(bk_afile *f, const char *final_dir, const char *final_name);
/* Same, but never replaces an existing final_dir/final_name: BK_EEXIST then
 * (nothing changed, temp removed). Atomic (renameat2 RENAME_NOREPLACE, or
 * link + unlink where the filesystem lacks it). Releases f. */
int bk_afile_commit_as_noreplace(bk_afile *f, const char *final_dir, const char *final_name);
/* Durable write that never replaces an existing dir/name (BK_EEXIST). */
int bk_write_file_durable_noreplace(const char *dir, const char *name, const void *data,
                                    size_t len, mode_t mode);
/* Removes the temp file and releases f. NULL is a no-op. */
void bk_afile_abort(bk_afile *f);

/* ---- reading ---- */

/* Appends the whole file at path to out (caller-initialised bk_buf). Fails
 * with BK_ELIMIT (out unchanged) if the file is larger than max bytes or than
 * what out can still hold. BK_ENOTFOUND if it does not exist, BK_EIO. */
int bk_read_file(const char *path, size_t max, bk_buf *out);

/* Reads exactly len bytes at offset off (loops over short reads).
 * BK_ETRUNCATED if the file ends first, BK_EIO on error. */
int bk_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Writes all len bytes (loops over short writes and EINTR). BK_EIO. */
int bk_write_full(int fd, const void *buf, size_t len);

/* Parses a duration: a non-negative integer followed by an optional unit
 * s, m, h, d (no unit = seconds), e.g. "0s", "30m", "1h", "7d". Several
 * groups may be concatenated ("1h30m"). Output in seconds. BK_EINVAL on
 * anything else or on overflow. */
int bk_parse_duration(const char *s, int64_t *seconds);

/* Fills buf with n cryptographically random bytes (getrandom). BK_EIO. */
int bk_random_bytes(void *buf, size_t n);

#endif
