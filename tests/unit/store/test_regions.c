/* Unit tests: the region tables (store/regions.h, schema v9) on SQLite and
 * on every base URL in BK_TEST_DB_URLS (PostgreSQL in tests/run.sh):
 * the registry, blob copies, xorb homes, warm lists, pre-warm jobs with
 * their lease, the "what a region lacks" set and the per-region sums, and
 * the SQLite upgrade of a v8 database built here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"
#include "buckets/error.h"
#include "meta_fixtures.h"
#include "meta_sql.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/regions.h"

static char root[256];

/* A bucket's warm list: replaced as a whole, paged over every bucket. */
static void warm_lists(bk_db *db, int64_t bid, int64_t eu, int64_t us) {
  int64_t ids[8];
  size_t n = 0;
  CHECK_EQ_INT(bk_db_warm_set(db, bid, (int64_t[]){eu, us}, 2), 0);
  CHECK_EQ_INT(bk_db_warm_get(db, bid, ids, 8, &n), 0);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(bk_db_warm_set(db, bid, (int64_t[]){eu}, 1), 0);
  CHECK_EQ_INT(bk_db_warm_get(db, bid, ids, 8, &n), 0);
  CHECK(n == 1 && ids[0] == eu);
  bk_warm_pair wp[4];
  CHECK_EQ_INT(bk_db_warm_page(db, 0, 0, 4, wp, &n), 0);
  CHECK(n == 1 && wp[0].bucket_id == bid && wp[0].region_id == eu);
  CHECK_EQ_INT(bk_db_warm_page(db, bid, eu, 4, wp, &n), 0);
  CHECK_EQ_INT(n, 0);

}

static void test_registry(void) {
  char p[400];
  meta_url(p, sizeof p, "reg.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  bk_region_row *rows = NULL;
  size_t n = 9;
  CHECK_EQ_INT(bk_db_region_list(db, &rows, &n), 0);
  CHECK_EQ_INT(n, 0);
  CHECK(rows == NULL);
  int64_t eu = 0, us = 0;
  CHECK_EQ_INT(bk_db_region_add(db, "eu", "file:///tmp/eu", &eu), 0);
  CHECK_EQ_INT(bk_db_region_add(db, "us", "s3://b?endpoint=http://127.0.0.1:1", &us), 0);
  CHECK(eu > 0 && us > eu);
  CHECK_EQ_INT(bk_db_region_add(db, "eu", "file:///tmp/x", NULL), BK_EEXIST);
  CHECK_EQ_INT(bk_db_region_add(db, "EU", "file:///tmp/x", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_region_add(db, "9x", "file:///tmp/x", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_region_add(db, "a234567890123456789012345678901234", "file:///x", NULL),
               BK_EINVAL);
  CHECK_EQ_INT(bk_db_region_add(db, "ok-1", "", NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_db_region_list(db, &rows, &n), 0);
  CHECK_EQ_INT(n, 2);
  if (n == 2) {
    CHECK_EQ_STR(rows[0].name, "eu"); /* default first: the lowest id */
    CHECK_EQ_STR(rows[1].name, "us");
    CHECK_EQ_STR(rows[1].blob_url, "s3://b?endpoint=http://127.0.0.1:1");
  }
  free(rows);

  /* bucket labels: any valid region name is stored and read back */
  bk_ns u;
  bk_bucket b;
  CHECK_EQ_INT(bk_db_user_add(db, "alice", &u), 0);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "b", 0, "us", &b), 0);
  bk_bucket b2;
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "b2", 0, "ap-south-2", &b2), 0);
  CHECK_EQ_STR(b2.region, "ap-south-2");

  /* copies and homes */
  bk_hash x1, x2;
  reg_xorb(db, &x1, 11, 2, -1, NULL);
  reg_xorb(db, &x2, 12, 3, -1, NULL);
  int64_t home = -1;
  CHECK_EQ_INT(bk_db_xorb_home(db, &x1, &home), 0);
  CHECK_EQ_INT(home, 0);
  bk_db_tx *tx = NULL;
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_GC_FENCE, &tx), 0);
  CHECK_EQ_INT(bk_db_copy_add_tx(tx, BK_BLOB_XORB, &x1, us), 0);
  CHECK_EQ_INT(bk_db_xorb_set_home_tx(tx, &x1, us), 0);
  CHECK_EQ_INT(bk_db_xorb_set_home_tx(tx, &x1, eu), 0); /* the first home stays */
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  CHECK_EQ_INT(bk_db_xorb_home(db, &x1, &home), 0);
  CHECK_EQ_INT(home, us);
  CHECK_EQ_INT(bk_db_copy_add(db, BK_BLOB_XORB, &x1, eu), 0);
  CHECK_EQ_INT(bk_db_copy_add(db, BK_BLOB_XORB, &x1, eu), 0); /* idempotent */
  int64_t ids[8];
  CHECK_EQ_INT(bk_db_copy_regions(db, BK_BLOB_XORB, &x1, ids, 8, &n), 0);
  CHECK_EQ_INT(n, 2);
  CHECK(n == 2 && ids[0] == eu && ids[1] == us);
  bk_copy_row cr[4];
  CHECK_EQ_INT(bk_db_copy_page(db, eu, -1, NULL, 4, cr, &n), 0);
  CHECK_EQ_INT(n, 1);
  CHECK(n == 1 && bk_hash_eq(&cr[0].hash, &x1));
  CHECK_EQ_INT(bk_db_copy_page(db, eu, BK_BLOB_XORB, &x1, 4, cr, &n), 0);
  CHECK_EQ_INT(n, 0);

  /* usage (removal refusals) */
  bk_region_usage ru;
  CHECK_EQ_INT(bk_db_region_usage(db, us, "us", 0, &ru), 0);
  CHECK_EQ_INT(ru.buckets_home, 1);
  CHECK_EQ_INT(ru.xorbs_home, 1);
  CHECK_EQ_INT(ru.blobs_only, 0); /* x1 is in both */
  CHECK_EQ_INT(bk_db_copy_del(db, BK_BLOB_XORB, &x1, eu), 0);
  CHECK_EQ_INT(bk_db_region_usage(db, us, "us", 0, &ru), 0);
  CHECK_EQ_INT(ru.blobs_only, 1);
  CHECK_EQ_INT(bk_db_region_usage(db, eu, "eu", 1, &ru), 0);
  CHECK_EQ_INT(ru.xorbs_home, 1); /* x2: no home recorded = the default */

  warm_lists(db, b.id, eu, us);
  /* deleting a region drops its rows and unhomes its xorbs */
  CHECK_EQ_INT(bk_db_region_delete(db, us), 0);
  CHECK_EQ_INT(bk_db_region_delete(db, us), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_xorb_home(db, &x1, &home), 0);
  CHECK_EQ_INT(home, 0);
  CHECK_EQ_INT(bk_db_copy_regions(db, BK_BLOB_XORB, &x1, ids, 8, &n), 0);
  CHECK_EQ_INT(n, 0);
  bk_db_close(db);
}

static void test_jobs(void) {
  char p[400];
  meta_url(p, sizeof p, "jobs.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  int64_t eu = 0;
  CHECK_EQ_INT(bk_db_region_add(db, "eu", "file:///tmp/eu", &eu), 0);
  bk_ns u;
  bk_bucket b;
  CHECK_EQ_INT(bk_db_user_add(db, "bob", &u), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "b", 0, &b), 0);
  int64_t j1 = 0, j2 = 0;
  CHECK_EQ_INT(bk_db_prewarm_add(db, b.id, eu, "ckpt/", &j1), 0);
  CHECK_EQ_INT(bk_db_prewarm_add(db, b.id, eu, NULL, &j2), 0);
  bk_prewarm_job j;
  int64_t now = 1000000;
  CHECK_EQ_INT(bk_db_prewarm_claim(db, "node-a", now, 10000, &j), 0);
  CHECK_EQ_INT(j.id, j1);
  CHECK_EQ_STR(j.prefix, "ckpt/");
  /* another node gets the next job, not the leased one */
  bk_prewarm_job k;
  CHECK_EQ_INT(bk_db_prewarm_claim(db, "node-b", now + 1, 10000, &k), 0);
  CHECK_EQ_INT(k.id, j2);
  CHECK_EQ_INT(bk_db_prewarm_claim(db, "node-c", now + 2, 10000, &k), BK_ENOTFOUND);
  /* the owner renews and records progress; a stranger cannot */
  CHECK_EQ_INT(bk_db_prewarm_progress(db, j1, "node-a", now + 5, 10000, 500, 100, 1), 0);
  CHECK_EQ_INT(bk_db_prewarm_progress(db, j1, "node-c", now + 5, 10000, -1, 1, 1), BK_ESTALE);
  CHECK_EQ_INT(bk_db_prewarm_progress(db, j1, "node-a", now + 6, 10000, -1, 50, 1), 0);
  CHECK_EQ_INT(bk_db_prewarm_get(db, j1, &k), 0);
  CHECK_EQ_INT(k.bytes_needed, 500);
  CHECK_EQ_INT(k.bytes_copied, 150);
  CHECK_EQ_INT(k.xorbs_copied, 2);
  CHECK_EQ_INT(bk_db_prewarm_progress(db, j2, "node-b", now + 9000, 10000, -1, 0, 0), 0);
  /* node-a dies: after its lease expires node-c resumes the job */
  CHECK_EQ_INT(bk_db_prewarm_claim(db, "node-c", now + 10005, 10000, &k), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_prewarm_claim(db, "node-c", now + 10007, 10000, &k), 0);
  CHECK_EQ_INT(k.id, j1);
  CHECK_EQ_INT(k.bytes_copied, 150);
  CHECK_EQ_INT(bk_db_prewarm_finish(db, j1, "node-a", "done", NULL), BK_ESTALE);
  CHECK_EQ_INT(bk_db_prewarm_finish(db, j1, "node-c", "done", NULL), 0);
  CHECK_EQ_INT(bk_db_prewarm_finish(db, j2, "node-b", "failed", "xorb x: damaged"), 0);
  CHECK_EQ_INT(bk_db_prewarm_finish(db, j2, "node-b", "bogus", NULL), BK_EINVAL);
  bk_prewarm_job *list = NULL;
  size_t n = 0;
  CHECK_EQ_INT(bk_db_prewarm_list(db, b.id, &list, 10, &n), 0);
  CHECK_EQ_INT(n, 2);
  if (n == 2) {
    CHECK_EQ_INT(list[0].id, j2); /* newest first */
    CHECK_EQ_STR(list[0].state, "failed");
    CHECK_EQ_STR(list[0].error, "xorb x: damaged");
    CHECK_EQ_STR(list[1].state, "done");
    CHECK_EQ_STR(list[1].lease_owner, "");
  }
  free(list);
  CHECK_EQ_INT(bk_db_prewarm_claim(db, "node-a", now + 20000, 10000, &k), BK_ENOTFOUND);
  bk_db_close(db);
}

/* A v8 SQLite database (built here: v9 objects dropped) is upgraded in
 * place: tables, columns and the bucket labels (copied to region_name). */
static void test_upgrade_v9(void) {
  if (!meta_is_sqlite()) return; /* SQLite schema history */
  char p[400];
  meta_url(p, sizeof p, "v8.sqlite");
  bk_db *db;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  bk_ns u;
  CHECK_EQ_INT(bk_db_user_add(db, "old", &u), 0);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "e", 0, "eu", NULL), 0);
  bk_hash xh;
  reg_xorb(db, &xh, 99, 2, -1, NULL);
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(p, "DROP TABLE prewarm_jobs; DROP TABLE bucket_warm;"
                            "DROP TABLE blob_copies; DROP TABLE regions; DROP INDEX xorbs_home;"
                            "ALTER TABLE xorbs DROP COLUMN home_region_id;"
                            "ALTER TABLE buckets DROP COLUMN region_name;"
                            "PRAGMA user_version=8;"),
               0);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE name = 'regions'"), 0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), 9);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE name IN ('regions',"
                          " 'blob_copies', 'bucket_warm', 'prewarm_jobs', 'blob_copies_region')"),
               5);
  bk_bucket g;
  CHECK_EQ_INT(bk_db_bucket_get(db, "old", "e", &g), 0);
  CHECK_EQ_STR(g.region, "eu");
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM buckets WHERE region_name = 'eu'"), 1);
  int64_t home = -1;
  CHECK_EQ_INT(bk_db_xorb_home(db, &xh, &home), 0);
  CHECK_EQ_INT(home, 0);
  int64_t eu = 0;
  CHECK_EQ_INT(bk_db_region_add(db, "eu", "file:///tmp/eu", &eu), 0);
  uint64_t nx = 0, ns = 0;
  CHECK_EQ_INT(bk_db_region_adopt_all(db, eu, &nx, &ns), 0);
  CHECK_EQ_INT(nx, 1);
  CHECK_EQ_INT(bk_db_xorb_home(db, &xh, &home), 0);
  CHECK_EQ_INT(home, eu);
  bk_db_close(db);
  /* the step again (renumbered by hand) is harmless */
  CHECK_EQ_INT(meta_exec(p, "PRAGMA user_version=8;"), 0);
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(p, "PRAGMA user_version"), 9);
  CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM regions"), 1);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

static void run_suite(const char *base) {
  meta_set_base(base);
  printf("# metadata base: %s\n", meta_is_pg(base) ? "postgresql" : "sqlite");
  RUN(test_registry);
  RUN(test_jobs);
  RUN(test_upgrade_v9);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_regions_XXXXXX");
  if (!mkdtemp(root)) return 1;
  const char *urls = getenv("BK_TEST_DB_URLS");
  char def[300];
  snprintf(def, sizeof def, "sqlite://%s", root);
  if (!urls || !*urls) urls = def;
  char *list = strdup(urls);
  char *sv = NULL;
  for (char *u = list ? strtok_r(list, " ", &sv) : NULL; u; u = strtok_r(NULL, " ", &sv)) {
    run_suite(u);
    if (meta_drop_all() != 0) fprintf(stderr, "drop databases: %s\n", bk_errmsg());
  }
  free(list);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
