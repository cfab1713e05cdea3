/* buckets — SQL driver seam (store-internal; not part of the public API).
 *
 * The metadata modules (accounts.c, buckets.c, cas_meta.c, file_access.c,
 * schema.c) write their SQL once over this interface; everything specific
 * to one database engine lives in a driver (sql_sqlite.c, sql_pg.c). A
 * driver is a table of functions, chosen by the scheme of a metadata URL:
 * "sqlite:///abs/path/meta.db", "postgresql://user:pw@host:port/db".
 *
 * SQL text conventions (what a driver must accept):
 *  - placeholders are ?1, ?2, ... (a PostgreSQL driver rewrites them to
 *    $1, $2, ... at prepare time);
 *  - upserts are "INSERT ... ON CONFLICT(...) DO NOTHING / DO UPDATE"
 *    (SQLite >= 3.24 and PostgreSQL both accept it);
 *  - the remaining dialect-specific constructs are listed in docs/store.md.
 *
 * Errors: every int function returns 0 (or a positive step result) or a
 * negative BK_E* with the per-thread message set (bk_seterr): a busy or
 * locked database is BK_EDB "database busy (...)", a full disk BK_ENOSPC,
 * another I/O error BK_EIO (or the errno's code), the rest BK_EDB. The
 * message carries no "what" prefix: callers add one (dbc_err).
 *
 * Ownership: a connection is owned by whoever connected it (close); a
 * statement from prepare is owned by its connection (cached, never
 * finalized by the caller); one from prepare_temp is owned by the caller
 * (finalize). Text and blob pointers from column_* are valid until the next
 * step/reset of that statement. Bound text/blobs are copied.
 */
#ifndef BUCKETS_STORE_SQL_H
#define BUCKETS_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

/* Dialects (struct bk_sql_driver.dialect). */
#define BK_SQL_SQLITE 1
#define BK_SQL_PG 2

/* Step results (besides negative errors). */
#define BK_SQL_DONE 0
#define BK_SQL_ROW 1

/* Named transaction lock modes (enum bk_tx_mode in store/db.h).
 *  BK_TX_READ      a read snapshot (SQLite: deferred BEGIN).
 *  BK_TX_WRITE     a write transaction that takes the write lock at once
 *                  (SQLite: BEGIN IMMEDIATE), so two writers never deadlock
 *                  upgrading a read lock.
 *  BK_TX_GC_FENCE  the mode gc and xorb/shard registration use to exclude
 *                  each other (a registration that checked its blob cannot
 *                  interleave with a gc that removes it). SQLite: BEGIN
 *                  IMMEDIATE (one writer at a time is the fence); PostgreSQL
 *                  takes pg_advisory_xact_lock(<fence key>) and then the
 *                  write key after BEGIN (docs/store.md "PostgreSQL"). */
#include "store/db.h" /* bk_tx_mode */

struct bk_sql_driver;

/* Drivers embed these headers as their FIRST member. */
typedef struct bk_sql_conn {
  const struct bk_sql_driver *drv;
} bk_sql_conn;
typedef struct bk_sql_stmt {
  const struct bk_sql_driver *drv;
} bk_sql_stmt;

struct bk_sql_driver {
  const char *scheme; /* URL scheme, e.g. "sqlite" */
  /* target = the URL part after "scheme://" (for sqlite an absolute path
   * "/abs/meta.db"). Creates the database when missing. */
  int (*connect)(const char *target, bk_sql_conn **out);
  void (*close)(bk_sql_conn *c); /* NULL ok; finalizes cached statements */
  /* A reset statement with no bindings for sql, cached per connection by
   * the ADDRESS of sql (pass string literals / static arrays only). */
  int (*prepare)(bk_sql_conn *c, const char *sql, bk_sql_stmt **out);
  /* An uncached statement (dynamic SQL); caller finalizes. */
  int (*prepare_temp)(bk_sql_conn *c, const char *sql, bk_sql_stmt **out);
  void (*finalize)(bk_sql_stmt *st); /* prepare_temp statements only */
  /* Runs one or more statements without results. The message on failure
   * is "<sql>: <reason>". */
  int (*exec)(bk_sql_conn *c, const char *sql);
  int (*begin)(bk_sql_conn *c, bk_tx_mode mode);
  int (*commit)(bk_sql_conn *c); /* rolls back itself when COMMIT fails */
  void (*rollback)(bk_sql_conn *c); /* no-op outside a transaction */
  int (*in_tx)(bk_sql_conn *c);     /* 1 inside a transaction */
  int64_t (*last_id)(bk_sql_conn *c); /* id of the last row inserted */
  int64_t (*changes)(bk_sql_conn *c); /* rows changed by the last statement */
  /* Schema bookkeeping (dialect: SQLite keeps it in PRAGMA user_version). */
  int (*schema_version)(bk_sql_conn *c, int *v);
  int (*set_schema_version)(bk_sql_conn *c, int v);
  int (*has_column)(bk_sql_conn *c, const char *table, const char *column, int *has);
  /* After rows were inserted with explicit ids: the next generated id of table.column is larger than every
   stored one (SQLite: nothing to do). */
  int (*id_sync)(bk_sql_conn *c, const char *table, const char *column);
  /* Which SQL dialect the driver speaks, for the few statements that differ
   * (schema DDL, the case-insensitive name lookup, fsck): BK_SQL_SQLITE or
   * BK_SQL_PG. */
  int dialect;

  int (*bind_int64)(bk_sql_stmt *st, int i, int64_t v);
  int (*bind_text)(bk_sql_stmt *st, int i, const char *s, int n); /* n < 0: strlen */
  int (*bind_blob)(bk_sql_stmt *st, int i, const void *p, size_t n);
  int (*bind_null)(bk_sql_stmt *st, int i);
  int (*step)(bk_sql_stmt *st); /* BK_SQL_ROW, BK_SQL_DONE or BK_E* */
  void (*reset)(bk_sql_stmt *st); /* keeps the bindings */
  int64_t (*column_int64)(bk_sql_stmt *st, int i);
  const char *(*column_text)(bk_sql_stmt *st, int i); /* NULL for NULL */
  const void *(*column_blob)(bk_sql_stmt *st, int i);
  size_t (*column_bytes)(bk_sql_stmt *st, int i);
  int (*column_is_null)(bk_sql_stmt *st, int i);
};

/* The SQLite driver (sql_sqlite.c). */
extern const struct bk_sql_driver bk_sql_sqlite;
/* The PostgreSQL driver (sql_pg.c; schemes "postgresql" and "postgres"). */
extern const struct bk_sql_driver bk_sql_pg;
extern const struct bk_sql_driver bk_sql_postgres;
/* Round trips this thread has made through the PostgreSQL driver
 * (statements, BEGIN, COMMIT, ROLLBACK): what tests bound per operation. */
uint64_t bk_sql_pg_exec_count(void);

/* Driver for a metadata URL ("sqlite:///abs/path"): sets *drv and *target
 * (pointer into url, after "scheme://"). BK_EINVAL for an unknown scheme or
 * a malformed URL. */
int bk_sql_driver_for(const char *url, const struct bk_sql_driver **drv, const char **target);

/* Connects through the driver chosen by url. */
int bk_sql_connect_url(const char *url, bk_sql_conn **out);

/* Dispatch helpers (column indexes are 0-based, bind indexes 1-based). */
static inline void bk_sql_close(bk_sql_conn *c) { if (c) c->drv->close(c); }
static inline int bk_sql_prepare(bk_sql_conn *c, const char *sql, bk_sql_stmt **st) {
  return c->drv->prepare(c, sql, st);
}
static inline int bk_sql_prepare_temp(bk_sql_conn *c, const char *sql, bk_sql_stmt **st) {
  return c->drv->prepare_temp(c, sql, st);
}
static inline void bk_sql_finalize(bk_sql_stmt *st) { if (st) st->drv->finalize(st); }
static inline int bk_sql_exec(bk_sql_conn *c, const char *sql) { return c->drv->exec(c, sql); }
static inline int bk_sql_begin(bk_sql_conn *c, bk_tx_mode m) { return c->drv->begin(c, m); }
static inline int bk_sql_commit(bk_sql_conn *c) { return c->drv->commit(c); }
static inline void bk_sql_rollback(bk_sql_conn *c) { c->drv->rollback(c); }
static inline int bk_sql_in_tx(bk_sql_conn *c) { return c->drv->in_tx(c); }
static inline int64_t bk_sql_last_id(bk_sql_conn *c) { return c->drv->last_id(c); }
static inline int64_t bk_sql_changes(bk_sql_conn *c) { return c->drv->changes(c); }
static inline int bk_sql_id_sync(bk_sql_conn *c, const char *t, const char *col) { return c->drv->id_sync(c, t, col); }
static inline int bk_sql_bind_int64(bk_sql_stmt *st, int i, int64_t v) {
  return st->drv->bind_int64(st, i, v);
}
static inline int bk_sql_bind_text(bk_sql_stmt *st, int i, const char *s, int n) {
  return st->drv->bind_text(st, i, s, n);
}
static inline int bk_sql_bind_blob(bk_sql_stmt *st, int i, const void *p, size_t n) {
  return st->drv->bind_blob(st, i, p, n);
}
static inline int bk_sql_bind_null(bk_sql_stmt *st, int i) { return st->drv->bind_null(st, i); }
static inline int bk_sql_step(bk_sql_stmt *st) { return st->drv->step(st); }
static inline void bk_sql_reset(bk_sql_stmt *st) { st->drv->reset(st); }
static inline int64_t bk_sql_column_int64(bk_sql_stmt *st, int i) {
  return st->drv->column_int64(st, i);
}
static inline int bk_sql_column_int(bk_sql_stmt *st, int i) {
  return (int)st->drv->column_int64(st, i);
}
static inline const char *bk_sql_column_text(bk_sql_stmt *st, int i) {
  return st->drv->column_text(st, i);
}
static inline const void *bk_sql_column_blob(bk_sql_stmt *st, int i) {
  return st->drv->column_blob(st, i);
}
static inline size_t bk_sql_column_bytes(bk_sql_stmt *st, int i) {
  return st->drv->column_bytes(st, i);
}
static inline int bk_sql_column_is_null(bk_sql_stmt *st, int i) {
  return st->drv->column_is_null(st, i);
}

#endif
