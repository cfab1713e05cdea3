/* Unit tests: the blob half of xorb/shard registration and checks, driven
 * by the storage service (src/service/svc_check.c) over a real SQLite
 * database and a real blob store (moved here from tests/unit/store/test_db.c
 * when the metadata layer stopped touching blobs: same checks; a
 * registration that finds its blob gone answers BK_ESTALE at the service,
 * where bk_db_xorb_register answered BK_ENOTFOUND). Also: the register vs gc
 * race under the BK_TX_GC_FENCE fence (two threads), gc rolling back and
 * untrashing when its orphan transaction fails, and the damaged-state
 * verdicts of the xorb check. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/blobstore.h"
#include "store/db.h"
#include "buckets/error.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"
#include "store/blob_fs.h" /* bk_blob_path: tests damage blobs on disk */
#include "../test.h"
#include "../store/meta_fixtures.h"
#include "../store/meta_sql.h" /* meta_base: BK_TEST_DB_URLS (SQLite + PostgreSQL) */

static char root[200];
static int dbn;

static bk_db *fresh_db(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/db%d.sqlite", meta_base, dbn++);
  bk_db *db = NULL;
  if (bk_db_open_url(p, &db) != 0) {
    fprintf(stderr, "open: %s\n", bk_errmsg());
    return NULL;
  }
  return db;
}


/* A service over a borrowed db and blob store. */
static bk_svc *svc_over(bk_db *db, bk_blobstore *bs) {
  struct bk_svc_config cfg = {.db = db, .blobs = bs, .reverify_ms = 0};
  bk_svc *s = NULL;
  if (bk_svc_open(&cfg, &s)) return NULL;
  return s;
}

/* The service's registration (svc_xorb_register) with flags and a writer. */
static int reg_flags(bk_db *db, bk_blobstore *bs, const bk_hash *x, uint64_t len,
                     const bk_xorb_chunk *ch, size_t n, unsigned flags, bk_blob_writer *w,
                     int *existed) {
  bk_svc *s = svc_over(db, bs);
  if (!s) {
    bk_blob_writer_abort(w);
    return BK_EINVAL;
  }
  int rc = svc_xorb_register(s, x, len, ch, n, flags, w, existed);
  bk_svc_close(s);
  return rc;
}

static int reg_ex(bk_db *db, bk_blobstore *bs, unsigned flags, bk_blob_writer *w,
                  const bk_hash *x, uint64_t len, const bk_xorb_chunk *ch, size_t n,
                  int *existed) {
  return reg_flags(db, bs, x, len, ch, n, flags, w, existed);
}

static int xcheck(bk_db *db, bk_blobstore *bs, const bk_hash *x, int64_t max_age_ms) {
  bk_svc *s = svc_over(db, bs);
  if (!s) return BK_EINVAL;
  int rc = svc_xorb_check(s, x, max_age_ms);
  bk_svc_close(s);
  return rc;
}

static int scheck(bk_db *db, bk_blobstore *bs, const bk_hash *sh) {
  bk_svc *s = svc_over(db, bs);
  if (!s) return BK_EINVAL;
  int rc = svc_shard_check(s, sh);
  bk_svc_close(s);
  return rc;
}



/* Builds a one-file shard struct (terms point into static storage). */
static bk_shard_term g_terms[8];
static bk_shard_file g_file;
static bk_shard g_shard;


/* A registration that finds no blob, or a stored blob that is not a valid
 * serialization (removed, not adopted), registers nothing: BK_ESTALE. */
static void test_xorb_blob_presence(void) {
  bk_db *db = fresh_db();
  if (!db) { CHECK(0); return; }
  bk_hash x;
  bk_xorb_chunk ch[5];
  reg_xorb(db, &x, 9, 5, 2, ch);
  /* blob presence check with a store */
  char p[400];
  snprintf(p, sizeof p, "%s/blobs-x", root);
  bk_blobstore *store;
  CHECK_EQ_INT(bk_blobstore_open(p, &store), 0);
  bk_hash y;
  mk_hash(&y, 31337);
  CHECK_EQ_INT(reg_ex(db, store, 0, NULL, &y, 1000, ch, 2, NULL), BK_ESTALE);
  /* a stored blob that is not a valid serialization is removed, not adopted */
  CHECK_EQ_INT(bk_blob_put(store, BK_BLOB_XORB, &y, "x", 1, NULL), 0);
  CHECK_EQ_INT(reg_ex(db, store, 0, NULL, &y, 1000, ch, 2, NULL), BK_ESTALE);
  CHECK_EQ_INT(bk_blob_exists(store, BK_BLOB_XORB, &y), 0);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &y), 0);
  bk_blobstore_close(store);
  bk_db_close(db);
}

/* Two clients, two serializations (compressed / raw) of one xorb hash. */
static int built_xorb(int compress, bk_hash *h, bk_buf *body, bk_xorb_chunk *ch, size_t *n) {
  bk_xorb_builder *b;
  if (bk_xorb_builder_new(compress, &b)) return -1;
  static uint8_t data[3][30000];
  for (int c = 0; c < 3; c++)
    for (size_t i = 0; i < sizeof data[c]; i++) data[c][i] = (uint8_t)((i / 7) % 5 + c);
  for (int c = 0; c < 3; c++)
    if (bk_xorb_builder_add(b, data[c], sizeof data[c], NULL)) return -2;
  const uint8_t *p;
  size_t len;
  if (bk_xorb_builder_finish(b, h, &p, &len)) return -3;
  bk_buf_init(body, 1 << 20);
  if (bk_buf_append(body, p, len)) return -4;
  *n = bk_xorb_builder_count(b);
  memcpy(ch, bk_xorb_builder_chunks(b), *n * sizeof *ch);
  bk_xorb_builder_free(b);
  return 0;
}

static void test_xorb_serializations(void) {
  bk_hash ha, hb;
  bk_buf A, B;
  bk_xorb_chunk ca[3], cb[3], got[3];
  size_t na = 0, nb = 0;
  CHECK_EQ_INT(built_xorb(1, &ha, &A, ca, &na), 0);
  CHECK_EQ_INT(built_xorb(0, &hb, &B, cb, &nb), 0);
  CHECK(bk_hash_eq(&ha, &hb));
  CHECK(A.len < B.len); /* compressed vs raw: same xorb, other bytes */
  CHECK_EQ_INT(na, 3);
  bk_db *db = fresh_db();
  char p[400];
  snprintf(p, sizeof p, "%s/blobs-ser", root);
  bk_blobstore *bs;
  CHECK_EQ_INT(bk_blobstore_open(p, &bs), 0);
  if (!db || !bs) return;
  int existed = -1;
  /* 1. A first; B's upload keeps A's blob and A's row */
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &ha, A.p, A.len, &existed), 0);
  CHECK_EQ_INT(reg_ex(db, bs, 0, NULL, &ha, A.len, ca, na, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &hb, B.p, B.len, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK_EQ_INT(reg_ex(db, bs, 0, NULL, &hb, B.len, cb, nb, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  bk_xorb_info xi;
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.bytes_on_disk, A.len);
  CHECK_EQ_INT(bk_db_xorb_chunks(db, &ha, 0, 3, got), 0);
  CHECK_EQ_INT(got[2].record_len, ca[2].record_len);
  /* 2. the blob was replaced behind the row (operator removed it, the next
   *    upload was B): the row is re-laid out to B */
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &ha), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &hb, B.p, B.len, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(reg_ex(db, bs, 0, NULL, &hb, B.len, cb, nb, &existed), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.bytes_on_disk, B.len);
  CHECK_EQ_INT(bk_db_xorb_chunks(db, &ha, 0, 3, got), 0);
  CHECK_EQ_INT(got[1].record_offset, cb[1].record_offset);
  CHECK_EQ_INT(got[2].record_len, cb[2].record_len);
  uint64_t b0, b1;
  CHECK_EQ_INT(bk_db_xorb_range(db, &ha, 0, 3, &b0, &b1, NULL), 0);
  CHECK_EQ_INT(b1, B.len - 1);
  /* 3. no row yet, but B is stored and A registers: B's table is adopted */
  bk_db *db2 = fresh_db();
  CHECK_EQ_INT(reg_ex(db2, bs, 0, NULL, &ha, A.len, ca, na, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK_EQ_INT(bk_db_xorb_get(db2, &ha, &xi), 0);
  CHECK_EQ_INT(xi.bytes_on_disk, B.len);
  CHECK_EQ_INT(bk_db_xorb_chunks(db2, &ha, 0, 3, got), 0);
  CHECK_EQ_INT(got[2].record_len, cb[2].record_len);
  CHECK(bk_hash_eq(&got[1].hash, &ca[1].hash));
  /* 4. the stored blob is corrupted: removed, the uploader puts again */
  char bp[600];
  bk_blob_path(bs, BK_BLOB_XORB, &ha, bp, sizeof bp);
  FILE *f = fopen(bp, "r+b");
  if (f) {
    fputs("garbage!", f);
    fclose(f);
  }
  CHECK_EQ_INT(reg_ex(db, bs, 0, NULL, &ha, A.len, ca, na, &existed), BK_ESTALE);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &ha), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &ha, A.p, A.len, &existed), 0);
  CHECK_EQ_INT(reg_ex(db, bs, 0, NULL, &ha, A.len, ca, na, &existed), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.bytes_on_disk, A.len);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  /* 5. a stored xorb that carries the footer (uploaded with it) */
  {
    bk_xorb *px = NULL;
    CHECK_EQ_INT(bk_xorb_parse(A.p, A.len, 0, &ha, &px), 0);
    bk_buf F;
    bk_buf_init(&F, 1 << 20);
    CHECK_EQ_INT(bk_buf_append(&F, A.p, A.len), 0);
    if (px) CHECK_EQ_INT(bk_xorb_footer(px, &F), 0);
    bk_xorb_free(px);
    CHECK(F.len > A.len);
    bk_db *db3 = fresh_db();
    char p3[400];
    snprintf(p3, sizeof p3, "%s/blobs-footer", root);
    bk_blobstore *bs3;
    CHECK_EQ_INT(bk_blobstore_open(p3, &bs3), 0);
    CHECK_EQ_INT(bk_blob_put(bs3, BK_BLOB_XORB, &ha, F.p, F.len, NULL), 0);
    CHECK_EQ_INT(reg_ex(db3, bs3, 0, NULL, &ha, F.len, ca, na, &existed), 0);
    CHECK_EQ_INT(bk_db_xorb_get(db3, &ha, &xi), 0);
    CHECK_EQ_INT(xi.bytes_on_disk, F.len);
    /* registering the footer-less length against it adopts the stored one */
    bk_db *db4 = fresh_db();
    CHECK_EQ_INT(reg_ex(db4, bs3, 0, NULL, &ha, A.len, ca, na, &existed), 0);
    CHECK_EQ_INT(bk_db_xorb_get(db4, &ha, &xi), 0);
    CHECK_EQ_INT(xi.bytes_on_disk, F.len);
    CHECK_EQ_INT(bk_db_xorb_range(db4, &ha, 0, 3, &b0, &b1, NULL), 0);
    CHECK_EQ_INT(b1, A.len - 1); /* records end before the footer */
    bk_db_close(db4);
    bk_db_close(db3);
    bk_blobstore_close(bs3);
    bk_buf_free(&F);
  }
  bk_buf_free(&A);
  bk_buf_free(&B);
  bk_blobstore_close(bs);
  bk_db_close(db2);
  bk_db_close(db);
}

static void flip_byte(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h, double frac) {
  char bp[600];
  bk_blob_path(bs, k, h, bp, sizeof bp);
  struct stat st;
  CHECK_EQ_INT(stat(bp, &st), 0);
  FILE *f = fopen(bp, "r+b");
  CHECK(f != NULL);
  if (!f) return;
  long off = (long)((double)st.st_size * frac);
  fseek(f, off, SEEK_SET);
  int c = fgetc(f);
  fseek(f, off, SEEK_SET);
  fputc(c ^ 0x40, f);
  fclose(f);
}

static int blob_equals(bk_blobstore *bs, const bk_hash *h, const bk_buf *want) {
  bk_buf b;
  bk_buf_init(&b, 1 << 20);
  int ok = bk_blob_get(bs, BK_BLOB_XORB, h, b.max, &b) == 0 && b.len == want->len &&
           memcmp(b.p, want->p, b.len) == 0;
  bk_buf_free(&b);
  return ok;
}

/* Verified bytes that could not be committed because a blob of that name is
 * stored: a writer holding them (what server-cas hands to register_ex). */
static bk_blob_writer *pending(bk_blobstore *bs, const bk_hash *h, const bk_buf *body) {
  bk_blob_writer *w = NULL;
  CHECK_EQ_INT(bk_blob_writer_open(bs, BK_BLOB_XORB, &w), 0);
  if (!w) return NULL;
  CHECK_EQ_INT(bk_blob_writer_write(w, body->p, body->len), 0);
  int ex = -1;
  CHECK_EQ_INT(bk_blob_writer_try_commit(w, h, &ex), 0);
  CHECK_EQ_INT(ex, 1); /* stored already: w stays open */
  return w;
}

struct drefs { int n; char last[200]; };
static int dref_cb(void *ctx, const bk_damaged_ref *r) {
  struct drefs *d = ctx;
  d->n++;
  snprintf(d->last, sizeof d->last, "%s/%s/%s", r->ns, r->bucket, r->path);
  return 0;
}

static void test_damaged_xorbs(void) {
  bk_hash ha, hb;
  bk_buf A, B;
  bk_xorb_chunk ca[3], cb[3], got[3];
  size_t na = 0, nb = 0;
  CHECK_EQ_INT(built_xorb(1, &ha, &A, ca, &na), 0);
  CHECK_EQ_INT(built_xorb(0, &hb, &B, cb, &nb), 0);
  bk_db *db = fresh_db();
  char p[400];
  snprintf(p, sizeof p, "%s/blobs-dmg", root);
  bk_blobstore *bs;
  CHECK_EQ_INT(bk_blobstore_open(p, &bs), 0);
  if (!db || !bs) return;
  bk_ns u;
  CHECK_EQ_INT(bk_db_user_add(db, "dmg", &u), 0);
  bk_bucket bu;
  CHECK_EQ_INT(bk_db_bucket_create(db, u.id, "b", 0, &bu), 0);

  /* a freshly uploaded (verified) xorb is recorded as verified */
  int existed = -1;
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &ha, A.p, A.len, &existed), 0);
  CHECK_EQ_INT(reg_flags(db, bs, &ha, A.len, ca, na, BK_XORB_REG_VERIFIED, NULL,
                                      &existed), 0);
  CHECK_EQ_INT(existed, 0);
  bk_xorb_info xi;
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);
  CHECK(xi.verified_ms > 0);
  CHECK(xi.blob_stamp != 0);
  CHECK_EQ_INT(xcheck(db, bs, &ha, 86400000), 0);

  /* a file uses it; its first chunk enters the dedup index */
  bk_hash fh, sh;
  mk_hash(&fh, 9001);
  mk_hash(&sh, 9002);
  memset(g_terms, 0, sizeof g_terms);
  memset(&g_file, 0, sizeof g_file);
  memset(&g_shard, 0, sizeof g_shard);
  g_terms[0].xorb_hash = ha;
  g_terms[0].chunk_start = 0;
  g_terms[0].chunk_end = 3;
  g_terms[0].unpacked_bytes = ca[0].unpacked_len + ca[1].unpacked_len + ca[2].unpacked_len;
  g_file.file_hash = fh;
  g_file.nterms = 1;
  g_file.terms = g_terms;
  g_shard.nfiles = 1;
  g_shard.files = &g_file;
  CHECK_EQ_INT(bk_db_shard_register(db, &sh, 10, &g_shard, bu.id, NULL, NULL), 0);
  bk_batch_op add = {.type = BK_OP_ADD, .path = "dir/f.bin", .xet_hash = fh, .mtime_ms = -1,
                     .size = -1};
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, bu.id, &add, 1, 0, &nf), 0);
  bk_hash dx;
  uint32_t idx;
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &ca[0].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), 0);
  CHECK(bk_hash_eq(&dx, &ha));

  /* one flipped byte, not yet read by anyone: the change token differs, so
   * the check reads the blob, finds the damage and marks it */
  flip_byte(bs, BK_BLOB_XORB, &ha, 0.5);
  CHECK_EQ_INT(xcheck(db, bs, &ha, 86400000), BK_EHASH);
  CHECK(strstr(bk_errmsg(), "damaged") != NULL);
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 1);
  CHECK_EQ_INT(xcheck(db, bs, &ha, 86400000), BK_EHASH); /* stays refused */
  /* never offered by dedup, never accepted as a reference */
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &ca[0].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), BK_ENOTFOUND);
  bk_hash fh2, sh2, missing;
  mk_hash(&fh2, 9003);
  mk_hash(&sh2, 9004);
  g_file.file_hash = fh2;
  memset(&missing, 0, sizeof missing);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh2, 10, &g_shard, bu.id, &missing, NULL), BK_EHASH);
  CHECK(bk_hash_eq(&missing, &ha));
  /* the files that use it are listed with their bucket/path */
  struct drefs d = {0};
  CHECK_EQ_INT(bk_db_damaged_refs(db, dref_cb, &d), 0);
  CHECK_EQ_INT(d.n, 1);
  CHECK_EQ_STR(d.last, "dmg/b/dir/f.bin");

  /* verified bytes of another serialization replace the damaged blob; the
   * row is re-laid out to them */
  bk_blob_writer *w = pending(bs, &hb, &B);
  CHECK_EQ_INT(reg_flags(db, bs, &hb, B.len, cb, nb, 0, w, &existed), 0);
  CHECK_EQ_INT(existed, 0); /* was_inserted: true */
  CHECK(blob_equals(bs, &ha, &B));
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);
  CHECK_EQ_INT(xi.bytes_on_disk, B.len);
  CHECK_EQ_INT(bk_db_xorb_chunks(db, &ha, 0, 3, got), 0);
  CHECK_EQ_INT(got[2].record_offset, cb[2].record_offset);
  CHECK_EQ_INT(xcheck(db, bs, &ha, 86400000), 0);
  CHECK_EQ_INT(bk_db_dedup_lookup(db, &ca[0].hash, BK_DEDUP_GLOBAL, 0, &dx, &idx), 0);
  d.n = 0;
  CHECK_EQ_INT(bk_db_damaged_refs(db, dref_cb, &d), 0);
  CHECK_EQ_INT(d.n, 0);

  /* the stored blob no longer verifies but is not marked: still replaced */
  flip_byte(bs, BK_BLOB_XORB, &ha, 0.7);
  w = pending(bs, &ha, &A);
  CHECK_EQ_INT(reg_flags(db, bs, &ha, A.len, ca, na, 0, w, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  CHECK(blob_equals(bs, &ha, &A));
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.bytes_on_disk, A.len);
  /* an intact stored blob is kept (another client's compression choice) */
  w = pending(bs, &hb, &B);
  CHECK_EQ_INT(reg_flags(db, bs, &hb, B.len, cb, nb, 0, w, &existed), 0);
  CHECK_EQ_INT(existed, 1);
  CHECK(blob_equals(bs, &ha, &A));
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.bytes_on_disk, A.len);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);

  /* a forced check (fsck --read-data, scrub) clears a mark the blob no
   * longer deserves (restored by an operator) */
  CHECK_EQ_INT(bk_db_xorb_set_damaged(db, &ha, 1), 0);
  CHECK_EQ_INT(xcheck(db, bs, &ha, 86400000), BK_EHASH);
  CHECK_EQ_INT(xcheck(db, bs, &ha, -1), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &ha, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);

  /* a re-registered file whose stored terms use a damaged xorb takes the
   * new shard's terms */
  bk_hash hc;
  bk_xorb_chunk cc[3];
  reg_xorb(db, &hc, 777, 3, -1, cc);
  for (int i = 0; i < 3; i++) cc[i].unpacked_len = ca[i].unpacked_len;
  {
    /* a xorb with the same unpacked lengths as A's chunks */
    uint32_t ro = 0, uo = 0;
    mk_hash(&hc, 778);
    for (int i = 0; i < 3; i++) {
      cc[i].record_offset = ro;
      cc[i].unpacked_offset = uo;
      ro += cc[i].record_len;
      uo += cc[i].unpacked_len;
    }
    CHECK_EQ_INT(bk_db_xorb_register(db, &hc, ro, cc, 3, NULL), 0);
  }
  CHECK_EQ_INT(bk_db_xorb_set_damaged(db, &ha, 1), 0);
  g_file.file_hash = fh;
  g_terms[0].xorb_hash = hc;
  bk_hash sh3;
  mk_hash(&sh3, 9005);
  CHECK_EQ_INT(bk_db_shard_register(db, &sh3, 10, &g_shard, bu.id, NULL, NULL), 0);
  bk_file_term *ft = NULL;
  size_t nft = 0;
  CHECK_EQ_INT(bk_db_cas_file_terms(db, &fh, &ft, &nft), 0);
  CHECK_EQ_INT(nft, 1);
  if (nft == 1) CHECK(bk_hash_eq(&ft[0].xorb, &hc));
  free(ft);
  d.n = 0;
  CHECK_EQ_INT(bk_db_damaged_refs(db, dref_cb, &d), 0);
  CHECK_EQ_INT(d.n, 0);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);

  /* shards: a stored shard that no longer hashes to its name */
  bk_buf sb;
  bk_buf_init(&sb, 1 << 20);
  CHECK_EQ_INT(bk_buf_append(&sb, "shard bytes for the test", 24), 0);
  bk_hash shh;
  bk_blake3(sb.p, sb.len, shh.b);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &shh, sb.p, sb.len, NULL), 0);
  g_terms[0].xorb_hash = hc;
  CHECK_EQ_INT(bk_db_shard_register(db, &shh, sb.len, &g_shard, bu.id, NULL, NULL), 0);
  CHECK_EQ_INT(scheck(db, bs, &shh), 0);
  flip_byte(bs, BK_BLOB_SHARD, &shh, 0.5);
  CHECK_EQ_INT(scheck(db, bs, &shh), BK_EHASH);
  CHECK_EQ_INT(bk_blob_replace(bs, BK_BLOB_SHARD, &shh, sb.p, sb.len), 0);
  CHECK_EQ_INT(scheck(db, bs, &shh), 0);
  bk_buf_free(&sb);

  /* scrub resume point */
  int64_t cur = -1;
  CHECK_EQ_INT(bk_db_scrub_cursor(db, BK_BLOB_XORB, &cur), 0);
  CHECK_EQ_INT(cur, 0);
  CHECK_EQ_INT(bk_db_scrub_set_cursor(db, BK_BLOB_XORB, 42), 0);
  CHECK_EQ_INT(bk_db_scrub_cursor(db, BK_BLOB_XORB, &cur), 0);
  CHECK_EQ_INT(cur, 42);
  CHECK_EQ_INT(bk_db_scrub_cursor(db, BK_BLOB_SHARD, &cur), 0);
  CHECK_EQ_INT(cur, 0);

  bk_buf_free(&A);
  bk_buf_free(&B);
  bk_blobstore_close(bs);
  bk_db_close(db);
}

/* A v4 store (no damaged state) upgrades to v5 in place; rows read as
 * intact and never verified. */
/* ---- register vs gc under the fence ---- */

/* A serialized xorb of 2 small incompressible chunks derived from seed. */
static int tiny_xorb(uint64_t seed, bk_hash *xh, bk_buf *body, bk_xorb_chunk *ch, size_t *n) {
  bk_xorb_builder *xb = NULL;
  if (bk_xorb_builder_new(0, &xb)) return -1;
  uint8_t data[700];
  for (int c = 0; c < 2; c++) {
    uint64_t v = seed * 7919 + (uint64_t)c;
    for (size_t i = 0; i < sizeof data; i++) {
      v = v * 6364136223846793005ull + 1442695040888963407ull;
      data[i] = (uint8_t)(v >> 56);
    }
    if (bk_xorb_builder_add(xb, data, sizeof data, NULL)) return -2;
  }
  const uint8_t *p;
  size_t len;
  if (bk_xorb_builder_finish(xb, xh, &p, &len)) return -3;
  bk_buf_init(body, 1 << 20);
  if (bk_buf_append(body, p, len)) return -4;
  *n = bk_xorb_builder_count(xb);
  memcpy(ch, bk_xorb_builder_chunks(xb), *n * sizeof *ch);
  bk_xorb_builder_free(xb);
  return 0;
}

#define RACE_ROUNDS 150
struct race {
  bk_svc *svc;
  bk_blobstore *bs;
  volatile int stop;
  int ok, stale, other;
  int bad_registered; /* registered (0) but the row or the blob is missing */
  int bad_stale;      /* BK_ESTALE but a row was left */
  bk_hash done[RACE_ROUNDS];
  int done_ok[RACE_ROUNDS];
  int gc_runs, gc_errors;
};

static void *race_register(void *arg) {
  struct race *r = arg;
  for (int i = 0; i < RACE_ROUNDS; i++) {
    bk_hash xh;
    bk_buf body;
    bk_xorb_chunk ch[4];
    size_t n = 0;
    if (tiny_xorb(5000 + (uint64_t)i, &xh, &body, ch, &n)) {
      r->other++;
      continue;
    }
    int rc = bk_blob_put(r->bs, BK_BLOB_XORB, &xh, body.p, body.len, NULL);
    /* aged at once, so that gc takes it for an orphan until its row exists
     * (staged writes in flight stay younger than gc's cutoff) */
    char bp[600];
    bk_blob_path(r->bs, BK_BLOB_XORB, &xh, bp, sizeof bp);
    struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
    if (rc == 0 && utimensat(AT_FDCWD, bp, old, 0) != 0) rc = BK_EIO;
    if (rc == 0) rc = svc_xorb_register(r->svc, &xh, body.len, ch, n, BK_XORB_REG_VERIFIED, NULL,
                                        NULL);
    int row = bk_db_xorb_exists(bk_svc_db(r->svc), &xh);
    int blob = bk_blob_exists(r->bs, BK_BLOB_XORB, &xh);
    r->done[i] = xh;
    r->done_ok[i] = rc == 0;
    if (rc == 0) {
      r->ok++;
      if (row != 1 || blob != 1) r->bad_registered++;
    } else if (rc == BK_ESTALE) {
      r->stale++;
      if (row != 0) r->bad_stale++;
    } else {
      if (r->other++ < 3) fprintf(stderr, "  register: %s (%s)\n", bk_strerror(rc), bk_errmsg());
    }
    bk_buf_free(&body);
  }
  r->stop = 1;
  return NULL;
}

static void *race_gc(void *arg) {
  struct race *r = arg;
  /* rows are never old enough (cutoff_ms 1): only blobs without a row go,
   * those aged by race_register (cutoff_s an hour ago) */
  for (int i = 0; !r->stop && i < 100000; i++) {
    bk_svc_gc_result res;
    const char *what = NULL;
    if (bk_svc_gc(r->svc, 1, (int64_t)time(NULL) - 3600, 64, &res, &what) != 0) r->gc_errors++;
    r->gc_runs++;
  }
  return NULL;
}

/* gc never removes a blob whose row a concurrent registration committed; a
 * registration whose blob gc removed gets BK_ESTALE and registers nothing. */
static void test_register_gc_race(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/blobs-race", root);
  bk_db *db = fresh_db();
  bk_blobstore *bs = NULL;
  CHECK_EQ_INT(bk_blobstore_open(p, &bs), 0);
  if (!db || !bs) return;
  struct race *r = calloc(1, sizeof *r);
  if (!r) return;
  r->svc = svc_over(db, bs);
  r->bs = bs;
  CHECK(r->svc != NULL);
  if (!r->svc) return;
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
  /* after the race, one more gc: every registered xorb keeps its blob */
  bk_svc_gc_result res;
  CHECK_EQ_INT(bk_svc_gc(r->svc, 1, (int64_t)time(NULL) - 3600, 64, &res, NULL), 0);
  int lost = 0;
  for (int i = 0; i < RACE_ROUNDS; i++)
    if (r->done_ok[i] && bk_blob_exists(bs, BK_BLOB_XORB, &r->done[i]) != 1) lost++;
  CHECK_EQ_INT(lost, 0);
  CHECK_EQ_INT(bk_db_check(db, NULL, NULL), 0);
  fprintf(stderr, "  race: %d registered, %d BK_ESTALE, %d gc runs\n", r->ok, r->stale,
          r->gc_runs);
  bk_svc_close(r->svc);
  free(r);
  bk_blobstore_close(bs);
  bk_db_close(db);
}

/* ---- gc rolls back and untrashes ---- */

static int count_trash(void *ctx, bk_blob_kind k, const bk_hash *h, uint64_t size, int64_t mt) {
  (void)k, (void)h, (void)size, (void)mt;
  (*(int *)ctx)++;
  return 0;
}

/* The orphan step trashes inside one fence transaction: when a later blob of
 * the batch cannot be trashed, the transaction rolls back and the blobs
 * already trashed are put back (none is lost, none stays in the trash). */
static void test_gc_rollback_untrash(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/blobs-rb", root);
  bk_db *db = fresh_db();
  bk_blobstore *bs = NULL;
  CHECK_EQ_INT(bk_blobstore_open(p, &bs), 0);
  if (!db || !bs) return;
  bk_svc *svc = svc_over(db, bs);
  CHECK(svc != NULL);
  if (!svc) return;
  /* two orphans: a xorb (listed first) and a shard */
  bk_hash xh, sh;
  bk_buf body;
  bk_xorb_chunk ch[4];
  size_t n = 0;
  CHECK_EQ_INT(tiny_xorb(77, &xh, &body, ch, &n), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &xh, body.p, body.len, NULL), 0);
  const char *sbytes = "orphan shard bytes";
  bk_blake3(sbytes, strlen(sbytes), sh.b);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &sh, sbytes, strlen(sbytes), NULL), 0);
  /* the shard cannot go to the trash: a non-empty directory holds its name */
  char hex[BK_HASH_HEX_LEN + 1], block[700], inner[800];
  bk_hash_to_hex(&sh, hex);
  snprintf(block, sizeof block, "%s/trash/%s-%s", p, bk_blob_kind_name(BK_BLOB_SHARD), hex);
  snprintf(inner, sizeof inner, "%s/x", block);
  CHECK_EQ_INT(mkdir(block, 0700), 0);
  FILE *f = fopen(inner, "w");
  CHECK(f != NULL);
  if (f) fclose(f);
  bk_svc_gc_result res;
  const char *what = NULL;
  int64_t later = (int64_t)time(NULL) + 3600;
  CHECK(bk_svc_gc(svc, 1, later, 64, &res, &what) != 0);
  CHECK(what && strcmp(what, "gc (orphans)") == 0);
  CHECK_EQ_INT(res.orphans, 0);
  /* the xorb was trashed first, then put back by the rollback */
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &xh), 1);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &sh), 1);
  int ntrash = 0;
  CHECK_EQ_INT(bk_blob_trash_list(bs, count_trash, &ntrash), 0);
  CHECK_EQ_INT(ntrash, 1); /* only the blocking directory */
  /* unblocked: both go */
  CHECK_EQ_INT(unlink(inner), 0);
  CHECK_EQ_INT(rmdir(block), 0);
  CHECK_EQ_INT(bk_svc_gc(svc, 1, later, 64, &res, &what), 0);
  CHECK_EQ_INT(res.orphans, 2);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &xh), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &sh), 0);
  ntrash = 0;
  CHECK_EQ_INT(bk_blob_trash_list(bs, count_trash, &ntrash), 0);
  CHECK_EQ_INT(ntrash, 0);
  bk_buf_free(&body);
  bk_svc_close(svc);
  bk_blobstore_close(bs);
  bk_db_close(db);
}

/* ---- damaged-state verdicts of the xorb check ---- */

static void test_check_verdicts(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/blobs-verdict", root);
  bk_db *db = fresh_db();
  bk_blobstore *bs = NULL;
  CHECK_EQ_INT(bk_blobstore_open(p, &bs), 0);
  if (!db || !bs) return;
  bk_hash xh;
  bk_buf body;
  bk_xorb_chunk ch[4];
  size_t n = 0;
  CHECK_EQ_INT(tiny_xorb(99, &xh, &body, ch, &n), 0);
  CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_XORB, &xh, body.p, body.len, NULL), 0);
  /* registered without a verification: never verified */
  CHECK_EQ_INT(reg_flags(db, bs, &xh, body.len, ch, n, 0, NULL, NULL), 0);
  bk_xorb_info xi;
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.verified_ms, 0);
  flip_byte(bs, BK_BLOB_XORB, &xh, 0.6);
  /* "changed since verified" only: a never-verified row is trusted */
  CHECK_EQ_INT(xcheck(db, bs, &xh, INT64_MAX), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);
  /* a forced check reads it: damaged, marked */
  CHECK_EQ_INT(xcheck(db, bs, &xh, -1), BK_EHASH);
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 1);
  /* a marked xorb stays refused by an ordinary check, even once repaired */
  CHECK_EQ_INT(bk_blob_replace(bs, BK_BLOB_XORB, &xh, body.p, body.len), 0);
  CHECK_EQ_INT(xcheck(db, bs, &xh, 86400000), BK_EHASH);
  /* a forced check clears the mark and records the verification */
  CHECK_EQ_INT(xcheck(db, bs, &xh, -1), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);
  CHECK(xi.verified_ms > 0);
  CHECK(xi.blob_stamp != 0);
  /* a damaged verdict from a check that started before that verification is
   * not recorded (a repairing upload won the race) */
  CHECK_EQ_INT(bk_db_xorb_set_verdict(db, &xh, 1, xi.verified_ms - 1, 0), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 0);
  CHECK_EQ_INT(bk_db_xorb_set_verdict(db, &xh, 1, xi.verified_ms, 0), 0);
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 1);
  CHECK_EQ_INT(xcheck(db, bs, &xh, -1), 0);
  /* a missing blob counts as damaged */
  CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_XORB, &xh), 0);
  CHECK_EQ_INT(xcheck(db, bs, &xh, 86400000), BK_EHASH);
  CHECK_EQ_INT(bk_db_xorb_get(db, &xh, &xi), 0);
  CHECK_EQ_INT(xi.damaged, 1);
  /* unknown xorb: BK_ENOTFOUND, nothing recorded */
  bk_hash nx;
  mk_hash(&nx, 4242);
  CHECK_EQ_INT(xcheck(db, bs, &nx, -1), BK_ENOTFOUND);
  bk_buf_free(&body);
  bk_blobstore_close(bs);
  bk_db_close(db);
}

/* ---- opened by URL; gc's temp cleanup through the blob store ---- */

static void test_open_by_url(void) {
  char dburl[400], bloburl[420], bdir[400];
  snprintf(dburl, sizeof dburl, "sqlite://%s/url.db", root);
  snprintf(bdir, sizeof bdir, "%s/blobs-url", root);
  snprintf(bloburl, sizeof bloburl, "file://%s", bdir);
  struct bk_svc_config cfg = {.db_url = dburl, .blob_url = bloburl};
  bk_svc *svc = NULL;
  CHECK_EQ_INT(bk_svc_open(&cfg, &svc), 0);
  if (!svc) return;
  CHECK(bk_svc_db(svc) != NULL);
  /* a xorb put through the URL-opened stores lands in them */
  bk_hash xh;
  bk_buf body;
  bk_xorb_chunk ch[4];
  size_t n = 0;
  CHECK_EQ_INT(tiny_xorb(314, &xh, &body, ch, &n), 0);
  bk_svc_xorb_put *p = NULL;
  CHECK_EQ_INT(bk_svc_xorb_open(svc, &xh, 0, (int64_t)body.len, &p), 0);
  int ins = -1, vf = -1;
  if (p) {
    bk_svc_xorb_write(p, body.p, body.len);
    CHECK_EQ_INT(bk_svc_xorb_commit(p, &ins, &vf), BK_ENOTFOUND); /* no bucket 0 to reference */
  }
  bk_svc_xorb_free(p);
  CHECK_EQ_INT(bk_db_xorb_exists(bk_svc_db(svc), &xh), 1);
  /* leftovers of interrupted writes: in <root>/tmp and next to a blob */
  char hex[BK_HASH_HEX_LEN + 1], stray[900], tmpf[900];
  bk_hash_to_hex(&xh, hex);
  snprintf(stray, sizeof stray, "%s/xorbs/%.2s/%.2s/.tmp.%s.0000000000000001", bdir, hex, hex + 2,
           hex);
  snprintf(tmpf, sizeof tmpf, "%s/tmp/.tmp.blob.0000000000000002", bdir);
  struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
  for (int i = 0; i < 2; i++) {
    const char *f = i ? tmpf : stray;
    FILE *fp = fopen(f, "w");
    CHECK(fp != NULL);
    if (fp) fclose(fp);
    CHECK_EQ_INT(utimensat(AT_FDCWD, f, old, 0), 0);
  }
  bk_svc_gc_result res;
  CHECK_EQ_INT(bk_svc_gc(svc, 1, (int64_t)time(NULL) - 3600, 64, &res, NULL), 0);
  CHECK_EQ_INT(res.temp_files, 2);
  CHECK(access(stray, F_OK) != 0);
  CHECK(access(tmpf, F_OK) != 0);
  CHECK_EQ_INT(bk_db_xorb_exists(bk_svc_db(svc), &xh), 1); /* the registered xorb stays */
  CHECK_EQ_INT(res.orphans, 0);
  bk_buf_free(&body);
  bk_svc_close(svc);
  /* a URL wins over a path; an unknown scheme is refused; nothing half-open */
  struct bk_svc_config bad = {.db_url = "nosuch:///x", .blob_url = bloburl};
  svc = (bk_svc *)&bad;
  CHECK_EQ_INT(bk_svc_open(&bad, &svc), BK_EINVAL);
  CHECK(svc == NULL);
  struct bk_svc_config none = {.db_url = dburl};
  CHECK_EQ_INT(bk_svc_open(&none, &svc), BK_EINVAL);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/bk_svcmeta_XXXXXX");
  if (!mkdtemp(root)) return 1;
  /* the metadata bases: BK_TEST_DB_URLS (tests/run.sh: SQLite and
   * PostgreSQL), else SQLite in root; blobs are files in root either way */
  const char *urls = getenv("BK_TEST_DB_URLS");
  char def[300];
  snprintf(def, sizeof def, "sqlite://%s", root);
  char *list = strdup(urls && *urls ? urls : def);
  char *sv = NULL;
  for (char *u = list ? strtok_r(list, " ", &sv) : NULL; u; u = strtok_r(NULL, " ", &sv)) {
    meta_set_base(u);
    fprintf(stderr, "-- metadata on %s\n", meta_is_pg(u) ? "postgresql" : meta_base);
    RUN(test_xorb_blob_presence);
    RUN(test_xorb_serializations);
    RUN(test_damaged_xorbs);
    RUN(test_register_gc_race);
    RUN(test_gc_rollback_untrash);
    RUN(test_check_verdicts);
    if (meta_drop_all() != 0) fprintf(stderr, "drop databases: %s\n", bk_errmsg());
  }
  free(list);
  RUN(test_open_by_url);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
