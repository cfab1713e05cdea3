/* buckets client — Xet download pipeline (xet.md §5 "Download algorithm").
 *
 * reconstruction (v2, falling back to v1 on 404/501) -> fetch entries
 * (single byte ranges, exactly as given) fetched in parallel threads ->
 * chunk records decoded (bk_xorb_decode_chunk) -> every chunk hashed; the
 * bytes are written at their file offset (pwrite into a temp file in the
 * destination directory, or memcpy into a caller buffer for range reads).
 * For whole files the file hash is recomputed from the chunk hashes and
 * must equal the requested hash; then fsync, mtime, rename, fsync(dir).
 * Ownership: everything allocated here is freed before returning.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"
#include "buckets/sync.h"
#include "buckets/xorb.h"
#include "client/internal.h"

/* Where decoded bytes go: a file (fd) or a buffer, with a length limit and
 * the per-chunk leaves used to verify the file hash (NULL for ranges). */
typedef struct target {
  int fd;
  uint8_t *buf;
  uint64_t limit;
  bk_merkle_leaf *leaves;
  uint64_t nleaves;
} target;

typedef struct use {
  target *t;
  uint32_t term;
  uint32_t start, end;   /* chunk range of the term */
  int64_t vo;            /* virtual output offset of the term's first byte */
  uint64_t chunk_base;   /* index of the term's first chunk in leaves[] */
  uint32_t unpacked;
} use;

typedef struct fetch {
  char *url;
  uint32_t cstart, cend; /* chunk range covered */
  uint64_t bstart, bend; /* inclusive byte range */
  use *uses;
  size_t nuses, ucap;
} fetch;

/* Appends an entry to f->uses (growing it) and returns it, NULL when out of
 * memory (f unchanged). The caller fills in every field. */
static use *fetch_add_use(fetch *f) {
  if (f->nuses == f->ucap) {
    size_t nc = f->ucap ? f->ucap * 2 : 4;
    use *nu = realloc(f->uses, nc * sizeof *nu);
    if (!nu) return NULL;
    f->uses = nu;
    f->ucap = nc;
  }
  return &f->uses[f->nuses++];
}

typedef struct dl {
  bk_client *c;
  fetch *f;
  size_t nf;
  size_t next;
  target t; /* single-file mode */
  pthread_mutex_t mu;
  int err;
  char errmsg[512];
  bk_transfer_stats *st;
  const char *bucket;
} dl;

static void dl_fail(dl *d, int rc) {
  pthread_mutex_lock(&d->mu);
  if (!d->err) {
    d->err = rc;
    snprintf(d->errmsg, sizeof d->errmsg, "%s", bk_errmsg());
  }
  pthread_mutex_unlock(&d->mu);
}

static int out_write(target *d, int64_t vo, const uint8_t *p, size_t n) {
  int64_t end = vo + (int64_t)n;
  if (end <= 0 || vo >= (int64_t)d->limit) return 0;
  if (vo < 0) {
    p += -vo;
    n -= (size_t)(-vo);
    vo = 0;
  }
  if ((uint64_t)vo + n > d->limit) n = (size_t)(d->limit - (uint64_t)vo);
  if (d->buf) {
    memcpy(d->buf + vo, p, n);
    return 0;
  }
  while (n > 0) {
    ssize_t w = pwrite(d->fd, p, n, (off_t)vo);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return bk_seterr(BK_EIO, "write: %s", strerror(errno));
    p += w;
    n -= (size_t)w;
    vo += w;
  }
  return 0;
}

#define STAGE_BYTES (8u << 20)

typedef struct wbuf {
  bk_buf body;   /* fetched bytes, reused across fetches */
  uint8_t *stage; /* decoded bytes waiting to be written (STAGE_BYTES) */
} wbuf;

static int sink_body(void *ctx, const void *data, size_t len) {
  return bk_buf_append((bk_buf *)ctx, data, len);
}

#define MAX_IOV 512

/* Writes segments that are contiguous in the output starting at vo. */
static int out_writev(target *d, int64_t vo, struct iovec *iov, int cnt, size_t total) {
  if (d->buf || vo < 0 || (uint64_t)vo + total > d->limit) {
    for (int i = 0; i < cnt; i++) {
      int rc = out_write(d, vo, iov[i].iov_base, iov[i].iov_len);
      if (rc) return rc;
      vo += (int64_t)iov[i].iov_len;
    }
    return 0;
  }
  while (cnt > 0) {
    ssize_t w = pwritev(d->fd, iov, cnt, (off_t)vo);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return bk_seterr(BK_EIO, "write: %s", strerror(errno));
    vo += w;
    while (cnt > 0 && (size_t)w >= iov[0].iov_len) {
      w -= (ssize_t)iov[0].iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0 && w > 0) {
      iov[0].iov_base = (uint8_t *)iov[0].iov_base + w;
      iov[0].iov_len -= (size_t)w;
    }
  }
  return 0;
}

/* Decodes chunks [u->start, u->end) of the fetched records, hashes each one
 * and writes them at the use's offset. Uncompressed records are written
 * straight from the fetched body (no copy); compressed ones are decoded into
 * the stage buffer. Flushes every MAX_IOV segments / STAGE_BYTES. */
static int emit_use(const fetch *f, const use *u, const uint8_t *body, size_t blen,
                    wbuf *w) {
  size_t pos = 0;
  uint32_t k = f->cstart;
  /* skip records before the use */
  while (k < u->start) {
    if (blen - pos < BK_XORB_RECORD_HEADER) return bk_seterr(BK_ETRUNCATED, "xorb range truncated");
    size_t rl = BK_XORB_RECORD_HEADER + bk_load_u24le(body + pos + 1);
    if (rl > blen - pos) return bk_seterr(BK_ETRUNCATED, "xorb range truncated");
    pos += rl;
    k++;
  }
  struct iovec iov[MAX_IOV];
  int cnt = 0;
  size_t staged = 0, pending = 0;
  int64_t vo = u->vo;
  uint64_t produced = 0;
  int rc = 0;
  for (; k < u->end && !rc; k++) {
    if (cnt == MAX_IOV || staged + BK_XORB_CHUNK_MAX > STAGE_BYTES || pending >= STAGE_BYTES) {
      rc = out_writev(u->t, vo, iov, cnt, pending);
      if (rc) break;
      vo += (int64_t)pending;
      cnt = 0;
      staged = pending = 0;
    }
    if (blen - pos < BK_XORB_RECORD_HEADER) {
      rc = bk_seterr(BK_ETRUNCATED, "xorb range ends before chunk %u", k);
      break;
    }
    const uint8_t *rec = body + pos;
    uint32_t clen = bk_load_u24le(rec + 1), ulen = bk_load_u24le(rec + 5);
    const uint8_t *out;
    size_t outlen;
    if (rec[0] == 0 && rec[4] == BK_COMP_NONE && clen == ulen && ulen > 0 &&
        ulen <= BK_XORB_CHUNK_MAX && clen <= blen - pos - BK_XORB_RECORD_HEADER) {
      out = rec + BK_XORB_RECORD_HEADER;
      outlen = ulen;
      pos += BK_XORB_RECORD_HEADER + clen;
    } else {
      size_t consumed = 0;
      rc = bk_xorb_decode_chunk(rec, blen - pos, w->stage + staged, BK_XORB_CHUNK_MAX, &consumed,
                                &outlen);
      if (rc) break;
      out = w->stage + staged;
      staged += outlen;
      pos += consumed;
    }
    if (u->t->leaves) {
      uint64_t li = u->chunk_base + (k - u->start);
      if (li < u->t->nleaves) {
        bk_chunk_hash(out, outlen, &u->t->leaves[li].hash);
        u->t->leaves[li].len = outlen;
      }
    }
    iov[cnt].iov_base = (void *)out;
    iov[cnt].iov_len = outlen;
    cnt++;
    pending += outlen;
    produced += outlen;
  }
  if (!rc && cnt) rc = out_writev(u->t, vo, iov, cnt, pending);
  if (rc) return rc;
  if (produced != u->unpacked)
    return bk_seterr(BK_ESIZE, "term %u decoded to %llu bytes, expected %u", u->term,
                     (unsigned long long)produced, u->unpacked);
  return 0;
}

static int run_fetch(dl *d, fetch *f, wbuf *w) {
  char range[80];
  snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)f->bstart,
           (unsigned long long)f->bend);
  uint64_t want = f->bend - f->bstart + 1;
  if (want > BK_XORB_MAX_BYTES + (1u << 20)) return bk_seterr(BK_ELIMIT, "fetch range too large");
  bk_buf_reset(&w->body);
  if (bk_buf_reserve(&w->body, (size_t)want)) return bk_seterr(BK_ENOMEM, "out of memory");
  bk_http_resp r;
  bk_http_req rq = {.method = "GET", .url = f->url, .range = range,
                    .max_resp = (size_t)want + 4096, .sink = sink_body, .sink_ctx = &w->body};
  int rc = bk_http_do(d->c->http, &rq, &r);
  if (!rc && (r.status == 401 || r.status == 403)) {
    /* URL not pre-signed for us: try with the CAS token */
    char *tok = NULL, *cas = NULL;
    bk_http_resp_free(&r);
    bk_buf_reset(&w->body);
    rc = bk_xet_token(d->c, d->bucket, 0, &tok, &cas);
    if (!rc) {
      rq.bearer = tok;
      rc = bk_http_do(d->c->http, &rq, &r);
    }
    free(tok);
    free(cas);
  }
  if (rc) {
    bk_http_resp_free(&r);
    return rc;
  }
  if (r.status != 206 && r.status != 200) {
    rc = bk_http_error(&r, "xorb range fetch");
    bk_http_resp_free(&r);
    return rc;
  }
  bk_http_resp_free(&r);
  const uint8_t *body = w->body.p;
  size_t blen = w->body.len;
  if (r.status == 200 && blen > want && f->bstart < blen) {
    body += f->bstart; /* server ignored Range: slice ourselves */
    blen = blen - f->bstart < want ? blen - f->bstart : (size_t)want;
  }
  pthread_mutex_lock(&d->mu);
  d->st->bytes_received += w->body.len;
  pthread_mutex_unlock(&d->mu);
  pthread_mutex_lock(&d->c->mu);
  d->c->prog.bytes_received += w->body.len;
  d->c->prog.bytes_done += w->body.len;
  pthread_mutex_unlock(&d->c->mu);
  for (size_t u = 0; u < f->nuses && !rc; u++) rc = emit_use(f, &f->uses[u], body, blen, w);
  return rc;
}

static void *dl_worker(void *arg) {
  dl *d = arg;
  wbuf w;
  bk_buf_init(&w.body, BK_XORB_MAX_BYTES + (2u << 20));
  w.stage = malloc(STAGE_BYTES);
  if (!w.stage) {
    dl_fail(d, bk_seterr(BK_ENOMEM, "out of memory"));
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock(&d->mu);
    size_t i = d->next++;
    int stop = d->err != 0;
    pthread_mutex_unlock(&d->mu);
    if (stop || i >= d->nf) break;
    int rc = run_fetch(d, &d->f[i], &w);
    if (rc) dl_fail(d, rc);
    pthread_mutex_lock(&d->c->mu);
    bk_client_progress(d->c);
    pthread_mutex_unlock(&d->c->mu);
  }
  bk_buf_free(&w.body);
  free(w.stage);
  return NULL;
}

/* Runs d's fetches on up to min(parallel, 4, fetches) threads, this one
 * included. Returns 0 or the first worker error (message kept). */
static int dl_run(const bk_client *c, dl *d) {
  unsigned nt = c->parallel > 4 ? 4 : c->parallel;
  if (nt > d->nf) nt = (unsigned)d->nf;
  if (nt < 1) nt = 1;
  pthread_t th[32];
  unsigned started = 0;
  for (unsigned i = 1; i < nt; i++)
    if (pthread_create(&th[i], NULL, dl_worker, d) == 0) started = i;
    else break;
  dl_worker(d);
  for (unsigned i = 1; i <= started; i++) pthread_join(th[i], NULL);
  return d->err ? bk_seterr(d->err, "%s", d->errmsg) : 0;
}

static int add_fetch(fetch **arr, size_t *n, size_t *cap, const char *url, uint32_t cs,
                     uint32_t ce, uint64_t bs, uint64_t be) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    fetch *na = realloc(*arr, nc * sizeof *na);
    if (!na) return bk_seterr(BK_ENOMEM, "out of memory");
    *arr = na;
    *cap = nc;
  }
  fetch *f = &(*arr)[*n];
  memset(f, 0, sizeof *f);
  f->url = strdup(url);
  if (!f->url) return bk_seterr(BK_ENOMEM, "out of memory");
  f->cstart = cs;
  f->cend = ce;
  f->bstart = bs;
  f->bend = be;
  (*n)++;
  return 0;
}

static int num(const cJSON *o, const char *k, uint64_t *v) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(x) || x->valuedouble < 0) return -1;
  *v = (uint64_t)x->valuedouble;
  return 0;
}

static int push_x(const char ***fx, size_t *xcap, size_t idx, const char *name) {
  if (idx >= *xcap) {
    size_t nc = *xcap ? *xcap * 2 : 16;
    while (nc <= idx) nc *= 2;
    const char **na = realloc(*fx, nc * sizeof *na);
    if (!na) return bk_seterr(BK_ENOMEM, "out of memory");
    *fx = na;
    *xcap = nc;
  }
  (*fx)[idx] = name;
  return 0;
}

/* Fetch entries from v2 "xorbs" or v1 "fetch_info"; xorb hex kept in
 * a parallel array (owned by the cJSON tree). */
static int collect_fetches(const cJSON *rec, fetch **f, const char ***fx, size_t *nf) {
  size_t cap = 0, xcap = 0;
  *nf = 0;
  const cJSON *xs = cJSON_GetObjectItemCaseSensitive(rec, "xorbs");
  const cJSON *fi = cJSON_GetObjectItemCaseSensitive(rec, "fetch_info");
  const cJSON *x;
  int rc = 0;
  if (cJSON_IsObject(xs)) {
    cJSON_ArrayForEach(x, xs) {
      const cJSON *e;
      cJSON_ArrayForEach(e, x) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(e, "url");
        const cJSON *ranges = cJSON_GetObjectItemCaseSensitive(e, "ranges");
        if (!cJSON_IsString(url) || !cJSON_IsArray(ranges))
          return bk_seterr(BK_EFORMAT, "reconstruction: bad xorbs entry");
        const cJSON *r;
        cJSON_ArrayForEach(r, ranges) {
          uint64_t cs, ce, bs, be;
          const cJSON *ch = cJSON_GetObjectItemCaseSensitive(r, "chunks");
          const cJSON *by = cJSON_GetObjectItemCaseSensitive(r, "bytes");
          if (num(ch, "start", &cs) || num(ch, "end", &ce) || num(by, "start", &bs) ||
              num(by, "end", &be) || ce <= cs || be < bs || ce > BK_XORB_MAX_CHUNKS)
            return bk_seterr(BK_EFORMAT, "reconstruction: bad range");
          rc = add_fetch(f, nf, &cap, url->valuestring, (uint32_t)cs, (uint32_t)ce, bs, be);
          if (rc) return rc;
          if ((rc = push_x(fx, &xcap, *nf - 1, x->string))) return rc;
        }
      }
    }
    return 0;
  }
  if (!cJSON_IsObject(fi)) return bk_seterr(BK_EFORMAT, "reconstruction: no fetch info");
  cJSON_ArrayForEach(x, fi) {
    const cJSON *e;
    cJSON_ArrayForEach(e, x) {
      uint64_t cs, ce, bs, be;
      const cJSON *url = cJSON_GetObjectItemCaseSensitive(e, "url");
      const cJSON *rg = cJSON_GetObjectItemCaseSensitive(e, "range");
      const cJSON *ur = cJSON_GetObjectItemCaseSensitive(e, "url_range");
      if (!cJSON_IsString(url) || num(rg, "start", &cs) || num(rg, "end", &ce) ||
          num(ur, "start", &bs) || num(ur, "end", &be) || ce <= cs || be < bs ||
          ce > BK_XORB_MAX_CHUNKS)
        return bk_seterr(BK_EFORMAT, "reconstruction: bad fetch_info entry");
      rc = add_fetch(f, nf, &cap, url->valuestring, (uint32_t)cs, (uint32_t)ce, bs, be);
      if (rc) return rc;
      if ((rc = push_x(fx, &xcap, *nf - 1, x->string))) return rc;
    }
  }
  return 0;
}

static int get_reconstruction(bk_client *c, const char *bucket, const char *hash,
                              const char *range, cJSON **out) {
  for (int ver = 2; ver >= 1; ver--) {
    char *tok = NULL, *cas = NULL;
    int rc = bk_xet_token(c, bucket, 0, &tok, &cas);
    if (rc) return rc;
    size_t n = strlen(cas) + 128;
    char *url = malloc(n);
    if (!url) {
      free(tok);
      free(cas);
      return bk_seterr(BK_ENOMEM, "out of memory");
    }
    snprintf(url, n, "%s/v%d/reconstructions/%s", cas, ver, hash);
    bk_http_resp r;
    bk_http_req rq = {.method = "GET", .url = url, .bearer = tok, .range = range,
                      .max_resp = 256u << 20};
    rc = bk_http_do(c->http, &rq, &r);
    free(url);
    free(tok);
    free(cas);
    if (rc) {
      bk_http_resp_free(&r);
      return rc;
    }
    if (ver == 2 && (r.status == 404 || r.status == 501) && !r.error_code) {
      bk_http_resp_free(&r);
      continue;
    }
    if (r.status == 401) bk_xet_token_invalidate(c, bucket, 0);
    if (r.status < 200 || r.status >= 300) {
      rc = bk_http_error(&r, "reconstruction");
      if (ver == 2 && r.status == 404) {
        bk_http_resp_free(&r);
        continue;
      }
      bk_http_resp_free(&r);
      return rc;
    }
    *out = cJSON_ParseWithLength((const char *)r.body.p, r.body.len);
    bk_http_resp_free(&r);
    if (!*out) return bk_seterr(BK_EFORMAT, "reconstruction: invalid JSON");
    return 0;
  }
  return bk_seterr(BK_ENOTFOUND, "file %s not found in CAS", hash);
}

/* Core: fetch [range] of file `hash` into fd or buf. expect_size: for full
 * downloads, the file size (verification on). */
static int fetch_file(bk_client *c, const char *bucket, const char *hash, int full,
                      uint64_t offset, uint64_t len, int fd, uint8_t *buf, uint64_t *got,
                      bk_transfer_stats *st) {
  char range[80];
  if (!full) {
    if (len == 0) {
      *got = 0;
      return 0;
    }
    snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + len - 1));
  }
  cJSON *rec = NULL;
  int rc = get_reconstruction(c, bucket, hash, full ? NULL : range, &rec);
  if (rc) return rc;
  dl d;
  memset(&d, 0, sizeof d);
  d.c = c;
  d.t.fd = fd;
  d.t.buf = buf;
  d.st = st;
  d.bucket = bucket;
  pthread_mutex_init(&d.mu, NULL);
  const char **fx = NULL;
  const cJSON *terms = cJSON_GetObjectItemCaseSensitive(rec, "terms");
  uint64_t skip = 0;
  num(rec, "offset_into_first_range", &skip);
  if (!cJSON_IsArray(terms)) rc = bk_seterr(BK_EFORMAT, "reconstruction: no terms");
  if (!rc) rc = collect_fetches(rec, &d.f, &fx, &d.nf);
  /* assign every term to a fetch entry that contains it */
  uint64_t total = 0, nchunks = 0;
  uint32_t ti = 0;
  const cJSON *t;
  if (!rc) {
    cJSON_ArrayForEach(t, terms) {
      uint64_t ul, cs, ce;
      const cJSON *h = cJSON_GetObjectItemCaseSensitive(t, "hash");
      const cJSON *rg = cJSON_GetObjectItemCaseSensitive(t, "range");
      if (!cJSON_IsString(h) || num(t, "unpacked_length", &ul) || num(rg, "start", &cs) ||
          num(rg, "end", &ce) || ce <= cs) {
        rc = bk_seterr(BK_EFORMAT, "reconstruction: bad term");
        break;
      }
      size_t k;
      for (k = 0; k < d.nf; k++)
        if (strcmp(fx[k], h->valuestring) == 0 && d.f[k].cstart <= cs && ce <= d.f[k].cend) break;
      if (k == d.nf) {
        rc = bk_seterr(BK_EFORMAT, "reconstruction: no fetch entry for term %u", ti);
        break;
      }
      use *u = fetch_add_use(&d.f[k]);
      if (!u) {
        rc = bk_seterr(BK_ENOMEM, "out of memory");
        break;
      }
      u->t = &d.t;
      u->term = ti++;
      u->start = (uint32_t)cs;
      u->end = (uint32_t)ce;
      u->vo = (int64_t)total - (int64_t)skip;
      u->chunk_base = nchunks;
      u->unpacked = (uint32_t)ul;
      total += ul;
      nchunks += ce - cs;
    }
  }
  if (!rc) {
    d.t.limit = full ? total : (total - skip < len ? total - skip : len);
    if (total < skip) d.t.limit = 0;
    if (full) {
      d.t.nleaves = nchunks;
      d.t.leaves = calloc(nchunks ? nchunks : 1, sizeof *d.t.leaves);
      if (!d.t.leaves) rc = bk_seterr(BK_ENOMEM, "out of memory");
      if (fd >= 0 && !rc && ftruncate(fd, (off_t)total))
        rc = bk_seterr(BK_EIO, "ftruncate: %s", strerror(errno));
    }
  }
  if (!rc) rc = dl_run(c, &d);
  if (!rc && full) {
    bk_hash root, fh, want;
    rc = bk_merkle_root(d.t.leaves, d.t.nleaves, &root);
    if (!rc) {
      bk_file_hash_from_root(&root, d.t.nleaves > 0, NULL, &fh);
      if (bk_hash_parse(hash, &want) || !bk_hash_eq(&fh, &want)) {
        char hex[65];
        bk_hash_to_hex(&fh, hex);
        rc = bk_seterr(BK_EHASH, "downloaded data hashes to %s, expected %s", hex, hash);
      }
    }
  }
  if (got) *got = rc ? 0 : d.t.limit;
  for (size_t i = 0; i < d.nf; i++) {
    free(d.f[i].url);
    free(d.f[i].uses);
  }
  free(d.f);
  free(fx);
  free(d.t.leaves);
  pthread_mutex_destroy(&d.mu);
  cJSON_Delete(rec);
  return rc;
}

int bk_read_range(bk_client *c, const char *bucket_id, const char *xet_hash, uint64_t offset,
                  uint64_t len, void *buf, uint64_t *got) {
  char *id;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  bk_transfer_stats st;
  memset(&st, 0, sizeof st);
  bk_hash h;
  if (bk_hash_parse(xet_hash, &h)) rc = bk_seterr(BK_EINVAL, "bad xet hash");
  else if (bk_hash_is_zero(&h)) *got = 0; /* empty file */
  else rc = fetch_file(c, id, xet_hash, 0, offset, len, -1, buf, got, &st);
  if (rc == BK_EHTTP && strstr(bk_errmsg(), "416")) {
    *got = 0;
    rc = 0;
  }
  free(id);
  return rc;
}

static int mkparents(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf) return 0;
  *slash = 0;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) && errno != EEXIST) return bk_seterr(BK_EIO, "mkdir %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) && errno != EEXIST) return bk_seterr(BK_EIO, "mkdir %s: %s", buf, strerror(errno));
  return 0;
}

int bk_download_hash_ex(bk_client *c, const char *bucket_id, const char *xet_hash,
                        uint64_t size, int64_t mtime_ms, const char *local_path, int durable,
                        char *tmp_out, size_t tmp_n, bk_transfer_stats *stats) {
  bk_transfer_stats local;
  if (!stats) stats = &local;
  char *id;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  bk_hash h;
  if (bk_hash_parse(xet_hash, &h)) {
    free(id);
    return bk_seterr(BK_EINVAL, "bad xet hash: %s", xet_hash);
  }
  rc = mkparents(local_path);
  char tmp[4200], dir[4096];
  snprintf(dir, sizeof dir, "%s", local_path);
  char *dn = dirname(dir);
  const char *base = strrchr(local_path, '/');
  base = base ? base + 1 : local_path;
  snprintf(tmp, sizeof tmp, "%s/.%.200s.bkpart.%d", dn, base, (int)getpid());
  int fd = -1;
  if (!rc) {
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) rc = bk_seterr(BK_EIO, "cannot create %s: %s", tmp, strerror(errno));
  }
  uint64_t got = 0;
  if (!rc && !bk_hash_is_zero(&h)) rc = fetch_file(c, id, xet_hash, 1, 0, 0, fd, NULL, &got, stats);
  if (!rc && bk_hash_is_zero(&h) && size != 0) rc = bk_seterr(BK_EHASH, "empty-file hash for a non-empty file");
  if (!rc) {
    struct stat st;
    if (fstat(fd, &st) == 0 && size != (uint64_t)-1 && (uint64_t)st.st_size != size)
      rc = bk_seterr(BK_ESIZE, "downloaded %lld bytes, expected %llu", (long long)st.st_size,
                     (unsigned long long)size);
  }
  if (!rc && durable && fsync(fd)) rc = bk_seterr(BK_EIO, "fsync: %s", strerror(errno));
  if (!rc && mtime_ms >= 0) {
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = (time_t)(mtime_ms / 1000);
    ts[0].tv_nsec = ts[1].tv_nsec = (long)(mtime_ms % 1000) * 1000000L;
    futimens(fd, ts);
  }
  if (fd >= 0 && close(fd) && !rc) rc = bk_seterr(BK_EIO, "close %s: %s", tmp, strerror(errno));
  if (!rc && !durable) {
    /* the caller makes it durable (syncfs) and renames it */
    if (tmp_out) snprintf(tmp_out, tmp_n, "%s", tmp);
  } else if (!rc && rename(tmp, local_path)) {
    rc = bk_seterr(BK_EIO, "rename to %s: %s", local_path, strerror(errno));
  } else if (!rc) {
    int dfd = open(dn, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  if (!rc) {
    stats->files++;
    stats->bytes += size;
  } else if (fd >= 0) {
    unlink(tmp);
  }
  free(id);
  return rc;
}

int bk_download_hash(bk_client *c, const char *bucket_id, const char *xet_hash, uint64_t size,
                     int64_t mtime_ms, const char *local_path, bk_transfer_stats *stats) {
  return bk_download_hash_ex(c, bucket_id, xet_hash, size, mtime_ms, local_path, 1, NULL, 0,
                             stats);
}

int bk_download(bk_client *c, const char *bucket_id, const char *remote_path,
                const char *local_path, bk_transfer_stats *stats) {
  char *id;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  cJSON *arr = NULL;
  const char *paths[1] = {remote_path};
  rc = bk_paths_info_json(c, id, paths, 1, &arr);
  const cJSON *e = NULL, *x;
  if (!rc) {
    cJSON_ArrayForEach(x, arr) {
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(x, "path");
      if (cJSON_IsString(p) && strcmp(p->valuestring, remote_path) == 0) e = x;
    }
    if (!e) rc = bk_seterr(BK_ENOTFOUND, "%s: no such file in %s", remote_path, id);
  }
  if (!rc) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "xetHash");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "size");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "mtime");
    int64_t mt = -1;
    if (cJSON_IsString(m)) bk_iso_to_ms(m->valuestring, &mt);
    else if (cJSON_IsNumber(m)) mt = (int64_t)m->valuedouble;
    pthread_mutex_lock(&c->mu);
    memset(&c->prog, 0, sizeof c->prog);
    c->prog.phase = 2;
    c->prog.files_total = 1;
    c->prog.bytes_total = cJSON_IsNumber(s) ? (uint64_t)s->valuedouble : 0;
    pthread_mutex_unlock(&c->mu);
    if (!cJSON_IsString(h)) rc = bk_seterr(BK_EFORMAT, "%s: no xetHash", remote_path);
    else
      rc = bk_download_hash(c, id, h->valuestring,
                            cJSON_IsNumber(s) ? (uint64_t)s->valuedouble : (uint64_t)-1, mt,
                            local_path, stats);
  }
  cJSON_Delete(arr);
  free(id);
  return rc;
}

/* ---------------------------------------------------------------- batches */

/* Many small files through one batch reconstruction
 * (GET /v1/reconstructions?file_id=..., xet-core's form): shared fetch
 * ranges are fetched once and fan out to every file that uses them. Each
 * file is verified (size and file hash) and left as a closed temp file for
 * the caller to sync and rename. Any failure cleans up and returns non-zero
 * (the caller then falls back to one file at a time). */
int bk_download_batch(bk_client *c, const char *id, bk_dl_item *items, size_t n,
                      bk_transfer_stats *st) {
  if (n == 0) return 0;
  char *tok = NULL, *cas = NULL;
  int rc = bk_xet_token(c, id, 0, &tok, &cas);
  if (rc) return rc;
  bk_buf url;
  bk_buf_init(&url, 1u << 20);
  rc = bk_buf_printf(&url, "%s/v1/reconstructions", cas);
  size_t nq = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    bk_hash h;
    if (bk_hash_parse(items[i].hash, &h)) rc = bk_seterr(BK_EINVAL, "bad xet hash");
    else if (!bk_hash_is_zero(&h)) {
      int dup = 0;
      for (size_t j = 0; j < i && !dup; j++) dup = strcmp(items[j].hash, items[i].hash) == 0;
      if (!dup) rc = bk_buf_printf(&url, "%cfile_id=%s", nq++ ? '&' : '?', items[i].hash);
    }
  }
  if (!rc) rc = bk_buf_append_u8(&url, 0);
  cJSON *rec = NULL;
  if (!rc && nq) {
    bk_http_resp r;
    bk_http_req rq = {.method = "GET", .url = (const char *)url.p, .bearer = tok,
                      .max_resp = 256u << 20};
    rc = bk_http_do(c->http, &rq, &r);
    if (!rc && (r.status < 200 || r.status >= 300)) rc = bk_http_error(&r, "batch reconstruction");
    if (!rc && !(rec = cJSON_ParseWithLength((const char *)r.body.p, r.body.len)))
      rc = bk_seterr(BK_EFORMAT, "batch reconstruction: invalid JSON");
    bk_http_resp_free(&r);
  }
  bk_buf_free(&url);
  free(tok);
  free(cas);
  dl d;
  memset(&d, 0, sizeof d);
  d.c = c;
  d.st = st;
  d.bucket = id;
  pthread_mutex_init(&d.mu, NULL);
  const char **fx = NULL;
  target *tg = calloc(n, sizeof *tg);
  if (!rc && !tg) rc = bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; tg && i < n; i++) tg[i].fd = -1;
  const cJSON *files = rec ? cJSON_GetObjectItemCaseSensitive(rec, "files") : NULL;
  if (!rc && nq) {
    if (!cJSON_IsObject(files)) rc = bk_seterr(BK_EFORMAT, "batch reconstruction: no files");
    if (!rc) rc = collect_fetches(rec, &d.f, &fx, &d.nf);
  }
  for (size_t i = 0; !rc && i < n; i++) {
    bk_dl_item *it = &items[i];
    if ((rc = mkparents(it->local_path))) break;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", it->local_path);
    const char *base = strrchr(it->local_path, '/');
    base = base ? base + 1 : it->local_path;
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s/.%.200s.bkpart.%d", dirname(dir), base, (int)getpid());
    if (!(it->tmp = strdup(tmp))) {
      rc = bk_seterr(BK_ENOMEM, "out of memory");
      break;
    }
    tg[i].fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (tg[i].fd < 0) {
      rc = bk_seterr(BK_EIO, "cannot create %s: %s", tmp, strerror(errno));
      break;
    }
    const cJSON *terms = files ? cJSON_GetObjectItemCaseSensitive(files, it->hash) : NULL;
    if (!terms) {
      bk_hash h;
      bk_hash_parse(it->hash, &h);
      if (!bk_hash_is_zero(&h)) rc = bk_seterr(BK_EFORMAT, "batch reconstruction lacks %s", it->hash);
      else if (it->size) rc = bk_seterr(BK_EHASH, "empty-file hash for a non-empty file");
      continue;
    }
    uint64_t total = 0, nchunks = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, terms) {
      const cJSON *rg = cJSON_GetObjectItemCaseSensitive(t, "range");
      uint64_t cs, ce;
      if (num(rg, "start", &cs) || num(rg, "end", &ce) || ce <= cs) {
        rc = bk_seterr(BK_EFORMAT, "batch reconstruction: bad term");
        break;
      }
      nchunks += ce - cs;
    }
    if (rc) break;
    tg[i].nleaves = nchunks;
    tg[i].leaves = calloc(nchunks ? nchunks : 1, sizeof *tg[i].leaves);
    if (!tg[i].leaves) {
      rc = bk_seterr(BK_ENOMEM, "out of memory");
      break;
    }
    nchunks = 0;
    uint32_t ti = 0;
    cJSON_ArrayForEach(t, terms) {
      uint64_t ul, cs, ce;
      const cJSON *h = cJSON_GetObjectItemCaseSensitive(t, "hash");
      const cJSON *rg = cJSON_GetObjectItemCaseSensitive(t, "range");
      if (!cJSON_IsString(h) || num(t, "unpacked_length", &ul) || num(rg, "start", &cs) ||
          num(rg, "end", &ce)) {
        rc = bk_seterr(BK_EFORMAT, "batch reconstruction: bad term");
        break;
      }
      size_t k;
      for (k = 0; k < d.nf; k++)
        if (strcmp(fx[k], h->valuestring) == 0 && d.f[k].cstart <= cs && ce <= d.f[k].cend) break;
      if (k == d.nf) {
        rc = bk_seterr(BK_EFORMAT, "batch reconstruction: no fetch entry for a term");
        break;
      }
      use *u = fetch_add_use(&d.f[k]);
      if (!u) {
        rc = bk_seterr(BK_ENOMEM, "out of memory");
        break;
      }
      u->t = &tg[i];
      u->term = ti++;
      u->start = (uint32_t)cs;
      u->end = (uint32_t)ce;
      u->vo = (int64_t)total;
      u->chunk_base = nchunks;
      u->unpacked = (uint32_t)ul;
      total += ul;
      nchunks += ce - cs;
    }
    if (rc) break;
    if (total != it->size) {
      rc = bk_seterr(BK_ESIZE, "%s: reconstruction has %llu bytes, expected %llu", it->local_path,
                     (unsigned long long)total, (unsigned long long)it->size);
      break;
    }
    tg[i].limit = total;
    if (ftruncate(tg[i].fd, (off_t)total)) rc = bk_seterr(BK_EIO, "ftruncate: %s", strerror(errno));
  }
  if (!rc && d.nf) rc = dl_run(c, &d);
  for (size_t i = 0; !rc && i < n; i++) {
    if (!tg[i].leaves) continue; /* empty file */
    bk_hash root, fh, want;
    rc = bk_merkle_root(tg[i].leaves, tg[i].nleaves, &root);
    if (rc) break;
    bk_file_hash_from_root(&root, tg[i].nleaves > 0, NULL, &fh);
    if (bk_hash_parse(items[i].hash, &want) || !bk_hash_eq(&fh, &want))
      rc = bk_seterr(BK_EHASH, "%s: downloaded data does not match its hash", items[i].local_path);
  }
  for (size_t i = 0; tg && i < n; i++) {
    if (tg[i].fd >= 0) {
      if (!rc && items[i].mtime_ms >= 0) {
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = (time_t)(items[i].mtime_ms / 1000);
        ts[0].tv_nsec = ts[1].tv_nsec = (long)(items[i].mtime_ms % 1000) * 1000000L;
        futimens(tg[i].fd, ts);
      }
      if (close(tg[i].fd) && !rc) rc = bk_seterr(BK_EIO, "close: %s", strerror(errno));
    }
    free(tg[i].leaves);
  }
  if (rc) {
    for (size_t i = 0; i < n; i++) {
      if (items[i].tmp) unlink(items[i].tmp);
      free(items[i].tmp);
      items[i].tmp = NULL;
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      st->files++;
      st->bytes += items[i].size;
    }
  }
  for (size_t i = 0; i < d.nf; i++) {
    free(d.f[i].url);
    free(d.f[i].uses);
  }
  free(d.f);
  free(fx);
  free(tg);
  pthread_mutex_destroy(&d.mu);
  cJSON_Delete(rec);
  return rc;
}
