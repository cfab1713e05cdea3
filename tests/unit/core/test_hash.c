/* Hash tests: keyed BLAKE3 chunk hashes, string form and its byte-order
 * quirk, parsing (valid and invalid), tail/head u64, hmac. */
#include <cjson/cJSON.h>

#include "../test.h"
#include "blake3.h"
#include "buckets/error.h"
#include "buckets/hash.h"

static cJSON *load_json(const char *name) {
  char path[1024];
  FILE *f = fopen(test_data(name, path, sizeof path), "rb");
  if (!f) {
    fprintf(stderr, "cannot read %s\n", path);
    return NULL;
  }
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  return cJSON_Parse(buf);
}

static void test_quirk_example(void) {
  cJSON *j = load_json("xet_derived_vectors.json");
  CHECK(j != NULL);
  if (!j) return;
  const char *want =
      cJSON_GetObjectItem(cJSON_GetObjectItem(j, "hash_string_example"), "string")->valuestring;
  CHECK_EQ_STR(want, "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918");
  bk_hash h, back;
  for (int i = 0; i < 32; i++) h.b[i] = (uint8_t)i;
  char hex[65];
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, want);
  CHECK_EQ_INT(bk_hash_parse(want, &back), 0);
  CHECK(bk_hash_eq(&h, &back));
  CHECK_EQ_INT(bk_hash_head_u64(&h), 0x0706050403020100ull);
  CHECK_EQ_INT(bk_hash_tail_u64(&h), 0x1f1e1d1c1b1a1918ull);
  cJSON_Delete(j);
}

static void test_small_chunk_hashes(void) {
  cJSON *j = load_json("xet_derived_vectors.json");
  CHECK(j != NULL);
  if (!j) return;
  cJSON *s = cJSON_GetObjectItem(j, "small_inputs");
  bk_hash h;
  char hex[65];
  bk_chunk_hash("", 0, &h);
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, cJSON_GetObjectItem(s, "chunk_hash_of_empty_input")->valuestring);
  bk_chunk_hash("hello", 5, &h);
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, cJSON_GetObjectItem(s, "chunk_hash_of_ascii_hello")->valuestring);
  cJSON_Delete(j);
}

/* Chunk hash == keyed BLAKE3 with DATA_KEY, computed by the raw hasher API in
 * odd-sized pieces (exercises SIMD paths across chunk/block boundaries). */
static void test_keyed_matches_incremental(void) {
  size_t n = 300000;
  uint8_t *d = malloc(n);
  for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(i * 131 + (i >> 9));
  size_t sizes[] = {0, 1, 63, 64, 65, 1023, 1024, 1025, 8192, 65537, 300000};
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    bk_hash a, b;
    bk_chunk_hash(d, sizes[k], &a);
    blake3_hasher h;
    blake3_hasher_init_keyed(&h, BK_DATA_KEY);
    for (size_t off = 0; off < sizes[k]; off += 37) {
      size_t m = sizes[k] - off < 37 ? sizes[k] - off : 37;
      blake3_hasher_update(&h, d + off, m);
    }
    blake3_hasher_finalize(&h, b.b, 32);
    CHECK(bk_hash_eq(&a, &b));
  }
  free(d);
}

static void test_parse_errors(void) {
  bk_hash h;
  memset(h.b, 0x55, 32);
  bk_hash orig = h;
  CHECK_EQ_INT(bk_hash_parse("", &h), BK_EINVAL);
  CHECK_EQ_INT(bk_hash_parse(NULL, &h), BK_EINVAL);
  CHECK_EQ_INT(bk_hash_parse("00", &h), BK_EINVAL);
  char s[70];
  memset(s, '0', 64);
  s[64] = 0;
  CHECK_EQ_INT(bk_hash_parse(s, &h), 0);
  CHECK(bk_hash_is_zero(&h));
  h = orig;
  s[10] = 'g';
  CHECK_EQ_INT(bk_hash_parse(s, &h), BK_EINVAL);
  CHECK(bk_hash_eq(&h, &orig)); /* untouched on failure */
  s[10] = '0';
  s[64] = '0';
  s[65] = 0;
  CHECK_EQ_INT(bk_hash_parse(s, &h), BK_EINVAL); /* 65 chars */
  s[64] = 0;
  /* upper case accepted, printed lower case */
  const char *up = "07060504030201000F0E0D0C0B0A090817161514131211101F1E1D1C1B1A1918";
  CHECK_EQ_INT(bk_hash_parse(up, &h), 0);
  char hex[65];
  bk_hash_to_hex(&h, hex);
  CHECK_EQ_STR(hex, "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918");
  /* from_hex reads exactly 64 chars, not NUL-terminated */
  char longer[80];
  memcpy(longer, hex, 64);
  memcpy(longer + 64, "zzzz", 5);
  bk_hash h2;
  CHECK_EQ_INT(bk_hash_from_hex(longer, &h2), 0);
  CHECK(bk_hash_eq(&h, &h2));
  CHECK_EQ_INT(bk_hash_parse(longer, &h2), BK_EINVAL);
  /* a short string given to from_hex: rejected at its NUL, no over-read
   * (exact-size heap block, so ASan would flag a read past it) */
  char *shortstr = malloc(4);
  memcpy(shortstr, "abc", 4);
  CHECK_EQ_INT(bk_hash_from_hex(shortstr, &h2), BK_EINVAL);
  free(shortstr);
}

static void test_roundtrip_random(void) {
  uint64_t s = 12345;
  for (int k = 0; k < 1000; k++) {
    bk_hash h, b;
    for (int i = 0; i < 32; i++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      h.b[i] = (uint8_t)(s >> 56);
    }
    char hex[65];
    bk_hash_to_hex(&h, hex);
    CHECK_EQ_INT((int)strlen(hex), 64);
    CHECK_EQ_INT(bk_hash_parse(hex, &b), 0);
    CHECK(bk_hash_eq(&h, &b));
  }
}

static void test_hmac_and_plain(void) {
  bk_hash h, key, out, want;
  bk_chunk_hash("abc", 3, &h);
  bk_chunk_hash("key", 3, &key);
  bk_hash_hmac(&h, key.b, &out);
  bk_keyed_hash(key.b, h.b, 32, &want);
  CHECK(bk_hash_eq(&out, &want));
  bk_hash alias = h;
  bk_hash_hmac(&alias, key.b, &alias); /* in place */
  CHECK(bk_hash_eq(&alias, &want));
  /* plain BLAKE3("") official test value */
  uint8_t d[32];
  bk_blake3("", 0, d);
  bk_hash dh;
  memcpy(dh.b, d, 32);
  CHECK_EQ_INT(d[0], 0xaf);
  CHECK_EQ_INT(d[1], 0x13);
  CHECK_EQ_INT(d[31], 0x62);
  const char *impl = bk_blake3_impl();
  CHECK(impl && *impl);
  printf("# blake3 implementation: %s\n", impl);
}

int main(void) {
  RUN(test_quirk_example);
  RUN(test_small_chunk_hashes);
  RUN(test_keyed_matches_incremental);
  RUN(test_parse_errors);
  RUN(test_roundtrip_random);
  RUN(test_hmac_and_plain);
  return test_summary();
}
