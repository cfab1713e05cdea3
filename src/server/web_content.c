/* bucketd web — preview reads and upload ingest (see web_content.h). */
#include "server/web_content.h"

#include <stdlib.h>
#include <string.h>

#include "buckets/cdc.h"
#include "buckets/error.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"

/* ---- preview ---- */

int web_content_read_prefix(bk_db *db, bk_blobstore *bs, const bk_hash *file,
                            size_t max, bk_buf *out) {
  bk_file_term *terms = NULL;
  bk_xorb_chunk *ch = NULL;
  uint8_t *rec = NULL, *dst = NULL;
  size_t nterms = 0, got = 0;
  int rc;
  if (bk_hash_is_zero(file)) return 0; /* empty file */
  if ((rc = bk_db_cas_file_terms(db, file, &terms, &nterms)) < 0) return rc;
  dst = malloc(BK_XORB_CHUNK_MAX);
  if (!dst) { rc = bk_seterr(BK_ENOMEM, "oom"); goto done; }
  for (size_t t = 0; t < nterms && got < max; t++) {
    const bk_file_term *tm = &terms[t];
    if (tm->chunk_end <= tm->chunk_start || tm->chunk_end - tm->chunk_start > BK_XORB_MAX_CHUNKS) {
      rc = bk_seterr(BK_EFORMAT, "bad term");
      goto done;
    }
    uint32_t n = tm->chunk_end - tm->chunk_start;
    free(ch);
    ch = calloc(n, sizeof *ch);
    if (!ch) { rc = bk_seterr(BK_ENOMEM, "oom"); goto done; }
    if ((rc = bk_db_xorb_chunks(db, &tm->xorb, tm->chunk_start, tm->chunk_end, ch)) < 0) goto done;
    /* only the chunks needed to reach max bytes */
    uint32_t k = 0;
    size_t need = max - got, acc = 0;
    while (k < n && acc < need) acc += ch[k++].unpacked_len;
    uint64_t b0, b1, unpacked;
    if ((rc = bk_db_xorb_range(db, &tm->xorb, tm->chunk_start, tm->chunk_start + k, &b0, &b1,
                               &unpacked)) < 0)
      goto done;
    if (b1 < b0 || b1 - b0 + 1 > (uint64_t)BK_XORB_MAX_BYTES) {
      rc = bk_seterr(BK_EFORMAT, "bad xorb range");
      goto done;
    }
    size_t rl = (size_t)(b1 - b0 + 1);
    free(rec);
    rec = malloc(rl);
    if (!rec) { rc = bk_seterr(BK_ENOMEM, "oom"); goto done; }
    if ((rc = bk_blob_read_range(bs, BK_BLOB_XORB, &tm->xorb, b0, rl, rec)) < 0) goto done;
    size_t off = 0;
    for (uint32_t i = 0; i < k && got < max; i++) {
      size_t used = 0, olen = 0;
      if ((rc = bk_xorb_decode_chunk(rec + off, rl - off, dst, BK_XORB_CHUNK_MAX, &used,
                                     &olen)) < 0)
        goto done;
      off += used;
      /* never show bytes that do not verify: a damaged xorb is marked
       * (docs/store.md "Damaged blobs") and the preview fails */
      bk_hash h;
      bk_chunk_hash(dst, olen, &h);
      if (olen != ch[i].unpacked_len || !bk_hash_eq(&h, &ch[i].hash)) {
        /* re-checked as a whole against the current row, then marked */
        rc = bk_db_xorb_check(db, bs, &tm->xorb, -1);
        if (rc == 0) rc = bk_seterr(BK_ESTALE, "xorb changed while read; try again");
        goto done;
      }
      size_t take = olen < max - got ? olen : max - got;
      if ((rc = bk_buf_append(out, dst, take)) < 0) goto done;
      got += take;
    }
  }
  rc = 0;
done:
  free(terms);
  free(ch);
  free(rec);
  free(dst);
  return rc;
}

/* ---- ingest ---- */

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
  bk_db *db;
  bk_blobstore *bs;
  struct cmap map;
  struct xorb_slot *x;
  size_t nx, capx;
  bk_xorb_builder *b;
  int32_t cur;           /* slot of the xorb being built, -1 none */
  struct web_ingest_stats *st;
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
  if ((rc = bk_blob_put(g->bs, BK_BLOB_XORB, &xh, body, blen, NULL)) < 0) return rc;
  rc = bk_db_xorb_register(g->db, g->bs, &xh, blen, ch, n, NULL);
  if (rc == BK_ENOTFOUND) { /* gc raced us: put again once */
    if ((rc = bk_blob_put(g->bs, BK_BLOB_XORB, &xh, body, blen, NULL)) < 0) return rc;
    rc = bk_db_xorb_register(g->db, g->bs, &xh, blen, ch, n, NULL);
  }
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
  int rc = bk_db_xorb_get(g->db, xh, &xi);
  if (rc < 0) return rc;
  if (xi.nchunks == 0 || xi.nchunks > BK_XORB_MAX_CHUNKS) return 0;
  bk_xorb_chunk *ch = calloc(xi.nchunks, sizeof *ch);
  if (!ch) return bk_seterr(BK_ENOMEM, "oom");
  if ((rc = bk_db_xorb_chunks(g->db, xh, 0, xi.nchunks, ch)) < 0) { free(ch); return rc; }
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

int web_content_ingest(bk_db *db, bk_blobstore *bs, int64_t bucket_id, int dedup_scope,
                       int64_t reverify_ms, const uint8_t *data, size_t len, bk_hash *file,
                       struct web_ingest_stats *st) {
  uint64_t *ends = NULL;
  bk_hash *hashes = NULL;
  struct loc *locs = NULL;
  bk_merkle_leaf *leaves = NULL;
  bk_shard_term *terms = NULL;
  bk_shard_xorb *sx = NULL;
  size_t n = 0;
  struct ingest g;
  bk_buf shard_bytes;
  int rc;

  memset(st, 0, sizeof *st);
  memset(&g, 0, sizeof g);
  bk_buf_init(&shard_bytes, BK_SHARD_MAX_BYTES);
  memset(file, 0, sizeof *file);
  if (len == 0) return 0; /* the empty file: zero hash, nothing stored */

  if ((rc = bk_cdc_chunks_parallel(data, len, 2, &ends, &hashes, &n)) < 0) goto done;
  st->chunks = n;
  leaves = malloc(n * sizeof *leaves);
  locs = malloc(n * sizeof *locs);
  if (!leaves || !locs) { rc = bk_seterr(BK_ENOMEM, "oom"); goto done; }
  for (size_t i = 0; i < n; i++) {
    leaves[i].hash = hashes[i];
    leaves[i].len = ends[i] - (i ? ends[i - 1] : 0);
  }
  if ((rc = bk_file_hash(leaves, n, NULL, file)) < 0) goto done;

  bk_cas_file cf;
  if (bk_db_cas_file_get(db, file, &cf) == 0) {
    st->whole_file_dedup = 1;
    rc = bk_db_file_grant(db, file, bucket_id);
    goto done;
  }

  g.db = db;
  g.bs = bs;
  g.cur = -1;
  g.st = st;
  if ((rc = cmap_init(&g.map, n)) < 0) goto done;
  if ((rc = bk_xorb_builder_new(1, &g.b)) < 0) goto done;

  for (size_t i = 0; i < n; i++) {
    const struct loc *l = cmap_get(&g.map, &hashes[i]);
    if (!l && (i == 0 || bk_hash_tail_u64(&hashes[i]) % 1024 == 0)) {
      bk_hash xh;
      uint32_t idx;
      /* reuse a stored xorb only once it verifies (bk_db_xorb_check marks a
       * damaged one; its chunks are then stored again in a new xorb) */
      if (bk_db_dedup_lookup(db, &hashes[i], dedup_scope, bucket_id, &xh, &idx) == 0 &&
          bk_db_xorb_check(db, bs, &xh, reverify_ms) == 0) {
        if ((rc = load_xorb(&g, &xh)) < 0) goto done;
        l = cmap_get(&g.map, &hashes[i]);
      }
    }
    if (l) {
      locs[i] = *l;
      continue;
    }
    const uint8_t *cd = data + (i ? ends[i - 1] : 0);
    size_t cl = (size_t)leaves[i].len;
    if (g.cur < 0 && (rc = add_slot(&g, NULL, 1, &g.cur)) < 0) goto done;
    rc = bk_xorb_builder_add(g.b, cd, cl, &hashes[i]);
    if (rc == BK_ELIMIT) {
      if ((rc = flush_xorb(&g)) < 0) goto done;
      if ((rc = add_slot(&g, NULL, 1, &g.cur)) < 0) goto done;
      rc = bk_xorb_builder_add(g.b, cd, cl, &hashes[i]);
    }
    if (rc < 0) goto done;
    struct loc nl = {g.cur, (uint32_t)bk_xorb_builder_count(g.b) - 1};
    if ((rc = cmap_put(&g.map, &hashes[i], nl)) < 0) goto done;
    locs[i] = nl;
    st->new_chunks++;
    st->new_bytes += cl;
  }
  if ((rc = flush_xorb(&g)) < 0) goto done;

  /* terms: runs of consecutive chunks of one xorb */
  size_t nterms = 0;
  terms = calloc(n, sizeof *terms);
  if (!terms) { rc = bk_seterr(BK_ENOMEM, "oom"); goto done; }
  for (size_t i = 0; i < n; i++) {
    bk_shard_term *t = nterms ? &terms[nterms - 1] : NULL;
    if (t && bk_hash_eq(&t->xorb_hash, &g.x[locs[i].xorb].hash) && t->chunk_end == locs[i].idx) {
      t->chunk_end++;
      t->unpacked_bytes += (uint32_t)leaves[i].len;
      continue;
    }
    t = &terms[nterms++];
    t->xorb_hash = g.x[locs[i].xorb].hash;
    t->chunk_start = locs[i].idx;
    t->chunk_end = locs[i].idx + 1;
    t->unpacked_bytes = (uint32_t)leaves[i].len;
  }
  /* verification range hashes over each term's chunk hashes */
  size_t ci = 0;
  for (size_t t = 0; t < nterms; t++) {
    size_t k = terms[t].chunk_end - terms[t].chunk_start;
    bk_range_hash(hashes + ci, k, &terms[t].range_hash);
    ci += k;
  }

  size_t nnew = 0;
  for (size_t i = 0; i < g.nx; i++) nnew += g.x[i].is_new;
  sx = calloc(nnew ? nnew : 1, sizeof *sx);
  if (!sx) { rc = bk_seterr(BK_ENOMEM, "oom"); goto done; }
  size_t k = 0;
  for (size_t i = 0; i < g.nx; i++) {
    struct xorb_slot *s = &g.x[i];
    if (!s->is_new) continue;
    bk_shard_xorb *x = &sx[k++];
    x->xorb_hash = s->hash;
    x->nchunks = s->nchunks;
    x->bytes_in_xorb = s->bytes_in_xorb;
    x->bytes_on_disk = s->bytes_on_disk;
    x->chunks = calloc(s->nchunks, sizeof *x->chunks);
    if (!x->chunks) { rc = bk_seterr(BK_ENOMEM, "oom"); goto done_sx; }
    for (uint32_t c = 0; c < s->nchunks; c++) {
      x->chunks[c].hash = s->chunks[c].hash;
      x->chunks[c].byte_start = s->chunks[c].unpacked_offset;
      x->chunks[c].len = s->chunks[c].unpacked_len;
      x->chunks[c].flags = bk_hash_tail_u64(&s->chunks[c].hash) % 1024 == 0
                               ? BK_SHARD_CHUNK_GLOBAL_DEDUP : 0;
    }
  }
  bk_shard_file sf = {.file_hash = *file, .flags = BK_SHARD_FILE_VERIFY,
                      .nterms = (uint32_t)nterms, .terms = terms};
  bk_shard sh = {.nfiles = 1, .files = &sf, .nxorbs = (uint32_t)nnew, .xorbs = sx};
  if ((rc = bk_shard_serialize(&sh, BK_SHARD_WITH_FOOTER, &shard_bytes)) < 0) goto done_sx;
  bk_shard *parsed = NULL;
  if ((rc = bk_shard_parse(shard_bytes.p, shard_bytes.len, &parsed)) < 0) goto done_sx;
  bk_hash shh;
  bk_blake3(shard_bytes.p, shard_bytes.len, shh.b);
  /* as in cas_ingest.c: the registration checks the blob under the write
   * lock; a gc that removed it between the put and the registration (no row
   * yet) answers BK_ESTALE and the blob is put again */
  for (int attempt = 0; attempt < 3; attempt++) {
    rc = bk_blob_put(bs, BK_BLOB_SHARD, &shh, shard_bytes.p, shard_bytes.len, NULL);
    if (rc >= 0)
      rc = bk_db_shard_register_ex(db, bs, &shh, shard_bytes.len, parsed, bucket_id, NULL, NULL);
    if (rc != BK_ESTALE) break;
  }
  bk_shard_free(parsed);
done_sx:
  for (size_t i = 0; i < k; i++) free(sx[i].chunks);
done:
  free(sx);
  free(terms);
  free(ends);
  free(hashes);
  free(leaves);
  free(locs);
  free_ingest(&g);
  bk_buf_free(&shard_bytes);
  return rc < 0 ? rc : 0;
}
