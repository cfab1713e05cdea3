/* Unit tests: the storage service on a blob store without local fds and
 * without a trash (the test-only "bare" backend, bare_backend.h: the
 * filesystem backend announcing neither, with reads that behave like ranged
 * GETs) over a real SQLite database — the paths an object store (S3) takes:
 * - gc's pending deletes: removed only after the delete grace; a blob
 *   registered again during the grace survives; a gc that crashes (a real
 *   process exit) after its metadata pass, or between a blob delete and its
 *   commit, is finished by the next gc; orphan blobs go the same way; the
 *   register-vs-gc race (two threads) loses no registered blob; fsck reports
 *   pending deletes as such (not damage, not a warning);
 * - the reader-backed xorb range (no fd): bytes identical to the fd path of
 *   the filesystem store, ranges at the edges and across windows, the bound,
 *   a blob deleted mid-stream ends the read with an error;
 * - the file reader (resolve) without an fd;
 * - direct downloads: refused at open without BK_BLOB_CAP_PRESIGN, presigned
 *   URLs for exactly the asked record bytes, BK_ENOTSUP when not enabled. */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/blob_fs.h"
#include "store/blobstore.h"
#include "store/db.h"
#include "buckets/clock.h"
#include "buckets/error.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"
#include "bare_backend.h"
#include "svc_fixture.h"
#include "../test.h"

static char root[200];
static int ndir;

/* One data dir: SQLite file, blob root, the bare store and a service. */
struct env {
  char dir[300], db[400], blobs[400];
  bk_db *mdb;
  bk_blobstore *bs;
  bk_svc *svc;
  int64_t bid;
};

static bk_svc *svc_with(struct env *e, int64_t grace_ms, int direct) {
  struct bk_svc_config cfg = {.db = e->mdb, .blobs = e->bs, .reverify_ms = 0,
                              .delete_grace_ms = grace_ms, .direct_downloads = direct};
  bk_svc *s = NULL;
  if (bk_svc_open(&cfg, &s)) return NULL;
  return s;
}

static int env_open(struct env *e, int64_t grace_ms, const char *presign) {
  memset(e, 0, sizeof *e);
  snprintf(e->dir, sizeof e->dir, "%s/d%d", root, ndir++);
  snprintf(e->db, sizeof e->db, "%s/buckets.db", e->dir);
  snprintf(e->blobs, sizeof e->blobs, "%s/blobs", e->dir);
  if (mkdir(e->dir, 0700)) return -1;
  char url[500];
  snprintf(url, sizeof url, "sqlite://%s", e->db);
  if (bk_db_open_url(url, &e->mdb) || bare_store_open(e->blobs, presign, &e->bs)) return -2;
  if (!(e->svc = svc_with(e, grace_ms, 0))) return -3;
  bk_ns u;
  bk_bucket b;
  if (bk_db_user_add(e->mdb, "alice", &u) || bk_db_bucket_create(e->mdb, u.id, "data", 0, &b))
    return -4;
  e->bid = b.id;
  return 0;
}

static void env_close(struct env *e) {
  bk_svc_close(e->svc);
  bk_blobstore_close(e->bs);
  bk_db_close(e->mdb);
}

/* Runs sql on the env's SQLite file (test manipulation of due times). */
static int env_sql(struct env *e, const char *sql) {
  sqlite3 *h = NULL;
  if (sqlite3_open(e->db, &h) != SQLITE_OK) return -1;
  sqlite3_busy_timeout(h, 5000);
  int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
  sqlite3_close(h);
  return rc == SQLITE_OK ? 0 : -1;
}

static int put_xorb(bk_svc *svc, int64_t bid, const bk_hash *want, const uint8_t *body,
                    size_t len) {
  return put_xorb_ex(svc, bid, want, body, len, NULL, NULL);
}

static int has_row(struct env *e, const bk_hash *h) { return bk_db_xorb_exists(e->mdb, h) == 1; }
static int has_blob(struct env *e, const bk_hash *h) {
  return bk_blob_exists(e->bs, BK_BLOB_XORB, h) == 1;
}
static int pending(struct env *e, const bk_hash *h) {
  return bk_db_pending_get(e->mdb, BK_BLOB_XORB, h, NULL);
}

#define FAR ((int64_t)1 << 50) /* a gc cutoff that takes every unreferenced row */

static int gc(bk_svc *svc, bk_svc_gc_result *r) {
  const char *what = NULL;
  int rc = bk_svc_gc(svc, FAR, FAR / 1000, 0, r, &what);
  if (rc) fprintf(stderr, "  gc: %s: %s\n", what ? what : "?", bk_errmsg());
  return rc;
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

/* Removed only after the grace: gc records the blob of the removed row
 * (same transaction), keeps it while not due, deletes it once due. */
static void test_gc_pending_grace(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 60000, NULL), 0);
  if (!e.svc) return;
  CHECK_EQ_INT(bk_blobstore_caps(e.bs) & (BK_BLOB_CAP_TRASH | BK_BLOB_CAP_FD), 0);
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(1, 3, &xh, &body, &len), 0);
  CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0);
  bk_svc_gc_result r;
  int64_t t0 = bk_now_ms();
  CHECK_EQ_INT(gc(e.svc, &r), 0);
  CHECK_EQ_INT(r.st.xorbs, 1);
  CHECK_EQ_INT(r.pending, 1);
  CHECK_EQ_INT(r.deleted, 0);
  CHECK(!has_row(&e, &xh));
  CHECK(has_blob(&e, &xh)); /* still readable during the grace */
  int64_t due = 0;
  CHECK_EQ_INT(bk_db_pending_get(e.mdb, BK_BLOB_XORB, &xh, &due), 1);
  CHECK(due >= t0 + 60000 && due <= bk_now_ms() + 60000);
  /* fsck: a pending delete, not an orphan warning, not damage */
  struct lines l = {0};
  bk_svc_fsck_result f;
  CHECK_EQ_INT(bk_svc_fsck(e.svc, 1, collect, &l, &f), 0);
  CHECK_EQ_INT(f.damage, 0);
  CHECK_EQ_INT(f.warnings, 0);
  CHECK_EQ_INT(f.pending, 1);
  CHECK(strstr(l.all, "pending delete: xorb blob ") != NULL);
  CHECK(strstr(l.all, "is deleted by gc in 5") || strstr(l.all, "is deleted by gc in 6"));
  CHECK(strstr(l.all, "orphan") == NULL);
  /* not due: the next gc keeps it and does not record it again */
  CHECK_EQ_INT(gc(e.svc, &r), 0);
  CHECK_EQ_INT(r.deleted + r.pending + r.orphans, 0);
  CHECK(has_blob(&e, &xh));
  int64_t due2 = 0;
  CHECK_EQ_INT(bk_db_pending_get(e.mdb, BK_BLOB_XORB, &xh, &due2), 1);
  CHECK_EQ_INT(due2, due);
  /* the grace passes (the due time moved into the past): fsck says so */
  CHECK_EQ_INT(env_sql(&e, "UPDATE pending_deletes SET due_ms = due_ms - 61000"), 0);
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(bk_svc_fsck(e.svc, 0, collect, &l, &f), 0);
  CHECK(strstr(l.all, "is deleted by gc (due now)") != NULL);
  CHECK_EQ_INT(gc(e.svc, &r), 0);
  CHECK_EQ_INT(r.deleted, 1);
  CHECK(!has_blob(&e, &xh));
  CHECK_EQ_INT(pending(&e, &xh), 0);
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(bk_svc_fsck(e.svc, 1, collect, &l, &f), 0);
  CHECK_EQ_INT(f.damage + f.warnings + f.pending, 0);
  free(body);
  env_close(&e);
}

/* A real-time grace (no clock manipulation): 1.5 s. */
static void test_gc_pending_realtime(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 1500, NULL), 0);
  if (!e.svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(2, 2, &xh, &body, &len), 0);
  CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0);
  bk_svc_gc_result r;
  CHECK_EQ_INT(gc(e.svc, &r), 0);
  CHECK_EQ_INT(r.pending, 1);
  CHECK_EQ_INT(gc(e.svc, &r), 0);
  CHECK_EQ_INT(r.deleted, 0);
  CHECK(has_blob(&e, &xh));
  usleep(1700 * 1000);
  CHECK_EQ_INT(gc(e.svc, &r), 0);
  CHECK_EQ_INT(r.deleted, 1);
  CHECK(!has_blob(&e, &xh));
  free(body);
  env_close(&e);
}

/* A blob registered again during the grace survives: its put finds the
 * stored blob, the registration brings the row back, and the due delete
 * then only drops the record. */
static void test_gc_pending_reregistered(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 60000, NULL), 0);
  if (!e.svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(3, 3, &xh, &body, &len), 0);
  CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0);
  bk_svc_gc_result r;
  CHECK_EQ_INT(gc(e.svc, &r), 0);
  CHECK_EQ_INT(r.pending, 1);
  CHECK(!has_row(&e, &xh));
  CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0); /* deduplicated upload again */
  CHECK(has_row(&e, &xh));
  CHECK_EQ_INT(env_sql(&e, "UPDATE pending_deletes SET due_ms = 0"), 0);
  /* touched just now: a gc with a normal cutoff keeps the row; the due record goes */
  const char *what = NULL;
  CHECK_EQ_INT(bk_svc_gc(e.svc, bk_now_ms() - 3600000, (bk_now_ms() - 3600000) / 1000, 0, &r,
                         &what),
               0);
  CHECK_EQ_INT(r.kept, 1);
  CHECK_EQ_INT(r.deleted, 0);
  CHECK(has_row(&e, &xh));
  CHECK(has_blob(&e, &xh));
  CHECK_EQ_INT(pending(&e, &xh), 0);
  CHECK_EQ_INT(svc_xorb_check(e.svc, &xh, -1), 0); /* and it verifies */
  free(body);
  env_close(&e);
}

/* gc in a child process that dies (_exit) at its first blob delete:
 * die = 1 before the delete, 2 right after it (before the commit). */
static int gc_child_dies(struct env *e, int die) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    /* the child's own handles: nothing crosses the fork */
    char url[500];
    snprintf(url, sizeof url, "sqlite://%s", e->db);
    bk_db *db = NULL;
    bk_blobstore *bs = NULL;
    if (bk_db_open_url(url, &db) || bare_store_open(e->blobs, NULL, &bs)) _exit(3);
    struct bk_svc_config cfg = {.db = db, .blobs = bs, .delete_grace_ms = BK_SVC_DELETE_NOW};
    bk_svc *s = NULL;
    if (bk_svc_open(&cfg, &s)) _exit(4);
    bare_die_on_delete = die;
    bk_svc_gc_result r;
    bk_svc_gc(s, FAR, FAR / 1000, 0, &r, NULL);
    _exit(0); /* no delete happened: the test fails on the status */
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A gc that crashes after its metadata pass (rows removed, records
 * committed) loses nothing referenced and is finished by the next gc; so is
 * one that crashes between a blob delete and the commit of its record's
 * removal. */
static void test_gc_pending_crash(void) {
  for (int die = 1; die <= 2; die++) {
    struct env e;
    CHECK_EQ_INT(env_open(&e, BK_SVC_DELETE_NOW, NULL), 0);
    if (!e.svc) return;
    bk_hash xh;
    uint8_t *body = NULL;
    size_t len = 0;
    CHECK_EQ_INT(make_xorb(10 + (uint64_t)die, 3, &xh, &body, &len), 0);
    CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0);
    /* referenced content: a file in a bucket (its xorb and shard stay) */
    bk_hash fh;
    struct bk_svc_ingest_stats ist;
    uint8_t data[5000];
    fill(data, sizeof data, 30 + (uint64_t)die);
    CHECK_EQ_INT(bk_svc_ingest(e.svc, e.bid, data, sizeof data, &fh, &ist), 0);
    bk_batch_op op = {.type = BK_OP_ADD, .path = "f", .xet_hash = fh, .size = sizeof data,
                      .mtime_ms = 1};
    size_t nf = 0;
    CHECK_EQ_INT(bk_db_batch(e.mdb, e.bid, &op, 1, 0, &nf), 0);
    CHECK_EQ_INT(gc_child_dies(&e, die), 9);
    CHECK(!has_row(&e, &xh));
    CHECK_EQ_INT(pending(&e, &xh), 1); /* the record survived the crash */
    CHECK_EQ_INT(has_blob(&e, &xh), die == 1);
    bk_svc_gc_result r;
    CHECK_EQ_INT(gc(e.svc, &r), 0);
    CHECK_EQ_INT(r.deleted, die == 1 ? 1 : 0); /* die 2: it was gone already */
    CHECK(!has_blob(&e, &xh));
    CHECK_EQ_INT(pending(&e, &xh), 0);
    /* nothing referenced was lost: the file reads back */
    bk_svc_reader *rd = NULL;
    uint64_t size = 0, tsize = 0;
    CHECK_EQ_INT(bk_svc_reader_open(e.svc, &fh, 0, &size, &tsize, &rd), 0);
    uint8_t got[6000];
    ssize_t n = 0, k;
    while (rd && (k = bk_svc_reader_read(rd, got + n, sizeof got - (size_t)n)) > 0) n += k;
    CHECK_EQ_INT(n, (ssize_t)sizeof data);
    CHECK(memcmp(got, data, sizeof data) == 0);
    bk_svc_reader_close(rd);
    struct lines l = {0};
    bk_svc_fsck_result f;
    CHECK_EQ_INT(bk_svc_fsck(e.svc, 1, collect, &l, &f), 0);
    CHECK_EQ_INT(f.damage, 0);
    free(body);
    env_close(&e);
  }
}

/* Orphan blobs (no row, older than the cutoff) are recorded once and
 * deleted once due. */
static void test_gc_pending_orphans(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 60000, NULL), 0);
  if (!e.svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(40, 2, &xh, &body, &len), 0);
  CHECK_EQ_INT(bk_blob_put(e.bs, BK_BLOB_XORB, &xh, body, len, NULL), 0);
  bk_svc_gc_result r;
  const char *what = NULL;
  int64_t later = (int64_t)time(NULL) + 3600;
  CHECK_EQ_INT(bk_svc_gc(e.svc, 1, later, 0, &r, &what), 0);
  CHECK_EQ_INT(r.orphans, 1);
  CHECK_EQ_INT(r.pending, 1);
  CHECK(has_blob(&e, &xh));
  CHECK_EQ_INT(bk_svc_gc(e.svc, 1, later, 0, &r, &what), 0);
  CHECK_EQ_INT(r.orphans + r.pending + r.deleted, 0); /* recorded once */
  CHECK_EQ_INT(env_sql(&e, "UPDATE pending_deletes SET due_ms = 0"), 0);
  CHECK_EQ_INT(bk_svc_gc(e.svc, 1, later, 0, &r, &what), 0);
  CHECK_EQ_INT(r.deleted, 1);
  CHECK(!has_blob(&e, &xh));
  free(body);
  env_close(&e);
}

/* ---- the register vs gc race on the bare store (as test_svc_meta's) ---- */

#define RACE_ROUNDS 120
struct race {
  struct env *e;
  bk_blobstore *fs; /* the same root as a file store: bk_blob_path */
  volatile int stop;
  int ok, stale, other, bad_registered, bad_stale, gc_runs, gc_errors;
  bk_hash done[RACE_ROUNDS];
  int done_ok[RACE_ROUNDS];
};

static int tiny_xorb(uint64_t seed, bk_hash *xh, uint8_t **body, size_t *len, bk_xorb_chunk *ch,
                     size_t *n) {
  bk_xorb_builder *xb = NULL;
  if (bk_xorb_builder_new(0, &xb)) return -1;
  uint8_t data[700];
  for (int c = 0; c < 2; c++) {
    fill(data, sizeof data, seed * 7919 + (uint64_t)c);
    if (bk_xorb_builder_add(xb, data, sizeof data, NULL)) return -2;
  }
  const uint8_t *p;
  if (bk_xorb_builder_finish(xb, xh, &p, len)) return -3;
  *body = malloc(*len);
  if (*body) memcpy(*body, p, *len);
  *n = bk_xorb_builder_count(xb);
  memcpy(ch, bk_xorb_builder_chunks(xb), *n * sizeof *ch);
  bk_xorb_builder_free(xb);
  return *body ? 0 : -4;
}

static void *race_register(void *arg) {
  struct race *r = arg;
  for (int i = 0; i < RACE_ROUNDS; i++) {
    bk_hash xh;
    uint8_t *body = NULL;
    size_t len = 0, n = 0;
    bk_xorb_chunk ch[4];
    if (tiny_xorb(9000 + (uint64_t)i, &xh, &body, &len, ch, &n)) {
      r->other++;
      continue;
    }
    int rc = bk_blob_put(r->e->bs, BK_BLOB_XORB, &xh, body, len, NULL);
    char bp[600];
    bk_blob_path(r->fs, BK_BLOB_XORB, &xh, bp, sizeof bp);
    struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
    if (rc == 0 && utimensat(AT_FDCWD, bp, old, 0) != 0) rc = BK_EIO;
    if (rc == 0)
      rc = svc_xorb_register(r->e->svc, &xh, len, ch, n, BK_XORB_REG_VERIFIED, NULL, NULL);
    int row = bk_db_xorb_exists(r->e->mdb, &xh);
    int blob = bk_blob_exists(r->e->bs, BK_BLOB_XORB, &xh);
    r->done[i] = xh;
    r->done_ok[i] = rc == 0;
    if (rc == 0) {
      r->ok++;
      if (row != 1 || blob != 1) r->bad_registered++;
    } else if (rc == BK_ESTALE) {
      r->stale++;
      if (row != 0) r->bad_stale++;
    } else if (r->other++ < 3) {
      fprintf(stderr, "  register: %s (%s)\n", bk_strerror(rc), bk_errmsg());
    }
    free(body);
  }
  r->stop = 1;
  return NULL;
}

static void *race_gc(void *arg) {
  struct race *r = arg;
  for (int i = 0; !r->stop && i < 100000; i++) {
    bk_svc_gc_result res;
    if (bk_svc_gc(r->e->svc, 1, (int64_t)time(NULL) - 3600, 64, &res, NULL) != 0) r->gc_errors++;
    r->gc_runs++;
  }
  return NULL;
}

/* gc (delete grace 0: record and delete in one run) never deletes a blob
 * whose row a concurrent registration committed; a registration whose blob
 * gc deleted gets BK_ESTALE and registers nothing. */
static void test_register_gc_race_bare(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, BK_SVC_DELETE_NOW, NULL), 0);
  if (!e.svc) return;
  struct race *r = calloc(1, sizeof *r);
  if (!r) return;
  r->e = &e;
  CHECK_EQ_INT(bk_blobstore_open(e.blobs, &r->fs), 0);
  pthread_t a, b;
  CHECK_EQ_INT(pthread_create(&b, NULL, race_gc, r), 0);
  CHECK_EQ_INT(pthread_create(&a, NULL, race_register, r), 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK_EQ_INT(r->bad_registered, 0);
  CHECK_EQ_INT(r->bad_stale, 0);
  CHECK_EQ_INT(r->other, 0);
  CHECK_EQ_INT(r->gc_errors, 0);
  CHECK_EQ_INT(r->ok + r->stale, RACE_ROUNDS);
  CHECK(r->gc_runs > 0);
  bk_svc_gc_result res;
  CHECK_EQ_INT(bk_svc_gc(e.svc, 1, (int64_t)time(NULL) - 3600, 64, &res, NULL), 0);
  int lost = 0;
  for (int i = 0; i < RACE_ROUNDS; i++)
    if (r->done_ok[i] && !has_blob(&e, &r->done[i])) lost++;
  CHECK_EQ_INT(lost, 0);
  uint64_t np = 0;
  CHECK_EQ_INT(bk_db_pending_count(e.mdb, &np), 0);
  CHECK_EQ_INT((int)np, 0); /* every record was carried out or dropped */
  CHECK_EQ_INT(bk_db_check(e.mdb, NULL, NULL), 0);
  fprintf(stderr, "  race (bare): %d registered, %d BK_ESTALE, %d gc runs\n", r->ok, r->stale,
          r->gc_runs);
  bk_blobstore_close(r->fs);
  free(r);
  env_close(&e);
}

/* ---- reader-backed xorb range ---- */

/* Reads [a, b] through the reader (bound b + 1) in pieces of step bytes. */
static long reader_range(bk_svc_xorb_reader *rd, uint64_t a, uint64_t b, size_t step,
                         uint8_t *out) {
  bk_svc_xorb_reader_bound(rd, b + 1);
  uint64_t pos = a;
  while (pos <= b) {
    ssize_t n = bk_svc_xorb_reader_read(rd, pos, out + (pos - a), step);
    if (n < 0) return (long)n;
    if (n == 0) break;
    pos += (uint64_t)n;
  }
  return (long)(pos - a);
}

/* Registering a xorb on a store without fds checks the stored layout
 * (every record header) through a few large reads, not one request per
 * chunk: 800 chunks used to cost 800 ranged GETs inside the gc fence
 * (35 s for a 50 MB xorb on Ceph RGW). */
static void test_register_reads_bounded(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 0, NULL), 0);
  if (!e.svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(55, 800, &xh, &body, &len), 0);
  unsigned before = bare_reads;
  CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0);
  unsigned reads = bare_reads - before;
  printf("# xorb of 800 chunks (%zu bytes) registered with %u reads\n", len, reads);
  CHECK(reads <= 4);
  CHECK_EQ_INT(bk_db_xorb_exists(e.mdb, &xh), 1);
  free(body);
  env_close(&e);
}

static void test_xorb_range_reader(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 0, NULL), 0);
  if (!e.svc) return;
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(50, 6000, &xh, &body, &len), 0); /* ~18 MB: three windows */
  CHECK(len > 2 * BK_SVC_RANGE_WINDOW);
  CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0);
  /* the same data dir as a filesystem store: the fd path */
  bk_blobstore *fs = NULL;
  CHECK_EQ_INT(bk_blobstore_open(e.blobs, &fs), 0);
  struct bk_svc_config fc = {.db = e.mdb, .blobs = fs};
  bk_svc *fsvc = NULL;
  CHECK_EQ_INT(bk_svc_open(&fc, &fsvc), 0);
  if (!fsvc) return;
  int fd = -1;
  bk_svc_xorb_reader *rd = NULL;
  uint64_t size = 0;
  CHECK_EQ_INT(bk_svc_xorb_open_range(fsvc, &xh, NULL, &fd, &rd, &size), 0);
  CHECK(fd >= 0 && rd == NULL);
  CHECK_EQ_INT(size, len);
  uint8_t *viafd = malloc(len), *got = malloc(len);
  CHECK_EQ_INT(pread(fd, viafd, len, 0), (ssize_t)len);
  CHECK(memcmp(viafd, body, len) == 0);
  if (fd >= 0) close(fd);
  uint64_t W = BK_SVC_RANGE_WINDOW;
  uint64_t ranges[][2] = {{0, len - 1}, {0, 0}, {len - 1, len - 1}, {W - 5, W + 5},
                          {W, 2 * W - 1}, {1, len - 2}, {12345, 12345 + 300000}};
  size_t steps[] = {256 * 1024, 7, 100000};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
      if (steps[s] == 7 && ranges[i][1] - ranges[i][0] > 400000) continue;
      rd = NULL;
      fd = -1;
      CHECK_EQ_INT(bk_svc_xorb_open_range(e.svc, &xh, NULL, &fd, &rd, &size), 0);
      CHECK(fd == -1 && rd != NULL);
      if (!rd) continue;
      CHECK_EQ_INT(size, len);
      long n = reader_range(rd, ranges[i][0], ranges[i][1], steps[s], got);
      CHECK_EQ_INT(n, (long)(ranges[i][1] - ranges[i][0] + 1));
      CHECK(n > 0 && memcmp(got, viafd + ranges[i][0], (size_t)n) == 0);
      /* past the bound: the end */
      CHECK_EQ_INT(bk_svc_xorb_reader_read(rd, ranges[i][1] + 1, got, 10), 0);
      bk_svc_xorb_reader_close(rd);
    }
  }
  /* a blob deleted mid-stream (a gc between two window reads): the read fails,
   * the bytes before were the right ones */
  CHECK_EQ_INT(bk_svc_xorb_open_range(e.svc, &xh, NULL, &fd, &rd, &size), 0);
  if (rd) {
    bare_delete_at_off = W;
    long n = reader_range(rd, 0, len - 1, 256 * 1024, got);
    CHECK(n < 0);
    CHECK_EQ_INT(n, BK_ENOTFOUND);
    CHECK(memcmp(got, viafd, (size_t)W) == 0);
    bk_svc_xorb_reader_close(rd);
  }
  bare_delete_at_off = UINT64_MAX;
  CHECK(!has_blob(&e, &xh));
  /* now unknown to the store: the open fails (the row says the blob is gone) */
  CHECK(bk_svc_xorb_open_range(e.svc, &xh, NULL, &fd, &rd, &size) != 0);
  CHECK(rd == NULL && fd == -1);
  free(viafd);
  free(got);
  free(body);
  bk_svc_close(fsvc);
  bk_blobstore_close(fs);
  env_close(&e);
}

/* The file reader (resolve downloads, previews) without an fd: its read_at
 * window path. */
static void test_file_reader_bare(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 0, NULL), 0);
  if (!e.svc) return;
  size_t len = 900 * 1000;
  uint8_t *data = malloc(len), *got = malloc(len);
  fill(data, len, 60);
  bk_hash fh;
  struct bk_svc_ingest_stats st;
  CHECK_EQ_INT(bk_svc_ingest(e.svc, e.bid, data, len, &fh, &st), 0);
  uint64_t ranges[][2] = {{0, len - 1}, {0, 0}, {len - 1, len - 1}, {70000, 500000}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    bk_svc_reader *r = NULL;
    uint64_t size = 0, tsize = 0;
    CHECK_EQ_INT(bk_svc_reader_open(e.svc, &fh, 0, &size, &tsize, &r), 0);
    if (!r) continue;
    bk_svc_reader_range(r, ranges[i][0], ranges[i][1]);
    size_t n = 0;
    ssize_t k;
    while ((k = bk_svc_reader_read(r, got + n, 65536)) > 0) n += (size_t)k;
    CHECK_EQ_INT(k, 0);
    CHECK_EQ_INT(n, ranges[i][1] - ranges[i][0] + 1);
    CHECK(memcmp(got, data + ranges[i][0], n) == 0);
    bk_svc_reader_close(r);
  }
  bk_buf pre;
  bk_buf_init(&pre, 1 << 20);
  CHECK_EQ_INT(bk_svc_read_prefix(e.svc, &fh, 4000, &pre), 0);
  CHECK(pre.len == 4000 && memcmp(pre.p, data, 4000) == 0);
  bk_buf_free(&pre);
  free(data);
  free(got);
  env_close(&e);
}

/* ---- direct downloads ---- */

static void test_direct_downloads(void) {
  struct env e;
  CHECK_EQ_INT(env_open(&e, 0, "http://127.0.0.1:9/objs"), 0);
  if (!e.svc) return;
  CHECK_EQ_INT(bk_blobstore_caps(e.bs), BK_BLOB_CAP_PRESIGN);
  bk_hash xh;
  uint8_t *body = NULL;
  size_t len = 0;
  CHECK_EQ_INT(make_xorb(70, 3, &xh, &body, &len), 0);
  CHECK_EQ_INT(put_xorb(e.svc, e.bid, &xh, body, len), 0);
  char url[1024];
  /* not enabled: BK_ENOTSUP */
  CHECK_EQ_INT(bk_svc_direct_downloads(e.svc), 0);
  CHECK_EQ_INT(bk_svc_xorb_presign(e.svc, &xh, NULL, 0, 9, bk_now_ms() / 1000 + 60, url, sizeof url),
               BK_ENOTSUP);
  bk_svc *d = svc_with(&e, 0, 1);
  CHECK(d != NULL);
  if (d) {
    CHECK_EQ_INT(bk_svc_direct_downloads(d), 1);
    int64_t exp = bk_now_ms() / 1000 + BK_SVC_PRESIGN_TTL_S;
    CHECK_EQ_INT(bk_svc_xorb_presign(d, &xh, NULL, 100, 199, exp, url, sizeof url), 0);
    char hex[BK_HASH_HEX_LEN + 1], want[1024];
    bk_hash_to_hex(&xh, hex);
    snprintf(want, sizeof want, "http://127.0.0.1:9/objs/xorb/%s?r=100-199&exp=%lld", hex,
             (long long)exp);
    CHECK_EQ_STR(url, want);
    CHECK_EQ_INT(bk_svc_xorb_presign(d, &xh, NULL, 0, len, exp, url, sizeof url), BK_ETRUNCATED);
    CHECK_EQ_INT(bk_svc_xorb_presign(d, &xh, NULL, 0, 9, exp, url, 20), BK_ELIMIT);
    CHECK_EQ_INT(bk_svc_xorb_presign(d, &xh, NULL, 9, 8, exp, url, sizeof url), BK_EINVAL);
    bk_svc_close(d);
  }
  /* a store that cannot presign: refused at open, with a clear message */
  bk_blobstore *fs = NULL;
  CHECK_EQ_INT(bk_blobstore_open(e.blobs, &fs), 0);
  struct bk_svc_config fc = {.db = e.mdb, .blobs = fs, .direct_downloads = 1};
  bk_svc *bad = NULL;
  CHECK_EQ_INT(bk_svc_open(&fc, &bad), BK_EINVAL);
  CHECK(bad == NULL);
  CHECK(strstr(bk_errmsg(), "--direct-downloads") && strstr(bk_errmsg(), "file://"));
  bk_blobstore *nop = NULL;
  CHECK_EQ_INT(bare_store_open(e.blobs, NULL, &nop), 0);
  fc.blobs = nop;
  CHECK_EQ_INT(bk_svc_open(&fc, &bad), BK_EINVAL);
  bk_blobstore_close(nop);
  bk_blobstore_close(fs);
  free(body);
  env_close(&e);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_svc_bare_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_gc_pending_grace);
  RUN(test_gc_pending_realtime);
  RUN(test_gc_pending_reregistered);
  RUN(test_gc_pending_crash);
  RUN(test_gc_pending_orphans);
  RUN(test_register_gc_race_bare);
  RUN(test_register_reads_bounded);
  RUN(test_xorb_range_reader);
  RUN(test_file_reader_bare);
  RUN(test_direct_downloads);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
