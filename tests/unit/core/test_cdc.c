/* CDC tests: all 130 official chunk-boundary vectors (whole and in 1/37/255
 * byte pieces), derived chunk hashes, a naive reference chunker, edge cases
 * (empty, 1 byte, MIN, MAX, zeros), parallel == sequential. */
#include <cjson/cJSON.h>

#include "../test.h"
#include "buckets/cdc.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"

static cJSON *load_json(const char *name) {
  char path[1024];
  FILE *f = fopen(test_data(name, path, sizeof path), "rb");
  if (!f) {
    fprintf(stderr, "cannot read %s\n", path);
    return NULL;
  }
  size_t cap = 1 << 20, n = 0, r;
  char *p = malloc(cap + 1);
  while ((r = fread(p + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      cap *= 2;
      p = realloc(p, cap + 1);
    }
  }
  fclose(f);
  p[n] = 0;
  cJSON *j = cJSON_Parse(p);
  free(p);
  return j;
}

static void splitmix(uint64_t seed, uint8_t *out, size_t n) {
  uint64_t st = seed;
  for (size_t i = 0; i < n; i += 8) {
    st += 0x9E3779B97F4A7C15ull;
    uint64_t z = st;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (size_t k = 0; k < 8 && i + k < n; k++) out[i + k] = (uint8_t)(z >> (8 * k));
  }
}

/* Naive reference: hash every byte from the chunk start, no skipping. */
static size_t naive_boundaries(const uint8_t *d, size_t len, uint64_t *ends) {
  size_t n = 0, start = 0;
  uint64_t h = 0;
  for (size_t i = 0; i < len; i++) {
    h = (h << 1) + BK_GEAR_TABLE[d[i]];
    size_t size = i + 1 - start;
    if (size < BK_CDC_MIN) continue;
    if ((h & BK_CDC_MASK) == 0 || size == BK_CDC_MAX) {
      ends[n++] = i + 1;
      start = i + 1;
      h = 0;
    }
  }
  if (start < len) ends[n++] = len;
  return n;
}

typedef struct collect {
  uint64_t ends[4096];
  bk_hash hashes[4096];
  size_t n;
  uint64_t next_off;
  int bad_offset;
  int abort_after; /* 0 = never */
} collect;

static int collect_cb(void *ctx, uint64_t off, const uint8_t *data, size_t len,
                      const bk_hash *h) {
  collect *c = ctx;
  if (off != c->next_off) c->bad_offset = 1;
  bk_hash check;
  bk_chunk_hash(data, len, &check);
  if (!bk_hash_eq(&check, h)) c->bad_offset = 2;
  c->next_off = off + len;
  if (c->n < 4096) {
    c->ends[c->n] = off + len;
    c->hashes[c->n] = *h;
  }
  c->n++;
  if (c->abort_after && (int)c->n == c->abort_after) return 42;
  return 0;
}

/* Chunker fed in pieces of `piece` bytes (0 = whole). */
static int run_chunker(const uint8_t *d, size_t len, size_t piece, collect *c) {
  memset(c, 0, sizeof *c);
  bk_chunker *k = NULL;
  if (bk_chunker_new(collect_cb, c, &k)) return -1;
  int rc = 0;
  if (piece == 0) piece = len ? len : 1;
  for (size_t off = 0; off < len && !rc; off += piece)
    rc = bk_chunker_feed(k, d + off, len - off < piece ? len - off : piece);
  if (!rc && bk_chunker_offset(k) != len) rc = -2;
  if (!rc) rc = bk_chunker_finish(k);
  bk_chunker_free(k);
  return rc ? rc : c->bad_offset;
}

/* Checks all chunking paths against the expected ends. */
static int n_vec_checked;
static void check_all_paths(const uint8_t *d, size_t len, const uint64_t *want, size_t nwant,
                            const char *name) {
  int bad = 0;
  uint64_t *e = NULL;
  size_t n = 0;
  CHECK_EQ_INT(bk_cdc_boundaries(d, len, &e, &n), 0);
  if (n != nwant || (n && memcmp(e, want, n * sizeof *e))) bad |= 1;
  free(e);
  for (unsigned t = 2; t <= 4; t += 2) {
    CHECK_EQ_INT(bk_cdc_boundaries_parallel(d, len, t, &e, &n), 0);
    if (n != nwant || (n && memcmp(e, want, n * sizeof *e))) bad |= 2;
    free(e);
  }
  static const size_t pieces[] = {0, 1, 37, 255};
  static collect c;
  for (size_t i = 0; i < 4; i++) {
    int rc = run_chunker(d, len, pieces[i], &c);
    if (rc || c.n != nwant || memcmp(c.ends, want, nwant * sizeof *want)) bad |= 4 << i;
  }
  if (bad) fprintf(stderr, "  vector %s: mismatch (paths mask %#x)\n", name, bad);
  CHECK_EQ_INT(bad, 0);
  n_vec_checked++;
}

static size_t json_ends(cJSON *arr, uint64_t *out) {
  size_t n = 0;
  cJSON *x;
  cJSON_ArrayForEach(x, arr) out[n++] = (uint64_t)x->valuedouble;
  return n;
}

static void test_gear_table(void) {
  char path[1024];
  FILE *f = fopen(test_data("xet_gear_table.txt", path, sizeof path), "r");
  CHECK(f != NULL);
  if (!f) return;
  char line[64];
  int i = 0, bad = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] != '0') continue;
    uint64_t v = strtoull(line, NULL, 16);
    if (i >= 256 || BK_GEAR_TABLE[i] != v) bad++;
    i++;
  }
  fclose(f);
  CHECK_EQ_INT(i, 256);
  CHECK_EQ_INT(bad, 0);
  CHECK(BK_GEAR_TABLE[0] == 0xb088d3a9e840f559ull);
  CHECK(BK_GEAR_TABLE[255] == 0x63c7a906c1dd187bull);
}

static void test_official_vectors(void) {
  cJSON *j = load_json("xet_chunking_vectors.json");
  CHECK(j != NULL);
  if (!j) return;
  static uint64_t want[4096];
  size_t nw;
  /* whole-file vectors */
  cJSON *v;
  int nwhole = 0;
  cJSON_ArrayForEach(v, cJSON_GetObjectItem(j, "vectors")) {
    const char *name = cJSON_GetObjectItem(v, "name")->valuestring;
    size_t len = 1000000;
    uint8_t *d = malloc(len);
    if (strstr(name, "random")) {
      splitmix(0, d, len);
      cJSON *chk;
      cJSON_ArrayForEach(chk, cJSON_GetObjectItem(v, "data_checks")) {
        CHECK_EQ_INT(d[atoi(chk->string)], (int)chk->valuedouble);
      }
    } else {
      CHECK(strstr(name, "const") != NULL);
      memset(d, 0x3b, len);
    }
    nw = json_ends(cJSON_GetObjectItem(v, "boundaries"), want);
    CHECK_EQ_INT(want[nw - 1], len);
    check_all_paths(d, len, want, nw, name);
    free(d);
    nwhole++;
  }
  CHECK_EQ_INT(nwhole, 2);
  /* hitting-pattern vectors */
  cJSON *hd = cJSON_GetObjectItem(j, "hitting_data");
  uint8_t base[128];
  int nb = 0;
  cJSON *x;
  cJSON_ArrayForEach(x, cJSON_GetObjectItem(hd, "base_pattern")) base[nb++] = (uint8_t)x->valuedouble;
  CHECK_EQ_INT(nb, 128);
  int ncases = 0;
  cJSON_ArrayForEach(v, cJSON_GetObjectItem(hd, "cases")) {
    size_t pad = (size_t)cJSON_GetObjectItem(v, "padding")->valuedouble;
    size_t n = 65536, len = 128 + pad;
    uint8_t *d = calloc(n, 1);
    memcpy(d, base, 128);
    while (len < n) {
      size_t add = n - len < len ? n - len : len;
      memcpy(d + len, d, add);
      len += add;
    }
    CHECK_EQ_INT(d[11111], (int)cJSON_GetObjectItem(v, "data_at_11111")->valuedouble);
    nw = json_ends(cJSON_GetObjectItem(v, "boundaries"), want);
    char name[64];
    snprintf(name, sizeof name, "hitting padding=%zu", pad);
    check_all_paths(d, n, want, nw, name);
    free(d);
    ncases++;
  }
  CHECK_EQ_INT(ncases, 128);
  printf("# %d chunk-boundary vectors checked (whole, 1/37/255-byte pieces, parallel)\n",
         n_vec_checked);
  CHECK_EQ_INT(n_vec_checked, 130);
  cJSON_Delete(j);
}

/* Derived chunk hashes / xorb / file hash of the 1 MB SplitMix data. */
static void test_derived_hashes(void) {
  cJSON *j = load_json("xet_derived_vectors.json");
  CHECK(j != NULL);
  if (!j) return;
  size_t len = 1000000;
  uint8_t *d = malloc(len);
  splitmix(0, d, len);
  static collect c;
  CHECK_EQ_INT(run_chunker(d, len, 65536 + 3, &c), 0);
  cJSON *chunks = cJSON_GetObjectItem(j, "chunks");
  CHECK_EQ_INT(c.n, cJSON_GetArraySize(chunks));
  size_t i = 0;
  cJSON *x;
  bk_merkle_leaf leaves[64];
  cJSON_ArrayForEach(x, chunks) {
    if (i >= c.n || i >= 64) break;
    char hex[65];
    bk_hash_to_hex(&c.hashes[i], hex);
    CHECK_EQ_STR(hex, cJSON_GetObjectItem(x, "hash")->valuestring);
    CHECK_EQ_INT(c.ends[i], (uint64_t)cJSON_GetObjectItem(x, "end")->valuedouble);
    leaves[i].hash = c.hashes[i];
    leaves[i].len = c.ends[i] - (i ? c.ends[i - 1] : 0);
    i++;
  }
  bk_hash fh;
  char hex[65];
  CHECK_EQ_INT(bk_file_hash(leaves, i, NULL, &fh), 0);
  bk_hash_to_hex(&fh, hex);
  CHECK_EQ_STR(hex, cJSON_GetObjectItem(j, "file_hash")->valuestring);
  /* parallel chunk+hash gives the same hashes */
  uint64_t *e = NULL;
  bk_hash *hs = NULL;
  size_t n = 0;
  CHECK_EQ_INT(bk_cdc_chunks_parallel(d, len, 2, &e, &hs, &n), 0);
  CHECK_EQ_INT(n, c.n);
  for (size_t k = 0; k < n && k < c.n; k++) CHECK(bk_hash_eq(&hs[k], &c.hashes[k]));
  free(e);
  free(hs);
  free(d);
  cJSON_Delete(j);
}

static void test_edge_cases(void) {
  static collect c;
  uint64_t *e = NULL;
  size_t n = 99;
  /* empty input: no chunks */
  CHECK_EQ_INT(run_chunker(NULL, 0, 0, &c), 0);
  CHECK_EQ_INT(c.n, 0);
  CHECK_EQ_INT(bk_cdc_boundaries(NULL, 0, &e, &n), 0);
  CHECK_EQ_INT(n, 0);
  free(e);
  CHECK_EQ_INT(bk_cdc_boundaries_parallel(NULL, 0, 4, &e, &n), 0);
  CHECK_EQ_INT(n, 0);
  free(e);
  /* one byte */
  uint8_t one = 7;
  CHECK_EQ_INT(run_chunker(&one, 1, 0, &c), 0);
  CHECK_EQ_INT(c.n, 1);
  CHECK_EQ_INT(c.ends[0], 1);
  bk_hash h;
  bk_chunk_hash(&one, 1, &h);
  CHECK(bk_hash_eq(&h, &c.hashes[0]));
  /* exactly MIN, exactly MAX, MAX+1 of data without a hit (zeros): */
  size_t big = 4u << 20;
  uint8_t *z = calloc(big, 1);
  CHECK_EQ_INT(run_chunker(z, BK_CDC_MIN, 100, &c), 0);
  CHECK_EQ_INT(c.n, 1);
  CHECK_EQ_INT(c.ends[0], BK_CDC_MIN);
  CHECK_EQ_INT(run_chunker(z, BK_CDC_MAX, 0, &c), 0);
  CHECK_EQ_INT(c.n, 1);
  CHECK_EQ_INT(c.ends[0], BK_CDC_MAX);
  CHECK_EQ_INT(run_chunker(z, BK_CDC_MAX + 1, 4096, &c), 0);
  CHECK_EQ_INT(c.n, 2);
  CHECK_EQ_INT(c.ends[0], BK_CDC_MAX);
  CHECK_EQ_INT(c.ends[1], BK_CDC_MAX + 1);
  /* all zeros: every chunk is exactly MAX */
  CHECK_EQ_INT(run_chunker(z, big, 1 << 20, &c), 0);
  CHECK_EQ_INT(c.n, big / BK_CDC_MAX);
  int all_max = 1;
  for (size_t i = 0; i < c.n; i++)
    if (c.ends[i] != (i + 1) * (uint64_t)BK_CDC_MAX) all_max = 0;
  CHECK(all_max);
  CHECK_EQ_INT(bk_cdc_boundaries_parallel(z, big, 2, &e, &n), 0);
  CHECK_EQ_INT(n, big / BK_CDC_MAX);
  free(e);
  free(z);
}

/* A chunk of exactly MIN bytes: put a 64-byte window whose gear hash hits at
 * the end of a MIN-byte prefix. Moving the hit one byte earlier must NOT cut
 * (size < MIN) — the "size >= MIN" guard. */
static void test_hit_at_min(void) {
  size_t rl = 1000000;
  uint8_t *r = malloc(rl);
  splitmix(0, r, rl);
  /* find a hit position in the random data (any position >= 64) */
  uint64_t h = 0;
  size_t hit = 0;
  for (size_t i = 0; i < rl; i++) {
    h = (h << 1) + BK_GEAR_TABLE[r[i]];
    if (i >= 64 && (h & BK_CDC_MASK) == 0) {
      hit = i;
      break;
    }
  }
  CHECK(hit != 0);
  const uint8_t *win = r + hit - 63; /* 64 bytes ending at the hit */
  size_t len = 3 * BK_CDC_MIN;
  uint8_t *d = malloc(len);
  static collect c;
  for (int shift = 0; shift <= 2; shift++) {
    /* window ends at byte MIN-1 (shift 0: chunk of exactly MIN), MIN-2 or MIN */
    size_t end = BK_CDC_MIN - 1 - (shift == 1) + (shift == 2);
    memset(d, 0, len);
    memcpy(d + end - 63, win, 64);
    uint64_t want[8];
    size_t nw = naive_boundaries(d, len, want);
    CHECK_EQ_INT(run_chunker(d, len, 37, &c), 0);
    CHECK_EQ_INT(c.n, nw);
    CHECK(memcmp(c.ends, want, nw * sizeof *want) == 0);
    if (shift == 0) CHECK_EQ_INT(c.ends[0], BK_CDC_MIN);
    if (shift == 1) CHECK(c.ends[0] != BK_CDC_MIN - 1);
    if (shift == 2) CHECK_EQ_INT(c.ends[0], BK_CDC_MIN + 1);
  }
  free(d);
  free(r);
}

/* Random data of many sizes: every path == the naive reference. */
static void test_random_vs_naive(void) {
  size_t maxlen = 3u << 20;
  uint8_t *d = malloc(maxlen);
  uint64_t *want = malloc(4096 * sizeof *want);
  static collect c;
  size_t sizes[] = {1, 100, 8191, 8192, 8193, 65536, 131071, 131072, 131073, 777777, 3u << 20};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    splitmix(k + 1, d, sizes[k]);
    size_t nw = naive_boundaries(d, sizes[k], want);
    uint64_t *e = NULL;
    size_t n = 0;
    CHECK_EQ_INT(bk_cdc_boundaries(d, sizes[k], &e, &n), 0);
    CHECK_EQ_INT(n, nw);
    CHECK(n == nw && memcmp(e, want, n * sizeof *e) == 0);
    free(e);
    CHECK_EQ_INT(run_chunker(d, sizes[k], 1000 + k, &c), 0);
    CHECK(c.n == nw && memcmp(c.ends, want, nw * sizeof *want) == 0);
  }
  free(want);
  free(d);
}

/* Parallel == sequential on random, low-entropy and mixed data. */
static void test_parallel_equals_sequential(void) {
  size_t maxlen = 48u << 20;
  uint8_t *d = malloc(maxlen);
  splitmix(99, d, maxlen);
  /* low-entropy stretches (no hits, all MAX chunks) and text-like stretches */
  memset(d + (5u << 20), 0, 7u << 20);
  for (size_t i = (20u << 20); i < (26u << 20); i++) d[i] = (uint8_t)("abcdefgh ij\n"[i % 12]);
  size_t sizes[] = {maxlen, (33u << 20) + 17, (9u << 20) + 1, 4u << 20, (2u << 20) - 5};
  unsigned threads[] = {0, 1, 2, 3, 4, 7, 16, 100};
  int mism = 0, runs = 0;
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
    uint64_t *seq = NULL;
    size_t ns = 0;
    CHECK_EQ_INT(bk_cdc_boundaries(d, sizes[si], &seq, &ns), 0);
    for (size_t ti = 0; ti < sizeof threads / sizeof *threads; ti++) {
      uint64_t *e = NULL;
      size_t n = 0;
      CHECK_EQ_INT(bk_cdc_boundaries_parallel(d, sizes[si], threads[ti], &e, &n), 0);
      if (n != ns || memcmp(e, seq, n * sizeof *e)) {
        mism++;
        fprintf(stderr, "  parallel mismatch: len %zu threads %u (%zu vs %zu chunks)\n",
                sizes[si], threads[ti], n, ns);
      }
      free(e);
      runs++;
    }
    /* hashes as well, for one thread count */
    uint64_t *e = NULL;
    bk_hash *hs = NULL;
    size_t n = 0;
    CHECK_EQ_INT(bk_cdc_chunks_parallel(d, sizes[si], 3, &e, &hs, &n), 0);
    CHECK_EQ_INT(n, ns);
    int hbad = 0;
    uint64_t st = 0;
    for (size_t i = 0; i < n && i < ns; i++) {
      bk_hash h;
      bk_chunk_hash(d + st, (size_t)(seq[i] - st), &h);
      if (!bk_hash_eq(&h, &hs[i])) hbad++;
      st = seq[i];
    }
    CHECK_EQ_INT(hbad, 0);
    free(e);
    free(hs);
    free(seq);
  }
  uint64_t joins = 0, fallbacks = 0;
  bk_cdc_parallel_stats(&joins, &fallbacks);
  printf("# parallel vs sequential: %d runs, %d mismatches, %llu joins, %llu fallbacks\n",
         runs, mism, (unsigned long long)joins, (unsigned long long)fallbacks);
  CHECK(joins > 50);
  CHECK_EQ_INT(fallbacks, 0);
  CHECK_EQ_INT(mism, 0);
  free(d);
}

static void test_scan_api_and_abort(void) {
  size_t len = 1u << 20;
  uint8_t *d = malloc(len);
  splitmix(5, d, len);
  uint64_t want[64];
  size_t nw = naive_boundaries(d, len, want);
  /* raw bk_cdc_scan with uneven pieces */
  bk_cdc *c = NULL;
  CHECK_EQ_INT(bk_cdc_new(&c), 0);
  size_t pos = 0, n = 0;
  uint64_t got[64];
  while (pos < len) {
    size_t piece = 1 + (pos * 7919) % 20000;
    if (piece > len - pos) piece = len - pos;
    int cut;
    size_t used = bk_cdc_scan(c, d + pos, piece, &cut);
    CHECK(used >= 1 && used <= piece);
    CHECK(cut || used == piece);
    pos += used;
    if (cut && n < 64) got[n++] = pos;
  }
  if (bk_cdc_pending(c) && n < 64) got[n++] = len;
  CHECK_EQ_INT(n, nw);
  CHECK(memcmp(got, want, nw * sizeof *want) == 0);
  bk_cdc_free(c);
  /* callback abort value is propagated, and the chunker is reusable */
  static collect cl;
  memset(&cl, 0, sizeof cl);
  cl.abort_after = 2;
  bk_chunker *k = NULL;
  CHECK_EQ_INT(bk_chunker_new(collect_cb, &cl, &k), 0);
  CHECK_EQ_INT(bk_chunker_feed(k, d, len), 42);
  CHECK_EQ_INT(cl.n, 2);
  bk_chunker_free(k);
  CHECK_EQ_INT(bk_chunker_new(NULL, NULL, &k), BK_EINVAL);
  memset(&cl, 0, sizeof cl);
  CHECK_EQ_INT(bk_chunker_new(collect_cb, &cl, &k), 0);
  for (int round = 0; round < 2; round++) {
    cl.n = 0;
    cl.next_off = 0;
    CHECK_EQ_INT(bk_chunker_feed(k, d, len), 0);
    CHECK_EQ_INT(bk_chunker_finish(k), 0);
    CHECK_EQ_INT(cl.n, nw);
    CHECK(memcmp(cl.ends, want, nw * sizeof *want) == 0);
    CHECK_EQ_INT(cl.bad_offset, 0);
  }
  bk_chunker_free(k);
  free(d);
}

int main(void) {
  RUN(test_gear_table);
  RUN(test_official_vectors);
  RUN(test_derived_hashes);
  RUN(test_edge_cases);
  RUN(test_hit_at_min);
  RUN(test_random_vs_naive);
  RUN(test_parallel_equals_sequential);
  RUN(test_scan_api_and_abort);
  return test_summary();
}
