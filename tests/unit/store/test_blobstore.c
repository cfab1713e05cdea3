/* Unit tests: src/store/blobstore.c */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/blobstore.h"
#include "store/blob_fs.h" /* bk_blob_path: tests damage blobs on disk */
#include "buckets/error.h"
#include "util/fsutil.h"
#include "../test.h"

static char root[256];

static void mk_hash(bk_hash *h, uint64_t seed) {
  for (int i = 0; i < 32; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    h->b[i] = (uint8_t)(seed >> 56);
  }
}

static bk_blobstore *open_store(const char *sub) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, sub);
  bk_blobstore *bs = NULL;
  if (bk_blobstore_open(p, &bs) != 0) return NULL;
  return bs;
}

static void test_put_get(void) {
  bk_blobstore *bs = open_store("a");
  CHECK(bs != NULL);
  if (!bs) return;
  bk_hash h;
  mk_hash(&h, 1);
  int existed = -1;
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, "payload!", 8, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, "payload!", 8, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 1);
  /* kinds are separate name spaces */
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &h), 0);
  uint64_t size = 0;
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), 0);
  CHECK_EQ_INT(size, 8);
  /* layout: <root>/xorbs/ab/cd/<hex> */
  char hex[65], p[600];
  bk_hash_to_hex(&h, hex);
  snprintf(p, sizeof p, "%s/a/xorbs/%.2s/%.2s/%s", root, hex, hex + 2, hex);
  CHECK(access(p, F_OK) == 0);
  char bp[600];
  CHECK_EQ_INT(bk_blob_path(bs, BK_BLOB_XORB, &h, bp, sizeof bp), 0);
  CHECK_EQ_STR(bp, p);
  CHECK_EQ_INT(bk_blob_path(bs, BK_BLOB_XORB, &h, bp, 10), BK_ELIMIT);

  bk_buf b;
  bk_buf_init(&b, 100);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &h, 100, &b), 0);
  CHECK(b.len == 8 && memcmp(b.p, "payload!", 8) == 0);
  bk_buf_reset(&b);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &h, 7, &b), BK_ELIMIT);
  CHECK_EQ_INT(b.len, 0);
  bk_buf_free(&b);

  char r[4];
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, 2, 4, r), 0);
  CHECK(memcmp(r, "ylo", 3) == 0 && r[3] == 'a');
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, 6, 4, r), BK_ETRUNCATED);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, 9, 0, r), BK_ETRUNCATED);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, 8, 0, r), 0);

  bk_blob_reader *rd = NULL;
  CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &rd), 0);
  int fd = rd ? bk_blob_reader_fd(rd) : -1;
  CHECK(fd >= 0 && rd && bk_blob_reader_size(rd) == 8);
  /* the opened version survives deletion (zero-copy responses in flight during gc) */
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  char c8[8];
  CHECK_EQ_INT(bk_pread_full(fd, c8, 8, 0), 0);
  CHECK(memcmp(c8, "payload!", 8) == 0);
  bk_blob_reader_close(rd);
  rd = NULL;
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &rd), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), BK_ENOTFOUND);
  bk_buf_init(&b, 100);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &h, 100, &b), BK_ENOTFOUND);
  bk_buf_free(&b);
  CHECK_EQ_INT(bk_blob_put(bs, (bk_blob_kind)7, &h, "x", 1, NULL), BK_EINVAL);
  bk_blobstore_close(bs);
}

static void test_immutable(void) {
  bk_blobstore *bs = open_store("d");
  if (!bs) { CHECK(0); return; }
  bk_hash h;
  mk_hash(&h, 2);
  int existed;
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &h, "0123456789", 10, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  /* a second put with other bytes keeps the stored blob */
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &h, "abc", 3, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  bk_buf b;
  bk_buf_init(&b, 100);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_SHARD, &h, 100, &b), 0);
  CHECK(b.len == 10 && memcmp(b.p, "0123456789", 10) == 0);
  bk_buf_free(&b);
  bk_blob_writer *w;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_SHARD, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "zz", 2), 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  uint64_t size;
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_SHARD, &h, &size), 0);
  CHECK_EQ_INT(size, 10);
  /* deleted (e.g. damaged and removed): the next put re-creates it */
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &h), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &h, "abc", 3, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_SHARD, &h, &size), 0);
  CHECK_EQ_INT(size, 3);
  bk_blobstore_close(bs);
}

static void test_writer(void) {
  bk_blobstore *bs = open_store("w");
  if (!bs) { CHECK(0); return; }
  bk_hash h;
  mk_hash(&h, 3);
  bk_blob_writer *w;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  uint8_t buf[1000];
  for (int i = 0; i < 10; i++) {
    memset(buf, 'a' + i, sizeof buf);
    CHECK_EQ_INT(bk_blob_writer_write(w, buf, sizeof buf), 0);
  }
  CHECK_EQ_INT(bk_blob_writer_size(w), 10000);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
  int existed = -1;
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, 9999, 1, buf), 0);
  CHECK_EQ_INT(buf[0], 'j');
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 1);
  /* again: existed, temp removed */
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  for (int i = 0; i < 10; i++) {
    memset(buf, 'a' + i, sizeof buf);
    CHECK_EQ_INT(bk_blob_writer_write(w, buf, sizeof buf), 0);
  }
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  /* abort */
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_SHARD, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "zz", 2), 0);
  bk_blob_writer_abort(w);
  bk_blob_writer_abort(NULL);
  size_t removed = 99;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, INT64_MAX, &removed), 0);
  CHECK_EQ_INT(removed, 0); /* nothing left in tmp */
  bk_blobstore_close(bs);
}

struct seen {
  int n, strays;
  bk_hash h[16];
  uint64_t size[16];
};

static int on_blob(void *ctx, bk_blob_kind k, const bk_hash *h, uint64_t size, int64_t mtime) {
  struct seen *s = ctx;
  (void)k;
  (void)mtime;
  if (s->n < 16) {
    s->h[s->n] = *h;
    s->size[s->n] = size;
  }
  s->n++;
  return 0;
}

static int on_stray(void *ctx, const char *rel, uint64_t size, int64_t mtime) {
  (void)rel;
  (void)size;
  (void)mtime;
  ((struct seen *)ctx)->strays++;
  return 0;
}

static int find(struct seen *s, const bk_hash *h) {
  for (int i = 0; i < s->n && i < 16; i++)
    if (bk_hash_eq(&s->h[i], h)) return i;
  return -1;
}

struct racer {
  bk_blobstore *bs;
  bk_hash h;
  int id, existed, rc;
};

static void *race_put(void *arg) {
  struct racer *r = arg;
  char data[4096];
  memset(data, 'a' + r->id, sizeof data);
  r->rc = bk_blob_put(r->bs, BK_BLOB_XORB, &r->h, data, sizeof data - (size_t)r->id, &r->existed);
  return NULL;
}

/* Concurrent puts of one name with different bytes: exactly one wins, the
 * stored blob is the winner's, never a mix or a replacement. */
static void test_concurrent_puts(void) {
  bk_blobstore *bs = open_store("race");
  if (!bs) { CHECK(0); return; }
  for (int round = 0; round < 20; round++) {
    enum { N = 8 };
    pthread_t th[N];
    struct racer r[N];
    bk_hash h;
    mk_hash(&h, 5000 + round);
    for (int i = 0; i < N; i++) {
      r[i] = (struct racer){bs, h, i, -1, -1};
      pthread_create(&th[i], NULL, race_put, &r[i]);
    }
    int winners = 0, winner = -1;
    for (int i = 0; i < N; i++) {
      pthread_join(th[i], NULL);
      CHECK_EQ_INT(r[i].rc, 0);
      if (r[i].existed == 0) { winners++; winner = i; }
    }
    CHECK_EQ_INT(winners, 1);
    uint64_t size = 0;
    CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), 0);
    if (winner >= 0) CHECK_EQ_INT(size, 4096 - winner);
    uint8_t first = 0;
    CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, size - 1, 1, &first), 0);
    if (winner >= 0) CHECK_EQ_INT(first, 'a' + winner);
  }
  size_t removed = 9;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, INT64_MAX, &removed), 0);
  CHECK_EQ_INT(removed, 0);
  struct seen s = {0};
  CHECK_EQ_INT(bk_blob_list(bs, BK_BLOB_XORB, on_blob, on_stray, &s), 0);
  CHECK_EQ_INT(s.n, 20);
  CHECK_EQ_INT(s.strays, 0); /* losers left no temp files */
  bk_blobstore_close(bs);
}

static void test_list_and_strays(void) {
  bk_blobstore *bs = open_store("l");
  if (!bs) { CHECK(0); return; }
  bk_hash h[5];
  for (int i = 0; i < 5; i++) {
    mk_hash(&h[i], 100 + i);
    CHECK_EQ_INT(bk_blob_put(bs, i < 3 ? BK_BLOB_XORB : BK_BLOB_SHARD, &h[i], "abcdef",
                             (size_t)i + 1, NULL), 0);
  }
  struct seen s = {0};
  CHECK_EQ_INT(bk_blob_list(bs, BK_BLOB_XORB, on_blob, on_stray, &s), 0);
  CHECK_EQ_INT(s.n, 3);
  CHECK_EQ_INT(s.strays, 0);
  for (int i = 0; i < 3; i++) {
    int k = find(&s, &h[i]);
    CHECK(k >= 0);
    if (k >= 0) CHECK_EQ_INT(s.size[k], i + 1);
  }
  /* strays: a wrong name in a hash dir, a file at the top, a misplaced blob */
  char hex[65], p[700];
  bk_hash_to_hex(&h[0], hex);
  snprintf(p, sizeof p, "%s/l/xorbs/%.2s/%.2s", root, hex, hex + 2);
  CHECK_EQ_INT(bk_write_file_durable(p, "junk", "j", 1), 0);
  snprintf(p, sizeof p, "%s/l/xorbs", root);
  CHECK_EQ_INT(bk_write_file_durable(p, "README", "j", 1), 0);
  bk_hash other;
  mk_hash(&other, 999);
  char ohex[65];
  bk_hash_to_hex(&other, ohex);
  snprintf(p, sizeof p, "%s/l/xorbs/%.2s/%.2s", root, hex, hex + 2);
  if (memcmp(ohex, hex, 4) != 0) CHECK_EQ_INT(bk_write_file_durable(p, ohex, "m", 1), 0);
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(bk_blob_list(bs, BK_BLOB_XORB, on_blob, on_stray, &s), 0);
  CHECK_EQ_INT(s.n, 3);
  CHECK_EQ_INT(s.strays, memcmp(ohex, hex, 4) != 0 ? 3 : 2);
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(bk_blob_list(bs, BK_BLOB_SHARD, on_blob, NULL, &s), 0);
  CHECK_EQ_INT(s.n, 2);
  bk_blobstore_close(bs);
}

static void test_trash(void) {
  bk_blobstore *bs = open_store("t");
  if (!bs) { CHECK(0); return; }
  bk_hash a, b;
  mk_hash(&a, 7);
  mk_hash(&b, 8);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &a, "aaaa", 4, NULL), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &b, "bb", 2, NULL), 0);
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), 0);
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_SHARD, &b), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &a), 0);
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND);
  struct seen s = {0};
  CHECK_EQ_INT(bk_blob_trash_list(bs, on_blob, &s), 0);
  CHECK_EQ_INT(s.n, 2);
  CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_XORB, &a), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &a), 1);
  /* restoring over a blob put meanwhile keeps the newer one */
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &a, "newer!", 6, NULL), 0);
  CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_XORB, &a), 0);
  uint64_t sz = 0;
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &a, &sz), 0);
  CHECK_EQ_INT(sz, 6);
  CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND); /* dropped */
  CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_SHARD, &b), 0);
  CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_SHARD, &b), BK_ENOTFOUND);
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(bk_blob_trash_list(bs, on_blob, &s), 0);
  CHECK_EQ_INT(s.n, 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &b), 0);
  bk_blobstore_close(bs);
}

static void test_clean_tmp(void) {
  bk_blobstore *bs = open_store("c");
  if (!bs) { CHECK(0); return; }
  char p[600];
  snprintf(p, sizeof p, "%s/c/tmp", root);
  CHECK_EQ_INT(bk_write_file_durable(p, "leftover", "x", 1), 0);
  size_t removed = 9;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, 0, &removed), 0); /* older than 1970: none */
  CHECK_EQ_INT(removed, 0);
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, INT64_MAX, &removed), 0);
  CHECK_EQ_INT(removed, 1);
  bk_blobstore_close(bs);
  bk_blobstore_close(NULL);
  bk_blobstore *x;
  CHECK_EQ_INT(bk_blobstore_open("", &x), BK_EINVAL);
}

/* file:///abs/path is the same store as bk_blobstore_open(path): same
 * layout, same blobs; its readers and writers have fds (BK_BLOB_CAP_FD). */
static void test_file_url(void) {
  char u[600], p[600];
  snprintf(u, sizeof u, "file://%s/u/", root);
  bk_blobstore *a = NULL, *b = open_store("u");
  CHECK_EQ_INT(bk_blobstore_open_url(u, &a), 0);
  if (!a || !b) { CHECK(0); bk_blobstore_close(a); bk_blobstore_close(b); return; }
  CHECK_EQ_STR(bk_blobstore_scheme(a), "file");
  CHECK_EQ_INT(bk_blobstore_caps(a), BK_BLOB_CAP_FD | BK_BLOB_CAP_TRASH);
  bk_hash h;
  mk_hash(&h, 42);
  CHECK_EQ_INT(bk_blob_put(a, BK_BLOB_SHARD, &h, "via url", 7, NULL), 0);
  char hex[65], bp[600];
  bk_hash_to_hex(&h, hex);
  snprintf(p, sizeof p, "%s/u/shards/%.2s/%.2s/%s", root, hex, hex + 2, hex);
  CHECK(access(p, F_OK) == 0);
  CHECK_EQ_INT(bk_blob_path(a, BK_BLOB_SHARD, &h, bp, sizeof bp), 0);
  CHECK_EQ_STR(bp, p);
  CHECK_EQ_INT(bk_blob_path(a, (bk_blob_kind)9, &h, bp, sizeof bp), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_exists(b, BK_BLOB_SHARD, &h), 1);
  /* the reader's fd is the blob file, and survives its deletion */
  bk_blob_reader *r = NULL;
  CHECK_EQ_INT(bk_blob_reader_open(b, BK_BLOB_SHARD, &h, &r), 0);
  CHECK_EQ_INT(bk_blob_delete(a, BK_BLOB_SHARD, &h), 0);
  CHECK(access(p, F_OK) != 0);
  char c[7];
  int fd = r ? bk_blob_reader_fd(r) : -1;
  CHECK(fd >= 0 && pread(fd, c, 7, 0) == 7 && memcmp(c, "via url", 7) == 0);
  bk_blob_reader_close(r);
  /* a writer stages in <root>/tmp: a crash leaves it for clean_tmp */
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(bk_blob_writer_open(a, BK_BLOB_XORB, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "staged", 6), 0);
  CHECK(w != NULL);
  size_t removed = 0;
  CHECK_EQ_INT(bk_blob_clean_tmp(b, INT64_MAX, &removed), 0);
  CHECK_EQ_INT(removed, 1);
  bk_blob_writer_abort(w);
  bk_blobstore_close(a);
  bk_blobstore_close(b);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_blob_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_put_get);
  RUN(test_immutable);
  RUN(test_writer);
  RUN(test_concurrent_puts);
  RUN(test_list_and_strays);
  RUN(test_trash);
  RUN(test_clean_tmp);
  RUN(test_file_url);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
