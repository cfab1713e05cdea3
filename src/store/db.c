/* buckets — metadata database: the connection pool over the SQL driver,
 * statement helpers, open/close and the transaction handles
 * (see store/db.h). Engine-specific code is in the driver
 * (sql_sqlite.c); the schema and its migrations in schema.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "store/db_internal.h"

#define POOL_MAX 8

int64_t db_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dbc_err(struct dbc *c, int err, const char *what) {
  (void)c;
  char m[512];
  snprintf(m, sizeof m, "%s", bk_errmsg());
  return bk_seterr(err < 0 ? err : BK_EDB, "%s: %s", what, m);
}

int db_vec_grow(void **v, size_t *cap, size_t need, size_t elem, size_t max) {
  if (need <= *cap) return 0;
  if (need > max) return bk_seterr(BK_ELIMIT, "more than %zu rows", max);
  size_t nc = *cap ? *cap * 2 : 16;
  if (nc < need) nc = need;
  if (nc > max) nc = max;
  if (elem && nc > SIZE_MAX / elem) return bk_seterr(BK_ENOMEM, "out of memory");
  void *p = realloc(*v, nc * elem);
  if (!p) return bk_seterr(BK_ENOMEM, "out of memory");
  *v = p;
  *cap = nc;
  return 0;
}

struct page_fill {
  struct db_page *pg;
  void (*conv)(bk_sql_stmt *, void *);
  size_t max;
};

static int page_row(bk_sql_stmt *st, void *p) {
  struct page_fill *f = p;
  struct db_page *pg = f->pg;
  if (pg->n == f->max) return 1; /* page full: stop (a query without LIMIT) */
  int rc = db_vec_grow(&pg->v, &pg->cap, pg->n + 1, pg->elem, f->max);
  if (rc) return rc;
  f->conv(st, db_page_at(pg, pg->n));
  pg->n++;
  return 0;
}

int db_page_read(bk_db *db, const char *sql, void (*bind)(bk_sql_stmt *st, const void *arg),
                 const void *arg, void (*conv)(bk_sql_stmt *st, void *dst), size_t max,
                 struct db_page *pg, const char *what) {
  pg->n = 0;
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, sql, &c, &st);
  if (rc) return rc;
  if (bind) bind(st, arg);
  struct page_fill f = {pg, conv, max};
  rc = dbc_each_row(c, st, page_row, &f, what);
  dbc_release(db, c);
  return rc == 1 ? 0 : rc;
}

/* ---- statements ---- */

bk_sql_stmt *dbc_stmt(struct dbc *c, const char *sql) {
  bk_sql_stmt *st = NULL;
  int rc = bk_sql_prepare(c->h, sql, &st);
  if (rc) {
    dbc_err(c, rc, "prepare");
    return NULL;
  }
  return st;
}

int dbc_step_done(struct dbc *c, bk_sql_stmt *st, const char *what) {
  int rc = bk_sql_step(st);
  bk_sql_reset(st);
  return rc < 0 ? dbc_err(c, rc, what) : 0;
}

int dbc_each_row(struct dbc *c, bk_sql_stmt *st, dbc_row_fn row, void *ctx, const char *what) {
  int r, rc = 0;
  while ((r = bk_sql_step(st)) == BK_SQL_ROW)
    if ((rc = row(st, ctx))) break;
  if (!rc && r < 0) rc = dbc_err(c, r, what);
  bk_sql_reset(st);
  return rc;
}

int dbc_one_row(struct dbc *c, bk_sql_stmt *st, void (*row)(bk_sql_stmt *, void *), void *ctx,
                const char *notfound, const char *what) {
  int r = bk_sql_step(st);
  if (r == BK_SQL_ROW && row) row(st, ctx);
  int rc = r == BK_SQL_ROW    ? 0
           : r == BK_SQL_DONE ? bk_seterr(BK_ENOTFOUND, "%s", notfound)
                              : dbc_err(c, r, what);
  bk_sql_reset(st);
  return rc;
}

int dbc_exec(struct dbc *c, const char *sql) { return bk_sql_exec(c->h, sql); }

int dbc_begin_mode(struct dbc *c, bk_tx_mode mode) {
  int rc = bk_sql_begin(c->h, mode);
  return rc ? dbc_err(c, rc, "begin") : 0;
}

int dbc_begin(struct dbc *c) { return dbc_begin_mode(c, BK_TX_WRITE); }

int dbc_commit(struct dbc *c) {
  int rc = bk_sql_commit(c->h); /* rolls back itself on failure */
  return rc ? dbc_err(c, rc, "commit") : 0;
}

void dbc_rollback(struct dbc *c) { bk_sql_rollback(c->h); }

/* ---- connections ---- */

static void dbc_close(struct dbc *c) {
  if (!c) return;
  bk_sql_close(c->h);
  free(c);
}

static int dbc_open(bk_db *db, struct dbc **out) {
  *out = NULL;
  struct dbc *c = calloc(1, sizeof *c);
  if (!c) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = db->drv->connect(db->target, &c->h);
  if (rc) {
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* Connections this thread currently holds (any bk_db). A thread only ever
 * blocks on its FIRST connection: a nested acquisition (a callback that calls
 * another bk_db function while an iteration holds a connection) takes a free
 * one or opens an extra one beyond the pool size, so callbacks can never
 * deadlock the pool. Extra connections are closed when released. */
static _Thread_local int tl_held;

int db_conns_held(void) { return tl_held; }

int dbc_acquire(bk_db *db, struct dbc **out) {
  pthread_mutex_lock(&db->mu);
  while (tl_held == 0 && !db->free_list && db->nopen >= db->max)
    pthread_cond_wait(&db->cv, &db->mu);
  struct dbc *c = db->free_list;
  if (c) {
    db->free_list = c->next;
    pthread_mutex_unlock(&db->mu);
    c->next = NULL;
    tl_held++;
    *out = c;
    return 0;
  }
  db->nopen++;
  pthread_mutex_unlock(&db->mu);
  int rc = dbc_open(db, &c);
  if (rc) {
    pthread_mutex_lock(&db->mu);
    db->nopen--;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    return rc;
  }
  tl_held++;
  *out = c;
  return 0;
}

int dbc_acquire_stmt(bk_db *db, const char *sql, struct dbc **c, bk_sql_stmt **st) {
  int rc = dbc_acquire(db, c);
  if (rc) return rc;
  *st = dbc_stmt(*c, sql);
  if (*st) return 0;
  dbc_release(db, *c);
  *c = NULL;
  return BK_EDB;
}

void dbc_release(bk_db *db, struct dbc *c) {
  if (!c) return;
  tl_held--;
  /* never hand back a connection inside a transaction */
  if (bk_sql_in_tx(c->h)) dbc_rollback(c);
  pthread_mutex_lock(&db->mu);
  if (db->nopen > db->max) { /* an extra one opened for a nested call */
    db->nopen--;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    dbc_close(c);
    return;
  }
  c->next = db->free_list;
  db->free_list = c;
  pthread_cond_signal(&db->cv);
  pthread_mutex_unlock(&db->mu);
}

static int db_open_drv(const struct bk_sql_driver *drv, const char *target, bk_db **out) {
  bk_db *db = calloc(1, sizeof *db);
  if (!db) return bk_seterr(BK_ENOMEM, "out of memory");
  db->drv = drv;
  db->target = strdup(target);
  if (!db->target) {
    free(db);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&db->mu, NULL);
  pthread_cond_init(&db->cv, NULL);
  pthread_mutex_init(&db->umu, NULL);
  db->max = POOL_MAX;
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc == 0) {
    rc = db_schema_ensure(c);
    dbc_release(db, c);
  }
  if (rc) {
    bk_db_close(db);
    return rc;
  }
  *out = db;
  return 0;
}

int bk_db_open(const char *path, bk_db **out) {
  *out = NULL;
  if (!path || !*path) return bk_seterr(BK_EINVAL, "empty database path");
  return db_open_drv(&bk_sql_sqlite, path, out);
}

int bk_db_open_url(const char *url, bk_db **out) {
  *out = NULL;
  const struct bk_sql_driver *drv;
  const char *target;
  int rc = bk_sql_driver_for(url, &drv, &target);
  if (rc) return rc;
  return db_open_drv(drv, target, out);
}

void bk_db_close(bk_db *db) {
  if (!db) return;
  struct dbc *c = db->free_list;
  while (c) {
    struct dbc *n = c->next;
    dbc_close(c);
    c = n;
  }
  pthread_mutex_destroy(&db->mu);
  pthread_cond_destroy(&db->cv);
  pthread_mutex_destroy(&db->umu);
  free(db->target);
  free(db);
}

/* ---- transactions held by the layer above ---- */

struct bk_db_tx {
  bk_db *db;
  struct dbc *c;
  bk_tx_mode mode;
};

int bk_db_tx_begin(bk_db *db, bk_tx_mode mode, bk_db_tx **out) {
  *out = NULL;
  if (mode != BK_TX_READ && mode != BK_TX_WRITE && mode != BK_TX_GC_FENCE)
    return bk_seterr(BK_EINVAL, "unknown transaction mode %d", (int)mode);
  bk_db_tx *tx = calloc(1, sizeof *tx);
  if (!tx) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = dbc_acquire(db, &tx->c);
  if (rc == 0) rc = dbc_begin_mode(tx->c, mode);
  if (rc) {
    dbc_release(db, tx->c);
    free(tx);
    return rc;
  }
  tx->db = db;
  tx->mode = mode;
  *out = tx;
  return 0;
}

int bk_db_tx_commit(bk_db_tx *tx) {
  if (!tx) return bk_seterr(BK_EINVAL, "no transaction");
  int rc = dbc_commit(tx->c);
  dbc_release(tx->db, tx->c);
  free(tx);
  return rc;
}

void bk_db_tx_rollback(bk_db_tx *tx) {
  if (!tx) return;
  dbc_rollback(tx->c);
  dbc_release(tx->db, tx->c);
  free(tx);
}

struct dbc *db_tx_conn(bk_db_tx *tx) { return tx->c; }
bk_tx_mode db_tx_mode(bk_db_tx *tx) { return tx->mode; }
