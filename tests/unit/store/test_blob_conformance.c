/* Blob-store conformance suite: every operation and error code of
 * store/blobstore.h, run against every backend by URL.
 *
 *   BK_TEST_BLOB_URLS="file:///tmp/a file:///tmp/b"  (space-separated)
 *
 * Without the variable: one file:// store in a fresh temp dir. A store given
 * by URL may hold other blobs already: every hash is derived from a per-run
 * seed, and "list sees exactly what was put" compares the listing before and
 * after. The store must not be used by anything else while the suite runs
 * (abandoned-write cleanup is part of the checks).
 *
 * Backend-specific behaviour (filesystem layout, strays, trash directory,
 * temp files) is tested in test_blobstore.c.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "store/blobstore.h"
#include "buckets/error.h"
#include "../test.h"

static const char *url;  /* store under test */
static uint64_t seed0;   /* per-run hash seed */
static char tmproot[256];

static void mk_hash(bk_hash *h, uint64_t n) {
  uint64_t s = seed0 ^ (n * 0x9e3779b97f4a7c15ull);
  for (int i = 0; i < 32; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    h->b[i] = (uint8_t)(s >> 56);
  }
}

static void fill(uint8_t *p, size_t n, uint64_t s) {
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (uint8_t)(s >> 33);
  }
}

static bk_blobstore *open_store(void) {
  bk_blobstore *bs = NULL;
  int rc = bk_blobstore_open_url(url, &bs);
  if (rc) fprintf(stderr, "  open %s: %s (%s)\n", url, bk_strerror(rc), bk_errmsg());
  return bs;
}

/* content of blob (k, h) equals data[0..len) */
static int content_is(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h, const void *data,
                      size_t len) {
  bk_buf b;
  bk_buf_init(&b, len + 16);
  int ok = bk_blob_get(bs, k, h, len + 16, &b) == 0 && b.len == len &&
           (len == 0 || memcmp(b.p, data, len) == 0);
  bk_buf_free(&b);
  return ok;
}

/* ---- listing helpers ---- */

#define MAXSEEN 4096
struct seen {
  size_t n, strays;
  bk_hash h[MAXSEEN];
  uint64_t size[MAXSEEN];
  bk_blob_kind kind[MAXSEEN];
};

static int on_blob(void *ctx, bk_blob_kind k, const bk_hash *h, uint64_t size, int64_t mtime) {
  struct seen *s = ctx;
  (void)mtime;
  if (s->n < MAXSEEN) {
    s->h[s->n] = *h;
    s->size[s->n] = size;
    s->kind[s->n] = k;
  }
  s->n++;
  return 0;
}

static int on_stray(void *ctx, const char *rel, uint64_t size, int64_t mtime) {
  (void)rel, (void)size, (void)mtime;
  ((struct seen *)ctx)->strays++;
  return 0;
}

static long find(const struct seen *s, const bk_hash *h) {
  for (size_t i = 0; i < s->n && i < MAXSEEN; i++)
    if (bk_hash_eq(&s->h[i], h)) return (long)i;
  return -1;
}

static struct seen *list_kind(bk_blobstore *bs, bk_blob_kind k) {
  struct seen *s = calloc(1, sizeof *s);
  if (s && bk_blob_list(bs, k, on_blob, on_stray, s) != 0) {
    free(s);
    return NULL;
  }
  return s;
}

/* number of blobs in after that are not in before */
static size_t added(const struct seen *before, const struct seen *after) {
  size_t n = 0;
  for (size_t i = 0; i < after->n && i < MAXSEEN; i++)
    if (find(before, &after->h[i]) < 0) n++;
  return n;
}

static size_t stale_writes(bk_blobstore *bs) {
  size_t removed = 999;
  if (bk_blob_clean_tmp(bs, INT64_MAX, &removed) != 0) return 999;
  return removed;
}

/* ---- the suite ---- */

static void test_open_url(void) {
  bk_blobstore *bs = NULL;
  CHECK_EQ_INT(bk_blobstore_open_url("", &bs), BK_EINVAL);
  CHECK(bs == NULL);
  CHECK_EQ_INT(bk_blobstore_open_url("/var/blobs", &bs), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "no scheme") != NULL);
  CHECK_EQ_INT(bk_blobstore_open_url("s4://bucket/prefix", &bs), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "unknown scheme s4://") != NULL);
  CHECK_EQ_INT(bk_blobstore_open_url("://x", &bs), BK_EINVAL);
  CHECK_EQ_INT(bk_blobstore_open_url("file://relative/dir", &bs), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "absolute path") != NULL);
  CHECK_EQ_INT(bk_blobstore_open_url("file:///tmp/a%2fb", &bs), BK_EINVAL);
  CHECK_EQ_INT(bk_blobstore_open_url("file:///tmp/x?y", &bs), BK_EINVAL);
  CHECK(bs == NULL);
  bs = open_store();
  CHECK(bs != NULL);
  if (bs) CHECK(bk_blobstore_scheme(bs) != NULL && strstr(url, bk_blobstore_scheme(bs)) == url);
  bk_blobstore_close(bs);
  bk_blobstore_close(NULL);
}

static void test_put_stat_get(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  bk_hash h;
  mk_hash(&h, 1);
  uint8_t data[3000], other[100];
  fill(data, sizeof data, 11);
  fill(other, sizeof other, 12);
  uint64_t size = 7;
  int64_t stamp = 0;
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_stamp(bs, BK_BLOB_XORB, &h, &stamp), BK_ENOTFOUND);
  int existed = -1;
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, data, sizeof data, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 1);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), 0);
  CHECK_EQ_INT(size, sizeof data);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, NULL), 0);
  CHECK_EQ_INT(bk_blob_stamp(bs, BK_BLOB_XORB, &h, &stamp), 0);
  CHECK(stamp != 0);
  int64_t stamp2 = 0;
  CHECK_EQ_INT(bk_blob_stamp(bs, BK_BLOB_XORB, &h, &stamp2), 0);
  CHECK_EQ_INT(stamp2, stamp); /* stable while unchanged */
  /* immutable: a second put (other bytes) writes nothing */
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, other, sizeof other, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, other, sizeof other, NULL), 0);
  CHECK(content_is(bs, BK_BLOB_XORB, &h, data, sizeof data));
  CHECK_EQ_INT(bk_blob_stamp(bs, BK_BLOB_XORB, &h, &stamp2), 0);
  CHECK_EQ_INT(stamp2, stamp);

  /* get: limits leave out unchanged */
  bk_buf b;
  bk_buf_init(&b, 10000);
  CHECK_EQ_INT(bk_buf_append(&b, "pre", 3), 0);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &h, sizeof data - 1, &b), BK_ELIMIT);
  CHECK_EQ_INT(b.len, 3);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &h, sizeof data, &b), 0); /* appends */
  CHECK(b.len == 3 + sizeof data && memcmp(b.p + 3, data, sizeof data) == 0);
  bk_buf_free(&b);
  bk_buf_init(&b, sizeof data - 1); /* the buffer's own cap */
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &h, SIZE_MAX, &b), BK_ELIMIT);
  CHECK_EQ_INT(b.len, 0);
  bk_buf_free(&b);

  /* read_range: exact or BK_ETRUNCATED */
  uint8_t r[64];
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, 100, 64, r), 0);
  CHECK(memcmp(r, data + 100, 64) == 0);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, sizeof data - 64, 64, r), 0);
  CHECK(memcmp(r, data + sizeof data - 64, 64) == 0);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, sizeof data - 63, 64, r), BK_ETRUNCATED);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, sizeof data, 0, r), 0);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, sizeof data + 1, 0, r), BK_ETRUNCATED);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, UINT64_MAX, 1, r), BK_ETRUNCATED);

  /* missing blobs */
  bk_hash nope;
  mk_hash(&nope, 2);
  bk_buf_init(&b, 100);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &nope, 100, &b), BK_ENOTFOUND);
  bk_buf_free(&b);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &nope, 0, 1, r), BK_ENOTFOUND);

  /* the empty blob */
  bk_hash e;
  mk_hash(&e, 3);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &e, "", 0, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_SHARD, &e, &size), 0);
  CHECK_EQ_INT(size, 0);
  CHECK(content_is(bs, BK_BLOB_SHARD, &e, "", 0));
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &e), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  bk_blobstore_close(bs);
}

static void test_delete(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  bk_hash h;
  mk_hash(&h, 10);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, "abc", 3, NULL), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, NULL), BK_ENOTFOUND);
  bk_blob_reader *r = (bk_blob_reader *)&h;
  CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &r), BK_ENOTFOUND);
  CHECK(r == NULL);
  /* deleted: the next put re-creates it, with its own bytes */
  int existed = -1;
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, "xy", 2, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK(content_is(bs, BK_BLOB_XORB, &h, "xy", 2));
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  bk_blobstore_close(bs);
}

static void test_reader(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  bk_hash h;
  mk_hash(&h, 20);
  enum { N = 70000 };
  uint8_t *data = malloc(N), *buf = malloc(N + 100);
  if (!data || !buf) { CHECK(0); free(data); free(buf); bk_blobstore_close(bs); return; }
  fill(data, N, 21);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, data, N, NULL), 0);
  bk_blob_reader *r = NULL;
  CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &r), 0);
  if (!r) { free(data); free(buf); bk_blobstore_close(bs); return; }
  CHECK_EQ_INT(bk_blob_reader_size(r), N);
  size_t got = 1;
  CHECK_EQ_INT(bk_blob_reader_read_at(r, 0, buf, N, &got), 0);
  CHECK(got == N && memcmp(buf, data, N) == 0);
  /* reads at scattered offsets and lengths */
  uint64_t s = 5;
  for (int i = 0; i < 200; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = (s >> 20) % N;
    size_t len = (size_t)((s >> 40) % 5000) + 1;
    size_t want = len < N - off ? len : (size_t)(N - off);
    got = 0;
    CHECK_EQ_INT(bk_blob_reader_read_at(r, off, buf, len, &got), 0);
    CHECK_EQ_INT(got, want);
    if (got == want && memcmp(buf, data + off, want) != 0) CHECK(!"reader bytes differ");
  }
  /* short at the end, 0 at and past it, 0 for len 0: never an error */
  CHECK_EQ_INT(bk_blob_reader_read_at(r, N - 10, buf, 100, &got), 0);
  CHECK(got == 10 && memcmp(buf, data + N - 10, 10) == 0);
  CHECK_EQ_INT(bk_blob_reader_read_at(r, N, buf, 100, &got), 0);
  CHECK_EQ_INT(got, 0);
  CHECK_EQ_INT(bk_blob_reader_read_at(r, N + 12345, buf, 100, &got), 0);
  CHECK_EQ_INT(got, 0);
  CHECK_EQ_INT(bk_blob_reader_read_at(r, UINT64_MAX, buf, 100, &got), 0);
  CHECK_EQ_INT(got, 0);
  CHECK_EQ_INT(bk_blob_reader_read_at(r, 5, buf, 0, &got), 0);
  CHECK_EQ_INT(got, 0);
  /* an open reader keeps its version: deleted, then re-put with other bytes */
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, "new", 3, NULL), 0);
  CHECK_EQ_INT(bk_blob_reader_size(r), N);
  got = 0;
  int rrc = bk_blob_reader_read_at(r, 0, buf, N, &got);
  if (bk_blobstore_caps(bs) & BK_BLOB_CAP_FD) {
    /* a local fd holds the opened version even after delete */
    CHECK_EQ_INT(rrc, 0);
    CHECK(got == N && memcmp(buf, data, N) == 0);
  } else {
    /* An object store (S3) cannot keep a deleted object readable: no handle
     * pins a version. What it promises instead: a reader never returns bytes
     * of another version than the one it opened — it reads the old bytes or
     * fails with BK_ESTALE (S3: If-Match on the ETag seen at open). */
    CHECK(rrc == BK_ESTALE || (rrc == 0 && got == N && memcmp(buf, data, N) == 0));
  }
  bk_blob_reader_close(r);
  bk_blob_reader_close(NULL);
  /* a new reader sees the new version */
  CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &r), 0);
  if (r) {
    CHECK_EQ_INT(bk_blob_reader_size(r), 3);
    CHECK_EQ_INT(bk_blob_reader_read_at(r, 0, buf, 100, &got), 0);
    CHECK(got == 3 && memcmp(buf, "new", 3) == 0);
    bk_blob_reader_close(r);
  }
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  free(data);
  free(buf);
  bk_blobstore_close(bs);
}

static void test_writer(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  struct seen *before = list_kind(bs, BK_BLOB_XORB);
  CHECK(before != NULL);
  CHECK_EQ_INT(stale_writes(bs), 0);
  bk_hash h;
  mk_hash(&h, 30);
  /* 20 MiB in uneven pieces: crosses any internal flush/part boundary */
  enum { PIECE = 777777, PIECES = 27 };
  uint8_t *piece = malloc(PIECE);
  if (!piece || !before) { CHECK(0); free(piece); free(before); bk_blobstore_close(bs); return; }
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  if (!w) { free(piece); free(before); bk_blobstore_close(bs); return; }
  for (int i = 0; i < PIECES; i++) {
    fill(piece, PIECE, 100 + (uint64_t)i);
    CHECK_EQ_INT(bk_blob_writer_write(w, piece, PIECE), 0);
    CHECK_EQ_INT(bk_blob_writer_write(w, NULL, 0), 0);
  }
  CHECK_EQ_INT(bk_blob_writer_size(w), (uint64_t)PIECE * PIECES);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0); /* invisible until commit */
  int existed = -1;
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  uint64_t size = 0;
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), 0);
  CHECK_EQ_INT(size, (uint64_t)PIECE * PIECES);
  uint8_t got[PIECE > 4096 ? 4096 : PIECE];
  for (int i = 0; i < PIECES; i += 5) { /* spot-check each 5th piece's end */
    fill(piece, PIECE, 100 + (uint64_t)i);
    uint64_t off = (uint64_t)i * PIECE + PIECE - sizeof got;
    CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &h, off, sizeof got, got), 0);
    if (memcmp(got, piece + PIECE - sizeof got, sizeof got) != 0) CHECK(!"writer bytes differ");
  }
  /* commit over an existing blob keeps the stored one, drops the staged bytes */
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "zz", 2), 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), 0);
  CHECK_EQ_INT(size, (uint64_t)PIECE * PIECES);
  /* abort (after writing, and right after open) leaves nothing */
  bk_hash a;
  mk_hash(&a, 31);
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, piece, PIECE), 0);
  bk_blob_writer_abort(w);
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_SHARD, &w), 0);
  bk_blob_writer_abort(w);
  bk_blob_writer_abort(NULL);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &a), 0);
  /* an empty commit is the empty blob */
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_size(w), 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w, &a, NULL), 0);
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &a, &size), 0);
  CHECK_EQ_INT(size, 0);
  /* exactly the two committed blobs are new; no staged write is left */
  struct seen *after = list_kind(bs, BK_BLOB_XORB);
  CHECK(after != NULL);
  if (after) {
    CHECK_EQ_INT(after->n, before->n + 2);
    CHECK_EQ_INT(added(before, after), 2);
    CHECK(find(after, &h) >= 0 && find(after, &a) >= 0);
    CHECK_EQ_INT(after->strays, before->strays);
  }
  CHECK_EQ_INT(stale_writes(bs), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &a), 0);
  free(after);
  free(before);
  free(piece);
  bk_blobstore_close(bs);
}

static void test_try_commit_replace(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  bk_hash h;
  mk_hash(&h, 40);
  int64_t st1 = 0, st2 = 0;
  /* try_commit of a new name commits and releases */
  bk_blob_writer *w = NULL;
  int existed = -1;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_SHARD, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "first", 5), 0);
  CHECK_EQ_INT(bk_blob_writer_try_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK(content_is(bs, BK_BLOB_SHARD, &h, "first", 5));
  CHECK_EQ_INT(bk_blob_stamp(bs, BK_BLOB_SHARD, &h, &st1), 0);
  /* on an existing name: nothing committed, w stays open */
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_SHARD, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "second!", 7), 0);
  CHECK_EQ_INT(bk_blob_writer_try_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK(content_is(bs, BK_BLOB_SHARD, &h, "first", 5));
  CHECK_EQ_INT(bk_blob_writer_size(w), 7); /* still usable */
  CHECK_EQ_INT(bk_blob_writer_write(w, "!", 1), 0);
  /* ... and may replace it (a damaged blob, by bytes known to verify) */
  CHECK_EQ_INT(bk_blob_writer_commit_replace(w, &h), 0);
  CHECK(content_is(bs, BK_BLOB_SHARD, &h, "second!!", 8));
  CHECK_EQ_INT(bk_blob_stamp(bs, BK_BLOB_SHARD, &h, &st2), 0);
  CHECK(st2 != st1);
  /* ... or be aborted */
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_SHARD, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "third", 5), 0);
  CHECK_EQ_INT(bk_blob_writer_try_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  bk_blob_writer_abort(w);
  CHECK(content_is(bs, BK_BLOB_SHARD, &h, "second!!", 8));
  /* commit_replace of a new name creates it */
  bk_hash n;
  mk_hash(&n, 41);
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_SHARD, &w), 0);
  CHECK_EQ_INT(bk_blob_writer_write(w, "n", 1), 0);
  CHECK_EQ_INT(bk_blob_writer_commit_replace(w, &n), 0);
  CHECK(content_is(bs, BK_BLOB_SHARD, &n, "n", 1));
  /* bk_blob_replace: over an existing blob and of a new name */
  CHECK_EQ_INT(bk_blob_replace(bs, BK_BLOB_SHARD, &h, "replaced", 8), 0);
  CHECK(content_is(bs, BK_BLOB_SHARD, &h, "replaced", 8));
  CHECK_EQ_INT(bk_blob_stamp(bs, BK_BLOB_SHARD, &h, &st1), 0);
  CHECK(st1 != st2);
  bk_hash m;
  mk_hash(&m, 42);
  CHECK_EQ_INT(bk_blob_replace(bs, BK_BLOB_SHARD, &m, "made", 4), 0);
  CHECK(content_is(bs, BK_BLOB_SHARD, &m, "made", 4));
  CHECK_EQ_INT(stale_writes(bs), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &h), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &n), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &m), 0);
  bk_blobstore_close(bs);
}

struct stop_ctx {
  int calls;
};
static int stop_at_first(void *ctx, bk_blob_kind k, const bk_hash *h, uint64_t size, int64_t mtime) {
  (void)k, (void)h, (void)size, (void)mtime;
  ((struct stop_ctx *)ctx)->calls++;
  return 42;
}

/* list sees exactly what was put, per kind; kinds are separate name spaces;
 * any 32 bytes are a valid name (no byte of a hash is ever a path). */
static void test_list_kinds_names(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  struct seen *bx = list_kind(bs, BK_BLOB_XORB), *bsh = list_kind(bs, BK_BLOB_SHARD);
  CHECK(bx && bsh);
  if (!bx || !bsh) { free(bx); free(bsh); bk_blobstore_close(bs); return; }
  enum { NX = 40, NS = 7 };
  bk_hash hx[NX], hs[NS];
  for (int i = 0; i < NX; i++) {
    mk_hash(&hx[i], 500 + (uint64_t)i);
    uint8_t d[64];
    fill(d, sizeof d, (uint64_t)i);
    CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &hx[i], d, (size_t)i + 1, NULL), 0);
  }
  /* hashes made of '/', '.', NUL and 0xff bytes, and the xorb names again as shards */
  memset(hs[0].b, '/', 32);
  memset(hs[1].b, '.', 32);
  memset(hs[2].b, 0, 32);
  memset(hs[3].b, 0xff, 32);
  memcpy(hs[4].b, "../../../../etc/passwd\0xxxxxxxxx", 32);
  hs[4].b[31] ^= (uint8_t)seed0; /* per run, still path-like */
  hs[5] = hx[0];
  hs[6] = hx[1];
  for (int i = 0; i < 4; i++) hs[i].b[0] ^= (uint8_t)(seed0 >> 8); /* per run */
  for (int i = 0; i < NS; i++) {
    int existed = -1;
    CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &hs[i], "shard", (size_t)i, &existed), 0);
    CHECK_EQ_INT(existed, 0);
  }
  struct seen *ax = list_kind(bs, BK_BLOB_XORB), *ash = list_kind(bs, BK_BLOB_SHARD);
  CHECK(ax && ash);
  if (ax && ash) {
    CHECK_EQ_INT(ax->n, bx->n + NX);
    CHECK_EQ_INT(added(bx, ax), NX);
    CHECK_EQ_INT(ax->strays, bx->strays);
    for (int i = 0; i < NX; i++) {
      long k = find(ax, &hx[i]);
      CHECK(k >= 0);
      if (k >= 0) CHECK(ax->size[k] == (uint64_t)i + 1 && ax->kind[k] == BK_BLOB_XORB);
    }
    CHECK_EQ_INT(ash->n, bsh->n + NS);
    CHECK_EQ_INT(added(bsh, ash), NS);
    CHECK_EQ_INT(ash->strays, bsh->strays);
    for (int i = 0; i < NS; i++) {
      long k = find(ash, &hs[i]);
      CHECK(k >= 0);
      if (k >= 0) CHECK(ash->size[k] == (uint64_t)i && ash->kind[k] == BK_BLOB_SHARD);
    }
  }
  /* the same hash under both kinds: two independent blobs */
  CHECK(content_is(bs, BK_BLOB_XORB, &hx[1], NULL, 0) == 0);
  CHECK(content_is(bs, BK_BLOB_SHARD, &hx[1], "shard", 6));
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &hx[1]), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &hx[1]), 1);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &hx[1]), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &hx[2]), 0);
  /* a callback's non-zero answer stops the listing and is returned */
  struct stop_ctx sc = {0};
  CHECK_EQ_INT(bk_blob_list(bs, BK_BLOB_XORB, stop_at_first, NULL, &sc), 42);
  CHECK_EQ_INT(sc.calls, 1);
  for (int i = 0; i < NX; i++) CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &hx[i]), 0);
  for (int i = 0; i < NS; i++)
    if (i != 6) CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &hs[i]), 0);
  free(ax);
  free(ash);
  /* and after deleting, the listing is what it was */
  ax = list_kind(bs, BK_BLOB_XORB);
  ash = list_kind(bs, BK_BLOB_SHARD);
  CHECK(ax && ash && ax->n == bx->n && ash->n == bsh->n);
  free(ax);
  free(ash);
  free(bx);
  free(bsh);
  bk_blobstore_close(bs);
}

static void test_bad_args(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  bk_hash h;
  mk_hash(&h, 50);
  bk_blob_kind bad = (bk_blob_kind)7;
  uint64_t size;
  int64_t stamp;
  bk_buf b;
  bk_buf_init(&b, 10);
  char r[4], url8[8];
  bk_blob_reader *rd;
  bk_blob_writer *w;
  CHECK_EQ_INT(bk_blob_put(bs, bad, &h, "x", 1, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_replace(bs, bad, &h, "x", 1), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_stat(bs, bad, &h, &size), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_stamp(bs, bad, &h, &stamp), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_exists(bs, bad, &h), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_get(bs, bad, &h, 10, &b), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_read_range(bs, bad, &h, 0, 1, r), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_reader_open(bs, bad, &h, &rd), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_writer_open(bs, bad, &w), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_delete(bs, bad, &h), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_list(bs, bad, on_blob, NULL, &b), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_list(bs, BK_BLOB_XORB, NULL, NULL, &b), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_trash(bs, bad, &h), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_untrash(bs, bad, &h), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_trash_purge(bs, bad, &h), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_presign(bs, bad, &h, 0, 1, INT64_MAX, url8, sizeof url8), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, NULL, "x", 1, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, NULL, 1, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0); /* nothing was written */
  bk_buf_free(&b);
  bk_blobstore_close(bs);
}

/* Commits data through a fresh writer (replace: over a stored blob);
 * the writer's tag into tag. */
static int tagged_put(bk_blobstore *bs, const bk_hash *h, const char *data, int replace,
                      char *tag) {
  bk_blob_writer *w = NULL;
  int rc = bk_blob_writer_open(bs, BK_BLOB_XORB, &w);
  if (rc) return rc;
  snprintf(tag, BK_BLOB_TAG_MAX, "%s", bk_blob_writer_tag(w));
  if ((rc = bk_blob_writer_write(w, data, strlen(data)))) {
    bk_blob_writer_abort(w);
    return rc;
  }
  return replace ? bk_blob_writer_commit_replace(w, h) : bk_blob_writer_commit(w, h, NULL);
}

/* BK_BLOB_CAP_TAG: every writer has a fresh tag, stored with its blob (a
 * replace stores the new writer's); bk_blob_put stores none. Without the
 * capability: writers have "" and bk_blob_tag answers BK_ENOTSUP. */
static void check_tags(bk_blobstore *bs, unsigned caps, const bk_hash *h) {
  char t1[BK_BLOB_TAG_MAX], t2[BK_BLOB_TAG_MAX], cur[BK_BLOB_TAG_MAX];
  uint64_t size = 0;
  CHECK_EQ_INT(tagged_put(bs, h, "first", 0, t1), 0);
  if (!(caps & BK_BLOB_CAP_TAG)) {
    CHECK_EQ_STR(t1, "");
    CHECK_EQ_INT(bk_blob_tag(bs, BK_BLOB_XORB, h, cur, &size), BK_ENOTSUP);
    CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, h), 0);
    return;
  }
  CHECK_EQ_INT(strlen(t1), 32);
  CHECK_EQ_INT(bk_blob_tag(bs, BK_BLOB_XORB, h, cur, &size), 0);
  CHECK_EQ_STR(cur, t1);
  CHECK_EQ_INT(size, 5);
  CHECK_EQ_INT(tagged_put(bs, h, "second!", 1, t2), 0);
  CHECK(strcmp(t1, t2) != 0);
  CHECK_EQ_INT(bk_blob_tag(bs, BK_BLOB_XORB, h, cur, &size), 0);
  CHECK_EQ_STR(cur, t2);
  CHECK_EQ_INT(size, 7);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, h), 0);
  CHECK_EQ_INT(bk_blob_tag(bs, BK_BLOB_XORB, h, cur, &size), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, h, "plain", 5, NULL), 0);
  CHECK_EQ_INT(bk_blob_tag(bs, BK_BLOB_XORB, h, cur, NULL), 0);
  CHECK_EQ_STR(cur, "");
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, h), 0);
}

/* Capability flags agree with what the functions answer. */
static void test_caps(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  unsigned caps = bk_blobstore_caps(bs);
  CHECK_EQ_INT(caps & ~(BK_BLOB_CAP_FD | BK_BLOB_CAP_PRESIGN | BK_BLOB_CAP_TRASH | BK_BLOB_CAP_TAG), 0);
  bk_hash h, nope;
  mk_hash(&h, 60);
  mk_hash(&nope, 61);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, "0123456789", 10, NULL), 0);

  bk_blob_reader *r = NULL;
  CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &r), 0);
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  int fd = -7;
  uint64_t size = 0;
  if (caps & BK_BLOB_CAP_FD) {
    int rfd = r ? bk_blob_reader_fd(r) : -1;
    CHECK(rfd >= 0);
    char c[3];
    CHECK(rfd >= 0 && pread(rfd, c, 3, 7) == 3 && memcmp(c, "789", 3) == 0);
    CHECK(w != NULL);
    bk_blob_reader *r2 = NULL;
    CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &r2), 0);
    fd = r2 ? bk_blob_reader_fd(r2) : -1;
    size = r2 ? bk_blob_reader_size(r2) : 0;
    CHECK(fd >= 0 && size == 10);
    /* the reader's fd outlives the blob */
    CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
    CHECK(fd >= 0 && pread(fd, c, 3, 0) == 3 && memcmp(c, "012", 3) == 0);
    bk_blob_reader_close(r2);
    r2 = NULL;
    CHECK_EQ_INT(bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &r2), BK_ENOTFOUND);
  } else {
    CHECK_EQ_INT(r ? bk_blob_reader_fd(r) : BK_ENOTSUP, BK_ENOTSUP);
    CHECK(w != NULL);
    /* no fd, but the reader reads */
    char c[3];
    size_t got = 0;
    CHECK(r && bk_blob_reader_read_at(r, 7, c, 3, &got) == 0 && got == 3 &&
          memcmp(c, "789", 3) == 0);
    CHECK_EQ_INT(fd, -7);
    (void)size;
    CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  }
  bk_blob_reader_close(r);
  bk_blob_writer_abort(w);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, "0123456789", 10, NULL), 0);
  char url[2048];
  int64_t later = (int64_t)time(NULL) + 600;
  if (caps & BK_BLOB_CAP_PRESIGN) {
    url[0] = 0;
    CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 2, 5, later, url, sizeof url), 0);
    CHECK(strlen(url) > 8 && strstr(url, "://") != NULL);
    CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 2, 5, later, url, 4), BK_ELIMIT);
    CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 8, 5, later, url, sizeof url), BK_ETRUNCATED);
    CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &nope, 0, 1, later, url, sizeof url),
                 BK_ENOTFOUND);
  } else {
    CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 2, 5, later, url, sizeof url), BK_ENOTSUP);
    CHECK(strstr(bk_errmsg(), "presign") != NULL);
  }
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  check_tags(bs, caps, &h);
  bk_blobstore_close(bs);
}

/* Two-phase delete (gc): trash hides, untrash restores (a newer put wins),
 * purge removes; the trash lists what it holds. */
static void test_trash(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  bk_hash a, b;
  mk_hash(&a, 70);
  mk_hash(&b, 71);
  if (!(bk_blobstore_caps(bs) & BK_BLOB_CAP_TRASH)) {
    /* no two-phase delete: every call says so and touches nothing */
    CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &a, "aaaa", 4, NULL), 0);
    CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), BK_ENOTSUP);
    CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_XORB, &a), BK_ENOTSUP);
    CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_XORB, &a), BK_ENOTSUP);
    CHECK_EQ_INT(bk_blob_trash_list(bs, on_blob, NULL), BK_ENOTSUP);
    CHECK(content_is(bs, BK_BLOB_XORB, &a, "aaaa", 4));
    CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &a), 0);
    bk_blobstore_close(bs);
    return;
  }
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &a, "aaaa", 4, NULL), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &b, "bb", 2, NULL), 0);
  struct seen *t0 = calloc(1, sizeof *t0), *t1 = calloc(1, sizeof *t1);
  struct seen *l0 = list_kind(bs, BK_BLOB_XORB);
  if (!t0 || !t1 || !l0) { CHECK(0); free(t0); free(t1); free(l0); bk_blobstore_close(bs); return; }
  CHECK_EQ_INT(bk_blob_trash_list(bs, on_blob, t0), 0);
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), 0);
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_SHARD, &b), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &a), 0);
  CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_XORB, &a, 0, 1, (char[1]){0}), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND);
  struct seen *l1 = list_kind(bs, BK_BLOB_XORB);
  CHECK(l1 && l1->n + 1 == l0->n && find(l1, &a) < 0);
  free(l1);
  CHECK_EQ_INT(bk_blob_trash_list(bs, on_blob, t1), 0);
  CHECK_EQ_INT(t1->n, t0->n + 2);
  long ka = find(t1, &a), kb = find(t1, &b);
  CHECK(ka >= 0 && kb >= 0);
  if (ka >= 0) CHECK(t1->kind[ka] == BK_BLOB_XORB && t1->size[ka] == 4);
  if (kb >= 0) CHECK(t1->kind[kb] == BK_BLOB_SHARD && t1->size[kb] == 2);
  CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_XORB, &a), 0);
  CHECK(content_is(bs, BK_BLOB_XORB, &a, "aaaa", 4));
  CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND);
  /* a blob put while the old one is in the trash wins over it */
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &a), 0);
  int existed = -1;
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &a, "newer!", 6, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_XORB, &a), 0);
  CHECK(content_is(bs, BK_BLOB_XORB, &a, "newer!", 6));
  CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_XORB, &a), BK_ENOTFOUND); /* dropped */
  CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_SHARD, &b), 0);
  CHECK_EQ_INT(bk_blob_trash_purge(bs, BK_BLOB_SHARD, &b), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_untrash(bs, BK_BLOB_SHARD, &b), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &b), 0);
  memset(t1, 0, sizeof *t1);
  CHECK_EQ_INT(bk_blob_trash_list(bs, on_blob, t1), 0);
  CHECK_EQ_INT(t1->n, t0->n);
  CHECK(find(t1, &a) < 0 && find(t1, &b) < 0);
  CHECK_EQ_INT(bk_blob_trash_list(bs, NULL, t1), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &a), 0);
  free(t0);
  free(t1);
  free(l0);
  bk_blobstore_close(bs);
}

/* ---- concurrent writers of one name ---- */

struct racer {
  bk_blobstore *bs;
  bk_hash h;
  int id, stream, existed, rc;
};

#define RACE_LEN 20000
static void *race(void *arg) {
  struct racer *r = arg;
  uint8_t data[RACE_LEN];
  fill(data, sizeof data, 9000 + (uint64_t)r->id);
  size_t len = sizeof data - (size_t)r->id;
  if (!r->stream) {
    r->rc = bk_blob_put(r->bs, BK_BLOB_XORB, &r->h, data, len, &r->existed);
    return NULL;
  }
  bk_blob_writer *w;
  r->rc = bk_blob_writer_open(r->bs, BK_BLOB_XORB, &w);
  for (size_t off = 0; r->rc == 0 && off < len; off += 4096)
    r->rc = bk_blob_writer_write(w, data + off, len - off < 4096 ? len - off : 4096);
  if (r->rc == 0)
    r->rc = bk_blob_writer_try_commit(w, &r->h, &r->existed);
  else
    bk_blob_writer_abort(w);
  if (r->rc == 0 && r->existed == 1) bk_blob_writer_abort(w); /* w stayed open */
  return NULL;
}

/* exactly one writer wins, the stored bytes are all the winner's, the
 * losers leave nothing behind */
static void test_concurrent_writers(void) {
  bk_blobstore *bs = open_store();
  if (!bs) { CHECK(0); return; }
  struct seen *before = list_kind(bs, BK_BLOB_XORB);
  CHECK(before != NULL);
  enum { ROUNDS = 12, N = 6 };
  bk_hash hs[ROUNDS];
  for (int round = 0; round < ROUNDS; round++) {
    pthread_t th[N];
    struct racer r[N];
    mk_hash(&hs[round], 800 + (uint64_t)round);
    for (int i = 0; i < N; i++) {
      /* rounds mix streaming writers and whole puts */
      r[i] = (struct racer){bs, hs[round], i, round % 3 == 2 ? (i & 1) : round % 3, -1, -1};
      if (pthread_create(&th[i], NULL, race, &r[i]) != 0) r[i].rc = -999;
    }
    int winners = 0, winner = -1;
    for (int i = 0; i < N; i++) {
      if (r[i].rc != -999) pthread_join(th[i], NULL);
      CHECK_EQ_INT(r[i].rc, 0);
      if (r[i].existed == 0) {
        winners++;
        winner = i;
      } else {
        CHECK(r[i].existed == 1 || r[i].existed == 2);
      }
    }
    CHECK_EQ_INT(winners, 1);
    if (winner < 0) continue;
    uint8_t want[RACE_LEN];
    fill(want, sizeof want, 9000 + (uint64_t)winner);
    CHECK(content_is(bs, BK_BLOB_XORB, &hs[round], want, RACE_LEN - (size_t)winner));
  }
  CHECK_EQ_INT(stale_writes(bs), 0);
  struct seen *after = list_kind(bs, BK_BLOB_XORB);
  CHECK(after && before);
  if (after && before) {
    CHECK_EQ_INT(after->n, before->n + ROUNDS);
    CHECK_EQ_INT(added(before, after), ROUNDS);
    CHECK_EQ_INT(after->strays, before->strays);
  }
  for (int i = 0; i < ROUNDS; i++) CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &hs[i]), 0);
  free(before);
  free(after);
  bk_blobstore_close(bs);
}

/* An s3:// store is shared (one bucket for every test): each run works under
 * a fresh key prefix, below the one the URL names if any. */
static const char *unique_prefix(const char *u, char *out, size_t n) {
  if (strncmp(u, "s3://", 5) != 0) return u;
  char sub[64];
  snprintf(sub, sizeof sub, "conformance-%d-%llx/", (int)getpid(), (unsigned long long)seed0);
  const char *p = strstr(u, "prefix=");
  int w;
  if (p && (p[-1] == '?' || p[-1] == '&')) {
    size_t end = (size_t)(p + 7 - u) + strcspn(p + 7, "&");
    w = snprintf(out, n, "%.*s%s%s", (int)end, u, sub, u + end);
  } else {
    w = snprintf(out, n, "%s%sprefix=%s", u, strchr(u, '?') ? "&" : "?", sub);
  }
  return (w < 0 || (size_t)w >= n) ? u : out;
}

int main(void) {
  seed0 = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid() << 20;
  const char *env = getenv("BK_TEST_BLOB_URLS");
  char deflt[300];
  char *urls;
  if (env && *env) {
    urls = strdup(env);
  } else {
    snprintf(tmproot, sizeof tmproot, "/tmp/bk_blobconf_XXXXXX");
    if (!mkdtemp(tmproot)) return 1;
    snprintf(deflt, sizeof deflt, "file://%s/blobs", tmproot);
    urls = strdup(deflt);
  }
  if (!urls) return 1;
  char *save = NULL;
  for (char *u = strtok_r(urls, " \t\n", &save); u; u = strtok_r(NULL, " \t\n", &save)) {
    char fresh[2048];
    url = unique_prefix(u, fresh, sizeof fresh);
    printf("# blob store %s\n", url);
    RUN(test_open_url);
    RUN(test_put_stat_get);
    RUN(test_delete);
    RUN(test_reader);
    RUN(test_writer);
    RUN(test_try_commit_replace);
    RUN(test_list_kinds_names);
    RUN(test_bad_args);
    RUN(test_caps);
    RUN(test_trash);
    RUN(test_concurrent_writers);
  }
  free(urls);
  if (tmproot[0]) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  }
  return test_summary();
}
