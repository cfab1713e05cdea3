/* Xet merkle aggregation (xet.md §2): variable-fanout tree whose node text is
 * "<hash string> : <len>\n" per child, hashed with INTERNAL_NODE_KEY.
 * Xorb hash = root; file hash = blake3_keyed(salt, root); range hash =
 * blake3_keyed(VERIFICATION_KEY, raw chunk hashes). */
#include "buckets/merkle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blake3.h"
#include "buckets/error.h"

#define MERKLE_MAX_CHILDREN 9 /* a group never exceeds this many entries */

/* Number of entries (from the front of the n remaining) forming the next group. */
static size_t next_merge_cut(const bk_merkle_leaf *l, size_t n) {
  if (n <= 2) return n;
  size_t end = n < MERKLE_MAX_CHILDREN ? n : MERKLE_MAX_CHILDREN;
  for (size_t i = 2; i < end; i++)
    if (bk_hash_tail_u64(&l[i].hash) % 4 == 0) return i + 1;
  return end;
}

/* Writes decimal v into p (no NUL), returns the number of digits. */
static size_t put_u64(char *p, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
  return n;
}

/* Parent of a group of k (1..9) entries. Lengths are summed with wrap-around
 * semantics as in the reference (u64); real inputs never get close. */
static void merge_group(const bk_merkle_leaf *l, size_t k, bk_merkle_leaf *out) {
  /* per line: 64 hex + " : " + up to 20 digits + "\n" = 88 bytes */
  char text[MERKLE_MAX_CHILDREN * 88];
  size_t pos = 0;
  uint64_t total = 0;
  for (size_t i = 0; i < k; i++) {
    char hex[BK_HASH_HEX_LEN + 1];
    bk_hash_to_hex(&l[i].hash, hex);
    memcpy(text + pos, hex, BK_HASH_HEX_LEN);
    pos += BK_HASH_HEX_LEN;
    memcpy(text + pos, " : ", 3);
    pos += 3;
    pos += put_u64(text + pos, l[i].len);
    text[pos++] = '\n';
    total += l[i].len;
  }
  bk_keyed_hash(BK_INTERNAL_NODE_KEY, text, pos, &out->hash);
  out->len = total;
}

/* Reduces v[0..n) in place to its root (v[0]). n >= 1. */
static void reduce_in_place(bk_merkle_leaf *v, size_t n) {
  while (n > 1) {
    size_t in = 0, outn = 0;
    while (in < n) {
      size_t k = next_merge_cut(v + in, n - in);
      bk_merkle_leaf parent;
      merge_group(v + in, k, &parent);
      v[outn++] = parent; /* outn <= in always, so this never clobbers unread input */
      in += k;
    }
    n = outn;
  }
}

int bk_merkle_root(const bk_merkle_leaf *leaves, size_t n, bk_hash *out) {
  if (n == 0) {
    memset(out->b, 0, BK_HASH_LEN);
    return 0;
  }
  if (n == 1) {
    *out = leaves[0].hash;
    return 0;
  }
  if (n > SIZE_MAX / sizeof(bk_merkle_leaf))
    return bk_seterr(BK_ELIMIT, "merkle: too many leaves");
  bk_merkle_leaf *v = malloc(n * sizeof *v);
  if (!v) return bk_seterr(BK_ENOMEM, "merkle: out of memory for %zu leaves", n);
  memcpy(v, leaves, n * sizeof *v);
  reduce_in_place(v, n);
  *out = v[0].hash;
  free(v);
  return 0;
}

int bk_xorb_hash(const bk_merkle_leaf *chunks, size_t n, bk_hash *out) {
  return bk_merkle_root(chunks, n, out);
}

static const uint8_t ZERO_SALT[32];

void bk_file_hash_from_root(const bk_hash *root, int has_chunks, const uint8_t *salt,
                            bk_hash *out) {
  if (!has_chunks) {
    memset(out->b, 0, BK_HASH_LEN);
    return;
  }
  bk_hash r = *root; /* out may alias root */
  bk_keyed_hash(salt ? salt : ZERO_SALT, r.b, BK_HASH_LEN, out);
}

int bk_file_hash(const bk_merkle_leaf *chunks, size_t n, const uint8_t *salt,
                 bk_hash *out) {
  bk_hash root;
  int rc = bk_merkle_root(chunks, n, &root);
  if (rc) return rc;
  bk_file_hash_from_root(&root, n > 0, salt, out);
  return 0;
}

void bk_range_hash(const bk_hash *chunk_hashes, size_t n, bk_hash *out) {
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, BK_VERIFICATION_KEY);
  if (n) blake3_hasher_update(&h, chunk_hashes, n * sizeof(bk_hash));
  blake3_hasher_finalize(&h, out->b, BK_HASH_LEN);
}

/* ---- incremental builder ----
 *
 * Streaming: each tree level keeps only the entries not yet grouped. A group
 * is decided by at most its first 9 entries (next_merge_cut never looks
 * further), so as soon as a level holds >= 9 pending entries its next group
 * is final and its parent can be pushed to the level above. Memory is
 * O(depth) = O(log n), not O(n). Finishing works on a copy, so the builder
 * stays usable. */

#define LVL_CAP 32 /* >= 8 left over + parents from a flush of the level below */
#define MAX_LEVELS 64

typedef struct merkle_level {
  bk_merkle_leaf e[LVL_CAP];
  size_t n;      /* pending entries */
  uint64_t seen; /* entries ever pushed to this level */
} merkle_level;

struct bk_merkle {
  merkle_level lv[MAX_LEVELS];
  size_t depth; /* levels in use */
};

int bk_merkle_new(bk_merkle **out) {
  bk_merkle *m = calloc(1, sizeof *m);
  if (!m) return bk_seterr(BK_ENOMEM, "merkle: out of memory");
  *out = m;
  return 0;
}

/* Pushes one entry into level L of lv[], grouping while >= 9 are pending. */
static int level_push(merkle_level *lv, size_t *depth, size_t L, const bk_merkle_leaf *x) {
  if (L >= MAX_LEVELS) return bk_seterr(BK_ELIMIT, "merkle: tree too deep");
  if (L >= *depth) *depth = L + 1;
  merkle_level *v = &lv[L];
  v->e[v->n++] = *x;
  v->seen++;
  while (v->n >= MERKLE_MAX_CHILDREN) {
    size_t k = next_merge_cut(v->e, v->n);
    bk_merkle_leaf parent;
    merge_group(v->e, k, &parent);
    memmove(v->e, v->e + k, (v->n - k) * sizeof v->e[0]);
    v->n -= k;
    int rc = level_push(lv, depth, L + 1, &parent);
    if (rc) return rc;
  }
  return 0;
}

int bk_merkle_push(bk_merkle *m, const bk_hash *h, uint64_t len) {
  bk_merkle_leaf x = {.hash = *h, .len = len};
  return level_push(m->lv, &m->depth, 0, &x);
}

size_t bk_merkle_count(const bk_merkle *m) { return (size_t)m->lv[0].seen; }

int bk_merkle_finish(bk_merkle *m, bk_hash *root) {
  if (m->lv[0].seen == 0) {
    memset(root->b, 0, BK_HASH_LEN);
    return 0;
  }
  merkle_level *lv = malloc(sizeof m->lv);
  if (!lv) return bk_seterr(BK_ENOMEM, "merkle: out of memory");
  memcpy(lv, m->lv, sizeof m->lv);
  size_t depth = m->depth;
  int rc = 0;
  for (size_t L = 0; L < MAX_LEVELS; L++) {
    merkle_level *v = &lv[L];
    if (v->seen == 1 && L + 1 >= depth) { /* top: a single entry */
      *root = v->e[0].hash;
      break;
    }
    /* end of input at this level: group everything pending */
    size_t in = 0;
    while (in < v->n) {
      size_t k = next_merge_cut(v->e + in, v->n - in);
      bk_merkle_leaf parent;
      merge_group(v->e + in, k, &parent);
      in += k;
      if (L + 1 >= MAX_LEVELS) {
        rc = bk_seterr(BK_ELIMIT, "merkle: tree too deep");
        break;
      }
      /* plain append: the level above is flushed next, in full */
      merkle_level *u = &lv[L + 1];
      if (u->n == LVL_CAP) {
        rc = bk_seterr(BK_ELIMIT, "merkle: level overflow");
        break;
      }
      u->e[u->n++] = parent;
      u->seen++;
      if (L + 2 > depth) depth = L + 2;
    }
    v->n = 0;
    if (rc) break;
  }
  free(lv);
  return rc;
}

void bk_merkle_free(bk_merkle *m) { free(m); }
