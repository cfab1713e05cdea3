/* Unit tests: src/server/admin.c (bucketd_admin), driven in-process, with a
 * real store (xorbs built by the core builder, shards serialized by the
 * core shard writer) damaged in every way fsck must notice. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/blobstore.h"
#include "store/blob_fs.h" /* bk_blob_path: tests damage blobs on disk */
#include "store/db.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "server/admin.h"
#include "server/server.h"
#include "store/sql.h"
#include "../test.h"

static char data[256];
static char out[65536];

/* Runs bucketd_admin with a NULL-terminated word list (+ --data), capturing
 * stdout into `out`. Returns the exit code. */
static int admin(const char *w0, ...) {
  char *argv[32];
  int argc = 0;
  va_list ap;
  va_start(ap, w0);
  for (const char *w = w0; w && argc < 28; w = va_arg(ap, const char *)) argv[argc++] = (char *)w;
  va_end(ap);
  argv[argc++] = "--data";
  argv[argc++] = data;
  argv[argc] = NULL;
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.out", data);
  fflush(stdout);
  char etmp[310];
  snprintf(etmp, sizeof etmp, "%s.err", data);
  fflush(stderr);
  int saved = dup(1), saved_err = dup(2);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int efd = open(etmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 1);
  dup2(efd, 2);
  close(fd);
  close(efd);
  int rc = bucketd_admin(argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(saved, 1);
  dup2(saved_err, 2);
  close(saved);
  close(saved_err);
  out[0] = 0;
  fd = open(tmp, O_RDONLY);
  if (fd >= 0) {
    ssize_t n = read(fd, out, sizeof out - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd);
  }
  return rc;
}

static bk_db *open_db(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/%s", data, BK_DB_FILE);
  bk_db *db = NULL;
  if (bk_db_open(p, &db)) return NULL;
  return db;
}

/* Runs sql directly on the store's database (through the SQL driver, which
 * connects like bucketd: foreign keys on), as a damaging operator or a
 * tampering tool would. 0 or a negative BK_E*. */
static int db_exec(const char *sql) {
  char url[420];
  snprintf(url, sizeof url, "sqlite://%s/%s", data, BK_DB_FILE);
  bk_sql_conn *c = NULL;
  int rc = bk_sql_connect_url(url, &c);
  if (rc == 0) rc = bk_sql_exec(c, sql);
  bk_sql_close(c);
  return rc;
}

static bk_blobstore *open_blobs(void) {
  char p[400];
  snprintf(p, sizeof p, "%s/%s", data, BK_BLOBS_DIR);
  bk_blobstore *bs = NULL;
  if (bk_blobstore_open(p, &bs)) return NULL;
  return bs;
}

static void test_accounts_cli(void) {
  CHECK_EQ_INT(admin("user", "add", "alice", NULL), 0);
  CHECK(strstr(out, "alice") != NULL);
  CHECK_EQ_INT(admin("user", "add", "alice", NULL), 1);
  CHECK_EQ_INT(admin("user", "add", "bad--name", NULL), 1);
  CHECK_EQ_INT(admin("user", "add", NULL), 2);
  CHECK_EQ_INT(admin("user", "delete", "alice", NULL), 2);
  CHECK_EQ_INT(admin("user", "add", "bob", NULL), 0);

  CHECK_EQ_INT(admin("token", "add", "alice", "--role", "write", NULL), 0);
  /* stdout is exactly the token and a newline */
  CHECK_EQ_INT(strlen(out), BK_TOKEN_LEN + 1);
  CHECK(!strncmp(out, "hf_", 3));
  char tok[BK_TOKEN_LEN + 1];
  memcpy(tok, out, BK_TOKEN_LEN);
  tok[BK_TOKEN_LEN] = 0;
  CHECK_EQ_INT(admin("token", "add", "alice", NULL), 2);
  CHECK_EQ_INT(admin("token", "add", "alice", "--role", "admin", NULL), 2);
  CHECK_EQ_INT(admin("token", "add", "nobody", "--role", "read", NULL), 1);
  CHECK_EQ_INT(admin("token", "add", "bob", "--role", "read", NULL), 0);

  bk_db *db = open_db();
  CHECK(db != NULL);
  if (!db) return;
  bk_token_info ti;
  CHECK_EQ_INT(bk_db_token_lookup(db, tok, strlen(tok), &ti), 0);
  CHECK_EQ_STR(ti.user, "alice");
  CHECK_EQ_INT(ti.role, BK_ROLE_WRITE);

  CHECK_EQ_INT(admin("token", "list", "alice", NULL), 0);
  CHECK(strstr(out, "write") != NULL);
  CHECK(strstr(out, "active") != NULL);
  CHECK(strstr(out, tok) == NULL);
  CHECK(strstr(out, "hf_") == NULL);
  char idbuf[32];
  snprintf(idbuf, sizeof idbuf, "%lld", (long long)ti.id);
  CHECK_EQ_INT(admin("token", "revoke", idbuf, NULL), 0);
  CHECK_EQ_INT(bk_db_token_lookup(db, tok, strlen(tok), &ti), BK_EAUTH);
  CHECK_EQ_INT(admin("token", "list", "alice", NULL), 0);
  CHECK(strstr(out, "revoked") != NULL);
  CHECK_EQ_INT(admin("token", "revoke", "abc", NULL), 2);
  CHECK_EQ_INT(admin("token", "revoke", "99999", NULL), 1);

  CHECK_EQ_INT(admin("org", "add", "acme", "--owner", "alice", NULL), 0);
  CHECK_EQ_INT(admin("org", "add", "acme2", NULL), 2);
  CHECK_EQ_INT(admin("org", "add", "alice", "--owner", "alice", NULL), 1);
  CHECK_EQ_INT(admin("org", "member", "acme", "bob", "--role", "read", NULL), 0);
  bk_ns org, bob, alice;
  int role = 0;
  CHECK_EQ_INT(bk_db_ns_get(db, "acme", &org), 0);
  CHECK_EQ_INT(bk_db_ns_get(db, "bob", &bob), 0);
  CHECK_EQ_INT(bk_db_ns_get(db, "alice", &alice), 0);
  CHECK_EQ_INT(bk_db_org_member_role(db, org.id, alice.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_ADMIN);
  CHECK_EQ_INT(bk_db_org_member_role(db, org.id, bob.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_READ);
  CHECK_EQ_INT(admin("org", "member", "acme", "bob", "--role", "write", NULL), 0);
  CHECK_EQ_INT(bk_db_org_member_role(db, org.id, bob.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_WRITE);
  CHECK_EQ_INT(admin("org", "member", "acme", "bob", "--role", "boss", NULL), 2);
  CHECK_EQ_INT(admin("org", "member", "bob", "alice", "--role", "read", NULL), 1);
  CHECK_EQ_INT(admin("org", "member", "acme", "bob", NULL), 2);
  CHECK_EQ_INT(admin("org", "member", "acme", "bob", "--role", "none", NULL), 0);
  CHECK_EQ_INT(bk_db_org_member_role(db, org.id, bob.id, &role), 0);
  CHECK_EQ_INT(role, BK_ROLE_NONE);
  CHECK_EQ_INT(admin("frobnicate", NULL), 2);
  CHECK_EQ_INT(admin("gc", "--grace", "soon", NULL), 2);
  CHECK_EQ_INT(admin("gc", "--delete-grace", "soon", NULL), 2);
  CHECK_EQ_INT(admin("gc", "--delete-grace", "3651d", NULL), 2); /* at most 10 years */
  CHECK_EQ_INT(admin("fsck", "--bogus", NULL), 2);
  bk_db_close(db);
}

/* ---- a real store ---- */

struct built {
  bk_hash xorb, file, shard;
  size_t xorb_len;
};

/* Builds a xorb of `nchunks` chunks (content from seed), stores and registers
 * it, then a shard with one file over the whole xorb; optionally registers
 * the file in bucket bid under path. */
static int build_file(bk_db *db, bk_blobstore *bs, uint32_t seed, int nchunks,
                      int register_xorb, struct built *o) {
  bk_xorb_builder *xb;
  if (bk_xorb_builder_new(1, &xb)) return -1;
  static uint8_t chunk[20000];
  uint32_t s = seed;
  bk_merkle_leaf leaves[16];
  for (int c = 0; c < nchunks; c++) {
    for (size_t i = 0; i < sizeof chunk; i++) {
      s = s * 1103515245u + 12345u;
      chunk[i] = (uint8_t)((s >> 16) % (c % 2 ? 256 : 4)); /* some compressible */
    }
    bk_chunk_hash(chunk, sizeof chunk, &leaves[c].hash);
    leaves[c].len = sizeof chunk;
    if (bk_xorb_builder_add(xb, chunk, sizeof chunk, &leaves[c].hash)) return -2;
  }
  const uint8_t *body;
  size_t blen;
  if (bk_xorb_builder_finish(xb, &o->xorb, &body, &blen)) return -3;
  o->xorb_len = blen;
  if (bk_blob_put(bs, BK_BLOB_XORB, &o->xorb, body, blen, NULL)) return -4;
  if (register_xorb &&
      bk_db_xorb_register(db, &o->xorb, blen, bk_xorb_builder_chunks(xb),
                          bk_xorb_builder_count(xb), NULL))
    return -5;
  if (!register_xorb) {
    bk_xorb_builder_free(xb);
    return 0;
  }
  /* shard: one file = all chunks of the xorb */
  if (bk_file_hash(leaves, (size_t)nchunks, NULL, &o->file)) return -6;
  bk_shard_term t = {.xorb_hash = o->xorb, .chunk_start = 0, .chunk_end = (uint32_t)nchunks,
                     .unpacked_bytes = (uint32_t)(sizeof chunk * (size_t)nchunks)};
  bk_shard_file f = {.file_hash = o->file, .nterms = 1, .terms = &t};
  bk_shard_chunk sc[16];
  const bk_xorb_chunk *xc = bk_xorb_builder_chunks(xb);
  for (int c = 0; c < nchunks; c++)
    sc[c] = (bk_shard_chunk){.hash = xc[c].hash, .byte_start = xc[c].unpacked_offset,
                             .len = xc[c].unpacked_len, .flags = 0};
  bk_shard_xorb x = {.xorb_hash = o->xorb, .nchunks = (uint32_t)nchunks,
                     .bytes_in_xorb = (uint32_t)(sizeof chunk * (size_t)nchunks),
                     .bytes_on_disk = (uint32_t)blen, .chunks = sc};
  bk_shard sh = {.nfiles = 1, .files = &f, .nxorbs = 1, .xorbs = &x};
  bk_buf sb;
  bk_buf_init(&sb, 1 << 20);
  if (bk_shard_serialize(&sh, 0, &sb)) return -7;
  bk_blake3(sb.p, sb.len, o->shard.b);
  if (bk_blob_put(bs, BK_BLOB_SHARD, &o->shard, sb.p, sb.len, NULL)) return -8;
  if (bk_db_shard_register(db, &o->shard, sb.len, &sh, 0, NULL, NULL)) return -9;
  bk_buf_free(&sb);
  bk_xorb_builder_free(xb);
  return 0;
}

static void blob_file(bk_blobstore *bs, bk_blob_kind k, const bk_hash *h, char *p, size_t n) {
  bk_blob_path(bs, k, h, p, n);
}

static void test_gc_fsck(void) {
  bk_db *db = open_db();
  bk_blobstore *bs = open_blobs();
  CHECK(db && bs);
  if (!db || !bs) return;
  bk_ns alice;
  CHECK_EQ_INT(bk_db_ns_get(db, "alice", &alice), 0);
  bk_bucket b;
  CHECK_EQ_INT(bk_db_bucket_create(db, alice.id, "data", 0, &b), 0);
  struct built keep, drop, orphan;
  CHECK_EQ_INT(build_file(db, bs, 1, 4, 1, &keep), 0);
  CHECK_EQ_INT(build_file(db, bs, 2, 3, 1, &drop), 0);
  bk_batch_op ops[2] = {
      {.type = BK_OP_ADD, .path = "keep.bin", .xet_hash = keep.file, .mtime_ms = -1, .size = -1},
      {.type = BK_OP_ADD, .path = "drop.bin", .xet_hash = drop.file, .mtime_ms = -1, .size = -1},
  };
  size_t nf;
  CHECK_EQ_INT(bk_db_batch(db, b.id, ops, 2, 0, &nf), 0);
  CHECK_EQ_INT(nf, 0);

  /* clean store */
  CHECK_EQ_INT(admin("fsck", NULL), 0);
  CHECK(strstr(out, "0 damaged") != NULL);
  CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 0);
  CHECK(strstr(out, "2 xorbs, 2 shards") != NULL);

  /* an orphan blob: a warning, not damage; gc keeps it while fresh */
  CHECK_EQ_INT(build_file(db, bs, 3, 2, 0, &orphan), 0);
  CHECK_EQ_INT(admin("fsck", NULL), 0);
  CHECK(strstr(out, "orphan xorb") != NULL);
  CHECK_EQ_INT(admin("gc", "--grace", "1h", "--delete-grace", "0s", NULL), 0);
  CHECK(strstr(out, "0 orphan blobs") != NULL);
  CHECK(strstr(out, "pending deletes") == NULL); /* the file store has the trash */
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &orphan.xorb), 1);
  /* nothing referenced is touched, even with grace 0 */
  bk_batch_op del = {.type = BK_OP_DELETE, .path = "drop.bin"};
  CHECK_EQ_INT(bk_db_batch(db, b.id, &del, 1, 0, &nf), 0);
  CHECK_EQ_INT(admin("gc", "--grace", "0s", NULL), 0);
  CHECK(strstr(out, "1 orphan blobs") != NULL);
  CHECK(strstr(out, "1 file reconstructions, 1 xorbs") != NULL);
  CHECK(strstr(out, "1 shards") != NULL);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &orphan.xorb), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &drop.xorb), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &drop.shard), 0);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &drop.xorb), 0);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_XORB, &keep.xorb), 1);
  CHECK_EQ_INT(bk_blob_exists(bs, BK_BLOB_SHARD, &keep.shard), 1);
  CHECK_EQ_INT(bk_db_xorb_exists(db, &keep.xorb), 1);
  CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 0);
  CHECK(strstr(out, "1 xorbs, 1 shards") != NULL);
  CHECK(strstr(out, "0 warnings") != NULL);

  /* an interrupted gc left a referenced blob in the trash: the next gc puts it back */
  CHECK_EQ_INT(bk_blob_trash(bs, BK_BLOB_XORB, &keep.xorb), 0);
  CHECK_EQ_INT(admin("fsck", NULL), 1);
  CHECK_EQ_INT(admin("gc", NULL), 0);
  CHECK(strstr(out, "1 blobs restored") != NULL);
  CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 0);

  /* corruption with the same size: only --read-data sees it */
  char p[600];
  blob_file(bs, BK_BLOB_XORB, &keep.xorb, p, sizeof p);
  bk_buf saved;
  bk_buf_init(&saved, 64 << 20);
  CHECK_EQ_INT(bk_read_file(p, 64 << 20, &saved), 0);
  int fd = open(p, O_WRONLY);
  uint8_t flip = saved.p[saved.len / 2] ^ 0x55;
  CHECK(pwrite(fd, &flip, 1, (off_t)(saved.len / 2)) == 1);
  close(fd);
  CHECK_EQ_INT(admin("fsck", NULL), 0);
  CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 1);
  CHECK(strstr(out, "DAMAGE") != NULL);
  /* size mismatch */
  fd = open(p, O_WRONLY | O_APPEND);
  CHECK(write(fd, "x", 1) == 1);
  close(fd);
  CHECK_EQ_INT(admin("fsck", NULL), 1);
  CHECK(strstr(out, "bytes, database says") != NULL);
  /* missing blob */
  CHECK_EQ_INT(unlink(p), 0);
  CHECK_EQ_INT(admin("fsck", NULL), 1);
  CHECK(strstr(out, "blob missing") != NULL);
  /* restore: clean again */
  char dir[600];
  snprintf(dir, sizeof dir, "%s", p);
  *strrchr(dir, '/') = 0;
  CHECK_EQ_INT(bk_write_file_durable(dir, strrchr(p, '/') + 1, saved.p, saved.len), 0);
  CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 0);
  /* a well-formed shard stored and registered under a name that is not the
   * BLAKE3 of its bytes: one finding, named, nothing else counted */
  {
    bk_buf sb;
    bk_buf_init(&sb, 1 << 20);
    CHECK_EQ_INT(bk_blob_get(bs, BK_BLOB_SHARD, &keep.shard, sb.max, &sb), 0);
    bk_shard *ps = NULL;
    CHECK_EQ_INT(bk_shard_parse(sb.p, sb.len, &ps), 0);
    bk_hash foreign = keep.shard;
    foreign.b[0] ^= 0x5a;
    CHECK_EQ_INT(bk_blob_put(bs, BK_BLOB_SHARD, &foreign, sb.p, sb.len, NULL), 0);
    if (ps) CHECK_EQ_INT(bk_db_shard_register(db, &foreign, sb.len, ps, 0, NULL, NULL), 0);
    CHECK_EQ_INT(admin("fsck", NULL), 0);
    CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 1);
    CHECK(strstr(out, "well-formed, but its name is not the BLAKE3 of its bytes") != NULL);
    CHECK(strstr(out, "; 1 damaged, 0 warnings") != NULL);
    CHECK(strstr(out, "1 xorbs, 2 shards") != NULL);
    /* take it out again: rows first, then the blob */
    char del[128 + 2 * BK_HASH_LEN];
    int dl = snprintf(del, sizeof del, "DELETE FROM shards WHERE hash = x'");
    for (int i = 0; i < BK_HASH_LEN; i++)
      dl += snprintf(del + dl, sizeof del - (size_t)dl, "%02x", foreign.b[i]);
    snprintf(del + dl, sizeof del - (size_t)dl, "'");
    CHECK_EQ_INT(db_exec(del), 0);
    CHECK_EQ_INT(bk_blob_delete(bs, BK_BLOB_SHARD, &foreign), 0);
    CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 0);
    bk_shard_free(ps);
    bk_buf_free(&sb);
  }
  /* corrupt shard */
  blob_file(bs, BK_BLOB_SHARD, &keep.shard, p, sizeof p);
  fd = open(p, O_WRONLY);
  CHECK(pwrite(fd, "ZZZZ", 4, 0) == 4);
  close(fd);
  CHECK_EQ_INT(admin("fsck", NULL), 0);
  CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 1);
  CHECK(strstr(out, "shard") != NULL);
  /* --read-data marked it: a known state that plain fsck reports from now on */
  CHECK_EQ_INT(admin("fsck", NULL), 1);
  CHECK(strstr(out, "marked damaged") != NULL);
  /* a stray file is a warning */
  char xdir[600];
  snprintf(xdir, sizeof xdir, "%s/%s/xorbs", data, BK_BLOBS_DIR);
  CHECK_EQ_INT(bk_write_file_durable(xdir, "notes.txt", "hi", 2), 0);
  CHECK_EQ_INT(admin("fsck", NULL), 1);
  CHECK(strstr(out, "warning: stray file") != NULL);
  /* metadata tampering: a chunk hash in the database no longer matches */
  CHECK_EQ_INT(db_exec("UPDATE xorb_chunks SET chunk_hash = zeroblob(32) WHERE idx = 0"), 0);
  CHECK_EQ_INT(admin("fsck", "--read-data", NULL), 1);
  CHECK(strstr(out, "hash of its chunks does not match") != NULL);
  CHECK(strstr(out, "differs between blob and database") != NULL);
  bk_buf_free(&saved);
  bk_blobstore_close(bs);
  bk_db_close(db);
}

int main(void) {
  snprintf(data, sizeof data, "/tmp/bk_admin_XXXXXX");
  if (!mkdtemp(data)) return 1;
  RUN(test_accounts_cli);
  RUN(test_gc_fsck);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s.out' '%s.err'", data, data, data);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
