/* buckets — the PostgreSQL driver of the SQL seam (see sql.h and
 * docs/store.md "PostgreSQL"). The only file of the project that calls
 * libpq (PQ*).
 *
 * Target: the whole metadata URL ("postgresql://user:pw@host:port/db?...")
 * is handed to PQconnectdb, so libpq parses it and the PG* environment
 * variables fill what it leaves out. Messages never carry the password
 * (libpq's do not; ours name the URL with the password replaced by "***").
 *
 * Statements: "?N" placeholders are rewritten to "$N" (outside string
 * literals, quoted identifiers and comments). A cached statement is
 * prepared on the server (PQprepare, named "bk<slot>") at its first
 * execution, with the parameter types of that execution's bindings (int64
 * INT8 and text TEXT, both sent as text; blobs BYTEA sent binary; NULL left
 * to the server to infer); a later binding of another type prepares it
 * again. Results come back as text; a BYTEA column is decoded from its hex
 * form on demand into a buffer owned by the statement (valid until the
 * next step/reset). Rows are held client-side (one PGresult per execution).
 *
 * Transactions: BK_TX_READ is REPEATABLE READ READ ONLY (one snapshot);
 * BK_TX_WRITE is READ COMMITTED + pg_advisory_xact_lock(WRITE_KEY), so
 * writers serialise across every node exactly like SQLite's BEGIN
 * IMMEDIATE (and every statement after the lock sees every commit before
 * it); BK_TX_GC_FENCE takes pg_advisory_xact_lock(FENCE_KEY) and then the
 * write key (always in that order: no deadlock). lock_timeout (10 s, like
 * SQLite's busy timeout) bounds every wait. Statements outside a
 * transaction are autocommit.
 *
 * Errors: SQLSTATE 40001/40P01/55P03/57014 and a lost connection (08xxx,
 * CONNECTION_BAD) are BK_EDB "database busy (...)"; 53100 BK_ENOSPC; the
 * rest (23505 unique violation included, as SQLite's constraint errors)
 * BK_EDB. A connection found broken is reset (reconnected) at its next use
 * outside a transaction; its server-side statements are prepared again.
 *
 * Ownership: a connection is owned by its connector (close); cached
 * statements by their connection; prepare_temp statements by the caller
 * (finalize). Bound values are copied. */
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/error.h"
#include "store/sql.h"

#define STMT_CACHE 128
#define MAX_PARAMS 64
#define MAX_SQL (1u << 20)
/* pg_advisory_xact_lock keys (bigint): "bkWRITE\0" and "bkFENCE\0" as
 * big-endian bytes, so they do not collide with another application's small
 * integer keys on a shared server. */
#define WRITE_KEY "7091858049154172160"
#define FENCE_KEY "7091839301704697088"
#define LOCK_TIMEOUT "10s"

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

struct pg_conn;

struct pg_stmt {
  bk_sql_stmt base;
  struct pg_conn *c;
  char *sql;          /* rewritten ($N), owned */
  int nparams;
  int slot;           /* cache slot (-1: temp statement, PQexecParams) */
  unsigned gen;       /* connection generation it was prepared in (0: never) */
  Oid ptypes[MAX_PARAMS];  /* types it was prepared with */
  char *vals[MAX_PARAMS];  /* bound values (owned; NULL = SQL NULL) */
  int lens[MAX_PARAMS];
  int fmts[MAX_PARAMS];
  Oid types[MAX_PARAMS];
  PGresult *res;
  int row, nrows, state; /* state: 0 not run, 1 rows, 2 done */
  unsigned char **dec;   /* decoded BYTEA of the current row, per column */
  size_t *declen;
  int ndec;
};

struct pg_conn {
  bk_sql_conn base;
  PGconn *h;
  char *url;    /* full URL (owned; holds the password: never printed) */
  char *shown;  /* url with the password replaced by *** */
  unsigned gen; /* bumped at every (re)connect */
  int in_tx, broken;
  int64_t changes;
  struct {
    const char *sql;
    struct pg_stmt *s;
  } cache[STMT_CACHE];
  int ncache;
};

#define PC(x) ((struct pg_conn *)(x))
#define PS(x) ((struct pg_stmt *)(x))

/* ---- errors ---- */

static int sqlstate_code(const char *st, int *busy) {
  *busy = 0;
  if (!st) return BK_EDB;
  if (!strcmp(st, "53100")) return BK_ENOSPC;
  if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03") ||
      !strcmp(st, "57014") || !strncmp(st, "08", 2) || !strcmp(st, "57P01") ||
      !strcmp(st, "57P02") || !strcmp(st, "57P03"))
    *busy = 1;
  return BK_EDB;
}

/* One line of libpq's message (it may end with "\n" or hold a DETAIL). */
static void first_line(const char *m, char *out, size_t n) {
  if (!m || !*m) m = "unknown error";
  size_t l = strcspn(m, "\n");
  if (l >= n) l = n - 1;
  memcpy(out, m, l);
  out[l] = 0;
}

/* Error of a failed result res (NULL: the connection's own error). Marks
 * the connection broken when libpq says so. prefix: "" or "<sql>: ". */
static int pg_err(struct pg_conn *c, const PGresult *res, const char *prefix) {
  char m[400];
  if (getenv("BK_PG_DEBUG")) fprintf(stderr, "PGERR %s%s\n", prefix, res ? PQresultErrorMessage(res) : PQerrorMessage(c->h));
  first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(c->h), m, sizeof m);
  if (!res || !*PQresultErrorMessage(res)) first_line(PQerrorMessage(c->h), m, sizeof m);
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (PQstatus(c->h) != CONNECTION_OK) c->broken = 1;
  int busy;
  int code = sqlstate_code(state, &busy);
  if (c->broken) return bk_seterr(BK_EDB, "%sdatabase busy (connection lost: %s)", prefix, m);
  if (busy) return bk_seterr(BK_EDB, "%sdatabase busy (%s: %s)", prefix, state, m);
  if (code == BK_ENOSPC) return bk_seterr(BK_ENOSPC, "%s%s (disk is full)", prefix, m);
  return bk_seterr(code, "%s%s%s%s%s", prefix, m, state ? " [" : "", state ? state : "",
                   state ? "]" : "");
}

/* ---- connections ---- */

static const struct bk_sql_driver *drv_of(struct pg_conn *c) { return c->base.drv; }

/* url with "user:password@" shown as "user:***@". */
static char *redact(const char *url) {
  char *s = strdup(url);
  if (!s) return NULL;
  char *p = strstr(s, "://");
  if (!p) return s;
  p += 3;
  char *at = strchr(p, '@');
  char *colon = strchr(p, ':');
  char *slash = strchr(p, '/');
  if (!at || !colon || colon > at || (slash && slash < at)) return s;
  memmove(colon + 4, at, strlen(at) + 1);
  memcpy(colon + 1, "***", 3);
  return s;
}

static void stmt_clear_result(struct pg_stmt *s) {
  for (int i = 0; i < s->ndec; i++) {
    free(s->dec[i]);
    s->dec[i] = NULL;
  }
  if (s->res) PQclear(s->res);
  s->res = NULL;
  s->row = -1;
  s->nrows = 0;
}

static void stmt_free(struct pg_stmt *s) {
  if (!s) return;
  stmt_clear_result(s);
  for (int i = 0; i < MAX_PARAMS; i++) free(s->vals[i]);
  free(s->dec);
  free(s->declen);
  free(s->sql);
  free(s);
}

static void pg_close(bk_sql_conn *bc) {
  struct pg_conn *c = PC(bc);
  if (!c) return;
  for (int i = 0; i < c->ncache; i++) stmt_free(c->cache[i].s);
  if (c->h) PQfinish(c->h);
  if (c->url) {
    memset(c->url, 0, strlen(c->url));
    free(c->url);
  }
  free(c->shown);
  free(c);
}

/* Server notices (e.g. the FATAL of a terminated idle session) are not
 * printed: errors reach the caller through the next call. */
static void quiet_notice(void *arg, const char *msg) {
  (void)arg;
  (void)msg;
}

/* Session settings of every (re)connected session. */
static int session_setup(struct pg_conn *c) {
  PQsetNoticeProcessor(c->h, quiet_notice, NULL);
  PGresult *r = PQexec(c->h, "SET lock_timeout = '" LOCK_TIMEOUT "';"
                             " SET client_min_messages = warning;"
                             " SET standard_conforming_strings = on");
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  int rc = ok ? 0 : pg_err(c, r, "session setup: ");
  PQclear(r);
  return rc;
}

/* Connects to the maintenance database "postgres" of the server url names
 * (every other option as in url). NULL when that fails. */
static PGconn *connect_maintenance(const char *url) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(url, &err);
  PQfreemem(err);
  if (!opts) return NULL;
  size_t n = 0;
  while (opts[n].keyword) n++;
  const char **k = calloc(n + 2, sizeof *k), **v = calloc(n + 2, sizeof *v);
  PGconn *h = NULL;
  if (k && v) {
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
      if (!opts[i].val || !strcmp(opts[i].keyword, "dbname")) continue;
      k[j] = opts[i].keyword;
      v[j++] = opts[i].val;
    }
    k[j] = "dbname";
    v[j] = "postgres";
    h = PQconnectdbParams(k, v, 0);
  }
  free(k);
  free(v);
  PQconninfoFree(opts);
  return h;
}

/* The database dbname is missing (or the connection failed for another
 * reason): creates it through the maintenance database when the server is
 * reachable, the role may (CREATEDB) and it does not exist. 1 when it
 * exists now (created here, by another node meanwhile, or it existed: the
 * first connect raced its creation), else 0. Two nodes creating at once:
 * the loser sees 42P04/23505 or the template in use (55006), and retries. */
static int create_missing_db(const char *url, const char *dbname) {
  if (!dbname || !*dbname || strlen(dbname) > 63) return 0;
  PGconn *h = connect_maintenance(url);
  int ok = 0;
  for (int attempt = 0; attempt < 20 && !ok && h && PQstatus(h) == CONNECTION_OK; attempt++) {
    const char *vals[1] = {dbname};
    PGresult *r = PQexecParams(h, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, vals,
                               NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      PQclear(r);
      break;
    }
    ok = PQntuples(r) > 0;
    PQclear(r);
    char *id = ok ? NULL : PQescapeIdentifier(h, dbname, strlen(dbname));
    if (!id) continue;
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", id);
    PQfreemem(id);
    r = PQexec(h, sql);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || (st && !strcmp(st, "42P04"));
    int retry = st && (!strcmp(st, "23505") || !strcmp(st, "55006") || !strcmp(st, "40P01"));
    PQclear(r);
    if (!ok && !retry) break; /* no CREATEDB, a bad name...: the first error stands */
    if (!ok) usleep(50 * 1000);
  }
  if (h) PQfinish(h);
  return ok;
}

static int pg_connect_url(const struct bk_sql_driver *drv, const char *target,
                          bk_sql_conn **out) {
  *out = NULL;
  if (!target || !*target) return bk_seterr(BK_EINVAL, "empty PostgreSQL URL");
  struct pg_conn *c = calloc(1, sizeof *c);
  if (!c) return bk_seterr(BK_ENOMEM, "out of memory");
  c->base.drv = drv;
  size_t n = strlen(drv->scheme) + 3 + strlen(target) + 1;
  c->url = malloc(n);
  if (c->url) snprintf(c->url, n, "%s://%s", drv->scheme, target);
  c->shown = c->url ? redact(c->url) : NULL;
  if (!c->url || !c->shown) {
    pg_close(&c->base);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  c->h = PQconnectdb(c->url);
  if (c->h && PQstatus(c->h) != CONNECTION_OK && create_missing_db(c->url, PQdb(c->h))) {
    PQfinish(c->h);
    c->h = PQconnectdb(c->url);
  }
  int rc = 0;
  if (!c->h) rc = bk_seterr(BK_ENOMEM, "out of memory");
  else if (PQstatus(c->h) != CONNECTION_OK) {
    char m[400];
    first_line(PQerrorMessage(c->h), m, sizeof m);
    rc = bk_seterr(BK_EDB, "database busy (cannot connect to %s: %s)", c->shown, m);
  }
  if (rc == 0) rc = session_setup(c);
  if (rc) {
    pg_close(&c->base);
    return rc;
  }
  c->gen = 1;
  *out = &c->base;
  return 0;
}

static int pg_connect_pg(const char *t, bk_sql_conn **out) {
  return pg_connect_url(&bk_sql_pg, t, out);
}
static int pg_connect_postgres(const char *t, bk_sql_conn **out) {
  return pg_connect_url(&bk_sql_postgres, t, out);
}

/* Replaces a broken connection before its next use (never inside a
 * transaction: the caller must roll back first, which forgets it). */
static int ensure_conn(struct pg_conn *c) {
  /* outside a transaction, notice a server that closed the session while it
   * was idle (pg_terminate_backend, restart): reads what is pending, never
   * blocks */
  for (int i = 0; i < 4 && !c->in_tx && !c->broken && PQstatus(c->h) == CONNECTION_OK; i++) {
    struct pollfd pf = {.fd = PQsocket(c->h), .events = POLLIN};
    if (pf.fd < 0 || poll(&pf, 1, 0) <= 0) break; /* nothing pending: the usual case */
    if (!PQconsumeInput(c->h)) c->broken = 1;    /* EOF: the server closed it */
  }
  if (!c->broken && PQstatus(c->h) == CONNECTION_OK) return 0;
  if (c->in_tx) return bk_seterr(BK_EDB, "database busy (connection lost in a transaction)");
  PQreset(c->h);
  if (PQstatus(c->h) != CONNECTION_OK) {
    char m[400];
    first_line(PQerrorMessage(c->h), m, sizeof m);
    c->broken = 1;
    return bk_seterr(BK_EDB, "database busy (reconnect to %s: %s)", c->shown, m);
  }
  c->broken = 0;
  c->gen++; /* every server-side prepared statement is gone */
  return session_setup(c);
}

/* ---- SQL text ---- */

/* Rewrites ?N to $N outside '...', "...", -- and block comments; *np = the
 * largest N. A bare '?' or N out of 1..MAX_PARAMS is BK_EINVAL. */
static int rewrite(const char *sql, char **out, int *np) {
  *out = NULL;
  *np = 0;
  size_t n = strlen(sql);
  if (n > MAX_SQL) return bk_seterr(BK_ELIMIT, "SQL text too long");
  char *o = malloc(n + 1);
  if (!o) return bk_seterr(BK_ENOMEM, "out of memory");
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = sql[i];
    if (ch == '\'' || ch == '"') {
      size_t e = i + 1;
      while (e < n && sql[e] != ch) e++;
      size_t stop = e < n ? e : n - 1;
      memcpy(o + j, sql + i, stop - i + 1);
      j += stop - i + 1;
      i = stop;
      continue;
    }
    if (ch == '-' && i + 1 < n && sql[i + 1] == '-') {
      size_t e = i;
      while (e < n && sql[e] != '\n') e++;
      memcpy(o + j, sql + i, e - i);
      j += e - i;
      i = e - 1;
      continue;
    }
    if (ch == '/' && i + 1 < n && sql[i + 1] == '*') {
      const char *e = strstr(sql + i + 2, "*/");
      size_t stop = e ? (size_t)(e - sql) + 1 : n - 1;
      memcpy(o + j, sql + i, stop - i + 1);
      j += stop - i + 1;
      i = stop;
      continue;
    }
    if (ch != '?') {
      o[j++] = ch;
      continue;
    }
    int v = 0;
    size_t k = i + 1;
    while (k < n && sql[k] >= '0' && sql[k] <= '9' && v <= MAX_PARAMS) v = v * 10 + (sql[k++] - '0');
    if (k == i + 1 || v < 1 || v > MAX_PARAMS) {
      free(o);
      return bk_seterr(BK_EINVAL, "placeholder without a number 1..%d in: %.80s", MAX_PARAMS, sql);
    }
    o[j++] = '$';
    memcpy(o + j, sql + i + 1, k - i - 1);
    j += k - i - 1;
    i = k - 1;
    if (v > *np) *np = v;
  }
  o[j] = 0;
  *out = o;
  return 0;
}

static int stmt_new(struct pg_conn *c, const char *sql, int slot, struct pg_stmt **out) {
  *out = NULL;
  struct pg_stmt *s = calloc(1, sizeof *s);
  if (!s) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = rewrite(sql, &s->sql, &s->nparams);
  if (rc) {
    free(s);
    return rc;
  }
  s->base.drv = drv_of(c);
  s->c = c;
  s->slot = slot;
  s->row = -1;
  *out = s;
  return 0;
}

static void clear_bindings(struct pg_stmt *s) {
  for (int i = 0; i < s->nparams; i++) {
    free(s->vals[i]);
    s->vals[i] = NULL;
    s->lens[i] = 0;
    s->fmts[i] = 0;
    s->types[i] = 0;
  }
}

static int pg_prepare(bk_sql_conn *bc, const char *sql, bk_sql_stmt **out) {
  struct pg_conn *c = PC(bc);
  *out = NULL;
  for (int i = 0; i < c->ncache; i++) {
    if (c->cache[i].sql != sql) continue;
    struct pg_stmt *s = c->cache[i].s;
    stmt_clear_result(s);
    s->state = 0;
    clear_bindings(s);
    *out = &s->base;
    return 0;
  }
  if (c->ncache >= STMT_CACHE) return bk_seterr(BK_EDB, "statement cache full");
  struct pg_stmt *s;
  int rc = stmt_new(c, sql, c->ncache, &s);
  if (rc) return rc;
  c->cache[c->ncache].sql = sql;
  c->cache[c->ncache].s = s;
  c->ncache++;
  *out = &s->base;
  return 0;
}

static int pg_prepare_temp(bk_sql_conn *bc, const char *sql, bk_sql_stmt **out) {
  struct pg_stmt *s;
  *out = NULL;
  int rc = stmt_new(PC(bc), sql, -1, &s);
  if (rc) return rc;
  *out = &s->base;
  return 0;
}

static void pg_finalize(bk_sql_stmt *st) { stmt_free(PS(st)); }

/* ---- execution ---- */

static void note_changes(struct pg_conn *c, const PGresult *r) {
  const char *cmd = PQcmdStatus((PGresult *)r);
  if (strncmp(cmd, "INSERT", 6) && strncmp(cmd, "UPDATE", 6) && strncmp(cmd, "DELETE", 6)) return;
  c->changes = strtoll(PQcmdTuples((PGresult *)r), NULL, 10);
}

/* Round trips of this thread: statements, BEGIN, COMMIT, ROLLBACK
 * (bk_sql_pg_exec_count). */
static _Thread_local uint64_t exec_count;
uint64_t bk_sql_pg_exec_count(void) { return exec_count; }

/* Runs sql (simple protocol; may hold several statements). 0 or BK_E*. */
static int run_simple(struct pg_conn *c, const char *sql, const char *prefix) {
  int rc = ensure_conn(c);
  if (rc) return rc;
  exec_count++;
  PGresult *r = PQexec(c->h, sql);
  ExecStatusType t = PQresultStatus(r);
  rc = t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK ? 0 : pg_err(c, r, prefix);
  if (rc == 0) note_changes(c, r);
  PQclear(r);
  return rc;
}

static int pg_exec(bk_sql_conn *bc, const char *sql) {
  struct pg_conn *c = PC(bc);
  char prefix[200];
  snprintf(prefix, sizeof prefix, "%.180s: ", sql);
  return run_simple(c, sql, prefix);
}

/* Prepares s on the server with the current binding types when it is not
 * prepared in this session or a binding's type differs. */
static int ensure_prepared(struct pg_stmt *s) {
  struct pg_conn *c = s->c;
  int same = s->gen == c->gen;
  for (int i = 0; same && i < s->nparams; i++)
    if (s->types[i] && s->types[i] != s->ptypes[i]) same = 0;
  if (same) return 0;
  char name[24];
  snprintf(name, sizeof name, "bk%d", s->slot);
  if (s->gen == c->gen) { /* re-typed: drop the old one first */
    char dq[48];
    snprintf(dq, sizeof dq, "DEALLOCATE %s", name);
    int rc = run_simple(c, dq, "deallocate: ");
    if (rc) return rc;
  }
  memcpy(s->ptypes, s->types, sizeof s->ptypes);
  PGresult *r = PQprepare(c->h, name, s->sql, s->nparams, s->ptypes);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pg_err(c, r, "");
  PQclear(r);
  if (rc == 0) s->gen = c->gen;
  return rc;
}

static int execute(struct pg_stmt *s) {
  exec_count++;
  struct pg_conn *c = s->c;
  stmt_clear_result(s);
  int rc = ensure_conn(c);
  if (rc) return rc;
  if (s->slot >= 0) {
    rc = ensure_prepared(s);
    if (rc) return rc;
    char name[24];
    snprintf(name, sizeof name, "bk%d", s->slot);
    s->res = PQexecPrepared(c->h, name, s->nparams, (const char *const *)s->vals, s->lens,
                            s->fmts, 0);
  } else {
    s->res = PQexecParams(c->h, s->sql, s->nparams, s->types, (const char *const *)s->vals,
                          s->lens, s->fmts, 0);
  }
  ExecStatusType t = PQresultStatus(s->res);
  if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
    rc = pg_err(c, s->res, "");
    stmt_clear_result(s);
    return rc;
  }
  note_changes(c, s->res);
  s->nrows = t == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
  int nf = PQnfields(s->res);
  if (nf > s->ndec) {
    unsigned char **d = realloc(s->dec, (size_t)nf * sizeof *d);
    if (d) s->dec = d;
    size_t *l = d ? realloc(s->declen, (size_t)nf * sizeof *l) : NULL;
    if (l) s->declen = l;
    if (!d || !l) {
      stmt_clear_result(s);
      return bk_seterr(BK_ENOMEM, "out of memory");
    }
    for (int i = s->ndec; i < nf; i++) s->dec[i] = NULL;
    s->ndec = nf;
  }
  return 0;
}

static int pg_step(bk_sql_stmt *st) {
  struct pg_stmt *s = PS(st);
  if (s->state != 1) { /* first step, or after DONE: run (again), like SQLite */
    int rc = execute(s);
    if (rc) {
      s->state = 0;
      return rc;
    }
    s->state = 1;
  }
  for (int i = 0; i < s->ndec; i++) {
    free(s->dec[i]);
    s->dec[i] = NULL;
  }
  if (s->row + 1 < s->nrows) {
    s->row++;
    return BK_SQL_ROW;
  }
  s->state = 2;
  return BK_SQL_DONE;
}

static void pg_reset(bk_sql_stmt *st) {
  struct pg_stmt *s = PS(st);
  stmt_clear_result(s);
  s->state = 0;
}

/* ---- transactions ---- */

static const char SQL_BEGIN_READ[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
static const char SQL_BEGIN_WRITE[] =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" WRITE_KEY ")";
static const char SQL_BEGIN_FENCE[] =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(" FENCE_KEY ");"
    " SELECT pg_advisory_xact_lock(" WRITE_KEY ")";

static void pg_rollback(bk_sql_conn *bc) {
  struct pg_conn *c = PC(bc);
  int was = c->in_tx;
  c->in_tx = 0;
  if (!was || c->broken || PQstatus(c->h) != CONNECTION_OK) return;
  if (PQtransactionStatus(c->h) == PQTRANS_IDLE) return;
  exec_count++;
  PGresult *r = PQexec(c->h, "ROLLBACK");
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQstatus(c->h) != CONNECTION_OK) c->broken = 1;
  PQclear(r);
}

static int pg_begin(bk_sql_conn *bc, bk_tx_mode mode) {
  struct pg_conn *c = PC(bc);
  const char *sql = mode == BK_TX_READ       ? SQL_BEGIN_READ
                    : mode == BK_TX_WRITE    ? SQL_BEGIN_WRITE
                    : mode == BK_TX_GC_FENCE ? SQL_BEGIN_FENCE
                                             : NULL;
  if (!sql) return bk_seterr(BK_EINVAL, "unknown transaction mode %d", (int)mode);
  if (c->in_tx) return bk_seterr(BK_EDB, "a transaction is already open on this connection");
  int rc = ensure_conn(c);
  if (rc) return rc;
  c->in_tx = 1; /* a failed lock leaves an aborted transaction to roll back */
  exec_count++;
  PGresult *r = PQexec(c->h, sql);
  ExecStatusType t = PQresultStatus(r);
  rc = t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK ? 0 : pg_err(c, r, "");
  PQclear(r);
  if (rc) pg_rollback(bc);
  return rc;
}

static int pg_commit(bk_sql_conn *bc) {
  struct pg_conn *c = PC(bc);
  if (!c->in_tx) return bk_seterr(BK_EDB, "commit without a transaction");
  if (c->broken || PQstatus(c->h) != CONNECTION_OK) {
    c->broken = 1;
    c->in_tx = 0;
    return bk_seterr(BK_EDB, "database busy (connection lost before commit)");
  }
  /* a transaction that already failed: COMMIT would answer ROLLBACK */
  if (PQtransactionStatus(c->h) == PQTRANS_INERROR) {
    pg_rollback(bc);
    return bk_seterr(BK_EDB, "transaction failed earlier; rolled back");
  }
  exec_count++;
  PGresult *r = PQexec(c->h, "COMMIT");
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : pg_err(c, r, "");
  PQclear(r);
  if (rc) pg_rollback(bc);
  c->in_tx = 0;
  return rc;
}

static int pg_in_tx(bk_sql_conn *bc) { return PC(bc)->in_tx; }

/* First column of the first row of sql (no parameters) as int64. */
static int query_i64(struct pg_conn *c, const char *sql, int nparams, const char *const *vals,
                     int64_t *v, int *found) {
  *v = 0;
  if (found) *found = 0;
  int rc = ensure_conn(c);
  if (rc) return rc;
  PGresult *r = PQexecParams(c->h, sql, nparams, NULL, vals, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = pg_err(c, r, "");
    PQclear(r);
    return rc;
  }
  if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
    *v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (found) *found = 1;
  }
  PQclear(r);
  return 0;
}

/* The id generated by the last INSERT of this session: lastval() (every
 * generated id is an identity column: its sequence is the last one used). */
static int64_t pg_last_id(bk_sql_conn *bc) {
  int64_t v = 0;
  if (query_i64(PC(bc), "SELECT lastval()", 0, NULL, &v, NULL)) return 0;
  return v;
}

static int64_t pg_changes(bk_sql_conn *bc) { return PC(bc)->changes; }

/* Schema version: the one-row table bk_schema(version). */
static int pg_schema_version(bk_sql_conn *bc, int *v) {
  struct pg_conn *c = PC(bc);
  *v = 0;
  int64_t has = 0, ver = 0;
  int rc = query_i64(c, "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'bk_schema'"
                        " AND schemaname = current_schema()", 0, NULL, &has, NULL);
  if (rc || !has) return rc;
  rc = query_i64(c, "SELECT max(version) FROM bk_schema", 0, NULL, &ver, NULL);
  if (rc) return rc;
  if (ver < 0 || ver > 1000000) return bk_seterr(BK_EDB, "bad schema version %lld", (long long)ver);
  *v = (int)ver;
  return 0;
}

static int pg_set_schema_version(bk_sql_conn *bc, int v) {
  char sql[320];
  snprintf(sql, sizeof sql,
           "CREATE TABLE IF NOT EXISTS bk_schema(one INTEGER PRIMARY KEY CHECK(one = 1),"
           " version INTEGER NOT NULL); INSERT INTO bk_schema(one, version) VALUES(1, %d)"
           " ON CONFLICT(one) DO UPDATE SET version = excluded.version", v);
  return run_simple(PC(bc), sql, "schema version: ");
}

static int pg_has_column(bk_sql_conn *bc, const char *table, const char *column, int *has) {
  const char *vals[2] = {table, column};
  int64_t n = 0;
  *has = 0;
  int rc = query_i64(PC(bc),
                     "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
                     " current_schema() AND table_name = $1 AND column_name = $2",
                     2, vals, &n, NULL);
  if (rc == 0) *has = n > 0;
  return rc;
}

/* Identifiers for id_sync: letters, digits, '_' only (they are spliced). */
static int ident_ok(const char *s) {
  if (!s || !*s || strlen(s) > 63) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
  return 1;
}

static int pg_id_sync(bk_sql_conn *bc, const char *table, const char *column) {
  if (!ident_ok(table) || !ident_ok(column))
    return bk_seterr(BK_EINVAL, "bad table or column name for id_sync");
  char sql[400];
  /* is_called = false with max+1 when the table is empty would hand out 1
   * again: setval(seq, max, true) when rows exist, (seq, 1, false) if not */
  snprintf(sql, sizeof sql,
           "SELECT setval(pg_get_serial_sequence('%s', '%s'),"
           " coalesce((SELECT max(%s) FROM %s), 0) + 1, false)",
           table, column, column, table);
  int64_t v;
  return query_i64(PC(bc), sql, 0, NULL, &v, NULL);
}

/* ---- bindings ---- */

static int bind_slot(struct pg_stmt *s, int i) {
  if (i < 1 || i > s->nparams) return bk_seterr(BK_EINVAL, "bind index %d out of range", i);
  free(s->vals[i - 1]);
  s->vals[i - 1] = NULL;
  s->lens[i - 1] = 0;
  s->fmts[i - 1] = 0;
  s->types[i - 1] = 0;
  return 0;
}

static int pg_bind_int64(bk_sql_stmt *st, int i, int64_t v) {
  struct pg_stmt *s = PS(st);
  int rc = bind_slot(s, i);
  if (rc) return rc;
  char *p = malloc(24);
  if (!p) return bk_seterr(BK_ENOMEM, "out of memory");
  snprintf(p, 24, "%lld", (long long)v);
  s->vals[i - 1] = p;
  s->types[i - 1] = OID_INT8;
  return 0;
}

static int pg_bind_text(bk_sql_stmt *st, int i, const char *p, int n) {
  struct pg_stmt *s = PS(st);
  int rc = bind_slot(s, i);
  if (rc || !p) return rc;
  size_t l = n < 0 ? strlen(p) : (size_t)n;
  if (l > MAX_SQL * 16u) return bk_seterr(BK_ELIMIT, "text parameter too large");
  if (memchr(p, 0, l)) return bk_seterr(BK_EINVAL, "text parameter holds a NUL byte");
  char *v = malloc(l + 1);
  if (!v) return bk_seterr(BK_ENOMEM, "out of memory");
  memcpy(v, p, l);
  v[l] = 0;
  s->vals[i - 1] = v;
  s->types[i - 1] = OID_TEXT;
  return 0;
}

static int pg_bind_blob(bk_sql_stmt *st, int i, const void *p, size_t n) {
  struct pg_stmt *s = PS(st);
  int rc = bind_slot(s, i);
  if (rc) return rc;
  if (n > (size_t)0x7fffffff) return bk_seterr(BK_ELIMIT, "blob parameter too large");
  char *v = malloc(n ? n : 1);
  if (!v) return bk_seterr(BK_ENOMEM, "out of memory");
  if (n) memcpy(v, p, n);
  s->vals[i - 1] = v;
  s->lens[i - 1] = (int)n;
  s->fmts[i - 1] = 1;
  s->types[i - 1] = OID_BYTEA;
  return 0;
}

static int pg_bind_null(bk_sql_stmt *st, int i) { return bind_slot(PS(st), i); }

/* ---- columns ---- */

static int col_ok(struct pg_stmt *s, int i) {
  return s->res && s->row >= 0 && s->row < s->nrows && i >= 0 && i < PQnfields(s->res);
}

static int pg_col_is_null(bk_sql_stmt *st, int i) {
  struct pg_stmt *s = PS(st);
  return !col_ok(s, i) || PQgetisnull(s->res, s->row, i);
}

static int64_t pg_col_int64(bk_sql_stmt *st, int i) {
  struct pg_stmt *s = PS(st);
  if (pg_col_is_null(st, i)) return 0;
  const char *v = PQgetvalue(s->res, s->row, i);
  if (v[0] == 't' && !v[1]) return 1; /* boolean */
  if (v[0] == 'f' && !v[1]) return 0;
  return strtoll(v, NULL, 10); /* integer; numeric "12.5" -> 12 */
}

static const char *pg_col_text(bk_sql_stmt *st, int i) {
  struct pg_stmt *s = PS(st);
  if (pg_col_is_null(st, i)) return NULL;
  return PQgetvalue(s->res, s->row, i);
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Decodes column i of the current row (BYTEA text form "\x<hex>") into
 * s->dec[i]. A malformed value reads as empty. */
static const unsigned char *decode_col(struct pg_stmt *s, int i) {
  if (s->dec[i]) return s->dec[i];
  const char *v = PQgetvalue(s->res, s->row, i);
  size_t l = (size_t)PQgetlength(s->res, s->row, i);
  s->declen[i] = 0;
  s->dec[i] = malloc(l / 2 + 1);
  if (!s->dec[i]) return NULL;
  if (l < 2 || v[0] != '\\' || v[1] != 'x' || (l & 1)) return s->dec[i];
  size_t k = 0;
  for (size_t j = 2; j + 1 < l; j += 2) {
    int a = hexval(v[j]), b = hexval(v[j + 1]);
    if (a < 0 || b < 0) {
      s->declen[i] = 0;
      return s->dec[i];
    }
    s->dec[i][k++] = (unsigned char)(a << 4 | b);
  }
  s->declen[i] = k;
  return s->dec[i];
}

static const void *pg_col_blob(bk_sql_stmt *st, int i) {
  struct pg_stmt *s = PS(st);
  if (pg_col_is_null(st, i)) return NULL;
  if (PQftype(s->res, i) != OID_BYTEA) return PQgetvalue(s->res, s->row, i);
  return decode_col(s, i);
}

static size_t pg_col_bytes(bk_sql_stmt *st, int i) {
  struct pg_stmt *s = PS(st);
  if (pg_col_is_null(st, i)) return 0;
  if (PQftype(s->res, i) != OID_BYTEA) return (size_t)PQgetlength(s->res, s->row, i);
  return decode_col(s, i) ? s->declen[i] : 0;
}

#define PG_DRIVER(NAME, SCHEME, CONNECT)                                                      \
  const struct bk_sql_driver NAME = {                                                        \
      .scheme = SCHEME,                                                                      \
      .connect = CONNECT,                                                                    \
      .close = pg_close,                                                                     \
      .prepare = pg_prepare,                                                                 \
      .prepare_temp = pg_prepare_temp,                                                       \
      .finalize = pg_finalize,                                                               \
      .exec = pg_exec,                                                                       \
      .begin = pg_begin,                                                                     \
      .commit = pg_commit,                                                                   \
      .rollback = pg_rollback,                                                               \
      .in_tx = pg_in_tx,                                                                     \
      .last_id = pg_last_id,                                                                 \
      .changes = pg_changes,                                                                 \
      .schema_version = pg_schema_version,                                                   \
      .set_schema_version = pg_set_schema_version,                                           \
      .has_column = pg_has_column,                                                           \
      .id_sync = pg_id_sync,                                                                 \
      .dialect = BK_SQL_PG,                                                                  \
      .bind_int64 = pg_bind_int64,                                                           \
      .bind_text = pg_bind_text,                                                             \
      .bind_blob = pg_bind_blob,                                                             \
      .bind_null = pg_bind_null,                                                             \
      .step = pg_step,                                                                       \
      .reset = pg_reset,                                                                     \
      .column_int64 = pg_col_int64,                                                          \
      .column_text = pg_col_text,                                                            \
      .column_blob = pg_col_blob,                                                            \
      .column_bytes = pg_col_bytes,                                                          \
      .column_is_null = pg_col_is_null,                                                      \
  }

PG_DRIVER(bk_sql_pg, "postgresql", pg_connect_pg);
PG_DRIVER(bk_sql_postgres, "postgres", pg_connect_postgres);
