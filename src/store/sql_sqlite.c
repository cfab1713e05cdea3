/* buckets — the SQLite driver of the SQL seam (see sql.h). The only file
 * of the project that calls sqlite3_*.
 *
 * Connections: WAL mode, busy_timeout 10 s, synchronous=FULL, foreign keys
 * on, temp_store in memory, the WAL kept as a file across closes
 * (SQLITE_FCNTL_PERSIST_WAL) and cut back to WAL_SIZE_LIMIT. Statements are
 * cached per connection by the address of their SQL text. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "store/sql.h"

#define BUSY_TIMEOUT_MS 10000
#define STMT_CACHE 128
/* the WAL is cut back to this after a checkpoint restarts it, and to 0 bytes
 * on close (it stays as a file: SQLITE_FCNTL_PERSIST_WAL) */
#define WAL_SIZE_LIMIT "16777216"

struct lite_conn;

struct lite_stmt {
  bk_sql_stmt base;
  sqlite3_stmt *st;
  struct lite_conn *c;
};

struct lite_conn {
  bk_sql_conn base;
  sqlite3 *h;
  struct {
    const char *sql;
    struct lite_stmt s;
  } cache[STMT_CACHE];
  int ncache;
};

/* The BK_E* code of an SQLite result: a full disk (SQLITE_FULL, or an I/O
 * error whose errno is ENOSPC/EDQUOT, e.g. growing the -shm file) is
 * BK_ENOSPC, any other I/O error BK_EIO, the rest BK_EDB. */
static int lite_code(struct lite_conn *c, int src) {
  int primary = src & 0xff;
  if (primary == SQLITE_FULL) return BK_ENOSPC;
  if (primary != SQLITE_IOERR) return BK_EDB;
  return c && c->h ? bk_errno_code(sqlite3_system_errno(c->h)) : BK_EIO;
}

/* SQLite says "disk I/O error" when growing -shm fails with ENOSPC: add why */
static const char *full_note(struct lite_conn *c, int src) {
  return (src & 0xff) == SQLITE_IOERR && lite_code(c, src) == BK_ENOSPC
             ? " (no space left on device)"
             : "";
}

/* Error of result src on c, without a "what" prefix (see sql.h). */
static int lite_err(struct lite_conn *c, int src) {
  const char *m = c && c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(src);
  if (src == SQLITE_BUSY || src == SQLITE_LOCKED)
    return bk_seterr(BK_EDB, "database busy (%s)", m);
  return bk_seterr(lite_code(c, src), "%s%s", m, full_note(c, src));
}

#define LC(x) ((struct lite_conn *)(x))
#define LS(x) ((struct lite_stmt *)(x))

static const struct bk_sql_driver *lite_drv(void) { return &bk_sql_sqlite; }

static int lite_exec(bk_sql_conn *bc, const char *sql) {
  struct lite_conn *c = LC(bc);
  char *msg = NULL;
  int rc = sqlite3_exec(c->h, sql, NULL, NULL, &msg);
  if (rc == SQLITE_OK) return 0;
  int e = bk_seterr(lite_code(c, rc), "%s: %s%s", sql, msg ? msg : sqlite3_errstr(rc),
                    full_note(c, rc));
  sqlite3_free(msg);
  return e;
}

static void lite_close(bk_sql_conn *bc) {
  struct lite_conn *c = LC(bc);
  if (!c) return;
  for (int i = 0; i < c->ncache; i++) sqlite3_finalize(c->cache[i].s.st);
  sqlite3_close_v2(c->h);
  free(c);
}

static int lite_connect(const char *path, bk_sql_conn **out) {
  *out = NULL;
  if (!path || !*path) return bk_seterr(BK_EINVAL, "empty database path");
  struct lite_conn *c = calloc(1, sizeof *c);
  if (!c) return bk_seterr(BK_ENOMEM, "out of memory");
  c->base.drv = lite_drv();
  int rc = sqlite3_open_v2(path, &c->h,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    int e = bk_seterr(lite_code(c, rc), "open %s: %s%s", path,
                      c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc),
                      (rc & 0xff) == SQLITE_CANTOPEN ? " (does its directory exist? it is not "
                                                       "created)"
                                                     : full_note(c, rc));
    lite_close(&c->base);
    return e;
  }
  sqlite3_extended_result_codes(c->h, 0);
  sqlite3_busy_timeout(c->h, BUSY_TIMEOUT_MS);
  /* Keep buckets.db-wal and -shm when the last connection closes (the WAL is
   * truncated to 0 bytes then, see journal_size_limit): the next start finds
   * the 32 KiB wal-index file already allocated, so bucketd can start and
   * serve reads on a full disk (creating -shm needs free blocks). */
  int persist = 1;
  sqlite3_file_control(c->h, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  rc = lite_exec(&c->base, "PRAGMA journal_mode=WAL");
  if (rc == 0) rc = lite_exec(&c->base, "PRAGMA journal_size_limit=" WAL_SIZE_LIMIT);
  if (rc == 0) rc = lite_exec(&c->base, "PRAGMA synchronous=FULL");
  if (rc == 0) rc = lite_exec(&c->base, "PRAGMA foreign_keys=ON");
  if (rc == 0) rc = lite_exec(&c->base, "PRAGMA temp_store=MEMORY");
  if (rc) {
    lite_close(&c->base);
    return rc;
  }
  *out = &c->base;
  return 0;
}

static int lite_prepare(bk_sql_conn *bc, const char *sql, bk_sql_stmt **out) {
  struct lite_conn *c = LC(bc);
  *out = NULL;
  for (int i = 0; i < c->ncache; i++) {
    if (c->cache[i].sql != sql) continue;
    sqlite3_stmt *st = c->cache[i].s.st;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *out = &c->cache[i].s.base;
    return 0;
  }
  /* statements are static: a full cache is a programming error; refuse
   * rather than leak */
  if (c->ncache >= STMT_CACHE) return bk_seterr(BK_EDB, "statement cache full");
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
  if (rc != SQLITE_OK) return lite_err(c, rc);
  struct lite_stmt *s = &c->cache[c->ncache].s;
  c->cache[c->ncache].sql = sql;
  s->base.drv = lite_drv();
  s->st = st;
  s->c = c;
  c->ncache++;
  *out = &s->base;
  return 0;
}

static int lite_prepare_temp(bk_sql_conn *bc, const char *sql, bk_sql_stmt **out) {
  struct lite_conn *c = LC(bc);
  *out = NULL;
  struct lite_stmt *s = calloc(1, sizeof *s);
  if (!s) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = sqlite3_prepare_v2(c->h, sql, -1, &s->st, NULL);
  if (rc != SQLITE_OK) {
    free(s);
    return lite_err(c, rc);
  }
  s->base.drv = lite_drv();
  s->c = c;
  *out = &s->base;
  return 0;
}

static void lite_finalize(bk_sql_stmt *bs) {
  struct lite_stmt *s = LS(bs);
  if (!s) return;
  sqlite3_finalize(s->st);
  free(s);
}

/* BEGIN statements per mode (static: cached by address). GC_FENCE is BEGIN
 * IMMEDIATE: SQLite has one writer at a time, which is the fence. */
static const char SQL_BEGIN_READ[] = "BEGIN";
static const char SQL_BEGIN_WRITE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_FENCE[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

static int lite_run(struct lite_conn *c, const char *sql) {
  bk_sql_stmt *st;
  int rc = lite_prepare(&c->base, sql, &st);
  if (rc) return rc;
  int r = sqlite3_step(LS(st)->st);
  sqlite3_reset(LS(st)->st);
  return r == SQLITE_DONE || r == SQLITE_ROW ? 0 : lite_err(c, r);
}

static int lite_begin(bk_sql_conn *bc, bk_tx_mode mode) {
  const char *sql = mode == BK_TX_READ    ? SQL_BEGIN_READ
                    : mode == BK_TX_WRITE ? SQL_BEGIN_WRITE
                    : mode == BK_TX_GC_FENCE ? SQL_BEGIN_FENCE
                                             : NULL;
  if (!sql) return bk_seterr(BK_EINVAL, "unknown transaction mode %d", (int)mode);
  return lite_run(LC(bc), sql);
}

static void lite_rollback(bk_sql_conn *bc) {
  struct lite_conn *c = LC(bc);
  if (sqlite3_get_autocommit(c->h)) return;
  bk_sql_stmt *st;
  if (lite_prepare(bc, SQL_ROLLBACK, &st)) return;
  sqlite3_step(LS(st)->st);
  sqlite3_reset(LS(st)->st);
}

static int lite_commit(bk_sql_conn *bc) {
  int rc = lite_run(LC(bc), SQL_COMMIT);
  if (rc) lite_rollback(bc);
  return rc;
}

static int lite_in_tx(bk_sql_conn *bc) { return !sqlite3_get_autocommit(LC(bc)->h); }
static int64_t lite_last_id(bk_sql_conn *bc) { return sqlite3_last_insert_rowid(LC(bc)->h); }
static int64_t lite_changes(bk_sql_conn *bc) { return sqlite3_changes(LC(bc)->h); }

static int lite_schema_version(bk_sql_conn *bc, int *v) {
  struct lite_conn *c = LC(bc);
  sqlite3_stmt *st = NULL;
  *v = 0;
  int rc = sqlite3_prepare_v2(c->h, "PRAGMA user_version", -1, &st, NULL);
  if (rc != SQLITE_OK) return lite_err(c, rc);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : lite_err(c, rc);
}

static int lite_set_schema_version(bk_sql_conn *bc, int v) {
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v);
  return lite_exec(bc, sql);
}

static int lite_has_column(bk_sql_conn *bc, const char *table, const char *column, int *has) {
  struct lite_conn *c = LC(bc);
  sqlite3_stmt *st = NULL;
  *has = 0;
  int rc = sqlite3_prepare_v2(c->h, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                              -1, &st, NULL);
  if (rc != SQLITE_OK) return lite_err(c, rc);
  sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, column, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *has = sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : lite_err(c, rc);
}


static int bind_rc(struct lite_stmt *s, int rc) { return rc == SQLITE_OK ? 0 : lite_err(s->c, rc); }

static int lite_bind_int64(bk_sql_stmt *st, int i, int64_t v) {
  return bind_rc(LS(st), sqlite3_bind_int64(LS(st)->st, i, v));
}
static int lite_bind_text(bk_sql_stmt *st, int i, const char *p, int n) {
  return bind_rc(LS(st), sqlite3_bind_text(LS(st)->st, i, p, n, SQLITE_TRANSIENT));
}
static int lite_bind_blob(bk_sql_stmt *st, int i, const void *p, size_t n) {
  if (n > (size_t)0x7fffffff) return bk_seterr(BK_ELIMIT, "blob parameter too large");
  return bind_rc(LS(st), sqlite3_bind_blob(LS(st)->st, i, p, (int)n, SQLITE_TRANSIENT));
}
static int lite_bind_null(bk_sql_stmt *st, int i) {
  return bind_rc(LS(st), sqlite3_bind_null(LS(st)->st, i));
}

static int lite_step(bk_sql_stmt *st) {
  int r = sqlite3_step(LS(st)->st);
  if (r == SQLITE_ROW) return BK_SQL_ROW;
  if (r == SQLITE_DONE) return BK_SQL_DONE;
  return lite_err(LS(st)->c, r);
}

static void lite_reset(bk_sql_stmt *st) { sqlite3_reset(LS(st)->st); }
static int64_t lite_col_int64(bk_sql_stmt *st, int i) {
  return sqlite3_column_int64(LS(st)->st, i);
}
static const char *lite_col_text(bk_sql_stmt *st, int i) {
  return (const char *)sqlite3_column_text(LS(st)->st, i);
}
static const void *lite_col_blob(bk_sql_stmt *st, int i) {
  return sqlite3_column_blob(LS(st)->st, i);
}
static size_t lite_col_bytes(bk_sql_stmt *st, int i) {
  return (size_t)sqlite3_column_bytes(LS(st)->st, i);
}
static int lite_col_is_null(bk_sql_stmt *st, int i) {
  return sqlite3_column_type(LS(st)->st, i) == SQLITE_NULL;
}

/* INTEGER PRIMARY KEY ids: SQLite's next rowid is max(rowid) + 1, so rows
 * inserted with explicit ids need nothing. */
static int lite_id_sync(bk_sql_conn *c, const char *table, const char *column) {
  (void)c;
  (void)table;
  (void)column;
  return 0;
}

const struct bk_sql_driver bk_sql_sqlite = {
    .scheme = "sqlite",
    .connect = lite_connect,
    .close = lite_close,
    .prepare = lite_prepare,
    .prepare_temp = lite_prepare_temp,
    .finalize = lite_finalize,
    .exec = lite_exec,
    .begin = lite_begin,
    .commit = lite_commit,
    .rollback = lite_rollback,
    .in_tx = lite_in_tx,
    .last_id = lite_last_id,
    .changes = lite_changes,
    .schema_version = lite_schema_version,
    .set_schema_version = lite_set_schema_version,
    .has_column = lite_has_column,
    .id_sync = lite_id_sync,
    .dialect = BK_SQL_SQLITE,
    .bind_int64 = lite_bind_int64,
    .bind_text = lite_bind_text,
    .bind_blob = lite_bind_blob,
    .bind_null = lite_bind_null,
    .step = lite_step,
    .reset = lite_reset,
    .column_int64 = lite_col_int64,
    .column_text = lite_col_text,
    .column_blob = lite_col_blob,
    .column_bytes = lite_col_bytes,
    .column_is_null = lite_col_is_null,
};
