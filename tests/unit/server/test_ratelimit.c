/* Unit tests: fixed-window rate limits (src/server/ratelimit.c). */
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "store/db.h"
#include "buckets/error.h"
#include "server/ratelimit.h"

static void test_quota_and_window(void) {
  unsigned q[BK_RL_NCLASSES] = {3, 0, 1};
  bk_ratelimit *rl = NULL;
  CHECK_EQ_INT(bk_ratelimit_new(q, 60, &rl), 0);
  bk_rl_state st;
  int64_t t = 6000; /* a window starts here (6000 % 60 == 0) */
  for (unsigned i = 0; i < 3; i++) {
    CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_API, "user:1", t + 10, &st), 1);
    CHECK_EQ_INT(st.remaining, 2 - i);
    CHECK_EQ_INT(st.quota, 3);
    CHECK_EQ_INT(st.reset, 50);
    CHECK_EQ_INT(st.window, 60);
  }
  CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_API, "user:1", t + 59, &st), 0);
  CHECK_EQ_INT(st.remaining, 0);
  CHECK_EQ_INT(st.reset, 1);
  /* another caller, and the same caller in another class, count apart */
  CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_API, "user:2", t + 59, &st), 1);
  CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_PAGES, "user:1", t + 59, &st), 1);
  CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_PAGES, "user:1", t + 59, &st), 0);
  /* a class without quota is never limited and says so */
  for (int i = 0; i < 100; i++) CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_RESOLVERS, "user:1", t, &st), 1);
  CHECK_EQ_INT(st.quota, 0);
  /* the next window starts afresh */
  CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_API, "user:1", t + 60, &st), 1);
  CHECK_EQ_INT(st.remaining, 2);
  CHECK_EQ_INT(st.reset, 60);
  bk_ratelimit_free(rl);
}

/* Far more callers than slots: memory stays fixed and the limit still holds
 * (callers that find no slot share the overflow counter). */
static void test_many_callers(void) {
  unsigned q[BK_RL_NCLASSES] = {2, 0, 0};
  bk_ratelimit *rl = NULL;
  CHECK_EQ_INT(bk_ratelimit_new(q, 300, &rl), 0);
  bk_rl_state st;
  unsigned allowed = 0, n = 3 * BK_RL_SLOTS;
  char name[32];
  for (unsigned i = 0; i < n; i++) {
    snprintf(name, sizeof name, "ip:10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
    allowed += (unsigned)bk_ratelimit_take(rl, BK_RL_API, name, 600, &st);
    allowed += (unsigned)bk_ratelimit_take(rl, BK_RL_API, name, 600, &st);
    allowed += (unsigned)bk_ratelimit_take(rl, BK_RL_API, name, 600, &st);
  }
  /* at most 2 per caller that got a slot, plus 2 for all the others */
  CHECK(allowed <= 2 * BK_RL_SLOTS + 2);
  CHECK(allowed >= 2 * (BK_RL_SLOTS / 2)); /* most slots were usable */
  /* a caller seen early is still limited */
  CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_API, "ip:10.0.0.0", 600, &st), 0);
  /* in the next window the stale slots are reused */
  CHECK_EQ_INT(bk_ratelimit_take(rl, BK_RL_API, "ip:10.0.0.0", 900, &st), 1);
  bk_ratelimit_free(rl);
}

/* Shared mode: two limiters on two bk_db handles of one database file (two
 * nodes) enforce one quota per caller and class; the state reported is the
 * same as in process. */
static void test_shared_two_nodes(void) {
  char dir[] = "/tmp/bk_rl_XXXXXX", path[64];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/b.db", dir);
  bk_db *da = NULL, *db = NULL;
  CHECK_EQ_INT(bk_db_open(path, &da), 0);
  CHECK_EQ_INT(bk_db_open(path, &db), 0);
  unsigned q[BK_RL_NCLASSES] = {4, 0, 1};
  uint8_t key[32] = {9, 8, 7};
  bk_ratelimit *a = NULL, *b = NULL;
  CHECK_EQ_INT(bk_ratelimit_new_shared(q, 60, da, key, &a), 0);
  CHECK_EQ_INT(bk_ratelimit_new_shared(q, 60, db, key, &b), 0);
  CHECK_EQ_INT(bk_ratelimit_new_shared(q, 60, NULL, key, &b), BK_EINVAL);
  bk_rl_state st;
  int64_t t = 6000;
  for (unsigned i = 0; i < 4; i++) {
    CHECK_EQ_INT(bk_ratelimit_take(i % 2 ? b : a, BK_RL_API, "user:1", t + 10, &st), 1);
    CHECK_EQ_INT(st.remaining, 3 - i);
    CHECK_EQ_INT(st.quota, 4);
    CHECK_EQ_INT(st.reset, 50);
    CHECK_EQ_INT(st.window, 60);
  }
  /* the 5th request is refused on either node */
  CHECK_EQ_INT(bk_ratelimit_take(a, BK_RL_API, "user:1", t + 20, &st), 0);
  CHECK_EQ_INT(st.remaining, 0);
  CHECK_EQ_INT(bk_ratelimit_take(b, BK_RL_API, "user:1", t + 20, &st), 0);
  /* other callers and classes count apart; a class without quota is free */
  CHECK_EQ_INT(bk_ratelimit_take(b, BK_RL_API, "user:2", t + 20, &st), 1);
  CHECK_EQ_INT(st.remaining, 3);
  CHECK_EQ_INT(bk_ratelimit_take(a, BK_RL_PAGES, "user:1", t + 20, &st), 1);
  CHECK_EQ_INT(bk_ratelimit_take(b, BK_RL_PAGES, "user:1", t + 20, &st), 0);
  CHECK_EQ_INT(bk_ratelimit_take(b, BK_RL_RESOLVERS, "user:1", t + 20, &st), 1);
  CHECK_EQ_INT(st.quota, 0);
  /* the next window starts afresh, for both */
  CHECK_EQ_INT(bk_ratelimit_take(b, BK_RL_API, "user:1", t + 60, &st), 1);
  CHECK_EQ_INT(st.remaining, 3);
  CHECK_EQ_INT(st.reset, 60);
  CHECK_EQ_INT(bk_ratelimit_take(a, BK_RL_API, "user:1", t + 61, &st), 1);
  CHECK_EQ_INT(st.remaining, 2);
  /* a limiter with another key (another deployment) counts elsewhere */
  bk_ratelimit *c = NULL;
  uint8_t key2[32] = {1};
  CHECK_EQ_INT(bk_ratelimit_new_shared(q, 60, db, key2, &c), 0);
  CHECK_EQ_INT(bk_ratelimit_take(c, BK_RL_API, "user:1", t + 62, &st), 1);
  CHECK_EQ_INT(st.remaining, 3);
  /* the in-process limiter (the default) does not share: a fresh one has
   * the whole quota */
  bk_ratelimit *local = NULL;
  CHECK_EQ_INT(bk_ratelimit_new(q, 60, &local), 0);
  CHECK_EQ_INT(bk_ratelimit_take(local, BK_RL_API, "user:1", t + 62, &st), 1);
  CHECK_EQ_INT(st.remaining, 3);
  bk_ratelimit_free(local);
  bk_ratelimit_free(c);
  bk_ratelimit_free(b);
  bk_ratelimit_free(a);
  bk_db_close(db);
  bk_db_close(da);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_EQ_INT(system(cmd), 0);
}

static void test_parse(void) {
  unsigned q[BK_RL_NCLASSES] = {0, 0, 0}, w = 0;
  CHECK_EQ_INT(bk_ratelimit_parse("api=1000,resolvers=5000,window=120", q, &w), 0);
  CHECK_EQ_INT(q[BK_RL_API], 1000);
  CHECK_EQ_INT(q[BK_RL_RESOLVERS], 5000);
  CHECK_EQ_INT(q[BK_RL_PAGES], 0);
  CHECK_EQ_INT(w, 120);
  CHECK_EQ_INT(bk_ratelimit_parse("pages=7", q, &w), 0);
  CHECK_EQ_INT(q[BK_RL_PAGES], 7);
  CHECK_EQ_INT(bk_ratelimit_parse("api", q, &w), BK_EINVAL);
  CHECK_EQ_INT(bk_ratelimit_parse("api=x", q, &w), BK_EINVAL);
  CHECK_EQ_INT(bk_ratelimit_parse("api=10x", q, &w), BK_EINVAL);
  CHECK_EQ_INT(bk_ratelimit_parse("cas=10", q, &w), BK_EINVAL);
  CHECK_EQ_INT(bk_ratelimit_parse("window=0", q, &w), BK_EINVAL);
  CHECK_EQ_INT(bk_ratelimit_parse("apix=1", q, &w), BK_EINVAL);
  CHECK_EQ_STR(bk_ratelimit_class_name(BK_RL_RESOLVERS), "resolvers");
}

int main(void) {
  RUN(test_quota_and_window);
  RUN(test_many_callers);
  RUN(test_parse);
  RUN(test_shared_two_nodes);
  return test_summary();
}
