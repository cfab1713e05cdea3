/* buckets — copy every metadata row of one database into another (see
 * store/db_copy.h). Dynamic SQL built from the table list below; values
 * move through the driver seam by declared type, so the source and target
 * may be different engines. */
#include "store/db_copy.h"

#include <stdio.h>

#include "blake3.h"
#include "buckets/error.h"
#include "store/db_internal.h"

#define MAX_COLS 16
#define SQL_MAX 1024

/* Every table of the schema, parents before children (foreign keys), with
 * every column and the primary key order (a deterministic fingerprint).
 * id_col: the generated id the target's sequence must move past. */
static const struct tspec {
  const char *name, *cols, *order, *id_col;
  int optional;
} TABLES[] = {
    {"namespaces", "id:i name:t kind:i created_ms:i", "id", "id", 0},
    {"org_members", "org_id:i user_id:i role:i", "org_id, user_id", NULL, 0},
    {"tokens", "id:i user_id:i role:i token_hash:b created_ms:i revoked:i", "id", "id", 0},
    {"buckets", "id:i ns_id:i name:t private:i created_ms:i updated_ms:i region:t region_name:t", "id", "id", 0},
    {"bucket_files",
     "bucket_id:i path:t xet_hash:b size:i mtime_ms:i uploaded_ms:i content_type:t",
     "bucket_id, path", NULL, 0},
    {"bucket_dirs", "bucket_id:i path:t nfiles:i bytes:i updated_ms:i", "bucket_id, path", NULL,
     0},
    {"xorbs",
     "id:i hash:b bytes_on_disk:i unpacked_bytes:i nchunks:i created_ms:i touched_ms:i "
     "damaged:i verified_ms:i blob_stamp:i home_region_id:i",
     "id", "id", 0},
    {"xorb_chunks",
     "xorb_id:i idx:i chunk_hash:b record_offset:i record_len:i unpacked_offset:i unpacked_len:i",
     "xorb_id, idx", NULL, 0},
    {"files", "id:i hash:b size:i sha256:b nterms:i created_ms:i touched_ms:i", "id", "id", 0},
    {"file_terms", "file_id:i seq:i xorb_id:i chunk_start:i chunk_end:i unpacked_bytes:i",
     "file_id, seq", NULL, 0},
    {"file_grants", "file_hash:b bucket_id:i", "file_hash, bucket_id", NULL, 0},
    {"shards", "id:i hash:b size:i created_ms:i touched_ms:i damaged:i", "id", "id", 0},
    {"shard_refs", "shard_id:i kind:i hash:b", "shard_id, kind, hash", NULL, 0},
    {"dedup", "chunk_hash:b xorb_id:i idx:i", "chunk_hash, xorb_id", NULL, 0},
    {"xorb_refs", "bucket_id:i xorb_id:i ns_id:i", "bucket_id, xorb_id", NULL, 0},
    {"scrub_state", "kind:i last_id:i updated_ms:i", "kind", NULL, 0},
    {"settings", "key:t value:b created_ms:i", "key", NULL, 0},
    {"web_sessions", "id:i id_hash:b user_id:i token_id:i role:i created_ms:i last_ms:i", "id",
     "id", 0},
    {"rate_windows", "window_start:i caller:i count:i", "window_start, caller", NULL, 0},
    {"pending_deletes", "kind:i hash:b due_ms:i", "kind, hash", NULL, 1},
    {"regions", "id:i name:t blob_url:t created_ms:i", "id", "id", 1},
    {"blob_copies", "kind:i hash:b region_id:i copied_ms:i", "kind, hash, region_id", NULL, 1},
    {"bucket_warm", "bucket_id:i region_id:i", "bucket_id, region_id", NULL, 1},
    {"prewarm_jobs",
     "id:i bucket_id:i region_id:i prefix:t state:t created_ms:i updated_ms:i lease_owner:t "
     "lease_until_ms:i bytes_needed:i bytes_copied:i xorbs_copied:i error:t",
     "id", "id", 1},
};
#define NTABLES (sizeof TABLES / sizeof TABLES[0])

const char *bk_db_copy_table(size_t i, const char **columns, int *optional) {
  if (i >= NTABLES) return NULL;
  if (columns) *columns = TABLES[i].cols;
  if (optional) *optional = TABLES[i].optional;
  return TABLES[i].name;
}

/* A table's columns, parsed from its spec. */
struct cols {
  size_t n;
  char name[MAX_COLS][40];
  char type[MAX_COLS];
};

static int cols_parse(const struct tspec *t, struct cols *c) {
  c->n = 0;
  for (const char *p = t->cols; *p;) {
    while (*p == ' ') p++;
    const char *colon = strchr(p, ':');
    if (!colon || colon - p >= 40 || c->n >= MAX_COLS || !colon[1])
      return bk_seterr(BK_EINVAL, "copy: bad column list of %s", t->name);
    memcpy(c->name[c->n], p, (size_t)(colon - p));
    c->name[c->n][colon - p] = 0;
    c->type[c->n++] = colon[1];
    p = colon + 2;
  }
  return 0;
}

/* "a, b, c" into out. */
static int cols_join(const struct cols *c, char *out, size_t n) {
  size_t at = 0;
  out[0] = 0;
  for (size_t i = 0; i < c->n; i++) {
    int w = snprintf(out + at, n - at, "%s%s", i ? ", " : "", c->name[i]);
    if (w < 0 || (size_t)w >= n - at) return bk_seterr(BK_EINVAL, "copy: SQL too long");
    at += (size_t)w;
  }
  return 0;
}

static int sql_select(const struct tspec *t, const struct cols *c, char *sql) {
  char list[SQL_MAX];
  int rc = cols_join(c, list, sizeof list);
  if (rc) return rc;
  int w = snprintf(sql, SQL_MAX, "SELECT %s FROM %s ORDER BY %s", list, t->name, t->order);
  return w < 0 || w >= SQL_MAX ? bk_seterr(BK_EINVAL, "copy: SQL too long") : 0;
}

static int sql_insert(const struct tspec *t, const struct cols *c, char *sql) {
  char list[SQL_MAX], ph[MAX_COLS * 5 + 1];
  int rc = cols_join(c, list, sizeof list);
  if (rc) return rc;
  size_t at = 0;
  for (size_t i = 0; i < c->n; i++)
    at += (size_t)snprintf(ph + at, sizeof ph - at, "%s?%zu", i ? "," : "", i + 1);
  int w = snprintf(sql, SQL_MAX, "INSERT INTO %s(%s) VALUES(%s)", t->name, list, ph);
  return w < 0 || w >= SQL_MAX ? bk_seterr(BK_EINVAL, "copy: SQL too long") : 0;
}

/* *has = 1 when the table exists (its first column does), else 0. */
static int table_exists(struct dbc *c, const struct tspec *t, const struct cols *cl, int *has) {
  int rc = c->h->drv->has_column(c->h, t->name, cl->name[0], has);
  return rc ? dbc_err(c, rc, t->name) : 0;
}

/* Feeds column i of the current row to the fingerprint (type, null flag,
 * length, bytes) and, when ins is set, binds it as parameter i+1. */
/* (Text and blob lengths fit an int: SQLite caps a value at SQLITE_MAX_LENGTH, 1e9.) */
static void row_value(bk_sql_stmt *st, size_t i, char type, blake3_hasher *h, bk_sql_stmt *ins) {
  uint8_t tag[10] = {(uint8_t)type, 0};
  int null = bk_sql_column_is_null(st, (int)i);
  if (null) {
    tag[1] = 1;
    blake3_hasher_update(h, tag, 2);
    if (ins) bk_sql_bind_null(ins, (int)i + 1);
    return;
  }
  if (type == 'i') {
    int64_t v = bk_sql_column_int64(st, (int)i);
    uint64_t u = (uint64_t)v;
    for (int k = 0; k < 8; k++) tag[2 + k] = (uint8_t)(u >> (8 * k));
    blake3_hasher_update(h, tag, 10);
    if (ins) bk_sql_bind_int64(ins, (int)i + 1, v);
    return;
  }
  const void *p = type == 't' ? (const void *)bk_sql_column_text(st, (int)i)
                              : bk_sql_column_blob(st, (int)i);
  size_t n = bk_sql_column_bytes(st, (int)i);
  uint64_t u = n;
  for (int k = 0; k < 8; k++) tag[2 + k] = (uint8_t)(u >> (8 * k));
  blake3_hasher_update(h, tag, 10);
  if (n && p) blake3_hasher_update(h, p, n);
  if (!ins) return;
  if (type == 't') bk_sql_bind_text(ins, (int)i + 1, p ? p : "", (int)n);
  else bk_sql_bind_blob(ins, (int)i + 1, p, n);
}

/* One table: every source row into the fingerprint and, with dst, into
 * dst's table. *rows counts them. */
static int copy_table(struct dbc *src, struct dbc *dst, const struct tspec *t,
                      blake3_hasher *h, uint64_t *rows) {
  struct cols cl;
  char sql[SQL_MAX];
  int rc = cols_parse(t, &cl);
  int has = 1;
  if (!rc && t->optional) rc = table_exists(src, t, &cl, &has);
  if (rc || !has) return rc;
  blake3_hasher_update(h, t->name, strlen(t->name) + 1);
  bk_sql_stmt *sel = NULL, *ins = NULL;
  rc = sql_select(t, &cl, sql);
  if (!rc) rc = bk_sql_prepare_temp(src->h, sql, &sel);
  if (!rc && dst) rc = sql_insert(t, &cl, sql);
  if (!rc && dst) rc = bk_sql_prepare_temp(dst->h, sql, &ins);
  if (rc) rc = dbc_err(src, rc, t->name);
  int s = BK_SQL_DONE;
  while (!rc && (s = bk_sql_step(sel)) == BK_SQL_ROW) {
    for (size_t i = 0; i < cl.n; i++) row_value(sel, i, cl.type[i], h, ins);
    if (ins) {
      int r = bk_sql_step(ins);
      bk_sql_reset(ins);
      if (r < 0) rc = dbc_err(dst, r, t->name);
    }
    ++*rows;
  }
  if (!rc && s < 0) rc = dbc_err(src, s, t->name);
  bk_sql_finalize(sel);
  bk_sql_finalize(ins);
  return rc;
}

static void stats_add(bk_db_copy_stats *st, const char *name, uint64_t rows) {
  if (st->ntables < BK_DB_COPY_MAX_TABLES) {
    st->t[st->ntables].name = name;
    st->t[st->ntables++].rows = rows;
  }
  st->rows += rows;
}

/* Every table of src (in a read snapshot) into the fingerprint, and into dst
 * when it is set (inside the caller's transaction on dst). */
static int copy_tables(bk_db *src_db, struct dbc *dst, uint8_t fp[32], bk_db_copy_cb cb,
                       void *ctx, bk_db_copy_stats *st) {
  memset(st, 0, sizeof *st);
  struct dbc *src;
  int rc = dbc_acquire(src_db, &src);
  if (rc) return rc;
  rc = dbc_begin_mode(src, BK_TX_READ);
  if (rc) {
    dbc_release(src_db, src);
    return rc;
  }
  blake3_hasher h;
  blake3_hasher_init(&h);
  static const char tag[] = "buckets metadata copy v1";
  blake3_hasher_update(&h, tag, sizeof tag);
  for (size_t i = 0; rc == 0 && i < NTABLES; i++) {
    uint64_t rows = 0;
    rc = copy_table(src, dst, &TABLES[i], &h, &rows);
    if (rc == 0) stats_add(st, TABLES[i].name, rows);
    if (rc == 0 && cb) rc = cb(ctx, TABLES[i].name, rows);
  }
  blake3_hasher_finalize(&h, fp, 32);
  dbc_rollback(src);
  dbc_release(src_db, src);
  return rc;
}

int bk_db_copy_fingerprint(bk_db *src, uint8_t fp[32], bk_db_copy_stats *st) {
  return copy_tables(src, NULL, fp, NULL, NULL, st);
}

static const char SQL_MARKER_GET[] = "SELECT value FROM settings WHERE key = ?1";
static const char SQL_MARKER_SET[] =
    "INSERT INTO settings(key, value, created_ms) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(key) DO UPDATE SET value = excluded.value, created_ms = excluded.created_ms";
static const char SQL_RESET_VERIFIED[] = "UPDATE xorbs SET verified_ms = 0, blob_stamp = 0";

/* 1 if table t holds a row, 0 if not (or it does not exist and is optional). */
static int table_has_rows(struct dbc *c, const struct tspec *t) {
  struct cols cl;
  int rc = cols_parse(t, &cl), has = 1;
  if (!rc && t->optional) rc = table_exists(c, t, &cl, &has);
  if (rc || !has) return rc;
  char sql[SQL_MAX];
  snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", t->name);
  bk_sql_stmt *st = NULL;
  rc = bk_sql_prepare_temp(c->h, sql, &st);
  if (rc) return dbc_err(c, rc, t->name);
  int s = bk_sql_step(st);
  bk_sql_finalize(st);
  return s < 0 ? dbc_err(c, s, t->name) : s == BK_SQL_ROW;
}

static void marker_row(bk_sql_stmt *st, void *ctx) {
  uint8_t *m = ctx;
  const void *p = bk_sql_column_blob(st, 0);
  if (p && bk_sql_column_bytes(st, 0) == 32) memcpy(m, p, 32);
}

static int target_state(struct dbc *c, const uint8_t fp[32], int *state) {
  *state = BK_DB_TARGET_EMPTY;
  for (size_t i = 0; i < NTABLES; i++) {
    int r = table_has_rows(c, &TABLES[i]);
    if (r < 0) return r;
    if (r) *state = BK_DB_TARGET_OTHER;
  }
  if (*state == BK_DB_TARGET_EMPTY) return 0;
  bk_sql_stmt *st = dbc_stmt(c, SQL_MARKER_GET);
  if (!st) return BK_EDB;
  bk_sql_bind_text(st, 1, BK_DB_COPY_MARKER, -1);
  uint8_t m[32] = {0};
  int rc = dbc_one_row(c, st, marker_row, m, "no marker", "copy marker");
  if (rc == BK_ENOTFOUND) {
    bk_clearerr();
    return 0;
  }
  if (rc == 0 && memcmp(m, fp, 32) == 0) *state = BK_DB_TARGET_DONE;
  return rc;
}

int bk_db_copy_target_state(bk_db *dst, const uint8_t fp[32], int *state) {
  struct dbc *c;
  int rc = dbc_acquire(dst, &c);
  if (rc) return rc;
  rc = target_state(c, fp, state);
  dbc_release(dst, c);
  return rc;
}

/* Inside the target's transaction, after the rows: sequences, the reset
 * verification record, the marker. */
static int copy_finish(struct dbc *c, const uint8_t fp[32]) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < NTABLES; i++) {
    if (!TABLES[i].id_col) continue;
    rc = bk_sql_id_sync(c->h, TABLES[i].name, TABLES[i].id_col);
    if (rc) rc = dbc_err(c, rc, "id sync");
  }
  if (rc == 0) rc = dbc_exec(c, SQL_RESET_VERIFIED);
  bk_sql_stmt *st = rc ? NULL : dbc_stmt(c, SQL_MARKER_SET);
  if (rc == 0 && !st) rc = BK_EDB;
  if (rc) return rc;
  bk_sql_bind_text(st, 1, BK_DB_COPY_MARKER, -1);
  bk_sql_bind_blob(st, 2, fp, 32);
  bk_sql_bind_int64(st, 3, db_now_ms());
  return dbc_step_done(c, st, "copy marker");
}

int bk_db_copy_all(bk_db *src, bk_db *dst, const uint8_t fp[32], bk_db_copy_cb cb, void *ctx,
                   bk_db_copy_stats *st) {
  struct dbc *c;
  int rc = dbc_acquire(dst, &c);
  if (rc) return rc;
  rc = dbc_begin_mode(c, BK_TX_WRITE);
  int state = BK_DB_TARGET_EMPTY;
  if (rc == 0) rc = target_state(c, fp, &state);
  if (rc == 0 && state != BK_DB_TARGET_EMPTY)
    rc = bk_seterr(BK_EEXIST, "the target database is not empty");
  uint8_t got[32];
  if (rc == 0) rc = copy_tables(src, c, got, cb, ctx, st);
  if (rc == 0 && memcmp(got, fp, 32) != 0)
    rc = bk_seterr(BK_ESTALE, "the source database changed during the copy");
  if (rc == 0) rc = copy_finish(c, fp);
  if (rc == 0) rc = dbc_commit(c);
  else if (bk_sql_in_tx(c->h)) dbc_rollback(c);
  dbc_release(dst, c);
  return rc;
}
