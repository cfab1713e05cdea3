/* buckets — internals shared by the metadata database modules (store only).
 *
 * A bk_db is a pool of connections of one SQL driver (store/sql.h, chosen by
 * the metadata URL). dbc_acquire borrows one (blocking while all are in
 * use), dbc_release gives it back. Each connection caches its prepared
 * statements keyed by the address of the (static) SQL string (the driver's
 * prepare). Nothing here is specific to one database engine.
 */
#ifndef BUCKETS_STORE_DB_INTERNAL_H
#define BUCKETS_STORE_DB_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/sql.h"

struct dbc {
  bk_sql_conn *h;
  struct dbc *next;
};

/* Usage cache (buckets.c): the DISTINCT-chunk accounting query is O(files),
 * so results are cached per bucket / namespace, keyed by the buckets'
 * updated_ms (changed by every batch, also from another process) and
 * dropped by this handle's own writes (which may share a millisecond). */
#define USAGE_SLOTS 128
struct usage_slot {
  int used;
  int64_t id, k1, k2;
  bk_usage u;
};

struct bk_db {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct dbc *free_list;
  int nopen, max;
  const struct bk_sql_driver *drv;
  char *target; /* the driver's connect target (sqlite: the file path) */
  pthread_mutex_t umu;
  struct usage_slot ub[USAGE_SLOTS], un[USAGE_SLOTS];
};

int dbc_acquire(bk_db *db, struct dbc **out);
/* Connections the calling thread holds right now (any bk_db): 0 inside
 * every caller callback except gc's trash callbacks (test hook). */
int db_conns_held(void);
void dbc_release(bk_db *db, struct dbc *c);

/* Cached, reset statement for sql (a string literal / static array: cached
 * by address). NULL on failure (error set with bk_seterr). */
bk_sql_stmt *dbc_stmt(struct dbc *c, const char *sql);

/* Runs a statement without results. */
int dbc_exec(struct dbc *c, const char *sql);
int dbc_begin(struct dbc *c);    /* BK_TX_WRITE */
int dbc_begin_mode(struct dbc *c, bk_tx_mode mode);
int dbc_commit(struct dbc *c);
void dbc_rollback(struct dbc *c);

/* err is a BK_E* a driver call returned (its message set): returns err with
 * the message prefixed by "what: ". */
int dbc_err(struct dbc *c, int err, const char *what);

int64_t db_now_ms(void);

/* Creates or upgrades the schema on c (schema.c). */
int db_schema_ensure(struct dbc *c);

/* The connection of a transaction handle (bk_db_tx_begin). */
struct dbc *db_tx_conn(bk_db_tx *tx);
bk_tx_mode db_tx_mode(bk_db_tx *tx);

/* Directory aggregates (buckets.c): adds dn files / dbytes bytes to every
 * ancestor directory of path in bucket_dirs (rows with no file left are
 * removed); db_dirs_rebuild recomputes the whole table from bucket_files. */
int db_dirs_adjust(struct dbc *c, int64_t bucket_id, const char *path, int64_t dn,
                   int64_t dbytes, int64_t now);
int db_dirs_rebuild(struct dbc *c);
/* Records that bucket_id references every xorb of the file's terms (table
 * xorb_refs, dedup scopes; cas_meta.c). A file without terms or not
 * registered adds nothing. Inside the caller's transaction. */
int db_file_xorb_refs(struct dbc *c, const bk_hash *file, int64_t bucket_id);

/* Grows the array *v (elements of size elem, capacity *cap) to hold at least
 * need elements, never beyond max: BK_ELIMIT past max, BK_ENOMEM. For the
 * pages of rows a function collects before it releases its connection and
 * calls the caller's callbacks. */
int db_vec_grow(void **v, size_t *cap, size_t need, size_t elem, size_t max);

/* Pages of rows (no caller callback runs while a connection is held): a
 * listing reads at most DB_PAGE rows into memory with db_page_read (which
 * borrows and gives back a connection), then hands them to the caller's
 * callback, then reads the next page after the last key (keyset paging:
 * each page is its own snapshot). */
#define DB_PAGE 1000
struct db_page {
  void *v;          /* elements, elem bytes each (owned; db_page_free) */
  size_t n, cap, elem;
};
/* Runs sql after bind(st, arg) and converts each row into the next element
 * with conv, at most max rows (a query without LIMIT stops there). pg->n is
 * reset first; the buffer is reused. */
int db_page_read(bk_db *db, const char *sql, void (*bind)(bk_sql_stmt *st, const void *arg),
                 const void *arg, void (*conv)(bk_sql_stmt *st, void *dst), size_t max,
                 struct db_page *pg, const char *what);
static inline void *db_page_at(struct db_page *pg, size_t i) {
  return (char *)pg->v + i * pg->elem;
}
static inline void db_page_free(struct db_page *pg) {
  free(pg->v);
  pg->v = NULL;
  pg->n = pg->cap = 0;
}

/* Binding helpers. */
static inline int bind_hash(bk_sql_stmt *st, int i, const bk_hash *h) {
  return bk_sql_bind_blob(st, i, h->b, BK_HASH_LEN);
}
static inline void col_hash(bk_sql_stmt *st, int i, bk_hash *h) {
  const void *p = bk_sql_column_blob(st, i);
  size_t n = bk_sql_column_bytes(st, i);
  if (p && n == BK_HASH_LEN) memcpy(h->b, p, BK_HASH_LEN);
  else memset(h->b, 0, BK_HASH_LEN);
}
static inline void col_text(bk_sql_stmt *st, int i, char *out, size_t n) {
  const char *p = bk_sql_column_text(st, i);
  if (!p) { out[0] = 0; return; }
  size_t l = bk_sql_column_bytes(st, i);
  if (l >= n) l = n - 1;
  memcpy(out, p, l);
  out[l] = 0;
}

/* Step expecting SQLITE_DONE. */
int dbc_step_done(struct dbc *c, bk_sql_stmt *st, const char *what);

/* Borrows a connection and its cached statement for sql. On failure nothing
 * is held (the connection is given back) and the error is returned. */
int dbc_acquire_stmt(bk_db *db, const char *sql, struct dbc **c, bk_sql_stmt **st);

/* Steps st to the end, calling row(st, ctx) for each row; stops at the first
 * nonzero result of row and returns it. A database error is reported as
 * dbc_err(c, .., what). st is reset in every case. */
typedef int (*dbc_row_fn)(bk_sql_stmt *st, void *ctx);
int dbc_each_row(struct dbc *c, bk_sql_stmt *st, dbc_row_fn row, void *ctx, const char *what);

/* Steps st once: a row is handed to row(st, ctx) (may be NULL) and gives 0;
 * no row gives bk_seterr(BK_ENOTFOUND, notfound); else dbc_err(.., what).
 * st is reset in every case. */
int dbc_one_row(struct dbc *c, bk_sql_stmt *st, void (*row)(bk_sql_stmt *, void *), void *ctx,
                const char *notfound, const char *what);

#endif
