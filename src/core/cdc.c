/* Xet content-defined chunking (xet.md §1): gear hash, min 8 KiB, target
 * 64 KiB, max 128 KiB, mask 0xFFFF000000000000, with the reference's skip
 * optimisation. Streaming boundary finder (bk_cdc), chunker with callbacks
 * and chunk hashes (bk_chunker), whole-buffer and parallel boundary finders.
 * No I/O. */
#include "buckets/cdc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "buckets/error.h"

/* The first SKIP bytes of a chunk are not hashed: the gear hash after byte i
 * depends only on bytes i-63..i, so starting at chunk offset MIN-64-1 with
 * h = 0 yields the exact full-history hash at every tested position
 * (size >= MIN). */
#define CDC_SKIP (BK_CDC_MIN - 64u - 1u)

struct bk_cdc {
  uint64_t h;
  uint64_t pending; /* bytes of the current chunk seen so far */
};

int bk_cdc_new(bk_cdc **out) {
  bk_cdc *c = calloc(1, sizeof *c);
  if (!c) return bk_seterr(BK_ENOMEM, "cdc: out of memory");
  *out = c;
  return 0;
}

void bk_cdc_free(bk_cdc *c) { free(c); }

void bk_cdc_reset(bk_cdc *c) {
  c->h = 0;
  c->pending = 0;
}

uint64_t bk_cdc_pending(const bk_cdc *c) { return c->pending; }

/* Hashes p[0..n) testing after every byte. Returns the index+1 of the first
 * byte after which (h & MASK) == 0, or 0 if none. *hp carries h in/out. */
static size_t gear_find(const uint8_t *p, size_t n, uint64_t *hp) {
  const uint64_t *T = BK_GEAR_TABLE;
  uint64_t h = *hp;
  size_t i = 0;
#define STEP(k)                                        \
  h = (h << 1) + T[p[i + (k)]];                        \
  if (__builtin_expect((h & BK_CDC_MASK) == 0, 0)) {   \
    *hp = h;                                           \
    return i + (k) + 1;                                \
  }
  for (; n - i >= 8; i += 8) {
    STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
  }
  for (; i < n; i++) {
    STEP(0)
  }
#undef STEP
  *hp = h;
  return 0;
}

size_t bk_cdc_scan(bk_cdc *c, const uint8_t *data, size_t len, int *cut) {
  uint64_t h = c->h, pend = c->pending;
  size_t i = 0;
  *cut = 0;
  /* 1. skipped prefix: no hashing at all */
  if (pend < CDC_SKIP) {
    uint64_t s = CDC_SKIP - pend;
    if (s > len) s = len;
    i += (size_t)s;
    pend += s;
    h = 0;
  }
  /* 2. warm-up: hash, but no boundary test while size < MIN */
  while (i < len && pend < BK_CDC_MIN - 1) {
    h = (h << 1) + BK_GEAR_TABLE[data[i]];
    i++;
    pend++;
  }
  /* 3. test region: size after the byte is in [MIN, MAX] */
  if (i < len) {
    uint64_t room = BK_CDC_MAX - pend; /* >= 1 because pend < MAX here */
    size_t n = len - i;
    if (n > room) n = (size_t)room;
    size_t hit = gear_find(data + i, n, &h);
    if (hit) {
      c->h = 0;
      c->pending = 0;
      *cut = 1;
      return i + hit;
    }
    i += n;
    pend += n;
    if (pend == BK_CDC_MAX) {
      c->h = 0;
      c->pending = 0;
      *cut = 1;
      return i;
    }
  }
  c->h = h;
  c->pending = pend;
  return i;
}

/* ---- chunker ---- */

struct bk_chunker {
  bk_chunk_cb cb;
  void *ctx;
  bk_cdc cdc;
  uint8_t *buf; /* partial chunk, at most BK_CDC_MAX bytes */
  size_t blen;
  uint64_t offset;      /* total bytes fed in this stream */
  uint64_t chunk_start; /* stream offset of the current chunk */
};

int bk_chunker_new(bk_chunk_cb cb, void *ctx, bk_chunker **out) {
  if (!cb) return bk_seterr(BK_EINVAL, "chunker: callback is NULL");
  bk_chunker *k = calloc(1, sizeof *k);
  if (!k) return bk_seterr(BK_ENOMEM, "chunker: out of memory");
  k->buf = malloc(BK_CDC_MAX);
  if (!k->buf) {
    free(k);
    return bk_seterr(BK_ENOMEM, "chunker: out of memory");
  }
  k->cb = cb;
  k->ctx = ctx;
  *out = k;
  return 0;
}

void bk_chunker_free(bk_chunker *k) {
  if (!k) return;
  free(k->buf);
  free(k);
}

static int emit(bk_chunker *k, const uint8_t *p, size_t n) {
  bk_hash h;
  bk_chunk_hash(p, n, &h);
  uint64_t off = k->chunk_start;
  k->chunk_start += n;
  return k->cb(k->ctx, off, p, n, &h);
}

int bk_chunker_feed(bk_chunker *k, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len) {
    int cut;
    size_t n = bk_cdc_scan(&k->cdc, p, len, &cut);
    if (!cut) {
      /* n == len; pending <= MAX - 1 so the copy fits */
      memcpy(k->buf + k->blen, p, n);
      k->blen += n;
      k->offset += n;
      return 0;
    }
    int rc;
    if (k->blen == 0) {
      rc = emit(k, p, n); /* zero copy */
    } else {
      memcpy(k->buf + k->blen, p, n);
      k->blen += n;
      rc = emit(k, k->buf, k->blen);
      k->blen = 0;
    }
    k->offset += n;
    p += n;
    len -= n;
    if (rc) return rc;
  }
  return 0;
}

int bk_chunker_finish(bk_chunker *k) {
  int rc = 0;
  if (k->blen) rc = emit(k, k->buf, k->blen);
  k->blen = 0;
  k->offset = 0;
  k->chunk_start = 0;
  bk_cdc_reset(&k->cdc);
  return rc;
}

uint64_t bk_chunker_offset(const bk_chunker *k) { return k->offset; }

/* ---- whole-buffer boundaries ---- */

typedef struct ends_vec {
  uint64_t *v;
  size_t n, cap;
} ends_vec;

static int ends_push(ends_vec *e, uint64_t x) {
  uint64_t *nv = bk_grow(e->v, e->n, &e->cap, sizeof *nv, 256, 0);
  if (!nv) return BK_ENOMEM;
  e->v = nv;
  e->v[e->n++] = x;
  return 0;
}

/* Chunks data[from..to) continuing the state in *c, pushing the absolute end
 * offset of every cut. A final partial chunk is left pending in *c. */
static int chunk_range(const uint8_t *data, size_t from, size_t to, ends_vec *e,
                       bk_cdc *c) {
  size_t pos = from;
  while (pos < to) {
    int cut;
    size_t n = bk_cdc_scan(c, data + pos, to - pos, &cut);
    pos += n;
    if (cut && ends_push(e, pos)) return BK_ENOMEM;
  }
  return 0;
}

int bk_cdc_boundaries(const uint8_t *data, size_t len, uint64_t **ends, size_t *n) {
  ends_vec e = {0};
  bk_cdc c = {0};
  *ends = NULL;
  *n = 0;
  if (chunk_range(data, 0, len, &e, &c)) goto oom;
  if (c.pending && ends_push(&e, len)) goto oom;
  *ends = e.v;
  *n = e.n;
  return 0;
oom:
  free(e.v);
  return bk_seterr(BK_ENOMEM, "cdc: out of memory for boundaries");
}

/* ---- parallel chunking (xet.md §1 "Parallel chunking") ----
 *
 * The input is cut into nthreads segments. Thread t > 0 chunks from its
 * segment start as if a chunk began there, and looks for a "stable"
 * boundary: the end of the second of two consecutive chunks whose sizes are
 * both in [2*MIN, MAX-MIN). Such a boundary is also a boundary of the
 * sequential chunker (whatever the sequential chunker did before), so from
 * there on both chunkings coincide. Thread t publishes that point P_t, then
 * keeps chunking until it reaches the next published point P_{t+1} (or the
 * end). A thread that finds no stable point inside its segment publishes
 * "none" and the previous thread simply runs through that segment too. As a
 * defensive check, a thread that steps over the next thread's P without
 * landing on it flags a mismatch, and the whole input is then chunked
 * sequentially. With hashing on, each thread also hashes the chunks it owns
 * (those after its P_t). */

static _Atomic uint64_t g_par_joins, g_par_fallbacks;

void bk_cdc_parallel_stats(uint64_t *joins, uint64_t *fallbacks) {
  if (joins) *joins = g_par_joins;
  if (fallbacks) *fallbacks = g_par_fallbacks;
}

#define P_PENDING UINT64_MAX
#define P_NONE (UINT64_MAX - 1)

typedef struct par_shared {
  const uint8_t *data;
  size_t len;
  unsigned nt;
  size_t *seg; /* nt + 1 segment starts; seg[nt] = len */
  uint64_t *p; /* published stable points */
  int mismatch;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} par_shared;

typedef struct par_thread {
  par_shared *s;
  unsigned t;
  ends_vec e;     /* ends of the chunks this thread owns (from P_t on) */
  bk_hash *hash;  /* hashes of owned chunks (if hashing) */
  size_t nhash, hcap;
  int hashing;
  int rc;
} par_thread;

static uint64_t wait_point(par_shared *s, unsigned t) {
  pthread_mutex_lock(&s->mu);
  while (s->p[t] == P_PENDING) pthread_cond_wait(&s->cv, &s->mu);
  uint64_t v = s->p[t];
  pthread_mutex_unlock(&s->mu);
  return v;
}

static void publish(par_shared *s, unsigned t, uint64_t v) {
  pthread_mutex_lock(&s->mu);
  s->p[t] = v;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static int stable_size(uint64_t sz) {
  return sz >= 2 * (uint64_t)BK_CDC_MIN && sz < (uint64_t)(BK_CDC_MAX - BK_CDC_MIN);
}

static int own_push(par_thread *w, uint64_t start, uint64_t end) {
  if (ends_push(&w->e, end)) return BK_ENOMEM;
  if (!w->hashing) return 0;
  bk_hash *nh = bk_grow(w->hash, w->nhash, &w->hcap, sizeof *nh, 256, 0);
  if (!nh) return BK_ENOMEM;
  w->hash = nh;
  bk_chunk_hash(w->s->data + start, (size_t)(end - start), &w->hash[w->nhash++]);
  return 0;
}

static void *par_worker(void *arg) {
  par_thread *w = arg;
  par_shared *s = w->s;
  const uint8_t *d = s->data;
  size_t pos = s->seg[w->t];
  bk_cdc c = {0};
  uint64_t start_own;

  if (w->t > 0) {
    /* phase A: find the stable point within our segment */
    size_t limit = s->seg[w->t + 1];
    uint64_t prev_start = pos, prev_size = 0;
    uint64_t found = P_NONE;
    while (pos < limit) {
      int cut;
      size_t n = bk_cdc_scan(&c, d + pos, s->len - pos, &cut);
      pos += n;
      if (!cut) break; /* reached end of data without a cut */
      uint64_t size = pos - prev_start;
      if (stable_size(prev_size) && stable_size(size)) {
        found = pos;
        break;
      }
      prev_size = size;
      prev_start = pos;
    }
    if (found == P_NONE || found >= limit) {
      publish(s, w->t, P_NONE);
      return NULL;
    }
    bk_cdc_reset(&c); /* state after a cut */
    publish(s, w->t, found);
    start_own = found;
  } else {
    start_own = 0;
  }

  /* phase B: own chunks from start_own until the next published point */
  unsigned next = w->t + 1;
  uint64_t target = P_PENDING; /* not known until we pass seg[next] */
  uint64_t cstart = start_own;
  pos = (size_t)start_own;
  for (;;) {
    if (target == P_PENDING && next < s->nt && pos >= s->seg[next]) {
      uint64_t pn = wait_point(s, next);
      if (pn == P_NONE) {
        next++;
        continue;
      }
      target = pn;
    }
    if (target != P_PENDING) {
      if (pos == target) { /* joined the next thread's chunks */
        g_par_joins++;
        break;
      }
      if (pos > target) {
        pthread_mutex_lock(&s->mu);
        s->mismatch = 1;
        pthread_mutex_unlock(&s->mu);
        return NULL;
      }
    }
    if (pos >= s->len) break;
    int cut;
    pos += bk_cdc_scan(&c, d + pos, s->len - pos, &cut);
    /* !cut: end of data, the rest is the final chunk (pos == len) */
    if ((w->rc = own_push(w, cstart, pos))) return NULL;
    cstart = pos;
  }
  return NULL;
}

/* How many threads to use for len bytes (1..64): segments shorter than a
 * few max chunks are not worth a thread. Sets *per to the segment length. */
static unsigned par_plan(size_t len, unsigned nthreads, size_t *per) {
  if (nthreads < 1) nthreads = 1;
  if (nthreads > 64) nthreads = 64;
  *per = len / nthreads;
  if (*per < 16 * (size_t)BK_CDC_MAX) {
    nthreads = (unsigned)(len / (16 * (size_t)BK_CDC_MAX));
    if (nthreads < 1) nthreads = 1;
    *per = len / nthreads;
  }
  return nthreads;
}

/* Runs the s->nt workers w[] (set up by the caller) to completion: threads
 * 1.. on their own, thread 0 on the calling thread. */
static void par_run(par_shared *s, par_thread *w) {
  pthread_t tid[64];
  int running[64] = {0};
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  for (unsigned t = 1; t < s->nt; t++) {
    if (pthread_create(&tid[t], NULL, par_worker, &w[t]) == 0)
      running[t] = 1;
    else
      publish(s, t, P_NONE); /* cannot start: the previous thread covers it */
  }
  par_worker(&w[0]);
  for (unsigned t = 1; t < s->nt; t++)
    if (running[t]) pthread_join(tid[t], NULL);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
}

/* Concatenates the nt workers' owned chunks (in order) into fresh arrays
 * *ends and, when hashing, *hashes; *total entries. Returns 0 or BK_ENOMEM
 * (nothing allocated). */
static int par_gather(const par_thread *w, unsigned nt, int hashing, uint64_t **ends,
                      bk_hash **hashes, size_t *total) {
  size_t n = 0;
  for (unsigned t = 0; t < nt; t++) n += w[t].e.n;
  uint64_t *out = malloc((n ? n : 1) * sizeof *out);
  bk_hash *hout = hashing ? malloc((n ? n : 1) * sizeof *hout) : NULL;
  if (!out || (hashing && !hout)) {
    free(out);
    free(hout);
    return BK_ENOMEM;
  }
  size_t k = 0;
  for (unsigned t = 0; t < nt; t++) {
    size_t m = w[t].e.n;
    if (m == 0) continue;
    memcpy(out + k, w[t].e.v, m * sizeof *out);
    if (hashing) memcpy(hout + k, w[t].hash, m * sizeof *hout);
    k += m;
  }
  *ends = out;
  *hashes = hout;
  *total = n;
  return 0;
}

/* The sequential chunking (and hashing, if hashes) of the whole input: the
 * fallback after a mismatch between threads. */
static int seq_fallback(const uint8_t *data, size_t len, uint64_t **ends, bk_hash **hashes,
                        size_t *n) {
  g_par_fallbacks++;
  uint64_t *out = NULL;
  size_t total = 0;
  int r = bk_cdc_boundaries(data, len, &out, &total);
  if (r) return r;
  bk_hash *hout = NULL;
  if (hashes) {
    hout = malloc((total ? total : 1) * sizeof *hout);
    if (!hout) {
      free(out);
      return bk_seterr(BK_ENOMEM, "cdc: out of memory");
    }
    uint64_t st = 0;
    for (size_t i = 0; i < total; i++) {
      bk_chunk_hash(data + st, (size_t)(out[i] - st), &hout[i]);
      st = out[i];
    }
    *hashes = hout;
  }
  *ends = out;
  *n = total;
  return 0;
}

/* Shared implementation; hashes may be NULL (boundaries only). */
static int par_chunk(const uint8_t *data, size_t len, unsigned nthreads,
                     uint64_t **ends, bk_hash **hashes, size_t *n) {
  *ends = NULL;
  if (hashes) *hashes = NULL;
  *n = 0;
  size_t per;
  nthreads = par_plan(len, nthreads, &per);
  par_shared s = {.data = data, .len = len, .nt = nthreads};
  size_t segs[65];
  uint64_t pts[64];
  par_thread w[64];
  s.seg = segs;
  s.p = pts;
  for (unsigned t = 0; t < nthreads; t++) {
    segs[t] = per * t;
    pts[t] = t == 0 ? 0 : P_PENDING;
    memset(&w[t], 0, sizeof w[t]);
    w[t].s = &s;
    w[t].t = t;
    w[t].hashing = hashes != NULL;
  }
  segs[nthreads] = len;
  par_run(&s, w);

  int rc = 0;
  for (unsigned t = 0; t < nthreads; t++)
    if (w[t].rc) rc = w[t].rc;
  uint64_t *out = NULL;
  bk_hash *hout = NULL;
  size_t total = 0;
  if (!rc && !s.mismatch) rc = par_gather(w, nthreads, hashes != NULL, &out, &hout, &total);
  for (unsigned t = 0; t < nthreads; t++) {
    free(w[t].e.v);
    free(w[t].hash);
  }
  if (rc) return bk_seterr(BK_ENOMEM, "cdc: out of memory for parallel boundaries");
  /* never expected (see the proof in docs/core.md); stay correct anyway */
  if (s.mismatch) return seq_fallback(data, len, ends, hashes, n);
  *ends = out;
  if (hashes) *hashes = hout;
  *n = total;
  return 0;
}

int bk_cdc_boundaries_parallel(const uint8_t *data, size_t len, unsigned nthreads,
                               uint64_t **ends, size_t *n) {
  return par_chunk(data, len, nthreads, ends, NULL, n);
}

int bk_cdc_chunks_parallel(const uint8_t *data, size_t len, unsigned nthreads,
                           uint64_t **ends, bk_hash **hashes, size_t *n) {
  if (!hashes) return bk_seterr(BK_EINVAL, "cdc: hashes is NULL");
  return par_chunk(data, len, nthreads, ends, hashes, n);
}
