/* libFuzzer target: tree listing with an untrusted cursor and prefix, the
 * way GET /api/buckets/{ns}/{name}/tree/{prefix}?cursor=... reaches the store
 * (hub_tree_prefix, then bk_db_tree which decodes the cursor). A small
 * bucket is built once in a temporary SQLite database.
 * Input: byte 0 = flags (bit 0 recursive, bits 1-3 limit-1), then the prefix
 * up to the first NUL byte, then the cursor. Checks: a malformed cursor is
 * BK_EINVAL (never a crash), entries come sorted and inside the prefix, and
 * a returned next cursor is accepted again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/accounts.h"
#include "store/db.h"
#include "buckets/error.h"
#include "server/hub_parse.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

static bk_db *db;
static int64_t bucket_id;

static const char *const FILES[] = {"a", "a/b", "a/c/d", "a/c/e", "a.txt", "b/x y", "b/\xc3\xa9",
                                    "logs/1", "logs/2/3", "z"};

static void setup(void) {
  char dir[] = "/tmp/bk-fuzz-tree-XXXXXX";
  ASSERT(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/buckets.db", dir);
  ASSERT(bk_db_open(path, &db) == 0);
  unlink(path); /* the open handle keeps it; nothing left behind on exit */
  bk_ns u;
  ASSERT(bk_db_user_add(db, "fz", &u) == 0);
  bk_bucket b;
  ASSERT(bk_db_bucket_create(db, u.id, "b", 0, &b) == 0);
  bucket_id = b.id;
  size_t n = sizeof FILES / sizeof FILES[0];
  bk_batch_op ops[sizeof FILES / sizeof FILES[0]];
  memset(ops, 0, sizeof ops);
  for (size_t i = 0; i < n; i++) {
    ops[i].type = BK_OP_ADD; /* the empty file (zero hash) needs no CAS upload */
    ops[i].path = FILES[i];
    ops[i].mtime_ms = -1;
    ops[i].size = -1;
  }
  size_t failed = 0;
  ASSERT(bk_db_batch(db, bucket_id, ops, n, 0, &failed) == 0);
}

struct seen {
  char last[BK_PATH_MAX + 2];
  const char *prefix;
  size_t plen;
  size_t n;
  int recursive;
  char got[32][16]; /* entries of both pages: "d"|"f" + path (paths here are short) */
  size_t ngot;
};

static int cb(void *ctx, const bk_file_entry *e) {
  struct seen *s = ctx;
  ASSERT(e->path);
  if (s->plen)
    ASSERT(!strncmp(e->path, s->prefix, s->plen) &&
           (e->path[s->plen] == 0 || e->path[s->plen] == '/'));
  /* recursive: files only, in path order. Non-recursive listings interleave
   * directories by their subtree ("a.txt" before directory "a"), so there
   * only check that no entry comes twice, also across the two pages. */
  if (s->recursive && s->n) ASSERT(strcmp(s->last, e->path) < 0);
  if (s->recursive) ASSERT(!e->is_dir);
  snprintf(s->last, sizeof s->last, "%s", e->path);
  char key[16];
  snprintf(key, sizeof key, "%c%s", e->is_dir ? 'd' : 'f', e->path);
  for (size_t i = 0; i < s->ngot; i++) ASSERT(strcmp(s->got[i], key));
  ASSERT(s->ngot < 32);
  memcpy(s->got[s->ngot++], key, sizeof key);
  s->n++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!db) setup();
  if (size < 1) return 0;
  unsigned flags = (data[0] & 1) ? BK_TREE_RECURSIVE : BK_TREE_DIR_STATS;
  size_t limit = (size_t)((data[0] >> 1) & 7) + 1;
  char *in = malloc(size);
  if (!in) return 0;
  memcpy(in, data + 1, size - 1);
  in[size - 1] = 0;
  size_t l1 = strlen(in);
  const char *cursor = l1 < size - 1 ? in + l1 + 1 : "";
  char prefix[BK_PATH_MAX + 2];
  long pl = hub_tree_prefix(in, prefix);
  if (pl >= 0) {
    struct seen s = {.prefix = prefix, .plen = (size_t)pl, .recursive = (flags & BK_TREE_RECURSIVE) != 0};
    char *next = NULL;
    int rc = bk_db_tree(db, bucket_id, prefix, flags, cursor, limit, cb, &s, &next);
    ASSERT(rc == 0 || rc == BK_EINVAL || rc == BK_ENOTFOUND);
    if (rc == 0) ASSERT(s.n <= limit);
    if (rc) ASSERT(!next);
    if (next) {
      char *next2 = NULL;
      /* the next page continues the order and repeats nothing */
      int rc2 = bk_db_tree(db, bucket_id, prefix, flags, next, limit, cb, &s, &next2);
      ASSERT(rc2 == 0);
      free(next2);
    }
    free(next);
  }
  free(in);
  return 0;
}
