/* Unit tests: the store a bucketd command uses (src/server/storecfg.c):
 * --data vs --db/--blobs and their environment forms, absolute paths, and
 * the masking of credentials in URLs shown in logs and messages. */
#include <stdio.h>
#include <stdlib.h>

#include "../test.h"
#include "server/storecfg.h"

static void clear_env(void) {
  unsetenv("BUCKETD_DATA");
  unsetenv("BUCKETD_DB");
  unsetenv("BUCKETD_BLOBS");
}

static void test_choose_flags(void) {
  clear_env();
  struct bk_store_choice c;
  CHECK_EQ_INT(bk_store_choose(NULL, NULL, NULL, 1, &c), 0);
  CHECK_EQ_STR(c.data, "./var");
  CHECK(!c.db && !c.blobs);
  CHECK_EQ_INT(bk_store_choose("/d", NULL, NULL, 1, &c), 0);
  CHECK_EQ_STR(c.data, "/d");
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite:///m.db", "file:///b", 1, &c), 0);
  CHECK(!c.data);
  CHECK_EQ_STR(c.db, "sqlite:///m.db");
  CHECK_EQ_STR(c.blobs, "file:///b");
  CHECK_EQ_INT(bk_store_choose(NULL, "postgresql://u:p@h:5432/d", "s3://b?endpoint=http://h&region=r", 1, &c), 0);
  /* the rules */
  CHECK_EQ_INT(bk_store_choose("/d", "sqlite:///m.db", "file:///b", 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose("/d", NULL, "file:///b", 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite:///m.db", NULL, 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, NULL, "file:///b", 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, NULL, "file:///b", 0, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite:///m.db", NULL, 0, &c), 0); /* accounts: --db only */
  CHECK(c.db && !c.blobs);
  /* absolute paths, no query on local URLs, a scheme */
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite://m.db", "file:///b", 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite:///m.db", "file://b", 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite:///m.db?mode=ro", "file:///b", 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite:///m.db", "file:///b%20c", 1, &c), 2);
  CHECK_EQ_INT(bk_store_choose(NULL, "/m.db", "file:///b", 1, &c), 2);
}

static void test_choose_env(void) {
  clear_env();
  struct bk_store_choice c;
  setenv("BUCKETD_DB", "sqlite:///e.db", 1);
  CHECK_EQ_INT(bk_store_choose(NULL, NULL, NULL, 1, &c), 2); /* BUCKETD_BLOBS missing */
  CHECK_EQ_INT(bk_store_choose(NULL, NULL, NULL, 0, &c), 0);
  CHECK_EQ_STR(c.db, "sqlite:///e.db");
  setenv("BUCKETD_BLOBS", "file:///e", 1);
  CHECK_EQ_INT(bk_store_choose(NULL, NULL, NULL, 1, &c), 0);
  CHECK_EQ_STR(c.blobs, "file:///e");
  /* flags win as a group */
  CHECK_EQ_INT(bk_store_choose("/d", NULL, NULL, 1, &c), 0);
  CHECK_EQ_STR(c.data, "/d");
  CHECK(!c.db);
  setenv("BUCKETD_DATA", "/x", 1);
  CHECK_EQ_INT(bk_store_choose(NULL, NULL, NULL, 1, &c), 2); /* env data with env URLs */
  CHECK_EQ_INT(bk_store_choose(NULL, "sqlite:///m.db", "file:///b", 1, &c), 0);
  CHECK_EQ_STR(c.db, "sqlite:///m.db");
  CHECK(!c.data);
  clear_env();
}

static void test_mask(void) {
  char out[256];
  bk_url_mask("postgresql://buckets:s3cr3t@127.0.0.1:5432/buckets", out, sizeof out);
  CHECK_EQ_STR(out, "postgresql://buckets:***@127.0.0.1:5432/buckets");
  bk_url_mask("postgresql://u:p@ss@w0rd@h/db?sslmode=disable&password=x2", out, sizeof out);
  CHECK_EQ_STR(out, "postgresql://u:***@h/db?sslmode=disable&password=***");
  bk_url_mask("postgresql://u@h/db", out, sizeof out);
  CHECK_EQ_STR(out, "postgresql://u@h/db");
  bk_url_mask("s3://b?endpoint=http://127.0.0.1:7480&region=us-east-1&prefix=p/", out, sizeof out);
  CHECK_EQ_STR(out, "s3://b?endpoint=http://127.0.0.1:7480&region=us-east-1&prefix=p/");
  bk_url_mask("s3://b?region=r&secret_key=AAA&access_key=BBB&X-Amz-Signature=CC#f", out, sizeof out);
  CHECK_EQ_STR(out, "s3://b?region=r&secret_key=***&access_key=***&X-Amz-Signature=***#f");
  bk_url_mask("sqlite:///srv/meta.db", out, sizeof out);
  CHECK_EQ_STR(out, "sqlite:///srv/meta.db");
  bk_url_mask("postgresql://u:longpassword@h/db", out, 12); /* truncated, terminated */
  CHECK_EQ_INT(strlen(out), 11);
  CHECK(!strstr(out, "longpass"));
  char msg[256] = "connect to postgresql://u:hunter2@h/db failed: hunter2 rejected";
  bk_url_scrub("postgresql://u:hunter2@h/db", msg, sizeof msg);
  CHECK_EQ_STR(msg, "connect to postgresql://u:***@h/db failed: *** rejected");
  char desc[512];
  struct bk_store_choice c = {.db = "postgresql://a:b@h/d", .blobs = "file:///x"};
  bk_store_describe(&c, desc, sizeof desc);
  CHECK_EQ_STR(desc, "db postgresql://a:***@h/d, blobs file:///x");
  struct bk_store_choice d = {.data = "./var"};
  bk_store_describe(&d, desc, sizeof desc);
  CHECK_EQ_STR(desc, "data ./var");
}

int main(void) {
  RUN(test_choose_flags);
  RUN(test_choose_env);
  RUN(test_mask);
  return test_summary();
}
