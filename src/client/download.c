/* buckets client — Xet download pipeline (xet.md §5 "Download algorithm").
 *
 * reconstruction (v2, falling back to v1 on 404/501) -> fetch entries
 * (single byte ranges, exactly as given) fetched in parallel threads -> each
 * chunk record decoded as soon as it has arrived (no body buffer: a record
 * split across network reads is carried) -> every chunk hashed; the bytes
 * are written at their file offset (pwrite into a temp file in the
 * destination directory, or memcpy into a caller buffer for range reads).
 * For whole files the file hash is recomputed from the chunk hashes and
 * must equal the requested hash; then fsync, mtime, rename, fsync(dir).
 * Ownership: everything allocated here is freed before returning.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/buf.h"
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
  use *nu = bk_grow(f->uses, f->nuses, &f->ucap, sizeof *nu, 4, 0);
  if (!nu) return NULL;
  f->uses = nu;
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
  const char **fx; /* xorb of each fetch entry (owned by the cJSON tree) */
  size_t *ord;     /* fetch entries sorted by (xorb, first chunk) */
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

#define WRITEBACK_STEP (8u << 20)

/* Per worker: the codec, one decoded chunk, the start of a record split
 * across network reads, and per use of the current fetch the bytes written. */
typedef struct wbuf {
  bk_xorb_codec *codec;
  uint8_t *chunk;  /* BK_XORB_CHUNK_MAX */
  bk_buf carry;    /* <= one record */
  uint64_t *done;  /* per use */
  size_t done_cap;
} wbuf;

/* One range fetch, decoded as it arrives: no body buffer. */
typedef struct rstream {
  const fetch *f;
  wbuf *w;
  const bk_http_resp *resp; /* status is set before the first body byte */
  int started;
  uint64_t skip;  /* leading bytes to drop (a server that ignored Range) */
  uint64_t left;  /* bytes of the range still expected */
  uint64_t seen;  /* body bytes received */
  uint32_t k;     /* chunk index of the next record */
  size_t lo;      /* uses before this one ended before chunk k */
  int rc;
  char msg[256];
} rstream;

/* One complete record (header validated): decode (raw records are used in
 * place), hash once, write at the offset of every use that covers it. */
static int emit_record(rstream *s, const uint8_t *rec, uint8_t scheme, uint32_t clen,
                       uint32_t ulen) {
  const fetch *f = s->f;
  const uint8_t *out = rec + BK_XORB_RECORD_HEADER;
  if (scheme != BK_COMP_NONE) {
    size_t got = 0;
    int rc = bk_xorb_codec_decode(s->w->codec, rec, BK_XORB_RECORD_HEADER + (size_t)clen,
                                  s->w->chunk, BK_XORB_CHUNK_MAX, NULL, &got);
    if (rc) return rc;
    out = s->w->chunk;
  }
  bk_hash h;
  int hashed = 0;
  /* uses are sorted by first chunk: skip those that ended, stop at the
   * first that starts later */
  while (s->lo < f->nuses && f->uses[s->lo].end <= s->k) s->lo++;
  for (size_t i = s->lo; i < f->nuses && f->uses[i].start <= s->k; i++) {
    const use *u = &f->uses[i];
    if (s->k >= u->end) continue;
    if (s->w->done[i] + ulen > u->unpacked)
      return bk_seterr(BK_ESIZE, "term %u decodes to more than %u bytes", u->term, u->unpacked);
    uint64_t li = u->chunk_base + (s->k - u->start);
    if (u->t->leaves && li < u->t->nleaves) {
      if (!hashed) bk_chunk_hash(out, ulen, &h);
      hashed = 1;
      u->t->leaves[li].hash = h;
      u->t->leaves[li].len = ulen;
    }
    int64_t at = u->vo + (int64_t)s->w->done[i];
    int rc = out_write(u->t, at, out, ulen);
    if (rc) return rc;
    s->w->done[i] += ulen;
    /* start the writeback of each completed 8 MiB at once, so the final
     * fsync only waits for the last pieces instead of the whole file */
    uint64_t blk = s->w->done[i] / WRITEBACK_STEP;
    if (!u->t->buf && u->vo >= 0 && blk != (s->w->done[i] - ulen) / WRITEBACK_STEP)
      (void)sync_file_range(u->t->fd, (off_t)u->vo + (off_t)(blk - 1) * WRITEBACK_STEP,
                            WRITEBACK_STEP, SYNC_FILE_RANGE_WRITE);
  }
  s->k++;
  return 0;
}

/* Validates the header at rec (have >= 8 bytes there): 0 = complete record,
 * 1 = its payload is still to come, < 0 = error. */
static int record_at(const uint8_t *rec, size_t have, uint8_t *scheme, uint32_t *clen,
                     uint32_t *ulen) {
  int rc = bk_xorb_record_header(rec, BK_XORB_RECORD_HEADER + BK_XORB_COMPRESSED_MAX, scheme,
                                 clen, ulen);
  if (rc) return rc;
  return have < BK_XORB_RECORD_HEADER + (size_t)*clen ? 1 : 0;
}

/* Takes bytes into the carry until it holds a whole record, then emits it.
 * Returns the bytes taken or a negative error. */
static long fill_carry(rstream *s, const uint8_t *p, size_t n) {
  bk_buf *c = &s->w->carry;
  size_t take = 0;
  if (c->len < BK_XORB_RECORD_HEADER) {
    take = BK_XORB_RECORD_HEADER - c->len < n ? BK_XORB_RECORD_HEADER - c->len : n;
    bk_buf_append(c, p, take); /* within the carry's reserved size */
    if (c->len < BK_XORB_RECORD_HEADER) return (long)take;
  }
  uint8_t scheme;
  uint32_t clen, ulen;
  int rc = record_at(c->p, c->len, &scheme, &clen, &ulen);
  if (rc < 0) return rc;
  size_t more = BK_XORB_RECORD_HEADER + (size_t)clen - c->len;
  if (more > n - take) more = n - take;
  bk_buf_append(c, p + take, more);
  take += more;
  if (c->len < BK_XORB_RECORD_HEADER + (size_t)clen) return (long)take;
  rc = emit_record(s, c->p, scheme, clen, ulen);
  bk_buf_reset(c);
  return rc < 0 ? rc : (long)take;
}

static int stream_records(rstream *s, const uint8_t *p, size_t n) {
  while (n > 0 && s->k < s->f->cend) {
    long took;
    uint8_t scheme;
    uint32_t clen, ulen;
    int rc = s->w->carry.len || n < BK_XORB_RECORD_HEADER
                 ? 1
                 : record_at(p, n, &scheme, &clen, &ulen);
    if (rc < 0) return rc;
    if (rc == 0) {
      if ((rc = emit_record(s, p, scheme, clen, ulen))) return rc;
      took = (long)(BK_XORB_RECORD_HEADER + clen);
    } else if ((took = fill_carry(s, p, n)) < 0) {
      return (int)took;
    }
    p += took;
    n -= (size_t)took;
  }
  return 0;
}

static int sink_records(void *ctx, const void *data, size_t len) {
  rstream *s = ctx;
  const uint8_t *p = data;
  if (!s->started) {
    s->started = 1;
    /* 200 = the server ignored Range: the whole object, to slice here —
     * unless it says it sent just the range's length */
    if (s->resp->status == 200 &&
        !(s->resp->has_content_length && s->resp->content_length == s->left))
      s->skip = s->f->bstart;
  }
  s->seen += len;
  size_t drop = s->skip < len ? (size_t)s->skip : len;
  p += drop;
  len -= drop;
  s->skip -= drop;
  if (len > s->left) len = (size_t)s->left;
  s->left -= len;
  int rc = stream_records(s, p, len);
  if (rc) {
    s->rc = rc;
    snprintf(s->msg, sizeof s->msg, "%s", bk_errmsg());
  }
  return rc;
}

static int use_cmp(const void *a, const void *b) {
  const use *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static int run_fetch(dl *d, fetch *f, wbuf *w) {
  char range[80];
  snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)f->bstart,
           (unsigned long long)f->bend);
  uint64_t want = f->bend - f->bstart + 1;
  if (want > BK_XORB_MAX_BYTES + (1u << 20)) return bk_seterr(BK_ELIMIT, "fetch range too large");
  qsort(f->uses, f->nuses, sizeof *f->uses, use_cmp);
  if (f->nuses > w->done_cap) {
    uint64_t *nd = realloc(w->done, f->nuses * sizeof *nd);
    if (!nd) return bk_seterr(BK_ENOMEM, "out of memory");
    w->done = nd;
    w->done_cap = f->nuses;
  }
  bk_http_resp r;
  rstream s;
  bk_curl_req rq = {.method = "GET", .url = f->url, .range = range,
                    .max_resp = (size_t)want + 4096, .sink = sink_records, .sink_ctx = &s};
  int rc = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    memset(&s, 0, sizeof s);
    s.f = f;
    s.w = w;
    s.resp = &r;
    s.left = want;
    s.k = f->cstart;
    bk_buf_reset(&w->carry);
    memset(w->done, 0, f->nuses * sizeof *w->done);
    rc = bk_http_do(d->c->http, &rq, &r);
    if (rc || attempt == 1 || (r.status != 401 && r.status != 403)) break;
    /* URL not pre-signed for us: try with the CAS token */
    char *tok = NULL, *cas = NULL;
    bk_http_resp_free(&r);
    rc = bk_xet_token(d->c, d->bucket, 0, &tok, &cas);
    free(cas);
    if (rc) {
      free(tok);
      return rc;
    }
    rq.bearer = tok;
  }
  free((char *)rq.bearer);
  if (s.rc) rc = bk_seterr(s.rc, "%s", s.msg); /* the records were bad, not the transfer */
  if (!rc && r.status != 206 && r.status != 200) rc = bk_hub_error_from_response(&r, "xorb range fetch");
  bk_http_resp_free(&r);
  if (rc) return rc;
  pthread_mutex_lock(&d->mu);
  d->st->bytes_received += s.seen;
  pthread_mutex_unlock(&d->mu);
  pthread_mutex_lock(&d->c->mu);
  d->c->prog.bytes_received += s.seen;
  d->c->prog.bytes_done += s.seen;
  pthread_mutex_unlock(&d->c->mu);
  if (w->carry.len) return bk_seterr(BK_ETRUNCATED, "xorb range ends inside a record");
  for (size_t i = 0; i < f->nuses; i++)
    if (w->done[i] != f->uses[i].unpacked)
      return bk_seterr(BK_ESIZE, "term %u decoded to %llu bytes, expected %u", f->uses[i].term,
                       (unsigned long long)w->done[i], f->uses[i].unpacked);
  return 0;
}

static void *dl_worker(void *arg) {
  dl *d = arg;
  wbuf w = {0};
  bk_buf_init(&w.carry, BK_XORB_RECORD_HEADER + BK_XORB_COMPRESSED_MAX);
  w.chunk = malloc(BK_XORB_CHUNK_MAX);
  if (!w.chunk || bk_buf_reserve(&w.carry, w.carry.max) || bk_xorb_codec_new(&w.codec)) {
    dl_fail(d, bk_seterr(BK_ENOMEM, "out of memory")); /* the loop stops at once */
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
  bk_buf_free(&w.carry);
  free(w.chunk);
  free(w.done);
  bk_xorb_codec_free(w.codec);
  return NULL;
}

/* Runs d's fetches on up to min(parallel, cores (2..4), fetches) threads,
 * this one included. Returns 0 or the first worker error (message kept). */
static int dl_run(const bk_client *c, dl *d) {
  /* more writers than cores only spin on the file's inode lock */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned cap = ncpu < 2 ? 2 : ncpu > 4 ? 4 : (unsigned)ncpu;
  unsigned nt = c->parallel > cap ? cap : c->parallel;
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
  fetch *na = bk_grow(*arr, *n, cap, sizeof *na, 16, 0);
  if (!na) return bk_seterr(BK_ENOMEM, "out of memory");
  *arr = na;
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

static int ord_cmp(const void *a, const void *b, void *ctx) {
  const dl *d = ctx;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int c = strcmp(d->fx[i], d->fx[j]);
  if (c) return c;
  return d->f[i].cstart < d->f[j].cstart ? -1 : d->f[i].cstart > d->f[j].cstart;
}

/* Sorts the fetch entries by (xorb, first chunk) so that every term finds
 * its entry by binary search: a batch of 10,000 small files would otherwise
 * compare every term with every entry. */
static int index_fetches(dl *d) {
  d->ord = malloc((d->nf ? d->nf : 1) * sizeof *d->ord);
  if (!d->ord) return bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; i < d->nf; i++) d->ord[i] = i;
  qsort_r(d->ord, d->nf, sizeof *d->ord, ord_cmp, d);
  return 0;
}

/* The fetch entry of xorb that holds chunks [cs, ce), or d->nf. */
static size_t find_fetch(const dl *d, const char *xorb, uint64_t cs, uint64_t ce) {
  size_t lo = 0, hi = d->nf;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(d->fx[d->ord[mid]], xorb) < 0) lo = mid + 1;
    else hi = mid;
  }
  for (size_t i = lo; i < d->nf && strcmp(d->fx[d->ord[i]], xorb) == 0; i++) {
    const fetch *f = &d->f[d->ord[i]];
    if (f->cstart > cs) break;
    if (ce <= f->cend) return d->ord[i];
  }
  return d->nf;
}

/* The fetch entries of a reconstruction answer, indexed for find_fetch. */
static int dl_fetches(dl *d, const cJSON *rec) {
  int rc = collect_fetches(rec, &d->f, &d->fx, &d->nf);
  return rc ? rc : index_fetches(d);
}

static void dl_init(dl *d, bk_client *c, bk_transfer_stats *st, const char *bucket) {
  memset(d, 0, sizeof *d);
  d->c = c;
  d->st = st;
  d->bucket = bucket;
  pthread_mutex_init(&d->mu, NULL);
}

/* Releases what dl_init and dl_fetches set up (not the targets). */
static void dl_free(dl *d) {
  for (size_t i = 0; i < d->nf; i++) {
    free(d->f[i].url);
    free(d->f[i].uses);
  }
  free(d->f);
  free(d->fx);
  free(d->ord);
  pthread_mutex_destroy(&d->mu);
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
    bk_curl_req rq = {.method = "GET", .url = url, .bearer = tok, .range = range,
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
      rc = bk_hub_error_from_response(&r, "reconstruction");
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
  dl_init(&d, c, st, bucket);
  d.t.fd = fd;
  d.t.buf = buf;
  const cJSON *terms = cJSON_GetObjectItemCaseSensitive(rec, "terms");
  uint64_t skip = 0;
  num(rec, "offset_into_first_range", &skip);
  if (!cJSON_IsArray(terms)) rc = bk_seterr(BK_EFORMAT, "reconstruction: no terms");
  if (!rc) rc = dl_fetches(&d, rec);
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
      size_t k = find_fetch(&d, h->valuestring, cs, ce);
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
  free(d.t.leaves);
  dl_free(&d);
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

int bk_download_hash_ex(bk_client *c, const char *bucket_id, const char *xet_hash,
                        uint64_t size, int64_t mtime_ms, int rootfd, const char *rel,
                        int durable, char *tmp_out, size_t tmp_n, bk_transfer_stats *stats) {
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
  char tmp[4400];
  int fd = -1;
  rc = bk_lfs_create_temp(rootfd, rel, tmp, sizeof tmp, &fd);
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
  if (fd >= 0 && close(fd) && !rc) rc = bk_seterr(BK_EIO, "close %.300s: %s", tmp, strerror(errno));
  if (!rc && !durable) {
    /* the caller makes it durable (syncfs) and renames it */
    if (tmp_out) snprintf(tmp_out, tmp_n, "%s", tmp);
  } else if (!rc) {
    rc = bk_lfs_commit(rootfd, tmp, rel, 1); /* removes the temp file on failure */
    fd = -1;
  }
  if (!rc) {
    stats->files++;
    stats->bytes += size;
  } else if (fd >= 0) {
    int dfd;
    const char *base;
    if (bk_lfs_parent(rootfd, tmp, 0, &dfd, &base) == 0) {
      (void)unlinkat(dfd, base, 0);
      close(dfd);
    }
  }
  free(id);
  return rc;
}

/* Splits a caller-chosen local path into its directory (created, opened:
 * the caller's symlinks there are honoured) and its file name. */
static int open_path_dest(const char *local_path, int *rootfd, const char **base) {
  *rootfd = -1;
  const char *slash = strrchr(local_path, '/');
  *base = slash ? slash + 1 : local_path;
  if (!**base) return bk_seterr(BK_EINVAL, "%.300s: not a file name", local_path);
  if (!slash) return bk_lfs_open_dir(".", 0, rootfd);
  if (slash == local_path) return bk_lfs_open_dir("/", 0, rootfd);
  size_t n = (size_t)(slash - local_path);
  char *dir = malloc(n + 1);
  if (!dir) return bk_seterr(BK_ENOMEM, "out of memory");
  memcpy(dir, local_path, n);
  dir[n] = 0;
  int rc = bk_lfs_open_dir(dir, 1, rootfd);
  free(dir);
  return rc;
}

int bk_download_hash(bk_client *c, const char *bucket_id, const char *xet_hash, uint64_t size,
                     int64_t mtime_ms, const char *local_path, bk_transfer_stats *stats) {
  int rootfd;
  const char *base;
  int rc = open_path_dest(local_path, &rootfd, &base);
  if (!rc) rc = bk_download_hash_ex(c, bucket_id, xet_hash, size, mtime_ms, rootfd, base, 1, NULL,
                                    0, stats);
  if (rootfd >= 0) close(rootfd);
  return rc;
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
static int child_cmp(const void *a, const void *b) {
  return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The members of object o sorted by name, for find_terms. */
static int sort_children(const cJSON *o, const cJSON ***out, size_t *n) {
  size_t cnt = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, o) cnt++;
  *out = malloc((cnt ? cnt : 1) * sizeof **out);
  if (!*out) return bk_seterr(BK_ENOMEM, "out of memory");
  *n = 0;
  cJSON_ArrayForEach(e, o) if (e->string) (*out)[(*n)++] = e;
  qsort(*out, *n, sizeof **out, child_cmp);
  return 0;
}

static const cJSON *find_terms(const cJSON **byname, size_t n, const char *name) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(byname[mid]->string, name);
    if (c == 0) return byname[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

static int item_cmp(const void *a, const void *b, void *ctx) {
  const bk_dl_item *items = ctx;
  return strcmp(items[*(const size_t *)a].hash, items[*(const size_t *)b].hash);
}

/* Parse: the batch reconstruction query, "<cas>/v1/reconstructions" with
 * "file_id=<hash>" for each distinct non-empty hash once (items sorted by
 * hash to spot repeats). *nq receives the number of ids; url is
 * NUL-terminated on success. */
static int batch_query_url(const char *cas, bk_dl_item *items, size_t n, bk_buf *url,
                           size_t *nq) {
  *nq = 0;
  int rc = bk_buf_printf(url, "%s/v1/reconstructions", cas);
  if (rc) return rc;
  size_t *byhash = malloc(n * sizeof *byhash);
  if (!byhash) return bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) byhash[i] = i;
  qsort_r(byhash, n, sizeof *byhash, item_cmp, items);
  for (size_t j = 0; !rc && j < n; j++) {
    const char *hx = items[byhash[j]].hash;
    bk_hash h;
    if (bk_hash_parse(hx, &h)) rc = bk_seterr(BK_EINVAL, "bad xet hash");
    else if (!bk_hash_is_zero(&h) && (j == 0 || strcmp(items[byhash[j - 1]].hash, hx) != 0))
      rc = bk_buf_printf(url, "%cfile_id=%s", (*nq)++ ? '&' : '?', hx);
  }
  free(byhash);
  if (rc) return rc;
  return bk_buf_append_u8(url, 0);
}

/* Fetch: one batch reconstruction for all items from the CAS at cas with
 * the read token tok. *rec receives the parsed answer (caller frees with
 * cJSON_Delete), or NULL when every item is the empty file. */
static int batch_fetch_reconstruction(bk_client *c, const char *tok, const char *cas,
                                      bk_dl_item *items, size_t n, cJSON **rec) {
  *rec = NULL;
  bk_buf url;
  bk_buf_init(&url, 1u << 20);
  size_t nq = 0;
  int rc = batch_query_url(cas, items, n, &url, &nq);
  if (!rc && nq) {
    bk_http_resp r;
    bk_curl_req rq = {.method = "GET", .url = (const char *)url.p, .bearer = tok,
                      .max_resp = 256u << 20};
    rc = bk_http_do(c->http, &rq, &r);
    if (!rc && (r.status < 200 || r.status >= 300))
      rc = bk_hub_error_from_response(&r, "batch reconstruction");
    if (!rc && !(*rec = cJSON_ParseWithLength((const char *)r.body.p, r.body.len)))
      rc = bk_seterr(BK_EFORMAT, "batch reconstruction: invalid JSON");
    bk_http_resp_free(&r);
  }
  bk_buf_free(&url);
  return rc;
}

/* Execute: the item's temp file beneath its root; it->tmp receives its path
 * (owned by the item), tg->fd the open descriptor. */
static int batch_open_temp(bk_dl_item *it, target *tg) {
  int rfd = it->rootfd;
  int rc = rfd < 0 ? bk_lfs_open_dir(it->root_path, 1, &rfd) : 0;
  if (rc) return rc;
  char tmp[4400];
  rc = bk_lfs_create_temp(rfd, it->rel, tmp, sizeof tmp, &tg->fd);
  if (rfd != it->rootfd) close(rfd);
  if (rc) return rc;
  if (!(it->tmp = strdup(tmp))) return bk_seterr(BK_ENOMEM, "out of memory");
  return 0;
}

/* Plan: one item's reconstruction terms become uses of the batch's fetch
 * entries, each with its offset in the file and its first leaf. Checks that
 * the terms add up to the item's size and sizes the temp file. */
static int batch_plan_item(dl *d, const cJSON *terms, const bk_dl_item *it, target *tg) {
  uint64_t total = 0, nchunks = 0;
  const cJSON *t;
  cJSON_ArrayForEach(t, terms) {
    const cJSON *rg = cJSON_GetObjectItemCaseSensitive(t, "range");
    uint64_t cs, ce;
    if (num(rg, "start", &cs) || num(rg, "end", &ce) || ce <= cs)
      return bk_seterr(BK_EFORMAT, "batch reconstruction: bad term");
    nchunks += ce - cs;
  }
  tg->nleaves = nchunks;
  tg->leaves = calloc(nchunks ? nchunks : 1, sizeof *tg->leaves);
  if (!tg->leaves) return bk_seterr(BK_ENOMEM, "out of memory");
  nchunks = 0;
  uint32_t ti = 0;
  cJSON_ArrayForEach(t, terms) {
    uint64_t ul, cs, ce;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(t, "hash");
    const cJSON *rg = cJSON_GetObjectItemCaseSensitive(t, "range");
    if (!cJSON_IsString(h) || num(t, "unpacked_length", &ul) || num(rg, "start", &cs) ||
        num(rg, "end", &ce))
      return bk_seterr(BK_EFORMAT, "batch reconstruction: bad term");
    size_t k = find_fetch(d, h->valuestring, cs, ce);
    if (k == d->nf) return bk_seterr(BK_EFORMAT, "batch reconstruction: no fetch entry for a term");
    use *u = fetch_add_use(&d->f[k]);
    if (!u) return bk_seterr(BK_ENOMEM, "out of memory");
    u->t = tg;
    u->term = ti++;
    u->start = (uint32_t)cs;
    u->end = (uint32_t)ce;
    u->vo = (int64_t)total;
    u->chunk_base = nchunks;
    u->unpacked = (uint32_t)ul;
    total += ul;
    nchunks += ce - cs;
  }
  if (total != it->size)
    return bk_seterr(BK_ESIZE, "%.300s: reconstruction has %llu bytes, expected %llu", it->rel,
                     (unsigned long long)total, (unsigned long long)it->size);
  tg->limit = total;
  if (ftruncate(tg->fd, (off_t)total)) return bk_seterr(BK_EIO, "ftruncate: %s", strerror(errno));
  return 0;
}

/* Plan: a temp file per item and its terms mapped onto the fetch plan. An
 * item absent from the answer must be the empty file (no leaves). */
static int batch_plan(dl *d, const cJSON *files, bk_dl_item *items, target *tg, size_t n) {
  /* the files object by name: cJSON looks keys up one by one */
  size_t nnames = 0;
  const cJSON **byname = NULL;
  int rc = files ? sort_children(files, &byname, &nnames) : 0;
  for (size_t i = 0; !rc && i < n; i++) {
    rc = batch_open_temp(&items[i], &tg[i]);
    if (rc) break;
    const cJSON *terms = find_terms(byname, nnames, items[i].hash);
    if (terms) {
      rc = batch_plan_item(d, terms, &items[i], &tg[i]);
      continue;
    }
    bk_hash h;
    bk_hash_parse(items[i].hash, &h);
    if (!bk_hash_is_zero(&h))
      rc = bk_seterr(BK_EFORMAT, "batch reconstruction lacks %s", items[i].hash);
    else if (items[i].size) rc = bk_seterr(BK_EHASH, "empty-file hash for a non-empty file");
  }
  free(byname);
  return rc;
}

/* Verify: each downloaded file's leaves hash to its xet hash. */
static int batch_verify(const bk_dl_item *items, const target *tg, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!tg[i].leaves) continue; /* empty file */
    bk_hash root, fh, want;
    int rc = bk_merkle_root(tg[i].leaves, tg[i].nleaves, &root);
    if (rc) return rc;
    bk_file_hash_from_root(&root, tg[i].nleaves > 0, NULL, &fh);
    if (bk_hash_parse(items[i].hash, &want) || !bk_hash_eq(&fh, &want))
      return bk_seterr(BK_EHASH, "%.300s: downloaded data does not match its hash", items[i].rel);
  }
  return 0;
}

/* Closes the temp files (setting their mtime when all went well, rc == 0)
 * and frees the leaves. Returns rc, or the first close error. */
static int batch_close(const bk_dl_item *items, target *tg, size_t n, int rc) {
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
  return rc;
}

/* On failure: removes every temp file created and clears items[].tmp. */
static void batch_discard(bk_dl_item *items, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (items[i].tmp) {
      int rfd = items[i].rootfd, dfd;
      const char *base;
      if (rfd < 0 && bk_lfs_open_dir(items[i].root_path, 0, &rfd)) rfd = -1;
      if (rfd >= 0 && bk_lfs_parent(rfd, items[i].tmp, 0, &dfd, &base) == 0) {
        (void)unlinkat(dfd, base, 0);
        close(dfd);
      }
      if (rfd >= 0 && rfd != items[i].rootfd) close(rfd);
    }
    free(items[i].tmp);
    items[i].tmp = NULL;
  }
}

int bk_download_batch(bk_client *c, const char *id, bk_dl_item *items, size_t n,
                      bk_transfer_stats *st) {
  if (n == 0) return 0;
  char *tok = NULL, *cas = NULL;
  int rc = bk_xet_token(c, id, 0, &tok, &cas);
  if (rc) return rc;
  cJSON *rec = NULL;
  rc = batch_fetch_reconstruction(c, tok, cas, items, n, &rec);
  free(tok);
  free(cas);
  dl d;
  dl_init(&d, c, st, id);
  target *tg = calloc(n, sizeof *tg);
  if (!rc && !tg) rc = bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; tg && i < n; i++) tg[i].fd = -1;
  const cJSON *files = rec ? cJSON_GetObjectItemCaseSensitive(rec, "files") : NULL;
  if (!rc && rec && !cJSON_IsObject(files))
    rc = bk_seterr(BK_EFORMAT, "batch reconstruction: no files");
  if (!rc && rec) rc = dl_fetches(&d, rec);
  if (!rc) rc = batch_plan(&d, files, items, tg, n);
  if (!rc && d.nf) rc = dl_run(c, &d);
  if (!rc) rc = batch_verify(items, tg, n);
  rc = batch_close(items, tg, n, rc);
  if (rc) {
    batch_discard(items, n);
  } else {
    for (size_t i = 0; i < n; i++) {
      st->files++;
      st->bytes += items[i].size;
    }
  }
  free(tg);
  dl_free(&d);
  cJSON_Delete(rec);
  return rc;
}
