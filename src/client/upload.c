/* buckets client — Xet upload pipeline (xet.md §7-§8).
 *
 * One session per bk_xet_upload call:
 *   files -> bk_chunker (constant memory) -> per chunk: dedup lookup in
 *   (1) chunks seen in this session, (2) the local shard cache under
 *   $HF_HOME/xet/shard-cache/<endpoint>, (3) the CAS global dedup query;
 *   new chunks go into a xorb builder; full xorbs are handed to upload
 *   threads (bounded queue). After every xorb is stored the shard(s) are
 *   POSTed, then the caller registers files (bk_upload: batch addFile).
 * Each stored xorb is also written to the shard cache as a xorb-only shard,
 * so an interrupted upload re-run finds its chunks locally and sends nothing
 * twice. Ownership: all session memory is freed before returning.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blake3.h"
#include "buckets/buf.h"
#include "buckets/cdc.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "client/internal.h"

#define NONE32 0xFFFFFFFFu
#define READ_BLOCK (8u << 20)
#define DEDUP_SPACING 256 /* spec: min chunks between queries (reference client) */
#define DENSE_MOD 64       /* key-chunk modulus this client queries and flags */
#define DENSE_SPACING 16   /* min chunks between key-chunk queries */
#define SHARD_SPLIT_BYTES (48u << 20)
#define CACHE_MAX_BYTES (256ull << 20) /* local shard cache bound (disk and RAM) */

/* ---------------------------------------------------------------- chunk map */

typedef struct ment {
  bk_hash h;
  uint32_t x; /* xorb table index; NONE32 = empty slot */
  uint32_t i; /* chunk index in that xorb */
} ment;

typedef struct cmap {
  ment *t;
  size_t cap, n;
} cmap;

static int cmap_grow(cmap *m) {
  size_t ncap = m->cap ? m->cap * 2 : 4096;
  ment *nt = malloc(ncap * sizeof *nt);
  if (!nt) return bk_seterr(BK_ENOMEM, "dedup index");
  for (size_t k = 0; k < ncap; k++) nt[k].x = NONE32;
  for (size_t k = 0; k < m->cap; k++) {
    if (m->t[k].x == NONE32) continue;
    size_t j = bk_hash_head_u64(&m->t[k].h) & (ncap - 1);
    while (nt[j].x != NONE32) j = (j + 1) & (ncap - 1);
    nt[j] = m->t[k];
  }
  free(m->t);
  m->t = nt;
  m->cap = ncap;
  return 0;
}

static const ment *cmap_get(const cmap *m, const bk_hash *h) {
  if (!m->cap) return NULL;
  size_t j = bk_hash_head_u64(h) & (m->cap - 1);
  while (m->t[j].x != NONE32) {
    if (memcmp(m->t[j].h.b, h->b, 32) == 0) return &m->t[j];
    j = (j + 1) & (m->cap - 1);
  }
  return NULL;
}

/* Inserts if absent. */
static int cmap_put(cmap *m, const bk_hash *h, uint32_t x, uint32_t i) {
  if ((m->n + 1) * 2 > m->cap) {
    int rc = cmap_grow(m);
    if (rc) return rc;
  }
  size_t j = bk_hash_head_u64(h) & (m->cap - 1);
  while (m->t[j].x != NONE32) {
    if (memcmp(m->t[j].h.b, h->b, 32) == 0) return 0;
    j = (j + 1) & (m->cap - 1);
  }
  m->t[j].h = *h;
  m->t[j].x = x;
  m->t[j].i = i;
  m->n++;
  return 0;
}

/* ---------------------------------------------------------------- session */

typedef struct newxorb {
  bk_xorb_builder *b;   /* owned until uploaded */
  bk_hash hash;
  bk_shard_chunk *chunks; /* copy for the shard's xorb block */
  uint32_t nchunks, bytes_in, bytes_on_disk;
  int rc; /* upload result */
  int inserted;
} newxorb;

typedef struct xent {
  bk_hash hash;   /* valid when known or finished */
  newxorb *nx;    /* non-NULL for xorbs created in this session */
  int from_cache; /* 1 = known from local shard cache */
} xent;

typedef struct term {
  uint32_t x, start, end, unpacked;
  bk_hash range_hash;
} term;

typedef struct keyed {
  uint8_t key[32];
  cmap map;
} keyed;

typedef struct sfile {
  bk_hash hash;
  uint64_t size; /* bytes actually read */
  term *terms;
  uint32_t nterms, cap;
} sfile;

/* Xorbs the server reported damaged (shard refused with XorbDamaged): their
 * chunks are never deduplicated against again in this upload. */
#define MAX_BANNED 64
typedef struct banned {
  bk_hash h[MAX_BANNED];
  size_t n;
} banned;

static int is_banned(const banned *b, const bk_hash *h) {
  for (size_t i = 0; b && i < b->n; i++)
    if (bk_hash_eq(&b->h[i], h)) return 1;
  return 0;
}

typedef struct session {
  bk_client *c;
  banned *ban;        /* owned by xet_upload; grows when a shard is refused */
  const char *bucket;
  char *tok, *cas;
  char cache_dir[4096];
  int use_cache, cache_hits;
  int shard_rejected; /* the server refused a shard (e.g. a cached xorb is gone) */

  xent *xt;
  uint32_t nx, xcap;
  cmap xorbs;  /* xorb hash -> xt index (i unused) */
  cmap chunks; /* raw chunk hash -> (x, i) */
  keyed *keyed;
  size_t nkeyed;

  bk_xorb_builder *cur;
  uint32_t cur_x;
  uint8_t cur_flags[BK_XORB_MAX_CHUNKS]; /* 1 = flag chunk global-dedup eligible */
  int prev_hit;              /* previous chunk of this file was deduplicated */
  uint64_t boundary_queries; /* queries at known->new transitions */

  /* per file */
  sfile *f;
  bk_merkle *mk;
  blake3_hasher th;
  int term_open;
  uint64_t chunk_no;      /* chunk index within the file */
  uint64_t since_query;   /* chunks since last global query */

  /* upload workers */
  pthread_mutex_t mu;
  pthread_cond_t cv_job, cv_done;
  newxorb **queue;
  size_t qhead, qlen, qcap;
  int inflight, stop, nthreads;
  pthread_t th_ids[32];
  int err;
  char errmsg[512];

  bk_xorb_builder *pool[8]; /* reset builders kept for reuse (guarded by mu) */
  int npool;

  bk_transfer_stats *st;
} session;

static void session_fail(session *s, int rc) {
  pthread_mutex_lock(&s->mu);
  if (!s->err) {
    s->err = rc;
    snprintf(s->errmsg, sizeof s->errmsg, "%s", bk_errmsg());
  }
  pthread_mutex_unlock(&s->mu);
}

static int xt_add(session *s, const bk_hash *h, newxorb *nx, int from_cache, uint32_t *out) {
  if (h && !nx) {
    const ment *e = cmap_get(&s->xorbs, h);
    if (e) {
      *out = e->x;
      return 0;
    }
  }
  if (s->nx == s->xcap) {
    uint32_t nc = s->xcap ? s->xcap * 2 : 64;
    xent *n = realloc(s->xt, nc * sizeof *n);
    if (!n) return bk_seterr(BK_ENOMEM, "xorb table");
    s->xt = n;
    s->xcap = nc;
  }
  xent *e = &s->xt[s->nx];
  memset(e, 0, sizeof *e);
  if (h) e->hash = *h;
  e->nx = nx;
  e->from_cache = from_cache;
  if (h && !nx) {
    int rc = cmap_put(&s->xorbs, h, s->nx, 0);
    if (rc) return rc;
  }
  *out = s->nx++;
  return 0;
}

/* Adds every chunk of a parsed shard's xorb blocks to the dedup index. */
static int index_shard(session *s, const bk_shard *sh, int from_cache) {
  const uint8_t *key = sh->has_footer ? sh->footer.chunk_hash_hmac_key : NULL;
  int keyed_ = key && !bk_hash_is_zero((const bk_hash *)key);
  cmap *m = &s->chunks;
  if (keyed_) {
    size_t k;
    for (k = 0; k < s->nkeyed; k++)
      if (memcmp(s->keyed[k].key, key, 32) == 0) break;
    if (k == s->nkeyed) {
      if (s->nkeyed >= 64) return 0; /* bound per-chunk hmac work */
      keyed *nk = realloc(s->keyed, (s->nkeyed + 1) * sizeof *nk);
      if (!nk) return bk_seterr(BK_ENOMEM, "dedup keys");
      s->keyed = nk;
      memset(&nk[k], 0, sizeof nk[k]);
      memcpy(nk[k].key, key, 32);
      s->nkeyed++;
    }
    m = &s->keyed[k].map;
  }
  for (uint32_t i = 0; i < sh->nxorbs; i++) {
    const bk_shard_xorb *xb = &sh->xorbs[i];
    if (is_banned(s->ban, &xb->xorb_hash)) continue; /* damaged on the server */
    uint32_t xi;
    int rc = xt_add(s, &xb->xorb_hash, NULL, from_cache, &xi);
    if (rc) return rc;
    for (uint32_t k = 0; k < xb->nchunks; k++) {
      rc = cmap_put(m, &xb->chunks[k].hash, xi, k);
      if (rc) return rc;
    }
  }
  return 0;
}

static void cache_dir_for(bk_client *c, char *out, size_t n) {
  bk_hash h;
  bk_keyed_hash(BK_DATA_KEY, c->endpoint, strlen(c->endpoint), &h);
  char hex[65];
  bk_hash_to_hex(&h, hex);
  hex[16] = 0;
  snprintf(out, n, "%s/xet/shard-cache/%s", c->hf_home, hex);
}

typedef struct centry {
  char name[256];
  int64_t mtime;
  uint64_t size;
} centry;

static int cmp_newest(const void *a, const void *b) {
  int64_t x = ((const centry *)a)->mtime, y = ((const centry *)b)->mtime;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Loads the newest shards up to CACHE_MAX_BYTES into the dedup index and
 * deletes older ones beyond that (the cache is bounded on disk and in RAM),
 * as well as expired or unreadable ones. */
static void load_cache(session *s) {
  DIR *d = opendir(s->cache_dir);
  if (!d) return;
  struct dirent *de;
  centry *es = NULL;
  size_t n = 0, cap = 0;
  while ((de = readdir(d)) != NULL) {
    size_t nl = strlen(de->d_name);
    if (nl < 7 || nl >= sizeof es->name || strcmp(de->d_name + nl - 6, ".shard") != 0) continue;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", s->cache_dir, de->d_name);
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
    centry *ne = bk_grow(es, n, &cap, sizeof *ne, 64, 0);
    if (!ne) break;
    es = ne;
    memcpy(es[n].name, de->d_name, nl + 1);
    es[n].mtime = st.st_mtim.tv_sec;
    es[n].size = (uint64_t)st.st_size;
    n++;
  }
  closedir(d);
  if (n) qsort(es, n, sizeof *es, cmp_newest);
  uint64_t total = 0;
  uint64_t now = (uint64_t)(bk_now_ms() / 1000);
  for (size_t i = 0; i < n; i++) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", s->cache_dir, es[i].name);
    if (total + es[i].size > CACHE_MAX_BYTES) {
      unlink(path); /* oldest beyond the bound */
      continue;
    }
    bk_buf b;
    bk_buf_init(&b, BK_SHARD_MAX_BYTES + 4096);
    if (bk_read_file(path, BK_SHARD_MAX_BYTES + 4096, &b)) {
      bk_buf_free(&b);
      continue;
    }
    total += b.len;
    bk_shard *sh = NULL;
    if (bk_shard_parse(b.p, b.len, &sh) == 0) {
      int expired = sh->has_footer && sh->footer.key_expiry && sh->footer.key_expiry < now;
      if (expired) unlink(path);
      else index_shard(s, sh, 1);
      bk_shard_free(sh);
    } else {
      unlink(path); /* unreadable cache entry */
    }
    bk_buf_free(&b);
  }
  free(es);
}

static void wipe_cache(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t nl = strlen(de->d_name);
    if (nl < 7 || strcmp(de->d_name + nl - 6, ".shard") != 0) continue;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    unlink(path);
  }
  closedir(d);
}

static void cache_write(session *s, const char *name, const void *data, size_t len) {
  if (!s->use_cache || bk_mkdir_p(s->cache_dir, 0700)) return;
  char path[4400], tmp[4500];
  snprintf(path, sizeof path, "%s/%s.shard", s->cache_dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return;
  int ok = write(fd, data, len) == (ssize_t)len;
  close(fd);
  if (!ok || rename(tmp, path)) unlink(tmp);
}

/* ---------------------------------------------------------------- CAS calls */

static int cas_request(session *s, const char *method, const char *path, const void *body,
                       size_t len, size_t max_resp, bk_http_resp *r) {
  for (int attempt = 0; attempt < 2; attempt++) {
    char *tok = NULL, *cas = NULL;
    int rc = bk_xet_token(s->c, s->bucket, 1, &tok, &cas);
    if (rc) return rc;
    size_t n = strlen(cas) + strlen(path) + 1;
    char *url = malloc(n);
    if (!url) {
      free(tok);
      free(cas);
      return bk_seterr(BK_ENOMEM, "out of memory");
    }
    snprintf(url, n, "%s%s", cas, path);
    bk_curl_req rq = {.method = method, .url = url, .bearer = tok, .body = body, .body_len = len,
                      .content_type = body ? "application/octet-stream" : NULL,
                      .max_resp = max_resp};
    rc = bk_http_do(s->c->http, &rq, r);
    free(url);
    free(tok);
    free(cas);
    if (rc) {
      bk_http_resp_free(r);
      return rc;
    }
    if (r->status == 401 && attempt == 0) {
      bk_http_resp_free(r);
      bk_xet_token_invalidate(s->c, s->bucket, 1);
      continue;
    }
    return 0;
  }
  return 0;
}

static int upload_xorb(session *s, newxorb *nx) {
  const uint8_t *body;
  size_t blen;
  bk_hash h;
  int rc = bk_xorb_builder_finish(nx->b, &h, &body, &blen);
  if (rc) return rc;
  char hex[65], path[200];
  bk_hash_to_hex(&h, hex);
  snprintf(path, sizeof path, "/v1/xorbs/default/%s", hex);
  bk_http_resp r;
  rc = cas_request(s, "POST", path, body, blen, 1 << 20, &r);
  if (rc) return rc;
  if (r.status < 200 || r.status >= 300) {
    rc = bk_hub_error_from_response(&r, "xorb upload");
    bk_http_resp_free(&r);
    return rc;
  }
  cJSON *j = cJSON_ParseWithLength((const char *)r.body.p, r.body.len);
  const cJSON *wi = cJSON_GetObjectItemCaseSensitive(j, "was_inserted");
  nx->inserted = cJSON_IsBool(wi) ? cJSON_IsTrue(wi) : 1;
  cJSON_Delete(j);
  bk_http_resp_free(&r);
  /* remember it locally (xorb-only shard) so a re-run does not resend it */
  if (s->use_cache) {
    bk_shard sh;
    memset(&sh, 0, sizeof sh);
    bk_shard_xorb xb = {nx->hash, 0, nx->nchunks, nx->bytes_in, nx->bytes_on_disk, nx->chunks};
    sh.nxorbs = 1;
    sh.xorbs = &xb;
    bk_buf out;
    bk_buf_init(&out, BK_SHARD_MAX_BYTES);
    if (bk_shard_serialize(&sh, 0, &out) == 0) cache_write(s, hex, out.p, out.len);
    bk_buf_free(&out);
  }
  return 0;
}

static void *worker(void *arg) {
  session *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (s->qlen == 0 && !s->stop) pthread_cond_wait(&s->cv_job, &s->mu);
    if (s->qlen == 0 && s->stop) {
      pthread_mutex_unlock(&s->mu);
      return NULL;
    }
    newxorb *nx = s->queue[s->qhead];
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qlen--;
    int failed = s->err != 0;
    pthread_mutex_unlock(&s->mu);
    int rc = failed ? BK_EIO : upload_xorb(s, nx);
    if (rc && !failed) session_fail(s, rc);
    bk_xorb_builder *b = nx->b;
    nx->b = NULL;
    nx->rc = rc;
    bk_xorb_builder_reset(b);
    pthread_mutex_lock(&s->mu);
    if (s->npool < (int)(sizeof s->pool / sizeof s->pool[0])) {
      s->pool[s->npool++] = b;
      b = NULL;
    }
    s->inflight--;
    if (!rc) {
      s->st->bytes_sent += nx->inserted ? nx->bytes_on_disk : 0;
      if (nx->inserted) s->st->xorbs_sent++;
      else s->st->xorbs_existing++;
    }
    pthread_cond_broadcast(&s->cv_done);
    pthread_mutex_unlock(&s->mu);
    bk_xorb_builder_free(b);
    pthread_mutex_lock(&s->c->mu);
    s->c->prog.bytes_sent += nx->inserted ? nx->bytes_on_disk : 0;
    bk_client_progress(s->c);
    pthread_mutex_unlock(&s->c->mu);
  }
}

/* Finishes the current xorb and queues it (blocks while the queue is full). */
static int flush_xorb(session *s) {
  if (!s->cur || bk_xorb_builder_count(s->cur) == 0) return 0;
  newxorb *nx = s->xt[s->cur_x].nx;
  const uint8_t *body;
  size_t blen;
  int rc = bk_xorb_builder_finish(s->cur, &nx->hash, &body, &blen);
  if (rc) return rc;
  size_t n = bk_xorb_builder_count(s->cur);
  const bk_xorb_chunk *ch = bk_xorb_builder_chunks(s->cur);
  nx->chunks = malloc(n * sizeof *nx->chunks);
  if (!nx->chunks) return bk_seterr(BK_ENOMEM, "xorb chunk list");
  for (size_t i = 0; i < n; i++) {
    nx->chunks[i].hash = ch[i].hash;
    nx->chunks[i].byte_start = ch[i].unpacked_offset;
    nx->chunks[i].len = ch[i].unpacked_len;
    nx->chunks[i].flags = s->cur_flags[i] ? BK_SHARD_CHUNK_GLOBAL_DEDUP : 0;
  }
  nx->nchunks = (uint32_t)n;
  nx->bytes_in = (uint32_t)bk_xorb_builder_unpacked(s->cur);
  nx->bytes_on_disk = (uint32_t)blen;
  s->xt[s->cur_x].hash = nx->hash;
  nx->b = s->cur;
  s->cur = NULL;
  pthread_mutex_lock(&s->mu);
  while (s->inflight >= s->nthreads + 1 && !s->err) pthread_cond_wait(&s->cv_done, &s->mu);
  if (s->err) {
    pthread_mutex_unlock(&s->mu);
    bk_xorb_builder_free(nx->b);
    nx->b = NULL;
    return s->err;
  }
  s->queue[(s->qhead + s->qlen) % s->qcap] = nx;
  s->qlen++;
  s->inflight++;
  pthread_cond_signal(&s->cv_job);
  pthread_mutex_unlock(&s->mu);
  return 0;
}

static int new_builder(session *s) {
  newxorb *nx = calloc(1, sizeof *nx);
  if (!nx) return bk_seterr(BK_ENOMEM, "xorb");
  int compress = getenv("BK_NO_COMPRESS") ? 0 : 1;
  memset(s->cur_flags, 0, sizeof s->cur_flags);
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  s->cur = s->npool > 0 ? s->pool[--s->npool] : NULL;
  pthread_mutex_unlock(&s->mu);
  if (!s->cur) rc = bk_xorb_builder_new(compress, &s->cur);
  if (!rc) rc = xt_add(s, NULL, nx, 0, &s->cur_x);
  if (rc) {
    free(nx);
    bk_xorb_builder_free(s->cur);
    s->cur = NULL;
  }
  return rc;
}

/* ---------------------------------------------------------------- global dedup */

static int global_query(session *s, const bk_hash *h) {
  char hex[65], path[200];
  bk_hash_to_hex(h, hex);
  snprintf(path, sizeof path, "/v1/chunks/default-merkledb/%s", hex);
  bk_http_resp r;
  s->st->dedup_queries++;
  int rc = cas_request(s, "GET", path, NULL, 0, BK_SHARD_MAX_BYTES + 4096, &r);
  if (rc) return 0; /* dedup is an optimisation: ignore transport trouble */
  if (r.status == 200 && r.body.len > 0) {
    bk_shard *sh = NULL;
    if (bk_shard_parse(r.body.p, r.body.len, &sh) == 0) {
      index_shard(s, sh, 0);
      bk_shard_free(sh);
      char name[80];
      snprintf(name, sizeof name, "dedup-%.48s", hex);
      cache_write(s, name, r.body.p, r.body.len);
    }
  }
  bk_http_resp_free(&r);
  return 0;
}

static const ment *lookup(session *s, const bk_hash *h) {
  const ment *e = cmap_get(&s->chunks, h);
  if (e) return e;
  for (size_t k = 0; k < s->nkeyed; k++) {
    if (!s->keyed[k].map.n) continue;
    bk_hash hm;
    bk_hash_hmac(h, s->keyed[k].key, &hm);
    e = cmap_get(&s->keyed[k].map, &hm);
    if (e) return e;
  }
  return NULL;
}

/* ---------------------------------------------------------------- per chunk */

static int close_term(session *s) {
  if (!s->term_open) return 0;
  term *t = &s->f->terms[s->f->nterms - 1];
  blake3_hasher_finalize(&s->th, t->range_hash.b, 32);
  s->term_open = 0;
  return 0;
}

static int add_to_term(session *s, uint32_t x, uint32_t i, uint32_t len, const bk_hash *h) {
  sfile *f = s->f;
  if (s->term_open) {
    term *t = &f->terms[f->nterms - 1];
    if (t->x == x && t->end == i && (uint64_t)t->unpacked + len < 0xFFFFFFFFull) {
      t->end++;
      t->unpacked += len;
      blake3_hasher_update(&s->th, h->b, 32);
      return 0;
    }
    close_term(s);
  }
  if (f->nterms == f->cap) {
    uint32_t nc = f->cap ? f->cap * 2 : 8;
    term *n = realloc(f->terms, nc * sizeof *n);
    if (!n) return bk_seterr(BK_ENOMEM, "file terms");
    f->terms = n;
    f->cap = nc;
  }
  term *t = &f->terms[f->nterms++];
  t->x = x;
  t->start = i;
  t->end = i + 1;
  t->unpacked = len;
  blake3_hasher_init_keyed(&s->th, BK_VERIFICATION_KEY);
  blake3_hasher_update(&s->th, h->b, 32);
  s->term_open = 1;
  return 0;
}

static int on_chunk(void *ctx, uint64_t offset, const uint8_t *data, size_t len,
                    const bk_hash *h) {
  (void)offset;
  session *s = ctx;
  if (s->err) return s->err;
  int rc = bk_merkle_push(s->mk, h, len);
  if (rc) return rc;
  const ment *e = lookup(s, h);
  /* Global dedup (xet.md §8). Asked for a chunk we do not know when it is
   *  - the first chunk of a file, or
   *  - the first unknown chunk after deduplicated ones (an edited region of a
   *    known file starts, or an old xorb ends and the next one begins), or
   *  - a "key" chunk (hash tail % DENSE_MOD == 0, a superset of the spec's
   *    % 1024) at least DENSE_SPACING chunks after the previous query.
   * The server indexes the first chunk of each file, tail % 1024 chunks and
   * chunks flagged 0x80000000 in uploaded xorb blocks; this client flags
   * the same positions it queries (first of file, first after a dedup run,
   * first of each xorb, key chunks), so a re-upload finds its way back into
   * old xorbs within ~DENSE_MOD chunks of any edit. */
  uint64_t tail = bk_hash_tail_u64(h);
  if (!e && !s->c->no_global_dedup &&
      ((s->chunk_no == 0 && len >= 4096) || (s->prev_hit && s->boundary_queries < 65536) ||
       (tail % DENSE_MOD == 0 && s->since_query >= DENSE_SPACING))) {
    if (s->prev_hit) s->boundary_queries++;
    s->since_query = 0;
    global_query(s, h);
    e = lookup(s, h);
  }
  int flag_new = s->chunk_no == 0 || s->prev_hit;
  s->prev_hit = e != NULL;
  s->since_query++;
  s->chunk_no++;
  uint32_t x, i;
  if (e) {
    x = e->x;
    i = e->i;
    if (s->xt[x].from_cache) s->cache_hits++;
    s->st->bytes_dedup += len;
    pthread_mutex_lock(&s->c->mu);
    s->c->prog.bytes_dedup += len;
    pthread_mutex_unlock(&s->c->mu);
  } else {
    if (!s->cur && (rc = new_builder(s))) return rc;
    rc = bk_xorb_builder_add(s->cur, data, len, h);
    if (rc == BK_ELIMIT) {
      if ((rc = flush_xorb(s)) || (rc = new_builder(s))) return rc;
      rc = bk_xorb_builder_add(s->cur, data, len, h);
    }
    if (rc) return rc;
    x = s->cur_x;
    i = (uint32_t)bk_xorb_builder_count(s->cur) - 1;
    if (flag_new || i == 0 || tail % DENSE_MOD == 0) s->cur_flags[i] = 1;
    if ((rc = cmap_put(&s->chunks, h, x, i))) return rc;
  }
  pthread_mutex_lock(&s->c->mu);
  s->c->prog.bytes_done += len;
  bk_client_progress(s->c);
  pthread_mutex_unlock(&s->c->mu);
  return add_to_term(s, x, i, (uint32_t)len, h);
}

/* Large inputs: read WIN-sized windows and chunk + hash each window with
 * bk_cdc_chunks_parallel (all cores), keeping the unfinished last chunk for
 * the next window. Same boundaries as the streaming chunker (a boundary
 * resets the gear state), constant memory (one window). */
#define WIN_BYTES (64u << 20)

typedef struct reader {
  int fd;
  uint8_t *dst;
  size_t want, got;
  int eof, err;
} reader;

/* Fills dst with up to want bytes (short only at end of file). */
static void *reader_main(void *arg) {
  reader *r = arg;
  r->got = 0;
  while (r->got < r->want) {
    ssize_t n = read(r->fd, r->dst + r->got, r->want - r->got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r->err = errno;
      break;
    }
    if (n == 0) {
      r->eof = 1;
      break;
    }
    r->got += (size_t)n;
  }
  return NULL;
}

/* Chunks one window; consumes all chunks when eof, else all but the last
 * (unfinished) one. *used = bytes consumed. */
static int chunk_window(session *s, const uint8_t *win, size_t have, int eof, uint64_t off,
                        unsigned nt, size_t *used) {
  uint64_t *ends = NULL;
  bk_hash *hashes = NULL;
  size_t n = 0;
  int rc = bk_cdc_chunks_parallel(win, have, nt, &ends, &hashes, &n);
  size_t use = eof ? n : (n > 0 ? n - 1 : 0);
  if (!rc && !eof && use == 0) rc = bk_seterr(BK_EINVAL, "chunking window too small");
  size_t prev = 0;
  for (size_t i = 0; !rc && i < use; i++) {
    rc = on_chunk(s, off + prev, win + prev, (size_t)(ends[i] - prev), &hashes[i]);
    prev = (size_t)ends[i];
  }
  free(ends);
  free(hashes);
  *used = prev;
  return rc;
}

/* Files: two buffers; while one window is chunked and hashed on all cores,
 * a reader thread fills the other. Each buffer keeps BK_CDC_MAX bytes of
 * headroom in front, where the unfinished last chunk of the previous window
 * is copied so the next window starts at a chunk boundary. */
static int feed_parallel(session *s, int fd, const uint8_t *mem, uint64_t memlen,
                         uint64_t *total) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned nt = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
  uint64_t off = 0;
  int rc = 0;
  if (fd < 0) {
    while (!rc) {
      uint64_t left = memlen - off;
      size_t have = left > WIN_BYTES ? WIN_BYTES : (size_t)left;
      int eof = off + have >= memlen;
      if (have == 0) break;
      size_t used = 0;
      rc = chunk_window(s, mem + off, have, eof, off, nt, &used);
      off += used;
      *total = off;
      if (eof) break;
    }
    return rc;
  }
  uint8_t *bufs[2];
  bufs[0] = malloc(BK_CDC_MAX + WIN_BYTES);
  bufs[1] = malloc(BK_CDC_MAX + WIN_BYTES);
  if (!bufs[0] || !bufs[1]) {
    free(bufs[0]);
    free(bufs[1]);
    return bk_seterr(BK_ENOMEM, "read windows");
  }
  int cur = 0;
  reader r = {fd, bufs[0] + BK_CDC_MAX, WIN_BYTES, 0, 0, 0};
  reader_main(&r);
  if (r.err) rc = bk_seterr(BK_EIO, "read: %s", strerror(r.err));
  const uint8_t *win = bufs[0] + BK_CDC_MAX;
  size_t have = r.got;
  int eof = r.eof;
  *total += r.got;
  while (!rc && have > 0) {
    int nxt = cur ^ 1;
    reader r2 = {fd, bufs[nxt] + BK_CDC_MAX, WIN_BYTES, 0, 0, 0};
    pthread_t th;
    int started = !eof && pthread_create(&th, NULL, reader_main, &r2) == 0;
    size_t used = 0;
    rc = chunk_window(s, win, have, eof, off, nt, &used);
    if (started) pthread_join(th, NULL);
    else if (!eof && !rc) reader_main(&r2);
    if (rc || eof) break;
    if (r2.err) {
      rc = bk_seterr(BK_EIO, "read: %s", strerror(r2.err));
      break;
    }
    size_t tail = have - used;
    if (tail > BK_CDC_MAX) {
      rc = bk_seterr(BK_EINVAL, "unfinished chunk longer than the maximum");
      break;
    }
    memcpy(bufs[nxt] + BK_CDC_MAX - tail, win + used, tail);
    win = bufs[nxt] + BK_CDC_MAX - tail;
    have = tail + r2.got;
    eof = r2.eof;
    *total += r2.got;
    off += used;
    cur = nxt;
  }
  free(bufs[0]);
  free(bufs[1]);
  return rc;
}

static int process_item(session *s, bk_chunker *k, const bk_upload_item *it, sfile *f) {
  s->f = f;
  s->term_open = 0;
  s->chunk_no = 0;
  s->prev_hit = 0;
  int rc = bk_merkle_new(&s->mk);
  if (rc) return rc;
  uint64_t total = 0;
  if (it->local_path) {
    int fd = open(it->local_path, O_RDONLY);
    if (fd < 0) {
      rc = bk_seterr(BK_EIO, "cannot open %s: %s", it->local_path, strerror(errno));
    } else {
      posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
      struct stat st;
      int big = fstat(fd, &st) == 0 && st.st_size >= (off_t)(32u << 20) && !getenv("BK_SERIAL_CHUNKING");
      uint8_t *buf = big ? NULL : malloc(READ_BLOCK);
      if (big) rc = feed_parallel(s, fd, NULL, 0, &total);
      else if (!buf) rc = bk_seterr(BK_ENOMEM, "read buffer");
      while (!rc && !big) {
        ssize_t r = read(fd, buf, READ_BLOCK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = bk_seterr(BK_EIO, "read %s: %s", it->local_path, strerror(errno));
        if (r <= 0) break;
        total += (uint64_t)r;
        rc = bk_chunker_feed(k, buf, (size_t)r);
      }
      free(buf);
      close(fd);
    }
  } else if (it->len >= (32u << 20) && !getenv("BK_SERIAL_CHUNKING")) {
    rc = feed_parallel(s, -1, it->data, it->len, &total);
  } else if (it->len) {
    rc = bk_chunker_feed(k, it->data, it->len);
    total = it->len;
  }
  if (!rc) rc = bk_chunker_finish(k);
  if (!rc) rc = close_term(s);
  if (!rc) {
    bk_hash root;
    size_t n = bk_merkle_count(s->mk);
    rc = bk_merkle_finish(s->mk, &root);
    if (!rc) bk_file_hash_from_root(&root, n > 0, NULL, &f->hash);
  }
  bk_merkle_free(s->mk);
  s->mk = NULL;
  if (!rc) {
    f->size = total;
    s->st->files++;
    s->st->bytes += total;
    pthread_mutex_lock(&s->c->mu);
    s->c->prog.files_done++;
    bk_client_progress(s->c);
    pthread_mutex_unlock(&s->c->mu);
  } else if (s->err) {
    bk_seterr(s->err, "%s", s->errmsg);
    rc = s->err;
  }
  return rc;
}

/* ---------------------------------------------------------------- shards */

/* A shard was refused because it references a xorb the server found
 * damaged; its message names it after "damaged xorb " (docs/cas.md). */
static void note_damaged(session *s, const char *msg) {
  const char *p = msg ? strstr(msg, "damaged xorb ") : NULL;
  if (!p || !s->ban || s->ban->n >= MAX_BANNED) return;
  p += strlen("damaged xorb ");
  char hex[BK_HASH_HEX_LEN + 1];
  if (strlen(p) < BK_HASH_HEX_LEN) return;
  memcpy(hex, p, BK_HASH_HEX_LEN);
  hex[BK_HASH_HEX_LEN] = 0;
  bk_hash h;
  if (bk_hash_parse(hex, &h) || is_banned(s->ban, &h)) return;
  s->ban->h[s->ban->n++] = h;
}

static int post_shard(session *s, const bk_shard *sh) {
  bk_buf out;
  bk_buf_init(&out, BK_SHARD_MAX_BYTES);
  int rc = bk_shard_serialize(sh, 0, &out);
  if (!rc) {
    bk_http_resp r;
    rc = cas_request(s, "POST", "/v1/shards", out.p, out.len, 1 << 20, &r);
    if (!rc) {
      if (r.status < 200 || r.status >= 300) {
        rc = bk_hub_error_from_response(&r, "shard upload");
        if (r.status == 400 || r.status == 404 || r.status == 422) s->shard_rejected = 1;
        if (r.status == 400 && r.error_code && !strcmp(r.error_code, "XorbDamaged"))
          note_damaged(s, r.error_message);
      }
      bk_http_resp_free(&r);
    }
    if (!rc) {
      if (sh->nxorbs > 0) {
        bk_hash h;
        bk_keyed_hash(BK_DATA_KEY, out.p, out.len, &h);
        char hex[65];
        bk_hash_to_hex(&h, hex);
        char name[80];
        snprintf(name, sizeof name, "up-%.48s", hex);
        cache_write(s, name, out.p, out.len);
      }
    }
  }
  bk_buf_free(&out);
  return rc;
}

static int send_shards(session *s, sfile *files, size_t nfiles) {
  bk_shard sh;
  memset(&sh, 0, sizeof sh);
  bk_shard_xorb *xbs = calloc(s->nx ? s->nx : 1, sizeof *xbs);
  bk_shard_file *fbs = calloc(nfiles ? nfiles : 1, sizeof *fbs);
  bk_shard_term **tarr = calloc(nfiles ? nfiles : 1, sizeof *tarr);
  int rc = (!xbs || !fbs || !tarr) ? bk_seterr(BK_ENOMEM, "shard") : 0;
  size_t nxb = 0;
  for (uint32_t i = 0; !rc && i < s->nx; i++) {
    newxorb *nx = s->xt[i].nx;
    if (!nx || !nx->nchunks) continue;
    bk_shard_xorb *xb = &xbs[nxb++];
    xb->xorb_hash = nx->hash;
    xb->nchunks = nx->nchunks;
    xb->bytes_in_xorb = nx->bytes_in;
    xb->bytes_on_disk = nx->bytes_on_disk;
    xb->chunks = nx->chunks;
  }
  /* pack: xorb blocks first, then files, splitting near SHARD_SPLIT_BYTES */
  size_t xi = 0, fi = 0;
  while (!rc && (xi < nxb || fi < nfiles)) {
    uint64_t size = BK_SHARD_HEADER_LEN + 96;
    sh.xorbs = &xbs[xi];
    sh.nxorbs = 0;
    while (xi < nxb && (sh.nxorbs == 0 || size + 48ull * (1 + xbs[xi].nchunks) < SHARD_SPLIT_BYTES)) {
      size += 48ull * (1 + xbs[xi].nchunks);
      sh.nxorbs++;
      xi++;
    }
    sh.files = &fbs[fi];
    sh.nfiles = 0;
    while (fi < nfiles) {
      uint64_t fsz = 48ull * (1 + 2ull * files[fi].nterms);
      if (sh.nfiles + sh.nxorbs > 0 && size + fsz >= SHARD_SPLIT_BYTES) break;
      bk_shard_file *fb = &fbs[fi];
      fb->file_hash = files[fi].hash;
      fb->nterms = files[fi].nterms;
      fb->flags = BK_SHARD_FILE_VERIFY;
      tarr[fi] = calloc(fb->nterms ? fb->nterms : 1, sizeof(bk_shard_term));
      if (!tarr[fi]) {
        rc = bk_seterr(BK_ENOMEM, "shard");
        break;
      }
      for (uint32_t t = 0; t < fb->nterms; t++) {
        const term *src = &files[fi].terms[t];
        bk_shard_term *d = &tarr[fi][t];
        d->xorb_hash = s->xt[src->x].hash;
        d->unpacked_bytes = src->unpacked;
        d->chunk_start = src->start;
        d->chunk_end = src->end;
        d->range_hash = src->range_hash;
      }
      fb->terms = tarr[fi];
      size += fsz;
      sh.nfiles++;
      fi++;
    }
    if (!rc && (sh.nfiles || sh.nxorbs)) rc = post_shard(s, &sh);
  }
  for (size_t i = 0; i < nfiles && tarr; i++) free(tarr[i]);
  free(tarr);
  free(fbs);
  free(xbs);
  return rc;
}

/* ---------------------------------------------------------------- driver */

static void session_free(session *s) {
  for (uint32_t i = 0; i < s->nx; i++) {
    if (!s->xt[i].nx) continue;
    bk_xorb_builder_free(s->xt[i].nx->b);
    free(s->xt[i].nx->chunks);
    free(s->xt[i].nx);
  }
  free(s->xt);
  free(s->xorbs.t);
  free(s->chunks.t);
  for (size_t k = 0; k < s->nkeyed; k++) free(s->keyed[k].map.t);
  free(s->keyed);
  bk_xorb_builder_free(s->cur);
  for (int i = 0; i < s->npool; i++) bk_xorb_builder_free(s->pool[i]);
  free(s->queue);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv_job);
  pthread_cond_destroy(&s->cv_done);
}

static int run_session(bk_client *c, const char *id, const bk_upload_item *items, size_t n,
                       char (*hashes)[65], uint64_t *sizes, bk_transfer_stats *st,
                       int use_cache, int *cache_hits, banned *ban) {
  session s;
  memset(&s, 0, sizeof s);
  s.c = c;
  s.ban = ban;
  s.bucket = id;
  s.st = st;
  s.use_cache = use_cache;
  s.since_query = DEDUP_SPACING;
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv_job, NULL);
  pthread_cond_init(&s.cv_done, NULL);
  cache_dir_for(c, s.cache_dir, sizeof s.cache_dir);
  if (use_cache) load_cache(&s);
  s.nthreads = (int)(c->parallel > 4 ? 4 : c->parallel);
  if (s.nthreads < 1) s.nthreads = 1;
  s.qcap = (size_t)s.nthreads + 2;
  s.queue = calloc(s.qcap, sizeof *s.queue);
  sfile *files = calloc(n ? n : 1, sizeof *files);
  bk_chunker *k = NULL;
  int rc = (!s.queue || !files) ? bk_seterr(BK_ENOMEM, "upload session") : 0;
  /* make sure we may write before chunking anything */
  if (!rc) {
    char *t = NULL, *u = NULL;
    rc = bk_xet_token(c, id, 1, &t, &u);
    free(t);
    free(u);
  }
  if (!rc) rc = bk_chunker_new(on_chunk, &s, &k);
  int started = 0;
  for (int i = 0; !rc && i < s.nthreads; i++) {
    if (pthread_create(&s.th_ids[i], NULL, worker, &s)) rc = bk_seterr(BK_ENOMEM, "thread");
    else started++;
  }
  for (size_t i = 0; !rc && i < n; i++) rc = process_item(&s, k, &items[i], &files[i]);
  if (!rc) rc = flush_xorb(&s);
  pthread_mutex_lock(&s.mu);
  s.stop = 1;
  pthread_cond_broadcast(&s.cv_job);
  pthread_mutex_unlock(&s.mu);
  for (int i = 0; i < started; i++) pthread_join(s.th_ids[i], NULL);
  if (!rc && s.err) rc = bk_seterr(s.err, "%s", s.errmsg);
  if (!rc) rc = send_shards(&s, files, n);
  for (size_t i = 0; !rc && i < n; i++) {
    bk_hash_to_hex(&files[i].hash, hashes[i]);
    if (sizes) sizes[i] = files[i].size;
  }
  *cache_hits = s.shard_rejected ? s.cache_hits : 0;
  bk_chunker_free(k);
  for (size_t i = 0; i < n; i++) free(files[i].terms);
  free(files);
  session_free(&s);
  return rc;
}

static int xet_upload(bk_client *c, const char *bucket_id, const bk_upload_item *items,
                      size_t n, char (*hashes)[65], uint64_t *sizes, bk_transfer_stats *stats) {
  bk_transfer_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  double t0 = bk_mono_ms();
  pthread_mutex_lock(&c->mu);
  memset(&c->prog, 0, sizeof c->prog);
  c->prog.phase = 1;
  c->prog.files_total = n;
  for (size_t i = 0; i < n; i++) {
    if (items[i].local_path) {
      struct stat st;
      if (stat(items[i].local_path, &st) == 0) c->prog.bytes_total += (uint64_t)st.st_size;
    } else {
      c->prog.bytes_total += items[i].len;
    }
  }
  pthread_mutex_unlock(&c->mu);
  int hits = 0;
  int use_cache = !c->no_shard_cache;
  banned ban;
  memset(&ban, 0, sizeof ban);
  int rc = run_session(c, bucket_id, items, n, hashes, sizes, stats, use_cache, &hits, &ban);
  if (rc && use_cache && hits > 0) {
    /* the server no longer has something our cache promised: forget the
     * cache and redo the upload without it */
    char dir[4096];
    cache_dir_for(c, dir, sizeof dir);
    wipe_cache(dir);
    memset(stats, 0, sizeof *stats);
    use_cache = 0;
    rc = run_session(c, bucket_id, items, n, hashes, sizes, stats, 0, &hits, &ban);
  }
  /* the server refused a shard naming xorbs it found damaged: redo the
   * upload without deduplicating against them (their chunks are uploaded
   * again; if they land in the same xorb, that POST repairs it). Each round
   * bans at least one more xorb, so this ends. */
  for (size_t seen = 0; rc && ban.n > seen && ban.n < MAX_BANNED;) {
    seen = ban.n;
    bk_client_log(c, 0, "upload: the server reports %zu damaged xorb(s); uploading their chunks again",
           ban.n);
    memset(stats, 0, sizeof *stats);
    rc = run_session(c, bucket_id, items, n, hashes, sizes, stats, use_cache, &hits, &ban);
  }
  stats->seconds = (bk_mono_ms() - t0) / 1e3;
  return rc;
}

int bk_xet_upload(bk_client *c, const char *bucket_id, const bk_upload_item *items, size_t n,
                  char (*hashes)[65], bk_transfer_stats *stats) {
  return xet_upload(c, bucket_id, items, n, hashes, NULL, stats);
}

int bk_upload(bk_client *c, const char *bucket_id, const bk_upload_item *items, size_t n,
              bk_transfer_stats *stats) {
  char *id = NULL, *path = NULL;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  (void)path;
  for (size_t i = 0; i < n; i++)
    if (!bk_safe_relpath(items[i].remote_path)) {
      free(id);
      return bk_seterr(BK_EINVAL, "invalid remote path: %s", items[i].remote_path ? items[i].remote_path : "(null)");
    }
  char (*hashes)[65] = calloc(n ? n : 1, sizeof *hashes);
  if (!hashes) {
    free(id);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  /* size and mtime are taken BEFORE reading: a file modified during the
   * upload is then registered with its older mtime and re-sent next sync */
  int64_t *mts = calloc(n ? n : 1, sizeof *mts);
  uint64_t *sizes = calloc(n ? n : 1, sizeof *sizes);
  int64_t now = bk_now_ms();
  if (!mts || !sizes) rc = bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < n; i++) {
    mts[i] = items[i].mtime_ms;
    sizes[i] = items[i].len;
    if (items[i].local_path) {
      struct stat st;
      if (stat(items[i].local_path, &st))
        rc = bk_seterr(BK_EIO, "cannot stat %s: %s", items[i].local_path, strerror(errno));
      else {
        sizes[i] = (uint64_t)st.st_size;
        if (mts[i] < 0) mts[i] = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
      }
    }
    if (mts[i] < 0) mts[i] = now;
  }
  uint64_t *read_sizes = calloc(n ? n : 1, sizeof *read_sizes);
  if (!rc && !read_sizes) rc = bk_seterr(BK_ENOMEM, "out of memory");
  if (!rc) rc = xet_upload(c, id, items, n, hashes, read_sizes, stats);
  bk_buf b;
  bk_buf_init(&b, (size_t)1 << 34);
  for (size_t i = 0; !rc && i < n; i++) {
    int64_t mt = mts[i];
    uint64_t size = read_sizes[i]; /* what was hashed (sizes[i] if unchanged) */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "addFile");
    cJSON_AddStringToObject(o, "path", items[i].remote_path);
    cJSON_AddStringToObject(o, "xetHash", hashes[i]);
    cJSON_AddNumberToObject(o, "size", (double)size);
    cJSON_AddNumberToObject(o, "mtime", (double)mt);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) rc = bk_seterr(BK_ENOMEM, "out of memory");
    else rc = bk_buf_printf(&b, "%s\n", s);
    free(s);
  }
  if (!rc && n) {
    rc = bk_buf_append_u8(&b, 0);
    if (!rc) rc = bk_bucket_batch(c, id, (const char *)b.p, NULL);
  }
  bk_buf_free(&b);
  free(mts);
  free(sizes);
  free(read_sizes);
  free(hashes);
  free(id);
  return rc;
}
