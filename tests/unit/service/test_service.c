/* Unit tests: the storage service (src/service/service.h) on a real SQLite
 * database and a real blob store in a temp dir. Covers the streamed xorb
 * put (good bytes, wrong hash, corrupt bytes, an identical re-put, a re-put
 * that repairs a damaged blob, the gc race answered BK_ESTALE), the shard put (a missing xorb, a valid
 * shard), ingest from bytes then ranged reads back, the dedup lookup, gc of
 * an unreferenced xorb, and fsck / scrub finding a damaged blob. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/blobstore.h"
#include "store/db.h"
#include "buckets/error.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "service/service.h"
#include "store/blob_fs.h"
#include "svc_fixture.h"
#include "../test.h"

static char root[256];
static int ndir;

/* A fresh data dir (db + blobs) and a service over it; bucket *bid. */
static bk_svc *open_fresh(int64_t *bid) {
  char dir[400], db[500], blobs[500];
  snprintf(dir, sizeof dir, "%s/d%d", root, ndir++);
  if (mkdir(dir, 0700)) return NULL;
  snprintf(db, sizeof db, "%s/buckets.db", dir);
  snprintf(blobs, sizeof blobs, "%s/blobs", dir);
  struct bk_svc_config cfg = {.db_path = db, .blob_root = blobs, .reverify_ms = 0};
  bk_svc *svc = NULL;
  if (bk_svc_open(&cfg, &svc)) return NULL;
  bk_ns u;
  bk_bucket b;
  if (bk_db_user_add(bk_svc_db(svc), "alice", &u) ||
      bk_db_bucket_create(bk_svc_db(svc), u.id, "data", 0, &b)) {
    bk_svc_close(svc);
    return NULL;
  }
  *bid = b.id;
  return svc;
}

/* Deterministic pseudo-random bytes (incompressible). */
/* Streams body in three pieces through the service; returns commit's rc. */
static int put_xorb(bk_svc *svc, int64_t bid, const bk_hash *want, const uint8_t *body,
                    size_t len, int *inserted, int *vfail) {
  return put_xorb_ex(svc, bid, want, body, len, inserted, vfail);
}

/* 1 when the xorb has a row. */
static int has_row(bk_svc *svc, const bk_hash *h) {
  bk_xorb_info xi;
  return bk_db_xorb_get(bk_svc_db(svc), h, &xi) == 0;
}

static void test_xorb_put(void) {
  int64_t bid = 0;
  bk_svc *svc = open_fresh(&bid);
  CHECK(svc != NULL);
  if (!svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(1, 5, &xh, &body, &len), 0);
  int ins = -1, vf = -1;
  /* wrong hash in the "URL": refused, nothing registered */
  bk_hash other = xh;
  other.b[0] ^= 1;
  CHECK_EQ_INT(put_xorb(svc, bid, &other, body, len, &ins, &vf), BK_EHASH);
  CHECK_EQ_INT(vf, 1);
  CHECK(!has_row(svc, &other));
  /* corrupt bytes: refused while streaming */
  uint8_t *bad = malloc(len);
  memcpy(bad, body, len);
  bad[len / 2] ^= 0x55;
  CHECK(put_xorb(svc, bid, &xh, bad, len, &ins, &vf) < 0);
  CHECK_EQ_INT(vf, 1);
  CHECK(!has_row(svc, &xh));
  free(bad);
  /* good: registered, then an identical re-put is not a new row */
  CHECK_EQ_INT(put_xorb(svc, bid, &xh, body, len, &ins, &vf), 0);
  CHECK_EQ_INT(ins, 1);
  CHECK_EQ_INT(vf, 0);
  CHECK(has_row(svc, &xh));
  CHECK_EQ_INT(put_xorb(svc, bid, &xh, body, len, &ins, &vf), 0);
  CHECK_EQ_INT(ins, 0);
  free(body);
  bk_svc_close(svc);
}

/* A shard with one file whose single term covers chunks [0, n) of xh. */
static int shard_for(const bk_hash *xh, const bk_xorb_chunk *ch, uint32_t n, bk_buf *out,
                     bk_hash *file) {
  bk_merkle_leaf *lv = calloc(n, sizeof *lv);
  bk_hash *hs = calloc(n, sizeof *hs);
  bk_shard_term t = {.xorb_hash = *xh, .chunk_start = 0, .chunk_end = n};
  for (uint32_t i = 0; i < n; i++) {
    lv[i].hash = ch[i].hash;
    lv[i].len = ch[i].unpacked_len;
    hs[i] = ch[i].hash;
    t.unpacked_bytes += ch[i].unpacked_len;
  }
  bk_file_hash(lv, n, NULL, file);
  bk_range_hash(hs, n, &t.range_hash);
  bk_shard_file f = {.file_hash = *file, .flags = BK_SHARD_FILE_VERIFY, .nterms = 1, .terms = &t};
  bk_shard s = {.nfiles = 1, .files = &f};
  int rc = bk_shard_serialize(&s, BK_SHARD_WITH_FOOTER, out);
  free(lv);
  free(hs);
  return rc;
}

static void test_shard_put(void) {
  int64_t bid = 0;
  bk_svc *svc = open_fresh(&bid);
  CHECK(svc != NULL);
  if (!svc) return;
  bk_hash xh, fh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(2, 4, &xh, &body, &len), 0);
  /* the chunk table as the builder made it (same bytes, same table) */
  bk_xorb_builder *xb = NULL;
  CHECK_EQ_INT(bk_xorb_builder_new(1, &xb), 0);
  uint8_t chunk[3000];
  for (int c = 0; c < 4; c++) {
    fill(chunk, sizeof chunk, 2 * 1000 + (uint64_t)c); /* make_xorb(2, ...)'s chunks */
    bk_xorb_builder_add(xb, chunk, sizeof chunk, NULL);
  }
  bk_xorb_chunk ch[4];
  memcpy(ch, bk_xorb_builder_chunks(xb), sizeof ch);
  bk_xorb_builder_free(xb);

  bk_buf sb;
  bk_buf_init(&sb, BK_SHARD_MAX_BYTES);
  CHECK_EQ_INT(shard_for(&xh, ch, 4, &sb, &fh), 0);
  /* the xorb was not uploaded: refused, naming it */
  bk_svc_shard_err e;
  int existed = -1;
  uint32_t nfiles = 0;
  memset(&e, 0, sizeof e);
  CHECK_EQ_INT(bk_svc_shard_put(svc, sb.p, sb.len, bid, &existed, &nfiles, &e), -1);
  CHECK_EQ_INT(e.fault, BK_SVC_SHARD_XORB_MISSING);
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&xh, hx);
  CHECK(strstr(e.msg, hx) != NULL);
  bk_cas_file cf;
  CHECK_EQ_INT(bk_db_cas_file_get(bk_svc_db(svc), &fh, &cf), BK_ENOTFOUND);
  /* empty body */
  CHECK_EQ_INT(bk_svc_shard_put(svc, sb.p, 0, bid, &existed, &nfiles, &e), -1);
  CHECK_EQ_INT(e.fault, BK_SVC_SHARD_INVALID);
  /* after the xorb: accepted, the file exists, a second put is "existed" */
  int ins = 0, vf = 0;
  CHECK_EQ_INT(put_xorb(svc, bid, &xh, body, len, &ins, &vf), 0);
  CHECK_EQ_INT(bk_svc_shard_put(svc, sb.p, sb.len, bid, &existed, &nfiles, &e), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(nfiles, 1);
  CHECK_EQ_INT(bk_db_cas_file_get(bk_svc_db(svc), &fh, &cf), 0);
  CHECK_EQ_INT(cf.size, 4 * 3000);
  CHECK_EQ_INT(bk_svc_shard_put(svc, sb.p, sb.len, bid, &existed, &nfiles, &e), 0);
  CHECK_EQ_INT(existed, 1);
  /* a term with a wrong range hash: refused as such */
  bk_buf sb2;
  bk_buf_init(&sb2, BK_SHARD_MAX_BYTES);
  bk_shard *ps = NULL;
  CHECK_EQ_INT(bk_shard_parse(sb.p, sb.len, &ps), 0);
  if (ps) {
    ps->files[0].terms[0].range_hash.b[3] ^= 1;
    CHECK_EQ_INT(bk_shard_serialize(ps, BK_SHARD_WITH_FOOTER, &sb2), 0);
    CHECK_EQ_INT(bk_svc_shard_put(svc, sb2.p, sb2.len, bid, &existed, &nfiles, &e), -1);
    CHECK_EQ_INT(e.fault, BK_SVC_SHARD_RANGE_HASH);
    bk_shard_free(ps);
  }
  bk_buf_free(&sb2);
  bk_buf_free(&sb);
  free(body);
  bk_svc_close(svc);
}

/* Reads [s, e] through a reader into a malloc'd buffer; returns bytes or -1. */
static long read_range(bk_svc *svc, const bk_hash *fh, uint64_t s, uint64_t e, uint8_t **out) {
  uint64_t size = 0, tsize = 0;
  bk_svc_reader *r = NULL;
  if (bk_svc_reader_open(svc, fh, 0, &size, &tsize, &r)) return -1;
  bk_svc_reader_range(r, s, e);
  uint8_t *buf = malloc(e - s + 1 + 10);
  long got = 0;
  for (int guard = 0; guard < 100000; guard++) {
    ssize_t n = bk_svc_reader_read(r, buf + got, 7777 < (e - s + 11 - (uint64_t)got)
                                                     ? 7777 : (size_t)(e - s + 11 - (uint64_t)got));
    if (n < 0) {
      got = -1;
      break;
    }
    if (n == 0) break;
    got += n;
  }
  bk_svc_reader_close(r);
  *out = buf;
  return got;
}

static void test_ingest_read(void) {
  int64_t bid = 0;
  bk_svc *svc = open_fresh(&bid);
  CHECK(svc != NULL);
  if (!svc) return;
  size_t len = 700 * 1000;
  uint8_t *data = malloc(len);
  fill(data, len, 77);
  bk_hash fh;
  struct bk_svc_ingest_stats st;
  CHECK_EQ_INT(bk_svc_ingest(svc, bid, data, len, &fh, &st), 0);
  CHECK(st.chunks > 1);
  CHECK_EQ_INT(st.new_chunks, st.chunks);
  CHECK_EQ_INT(st.whole_file_dedup, 0);
  uint64_t size = 0, tsize = 0;
  bk_svc_reader *r = NULL;
  CHECK_EQ_INT(bk_svc_reader_open(svc, &fh, 0, &size, &tsize, &r), 0);
  CHECK_EQ_INT(size, len);
  CHECK_EQ_INT(tsize, len);
  bk_svc_reader_close(r);
  uint64_t ranges[][2] = {{0, len - 1}, {0, 0}, {1000, 200000}, {len - 1, len - 1},
                          {65535, 65537}, {123456, len - 2}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    uint8_t *got = NULL;
    long n = read_range(svc, &fh, ranges[i][0], ranges[i][1], &got);
    CHECK_EQ_INT(n, (long)(ranges[i][1] - ranges[i][0] + 1));
    CHECK(n > 0 && memcmp(got, data + ranges[i][0], (size_t)n) == 0);
    free(got);
  }
  bk_buf pre;
  bk_buf_init(&pre, 1 << 20);
  CHECK_EQ_INT(bk_svc_read_prefix(svc, &fh, 5000, &pre), 0);
  CHECK_EQ_INT(pre.len, 5000);
  CHECK(pre.len == 5000 && memcmp(pre.p, data, 5000) == 0);
  bk_buf_free(&pre);
  /* the same bytes again: known file, only the grant */
  bk_hash fh2;
  CHECK_EQ_INT(bk_svc_ingest(svc, bid, data, len, &fh2, &st), 0);
  CHECK(bk_hash_eq(&fh, &fh2));
  CHECK_EQ_INT(st.whole_file_dedup, 1);
  /* a file sharing its first half: those chunks come from the stored xorb */
  uint8_t *d2 = malloc(len);
  memcpy(d2, data, len / 2);
  fill(d2 + len / 2, len - len / 2, 99);
  CHECK_EQ_INT(bk_svc_ingest(svc, bid, d2, len, &fh2, &st), 0);
  CHECK(st.new_chunks < st.chunks);
  uint8_t *got = NULL;
  CHECK_EQ_INT(read_range(svc, &fh2, 0, len - 1, &got), (long)len);
  CHECK(got && memcmp(got, d2, len) == 0);
  free(got);
  /* the empty file */
  CHECK_EQ_INT(bk_svc_ingest(svc, bid, data, 0, &fh2, &st), 0);
  CHECK(bk_hash_is_zero(&fh2));
  /* unknown file */
  bk_hash nope = fh;
  nope.b[0] ^= 0xff;
  CHECK_EQ_INT(bk_svc_reader_open(svc, &nope, 0, &size, &tsize, &r), BK_ENOTFOUND);
  free(d2);
  free(data);
  bk_svc_close(svc);
}

/* Path of the xorb blob of xh under the data dir of the last open_fresh. */
static void xorb_blob_path(const bk_hash *xh, char *out, size_t n) {
  char dir[400];
  snprintf(dir, sizeof dir, "%s/d%d/blobs", root, ndir - 1);
  bk_blobstore *bs = NULL;
  out[0] = 0;
  if (bk_blobstore_open(dir, &bs)) return;
  bk_blob_path(bs, BK_BLOB_XORB, xh, out, n);
  bk_blobstore_close(bs);
}

static void test_gc_unreferenced(void) {
  int64_t bid = 0;
  bk_svc *svc = open_fresh(&bid);
  CHECK(svc != NULL);
  if (!svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(3, 3, &xh, &body, &len), 0);
  int ins = 0, vf = 0;
  CHECK_EQ_INT(put_xorb(svc, bid, &xh, body, len, &ins, &vf), 0);
  char path[1024];
  xorb_blob_path(&xh, path, sizeof path);
  CHECK(path[0] && access(path, F_OK) == 0);
  /* within the grace period: kept */
  bk_svc_gc_result r;
  const char *what = NULL;
  CHECK_EQ_INT(bk_svc_gc(svc, 0, 0, 0, &r, &what), 0);
  CHECK_EQ_INT(r.st.xorbs, 0);
  CHECK(has_row(svc, &xh));
  /* past it: row and blob removed */
  int64_t far = (int64_t)1 << 50;
  CHECK_EQ_INT(bk_svc_gc(svc, far, far / 1000, 0, &r, &what), 0);
  CHECK_EQ_INT(r.st.xorbs, 1);
  CHECK_EQ_INT(r.st.xorb_bytes, len);
  CHECK_EQ_INT(r.summary, 1);
  CHECK(!has_row(svc, &xh));
  CHECK(access(path, F_OK) != 0);
  free(body);
  bk_svc_close(svc);
}

struct lines {
  int n;
  char all[8192];
};

static void collect(void *ctx, const char *line) {
  struct lines *l = ctx;
  l->n++;
  size_t k = strlen(l->all);
  snprintf(l->all + k, sizeof l->all - k, "%s\n", line);
}

static void test_fsck_damaged(void) {
  int64_t bid = 0;
  bk_svc *svc = open_fresh(&bid);
  CHECK(svc != NULL);
  if (!svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(4, 3, &xh, &body, &len), 0);
  int ins = 0, vf = 0;
  CHECK_EQ_INT(put_xorb(svc, bid, &xh, body, len, &ins, &vf), 0);
  struct lines l = {0};
  bk_svc_fsck_result f;
  CHECK_EQ_INT(bk_svc_fsck(svc, 1, collect, &l, &f), 0);
  CHECK_EQ_INT(f.damage, 0);
  CHECK_EQ_INT(f.xorbs, 1);
  /* flip a byte in the middle of the stored blob (same size) */
  char path[1024];
  xorb_blob_path(&xh, path, sizeof path);
  chmod(path, 0600);
  int fd = open(path, O_RDWR);
  CHECK(fd >= 0);
  uint8_t byte = 0;
  CHECK_EQ_INT(pread(fd, &byte, 1, (off_t)len / 2), 1);
  byte ^= 0x5a;
  CHECK_EQ_INT(pwrite(fd, &byte, 1, (off_t)len / 2), 1);
  close(fd);
  /* fsck without --read-data sees a blob of the right size */
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(bk_svc_fsck(svc, 0, collect, &l, &f), 0);
  CHECK_EQ_INT(f.damage, 0);
  /* with data: found, marked, reported */
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(bk_svc_fsck(svc, 1, collect, &l, &f), 0);
  CHECK_EQ_INT(f.damage, 1);
  CHECK_EQ_INT(f.marked, 1);
  CHECK(strstr(l.all, "DAMAGE: xorb ") != NULL);
  CHECK(strstr(l.all, "now marked damaged") != NULL);
  bk_xorb_info xi;
  CHECK_EQ_INT(bk_db_xorb_get(bk_svc_db(svc), &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 1);
  /* the dedup lookup never offers it, the scrub finds it */
  bk_hash got;
  bk_xorb_info gi;
  bk_xorb_chunk *gc = NULL;
  CHECK_EQ_INT(bk_svc_dedup_lookup(svc, &xi.hash, bid, 4, &got, &gi, &gc), BK_ENOTFOUND);
  free(gc);
  memset(&l, 0, sizeof l);
  bk_svc_scrub_result sr;
  CHECK_EQ_INT(bk_svc_scrub(svc, 1 << 30, 1000, collect, &l, &sr), 0);
  CHECK_EQ_INT(sr.damaged, 1);
  CHECK(strstr(l.all, "DAMAGE: xorb ") != NULL);
  /* a re-put of the original bytes repairs it */
  CHECK_EQ_INT(put_xorb(svc, bid, &xh, body, len, &ins, &vf), 0);
  CHECK_EQ_INT(ins, 1);
  CHECK_EQ_INT(bk_db_xorb_get(bk_svc_db(svc), &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);
  /* a missing blob: "blob missing" */
  CHECK_EQ_INT(unlink(path), 0);
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(bk_svc_fsck(svc, 0, collect, &l, &f), 0);
  CHECK_EQ_INT(f.damage, 1);
  CHECK(strstr(l.all, "blob missing") != NULL);
  free(body);
  bk_svc_close(svc);
}

/* The one gc-race policy (docs/store.md): a gc that removed the (orphan)
 * blob before the registration -> BK_ESTALE, nothing registered; the
 * bytes sent again are stored. */
static void test_xorb_gc_race(void) {
  int64_t bid = 0;
  bk_svc *svc = open_fresh(&bid);
  CHECK(svc != NULL);
  if (!svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(5, 3, &xh, &body, &len), 0);
  /* an orphan blob of that name (an earlier upload that never registered) */
  char dir[400], path[1024];
  snprintf(dir, sizeof dir, "%s/d%d/blobs", root, ndir - 1);
  bk_blobstore *bs = NULL;
  CHECK_EQ_INT(bk_blobstore_open(dir, &bs), 0);
  if (!bs) return;
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &xh, body, len, NULL), 0);
  xorb_blob_path(&xh, path, sizeof path);
  /* the upload compares against it ... */
  bk_svc_xorb_put *p = NULL;
  CHECK_EQ_INT(bk_svc_xorb_open(svc, &xh, bid, (int64_t)len, &p), 0);
  if (p) bk_svc_xorb_write(p, body, len);
  /* ... while gc removes it as an orphan */
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &xh), 0);
  int ins = -1, vf = -1;
  if (p) CHECK_EQ_INT(bk_svc_xorb_commit(p, &ins, &vf), BK_ESTALE);
  CHECK_EQ_INT(vf, 0);
  bk_svc_xorb_free(p);
  CHECK(!has_row(svc, &xh));
  CHECK(access(path, F_OK) != 0);
  /* the client sends it again */
  CHECK_EQ_INT(put_xorb(svc, bid, &xh, body, len, &ins, &vf), 0);
  CHECK_EQ_INT(ins, 1);
  CHECK(has_row(svc, &xh));
  bk_blobstore_close(bs);
  free(body);
  bk_svc_close(svc);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_svc_test_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_xorb_put);
  RUN(test_xorb_gc_race);
  RUN(test_shard_put);
  RUN(test_ingest_read);
  RUN(test_gc_unreferenced);
  RUN(test_fsck_damaged);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", root);
  return test_summary();
}
