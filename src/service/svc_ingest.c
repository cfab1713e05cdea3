/* buckets storage service — ingest a file from bytes (service.h).
 *
 * The bytes are cut with the Xet CDC chunker and hashed; the file hash is
 * computed (parse). When the file is already known the bucket is only
 * granted it. Otherwise each chunk is placed (plan and store): first in the
 * chunks already placed during this upload and in xorbs found through the
 * dedup index (within the configured dedup scope; a hit loads the whole
 * chunk table of that xorb, like a Xet client does with a dedup shard), and
 * only new chunks are packed into new xorbs (compressed, stored,
 * registered). A shard describing the file (terms pointing at old and new
 * xorbs) is then stored and registered with the bucket's grant, so a later
 * batch addFile may use the hash. Nothing here knows about HTTP or forms:
 * the web upload uses it today, an S3 PUT later.
 */
#include <stdlib.h>
#include <string.h>

#include "buckets/cdc.h"
#include "buckets/error.h"
#include "buckets/merkle.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"

/* Where a chunk lives: xorb slot (index into xorbs[]) and chunk index. */
struct loc {
  int32_t xorb;   /* -1 = not placed */
  uint32_t idx;
};

/* Open-addressing map: chunk hash -> loc. */
struct cmap {
  bk_hash *keys;
  struct loc *vals;
  uint8_t *used;
  size_t cap, n;
};

static int cmap_init(struct cmap *m, size_t want) {
  size_t cap = 1024;
  while (cap < want * 2) cap <<= 1;
  m->keys = calloc(cap, sizeof *m->keys);
  m->vals = calloc(cap, sizeof *m->vals);
  m->used = calloc(cap, 1);
  m->cap = cap;
  m->n = 0;
  return m->keys && m->vals && m->used ? 0 : bk_seterr(BK_ENOMEM, "oom");
}

static void cmap_free(struct cmap *m) {
  free(m->keys);
  free(m->vals);
  free(m->used);
}

static int cmap_grow(struct cmap *m);

static int cmap_put(struct cmap *m, const bk_hash *h, struct loc v) {
  if ((m->n + 1) * 2 > m->cap) {
    int rc = cmap_grow(m);
    if (rc < 0) return rc;
  }
  size_t i = (size_t)bk_hash_head_u64(h) & (m->cap - 1);
  while (m->used[i]) {
    if (bk_hash_eq(&m->keys[i], h)) return 0; /* keep the first location */
    i = (i + 1) & (m->cap - 1);
  }
  m->used[i] = 1;
  m->keys[i] = *h;
  m->vals[i] = v;
  m->n++;
  return 0;
}

static int cmap_grow(struct cmap *m) {
  struct cmap n2;
  int rc = cmap_init(&n2, m->cap);
  if (rc < 0) { cmap_free(&n2); return rc; }
  for (size_t i = 0; i < m->cap; i++)
    if (m->used[i]) cmap_put(&n2, &m->keys[i], m->vals[i]);
  cmap_free(m);
  *m = n2;
  return 0;
}

static const struct loc *cmap_get(const struct cmap *m, const bk_hash *h) {
  size_t i = (size_t)bk_hash_head_u64(h) & (m->cap - 1);
  while (m->used[i]) {
    if (bk_hash_eq(&m->keys[i], h)) return &m->vals[i];
    i = (i + 1) & (m->cap - 1);
  }
  return NULL;
}

struct xorb_slot {
  bk_hash hash;
  int is_new;
  bk_xorb_chunk *chunks; /* new xorbs: copy of the builder's chunk table */
  uint32_t nchunks;
  uint32_t bytes_in_xorb, bytes_on_disk;
};

struct ingest {
  bk_svc *svc;
  int64_t bucket_id;
  struct cmap map;
  struct xorb_slot *x;
  size_t nx, capx;
  bk_xorb_builder *b;
  int32_t cur;           /* slot of the xorb being built, -1 none */
  struct bk_svc_ingest_stats *st;
};

static int add_slot(struct ingest *g, const bk_hash *h, int is_new, int32_t *slot) {
  if (g->nx == g->capx) {
    size_t nc = g->capx ? g->capx * 2 : 8;
    struct xorb_slot *nx = realloc(g->x, nc * sizeof *nx);
    if (!nx) return bk_seterr(BK_ENOMEM, "oom");
    g->x = nx;
    g->capx = nc;
  }
  memset(&g->x[g->nx], 0, sizeof g->x[g->nx]);
  if (h) g->x[g->nx].hash = *h;
  g->x[g->nx].is_new = is_new;
  *slot = (int32_t)g->nx++;
  return 0;
}

/* Finishes the xorb being built: store, register, record its chunk table. */
static int flush_xorb(struct ingest *g) {
  bk_hash xh;
  const uint8_t *body;
  size_t blen;
  int rc;
  if (g->cur < 0) return 0;
  if ((rc = bk_xorb_builder_finish(g->b, &xh, &body, &blen)) < 0) return rc;
  size_t n = bk_xorb_builder_count(g->b);
  const bk_xorb_chunk *ch = bk_xorb_builder_chunks(g->b);
  struct svc_place pl; /* regions: the bucket's home region (docs/regions.md) */
  if ((rc = svc_place(g->svc, g->bucket_id, &xh, &pl))) return rc;
  if ((rc = bk_blob_put(pl.bs, BK_BLOB_XORB, &xh, body, blen, NULL)) < 0) return rc;
  /* the one put-then-register policy (svc_xorb_register): a gc that removed
   * the blob before the row existed answers BK_ESTALE, the upload fails and
   * is sent again */
  rc = svc_xorb_register_at(g->svc, &pl, &xh, blen, ch, n, 0, NULL, NULL);
  if (rc == 0 && pl.region_id > 0) bk_svc_replicate_wake(g->svc);
  if (rc < 0) return rc;
  struct xorb_slot *s = &g->x[g->cur];
  s->hash = xh;
  s->nchunks = (uint32_t)n;
  s->bytes_on_disk = (uint32_t)blen;
  s->bytes_in_xorb = (uint32_t)bk_xorb_builder_unpacked(g->b);
  s->chunks = malloc(n * sizeof *s->chunks);
  if (!s->chunks) return bk_seterr(BK_ENOMEM, "oom");
  memcpy(s->chunks, ch, n * sizeof *ch);
  bk_xorb_builder_reset(g->b);
  g->cur = -1;
  return 0;
}

/* Loads the chunk table of an existing xorb into the map (dedup hit). */
static int load_xorb(struct ingest *g, const bk_hash *xh) {
  bk_xorb_info xi;
  int32_t slot;
  int rc = bk_db_xorb_get(g->svc->db, xh, &xi);
  if (rc < 0) return rc;
  if (xi.nchunks == 0 || xi.nchunks > BK_XORB_MAX_CHUNKS) return 0;
  bk_xorb_chunk *ch = calloc(xi.nchunks, sizeof *ch);
  if (!ch) return bk_seterr(BK_ENOMEM, "oom");
  if ((rc = bk_db_xorb_chunks(g->svc->db, xh, 0, xi.nchunks, ch)) < 0) { free(ch); return rc; }
  if ((rc = add_slot(g, xh, 0, &slot)) < 0) { free(ch); return rc; }
  for (uint32_t i = 0; i < xi.nchunks && rc >= 0; i++)
    rc = cmap_put(&g->map, &ch[i].hash, (struct loc){slot, i});
  free(ch);
  return rc;
}

static void free_ingest(struct ingest *g) {
  for (size_t i = 0; i < g->nx; i++) free(g->x[i].chunks);
  free(g->x);
  cmap_free(&g->map);
  bk_xorb_builder_free(g->b);
}

/* ---- parse: cut and hash ---- */

/* The chunks of the input: boundaries, hashes and merkle leaves. */
struct chunked {
  uint64_t *ends;
  bk_hash *hashes;
  bk_merkle_leaf *leaves;
  size_t n;
};

static void chunked_free(struct chunked *c) {
  free(c->ends);
  free(c->hashes);
  free(c->leaves);
}

/* CDC chunking, chunk hashes and the file hash. */
static int ingest_parse(const uint8_t *data, size_t len, struct chunked *c, bk_hash *file) {
  int rc = bk_cdc_chunks_parallel(data, len, 2, &c->ends, &c->hashes, &c->n);
  if (rc < 0) return rc;
  c->leaves = malloc(c->n * sizeof *c->leaves);
  if (!c->leaves) return bk_seterr(BK_ENOMEM, "oom");
  for (size_t i = 0; i < c->n; i++) {
    c->leaves[i].hash = c->hashes[i];
    c->leaves[i].len = c->ends[i] - (i ? c->ends[i - 1] : 0);
  }
  return bk_file_hash(c->leaves, c->n, NULL, file);
}

/* ---- plan and store: place every chunk (dedup or a new xorb) ---- */

/* A dedup candidate (the first chunk and every 1024th by hash, as a Xet
 * client queries): reuse a stored xorb only once it verifies
 * (svc_xorb_check marks a damaged one; its chunks are then stored again
 * in a new xorb). */
static int ingest_dedup(struct ingest *g, const bk_hash *h) {
  bk_hash xh;
  uint32_t idx;
  bk_svc *svc = g->svc;
  if (bk_db_dedup_lookup(svc->db, h, svc->dedup_scope, g->bucket_id, &xh, &idx) != 0 ||
      svc_xorb_check(svc, &xh, svc->reverify_ms) != 0)
    return 0;
  return load_xorb(g, &xh);
}

/* Places chunk i: in a xorb already known (this upload or dedup), else
 * into the xorb being built (flushed, stored and registered when full). */
static int ingest_place(struct ingest *g, const uint8_t *data, const struct chunked *c, size_t i,
                        struct loc *out) {
  const struct loc *l = cmap_get(&g->map, &c->hashes[i]);
  int rc;
  if (!l && (i == 0 || bk_hash_tail_u64(&c->hashes[i]) % 1024 == 0)) {
    if ((rc = ingest_dedup(g, &c->hashes[i])) < 0) return rc;
    l = cmap_get(&g->map, &c->hashes[i]);
  }
  if (l) {
    *out = *l;
    return 0;
  }
  const uint8_t *cd = data + (i ? c->ends[i - 1] : 0);
  size_t cl = (size_t)c->leaves[i].len;
  if (g->cur < 0 && (rc = add_slot(g, NULL, 1, &g->cur)) < 0) return rc;
  rc = bk_xorb_builder_add(g->b, cd, cl, &c->hashes[i]);
  if (rc == BK_ELIMIT) {
    if ((rc = flush_xorb(g)) < 0) return rc;
    if ((rc = add_slot(g, NULL, 1, &g->cur)) < 0) return rc;
    rc = bk_xorb_builder_add(g->b, cd, cl, &c->hashes[i]);
  }
  if (rc < 0) return rc;
  struct loc nl = {g->cur, (uint32_t)bk_xorb_builder_count(g->b) - 1};
  if ((rc = cmap_put(&g->map, &c->hashes[i], nl)) < 0) return rc;
  *out = nl;
  g->st->new_chunks++;
  g->st->new_bytes += cl;
  return 0;
}

/* ---- shard: describe the file ---- */

/* Terms: runs of consecutive chunks of one xorb, with their verification
 * range hashes. *terms malloc'd. */
static int build_terms(const struct ingest *g, const struct chunked *c, const struct loc *locs,
                       bk_shard_term **out, size_t *nout) {
  size_t nterms = 0;
  bk_shard_term *terms = calloc(c->n, sizeof *terms);
  if (!terms) return bk_seterr(BK_ENOMEM, "oom");
  for (size_t i = 0; i < c->n; i++) {
    bk_shard_term *t = nterms ? &terms[nterms - 1] : NULL;
    if (t && bk_hash_eq(&t->xorb_hash, &g->x[locs[i].xorb].hash) && t->chunk_end == locs[i].idx) {
      t->chunk_end++;
      t->unpacked_bytes += (uint32_t)c->leaves[i].len;
      continue;
    }
    t = &terms[nterms++];
    t->xorb_hash = g->x[locs[i].xorb].hash;
    t->chunk_start = locs[i].idx;
    t->chunk_end = locs[i].idx + 1;
    t->unpacked_bytes = (uint32_t)c->leaves[i].len;
  }
  size_t ci = 0;
  for (size_t t = 0; t < nterms; t++) {
    size_t k = terms[t].chunk_end - terms[t].chunk_start;
    bk_range_hash(c->hashes + ci, k, &terms[t].range_hash);
    ci += k;
  }
  *out = terms;
  *nout = nterms;
  return 0;
}

static void free_shard_xorbs(bk_shard_xorb *sx, size_t n) {
  for (size_t i = 0; sx && i < n; i++) free(sx[i].chunks);
  free(sx);
}

/* The xorb-info section: every new xorb with its chunk table. */
static int build_shard_xorbs(const struct ingest *g, bk_shard_xorb **out, size_t *nout) {
  size_t nnew = 0;
  for (size_t i = 0; i < g->nx; i++) nnew += g->x[i].is_new;
  bk_shard_xorb *sx = calloc(nnew ? nnew : 1, sizeof *sx);
  if (!sx) return bk_seterr(BK_ENOMEM, "oom");
  size_t k = 0;
  for (size_t i = 0; i < g->nx; i++) {
    const struct xorb_slot *s = &g->x[i];
    if (!s->is_new) continue;
    bk_shard_xorb *x = &sx[k++];
    x->xorb_hash = s->hash;
    x->nchunks = s->nchunks;
    x->bytes_in_xorb = s->bytes_in_xorb;
    x->bytes_on_disk = s->bytes_on_disk;
    x->chunks = calloc(s->nchunks, sizeof *x->chunks);
    if (!x->chunks) {
      free_shard_xorbs(sx, k);
      return bk_seterr(BK_ENOMEM, "oom");
    }
    for (uint32_t c = 0; c < s->nchunks; c++) {
      x->chunks[c].hash = s->chunks[c].hash;
      x->chunks[c].byte_start = s->chunks[c].unpacked_offset;
      x->chunks[c].len = s->chunks[c].unpacked_len;
      x->chunks[c].flags = bk_hash_tail_u64(&s->chunks[c].hash) % 1024 == 0
                               ? BK_SHARD_CHUNK_GLOBAL_DEDUP : 0;
    }
  }
  *out = sx;
  *nout = nnew;
  return 0;
}

/* Serializes the shard describing the file, stores and registers it (the
 * bucket's grant comes with the registration). */
static int ingest_shard(struct ingest *g, const struct chunked *c, const struct loc *locs,
                        const bk_hash *file) {
  bk_shard_term *terms = NULL;
  bk_shard_xorb *sx = NULL;
  size_t nterms = 0, nsx = 0;
  bk_buf bytes;
  bk_buf_init(&bytes, BK_SHARD_MAX_BYTES);
  int rc = build_terms(g, c, locs, &terms, &nterms);
  if (rc == 0) rc = build_shard_xorbs(g, &sx, &nsx);
  bk_shard *parsed = NULL;
  if (rc == 0) {
    bk_shard_file sf = {.file_hash = *file, .flags = BK_SHARD_FILE_VERIFY,
                        .nterms = (uint32_t)nterms, .terms = terms};
    bk_shard sh = {.nfiles = 1, .files = &sf, .nxorbs = (uint32_t)nsx, .xorbs = sx};
    rc = bk_shard_serialize(&sh, BK_SHARD_WITH_FOOTER, &bytes);
  }
  if (rc == 0) rc = bk_shard_parse(bytes.p, bytes.len, &parsed);
  if (rc == 0) {
    bk_hash missing;
    int existed = 0;
    rc = svc_shard_store(g->svc, bytes.p, bytes.len, parsed, g->bucket_id, &missing, &existed);
  }
  bk_shard_free(parsed);
  free_shard_xorbs(sx, nsx);
  free(terms);
  bk_buf_free(&bytes);
  return rc;
}

/* ---- execute ---- */

int bk_svc_ingest(bk_svc *svc, int64_t bucket_id, const uint8_t *data, size_t len,
                  bk_hash *file, struct bk_svc_ingest_stats *st) {
  struct chunked c;
  struct ingest g;
  struct loc *locs = NULL;
  memset(st, 0, sizeof *st);
  memset(&c, 0, sizeof c);
  memset(&g, 0, sizeof g);
  memset(file, 0, sizeof *file);
  if (len == 0) return 0; /* the empty file: zero hash, nothing stored */

  int rc = ingest_parse(data, len, &c, file);
  if (rc < 0) goto done;
  st->chunks = c.n;
  bk_cas_file cf;
  if (bk_db_cas_file_get(svc->db, file, &cf) == 0) { /* known file: only the grant */
    st->whole_file_dedup = 1;
    rc = bk_db_file_grant(svc->db, file, bucket_id);
    goto done;
  }
  g.svc = svc;
  g.bucket_id = bucket_id;
  g.cur = -1;
  g.st = st;
  locs = malloc(c.n * sizeof *locs);
  if (!locs) rc = bk_seterr(BK_ENOMEM, "oom");
  if (rc == 0) rc = cmap_init(&g.map, c.n);
  if (rc == 0) rc = bk_xorb_builder_new(1, &g.b);
  for (size_t i = 0; rc == 0 && i < c.n; i++) rc = ingest_place(&g, data, &c, i, &locs[i]);
  if (rc == 0) rc = flush_xorb(&g);
  if (rc == 0) rc = ingest_shard(&g, &c, locs, file);
done:
  free(locs);
  free_ingest(&g);
  chunked_free(&c);
  return rc < 0 ? rc : 0;
}
