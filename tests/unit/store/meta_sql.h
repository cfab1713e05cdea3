/* Test helpers for the metadata conformance suite: raw SQL on a metadata
 * database THROUGH THE SQL DRIVER (store/sql.h), chosen by URL like
 * bk_db_open_url ("sqlite:///abs/path.db"), for damage injection and for
 * reading what the store wrote. Never the engine's own API.
 *
 * The suite's databases live under a base URL (meta_base): by default
 * "sqlite://<tmpdir>"; BK_TEST_DB_URLS (space-separated base URLs) runs the
 * suite once per base. A database is "<base>/<name>". */
#ifndef BUCKETS_TEST_META_SQL_H
#define BUCKETS_TEST_META_SQL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buckets/error.h"
#include "store/sql.h"

static char meta_base[300];

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

#endif
