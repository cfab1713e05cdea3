/* S3 backend checks beyond the conformance suite, against a real S3 server
 * (Ceph RGW from tests/tools/s3-up; tests/run.sh starts one):
 *
 *   BK_TEST_S3_URL='s3://BUCKET?endpoint=http://127.0.0.1:PORT&region=us-east-1'
 *   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 *
 * Every run works under a fresh key prefix. Without BK_TEST_S3_URL only the
 * URL-parsing checks run and the missing server is one FAILED check (never a
 * silent skip). Direct requests (multipart listings, strays, presigned URLs)
 * go through libcurl here, independently of the backend's own code.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"
#include "store/blob_backend.h"
#include "store/blobstore.h"
#include "store/s3_int.h"
#include "../test.h"

static const char *base;   /* BK_TEST_S3_URL */
static char url[1024];     /* base + fresh prefix */
static char prefix[128];   /* that prefix */
static char endpoint[256], bucket[64], region[64];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fill(uint8_t *p, size_t n, uint64_t s) {
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (uint8_t)(s >> 33);
  }
}

static void mk_hash(bk_hash *h, uint64_t n) {
  uint64_t s = n * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
  for (int i = 0; i < 32; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    h->b[i] = (uint8_t)(s >> 56);
  }
}

/* value of name= in the query of base */
static void param(const char *name, char *out, size_t n) {
  out[0] = 0;
  const char *q = strchr(base, '?');
  size_t nl = strlen(name);
  for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
    if (strncmp(p + 1, name, nl) == 0 && p[1 + nl] == '=') {
      const char *v = p + 2 + nl;
      size_t l = strcspn(v, "&");
      snprintf(out, n, "%.*s", (int)(l < n ? l : n - 1), v);
    }
  }
}

/* ---- direct S3 requests with libcurl (not the backend) ---- */

struct body {
  char *p;
  size_t n;
};
static size_t sink(char *p, size_t sz, size_t nm, void *ud) {
  struct body *b = ud;
  size_t n = sz * nm;
  char *q = realloc(b->p, b->n + n + 1);
  if (!q) return 0;
  memcpy(q + b->n, p, n);
  b->p = q;
  b->n += n;
  b->p[b->n] = 0;
  return n;
}

/* signed request; returns the status, body in *out (caller frees) */
static long s3req(const char *method, const char *key, const char *query, const char *data,
                  struct body *out) {
  char u[2048], sig[128], user[600];
  snprintf(u, sizeof u, "%s/%s/%s%s%s", endpoint, bucket, key, query ? "?" : "", query ? query : "");
  snprintf(sig, sizeof sig, "aws:amz:%s:s3", region);
  snprintf(user, sizeof user, "%s:%s", getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"));
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  curl_easy_setopt(c, CURLOPT_URL, u);
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sig);
  curl_easy_setopt(c, CURLOPT_USERPWD, user);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  if (!strcmp(method, "POST")) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data ? data : "");
  } else if (!strcmp(method, "PUT")) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data ? data : "");
  } else if (strcmp(method, "GET")) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  long st = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return st;
}

/* multipart uploads in progress under <prefix><dir>/ (-1 on error) */
static int uploads_in(const char *dir) {
  char q[300];
  snprintf(q, sizeof q, "prefix=%s%s%%2F&uploads=", prefix, dir);
  for (char *p = q; *p; p++) /* prefix "a/b/" → a%2Fb%2F */
    if (*p == '/') { memmove(p + 3, p + 1, strlen(p + 1) + 1); memcpy(p, "%2F", 3); }
  struct body b = {0};
  long st = s3req("GET", "", q, NULL, &b);
  int n = -1;
  if (st == 200 && b.p) {
    n = 0;
    for (char *p = b.p; (p = strstr(p, "<Upload>")); p++) n++;
  }
  free(b.p);
  return n;
}

/* multipart uploads in progress under <prefix>tmp/ (-1 on error) */
static int uploads(void) { return uploads_in("tmp"); }

static long plain_get(const char *u, const char *range, struct body *out) {
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, u);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  if (range) curl_easy_setopt(c, CURLOPT_RANGE, range);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  long st = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  curl_easy_cleanup(c);
  return st;
}

static bk_blobstore *open_url(const char *u) {
  bk_blobstore *bs = NULL;
  int rc = bk_blobstore_open_url(u, &bs);
  if (rc) fprintf(stderr, "  open: %s (%s)\n", bk_strerror(rc), bk_errmsg());
  return bs;
}

/* ---- checks ---- */

static void expect_einval(const char *u, const char *words) {
  bk_blobstore *bs = NULL;
  int rc = bk_blobstore_open_url(u, &bs);
  CHECK_EQ_INT(rc, BK_EINVAL);
  CHECK(bs == NULL);
  if (rc == BK_EINVAL && !strstr(bk_errmsg(), words)) {
    fprintf(stderr, "  %s: message '%s' lacks '%s'\n", u, bk_errmsg(), words);
    CHECK(0);
  }
  bk_blobstore_close(bs);
}

static void test_url_errors(void) {
  expect_einval("s3://", "bucket name");
  expect_einval("s3://ab", "bucket name");
  expect_einval("s3://Upper?endpoint=http://127.0.0.1:1", "bucket name");
  expect_einval("s3://bucket/key?endpoint=http://127.0.0.1:1", "no path");
  expect_einval("s3://user:pw@bucket", "no credentials");
  expect_einval("s3://bucket?endpoint=ftp://127.0.0.1:1", "http://");
  expect_einval("s3://bucket?endpoint=http://127.0.0.1:1/path", "no path");
  expect_einval("s3://bucket?endpoint=http://u:p@127.0.0.1:1", "no path");
  expect_einval("s3://bucket?endpoint=http://", "no host");
  expect_einval("s3://bucket?colour=blue", "unknown parameter 'colour'");
  expect_einval("s3://bucket?region=a&region=b", "given twice");
  expect_einval("s3://bucket?region=US_EAST", "region");
  expect_einval("s3://bucket?region", "name=value");
  expect_einval("s3://bucket?part_size=1000", "part_size");
  expect_einval("s3://bucket?max_keys=0", "max_keys");
  expect_einval("s3://bucket?timeout=x", "timeout");
  expect_einval("s3://bucket?prefix=../up/", "segments");
  expect_einval("s3://bucket?prefix=/abs/", "relative");
  expect_einval("s3://bucket?prefix=a%2", "escape");
  expect_einval("s3://bucket?prefix=a%00b", "escape");
  expect_einval("s3://bucket?prefix=sp%20ace/", "prefix may hold");
  expect_einval("s3://bucket?endpoint=http://127.0.0.1:1#frag", "fragment");
  /* credentials are required (checked before any request) */
  char *id = getenv("AWS_ACCESS_KEY_ID") ? strdup(getenv("AWS_ACCESS_KEY_ID")) : NULL;
  unsetenv("AWS_ACCESS_KEY_ID");
  expect_einval("s3://bucket?endpoint=http://127.0.0.1:1", "AWS_ACCESS_KEY_ID");
  if (id) setenv("AWS_ACCESS_KEY_ID", id, 1);
  free(id);
}

static int need_server(void) {
  if (base) return 1;
  fprintf(stderr, "  BK_TEST_S3_URL is not set (tests/run.sh starts Ceph RGW with tests/tools/s3-up)\n");
  CHECK(!"no S3 server to test against");
  return 0;
}

/* 40 MiB streamed: multipart (8 MiB parts), invisible until commit */
static void test_multipart(void) {
  if (!need_server()) return;
  bk_blobstore *bs = open_url(url);
  if (!bs) { CHECK(0); return; }
  enum { PIECE = 1 << 20, PIECES = 40 };
  uint8_t *p = malloc(PIECE);
  bk_hash h;
  mk_hash(&h, 1);
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  for (int i = 0; p && w && i < PIECES; i++) {
    fill(p, PIECE, (uint64_t)i);
    CHECK_EQ_INT(bk_blob_writer_write(w, p, PIECE), 0);
    if (i == 20) { /* parts sent, still nothing visible */
      CHECK_EQ_INT(uploads(), 1);
      CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
    }
  }
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, NULL), 0);
  uint64_t size = 0;
  CHECK_EQ_INT(bk_blob_stat(bs, BK_BLOB_XORB, &h, &size), 0);
  CHECK_EQ_INT(size, (uint64_t)PIECE * PIECES);
  CHECK_EQ_INT(uploads(), 0);
  bk_buf b;
  bk_buf_init(&b, (size_t)PIECE * PIECES);
  CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_XORB, &h, SIZE_MAX, &b), 0);
  int same = b.len == (size_t)PIECE * PIECES;
  for (int i = 0; same && i < PIECES; i++) {
    fill(p, PIECE, (uint64_t)i);
    same = memcmp(b.p + (size_t)i * PIECE, p, PIECE) == 0;
  }
  CHECK(same);
  bk_buf_free(&b);
  /* no staging object is left under tmp/ */
  size_t removed = 99;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, INT64_MAX, &removed), 0);
  CHECK_EQ_INT(removed, 0);
  /* a big whole put goes the same way */
  bk_hash h2;
  mk_hash(&h2, 2);
  uint8_t *big = malloc(9u << 20);
  if (big) {
    fill(big, 9u << 20, 7);
    CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &h2, big, 9u << 20, NULL), 0);
    uint8_t r[100];
    CHECK_EQ_INT(bk_blob_read_range(bs, BK_BLOB_SHARD, &h2, (9u << 20) - 100, 100, r), 0);
    CHECK(memcmp(r, big + (9u << 20) - 100, 100) == 0);
    int existed = 0;
    CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &h2, big, 9u << 20, &existed), 0);
    CHECK_EQ_INT(existed, 1);
    CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &h2), 0);
  }
  CHECK_EQ_INT(uploads(), 0);
  free(big);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  free(p);
  bk_blobstore_close(bs);
}

/* Streams n bytes (fill seed) through a writer opened for h; *w stays open. */
static int named_write(bk_blobstore *bs, const bk_hash *h, uint8_t *p, size_t n, uint64_t seed,
                       bk_blob_writer **w) {
  int rc = bk_blob_writer_open_as(bs, BK_BLOB_XORB, h, w);
  if (rc) return rc;
  fill(p, n, seed);
  return bk_blob_writer_write(*w, p, n);
}

static int stored_is(bk_blobstore *bs, const bk_hash *h, const uint8_t *p, size_t n) {
  bk_buf b;
  bk_buf_init(&b, n + 1);
  int ok = bk_blob_get(bs, BK_BLOB_XORB, h, n + 1, &b) == 0 && b.len == n && memcmp(b.p, p, n) == 0;
  bk_buf_free(&b);
  return ok;
}

/* A writer opened for its blob's name stages the multipart upload under that
 * key — no staging object, no server-side copy (RGW stores the bytes once) —
 * and nothing is visible before the commit; another name is refused; two
 * concurrent writers of one name leave one blob (the first commit's) and no
 * upload; gc's stale cleanup finds an abandoned upload there too. */
static void test_named_multipart(void) {
  if (!need_server()) return;
  bk_blobstore *bs = open_url(url);
  if (!bs) { CHECK(0); return; }
  enum { N = 20u << 20 };
  uint8_t *p = malloc(N), *q = malloc(N);
  bk_hash h, other;
  mk_hash(&h, 20);
  mk_hash(&other, 21);
  bk_blob_writer *w = NULL, *w2 = NULL;
  CHECK(p && q && named_write(bs, &h, p, N, 1, &w) == 0); /* two parts sent */
  char tag[BK_BLOB_TAG_MAX], cur[BK_BLOB_TAG_MAX];
  snprintf(tag, sizeof tag, "%s", w ? bk_blob_writer_tag(w) : "");
  CHECK_EQ_INT(uploads_in("xorbs"), 1); /* staged under xorbs/<hex> itself */
  CHECK_EQ_INT(uploads(), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, NULL), 0);
  CHECK(p && stored_is(bs, &h, p, N));
  CHECK_EQ_INT(bk_blob_tag(bs, BK_BLOB_XORB, &h, cur, NULL), 0);
  CHECK_EQ_STR(cur, tag);
  CHECK_EQ_INT(uploads_in("xorbs"), 0);
  size_t removed = 99;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, INT64_MAX, &removed), 0);
  CHECK_EQ_INT(removed, 0); /* no staging object was ever made */
  /* committed under another name: refused, nothing stored, upload aborted */
  CHECK(named_write(bs, &other, q, N, 2, &w) == 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, NULL), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &other), 0);
  CHECK_EQ_INT(uploads_in("xorbs"), 0);
  CHECK(p && stored_is(bs, &h, p, N));
  /* two concurrent writers of one name: the first commit stands */
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  CHECK(named_write(bs, &h, p, N, 3, &w) == 0);
  CHECK(named_write(bs, &h, q, N, 3, &w2) == 0);
  CHECK_EQ_INT(uploads_in("xorbs"), 2);
  int existed = 9;
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w2, &h, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(uploads_in("xorbs"), 0);
  CHECK(p && stored_is(bs, &h, p, N));
  /* a live named upload cleaned by a concurrent gc: the writer fails
   * BK_ESTALE (retry), nothing stored; an abandoned one is aborted */
  CHECK(named_write(bs, &other, q, N, 4, &w) == 0);
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, (int64_t)time(NULL) + 10, &removed), 0);
  CHECK_EQ_INT(removed, 1);
  CHECK_EQ_INT(uploads_in("xorbs"), 0);
  int rc = bk_blob_writer_write(w, q, 9u << 20);
  if (rc == 0) rc = bk_blob_writer_commit(w, &other, NULL);
  else bk_blob_writer_abort(w);
  CHECK_EQ_INT(rc, BK_ESTALE);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &other), 0);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  free(p);
  free(q);
  bk_blobstore_close(bs);
}

/* Part buffers come back to the store's bounded pool when a writer ends and
 * the next writer takes them from there (no fresh mapping, page faults and
 * zeroing of part_size bytes per xorb). */
static void test_part_buffer_pool(void) {
  if (!need_server()) return;
  bk_blobstore *bs = open_url(url);
  if (!bs) { CHECK(0); return; }
  struct s3 *s = (struct s3 *)bk_blobstore_backend(bs);
  enum { N = 20u << 20 };
  uint8_t *p = malloc(N);
  bk_hash h;
  mk_hash(&h, 30);
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(s->nbufs, 0);
  CHECK(p && named_write(bs, &h, p, N, 5, &w) == 0); /* 3 buffers: 2 parts sent, 1 filling */
  CHECK_EQ_INT(s->nbufs, 0);
  CHECK_EQ_INT(bk_blob_writer_commit(w, &h, NULL), 0);
  CHECK_EQ_INT(s->nbufs, 3);
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK_EQ_INT(s->nbufs, 2); /* the new writer's buffer came from the pool */
  bk_blob_writer_abort(w);
  CHECK_EQ_INT(s->nbufs, 3);
  char *extra[S3_BUF_POOL + 2];
  for (int i = 0; i < S3_BUF_POOL + 2; i++) extra[i] = malloc(s->part_size);
  for (int i = 0; i < S3_BUF_POOL + 2; i++) s3_buf_put(s, extra[i]); /* the rest is freed */
  CHECK_EQ_INT(s->nbufs, S3_BUF_POOL);
  CHECK(stored_is(bs, &h, p, N));
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  free(p);
  bk_blobstore_close(bs);
}

/* abort leaves no upload; clean_stale aborts an abandoned one */
static void test_abort_stale(void) {
  if (!need_server()) return;
  bk_blobstore *bs = open_url(url);
  if (!bs) { CHECK(0); return; }
  uint8_t *p = calloc(1, 20u << 20);
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK(p && w && bk_blob_writer_write(w, p, 20u << 20) == 0);
  CHECK_EQ_INT(uploads(), 1);
  bk_blob_writer_abort(w);
  CHECK_EQ_INT(uploads(), 0);
  free(p);
  /* an abandoned upload (a crashed writer), made directly */
  char key[300];
  snprintf(key, sizeof key, "%stmp/abandoned", prefix);
  struct body b = {0};
  CHECK_EQ_INT(s3req("POST", key, "uploads=", NULL, &b), 200);
  free(b.p);
  CHECK_EQ_INT(uploads(), 1);
  size_t removed = 99;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, (int64_t)time(NULL) - 3600, &removed), 0);
  CHECK_EQ_INT(removed, 0); /* younger than the cutoff: kept */
  CHECK_EQ_INT(uploads(), 1);
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, (int64_t)time(NULL) + 10, &removed), 0);
  CHECK_EQ_INT(removed, 1);
  CHECK_EQ_INT(uploads(), 0);
  /* a completed staging object left by a crash before the copy */
  memset(&b, 0, sizeof b);
  CHECK_EQ_INT(s3req("PUT", key, NULL, "staged", &b), 200);
  free(b.p);
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, (int64_t)time(NULL) + 10, &removed), 0);
  CHECK_EQ_INT(removed, 1);
  bk_blobstore_close(bs);
}

/* a writer whose staged upload a concurrent gc cleaned up (clean_stale with --grace 0s on another
 * node) fails with BK_ESTALE — the race the CAS answers 503 "retry" — never BK_ENOTFOUND (was: 404
 * "not found (upload part)" to the client; found by tests/integration/cluster.sh) */
static void test_staged_cleaned(void) {
  if (!need_server()) return;
  bk_blobstore *bs = open_url(url);
  if (!bs) { CHECK(0); return; }
  uint8_t *p = calloc(1, 9u << 20);
  bk_hash h;
  mk_hash(&h, 9);
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK(p && w && bk_blob_writer_write(w, p, 9u << 20) == 0); /* one part sent */
  CHECK_EQ_INT(uploads(), 1);
  size_t removed = 0;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, (int64_t)time(NULL) + 10, &removed), 0);
  CHECK_EQ_INT(removed, 1);
  int rc = w ? bk_blob_writer_write(w, p, 9u << 20) : BK_EINVAL;
  if (rc == 0) rc = bk_blob_writer_commit(w, &h, NULL);
  else bk_blob_writer_abort(w);
  CHECK_EQ_INT(rc, BK_ESTALE);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 0);
  CHECK_EQ_INT(uploads(), 0);
  free(p);
  bk_blobstore_close(bs);
}

/* gc's stale cleanup ages a staged multipart upload by its newest part, not by its start: an upload
 * that began before the cutoff but is still sending parts is kept and commits (was: aborted, the
 * writer then failed; found by tests/integration/cluster.sh with gc --grace 0s beside uploads) */
static void test_stale_by_last_part(void) {
  if (!need_server()) return;
  bk_blobstore *bs = open_url(url);
  if (!bs) { CHECK(0); return; }
  uint8_t *p = calloc(1, 9u << 20);
  bk_hash h;
  mk_hash(&h, 10);
  bk_blob_writer *w = NULL;
  int64_t t0 = (int64_t)time(NULL);
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK(p && w && bk_blob_writer_write(w, p, 9u << 20) == 0); /* part 1 at t0 */
  sleep(3);
  CHECK(p && w && bk_blob_writer_write(w, p, 8u << 20) == 0); /* part 2 at t0 + 3 */
  sleep(1);
  CHECK_EQ_INT(uploads(), 1);
  size_t removed = 99;
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, t0 + 2, &removed), 0); /* started before, written after */
  CHECK_EQ_INT(removed, 0);
  CHECK_EQ_INT(uploads(), 1);
  int rc = w ? bk_blob_writer_commit(w, &h, NULL) : BK_EINVAL;
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &h), 1);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  /* not written since the cutoff: aborted */
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  CHECK(p && w && bk_blob_writer_write(w, p, 9u << 20) == 0);
  sleep(2);
  CHECK_EQ_INT(bk_blob_clean_tmp(bs, (int64_t)time(NULL), &removed), 0);
  CHECK_EQ_INT(removed, 1);
  CHECK_EQ_INT(uploads(), 0);
  bk_blob_writer_abort(w);
  free(p);
  bk_blobstore_close(bs);
}

struct count {
  size_t n, strays, bad;
  bk_hash *seen;
  size_t cap;
  char stray[256];
};
static int on_blob(void *ctx, bk_blob_kind k, const bk_hash *h, uint64_t size, int64_t mtime) {
  struct count *c = ctx;
  (void)k;
  if (size != 3 || mtime < 1700000000) c->bad++;
  for (size_t i = 0; i < c->n && i < c->cap; i++)
    if (bk_hash_eq(&c->seen[i], h)) c->bad++; /* twice */
  if (c->n < c->cap) c->seen[c->n] = *h;
  c->n++;
  return 0;
}
static int on_stray(void *ctx, const char *rel, uint64_t size, int64_t mtime) {
  struct count *c = ctx;
  (void)size, (void)mtime;
  snprintf(c->stray, sizeof c->stray, "%s", rel);
  c->strays++;
  return 0;
}

/* listing pages: > 1000 keys with the default page, and a page of 7 */
static void test_list_pages(void) {
  if (!need_server()) return;
  char u7[1100];
  snprintf(u7, sizeof u7, "%s&max_keys=50", url);
  bk_blobstore *bs = open_url(url), *b7 = open_url(u7);
  if (!bs || !b7) { CHECK(0); bk_blobstore_close(bs); bk_blobstore_close(b7); return; }
  enum { N = 1005 };
  bk_hash *hs = calloc(N, sizeof *hs);
  int ok = hs != NULL;
  for (int i = 0; ok && i < N; i++) {
    mk_hash(&hs[i], 1000 + (uint64_t)i);
    ok = bk_blob_put(bs, BK_BLOB_SHARD, &hs[i], "abc", 3, NULL) == 0;
  }
  CHECK(ok);
  /* strays: a name that is no blob name, an upper-case hex name */
  char key[300], hex[65];
  struct body b = {0};
  snprintf(key, sizeof key, "%sshards/not-a-hash", prefix);
  CHECK_EQ_INT(s3req("PUT", key, NULL, "x", &b), 200);
  bk_hash_to_hex(&hs[0], hex);
  for (char *p = hex; *p; p++) if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 32);
  snprintf(key, sizeof key, "%sshards/%s", prefix, hex);
  CHECK_EQ_INT(s3req("PUT", key, NULL, "x", &b), 200);
  free(b.p);
  for (int pass = 0; pass < 2; pass++) {
    struct count c = {0};
    c.cap = N;
    c.seen = calloc(N, sizeof *c.seen);
    double t0 = now_s();
    CHECK_EQ_INT(bk_blob_list(pass ? b7 : bs, BK_BLOB_SHARD, on_blob, on_stray, &c), 0);
    printf("# list of %zu shards, max_keys %s: %.2f s\n", c.n, pass ? "50" : "1000", now_s() - t0);
    CHECK_EQ_INT(c.n, N);
    CHECK_EQ_INT(c.bad, 0);
    CHECK_EQ_INT(c.strays, 2);
    CHECK(strncmp(c.stray, "shards/", 7) == 0);
    free(c.seen);
  }
  for (int i = 0; ok && i < N; i++) ok = bk_blob_delete(bs, BK_BLOB_SHARD, &hs[i]) == 0;
  CHECK(ok);
  free(hs);
  bk_blobstore_close(bs);
  bk_blobstore_close(b7);
}

/* presigned URL: curl gets a range without credentials; tampered or expired → 403 */
static void test_presign(void) {
  if (!need_server()) return;
  bk_blobstore *bs = open_url(url);
  if (!bs) { CHECK(0); return; }
  CHECK(bk_blobstore_caps(bs) & BK_BLOB_CAP_PRESIGN);
  CHECK(!(bk_blobstore_caps(bs) & (BK_BLOB_CAP_FD | BK_BLOB_CAP_TRASH)));
  bk_hash h;
  mk_hash(&h, 3);
  uint8_t data[5000];
  fill(data, sizeof data, 3);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &h, data, sizeof data, NULL), 0);
  char u[2048];
  CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 100, 200, (int64_t)time(NULL) + 300, u, sizeof u), 0);
  CHECK(strstr(u, getenv("AWS_SECRET_ACCESS_KEY")) == NULL);
  /* presign reads the clock again: a second may tick between time(NULL) + 300 here and there */
  CHECK(strstr(u, "X-Amz-Signature=") != NULL &&
        (strstr(u, "X-Amz-Expires=300") != NULL || strstr(u, "X-Amz-Expires=299") != NULL));
  struct body b = {0};
  CHECK_EQ_INT(plain_get(u, "100-299", &b), 206);
  CHECK(b.n == 200 && memcmp(b.p, data + 100, 200) == 0);
  free(b.p);
  /* two ranges of one blob get two URLs (the JS client keys its download plan by URL), each
   * naming its range in a signed parameter: changing it breaks the signature */
  char u2[2048];
  CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 300, 200, (int64_t)time(NULL) + 300, u2, sizeof u2), 0);
  CHECK(strcmp(u, u2) != 0);
  CHECK(strstr(u, "x-bk-range=100-299&") != NULL && strstr(u2, "x-bk-range=300-499&") != NULL);
  memset(&b, 0, sizeof b);
  CHECK_EQ_INT(plain_get(u2, "300-499", &b), 206);
  CHECK(b.n == 200 && memcmp(b.p, data + 300, 200) == 0);
  free(b.p);
  char *r = strstr(u2, "x-bk-range=300");
  if (r) r[11] = '1';
  memset(&b, 0, sizeof b);
  CHECK_EQ_INT(plain_get(u2, "100-499", &b), 403);
  free(b.p);
  CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 0, 0, (int64_t)time(NULL) + 300, u2, sizeof u2), BK_EINVAL);
  /* tampered: last signature digit changed */
  size_t n = strlen(u);
  u[n - 1] = u[n - 1] == '0' ? '1' : '0';
  memset(&b, 0, sizeof b);
  CHECK_EQ_INT(plain_get(u, "100-299", &b), 403);
  free(b.p);
  /* expired */
  /* + 2 s: still in the future when presign reads the clock on a loaded machine; expired 2 s later */
  CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 0, 10, (int64_t)time(NULL) + 2, u, sizeof u), 0);
  sleep(4);
  memset(&b, 0, sizeof b);
  CHECK_EQ_INT(plain_get(u, "0-9", &b), 403);
  free(b.p);
  CHECK_EQ_INT(bk_blob_presign(bs, BK_BLOB_XORB, &h, 0, 10, (int64_t)time(NULL) - 1, u, sizeof u), BK_EINVAL);
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &h), 0);
  bk_blobstore_close(bs);
}

/* wrong credentials, a missing bucket, a stopped and a silent server */
static void test_failures(void) {
  if (!need_server()) return;
  char *sk = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
  setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789", 1);
  bk_blobstore *bs = NULL;
  CHECK_EQ_INT(bk_blobstore_open_url(url, &bs), BK_EPERM);
  CHECK(strstr(bk_errmsg(), bucket) != NULL && strstr(bk_errmsg(), "wrong-secret") == NULL);
  setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
  free(sk);
  char u[1200];
  snprintf(u, sizeof u, "s3://no-such-bucket-%d?endpoint=%s&region=%s", (int)getpid(), endpoint, region);
  CHECK_EQ_INT(bk_blobstore_open_url(u, &bs), BK_ENOTFOUND);
  /* a port nobody listens on: refused at once, retries are bounded */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0);
  snprintf(u, sizeof u, "s3://%s?endpoint=http://127.0.0.1:%d&region=%s", bucket, ntohs(a.sin_port), region);
  double t0 = now_s();
  CHECK_EQ_INT(bk_blobstore_open_url(u, &bs), BK_ENET);
  double t = now_s() - t0;
  printf("# stopped server: BK_ENET after %.2f s (%s)\n", t, bk_errmsg());
  CHECK(t < 3);
  /* a server that accepts and never answers: the timeout bounds it */
  CHECK(listen(fd, 8) == 0);
  snprintf(u, sizeof u, "s3://%s?endpoint=http://127.0.0.1:%d&region=%s&timeout=1&retries=1", bucket,
           ntohs(a.sin_port), region);
  t0 = now_s();
  CHECK_EQ_INT(bk_blobstore_open_url(u, &bs), BK_ENET);
  t = now_s() - t0;
  printf("# silent server: BK_ENET after %.2f s\n", t);
  CHECK(t >= 1.5 && t < 8);
  close(fd);
  CHECK(bs == NULL);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  base = getenv("BK_TEST_S3_URL");
  if (base && !*base) base = NULL;
  if (base) {
    snprintf(prefix, sizeof prefix, "test-blob-s3-%d-%ld/", (int)getpid(), (long)time(NULL));
    snprintf(url, sizeof url, "%s&prefix=%s", base, prefix);
    param("endpoint", endpoint, sizeof endpoint);
    param("region", region, sizeof region);
    const char *b = base + 5;
    snprintf(bucket, sizeof bucket, "%.*s", (int)strcspn(b, "?"), b);
    if (!region[0]) snprintf(region, sizeof region, "us-east-1");
    printf("# s3 store %s\n", url);
  }
  RUN(test_url_errors);
  RUN(test_multipart);
  RUN(test_named_multipart);
  RUN(test_part_buffer_pool);
  RUN(test_abort_stale);
  RUN(test_staged_cleaned);
  RUN(test_stale_by_last_part);
  RUN(test_list_pages);
  RUN(test_presign);
  RUN(test_failures);
  curl_global_cleanup();
  return test_summary();
}
