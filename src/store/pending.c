/* buckets — gc's pending deletes (see store/db.h "pending deletes",
 * docs/store.md "Garbage collection").
 *
 * The table pending_deletes(kind, hash, due_ms) holds the blobs gc will
 * delete on a blob store without a native two-phase delete. Portable SQL
 * (?N placeholders, ON CONFLICT upserts, CASE): the same text runs on SQLite
 * and PostgreSQL. The service decides what goes in and when it goes out;
 * this file only reads and writes rows. */
#include <stdlib.h>

#include "buckets/error.h"
#include "db_internal.h"
#include "store/db.h"

static const char SQL_PENDING_ADD[] =
    "INSERT INTO pending_deletes(kind, hash, due_ms) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(kind, hash) DO UPDATE SET due_ms = CASE"
    " WHEN excluded.due_ms > pending_deletes.due_ms THEN excluded.due_ms"
    " ELSE pending_deletes.due_ms END";
static const char SQL_PENDING_ADD_KEEP[] =
    "INSERT INTO pending_deletes(kind, hash, due_ms) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(kind, hash) DO NOTHING";
static const char SQL_PENDING_DEL[] = "DELETE FROM pending_deletes WHERE kind = ?1 AND hash = ?2";
static const char SQL_PENDING_DUE[] =
    "SELECT kind, hash FROM pending_deletes WHERE due_ms <= ?1 ORDER BY due_ms, kind, hash"
    " LIMIT ?2";
static const char SQL_PENDING_GET[] =
    "SELECT due_ms FROM pending_deletes WHERE kind = ?1 AND hash = ?2";
static const char SQL_PENDING_COUNT[] = "SELECT count(*) FROM pending_deletes";

static int kind_ok(bk_blob_kind kind) {
  if (kind == BK_BLOB_XORB || kind == BK_BLOB_SHARD) return 0;
  return bk_seterr(BK_EINVAL, "unknown blob kind %d", (int)kind);
}

/* The connection of a transaction that may write (WRITE or GC_FENCE). */
static int tx_conn(bk_db_tx *tx, struct dbc **c) {
  if (!tx) return bk_seterr(BK_EINVAL, "no transaction");
  if (db_tx_mode(tx) == BK_TX_READ)
    return bk_seterr(BK_EINVAL, "a read transaction cannot record pending deletes");
  *c = db_tx_conn(tx);
  return 0;
}

int bk_db_pending_add_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h, int64_t due_ms,
                         int keep) {
  struct dbc *c;
  int rc = kind_ok(kind);
  if (rc == 0) rc = tx_conn(tx, &c);
  if (rc) return rc;
  bk_sql_stmt *st = dbc_stmt(c, keep ? SQL_PENDING_ADD_KEEP : SQL_PENDING_ADD);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, (int64_t)kind);
  bind_hash(st, 2, h);
  bk_sql_bind_int64(st, 3, due_ms);
  return dbc_step_done(c, st, "pending delete add");
}

int bk_db_pending_del_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h) {
  struct dbc *c;
  int rc = kind_ok(kind);
  if (rc == 0) rc = tx_conn(tx, &c);
  if (rc) return rc;
  bk_sql_stmt *st = dbc_stmt(c, SQL_PENDING_DEL);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, (int64_t)kind);
  bind_hash(st, 2, h);
  return dbc_step_done(c, st, "pending delete remove");
}

struct due_ctx {
  bk_gc_item *items;
  size_t n, max;
};

static int due_row(bk_sql_stmt *st, void *ctx) {
  struct due_ctx *d = ctx;
  int64_t k = bk_sql_column_int64(st, 0);
  if (d->n >= d->max) return 0; /* LIMIT holds: never more rows than asked */
  if (k != BK_BLOB_XORB && k != BK_BLOB_SHARD) return 0; /* not ours: left alone */
  if (bk_sql_column_bytes(st, 1) != BK_HASH_LEN) return 0; /* malformed row: left alone */
  bk_gc_item *it = &d->items[d->n++];
  it->kind = (bk_blob_kind)k;
  col_hash(st, 1, &it->hash);
  it->size = 0;
  return 0;
}

int bk_db_pending_due(bk_db *db, int64_t now_ms, size_t limit, bk_gc_item *items, size_t *n) {
  *n = 0;
  if (limit == 0 || limit > BK_GC_PAGE_MAX) return bk_seterr(BK_EINVAL, "bad page size");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_PENDING_DUE, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, now_ms);
  bk_sql_bind_int64(st, 2, (int64_t)limit);
  struct due_ctx d = {items, 0, limit};
  rc = dbc_each_row(c, st, due_row, &d, "pending deletes");
  dbc_release(db, c);
  if (rc) return rc;
  *n = d.n;
  return 0;
}

static void get_due(bk_sql_stmt *st, void *ctx) { *(int64_t *)ctx = bk_sql_column_int64(st, 0); }

int bk_db_pending_get(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t *due_ms) {
  int rc = kind_ok(kind);
  if (rc) return rc;
  struct dbc *c;
  bk_sql_stmt *st;
  if ((rc = dbc_acquire_stmt(db, SQL_PENDING_GET, &c, &st))) return rc;
  bk_sql_bind_int64(st, 1, (int64_t)kind);
  bind_hash(st, 2, h);
  int64_t due = 0;
  rc = dbc_one_row(c, st, get_due, &due, "not pending", "pending delete lookup");
  dbc_release(db, c);
  if (rc == BK_ENOTFOUND) return 0;
  if (rc) return rc;
  if (due_ms) *due_ms = due;
  return 1;
}

static void get_count(bk_sql_stmt *st, void *ctx) {
  int64_t v = bk_sql_column_int64(st, 0);
  *(uint64_t *)ctx = v > 0 ? (uint64_t)v : 0;
}

int bk_db_pending_count(bk_db *db, uint64_t *n) {
  *n = 0;
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_PENDING_COUNT, &c, &st);
  if (rc) return rc;
  rc = dbc_one_row(c, st, get_count, n, "no count", "pending delete count");
  dbc_release(db, c);
  return rc;
}
