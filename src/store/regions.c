/* buckets — region tables (see store/regions.h, docs/regions.md).
 * Portable SQL: ?N placeholders, ON CONFLICT upserts, CAST for the sums
 * (PostgreSQL's sum of BIGINT is NUMERIC). Only rows: no blob is touched. */
#include "store/regions.h"

#include <stdio.h>

#include "buckets/error.h"
#include "db_internal.h"

static const char SQL_REGION_ADD[] =
    "INSERT INTO regions(name, blob_url, created_ms) VALUES(?1, ?2, ?3)";
static const char SQL_REGION_BY_NAME[] = "SELECT id FROM regions WHERE name = ?1";
static const char SQL_REGION_COUNT[] = "SELECT count(*) FROM regions";
static const char SQL_REGION_LIST[] =
    "SELECT id, name, blob_url, created_ms FROM regions ORDER BY id LIMIT ?1";
static const char SQL_REGION_DEL[] = "DELETE FROM regions WHERE id = ?1";
static const char SQL_REGION_UNHOME[] =
    "UPDATE xorbs SET home_region_id = NULL WHERE home_region_id = ?1";
static const char SQL_REGION_DEL_COPIES[] = "DELETE FROM blob_copies WHERE region_id = ?1";
static const char SQL_REGION_DEL_WARM[] = "DELETE FROM bucket_warm WHERE region_id = ?1";
static const char SQL_REGION_DEL_JOBS[] = "DELETE FROM prewarm_jobs WHERE region_id = ?1";
static const char SQL_USAGE_HOME[] =
    "SELECT count(*) FROM buckets WHERE COALESCE(region_name, region) = ?1";
static const char SQL_USAGE_WARM[] = "SELECT count(*) FROM bucket_warm WHERE region_id = ?1";
static const char SQL_USAGE_XHOME[] =
    "SELECT count(*) FROM xorbs WHERE home_region_id = ?1 OR (?2 <> 0 AND home_region_id IS NULL)";
static const char SQL_USAGE_ONLY[] =
    "SELECT count(*) FROM blob_copies c WHERE c.region_id = ?1 AND NOT EXISTS("
    " SELECT 1 FROM blob_copies o WHERE o.kind = c.kind AND o.hash = c.hash"
    " AND o.region_id <> c.region_id)";
static const char SQL_ADOPT_XORBS[] =
    "INSERT INTO blob_copies(kind, hash, region_id, copied_ms)"
    " SELECT 0, hash, ?1, ?2 FROM xorbs WHERE 1 = 1 ON CONFLICT(kind, hash, region_id) DO NOTHING";
static const char SQL_ADOPT_SHARDS[] =
    "INSERT INTO blob_copies(kind, hash, region_id, copied_ms)"
    " SELECT 1, hash, ?1, ?2 FROM shards WHERE 1 = 1 ON CONFLICT(kind, hash, region_id) DO NOTHING";
static const char SQL_ADOPT_HOME[] =
    "UPDATE xorbs SET home_region_id = ?1 WHERE home_region_id IS NULL";
static const char SQL_XORB_COUNT[] = "SELECT count(*), COALESCE(max(id), 0) FROM xorbs";
static const char SQL_XORB_AT[] = "SELECT hash FROM xorbs WHERE id >= ?1 ORDER BY id LIMIT 1";

static const char SQL_COPY_ADD[] =
    "INSERT INTO blob_copies(kind, hash, region_id, copied_ms) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(kind, hash, region_id) DO NOTHING";
static const char SQL_COPY_DEL[] =
    "DELETE FROM blob_copies WHERE kind = ?1 AND hash = ?2 AND (?3 = 0 OR region_id = ?3)";
static const char SQL_COPY_REGIONS[] =
    "SELECT region_id FROM blob_copies WHERE kind = ?1 AND hash = ?2 ORDER BY region_id LIMIT ?3";
static const char SQL_COPY_PAGE[] =
    "SELECT kind, hash FROM blob_copies WHERE region_id = ?1 AND"
    " (kind > ?2 OR (kind = ?2 AND hash > ?3)) ORDER BY kind, hash LIMIT ?4";

static const char SQL_XORB_HOME[] = "SELECT home_region_id FROM xorbs WHERE hash = ?1";
static const char SQL_XORB_SET_HOME[] =
    "UPDATE xorbs SET home_region_id = ?2 WHERE hash = ?1 AND home_region_id IS NULL";

static const char SQL_WARM_CLEAR[] = "DELETE FROM bucket_warm WHERE bucket_id = ?1";
static const char SQL_WARM_ADD[] =
    "INSERT INTO bucket_warm(bucket_id, region_id) VALUES(?1, ?2)"
    " ON CONFLICT(bucket_id, region_id) DO NOTHING";
static const char SQL_WARM_GET[] =
    "SELECT region_id FROM bucket_warm WHERE bucket_id = ?1 ORDER BY region_id LIMIT ?2";
static const char SQL_WARM_PAGE[] =
    "SELECT bucket_id, region_id FROM bucket_warm WHERE bucket_id > ?1 OR"
    " (bucket_id = ?1 AND region_id > ?2) ORDER BY bucket_id, region_id LIMIT ?3";

#define JOB_COLS                                                                             \
  "id, bucket_id, region_id, prefix, state, created_ms, updated_ms, lease_until_ms,"         \
  " COALESCE(lease_owner, ''), bytes_needed, bytes_copied, xorbs_copied, COALESCE(error, '')"
static const char SQL_JOB_ADD[] =
    "INSERT INTO prewarm_jobs(bucket_id, region_id, prefix, state, created_ms, updated_ms)"
    " VALUES(?1, ?2, ?3, 'queued', ?4, ?4)";
static const char SQL_JOB_NEXT[] =
    "SELECT " JOB_COLS " FROM prewarm_jobs WHERE state = 'queued' AND"
    " (lease_owner IS NULL OR lease_until_ms < ?1 OR lease_owner = ?2) ORDER BY id LIMIT 1";
static const char SQL_JOB_LEASE[] =
    "UPDATE prewarm_jobs SET lease_owner = ?2, lease_until_ms = ?3, updated_ms = ?4"
    " WHERE id = ?1";
static const char SQL_JOB_PROGRESS[] =
    "UPDATE prewarm_jobs SET lease_until_ms = ?3, updated_ms = ?4,"
    " bytes_needed = CASE WHEN ?5 >= 0 THEN ?5 ELSE bytes_needed END,"
    " bytes_copied = bytes_copied + ?6, xorbs_copied = xorbs_copied + ?7"
    " WHERE id = ?1 AND lease_owner = ?2 AND state = 'queued'";
static const char SQL_JOB_FINISH[] =
    "UPDATE prewarm_jobs SET state = ?3, error = ?4, lease_owner = NULL, lease_until_ms = 0,"
    " updated_ms = ?5 WHERE id = ?1 AND lease_owner = ?2 AND state = 'queued'";
static const char SQL_JOB_LIST[] =
    "SELECT " JOB_COLS " FROM prewarm_jobs WHERE bucket_id = ?1 ORDER BY id DESC LIMIT ?2";
static const char SQL_JOB_GET[] = "SELECT " JOB_COLS " FROM prewarm_jobs WHERE id = ?1";

static const char SQL_UNCOPIED[] =
    "SELECT x.id, x.hash, x.bytes_on_disk, x.created_ms FROM xorbs x WHERE x.id > ?1 AND NOT"
    " EXISTS(SELECT 1 FROM blob_copies c WHERE c.kind = 0 AND c.hash = x.hash)"
    " ORDER BY x.id LIMIT ?2";
static const char SQL_PRUNE_XORBS[] =
    "DELETE FROM blob_copies WHERE kind = 0 AND NOT EXISTS("
    "SELECT 1 FROM xorbs x WHERE x.hash = blob_copies.hash)";
static const char SQL_PRUNE_SHARDS[] =
    "DELETE FROM blob_copies WHERE kind = 1 AND NOT EXISTS("
    "SELECT 1 FROM shards s WHERE s.hash = blob_copies.hash)";

/* the distinct xorbs referenced by a bucket's files under a prefix (?1 bucket,
 * ?2 prefix) */
#define REFERENCED                                                                    \
  "SELECT t.xorb_id FROM bucket_files bf JOIN files f ON f.hash = bf.xet_hash"        \
  " JOIN file_terms t ON t.file_id = f.id WHERE bf.bucket_id = ?1"                    \
  " AND substr(bf.path, 1, length(CAST(?2 AS TEXT))) = CAST(?2 AS TEXT)"
#define HAS_COPY                                                                      \
  "EXISTS(SELECT 1 FROM blob_copies c WHERE c.kind = 0 AND c.hash = x.hash"           \
  " AND c.region_id = ?3)"
static const char SQL_MISSING[] =
    "SELECT x.id, x.hash, x.bytes_on_disk, x.created_ms FROM xorbs x WHERE x.id > ?4"
    " AND x.id IN (" REFERENCED ") AND NOT " HAS_COPY " ORDER BY x.id LIMIT ?5";
static const char SQL_STATS[] =
    "SELECT count(*), CAST(COALESCE(sum(x.bytes_on_disk), 0) AS BIGINT),"
    " CAST(COALESCE(sum(CASE WHEN " HAS_COPY " THEN 1 ELSE 0 END), 0) AS BIGINT),"
    " CAST(COALESCE(sum(CASE WHEN " HAS_COPY " THEN x.bytes_on_disk ELSE 0 END), 0) AS BIGINT),"
    " COALESCE(min(CASE WHEN " HAS_COPY " THEN NULL ELSE x.created_ms END), 0)"
    " FROM xorbs x WHERE x.id IN (" REFERENCED ")";

/* ------------------------------------------------------------ helpers */

static void get_i64(bk_sql_stmt *st, void *ctx) { *(int64_t *)ctx = bk_sql_column_int64(st, 0); }

static uint64_t nonneg(int64_t v) { return v > 0 ? (uint64_t)v : 0; }

static int kind_ok(bk_blob_kind kind) {
  if (kind == BK_BLOB_XORB || kind == BK_BLOB_SHARD) return 0;
  return bk_seterr(BK_EINVAL, "unknown blob kind %d", (int)kind);
}

static int write_conn(bk_db_tx *tx, struct dbc **c) {
  if (!tx) return bk_seterr(BK_EINVAL, "no transaction");
  if (db_tx_mode(tx) == BK_TX_READ) return bk_seterr(BK_EINVAL, "a read transaction cannot write");
  *c = db_tx_conn(tx);
  return 0;
}

/* One statement with int64 arguments (n of them) and no result, on c. */
static int exec_ids(struct dbc *c, const char *sql, const int64_t *a, int n, const char *what) {
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  for (int i = 0; i < n; i++) bk_sql_bind_int64(st, i + 1, a[i]);
  return dbc_step_done(c, st, what);
}

/* A count(*) query with up to two int64 / one text argument. */
static int count_q(struct dbc *c, const char *sql, const char *text, const int64_t *a, int n,
                   uint64_t *out) {
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  int k = 1;
  if (text) bk_sql_bind_text(st, k++, text, -1);
  for (int i = 0; i < n; i++) bk_sql_bind_int64(st, k++, a[i]);
  int64_t v = 0;
  int rc = dbc_one_row(c, st, get_i64, &v, "no count", "region count");
  *out = nonneg(v);
  return rc;
}

/* ----------------------------------------------------------- registry */

static int region_add_c(struct dbc *c, const char *name, const char *url, int64_t *id) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_REGION_BY_NAME);
  if (!st) return BK_EDB;
  bk_sql_bind_text(st, 1, name, -1);
  int64_t have = 0;
  int rc = dbc_one_row(c, st, get_i64, &have, "no region", "region lookup");
  if (rc == 0) return bk_seterr(BK_EEXIST, "region '%s' exists already", name);
  if (rc != BK_ENOTFOUND) return rc;
  uint64_t n = 0;
  if ((rc = count_q(c, SQL_REGION_COUNT, NULL, NULL, 0, &n))) return rc;
  if (n >= BK_REGIONS_MAX) return bk_seterr(BK_EINVAL, "at most %d regions", BK_REGIONS_MAX);
  if (!(st = dbc_stmt(c, SQL_REGION_ADD))) return BK_EDB;
  bk_sql_bind_text(st, 1, name, -1);
  bk_sql_bind_text(st, 2, url, -1);
  bk_sql_bind_int64(st, 3, db_now_ms());
  rc = dbc_step_done(c, st, "region add");
  if (rc == 0 && id) *id = bk_sql_last_id(c->h);
  return rc;
}

int bk_db_region_add(bk_db *db, const char *name, const char *blob_url, int64_t *id) {
  if (!bk_region_name_valid(name))
    return bk_seterr(BK_EINVAL, "invalid region name '%.40s' ([a-z][a-z0-9-]{0,31})",
                     name ? name : "");
  if (!blob_url || !*blob_url || strlen(blob_url) > BK_REGION_URL_MAX)
    return bk_seterr(BK_EINVAL, "region '%s': a blob store URL is required (at most %d bytes)",
                     name, BK_REGION_URL_MAX);
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  if (rc == 0) rc = region_add_c(c, name, blob_url, id);
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

static int region_row(bk_sql_stmt *st, void *ctx) {
  struct db_page *pg = ctx;
  if (pg->n >= pg->cap) return 0;
  bk_region_row *r = db_page_at(pg, pg->n++);
  r->id = bk_sql_column_int64(st, 0);
  col_text(st, 1, r->name, sizeof r->name);
  col_text(st, 2, r->blob_url, sizeof r->blob_url);
  r->created_ms = bk_sql_column_int64(st, 3);
  return 0;
}

int bk_db_region_list(bk_db *db, bk_region_row **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct db_page pg = {.elem = sizeof(bk_region_row)};
  int rc = db_vec_grow(&pg.v, &pg.cap, BK_REGIONS_MAX, pg.elem, BK_REGIONS_MAX);
  if (rc) return rc;
  struct dbc *c;
  bk_sql_stmt *st;
  if ((rc = dbc_acquire_stmt(db, SQL_REGION_LIST, &c, &st))) {
    db_page_free(&pg);
    return rc;
  }
  bk_sql_bind_int64(st, 1, BK_REGIONS_MAX);
  rc = dbc_each_row(c, st, region_row, &pg, "region list");
  dbc_release(db, c);
  if (rc || pg.n == 0) {
    db_page_free(&pg);
    return rc;
  }
  *out = pg.v;
  *n = pg.n;
  return 0;
}

int bk_db_region_delete(bk_db *db, int64_t id) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  /* explicit deletes: SQLite's cascade needs foreign keys on, which they
   * are, but the order is spelled out so both engines do the same */
  if (rc == 0) rc = exec_ids(c, SQL_REGION_UNHOME, &id, 1, "region unhome");
  if (rc == 0) rc = exec_ids(c, SQL_REGION_DEL_COPIES, &id, 1, "region copies");
  if (rc == 0) rc = exec_ids(c, SQL_REGION_DEL_WARM, &id, 1, "region warm");
  if (rc == 0) rc = exec_ids(c, SQL_REGION_DEL_JOBS, &id, 1, "region jobs");
  if (rc == 0) rc = exec_ids(c, SQL_REGION_DEL, &id, 1, "region delete");
  if (rc == 0 && bk_sql_changes(c->h) == 0) rc = bk_seterr(BK_ENOTFOUND, "no such region");
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

int bk_db_region_usage(bk_db *db, int64_t id, const char *name, int is_default,
                       bk_region_usage *u) {
  memset(u, 0, sizeof *u);
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  int64_t a[2] = {id, is_default ? 1 : 0};
  rc = count_q(c, SQL_USAGE_HOME, name, NULL, 0, &u->buckets_home);
  if (rc == 0) rc = count_q(c, SQL_USAGE_WARM, NULL, a, 1, &u->buckets_warm);
  if (rc == 0) rc = count_q(c, SQL_USAGE_XHOME, NULL, a, 2, &u->xorbs_home);
  if (rc == 0) rc = count_q(c, SQL_USAGE_ONLY, NULL, a, 1, &u->blobs_only);
  dbc_release(db, c);
  return rc;
}

int bk_db_region_adopt_all(bk_db *db, int64_t id, uint64_t *xorbs, uint64_t *shards) {
  *xorbs = *shards = 0;
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  int64_t a[2] = {id, db_now_ms()};
  rc = dbc_begin(c);
  if (rc == 0) rc = exec_ids(c, SQL_ADOPT_XORBS, a, 2, "adopt xorbs");
  if (rc == 0) *xorbs = nonneg(bk_sql_changes(c->h));
  if (rc == 0) rc = exec_ids(c, SQL_ADOPT_SHARDS, a, 2, "adopt shards");
  if (rc == 0) *shards = nonneg(bk_sql_changes(c->h));
  if (rc == 0) rc = exec_ids(c, SQL_ADOPT_HOME, a, 1, "adopt homes");
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

static void get_count_max(bk_sql_stmt *st, void *ctx) {
  int64_t *v = ctx;
  v[0] = bk_sql_column_int64(st, 0);
  v[1] = bk_sql_column_int64(st, 1);
}

static void get_hash(bk_sql_stmt *st, void *ctx) { col_hash(st, 0, ctx); }

int bk_db_xorb_sample(bk_db *db, bk_hash *out, size_t max, size_t *n) {
  *n = 0;
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_XORB_COUNT, &c, &st);
  if (rc) return rc;
  int64_t cm[2] = {0, 0};
  rc = dbc_one_row(c, st, get_count_max, cm, "no count", "xorb count");
  int64_t step = max ? cm[1] / (int64_t)max : 0;
  if (step < 1) step = 1;
  for (int64_t at = 1; rc == 0 && *n < max && at <= cm[1]; at += step) {
    if (!(st = dbc_stmt(c, SQL_XORB_AT))) {
      rc = BK_EDB;
      break;
    }
    bk_sql_bind_int64(st, 1, at);
    rc = dbc_one_row(c, st, get_hash, &out[*n], "none", "xorb sample");
    if (rc == BK_ENOTFOUND) {
      rc = 0;
      break;
    }
    if (rc == 0 && (*n == 0 || !bk_hash_eq(&out[*n - 1], &out[*n]))) (*n)++;
  }
  dbc_release(db, c);
  return rc;
}

/* --------------------------------------------------------- blob copies */

static int copy_add_c(struct dbc *c, bk_blob_kind kind, const bk_hash *h, int64_t region_id) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_COPY_ADD);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, (int64_t)kind);
  bind_hash(st, 2, h);
  bk_sql_bind_int64(st, 3, region_id);
  bk_sql_bind_int64(st, 4, db_now_ms());
  return dbc_step_done(c, st, "blob copy add");
}

int bk_db_copy_add(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t region_id) {
  int rc = kind_ok(kind);
  if (rc) return rc;
  struct dbc *c;
  if ((rc = dbc_acquire(db, &c))) return rc;
  rc = copy_add_c(c, kind, h, region_id);
  dbc_release(db, c);
  return rc;
}

int bk_db_copy_add_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h, int64_t region_id) {
  struct dbc *c;
  int rc = kind_ok(kind);
  if (rc == 0) rc = write_conn(tx, &c);
  return rc ? rc : copy_add_c(c, kind, h, region_id);
}

static int copy_del_c(struct dbc *c, bk_blob_kind kind, const bk_hash *h, int64_t region_id) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_COPY_DEL);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, (int64_t)kind);
  bind_hash(st, 2, h);
  bk_sql_bind_int64(st, 3, region_id);
  return dbc_step_done(c, st, "blob copy delete");
}

int bk_db_copy_del(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t region_id) {
  int rc = kind_ok(kind);
  if (rc) return rc;
  struct dbc *c;
  if ((rc = dbc_acquire(db, &c))) return rc;
  rc = copy_del_c(c, kind, h, region_id);
  dbc_release(db, c);
  return rc;
}

int bk_db_copy_del_tx(bk_db_tx *tx, bk_blob_kind kind, const bk_hash *h, int64_t region_id) {
  struct dbc *c;
  int rc = kind_ok(kind);
  if (rc == 0) rc = write_conn(tx, &c);
  return rc ? rc : copy_del_c(c, kind, h, region_id);
}

struct ids_ctx {
  int64_t *v;
  size_t n, max;
};

static int id_row(bk_sql_stmt *st, void *ctx) {
  struct ids_ctx *d = ctx;
  if (d->n < d->max) d->v[d->n++] = bk_sql_column_int64(st, 0);
  return 0;
}

int bk_db_copy_regions(bk_db *db, bk_blob_kind kind, const bk_hash *h, int64_t *ids, size_t max,
                       size_t *n) {
  *n = 0;
  int rc = kind_ok(kind);
  if (rc) return rc;
  struct dbc *c;
  bk_sql_stmt *st;
  if ((rc = dbc_acquire_stmt(db, SQL_COPY_REGIONS, &c, &st))) return rc;
  bk_sql_bind_int64(st, 1, (int64_t)kind);
  bind_hash(st, 2, h);
  bk_sql_bind_int64(st, 3, (int64_t)max);
  struct ids_ctx d = {ids, 0, max};
  rc = dbc_each_row(c, st, id_row, &d, "blob copies");
  dbc_release(db, c);
  *n = d.n;
  return rc;
}

struct copy_page {
  bk_copy_row *v;
  size_t n, max;
};

static int copy_row(bk_sql_stmt *st, void *ctx) {
  struct copy_page *p = ctx;
  int64_t k = bk_sql_column_int64(st, 0);
  if (p->n >= p->max || (k != BK_BLOB_XORB && k != BK_BLOB_SHARD)) return 0;
  if (bk_sql_column_bytes(st, 1) != BK_HASH_LEN) return 0;
  p->v[p->n].kind = (bk_blob_kind)k;
  col_hash(st, 1, &p->v[p->n].hash);
  p->n++;
  return 0;
}

int bk_db_copy_page(bk_db *db, int64_t region_id, int after_kind, const bk_hash *after,
                    size_t limit, bk_copy_row *out, size_t *n) {
  *n = 0;
  if (limit == 0 || limit > BK_REGION_PAGE_MAX) return bk_seterr(BK_EINVAL, "bad page size");
  bk_hash zero = {{0}};
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_COPY_PAGE, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, region_id);
  bk_sql_bind_int64(st, 2, after_kind);
  /* from the start: kind -1 < every kind; the hash then never matters */
  bind_hash(st, 3, after_kind < 0 || !after ? &zero : after);
  bk_sql_bind_int64(st, 4, (int64_t)limit);
  struct copy_page p = {out, 0, limit};
  rc = dbc_each_row(c, st, copy_row, &p, "blob copy page");
  dbc_release(db, c);
  *n = p.n;
  return rc;
}

/* ------------------------------------------------------------ xorb home */

int bk_db_xorb_home(bk_db *db, const bk_hash *xorb, int64_t *region_id) {
  *region_id = 0;
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_XORB_HOME, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, xorb);
  rc = dbc_one_row(c, st, get_i64, region_id, "no such xorb", "xorb home");
  dbc_release(db, c);
  return rc;
}

int bk_db_xorb_set_home_tx(bk_db_tx *tx, const bk_hash *xorb, int64_t region_id) {
  struct dbc *c;
  int rc = write_conn(tx, &c);
  if (rc) return rc;
  bk_sql_stmt *st = dbc_stmt(c, SQL_XORB_SET_HOME);
  if (!st) return BK_EDB;
  bind_hash(st, 1, xorb);
  bk_sql_bind_int64(st, 2, region_id);
  return dbc_step_done(c, st, "xorb home");
}

/* ---------------------------------------------------------- warm lists */

int bk_db_warm_set(bk_db *db, int64_t bucket_id, const int64_t *region_ids, size_t n) {
  if (n > BK_REGIONS_MAX) return bk_seterr(BK_EINVAL, "too many warm regions");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  if (rc == 0) rc = exec_ids(c, SQL_WARM_CLEAR, &bucket_id, 1, "warm clear");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int64_t a[2] = {bucket_id, region_ids[i]};
    rc = exec_ids(c, SQL_WARM_ADD, a, 2, "warm add");
  }
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

int bk_db_warm_get(bk_db *db, int64_t bucket_id, int64_t *region_ids, size_t max, size_t *n) {
  *n = 0;
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_WARM_GET, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_int64(st, 2, (int64_t)max);
  struct ids_ctx d = {region_ids, 0, max};
  rc = dbc_each_row(c, st, id_row, &d, "warm list");
  dbc_release(db, c);
  *n = d.n;
  return rc;
}

struct warm_page {
  bk_warm_pair *v;
  size_t n, max;
};

static int warm_row(bk_sql_stmt *st, void *ctx) {
  struct warm_page *p = ctx;
  if (p->n >= p->max) return 0;
  p->v[p->n].bucket_id = bk_sql_column_int64(st, 0);
  p->v[p->n].region_id = bk_sql_column_int64(st, 1);
  p->n++;
  return 0;
}

int bk_db_warm_page(bk_db *db, int64_t after_bucket, int64_t after_region, size_t limit,
                    bk_warm_pair *out, size_t *n) {
  *n = 0;
  if (limit == 0 || limit > BK_REGION_PAGE_MAX) return bk_seterr(BK_EINVAL, "bad page size");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_WARM_PAGE, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, after_bucket);
  bk_sql_bind_int64(st, 2, after_region);
  bk_sql_bind_int64(st, 3, (int64_t)limit);
  struct warm_page p = {out, 0, limit};
  rc = dbc_each_row(c, st, warm_row, &p, "warm page");
  dbc_release(db, c);
  *n = p.n;
  return rc;
}

/* ------------------------------------------------------- pre-warm jobs */

static void job_row(bk_sql_stmt *st, bk_prewarm_job *j) {
  memset(j, 0, sizeof *j);
  j->id = bk_sql_column_int64(st, 0);
  j->bucket_id = bk_sql_column_int64(st, 1);
  j->region_id = bk_sql_column_int64(st, 2);
  col_text(st, 3, j->prefix, sizeof j->prefix);
  col_text(st, 4, j->state, sizeof j->state);
  j->created_ms = bk_sql_column_int64(st, 5);
  j->updated_ms = bk_sql_column_int64(st, 6);
  j->lease_until_ms = bk_sql_column_int64(st, 7);
  col_text(st, 8, j->lease_owner, sizeof j->lease_owner);
  j->bytes_needed = nonneg(bk_sql_column_int64(st, 9));
  j->bytes_copied = nonneg(bk_sql_column_int64(st, 10));
  j->xorbs_copied = nonneg(bk_sql_column_int64(st, 11));
  col_text(st, 12, j->error, sizeof j->error);
}

static void job_one(bk_sql_stmt *st, void *ctx) { job_row(st, ctx); }

int bk_db_prewarm_add(bk_db *db, int64_t bucket_id, int64_t region_id, const char *prefix,
                      int64_t *id) {
  if (prefix && strlen(prefix) > BK_PATH_MAX) return bk_seterr(BK_EINVAL, "prefix too long");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_JOB_ADD, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_int64(st, 2, region_id);
  bk_sql_bind_text(st, 3, prefix ? prefix : "", -1);
  bk_sql_bind_int64(st, 4, db_now_ms());
  rc = dbc_step_done(c, st, "prewarm job add");
  if (rc == 0 && id) *id = bk_sql_last_id(c->h);
  dbc_release(db, c);
  return rc;
}

static int claim_c(struct dbc *c, const char *owner, int64_t now, int64_t lease_ms,
                   bk_prewarm_job *out) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_JOB_NEXT);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, now);
  bk_sql_bind_text(st, 2, owner, -1);
  int rc = dbc_one_row(c, st, job_one, out, "no pre-warm job", "prewarm claim");
  if (rc) return rc;
  if (!(st = dbc_stmt(c, SQL_JOB_LEASE))) return BK_EDB;
  bk_sql_bind_int64(st, 1, out->id);
  bk_sql_bind_text(st, 2, owner, -1);
  bk_sql_bind_int64(st, 3, now + lease_ms);
  bk_sql_bind_int64(st, 4, now);
  rc = dbc_step_done(c, st, "prewarm lease");
  if (rc) return rc;
  snprintf(out->lease_owner, sizeof out->lease_owner, "%s", owner);
  out->lease_until_ms = now + lease_ms;
  return 0;
}

int bk_db_prewarm_claim(bk_db *db, const char *owner, int64_t now, int64_t lease_ms,
                        bk_prewarm_job *out) {
  if (!owner || !*owner || strlen(owner) > BK_PREWARM_OWNER_MAX)
    return bk_seterr(BK_EINVAL, "bad lease owner");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c); /* the write lock: two nodes never claim one job */
  if (rc == 0) rc = claim_c(c, owner, now, lease_ms, out);
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

int bk_db_prewarm_progress(bk_db *db, int64_t id, const char *owner, int64_t now,
                           int64_t lease_ms, int64_t bytes_needed, uint64_t dbytes,
                           uint64_t dxorbs) {
  if (dbytes > INT64_MAX || dxorbs > INT64_MAX) return bk_seterr(BK_EINVAL, "bad progress");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_JOB_PROGRESS, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, id);
  bk_sql_bind_text(st, 2, owner, -1);
  bk_sql_bind_int64(st, 3, now + lease_ms);
  bk_sql_bind_int64(st, 4, now);
  bk_sql_bind_int64(st, 5, bytes_needed);
  bk_sql_bind_int64(st, 6, (int64_t)dbytes);
  bk_sql_bind_int64(st, 7, (int64_t)dxorbs);
  rc = dbc_step_done(c, st, "prewarm progress");
  if (rc == 0 && bk_sql_changes(c->h) == 0)
    rc = bk_seterr(BK_ESTALE, "pre-warm job %lld: lease lost", (long long)id);
  dbc_release(db, c);
  return rc;
}

int bk_db_prewarm_finish(bk_db *db, int64_t id, const char *owner, const char *state,
                         const char *error) {
  if (!state || (strcmp(state, "done") && strcmp(state, "failed")))
    return bk_seterr(BK_EINVAL, "bad job state");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_JOB_FINISH, &c, &st);
  if (rc) return rc;
  char err[BK_PREWARM_ERR_MAX + 1];
  snprintf(err, sizeof err, "%s", error ? error : "");
  bk_sql_bind_int64(st, 1, id);
  bk_sql_bind_text(st, 2, owner, -1);
  bk_sql_bind_text(st, 3, state, -1);
  if (error) bk_sql_bind_text(st, 4, err, -1);
  else bk_sql_bind_null(st, 4);
  bk_sql_bind_int64(st, 5, db_now_ms());
  rc = dbc_step_done(c, st, "prewarm finish");
  if (rc == 0 && bk_sql_changes(c->h) == 0)
    rc = bk_seterr(BK_ESTALE, "pre-warm job %lld: lease lost", (long long)id);
  dbc_release(db, c);
  return rc;
}

static int job_list_row(bk_sql_stmt *st, void *ctx) {
  struct db_page *pg = ctx;
  if (pg->n >= pg->cap) return 0;
  job_row(st, db_page_at(pg, pg->n++));
  return 0;
}

int bk_db_prewarm_list(bk_db *db, int64_t bucket_id, bk_prewarm_job **out, size_t max,
                       size_t *n) {
  *out = NULL;
  *n = 0;
  if (max == 0 || max > BK_REGION_PAGE_MAX) return bk_seterr(BK_EINVAL, "bad page size");
  struct db_page pg = {.elem = sizeof(bk_prewarm_job)};
  int rc = db_vec_grow(&pg.v, &pg.cap, max, pg.elem, max);
  if (rc) return rc;
  struct dbc *c;
  bk_sql_stmt *st;
  if ((rc = dbc_acquire_stmt(db, SQL_JOB_LIST, &c, &st))) {
    db_page_free(&pg);
    return rc;
  }
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_int64(st, 2, (int64_t)max);
  rc = dbc_each_row(c, st, job_list_row, &pg, "prewarm list");
  dbc_release(db, c);
  if (rc || pg.n == 0) {
    db_page_free(&pg);
    return rc;
  }
  *out = pg.v;
  *n = pg.n;
  return 0;
}

int bk_db_prewarm_get(bk_db *db, int64_t id, bk_prewarm_job *out) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_JOB_GET, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, id);
  rc = dbc_one_row(c, st, job_one, out, "no such pre-warm job", "prewarm get");
  dbc_release(db, c);
  return rc;
}

/* ------------------------------------------------- what a region lacks */

struct miss_page {
  bk_region_xorb *v;
  size_t n, max;
};

static int miss_row(bk_sql_stmt *st, void *ctx) {
  struct miss_page *p = ctx;
  if (p->n >= p->max || bk_sql_column_bytes(st, 1) != BK_HASH_LEN) return 0;
  bk_region_xorb *x = &p->v[p->n++];
  x->id = bk_sql_column_int64(st, 0);
  col_hash(st, 1, &x->hash);
  x->size = nonneg(bk_sql_column_int64(st, 2));
  x->created_ms = bk_sql_column_int64(st, 3);
  return 0;
}

int bk_db_region_missing(bk_db *db, int64_t bucket_id, const char *prefix, int64_t region_id,
                         int64_t after_id, size_t limit, bk_region_xorb *out, size_t *n) {
  *n = 0;
  if (limit == 0 || limit > BK_REGION_PAGE_MAX) return bk_seterr(BK_EINVAL, "bad page size");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_MISSING, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_text(st, 2, prefix ? prefix : "", -1);
  bk_sql_bind_int64(st, 3, region_id);
  bk_sql_bind_int64(st, 4, after_id);
  bk_sql_bind_int64(st, 5, (int64_t)limit);
  struct miss_page p = {out, 0, limit};
  rc = dbc_each_row(c, st, miss_row, &p, "region missing xorbs");
  dbc_release(db, c);
  *n = p.n;
  return rc;
}

static void stats_row(bk_sql_stmt *st, void *ctx) {
  bk_region_stats *s = ctx;
  s->xorbs_needed = nonneg(bk_sql_column_int64(st, 0));
  s->bytes_needed = nonneg(bk_sql_column_int64(st, 1));
  s->xorbs_present = nonneg(bk_sql_column_int64(st, 2));
  s->bytes_present = nonneg(bk_sql_column_int64(st, 3));
  s->oldest_missing_ms = bk_sql_column_int64(st, 4);
}

int bk_db_region_stats(bk_db *db, int64_t bucket_id, const char *prefix, int64_t region_id,
                       bk_region_stats *s) {
  memset(s, 0, sizeof *s);
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_STATS, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_text(st, 2, prefix ? prefix : "", -1);
  bk_sql_bind_int64(st, 3, region_id);
  rc = dbc_one_row(c, st, stats_row, s, "no stats", "region stats");
  dbc_release(db, c);
  return rc;
}

int bk_db_xorbs_uncopied(bk_db *db, int64_t after_id, size_t limit, bk_region_xorb *out,
                         size_t *n) {
  *n = 0;
  if (limit == 0 || limit > BK_REGION_PAGE_MAX) return bk_seterr(BK_EINVAL, "bad page size");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_UNCOPIED, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, after_id);
  bk_sql_bind_int64(st, 2, (int64_t)limit);
  struct miss_page p = {out, 0, limit};
  rc = dbc_each_row(c, st, miss_row, &p, "xorbs without a copy");
  dbc_release(db, c);
  *n = p.n;
  return rc;
}

int bk_db_copy_prune(bk_db *db, uint64_t *removed) {
  *removed = 0;
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  if (rc == 0) rc = exec_ids(c, SQL_PRUNE_XORBS, NULL, 0, "prune xorb copies");
  if (rc == 0) *removed += nonneg(bk_sql_changes(c->h));
  if (rc == 0) rc = exec_ids(c, SQL_PRUNE_SHARDS, NULL, 0, "prune shard copies");
  if (rc == 0) *removed += nonneg(bk_sql_changes(c->h));
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}
