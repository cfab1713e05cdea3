/* Unit tests: dedup scopes (bk_db_dedup_lookup with BK_DEDUP_NAMESPACE /
 * BK_DEDUP_BUCKET, bk_db_xorb_ref, the xorb_refs table kept by shard
 * registration, grants and batch adds, the schema-4 upgrade) and the lookup
 * time on a large-ish store. */
#include <time.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/db.h"
#include "buckets/error.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "../test.h"
#include "meta_sql.h"

static char root[256];

static void mk_hash(bk_hash *h, uint64_t seed) {
  seed ^= 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 32; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    h->b[i] = (uint8_t)(seed >> 56);
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Registers xorb `seed` with n chunks; chunk `at` is `shared` (an eligible
 * hash, so it enters the dedup index), the others are not eligible. */
static void reg_xorb(bk_db *db, bk_hash *xh, uint64_t seed, uint32_t n, uint32_t at,
                     const bk_hash *shared, bk_xorb_chunk *ch) {
  uint32_t ro = 0, uo = 0;
  mk_hash(xh, seed);
  for (uint32_t i = 0; i < n; i++) {
    bk_hash h;
    mk_hash(&h, seed * 1000 + i + 1);
    h.b[24] |= 1;
    if (i == at) h = *shared;
    ch[i] = (bk_xorb_chunk){.hash = h, .record_offset = ro, .record_len = 100 + i,
                            .unpacked_offset = uo, .unpacked_len = 1000 + i};
    ro += ch[i].record_len;
    uo += ch[i].unpacked_len;
  }
  CHECK_EQ_INT(bk_db_xorb_register(db, xh, ro, ch, n, NULL), 0);
}

/* A shard with one file made of chunks [0, n) of xorb xh. */
static void reg_file(bk_db *db, const bk_hash *fh, const bk_hash *xh, const bk_xorb_chunk *ch,
                     uint32_t n, int64_t bucket_id, uint64_t shard_seed) {
  bk_shard_term t = {.xorb_hash = *xh, .chunk_start = 0, .chunk_end = n};
  for (uint32_t i = 0; i < n; i++) t.unpacked_bytes += ch[i].unpacked_len;
  bk_shard_file f = {.file_hash = *fh, .nterms = 1, .terms = &t};
  bk_shard s = {.nfiles = 1, .files = &f};
  bk_hash sh;
  mk_hash(&sh, shard_seed);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 10, &s, bucket_id, NULL, NULL), 0);
}

/* 0 found (and *x = the xorb), else the error. */
static int look(bk_db *db, const bk_hash *c, int scope, int64_t bucket, bk_hash *x) {
  uint32_t idx = 99;
  bk_hash tmp;
  return bk_db_dedup_lookup(db, c, scope, bucket, x ? x : &tmp, &idx);
}

static void test_scopes(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/scope.sqlite", root);
  bk_db *db;
  CHECK_EQ_INT(bk_db_open(p, &db), 0);
  if (!db) return;
  bk_ns ua, ub;
  CHECK_EQ_INT(bk_db_user_add(db, "alice", &ua), 0);
  CHECK_EQ_INT(bk_db_user_add(db, "bob", &ub), 0);
  bk_bucket a1, a2, b1;
  CHECK_EQ_INT(bk_db_bucket_create(db, ua.id, "private", 1, &a1), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, ua.id, "other", 1, &a2), 0);
  CHECK_EQ_INT(bk_db_bucket_create(db, ub.id, "mine", 1, &b1), 0);

  bk_hash c, xa, fa, dx;
  mk_hash(&c, 7);
  memset(c.b + 24, 0, 8); /* eligible */
  bk_xorb_chunk ch[8];
  reg_xorb(db, &xa, 100, 4, 2, &c, ch);
  /* uploaded, shard not registered yet: nobody references it */
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_GLOBAL, b1.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xa));
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_NAMESPACE, a1.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, a1.id, NULL), BK_ENOTFOUND);
  /* the uploading bucket records its reference (cas_xorb.c does this) */
  CHECK_EQ_INT(bk_db_xorb_ref(db, &xa, a1.id), 0);
  CHECK_EQ_INT(bk_db_xorb_ref(db, &xa, a1.id), 0); /* idempotent */
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, a1.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xa));
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_NAMESPACE, a2.id, NULL), 0); /* same namespace */
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, a2.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_NAMESPACE, b1.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b1.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_GLOBAL, b1.id, NULL), 0);
  CHECK_EQ_INT(look(db, &c, 3, a1.id, NULL), BK_EINVAL);
  CHECK_EQ_INT(look(db, &c, -1, a1.id, NULL), BK_EINVAL);
  bk_hash unknown;
  mk_hash(&unknown, 999);
  CHECK_EQ_INT(bk_db_xorb_ref(db, &unknown, a1.id), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_xorb_ref(db, &xa, 99999), BK_ENOTFOUND);

  /* a file shard registered for bucket a2 (grant) references the xorb */
  mk_hash(&fa, 200);
  reg_file(db, &fa, &xa, ch, 4, a2.id, 201);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, a2.id, NULL), 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b1.id, NULL), BK_ENOTFOUND);

  /* bob uploads the same chunk in his own xorb: each scope answers with the
   * holder it may see; global answers with the lowest id */
  bk_hash xb;
  bk_xorb_chunk chb[8];
  reg_xorb(db, &xb, 300, 3, 0, &c, chb);
  CHECK_EQ_INT(bk_db_xorb_ref(db, &xb, b1.id), 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b1.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xb));
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_NAMESPACE, b1.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xb));
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, a1.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xa));
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_GLOBAL, b1.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xa));

  /* a batch add of alice's file into one of bob's buckets is refused without
   * a grant; without BK_BATCH_REQUIRE_GRANT (the web's own copy path) the
   * added file's xorbs become referenced */
  bk_bucket b2;
  CHECK_EQ_INT(bk_db_bucket_create(db, ub.id, "copy", 1, &b2), 0);
  bk_batch_op add = {.type = BK_OP_ADD, .path = "f", .xet_hash = fa, .mtime_ms = -1, .size = -1};
  size_t nf = 0;
  CHECK_EQ_INT(bk_db_batch(db, b2.id, &add, 1, BK_BATCH_REQUIRE_GRANT, &nf), 0);
  CHECK_EQ_INT(nf, 1);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b2.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_batch(db, b2.id, &add, 1, 0, &nf), 0);
  CHECK_EQ_INT(nf, 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b2.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xa));
  /* a grant (web upload of a known file) references the file's xorbs */
  bk_bucket b3;
  CHECK_EQ_INT(bk_db_bucket_create(db, ub.id, "granted", 1, &b3), 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b3.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_file_grant(db, &fa, b3.id), 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b3.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xa));

  /* a bucket that moves to another namespace takes its references along */
  bk_ns uc;
  CHECK_EQ_INT(bk_db_user_add(db, "carol", &uc), 0);
  bk_bucket c1;
  CHECK_EQ_INT(bk_db_bucket_create(db, uc.id, "c", 1, &c1), 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_NAMESPACE, c1.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_bucket_move(db, b3.id, uc.id, "moved"), 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_NAMESPACE, c1.id, &dx), 0);
  CHECK(bk_hash_eq(&dx, &xa));
  CHECK_EQ_INT(bk_db_bucket_move(db, b3.id, ub.id, "granted"), 0);
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_NAMESPACE, c1.id, NULL), BK_ENOTFOUND);

  /* deleting a bucket drops its references */
  CHECK_EQ_INT(bk_db_bucket_delete(db, a1.id), 0);
  char url[600], q[160];
  snprintf(url, sizeof url, "sqlite://%s", p);
  snprintf(q, sizeof q, "SELECT count(*) FROM xorb_refs WHERE bucket_id = %lld", (long long)a1.id);
  CHECK_EQ_INT(sql_int(url, q), 0);

  /* upgrade from schema 3: the references are rebuilt from files and grants
   * (the version is the SQLite dialect's PRAGMA user_version) */
  bk_db_close(db);
  CHECK_EQ_INT(meta_exec(url, "DROP TABLE xorb_refs; PRAGMA user_version=3;"), 0);
  CHECK_EQ_INT(bk_db_open(p, &db), 0);
  if (!db) return;
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, a2.id, &dx), 0); /* grant */
  CHECK(bk_hash_eq(&dx, &xa));
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b2.id, &dx), 0); /* listed file */
  CHECK(bk_hash_eq(&dx, &xa));
  /* bob's xorb had only its uploader: not recorded before schema 4 */
  CHECK_EQ_INT(look(db, &c, BK_DEDUP_BUCKET, b1.id, NULL), BK_ENOTFOUND);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  bk_db_close(db);
}

/* Large-ish store built with plain SQL: NX xorbs with CPX indexed chunks each,
 * NB buckets in NB/10 namespaces, every xorb referenced by REFS buckets.
 * Times lookups per scope (hits in scope, misses out of scope) and requires
 * the scoped lookups to stay point lookups (a scan of xorb_refs or dedup
 * would take milliseconds per call). */
#define NX 20000
#define CPX 10
#define NB 2000
#define REFS 10

static void test_lookup_time(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/big.sqlite", root);
  bk_db *db;
  CHECK_EQ_INT(bk_db_open(p, &db), 0);
  if (!db) return;
  bk_db_close(db);
  char url[600];
  snprintf(url, sizeof url, "sqlite://%s", p);
  char sql[2048];
  snprintf(sql, sizeof sql,
           "PRAGMA foreign_keys=OFF; BEGIN;"
           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
           " INSERT INTO namespaces(id, name, kind, created_ms) SELECT i, 'u' || i, 1, 0 FROM n;"
           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
           " INSERT INTO buckets(id, ns_id, name, private, created_ms, updated_ms)"
           " SELECT i, 1 + (i - 1) / 10, 'b' || i, 1, 0, 0 FROM n;"
           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
           " INSERT INTO xorbs(id, hash, bytes_on_disk, unpacked_bytes, nchunks, created_ms,"
           " touched_ms) SELECT i, randomblob(32), 1000, 1000, %d, 0, 0 FROM n;"
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
           " INSERT INTO dedup(chunk_hash, xorb_id, idx)"
           " SELECT CAST(printf('%%032d', i) AS BLOB), 1 + i / %d, i %% %d FROM n;"
           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
           " INSERT OR IGNORE INTO xorb_refs(bucket_id, xorb_id, ns_id)"
           " SELECT 1 + (i * 7919) %% %d, 1 + i / %d, 1 + ((i * 7919) %% %d) / 10 FROM n;"
           "COMMIT;",
           NB / 10, NB, NX, CPX, NX * CPX - 1, CPX, CPX, NX * REFS - 1, NB, REFS, NB);
  int r = meta_exec(url, sql); /* SQLite dialect (randomblob, printf) */
  if (r) fprintf(stderr, "build: %s\n", bk_errmsg());
  CHECK_EQ_INT(r, 0);
  CHECK_EQ_INT(bk_db_open(p, &db), 0);
  if (!db) return;

  /* chunk i lives in xorb 1 + i / CPX, referenced by buckets
   * 1 + (k * 7919) % NB for k in [x*REFS - REFS, x*REFS) (x = xorb id) */
  enum { N = 2000 };
  const char *names[3] = {"global", "namespace", "bucket"};
  double t_hit[3] = {0}, t_miss[3] = {0}, t_unknown[3] = {0};
  int hits[3] = {0}, misses[3] = {0}, unknown_found = 0;
  for (int scope = 0; scope < 3; scope++) {
    /* chunks nobody stored, spread over the key space like the stored ones
     * (next to a stored key: a stored key with its last digit replaced):
     * the baseline an out-of-scope miss is compared to */
    double t0 = now_ms();
    for (int k = 0; k < N; k++) {
      bk_hash c;
      char s[40];
      snprintf(s, sizeof s, "%032d", (int)(((uint64_t)k * 104729u) % (NX * CPX)));
      s[31] = 'u';
      memcpy(c.b, s, 32);
      if (look(db, &c, scope, 1 + k % NB, NULL) != BK_ENOTFOUND) unknown_found++;
    }
    t_unknown[scope] = (now_ms() - t0) / N;
    for (int pass = 0; pass < 2; pass++) { /* 0: caller in scope, 1: outside */
      double t0 = now_ms();
      for (int k = 0; k < N; k++) {
        int i = (int)(((uint64_t)k * 104729u) % (NX * CPX));
        int x = 1 + i / CPX;
        int64_t in = 1 + ((int64_t)(x - 1) * REFS * 7919) % NB;
        /* a bucket of another namespace that does not reference x */
        int64_t out = 1 + (in - 1 + NB / 2) % NB;
        bk_hash c;
        char s[40];
        snprintf(s, sizeof s, "%032d", i);
        memcpy(c.b, s, 32);
        int rc = look(db, &c, scope, pass ? out : in, NULL);
        if (rc == 0) (pass ? misses : hits)[scope]++;
      }
      (pass ? t_miss : t_hit)[scope] = (now_ms() - t0) / N;
    }
    printf("# dedup lookup, %s scope: %.1f us/lookup caller in scope (%d/%d found), "
           "%.1f us/lookup caller outside (%d/%d found), %.1f us/lookup unknown chunk; store %d "
           "xorbs, %d indexed chunks, %d buckets, %d references\n",
           names[scope], t_hit[scope] * 1e3, hits[scope], N, t_miss[scope] * 1e3, misses[scope],
           N, t_unknown[scope] * 1e3, NX, NX * CPX, NB, NX * REFS);
  }
  CHECK_EQ_INT(unknown_found, 0);
  CHECK_EQ_INT(hits[0], N);
  CHECK_EQ_INT(hits[1], N);
  CHECK_EQ_INT(hits[2], N);
  CHECK_EQ_INT(misses[0], N); /* global: everyone finds it */
  /* out-of-scope callers find nothing unless their bucket / namespace
   * happens to reference the xorb too (the bucket chosen never does) */
  CHECK_EQ_INT(misses[2], 0);
  CHECK(misses[1] < N / 10);
  /* point lookups: far below the milliseconds a scan of 200,000 dedup rows
   * or 200,000 references costs (generous for a loaded 2-core machine). A
   * hit also commits the xorb's touched_ms update (a write transaction),
   * which dominates its time and depends on the disk; a miss is the query
   * alone, so only misses are bounded. */
  for (int s = 1; s < 3; s++) CHECK(t_miss[s] < 2.0);
  bk_db_close(db);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_dscope_XXXXXX");
  if (!mkdtemp(root)) return 1;
  RUN(test_scopes);
  RUN(test_lookup_time);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
