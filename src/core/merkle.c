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

/* ---- incremental builder ---- */

struct bk_merkle {
  bk_merkle_leaf *v;
  size_t n, cap;
};

int bk_merkle_new(bk_merkle **out) {
  bk_merkle *m = calloc(1, sizeof *m);
  if (!m) return bk_seterr(BK_ENOMEM, "merkle: out of memory");
  *out = m;
  return 0;
}

int bk_merkle_push(bk_merkle *m, const bk_hash *h, uint64_t len) {
  if (m->n == m->cap) {
    size_t nc = m->cap ? m->cap * 2 : 64;
    if (nc > SIZE_MAX / sizeof(bk_merkle_leaf) || nc < m->cap)
      return bk_seterr(BK_ELIMIT, "merkle: too many leaves");
    bk_merkle_leaf *nv = realloc(m->v, nc * sizeof *nv);
    if (!nv) return bk_seterr(BK_ENOMEM, "merkle: out of memory for %zu leaves", nc);
    m->v = nv;
    m->cap = nc;
  }
  m->v[m->n].hash = *h;
  m->v[m->n].len = len;
  m->n++;
  return 0;
}

size_t bk_merkle_count(const bk_merkle *m) { return m->n; }

int bk_merkle_finish(bk_merkle *m, bk_hash *root) {
  return bk_merkle_root(m->v, m->n, root);
}

void bk_merkle_free(bk_merkle *m) {
  if (!m) return;
  free(m->v);
  free(m);
}
