/* buckets — CAS metadata: xorbs, chunk tables, file reconstructions,
 * shards, global dedup index, gc, integrity (see store/db.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "store/db.h"
#include "buckets/error.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "store/db_internal.h"

#define DEDUP_MODULUS 1024u
#define MAX_TERMS (BK_SHARD_MAX_BYTES / 48u + 1u) /* a shard cannot describe more */

/* ---- xorbs ---- */

static const char SQL_XORB_ID[] = "SELECT id, nchunks, damaged FROM xorbs WHERE hash = ?1";
#define XORB_COLS \
  "hash, bytes_on_disk, unpacked_bytes, nchunks, created_ms, touched_ms, damaged, verified_ms, " \
  "id, blob_stamp "
static const char SQL_XORB_GET[] = "SELECT " XORB_COLS "FROM xorbs WHERE hash = ?1";
static const char SQL_XORB_LIST_AFTER[] =
    "SELECT " XORB_COLS "FROM xorbs WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_XORB_TOUCH[] = "UPDATE xorbs SET touched_ms = ?2 WHERE id = ?1";
static const char SQL_XORB_REF[] =
    "INSERT INTO xorb_refs(bucket_id, xorb_id, ns_id)"
    " SELECT id, ?2, ns_id FROM buckets WHERE id = ?1 ON CONFLICT DO NOTHING";
static const char SQL_BUCKET_EXISTS[] = "SELECT 1 FROM buckets WHERE id = ?1";
static const char SQL_FILE_XORB_REFS[] =
    "INSERT INTO xorb_refs(bucket_id, xorb_id, ns_id)"
    " SELECT DISTINCT b.id, t.xorb_id, b.ns_id FROM buckets b, files f"
    " JOIN file_terms t ON t.file_id = f.id WHERE b.id = ?2 AND f.hash = ?1"
    " ON CONFLICT DO NOTHING";
static const char SQL_XORB_INSERT[] =
    "INSERT INTO xorbs(hash, bytes_on_disk, unpacked_bytes, nchunks, created_ms, touched_ms) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?5)";
static const char SQL_CHUNK_INSERT[] =
    "INSERT INTO xorb_chunks(xorb_id, idx, chunk_hash, record_offset, record_len, "
    "unpacked_offset, unpacked_len) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_DEDUP_INSERT[] =
    "INSERT INTO dedup(chunk_hash, xorb_id, idx) VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING";
static const char SQL_DEDUP_FROM_CHUNK[] =
    "INSERT INTO dedup(chunk_hash, xorb_id, idx) "
    "SELECT chunk_hash, xorb_id, idx FROM xorb_chunks WHERE xorb_id = ?1 AND idx = ?2 "
    "ON CONFLICT DO NOTHING";
static const char SQL_DEDUP_FROM_CHUNK_H[] =
    "INSERT INTO dedup(chunk_hash, xorb_id, idx) "
    "SELECT chunk_hash, xorb_id, idx FROM xorb_chunks WHERE xorb_id = ?1 AND idx = ?2 "
    "AND chunk_hash = ?3 ON CONFLICT DO NOTHING";
static const char SQL_CHUNKS_RANGE[] =
    "SELECT chunk_hash, record_offset, record_len, unpacked_offset, unpacked_len "
    "FROM xorb_chunks WHERE xorb_id = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx";
static const char SQL_XORB_RANGE[] =
    "SELECT a.record_offset, b.record_offset + b.record_len, "
    "b.unpacked_offset + b.unpacked_len - a.unpacked_offset "
    "FROM xorb_chunks a JOIN xorb_chunks b ON b.xorb_id = a.xorb_id AND b.idx = ?3 "
    "WHERE a.xorb_id = ?1 AND a.idx = ?2";

/* id and nchunks of a xorb: 0 found, BK_ENOTFOUND, BK_EDB. */
static int xorb_id_dc(struct dbc *c, const bk_hash *h, int64_t *id, uint32_t *nchunks,
                      int *damaged) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_XORB_ID);
  if (!st) return BK_EDB;
  bind_hash(st, 1, h);
  int r = bk_sql_step(st);
  if (r == BK_SQL_ROW) {
    *id = bk_sql_column_int64(st, 0);
    if (nchunks) *nchunks = (uint32_t)bk_sql_column_int64(st, 1);
    if (damaged) *damaged = bk_sql_column_int(st, 2) != 0;
  }
  bk_sql_reset(st);
  if (r == BK_SQL_ROW) return 0;
  if (r == BK_SQL_DONE) {
    char hex[BK_HASH_HEX_LEN + 1];
    bk_hash_to_hex(h, hex);
    return bk_seterr(BK_ENOTFOUND, "xorb %s not found", hex);
  }
  return dbc_err(c, r, "xorb lookup");
}

static int xorb_id_c(struct dbc *c, const bk_hash *h, int64_t *id, uint32_t *nchunks) {
  return xorb_id_dc(c, h, id, nchunks, NULL);
}

static int exec_id2(struct dbc *c, const char *sql, int64_t a, int64_t b, const char *what) {
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, a);
  bk_sql_bind_int64(st, 2, b);
  return dbc_step_done(c, st, what);
}

static int check_chunk_table(uint64_t bytes_on_disk, const bk_xorb_chunk *ch, size_t n,
                             uint64_t *unpacked) {
  uint64_t roff = 0, uoff = 0;
  for (size_t i = 0; i < n; i++) {
    if (ch[i].record_offset != roff || ch[i].unpacked_offset != uoff || ch[i].record_len == 0)
      return bk_seterr(BK_EINVAL, "chunk %zu: offsets are not contiguous", i);
    roff += ch[i].record_len;
    uoff += ch[i].unpacked_len;
  }
  if (roff > bytes_on_disk)
    return bk_seterr(BK_ESIZE, "chunk records end past the xorb length");
  *unpacked = uoff;
  return 0;
}

static const char SQL_XORB_DISK[] = "SELECT id, bytes_on_disk FROM xorbs WHERE hash = ?1";
static const char SQL_XORB_SET_DISK[] = "UPDATE xorbs SET bytes_on_disk = ?2, touched_ms = ?3 WHERE id = ?1";
static const char SQL_CHUNK_RELAYOUT[] =
    "UPDATE xorb_chunks SET record_offset = ?3, record_len = ?4 WHERE xorb_id = ?1 AND idx = ?2";

static int insert_chunks(struct dbc *c, int64_t id, const bk_xorb_chunk *chunks, size_t n) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_CHUNK_INSERT);
    if (!st) return BK_EDB;
    bk_sql_bind_int64(st, 1, id);
    bk_sql_bind_int64(st, 2, (int64_t)i);
    bind_hash(st, 3, &chunks[i].hash);
    bk_sql_bind_int64(st, 4, chunks[i].record_offset);
    bk_sql_bind_int64(st, 5, chunks[i].record_len);
    bk_sql_bind_int64(st, 6, chunks[i].unpacked_offset);
    bk_sql_bind_int64(st, 7, chunks[i].unpacked_len);
    rc = dbc_step_done(c, st, "insert chunk");
    if (rc == 0 && bk_hash_tail_u64(&chunks[i].hash) % DEDUP_MODULUS == 0) {
      if (!(st = dbc_stmt(c, SQL_DEDUP_INSERT))) return BK_EDB;
      bind_hash(st, 1, &chunks[i].hash);
      bk_sql_bind_int64(st, 2, id);
      bk_sql_bind_int64(st, 3, (int64_t)i);
      rc = dbc_step_done(c, st, "insert dedup");
    }
  }
  return rc;
}

/* The row exists but describes another serialization than the blob now
 * stored: rewrite the record layout (chunk order, hashes and lengths are
 * fixed by the xorb hash; only record offsets/lengths differ). */
static int relayout(struct dbc *c, int64_t id, uint64_t bytes_on_disk, const bk_xorb_chunk *ch,
                    size_t n, int64_t now) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_XORB_SET_DISK);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, id);
  bk_sql_bind_int64(st, 2, (int64_t)bytes_on_disk);
  bk_sql_bind_int64(st, 3, now);
  int rc = dbc_step_done(c, st, "xorb layout");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (!(st = dbc_stmt(c, SQL_CHUNK_RELAYOUT))) return BK_EDB;
    bk_sql_bind_int64(st, 1, id);
    bk_sql_bind_int64(st, 2, (int64_t)i);
    bk_sql_bind_int64(st, 3, ch[i].record_offset);
    bk_sql_bind_int64(st, 4, ch[i].record_len);
    rc = dbc_step_done(c, st, "chunk layout");
  }
  return rc;
}

/* A SQL_CHUNKS_RANGE row. */
static void row_chunk(bk_sql_stmt *st, bk_xorb_chunk *k) {
  col_hash(st, 0, &k->hash);
  k->record_offset = (uint32_t)bk_sql_column_int64(st, 1);
  k->record_len = (uint32_t)bk_sql_column_int64(st, 2);
  k->unpacked_offset = (uint32_t)bk_sql_column_int64(st, 3);
  k->unpacked_len = (uint32_t)bk_sql_column_int64(st, 4);
  k->scheme = 0xff;
}

static const char SQL_XORB_VERIFIED[] =
    "UPDATE xorbs SET damaged = 0, verified_ms = ?2, blob_stamp = ?3 WHERE hash = ?1";
static const char SQL_XORB_DAMAGED[] =
    "UPDATE xorbs SET damaged = 1 WHERE hash = ?1 AND verified_ms <= ?2";

/* Records a successful full verification of the stored blob (its change
 * token `stamp` at that time, given by the caller: the service). */
static int set_verified(struct dbc *c, const bk_hash *xorb, int64_t now, int64_t stamp) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_XORB_VERIFIED);
  if (!st) return BK_EDB;
  bind_hash(st, 1, xorb);
  bk_sql_bind_int64(st, 2, now);
  bk_sql_bind_int64(st, 3, stamp);
  return dbc_step_done(c, st, "xorb verified");
}

/* The registration itself, inside the caller's write transaction on c.
 * Touches no blob (the service checked it). */
static int xorb_register_c(struct dbc *c, const bk_hash *xorb, uint64_t bytes_on_disk,
                           const bk_xorb_chunk *chunks, size_t n, unsigned flags, int64_t stamp,
                           int *existed) {
  if (n == 0 || n > BK_XORB_MAX_CHUNKS) return bk_seterr(BK_EINVAL, "bad chunk count %zu", n);
  uint64_t unpacked = 0;
  int rc = check_chunk_table(bytes_on_disk, chunks, n, &unpacked);
  if (rc) return rc;
  int64_t now = db_now_ms(), id = 0;
  int was = 0;
  bk_sql_stmt *st = dbc_stmt(c, SQL_XORB_DISK);
  if (!st) return BK_EDB;
  bind_hash(st, 1, xorb);
  int r = bk_sql_step(st);
  if (r == BK_SQL_ROW) {
    id = bk_sql_column_int64(st, 0);
    was = 1;
  }
  bk_sql_reset(st);
  if (r != BK_SQL_ROW && r != BK_SQL_DONE) return dbc_err(c, r, "xorb lookup");
  if (was && (flags & BK_XORB_REG_RELAYOUT)) {
    rc = relayout(c, id, bytes_on_disk, chunks, n, now);
  } else if (was) {
    rc = exec_id2(c, SQL_XORB_TOUCH, id, now, "touch xorb");
  } else {
    if (!(st = dbc_stmt(c, SQL_XORB_INSERT))) return BK_EDB;
    bind_hash(st, 1, xorb);
    bk_sql_bind_int64(st, 2, (int64_t)bytes_on_disk);
    bk_sql_bind_int64(st, 3, (int64_t)unpacked);
    bk_sql_bind_int64(st, 4, (int64_t)n);
    bk_sql_bind_int64(st, 5, now);
    rc = dbc_step_done(c, st, "insert xorb");
    if (rc == 0) rc = insert_chunks(c, bk_sql_last_id(c->h), chunks, n);
  }
  if (rc == 0 && (flags & BK_XORB_REG_VERIFIED)) rc = set_verified(c, xorb, now, stamp);
  if (rc == 0 && existed) *existed = was;
  return rc;
}

int bk_db_xorb_register(bk_db *db, const bk_hash *xorb, uint64_t bytes_on_disk,
                        const bk_xorb_chunk *chunks, size_t n, int *existed) {
  bk_db_tx *tx = NULL;
  int rc = bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx);
  if (rc) return rc;
  rc = xorb_register_c(db_tx_conn(tx), xorb, bytes_on_disk, chunks, n, 0, 0, existed);
  if (rc) {
    bk_db_tx_rollback(tx);
    return rc;
  }
  return bk_db_tx_commit(tx);
}

/* A tx that may write: WRITE or GC_FENCE. */
static int tx_writable(bk_db_tx *tx) {
  if (!tx) return bk_seterr(BK_EINVAL, "no transaction");
  if (db_tx_mode(tx) == BK_TX_READ)
    return bk_seterr(BK_EINVAL, "a read transaction cannot register");
  return 0;
}

int bk_db_xorb_register_tx(bk_db_tx *tx, const bk_hash *xorb, uint64_t bytes_on_disk,
                           const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                           int64_t blob_stamp, int *existed) {
  int rc = tx_writable(tx);
  if (rc) return rc;
  return xorb_register_c(db_tx_conn(tx), xorb, bytes_on_disk, chunks, n, flags, blob_stamp,
                         existed);
}

/* ---- damaged state ---- */

int bk_db_xorb_set_damaged(bk_db *db, const bk_hash *xorb, int damaged) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, damaged ? SQL_XORB_DAMAGED : SQL_XORB_VERIFIED, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, xorb);
  bk_sql_bind_int64(st, 2, damaged ? INT64_MAX : 0); /* cleared: "never verified" */
  if (!damaged) bk_sql_bind_int64(st, 3, 0);
  rc = dbc_step_done(c, st, "xorb state");
  if (rc == 0 && bk_sql_changes(c->h) == 0) rc = bk_seterr(BK_ENOTFOUND, "xorb not found");
  dbc_release(db, c);
  return rc;
}

int bk_db_xorb_set_verdict(bk_db *db, const bk_hash *xorb, int damaged, int64_t started_ms,
                           int64_t stamp) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, damaged ? SQL_XORB_DAMAGED : SQL_XORB_VERIFIED, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, xorb);
  /* damaged: only if no verification (e.g. a repairing upload) recorded
   * since the check started */
  bk_sql_bind_int64(st, 2, started_ms);
  if (!damaged) bk_sql_bind_int64(st, 3, stamp);
  rc = dbc_step_done(c, st, "xorb state");
  dbc_release(db, c);
  return rc;
}

static void row_xorb(bk_sql_stmt *st, bk_xorb_info *x) {
  col_hash(st, 0, &x->hash);
  x->bytes_on_disk = (uint64_t)bk_sql_column_int64(st, 1);
  x->unpacked_bytes = (uint64_t)bk_sql_column_int64(st, 2);
  x->nchunks = (uint32_t)bk_sql_column_int64(st, 3);
  x->created_ms = bk_sql_column_int64(st, 4);
  x->touched_ms = bk_sql_column_int64(st, 5);
  x->damaged = bk_sql_column_int(st, 6) != 0;
  x->verified_ms = bk_sql_column_int64(st, 7);
  x->row_id = bk_sql_column_int64(st, 8);
  x->blob_stamp = bk_sql_column_int64(st, 9);
}

static void row_xorb_v(bk_sql_stmt *st, void *x) { row_xorb(st, x); }

static int xorb_get_c(struct dbc *c, const bk_hash *xorb, bk_xorb_info *out) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_XORB_GET);
  if (!st) return BK_EDB;
  bind_hash(st, 1, xorb);
  return dbc_one_row(c, st, row_xorb_v, out, "xorb not found", "xorb lookup");
}

int bk_db_xorb_get(bk_db *db, const bk_hash *xorb, bk_xorb_info *out) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = xorb_get_c(c, xorb, out);
  dbc_release(db, c);
  return rc;
}

int bk_db_xorb_get_tx(bk_db_tx *tx, const bk_hash *xorb, bk_xorb_info *out) {
  if (!tx) return bk_seterr(BK_EINVAL, "no transaction");
  return xorb_get_c(db_tx_conn(tx), xorb, out);
}

int bk_db_xorb_exists(bk_db *db, const bk_hash *xorb) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  int64_t id;
  rc = xorb_id_c(c, xorb, &id, NULL);
  dbc_release(db, c);
  if (rc == 0) return 1;
  if (rc == BK_ENOTFOUND) return 0;
  return rc;
}

/* Statement sql with ?1 = the id of xorb and ?2 = start bound, once the
 * chunk range [start,end) is checked against the xorb's chunk count. */
static int xorb_range_stmt(struct dbc *c, const bk_hash *xorb, uint32_t start, uint32_t end,
                           const char *sql, bk_sql_stmt **st) {
  if (start >= end) return bk_seterr(BK_EINVAL, "empty chunk range");
  int64_t id;
  uint32_t nchunks;
  int rc = xorb_id_c(c, xorb, &id, &nchunks);
  if (rc) return rc;
  if (end > nchunks)
    return bk_seterr(BK_EINVAL, "chunk range [%u,%u) outside the xorb (%u chunks)", start, end,
                     nchunks);
  if (!(*st = dbc_stmt(c, sql))) return BK_EDB;
  bk_sql_bind_int64(*st, 1, id);
  bk_sql_bind_int64(*st, 2, start);
  return 0;
}

static int xorb_chunks_c(struct dbc *c, const bk_hash *xorb, uint32_t start, uint32_t end,
                         bk_xorb_chunk *out) {
  bk_sql_stmt *st = NULL;
  int rc = xorb_range_stmt(c, xorb, start, end, SQL_CHUNKS_RANGE, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 3, end);
  uint32_t i = 0;
  int r;
  while ((r = bk_sql_step(st)) == BK_SQL_ROW && i < end - start) row_chunk(st, &out[i++]);
  if (r != BK_SQL_DONE && r != BK_SQL_ROW) rc = dbc_err(c, r, "xorb chunks");
  else if (i != end - start) rc = bk_seterr(BK_EDB, "xorb chunk table is incomplete");
  bk_sql_reset(st);
  return rc;
}

int bk_db_xorb_chunks(bk_db *db, const bk_hash *xorb, uint32_t start, uint32_t end,
                      bk_xorb_chunk *out) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = xorb_chunks_c(c, xorb, start, end, out);
  dbc_release(db, c);
  return rc;
}

int bk_db_xorb_chunks_tx(bk_db_tx *tx, const bk_hash *xorb, uint32_t start, uint32_t end,
                         bk_xorb_chunk *out) {
  if (!tx) return bk_seterr(BK_EINVAL, "no transaction");
  return xorb_chunks_c(db_tx_conn(tx), xorb, start, end, out);
}

int bk_db_xorb_range(bk_db *db, const bk_hash *xorb, uint32_t start, uint32_t end,
                     uint64_t *byte_start, uint64_t *byte_end, uint64_t *unpacked) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  bk_sql_stmt *st = NULL;
  rc = xorb_range_stmt(c, xorb, start, end, SQL_XORB_RANGE, &st);
  if (rc == 0) {
    bk_sql_bind_int64(st, 3, (int64_t)end - 1);
    int r = bk_sql_step(st);
    if (r == BK_SQL_ROW) {
      *byte_start = (uint64_t)bk_sql_column_int64(st, 0);
      *byte_end = (uint64_t)bk_sql_column_int64(st, 1) - 1;
      if (unpacked) *unpacked = (uint64_t)bk_sql_column_int64(st, 2);
    } else if (r == BK_SQL_DONE) {
      rc = bk_seterr(BK_EDB, "xorb chunk table is incomplete");
    } else {
      rc = dbc_err(c, r, "xorb range");
    }
    bk_sql_reset(st);
  }
  dbc_release(db, c);
  return rc;
}

/* Keyset paging over an id-ordered query (?1 = after id, ?2 = limit). */
struct id_pager {
  int64_t after, lim;
};

static void bind_after(bk_sql_stmt *st, const void *arg) {
  const struct id_pager *p = arg;
  bk_sql_bind_int64(st, 1, p->after);
  bk_sql_bind_int64(st, 2, p->lim);
}

/* Hands the rows of sql with id > after (at most limit in all; SIZE_MAX =
 * all) to emit, DB_PAGE rows per connection borrow; the connection is given
 * back before emit runs. id_of gives an element's id (the next cursor). */
static int list_pages(bk_db *db, const char *sql, int64_t after, size_t limit, size_t elem,
                      void (*conv)(bk_sql_stmt *, void *), int64_t (*id_of)(const void *),
                      int (*emit)(const void *it, const void *e), const void *it,
                      const char *what) {
  struct db_page pg = {NULL, 0, 0, elem};
  int rc = 0;
  size_t left = limit;
  while (rc == 0 && left > 0) {
    struct id_pager p = {after, (int64_t)(left < DB_PAGE ? left : DB_PAGE)};
    rc = db_page_read(db, sql, bind_after, &p, conv, (size_t)p.lim, &pg, what);
    for (size_t i = 0; rc == 0 && i < pg.n; i++) rc = emit(it, db_page_at(&pg, i));
    if (rc || pg.n < (size_t)p.lim) break;
    after = id_of(db_page_at(&pg, pg.n - 1));
    left -= pg.n;
  }
  db_page_free(&pg);
  return rc;
}

struct xorb_it { bk_xorb_cb cb; void *ctx; };

static int xorb_emit(const void *p, const void *e) {
  const struct xorb_it *it = p;
  return it->cb(it->ctx, e);
}
static int64_t xorb_id_of(const void *e) { return ((const bk_xorb_info *)e)->row_id; }

int bk_db_xorb_list(bk_db *db, bk_xorb_cb cb, void *ctx) {
  return bk_db_xorb_list_after(db, 0, SIZE_MAX, cb, ctx);
}

int bk_db_xorb_list_after(bk_db *db, int64_t after_id, size_t limit, bk_xorb_cb cb, void *ctx) {
  struct xorb_it it = {cb, ctx};
  return list_pages(db, SQL_XORB_LIST_AFTER, after_id, limit, sizeof(bk_xorb_info), row_xorb_v,
                    xorb_id_of, xorb_emit, &it, "list xorbs");
}

/* ---- file reconstructions ---- */

static const char SQL_FILE_ROW[] =
    "SELECT id, hash, size, sha256, nterms, created_ms FROM files WHERE hash = ?1";
static const char SQL_FILE_TERMS[] =
    "SELECT x.hash, t.chunk_start, t.chunk_end, t.unpacked_bytes FROM file_terms t "
    "JOIN xorbs x ON x.id = t.xorb_id WHERE t.file_id = ?1 ORDER BY t.seq";
static const char SQL_FILE_INSERT[] =
    "INSERT INTO files(hash, size, sha256, nterms, created_ms, touched_ms) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?5)";
static const char SQL_FILE_TOUCH[] = "UPDATE files SET touched_ms = ?2 WHERE id = ?1";
static const char SQL_TERM_INSERT[] =
    "INSERT INTO file_terms(file_id, seq, xorb_id, chunk_start, chunk_end, unpacked_bytes) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_FILE_USES_DAMAGED[] =
    "SELECT 1 FROM file_terms t JOIN xorbs x ON x.id = t.xorb_id "
    "WHERE t.file_id = ?1 AND x.damaged != 0 LIMIT 1";
static const char SQL_FILE_TERMS_DEL[] = "DELETE FROM file_terms WHERE file_id = ?1";
static const char SQL_FILE_NTERMS[] = "UPDATE files SET nterms = ?2 WHERE id = ?1";
static const char SQL_GRANT_INSERT[] =
    "INSERT INTO file_grants(file_hash, bucket_id) VALUES(?1, ?2) ON CONFLICT DO NOTHING";

/* Columns id, hash, size, sha256, nterms, created_ms of a files row. */
static void row_file(bk_sql_stmt *st, bk_cas_file *out) {
  col_hash(st, 1, &out->hash);
  out->size = (uint64_t)bk_sql_column_int64(st, 2);
  out->has_sha256 = !bk_sql_column_is_null(st, 3);
  if (out->has_sha256) col_hash(st, 3, &out->sha256);
  else memset(&out->sha256, 0, sizeof out->sha256);
  out->nterms = (uint32_t)bk_sql_column_int64(st, 4);
  out->created_ms = bk_sql_column_int64(st, 5);
}

struct file_row_out { int64_t *id; bk_cas_file *out; };

static void file_row_v(bk_sql_stmt *st, void *p) {
  struct file_row_out *o = p;
  if (o->id) *o->id = bk_sql_column_int64(st, 0);
  if (o->out) row_file(st, o->out);
}

static int file_row_c(struct dbc *c, const bk_hash *h, int64_t *id, bk_cas_file *out) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_FILE_ROW);
  if (!st) return BK_EDB;
  bind_hash(st, 1, h);
  struct file_row_out o = {id, out};
  return dbc_one_row(c, st, file_row_v, &o, "file not found", "file lookup");
}

static const char SQL_FILE_LIST_AFTER[] =
    "SELECT id, hash, size, sha256, nterms, created_ms FROM files WHERE id > ?1 ORDER BY id "
    "LIMIT ?2";

struct file_el {
  int64_t id;
  bk_cas_file f;
};

static void file_conv(bk_sql_stmt *st, void *dst) {
  struct file_el *e = dst;
  e->id = bk_sql_column_int64(st, 0);
  row_file(st, &e->f);
}
static int64_t file_id_of(const void *e) { return ((const struct file_el *)e)->id; }

struct file_it { bk_cas_file_cb cb; void *ctx; };

static int file_emit(const void *p, const void *e) {
  const struct file_it *it = p;
  return it->cb(it->ctx, &((const struct file_el *)e)->f);
}

int bk_db_cas_file_list(bk_db *db, bk_cas_file_cb cb, void *ctx) {
  struct file_it it = {cb, ctx};
  return list_pages(db, SQL_FILE_LIST_AFTER, 0, SIZE_MAX, sizeof(struct file_el), file_conv,
                    file_id_of, file_emit, &it, "list files");
}

int bk_db_cas_file_get(bk_db *db, const bk_hash *file, bk_cas_file *out) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = file_row_c(c, file, NULL, out);
  dbc_release(db, c);
  return rc;
}

int bk_db_cas_file_terms(bk_db *db, const bk_hash *file, bk_file_term **terms, size_t *n) {
  *terms = NULL;
  *n = 0;
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  bk_cas_file f;
  int64_t id;
  rc = dbc_begin_mode(c, BK_TX_READ);
  if (rc == 0) rc = file_row_c(c, file, &id, &f);
  bk_file_term *t = NULL;
  size_t k = 0;
  if (rc == 0 && f.nterms > MAX_TERMS) rc = bk_seterr(BK_ELIMIT, "too many terms");
  if (rc == 0 && f.nterms > 0) {
    t = calloc(f.nterms, sizeof *t);
    if (!t) rc = bk_seterr(BK_ENOMEM, "out of memory");
  }
  if (rc == 0 && f.nterms > 0) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_FILE_TERMS);
    if (!st) rc = BK_EDB;
    else {
      bk_sql_bind_int64(st, 1, id);
      int r;
      while ((r = bk_sql_step(st)) == BK_SQL_ROW && k < f.nterms) {
        col_hash(st, 0, &t[k].xorb);
        t[k].chunk_start = (uint32_t)bk_sql_column_int64(st, 1);
        t[k].chunk_end = (uint32_t)bk_sql_column_int64(st, 2);
        t[k].unpacked_bytes = (uint32_t)bk_sql_column_int64(st, 3);
        k++;
      }
      if (r != BK_SQL_DONE && r != BK_SQL_ROW) rc = dbc_err(c, r, "file terms");
      else if (k != f.nterms) rc = bk_seterr(BK_EDB, "file term table is incomplete");
      bk_sql_reset(st);
    }
  }
  if (bk_sql_in_tx(c->h)) (void)bk_sql_commit(c->h); /* read only: nothing to lose */
  dbc_release(db, c);
  if (rc) {
    free(t);
    return rc;
  }
  *terms = t;
  *n = k;
  return 0;
}

int bk_db_file_grant(bk_db *db, const bk_hash *file, int64_t bucket_id) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  bk_sql_stmt *st = rc == 0 ? dbc_stmt(c, SQL_GRANT_INSERT) : NULL;
  if (rc == 0 && !st) rc = BK_EDB;
  if (rc == 0) {
    bind_hash(st, 1, file);
    bk_sql_bind_int64(st, 2, bucket_id);
    rc = dbc_step_done(c, st, "grant");
  }
  if (rc == 0) rc = db_file_xorb_refs(c, file, bucket_id);
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

/* ---- shards ---- */

static const char SQL_SHARD_ID[] = "SELECT id FROM shards WHERE hash = ?1";
static const char SQL_SHARD_INSERT[] =
    "INSERT INTO shards(hash, size, created_ms, touched_ms) VALUES(?1, ?2, ?3, ?3)";
static const char SQL_SHARD_TOUCH[] = "UPDATE shards SET touched_ms = ?2 WHERE id = ?1";
static const char SQL_SHARD_REF[] =
    "INSERT INTO shard_refs(shard_id, kind, hash) VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING";
static const char SQL_SHARD_LIST_AFTER[] =
    "SELECT hash, size, created_ms, touched_ms, damaged, id FROM shards WHERE id > ?1 "
    "ORDER BY id LIMIT ?2";
static const char SQL_SHARD_DAMAGED[] = "UPDATE shards SET damaged = ?2 WHERE hash = ?1";

static int shard_ref(struct dbc *c, int64_t sid, int kind, const bk_hash *h) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_SHARD_REF);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, sid);
  bk_sql_bind_int64(st, 2, kind);
  bind_hash(st, 3, h);
  return dbc_step_done(c, st, "shard ref");
}

/* Small cache of xorb hash -> (id, nchunks) for one registration. */
struct xcache {
  bk_hash h;
  int64_t id;
  uint32_t n;
  int valid;
};

static int xorb_lookup_cached(struct dbc *c, struct xcache *xc, const bk_hash *h,
                              int64_t *id, uint32_t *n, bk_hash *missing) {
  if (xc->valid && bk_hash_eq(&xc->h, h)) {
    *id = xc->id;
    *n = xc->n;
    return 0;
  }
  int damaged = 0;
  int rc = xorb_id_dc(c, h, id, n, &damaged);
  if (rc == BK_ENOTFOUND && missing) *missing = *h;
  if (rc) return rc;
  if (damaged) {
    char hex[BK_HASH_HEX_LEN + 1];
    bk_hash_to_hex(h, hex);
    if (missing) *missing = *h;
    return bk_seterr(BK_EHASH, "xorb %s is damaged on the server", hex);
  }
  xc->h = *h;
  xc->id = *id;
  xc->n = *n;
  xc->valid = 1;
  return 0;
}

/* Validates every term of f against the chunk tables (range inside its
 * xorb, unpacked bytes equal to the chunks') and sums the file size. */
static int check_terms(struct dbc *c, struct xcache *xc, const bk_shard_file *f, const char *fhex,
                       bk_hash *missing, uint64_t *size) {
  *size = 0;
  for (uint32_t i = 0; i < f->nterms; i++) {
    const bk_shard_term *t = &f->terms[i];
    int64_t xid;
    uint32_t n;
    int rc = xorb_lookup_cached(c, xc, &t->xorb_hash, &xid, &n, missing);
    if (rc) return rc;
    if (t->chunk_start >= t->chunk_end || t->chunk_end > n)
      return bk_seterr(BK_EINVAL, "file %s term %u: chunk range [%u,%u) outside the xorb (%u chunks)",
                       fhex, i, t->chunk_start, t->chunk_end, n);
    bk_sql_stmt *st = dbc_stmt(c, SQL_XORB_RANGE);
    if (!st) return BK_EDB;
    bk_sql_bind_int64(st, 1, xid);
    bk_sql_bind_int64(st, 2, t->chunk_start);
    bk_sql_bind_int64(st, 3, (int64_t)t->chunk_end - 1);
    int r = bk_sql_step(st);
    int64_t unpacked = r == BK_SQL_ROW ? bk_sql_column_int64(st, 2) : -1;
    bk_sql_reset(st);
    if (r != BK_SQL_ROW) return r == BK_SQL_DONE ? bk_seterr(BK_EDB, "chunk table incomplete")
                                                 : dbc_err(c, r, "term range");
    if (unpacked != (int64_t)t->unpacked_bytes)
      return bk_seterr(BK_ESIZE, "file %s term %u: unpacked_bytes %u != %lld of the chunks",
                       fhex, i, t->unpacked_bytes, (long long)unpacked);
    *size += t->unpacked_bytes;
  }
  return 0;
}

/* An existing file row: touched; its terms are to be rewritten (*write_terms)
 * when the stored reconstruction uses a damaged xorb — this shard's terms
 * (checked against intact xorbs) replace it, so every bucket file with this
 * content reads again (the file hash fixes the bytes, not where they are
 * stored). */
static int touch_file(struct dbc *c, int64_t fid, uint32_t nterms, int64_t now,
                      int *write_terms) {
  int rc = exec_id2(c, SQL_FILE_TOUCH, fid, now, "touch file");
  if (rc) return rc;
  bk_sql_stmt *st = dbc_stmt(c, SQL_FILE_USES_DAMAGED);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, fid);
  int r = bk_sql_step(st);
  bk_sql_reset(st);
  if (r != BK_SQL_ROW) return r == BK_SQL_DONE ? 0 : dbc_err(c, r, "file terms");
  *write_terms = 1;
  if (!(st = dbc_stmt(c, SQL_FILE_TERMS_DEL))) return BK_EDB;
  bk_sql_bind_int64(st, 1, fid);
  rc = dbc_step_done(c, st, "replace terms");
  return rc ? rc : exec_id2(c, SQL_FILE_NTERMS, fid, nterms, "replace terms");
}

static int insert_file(struct dbc *c, const bk_shard_file *f, uint64_t size, int64_t now,
                       int64_t *fid) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_FILE_INSERT);
  if (!st) return BK_EDB;
  bind_hash(st, 1, &f->file_hash);
  bk_sql_bind_int64(st, 2, (int64_t)size);
  if (f->flags & BK_SHARD_FILE_META) bind_hash(st, 3, &f->sha256);
  bk_sql_bind_int64(st, 4, f->nterms);
  bk_sql_bind_int64(st, 5, now);
  int rc = dbc_step_done(c, st, "insert file");
  if (!rc) *fid = bk_sql_last_id(c->h);
  return rc;
}

static int write_terms(struct dbc *c, struct xcache *xc, const bk_shard_file *f, int64_t fid,
                       bk_hash *missing) {
  for (uint32_t i = 0; i < f->nterms; i++) {
    const bk_shard_term *t = &f->terms[i];
    int64_t xid;
    uint32_t n;
    int rc = xorb_lookup_cached(c, xc, &t->xorb_hash, &xid, &n, missing);
    if (rc) return rc;
    bk_sql_stmt *st = dbc_stmt(c, SQL_TERM_INSERT);
    if (!st) return BK_EDB;
    bk_sql_bind_int64(st, 1, fid);
    bk_sql_bind_int64(st, 2, i);
    bk_sql_bind_int64(st, 3, xid);
    bk_sql_bind_int64(st, 4, t->chunk_start);
    bk_sql_bind_int64(st, 5, t->chunk_end);
    bk_sql_bind_int64(st, 6, t->unpacked_bytes);
    if ((rc = dbc_step_done(c, st, "insert term"))) return rc;
  }
  return 0;
}

static int register_file(struct dbc *c, struct xcache *xc, const bk_shard_file *f,
                         int64_t bucket_id, int64_t now, bk_hash *missing) {
  char fhex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&f->file_hash, fhex);
  uint64_t size;
  int rc = check_terms(c, xc, f, fhex, missing, &size);
  if (rc) return rc;
  int64_t fid;
  int terms = 0;
  rc = file_row_c(c, &f->file_hash, &fid, NULL);
  if (rc == 0) rc = touch_file(c, fid, f->nterms, now, &terms);
  else if (rc == BK_ENOTFOUND && (rc = insert_file(c, f, size, now, &fid)) == 0) terms = 1;
  if (rc == 0 && terms) rc = write_terms(c, xc, f, fid, missing);
  if (rc) return rc;
  /* first chunk of the file is global-dedup eligible */
  if (f->nterms > 0) {
    int64_t xid;
    uint32_t n;
    if ((rc = xorb_lookup_cached(c, xc, &f->terms[0].xorb_hash, &xid, &n, missing))) return rc;
    if ((rc = exec_id2(c, SQL_DEDUP_FROM_CHUNK, xid, f->terms[0].chunk_start, "dedup")))
      return rc;
  }
  if (bucket_id > 0) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_GRANT_INSERT);
    if (!st) return BK_EDB;
    bind_hash(st, 1, &f->file_hash);
    bk_sql_bind_int64(st, 2, bucket_id);
    if ((rc = dbc_step_done(c, st, "grant"))) return rc;
  }
  return 0;
}

int bk_db_shard_register(bk_db *db, const bk_hash *shard_hash, uint64_t size,
                         const struct bk_shard *s, int64_t bucket_id, bk_hash *missing,
                         int *existed) {
  if (!s) return bk_seterr(BK_EINVAL, "no shard");
  bk_db_tx *tx = NULL;
  int rc = bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx);
  if (rc) return rc;
  rc = bk_db_shard_register_tx(tx, shard_hash, size, s, bucket_id, missing, existed);
  if (rc) {
    bk_db_tx_rollback(tx);
    return rc;
  }
  return bk_db_tx_commit(tx);
}

/* The registration itself, inside the caller's write transaction on c. Touches
 * no blob: the service checked, under the same fence, that the blob is stored. */
static int shard_register_c(struct dbc *c, const bk_hash *shard_hash,
                            uint64_t size, const struct bk_shard *s, int64_t bucket_id,
                            bk_hash *missing, int *existed) {
  if (!s) return bk_seterr(BK_EINVAL, "no shard");
  int64_t now = db_now_ms(), sid = 0;
  int was = 0, rc = 0;
  struct xcache xc = {0};
  /* shard row */
  if (rc == 0) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_SHARD_ID);
    if (!st) rc = BK_EDB;
    else {
      bind_hash(st, 1, shard_hash);
      int r = bk_sql_step(st);
      if (r == BK_SQL_ROW) { sid = bk_sql_column_int64(st, 0); was = 1; }
      else if (r != BK_SQL_DONE) rc = dbc_err(c, r, "shard lookup");
      bk_sql_reset(st);
    }
  }
  if (rc == 0 && was) rc = exec_id2(c, SQL_SHARD_TOUCH, sid, now, "touch shard");
  if (rc == 0 && !was) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_SHARD_INSERT);
    if (!st) rc = BK_EDB;
    else {
      bind_hash(st, 1, shard_hash);
      bk_sql_bind_int64(st, 2, (int64_t)size);
      bk_sql_bind_int64(st, 3, now);
      rc = dbc_step_done(c, st, "insert shard");
      sid = bk_sql_last_id(c->h);
    }
  }
  /* xorb section: every xorb must exist; flagged chunks join the dedup index */
  for (uint32_t i = 0; rc == 0 && i < s->nxorbs; i++) {
    const bk_shard_xorb *x = &s->xorbs[i];
    int64_t xid;
    uint32_t n;
    rc = xorb_lookup_cached(c, &xc, &x->xorb_hash, &xid, &n, missing);
    if (rc) break;
    if (x->nchunks != n) {
      char hex[BK_HASH_HEX_LEN + 1];
      bk_hash_to_hex(&x->xorb_hash, hex);
      rc = bk_seterr(BK_EINVAL, "shard lists xorb %s with %u chunks, stored one has %u", hex,
                     x->nchunks, n);
      break;
    }
    rc = exec_id2(c, SQL_XORB_TOUCH, xid, now, "touch xorb");
    if (rc == 0 && bucket_id > 0) rc = exec_id2(c, SQL_XORB_REF, bucket_id, xid, "xorb reference");
    for (uint32_t k = 0; rc == 0 && k < x->nchunks; k++) {
      if (!(x->chunks[k].flags & BK_SHARD_CHUNK_GLOBAL_DEDUP)) continue;
      bk_sql_stmt *st = dbc_stmt(c, SQL_DEDUP_FROM_CHUNK_H);
      if (!st) { rc = BK_EDB; break; }
      bk_sql_bind_int64(st, 1, xid);
      bk_sql_bind_int64(st, 2, k);
      bind_hash(st, 3, &x->chunks[k].hash);
      rc = dbc_step_done(c, st, "dedup");
    }
    if (rc == 0) rc = shard_ref(c, sid, 1, &x->xorb_hash);
  }
  /* file section */
  for (uint32_t i = 0; rc == 0 && i < s->nfiles; i++) {
    rc = register_file(c, &xc, &s->files[i], bucket_id, now, missing);
    if (rc == 0) rc = shard_ref(c, sid, 0, &s->files[i].file_hash);
    /* touch the term xorbs: they are in use again */
    for (uint32_t t = 0; rc == 0 && t < s->files[i].nterms; t++) {
      int64_t xid;
      uint32_t n;
      rc = xorb_lookup_cached(c, &xc, &s->files[i].terms[t].xorb_hash, &xid, &n, missing);
      if (rc == 0 && (t == 0 || !bk_hash_eq(&s->files[i].terms[t].xorb_hash,
                                             &s->files[i].terms[t - 1].xorb_hash))) {
        rc = exec_id2(c, SQL_XORB_TOUCH, xid, now, "touch xorb");
        if (rc == 0 && bucket_id > 0)
          rc = exec_id2(c, SQL_XORB_REF, bucket_id, xid, "xorb reference");
      }
    }
  }
  if (rc == 0 && existed) *existed = was;
  return rc;
}

int bk_db_shard_register_tx(bk_db_tx *tx, const bk_hash *shard_hash, uint64_t size,
                            const struct bk_shard *s, int64_t bucket_id, bk_hash *missing,
                            int *existed) {
  int rc = tx_writable(tx);
  if (rc) return rc;
  return shard_register_c(db_tx_conn(tx), shard_hash, size, s, bucket_id, missing, existed);
}

int bk_db_shard_exists(bk_db *db, const bk_hash *shard_hash) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SHARD_ID, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, shard_hash);
  int r = bk_sql_step(st);
  rc = r == BK_SQL_ROW ? 1 : r == BK_SQL_DONE ? 0 : dbc_err(c, r, "shard lookup");
  bk_sql_reset(st);
  dbc_release(db, c);
  return rc;
}

struct shard_it { bk_shard_cb cb; void *ctx; };

static void shard_conv(bk_sql_stmt *st, void *dst) {
  bk_shard_info *si = dst;
  col_hash(st, 0, &si->hash);
  si->size = (uint64_t)bk_sql_column_int64(st, 1);
  si->created_ms = bk_sql_column_int64(st, 2);
  si->touched_ms = bk_sql_column_int64(st, 3);
  si->damaged = bk_sql_column_int(st, 4) != 0;
  si->row_id = bk_sql_column_int64(st, 5);
}
static int64_t shard_id_of(const void *e) { return ((const bk_shard_info *)e)->row_id; }

static int shard_emit(const void *p, const void *e) {
  const struct shard_it *it = p;
  return it->cb(it->ctx, e);
}

int bk_db_shard_list(bk_db *db, bk_shard_cb cb, void *ctx) {
  return bk_db_shard_list_after(db, 0, SIZE_MAX, cb, ctx);
}

int bk_db_shard_list_after(bk_db *db, int64_t after_id, size_t limit, bk_shard_cb cb,
                           void *ctx) {
  struct shard_it it = {cb, ctx};
  return list_pages(db, SQL_SHARD_LIST_AFTER, after_id, limit, sizeof(bk_shard_info),
                    shard_conv, shard_id_of, shard_emit, &it, "list shards");
}

int bk_db_shard_set_damaged(bk_db *db, const bk_hash *shard_hash, int damaged) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SHARD_DAMAGED, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, shard_hash);
  bk_sql_bind_int64(st, 2, damaged ? 1 : 0);
  rc = dbc_step_done(c, st, "shard state");
  if (rc == 0 && bk_sql_changes(c->h) == 0) rc = bk_seterr(BK_ENOTFOUND, "shard not found");
  dbc_release(db, c);
  return rc;
}

/* ---- files that reference damaged blobs ---- */

/* Paged by LIMIT ?1 OFFSET ?2 (a total order: x.id breaks ties); damaged
 * references are few, so the offset scan stays cheap. */
static const char SQL_DAMAGED_REFS[] =
    "SELECT n.name, b.name, bf.path, x.hash FROM xorbs x"
    " JOIN file_terms t ON t.xorb_id = x.id"
    " JOIN files f ON f.id = t.file_id"
    " JOIN bucket_files bf ON bf.xet_hash = f.hash"
    " JOIN buckets b ON b.id = bf.bucket_id"
    " JOIN namespaces n ON n.id = b.ns_id"
    " WHERE x.damaged != 0"
    " GROUP BY b.id, n.id, bf.path, x.id ORDER BY n.name, b.name, bf.path, x.id"
    " LIMIT ?1 OFFSET ?2";

struct dref_el {
  char ns[BK_NAME_MAX + 1], bucket[BK_NAME_MAX + 1], path[BK_PATH_MAX + 1];
  bk_hash xorb;
};

static void dref_conv(bk_sql_stmt *st, void *dst) {
  struct dref_el *e = dst;
  col_text(st, 0, e->ns, sizeof e->ns);
  col_text(st, 1, e->bucket, sizeof e->bucket);
  col_text(st, 2, e->path, sizeof e->path);
  col_hash(st, 3, &e->xorb);
}

static void bind_offset(bk_sql_stmt *st, const void *arg) {
  bk_sql_bind_int64(st, 1, DB_PAGE);
  bk_sql_bind_int64(st, 2, *(const int64_t *)arg);
}

int bk_db_damaged_refs(bk_db *db, bk_damaged_ref_cb cb, void *ctx) {
  struct db_page pg = {NULL, 0, 0, sizeof(struct dref_el)};
  int64_t off = 0;
  int rc = 0;
  for (;;) {
    rc = db_page_read(db, SQL_DAMAGED_REFS, bind_offset, &off, dref_conv, DB_PAGE, &pg,
                      "damaged references");
    for (size_t i = 0; rc == 0 && i < pg.n; i++) {
      struct dref_el *e = db_page_at(&pg, i);
      bk_damaged_ref r;
      memcpy(r.ns, e->ns, sizeof r.ns);
      memcpy(r.bucket, e->bucket, sizeof r.bucket);
      r.path = e->path;
      r.xorb = e->xorb;
      rc = cb(ctx, &r);
    }
    if (rc || pg.n < DB_PAGE) break;
    off += (int64_t)pg.n;
  }
  db_page_free(&pg);
  return rc;
}

/* ---- scrub resume point ---- */

static const char SQL_SCRUB_GET[] = "SELECT last_id FROM scrub_state WHERE kind = ?1";
static const char SQL_SCRUB_SET[] =
    "INSERT INTO scrub_state(kind, last_id, updated_ms) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(kind) DO UPDATE SET last_id = ?2, updated_ms = ?3";

static void row_i64(bk_sql_stmt *st, void *p) { *(int64_t *)p = bk_sql_column_int64(st, 0); }

int bk_db_scrub_cursor(bk_db *db, bk_blob_kind kind, int64_t *last_id) {
  *last_id = 0;
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SCRUB_GET, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, (int)kind);
  rc = dbc_one_row(c, st, row_i64, last_id, "no scrub yet", "scrub state");
  dbc_release(db, c);
  if (rc == BK_ENOTFOUND) {
    bk_clearerr();
    rc = 0;
  }
  return rc;
}

int bk_db_scrub_set_cursor(bk_db *db, bk_blob_kind kind, int64_t last_id) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SCRUB_SET, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, (int)kind);
  bk_sql_bind_int64(st, 2, last_id);
  bk_sql_bind_int64(st, 3, db_now_ms());
  rc = dbc_step_done(c, st, "scrub state");
  dbc_release(db, c);
  return rc;
}

/* ---- dedup ---- */

/* ?2 = scope, ?3 = the caller's bucket. Driven by the dedup primary key
 * (chunk_hash, xorb_id); each candidate xorb then costs one probe of
 * xorb_refs: by (bucket_id, xorb_id) under bucket scope, by (ns_id, xorb_id)
 * under namespace scope (the caller's ns_id is one rowid lookup). */
static const char SQL_DEDUP_LOOKUP[] =
    "SELECT x.hash, d.idx, x.id FROM dedup d JOIN xorbs x ON x.id = d.xorb_id "
    "WHERE d.chunk_hash = ?1 AND x.damaged = 0"
    " AND (?2 = 0"
    "  OR (?2 = 2 AND EXISTS(SELECT 1 FROM xorb_refs r"
    "      WHERE r.bucket_id = ?3 AND r.xorb_id = d.xorb_id))"
    "  OR (?2 = 1 AND EXISTS(SELECT 1 FROM xorb_refs r"
    "      WHERE r.ns_id = (SELECT ns_id FROM buckets WHERE id = ?3) AND r.xorb_id = d.xorb_id)))"
    " ORDER BY d.xorb_id LIMIT 1";

int bk_db_dedup_lookup(bk_db *db, const bk_hash *chunk, int scope, int64_t bucket_id,
                       bk_hash *xorb, uint32_t *idx) {
  if (scope != BK_DEDUP_GLOBAL && scope != BK_DEDUP_NAMESPACE && scope != BK_DEDUP_BUCKET)
    return bk_seterr(BK_EINVAL, "unknown dedup scope %d", scope);
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_DEDUP_LOOKUP, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, chunk);
  bk_sql_bind_int64(st, 2, scope);
  bk_sql_bind_int64(st, 3, bucket_id);
  int r = bk_sql_step(st);
  int64_t xid = 0;
  if (r == BK_SQL_ROW) {
    col_hash(st, 0, xorb);
    *idx = (uint32_t)bk_sql_column_int64(st, 1);
    xid = bk_sql_column_int64(st, 2);
    rc = 0;
  } else if (r == BK_SQL_DONE) {
    rc = bk_seterr(BK_ENOTFOUND, "chunk not known");
  } else {
    rc = dbc_err(c, r, "dedup lookup");
  }
  bk_sql_reset(st);
  /* keep the xorb alive for a client about to reference it (best effort:
   * a busy database must not fail the lookup) */
  if (rc == 0) exec_id2(c, SQL_XORB_TOUCH, xid, db_now_ms(), "touch xorb");
  dbc_release(db, c);
  if (rc == 0) bk_clearerr();
  return rc;
}

int bk_db_xorb_ref(bk_db *db, const bk_hash *xorb, int64_t bucket_id) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_BUCKET_EXISTS, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, bucket_id);
  int r = bk_sql_step(st);
  bk_sql_reset(st);
  if (r == BK_SQL_DONE) rc = bk_seterr(BK_ENOTFOUND, "bucket not found");
  else if (r != BK_SQL_ROW) rc = dbc_err(c, r, "bucket lookup");
  int64_t xid = 0;
  uint32_t n = 0;
  if (rc == 0) rc = xorb_id_c(c, xorb, &xid, &n);
  if (rc == 0) rc = exec_id2(c, SQL_XORB_REF, bucket_id, xid, "xorb reference");
  dbc_release(db, c);
  return rc;
}

int db_file_xorb_refs(struct dbc *c, const bk_hash *file, int64_t bucket_id) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_FILE_XORB_REFS);
  if (!st) return BK_EDB;
  bind_hash(st, 1, file);
  bk_sql_bind_int64(st, 2, bucket_id);
  return dbc_step_done(c, st, "xorb references");
}

/* ---- gc ---- */

/* A file reconstruction no bucket lists that uses a damaged xorb goes at
 * once too (it cannot be read back; a re-upload registers it again with
 * good terms), so that the damaged xorb it held can go in the same run. */
static const char SQL_GC_FILES[] =
    "SELECT id, hash FROM files f WHERE (touched_ms < ?1 OR EXISTS"
    " (SELECT 1 FROM file_terms t JOIN xorbs x ON x.id = t.xorb_id"
    "  WHERE t.file_id = f.id AND x.damaged != 0)) AND NOT EXISTS"
    " (SELECT 1 FROM bucket_files b WHERE b.xet_hash = f.hash) LIMIT ?2";
static const char SQL_GC_FILE_DEL[] = "DELETE FROM files WHERE id = ?1";
static const char SQL_GC_GRANT_DEL[] = "DELETE FROM file_grants WHERE file_hash = ?1";
/* A damaged xorb no file uses any more (its files were re-uploaded into
 * other xorbs, or deleted) goes at once, whatever its age: no dedup answer
 * offers it and no new shard may reference it, so no upload in flight can
 * be about to use it. Likewise a damaged shard: a stored shard is a copy of
 * what its upload registered (files, terms, xorbs live in the metadata and
 * no read ever uses the shard blob), so a damaged one holds nothing that is
 * not held elsewhere; removing it leaves the store without damage. */
static const char SQL_GC_XORBS[] =
    "SELECT id, hash, bytes_on_disk FROM xorbs x WHERE (touched_ms < ?1 OR damaged != 0)"
    " AND NOT EXISTS (SELECT 1 FROM file_terms t WHERE t.xorb_id = x.id) LIMIT ?2";
static const char SQL_GC_XORB_DEL[] = "DELETE FROM xorbs WHERE id = ?1";
static const char SQL_GC_SHARDS[] =
    "SELECT id, hash, size FROM shards s WHERE damaged != 0 OR (touched_ms < ?1"
    " AND NOT EXISTS (SELECT 1 FROM shard_refs r JOIN files f ON f.hash = r.hash"
    "   WHERE r.shard_id = s.id AND r.kind = 0)"
    " AND NOT EXISTS (SELECT 1 FROM shard_refs r JOIN xorbs x ON x.hash = r.hash"
    "   WHERE r.shard_id = s.id AND r.kind = 1)) LIMIT ?2";
static const char SQL_GC_SHARD_DEL[] = "DELETE FROM shards WHERE id = ?1";

struct gc_row {
  int64_t id;
  bk_hash h;
  uint64_t size;
};

/* Collects up to limit rows of a gc candidate query. */
static int gc_collect(struct dbc *c, const char *sql, int64_t cutoff, int64_t limit,
                      int has_size, struct gc_row **rows, size_t *n) {
  *rows = NULL;
  *n = 0;
  size_t cap = 0;
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, cutoff);
  bk_sql_bind_int64(st, 2, limit);
  int r, rc = 0;
  while ((r = bk_sql_step(st)) == BK_SQL_ROW) {
    struct gc_row *p = bk_grow(*rows, *n, &cap, sizeof *p, 64, 0);
    if (!p) { rc = bk_seterr(BK_ENOMEM, "out of memory"); break; }
    *rows = p;
    struct gc_row *g = &(*rows)[(*n)++];
    g->id = bk_sql_column_int64(st, 0);
    col_hash(st, 1, &g->h);
    g->size = has_size ? (uint64_t)bk_sql_column_int64(st, 2) : 0;
  }
  if (!rc && r != BK_SQL_DONE && r != BK_SQL_ROW) rc = dbc_err(c, r, "gc scan");
  bk_sql_reset(st);
  if (rc) {
    free(*rows);
    *rows = NULL;
    *n = 0;
  }
  return rc;
}

static int del_id(struct dbc *c, const char *sql, int64_t id) {
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, id);
  return dbc_step_done(c, st, "gc delete");
}

/* Removes up to *budget candidates of one phase (0 files, 1 xorbs, 2 shards)
 * inside the open transaction, appending removed xorbs/shards to items;
 * *done = 1 when the phase has no more. */
static int gc_phase(struct dbc *c, int phase, int64_t cutoff, int64_t *budget, bk_gc_item *items,
                    size_t *nitems, bk_gc_stats *z, int *done) {
  static const char *const SEL[3] = {SQL_GC_FILES, SQL_GC_XORBS, SQL_GC_SHARDS};
  static const char *const DEL[3] = {SQL_GC_FILE_DEL, SQL_GC_XORB_DEL, SQL_GC_SHARD_DEL};
  struct gc_row *rows = NULL;
  size_t n = 0;
  int rc = gc_collect(c, SEL[phase], cutoff, *budget, phase != 0, &rows, &n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    rc = del_id(c, DEL[phase], rows[i].id);
    if (rc == 0 && phase == 0) {
      bk_sql_stmt *st = dbc_stmt(c, SQL_GC_GRANT_DEL);
      if (!st) rc = BK_EDB;
      else {
        bind_hash(st, 1, &rows[i].h);
        rc = dbc_step_done(c, st, "gc grants");
      }
    }
    if (rc) break;
    if (phase > 0) {
      bk_gc_item *it = &items[(*nitems)++];
      it->kind = phase == 1 ? BK_BLOB_XORB : BK_BLOB_SHARD;
      it->hash = rows[i].h;
      it->size = rows[i].size;
    }
    if (phase == 0) z->files++;
    else if (phase == 1) { z->xorbs++; z->xorb_bytes += rows[i].size; }
    else { z->shards++; z->shard_bytes += rows[i].size; }
  }
  free(rows);
  if (rc == 0) {
    *done = (int64_t)n < *budget;
    *budget -= (int64_t)n;
  }
  return rc;
}

int bk_db_gc_page_tx(bk_db_tx *tx, int64_t cutoff_ms, int *phase, size_t limit,
                     bk_gc_item *items, size_t *nitems, bk_gc_stats *stats) {
  *nitems = 0;
  int rc = tx_writable(tx);
  if (rc) return rc;
  if (limit == 0 || limit > BK_GC_PAGE_MAX) return bk_seterr(BK_EINVAL, "bad gc page size");
  if (*phase < 0 || *phase > 3) return bk_seterr(BK_EINVAL, "bad gc phase");
  struct dbc *c = db_tx_conn(tx);
  bk_gc_stats z = {0};
  int64_t budget = (int64_t)limit;
  while (rc == 0 && *phase < 3 && budget > 0) {
    int done = 0;
    rc = gc_phase(c, *phase, cutoff_ms, &budget, items, nitems, &z, &done);
    if (rc == 0 && done) (*phase)++;
  }
  if (rc) {
    *nitems = 0;
    return rc;
  }
  if (stats) {
    stats->files += z.files;
    stats->xorbs += z.xorbs;
    stats->shards += z.shards;
    stats->xorb_bytes += z.xorb_bytes;
    stats->shard_bytes += z.shard_bytes;
  }
  return 0;
}

/* ---- integrity ---- */

/* Problems bk_db_check found, collected before the connection is given
 * back (the caller's callback then runs without it). */
#define CHECK_MSGS_MAX 100000
struct msgs {
  char **v;
  size_t n, cap;
  int dropped; /* beyond CHECK_MSGS_MAX: counted in one last message */
};

static int msgs_add(struct msgs *m, const char *s) {
  if (m->n == CHECK_MSGS_MAX) {
    m->dropped++;
    return 0;
  }
  int rc = db_vec_grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v, CHECK_MSGS_MAX);
  if (rc) return rc;
  if (!(m->v[m->n] = strdup(s))) return bk_seterr(BK_ENOMEM, "out of memory");
  m->n++;
  return 0;
}

static void msgs_free(struct msgs *m) {
  for (size_t i = 0; i < m->n; i++) free(m->v[i]);
  free(m->v);
}

static int check_collect(struct dbc *c, struct msgs *out);

int bk_db_check(bk_db *db, bk_msg_cb cb, void *ctx) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  struct msgs m = {0};
  rc = check_collect(c, &m);
  dbc_release(db, c);
  for (size_t i = 0; rc == 0 && cb && i < m.n; i++) rc = cb(ctx, m.v[i]);
  if (rc == 0 && cb && m.dropped) {
    char msg[96];
    snprintf(msg, sizeof msg, "... and %d more problems not listed", m.dropped);
    rc = cb(ctx, msg);
  }
  int found = m.n > 0;
  msgs_free(&m);
  if (rc < 0) return rc;
  return found;
}

/* The check queries, per dialect (docs/store.md). SQLite: PRAGMA
 * quick_check / foreign_key_check first (foreign keys can be off on a
 * SQLite file), then the domain checks with hex(), quote(), zeroblob(),
 * instr(). PostgreSQL enforces foreign keys on every write and has no
 * quick_check: the domain checks only, with encode(), quote_literal(),
 * decode(), strpos(). */
static const char *const CHECK_SQLITE[] = {
    "PRAGMA quick_check", "PRAGMA foreign_key_check",
    /* every file's terms are all there */
    "SELECT 'file ' || hex(f.hash) || ': ' || count(t.seq) || ' of ' || f.nterms "
    "|| ' terms' FROM files f LEFT JOIN file_terms t ON t.file_id = f.id "
    "GROUP BY f.id HAVING count(t.seq) != f.nterms",
    /* every xorb's chunk table is complete */
    "SELECT 'xorb ' || hex(x.hash) || ': ' || count(k.idx) || ' of ' || x.nchunks "
    "|| ' chunk rows' FROM xorbs x LEFT JOIN xorb_chunks k ON k.xorb_id = x.id "
    "GROUP BY x.id HAVING count(k.idx) != x.nchunks",
    /* every bucket file has content (the empty file aside) */
    "SELECT 'bucket ' || b.bucket_id || ' path ' || quote(b.path) || "
    "': content ' || hex(b.xet_hash) || ' is not registered' "
    "FROM bucket_files b WHERE b.xet_hash != zeroblob(32) AND NOT EXISTS "
    "(SELECT 1 FROM files f WHERE f.hash = b.xet_hash) LIMIT 1000",
    /* directory aggregates agree with the file index */
    "WITH RECURSIVE anc(bucket_id, dir, rest, size) AS ("
    " SELECT bucket_id, '', path, size FROM bucket_files"
    " UNION ALL SELECT bucket_id,"
    "  CASE WHEN dir = '' THEN substr(rest, 1, instr(rest, '/') - 1)"
    "   ELSE dir || '/' || substr(rest, 1, instr(rest, '/') - 1) END,"
    "  substr(rest, instr(rest, '/') + 1), size FROM anc WHERE instr(rest, '/') > 0),"
    " calc AS (SELECT bucket_id, dir AS path, count(*) AS n, sum(size) AS b"
    "  FROM anc WHERE dir != '' GROUP BY bucket_id, dir),"
    " bad AS (SELECT * FROM (SELECT bucket_id, path, n, b FROM calc EXCEPT"
    "  SELECT bucket_id, path, nfiles, bytes FROM bucket_dirs)"
    "  UNION SELECT * FROM (SELECT bucket_id, path, nfiles, bytes FROM bucket_dirs"
    "  EXCEPT SELECT bucket_id, path, n, b FROM calc))"
    " SELECT 'bucket ' || bucket_id || ' directory ' || quote(path) ||"
    " ': aggregate (files, bytes) disagrees with the file index' FROM bad"
    " GROUP BY bucket_id, path LIMIT 1000"};
static const char *const CHECK_PG[] = {
    "SELECT 'file ' || upper(encode(f.hash, 'hex')) || ': ' || count(t.seq) || ' of ' || "
    "f.nterms || ' terms' FROM files f LEFT JOIN file_terms t ON t.file_id = f.id "
    "GROUP BY f.id HAVING count(t.seq) != f.nterms",
    "SELECT 'xorb ' || upper(encode(x.hash, 'hex')) || ': ' || count(k.idx) || ' of ' || "
    "x.nchunks || ' chunk rows' FROM xorbs x LEFT JOIN xorb_chunks k ON k.xorb_id = x.id "
    "GROUP BY x.id HAVING count(k.idx) != x.nchunks",
    "SELECT 'bucket ' || b.bucket_id || ' path ' || quote_literal(b.path) || "
    "': content ' || upper(encode(b.xet_hash, 'hex')) || ' is not registered' "
    "FROM bucket_files b WHERE b.xet_hash != decode(repeat('00', 32), 'hex') AND NOT EXISTS "
    "(SELECT 1 FROM files f WHERE f.hash = b.xet_hash) LIMIT 1000",
    "WITH RECURSIVE anc(bucket_id, dir, rest, size) AS ("
    " SELECT bucket_id, CAST('' AS TEXT) COLLATE \"C\", path, size FROM bucket_files"
    " UNION ALL SELECT bucket_id,"
    "  CASE WHEN dir = '' THEN substr(rest, 1, strpos(rest, '/') - 1)"
    "   ELSE dir || '/' || substr(rest, 1, strpos(rest, '/') - 1) END,"
    "  substr(rest, strpos(rest, '/') + 1), size FROM anc WHERE strpos(rest, '/') > 0),"
    " calc AS (SELECT bucket_id, dir AS path, count(*) AS n, sum(size) AS b"
    "  FROM anc WHERE dir != '' GROUP BY bucket_id, dir),"
    " bad AS (SELECT * FROM (SELECT bucket_id, path, n, b FROM calc EXCEPT"
    "  SELECT bucket_id, path, nfiles, bytes FROM bucket_dirs) AS x"
    "  UNION SELECT * FROM (SELECT bucket_id, path, nfiles, bytes FROM bucket_dirs"
    "  EXCEPT SELECT bucket_id, path, n, b FROM calc) AS y)"
    " SELECT 'bucket ' || bucket_id || ' directory ' || quote_literal(path) ||"
    " ': aggregate (files, bytes) disagrees with the file index' FROM bad"
    " GROUP BY bucket_id, path LIMIT 1000"};

static int check_collect(struct dbc *c, struct msgs *out) {
  int rc = 0;
  int pg = c->h->drv->dialect == BK_SQL_PG;
  const char *const *qs = pg ? CHECK_PG : CHECK_SQLITE;
  size_t nq = pg ? sizeof CHECK_PG / sizeof CHECK_PG[0] : sizeof CHECK_SQLITE / sizeof CHECK_SQLITE[0];
  size_t pragmas = pg ? 0 : 2; /* the first ones are SQLite's PRAGMAs */
  for (size_t q = 0; rc == 0 && q < nq; q++) {
    bk_sql_stmt *st = NULL;
    int r = bk_sql_prepare_temp(c->h, qs[q], &st);
    if (r) { rc = dbc_err(c, r, "check"); break; }
    while ((r = bk_sql_step(st)) == BK_SQL_ROW) {
      char msg[512];
      if (q < pragmas && q == 0) {
        const char *t = (const char *)bk_sql_column_text(st, 0);
        if (t && !strcmp(t, "ok")) continue;
        snprintf(msg, sizeof msg, "sqlite quick_check: %s", t ? t : "?");
      } else if (q < pragmas && q == 1) {
        snprintf(msg, sizeof msg, "foreign key violation in %s rowid %lld (-> %s)",
                 (const char *)bk_sql_column_text(st, 0),
                 (long long)bk_sql_column_int64(st, 1),
                 (const char *)bk_sql_column_text(st, 2));
      } else {
        snprintf(msg, sizeof msg, "%s", (const char *)bk_sql_column_text(st, 0));
      }
      if ((rc = msgs_add(out, msg))) break;
    }
    if (!rc && r < 0) rc = dbc_err(c, r, "check");
    bk_sql_finalize(st);
  }
  return rc;
}

/* ---- rows of blobs ---- */

int bk_db_blob_row_exists_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h) {
  if (!tx) return bk_seterr(BK_EINVAL, "no transaction");
  if (kind != BK_BLOB_XORB && kind != BK_BLOB_SHARD)
    return bk_seterr(BK_EINVAL, "unknown blob kind %d", (int)kind);
  struct dbc *c = db_tx_conn(tx);
  bk_sql_stmt *st = dbc_stmt(c, kind == BK_BLOB_XORB ? SQL_XORB_ID : SQL_SHARD_ID);
  if (!st) return BK_EDB;
  bind_hash(st, 1, h);
  int r = bk_sql_step(st);
  bk_sql_reset(st);
  if (r == BK_SQL_ROW) return 1;
  if (r == BK_SQL_DONE) return 0;
  return dbc_err(c, r, "blob row lookup");
}
