/* buckets — client library: Hub bucket API, Xet upload/download, sync.
 *
 * A bk_client holds the configuration (endpoint, token, cache dir) and a pool
 * of keep-alive HTTP handles (libcurl). One client may be used from one
 * thread at a time; it runs its own worker threads for parallel transfers.
 *
 * Conventions for bindings (ctypes):
 *  - every function returns int: 0 ok, negative BK_E* (buckets/error.h);
 *    bk_errmsg() gives the one-line detail on the calling thread;
 *  - complex results are returned as malloc'd NUL-terminated JSON strings
 *    (char **out); release them with bk_free();
 *  - bucket ids are "ns/name" (also accepted: "hf://buckets/ns/name");
 *  - remote paths are relative to the bucket root, '/' separated.
 * Ownership: bk_client_new/bk_client_free; strings passed in are copied or
 * only borrowed for the duration of the call.
 */
#ifndef BUCKETS_CLIENT_H
#define BUCKETS_CLIENT_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bk_client bk_client;

/* The layout of bk_client_opts this header describes. A caller sets
 * version to it (BK_CLIENT_OPTS_INIT does), so a binding that mirrors the
 * struct by hand (python/hfbuckets/_lib.py) and a library with another
 * layout refuse each other (BK_EVERSION) instead of misreading fields. */
#define BK_CLIENT_OPTS_VERSION 1

typedef struct bk_client_opts {
  unsigned version;     /* BK_CLIENT_OPTS_VERSION */
  const char *endpoint; /* NULL: $HF_ENDPOINT, else http://127.0.0.1:8080 */
  const char *token;    /* NULL: $HF_TOKEN, else $HF_HOME/token; "" = anonymous */
  const char *hf_home;  /* NULL: $HF_HOME, else ~/.cache/huggingface */
  unsigned parallel;    /* transfers in flight; 0 = default (8) */
  unsigned timeout_s;   /* per-request stall timeout; 0 = default (60) */
  unsigned retries;     /* retries on 429/5xx/connection errors; 0 = default (5) */
  int no_global_dedup;  /* 1 = skip the CAS global dedup query */
  int no_shard_cache;   /* 1 = neither read nor write the local shard cache */
} bk_client_opts;

/* All defaults: bk_client_opts o = BK_CLIENT_OPTS_INIT; then set fields. */
#define BK_CLIENT_OPTS_INIT {BK_CLIENT_OPTS_VERSION, NULL, NULL, NULL, 0, 0, 0, 0, 0}

/* opts may be NULL (all defaults); otherwise opts->version must be
 * BK_CLIENT_OPTS_VERSION (BK_EVERSION if not). opts is borrowed (its strings
 * are copied). On success *out is a new client the caller releases with
 * bk_client_free. */
BK_API int bk_client_new(const bk_client_opts *opts, bk_client **out);
BK_API void bk_client_free(bk_client *c);
BK_API const char *bk_client_endpoint(const bk_client *c);
BK_API int bk_client_has_token(const bk_client *c);
BK_API void bk_free(void *p);

/* ---- progress and log callbacks (optional) ---- */
typedef struct bk_progress {
  uint64_t files_done, files_total;
  uint64_t bytes_done, bytes_total; /* logical bytes processed / to process */
  uint64_t bytes_dedup;             /* bytes not sent thanks to deduplication */
  uint64_t bytes_sent;              /* xorb bytes actually uploaded */
  uint64_t bytes_received;          /* bytes downloaded on the wire */
  int phase;                        /* 0 scan, 1 upload, 2 download, 3 delete */
} bk_progress;
typedef void (*bk_progress_cb)(void *ctx, const bk_progress *p);
/* Status lines ("Scanning local directory (N files)", "  Uploading: p (r)").
 * level 0 = status, 1 = verbose per-file, 2 = one file failed and was
 * skipped ("path: why"; the call then returns BK_EPARTIAL). */
typedef void (*bk_log_cb)(void *ctx, int level, const char *line);
BK_API void bk_client_set_progress(bk_client *c, bk_progress_cb cb, void *ctx);
BK_API void bk_client_set_log(bk_client *c, bk_log_cb cb, void *ctx);

/* ---- token file helpers ($HF_HOME/token) ---- */
BK_API int bk_token_save(const char *hf_home, const char *token); /* hf_home NULL = default */
BK_API int bk_token_delete(const char *hf_home);
/* Returns the token that a client would use (malloc'd) or NULL. */
BK_API char *bk_token_resolve(const char *hf_home);
/* Several saved tokens, huggingface_hub's layout: $HF_HOME/stored_tokens is an
 * INI file ("[name]" + "hf_token = T" per token, mode 0600, written durably);
 * the active token is the one in $HF_HOME/token. Names and tokens are
 * borrowed. bk_token_store adds or replaces `name` (it does not activate it).
 * bk_token_list: *json = [{"name","token","active"}] in file order (caller
 * frees with bk_free). bk_token_switch copies `name`'s token to
 * $HF_HOME/token (BK_ENOTFOUND if unknown). bk_token_forget removes `name`
 * (and $HF_HOME/token if it was the active one); name NULL removes every
 * stored token and the active one. */
BK_API int bk_token_store(const char *hf_home, const char *name, const char *token);
BK_API int bk_token_list(const char *hf_home, char **json);
BK_API int bk_token_switch(const char *hf_home, const char *name);
BK_API int bk_token_forget(const char *hf_home, const char *name);

/* ---- Hub API (JSON results) ---- */
BK_API int bk_whoami(bk_client *c, char **json);
/* private_: -1 = not sent, 0/1 = sent. region may be NULL. exist_ok: 409
 * (or 401/403 on a readable bucket) is success. *json = {"url","id","uri"}. */
BK_API int bk_bucket_create(bk_client *c, const char *bucket_id, int private_,
                     const char *region, int exist_ok, char **json);
BK_API int bk_bucket_info(bk_client *c, const char *bucket_id, char **json);
/* ns NULL = "me". search may be NULL. JSON array (all pages). */
BK_API int bk_bucket_list(bk_client *c, const char *ns, const char *search, char **json);
BK_API int bk_bucket_delete(bk_client *c, const char *bucket_id, int missing_ok);
BK_API int bk_bucket_move(bk_client *c, const char *from_id, const char *to_id);
BK_API int bk_bucket_settings(bk_client *c, const char *bucket_id, int private_);
/* Settings in one request: private_ -1 = not sent, 0/1 = sent; prewarm NULL
 * = not sent, else the warm regions as a comma-separated list ("" clears
 * them; docs/regions.md). BK_EINVAL when neither is given. *json (may be
 * NULL) = the BucketInfo the server answers (caller frees with bk_free). */
BK_API int bk_bucket_update_settings(bk_client *c, const char *bucket_id, int private_,
                                     const char *prewarm, char **json);
/* Queues a pre-warm of the bucket (files under prefix, NULL/"" = all) into
 * region. *json (may be NULL) = {"job","region","prefix"} (bk_free). */
BK_API int bk_bucket_prewarm(bk_client *c, const char *bucket_id, const char *region,
                             const char *prefix, char **json);
/* Tree under prefix (NULL/"" = root). Entries are filtered to the path
 * boundary (prefix itself or prefix/...). JSON array, all pages. */
BK_API int bk_bucket_tree(bk_client *c, const char *bucket_id, const char *prefix,
                   int recursive, char **json);
/* JSON array of file entries for existing paths (batched by 1000). */
BK_API int bk_bucket_paths_info(bk_client *c, const char *bucket_id,
                         const char *const *paths, size_t n, char **json);
/* Raw batch: ndjson lines; sent in groups of <= 1000 lines. *json = merged
 * {"processed","succeeded","failed":[...]}; BK_EHTTP if anything failed. */
BK_API int bk_bucket_batch(bk_client *c, const char *bucket_id, const char *ndjson,
                    char **json);
BK_API int bk_bucket_delete_files(bk_client *c, const char *bucket_id,
                           const char *const *paths, size_t n);
/* Server-side copy of one file or a folder (by xet hash) between buckets.
 * src/dst are hf://buckets/... URIs; cp -r destination rules (spec §2). */
BK_API int bk_bucket_copy(bk_client *c, const char *src_uri, const char *dst_uri);

/* ---- transfers ---- */
typedef struct bk_transfer_stats {
  uint64_t files;
  uint64_t bytes;          /* logical bytes */
  uint64_t bytes_sent;     /* xorb bytes uploaded (new data, compressed) */
  uint64_t bytes_dedup;    /* logical bytes found already stored */
  uint64_t bytes_received; /* downloaded */
  uint64_t xorbs_sent, xorbs_existing;
  uint64_t dedup_queries;
  double seconds;
} bk_transfer_stats;

typedef struct bk_upload_item {
  const char *local_path;  /* file to read; NULL: use data/len */
  const void *data;
  size_t len;
  const char *remote_path; /* path inside the bucket */
  int64_t mtime_ms;        /* <0: file mtime (or now for data) */
} bk_upload_item;

/* Uploads (dedup, xorbs, shard) and registers every item with addFile.
 * stats may be NULL. */
BK_API int bk_upload(bk_client *c, const char *bucket_id, const bk_upload_item *items,
              size_t n, bk_transfer_stats *stats);
/* Xet upload only (no registration): writes each item's 64-hex file hash
 * into hashes[i] (char[65]). */
BK_API int bk_xet_upload(bk_client *c, const char *bucket_id,
                  const bk_upload_item *items, size_t n, char (*hashes)[65],
                  bk_transfer_stats *stats);

/* Downloads remote_path into local_path (temp file + fsync + rename; mtime
 * set to the remote mtime). Every chunk is hashed and the file hash checked. */
BK_API int bk_download(bk_client *c, const char *bucket_id, const char *remote_path,
                const char *local_path, bk_transfer_stats *stats);
/* Downloads a file by xet hash (size and mtime_ms known by the caller;
 * mtime_ms < 0 leaves the filesystem time). */
BK_API int bk_download_hash(bk_client *c, const char *bucket_id, const char *xet_hash,
                     uint64_t size, int64_t mtime_ms, const char *local_path,
                     bk_transfer_stats *stats);
/* Downloads many files at once: small files (<= 8 MiB) through batch
 * reconstructions, the rest 8 at a time; each file verified (size, hash),
 * written to a temp file next to its destination, then one syncfs and the
 * renames. Parent directories are created. mtime_ms < 0 keeps the
 * filesystem time. On failure no partial file is left in place. */
typedef struct bk_download_item {
  const char *xet_hash;
  uint64_t size;
  int64_t mtime_ms;
  const char *local_path;
} bk_download_item;
BK_API int bk_download_files(bk_client *c, const char *bucket_id, const bk_download_item *items,
                      size_t n, bk_transfer_stats *stats);

/* Reads bytes [offset, offset+len) of a file (by xet hash) into buf.
 * *got = bytes read (short at end of file). */
BK_API int bk_read_range(bk_client *c, const char *bucket_id, const char *xet_hash,
                  uint64_t offset, uint64_t len, void *buf, uint64_t *got);

/* ---- sync (spec §3.8) ---- */
typedef struct bk_sync_opts {
  const char *source; /* local dir or hf://buckets/ns/name[/prefix] */
  const char *dest;
  int delete_files;
  int ignore_times, ignore_sizes, existing, ignore_existing;
  const char *const *include;
  size_t n_include;
  const char *const *exclude;
  size_t n_exclude;
  const char *filter_from; /* file path or NULL */
  int verbose;
} bk_sync_opts;

/* Computes the plan and returns it as JSONL (header + operations). */
BK_API int bk_sync_plan_jsonl(bk_client *c, const bk_sync_opts *o, char **jsonl);
/* Executes a JSONL plan. Unless force, every upload source is rechecked
 * (size and mtime) and every download source re-listed: a changed source
 * refuses the whole plan with BK_ESTALE before anything is transferred. */
BK_API int bk_sync_apply_jsonl(bk_client *c, const char *jsonl, int force,
                        bk_transfer_stats *stats);
/* plan + apply in one call; *jsonl (may be NULL) receives the plan. */
BK_API int bk_sync(bk_client *c, const bk_sync_opts *o, char **jsonl,
            bk_transfer_stats *stats);

/* Lower level (for CLIs): compute a plan into a struct bk_plan (see
 * buckets/sync.h; bk_plan_init before, bk_plan_free after), and execute a
 * plan (force = skip the staleness re-check). */
struct bk_plan;
BK_API int bk_sync_plan_compute(bk_client *c, const bk_sync_opts *o, struct bk_plan *plan);
BK_API int bk_sync_execute_plan(bk_client *c, struct bk_plan *p, int force, bk_transfer_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
