/* A tiny Xet CAS client used by the CAS integration tests (cas_tool.c) and
 * the CAS benchmark (bench/bench_cas.c). Header-only (static functions) so
 * that each program stays a single translation unit. Talks to 127.0.0.1 only
 * (the caller passes the base URL of the bucketd under test).
 *
 * Upload side: chunk a buffer (bk_chunker), pack chunks into xorbs
 * (bk_xorb_builder, with in-file dedup so terms can reuse chunks), build the
 * upload shard (bk_shard_serialize) with verification range hashes.
 * Download side: GET a reconstruction (v1 or v2), fetch every needed range
 * from the signed URLs with the exact Range header, decode and assemble.
 *
 * Ownership: every struct here is released with its _free function.
 */
#ifndef CAS_LIB_H
#define CAS_LIB_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "buckets/cdc.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"

/* Asks for transparent huge pages on the 2 MiB-aligned interior of a big
 * buffer: page faults otherwise dominate the cost of touching fresh GiBs. */
static inline void cl_hugepage_hint(void *p, size_t len) {
#ifdef MADV_HUGEPAGE
  uintptr_t a = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
  uintptr_t e = ((uintptr_t)p + len) & ~(uintptr_t)((2u << 20) - 1);
  if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)len;
#endif
}

/* ------------------------------------------------------------------ http */

static size_t cl_write_cb(char *p, size_t sz, size_t n, void *ud) {
  bk_buf *b = ud;
  if (bk_buf_append(b, p, sz * n) != 0) return 0;
  return sz * n;
}

/* One request. hdrs: NULL-terminated list of "Name: value" strings. The
 * response body is appended to resp (caller-initialised). Returns the HTTP
 * status, or -1 on transport failure. ctype (optional, 128 bytes) receives
 * the response Content-Type. */
static long cl_http(CURL *c, const char *method, const char *url, const char **hdrs,
                    const void *body, size_t blen, bk_buf *resp, char *ctype) {
  struct curl_slist *sl = NULL;
  for (size_t i = 0; hdrs && hdrs[i]; i++) sl = curl_slist_append(sl, hdrs[i]);
  sl = curl_slist_append(sl, "Expect:");
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cl_write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(sl);
  if (rc != CURLE_OK) {
    fprintf(stderr, "curl %s %s: %s\n", method, url, curl_easy_strerror(rc));
    return -1;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (ctype) {
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(ctype, 128, "%s", ct ? ct : "");
  }
  return status;
}

/* ---------------------------------------------------------------- upload */

typedef struct cl_xorb {
  bk_hash hash;
  uint8_t *body;
  size_t len;
  size_t nchunks;
  bk_shard_chunk *chunks; /* hash, unpacked offset, len */
} cl_xorb;

typedef struct cl_loc {
  uint32_t xorb, idx;
} cl_loc;

typedef struct cl_upload {
  cl_xorb *xorbs;
  size_t nxorbs, capx;
  /* per chunk of the file in order */
  bk_hash *chunk_hash;
  uint32_t *chunk_len;
  cl_loc *chunk_loc;
  size_t nchunks, capc;
  bk_hash file_hash;
  uint64_t size;
  /* in-file dedup: open addressing over chunk hashes */
  size_t *slots;
  size_t nslots;
  bk_xorb_builder *xb;
  uint32_t cur_count;
  size_t xorb_max; /* max serialized bytes per xorb (0 = 64 MiB) */
  int err;
} cl_upload;

static void cl_upload_free(cl_upload *u) {
  if (!u) return;
  for (size_t i = 0; i < u->nxorbs; i++) {
    free(u->xorbs[i].body);
    free(u->xorbs[i].chunks);
  }
  free(u->xorbs);
  free(u->chunk_hash);
  free(u->chunk_len);
  free(u->chunk_loc);
  free(u->slots);
  bk_xorb_builder_free(u->xb);
  memset(u, 0, sizeof *u);
}

static int cl_flush_xorb(cl_upload *u) {
  if (bk_xorb_builder_count(u->xb) == 0) return 0;
  if (u->nxorbs == u->capx) {
    size_t nc = u->capx ? u->capx * 2 : 8;
    cl_xorb *nx = realloc(u->xorbs, nc * sizeof *nx);
    if (!nx) return BK_ENOMEM;
    u->xorbs = nx;
    u->capx = nc;
  }
  cl_xorb *x = &u->xorbs[u->nxorbs];
  memset(x, 0, sizeof *x);
  const uint8_t *body;
  size_t blen;
  int rc = bk_xorb_builder_finish(u->xb, &x->hash, &body, &blen);
  if (rc) return rc;
  x->body = malloc(blen ? blen : 1);
  x->nchunks = bk_xorb_builder_count(u->xb);
  x->chunks = calloc(x->nchunks, sizeof *x->chunks);
  if (!x->body || !x->chunks) return BK_ENOMEM;
  memcpy(x->body, body, blen);
  x->len = blen;
  const bk_xorb_chunk *ch = bk_xorb_builder_chunks(u->xb);
  for (size_t i = 0; i < x->nchunks; i++) {
    x->chunks[i].hash = ch[i].hash;
    x->chunks[i].byte_start = ch[i].unpacked_offset;
    x->chunks[i].len = ch[i].unpacked_len;
  }
  u->nxorbs++;
  bk_xorb_builder_reset(u->xb);
  return 0;
}

static size_t cl_slot_of(const cl_upload *u, const bk_hash *h) {
  return (size_t)(bk_hash_head_u64(h) & (u->nslots - 1));
}

static int cl_on_chunk(void *ctx, uint64_t off, const uint8_t *data, size_t len,
                       const bk_hash *h) {
  (void)off;
  cl_upload *u = ctx;
  if (u->nchunks == u->capc) {
    size_t nc = u->capc ? u->capc * 2 : 1024;
    bk_hash *nh = realloc(u->chunk_hash, nc * sizeof *nh);
    if (nh) u->chunk_hash = nh;
    uint32_t *nl = realloc(u->chunk_len, nc * sizeof *nl);
    if (nl) u->chunk_len = nl;
    cl_loc *nlc = realloc(u->chunk_loc, nc * sizeof *nlc);
    if (nlc) u->chunk_loc = nlc;
    if (!nh || !nl || !nlc) return u->err = BK_ENOMEM;
    u->capc = nc;
  }
  /* in-file dedup */
  size_t s = cl_slot_of(u, h);
  while (u->slots[s] != 0) {
    size_t ci = u->slots[s] - 1;
    if (bk_hash_eq(&u->chunk_hash[ci], h)) {
      u->chunk_hash[u->nchunks] = *h;
      u->chunk_len[u->nchunks] = (uint32_t)len;
      u->chunk_loc[u->nchunks] = u->chunk_loc[ci];
      u->nchunks++;
      return 0;
    }
    s = (s + 1) & (u->nslots - 1);
  }
  size_t max = u->xorb_max ? u->xorb_max : BK_XORB_MAX_BYTES;
  int rc = 0;
  if (bk_xorb_builder_count(u->xb) > 0 &&
      bk_xorb_builder_size(u->xb) + len + 64 + BK_XORB_RECORD_HEADER > max)
    rc = cl_flush_xorb(u);
  if (rc == 0) rc = bk_xorb_builder_add(u->xb, data, len, h);
  if (rc == BK_ELIMIT) {
    rc = cl_flush_xorb(u);
    if (rc == 0) rc = bk_xorb_builder_add(u->xb, data, len, h);
  }
  if (rc) return u->err = rc;
  u->chunk_hash[u->nchunks] = *h;
  u->chunk_len[u->nchunks] = (uint32_t)len;
  u->chunk_loc[u->nchunks].xorb = (uint32_t)u->nxorbs; /* the open xorb */
  u->chunk_loc[u->nchunks].idx = (uint32_t)(bk_xorb_builder_count(u->xb) - 1);
  u->slots[s] = u->nchunks + 1;
  u->nchunks++;
  return 0;
}

/* Chunks data, packs xorbs, computes the file hash. compress: 0/1. */
static int cl_upload_build(cl_upload *u, const uint8_t *data, size_t len, int compress,
                           size_t xorb_max) {
  memset(u, 0, sizeof *u);
  u->xorb_max = xorb_max;
  u->size = len;
  u->nslots = 1024;
  while (u->nslots < (len / 4096) * 2 + 1024) u->nslots *= 2;
  u->slots = calloc(u->nslots, sizeof *u->slots);
  if (!u->slots) return BK_ENOMEM;
  int rc = bk_xorb_builder_new(compress, &u->xb);
  if (rc) return rc;
  bk_chunker *k = NULL;
  rc = bk_chunker_new(cl_on_chunk, u, &k);
  if (rc) return rc;
  size_t step = 1 << 20;
  for (size_t off = 0; rc == 0 && off < len; off += step)
    rc = bk_chunker_feed(k, data + off, len - off < step ? len - off : step);
  if (rc == 0) rc = bk_chunker_finish(k);
  bk_chunker_free(k);
  if (rc) return u->err ? u->err : rc;
  rc = cl_flush_xorb(u);
  if (rc) return rc;
  bk_merkle_leaf *lv = malloc((u->nchunks ? u->nchunks : 1) * sizeof *lv);
  if (!lv) return BK_ENOMEM;
  for (size_t i = 0; i < u->nchunks; i++) {
    lv[i].hash = u->chunk_hash[i];
    lv[i].len = u->chunk_len[i];
  }
  rc = bk_file_hash(lv, u->nchunks, NULL, &u->file_hash);
  free(lv);
  return rc;
}

/* Shard building knobs for hostile tests. */
enum {
  CL_SHARD_FOOTER = 1,        /* JS style: 200-byte footer */
  CL_BAD_FILE_HASH = 2,       /* flip a bit of the declared file hash */
  CL_BAD_RANGE_HASH = 4,      /* flip a bit of the first range hash */
  CL_BAD_UNPACKED = 8,        /* lie about the first term's unpacked bytes */
  CL_PHANTOM_XORB = 16,       /* first term references a xorb never uploaded */
  CL_NO_VERIFY = 32,          /* no verification entries */
  CL_BAD_CHUNK_RANGE = 64,    /* first term's chunk_end past the xorb */
  CL_BAD_XORB_INFO = 128,     /* xorb-info lists a wrong chunk hash */
};

/* Builds the upload shard for the file (all xorbs listed in the xorb-info
 * section) onto out. */
static int cl_build_shard(const cl_upload *u, unsigned flags, bk_buf *out) {
  /* terms: runs of consecutive chunks in the same xorb */
  size_t nterms = 0;
  bk_shard_term *terms = calloc(u->nchunks ? u->nchunks : 1, sizeof *terms);
  size_t *tstart = calloc(u->nchunks + 1, sizeof *tstart);
  if (!terms || !tstart) {
    free(terms);
    free(tstart);
    return BK_ENOMEM;
  }
  for (size_t i = 0; i < u->nchunks; i++) {
    cl_loc L = u->chunk_loc[i];
    if (nterms > 0) {
      bk_shard_term *t = &terms[nterms - 1];
      if (bk_hash_eq(&t->xorb_hash, &u->xorbs[L.xorb].hash) && t->chunk_end == L.idx) {
        t->chunk_end++;
        t->unpacked_bytes += u->chunk_len[i];
        continue;
      }
    }
    bk_shard_term *t = &terms[nterms];
    tstart[nterms] = i;
    nterms++;
    t->xorb_hash = u->xorbs[L.xorb].hash;
    t->chunk_start = L.idx;
    t->chunk_end = L.idx + 1;
    t->unpacked_bytes = u->chunk_len[i];
  }
  tstart[nterms] = u->nchunks;
  for (size_t t = 0; t < nterms; t++)
    bk_range_hash(&u->chunk_hash[tstart[t]], tstart[t + 1] - tstart[t], &terms[t].range_hash);

  bk_shard_file f;
  memset(&f, 0, sizeof f);
  f.file_hash = u->file_hash;
  f.flags = (flags & CL_NO_VERIFY) ? 0 : BK_SHARD_FILE_VERIFY;
  f.nterms = (uint32_t)nterms;
  f.terms = terms;
  if (flags & CL_BAD_FILE_HASH) f.file_hash.b[3] ^= 1;
  if (nterms && (flags & CL_BAD_RANGE_HASH)) terms[0].range_hash.b[5] ^= 1;
  if (nterms && (flags & CL_BAD_UNPACKED)) terms[0].unpacked_bytes += 1;
  if (nterms && (flags & CL_PHANTOM_XORB)) terms[0].xorb_hash.b[0] ^= 0x55;
  if (nterms && (flags & CL_BAD_CHUNK_RANGE)) terms[0].chunk_end = 9000;

  bk_shard_xorb *xs = calloc(u->nxorbs ? u->nxorbs : 1, sizeof *xs);
  if (!xs) {
    free(terms);
    free(tstart);
    return BK_ENOMEM;
  }
  for (size_t i = 0; i < u->nxorbs; i++) {
    xs[i].xorb_hash = u->xorbs[i].hash;
    xs[i].nchunks = (uint32_t)u->xorbs[i].nchunks;
    xs[i].chunks = u->xorbs[i].chunks;
    uint64_t tot = 0;
    for (size_t j = 0; j < u->xorbs[i].nchunks; j++) tot += u->xorbs[i].chunks[j].len;
    xs[i].bytes_in_xorb = (uint32_t)tot;
    xs[i].bytes_on_disk = (uint32_t)u->xorbs[i].len;
  }
  bk_shard_chunk saved = {0};
  if ((flags & CL_BAD_XORB_INFO) && u->nxorbs && xs[0].nchunks) {
    saved = xs[0].chunks[0];
    xs[0].chunks[0].hash.b[9] ^= 1;
  }
  bk_shard s;
  memset(&s, 0, sizeof s);
  s.nfiles = 1;
  s.files = &f;
  s.nxorbs = (uint32_t)u->nxorbs;
  s.xorbs = xs;
  int rc = bk_shard_serialize(&s, (flags & CL_SHARD_FOOTER) ? BK_SHARD_WITH_FOOTER : 0, out);
  if ((flags & CL_BAD_XORB_INFO) && u->nxorbs && xs[0].nchunks) xs[0].chunks[0] = saved;
  free(xs);
  free(terms);
  free(tstart);
  return rc;
}

/* -------------------------------------------------------------- download */

typedef struct cl_fetch {
  bk_hash xorb;
  uint32_t cs, ce;   /* chunk range [cs, ce) */
  uint64_t bs, be;   /* byte range [bs, be] */
  char *url;
  /* while being processed: per chunk a pointer to its decoded bytes (into
   * the worker's raw buffer for uncompressed records, else its dec buffer) */
  const uint8_t **cptr;
  uint32_t *clen;
  int rc;
} cl_fetch;

/* One download worker's reusable buffers. */
typedef struct cl_wbuf {
  uint8_t *raw, *dec;
  size_t raw_cap, dec_cap;
} cl_wbuf;

static int cl_wbuf_need(uint8_t **p, size_t *cap, size_t n) {
  if (n <= *cap) return 0;
  free(*p);
  *p = malloc(n);
  *cap = *p ? n : 0;
  if (!*p) return BK_ENOMEM;
  cl_hugepage_hint(*p, n);
  return 0;
}

typedef struct cl_dl_stats {
  uint64_t fetched_bytes; /* bytes received from the xorb URLs */
  size_t nfetches;
} cl_dl_stats;

static int cl_json_u64(const cJSON *o, const char *k, uint64_t *v) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(x) || x->valuedouble < 0) return -1;
  *v = (uint64_t)x->valuedouble;
  return 0;
}

static int cl_json_range(const cJSON *o, const char *k, uint64_t *s, uint64_t *e) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsObject(r)) return -1;
  if (cl_json_u64(r, "start", s) || cl_json_u64(r, "end", e)) return -1;
  return 0;
}

/* Receives into a preallocated exact-size buffer. */
typedef struct cl_sink {
  uint8_t *p;
  size_t len, cap;
} cl_sink;

static size_t cl_sink_cb(char *p, size_t sz, size_t n, void *ud) {
  cl_sink *s = ud;
  size_t k = sz * n;
  if (k > s->cap - s->len) return 0; /* more than the asked range: abort */
  memcpy(s->p + s->len, p, k);
  s->len += k;
  return k;
}

/* Fetches one entry with the exact signed Range and decodes its records. */
static int cl_fetch_entry(CURL *c, cl_fetch *f, cl_wbuf *w) {
  size_t want = (size_t)(f->be - f->bs + 1);
  size_t n = f->ce - f->cs;
  char rh[96];
  snprintf(rh, sizeof rh, "Range: bytes=%" PRIu64 "-%" PRIu64, f->bs, f->be);
  struct curl_slist *sl = curl_slist_append(NULL, rh);
  f->cptr = calloc(n, sizeof *f->cptr);
  f->clen = calloc(n, sizeof *f->clen);
  if (!sl || !f->cptr || !f->clen || cl_wbuf_need(&w->raw, &w->raw_cap, want)) {
    curl_slist_free_all(sl);
    return BK_ENOMEM;
  }
  uint8_t *raw = w->raw;
  cl_sink sink = {raw, 0, want};
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, f->url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cl_sink_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 1L << 20);
  CURLcode cr = curl_easy_perform(c);
  curl_slist_free_all(sl);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (cr != CURLE_OK || code != 206 || sink.len != want) {
    fprintf(stderr, "xorb range fetch: %s, status %ld, %zu bytes (want %zu)\n",
            curl_easy_strerror(cr), code, sink.len, want);
    return BK_EHTTP;
  }
  /* pass 1: headers -> size of the compressed chunks once decoded */
  uint64_t dec_total = 0;
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    if (want - pos < BK_XORB_RECORD_HEADER) return bk_seterr(BK_ETRUNCATED, "range truncated");
    uint32_t clen = bk_load_u24le(raw + pos + 1), ulen = bk_load_u24le(raw + pos + 5);
    if (raw[pos + 4] != BK_COMP_NONE) dec_total += ulen;
    pos += BK_XORB_RECORD_HEADER + (size_t)clen;
    if (pos > want) return bk_seterr(BK_ETRUNCATED, "range truncated");
  }
  if (pos != want) return bk_seterr(BK_EFORMAT, "range has %zu trailing bytes", want - pos);
  if (dec_total && cl_wbuf_need(&w->dec, &w->dec_cap, dec_total)) return BK_ENOMEM;
  /* pass 2: decode (uncompressed records are used in place) */
  pos = 0;
  uint64_t dpos = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *r = raw + pos;
    uint32_t clen = bk_load_u24le(r + 1), ulen = bk_load_u24le(r + 5);
    if (r[0] != 0) return bk_seterr(BK_EVERSION, "record version %u", r[0]);
    if (r[4] == BK_COMP_NONE) {
      if (clen != ulen) return bk_seterr(BK_ESIZE, "raw record with lengths %u/%u", clen, ulen);
      f->cptr[i] = r + BK_XORB_RECORD_HEADER;
      f->clen[i] = ulen;
      pos += BK_XORB_RECORD_HEADER + clen;
      continue;
    }
    size_t used = 0, olen = 0;
    int rc = bk_xorb_decode_chunk(r, want - pos, w->dec + dpos, (size_t)(dec_total - dpos),
                                  &used, &olen);
    if (rc) return rc;
    f->cptr[i] = w->dec + dpos;
    f->clen[i] = (uint32_t)olen;
    dpos += olen;
    pos += used;
  }
  return 0;
}

/* A term of the reconstruction, placed in the output. */
typedef struct cl_term {
  int entry;            /* fetch entry covering it */
  uint32_t cs, ce;
  uint64_t ulen;        /* declared unpacked length */
  uint64_t skip, len;   /* bytes skipped at its start, bytes it contributes */
  uint64_t out;         /* offset of its first contributed byte in the output */
} cl_term;

typedef struct cl_pool {
  cl_fetch *fe;
  size_t nfe;
  cl_term *terms;
  size_t *by_entry;     /* term indices grouped by entry */
  size_t *first;        /* nfe+1 offsets into by_entry */
  uint8_t *out;         /* output base */
  size_t next;          /* guarded by mu */
  pthread_mutex_t mu;
} cl_pool;

/* Copies every term served by entry i into the output. */
static int cl_scatter(cl_pool *p, size_t i) {
  const cl_fetch *f = &p->fe[i];
  for (size_t k = p->first[i]; k < p->first[i + 1]; k++) {
    const cl_term *t = &p->terms[p->by_entry[k]];
    uint64_t sum = 0;
    for (uint32_t c = t->cs; c < t->ce; c++) sum += f->clen[c - f->cs];
    if (sum != t->ulen) {
      fprintf(stderr, "term: unpacked_length %" PRIu64 " but chunks hold %" PRIu64 "\n",
              t->ulen, sum);
      return BK_ESIZE;
    }
    uint64_t skip = t->skip, left = t->len, o = t->out;
    for (uint32_t c = t->cs; c < t->ce && left; c++) {
      const uint8_t *src = f->cptr[c - f->cs];
      uint64_t n = f->clen[c - f->cs];
      if (skip) {
        uint64_t s2 = skip < n ? skip : n;
        src += s2;
        n -= s2;
        skip -= s2;
      }
      if (n > left) n = left;
      memcpy(p->out + o, src, (size_t)n);
      o += n;
      left -= n;
    }
  }
  return 0;
}

static void *cl_worker(void *arg) {
  cl_pool *p = arg;
  CURL *c = curl_easy_init();
  cl_wbuf w = {0};
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t i = p->next++;
    pthread_mutex_unlock(&p->mu);
    if (i >= p->nfe) break;
    cl_fetch *f = &p->fe[i];
    f->rc = c ? cl_fetch_entry(c, f, &w) : BK_ENOMEM;
    if (f->rc == 0) f->rc = cl_scatter(p, i);
    free(f->cptr);
    free(f->clen);
    f->cptr = NULL;
    f->clen = NULL;
  }
  free(w.raw);
  free(w.dec);
  if (c) curl_easy_cleanup(c);
  return NULL;
}

/* Downloads file_hex (whole file when range_s < 0, else bytes [s, e]) via
 * /v{ver}/reconstructions, fetching the ranges with nthreads parallel
 * connections, and appends the bytes to out. */
static int cl_download_par(CURL *c, const char *base, const char *token, const char *file_hex,
                           int ver, int64_t range_s, int64_t range_e, unsigned nthreads,
                           bk_buf *out, cl_dl_stats *st) {
  char url[512], auth[1200], rh[96];
  snprintf(url, sizeof url, "%s/v%d/reconstructions/%s", base, ver, file_hex);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  const char *hdrs[3] = {auth, NULL, NULL};
  if (range_s >= 0) {
    snprintf(rh, sizeof rh, "Range: bytes=%" PRId64 "-%" PRId64, range_s, range_e);
    hdrs[1] = rh;
  }
  bk_buf js;
  bk_buf_init(&js, 256u << 20);
  long code = cl_http(c, "GET", url, hdrs, NULL, 0, &js, NULL);
  if (code != 200) {
    fprintf(stderr, "reconstruction: HTTP %ld %.*s\n", code, (int)(js.len > 300 ? 300 : js.len),
            js.p ? (char *)js.p : "");
    bk_buf_free(&js);
    return code == 416 ? BK_ELIMIT : BK_EHTTP;
  }
  cJSON *j = cJSON_ParseWithLength((const char *)js.p, js.len);
  bk_buf_free(&js);
  if (!j) return BK_EFORMAT;
  int rc = BK_EFORMAT;
  cl_fetch *fe = NULL;
  size_t nfe = 0, cap = 0;
  cl_term *tl = NULL;
  size_t *first = NULL, *by_entry = NULL;
  uint64_t skip = 0;
  const cJSON *terms = cJSON_GetObjectItemCaseSensitive(j, "terms");
  const cJSON *finfo = cJSON_GetObjectItemCaseSensitive(j, ver == 1 ? "fetch_info" : "xorbs");
  if (!cJSON_IsArray(terms) || !cJSON_IsObject(finfo) ||
      cl_json_u64(j, "offset_into_first_range", &skip))
    goto done;
  const cJSON *xo;
  cJSON_ArrayForEach(xo, finfo) {
    const cJSON *ent;
    cJSON_ArrayForEach(ent, xo) {
      const cJSON *rs = ver == 1 ? NULL : cJSON_GetObjectItemCaseSensitive(ent, "ranges");
      if (ver == 2 && cJSON_GetArraySize(rs) != 1) {
        fprintf(stderr, "v2 entry with %d ranges: multi-range not supported by this client\n",
                cJSON_GetArraySize(rs));
        goto done;
      }
      if (nfe == cap) {
        cap = cap ? cap * 2 : 64;
        cl_fetch *n2 = realloc(fe, cap * sizeof *n2);
        if (!n2) goto done;
        fe = n2;
      }
      cl_fetch *f = &fe[nfe];
      memset(f, 0, sizeof *f);
      uint64_t cs, ce;
      const cJSON *u = cJSON_GetObjectItemCaseSensitive(ent, "url");
      if (!cJSON_IsString(u) || bk_hash_parse(xo->string, &f->xorb)) goto done;
      if (ver == 1) {
        if (cl_json_range(ent, "range", &cs, &ce) || cl_json_range(ent, "url_range", &f->bs, &f->be))
          goto done;
      } else {
        const cJSON *ri = cJSON_GetArrayItem(rs, 0);
        if (cl_json_range(ri, "chunks", &cs, &ce) || cl_json_range(ri, "bytes", &f->bs, &f->be))
          goto done;
      }
      if (ce <= cs || ce - cs > BK_XORB_MAX_CHUNKS || f->be < f->bs ||
          f->be - f->bs >= BK_XORB_MAX_BYTES + 65536u)
        goto done;
      f->cs = (uint32_t)cs;
      f->ce = (uint32_t)ce;
      if (!(f->url = strdup(u->valuestring))) goto done;
      nfe++;
    }
  }
  int nt = cJSON_GetArraySize(terms);
  tl = calloc((size_t)nt + 1, sizeof *tl);
  first = calloc(nfe + 2, sizeof *first);
  by_entry = calloc((size_t)nt + 1, sizeof *by_entry);
  if (!tl || !first || !by_entry) goto done;
  uint64_t want = range_s >= 0 ? (uint64_t)(range_e - range_s + 1) : UINT64_MAX;
  uint64_t got = 0;
  for (int t = 0; t < nt; t++) {
    const cJSON *tt = cJSON_GetArrayItem(terms, t);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(tt, "hash");
    bk_hash xh;
    uint64_t cs, ce;
    cl_term *T = &tl[t];
    if (!cJSON_IsString(h) || bk_hash_parse(h->valuestring, &xh) ||
        cl_json_range(tt, "range", &cs, &ce) || cl_json_u64(tt, "unpacked_length", &T->ulen))
      goto done;
    T->entry = -1;
    for (size_t i = 0; i < nfe; i++)
      if (bk_hash_eq(&fe[i].xorb, &xh) && fe[i].cs <= cs && fe[i].ce >= ce) {
        T->entry = (int)i;
        break;
      }
    if (T->entry < 0) {
      fprintf(stderr, "term %d has no covering fetch entry\n", t);
      goto done;
    }
    T->cs = (uint32_t)cs;
    T->ce = (uint32_t)ce;
    T->skip = skip < T->ulen ? skip : T->ulen;
    skip -= T->skip;
    T->len = T->ulen - T->skip;
    if (T->len > want - got) T->len = want - got;
    T->out = got;
    got += T->len;
    first[T->entry + 1]++;
  }
  for (size_t i = 0; i < nfe; i++) first[i + 1] += first[i];
  {
    size_t *fill = calloc(nfe + 1, sizeof *fill);
    if (!fill) goto done;
    for (int t = 0; t < nt; t++) by_entry[first[tl[t].entry] + fill[tl[t].entry]++] = (size_t)t;
    free(fill);
  }
  if (got > out->max - out->len || bk_buf_reserve(out, (size_t)got) != 0) {
    rc = BK_ELIMIT;
    goto done;
  }
  /* fetch, decode and place everything (in parallel) */
  if (nthreads < 1) nthreads = 1;
  if (nthreads > 16) nthreads = 16;
  cl_pool pool = {fe, nfe, tl, by_entry, first, out->p + out->len, 0, PTHREAD_MUTEX_INITIALIZER};
  pthread_t th[16];
  unsigned started = 0;
  for (unsigned i = 1; i < nthreads; i++)
    if (pthread_create(&th[started], NULL, cl_worker, &pool) == 0) started++;
  cl_worker(&pool);
  for (unsigned i = 0; i < started; i++) pthread_join(th[i], NULL);
  rc = 0;
  for (size_t i = 0; i < nfe; i++) {
    if (fe[i].rc) {
      rc = fe[i].rc;
      goto done;
    }
    st->fetched_bytes += fe[i].be - fe[i].bs + 1;
    st->nfetches++;
  }
  out->len += (size_t)got;
done:
  for (size_t i = 0; i < nfe; i++) free(fe[i].url);
  free(fe);
  free(tl);
  free(first);
  free(by_entry);
  cJSON_Delete(j);
  return rc;
}

__attribute__((unused)) static int cl_download(CURL *c, const char *base, const char *token, const char *file_hex,
                       int ver, int64_t range_s, int64_t range_e, bk_buf *out,
                       cl_dl_stats *st) {
  return cl_download_par(c, base, token, file_hex, ver, range_s, range_e, 1, out, st);
}

#endif
