/* buckets storage service — the blob half of xorb/shard registration and of
 * the xorb/shard checks (service.h, docs/service.md). The metadata layer
 * touches no blob: registration = a BK_TX_GC_FENCE transaction in which the
 * service checks the stored blob (exists, layout, stamp) and then calls
 * bk_db_*_register_tx; a check = a metadata read, the blob read and verified
 * here, then a metadata write of the verdict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/clock.h"
#include "buckets/error.h"
#include "service/svc_internal.h"

/* Record headers read through a window: on a store without local files
 * (S3) every read is a request, so the 8-byte headers of one xorb (up to
 * ~8,000 of them, ascending) come out of a few large reads instead of one
 * request each. A store with an fd reads each header directly (a pread). */
#define LAYOUT_WINDOW (8u << 20)
struct hdr_win {
  bk_blob_reader *r;
  uint8_t *buf; /* NULL: no window, read each header */
  uint64_t off, size;
  size_t len;
};

static int hdr_read(struct hdr_win *w, uint64_t off, uint8_t h[8]) {
  size_t got = 0;
  if (!w->buf) {
    int rc = bk_blob_reader_read_at(w->r, off, h, 8, &got);
    return rc ? rc : got == 8 ? 0 : BK_ETRUNCATED;
  }
  if (off > w->size || w->size - off < 8) return BK_ETRUNCATED;
  if (off < w->off || off + 8 > w->off + w->len) {
    uint64_t want = w->size - off < LAYOUT_WINDOW ? w->size - off : LAYOUT_WINDOW;
    int rc = bk_blob_reader_read_at(w->r, off, w->buf, (size_t)want, &got);
    if (rc) return rc;
    w->off = off;
    w->len = got;
    if (got < 8) return BK_ETRUNCATED;
  }
  memcpy(h, w->buf + (off - w->off), 8);
  return 0;
}

/* 1 if the stored blob is laid out as the table says (same size, and every
 * record header at its offset declares that record's lengths), 0 if not,
 * negative on error (BK_ENOTFOUND: no blob). Reads through the blob reader. */
static int layout_matches(bk_blobstore *bs, const bk_hash *x, uint64_t bytes_on_disk,
                          const bk_xorb_chunk *ch, size_t n) {
  struct hdr_win w = {0};
  int rc = bk_blob_reader_open(bs, BK_BLOB_XORB, x, &w.r);
  if (rc) return rc;
  w.size = bk_blob_reader_size(w.r);
  int ok = w.size == bytes_on_disk;
  if (ok && !(bk_blobstore_caps(bs) & BK_BLOB_CAP_FD)) {
    w.buf = malloc(w.size < LAYOUT_WINDOW ? (size_t)w.size + 8 : LAYOUT_WINDOW);
    if (!w.buf) {
      bk_blob_reader_close(w.r);
      return bk_seterr(BK_ENOMEM, "out of memory");
    }
  }
  for (size_t i = 0; ok && i < n; i++) {
    uint8_t h[8];
    if (hdr_read(&w, ch[i].record_offset, h) != 0) {
      ok = 0;
      break;
    }
    uint32_t clen = bk_load_u24le(h + 1), ulen = bk_load_u24le(h + 5);
    ok = h[0] == 0 && (uint64_t)clen + 8 == ch[i].record_len && ulen == ch[i].unpacked_len;
  }
  free(w.buf);
  bk_blob_reader_close(w.r);
  bk_clearerr();
  return ok;
}

/* Parses the stored blob (full verification against the xorb hash). */
static int parse_stored(bk_blobstore *bs, const bk_hash *x, bk_xorb **out, uint64_t *size) {
  bk_buf b;
  bk_buf_init(&b, (size_t)BK_XORB_MAX_BYTES + (1u << 20));
  int rc = bk_blob_get(bs, BK_BLOB_XORB, x, b.max, &b);
  if (rc == 0) rc = bk_xorb_parse(b.p, b.len, BK_XORB_ALLOW_FOOTER, x, out);
  if (rc == 0) *size = b.len;
  bk_buf_free(&b);
  return rc;
}

/* What a registration found and decided inside its fence transaction. */
struct xreg {
  bk_xorb_info row;
  int was, replaced, verified, relayout;
  const bk_xorb_chunk *table; /* the table that describes the stored blob */
  uint64_t table_disk;
  bk_xorb *parsed;            /* owns table when it was adopted from the stored blob */
  const char *tag;            /* the caller's writer tag (svc_xorb_register_mine) or NULL */
  const bk_xorb_chunk *mine;  /* the caller's table and size: the stored blob's */
  uint64_t mine_disk;         /*   layout when mine_stored */
  int mine_stored;            /* the stored blob carries the caller's tag */
  bk_blobstore *bs;           /* the store the blob is in (its placement's) */
};

/* The stored blob's layout against (table, disk, n): from memory when it is
 * the caller's own blob (mine_stored: its layout is the caller's verified
 * table), else read from the store (layout_matches). */
static int layout_ok(const struct xreg *g, const bk_hash *x, uint64_t disk,
                     const bk_xorb_chunk *table, size_t n) {
  if (!g->mine_stored) return layout_matches(g->bs, x, disk, table, n);
  if (disk != g->mine_disk) return 0;
  for (size_t i = 0; i < n; i++)
    if (table[i].record_offset != g->mine[i].record_offset ||
        table[i].record_len != g->mine[i].record_len ||
        table[i].unpacked_len != g->mine[i].unpacked_len)
      return 0;
  return 1;
}

/* 1 if the blob is stored, 0 if not, negative on error; with a caller's tag
 * also whether the stored blob is that writer's (one request: the tag and
 * the size, which must be the caller's) */
static int stored_probe(const bk_hash *x, struct xreg *g) {
  g->mine_stored = 0;
  if (!g->tag || !g->tag[0]) return bk_blob_exists(g->bs, BK_BLOB_XORB, x);
  char cur[BK_BLOB_TAG_MAX];
  uint64_t size = 0;
  int rc = bk_blob_tag(g->bs, BK_BLOB_XORB, x, cur, &size);
  if (rc == BK_ENOTFOUND) return 0;
  if (rc) return rc;
  g->mine_stored = strcmp(cur, g->tag) == 0 && size == g->mine_disk;
  return 1;
}

/* The caller holds verified bytes (w) that differ from the stored blob (or
 * the blob's size differs). Keep the stored blob if it verifies (another
 * client's compression choice: its table is adopted); replace it if the row
 * is marked damaged or the blob no longer verifies. Consumes w. */
static int settle_writer(const bk_hash *xorb, size_t n, bk_blob_writer *w,
                         struct xreg *g) {
  int replace = g->was && g->row.damaged;
  uint64_t psize = 0;
  if (!replace) {
    int pr = parse_stored(g->bs, xorb, &g->parsed, &psize);
    if (pr == BK_ENOMEM) {
      bk_blob_writer_abort(w);
      return pr;
    }
    replace = pr != 0 || bk_xorb_count(g->parsed) != n;
  }
  g->verified = 1; /* either our verified bytes or a stored blob that just parsed */
  if (!replace) {
    bk_blob_writer_abort(w);
    g->table = bk_xorb_chunks(g->parsed);
    g->table_disk = psize;
    return 0;
  }
  bk_xorb_free(g->parsed);
  g->parsed = NULL;
  int rc = bk_blob_writer_commit_replace(w, xorb);
  g->replaced = rc == 0;
  return rc;
}

/* Under the fence: the blob must be there (a concurrent gc may have trashed
 * it) and the row must describe ITS layout. Blobs are never replaced by
 * puts, but two clients may upload different serializations (compression
 * choices) of one xorb hash, and an operator may delete a damaged blob so
 * that the next upload re-creates it. */
static int settle_layout(bk_db_tx *tx, const bk_hash *xorb, size_t n,
                         struct xreg *g) {
  int e = stored_probe(xorb, g);
  if (e == 0) return bk_seterr(BK_ENOTFOUND, "xorb blob vanished (concurrent gc?): put it again");
  if (e < 0) return e;
  int row_ok = 0;
  if (g->was && !g->replaced && g->row.nchunks == n) {
    bk_xorb_chunk *rowtab = calloc(n, sizeof *rowtab);
    if (!rowtab) return bk_seterr(BK_ENOMEM, "out of memory");
    int rc = bk_db_xorb_chunks_tx(tx, xorb, 0, (uint32_t)n, rowtab);
    int m = rc ? rc : layout_ok(g, xorb, g->row.bytes_on_disk, rowtab, n);
    free(rowtab);
    if (m < 0) return m;
    row_ok = m;
  } else if (g->was && !g->replaced) {
    return bk_seterr(BK_EINVAL, "xorb registered with another chunk count");
  }
  if (row_ok) return 0;
  g->relayout = g->was;
  int m = layout_ok(g, xorb, g->table_disk, g->table, n);
  if (m < 0) return m;
  if (m) return 0;
  /* another serialization is stored: adopt it if it verifies */
  uint64_t psize = 0;
  bk_xorb_free(g->parsed);
  g->parsed = NULL;
  if (parse_stored(g->bs, xorb, &g->parsed, &psize) == 0 && bk_xorb_count(g->parsed) == n) {
    g->table = bk_xorb_chunks(g->parsed);
    g->table_disk = psize;
    return 0;
  }
  /* the stored blob is damaged: no row can describe it, and we hold the
   * fence: remove it and let the caller put its bytes */
  bk_blob_delete(g->bs, BK_BLOB_XORB, xorb);
  return bk_seterr(BK_ENOTFOUND, "stored xorb blob was damaged and removed: put it again");
}

/* The registration inside the fence transaction tx. Consumes pass. */
static int xorb_register_in(bk_svc *svc, const struct svc_place *pl, bk_db_tx *tx,
                            const bk_hash *xorb, uint64_t size, const bk_xorb_chunk *chunks,
                            size_t n, unsigned flags, bk_blob_writer *pass, const char *tag,
                            int *existed) {
  struct xreg g = {.table = chunks, .table_disk = size, .mine = chunks, .mine_disk = size,
                   .bs = pl ? pl->bs : svc->bs};
  g.tag = pass ? NULL : tag; /* a writer passed on is not committed: the blob is not its */
  g.verified = (flags & BK_XORB_REG_VERIFIED) != 0;
  int rc = bk_db_xorb_get_tx(tx, xorb, &g.row);
  g.was = rc == 0;
  if (rc == BK_ENOTFOUND) rc = 0;
  if (rc == 0 && (n == 0 || n > BK_XORB_MAX_CHUNKS))
    rc = bk_seterr(BK_EINVAL, "bad chunk count %zu", n);
  if (rc) {
    bk_blob_writer_abort(pass);
    return rc;
  }
  if (pass) rc = settle_writer(xorb, n, pass, &g);
  if (rc == 0) rc = settle_layout(tx, xorb, n, &g);
  int64_t stamp = 0;
  if (rc == 0 && g.verified && bk_blob_stamp(g.bs, BK_BLOB_XORB, xorb, &stamp) != 0)
    stamp = 0;
  unsigned f = (g.verified ? BK_XORB_REG_VERIFIED : 0) | (g.relayout ? BK_XORB_REG_RELAYOUT : 0);
  int was = 0;
  if (rc == 0) rc = bk_db_xorb_register_tx(tx, xorb, g.table_disk, g.table, n, f, stamp, &was);
  if (rc == 0 && pl) rc = svc_region_register_tx(svc, tx, xorb, pl);
  bk_xorb_free(g.parsed);
  if (rc == 0 && existed) *existed = was && !g.replaced;
  return rc;
}

static int xorb_register(bk_svc *svc, const struct svc_place *pl, const bk_hash *xorb,
                         uint64_t size, const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                         bk_blob_writer *pass, const char *tag, int *existed) {
  bk_db_tx *tx = NULL;
  int rc = bk_db_tx_begin(svc->db, BK_TX_GC_FENCE, &tx);
  if (rc) {
    bk_blob_writer_abort(pass);
    return rc;
  }
  rc = xorb_register_in(svc, pl, tx, xorb, size, chunks, n, flags, pass, tag, existed);
  if (rc == 0) rc = bk_db_tx_commit(tx);
  else bk_db_tx_rollback(tx);
  if (rc == BK_ENOTFOUND) return bk_seterr(BK_ESTALE, "xorb storage raced with gc; retry");
  return rc;
}

int svc_xorb_register(bk_svc *svc, const bk_hash *xorb, uint64_t size,
                      const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                      bk_blob_writer *pass, int *existed) {
  return xorb_register(svc, NULL, xorb, size, chunks, n, flags, pass, NULL, existed);
}

int svc_xorb_register_at(bk_svc *svc, const struct svc_place *pl, const bk_hash *xorb,
                         uint64_t size, const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                         bk_blob_writer *pass, int *existed) {
  return xorb_register(svc, pl, xorb, size, chunks, n, flags, pass, NULL, existed);
}

int svc_xorb_register_mine(bk_svc *svc, const struct svc_place *pl, const bk_hash *xorb,
                           uint64_t size, const bk_xorb_chunk *chunks, size_t n, const char *tag,
                           int *existed) {
  return xorb_register(svc, pl, xorb, size, chunks, n, BK_XORB_REG_VERIFIED, NULL, tag,
                       existed);
}

int svc_shard_register(bk_svc *svc, const bk_hash *sh, uint64_t size, const bk_shard *s,
                       int64_t bucket_id, bk_hash *missing, int *existed) {
  bk_db_tx *tx = NULL;
  int rc = bk_db_tx_begin(svc->db, BK_TX_GC_FENCE, &tx);
  if (rc) return rc;
  /* the blob must be there now, under the fence: gc removes an orphan blob
   * only after re-checking, under the same fence, that it has no row, so
   * once this row commits the blob stays (a gc between the caller's put and
   * this transaction took it: the caller puts it again) */
  int e = bk_blob_exists(svc->bs, BK_BLOB_SHARD, sh);
  if (e == 0) rc = bk_seterr(BK_ESTALE, "shard blob vanished (concurrent gc?): put it again");
  else if (e < 0) rc = e;
  if (rc == 0) rc = bk_db_shard_register_tx(tx, sh, size, s, bucket_id, missing, existed);
  if (rc == 0) return bk_db_tx_commit(tx);
  bk_db_tx_rollback(tx);
  return rc;
}

/* The chunk table of the row must be the parsed blob's. 0 or BK_ESIZE
 * (why filled); other negatives are errors. */
static int table_matches(bk_svc *svc, const bk_hash *xorb, const bk_xorb_info *xi,
                         const bk_xorb *px, char *why, size_t nwhy) {
  bk_xorb_chunk *rt = calloc(xi->nchunks, sizeof *rt);
  if (!rt) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = bk_db_xorb_chunks(svc->db, xorb, 0, xi->nchunks, rt);
  const bk_xorb_chunk *pc = bk_xorb_chunks(px);
  for (uint32_t i = 0; rc == 0 && i < xi->nchunks; i++) {
    if (bk_hash_eq(&rt[i].hash, &pc[i].hash) && rt[i].record_offset == pc[i].record_offset &&
        rt[i].record_len == pc[i].record_len)
      continue;
    snprintf(why, nwhy, "chunk %u differs between blob and database", i);
    rc = BK_ESIZE;
  }
  free(rt);
  return rc;
}

int svc_xorb_check(bk_svc *svc, const bk_hash *xorb, int64_t max_age_ms) {
  bk_xorb_info xi;
  int rc = bk_db_xorb_get(svc->db, xorb, &xi);
  if (rc) return rc;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(xorb, hex);
  /* a marked xorb stays refused; only a forced check (max_age_ms < 0: fsck
   * --read-data, scrub) reads it again, and clears the mark if the blob
   * verifies now (e.g. restored by an operator) */
  if (xi.damaged && max_age_ms >= 0)
    return bk_seterr(BK_EHASH, "xorb %s is damaged on the server", hex);
  int64_t now = bk_now_ms(), stamp = 0;
  bk_blobstore *bs = svc->bs; /* regions: the home copy is the one checked */
  if ((rc = svc_xorb_store(svc, xorb, &bs))) return rc;
  rc = bk_blob_stamp(bs, BK_BLOB_XORB, xorb, &stamp);
  if (rc && rc != BK_ENOTFOUND) return svc_store_err(svc, bs, rc);
  if (rc == 0 && max_age_ms >= 0 && xi.verified_ms > 0 && stamp == xi.blob_stamp &&
      now >= xi.verified_ms && now - xi.verified_ms <= max_age_ms)
    return 0; /* verified recently and the file was not touched since */
  if (rc == 0 && max_age_ms == INT64_MAX && xi.verified_ms == 0)
    return 0; /* "changed since verified" only: never verified yet (e.g. a row from
                 before schema v5) is left to the time-based checks */
  /* full verification: every record decoded and hashed, the xorb hash over
   * all chunks, and the chunk table must be the row's */
  bk_xorb *px = NULL;
  uint64_t size = 0;
  int vr = rc == BK_ENOTFOUND ? bk_seterr(BK_ENOTFOUND, "blob missing")
                              : parse_stored(bs, xorb, &px, &size);
  if (vr == BK_ENOMEM) return vr;
  char why[200];
  snprintf(why, sizeof why, "%s", vr ? bk_errmsg() : "");
  if (vr == 0 && (size != xi.bytes_on_disk || bk_xorb_count(px) != xi.nchunks)) {
    vr = BK_ESIZE;
    snprintf(why, sizeof why, "blob layout differs from its row");
  }
  rc = 0;
  if (vr == 0) {
    rc = table_matches(svc, xorb, &xi, px, why, sizeof why);
    if (rc == BK_ESIZE) vr = rc, rc = 0;
  }
  bk_xorb_free(px);
  if (rc) return rc;
  rc = bk_db_xorb_set_verdict(svc->db, xorb, vr != 0, now, stamp);
  /* recording the outcome is best effort: the verdict stands without it (a
   * full disk or a busy database must neither turn a good xorb into an error
   * nor let a damaged one through; an unrecorded check is simply redone) */
  if (vr && rc)
    return bk_seterr(BK_EHASH, "xorb %s is damaged on the server: %s (not marked: %s)", hex, why,
                     bk_strerror(rc));
  if (vr) return bk_seterr(BK_EHASH, "xorb %s is damaged on the server: %s", hex, why);
  bk_clearerr();
  return 0;
}

int svc_shard_check(bk_svc *svc, const bk_hash *shard_hash) {
  bk_buf b;
  bk_buf_init(&b, (size_t)BK_SHARD_MAX_BYTES + (1u << 20));
  int rc = bk_blob_get(svc->bs, BK_BLOB_SHARD, shard_hash, b.max, &b);
  if (rc == BK_ENOMEM) {
    bk_buf_free(&b);
    return rc;
  }
  bk_hash h;
  if (rc == 0) bk_blake3(b.p, b.len, h.b);
  int bad = rc != 0 || !bk_hash_eq(&h, shard_hash);
  char why[200];
  snprintf(why, sizeof why, "%s", rc ? bk_errmsg() : "its bytes do not hash to its name");
  bk_buf_free(&b);
  /* recording is best effort, as for xorbs: the verdict stands without it */
  rc = bk_db_shard_set_damaged(svc->db, shard_hash, bad);
  if (rc == BK_ENOTFOUND) return rc;
  if (!bad) {
    bk_clearerr();
    return 0;
  }
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(shard_hash, hex);
  return bk_seterr(BK_EHASH, "shard %s is damaged on the server: %s", hex, why);
}
