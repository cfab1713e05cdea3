/* buckets client — internal shared state (not a public header).
 * Ownership: bk_client owns every string and the HTTP pool. */
#ifndef BUCKETS_CLIENT_INTERNAL_H
#define BUCKETS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buckets/client.h"
#include "buckets/sync.h"
#include "client/http.h"

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
int bk_http_error(const bk_http_resp *r, const char *what);

/* Xet token for a bucket (cached; refreshed 30 s before exp). Copies into
 * caller-provided malloc'd strings. */
int bk_xet_token(bk_client *c, const char *bucket_id, int write, char **token,
                 char **cas_url);
void bk_xet_token_invalidate(bk_client *c, const char *bucket_id, int write);

void bk_client_log(bk_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bk_client_progress(bk_client *c); /* reports c->prog (call with mu held) */

int64_t bk_wall_ms(void);
double bk_mono_s(void);

struct cJSON;
/* Tree listing (all pages, path-boundary filtered) as a cJSON array. */
int bk_tree_json(bk_client *c, const char *id, const char *prefix, int recursive,
                 struct cJSON **out);
int bk_paths_info_json(bk_client *c, const char *id, const char *const *paths, size_t n,
                       struct cJSON **out);

/* bk_download_hash with durable = 0: the verified temp file is left in
 * place (closed, not fsynced, mtime set) and its name written to tmp_out;
 * the caller syncs and renames it (batch downloads). */
int bk_download_hash_ex(bk_client *c, const char *bucket_id, const char *xet_hash,
                        uint64_t size, int64_t mtime_ms, const char *local_path, int durable,
                        char *tmp_out, size_t tmp_n, bk_transfer_stats *stats);

/* Batch download of small files (one batch reconstruction). On success
 * every item's tmp holds a verified, closed temp file (caller syncs and
 * renames, then frees tmp); on failure no temp file is left. */
typedef struct bk_dl_item {
  const char *hash;
  uint64_t size;
  int64_t mtime_ms;
  const char *local_path;
  char *tmp; /* out, malloc'd */
} bk_dl_item;
int bk_download_batch(bk_client *c, const char *id, bk_dl_item *items, size_t n,
                      bk_transfer_stats *st);

/* "ns/name" or hf://buckets/ns/name (no path) -> malloc'd "ns/name". */
int bk_uri_parse_id(const char *in, char **id);

/* Validates a relative path from a plan or listing (no "..", no leading /). */
int bk_safe_relpath(const char *p);

#endif
