/* Unit tests: regions in the storage service (docs/regions.md) with two
 * file:// regions (eu, us) on a real metadata database (SQLite, and every
 * base in BK_TEST_DB_URLS) and real blob stores in a temp dir:
 * adding the first region over existing xorbs (refused when they are not in
 * its store), serve's --blobs that is no region, placement by the bucket's
 * home region, the reconstruction's region choice, pre-warm copying only
 * what the region lacks (a checkpoint family: the second pre-warm copies only
 * the new xorbs, counted with bk_svc_replicate_puts), a kill -9 after a PUT
 * (a forked child ended by the test hook) resumed by another node without a
 * second PUT, a damaged source refused and reported, warm-list replication
 * of a new write, removal refusals, gc across regions, and the
 * "region 'x' is unavailable" error of a store that cannot be reached. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svc_fixture.h"
#include "../test.h"
#include "../store/meta_sql.h"
#include "buckets/clock.h"
#include "buckets/error.h"
#include "service/service.h"
#include "store/accounts.h"
#include "store/blobstore.h"
#include "store/db.h"
#include "store/regions.h"

static char root[256];
static int ndir;

struct env {
  char dir[300], db[400], eu[1200], us[1200];
  bk_blobstore *eu_bs, *us_bs; /* the two stores opened directly (to look inside) */
};

/* An s3:// base URL from BK_TEST_BLOB_URLS ("" = file:// regions only). */
static char s3_base[1024];

/* base with its key prefix extended by sub (a fresh area of the shared bucket). */
static void s3_sub(const char *base, const char *sub, char *out, size_t n) {
  const char *p = strstr(base, "prefix=");
  if (p && (p[-1] == '?' || p[-1] == '&')) {
    size_t end = (size_t)(p + 7 - base) + strcspn(p + 7, "&");
    snprintf(out, n, "%.*s%s/%s", (int)end, base, sub, base + end);
  } else {
    snprintf(out, n, "%s%sprefix=%s/", base, strchr(base, '?') ? "&" : "?", sub);
  }
}

static int env_init(struct env *e, const char *tag) {
  snprintf(e->dir, sizeof e->dir, "%s/d%d", root, ndir++);
  if (mkdir(e->dir, 0700)) return -1;
  char name[64];
  snprintf(name, sizeof name, "%s%d.sqlite", tag, ndir);
  meta_url(e->db, sizeof e->db, name);
  snprintf(e->eu, sizeof e->eu, "file://%s/eu", e->dir);
  snprintf(e->us, sizeof e->us, "file://%s/us", e->dir);
  if (s3_base[0]) { /* two regions = two prefixes of the RGW bucket */
    char sub[96];
    snprintf(sub, sizeof sub, "svcregion-%d-%d-eu", (int)getpid(), ndir);
    s3_sub(s3_base, sub, e->eu, sizeof e->eu);
    snprintf(sub, sizeof sub, "svcregion-%d-%d-us", (int)getpid(), ndir);
    s3_sub(s3_base, sub, e->us, sizeof e->us);
  }
  if (bk_blobstore_open_url(e->eu, &e->eu_bs) || bk_blobstore_open_url(e->us, &e->us_bs))
    return -1;
  return 0;
}

static void env_free(struct env *e) {
  bk_blobstore_close(e->eu_bs);
  bk_blobstore_close(e->us_bs);
}

static bk_svc *svc_open_url(const char *db, const char *blobs) {
  struct bk_svc_config cfg = {.db_url = db, .blob_url = blobs, .reverify_ms = 0,
                              .delete_grace_ms = BK_SVC_DELETE_NOW};
  bk_svc *svc = NULL;
  int rc = bk_svc_open(&cfg, &svc);
  if (rc) fprintf(stderr, "# svc open: %s\n", bk_errmsg());
  return svc;
}

/* A service on e's store with the regions eu (default) and us, user `user`
 * and its bucket `name` homed in `home` (failures are recorded as checks;
 * NULL when the service could not be set up). */
static bk_svc *two_regions(struct env *e, const char *user, const char *name, const char *home,
                           bk_ns *u, bk_bucket *b) {
  bk_svc *svc = svc_open_url(e->db, e->eu);
  CHECK(svc != NULL);
  if (!svc) return NULL;
  char msg[300];
  CHECK_EQ_INT(bk_svc_region_add(svc, "eu", e->eu, msg, sizeof msg), 0);
  CHECK_EQ_INT(bk_svc_region_add(svc, "us", e->us, msg, sizeof msg), 0);
  bk_db *db = bk_svc_db(svc);
  CHECK_EQ_INT(bk_db_user_add(db, user, u), 0);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u->id, name, 0, home, b), 0);
  return svc;
}

/* Ingests len bytes (seed) as path into bucket bid; *fh = the file hash. */
static int put_file(bk_svc *svc, int64_t bid, const char *path, const uint8_t *data, size_t len,
                    bk_hash *fh) {
  struct bk_svc_ingest_stats st;
  int rc = bk_svc_ingest(svc, bid, data, len, fh, &st);
  if (rc) return rc;
  bk_batch_op op = {.type = BK_OP_ADD, .path = path, .xet_hash = *fh, .mtime_ms = -1,
                    .size = -1};
  size_t nf = 0;
  rc = bk_db_batch(bk_svc_db(svc), bid, &op, 1, 0, &nf);
  return rc ? rc : nf ? op.result : 0;
}

/* The xorbs of file fh (distinct), at most max. */
static size_t file_xorbs(bk_svc *svc, const bk_hash *fh, bk_hash *out, size_t max) {
  uint64_t size = 0;
  bk_file_term *ft = NULL;
  size_t nft = 0, n = 0;
  if (bk_svc_file_terms(svc, fh, &size, &ft, &nft)) return 0;
  for (size_t i = 0; i < nft; i++) {
    int seen = 0;
    for (size_t k = 0; k < n && !seen; k++) seen = bk_hash_eq(&out[k], &ft[i].xorb);
    if (!seen && n < max) out[n++] = ft[i].xorb;
  }
  free(ft);
  return n;
}

/* Runs replication steps until one does no work (bounded). */
static int replicate_all(bk_svc *svc, const char *owner) {
  int rc = 0;
  for (int i = 0; i < 200; i++) {
    int did = 0;
    rc = bk_svc_replicate_step(svc, owner, 2000, &did);
    if (rc || !did) break;
  }
  return rc;
}

/* The reconstruction of the whole file fh for a client in region. */
static int recon(bk_svc *svc, const bk_hash *fh, const char *region, bk_svc_recon *r) {
  memset(r, 0, sizeof *r);
  uint64_t size = 0, off = 0;
  bk_file_term *ft = NULL;
  size_t nft = 0;
  int rc = bk_svc_file_terms(svc, fh, &size, &ft, &nft);
  if (rc == 0) rc = bk_svc_recon_add(svc, r, ft, nft, size, 0, size - 1, &off);
  free(ft);
  r->region = region;
  return rc ? rc : bk_svc_recon_finish(svc, r);
}

/* Reads the whole file through bk_svc_reader for a client in region and
 * compares it with want: 0 when equal, else the error (or -1). */
static int read_all(bk_svc *svc, const bk_hash *fh, const char *region, const uint8_t *want,
                    size_t len) {
  uint64_t size = 0, ts = 0;
  bk_svc_reader *r = NULL;
  int rc = bk_svc_reader_open(svc, fh, 0, &size, &ts, &r);
  if (rc) return rc;
  bk_svc_reader_region(r, region);
  uint8_t *got = malloc(len + 1);
  size_t off = 0;
  for (int guard = 0; got && guard < 100000 && off <= len; guard++) {
    ssize_t n = bk_svc_reader_read(r, got + off, len + 1 - off);
    if (n <= 0) {
      rc = (int)n;
      break;
    }
    off += (size_t)n;
  }
  bk_svc_reader_close(r);
  if (rc == 0 && (!got || off != len || memcmp(got, want, len))) rc = -1;
  free(got);
  return rc;
}

static int last_job(bk_svc *svc, int64_t bid, bk_prewarm_job *j) {
  bk_prewarm_job *list = NULL;
  size_t n = 0;
  int rc = bk_db_prewarm_list(bk_svc_db(svc), bid, &list, 1, &n);
  if (rc == 0 && n == 0) rc = BK_ENOTFOUND;
  if (rc == 0) *j = list[0];
  free(list);
  return rc;
}

static size_t status_of(bk_svc *svc, int64_t bid, const char *name, bk_svc_region_status *out) {
  bk_svc_region_status *v = NULL;
  size_t n = 0, found = 0;
  if (bk_svc_bucket_regions(svc, bid, &v, &n)) return 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(v[i].name, name)) {
      *out = v[i];
      found = 1;
    }
  free(v);
  return found;
}

static void *wake_later(void *p) {
  usleep(50 * 1000);
  bk_svc_replicate_wake(p);
  return NULL;
}

/* Regions over an existing single-store deployment; the first region must
 * be the store used so far; serve's --blobs must be a region's. */
static void test_registry(void) {
  struct env e;
  CHECK_EQ_INT(env_init(&e, "reg"), 0);
  bk_svc *svc = svc_open_url(e.db, e.eu);
  CHECK(svc != NULL);
  if (!svc) return;
  bk_db *db = bk_svc_db(svc);
  bk_ns u;
  bk_bucket b;
  CHECK_EQ_INT(bk_db_user_add(db, "alice", &u), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "old", 0, &b), 0);
  uint8_t *data = malloc(300000);
  fill(data, 300000, 1);
  bk_hash fh;
  CHECK_EQ_INT(put_file(svc, b.id, "a.bin", data, 300000, &fh), 0);
  /* no regions: labels only, no status, no pre-warm */
  CHECK_EQ_INT(bk_svc_regions_enabled(svc), 0);
  CHECK_EQ_INT(bk_svc_region_check_name(svc, "us"), 0);
  CHECK_EQ_INT(bk_svc_region_check_name(svc, "mars"), BK_EINVAL);
  bk_svc_region_status *st = NULL;
  size_t n = 7;
  CHECK_EQ_INT(bk_svc_bucket_regions(svc, b.id, &st, &n), 0);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(bk_svc_prewarm(svc, b.id, "us", NULL, NULL), BK_EINVAL);
  bk_svc_recon r;
  CHECK_EQ_INT(recon(svc, &fh, "us", &r), 0);
  CHECK(r.nfetch > 0 && r.fetch[0].region[0] == 0);
  bk_svc_recon_free(&r);
  /* the first region over xorbs that are not in its store: refused */
  char msg[300];
  CHECK_EQ_INT(bk_svc_region_add(svc, "us", e.us, msg, sizeof msg), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "first region") != NULL);
  CHECK_EQ_INT(bk_svc_regions_enabled(svc), 0);
  CHECK_EQ_INT(bk_svc_region_add(svc, "EU", e.eu, msg, sizeof msg), BK_EINVAL);
  /* the store used so far: its xorbs are recorded as present */
  CHECK_EQ_INT(bk_svc_region_add(svc, "eu", e.eu, msg, sizeof msg), 0);
  CHECK(strstr(msg, "recorded") != NULL && strstr(msg, "eu") != NULL);
  CHECK_EQ_INT(bk_svc_region_add(svc, "us", e.us, msg, sizeof msg), 0);
  CHECK_EQ_INT(bk_svc_region_add(svc, "us", e.us, msg, sizeof msg), BK_EEXIST);
  CHECK_EQ_INT(bk_svc_region_add(svc, "us2", e.us, msg, sizeof msg), BK_EEXIST); /* same store */
  CHECK_EQ_INT(bk_svc_regions_enabled(svc), 1);
  bk_svc_region *rl = NULL;
  CHECK_EQ_INT(bk_svc_region_list(svc, &rl, &n), 0);
  CHECK_EQ_INT(n, 2);
  if (n == 2) {
    CHECK_EQ_STR(rl[0].name, "eu");
    CHECK_EQ_INT(rl[0].is_default, 1);
    CHECK_EQ_STR(rl[1].name, "us");
    CHECK_EQ_INT(rl[1].is_default, 0);
  }
  free(rl);
  CHECK_EQ_INT(bk_svc_region_check_name(svc, "us"), 0);
  CHECK_EQ_INT(bk_svc_region_check_name(svc, "mars"), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "unknown region 'mars' (configured: eu, us)") != NULL);
  bk_svc_close(svc);
  /* --blobs must be a region's; it may be omitted */
  char other[400];
  snprintf(other, sizeof other, "file://%s/other", e.dir);
  struct bk_svc_config cfg = {.db_url = e.db, .blob_url = other};
  CHECK_EQ_INT(bk_svc_open(&cfg, &svc), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "not the store of a configured region") != NULL);
  svc = svc_open_url(e.db, NULL);
  CHECK(svc != NULL);
  if (svc) {
    /* a region added by another node is seen after a reload-on-miss */
    bk_svc *svc2 = svc_open_url(e.db, e.us);
    char ap[400];
    snprintf(ap, sizeof ap, "file://%s/ap", e.dir);
    CHECK(svc2 != NULL);
    if (svc2) CHECK_EQ_INT(bk_svc_region_add(svc2, "ap", ap, msg, sizeof msg), 0);
    CHECK_EQ_INT(bk_svc_region_check_name(svc, "ap"), 0);
    bk_svc_close(svc2);
    /* the old xorbs read from the default region */
    CHECK_EQ_INT(recon(svc, &fh, "us", &r), 0);
    CHECK(r.nfetch > 0 && !strcmp(r.fetch[0].region, "eu"));
    bk_svc_recon_free(&r);
  }
  bk_svc_close(svc);
  free(data);
  env_free(&e);
}

/* The next member of a checkpoint family (~10 % rewritten): pre-warm
 * copies only the xorbs eu lacks; a third pre-warm copies nothing. */
static void family_prewarm(bk_svc *svc, int64_t bid, uint8_t *data, size_t len) {
  bk_hash f2;
  bk_svc_region_status s;
  bk_prewarm_job j;
  int64_t job = 0;
  uint64_t p0;
  fill(data + len / 2, len / 10, 4242);
  CHECK_EQ_INT(put_file(svc, bid, "ckpt/step2.bin", data, len, &f2), 0);
  CHECK_EQ_INT(status_of(svc, bid, "eu", &s), 1);
  uint64_t missing = s.xorbs_needed - s.xorbs_present;
  CHECK(missing >= 1);
  CHECK_EQ_INT(s.warm, 0);
  CHECK(s.lag_ms >= 0);
  p0 = bk_svc_replicate_puts();
  CHECK_EQ_INT(bk_svc_prewarm(svc, bid, "eu", "ckpt/", &job), 0);
  CHECK_EQ_INT(replicate_all(svc, "node-a"), 0);
  CHECK_EQ_INT(bk_svc_replicate_puts() - p0, missing);
  CHECK_EQ_INT(status_of(svc, bid, "eu", &s), 1);
  CHECK_EQ_INT(s.warm, 1);
  /* a third pre-warm has nothing to copy */
  p0 = bk_svc_replicate_puts();
  CHECK_EQ_INT(bk_svc_prewarm(svc, bid, "eu", NULL, &job), 0);
  CHECK_EQ_INT(replicate_all(svc, "node-a"), 0);
  CHECK_EQ_INT(bk_svc_replicate_puts() - p0, 0);
  CHECK_EQ_INT(last_job(svc, bid, &j), 0);
  CHECK_EQ_STR(j.state, "done");
}

/* Placement, reconstruction choice, pre-warm of a checkpoint family. */
static void test_place_prewarm(void) {
  struct env e;
  CHECK_EQ_INT(env_init(&e, "pw"), 0);
  bk_ns u;
  bk_bucket b;
  bk_svc *svc = two_regions(&e, "carol", "ck", "us", &u, &b);
  if (!svc) return;
  size_t len = 1500000;
  uint8_t *data = malloc(len);
  fill(data, len, 42);
  bk_hash f1, xs[64];
  CHECK_EQ_INT(put_file(svc, b.id, "ckpt/step1.bin", data, len, &f1), 0);
  size_t nx = file_xorbs(svc, &f1, xs, 64);
  CHECK(nx >= 1);
  /* stored in the bucket's home region only */
  for (size_t i = 0; i < nx; i++) {
    CHECK_EQ_INT(bk_blob_exists(e.us_bs, BK_BLOB_XORB, &xs[i]), 1);
    CHECK_EQ_INT(bk_blob_exists(e.eu_bs, BK_BLOB_XORB, &xs[i]), 0);
  }
  bk_svc_region_status s;
  CHECK_EQ_INT(status_of(svc, b.id, "us", &s), 1);
  CHECK_EQ_INT(s.roles, BK_SVC_ROLE_HOME);
  CHECK_EQ_INT(s.warm, 1);
  CHECK(s.bytes_needed > 0 && s.bytes_present == s.bytes_needed);
  /* a client in eu is pointed at the home (eu holds no copy yet) */
  bk_svc_recon r;
  CHECK_EQ_INT(recon(svc, &f1, "eu", &r), 0);
  for (size_t i = 0; i < r.nfetch; i++) CHECK_EQ_STR(r.fetch[i].region, "us");
  bk_svc_recon_free(&r);
  int fd = -1;
  bk_svc_xorb_reader *rd = NULL;
  uint64_t sz = 0;
  CHECK_EQ_INT(bk_svc_xorb_open_range(svc, &xs[0], "eu", &fd, &rd, &sz), BK_ENOTFOUND);
  /* pre-warm to eu: every xorb copied once, verified, recorded */
  uint64_t p0 = bk_svc_replicate_puts();
  int64_t job = 0;
  CHECK_EQ_INT(bk_svc_prewarm(svc, b.id, "eu", NULL, &job), 0);
  CHECK(job > 0);
  CHECK_EQ_INT(status_of(svc, b.id, "eu", &s), 1);
  CHECK_EQ_INT(s.roles, BK_SVC_ROLE_PREWARM);
  CHECK_EQ_INT(s.warm, 0);
  CHECK_EQ_INT(s.bytes_present, 0);
  CHECK_EQ_INT(replicate_all(svc, "node-a"), 0);
  CHECK_EQ_INT(bk_svc_replicate_puts() - p0, nx);
  bk_prewarm_job j;
  CHECK_EQ_INT(last_job(svc, b.id, &j), 0);
  CHECK_EQ_STR(j.state, "done");
  CHECK_EQ_INT(j.xorbs_copied, nx);
  CHECK(j.bytes_needed > 0 && j.bytes_copied == j.bytes_needed);
  CHECK_EQ_INT(status_of(svc, b.id, "eu", &s), 1);
  CHECK_EQ_INT(s.warm, 1);
  CHECK_EQ_INT(s.lag_ms, 0);
  CHECK(s.bytes_present == s.bytes_needed);
  for (size_t i = 0; i < nx; i++) CHECK_EQ_INT(bk_blob_exists(e.eu_bs, BK_BLOB_XORB, &xs[i]), 1);
  /* now a client in eu reads eu's copy; one in us (or none) the home */
  CHECK_EQ_INT(recon(svc, &f1, "eu", &r), 0);
  for (size_t i = 0; i < r.nfetch; i++) CHECK_EQ_STR(r.fetch[i].region, "eu");
  bk_svc_recon_free(&r);
  CHECK_EQ_INT(recon(svc, &f1, NULL, &r), 0);
  for (size_t i = 0; i < r.nfetch; i++) CHECK_EQ_STR(r.fetch[i].region, "us");
  bk_svc_recon_free(&r);
  CHECK_EQ_INT(recon(svc, &f1, "mars", &r), 0); /* a region not configured: the home */
  for (size_t i = 0; i < r.nfetch; i++) CHECK_EQ_STR(r.fetch[i].region, "us");
  bk_svc_recon_free(&r);
  CHECK_EQ_INT(bk_svc_xorb_open_range(svc, &xs[0], "eu", &fd, &rd, &sz), 0);
  uint64_t home_sz = 0;
  CHECK_EQ_INT(bk_blob_stat(e.us_bs, BK_BLOB_XORB, &xs[0], &home_sz), 0);
  CHECK_EQ_INT(sz, home_sz);
  if (fd >= 0) close(fd);
  bk_svc_xorb_reader_close(rd);
  CHECK_EQ_INT(bk_svc_xorb_open_range(svc, &xs[0], "mars", &fd, &rd, &sz), BK_ENOTFOUND);
  /* the file reader of a client in eu: eu's copies (the home's are not needed) */
  CHECK_EQ_INT(read_all(svc, &f1, "eu", data, len), 0);

  family_prewarm(svc, b.id, data, len);
  CHECK_EQ_INT(bk_svc_prewarm(svc, b.id, "mars", NULL, &job), BK_EINVAL);
  bk_svc_close(svc);
  free(data);
  env_free(&e);
}

/* kill -9 right after a PUT (before its row): another node resumes after
 * the lease expired, PUTs nothing twice, and every copy verifies. */
static void test_kill_resume(void) {
  struct env e;
  CHECK_EQ_INT(env_init(&e, "kill"), 0);
  bk_ns u;
  bk_bucket b;
  bk_svc *svc = two_regions(&e, "dave", "k", "eu", &u, &b);
  if (!svc) return;
  uint8_t data[200000];
  size_t total = 0;
  bk_hash xs[64];
  for (int f = 0; f < 5; f++) {
    fill(data, sizeof data, 900 + (uint64_t)f);
    char path[32];
    snprintf(path, sizeof path, "f%d", f);
    bk_hash fh;
    CHECK_EQ_INT(put_file(svc, b.id, path, data, sizeof data, &fh), 0);
    total += file_xorbs(svc, &fh, xs + total, 64 - total);
  }
  CHECK(total >= 5);
  int64_t job = 0;
  CHECK_EQ_INT(bk_svc_prewarm(svc, b.id, "us", NULL, &job), 0);
  setenv("BUCKETD_REPLICATE_LEASE_MS", "400", 1);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("BUCKETD_REPLICATE_KILL_AFTER_PUTS", "2", 1);
    bk_svc *c = svc_open_url(e.db, NULL);
    int did = 0;
    for (int i = 0; c && i < 50; i++) bk_svc_replicate_step(c, "node-dead", 2000, &did);
    _exit(3); /* the hook should have ended it first */
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 137);
  bk_prewarm_job j;
  CHECK_EQ_INT(last_job(svc, b.id, &j), 0);
  CHECK_EQ_STR(j.state, "queued");
  CHECK_EQ_STR(j.lease_owner, "node-dead");
  uint64_t before = j.xorbs_copied; /* copies the dead node recorded (2 PUTs, copied in pairs) */
  CHECK(before <= 1);
  size_t in_us = 0;
  for (size_t i = 0; i < total; i++) in_us += bk_blob_exists(e.us_bs, BK_BLOB_XORB, &xs[i]) == 1;
  CHECK_EQ_INT(in_us, 2); /* PUT, but (at least one) never recorded */
  /* while the lease holds, another node does not take the job */
  int did = 0;
  uint64_t p0 = bk_svc_replicate_puts();
  CHECK_EQ_INT(bk_svc_replicate_step(svc, "node-b", 500, &did), 0);
  CHECK_EQ_INT(bk_svc_replicate_puts() - p0, 0);
  usleep(500 * 1000);
  CHECK_EQ_INT(replicate_all(svc, "node-b"), 0);
  CHECK_EQ_INT(bk_svc_replicate_puts() - p0, total - 2); /* the dead node's 2 are not PUT again */
  CHECK_EQ_INT(last_job(svc, b.id, &j), 0);
  CHECK_EQ_STR(j.state, "done");
  CHECK_EQ_INT(j.xorbs_copied, before + total - 2);
  for (size_t i = 0; i < total; i++) {
    int fd = -1;
    bk_svc_xorb_reader *rd = NULL;
    uint64_t sz = 0;
    CHECK_EQ_INT(bk_svc_xorb_open_range(svc, &xs[i], "us", &fd, &rd, &sz), 0);
    if (fd >= 0) close(fd);
    bk_svc_xorb_reader_close(rd);
  }
  /* every copy verifies (fsck reads each region's copies) */
  bk_svc_fsck_result fr;
  CHECK_EQ_INT(bk_svc_fsck(svc, 1, NULL, NULL, &fr), 0);
  CHECK_EQ_INT(fr.damage, 0);
  unsetenv("BUCKETD_REPLICATE_LEASE_MS");
  bk_svc_close(svc);
  env_free(&e);
}

/* Warm list: a file written after the setting is copied as it lands (by
 * steps, then by the node's thread); removal refusals. */
static void warm_and_remove(bk_svc *svc, struct env *ep, int64_t wid) {
  struct env e = *ep;
  bk_db *db = bk_svc_db(svc);
  char msg[300];
  static uint8_t data[150000];
  bk_hash fh, xs[8];
  size_t nx = 0;
  bk_svc_region_status s;
  /* warm list: a file written after the setting is copied as it lands */
  const char *warm[] = {"us"};
  CHECK_EQ_INT(bk_svc_bucket_warm_set(svc, wid, warm, 1), 0);
  const char *bad[] = {"mars"};
  CHECK_EQ_INT(bk_svc_bucket_warm_set(svc, wid, bad, 1), BK_EINVAL);
  fill(data, sizeof data, 7);
  CHECK_EQ_INT(put_file(svc, wid, "new", data, sizeof data, &fh), 0);
  nx = file_xorbs(svc, &fh, xs, 8);
  CHECK_EQ_INT(status_of(svc, wid, "us", &s), 1);
  CHECK_EQ_INT(s.roles, BK_SVC_ROLE_WARM);
  CHECK_EQ_INT(s.warm, 0);
  CHECK_EQ_INT(bk_svc_replicate_wait(svc, 0), 0); /* nobody woke it since */
  pthread_t th;
  CHECK_EQ_INT(pthread_create(&th, NULL, wake_later, svc), 0);
  CHECK_EQ_INT(bk_svc_replicate_wait(svc, 10000), 1); /* woken, long before the 10 s */
  pthread_join(th, NULL);
  /* the node's replication thread copies a file written later (the xorb's
   * registration wakes it; the file is listed by the batch after that, so
   * the poll, 200 ms here, brings it) */
  CHECK_EQ_INT(bk_svc_replicate_start(svc, "n1", 200, NULL, NULL), 0);
  CHECK_EQ_INT(bk_svc_replicate_start(svc, "n1", 200, NULL, NULL), BK_EEXIST);
  bk_hash fh2, x2[8];
  fill(data, sizeof data, 71);
  CHECK_EQ_INT(put_file(svc, wid, "newer", data, sizeof data, &fh2), 0);
  size_t n2 = file_xorbs(svc, &fh2, x2, 8);
  for (int i = 0; i < 500; i++) { /* bounded: 5 s */
    CHECK_EQ_INT(status_of(svc, wid, "us", &s), 1);
    if (s.warm) break;
    usleep(10 * 1000);
  }
  CHECK_EQ_INT(s.warm, 1);
  for (size_t i = 0; i < n2; i++) CHECK_EQ_INT(bk_blob_exists(e.us_bs, BK_BLOB_XORB, &x2[i]), 1);
  bk_svc_replicate_stop(svc);
  CHECK_EQ_INT(replicate_all(svc, "n1"), 0);
  for (size_t i = 0; i < nx; i++) CHECK_EQ_INT(bk_blob_exists(e.us_bs, BK_BLOB_XORB, &xs[i]), 1);
  CHECK_EQ_INT(status_of(svc, wid, "us", &s), 1);
  CHECK_EQ_INT(s.warm, 1);
  CHECK_EQ_INT(s.lag_ms, 0);

  /* removal: refused while data lives there */
  CHECK_EQ_INT(bk_svc_region_remove(svc, "us", 0), BK_EBUSY);
  CHECK(strstr(bk_errmsg(), "region 'us' still holds data") != NULL);
  CHECK_EQ_INT(bk_svc_region_remove(svc, "mars", 0), BK_ENOTFOUND);
  /* the default region holds the shards (and bucket w's home) */
  CHECK_EQ_INT(bk_svc_region_remove(svc, "eu", 0), BK_EBUSY);
  bk_region_usage ru;
  CHECK_EQ_INT(bk_db_region_usage(db, 1, "eu", 1, &ru), 0);
  CHECK(ru.blobs_only >= 1);
  char ap[400];
  snprintf(ap, sizeof ap, "file://%s/ap", e.dir);
  CHECK_EQ_INT(bk_svc_region_add(svc, "ap", ap, msg, sizeof msg), 0);
  CHECK_EQ_INT(bk_svc_region_remove(svc, "ap", 0), 0); /* nothing there */
  CHECK_EQ_INT(bk_svc_region_check_name(svc, "ap"), BK_EINVAL);
}

/* A source that does not verify is refused: nothing put, nothing recorded,
 * the job reports it. Warm lists copy new writes; removal refusals. */
static void test_damaged_warm_remove(void) {
  struct env e;
  CHECK_EQ_INT(env_init(&e, "dmg"), 0);
  bk_ns u;
  bk_bucket b, w;
  bk_svc *svc = two_regions(&e, "erin", "d", "us", &u, &b);
  if (!svc) return;
  bk_db *db = bk_svc_db(svc);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "w", 0, "eu", &w), 0);
  uint8_t data[150000];
  fill(data, sizeof data, 5);
  bk_hash fh, xs[8];
  CHECK_EQ_INT(put_file(svc, b.id, "x", data, sizeof data, &fh), 0);
  size_t nx = file_xorbs(svc, &fh, xs, 8);
  CHECK(nx >= 1);
  uint64_t sz = 0;
  CHECK_EQ_INT(bk_blob_stat(e.us_bs, BK_BLOB_XORB, &xs[0], &sz), 0);
  uint8_t *junk = malloc(sz);
  fill(junk, sz, 6);
  CHECK_EQ_INT(bk_blob_replace(e.us_bs, BK_BLOB_XORB, &xs[0], junk, sz), 0);
  free(junk);
  uint64_t p0 = bk_svc_replicate_puts();
  int64_t job = 0;
  CHECK_EQ_INT(bk_svc_prewarm(svc, b.id, "eu", NULL, &job), 0);
  CHECK_EQ_INT(replicate_all(svc, "n1"), 0);
  bk_prewarm_job j;
  CHECK_EQ_INT(last_job(svc, b.id, &j), 0);
  CHECK_EQ_STR(j.state, "failed");
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&xs[0], hex);
  CHECK(strstr(j.error, hex) != NULL);
  CHECK_EQ_INT(bk_blob_exists(e.eu_bs, BK_BLOB_XORB, &xs[0]), 0);
  int64_t ids[8];
  size_t n = 0;
  CHECK_EQ_INT(bk_db_copy_regions(db, BK_BLOB_XORB, &xs[0], ids, 8, &n), 0);
  CHECK_EQ_INT(n, 1); /* the home only */
  CHECK_EQ_INT(bk_svc_replicate_puts() - p0, nx - 1);
  bk_svc_region_status s;
  CHECK_EQ_INT(status_of(svc, b.id, "eu", &s), 1);
  CHECK_EQ_INT(s.warm, 0);

  warm_and_remove(svc, &e, w.id);
  bk_svc_close(svc);
  env_free(&e);
}

/* gc across regions: an unreferenced xorb goes from every region holding
 * it (and its copy rows), a referenced one stays in its home and its
 * copies; an orphan blob in a non-default region is found and removed;
 * fsck reports a recorded copy missing from its store. */
static void test_gc_regions(void) {
  struct env e;
  CHECK_EQ_INT(env_init(&e, "gc"), 0);
  bk_ns u;
  bk_bucket b;
  bk_svc *svc = two_regions(&e, "gina", "g", "us", &u, &b);
  if (!svc) return;
  bk_db *db = bk_svc_db(svc);
  uint8_t data[120000];
  bk_hash fk, fd, xk[8], xd[8];
  fill(data, sizeof data, 31);
  CHECK_EQ_INT(put_file(svc, b.id, "keep", data, sizeof data, &fk), 0);
  fill(data, sizeof data, 32);
  CHECK_EQ_INT(put_file(svc, b.id, "drop", data, sizeof data, &fd), 0);
  size_t nk = file_xorbs(svc, &fk, xk, 8), nd = file_xorbs(svc, &fd, xd, 8);
  CHECK(nk >= 1 && nd >= 1);
  int64_t job = 0;
  CHECK_EQ_INT(bk_svc_prewarm(svc, b.id, "eu", NULL, &job), 0);
  CHECK_EQ_INT(replicate_all(svc, "n1"), 0);
  CHECK_EQ_INT(bk_blob_exists(e.eu_bs, BK_BLOB_XORB, &xd[0]), 1);
  /* an orphan blob (no row) in the non-default region */
  bk_hash orphan;
  memset(orphan.b, 0x5a, sizeof orphan.b);
  CHECK_EQ_INT(bk_blob_put(e.us_bs, BK_BLOB_XORB, &orphan, "junk", 4, NULL), 0);
  bk_batch_op op = {.type = BK_OP_DELETE, .path = "drop"};
  size_t nf = 0;
  CHECK_EQ_INT(bk_db_batch(db, b.id, &op, 1, 0, &nf), 0);
  bk_svc_gc_result gr;
  const char *what = NULL;
  CHECK_EQ_INT(bk_svc_gc(svc, bk_now_ms() + 1000, (int64_t)time(NULL) + 10, 100, &gr, &what), 0);
  CHECK(gr.st.xorbs >= nd);
  for (size_t i = 0; i < nd; i++) {
    CHECK_EQ_INT(bk_blob_exists(e.us_bs, BK_BLOB_XORB, &xd[i]), 0);
    CHECK_EQ_INT(bk_blob_exists(e.eu_bs, BK_BLOB_XORB, &xd[i]), 0);
    int64_t ids[4];
    size_t n = 9;
    CHECK_EQ_INT(bk_db_copy_regions(db, BK_BLOB_XORB, &xd[i], ids, 4, &n), 0);
    CHECK_EQ_INT(n, 0);
  }
  for (size_t i = 0; i < nk; i++) {
    CHECK_EQ_INT(bk_blob_exists(e.us_bs, BK_BLOB_XORB, &xk[i]), 1);
    CHECK_EQ_INT(bk_blob_exists(e.eu_bs, BK_BLOB_XORB, &xk[i]), 1);
  }
  CHECK_EQ_INT(bk_blob_exists(e.us_bs, BK_BLOB_XORB, &orphan), 0);
  bk_svc_fsck_result fr;
  CHECK_EQ_INT(bk_svc_fsck(svc, 1, NULL, NULL, &fr), 0);
  CHECK_EQ_INT(fr.damage, 0);
  /* a recorded copy whose blob vanished is damage */
  CHECK_EQ_INT(bk_blob_delete(e.eu_bs, BK_BLOB_XORB, &xk[0]), 0);
  CHECK_EQ_INT(bk_svc_fsck(svc, 0, NULL, NULL, &fr), 0);
  CHECK_EQ_INT(fr.damage, 1);
  bk_svc_close(svc);
  env_free(&e);
}

/* A region whose store cannot be reached: the error names it. */
static void test_unavailable(void) {
  struct env e;
  CHECK_EQ_INT(env_init(&e, "na"), 0);
  bk_svc *svc = svc_open_url(e.db, e.eu);
  CHECK(svc != NULL);
  if (!svc) return;
  char msg[300];
  CHECK_EQ_INT(bk_svc_region_add(svc, "eu", e.eu, msg, sizeof msg), 0);
  /* an S3 store on a closed port of 127.0.0.1 (credentials: any, never sent) */
  setenv("AWS_ACCESS_KEY_ID", "test", 0);
  setenv("AWS_SECRET_ACCESS_KEY", "test", 0);
  const char *far = "s3://bkt?endpoint=http://127.0.0.1:1&region=us-east-1&retries=0&timeout=2";
  /* the service refuses to add a store it cannot reach */
  CHECK_EQ_INT(bk_svc_region_add(svc, "far", far, msg, sizeof msg), BK_ENET);
  CHECK_EQ_INT(bk_svc_region_check_name(svc, "far"), BK_EINVAL);
  /* one that went down after it was added (the row written as add does) */
  CHECK_EQ_INT(bk_db_region_add(bk_svc_db(svc), "far", far, NULL), 0);
  bk_db *db = bk_svc_db(svc);
  bk_ns u;
  bk_bucket b;
  CHECK_EQ_INT(bk_db_user_add(db, "fred", &u), 0);
  CHECK_EQ_INT(bk_db_bucket_create_ex(db, u.id, "b", 0, "eu", &b), 0);
  uint8_t data[100000];
  fill(data, sizeof data, 8);
  bk_hash fh, xs[4];
  CHECK_EQ_INT(put_file(svc, b.id, "x", data, sizeof data, &fh), 0);
  CHECK(file_xorbs(svc, &fh, xs, 4) >= 1);
  /* pre-warming into it fails with the region's name, the job stays queued */
  int64_t job = 0;
  CHECK_EQ_INT(bk_svc_prewarm(svc, b.id, "far", NULL, &job), 0);
  int did = 0;
  CHECK_EQ_INT(bk_svc_replicate_step(svc, "n1", 2000, &did), BK_ENET);
  CHECK(strstr(bk_errmsg(), "region 'far' is unavailable") != NULL);
  /* a xorb whose home is there: the reconstruction names the region */
  char sql[300];
  snprintf(sql, sizeof sql, "UPDATE xorbs SET home_region_id = (SELECT id FROM regions"
                            " WHERE name = 'far')");
  CHECK_EQ_INT(meta_exec(e.db, sql), 0);
  CHECK_EQ_INT(meta_exec(e.db, "INSERT INTO blob_copies(kind, hash, region_id, copied_ms)"
                               " SELECT 0, hash, (SELECT id FROM regions WHERE name = 'far'), 0"
                               " FROM xorbs"),
               0);
  CHECK_EQ_INT(meta_exec(e.db, "DELETE FROM blob_copies WHERE region_id ="
                               " (SELECT id FROM regions WHERE name = 'eu')"),
               0);
  bk_svc_recon r;
  CHECK_EQ_INT(recon(svc, &fh, "eu", &r), BK_ENET);
  CHECK(strstr(bk_errmsg(), "region 'far' is unavailable") != NULL);
  bk_svc_recon_free(&r);
  int fd = -1;
  bk_svc_xorb_reader *rd = NULL;
  uint64_t sz = 0;
  CHECK_EQ_INT(bk_svc_xorb_open_range(svc, &xs[0], NULL, &fd, &rd, &sz), BK_ENET);
  CHECK(strstr(bk_errmsg(), "region 'far' is unavailable") != NULL);
  CHECK_EQ_INT(read_all(svc, &fh, NULL, data, sizeof data), BK_ENET);
  CHECK(strstr(bk_errmsg(), "region 'far' is unavailable") != NULL);
  bk_svc_close(svc);
  env_free(&e);
}

static void run_suite(const char *base, const char *s3) {
  meta_set_base(base);
  snprintf(s3_base, sizeof s3_base, "%s", s3 ? s3 : "");
  printf("# metadata base: %s, regions on %s\n", meta_is_pg(base) ? "postgresql" : "sqlite",
         s3 ? "two prefixes of the S3 store" : "file://");
  if (!s3) RUN(test_registry);
  RUN(test_place_prewarm);
  RUN(test_kill_resume);
  if (!s3) RUN(test_damaged_warm_remove);
  RUN(test_gc_regions);
  if (!s3) RUN(test_unavailable);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_svc_region_XXXXXX");
  if (!mkdtemp(root)) return 1;
  const char *urls = getenv("BK_TEST_DB_URLS");
  char def[300];
  snprintf(def, sizeof def, "sqlite://%s", root);
  if (!urls || !*urls) urls = def;
  char *list = strdup(urls);
  char *sv = NULL;
  /* BK_TEST_BLOB_URLS with an s3:// store: the S3 pass too (on the first metadata base) */
  const char *blobs = getenv("BK_TEST_BLOB_URLS");
  char *bl = blobs ? strdup(blobs) : NULL, *bsv = NULL, *s3 = NULL;
  for (char *b = bl ? strtok_r(bl, " ", &bsv) : NULL; b && !s3; b = strtok_r(NULL, " ", &bsv))
    if (!strncmp(b, "s3://", 5)) s3 = b;
  int first = 1;
  for (char *u = list ? strtok_r(list, " ", &sv) : NULL; u; u = strtok_r(NULL, " ", &sv)) {
    run_suite(u, NULL);
    if (first && s3) run_suite(u, s3);
    first = 0;
    if (meta_drop_all() != 0) fprintf(stderr, "drop databases: %s\n", bk_errmsg());
  }
  free(bl);
  free(list);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
