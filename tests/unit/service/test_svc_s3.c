/* Unit tests: the storage service's xorb put on a real S3 store (Ceph RGW,
 * BK_TEST_S3_URL as for test_blob_s3; tests/run.sh starts one) over a real
 * SQLite database:
 * - a fresh xorb (one PUT, and a multipart upload) is registered without
 *   reading a byte of it back from S3: the blob carries its writer's tag, so
 *   the register trusts the layout the streaming verifier saw (the S3
 *   backend's read counter stays where it was); the stored bytes are the
 *   body's;
 * - verification still refuses a xorb with one damaged chunk byte and one
 *   sent under another hash, and nothing is stored;
 * - a stored blob that is NOT the writer's (another writer replaced it
 *   between the commit and the register: another tag) is read back, and its
 *   own layout (another serialization) is what the row describes;
 * - a row of another layout over a blob the writer just re-created (the old
 *   blob was deleted) is relaid to the writer's layout, again from memory. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"
#include "store/accounts.h"
#include "store/blob_s3.h"
#include "store/blobstore.h"
#include "store/db.h"
#include "../test.h"

static const char *base; /* BK_TEST_S3_URL */
static char root[200];
static int ndir;

struct env {
  bk_db *db;
  bk_blobstore *bs;
  bk_svc *svc;
  int64_t bid;
};

static int env_open(struct env *e) {
  memset(e, 0, sizeof *e);
  char dir[300], url[1400];
  snprintf(dir, sizeof dir, "%s/d%d", root, ndir++);
  if (mkdir(dir, 0700)) return -1;
  snprintf(url, sizeof url, "sqlite://%s/buckets.db", dir);
  if (bk_db_open_url(url, &e->db)) return -2;
  /* 5 MiB parts: a 12 MB xorb is a multipart upload */
  snprintf(url, sizeof url, "%s&prefix=test-svc-s3-%d-%ld-%d/&part_size=5242880", base,
           (int)getpid(), (long)time(NULL), ndir);
  if (bk_blobstore_open_url(url, &e->bs)) return -3;
  struct bk_svc_config cfg = {.db = e->db, .blobs = e->bs, .reverify_ms = 0};
  if (bk_svc_open(&cfg, &e->svc)) return -4;
  bk_ns u;
  bk_bucket b;
  if (bk_db_user_add(e->db, "alice", &u) || bk_db_bucket_create(e->db, u.id, "data", 0, &b))
    return -5;
  e->bid = b.id;
  return 0;
}

static void env_close(struct env *e) {
  bk_svc_close(e->svc);
  bk_blobstore_close(e->bs);
  bk_db_close(e->db);
}

static unsigned long reads(struct env *e) { return bk_blob_s3_reads(bk_blobstore_backend(e->bs)); }

static void fill(uint8_t *p, size_t n, uint64_t seed, int compressible) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = compressible ? (uint8_t)((seed >> 60) & 3) : (uint8_t)(seed >> 56);
  }
}

struct xb {
  bk_hash h;
  uint8_t *body;
  size_t len, n;
  bk_xorb_chunk *ch;
};

/* A serialized xorb of n chunks of 3000 bytes (compress: the builder's
 * choice of LZ4 per chunk, else raw records). */
static int make_xorb(uint64_t seed, size_t n, int compressible, int compress, struct xb *x) {
  memset(x, 0, sizeof *x);
  bk_xorb_builder *b = NULL;
  if (bk_xorb_builder_new(compress, &b)) return -1;
  uint8_t chunk[3000];
  for (size_t c = 0; c < n; c++) {
    fill(chunk, sizeof chunk, seed * 100000 + c, compressible);
    if (bk_xorb_builder_add(b, chunk, sizeof chunk, NULL)) return -2;
  }
  const uint8_t *body;
  if (bk_xorb_builder_finish(b, &x->h, &body, &x->len)) return -3;
  x->n = n;
  x->body = malloc(x->len);
  x->ch = malloc(n * sizeof *x->ch);
  if (!x->body || !x->ch) return -4;
  memcpy(x->body, body, x->len);
  memcpy(x->ch, bk_xorb_builder_chunks(b), n * sizeof *x->ch);
  bk_xorb_builder_free(b);
  return 0;
}

static void xb_free(struct xb *x) {
  free(x->body);
  free(x->ch);
}

/* Streams body through the service in 64 KiB pieces, as the server does. */
static int put_xorb(struct env *e, const bk_hash *want, const uint8_t *body, size_t len, int *vf) {
  bk_svc_xorb_put *p = NULL;
  int rc = bk_svc_xorb_open(e->svc, want, e->bid, (int64_t)len, &p);
  if (rc) return rc;
  for (size_t off = 0; off < len; off += 65536)
    bk_svc_xorb_write(p, body + off, len - off < 65536 ? len - off : 65536);
  int ins = 0;
  *vf = 0;
  rc = bk_svc_xorb_commit(p, &ins, vf);
  bk_svc_xorb_free(p);
  return rc;
}

static int stored_equals(struct env *e, const struct xb *x) {
  bk_buf b;
  bk_buf_init(&b, x->len + 1);
  int ok = bk_blob_get(e->bs, BK_BLOB_XORB, &x->h, x->len + 1, &b) == 0 && b.len == x->len &&
           memcmp(b.p, x->body, x->len) == 0;
  bk_buf_free(&b);
  return ok;
}

static uint64_t row_size(struct env *e, const bk_hash *h) {
  bk_xorb_info xi;
  return bk_db_xorb_get(e->db, h, &xi) == 0 ? xi.bytes_on_disk : 0;
}

/* a fresh xorb, one PUT and multipart: registered, no byte read back */
static void test_fresh_no_readback(void) {
  struct env e;
  int erc = env_open(&e);
  CHECK_EQ_INT(erc, 0);
  if (erc) return;
  size_t sizes[2] = {40, 4000}; /* 120 KB: one PUT; 12 MB: multipart (5 MiB parts) */
  for (int i = 0; i < 2; i++) {
    struct xb x;
    CHECK_EQ_INT(make_xorb((uint64_t)i + 1, sizes[i], 0, 1, &x), 0);
    unsigned long r0 = reads(&e);
    int vf = 0;
    CHECK_EQ_INT(put_xorb(&e, &x.h, x.body, x.len, &vf), 0);
    CHECK_EQ_INT(reads(&e) - r0, 0); /* the layout was not read back */
    CHECK_EQ_INT(row_size(&e, &x.h), x.len);
    char tag[BK_BLOB_TAG_MAX];
    CHECK_EQ_INT(bk_blob_tag(e.bs, BK_BLOB_XORB, &x.h, tag, NULL), 0);
    CHECK_EQ_INT(strlen(tag), 32);
    CHECK(stored_equals(&e, &x));
    /* the row is right: a forced full check (every chunk hash) passes */
    CHECK_EQ_INT(svc_xorb_check(e.svc, &x.h, -1), 0);
    xb_free(&x);
  }
  env_close(&e);
}

/* verification refuses a damaged chunk and a wrong hash; nothing stored */
static void test_bad_rejected(void) {
  struct env e;
  int erc = env_open(&e);
  CHECK_EQ_INT(erc, 0);
  if (erc) return;
  struct xb x;
  CHECK_EQ_INT(make_xorb(7, 2000, 0, 1, &x), 0);
  x.body[x.ch[1000].record_offset + 100] ^= 1; /* one payload byte of chunk 1000 */
  int vf = 0;
  int rc = put_xorb(&e, &x.h, x.body, x.len, &vf);
  CHECK(rc != 0);
  CHECK_EQ_INT(vf, 1);
  CHECK_EQ_INT(bk_blob_exists(e.bs, BK_BLOB_XORB, &x.h), 0);
  CHECK_EQ_INT(bk_db_xorb_exists(e.db, &x.h), 0);
  x.body[x.ch[1000].record_offset + 100] ^= 1;
  bk_hash other = x.h;
  other.b[0] ^= 1;
  CHECK_EQ_INT(put_xorb(&e, &other, x.body, x.len, &vf), BK_EHASH);
  CHECK_EQ_INT(vf, 1);
  CHECK_EQ_INT(bk_blob_exists(e.bs, BK_BLOB_XORB, &other), 0);
  CHECK_EQ_INT(bk_db_xorb_exists(e.db, &other), 0);
  xb_free(&x);
  env_close(&e);
}

/* Stores body through a writer; its tag into tag (replace: over a stored blob). */
static int write_blob(struct env *e, const struct xb *x, int replace, char *tag) {
  bk_blob_writer *w = NULL;
  int rc = bk_blob_writer_open(e->bs, BK_BLOB_XORB, &w);
  if (rc) return rc;
  snprintf(tag, BK_BLOB_TAG_MAX, "%s", bk_blob_writer_tag(w));
  if ((rc = bk_blob_writer_write(w, x->body, x->len))) {
    bk_blob_writer_abort(w);
    return rc;
  }
  return replace ? bk_blob_writer_commit_replace(w, &x->h) : bk_blob_writer_commit(w, &x->h, NULL);
}

/* the stored blob is another writer's (another serialization): read back
 * and adopted; the writer's own table is not trusted for it */
static void test_other_writer_read(void) {
  struct env e;
  int erc = env_open(&e);
  CHECK_EQ_INT(erc, 0);
  if (erc) return;
  struct xb raw, lz;
  CHECK_EQ_INT(make_xorb(11, 300, 1, 0, &raw), 0); /* raw records */
  CHECK_EQ_INT(make_xorb(11, 300, 1, 1, &lz), 0);  /* the same chunks, LZ4 */
  CHECK(bk_hash_eq(&raw.h, &lz.h));
  CHECK(raw.len != lz.len);
  char t1[BK_BLOB_TAG_MAX], t2[BK_BLOB_TAG_MAX];
  CHECK_EQ_INT(write_blob(&e, &raw, 0, t1), 0);
  CHECK_EQ_INT(write_blob(&e, &lz, 1, t2), 0); /* lands before the first register */
  CHECK(strcmp(t1, t2) != 0);
  unsigned long r0 = reads(&e);
  int existed = 0;
  CHECK_EQ_INT(svc_xorb_register_mine(e.svc, NULL, &raw.h, raw.len, raw.ch, raw.n, t1, &existed), 0);
  CHECK(reads(&e) - r0 > 0);                 /* not the writer's blob: read */
  CHECK_EQ_INT(row_size(&e, &raw.h), lz.len); /* the stored serialization's layout */
  CHECK_EQ_INT(svc_xorb_check(e.svc, &raw.h, -1), 0);
  xb_free(&raw);
  xb_free(&lz);
  env_close(&e);
}

/* a row of another layout, the blob deleted and put again by this writer:
 * the row is relaid to the writer's layout without a read */
static void test_relayout_mine(void) {
  struct env e;
  int erc = env_open(&e);
  CHECK_EQ_INT(erc, 0);
  if (erc) return;
  struct xb raw, lz;
  CHECK_EQ_INT(make_xorb(12, 300, 1, 0, &raw), 0);
  CHECK_EQ_INT(make_xorb(12, 300, 1, 1, &lz), 0);
  int vf = 0;
  CHECK_EQ_INT(put_xorb(&e, &lz.h, lz.body, lz.len, &vf), 0);
  CHECK_EQ_INT(row_size(&e, &lz.h), lz.len);
  CHECK_EQ_INT(bk_blob_delete(e.bs, BK_BLOB_XORB, &lz.h), 0); /* an operator removed it */
  unsigned long r0 = reads(&e);
  CHECK_EQ_INT(put_xorb(&e, &raw.h, raw.body, raw.len, &vf), 0);
  CHECK_EQ_INT(reads(&e) - r0, 0);
  CHECK_EQ_INT(row_size(&e, &raw.h), raw.len);
  CHECK(stored_equals(&e, &raw));
  CHECK_EQ_INT(svc_xorb_check(e.svc, &raw.h, -1), 0);
  xb_free(&raw);
  xb_free(&lz);
  env_close(&e);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  base = getenv("BK_TEST_S3_URL");
  if (!base || !*base) {
    fprintf(stderr, "  BK_TEST_S3_URL is not set (tests/run.sh starts Ceph RGW with tests/tools/s3-up)\n");
    CHECK(!"no S3 server to test against");
    return test_summary();
  }
  snprintf(root, sizeof root, "/tmp/bk-test-svc-s3-%d", (int)getpid());
  if (mkdir(root, 0700)) {
    CHECK(!"mkdir root");
    return test_summary();
  }
  RUN(test_fresh_no_readback);
  RUN(test_bad_rejected);
  RUN(test_other_writer_read);
  RUN(test_relayout_mine);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  curl_global_cleanup();
  return test_summary();
}
