/* Test helpers for the metadata conformance suite: raw SQL on a metadata
 * database THROUGH THE SQL DRIVER (store/sql.h), chosen by URL like
 * bk_db_open_url ("sqlite:///abs/path.db"), for damage injection and for
 * reading what the store wrote. Never the engine's own API.
 *
 * The suite's databases live under a base URL (meta_base): by default
 * "sqlite://<tmpdir>"; BK_TEST_DB_URLS (space-separated base URLs) runs the
 * suite once per base. A database is "<base>/<name>".
 *
 * PostgreSQL bases ("postgresql://user:pw@host:port/db"): meta_set_base
 * turns the base into "postgresql://user:pw@host:port/bk<pid>_<n>", so
 * "<base>/<name>" is a database of its own named "bk<pid>_<n>/<name>"
 * (the driver creates a missing database), fresh for every run of the
 * program; meta_drop_all drops them all at the end. */
#ifndef BUCKETS_TEST_META_SQL_H
#define BUCKETS_TEST_META_SQL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buckets/error.h"
#include "store/sql.h"

static char meta_base[300];
static char meta_pg_admin[300]; /* the PostgreSQL base as given (for drops) */
static char meta_pg_prefix[64]; /* "bk<pid>_<n>/" */

static inline int meta_is_pg(const char *url) {
  return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* Sets meta_base from a base URL (see above). */
static inline void meta_set_base(const char *base) {
  static int runs;
  snprintf(meta_base, sizeof meta_base, "%s", base);
  if (!meta_is_pg(base)) return;
  snprintf(meta_pg_admin, sizeof meta_pg_admin, "%s", base);
  const char *hostpart = strstr(base, "://") + 3;
  const char *slash = strchr(hostpart, '/');
  int hl = slash ? (int)(slash - base) : (int)strlen(base);
  snprintf(meta_pg_prefix, sizeof meta_pg_prefix, "bk%ld_%d", (long)getpid(), runs++);
  snprintf(meta_base, sizeof meta_base, "%.*s/%s", hl, base, meta_pg_prefix);
}

/* "<meta_base>/<name>" into out. */
static inline const char *meta_url(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", meta_base, name);
  return out;
}

/* 1 when the suite runs on the SQLite driver (tests of SQLite-specific
 * schema history and files run only then). */
static inline int meta_is_sqlite(void) { return strncmp(meta_base, "sqlite://", 9) == 0; }

/* Runs sql (one or more statements, no results) on the database at url.
 * 0 or a negative BK_E* (message in bk_errmsg). */
static inline int meta_exec(const char *url, const char *sql) {
  bk_sql_conn *c = NULL;
  int rc = bk_sql_connect_url(url, &c);
  if (rc == 0) rc = bk_sql_exec(c, sql);
  bk_sql_close(c);
  return rc;
}

/* First column of the first row of sql on the database at url (-1 on error
 * or no row). */
static inline int64_t sql_int(const char *url, const char *sql) {
  bk_sql_conn *c = NULL;
  bk_sql_stmt *st = NULL;
  int64_t v = -1;
  if (bk_sql_connect_url(url, &c) != 0) return -1;
  if (bk_sql_prepare_temp(c, sql, &st) == 0 && bk_sql_step(st) == BK_SQL_ROW)
    v = bk_sql_column_int64(st, 0);
  bk_sql_finalize(st);
  bk_sql_close(c);
  return v;
}

/* Drops every database this run created on the PostgreSQL base (no-op for
 * SQLite). 0 or a negative BK_E*. */
static inline int meta_drop_all(void) {
  if (!meta_pg_admin[0]) return 0;
  bk_sql_conn *c = NULL;
  bk_sql_stmt *st = NULL;
  char names[256][80];
  int n = 0;
  int rc = bk_sql_connect_url(meta_pg_admin, &c);
  if (rc == 0) rc = bk_sql_prepare_temp(c, "SELECT datname FROM pg_database WHERE"
                                           " left(datname, length(?1)) = ?1", &st);
  char pre[80];
  snprintf(pre, sizeof pre, "%s/", meta_pg_prefix);
  if (rc == 0) rc = bk_sql_bind_text(st, 1, pre, -1);
  while (rc == 0 && n < 256 && bk_sql_step(st) == BK_SQL_ROW)
    snprintf(names[n++], sizeof names[0], "%s", bk_sql_column_text(st, 0));
  bk_sql_finalize(st);
  for (int i = 0; rc == 0 && i < n; i++) {
    char sql[200];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%.79s\" WITH (FORCE)", names[i]);
    rc = bk_sql_exec(c, sql);
    for (int t = 0; rc && t < 20; t++) { /* a session still closing */
      usleep(50 * 1000);
      rc = bk_sql_exec(c, sql);
    }
  }
  bk_sql_close(c);
  return rc;
}

#endif
