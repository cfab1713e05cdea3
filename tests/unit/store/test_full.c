/* Unit tests: a full disk is one error code, BK_ENOSPC (fsutil.c bk_errno_code,
 * db.c db_code), for file writes (/dev/full answers every write with ENOSPC)
 * and for SQLite (SQLITE_FULL, provoked with PRAGMA max_page_count), and the
 * database works again once there is room. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/db.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "store/db_internal.h"
#include "../test.h"

static char root[256];

static void test_errno_code(void) {
  CHECK_EQ_INT(bk_errno_code(ENOSPC), BK_ENOSPC);
  CHECK_EQ_INT(bk_errno_code(EDQUOT), BK_ENOSPC);
  CHECK_EQ_INT(bk_errno_code(EIO), BK_EIO);
  CHECK_EQ_INT(bk_errno_code(EACCES), BK_EIO);
  CHECK_EQ_STR(bk_strerror(BK_ENOSPC), "disk is full");
}

static void test_write_full_device(void) {
  int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "  (no /dev/full: skipped)\n");
    return;
  }
  char buf[100] = {0};
  CHECK_EQ_INT(bk_write_full(fd, buf, sizeof buf), BK_ENOSPC);
  CHECK(strstr(bk_errmsg(), "No space left") != NULL);
  close(fd);
}

/* Sets max_page_count on the pool's only connection (single thread: the
 * next bk_db call borrows the same one). */
static int set_max_pages(bk_db *db, const char *value) {
  struct dbc *c;
  if (dbc_acquire(db, &c)) return -1;
  char sql[80];
  snprintf(sql, sizeof sql, "PRAGMA max_page_count=%s", value);
  int rc = bk_sql_exec(c->h, sql);
  dbc_release(db, c);
  return rc == 0 ? 0 : -1;
}

static void test_sqlite_full(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/full.db", root);
  bk_db *db = NULL;
  CHECK_EQ_INT(bk_db_open(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(bk_db_user_add(db, "first", NULL), 0);
  /* no page beyond the current size: the next writes that grow it fail */
  CHECK_EQ_INT(set_max_pages(db, "1"), 0);
  int rc = 0, i;
  for (i = 0; i < 5000 && rc == 0; i++) {
    char name[32];
    snprintf(name, sizeof name, "user%d", i);
    rc = bk_db_user_add(db, name, NULL);
  }
  CHECK_EQ_INT(rc, BK_ENOSPC);
  CHECK(strstr(bk_errmsg(), "full") != NULL);
  /* room again: the same connection writes again */
  CHECK_EQ_INT(set_max_pages(db, "1073741823"), 0);
  CHECK_EQ_INT(bk_db_user_add(db, "after", NULL), 0);
  bk_db_close(db);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_full_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_errno_code);
  RUN(test_write_full_device);
  RUN(test_sqlite_full);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
