/* buckets client — internal shared state (not a public header).
 * Ownership: bk_client owns every string and the HTTP pool. */
#ifndef BUCKETS_CLIENT_INTERNAL_H
#define BUCKETS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buckets/client.h"
#include "buckets/clock.h"
#include "buckets/sync.h"
#include "client/http.h"

struct stat;

typedef struct bk_xet_tok {
  char *bucket;
  int write;
  char *token;
  char *cas_url;
  int64_t exp;
} bk_xet_tok;

struct bk_client {
  char *endpoint; /* no trailing '/' */
  char *token;    /* NULL = anonymous */
  char *hf_home;
  unsigned parallel;
  int no_global_dedup, no_shard_cache;
  bk_http *http;
  bk_progress_cb pcb;
  void *pctx;
  bk_log_cb lcb;
  void *lctx;
  pthread_mutex_t mu; /* guards xet token cache and progress */
  bk_xet_tok xt[8];
  bk_progress prog;
};

/* Hub call: path starts with "/". Maps non-2xx statuses to BK_E* with a
 * message (404 RepoNotFound -> BK_ENOTFOUND naming what). resp must be
 * freed by the caller on success; freed here on failure. */
int bk_hub_call(bk_client *c, const char *method, const char *path,
                const char *ctype, const void *body, size_t len,
                const char *what, bk_http_resp *resp);
/* Maps an HTTP answer to an error code + message. */
int bk_hub_error_from_response(const bk_http_resp *r, const char *what);

/* Xet token for a bucket (cached; refreshed 30 s before exp). Copies into
 * caller-provided malloc'd strings. */
int bk_xet_token(bk_client *c, const char *bucket_id, int write, char **token,
                 char **cas_url);
void bk_xet_token_invalidate(bk_client *c, const char *bucket_id, int write);

void bk_client_log(bk_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bk_client_progress(bk_client *c); /* reports c->prog (call with mu held) */


struct cJSON;
/* Tree listing (all pages, path-boundary filtered) as a cJSON array. */
int bk_tree_json(bk_client *c, const char *id, const char *prefix, int recursive,
                 struct cJSON **out);
int bk_paths_info_json(bk_client *c, const char *id, const char *const *paths, size_t n,
                       struct cJSON **out);

/* Downloads a file by hash to rel beneath the directory rootfd (parents
 * created beneath it; no symlink followed, see localfs.c). durable = 1:
 * fsync, rename, fsync(dir). durable = 0: the verified temp file is left in
 * place (closed, not fsynced, mtime set) and its path relative to rootfd
 * written to tmp_out; the caller syncs and renames it (bk_lfs_commit). */
int bk_download_hash_ex(bk_client *c, const char *bucket_id, const char *xet_hash,
                        uint64_t size, int64_t mtime_ms, int rootfd, const char *rel,
                        int durable, char *tmp_out, size_t tmp_n, bk_transfer_stats *stats);

/* Batch download of small files (one batch reconstruction). Each item is
 * written beneath its own root: rootfd, or (rootfd < 0) the directory
 * root_path opened for the call. On success every item's tmp holds the path
 * (relative to that root) of a verified, closed temp file (caller syncs and
 * commits, then frees tmp); on failure no temp file is left. */
typedef struct bk_dl_item {
  const char *hash;
  uint64_t size;
  int64_t mtime_ms;
  int rootfd;
  const char *root_path;
  const char *rel;
  char *tmp; /* out, malloc'd */
} bk_dl_item;
int bk_download_batch(bk_client *c, const char *id, bk_dl_item *items, size_t n,
                      bk_transfer_stats *st);

/* ---- local files beneath a target directory (localfs.c) ----
 * rel comes from a bucket or a plan: it must pass bk_safe_relpath and is
 * resolved beneath rootfd without following any symlink (openat2
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, else openat O_NOFOLLOW per component;
 * BK_NO_OPENAT2=1 forces the latter). Errors name rel: BK_ENOTFOUND for a
 * missing parent (create = 0), BK_EIO otherwise (a symlink in the way, an
 * unsafe path, a name too long, ...: local file problems, OSError in
 * Python). */
/* Opens the target directory path (its own symlinks are the caller's
 * choice); create = mkdir -p first. *fd is the caller's to close. */
int bk_lfs_open_dir(const char *path, int create, int *fd);
/* Opens the parent directory of rel (creating missing ones when create);
 * *base points into rel at the file name. *dirfd is the caller's. */
int bk_lfs_parent(int rootfd, const char *rel, int create, int *dirfd, const char **base);
/* 0 when base (under dirfd) is absent or a regular file; a symlink, a
 * directory, a name too long for the filesystem are errors naming rel. */
int bk_lfs_check_dest(int dirfd, const char *rel, const char *base);
/* lstat of rel beneath rootfd (BK_ENOTFOUND when absent). */
int bk_lfs_lstat(int rootfd, const char *rel, struct stat *st);
/* Opens rel beneath rootfd for reading (O_NOFOLLOW). */
int bk_lfs_open_read(int rootfd, const char *rel, int *fd);
/* Creates a fresh temp file next to rel (parents created, O_EXCL |
 * O_NOFOLLOW, the destination checked with bk_lfs_check_dest); its path
 * relative to rootfd goes to tmp_rel[n]. *fd is the caller's. */
int bk_lfs_create_temp(int rootfd, const char *rel, char *tmp_rel, size_t n, int *fd);
/* renameat(tmp_rel -> rel) in their directory (the destination checked
 * again); fsync of the directory when fsync_dir. The temp file is removed
 * on failure. */
int bk_lfs_commit(int rootfd, const char *tmp_rel, const char *rel, int fsync_dir);
/* unlink rel beneath rootfd (a missing file or parent is not an error). */
int bk_lfs_unlink(int rootfd, const char *rel);
/* Removes the now-empty parent directories of rel, deepest first. */
void bk_lfs_rmdir_parents(int rootfd, const char *rel);
/* Xet file hash of everything readable from fd (64 hex + NUL). */
int bk_lfs_hash_fd(int fd, char hex[65]);

/* "ns/name" or hf://buckets/ns/name (no path) -> malloc'd "ns/name". */
int bk_uri_parse_id(const char *in, char **id);

/* Validates a relative path from a plan or listing (no "..", no leading /). */
int bk_safe_relpath(const char *p);

#endif
