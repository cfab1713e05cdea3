/* Unit tests: the PostgreSQL driver (src/store/sql_pg.c) on a real
 * PostgreSQL server — what several bucketd nodes on one database rely on:
 * two bk_db handles (two nodes) serialise writers and the gc fence across
 * connections, a killed server session is replaced, constraint errors map
 * like on SQLite, names collide case-insensitively (ASCII), paths order
 * byte-wise, ids continue after explicit inserts (id_sync), schema creation
 * by two nodes at once, no password in messages.
 *
 * The server: the first postgresql:// URL in BK_TEST_DB_URLS (tests/run.sh
 * starts one with tests/tools/pg-up). Without one every test FAILS (never a
 * silent skip). Each run works in databases of its own (meta_set_base),
 * dropped at the end. */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/sql.h"
#include "../test.h"
#include "meta_fixtures.h"
#include "meta_sql.h"

static char pg_url[300];

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bk_db *open_named(const char *name) {
  char u[600];
  bk_db *db = NULL;
  if (bk_db_open_url(meta_url(u, sizeof u, name), &db) != 0)
    fprintf(stderr, "  open %s: %s\n", name, bk_errmsg());
  return db;
}

/* ---- a write transaction on one node blocks a writer on the other ---- */

struct waiter {
  bk_db *db;
  bk_tx_mode mode;
  int use_register; /* 1: bk_db_xorb_register (its own GC_FENCE tx) */
  int rc;
  volatile int done;
  double at_ms;
};

static void *waiter_run(void *p) {
  struct waiter *w = p;
  if (w->use_register) {
    bk_hash xh;
    bk_xorb_chunk ch = {0};
    mk_hash(&xh, 777);
    mk_hash(&ch.hash, 778);
    ch.hash.b[24] |= 1;
    ch.record_len = 10;
    ch.unpacked_len = 100;
    int existed;
    w->rc = bk_db_xorb_register(w->db, &xh, 10, &ch, 1, &existed);
  } else {
    bk_db_tx *tx = NULL;
    w->rc = bk_db_tx_begin(w->db, w->mode, &tx);
    if (w->rc == 0) w->rc = bk_db_tx_commit(tx);
  }
  w->at_ms = mono_ms();
  w->done = 1;
  return NULL;
}

/* Node A holds a transaction in mode held; node B starts a (mode | register)
 * and must wait until A commits. */
static void blocks_until_commit(const char *name, bk_tx_mode held, bk_tx_mode mode, int reg) {
  bk_db *a = open_named(name), *b = open_named(name);
  CHECK(a && b);
  if (!a || !b) {
    bk_db_close(a);
    bk_db_close(b);
    return;
  }
  bk_db_tx *tx = NULL;
  CHECK_EQ_INT(bk_db_tx_begin(a, held, &tx), 0);
  struct waiter w = {b, mode, reg, -1, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, waiter_run, &w);
  usleep(300 * 1000);
  CHECK_EQ_INT(w.done, 0); /* still waiting for A */
  double committed = mono_ms();
  CHECK_EQ_INT(bk_db_tx_commit(tx), 0);
  pthread_join(th, NULL);
  CHECK_EQ_INT(w.rc, 0);
  CHECK(w.at_ms >= committed);
  bk_db_close(a);
  bk_db_close(b);
}

static void test_write_serialises_nodes(void) {
  blocks_until_commit("ser.db", BK_TX_WRITE, BK_TX_WRITE, 0);
}

static void test_fence_excludes_registration(void) {
  blocks_until_commit("fence.db", BK_TX_GC_FENCE, BK_TX_GC_FENCE, 1);
  /* and a plain writer waits for the fence too, like on SQLite */
  blocks_until_commit("fence2.db", BK_TX_GC_FENCE, BK_TX_WRITE, 0);
}

/* ---- a killed server session is replaced ---- */

static void test_killed_connection_replaced(void) {
  bk_db *db = open_named("kill.db");
  CHECK(db != NULL);
  if (!db) return;
  bk_ns u, x;
  CHECK_EQ_INT(bk_db_user_add(db, "killme", &u), 0);
  char url[600];
  meta_url(url, sizeof url, "kill.db");
  /* terminate every other session on that database (the pool's) */
  int64_t n = sql_int(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  CHECK(n >= 1);
  usleep(100 * 1000);
  CHECK_EQ_INT(bk_db_ns_get(db, "killme", &x), 0); /* the next call succeeds */
  CHECK_EQ_INT(x.id, u.id);
  CHECK_EQ_INT(bk_db_user_add(db, "after-kill", &x), 0);
  /* killed inside a transaction: that transaction fails as busy, the next works */
  bk_db_tx *tx = NULL;
  CHECK_EQ_INT(bk_db_tx_begin(db, BK_TX_WRITE, &tx), 0);
  n = sql_int(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                   " WHERE datname = current_database() AND pid <> pg_backend_pid()");
  CHECK(n >= 1);
  usleep(100 * 1000);
  int rc = bk_db_tx_commit(tx);
  CHECK_EQ_INT(rc, BK_EDB);
  CHECK(strstr(bk_errmsg(), "busy") != NULL);
  CHECK_EQ_INT(bk_db_user_add(db, "after-kill-2", &x), 0);
  bk_db_close(db);
}

/* ---- errors ---- */

/* A unique violation is BK_EDB, as the SQLite driver gives for a constraint. */
static int dup_insert(const char *url) {
  bk_sql_conn *c = NULL;
  int rc = bk_sql_connect_url(url, &c);
  if (rc) return rc;
  rc = bk_sql_exec(c, "INSERT INTO settings(key, value, created_ms) VALUES('k', 'v', 1)");
  if (rc == 0) {
    bk_sql_stmt *st = NULL;
    static const char SQL[] = "INSERT INTO settings(key, value, created_ms) VALUES(?1, ?2, 2)";
    rc = bk_sql_prepare(c, SQL, &st);
    if (rc == 0) rc = bk_sql_bind_text(st, 1, "k", -1);
    if (rc == 0) rc = bk_sql_bind_blob(st, 2, "w", 1);
    if (rc == 0) rc = bk_sql_step(st);
    if (st) bk_sql_reset(st);
  }
  bk_sql_close(c);
  return rc;
}

static void test_unique_violation_maps(void) {
  bk_db *db = open_named("uniq.db");
  bk_db_close(db);
  char u[600], lite[600];
  int pg = dup_insert(meta_url(u, sizeof u, "uniq.db"));
  char *dir = strdup("/tmp/bk_pg_lite_XXXXXX");
  CHECK(dir && mkdtemp(dir));
  snprintf(lite, sizeof lite, "sqlite://%s/u.db", dir);
  bk_db *ldb = NULL;
  CHECK_EQ_INT(bk_db_open_url(lite, &ldb), 0);
  bk_db_close(ldb);
  int sq = dup_insert(lite);
  CHECK_EQ_INT(sq, BK_EDB);
  CHECK_EQ_INT(pg, BK_EDB);
  CHECK(strstr(bk_errmsg(), "busy") == NULL);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_EQ_INT(system(cmd), 0);
  free(dir);
}

/* A wrong password: refused, the message names the URL without it. */
static void test_no_password_in_messages(void) {
  char bad[400];
  const char *at = strchr(pg_url + 13, '@');
  const char *colon = strchr(pg_url + 13, ':');
  CHECK(at && colon && colon < at);
  if (!at || !colon) return;
  snprintf(bad, sizeof bad, "%.*s:S3cretWrongPw%s", (int)(colon - pg_url), pg_url, at);
  bk_db *db = NULL;
  int rc = bk_db_open_url(bad, &db);
  CHECK(rc < 0);
  CHECK(strstr(bk_errmsg(), "S3cretWrongPw") == NULL);
  CHECK(strstr(bk_errmsg(), "***") != NULL);
  bk_db_close(db);
}

/* ---- names and paths ---- */

static void test_case_insensitive_names(void) {
  bk_db *db = open_named("names.db");
  CHECK(db != NULL);
  if (!db) return;
  bk_ns a, x;
  CHECK_EQ_INT(bk_db_user_add(db, "Alice", &a), 0);
  CHECK_EQ_INT(bk_db_user_add(db, "alice", NULL), BK_EEXIST);
  CHECK_EQ_INT(bk_db_org_add(db, "ALICE", a.id, NULL), BK_EEXIST);
  CHECK_EQ_INT(bk_db_ns_get(db, "aLiCe", &x), 0);
  CHECK_EQ_INT(x.id, a.id);
  CHECK_EQ_STR(x.name, "Alice");
  bk_db_close(db);
  /* the index itself refuses a case variant (two nodes racing past the check) */
  char u[600];
  CHECK_EQ_INT(meta_exec(meta_url(u, sizeof u, "names.db"),
                         "INSERT INTO namespaces(name, kind, created_ms) VALUES('ALICE', 1, 1)"),
               BK_EDB);
  /* ASCII folding only, like SQLite's NOCASE: non-ASCII letters differ */
  CHECK_EQ_INT(meta_exec(u, "INSERT INTO namespaces(name, kind, created_ms) VALUES('\xc3\x84x', 1, 1);"
                            "INSERT INTO namespaces(name, kind, created_ms) VALUES('\xc3\xa4x', 1, 1)"),
               0);
}

struct paths {
  char v[16][32];
  int n;
};

static int collect(void *ctx, const bk_file_entry *e) {
  struct paths *p = ctx;
  if (p->n < 16) snprintf(p->v[p->n++], sizeof p->v[0], "%s", e->path);
  return 0;
}

static void test_bytewise_paths(void) {
  bk_db *db = open_named("paths.db");
  CHECK(db != NULL);
  if (!db) return;
  bk_ns u;
  bk_bucket b;
  CHECK_EQ_INT(bk_db_user_add(db, "pathuser", &u), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "p", 0, &b), 0);
  /* byte order: '-' < '.' < 'A' < 'B' < '_' < 'a' < 'b' < '~' < 0xC3 */
  const char *in[] = {"b", "\xc3\xa4", "B", "a", "_x", "~", "A", ".d", "-e"};
  const char *want[] = {"-e", ".d", "A", "B", "_x", "a", "b", "~", "\xc3\xa4"};
  bk_batch_op ops[9];
  memset(ops, 0, sizeof ops);
  for (int i = 0; i < 9; i++) {
    ops[i].type = BK_OP_ADD;
    ops[i].path = in[i];
    ops[i].mtime_ms = 1;
    ops[i].size = -1;
  }
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 9, 0, &nf), 0);
  struct paths got = {.n = 0};
  char *next = NULL;
  CHECK_EQ_INT(bk_db_tree(db, b.id, "", BK_TREE_RECURSIVE, NULL, 100, collect, &got, &next), 0);
  free(next);
  CHECK_EQ_INT(got.n, 9);
  for (int i = 0; i < 9 && i < got.n; i++) CHECK_EQ_STR(got.v[i], want[i]);
  bk_db_close(db);
}

/* ---- a 1,000-op addFile batch and a listing page: bounded round trips ---- */

/* Every statement is a round trip (110-270 us on the loopback): the per-op
 * path ran 4 per addFile plus one per directory touched (this batch:
 * 4,322; 445-1085 ms against 14-21 ms on SQLite). The set-based path runs
 * a handful per 1,000 ops and per 1,000 directories. */
static int count_entry(void *ctx, const bk_file_entry *e) {
  (void)e;
  (*(int *)ctx)++;
  return 0;
}

static void test_batch_round_trips(void) {
  bk_db *db = open_named("trips.db");
  CHECK(db != NULL);
  if (!db) return;
  bk_ns u;
  bk_bucket b;
  CHECK_EQ_INT(bk_db_user_add(db, "tripuser", &u), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "t", 0, &b), 0);
  static char names[2500][32];
  static bk_batch_op ops[2500];
  for (int i = 0; i < 2500; i++) {
    snprintf(names[i], sizeof names[i], "d%02d/s%d/f%05d", i % 40, i % 7, i);
    ops[i] = (bk_batch_op){.type = BK_OP_ADD, .path = names[i], .mtime_ms = -1, .size = -1};
  }
  size_t nf = 9;
  uint64_t before = bk_sql_pg_exec_count();
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 1000, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  uint64_t used = bk_sql_pg_exec_count() - before;
  fprintf(stderr, "  1,000 addFile: %llu statements\n", (unsigned long long)used);
  CHECK_EQ_INT(nf, 0);
  CHECK(used <= 20); /* 320 directories (40 x 7 + 40) among them */
  /* 2,500 (three chunks), 1,000 of them overwrites */
  before = bk_sql_pg_exec_count();
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 2500, 0, &nf), 0);
  used = bk_sql_pg_exec_count() - before;
  fprintf(stderr, "  2,500 addFile: %llu statements\n", (unsigned long long)used);
  CHECK(used <= 30);
  bk_dir_stats ds;
  CHECK_EQ_INT(bk_db_dir_stats(db, b.id, "d00", &ds), 0);
  CHECK_EQ_INT(ds.nfiles, 63); /* i % 40 == 0 below 2500 */
  /* a recursive listing page is one statement (no BEGIN/COMMIT around it:
   * 3 round trips per page before) */
  int n = 0, pages = 0;
  char *cur = NULL;
  before = bk_sql_pg_exec_count();
  for (int k = 0; k < 10; k++) {
    char *next = NULL;
    CHECK_EQ_INT(bk_db_tree(db, b.id, "", BK_TREE_RECURSIVE, cur, 1000, count_entry, &n, &next), 0);
    free(cur);
    cur = next;
    pages++;
    if (!cur) break;
  }
  free(cur);
  used = bk_sql_pg_exec_count() - before;
  fprintf(stderr, "  listing 2,500 in %d pages: %llu round trips\n", pages, (unsigned long long)used);
  CHECK_EQ_INT(n, 2500);
  CHECK_EQ_INT(pages, 3);
  CHECK(used <= 3);
  bk_db_close(db);
}

/* ---- ids, schema ---- */

static void test_id_sync(void) {
  bk_db *db = open_named("ids.db");
  CHECK(db != NULL);
  bk_db_close(db);
  char u[600];
  meta_url(u, sizeof u, "ids.db");
  CHECK_EQ_INT(meta_exec(u, "INSERT INTO namespaces(id, name, kind, created_ms)"
                            " VALUES(1000, 'explicit', 1, 1)"),
               0);
  bk_sql_conn *c = NULL;
  CHECK_EQ_INT(bk_sql_connect_url(u, &c), 0);
  if (c) CHECK_EQ_INT(bk_sql_id_sync(c, "namespaces", "id"), 0);
  if (c) CHECK(bk_sql_id_sync(c, "namespaces; DROP TABLE x", "id") == BK_EINVAL);
  bk_sql_close(c);
  db = open_named("ids.db");
  bk_ns n;
  CHECK_EQ_INT(bk_db_user_add(db, "generated", &n), 0);
  CHECK(n.id > 1000);
  bk_db_close(db);
}

struct opener {
  const char *name;
  int rc;
  char msg[300];
};

static void *open_run(void *p) {
  struct opener *o = p;
  char u[600];
  bk_db *db = NULL;
  o->rc = bk_db_open_url(meta_url(u, sizeof u, o->name), &db);
  if (o->rc) snprintf(o->msg, sizeof o->msg, "%s", bk_errmsg());
  bk_db_close(db);
  return NULL;
}

/* Four nodes starting at once on a database that does not exist yet: one
 * creates it and the schema, the others wait and find it. */
static void test_concurrent_schema_creation(void) {
  struct opener o[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    o[i] = (struct opener){"race.db", -1, ""};
    pthread_create(&th[i], NULL, open_run, &o[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ_INT(o[i].rc, 0);
    if (o[i].rc) fprintf(stderr, "  node %d: %s\n", i, o[i].msg);
  }
  char u[600];
  CHECK_EQ_INT(sql_int(meta_url(u, sizeof u, "race.db"), "SELECT version FROM bk_schema"),
               bk_db_schema_version());
}

/* A PostgreSQL database at schema 8 (built here: the v9 objects dropped)
 * is upgraded to 9 in place; the bucket labels move to region_name. */
static void test_upgrade_8_to_9(void) {
  char u[600];
  meta_url(u, sizeof u, "up9.db");
  bk_db *db = NULL;
  CHECK_EQ_INT(bk_db_open_url(u, &db), 0);
  if (!db) return;
  bk_ns ns;
  CHECK_EQ_INT(bk_db_user_add(db, "old", &ns), 0);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, ns.id, "e", 0, "eu", NULL), 0);
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(u, "DROP TABLE prewarm_jobs; DROP TABLE bucket_warm;"
                            " DROP TABLE blob_copies; DROP TABLE regions;"
                            " ALTER TABLE xorbs DROP COLUMN home_region_id;"
                            " ALTER TABLE buckets DROP COLUMN region_name;"
                            " UPDATE bk_schema SET version = 8"),
               0);
  CHECK_EQ_INT(bk_db_open_url(u, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(sql_int(u, "SELECT version FROM bk_schema"), 9);
  CHECK_EQ_INT(sql_int(u, "SELECT count(*) FROM information_schema.tables WHERE table_name IN"
                          " ('regions', 'blob_copies', 'bucket_warm', 'prewarm_jobs')"),
               4);
  bk_bucket g;
  CHECK_EQ_INT(bk_db_bucket_get(db, "old", "e", &g), 0);
  CHECK_EQ_STR(g.region, "eu");
  /* any valid region name is accepted now */
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, ns.id, "f", 0, "ap-south-1", &g), 0);
  CHECK_EQ_STR(g.region, "ap-south-1");
  bk_db_close(db);
}

int main(void) {
  const char *urls = getenv("BK_TEST_DB_URLS");
  char *list = urls ? strdup(urls) : NULL;
  char *sv = NULL;
  for (char *u = list ? strtok_r(list, " ", &sv) : NULL; u; u = strtok_r(NULL, " ", &sv))
    if (meta_is_pg(u) && !pg_url[0]) snprintf(pg_url, sizeof pg_url, "%s", u);
  free(list);
  if (!pg_url[0]) {
    fprintf(stderr, "no postgresql:// URL in BK_TEST_DB_URLS (tests/run.sh starts one with"
                    " tests/tools/pg-up)\n");
    t_cur_name = "postgresql";
    CHECK(0);
    t_failed++;
    return test_summary();
  }
  meta_set_base(pg_url);
  fprintf(stderr, "-- on postgresql, databases %s/*\n", meta_pg_prefix);
  RUN(test_write_serialises_nodes);
  RUN(test_fence_excludes_registration);
  RUN(test_killed_connection_replaced);
  RUN(test_unique_violation_maps);
  RUN(test_no_password_in_messages);
  RUN(test_case_insensitive_names);
  RUN(test_bytewise_paths);
  RUN(test_batch_round_trips);
  RUN(test_id_sync);
  RUN(test_concurrent_schema_creation);
  RUN(test_upgrade_8_to_9);
  if (meta_drop_all() != 0) fprintf(stderr, "drop databases: %s\n", bk_errmsg());
  return test_summary();
}
