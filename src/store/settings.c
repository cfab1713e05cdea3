/* buckets — shared node state in the metadata database: settings, web
 * sessions, shared rate-limit windows (see store/settings.h).
 * Domain SQL over the driver seam (store/sql.h); the tables are created by
 * schema v7 (schema.c). */
#include "store/settings.h"

#include "buckets/error.h"
#include "store/db_internal.h"

/* ---- settings ---- */

static int key_ok(const char *key) {
  size_t n = key ? strlen(key) : 0;
  return n > 0 && n <= BK_SETTING_KEY_MAX;
}

static const char SQL_SETTING_GET[] = "SELECT value FROM settings WHERE key = ?1";
static const char SQL_SETTING_ADD[] =
    "INSERT INTO settings(key, value, created_ms) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(key) DO NOTHING";

struct val_out {
  void *p;
  size_t cap, len;
  int too_long;
};

static void val_row(bk_sql_stmt *st, void *ctx) {
  struct val_out *o = ctx;
  const void *p = bk_sql_column_blob(st, 0);
  size_t n = bk_sql_column_bytes(st, 0);
  o->len = n;
  if (n > o->cap) {
    o->too_long = 1;
    return;
  }
  if (n) memcpy(o->p, p, n);
}

static int setting_read(struct dbc *c, const char *key, void *val, size_t cap, size_t *len) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_SETTING_GET);
  if (!st) return BK_EDB;
  bk_sql_bind_text(st, 1, key, -1);
  struct val_out o = {val, cap, 0, 0};
  int rc = dbc_one_row(c, st, val_row, &o, "no such setting", "setting get");
  if (rc) return rc;
  if (o.too_long)
    return bk_seterr(BK_EFORMAT, "setting %s: stored value of %zu bytes exceeds %zu", key, o.len,
                     cap);
  *len = o.len;
  return 0;
}

int bk_db_setting_get(bk_db *db, const char *key, void *val, size_t cap, size_t *len) {
  if (!key_ok(key)) return bk_seterr(BK_EINVAL, "bad setting key");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = setting_read(c, key, val, cap, len);
  dbc_release(db, c);
  return rc;
}

int bk_db_setting_add_once(bk_db *db, const char *key, const void *val, size_t len, void *out,
                           size_t cap, size_t *outlen) {
  if (!key_ok(key)) return bk_seterr(BK_EINVAL, "bad setting key");
  if (len == 0 || len > BK_SETTING_VALUE_MAX)
    return bk_seterr(BK_EINVAL, "setting %s: value of %zu bytes (1..%d)", key, len,
                     BK_SETTING_VALUE_MAX);
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SETTING_ADD, &c, &st);
  if (rc) return rc;
  bk_sql_bind_text(st, 1, key, -1);
  bk_sql_bind_blob(st, 2, val, len);
  bk_sql_bind_int64(st, 3, db_now_ms());
  rc = dbc_step_done(c, st, "setting add");
  if (!rc) rc = setting_read(c, key, out, cap, outlen);
  dbc_release(db, c);
  return rc;
}

/* ---- web sessions ---- */

static const char SQL_SESS_EXPIRE[] =
    "DELETE FROM web_sessions WHERE last_ms <= ?1 OR created_ms <= ?2";
static const char SQL_SESS_ADD[] =
    "INSERT INTO web_sessions(id_hash, user_id, token_id, role, created_ms, last_ms)"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?5 WHERE EXISTS"
    " (SELECT 1 FROM tokens WHERE id = ?3 AND user_id = ?2)"
    " ON CONFLICT(id_hash) DO NOTHING";
static const char SQL_SESS_HAS[] = "SELECT 1 FROM web_sessions WHERE id_hash = ?1";
/* keep the user's max_per_user most recently used (ties: the newest row) */
static const char SQL_SESS_CAP_USER[] =
    "DELETE FROM web_sessions WHERE id IN (SELECT id FROM web_sessions WHERE user_id = ?1"
    " ORDER BY last_ms DESC, id DESC LIMIT 9223372036854775807 OFFSET ?2)";
static const char SQL_SESS_CAP_ALL[] =
    "DELETE FROM web_sessions WHERE id IN (SELECT id FROM web_sessions"
    " ORDER BY last_ms DESC, id DESC LIMIT 9223372036854775807 OFFSET ?1)";
static const char SQL_SESS_GET[] =
    "SELECT s.id, s.user_id, s.token_id, s.role, n.name, s.created_ms, s.last_ms,"
    " coalesce(t.revoked, 1)"
    " FROM web_sessions s JOIN namespaces n ON n.id = s.user_id"
    " LEFT JOIN tokens t ON t.id = s.token_id WHERE s.id_hash = ?1";
static const char SQL_SESS_TOUCH[] =
    "UPDATE web_sessions SET last_ms = ?2 WHERE id = ?1 AND last_ms < ?2";
static const char SQL_SESS_DEL_ID[] = "DELETE FROM web_sessions WHERE id = ?1";
static const char SQL_SESS_DEL[] = "DELETE FROM web_sessions WHERE id_hash = ?1";
static const char SQL_SESS_COUNT[] =
    "SELECT count(*) FROM web_sessions WHERE ?1 <= 0 OR user_id = ?1";

static int sess_exec2(struct dbc *c, const char *sql, int64_t a, int64_t b, const char *what) {
  bk_sql_stmt *st = dbc_stmt(c, sql);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, a);
  bk_sql_bind_int64(st, 2, b);
  return dbc_step_done(c, st, what);
}

static int sess_insert(struct dbc *c, const bk_hash *idhash, int64_t user_id, int64_t token_id,
                       int role, int64_t now_ms) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_SESS_ADD);
  if (!st) return BK_EDB;
  bind_hash(st, 1, idhash);
  bk_sql_bind_int64(st, 2, user_id);
  bk_sql_bind_int64(st, 3, token_id);
  bk_sql_bind_int64(st, 4, role);
  bk_sql_bind_int64(st, 5, now_ms);
  int r = dbc_step_done(c, st, "session add");
  if (r) return r;
  if (bk_sql_changes(c->h) != 0) return 0;
  /* nothing inserted: the id is taken (inside this write transaction), or
   * the user or token does not exist */
  st = dbc_stmt(c, SQL_SESS_HAS);
  if (!st) return BK_EDB;
  bind_hash(st, 1, idhash);
  r = dbc_one_row(c, st, NULL, NULL, "no such session", "session add");
  if (r == 0) return bk_seterr(BK_EEXIST, "session id already in use");
  if (r != BK_ENOTFOUND) return r;
  return bk_seterr(BK_ENOTFOUND, "no such user or token");
}

int bk_db_session_add(bk_db *db, const bk_hash *idhash, int64_t user_id, int64_t token_id,
                      int role, int64_t now_ms, const bk_session_limits *lim) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  if (!rc)
    rc = sess_exec2(c, SQL_SESS_EXPIRE, now_ms - lim->idle_ms, now_ms - lim->ttl_ms,
                    "session expire");
  if (!rc) rc = sess_insert(c, idhash, user_id, token_id, role, now_ms);
  if (!rc)
    rc = sess_exec2(c, SQL_SESS_CAP_USER, user_id, (int64_t)lim->max_per_user, "session cap");
  if (!rc) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_SESS_CAP_ALL);
    rc = st ? 0 : BK_EDB;
    if (st) bk_sql_bind_int64(st, 1, (int64_t)lim->max_total);
    if (st) rc = dbc_step_done(c, st, "session cap");
  }
  if (!rc) rc = dbc_commit(c);
  if (rc) dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

struct sess_row {
  int64_t id;
  int revoked;
  bk_session *s;
};

static void sess_row(bk_sql_stmt *st, void *ctx) {
  struct sess_row *r = ctx;
  r->id = bk_sql_column_int64(st, 0);
  r->s->user_id = bk_sql_column_int64(st, 1);
  r->s->token_id = bk_sql_column_int64(st, 2);
  r->s->role = bk_sql_column_int(st, 3);
  col_text(st, 4, r->s->name, sizeof r->s->name);
  r->s->created_ms = bk_sql_column_int64(st, 5);
  r->s->last_ms = bk_sql_column_int64(st, 6);
  r->revoked = bk_sql_column_int(st, 7);
}

static int sess_ended(const struct sess_row *r, int64_t now_ms, const bk_session_limits *lim) {
  return r->revoked || now_ms - r->s->last_ms > lim->idle_ms ||
         now_ms - r->s->created_ms > lim->ttl_ms;
}

/* Deletes an ended session's row, or records its use; then says NOTFOUND
 * or 0. Both writes are best effort: the answer comes from the row read, so
 * a failed write (a full disk, a busy database) never signs anyone out nor
 * keeps an ended session alive. */
static int sess_settle(struct dbc *c, struct sess_row *r, int64_t now_ms,
                       const bk_session_limits *lim) {
  if (sess_ended(r, now_ms, lim)) {
    bk_sql_stmt *st = dbc_stmt(c, SQL_SESS_DEL_ID);
    if (st) bk_sql_bind_int64(st, 1, r->id);
    if (st) dbc_step_done(c, st, "session end");
    return bk_seterr(BK_ENOTFOUND, "session ended");
  }
  if (now_ms - r->s->last_ms < lim->touch_ms) return 0;
  if (sess_exec2(c, SQL_SESS_TOUCH, r->id, now_ms, "session touch") == 0) r->s->last_ms = now_ms;
  return 0;
}

int bk_db_session_get(bk_db *db, const bk_hash *idhash, int64_t now_ms,
                      const bk_session_limits *lim, bk_session *out) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SESS_GET, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, idhash);
  bk_session s;
  memset(&s, 0, sizeof s);
  struct sess_row r = {0, 0, &s};
  rc = dbc_one_row(c, st, sess_row, &r, "no such session", "session get");
  if (!rc) rc = sess_settle(c, &r, now_ms, lim);
  dbc_release(db, c);
  if (!rc) *out = s;
  return rc;
}

int bk_db_session_del(bk_db *db, const bk_hash *idhash) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SESS_DEL, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, idhash);
  rc = dbc_step_done(c, st, "session delete");
  dbc_release(db, c);
  return rc;
}

static void count_row(bk_sql_stmt *st, void *ctx) { *(int64_t *)ctx = bk_sql_column_int64(st, 0); }

int bk_db_session_count(bk_db *db, int64_t user_id, int64_t *n) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_SESS_COUNT, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, user_id);
  rc = dbc_one_row(c, st, count_row, n, "no count", "session count");
  dbc_release(db, c);
  return rc;
}

/* ---- shared rate-limit windows ---- */

/* The count is raised only below the quota; no row back = over quota. */
static const char SQL_RATE_TAKE[] =
    "INSERT INTO rate_windows(window_start, caller, count) VALUES(?1, ?2, 1)"
    " ON CONFLICT(window_start, caller) DO UPDATE SET count = rate_windows.count + 1"
    " WHERE rate_windows.count < ?3"
    " RETURNING count";
static const char SQL_RATE_PRUNE[] = "DELETE FROM rate_windows WHERE window_start < ?1";

int bk_db_rate_take(bk_db *db, int64_t caller, int64_t window_start, unsigned quota, int *allowed,
                    unsigned *count) {
  if (quota == 0) return bk_seterr(BK_EINVAL, "rate take: quota 0");
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_RATE_TAKE, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, window_start);
  bk_sql_bind_int64(st, 2, caller);
  bk_sql_bind_int64(st, 3, (int64_t)quota);
  int r = bk_sql_step(st);
  int64_t n = r == BK_SQL_ROW ? bk_sql_column_int64(st, 0) : (int64_t)quota;
  int ok = r == BK_SQL_ROW;
  while (r == BK_SQL_ROW) r = bk_sql_step(st); /* to DONE: the autocommit write completes */
  bk_sql_reset(st);
  if (r != BK_SQL_DONE) rc = dbc_err(c, r, "rate take");
  dbc_release(db, c);
  if (rc) return rc;
  *allowed = ok;
  *count = n < 0 ? 0 : n > (int64_t)quota ? quota : (unsigned)n;
  return 0;
}

int bk_db_rate_prune(bk_db *db, int64_t before) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_RATE_PRUNE, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, before);
  rc = dbc_step_done(c, st, "rate prune");
  dbc_release(db, c);
  return rc;
}
