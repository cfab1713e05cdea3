/* buckets — buckets, bucket file index, tree listing, batch, accounting
 * (see store/db.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/accounts.h"
#include "buckets/buf.h"
#include "store/db.h"
#include "buckets/error.h"
#include "store/db_internal.h"

static void usage_invalidate(bk_db *db, int64_t bucket_id);

/* ---- buckets ---- */

#define BUCKET_COLS \
  "b.id, b.ns_id, n.name, b.name, b.private, b.created_ms, b.updated_ms, " \
  "COALESCE(b.region_name, b.region)"

static const char SQL_BUCKET_BY_NAME[] =
    "SELECT " BUCKET_COLS " FROM buckets b JOIN namespaces n ON n.id = b.ns_id "
    "WHERE n.name = ?1 AND b.name = ?2";
static const char SQL_BUCKET_BY_ID[] =
    "SELECT " BUCKET_COLS " FROM buckets b JOIN namespaces n ON n.id = b.ns_id "
    "WHERE b.id = ?1";
static const char SQL_BUCKET_INSERT[] =
    "INSERT INTO buckets(ns_id, name, private, created_ms, updated_ms, region, region_name) "
    "VALUES(?1, ?2, ?3, ?4, ?4,"
    " CASE WHEN CAST(?5 AS TEXT) IN ('us', 'eu') THEN CAST(?5 AS TEXT) ELSE NULL END,"
    " CAST(?5 AS TEXT))";
static const char SQL_BUCKET_EXISTS[] =
    "SELECT id FROM buckets WHERE ns_id = ?1 AND name = ?2";
static const char SQL_BUCKET_LIST[] =
    "SELECT " BUCKET_COLS " FROM buckets b JOIN namespaces n ON n.id = b.ns_id "
    "WHERE b.ns_id = ?1 AND b.name > ?2 AND (?3 <> 0 OR b.private = 0) "
    "AND (CAST(?4 AS TEXT) IS NULL OR lower(b.name) LIKE ?4 ESCAPE '!') "
    "ORDER BY b.name LIMIT ?5";
static const char SQL_BUCKET_DELETE[] = "DELETE FROM buckets WHERE id = ?1";
static const char SQL_BUCKET_MOVE[] =
    "UPDATE buckets SET ns_id = ?2, name = ?3, updated_ms = ?4 WHERE id = ?1";
static const char SQL_BUCKET_PRIVATE[] =
    "UPDATE buckets SET private = ?2, updated_ms = ?3 WHERE id = ?1";
static const char SQL_BUCKET_TOUCH[] = "UPDATE buckets SET updated_ms = ?2 WHERE id = ?1";
static const char SQL_NS_EXISTS[] = "SELECT 1 FROM namespaces WHERE id = ?1";

static void row_bucket(bk_sql_stmt *st, bk_bucket *b) {
  b->id = bk_sql_column_int64(st, 0);
  b->ns_id = bk_sql_column_int64(st, 1);
  col_text(st, 2, b->ns, sizeof b->ns);
  col_text(st, 3, b->name, sizeof b->name);
  b->is_private = bk_sql_column_int(st, 4);
  b->created_ms = bk_sql_column_int64(st, 5);
  b->updated_ms = bk_sql_column_int64(st, 6);
  col_text(st, 7, b->region, sizeof b->region); /* NULL -> "" */
}

static int bucket_get_c(struct dbc *c, const char *ns, const char *name, int64_t id,
                        bk_bucket *out) {
  bk_sql_stmt *st = dbc_stmt(c, ns ? SQL_BUCKET_BY_NAME : SQL_BUCKET_BY_ID);
  if (!st) return BK_EDB;
  if (ns) {
    bk_sql_bind_text(st, 1, ns, -1);
    bk_sql_bind_text(st, 2, name, -1);
  } else {
    bk_sql_bind_int64(st, 1, id);
  }
  int rc = bk_sql_step(st);
  if (rc == BK_SQL_ROW) row_bucket(st, out);
  bk_sql_reset(st);
  if (rc == BK_SQL_ROW) return 0;
  if (rc == BK_SQL_DONE) return bk_seterr(BK_ENOTFOUND, "bucket not found");
  return dbc_err(c, rc, "bucket lookup");
}

/* 1 if a row exists for the single-int-param query, 0 if not, <0 error. */
static int exists_q(struct dbc *c, const char *sql, int64_t a, const char *s) {
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, a);
  if (s) bk_sql_bind_text(st, 2, s, -1);
  int rc = bk_sql_step(st);
  bk_sql_reset(st);
  if (rc == BK_SQL_ROW) return 1;
  if (rc == BK_SQL_DONE) return 0;
  return dbc_err(c, rc, "lookup");
}

/* Namespace ns_id exists and (if check_name) holds no bucket called name. */
static int bucket_name_free(struct dbc *c, int64_t ns_id, const char *name, int check_name) {
  int e = exists_q(c, SQL_NS_EXISTS, ns_id, NULL);
  if (e < 0) return e;
  if (!e) return bk_seterr(BK_ENOTFOUND, "no such namespace");
  if (!check_name) return 0;
  e = exists_q(c, SQL_BUCKET_EXISTS, ns_id, name);
  if (e < 0) return e;
  if (e) return bk_seterr(BK_EEXIST, "bucket '%s' already exists", name);
  return 0;
}

int bk_db_bucket_get(bk_db *db, const char *ns, const char *name, bk_bucket *out) {
  if (!ns || !name) return bk_seterr(BK_EINVAL, "missing bucket id");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = bucket_get_c(c, ns, name, 0, out);
  dbc_release(db, c);
  return rc;
}

int bk_db_bucket_get_by_id(bk_db *db, int64_t id, bk_bucket *out) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = bucket_get_c(c, NULL, NULL, id, out);
  dbc_release(db, c);
  return rc;
}

int bk_db_bucket_create(bk_db *db, int64_t ns_id, const char *name, int is_private,
                        bk_bucket *out) {
  return bk_db_bucket_create_ex(db, ns_id, name, is_private, NULL, out);
}

int bk_db_bucket_create_ex(bk_db *db, int64_t ns_id, const char *name, int is_private,
                           const char *region, bk_bucket *out) {
  if (!bk_name_valid(name)) return bk_seterr(BK_EINVAL, "invalid bucket name");
  if (region && !bk_region_name_valid(region))
    return bk_seterr(BK_EINVAL, "invalid region name '%.40s' ([a-z][a-z0-9-]{0,31})", region);
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  bk_bucket b;
  rc = dbc_begin(c);
  if (rc == 0) rc = bucket_name_free(c, ns_id, name, 1);
  if (rc == 0) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_BUCKET_INSERT);
    if (!st) rc = BK_EDB;
    else {
      bk_sql_bind_int64(st, 1, ns_id);
      bk_sql_bind_text(st, 2, name, -1);
      bk_sql_bind_int64(st, 3, is_private ? 1 : 0);
      bk_sql_bind_int64(st, 4, db_now_ms());
      if (region) bk_sql_bind_text(st, 5, region, -1);
      else bk_sql_bind_null(st, 5);
      rc = dbc_step_done(c, st, "insert bucket");
    }
  }
  if (rc == 0) rc = bucket_get_c(c, NULL, NULL, bk_sql_last_id(c->h), &b);
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  if (rc == 0 && out) *out = b;
  return rc;
}

/* Collects up to limit buckets into a page; a row beyond them sets more. */
struct bucket_page {
  bk_bucket *v;
  size_t n, cap, limit;
  int more;
};

static int bucket_row(bk_sql_stmt *st, void *p) {
  struct bucket_page *pg = p;
  if (pg->n == pg->limit) {
    pg->more = 1;
    return 1;
  }
  int rc = db_vec_grow((void **)&pg->v, &pg->cap, pg->n + 1, sizeof *pg->v, pg->limit);
  if (rc) return rc;
  row_bucket(st, &pg->v[pg->n++]);
  return 0;
}

/* "%<s>%" for LIKE ... ESCAPE '!', s lowered (ASCII, as SQL lower()) and its
 * %, _ and ! escaped: a case-insensitive substring match in portable SQL.
 * Caller frees *out. */
static int like_pattern(const char *s, char **out) {
  size_t n = strlen(s);
  if (n > BK_PATH_MAX) n = BK_PATH_MAX + 1; /* longer than any name: matches nothing anyway */
  char *p = malloc(2 * n + 3);
  if (!p) return bk_seterr(BK_ENOMEM, "out of memory");
  size_t k = 0;
  p[k++] = '%';
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '%' || ch == '_' || ch == '!') p[k++] = '!';
    p[k++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
  }
  p[k++] = '%';
  p[k] = 0;
  *out = p;
  return 0;
}

/* The page of rows is read and the connection given back BEFORE cb runs. */
int bk_db_bucket_list(bk_db *db, int64_t ns_id, const char *search,
                      int include_private, const char *after, size_t limit,
                      bk_bucket_cb cb, void *ctx, int *more) {
  if (more) *more = 0;
  if (limit == 0 || limit > BK_TREE_LIMIT_MAX) return bk_seterr(BK_EINVAL, "bad limit");
  char *pat = NULL;
  if (search && *search && like_pattern(search, &pat)) return BK_ENOMEM;
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_BUCKET_LIST, &c, &st);
  if (rc) {
    free(pat);
    return rc;
  }
  bk_sql_bind_int64(st, 1, ns_id);
  bk_sql_bind_text(st, 2, after ? after : "", -1);
  bk_sql_bind_int64(st, 3, include_private ? 1 : 0);
  if (pat) bk_sql_bind_text(st, 4, pat, -1);
  bk_sql_bind_int64(st, 5, (int64_t)limit + 1);
  struct bucket_page pg = {NULL, 0, 0, limit, 0};
  rc = dbc_each_row(c, st, bucket_row, &pg, "list buckets");
  if (pg.more) rc = 0;
  dbc_release(db, c);
  free(pat);
  for (size_t i = 0; rc == 0 && i < pg.n; i++) rc = cb(ctx, &pg.v[i]);
  if (rc == 0 && pg.more && more) *more = 1;
  free(pg.v);
  return rc;
}

static int bucket_update(bk_db *db, const char *sql, int64_t id, int64_t a,
                         const char *s) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, sql, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, id);
  if (sql == SQL_BUCKET_PRIVATE) {
    bk_sql_bind_int64(st, 2, a);
    bk_sql_bind_int64(st, 3, db_now_ms());
  }
  (void)s;
  rc = dbc_step_done(c, st, "update bucket");
  if (rc == 0 && bk_sql_changes(c->h) == 0) rc = bk_seterr(BK_ENOTFOUND, "bucket not found");
  dbc_release(db, c);
  usage_invalidate(db, id);
  return rc;
}

int bk_db_bucket_delete(bk_db *db, int64_t bucket_id) {
  return bucket_update(db, SQL_BUCKET_DELETE, bucket_id, 0, NULL);
}

int bk_db_bucket_set_private(bk_db *db, int64_t bucket_id, int is_private) {
  return bucket_update(db, SQL_BUCKET_PRIVATE, bucket_id, is_private ? 1 : 0, NULL);
}

int bk_db_bucket_move(bk_db *db, int64_t bucket_id, int64_t new_ns_id,
                      const char *new_name) {
  if (!bk_name_valid(new_name)) return bk_seterr(BK_EINVAL, "invalid bucket name");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  bk_bucket b;
  rc = dbc_begin(c);
  if (rc == 0) rc = bucket_get_c(c, NULL, NULL, bucket_id, &b);
  if (rc == 0)
    rc = bucket_name_free(c, new_ns_id, new_name,
                          !(b.ns_id == new_ns_id && !strcmp(b.name, new_name)));
  if (rc == 0) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_BUCKET_MOVE);
    if (!st) rc = BK_EDB;
    else {
      bk_sql_bind_int64(st, 1, bucket_id);
      bk_sql_bind_int64(st, 2, new_ns_id);
      bk_sql_bind_text(st, 3, new_name, -1);
      bk_sql_bind_int64(st, 4, db_now_ms());
      rc = dbc_step_done(c, st, "move bucket");
    }
  }
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  usage_invalidate(db, bucket_id);
  return rc;
}

/* ---- files ---- */

#define FILE_COLS "path, xet_hash, size, mtime_ms, uploaded_ms, content_type"

static const char SQL_FILE_GET[] =
    "SELECT " FILE_COLS " FROM bucket_files WHERE bucket_id = ?1 AND path = ?2";

static void row_file(bk_sql_stmt *st, bk_file_entry *e) {
  e->is_dir = 0;
  e->path = (const char *)bk_sql_column_text(st, 0);
  col_hash(st, 1, &e->xet_hash);
  e->size = (uint64_t)bk_sql_column_int64(st, 2);
  e->mtime_ms = bk_sql_column_int64(st, 3);
  e->uploaded_ms = bk_sql_column_int64(st, 4);
  e->content_type = (const char *)bk_sql_column_text(st, 5);
}

/* A SQL_FILE_GET row copied into out (strings into its buffers). */
static void file_info_row(bk_sql_stmt *st, void *p) {
  bk_file_info *out = p;
  row_file(st, &out->e);
  col_text(st, 0, out->path_buf, sizeof out->path_buf);
  out->e.path = out->path_buf;
  if (out->e.content_type) {
    col_text(st, 5, out->ctype_buf, sizeof out->ctype_buf);
    out->e.content_type = out->ctype_buf;
  }
}

int bk_db_file_get(bk_db *db, int64_t bucket_id, const char *path, bk_file_info *out) {
  if (!path) return bk_seterr(BK_EINVAL, "missing path");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_FILE_GET, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_text(st, 2, path, -1);
  rc = dbc_one_row(c, st, file_info_row, out, "entry not found", "file lookup");
  dbc_release(db, c);
  return rc;
}

/* ---- pages of entries (rows read, connection given back, then callbacks) ---- */

/* Entries with their strings copied into one arena (offsets while it grows;
 * pointers set by ents_emit). Bounded by the caller's limit. */
struct ent {
  bk_file_entry e;
  size_t poff, coff; /* path / content type offsets in the arena (SIZE_MAX = NULL) */
};

struct ents {
  struct ent *v;
  size_t n, cap, max;
  char *arena;
  size_t alen, acap;
};

/* Room for need more arena bytes (amortised doubling). */
static int arena_reserve(struct ents *es, size_t need) {
  if (need > BK_PATH_MAX + BK_CTYPE_MAX + 2) return bk_seterr(BK_ELIMIT, "entry too long");
  if (es->acap - es->alen >= need) return 0;
  size_t nc = es->acap ? es->acap * 2 : 16384;
  while (nc - es->alen < need) nc *= 2;
  char *q = realloc(es->arena, nc);
  if (!q) return bk_seterr(BK_ENOMEM, "out of memory");
  es->arena = q;
  es->acap = nc;
  return 0;
}

/* Appends e (path of plen bytes) with copies of its strings. */
static int ents_add(struct ents *es, const bk_file_entry *e, size_t plen) {
  if (es->n == es->cap) {
    size_t want = es->cap ? es->cap * 2 : 1024; /* one allocation for a usual page */
    int rc = db_vec_grow((void **)&es->v, &es->cap, want < es->max ? want : es->max,
                         sizeof *es->v, es->max);
    if (rc) return rc;
  }
  if (es->n == es->cap) return bk_seterr(BK_ELIMIT, "more than %zu entries", es->max);
  size_t clen = e->content_type ? strlen(e->content_type) : 0;
  int rc = arena_reserve(es, plen + 1 + (e->content_type ? clen + 1 : 0));
  if (rc) return rc;
  struct ent *x = &es->v[es->n++];
  x->e = *e;
  x->poff = es->alen;
  memcpy(es->arena + es->alen, e->path, plen);
  es->arena[es->alen + plen] = 0;
  es->alen += plen + 1;
  x->coff = SIZE_MAX;
  if (e->content_type) {
    x->coff = es->alen;
    memcpy(es->arena + es->alen, e->content_type, clen + 1);
    es->alen += clen + 1;
  }
  return 0;
}

static int ents_emit(struct ents *es, bk_file_cb cb, void *ctx) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < es->n; i++) {
    struct ent *x = &es->v[i];
    x->e.path = es->arena + x->poff;
    x->e.content_type = x->coff == SIZE_MAX ? NULL : es->arena + x->coff;
    rc = cb(ctx, &x->e);
  }
  return rc;
}

static void ents_free(struct ents *es) {
  free(es->v);
  free(es->arena);
}

/* The rows of paths (one read snapshot), into es. */
static int paths_info_read(struct dbc *c, int64_t bucket_id, const char *const *paths, size_t n,
                           struct ents *es) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_FILE_GET);
  if (!st) return BK_EDB;
  int rc = dbc_begin_mode(c, BK_TX_READ);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (!paths[i]) continue;
    bk_sql_reset(st);
    bk_sql_bind_int64(st, 1, bucket_id);
    bk_sql_bind_text(st, 2, paths[i], -1);
    int s = bk_sql_step(st);
    if (s == BK_SQL_ROW) {
      bk_file_entry e;
      row_file(st, &e);
      rc = ents_add(es, &e, bk_sql_column_bytes(st, 0));
    } else if (s != BK_SQL_DONE) {
      rc = dbc_err(c, s, "paths-info");
    }
  }
  bk_sql_reset(st);
  if (bk_sql_in_tx(c->h)) {
    if (rc == 0) rc = dbc_commit(c);
    else dbc_rollback(c);
  }
  return rc;
}

int bk_db_paths_info(bk_db *db, int64_t bucket_id, const char *const *paths,
                     size_t n, bk_file_cb cb, void *ctx) {
  if (n > BK_PATHS_INFO_MAX)
    return bk_seterr(BK_ELIMIT, "at most %d paths per request", BK_PATHS_INFO_MAX);
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  struct ents es = {.max = BK_PATHS_INFO_MAX};
  rc = paths_info_read(c, bucket_id, paths, n, &es);
  dbc_release(db, c);
  if (rc == 0) rc = ents_emit(&es, cb, ctx);
  ents_free(&es);
  return rc;
}

static const char SQL_DIR_STATS[] =
    "SELECT nfiles, bytes, updated_ms FROM bucket_dirs WHERE bucket_id = ?1 AND path = ?2";
static const char SQL_ROOT_STATS[] =
    "SELECT count(*), coalesce(sum(size), 0), coalesce(max(uploaded_ms), 0) FROM bucket_files "
    "WHERE bucket_id = ?1";

static void dir_stats_row(bk_sql_stmt *st, void *p) {
  bk_dir_stats *out = p;
  out->nfiles = (uint64_t)bk_sql_column_int64(st, 0);
  out->bytes = (uint64_t)bk_sql_column_int64(st, 1);
  out->updated_ms = bk_sql_column_int64(st, 2);
}

int bk_db_dir_stats(bk_db *db, int64_t bucket_id, const char *path, bk_dir_stats *out) {
  size_t pl = path ? strlen(path) : 0;
  while (pl > 0 && path[pl - 1] == '/') pl--;
  if (pl > BK_PATH_MAX) return bk_seterr(BK_EINVAL, "path too long");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, pl ? SQL_DIR_STATS : SQL_ROOT_STATS, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, bucket_id);
  if (pl) bk_sql_bind_text(st, 2, path, (int)pl);
  rc = dbc_one_row(c, st, dir_stats_row, out, "no file below this path", "directory stats");
  if (rc == 0 && out->nfiles == 0) rc = bk_seterr(BK_ENOTFOUND, "no file below this path");
  dbc_release(db, c);
  return rc;
}

/* ---- cursor: base64url("f" | "d" + path) ---- */

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const uint8_t *p, size_t n) {
  size_t olen = (n + 2) / 3 * 4 + 1;
  char *o = malloc(olen), *q = o;
  if (!o) return NULL;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    *q++ = B64[(v >> 18) & 63];
    *q++ = B64[(v >> 12) & 63];
    if (i + 1 < n) *q++ = B64[(v >> 6) & 63];
    if (i + 2 < n) *q++ = B64[v & 63];
  }
  *q = 0;
  return o;
}

static int b64val(char c) {
  const char *p = c ? strchr(B64, c) : NULL;
  return p ? (int)(p - B64) : -1;
}

/* Decodes into out (cap bytes); returns length or -1. */
static long b64url_decode(const char *s, uint8_t *out, size_t cap) {
  size_t n = strlen(s), o = 0;
  if (n % 4 == 1) return -1;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t v = 0;
    size_t k = n - i < 4 ? n - i : 4;
    for (size_t j = 0; j < 4; j++) {
      int d = j < k ? b64val(s[i + j]) : 0;
      if (d < 0) return -1;
      v = v << 6 | (uint32_t)d;
    }
    uint8_t b[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    size_t nb = k - 1;
    if (o + nb > cap) return -1;
    memcpy(out + o, b, nb);
    o += nb;
  }
  return (long)o;
}

static char *make_cursor(int is_dir, const char *path) {
  size_t n = strlen(path);
  uint8_t buf[BK_PATH_MAX + 2];
  if (n > BK_PATH_MAX) return NULL;
  buf[0] = is_dir ? 'd' : 'f';
  memcpy(buf + 1, path, n);
  return b64url_encode(buf, n + 1);
}

/* ---- tree ---- */

/* Every scan is bounded (LIMIT): an engine that sends the whole result at
 * once (PostgreSQL) must not ship the rest of the bucket for one page. A
 * scan that used up its LIMIT resumes after the last path it returned. */
static const char SQL_TREE_GT_HI[] =
    "SELECT " FILE_COLS " FROM bucket_files WHERE bucket_id = ?1 AND path > ?2 "
    "AND path < ?3 ORDER BY path LIMIT ?4";
static const char SQL_TREE_GE_HI[] =
    "SELECT " FILE_COLS " FROM bucket_files WHERE bucket_id = ?1 AND path >= ?2 "
    "AND path < ?3 ORDER BY path LIMIT ?4";
static const char SQL_TREE_GT[] =
    "SELECT " FILE_COLS " FROM bucket_files WHERE bucket_id = ?1 AND path > ?2 "
    "ORDER BY path LIMIT ?3";
static const char SQL_TREE_GE[] =
    "SELECT " FILE_COLS " FROM bucket_files WHERE bucket_id = ?1 AND path >= ?2 "
    "ORDER BY path LIMIT ?3";
/* rows a scan asks for beyond the entries the page still needs */
#define TREE_SCAN_SLACK 16

static const char SQL_DIR_GET[] =
    "SELECT nfiles, bytes, updated_ms FROM bucket_dirs WHERE bucket_id = ?1 AND path = ?2";

struct tree_scan {
  struct dbc *c;
  bk_sql_stmt *st;
  int64_t bucket_id;
  const char *hi; /* NULL = unbounded */
  size_t want;    /* entries the page still needs (LIMIT = want + slack) */
  size_t lim, got; /* LIMIT of the current execution, rows it returned */
  char last[BK_PATH_MAX + 1]; /* the last path returned (resume point) */
  size_t lastlen;
};

/* (Re)positions the scan at paths > key (ge = 0) or >= key (ge = 1). */
static int scan_seek(struct tree_scan *s, const char *key, size_t klen, int ge) {
  const char *sql = s->hi ? (ge ? SQL_TREE_GE_HI : SQL_TREE_GT_HI)
                          : (ge ? SQL_TREE_GE : SQL_TREE_GT);
  if (s->st) bk_sql_reset(s->st);
  s->st = dbc_stmt(s->c, sql);
  if (!s->st) return BK_EDB;
  bk_sql_bind_int64(s->st, 1, s->bucket_id);
  bk_sql_bind_text(s->st, 2, key, (int)klen);
  if (s->hi) bk_sql_bind_text(s->st, 3, s->hi, -1);
  s->lim = s->want + TREE_SCAN_SLACK;
  s->got = 0;
  bk_sql_bind_int64(s->st, s->hi ? 4 : 3, (int64_t)s->lim);
  return 0;
}

/* A row of the scan was read: counts it and keeps its path. */
static void scan_note(struct tree_scan *s, const char *path, size_t pl) {
  s->got++;
  if (pl > BK_PATH_MAX) pl = BK_PATH_MAX;
  memcpy(s->last, path, pl);
  s->lastlen = pl;
}

/* A tree request, decoded: the "prefix/" range [lo, hi) and the resume
 * point (cursor: 'f' or 'd' + path). */
struct tree_req {
  int64_t bucket_id;
  const char *prefix;
  size_t plen;   /* prefix without trailing '/'; 0 = bucket root */
  unsigned flags;
  size_t limit;
  char lo[BK_PATH_MAX + 2], hi[BK_PATH_MAX + 2];
  size_t lolen;
  uint8_t cbuf[BK_PATH_MAX + 3];
  long clen;     /* 0 = first page */
  int c_dir;
};

/* Normalises the prefix and decodes the cursor. */
static int tree_decode(struct tree_req *q, const char *prefix, const char *cursor) {
  size_t plen = prefix ? strlen(prefix) : 0;
  while (plen > 0 && prefix[plen - 1] == '/') plen--;
  if (plen > BK_PATH_MAX) return bk_seterr(BK_EINVAL, "prefix too long");
  q->prefix = prefix;
  q->plen = plen;
  q->lo[0] = 0;
  q->lolen = 0;
  if (plen) {
    memcpy(q->lo, prefix, plen);
    q->lo[plen] = '/';
    q->lolen = plen + 1;
    q->lo[q->lolen] = 0;
    memcpy(q->hi, prefix, plen);
    q->hi[plen] = '0'; /* '/' + 1: end of the "prefix/" range */
    q->hi[plen + 1] = 0;
  }
  q->clen = 0;
  q->c_dir = 0;
  if (!cursor || !*cursor) return 0;
  if (strlen(cursor) > (BK_PATH_MAX + 1) * 4 / 3 + 4 ||
      (q->clen = b64url_decode(cursor, q->cbuf, sizeof q->cbuf - 2)) < 2 ||
      (q->cbuf[0] != 'f' && q->cbuf[0] != 'd') || memchr(q->cbuf, 0, (size_t)q->clen))
    return bk_seterr(BK_EINVAL, "invalid cursor");
  q->c_dir = q->cbuf[0] == 'd';
  q->cbuf[q->clen] = 0;
  return 0;
}

/* Positions the scan at the first path of the page. */
static int tree_seek_start(struct tree_scan *s, const struct tree_req *q) {
  if (q->clen == 0) return scan_seek(s, q->lo, q->lolen, 1);
  const char *cp = (const char *)q->cbuf + 1;
  size_t cl = (size_t)q->clen - 1;
  /* cursor must not point before the range start */
  size_t m = cl < q->lolen ? cl : q->lolen;
  int cmp = memcmp(cp, q->lo, m);
  if (q->plen && (cmp < 0 || (cmp == 0 && cl < q->lolen)))
    return scan_seek(s, q->lo, q->lolen, 1); /* at/below the prefix itself: range start */
  if (!q->c_dir) return scan_seek(s, cp, cl, 0);
  char key[BK_PATH_MAX + 3];
  memcpy(key, cp, cl);
  key[cl] = '0';
  return scan_seek(s, key, cl + 1, 1);
}

/* The directory entry dpath (dl bytes) with its aggregates: one point
 * lookup in bucket_dirs. */
static int tree_dir_entry(struct dbc *c, int64_t bucket_id, const char *dpath, size_t dl,
                          int64_t uploaded_ms, bk_file_entry *e) {
  memset(e, 0, sizeof *e);
  e->is_dir = 1;
  e->path = dpath;
  e->uploaded_ms = uploaded_ms;
  bk_sql_stmt *m = dbc_stmt(c, SQL_DIR_GET);
  if (!m) return BK_EDB;
  bk_sql_bind_int64(m, 1, bucket_id);
  bk_sql_bind_text(m, 2, dpath, (int)dl);
  if (bk_sql_step(m) == BK_SQL_ROW) {
    e->nfiles = (uint64_t)bk_sql_column_int64(m, 0);
    e->size = (uint64_t)bk_sql_column_int64(m, 1);
    e->uploaded_ms = bk_sql_column_int64(m, 2);
  }
  bk_sql_reset(m);
  return 0;
}

/* The prefix itself, when it is a file (first page only). */
static int tree_prefix_file(struct dbc *c, const struct tree_req *q, struct ents *es) {
  if (!q->plen || q->clen != 0) return 0;
  bk_sql_stmt *st = dbc_stmt(c, SQL_FILE_GET);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, q->bucket_id);
  bk_sql_bind_text(st, 2, q->prefix, (int)q->plen);
  int rc = 0, r = bk_sql_step(st);
  if (r == BK_SQL_ROW) {
    bk_file_entry e;
    row_file(st, &e);
    rc = ents_add(es, &e, bk_sql_column_bytes(st, 0));
  } else if (r != BK_SQL_DONE) {
    rc = dbc_err(c, r, "tree");
  }
  bk_sql_reset(st);
  return rc;
}

/* Reads one page (at most q->limit entries; *more = 1 when another entry
 * follows) in one read snapshot across the re-seeks. single: no transaction
 * (one statement is its own snapshot) — a page that needs a second statement
 * stops with TREE_RETRY, to be read again in a transaction. */
#define TREE_RETRY 1
static int tree_read_page(struct dbc *c, const struct tree_req *q, struct ents *es, int *more,
                          int single) {
  *more = 0;
  int rc = single ? 0 : dbc_begin_mode(c, BK_TX_READ);
  struct tree_scan s = {c, NULL, q->bucket_id, q->plen ? q->hi : NULL, 0, 0, 0, "", 0};
  if (rc == 0) rc = tree_prefix_file(c, q, es);
  s.want = q->limit - es->n + 1;
  if (rc == 0) rc = tree_seek_start(&s, q);
  while (rc == 0) {
    int r = bk_sql_step(s.st);
    if (r == BK_SQL_DONE && s.got == s.lim && single) {
      rc = TREE_RETRY;
      break;
    }
    if (r == BK_SQL_DONE && s.got == s.lim) { /* LIMIT used up: resume after the last row */
      s.want = q->limit - es->n + 1;
      rc = scan_seek(&s, s.last, s.lastlen, 0);
      continue;
    }
    if (r == BK_SQL_DONE) break;
    if (r != BK_SQL_ROW) {
      rc = dbc_err(c, r, "tree");
      break;
    }
    const char *path = bk_sql_column_text(s.st, 0);
    size_t pl = bk_sql_column_bytes(s.st, 0);
    if (path) scan_note(&s, path, pl);
    if (!path || pl < q->lolen || pl > BK_PATH_MAX) continue;
    const char *slash = (q->flags & BK_TREE_RECURSIVE)
                            ? NULL
                            : memchr(path + q->lolen, '/', pl - q->lolen);
    if (es->n == q->limit) {
      *more = 1;
      break;
    }
    if (!slash) {
      bk_file_entry e;
      row_file(s.st, &e);
      rc = ents_add(es, &e, pl);
      continue;
    }
    /* a directory: add it, then jump past its subtree */
    size_t dl = (size_t)(slash - path);
    char dpath[BK_PATH_MAX + 3];
    memcpy(dpath, path, dl);
    dpath[dl] = 0;
    bk_file_entry e;
    if (single) {
      rc = TREE_RETRY;
      break;
    }
    rc = tree_dir_entry(c, q->bucket_id, dpath, dl, bk_sql_column_int64(s.st, 4), &e);
    if (rc == 0) rc = ents_add(es, &e, dl);
    if (rc) break;
    dpath[dl] = '0';
    s.want = q->limit - es->n + 1;
    rc = scan_seek(&s, dpath, dl + 1, 1);
  }
  if (s.st) bk_sql_reset(s.st);
  if (bk_sql_in_tx(c->h)) {
    if (rc == 0) rc = dbc_commit(c);
    else dbc_rollback(c);
  }
  return rc;
}

int bk_db_tree(bk_db *db, int64_t bucket_id, const char *prefix, unsigned flags,
               const char *cursor, size_t limit, bk_file_cb cb, void *ctx,
               char **next_cursor) {
  *next_cursor = NULL;
  if (limit == 0 || limit > BK_TREE_LIMIT_MAX) return bk_seterr(BK_EINVAL, "bad limit");
  struct tree_req *q = malloc(sizeof *q);
  if (!q) return bk_seterr(BK_ENOMEM, "out of memory");
  q->bucket_id = bucket_id;
  q->flags = flags;
  q->limit = limit;
  int rc = tree_decode(q, prefix, cursor);
  struct dbc *c = NULL;
  if (rc == 0) rc = dbc_acquire(db, &c);
  struct ents es = {.max = limit};
  int more = 0;
  if (rc == 0) {
    /* PostgreSQL: a recursive page is usually one scan; BEGIN and COMMIT
     * would be two more round trips (SQLite: free, the path stays as is) */
    int single = c->h->drv->dialect == BK_SQL_PG && (flags & BK_TREE_RECURSIVE) &&
                 !(q->plen && q->clen == 0);
    rc = tree_read_page(c, q, &es, &more, single);
    if (rc == TREE_RETRY) {
      ents_free(&es);
      es = (struct ents){.max = limit};
      rc = tree_read_page(c, q, &es, &more, 0);
    }
    dbc_release(db, c);
  }
  free(q);
  if (rc == 0) rc = ents_emit(&es, cb, ctx); /* the connection is back in the pool */
  if (rc == 0 && more) {
    const bk_file_entry *l = &es.v[es.n - 1].e; /* pointers set by ents_emit */
    *next_cursor = make_cursor(l->is_dir, l->path);
    if (!*next_cursor) rc = bk_seterr(BK_ENOMEM, "out of memory");
  }
  ents_free(&es);
  return rc;
}

/* ---- batch ---- */

static const char SQL_CAS_FILE_SIZE[] = "SELECT size FROM files WHERE hash = ?1";
static const char SQL_GRANTED[] =
    "SELECT 1 WHERE EXISTS(SELECT 1 FROM file_grants WHERE file_hash = ?1 AND bucket_id = ?2) "
    "OR EXISTS(SELECT 1 FROM bucket_files WHERE xet_hash = ?1 AND bucket_id = ?2)";
static const char SQL_SRC_FILE[] =
    "SELECT size, mtime_ms, content_type FROM bucket_files "
    "WHERE bucket_id = ?1 AND xet_hash = ?2 LIMIT 1";
static const char SQL_FILE_PUT[] =
    "INSERT INTO bucket_files(bucket_id, path, xet_hash, size, mtime_ms, "
    "uploaded_ms, content_type) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT(bucket_id, path) DO UPDATE SET xet_hash = excluded.xet_hash, "
    "size = excluded.size, mtime_ms = excluded.mtime_ms, uploaded_ms = excluded.uploaded_ms, "
    "content_type = excluded.content_type";
static const char SQL_FILE_DEL[] =
    "DELETE FROM bucket_files WHERE bucket_id = ?1 AND path = ?2";
static const char SQL_GRANT[] =
    "INSERT INTO file_grants(file_hash, bucket_id) VALUES(?1, ?2) ON CONFLICT DO NOTHING";

static const char SQL_OLD_SIZE[] =
    "SELECT size FROM bucket_files WHERE bucket_id = ?1 AND path = ?2";
static const char SQL_DIR_ADD[] =
    "INSERT INTO bucket_dirs(bucket_id, path, nfiles, bytes, updated_ms) "
    "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(bucket_id, path) DO UPDATE SET "
    "nfiles = bucket_dirs.nfiles + excluded.nfiles, bytes = bucket_dirs.bytes + excluded.bytes, "
    "updated_ms = CASE WHEN excluded.updated_ms > bucket_dirs.updated_ms "
    "THEN excluded.updated_ms ELSE bucket_dirs.updated_ms END";
static const char SQL_DIR_PRUNE[] =
    "DELETE FROM bucket_dirs WHERE bucket_id = ?1 AND path = ?2 AND nfiles <= 0";

/* Size of the file at path: 1 + *size if present, 0 if not, <0 error. */
static int old_size(struct dbc *c, int64_t bucket_id, const char *path, int64_t *size) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_OLD_SIZE);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_text(st, 2, path, -1);
  int r = bk_sql_step(st);
  if (r == BK_SQL_ROW) *size = bk_sql_column_int64(st, 0);
  bk_sql_reset(st);
  if (r == BK_SQL_ROW) return 1;
  if (r == BK_SQL_DONE) return 0;
  return dbc_err(c, r, "file lookup");
}

int db_dirs_adjust(struct dbc *c, int64_t bucket_id, const char *path, int64_t dn,
                   int64_t dbytes, int64_t now) {
  for (const char *sl = strchr(path, '/'); sl; sl = strchr(sl + 1, '/')) {
    int dl = (int)(sl - path);
    bk_sql_stmt *st = dbc_stmt(c, SQL_DIR_ADD);
    if (!st) return BK_EDB;
    bk_sql_bind_int64(st, 1, bucket_id);
    bk_sql_bind_text(st, 2, path, dl);
    bk_sql_bind_int64(st, 3, dn);
    bk_sql_bind_int64(st, 4, dbytes);
    bk_sql_bind_int64(st, 5, now);
    int rc = dbc_step_done(c, st, "directory aggregate");
    if (rc) return rc;
    if (dn < 0) {
      if (!(st = dbc_stmt(c, SQL_DIR_PRUNE))) return BK_EDB;
      bk_sql_bind_int64(st, 1, bucket_id);
      bk_sql_bind_text(st, 2, path, dl);
      if ((rc = dbc_step_done(c, st, "directory prune"))) return rc;
    }
  }
  return 0;
}

int db_dirs_rebuild(struct dbc *c) {
  int rc = dbc_exec(c, "DELETE FROM bucket_dirs");
  if (rc) return rc;
  bk_sql_stmt *st = NULL;
  int r = bk_sql_prepare_temp(c->h,
                               "SELECT bucket_id, path, size, uploaded_ms FROM bucket_files "
                               "WHERE path LIKE '%/%'",
                               &st);
  if (r) return dbc_err(c, r, "rebuild directories");
  while (rc == 0 && (r = bk_sql_step(st)) == BK_SQL_ROW) {
    const char *p = (const char *)bk_sql_column_text(st, 1);
    if (p) rc = db_dirs_adjust(c, bk_sql_column_int64(st, 0), p, 1, bk_sql_column_int64(st, 2),
                               bk_sql_column_int64(st, 3));
  }
  if (rc == 0 && r != BK_SQL_DONE) rc = dbc_err(c, r, "rebuild directories");
  bk_sql_finalize(st);
  return rc;
}

/* Per-batch accumulator of directory deltas: every op adds its delta to each
 * ancestor directory in memory; the batch then writes one upsert per
 * distinct directory (a 1,000-op batch into one folder = 1 upsert). */
struct dent {
  char *path;
  size_t len;
  int64_t dn, db;
};
struct dacc {
  struct dent *e;
  size_t n, cap;
  uint32_t *idx; /* open addressing: entry index + 1, 0 = empty */
  size_t icap;
};

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
  return h;
}

static void dacc_free(struct dacc *a) {
  for (size_t i = 0; i < a->n; i++) free(a->e[i].path);
  free(a->e);
  free(a->idx);
  memset(a, 0, sizeof *a);
}

static int dacc_grow(struct dacc *a) {
  size_t ncap = a->icap ? a->icap * 2 : 64;
  uint32_t *ni = calloc(ncap, sizeof *ni);
  if (!ni) return bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; i < a->n; i++) {
    size_t j = fnv1a(a->e[i].path, a->e[i].len) & (ncap - 1);
    while (ni[j]) j = (j + 1) & (ncap - 1);
    ni[j] = (uint32_t)i + 1;
  }
  free(a->idx);
  a->idx = ni;
  a->icap = ncap;
  return 0;
}

static int dacc_add_one(struct dacc *a, const char *p, size_t len, int64_t dn, int64_t db) {
  if ((a->n + 1) * 2 > a->icap && dacc_grow(a)) return BK_ENOMEM;
  size_t j = fnv1a(p, len) & (a->icap - 1);
  while (a->idx[j]) {
    struct dent *d = &a->e[a->idx[j] - 1];
    if (d->len == len && !memcmp(d->path, p, len)) {
      d->dn += dn;
      d->db += db;
      return 0;
    }
    j = (j + 1) & (a->icap - 1);
  }
  struct dent *ne = bk_grow(a->e, a->n, &a->cap, sizeof *ne, 64, 0);
  if (!ne) return bk_seterr(BK_ENOMEM, "out of memory");
  a->e = ne;
  char *cp = malloc(len + 1);
  if (!cp) return bk_seterr(BK_ENOMEM, "out of memory");
  memcpy(cp, p, len);
  cp[len] = 0;
  a->e[a->n] = (struct dent){cp, len, dn, db};
  a->idx[j] = (uint32_t)++a->n;
  return 0;
}

static int dacc_add(struct dacc *a, const char *path, int64_t dn, int64_t db) {
  for (const char *sl = strchr(path, '/'); sl; sl = strchr(sl + 1, '/')) {
    int rc = dacc_add_one(a, path, (size_t)(sl - path), dn, db);
    if (rc) return rc;
  }
  return 0;
}

static int arr_open(bk_buf *b);
static int arr_text_n(bk_buf *b, const char *s, size_t n);
static int arr_int(bk_buf *b, int64_t v);
static int arr_bind(bk_sql_stmt *st, int i, bk_buf *b);

/* PostgreSQL: the upserts (and prunes) of up to DIR_CHUNK directories per
 * statement, their paths and deltas as array parameters (one round trip
 * per directory made a 1,000-file batch spread over 280 folders cost 280). */
enum { DIR_CHUNK = 1000 };
static const char SQL_DIR_ADD_PG[] =
    "INSERT INTO bucket_dirs(bucket_id, path, nfiles, bytes, updated_ms) "
    "SELECT ?1, u.p, u.n, u.b, ?2 FROM unnest(?3::text[], ?4::int8[], ?5::int8[]) AS u(p, n, b) "
    "ON CONFLICT(bucket_id, path) DO UPDATE SET "
    "nfiles = bucket_dirs.nfiles + excluded.nfiles, bytes = bucket_dirs.bytes + excluded.bytes, "
    "updated_ms = CASE WHEN excluded.updated_ms > bucket_dirs.updated_ms "
    "THEN excluded.updated_ms ELSE bucket_dirs.updated_ms END";
static const char SQL_DIR_PRUNE_PG[] =
    "DELETE FROM bucket_dirs WHERE bucket_id = ?1 AND nfiles <= 0 AND path IN "
    "(SELECT p FROM unnest(?2::text[]) AS u(p))";

static int dacc_flush_pg_chunk(struct dbc *c, struct dacc *a, size_t at, size_t m,
                               int64_t bucket_id, int64_t now, bk_buf *b) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_DIR_ADD_PG);
  if (!st) return BK_EDB;
  int rc = bk_sql_bind_int64(st, 1, bucket_id);
  if (rc == 0) rc = bk_sql_bind_int64(st, 2, now);
  for (int k = 0; rc == 0 && k < 3; k++) {
    rc = arr_open(b);
    for (size_t i = at; rc == 0 && i < at + m; i++) {
      struct dent *d = &a->e[i];
      rc = k == 0 ? arr_text_n(b, d->path, d->len) : arr_int(b, k == 1 ? d->dn : d->db);
    }
    if (rc == 0) rc = arr_bind(st, 3 + k, b);
  }
  if (rc) {
    bk_sql_reset(st);
    return rc;
  }
  if ((rc = dbc_step_done(c, st, "directory aggregates"))) return rc;
  int prune = 0;
  rc = arr_open(b);
  for (size_t i = at; rc == 0 && i < at + m; i++)
    if (a->e[i].dn < 0) {
      prune = 1;
      rc = arr_text_n(b, a->e[i].path, a->e[i].len);
    }
  if (rc || !prune) return rc;
  if (!(st = dbc_stmt(c, SQL_DIR_PRUNE_PG))) return BK_EDB;
  rc = bk_sql_bind_int64(st, 1, bucket_id);
  if (rc == 0) rc = arr_bind(st, 2, b);
  if (rc == 0) return dbc_step_done(c, st, "directory prune");
  bk_sql_reset(st);
  return rc;
}

static int dacc_flush_pg(struct dbc *c, struct dacc *a, int64_t bucket_id, int64_t now) {
  bk_buf b;
  bk_buf_init(&b, (size_t)DIR_CHUNK * (2 * BK_PATH_MAX + 4) + 16);
  int rc = 0;
  for (size_t at = 0; rc == 0 && at < a->n; at += DIR_CHUNK)
    rc = dacc_flush_pg_chunk(c, a, at, a->n - at < DIR_CHUNK ? a->n - at : DIR_CHUNK, bucket_id,
                             now, &b);
  bk_buf_free(&b);
  return rc;
}

static int dacc_flush(struct dbc *c, struct dacc *a, int64_t bucket_id, int64_t now) {
  if (c->h->drv->dialect == BK_SQL_PG) return dacc_flush_pg(c, a, bucket_id, now);
  for (size_t i = 0; i < a->n; i++) {
    struct dent *d = &a->e[i];
    bk_sql_stmt *st = dbc_stmt(c, SQL_DIR_ADD);
    if (!st) return BK_EDB;
    bk_sql_bind_int64(st, 1, bucket_id);
    bk_sql_bind_text(st, 2, d->path, (int)d->len);
    bk_sql_bind_int64(st, 3, d->dn);
    bk_sql_bind_int64(st, 4, d->db);
    bk_sql_bind_int64(st, 5, now);
    int rc = dbc_step_done(c, st, "directory aggregate");
    if (rc) return rc;
    if (d->dn < 0) {
      if (!(st = dbc_stmt(c, SQL_DIR_PRUNE))) return BK_EDB;
      bk_sql_bind_int64(st, 1, bucket_id);
      bk_sql_bind_text(st, 2, d->path, (int)d->len);
      if ((rc = dbc_step_done(c, st, "directory prune"))) return rc;
    }
  }
  return 0;
}

static int op_fail(bk_batch_op *op, int code, const char *msg) {
  op->result = code;
  op->error = msg;
  return 1;
}

/* Why a contentType is refused (NULL: acceptable or absent). */
static const char *ctype_bad(const char *ct) {
  if (!ct) return NULL;
  size_t cl = strlen(ct);
  if (cl > BK_CTYPE_MAX) return "contentType too long";
  for (size_t i = 0; i < cl; i++) {
    unsigned char ch = (unsigned char)ct[i];
    if (ch < 0x20 || ch >= 0x7f) /* it is sent back as a header: printable ASCII only */
      return "contentType must be printable ASCII";
  }
  return NULL;
}

/* Returns 0 ok, 1 op failed (recorded in op), <0 global error. */
static int apply_op(struct dbc *c, struct dacc *acc, int64_t bucket_id, bk_batch_op *op,
                    unsigned flags, int64_t now) {
  op->result = 0;
  op->error = NULL;
  if (!op->path || !bk_path_valid(op->path, strlen(op->path)))
    return op_fail(op, BK_EINVAL, "invalid path");
  bk_sql_stmt *st;
  int r;
  int64_t prev = 0;
  if (op->type == BK_OP_DELETE) {
    int had = old_size(c, bucket_id, op->path, &prev);
    if (had <= 0) return had; /* missing: nothing to do (not an error) */
    if (!(st = dbc_stmt(c, SQL_FILE_DEL))) return BK_EDB;
    bk_sql_bind_int64(st, 1, bucket_id);
    bk_sql_bind_text(st, 2, op->path, -1);
    int rc = dbc_step_done(c, st, "delete file");
    if (rc == 0) rc = dacc_add(acc, op->path, -1, -prev);
    return rc;
  }
  if (op->type != BK_OP_ADD && op->type != BK_OP_COPY)
    return op_fail(op, BK_EINVAL, "unknown operation type");
  const char *bad = ctype_bad(op->content_type);
  if (bad) return op_fail(op, BK_EINVAL, bad);
  int64_t size = 0, mtime = op->mtime_ms;
  const char *ctype = op->content_type;
  char ctbuf[BK_CTYPE_MAX + 1];
  if (op->type == BK_OP_ADD) {
    if (!(st = dbc_stmt(c, SQL_CAS_FILE_SIZE))) return BK_EDB;
    bind_hash(st, 1, &op->xet_hash);
    r = bk_sql_step(st);
    if (r == BK_SQL_ROW) size = bk_sql_column_int64(st, 0);
    bk_sql_reset(st);
    if (r == BK_SQL_DONE) {
      if (!bk_hash_is_zero(&op->xet_hash))
        return op_fail(op, BK_ENOTFOUND, "unknown xetHash (upload the file through CAS first)");
      size = 0; /* the empty file */
    } else if (r != BK_SQL_ROW) {
      return dbc_err(c, r, "file lookup");
    }
    if (op->size >= 0 && op->size != size)
      return op_fail(op, BK_ESIZE, "size does not match the uploaded file");
    if ((flags & BK_BATCH_REQUIRE_GRANT) && !bk_hash_is_zero(&op->xet_hash)) {
      if (!(st = dbc_stmt(c, SQL_GRANTED))) return BK_EDB;
      bind_hash(st, 1, &op->xet_hash);
      bk_sql_bind_int64(st, 2, bucket_id);
      r = bk_sql_step(st);
      bk_sql_reset(st);
      if (r == BK_SQL_DONE)
        return op_fail(op, BK_EPERM, "xetHash was not uploaded to this bucket");
      if (r != BK_SQL_ROW) return dbc_err(c, r, "grant lookup");
    }
  } else {
    if (op->src_bucket_id <= 0) return op_fail(op, BK_ENOTFOUND, "source not found");
    if (!(st = dbc_stmt(c, SQL_SRC_FILE))) return BK_EDB;
    bk_sql_bind_int64(st, 1, op->src_bucket_id);
    bind_hash(st, 2, &op->xet_hash);
    r = bk_sql_step(st);
    if (r == BK_SQL_ROW) {
      size = bk_sql_column_int64(st, 0);
      if (mtime < 0) mtime = bk_sql_column_int64(st, 1);
      if (!ctype && !bk_sql_column_is_null(st, 2)) {
        col_text(st, 2, ctbuf, sizeof ctbuf);
        ctype = ctbuf;
      }
    }
    bk_sql_reset(st);
    if (r == BK_SQL_DONE)
      return op_fail(op, BK_ENOTFOUND, "xetHash not found in the source bucket");
    if (r != BK_SQL_ROW) return dbc_err(c, r, "copy source lookup");
  }
  if (mtime < 0) mtime = now;
  int had = old_size(c, bucket_id, op->path, &prev);
  if (had < 0) return had;
  if (!(st = dbc_stmt(c, SQL_FILE_PUT))) return BK_EDB;
  bk_sql_bind_int64(st, 1, bucket_id);
  bk_sql_bind_text(st, 2, op->path, -1);
  bind_hash(st, 3, &op->xet_hash);
  bk_sql_bind_int64(st, 4, size);
  bk_sql_bind_int64(st, 5, mtime);
  bk_sql_bind_int64(st, 6, now);
  if (ctype) bk_sql_bind_text(st, 7, ctype, -1);
  int rc = dbc_step_done(c, st, "put file");
  if (rc == 0) rc = dacc_add(acc, op->path, had ? 0 : 1, size - prev);
  if (rc == 0) rc = db_file_xorb_refs(c, &op->xet_hash, bucket_id); /* dedup scopes */
  if (rc == 0 && op->type == BK_OP_COPY) {
    if (!(st = dbc_stmt(c, SQL_GRANT))) return BK_EDB;
    bind_hash(st, 1, &op->xet_hash);
    bk_sql_bind_int64(st, 2, bucket_id);
    rc = dbc_step_done(c, st, "grant");
  }
  return rc;
}

/* ---- batch on PostgreSQL: set-based ---- */

/* On PostgreSQL every statement is a network round trip (110-270 us on the
 * loopback), and apply_op runs 4-5 per addFile: a 1,000-op batch took
 * 445-1085 ms against 14-21 ms on SQLite. A batch made only of addFile ops
 * (what the CLI and the Xet clients send) is therefore applied there in
 * chunks of PGB_CHUNK ops with a fixed number of statements per chunk, the
 * ops passed as text[] array parameters and unnested on the server:
 *   1. the size of every distinct xetHash (files),
 *   2. with BK_BATCH_REQUIRE_GRANT: which of them this bucket may use,
 *   3. the current size of every distinct path (bucket_files),
 *   4. one INSERT .. ON CONFLICT of the last op per path,
 *   5. the xorb references of the hashes that were added.
 * Each op is checked in order exactly as apply_op checks it (same result
 * codes and messages); a path named twice ends as the last op wrote it and
 * the directory deltas follow every op in order, as the per-op path does.
 * Batches with another op type take the per-op path. */
enum { PGB_CHUNK = 1000 };
#define PGB_NONE UINT32_MAX

static const char SQL_PGB_SIZES[] =
    "SELECT u.i, f.size FROM unnest(?1::text[]) WITH ORDINALITY AS u(h, i) "
    "JOIN files f ON f.hash = decode(u.h, 'hex')";
static const char SQL_PGB_GRANTED[] =
    "SELECT u.i FROM unnest(?1::text[]) WITH ORDINALITY AS u(h, i) "
    "WHERE EXISTS(SELECT 1 FROM file_grants WHERE file_hash = decode(u.h, 'hex') AND bucket_id = ?2) "
    "OR EXISTS(SELECT 1 FROM bucket_files WHERE xet_hash = decode(u.h, 'hex') AND bucket_id = ?2)";
static const char SQL_PGB_OLD[] =
    "SELECT u.i, b.size FROM unnest(?2::text[]) WITH ORDINALITY AS u(p, i) "
    "JOIN bucket_files b ON b.bucket_id = ?1 AND b.path = u.p";
static const char SQL_PGB_PUT[] =
    "INSERT INTO bucket_files(bucket_id, path, xet_hash, size, mtime_ms, uploaded_ms, content_type) "
    "SELECT ?1, u.p, decode(u.h, 'hex'), u.s, u.m, ?2, u.c FROM unnest(?3::text[], ?4::text[], "
    "?5::int8[], ?6::int8[], ?7::text[]) AS u(p, h, s, m, c) "
    "ON CONFLICT(bucket_id, path) DO UPDATE SET xet_hash = excluded.xet_hash, "
    "size = excluded.size, mtime_ms = excluded.mtime_ms, uploaded_ms = excluded.uploaded_ms, "
    "content_type = excluded.content_type";
static const char SQL_PGB_REFS[] =
    "INSERT INTO xorb_refs(bucket_id, xorb_id, ns_id)"
    " SELECT DISTINCT b.id, t.xorb_id, b.ns_id FROM buckets b, files f"
    " JOIN file_terms t ON t.file_id = f.id WHERE b.id = ?2 AND f.hash IN"
    " (SELECT decode(h, 'hex') FROM unnest(?1::text[]) AS u(h))"
    " ON CONFLICT DO NOTHING";

struct pgb_key {
  const void *k; /* bk_hash * or path */
  uint32_t op;
};
/* One chunk: ops[0..n); per op its distinct hash and path index (PGB_NONE:
 * the op already failed its own checks); per distinct hash its size (-1:
 * unknown), grant and use; per distinct path its current size (-1: absent)
 * and the last op that wrote it. */
struct pgb {
  bk_batch_op *ops;
  uint32_t n, nh, np;
  uint32_t *hid, *pid, *hop, *pop, *plast;
  int64_t *hsize, *psize;
  uint8_t *hgrant, *hused;
};

static int cmp_hkey(const void *a, const void *b) {
  const struct pgb_key *x = a, *y = b;
  int c = memcmp(x->k, y->k, BK_HASH_LEN);
  return c ? c : (x->op > y->op) - (x->op < y->op);
}
static int cmp_pkey(const void *a, const void *b) {
  const struct pgb_key *x = a, *y = b;
  int c = strcmp(x->k, y->k);
  return c ? c : (x->op > y->op) - (x->op < y->op);
}

static void pgb_free(struct pgb *g) {
  free(g->hid);
  free(g->pid);
  free(g->hop);
  free(g->pop);
  free(g->plast);
  free(g->hsize);
  free(g->psize);
  free(g->hgrant);
  free(g->hused);
  memset(g, 0, sizeof *g);
}

/* Distinct keys of the ops still standing: id[op] = index of its key,
 * first[index] = the first op with it; *nd = how many. */
static int pgb_distinct(struct pgb *g, int paths, uint32_t *id, uint32_t *first, uint32_t *nd) {
  struct pgb_key *k = malloc((size_t)g->n * sizeof *k);
  if (!k) return bk_seterr(BK_ENOMEM, "out of memory");
  uint32_t m = 0;
  for (uint32_t i = 0; i < g->n; i++) {
    if (id[i] == PGB_NONE) continue;
    k[m].k = paths ? (const void *)g->ops[i].path : (const void *)g->ops[i].xet_hash.b;
    k[m++].op = i;
  }
  qsort(k, m, sizeof *k, paths ? cmp_pkey : cmp_hkey);
  uint32_t d = 0;
  for (uint32_t j = 0; j < m; j++) {
    int same = j > 0 && (paths ? strcmp(k[j].k, k[j - 1].k) == 0
                               : memcmp(k[j].k, k[j - 1].k, BK_HASH_LEN) == 0);
    if (!same) first[d++] = k[j].op;
    id[k[j].op] = d - 1;
  }
  free(k);
  *nd = d;
  return 0;
}

/* Validates each op alone (as apply_op does first) and indexes the rest. */
static int pgb_prepare(struct pgb *g, bk_batch_op *ops, uint32_t n) {
  size_t z = n ? n : 1;
  g->ops = ops;
  g->n = n;
  g->hid = malloc(z * sizeof *g->hid);
  g->pid = malloc(z * sizeof *g->pid);
  g->hop = malloc(z * sizeof *g->hop);
  g->pop = malloc(z * sizeof *g->pop);
  g->plast = malloc(z * sizeof *g->plast);
  g->hsize = malloc(z * sizeof *g->hsize);
  g->psize = malloc(z * sizeof *g->psize);
  g->hgrant = calloc(z, 1);
  g->hused = calloc(z, 1);
  if (!g->hid || !g->pid || !g->hop || !g->pop || !g->plast || !g->hsize || !g->psize ||
      !g->hgrant || !g->hused)
    return bk_seterr(BK_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    bk_batch_op *op = &ops[i];
    op->result = 0;
    op->error = NULL;
    g->hid[i] = g->pid[i] = 0;
    const char *bad = ctype_bad(op->content_type);
    if (!op->path || !bk_path_valid(op->path, strlen(op->path)))
      op_fail(op, BK_EINVAL, "invalid path");
    else if (bad)
      op_fail(op, BK_EINVAL, bad);
    else
      continue;
    g->hid[i] = g->pid[i] = PGB_NONE;
  }
  int rc = pgb_distinct(g, 0, g->hid, g->hop, &g->nh);
  if (rc == 0) rc = pgb_distinct(g, 1, g->pid, g->pop, &g->np);
  for (uint32_t j = 0; j < n; j++) {
    g->hsize[j] = g->psize[j] = -1;
    g->plast[j] = PGB_NONE;
  }
  return rc;
}

/* Appends one element of a PostgreSQL array literal: "s" with '"' and '\'
 * escaped, or NULL. */
static int arr_text_n(bk_buf *b, const char *s, size_t n) {
  int rc = bk_buf_append(b, b->len > 1 ? "," : "", b->len > 1 ? 1 : 0);
  if (rc || !s) return rc ? rc : bk_buf_append(b, "NULL", 4);
  if ((rc = bk_buf_append(b, "\"", 1))) return rc;
  size_t from = 0; /* runs without '"' or '\\' are appended whole */
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (s[i] != '"' && s[i] != '\\') continue;
    rc = bk_buf_append(b, s + from, i - from);
    if (rc == 0) rc = bk_buf_append(b, "\\", 1);
    from = i;
  }
  if (rc == 0) rc = bk_buf_append(b, s + from, n - from);
  return rc ? rc : bk_buf_append(b, "\"", 1);
}
static int arr_text(bk_buf *b, const char *s) { return arr_text_n(b, s, s ? strlen(s) : 0); }
static int arr_hash(bk_buf *b, const bk_hash *h) {
  static const char X[] = "0123456789abcdef";
  char s[BK_HASH_LEN * 2 + 1];
  for (int i = 0; i < BK_HASH_LEN; i++) {
    s[2 * i] = X[h->b[i] >> 4];
    s[2 * i + 1] = X[h->b[i] & 15];
  }
  s[BK_HASH_LEN * 2] = 0;
  return arr_text(b, s);
}
static int arr_int(bk_buf *b, int64_t v) {
  char s[24];
  int l = snprintf(s, sizeof s, "%s%lld", b->len > 1 ? "," : "", (long long)v);
  return bk_buf_append(b, s, (size_t)l);
}
static int arr_open(bk_buf *b) {
  bk_buf_reset(b);
  return bk_buf_append(b, "{", 1);
}
static int arr_bind(bk_sql_stmt *st, int i, bk_buf *b) {
  int rc = bk_buf_append(b, "}", 1);
  if (rc) return rc;
  if (b->len > INT32_MAX) return bk_seterr(BK_ELIMIT, "batch too large");
  return bk_sql_bind_text(st, i, (const char *)b->p, (int)b->len);
}

/* Index column 0 of a row as a 0-based index below n (the server's answer
 * is checked, never trusted). */
static int pgb_row_index(struct dbc *c, bk_sql_stmt *st, uint32_t n, uint32_t *out) {
  int64_t i = bk_sql_column_int64(st, 0);
  if (i < 1 || i > (int64_t)n) return dbc_err(c, BK_EDB, "batch: row index out of range");
  *out = (uint32_t)(i - 1);
  return 0;
}

/* Runs sql with the array in b as ?ai (and bucket_id as ?bi if bi > 0);
 * each row: column 0 = 1-based index into the array (< n), column 1 (when
 * vals) = an int64 stored at vals[index]; flags[index] = 1 when flags. */
static int pgb_query(struct dbc *c, const char *sql, int ai, int bi, int64_t bucket_id,
                     bk_buf *b, uint32_t n, int64_t *vals, uint8_t *flags) {
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  int rc = arr_bind(st, ai, b);
  if (rc == 0 && bi > 0) rc = bk_sql_bind_int64(st, bi, bucket_id);
  int r = BK_SQL_DONE;
  while (rc == 0 && (r = bk_sql_step(st)) == BK_SQL_ROW) {
    uint32_t i = 0;
    if ((rc = pgb_row_index(c, st, n, &i))) break;
    if (vals) vals[i] = bk_sql_column_int64(st, 1);
    if (flags) flags[i] = 1;
  }
  bk_sql_reset(st);
  if (rc == 0 && r != BK_SQL_DONE) rc = dbc_err(c, r, "batch lookup");
  return rc;
}

/* Statements 1-3: sizes of the hashes, grants, current sizes of the paths. */
static int pgb_lookup(struct dbc *c, struct pgb *g, int64_t bucket_id, unsigned flags, bk_buf *b) {
  int rc = arr_open(b);
  for (uint32_t j = 0; rc == 0 && j < g->nh; j++) rc = arr_hash(b, &g->ops[g->hop[j]].xet_hash);
  if (rc == 0 && g->nh)
    rc = pgb_query(c, SQL_PGB_SIZES, 1, 0, 0, b, g->nh, g->hsize, NULL);
  if (rc == 0 && g->nh && (flags & BK_BATCH_REQUIRE_GRANT)) {
    rc = arr_open(b);
    for (uint32_t j = 0; rc == 0 && j < g->nh; j++) rc = arr_hash(b, &g->ops[g->hop[j]].xet_hash);
    if (rc == 0) rc = pgb_query(c, SQL_PGB_GRANTED, 1, 2, bucket_id, b, g->nh, NULL, g->hgrant);
  }
  if (rc == 0) rc = arr_open(b);
  for (uint32_t j = 0; rc == 0 && j < g->np; j++) rc = arr_text(b, g->ops[g->pop[j]].path);
  if (rc == 0 && g->np)
    rc = pgb_query(c, SQL_PGB_OLD, 2, 1, bucket_id, b, g->np, g->psize, NULL);
  return rc;
}

/* The checks of apply_op that need the lookups, op by op in order, and the
 * directory deltas. Returns 0, or <0 (out of memory). */
static int pgb_apply(struct pgb *g, struct dacc *acc, unsigned flags, size_t *ok, size_t *failed) {
  for (uint32_t i = 0; i < g->n; i++) {
    bk_batch_op *op = &g->ops[i];
    if (g->hid[i] == PGB_NONE) {
      (*failed)++;
      continue;
    }
    int zero = bk_hash_is_zero(&op->xet_hash);
    int64_t size = g->hsize[g->hid[i]];
    int f = 0;
    if (size < 0 && !zero)
      f = op_fail(op, BK_ENOTFOUND, "unknown xetHash (upload the file through CAS first)");
    if (size < 0) size = 0; /* the empty file */
    if (!f && op->size >= 0 && op->size != size)
      f = op_fail(op, BK_ESIZE, "size does not match the uploaded file");
    if (!f && (flags & BK_BATCH_REQUIRE_GRANT) && !zero && !g->hgrant[g->hid[i]])
      f = op_fail(op, BK_EPERM, "xetHash was not uploaded to this bucket");
    if (f) {
      (*failed)++;
      continue;
    }
    uint32_t p = g->pid[i];
    int64_t prev = g->psize[p];
    int rc = dacc_add(acc, op->path, prev >= 0 ? 0 : 1, size - (prev >= 0 ? prev : 0));
    if (rc) return rc;
    g->psize[p] = size;
    g->plast[p] = i;
    g->hsize[g->hid[i]] = size;
    g->hused[g->hid[i]] = 1;
    (*ok)++;
  }
  return 0;
}

/* Statements 4-5: the last op of every path written, then the xorb
 * references (dedup scopes) of the hashes added. */
static int pgb_write(struct dbc *c, struct pgb *g, int64_t bucket_id, int64_t now, bk_buf *b) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_PGB_PUT);
  if (!st) return BK_EDB;
  int rc = bk_sql_bind_int64(st, 1, bucket_id);
  if (rc == 0) rc = bk_sql_bind_int64(st, 2, now);
  static const int col_of[5] = {3, 4, 5, 6, 7};
  int any = 0;
  for (int k = 0; rc == 0 && k < 5; k++) {
    rc = arr_open(b);
    for (uint32_t j = 0; rc == 0 && j < g->np; j++) {
      if (g->plast[j] == PGB_NONE) continue;
      bk_batch_op *op = &g->ops[g->plast[j]];
      any = 1;
      if (k == 0) rc = arr_text(b, op->path);
      else if (k == 1) rc = arr_hash(b, &op->xet_hash);
      else if (k == 2) rc = arr_int(b, g->psize[j]);
      else if (k == 3) rc = arr_int(b, op->mtime_ms < 0 ? now : op->mtime_ms);
      else rc = arr_text(b, op->content_type);
    }
    if (rc == 0) rc = arr_bind(st, col_of[k], b);
  }
  if (rc == 0 && any) rc = dbc_step_done(c, st, "put files");
  else bk_sql_reset(st);
  if (rc || !any) return rc;
  if (!(st = dbc_stmt(c, SQL_PGB_REFS))) return BK_EDB;
  rc = arr_open(b);
  for (uint32_t j = 0; rc == 0 && j < g->nh; j++)
    if (g->hused[j]) rc = arr_hash(b, &g->ops[g->hop[j]].xet_hash);
  if (rc == 0) rc = arr_bind(st, 1, b);
  if (rc == 0) rc = bk_sql_bind_int64(st, 2, bucket_id);
  if (rc == 0) return dbc_step_done(c, st, "xorb references");
  bk_sql_reset(st);
  return rc;
}

/* 1 when the batch takes the set-based path: PostgreSQL, addFile only. */
static int pgb_eligible(struct dbc *c, const bk_batch_op *ops, size_t n) {
  if (c->h->drv->dialect != BK_SQL_PG) return 0;
  for (size_t i = 0; i < n; i++)
    if (ops[i].type != BK_OP_ADD) return 0;
  return 1;
}

/* The ops of bk_db_batch on PostgreSQL in chunks; same contract as the
 * apply_op loop. */
static int pgb_run(struct dbc *c, struct dacc *acc, int64_t bucket_id, bk_batch_op *ops, size_t n,
                   unsigned flags, int64_t now, size_t *ok, size_t *failed) {
  bk_buf b;
  bk_buf_init(&b, (size_t)PGB_CHUNK * (2 * BK_PATH_MAX + 4) + 16);
  int rc = 0;
  for (size_t at = 0; rc == 0 && at < n; at += PGB_CHUNK) {
    uint32_t m = (uint32_t)(n - at < PGB_CHUNK ? n - at : PGB_CHUNK);
    struct pgb g = {0};
    rc = pgb_prepare(&g, ops + at, m);
    if (rc == 0) rc = pgb_lookup(c, &g, bucket_id, flags, &b);
    if (rc == 0) rc = pgb_apply(&g, acc, flags, ok, failed);
    if (rc == 0) rc = pgb_write(c, &g, bucket_id, now, &b);
    pgb_free(&g);
  }
  bk_buf_free(&b);
  return rc;
}

int bk_db_batch(bk_db *db, int64_t bucket_id, bk_batch_op *ops, size_t n,
                unsigned flags, size_t *nfailed) {
  if (nfailed) *nfailed = 0;
  if (n > BK_BATCH_MAX) return bk_seterr(BK_ELIMIT, "too many operations (max %d)", BK_BATCH_MAX);
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  if (rc == 0) {
    int e = exists_q(c, SQL_BUCKET_BY_ID, bucket_id, NULL);
    if (e < 0) rc = e;
    else if (!e) rc = bk_seterr(BK_ENOTFOUND, "bucket not found");
  }
  int64_t now = db_now_ms();
  size_t failed = 0, ok = 0;
  struct dacc acc = {0};
  if (rc == 0 && pgb_eligible(c, ops, n))
    rc = pgb_run(c, &acc, bucket_id, ops, n, flags, now, &ok, &failed);
  else
    for (size_t i = 0; rc == 0 && i < n; i++) {
      int r = apply_op(c, &acc, bucket_id, &ops[i], flags, now);
      if (r < 0) rc = r;
      else if (r > 0) failed++;
      else ok++;
    }
  if (rc == 0) rc = dacc_flush(c, &acc, bucket_id, now);
  dacc_free(&acc);
  if (rc == 0 && ok > 0) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_BUCKET_TOUCH);
    if (!st) rc = BK_EDB;
    else {
      bk_sql_bind_int64(st, 1, bucket_id);
      bk_sql_bind_int64(st, 2, now);
      rc = dbc_step_done(c, st, "touch bucket");
    }
  }
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  usage_invalidate(db, bucket_id);
  if (rc == 0 && nfailed) *nfailed = failed;
  return rc;
}

/* ---- accounting ---- */

static const char SQL_USAGE_FILES_B[] =
    "SELECT count(*), coalesce(sum(size), 0) FROM bucket_files WHERE bucket_id = ?1";
static const char SQL_USAGE_FILES_NS[] =
    "SELECT count(*), coalesce(sum(f.size), 0) FROM bucket_files f "
    "JOIN buckets b ON b.id = f.bucket_id WHERE b.ns_id = ?1";
static const char SQL_USAGE_CHUNKS_B[] =
    "WITH h AS (SELECT DISTINCT xet_hash FROM bucket_files WHERE bucket_id = ?1),"
    " ch AS (SELECT DISTINCT k.xorb_id, k.idx, k.record_len FROM h"
    "  JOIN files f ON f.hash = h.xet_hash"
    "  JOIN file_terms t ON t.file_id = f.id"
    "  JOIN xorb_chunks k ON k.xorb_id = t.xorb_id AND k.idx >= t.chunk_start"
    "   AND k.idx < t.chunk_end)"
    " SELECT count(*), coalesce(sum(record_len), 0) FROM ch";
static const char SQL_USAGE_CHUNKS_NS[] =
    "WITH h AS (SELECT DISTINCT f.xet_hash FROM bucket_files f"
    "  JOIN buckets b ON b.id = f.bucket_id WHERE b.ns_id = ?1),"
    " ch AS (SELECT DISTINCT k.xorb_id, k.idx, k.record_len FROM h"
    "  JOIN files f ON f.hash = h.xet_hash"
    "  JOIN file_terms t ON t.file_id = f.id"
    "  JOIN xorb_chunks k ON k.xorb_id = t.xorb_id AND k.idx >= t.chunk_start"
    "   AND k.idx < t.chunk_end)"
    " SELECT count(*), coalesce(sum(record_len), 0) FROM ch";

static const char SQL_UKEY_B[] = "SELECT updated_ms, 0 FROM buckets WHERE id = ?1";
static const char SQL_UKEY_NS[] =
    "SELECT count(*), coalesce(sum(updated_ms), 0) FROM buckets WHERE ns_id = ?1";

/* Drops cached usage after a write through this handle (the bucket's entry
 * and every namespace entry). */
static void usage_invalidate(bk_db *db, int64_t bucket_id) {
  pthread_mutex_lock(&db->umu);
  db->ub[(uint64_t)bucket_id % USAGE_SLOTS].used = 0;
  for (int i = 0; i < USAGE_SLOTS; i++) db->un[i].used = 0;
  pthread_mutex_unlock(&db->umu);
}

static int usage(bk_db *db, int is_ns, int64_t id, bk_usage *out) {
  const char *q1 = is_ns ? SQL_USAGE_FILES_NS : SQL_USAGE_FILES_B;
  const char *q2 = is_ns ? SQL_USAGE_CHUNKS_NS : SQL_USAGE_CHUNKS_B;
  struct usage_slot *slot = &(is_ns ? db->un : db->ub)[(uint64_t)id % USAGE_SLOTS];
  memset(out, 0, sizeof *out);
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin_mode(c, BK_TX_READ); /* key and values from one snapshot */
  int64_t k1 = 0, k2 = 0;
  int hit = 0;
  if (rc == 0) {
    bk_sql_stmt *st = dbc_stmt(c, is_ns ? SQL_UKEY_NS : SQL_UKEY_B);
    if (!st) rc = BK_EDB;
    else {
      bk_sql_bind_int64(st, 1, id);
      int r = bk_sql_step(st);
      if (r == BK_SQL_ROW) {
        k1 = bk_sql_column_int64(st, 0);
        k2 = bk_sql_column_int64(st, 1);
      } else if (r != BK_SQL_DONE) {
        rc = dbc_err(c, r, "usage key");
      }
      bk_sql_reset(st);
    }
  }
  if (rc == 0) {
    pthread_mutex_lock(&db->umu);
    if (slot->used && slot->id == id && slot->k1 == k1 && slot->k2 == k2) {
      *out = slot->u;
      hit = 1;
    }
    pthread_mutex_unlock(&db->umu);
  }
  const char *qs[2] = {q1, q2};
  for (int i = 0; rc == 0 && !hit && i < 2; i++) {
    bk_sql_stmt *st = dbc_stmt(c, qs[i]);
    if (!st) { rc = BK_EDB; break; }
    bk_sql_bind_int64(st, 1, id);
    int r = bk_sql_step(st);
    if (r == BK_SQL_ROW) {
      uint64_t a = (uint64_t)bk_sql_column_int64(st, 0);
      uint64_t b = (uint64_t)bk_sql_column_int64(st, 1);
      if (i == 0) { out->nfiles = a; out->logical_bytes = b; }
      else { out->nchunks = a; out->stored_bytes = b; }
    } else {
      rc = dbc_err(c, r, "usage");
    }
    bk_sql_reset(st);
  }
  if (bk_sql_in_tx(c->h)) (void)bk_sql_commit(c->h); /* read only: nothing to lose */
  dbc_release(db, c);
  if (rc == 0 && !hit) {
    pthread_mutex_lock(&db->umu);
    *slot = (struct usage_slot){1, id, k1, k2, *out};
    pthread_mutex_unlock(&db->umu);
  }
  return rc;
}

int bk_db_bucket_usage(bk_db *db, int64_t bucket_id, bk_usage *out) {
  return usage(db, 0, bucket_id, out);
}

int bk_db_ns_usage(bk_db *db, int64_t ns_id, bk_usage *out) {
  return usage(db, 1, ns_id, out);
}
