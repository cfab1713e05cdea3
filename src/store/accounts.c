/* buckets — namespaces, org membership, tokens, permissions
 * (see store/accounts.h). */
#include "store/accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/hash.h"
#include "store/db_internal.h"

static const char *const RESERVED[] = {
    "me", "api", "buckets", "static", "login", "logout", "settings",
    "new", "new-bucket", "v1", "v2", "admin", "organizations", "resolve",
};

const char *bk_role_name(int role) {
  switch (role) {
  case BK_ROLE_READ: return "read";
  case BK_ROLE_WRITE: return "write";
  case BK_ROLE_ADMIN: return "admin";
  default: return "none";
  }
}

int bk_role_parse(const char *s, int *role) {
  if (!s) return bk_seterr(BK_EINVAL, "missing role");
  if (!strcmp(s, "read")) *role = BK_ROLE_READ;
  else if (!strcmp(s, "write")) *role = BK_ROLE_WRITE;
  else if (!strcmp(s, "admin")) *role = BK_ROLE_ADMIN;
  else return bk_seterr(BK_EINVAL, "unknown role '%s' (read, write or admin)", s);
  return 0;
}

static int ns_name_check(const char *name) {
  if (!bk_name_valid(name))
    return bk_seterr(BK_EINVAL,
                     "invalid name (letters, digits, '.', '_', '-'; starts with a "
                     "letter or digit; at most %d chars; no '--' or '..')",
                     BK_NAME_MAX);
  for (size_t i = 0; i < sizeof RESERVED / sizeof RESERVED[0]; i++)
    if (!strcasecmp(name, RESERVED[i]))
      return bk_seterr(BK_EINVAL, "'%s' is a reserved name", name);
  return 0;
}

static void row_ns(bk_sql_stmt *st, bk_ns *out) {
  out->id = bk_sql_column_int64(st, 0);
  out->kind = bk_sql_column_int(st, 1);
  col_text(st, 2, out->name, sizeof out->name);
  out->created_ms = bk_sql_column_int64(st, 3);
}

static const char SQL_NS_INSERT[] =
    "INSERT INTO namespaces(name, kind, created_ms) VALUES(?1, ?2, ?3)";
static const char SQL_NS_BY_NAME[] =
    "SELECT id, kind, name, created_ms FROM namespaces WHERE name = ?1 COLLATE NOCASE "
    "ORDER BY name = ?1 DESC LIMIT 1";
/* PostgreSQL: lower() of the "C" column folds ASCII only, as NOCASE (the
 * unique index is on lower(name)); the parameter is lowered as "C" too */
static const char SQL_NS_BY_NAME_PG[] =
    "SELECT id, kind, name, created_ms FROM namespaces WHERE lower(name) = lower(?1 COLLATE \"C\") "
    "ORDER BY CASE WHEN name = ?1 THEN 0 ELSE 1 END LIMIT 1";
static const char SQL_NS_BY_ID[] =
    "SELECT id, kind, name, created_ms FROM namespaces WHERE id = ?1";
static const char SQL_MEMBER_SET[] =
    "INSERT INTO org_members(org_id, user_id, role) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(org_id, user_id) DO UPDATE SET role = excluded.role";
static const char SQL_MEMBER_DEL[] =
    "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2";
static const char SQL_MEMBER_ROLE[] =
    "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2";

static int ns_get_c(struct dbc *c, const char *name, int64_t id, bk_ns *out) {
  const char *by_name = c->h->drv->dialect == BK_SQL_PG ? SQL_NS_BY_NAME_PG : SQL_NS_BY_NAME;
  bk_sql_stmt *st = dbc_stmt(c, name ? by_name : SQL_NS_BY_ID);
  if (!st) return BK_EDB;
  if (name) bk_sql_bind_text(st, 1, name, -1);
  else bk_sql_bind_int64(st, 1, id);
  int rc = bk_sql_step(st);
  if (rc == BK_SQL_ROW) {
    row_ns(st, out);
    bk_sql_reset(st);
    return 0;
  }
  bk_sql_reset(st);
  if (rc == BK_SQL_DONE)
    return name ? bk_seterr(BK_ENOTFOUND, "no such user or organization '%s'", name)
                : bk_seterr(BK_ENOTFOUND, "no such namespace id %lld", (long long)id);
  return dbc_err(c, rc, "namespace lookup");
}

int bk_db_ns_get(bk_db *db, const char *name, bk_ns *out) {
  if (!name) return bk_seterr(BK_EINVAL, "missing name");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = ns_get_c(c, name, 0, out);
  dbc_release(db, c);
  return rc;
}

int bk_db_ns_get_by_id(bk_db *db, int64_t id, bk_ns *out) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = ns_get_c(c, NULL, id, out);
  dbc_release(db, c);
  return rc;
}

/* Inserts a namespace inside an open transaction. */
static int ns_insert(struct dbc *c, const char *name, int kind, bk_ns *out) {
  bk_ns tmp;
  int rc = ns_get_c(c, name, 0, &tmp);
  if (rc == 0) return bk_seterr(BK_EEXIST, "name '%s' is already taken", name);
  if (rc != BK_ENOTFOUND) return rc;
  bk_sql_stmt *st = dbc_stmt(c, SQL_NS_INSERT);
  if (!st) return BK_EDB;
  int64_t now = db_now_ms();
  bk_sql_bind_text(st, 1, name, -1);
  bk_sql_bind_int64(st, 2, kind);
  bk_sql_bind_int64(st, 3, now);
  rc = dbc_step_done(c, st, "insert namespace");
  if (rc) return rc;
  out->id = bk_sql_last_id(c->h);
  out->kind = kind;
  snprintf(out->name, sizeof out->name, "%s", name);
  out->created_ms = now;
  return 0;
}

int bk_db_user_add(bk_db *db, const char *name, bk_ns *out) {
  int rc = ns_name_check(name);
  if (rc) return rc;
  struct dbc *c;
  if ((rc = dbc_acquire(db, &c))) return rc;
  bk_ns ns;
  rc = dbc_begin(c);
  if (rc == 0) rc = ns_insert(c, name, BK_NS_USER, &ns);
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  if (rc == 0 && out) *out = ns;
  return rc;
}

static int member_set_c(struct dbc *c, int64_t org_id, int64_t user_id, int role) {
  bk_ns org, user;
  int rc = ns_get_c(c, NULL, org_id, &org);
  if (rc) return rc;
  if (org.kind != BK_NS_ORG) return bk_seterr(BK_EINVAL, "'%s' is not an organization", org.name);
  rc = ns_get_c(c, NULL, user_id, &user);
  if (rc) return rc;
  if (user.kind != BK_NS_USER) return bk_seterr(BK_EINVAL, "'%s' is not a user", user.name);
  bk_sql_stmt *st;
  if (role == BK_ROLE_NONE) {
    if (!(st = dbc_stmt(c, SQL_MEMBER_DEL))) return BK_EDB;
    bk_sql_bind_int64(st, 1, org_id);
    bk_sql_bind_int64(st, 2, user_id);
    return dbc_step_done(c, st, "remove member");
  }
  if (!(st = dbc_stmt(c, SQL_MEMBER_SET))) return BK_EDB;
  bk_sql_bind_int64(st, 1, org_id);
  bk_sql_bind_int64(st, 2, user_id);
  bk_sql_bind_int64(st, 3, role);
  return dbc_step_done(c, st, "set member");
}

int bk_db_org_add(bk_db *db, const char *name, int64_t owner_user_id, bk_ns *out) {
  int rc = ns_name_check(name);
  if (rc) return rc;
  struct dbc *c;
  if ((rc = dbc_acquire(db, &c))) return rc;
  bk_ns ns, owner;
  rc = dbc_begin(c);
  if (rc == 0) rc = ns_get_c(c, NULL, owner_user_id, &owner);
  if (rc == 0 && owner.kind != BK_NS_USER)
    rc = bk_seterr(BK_EINVAL, "owner '%s' is not a user", owner.name);
  if (rc == 0) rc = ns_insert(c, name, BK_NS_ORG, &ns);
  if (rc == 0) rc = member_set_c(c, ns.id, owner_user_id, BK_ROLE_ADMIN);
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  if (rc == 0 && out) *out = ns;
  return rc;
}

int bk_db_org_member_set(bk_db *db, int64_t org_id, int64_t user_id, int role) {
  if (role < BK_ROLE_NONE || role > BK_ROLE_ADMIN) return bk_seterr(BK_EINVAL, "bad role");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = dbc_begin(c);
  if (rc == 0) rc = member_set_c(c, org_id, user_id, role);
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  return rc;
}

static int member_role_c(struct dbc *c, int64_t org_id, int64_t user_id, int *role) {
  bk_sql_stmt *st = dbc_stmt(c, SQL_MEMBER_ROLE);
  if (!st) return BK_EDB;
  bk_sql_bind_int64(st, 1, org_id);
  bk_sql_bind_int64(st, 2, user_id);
  int rc = bk_sql_step(st);
  *role = rc == BK_SQL_ROW ? bk_sql_column_int(st, 0) : BK_ROLE_NONE;
  bk_sql_reset(st);
  if (rc != BK_SQL_ROW && rc != BK_SQL_DONE) return dbc_err(c, rc, "member role");
  return 0;
}

int bk_db_org_member_role(bk_db *db, int64_t org_id, int64_t user_id, int *role) {
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  rc = member_role_c(c, org_id, user_id, role);
  dbc_release(db, c);
  return rc;
}

/* First page: no LIMIT (ORDER BY ... LIMIT makes SQLite open a temporary
 * b-tree per call, +2 us on every whoami); read stops after DB_PAGE rows.
 * Later pages (rare: > DB_PAGE members) continue after the last name. */
static const char SQL_USER_ORGS[] =
    "SELECT n.id, n.kind, n.name, n.created_ms, m.role FROM org_members m "
    "JOIN namespaces n ON n.id = m.org_id WHERE m.user_id = ?1 ORDER BY n.name";
static const char SQL_USER_ORGS_AFTER[] =
    "SELECT n.id, n.kind, n.name, n.created_ms, m.role FROM org_members m "
    "JOIN namespaces n ON n.id = m.org_id WHERE m.user_id = ?1 AND n.name > ?2 ORDER BY n.name";
static const char SQL_ORG_MEMBERS[] =
    "SELECT n.id, n.kind, n.name, n.created_ms, m.role FROM org_members m "
    "JOIN namespaces n ON n.id = m.user_id WHERE m.org_id = ?1 ORDER BY n.name";
static const char SQL_ORG_MEMBERS_AFTER[] =
    "SELECT n.id, n.kind, n.name, n.created_ms, m.role FROM org_members m "
    "JOIN namespaces n ON n.id = m.user_id WHERE m.org_id = ?1 AND n.name > ?2 ORDER BY n.name";

/* Member listings are read in pages of at most DB_PAGE rows (see above); the
 * connection is given back before cb runs. */
struct member_el {
  bk_ns ns;
  int role;
};

struct member_pager {
  int64_t id;
  char after[BK_NAME_MAX + 1];
};

static void bind_member_page(bk_sql_stmt *st, const void *arg) {
  const struct member_pager *p = arg;
  bk_sql_bind_int64(st, 1, p->id);
  if (p->after[0]) bk_sql_bind_text(st, 2, p->after, -1);
}

static void member_conv(bk_sql_stmt *st, void *dst) {
  struct member_el *e = dst;
  row_ns(st, &e->ns);
  e->role = bk_sql_column_int(st, 4);
}

static int list_members(bk_db *db, const char *sql, const char *sql_after, int64_t id,
                        int (*cb)(void *, const bk_ns *, int), void *ctx) {
  struct db_page pg = {NULL, 0, 0, sizeof(struct member_el)};
  struct member_pager p = {id, ""};
  int rc = 0;
  for (;;) {
    rc = db_page_read(db, p.after[0] ? sql_after : sql, bind_member_page, &p, member_conv,
                      DB_PAGE, &pg, "list members");
    for (size_t i = 0; rc == 0 && i < pg.n; i++) {
      struct member_el *e = db_page_at(&pg, i);
      rc = cb(ctx, &e->ns, e->role);
    }
    if (rc || pg.n < DB_PAGE) break;
    memcpy(p.after, ((struct member_el *)db_page_at(&pg, pg.n - 1))->ns.name, sizeof p.after);
  }
  db_page_free(&pg);
  return rc;
}

int bk_db_user_orgs(bk_db *db, int64_t user_id, bk_org_cb cb, void *ctx) {
  return list_members(db, SQL_USER_ORGS, SQL_USER_ORGS_AFTER, user_id, cb, ctx);
}

int bk_db_org_members(bk_db *db, int64_t org_id, bk_member_cb cb, void *ctx) {
  return list_members(db, SQL_ORG_MEMBERS, SQL_ORG_MEMBERS_AFTER, org_id, cb, ctx);
}

/* ---- tokens ---- */

static const char ALNUM[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static int token_generate(char token[BK_TOKEN_LEN + 1]) {
  memcpy(token, "hf_", 3);
  size_t have = 3;
  uint8_t rnd[64];
  while (have < BK_TOKEN_LEN) {
    int rc = bk_random_bytes(rnd, sizeof rnd);
    if (rc) return rc;
    for (size_t i = 0; i < sizeof rnd && have < BK_TOKEN_LEN; i++)
      if (rnd[i] < 248) token[have++] = ALNUM[rnd[i] % 62]; /* 248 = 4*62: unbiased */
  }
  token[BK_TOKEN_LEN] = 0;
  return 0;
}

static void token_digest(const char *token, size_t len, uint8_t out[32]) {
  /* domain-separated BLAKE3 of the token */
  uint8_t buf[16 + 256];
  memcpy(buf, "bucketd-token-v1", 16);
  memcpy(buf + 16, token, len);
  bk_blake3(buf, 16 + len, out);
}

static int is_alnum_c(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int token_format_ok(const char *t, size_t len) {
  if (len != BK_TOKEN_LEN || memcmp(t, "hf_", 3) != 0) return 0;
  for (size_t i = 3; i < len; i++)
    if (!is_alnum_c((unsigned char)t[i])) return 0;
  return 1;
}

static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO tokens(user_id, role, token_hash, created_ms) VALUES(?1, ?2, ?3, ?4)";
static const char SQL_TOKEN_LOOKUP[] =
    "SELECT t.id, t.user_id, n.name, t.role, t.created_ms, t.revoked, t.token_hash "
    "FROM tokens t JOIN namespaces n ON n.id = t.user_id WHERE t.token_hash = ?1";
static const char SQL_TOKEN_LIST[] =
    "SELECT t.id, t.user_id, n.name, t.role, t.created_ms, t.revoked "
    "FROM tokens t JOIN namespaces n ON n.id = t.user_id WHERE t.user_id = ?1 AND t.id > ?2 "
    "ORDER BY t.id LIMIT ?3";
static const char SQL_TOKEN_REVOKE[] = "UPDATE tokens SET revoked = 1 WHERE id = ?1";

int bk_db_token_add(bk_db *db, int64_t user_id, int role,
                    char token[BK_TOKEN_LEN + 1], int64_t *id) {
  if (role != BK_ROLE_READ && role != BK_ROLE_WRITE)
    return bk_seterr(BK_EINVAL, "token role must be read or write");
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc) return rc;
  bk_ns user;
  rc = dbc_begin(c);
  if (rc == 0) rc = ns_get_c(c, NULL, user_id, &user);
  if (rc == 0 && user.kind != BK_NS_USER)
    rc = bk_seterr(BK_EINVAL, "'%s' is not a user", user.name);
  if (rc == 0) rc = token_generate(token);
  if (rc == 0) {
    uint8_t dg[32];
    token_digest(token, BK_TOKEN_LEN, dg);
    bk_sql_stmt *st = dbc_stmt(c, SQL_TOKEN_INSERT);
    if (!st) rc = BK_EDB;
    else {
      bk_sql_bind_int64(st, 1, user_id);
      bk_sql_bind_int64(st, 2, role);
      bk_sql_bind_blob(st, 3, dg, 32);
      bk_sql_bind_int64(st, 4, db_now_ms());
      rc = dbc_step_done(c, st, "insert token");
    }
    memset(dg, 0, sizeof dg);
  }
  int64_t tid = rc == 0 ? bk_sql_last_id(c->h) : 0;
  if (rc == 0) rc = dbc_commit(c);
  else dbc_rollback(c);
  dbc_release(db, c);
  if (rc) {
    memset(token, 0, BK_TOKEN_LEN + 1);
    return rc;
  }
  if (id) *id = tid;
  return 0;
}

static void row_token(bk_sql_stmt *st, bk_token_info *t) {
  t->id = bk_sql_column_int64(st, 0);
  t->user_id = bk_sql_column_int64(st, 1);
  col_text(st, 2, t->user, sizeof t->user);
  t->role = bk_sql_column_int(st, 3);
  t->created_ms = bk_sql_column_int64(st, 4);
  t->revoked = bk_sql_column_int(st, 5);
}

static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
  volatile uint8_t acc = 0;
  for (size_t i = 0; i < n; i++) acc |= a[i] ^ b[i];
  return acc == 0;
}

int bk_db_token_lookup(bk_db *db, const char *token, size_t len, bk_token_info *out) {
  if (!token || !token_format_ok(token, len))
    return bk_seterr(BK_EAUTH, "invalid token");
  uint8_t dg[32];
  token_digest(token, len, dg);
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_TOKEN_LOOKUP, &c, &st);
  if (rc) return rc;
  bk_sql_bind_blob(st, 1, dg, 32);
  int s = bk_sql_step(st);
  rc = bk_seterr(BK_EAUTH, "invalid token");
  if (s == BK_SQL_ROW) {
    const void *stored = bk_sql_column_blob(st, 6);
    if (stored && bk_sql_column_bytes(st, 6) == 32 && ct_equal(stored, dg, 32)) {
      row_token(st, out);
      rc = out->revoked ? bk_seterr(BK_EAUTH, "invalid token") : 0;
    }
  } else if (s != BK_SQL_DONE) {
    rc = dbc_err(c, s, "token lookup");
  }
  bk_sql_reset(st);
  dbc_release(db, c);
  memset(dg, 0, sizeof dg);
  if (rc == 0) bk_clearerr();
  return rc;
}

static void bind_token_page(bk_sql_stmt *st, const void *arg) {
  const int64_t *p = arg; /* user id, after token id */
  bk_sql_bind_int64(st, 1, p[0]);
  bk_sql_bind_int64(st, 2, p[1]);
  bk_sql_bind_int64(st, 3, DB_PAGE);
}

static void token_conv(bk_sql_stmt *st, void *dst) { row_token(st, dst); }

/* In pages keyed by token id; the connection is given back before cb runs. */
int bk_db_token_list(bk_db *db, int64_t user_id, bk_token_cb cb, void *ctx) {
  struct db_page pg = {NULL, 0, 0, sizeof(bk_token_info)};
  int64_t p[2] = {user_id, 0};
  int rc = 0;
  for (;;) {
    rc = db_page_read(db, SQL_TOKEN_LIST, bind_token_page, p, token_conv, DB_PAGE, &pg,
                      "list tokens");
    for (size_t i = 0; rc == 0 && i < pg.n; i++) rc = cb(ctx, db_page_at(&pg, i));
    if (rc || pg.n < DB_PAGE) break;
    p[1] = ((bk_token_info *)db_page_at(&pg, pg.n - 1))->id;
  }
  db_page_free(&pg);
  return rc;
}

static const char SQL_TOKEN_GET[] =
    "SELECT t.id, t.user_id, n.name, t.role, t.created_ms, t.revoked "
    "FROM tokens t JOIN namespaces n ON n.id = t.user_id WHERE t.id = ?1";

int bk_db_token_get(bk_db *db, int64_t token_id, bk_token_info *out) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_TOKEN_GET, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, token_id);
  int s = bk_sql_step(st);
  if (s == BK_SQL_ROW) row_token(st, out);
  rc = s == BK_SQL_ROW ? 0
       : s == BK_SQL_DONE ? bk_seterr(BK_ENOTFOUND, "no token with id %lld", (long long)token_id)
                          : dbc_err(c, s, "token lookup");
  bk_sql_reset(st);
  dbc_release(db, c);
  return rc;
}

int bk_db_token_revoke(bk_db *db, int64_t token_id) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_TOKEN_REVOKE, &c, &st);
  if (rc) return rc;
  bk_sql_bind_int64(st, 1, token_id);
  rc = dbc_step_done(c, st, "revoke token");
  if (rc == 0 && bk_sql_changes(c->h) == 0)
    rc = bk_seterr(BK_ENOTFOUND, "no token with id %lld", (long long)token_id);
  dbc_release(db, c);
  return rc;
}

/* ---- permissions ---- */

int bk_db_ns_role(bk_db *db, int64_t user_id, int64_t ns_id, int *role) {
  *role = BK_ROLE_NONE;
  if (user_id <= 0) return 0;
  if (user_id == ns_id) {
    *role = BK_ROLE_ADMIN; /* ids are unique across users and orgs */
    return 0;
  }
  return bk_db_org_member_role(db, ns_id, user_id, role);
}

int bk_db_bucket_role(bk_db *db, int64_t user_id, const bk_bucket *b, int *role) {
  int rc = bk_db_ns_role(db, user_id, b->ns_id, role);
  if (rc) return rc;
  if (!b->is_private && *role < BK_ROLE_READ) *role = BK_ROLE_READ;
  return 0;
}
