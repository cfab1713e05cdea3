/* Unit tests: the metadata copy of `bucketd migrate` (src/store/db_copy.c).
 * The table list must cover every table and column the schema creates (a
 * column added to the schema but not to the copy would be lost silently by
 * a migration: this test fails instead); a copy reproduces the rows, keeps
 * tokens valid, lets new ids continue past the copied ones, is refused on a
 * non-empty target, and a copy stopped halfway leaves the target empty. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "buckets/error.h"
#include "store/accounts.h"
#include "store/db_copy.h"
#include "store/settings.h"

static char root[64];

static bk_db *open_db(const char *name) {
  char p[128];
  snprintf(p, sizeof p, "%s/%s", root, name);
  bk_db *db = NULL;
  CHECK_EQ_INT(bk_db_open(p, &db), 0);
  return db;
}

/* 1 if column col of table is in the copy's list. */
static int listed(const char *table, const char *col) {
  const char *cols;
  int opt;
  for (size_t i = 0; bk_db_copy_table(i, &cols, &opt); i++) {
    if (strcmp(bk_db_copy_table(i, NULL, NULL), table)) continue;
    if (!col) return 1;
    char want[80];
    snprintf(want, sizeof want, "%s:", col);
    for (const char *p = cols; (p = strstr(p, want)); p++)
      if (p == cols || p[-1] == ' ') return 1;
    return 0;
  }
  return 0;
}

static void test_tables_complete(void) {
  bk_db *db = open_db("schema.db");
  bk_db_close(db);
  char p[128];
  snprintf(p, sizeof p, "%s/schema.db", root);
  sqlite3 *h = NULL;
  CHECK_EQ_INT(sqlite3_open_v2(p, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *t = NULL, *c = NULL;
  CHECK_EQ_INT(sqlite3_prepare_v2(h, "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                     "name NOT LIKE 'sqlite_%'", -1, &t, NULL), SQLITE_OK);
  CHECK_EQ_INT(sqlite3_prepare_v2(h, "SELECT name FROM pragma_table_info(?1)", -1, &c, NULL),
               SQLITE_OK);
  int ntables = 0, ncols = 0;
  while (t && sqlite3_step(t) == SQLITE_ROW) {
    const char *tn = (const char *)sqlite3_column_text(t, 0);
    ntables++;
    if (!listed(tn, NULL)) fprintf(stderr, "  table %s is not copied by migrate\n", tn);
    CHECK(listed(tn, NULL));
    sqlite3_bind_text(c, 1, tn, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(c) == SQLITE_ROW) {
      const char *cn = (const char *)sqlite3_column_text(c, 0);
      ncols++;
      if (!listed(tn, cn)) fprintf(stderr, "  column %s.%s is not copied by migrate\n", tn, cn);
      CHECK(listed(tn, cn));
    }
    sqlite3_reset(c);
  }
  CHECK(ntables >= 19);
  CHECK(ncols >= 80);
  /* and every listed, non-optional table exists */
  const char *cols;
  int opt;
  for (size_t i = 0; bk_db_copy_table(i, &cols, &opt); i++) {
    if (opt) continue;
    char q[160];
    snprintf(q, sizeof q, "SELECT 1 FROM %s LIMIT 1", bk_db_copy_table(i, NULL, NULL));
    sqlite3_stmt *s = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(h, q, -1, &s, NULL), SQLITE_OK);
    sqlite3_finalize(s);
  }
  sqlite3_finalize(t);
  sqlite3_finalize(c);
  sqlite3_close(h);
}

static uint64_t rows(const bk_db_copy_stats *st, const char *t) {
  for (size_t i = 0; i < st->ntables; i++)
    if (!strcmp(st->t[i].name, t)) return st->t[i].rows;
  return UINT64_MAX;
}

/* A source with users, an org, tokens, buckets and the secret setting. */
static bk_db *make_source(char tok[BK_TOKEN_LEN + 1]) {
  bk_db *src = open_db("src.db");
  bk_ns a, b, o;
  CHECK_EQ_INT(bk_db_user_add(src, "alice", &a), 0);
  CHECK_EQ_INT(bk_db_user_add(src, "bob", &b), 0);
  CHECK_EQ_INT(bk_db_user_add(src, "gone", NULL), 0);
  CHECK_EQ_INT(bk_db_org_add(src, "acme", a.id, &o), 0);
  CHECK_EQ_INT(bk_db_token_add(src, a.id, BK_ROLE_WRITE, tok, NULL), 0);
  char t2[BK_TOKEN_LEN + 1];
  CHECK_EQ_INT(bk_db_token_add(src, b.id, BK_ROLE_READ, t2, NULL), 0);
  CHECK_EQ_INT(bk_db_bucket_create(src, a.id, "models", 0, NULL), 0);
  CHECK_EQ_INT(bk_db_bucket_create_ex(src, o.id, "shared", 1, "eu", NULL), 0);
  uint8_t v[32], out[32];
  size_t n;
  memset(v, 7, sizeof v);
  CHECK_EQ_INT(bk_db_setting_add_once(src, "token_secret", v, 32, out, 32, &n), 0);
  return src;
}

static void test_copy(void) {
  char tok[BK_TOKEN_LEN + 1];
  bk_db *src = make_source(tok), *dst = open_db("dst.db");
  uint8_t fp[32], fp2[32];
  bk_db_copy_stats st, st2;
  CHECK_EQ_INT(bk_db_copy_fingerprint(src, fp, &st), 0);
  CHECK_EQ_INT(bk_db_copy_fingerprint(src, fp2, &st2), 0);
  CHECK(!memcmp(fp, fp2, 32)); /* deterministic */
  CHECK_EQ_INT(rows(&st, "namespaces"), 4);
  CHECK_EQ_INT(rows(&st, "tokens"), 2);
  CHECK_EQ_INT(rows(&st, "buckets"), 2);
  int state = -1;
  CHECK_EQ_INT(bk_db_copy_target_state(dst, fp, &state), 0);
  CHECK_EQ_INT(state, BK_DB_TARGET_EMPTY);
  CHECK_EQ_INT(bk_db_copy_all(src, dst, fp, NULL, NULL, &st2), 0);
  CHECK_EQ_INT(st2.rows, st.rows);
  CHECK_EQ_INT(bk_db_copy_target_state(dst, fp, &state), 0);
  CHECK_EQ_INT(state, BK_DB_TARGET_DONE);
  /* a second copy is refused; the rows are there */
  CHECK_EQ_INT(bk_db_copy_all(src, dst, fp, NULL, NULL, &st2), BK_EEXIST);
  bk_token_info ti;
  CHECK_EQ_INT(bk_db_token_lookup(dst, tok, strlen(tok), &ti), 0);
  bk_ns ns;
  CHECK_EQ_INT(bk_db_ns_get(dst, "acme", &ns), 0);
  CHECK_EQ_INT(ns.kind, BK_NS_ORG);
  bk_bucket bk;
  CHECK_EQ_INT(bk_db_bucket_get(dst, "acme", "shared", &bk), 0);
  CHECK_EQ_STR(bk.region, "eu");
  CHECK(bk.is_private);
  uint8_t v[32];
  size_t n = 0;
  CHECK_EQ_INT(bk_db_setting_get(dst, "token_secret", v, sizeof v, &n), 0);
  CHECK(n == 32 && v[0] == 7 && v[31] == 7);
  /* new rows get ids past the copied ones */
  bk_ns c;
  CHECK_EQ_INT(bk_db_user_add(dst, "carol", &c), 0);
  CHECK(c.id > ns.id);
  /* a source that changed since no longer matches the target's marker */
  CHECK_EQ_INT(bk_db_user_add(src, "dave", NULL), 0);
  CHECK_EQ_INT(bk_db_copy_fingerprint(src, fp2, &st2), 0);
  CHECK(memcmp(fp, fp2, 32) != 0);
  CHECK_EQ_INT(bk_db_copy_target_state(dst, fp2, &state), 0);
  CHECK_EQ_INT(state, BK_DB_TARGET_OTHER);
  bk_db_close(src);
  bk_db_close(dst);
}

static int stop_after_xorbs(void *ctx, const char *table, uint64_t rows) {
  (void)ctx;
  (void)rows;
  return strcmp(table, "xorbs") ? 0 : BK_EIO;
}

static void test_copy_stopped(void) {
  bk_db *src = open_db("src.db"), *dst = open_db("dst2.db");
  uint8_t fp[32];
  bk_db_copy_stats st;
  CHECK_EQ_INT(bk_db_copy_fingerprint(src, fp, &st), 0);
  CHECK_EQ_INT(bk_db_copy_all(src, dst, fp, stop_after_xorbs, NULL, &st), BK_EIO);
  int state = -1;
  CHECK_EQ_INT(bk_db_copy_target_state(dst, fp, &state), 0);
  CHECK_EQ_INT(state, BK_DB_TARGET_EMPTY); /* rolled back: nothing half-copied */
  bk_ns ns;
  CHECK_EQ_INT(bk_db_ns_get(dst, "alice", &ns), BK_ENOTFOUND);
  /* the copy then goes through */
  CHECK_EQ_INT(bk_db_copy_all(src, dst, fp, NULL, NULL, &st), 0);
  CHECK_EQ_INT(bk_db_ns_get(dst, "alice", &ns), 0);
  bk_db_close(src);
  bk_db_close(dst);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_dbcopy_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_tables_complete);
  RUN(test_copy);
  RUN(test_copy_stopped);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return test_summary();
}
