/* Merkle / file-hash / range-hash tests: all official vectors from
 * xet_merkle_hash_vectors.json, plus the derived 1 MB SplitMix values. */
#include <cjson/cJSON.h>

#include "../test.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *p = malloc(cap + 1);
  size_t r;
  while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      char *q = realloc(p, cap * 2 + 1);
      if (!q) { free(p); p = NULL; break; }
      p = q;
      cap *= 2;
    }
  }
  fclose(f);
  if (p) p[n] = 0;
  if (len) *len = n;
  return p;
}

static cJSON *load_json(const char *name) {
  char path[1024];
  char *s = read_all(test_data(name, path, sizeof path), NULL);
  if (!s) {
    fprintf(stderr, "cannot read %s\n", path);
    return NULL;
  }
  cJSON *j = cJSON_Parse(s);
  free(s);
  return j;
}

static int vectors_checked;

static void test_official_vectors(void) {
  cJSON *j = load_json("xet_merkle_hash_vectors.json");
  CHECK(j != NULL);
  if (!j) return;
  cJSON *vecs = cJSON_GetObjectItem(j, "vectors");
  CHECK(cJSON_IsArray(vecs));
  int nvec = 0, nvals = 0;
  cJSON *v;
  cJSON_ArrayForEach(v, vecs) {
    cJSON *chunks = cJSON_GetObjectItem(v, "chunks");
    int n = cJSON_GetArraySize(chunks);
    bk_merkle_leaf *l = calloc(n ? (size_t)n : 1, sizeof *l);
    bk_merkle *m = NULL;
    CHECK_EQ_INT(bk_merkle_new(&m), 0);
    int i = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, chunks) {
      CHECK_EQ_INT(bk_hash_parse(cJSON_GetObjectItem(c, "hash")->valuestring, &l[i].hash), 0);
      l[i].len = (uint64_t)cJSON_GetObjectItem(c, "size")->valuedouble;
      CHECK_EQ_INT(bk_merkle_push(m, &l[i].hash, l[i].len), 0);
      i++;
    }
    CHECK_EQ_INT(bk_merkle_count(m), n);
    bk_hash x, x2;
    char hex[65];
    CHECK_EQ_INT(bk_xorb_hash(l, (size_t)n, &x), 0);
    bk_hash_to_hex(&x, hex);
    CHECK_EQ_STR(hex, cJSON_GetObjectItem(v, "xorb_hash")->valuestring);
    CHECK_EQ_INT(bk_merkle_finish(m, &x2), 0);
    CHECK(bk_hash_eq(&x, &x2));
    nvals++;
    cJSON *fh;
    cJSON_ArrayForEach(fh, cJSON_GetObjectItem(v, "file_hashes")) {
      bk_hash salt, f, f2;
      CHECK_EQ_INT(bk_hash_parse(cJSON_GetObjectItem(fh, "salt")->valuestring, &salt), 0);
      CHECK_EQ_INT(bk_file_hash(l, (size_t)n, salt.b, &f), 0);
      bk_hash_to_hex(&f, hex);
      CHECK_EQ_STR(hex, cJSON_GetObjectItem(fh, "file_hash")->valuestring);
      bk_file_hash_from_root(&x, n > 0, salt.b, &f2);
      CHECK(bk_hash_eq(&f, &f2));
      nvals++;
    }
    bk_merkle_free(m);
    free(l);
    nvec++;
  }
  printf("# %d merkle vectors, %d expected values checked\n", nvec, nvals);
  CHECK_EQ_INT(nvec, 18);
  CHECK_EQ_INT(nvals, 72);
  vectors_checked = nvals;
  cJSON_Delete(j);
}

/* Derived vectors: hashes of the 1 MB SplitMix chunks (secondary check). */
static void test_derived_aggregates(void) {
  cJSON *j = load_json("xet_derived_vectors.json");
  CHECK(j != NULL);
  if (!j) return;
  cJSON *chunks = cJSON_GetObjectItem(j, "chunks");
  int n = cJSON_GetArraySize(chunks);
  CHECK_EQ_INT(n, 19);
  bk_merkle_leaf *l = calloc((size_t)n, sizeof *l);
  bk_hash *hs = calloc((size_t)n, sizeof *hs);
  int i = 0;
  cJSON *c;
  cJSON_ArrayForEach(c, chunks) {
    CHECK_EQ_INT(bk_hash_parse(cJSON_GetObjectItem(c, "hash")->valuestring, &l[i].hash), 0);
    l[i].len = (uint64_t)cJSON_GetObjectItem(c, "size")->valuedouble;
    hs[i] = l[i].hash;
    i++;
  }
  bk_hash h;
  char hex[65];
  CHECK_EQ_INT(bk_xorb_hash(l, (size_t)n, &h), 0);
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, cJSON_GetObjectItem(j, "xorb_hash_all_chunks_one_xorb")->valuestring);
  CHECK_EQ_INT(bk_file_hash(l, (size_t)n, NULL, &h), 0);
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, cJSON_GetObjectItem(j, "file_hash")->valuestring);
  bk_range_hash(hs, (size_t)n, &h);
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, cJSON_GetObjectItem(j, "verification_range_hash_all_chunks")->valuestring);

  /* single chunk "hello": file hash = keyed(zero, chunk hash) */
  cJSON *small = cJSON_GetObjectItem(j, "small_inputs");
  bk_merkle_leaf one;
  bk_chunk_hash("hello", 5, &one.hash);
  one.len = 5;
  CHECK_EQ_INT(bk_file_hash(&one, 1, NULL, &h), 0);
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, cJSON_GetObjectItem(small, "file_hash_of_single_chunk_hello")->valuestring);
  free(l);
  free(hs);
  cJSON_Delete(j);
}

static void test_edge_cases(void) {
  bk_hash h;
  memset(h.b, 0xAA, 32);
  CHECK_EQ_INT(bk_merkle_root(NULL, 0, &h), 0);
  CHECK(bk_hash_is_zero(&h));
  memset(h.b, 0xAA, 32);
  CHECK_EQ_INT(bk_file_hash(NULL, 0, NULL, &h), 0);
  CHECK(bk_hash_is_zero(&h));
  /* single leaf: root is the leaf itself */
  bk_merkle_leaf l;
  bk_chunk_hash("x", 1, &l.hash);
  l.len = 1;
  CHECK_EQ_INT(bk_merkle_root(&l, 1, &h), 0);
  CHECK(bk_hash_eq(&h, &l.hash));
  /* two leaves: one node over both, text form checked by hand */
  bk_merkle_leaf two[2];
  bk_chunk_hash("a", 1, &two[0].hash);
  two[0].len = 1;
  bk_chunk_hash("bc", 2, &two[1].hash);
  two[1].len = 22;
  char text[200], h0[65], h1[65];
  bk_hash_to_hex(&two[0].hash, h0);
  bk_hash_to_hex(&two[1].hash, h1);
  int tl = snprintf(text, sizeof text, "%s : 1\n%s : 22\n", h0, h1);
  bk_hash want;
  bk_keyed_hash(BK_INTERNAL_NODE_KEY, text, (size_t)tl, &want);
  CHECK_EQ_INT(bk_merkle_root(two, 2, &h), 0);
  CHECK(bk_hash_eq(&h, &want));
  /* empty range hash = keyed(VERIFICATION_KEY, "") */
  bk_range_hash(NULL, 0, &h);
  bk_keyed_hash(BK_VERIFICATION_KEY, "", 0, &want);
  CHECK(bk_hash_eq(&h, &want));
}

/* Many leaves: builder and one-shot agree, and the result changes when one
 * length changes (sanity on large trees, several levels deep). */
static void test_large_tree(void) {
  size_t n = 20000;
  bk_merkle_leaf *l = malloc(n * sizeof *l);
  bk_merkle *m = NULL;
  CHECK_EQ_INT(bk_merkle_new(&m), 0);
  for (size_t i = 0; i < n; i++) {
    uint64_t v = i * 0x9E3779B97F4A7C15ull;
    bk_chunk_hash(&v, sizeof v, &l[i].hash);
    l[i].len = 1000 + i;
    CHECK_EQ_INT(bk_merkle_push(m, &l[i].hash, l[i].len), 0);
  }
  bk_hash a, b, c;
  CHECK_EQ_INT(bk_merkle_root(l, n, &a), 0);
  CHECK_EQ_INT(bk_merkle_finish(m, &b), 0);
  CHECK(bk_hash_eq(&a, &b));
  l[n / 2].len++;
  CHECK_EQ_INT(bk_merkle_root(l, n, &c), 0);
  CHECK(!bk_hash_eq(&a, &c));
  bk_merkle_free(m);
  free(l);
}

/* The streaming builder equals the one-shot root after every push (prefixes
 * 0..400), keeps working after finish, and on a large tree. */
static void test_builder_prefixes(void) {
  size_t n = 400;
  bk_merkle_leaf *l = malloc(n * sizeof *l);
  bk_merkle *m = NULL;
  CHECK_EQ_INT(bk_merkle_new(&m), 0);
  int bad = 0;
  for (size_t i = 0; i <= n; i++) {
    bk_hash a, b;
    CHECK_EQ_INT(bk_merkle_root(l, i, &a), 0);
    CHECK_EQ_INT(bk_merkle_finish(m, &b), 0);
    if (!bk_hash_eq(&a, &b)) bad++;
    if (i == n) break;
    uint64_t v = i * 31 + 7;
    bk_chunk_hash(&v, sizeof v, &l[i].hash);
    l[i].len = v;
    CHECK_EQ_INT(bk_merkle_push(m, &l[i].hash, l[i].len), 0);
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(bk_merkle_count(m), n);
  bk_merkle_free(m);
  free(l);
  size_t big = 300000;
  l = malloc(big * sizeof *l);
  CHECK_EQ_INT(bk_merkle_new(&m), 0);
  for (size_t i = 0; i < big; i++) {
    uint64_t v = i ^ 0xabcdefull;
    bk_chunk_hash(&v, sizeof v, &l[i].hash);
    l[i].len = 65536 + (i % 1000);
    CHECK_EQ_INT(bk_merkle_push(m, &l[i].hash, l[i].len), 0);
  }
  bk_hash a, b;
  CHECK_EQ_INT(bk_merkle_root(l, big, &a), 0);
  CHECK_EQ_INT(bk_merkle_finish(m, &b), 0);
  CHECK(bk_hash_eq(&a, &b));
  bk_merkle_free(m);
  free(l);
}

int main(void) {
  RUN(test_builder_prefixes);
  RUN(test_official_vectors);
  RUN(test_derived_aggregates);
  RUN(test_edge_cases);
  RUN(test_large_tree);
  return test_summary();
}
