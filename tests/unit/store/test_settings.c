/* Unit tests: shared node state in the metadata database (src/store/settings.c):
 * write-once settings, web sessions, shared rate-limit windows. Two bk_db
 * handles on one file stand for two bucketd nodes on one database; closing
 * and reopening stands for a restart. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "store/accounts.h"
#include "buckets/error.h"
#include "store/settings.h"
#include "meta_sql.h"

/* Databases are "<meta_base>/<name>": SQLite in a temp dir by default, and
 * every base of BK_TEST_DB_URLS (a PostgreSQL one included) when set. */
static char root[64];
static int ndb;

static bk_db *open_db(const char *name) {
  char p[600];
  meta_url(p, sizeof p, name);
  bk_db *db = NULL;
  CHECK_EQ_INT(bk_db_open_url(p, &db), 0);
  return db;
}

static char *fresh_name(char *buf, size_t n) {
  snprintf(buf, n, "s%d.db", ndb++);
  return buf;
}

static void test_setting_once(void) {
  char name[32];
  fresh_name(name, sizeof name);
  bk_db *a = open_db(name), *b = open_db(name);
  uint8_t v[64];
  size_t n = 0;
  CHECK_EQ_INT(bk_db_setting_get(a, "k", v, sizeof v, &n), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_setting_add_once(a, "k", "first", 5, v, sizeof v, &n), 0);
  CHECK_EQ_INT(n, 5);
  CHECK(!memcmp(v, "first", 5));
  /* the other node's value loses: it reads the first one back */
  memset(v, 0, sizeof v);
  CHECK_EQ_INT(bk_db_setting_add_once(b, "k", "second!", 7, v, sizeof v, &n), 0);
  CHECK_EQ_INT(n, 5);
  CHECK(!memcmp(v, "first", 5));
  CHECK_EQ_INT(bk_db_setting_get(b, "k", v, sizeof v, &n), 0);
  CHECK(n == 5 && !memcmp(v, "first", 5));
  /* too small a buffer, bad keys and lengths */
  CHECK_EQ_INT(bk_db_setting_get(b, "k", v, 4, &n), BK_EFORMAT);
  CHECK_EQ_INT(bk_db_setting_get(b, "", v, sizeof v, &n), BK_EINVAL);
  CHECK_EQ_INT(bk_db_setting_add_once(b, "x", "", 0, v, sizeof v, &n), BK_EINVAL);
  char big[BK_SETTING_VALUE_MAX + 1];
  memset(big, 'x', sizeof big);
  CHECK_EQ_INT(bk_db_setting_add_once(b, "x", big, sizeof big, v, sizeof v, &n), BK_EINVAL);
  bk_db_close(b);
  bk_db_close(a);
  /* a restart reads the same value */
  a = open_db(name);
  CHECK_EQ_INT(bk_db_setting_get(a, "k", v, sizeof v, &n), 0);
  CHECK(n == 5 && !memcmp(v, "first", 5));
  bk_db_close(a);
}

struct racer {
  char name[32];
  int id;
  uint8_t got[8];
  int rc;
};

static void *race(void *arg) {
  struct racer *r = arg;
  bk_db *db = NULL;
  char p[600];
  meta_url(p, sizeof p, r->name);
  r->rc = bk_db_open_url(p, &db);
  uint8_t mine[8];
  memset(mine, 'a' + r->id, sizeof mine);
  size_t n = 0;
  if (!r->rc) r->rc = bk_db_setting_add_once(db, "secret", mine, sizeof mine, r->got, sizeof r->got, &n);
  if (!r->rc && n != sizeof mine) r->rc = -100;
  bk_db_close(db);
  return NULL;
}

/* Eight "nodes" starting at once on one database all end up with one value. */
static void test_setting_race(void) {
  char name[32];
  fresh_name(name, sizeof name);
  bk_db *first = open_db(name); /* the schema exists before the race */
  struct racer r[8];
  pthread_t th[8];
  for (int i = 0; i < 8; i++) {
    snprintf(r[i].name, sizeof r[i].name, "%s", name);
    r[i].id = i;
    pthread_create(&th[i], NULL, race, &r[i]);
  }
  for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 8; i++) {
    CHECK_EQ_INT(r[i].rc, 0);
    CHECK(!memcmp(r[i].got, r[0].got, sizeof r[0].got));
  }
  bk_db_close(first);
}

static const bk_session_limits LIM = {
    .idle_ms = 1000, .ttl_ms = 5000, .touch_ms = 100, .max_total = 6, .max_per_user = 3};

static bk_hash hid(int i) {
  bk_hash h;
  memset(&h, 0, sizeof h);
  h.b[0] = (uint8_t)i;
  h.b[31] = 0x5a;
  return h;
}

struct acct {
  int64_t user, token;
};

static struct acct mkuser(bk_db *db, const char *name) {
  bk_ns ns;
  char tok[BK_TOKEN_LEN + 1];
  struct acct a = {0, 0};
  CHECK_EQ_INT(bk_db_user_add(db, name, &ns), 0);
  CHECK_EQ_INT(bk_db_token_add(db, ns.id, BK_ROLE_WRITE, tok, &a.token), 0);
  a.user = ns.id;
  return a;
}

static void test_sessions(void) {
  char name[32];
  fresh_name(name, sizeof name);
  bk_db *a = open_db(name), *b = open_db(name);
  struct acct al = mkuser(a, "alice"), bo = mkuser(a, "bob");
  bk_hash k1 = hid(1), k2 = hid(2);
  bk_session s;
  CHECK_EQ_INT(bk_db_session_add(a, &k1, al.user, al.token, 2, 10000, &LIM), 0);
  CHECK_EQ_INT(bk_db_session_add(a, &k1, al.user, al.token, 2, 10000, &LIM), BK_EEXIST);
  /* a token of another user, or none at all, makes no session */
  CHECK_EQ_INT(bk_db_session_add(a, &k2, al.user, bo.token, 2, 10000, &LIM), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_session_add(a, &k2, al.user, 999, 2, 10000, &LIM), BK_ENOTFOUND);
  /* the other node sees it */
  CHECK_EQ_INT(bk_db_session_get(b, &k1, 10050, &LIM, &s), 0);
  CHECK_EQ_INT(s.user_id, al.user);
  CHECK_EQ_INT(s.token_id, al.token);
  CHECK_EQ_INT(s.role, 2);
  CHECK_EQ_STR(s.name, "alice");
  CHECK_EQ_INT(s.created_ms, 10000);
  CHECK_EQ_INT(s.last_ms, 10000); /* 50 ms < touch_ms: no write */
  CHECK_EQ_INT(bk_db_session_get(a, &k1, 10150, &LIM, &s), 0);
  CHECK_EQ_INT(s.last_ms, 10150); /* recorded */
  CHECK_EQ_INT(bk_db_session_get(b, &k1, 10200, &LIM, &s), 0);
  CHECK_EQ_INT(s.last_ms, 10150); /* written at most once per touch_ms */
  /* idle expiry counts from the recorded use */
  CHECK_EQ_INT(bk_db_session_get(a, &k1, 10150 + 1000, &LIM, &s), 0);
  CHECK_EQ_INT(bk_db_session_get(a, &k1, 10150 + 1000 + 1001, &LIM, &s), BK_ENOTFOUND);
  int64_t n = -1;
  CHECK_EQ_INT(bk_db_session_count(a, 0, &n), 0);
  CHECK_EQ_INT(n, 0); /* the expired row is gone */
  /* ttl: used all the time, still ends 5 s after creation */
  CHECK_EQ_INT(bk_db_session_add(a, &k1, al.user, al.token, 2, 20000, &LIM), 0);
  for (int64_t t = 20500; t <= 25000; t += 500) CHECK_EQ_INT(bk_db_session_get(a, &k1, t, &LIM, &s), 0);
  CHECK_EQ_INT(bk_db_session_get(a, &k1, 25001, &LIM, &s), BK_ENOTFOUND);
  /* sign-out deletes the row: the other node no longer finds it */
  CHECK_EQ_INT(bk_db_session_add(a, &k1, al.user, al.token, 2, 30000, &LIM), 0);
  CHECK_EQ_INT(bk_db_session_del(a, &k1), 0);
  CHECK_EQ_INT(bk_db_session_get(b, &k1, 30001, &LIM, &s), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_session_del(a, &k1), 0); /* unknown: no error */
  /* a revoked token ends its sessions */
  CHECK_EQ_INT(bk_db_session_add(a, &k1, al.user, al.token, 2, 40000, &LIM), 0);
  CHECK_EQ_INT(bk_db_session_add(a, &k2, bo.user, bo.token, 2, 40000, &LIM), 0);
  CHECK_EQ_INT(bk_db_token_revoke(b, al.token), 0);
  CHECK_EQ_INT(bk_db_session_get(a, &k1, 40001, &LIM, &s), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_session_get(a, &k2, 40001, &LIM, &s), 0);
  CHECK_EQ_INT(bk_db_session_count(a, al.user, &n), 0);
  CHECK_EQ_INT(n, 0);
  bk_db_close(b);
  bk_db_close(a);
  /* a restart keeps bob's session */
  a = open_db(name);
  CHECK_EQ_INT(bk_db_session_get(a, &k2, 40002, &LIM, &s), 0);
  CHECK_EQ_STR(s.name, "bob");
  bk_db_close(a);
}

static void test_session_caps(void) {
  char name[32];
  fresh_name(name, sizeof name);
  bk_db *db = open_db(name);
  struct acct u[3] = {mkuser(db, "u0"), mkuser(db, "u1"), mkuser(db, "u2")};
  bk_session s;
  int64_t n = 0;
  /* per user: 3; the least recently used goes, the new one always stays
   * (all created in the same millisecond) */
  for (int i = 0; i < 4; i++) {
    bk_hash k = hid(10 + i);
    CHECK_EQ_INT(bk_db_session_add(db, &k, u[0].user, u[0].token, 1, 1000, &LIM), 0);
  }
  CHECK_EQ_INT(bk_db_session_count(db, u[0].user, &n), 0);
  CHECK_EQ_INT(n, 3);
  bk_hash k10 = hid(10), k11 = hid(11), k13 = hid(13);
  CHECK_EQ_INT(bk_db_session_get(db, &k10, 1001, &LIM, &s), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_session_get(db, &k13, 1001, &LIM, &s), 0);
  /* use #11 so that #12 is the least recently used one */
  CHECK_EQ_INT(bk_db_session_get(db, &k11, 1200, &LIM, &s), 0);
  bk_hash k14 = hid(14), k12 = hid(12);
  CHECK_EQ_INT(bk_db_session_add(db, &k14, u[0].user, u[0].token, 1, 1300, &LIM), 0);
  CHECK_EQ_INT(bk_db_session_get(db, &k12, 1301, &LIM, &s), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_session_get(db, &k11, 1301, &LIM, &s), 0);
  /* in all: 6 */
  for (int i = 0; i < 3; i++) {
    bk_hash k = hid(20 + i), m = hid(30 + i);
    CHECK_EQ_INT(bk_db_session_add(db, &k, u[1].user, u[1].token, 1, 1400 + i, &LIM), 0);
    CHECK_EQ_INT(bk_db_session_add(db, &m, u[2].user, u[2].token, 1, 1500 + i, &LIM), 0);
  }
  CHECK_EQ_INT(bk_db_session_count(db, 0, &n), 0);
  CHECK_EQ_INT(n, 6);
  bk_hash k32 = hid(32);
  CHECK_EQ_INT(bk_db_session_get(db, &k32, 1600, &LIM, &s), 0);
  bk_db_close(db);
}

static void test_rate_windows(void) {
  char name[32];
  fresh_name(name, sizeof name);
  bk_db *a = open_db(name), *b = open_db(name);
  int ok = -1;
  unsigned c = 99;
  /* two nodes count into one window */
  CHECK_EQ_INT(bk_db_rate_take(a, 7, 600, 3, &ok, &c), 0);
  CHECK(ok == 1 && c == 1);
  CHECK_EQ_INT(bk_db_rate_take(b, 7, 600, 3, &ok, &c), 0);
  CHECK(ok == 1 && c == 2);
  CHECK_EQ_INT(bk_db_rate_take(a, 7, 600, 3, &ok, &c), 0);
  CHECK(ok == 1 && c == 3);
  CHECK_EQ_INT(bk_db_rate_take(b, 7, 600, 3, &ok, &c), 0);
  CHECK(ok == 0 && c == 3);
  CHECK_EQ_INT(bk_db_rate_take(a, 7, 600, 3, &ok, &c), 0);
  CHECK(ok == 0 && c == 3);
  /* another caller, another window */
  CHECK_EQ_INT(bk_db_rate_take(a, -8, 600, 3, &ok, &c), 0);
  CHECK(ok == 1 && c == 1);
  CHECK_EQ_INT(bk_db_rate_take(b, 7, 900, 3, &ok, &c), 0);
  CHECK(ok == 1 && c == 1);
  CHECK_EQ_INT(bk_db_rate_take(b, 7, 900, 0, &ok, &c), BK_EINVAL);
  /* pruning drops the windows that started before */
  CHECK_EQ_INT(bk_db_rate_prune(b, 900), 0);
  CHECK_EQ_INT(bk_db_rate_take(a, 7, 600, 3, &ok, &c), 0);
  CHECK(ok == 1 && c == 1); /* counted from scratch: its row was deleted */
  CHECK_EQ_INT(bk_db_rate_take(a, 7, 900, 3, &ok, &c), 0);
  CHECK(ok == 1 && c == 2); /* kept */
  bk_db_close(b);
  bk_db_close(a);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_settings_XXXXXX");
  if (!mkdtemp(root)) return 1;
  const char *urls = getenv("BK_TEST_DB_URLS");
  char def[100];
  snprintf(def, sizeof def, "sqlite://%s", root);
  char *list = strdup(urls && *urls ? urls : def);
  char *sv = NULL;
  for (char *u = list ? strtok_r(list, " ", &sv) : NULL; u; u = strtok_r(NULL, " ", &sv)) {
    meta_set_base(u);
    fprintf(stderr, "-- on %s\n", meta_is_pg(u) ? "postgresql" : meta_base);
    RUN(test_setting_once);
    RUN(test_setting_race);
    RUN(test_sessions);
    RUN(test_session_caps);
    RUN(test_rate_windows);
    if (meta_drop_all() != 0) fprintf(stderr, "drop databases: %s\n", bk_errmsg());
  }
  free(list);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return test_summary();
}
