/* Unit tests: src/store/fsutil.c */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "../test.h"

static char root[256];

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static void test_mkdir_p(void) {
  char p[512];
  snprintf(p, sizeof p, "%s/a/b/c/", root);
  CHECK_EQ_INT(bk_mkdir_p(p, 0755), 0);
  struct stat st;
  snprintf(p, sizeof p, "%s/a/b/c", root);
  CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
  CHECK_EQ_INT(bk_mkdir_p(p, 0755), 0); /* exists: fine */
  CHECK_EQ_INT(bk_mkdir_p("", 0755), BK_EINVAL);
  /* a file in the way */
  snprintf(p, sizeof p, "%s/a", root);
  CHECK_EQ_INT(bk_write_file_durable(p, "file", "x", 1), 0);
  snprintf(p, sizeof p, "%s/a/file/sub", root);
  CHECK(bk_mkdir_p(p, 0755) < 0);
}

static void test_write_durable(void) {
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/w", root);
  CHECK_EQ_INT(bk_mkdir_p(dir, 0755), 0);
  CHECK_EQ_INT(bk_write_file_durable(dir, "f.txt", "hello", 5), 0);
  snprintf(path, sizeof path, "%s/f.txt", dir);
  bk_buf b;
  bk_buf_init(&b, 1024);
  CHECK_EQ_INT(bk_read_file(path, 1024, &b), 0);
  CHECK(b.len == 5 && memcmp(b.p, "hello", 5) == 0);
  /* overwrite atomically */
  CHECK_EQ_INT(bk_write_file_durable(dir, "f.txt", "bye", 3), 0);
  bk_buf_reset(&b);
  CHECK_EQ_INT(bk_read_file(path, 1024, &b), 0);
  CHECK(b.len == 3 && memcmp(b.p, "bye", 3) == 0);
  /* no temp files left behind */
  CHECK_EQ_INT(count_entries(dir), 1);
  /* mode */
  CHECK_EQ_INT(bk_write_file_durable_mode(dir, "secret", "k", 1, 0600), 0);
  struct stat st;
  snprintf(path, sizeof path, "%s/secret", dir);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  /* bad names */
  CHECK_EQ_INT(bk_write_file_durable(dir, "a/b", "x", 1), BK_EINVAL);
  CHECK_EQ_INT(bk_write_file_durable(dir, "..", "x", 1), BK_EINVAL);
  CHECK_EQ_INT(bk_write_file_durable(dir, "", "x", 1), BK_EINVAL);
  /* missing dir */
  CHECK_EQ_INT(bk_write_file_durable("/nonexistent/dir/x", "f", "x", 1), BK_EIO);
  /* empty file */
  CHECK_EQ_INT(bk_write_file_durable(dir, "empty", "", 0), 0);
  snprintf(path, sizeof path, "%s/empty", dir);
  bk_buf_reset(&b);
  CHECK_EQ_INT(bk_read_file(path, 10, &b), 0);
  CHECK_EQ_INT(b.len, 0);
  bk_buf_free(&b);
}

static void test_afile(void) {
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/s", root);
  CHECK_EQ_INT(bk_mkdir_p(dir, 0755), 0);
  bk_afile *f;
  CHECK_EQ_INT(bk_afile_open(dir, "big", 0644, &f), 0);
  uint8_t chunk[4096];
  for (int i = 0; i < 100; i++) {
    memset(chunk, i, sizeof chunk);
    CHECK_EQ_INT(bk_afile_write(f, chunk, sizeof chunk), 0);
  }
  CHECK_EQ_INT(bk_afile_size(f), 409600);
  /* not visible before commit */
  snprintf(path, sizeof path, "%s/big", dir);
  CHECK(access(path, F_OK) != 0);
  uint8_t back[16];
  CHECK_EQ_INT(bk_pread_full(bk_afile_fd(f), back, 16, 4096 * 7), 0);
  CHECK(back[0] == 7 && back[15] == 7);
  CHECK_EQ_INT(bk_afile_commit(f), 0);
  CHECK(access(path, F_OK) == 0);
  bk_buf b;
  bk_buf_init(&b, 1 << 20);
  CHECK_EQ_INT(bk_read_file(path, 1 << 20, &b), 0);
  CHECK_EQ_INT(b.len, 409600);
  CHECK(b.p[409599] == 99);
  bk_buf_free(&b);
  CHECK_EQ_INT(count_entries(dir), 1);

  /* abort leaves nothing */
  CHECK_EQ_INT(bk_afile_open(dir, "gone", 0644, &f), 0);
  CHECK_EQ_INT(bk_afile_write(f, "abc", 3), 0);
  bk_afile_abort(f);
  CHECK_EQ_INT(count_entries(dir), 1);
  bk_afile_abort(NULL);

  /* name chosen at commit time, into another dir */
  char dir2[512];
  snprintf(dir2, sizeof dir2, "%s/s2", root);
  CHECK_EQ_INT(bk_mkdir_p(dir2, 0755), 0);
  CHECK_EQ_INT(bk_afile_open(dir, NULL, 0644, &f), 0);
  CHECK_EQ_INT(bk_afile_write(f, "xyz", 3), 0);
  CHECK_EQ_INT(bk_afile_commit_as(f, dir2, "final"), 0);
  CHECK_EQ_INT(count_entries(dir), 1);
  CHECK_EQ_INT(count_entries(dir2), 1);
  /* no-replace commits */
  CHECK_EQ_INT(bk_afile_open(dir, NULL, 0644, &f), 0);
  CHECK_EQ_INT(bk_afile_write(f, "new", 3), 0);
  CHECK_EQ_INT(bk_afile_commit_as_noreplace(f, dir2, "final"), BK_EEXIST);
  CHECK_EQ_INT(count_entries(dir), 1); /* temp removed */
  {
    char fp[600];
    snprintf(fp, sizeof fp, "%s/final", dir2);
    bk_buf b2;
    bk_buf_init(&b2, 100);
    CHECK_EQ_INT(bk_read_file(fp, 100, &b2), 0);
    CHECK(b2.len == 3 && memcmp(b2.p, "xyz", 3) == 0); /* unchanged */
    bk_buf_free(&b2);
  }
  CHECK_EQ_INT(bk_write_file_durable_noreplace(dir2, "final", "abc", 3, 0644), BK_EEXIST);
  CHECK_EQ_INT(bk_write_file_durable_noreplace(dir2, "other", "abc", 3, 0644), 0);
  CHECK_EQ_INT(count_entries(dir2), 2);
  /* commit without a name fails and cleans up */
  CHECK_EQ_INT(bk_afile_open(dir, NULL, 0644, &f), 0);
  CHECK_EQ_INT(bk_afile_commit(f), BK_EINVAL);
  CHECK_EQ_INT(count_entries(dir), 1);
}

static void test_read_limits(void) {
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/r", root);
  CHECK_EQ_INT(bk_mkdir_p(dir, 0755), 0);
  CHECK_EQ_INT(bk_write_file_durable(dir, "ten", "0123456789", 10), 0);
  snprintf(path, sizeof path, "%s/ten", dir);
  bk_buf b;
  bk_buf_init(&b, 100);
  CHECK_EQ_INT(bk_read_file(path, 9, &b), BK_ELIMIT);
  CHECK_EQ_INT(b.len, 0);
  CHECK_EQ_INT(bk_read_file(path, 10, &b), 0);
  CHECK_EQ_INT(b.len, 10);
  bk_buf_free(&b);
  bk_buf_init(&b, 5); /* buffer cap smaller than the file */
  CHECK_EQ_INT(bk_read_file(path, 100, &b), BK_ELIMIT);
  bk_buf_free(&b);
  bk_buf_init(&b, 100);
  snprintf(path, sizeof path, "%s/nope", dir);
  CHECK_EQ_INT(bk_read_file(path, 100, &b), BK_ENOTFOUND);
  bk_buf_free(&b);

  /* not a regular file: refused, never blocks */
  snprintf(path, sizeof path, "%s/fifo", dir);
  CHECK_EQ_INT(mkfifo(path, 0600), 0);
  bk_buf_init(&b, 100);
  CHECK_EQ_INT(bk_read_file(path, 100, &b), BK_EIO);
  CHECK_EQ_INT(bk_read_file(dir, 100, &b), BK_EIO);
  bk_buf_free(&b);
  snprintf(path, sizeof path, "%s/ten", dir);
  int fd = open(path, O_RDONLY);
  CHECK(fd >= 0);
  char buf[10];
  CHECK_EQ_INT(bk_pread_full(fd, buf, 4, 6), 0);
  CHECK(memcmp(buf, "6789", 4) == 0);
  CHECK_EQ_INT(bk_pread_full(fd, buf, 5, 6), BK_ETRUNCATED);
  CHECK_EQ_INT(bk_pread_full(fd, buf, 1, 10), BK_ETRUNCATED);
  close(fd);
}

static void test_duration(void) {
  int64_t s = -1;
  CHECK_EQ_INT(bk_parse_duration("0s", &s), 0);
  CHECK_EQ_INT(s, 0);
  CHECK_EQ_INT(bk_parse_duration("30m", &s), 0);
  CHECK_EQ_INT(s, 1800);
  CHECK_EQ_INT(bk_parse_duration("1h", &s), 0);
  CHECK_EQ_INT(s, 3600);
  CHECK_EQ_INT(bk_parse_duration("1h30m", &s), 0);
  CHECK_EQ_INT(s, 5400);
  CHECK_EQ_INT(bk_parse_duration("7d", &s), 0);
  CHECK_EQ_INT(s, 7 * 86400);
  CHECK_EQ_INT(bk_parse_duration("45", &s), 0);
  CHECK_EQ_INT(s, 45);
  CHECK_EQ_INT(bk_parse_duration("", &s), BK_EINVAL);
  CHECK_EQ_INT(bk_parse_duration("h", &s), BK_EINVAL);
  CHECK_EQ_INT(bk_parse_duration("-1s", &s), BK_EINVAL);
  CHECK_EQ_INT(bk_parse_duration("1x", &s), BK_EINVAL);
  CHECK_EQ_INT(bk_parse_duration("1 h", &s), BK_EINVAL);
  CHECK_EQ_INT(bk_parse_duration("99999999999999999999s", &s), BK_EINVAL);
  CHECK_EQ_INT(bk_parse_duration("9999999999999999d", &s), BK_EINVAL);
}

static void test_random(void) {
  uint8_t a[32], b[32];
  CHECK_EQ_INT(bk_random_bytes(a, sizeof a), 0);
  CHECK_EQ_INT(bk_random_bytes(b, sizeof b), 0);
  CHECK(memcmp(a, b, sizeof a) != 0);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_fsutil_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_mkdir_p);
  RUN(test_write_durable);
  RUN(test_afile);
  RUN(test_read_limits);
  RUN(test_duration);
  RUN(test_random);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
