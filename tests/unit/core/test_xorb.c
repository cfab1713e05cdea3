/* Unit tests: BG4, xorb records, builder, parser, stored footer. */
#include <lz4frame.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "buckets/bg4.h"
#include "buckets/error.h"
#include "buckets/merkle.h"
#include "buckets/xorb.h"

/* ---- data generators ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static void fill_random(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
}
static void fill_text(uint8_t *p, size_t n) {
  static const char *words[] = {"alpha ", "beta ", "gamma ", "delta ", "bucket ",
                                "xorb ", "shard ", "chunk\n"};
  size_t i = 0;
  while (i < n) {
    const char *w = words[rnd() % 8];
    for (size_t k = 0; w[k] && i < n; k++) p[i++] = (uint8_t)w[k];
  }
}
/* u32 words: random low byte, fixed upper bytes: LZ4 finds no 4-byte matches
 * in the interleaved form, BG4 makes three long runs. */
static void fill_bg4_friendly(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    switch (i % 4) {
    case 0: p[i] = (uint8_t)rnd(); break;
    case 1: p[i] = 0x12; break;
    case 2: p[i] = 0x00; break;
    default: p[i] = 0x3f; break;
    }
  }
}

/* Parses body and returns the error code (freeing any result). */
static int parse_rc(const uint8_t *d, size_t n, unsigned flags, const bk_hash *exp) {
  bk_xorb *x = NULL;
  int rc = bk_xorb_parse(d, n, flags, exp, &x);
  if (rc == 0 && !x) return 999;
  bk_xorb_free(x);
  return rc;
}

/* One record of `len` bytes of text, compressed (scheme 1). */
static void make_lz4_record(bk_buf *b, size_t len) {
  uint8_t *d = malloc(len);
  fill_text(d, len);
  bk_buf_init(b, 1 << 20);
  bk_xorb_codec *c;
  bk_xorb_codec_new(&c);
  uint8_t s = 0;
  bk_xorb_codec_encode(c, b, d, len, 1, &s);
  bk_xorb_codec_free(c);
  free(d);
}

static void test_bg4(void) {
  const uint8_t in[10] = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9'};
  uint8_t out[10], back[10];
  bk_bg4_split(in, 10, out);
  CHECK(memcmp(out, "0481592637", 10) == 0);
  bk_bg4_join(out, 10, back);
  CHECK(memcmp(back, in, 10) == 0);
  uint8_t *a = malloc(BK_XORB_CHUNK_MAX), *b = malloc(BK_XORB_CHUNK_MAX),
          *c = malloc(BK_XORB_CHUNK_MAX);
  fill_random(a, BK_XORB_CHUNK_MAX);
  size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 1000, 8191, BK_XORB_CHUNK_MAX};
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    size_t n = lens[k];
    bk_bg4_split(a, n, b);
    /* stream 1 starts after stream 0 (which holds ceil(n/4) bytes) */
    if (n >= 2) CHECK(b[(n + 3) / 4] == a[1]);
    bk_bg4_join(b, n, c);
    CHECK(memcmp(a, c, n) == 0);
  }
  free(a);
  free(b);
  free(c);
}

static void test_roundtrip_mixed(void) {
  bk_xorb_builder *b;
  CHECK_EQ_INT(bk_xorb_builder_new(1, &b), 0);
  size_t sizes[] = {1, 8192, 65536, 131072, 4000, 77777, 3};
  uint8_t *bufs[7];
  bk_merkle_leaf leaves[7];
  for (int i = 0; i < 7; i++) {
    bufs[i] = malloc(sizes[i]);
    if (i % 3 == 0) fill_random(bufs[i], sizes[i]);
    else if (i % 3 == 1) fill_text(bufs[i], sizes[i]);
    else fill_bg4_friendly(bufs[i], sizes[i]);
    bk_chunk_hash(bufs[i], sizes[i], &leaves[i].hash);
    leaves[i].len = sizes[i];
    /* pass the hash for some chunks, let the builder compute others */
    CHECK_EQ_INT(bk_xorb_builder_add(b, bufs[i], sizes[i], i % 2 ? &leaves[i].hash : NULL), 0);
  }
  CHECK_EQ_INT(bk_xorb_builder_count(b), 7);
  bk_hash xh, want;
  const uint8_t *body;
  size_t blen;
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &xh, &body, &blen), 0);
  CHECK_EQ_INT(bk_xorb_hash(leaves, 7, &want), 0);
  CHECK(bk_hash_eq(&xh, &want));
  CHECK_EQ_INT(blen, bk_xorb_builder_size(b));
  const bk_xorb_chunk *bc = bk_xorb_builder_chunks(b);
  uint64_t tot = 0;
  for (int i = 0; i < 7; i++) tot += sizes[i];
  CHECK_EQ_INT(bk_xorb_builder_unpacked(b), tot);

  bk_xorb *x = NULL;
  CHECK_EQ_INT(bk_xorb_parse(body, blen, BK_XORB_KEEP_DATA, &want, &x), 0);
  if (x) {
    CHECK(bk_hash_eq(bk_xorb_hash_of(x), &want));
    CHECK_EQ_INT(bk_xorb_count(x), 7);
    CHECK_EQ_INT(bk_xorb_body_len(x), blen);
    CHECK_EQ_INT(bk_xorb_unpacked(x), tot);
    const bk_xorb_chunk *pc = bk_xorb_chunks(x);
    for (int i = 0; i < 7; i++) {
      CHECK(bk_hash_eq(&pc[i].hash, &leaves[i].hash));
      CHECK_EQ_INT(pc[i].record_offset, bc[i].record_offset);
      CHECK_EQ_INT(pc[i].record_len, bc[i].record_len);
      CHECK_EQ_INT(pc[i].unpacked_offset, bc[i].unpacked_offset);
      CHECK_EQ_INT(pc[i].unpacked_len, sizes[i]);
      CHECK_EQ_INT(pc[i].scheme, bc[i].scheme);
      const uint8_t *d = bk_xorb_chunk_data(x, i);
      CHECK(d && memcmp(d, bufs[i], sizes[i]) == 0);
    }
    CHECK(bk_xorb_chunk_data(x, 7) == NULL);
    bk_xorb_free(x);
  }
  /* without KEEP_DATA no bytes are kept */
  x = NULL;
  CHECK_EQ_INT(bk_xorb_parse(body, blen, 0, NULL, &x), 0);
  if (x) CHECK(bk_xorb_chunk_data(x, 0) == NULL);
  bk_xorb_free(x);

  /* streaming decode of each record with a reusable codec and one-shot */
  bk_xorb_codec *c;
  CHECK_EQ_INT(bk_xorb_codec_new(&c), 0);
  uint8_t *dst = malloc(BK_XORB_CHUNK_MAX);
  size_t off = 0;
  for (int i = 0; i < 7; i++) {
    size_t used = 0, got = 0;
    CHECK_EQ_INT(bk_xorb_codec_decode(c, body + off, blen - off, dst, BK_XORB_CHUNK_MAX,
                                      &used, &got), 0);
    CHECK_EQ_INT(got, sizes[i]);
    CHECK(memcmp(dst, bufs[i], sizes[i]) == 0);
    size_t used2 = 0, got2 = 0;
    CHECK_EQ_INT(bk_xorb_decode_chunk(body + off, blen - off, dst, BK_XORB_CHUNK_MAX,
                                      &used2, &got2), 0);
    CHECK_EQ_INT(used2, used);
    CHECK(memcmp(dst, bufs[i], sizes[i]) == 0);
    uint8_t sch;
    uint32_t cl, ul;
    CHECK_EQ_INT(bk_xorb_record_header(body + off, blen - off, &sch, &cl, &ul), 0);
    CHECK_EQ_INT(ul, sizes[i]);
    CHECK_EQ_INT(cl + 8, used);
    off += used;
  }
  CHECK_EQ_INT(off, blen);
  /* destination too small */
  size_t u, g;
  CHECK_EQ_INT(bk_xorb_codec_decode(c, body, blen, dst, 0, &u, &g), BK_EINVAL);
  free(dst);
  bk_xorb_codec_free(c);

  /* reset makes an empty builder that can be reused */
  bk_xorb_builder_reset(b);
  CHECK_EQ_INT(bk_xorb_builder_count(b), 0);
  CHECK_EQ_INT(bk_xorb_builder_size(b), 0);
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &xh, &body, &blen), BK_EINVAL);
  CHECK_EQ_INT(bk_xorb_builder_add(b, bufs[1], sizes[1], NULL), 0);
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &xh, &body, &blen), 0);
  CHECK(bk_hash_eq(&xh, &leaves[1].hash)); /* one chunk: root = leaf */
  bk_xorb_builder_free(b);
  for (int i = 0; i < 7; i++) free(bufs[i]);
}

static void test_scheme_choice(void) {
  size_t n = 65536;
  uint8_t *d = malloc(n);
  bk_buf out;
  bk_buf_init(&out, 1 << 20);
  uint8_t s = 99;

  fill_random(d, n); /* incompressible -> raw, payload == data */
  CHECK_EQ_INT(bk_xorb_encode_chunk(&out, d, n, 1, &s), 0);
  CHECK_EQ_INT(s, BK_COMP_NONE);
  CHECK_EQ_INT(out.len, n + 8);
  CHECK(memcmp(out.p + 8, d, n) == 0);
  CHECK_EQ_INT(out.p[4], 0);
  CHECK_EQ_INT(bk_load_u24le(out.p + 1), n);
  CHECK_EQ_INT(bk_load_u24le(out.p + 5), n);

  bk_buf_reset(&out);
  fill_text(d, n); /* compressible -> LZ4 or BG4, smaller */
  CHECK_EQ_INT(bk_xorb_encode_chunk(&out, d, n, 1, &s), 0);
  CHECK(s == BK_COMP_LZ4 || s == BK_COMP_BG4_LZ4);
  CHECK(out.len < n / 2);

  bk_buf_reset(&out);
  fill_bg4_friendly(d, n);
  CHECK_EQ_INT(bk_xorb_encode_chunk(&out, d, n, 1, &s), 0);
  CHECK_EQ_INT(s, BK_COMP_BG4_LZ4);
  CHECK(out.len < n * 2 / 5);
  uint8_t *back = malloc(n);
  size_t used, got;
  CHECK_EQ_INT(bk_xorb_decode_chunk(out.p, out.len, back, n, &used, &got), 0);
  CHECK_EQ_INT(got, n);
  CHECK(memcmp(back, d, n) == 0);

  bk_buf_reset(&out);
  fill_text(d, n); /* compress = 0 -> raw even when compressible */
  CHECK_EQ_INT(bk_xorb_encode_chunk(&out, d, n, 0, &s), 0);
  CHECK_EQ_INT(s, BK_COMP_NONE);
  CHECK_EQ_INT(out.len, n + 8);

  /* a 1-byte chunk never compresses */
  bk_buf_reset(&out);
  CHECK_EQ_INT(bk_xorb_encode_chunk(&out, d, 1, 1, &s), 0);
  CHECK_EQ_INT(s, BK_COMP_NONE);
  CHECK_EQ_INT(out.len, 9);

  /* bad lengths */
  CHECK_EQ_INT(bk_xorb_encode_chunk(&out, d, 0, 1, &s), BK_EINVAL);
  uint8_t *big = calloc(1, BK_XORB_CHUNK_MAX + 1);
  CHECK_EQ_INT(bk_xorb_encode_chunk(&out, big, BK_XORB_CHUNK_MAX + 1, 1, &s), BK_EINVAL);
  free(big);
  free(back);
  free(d);
  bk_buf_free(&out);
}

static void test_exact_sizes(void) {
  size_t sizes[] = {1, 8192, 131072};
  for (int k = 0; k < 3; k++) {
    for (int comp = 0; comp < 2; comp++) {
      for (int kind = 0; kind < 2; kind++) {
        size_t n = sizes[k];
        uint8_t *d = malloc(n);
        if (kind) fill_text(d, n); else fill_random(d, n);
        bk_xorb_builder *b;
        bk_xorb_builder_new(comp, &b);
        CHECK_EQ_INT(bk_xorb_builder_add(b, d, n, NULL), 0);
        bk_hash h, ch;
        const uint8_t *body;
        size_t blen;
        CHECK_EQ_INT(bk_xorb_builder_finish(b, &h, &body, &blen), 0);
        bk_chunk_hash(d, n, &ch);
        CHECK(bk_hash_eq(&h, &ch));
        bk_xorb *x = NULL;
        CHECK_EQ_INT(bk_xorb_parse(body, blen, BK_XORB_KEEP_DATA, &h, &x), 0);
        if (x) {
          CHECK_EQ_INT(bk_xorb_chunks(x)[0].unpacked_len, n);
          CHECK(memcmp(bk_xorb_chunk_data(x, 0), d, n) == 0);
        }
        bk_xorb_free(x);
        bk_xorb_builder_free(b);
        free(d);
      }
    }
  }
}

static void test_chunk_limit(void) {
  bk_xorb_builder *b;
  bk_xorb_builder_new(1, &b);
  uint8_t byte = 7;
  int rc = 0;
  for (unsigned i = 0; i < BK_XORB_MAX_CHUNKS && rc == 0; i++)
    rc = bk_xorb_builder_add(b, &byte, 1, NULL);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(bk_xorb_builder_count(b), BK_XORB_MAX_CHUNKS);
  size_t sz = bk_xorb_builder_size(b);
  CHECK_EQ_INT(bk_xorb_builder_add(b, &byte, 1, NULL), BK_ELIMIT);
  CHECK_EQ_INT(bk_xorb_builder_count(b), BK_XORB_MAX_CHUNKS);
  CHECK_EQ_INT(bk_xorb_builder_size(b), sz);
  bk_hash h;
  const uint8_t *body;
  size_t blen;
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &h, &body, &blen), 0);
  CHECK_EQ_INT(blen, 9 * BK_XORB_MAX_CHUNKS);
  CHECK_EQ_INT(parse_rc(body, blen, 0, &h), 0);
  /* 8,193 records -> over limit */
  uint8_t *more = malloc(blen + 9);
  memcpy(more, body, blen);
  memcpy(more + blen, body, 9);
  CHECK_EQ_INT(parse_rc(more, blen + 9, 0, NULL), BK_ELIMIT);
  free(more);
  bk_xorb_builder_free(b);
}

static void test_byte_limits(void) {
  /* Uncompressed cap: 512 zero chunks of 128 KiB compress to almost nothing
   * but reach exactly 64 MiB of content; one more byte is refused. */
  uint8_t *z = calloc(1, BK_XORB_CHUNK_MAX);
  bk_xorb_builder *b;
  bk_xorb_builder_new(1, &b);
  int rc = 0;
  for (int i = 0; i < 512 && rc == 0; i++) rc = bk_xorb_builder_add(b, z, BK_XORB_CHUNK_MAX, NULL);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(bk_xorb_builder_unpacked(b), BK_XORB_MAX_BYTES);
  CHECK(bk_xorb_builder_size(b) < (1u << 20));
  size_t sz = bk_xorb_builder_size(b);
  CHECK_EQ_INT(bk_xorb_builder_add(b, z, 1, NULL), BK_ELIMIT);
  CHECK_EQ_INT(bk_xorb_builder_count(b), 512);
  CHECK_EQ_INT(bk_xorb_builder_size(b), sz);
  bk_hash h;
  const uint8_t *body;
  size_t blen;
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &h, &body, &blen), 0);
  CHECK_EQ_INT(parse_rc(body, blen, 0, &h), 0);
  /* the same records plus one more: content over 64 MiB */
  uint32_t rl = bk_xorb_builder_chunks(b)[0].record_len;
  uint8_t *more = malloc(blen + rl);
  memcpy(more, body, blen);
  memcpy(more + blen, body, rl);
  CHECK_EQ_INT(parse_rc(more, blen + rl, 0, NULL), BK_ELIMIT);
  free(more);
  bk_xorb_builder_free(b);

  /* Serialized cap: raw 128 KiB records (131,080 bytes each); the 512th
   * would take the body past 64 MiB although content is exactly 64 MiB. */
  uint8_t *r = malloc(BK_XORB_CHUNK_MAX);
  fill_random(r, BK_XORB_CHUNK_MAX);
  bk_xorb_builder_new(0, &b);
  rc = 0;
  for (int i = 0; i < 511 && rc == 0; i++) rc = bk_xorb_builder_add(b, r, BK_XORB_CHUNK_MAX, NULL);
  CHECK_EQ_INT(rc, 0);
  sz = bk_xorb_builder_size(b);
  CHECK_EQ_INT(sz, 511u * (BK_XORB_CHUNK_MAX + 8));
  CHECK_EQ_INT(bk_xorb_builder_add(b, r, BK_XORB_CHUNK_MAX, NULL), BK_ELIMIT);
  CHECK_EQ_INT(bk_xorb_builder_count(b), 511);
  CHECK_EQ_INT(bk_xorb_builder_size(b), sz);
  CHECK_EQ_INT(bk_xorb_builder_unpacked(b), 511u * BK_XORB_CHUNK_MAX);
  /* a smaller chunk that still fits is accepted */
  size_t room = BK_XORB_MAX_BYTES - sz - 8;
  CHECK_EQ_INT(bk_xorb_builder_add(b, r, room, NULL), 0);
  CHECK_EQ_INT(bk_xorb_builder_size(b), BK_XORB_MAX_BYTES);
  CHECK_EQ_INT(bk_xorb_builder_add(b, r, 1, NULL), BK_ELIMIT);
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &h, &body, &blen), 0);
  CHECK_EQ_INT(parse_rc(body, blen, 0, &h), 0);
  /* parser: 512 raw records = 67,112,960 bytes > 64 MiB */
  uint8_t *big = malloc(512u * (BK_XORB_CHUNK_MAX + 8));
  for (int i = 0; i < 512; i++) memcpy(big + (size_t)i * (BK_XORB_CHUNK_MAX + 8), body, BK_XORB_CHUNK_MAX + 8);
  CHECK_EQ_INT(parse_rc(big, 512u * (BK_XORB_CHUNK_MAX + 8), 0, NULL), BK_ELIMIT);
  free(big);
  bk_xorb_builder_free(b);
  free(r);
  free(z);
}

static void test_malformed(void) {
  bk_buf rec;
  make_lz4_record(&rec, 20000);
  CHECK_EQ_INT(rec.p[4], BK_COMP_LZ4);
  size_t n = rec.len;
  uint8_t *m = malloc(n + 64);
  bk_hash good;
  {
    bk_xorb *x = NULL;
    CHECK_EQ_INT(bk_xorb_parse(rec.p, n, 0, NULL, &x), 0);
    if (x) good = *bk_xorb_hash_of(x);
    bk_xorb_free(x);
  }
#define RESET() memcpy(m, rec.p, n)
  /* empty input: no chunks */
  CHECK_EQ_INT(parse_rc(m, 0, 0, NULL), BK_EFORMAT);
  /* truncated header */
  RESET();
  CHECK_EQ_INT(parse_rc(m, 5, 0, NULL), BK_ETRUNCATED);
  CHECK_EQ_INT(parse_rc(m, 7, 0, NULL), BK_ETRUNCATED);
  /* a valid record followed by a partial header */
  RESET();
  memcpy(m + n, m, 3);
  CHECK_EQ_INT(parse_rc(m, n + 3, 0, NULL), BK_ETRUNCATED);
  /* truncated payload */
  CHECK_EQ_INT(parse_rc(m, n - 1, 0, NULL), BK_ETRUNCATED);
  CHECK_EQ_INT(parse_rc(m, 8, 0, NULL), BK_ETRUNCATED);
  /* bad version */
  RESET();
  m[0] = 1;
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_EVERSION);
  /* oversize lengths */
  RESET();
  bk_store_u24le(m + 5, BK_XORB_CHUNK_MAX + 1);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ELIMIT);
  RESET();
  bk_store_u24le(m + 1, BK_XORB_COMPRESSED_MAX + 1);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ELIMIT);
  RESET();
  bk_store_u24le(m + 1, 0xFFFFFF);
  bk_store_u24le(m + 5, 0xFFFFFF);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ELIMIT);
  /* lying uncompressed length with a valid LZ4 frame */
  RESET();
  bk_store_u24le(m + 5, 19999);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ESIZE);
  RESET();
  bk_store_u24le(m + 5, 20001);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ESIZE);
  RESET();
  bk_store_u24le(m + 5, 1);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ESIZE);
  /* corrupt LZ4 frame: bad magic, then a damaged block */
  RESET();
  m[8] ^= 0xFF;
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ECOMPRESS);
  RESET();
  for (size_t i = 8 + 7 + 4; i < n - 4; i += 3) m[i] = 0xFF; /* trash block body */
  {
    int rc = parse_rc(m, n, 0, NULL);
    CHECK(rc == BK_ECOMPRESS || rc == BK_ESIZE);
  }
  /* a frame whose end mark is cut off (payload length shortened) */
  RESET();
  bk_store_u24le(m + 1, (uint32_t)(n - 8 - 4));
  CHECK_EQ_INT(parse_rc(m, n - 4, 0, NULL), BK_ECOMPRESS);
  /* stray bytes after the frame, inside the payload */
  RESET();
  memset(m + n, 0xAB, 5);
  bk_store_u24le(m + 1, (uint32_t)(n - 8 + 5));
  CHECK_EQ_INT(parse_rc(m, n + 5, 0, NULL), BK_ECOMPRESS);
  /* wrong expected hash */
  RESET();
  bk_hash bad = good;
  bad.b[0] ^= 1;
  CHECK_EQ_INT(parse_rc(m, n, 0, &bad), BK_EHASH);
  CHECK_EQ_INT(parse_rc(m, n, 0, &good), 0);
  /* zero-length chunk */
  RESET();
  bk_store_u24le(m + 5, 0);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_EFORMAT);
  RESET();
  bk_store_u24le(m + 1, 0);
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_EFORMAT);
  /* unknown scheme */
  RESET();
  m[4] = 3;
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_EFORMAT);
  RESET();
  m[4] = 99; /* "auto" never appears on the wire */
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_EFORMAT);
  /* scheme 0 whose payload length differs from the uncompressed length */
  RESET();
  m[4] = 0;
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), BK_ESIZE);
  /* an LZ4 payload relabelled as BG4: decodes, but the hash changes */
  RESET();
  m[4] = BK_COMP_BG4_LZ4;
  CHECK_EQ_INT(parse_rc(m, n, 0, NULL), 0);
  CHECK_EQ_INT(parse_rc(m, n, 0, &good), BK_EHASH);
  /* the single-record decoder reports the same codes */
  RESET();
  m[0] = 2;
  {
    uint8_t dst[64];
    size_t u, g;
    CHECK_EQ_INT(bk_xorb_decode_chunk(m, n, dst, sizeof dst, &u, &g), BK_EVERSION);
    CHECK_EQ_INT(bk_xorb_decode_chunk(m, 3, dst, sizeof dst, &u, &g), BK_ETRUNCATED);
  }
#undef RESET
  free(m);
  bk_buf_free(&rec);
}

/* Frames written with other LZ4F settings (content size present, 4 MB block
 * size like lz4js, linked blocks, checksums) must decode too. */
static void test_foreign_frames(void) {
  size_t n = 100000;
  uint8_t *d = malloc(n);
  fill_text(d, n);
  LZ4F_blockSizeID_t bs[] = {LZ4F_max4MB, LZ4F_max256KB, LZ4F_max64KB};
  for (int k = 0; k < 3; k++) {
    LZ4F_preferences_t p;
    memset(&p, 0, sizeof p);
    p.frameInfo.blockSizeID = bs[k];
    p.frameInfo.blockMode = k == 2 ? LZ4F_blockLinked : LZ4F_blockIndependent;
    p.frameInfo.contentChecksumFlag = k == 1 ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
    p.frameInfo.blockChecksumFlag = k == 1 ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum;
    p.frameInfo.contentSize = k == 0 ? n : 0;
    size_t cap = LZ4F_compressFrameBound(n, &p);
    uint8_t *rec = malloc(8 + cap);
    size_t fl = LZ4F_compressFrame(rec + 8, cap, d, n, &p);
    CHECK(!LZ4F_isError(fl));
    rec[0] = 0;
    bk_store_u24le(rec + 1, (uint32_t)fl);
    rec[4] = BK_COMP_LZ4;
    bk_store_u24le(rec + 5, (uint32_t)n);
    bk_xorb *x = NULL;
    CHECK_EQ_INT(bk_xorb_parse(rec, 8 + fl, BK_XORB_KEEP_DATA, NULL, &x), 0);
    if (x) CHECK(memcmp(bk_xorb_chunk_data(x, 0), d, n) == 0);
    bk_xorb_free(x);
    if (k == 0) {
      /* header says n-1: the frame's own content size disagrees too */
      bk_store_u24le(rec + 5, (uint32_t)(n - 1));
      int rc = parse_rc(rec, 8 + fl, 0, NULL);
      CHECK(rc == BK_ESIZE || rc == BK_ECOMPRESS);
    }
    free(rec);
  }
  free(d);
}

static void test_footer(void) {
  bk_xorb_builder *b;
  bk_xorb_builder_new(1, &b);
  uint8_t *d = malloc(50000);
  for (int i = 0; i < 5; i++) {
    if (i % 2) fill_text(d, 50000); else fill_random(d, 50000);
    bk_xorb_builder_add(b, d, 10000 + 9000 * (size_t)i, NULL);
  }
  bk_hash h;
  const uint8_t *body;
  size_t blen;
  bk_xorb_builder_finish(b, &h, &body, &blen);
  bk_xorb *x = NULL;
  CHECK_EQ_INT(bk_xorb_parse(body, blen, 0, &h, &x), 0);
  bk_buf whole;
  bk_buf_init(&whole, 1 << 24);
  bk_buf_append(&whole, body, blen);
  CHECK_EQ_INT(bk_xorb_footer(x, &whole), 0);
  size_t flen = whole.len - blen;
  CHECK_EQ_INT(flen, 96 + 40 * 5);
  const uint8_t *f = whole.p + blen;
  CHECK(memcmp(f, "XETBLOB", 7) == 0 && f[7] == 1);
  CHECK(memcmp(f + 8, h.b, 32) == 0);
  CHECK(memcmp(f + 40, "XBLBHSH", 7) == 0 && f[47] == 0);
  CHECK_EQ_INT(bk_load_u32le(f + 48), 5);
  const uint8_t *bnd = f + 52 + 32 * 5;
  CHECK(memcmp(bnd, "XBLBBND", 7) == 0 && bnd[7] == 1);
  CHECK_EQ_INT(bk_load_u32le(bnd + 8), 5);
  CHECK_EQ_INT(bk_load_u32le(bnd + 12 + 4 * 4), blen); /* last record end */
  CHECK_EQ_INT(bk_load_u32le(bnd + 12 + 4 * 9), bk_xorb_unpacked(x));
  CHECK_EQ_INT(bk_load_u32le(f + flen - 4), 92 + 40 * 5);
  CHECK_EQ_INT(bk_load_u32le(f + flen - 4 - 16 - 4), 40 + 8 * 5);
  CHECK_EQ_INT(bk_load_u32le(f + flen - 4 - 16 - 8), 12 + 32 * 5 + 40 + 8 * 5);

  bk_xorb *y = NULL;
  CHECK_EQ_INT(bk_xorb_parse(whole.p, whole.len, BK_XORB_ALLOW_FOOTER, &h, &y), 0);
  if (y) {
    CHECK_EQ_INT(bk_xorb_body_len(y), blen);
    CHECK_EQ_INT(bk_xorb_count(y), 5);
  }
  bk_xorb_free(y);
  /* without the flag the footer is just a bad record */
  CHECK_EQ_INT(parse_rc(whole.p, whole.len, 0, NULL), BK_EVERSION);
  uint8_t *m = malloc(whole.len + 8);
#define RESETF() memcpy(m, whole.p, whole.len)
  RESETF();
  m[blen + 8] ^= 1; /* xorb hash in footer */
  CHECK_EQ_INT(parse_rc(m, whole.len, BK_XORB_ALLOW_FOOTER, NULL), BK_EHASH);
  RESETF();
  m[blen + 52 + 32 * 2] ^= 1; /* a chunk hash */
  CHECK_EQ_INT(parse_rc(m, whole.len, BK_XORB_ALLOW_FOOTER, NULL), BK_EHASH);
  RESETF();
  m[blen + 7] = 0; /* legacy V0 */
  CHECK_EQ_INT(parse_rc(m, whole.len, BK_XORB_ALLOW_FOOTER, NULL), BK_EVERSION);
  RESETF();
  m[(bnd - whole.p) + 12] ^= 1; /* a boundary offset */
  CHECK_EQ_INT(parse_rc(m, whole.len, BK_XORB_ALLOW_FOOTER, NULL), BK_EFORMAT);
  RESETF();
  m[whole.len - 4] ^= 1; /* info length */
  CHECK_EQ_INT(parse_rc(m, whole.len, BK_XORB_ALLOW_FOOTER, NULL), BK_EFORMAT);
  RESETF();
  m[(bnd - whole.p) + 8] = 4; /* count */
  CHECK_EQ_INT(parse_rc(m, whole.len, BK_XORB_ALLOW_FOOTER, NULL), BK_EFORMAT);
  RESETF();
  CHECK_EQ_INT(parse_rc(m, whole.len - 1, BK_XORB_ALLOW_FOOTER, NULL), BK_ETRUNCATED);
  CHECK_EQ_INT(parse_rc(m, blen + 5, BK_XORB_ALLOW_FOOTER, NULL), BK_ETRUNCATED);
  memset(m + whole.len, 0, 3);
  CHECK_EQ_INT(parse_rc(m, whole.len + 3, BK_XORB_ALLOW_FOOTER, NULL), BK_EFORMAT);
  /* nonce bytes are not interpreted */
  RESETF();
  memset(m + whole.len - 20, 0x5A, 4);
  CHECK_EQ_INT(parse_rc(m, whole.len, BK_XORB_ALLOW_FOOTER, &h), 0);
  /* 4 stray bytes "XETB" after the records: tolerated only with the flag */
  RESETF();
  memcpy(m + blen, "XETB", 4);
  y = NULL;
  CHECK_EQ_INT(bk_xorb_parse(m, blen + 4, BK_XORB_ALLOW_FOOTER, &h, &y), 0);
  if (y) CHECK_EQ_INT(bk_xorb_body_len(y), blen);
  bk_xorb_free(y);
  CHECK_EQ_INT(parse_rc(m, blen + 4, 0, NULL), BK_ETRUNCATED);
  memcpy(m + blen, "XETC", 4);
  CHECK_EQ_INT(parse_rc(m, blen + 4, BK_XORB_ALLOW_FOOTER, NULL), BK_ETRUNCATED);
  memcpy(m + blen, "XETBX", 5);
  CHECK_EQ_INT(parse_rc(m, blen + 5, BK_XORB_ALLOW_FOOTER, NULL), BK_ETRUNCATED);
#undef RESETF
  free(m);
  bk_buf_free(&whole);
  bk_xorb_free(x);
  bk_xorb_builder_free(b);
  free(d);
}

/* BK_XORB_KEEP_DATA over several buffer doublings (1 -> 2 -> 4 -> 8 MiB). */
static void test_keep_data_growth(void) {
  size_t n = 50, len = BK_XORB_CHUNK_MAX - 3;
  uint8_t *d = malloc(n * len);
  fill_text(d, n * len);
  for (size_t i = 0; i < n; i += 7) fill_random(d + i * len, len); /* some raw records */
  bk_xorb_builder *b;
  bk_xorb_builder_new(1, &b);
  for (size_t i = 0; i < n; i++) CHECK_EQ_INT(bk_xorb_builder_add(b, d + i * len, len, NULL), 0);
  bk_hash h;
  const uint8_t *body;
  size_t blen;
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &h, &body, &blen), 0);
  bk_xorb *x = NULL;
  CHECK_EQ_INT(bk_xorb_parse(body, blen, BK_XORB_KEEP_DATA, &h, &x), 0);
  if (x) {
    CHECK_EQ_INT(bk_xorb_unpacked(x), n * len);
    int same = 1;
    for (size_t i = 0; i < n; i++)
      if (memcmp(bk_xorb_chunk_data(x, i), d + i * len, len) != 0) same = 0;
    CHECK(same);
    CHECK_EQ_INT(bk_xorb_chunks(x)[0].scheme, BK_COMP_NONE);
    CHECK(bk_xorb_chunks(x)[1].scheme != BK_COMP_NONE);
  }
  bk_xorb_free(x);
  bk_xorb_builder_free(b);
  free(d);
}

/* ---- streaming parser ---- */

/* Feeds d[0..n) in pieces of `piece` bytes (0: one piece) and finishes. */
static int stream_rc(const uint8_t *d, size_t n, size_t piece, unsigned flags,
                     const bk_hash *exp, bk_xorb **out) {
  bk_xorb_stream *s = NULL;
  int rc = bk_xorb_stream_new(flags, &s);
  if (rc) return rc;
  if (!piece) piece = n ? n : 1;
  for (size_t off = 0; rc == 0 && off < n; off += piece)
    rc = bk_xorb_stream_feed(s, d + off, n - off < piece ? n - off : piece);
  bk_xorb *x = NULL;
  if (rc == 0) rc = bk_xorb_stream_finish(s, exp, &x);
  bk_xorb_stream_free(s);
  if (out) *out = x;
  else bk_xorb_free(x);
  return rc;
}

/* The stream gives what bk_xorb_parse gives, whatever the piece sizes. */
static void test_stream_same_as_parse(void) {
  size_t sizes[] = {1, 8191, 65536, 131072, 3, 100000, 131071, 9, 77777, 131072};
  size_t n = sizeof sizes / sizeof *sizes, tot = 0;
  for (size_t i = 0; i < n; i++) tot += sizes[i];
  uint8_t *d = malloc(tot);
  bk_xorb_builder *b;
  bk_xorb_builder_new(1, &b);
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    if (i % 3 == 0) fill_random(d + off, sizes[i]);
    else if (i % 3 == 1) fill_text(d + off, sizes[i]);
    else fill_bg4_friendly(d + off, sizes[i]);
    bk_xorb_builder_add(b, d + off, sizes[i], NULL);
    off += sizes[i];
  }
  bk_hash h;
  const uint8_t *body;
  size_t blen;
  CHECK_EQ_INT(bk_xorb_builder_finish(b, &h, &body, &blen), 0);
  bk_xorb *p = NULL;
  CHECK_EQ_INT(bk_xorb_parse(body, blen, 0, &h, &p), 0);
  bk_buf whole;
  bk_buf_init(&whole, 1u << 27);
  bk_buf_append(&whole, body, blen);
  if (p) bk_xorb_footer(p, &whole);
  size_t pieces[] = {0, 1, 7, 8, 9, 4096, 65536, 262151};
  for (size_t k = 0; k < sizeof pieces / sizeof *pieces && p; k++) {
    for (int footer = 0; footer < 2; footer++) {
      bk_xorb *x = NULL;
      CHECK_EQ_INT(stream_rc(whole.p, footer ? whole.len : blen, pieces[k],
                             footer ? BK_XORB_ALLOW_FOOTER : 0, &h, &x), 0);
      if (!x) continue;
      CHECK(bk_hash_eq(bk_xorb_hash_of(x), &h));
      CHECK_EQ_INT(bk_xorb_count(x), n);
      CHECK_EQ_INT(bk_xorb_body_len(x), blen);
      CHECK_EQ_INT(bk_xorb_unpacked(x), tot);
      const bk_xorb_chunk *a = bk_xorb_chunks(x), *c = bk_xorb_chunks(p);
      int same = 1;
      for (size_t i = 0; i < n; i++)
        same &= bk_hash_eq(&a[i].hash, &c[i].hash) && a[i].record_offset == c[i].record_offset &&
                a[i].record_len == c[i].record_len && a[i].scheme == c[i].scheme &&
                a[i].unpacked_offset == c[i].unpacked_offset &&
                a[i].unpacked_len == c[i].unpacked_len;
      CHECK(same);
      bk_xorb_free(x);
    }
  }
  /* a footer is refused without ALLOW_FOOTER; the 4-byte stray tail is taken */
  CHECK(stream_rc(whole.p, whole.len, 4096, 0, &h, NULL) != 0);
  bk_buf stray;
  bk_buf_init(&stray, 1u << 27);
  bk_buf_append(&stray, body, blen);
  bk_buf_append(&stray, "XETB", 4);
  CHECK_EQ_INT(stream_rc(stray.p, stray.len, 5, BK_XORB_ALLOW_FOOTER, &h, NULL), 0);
  bk_buf_append(&stray, "L", 1); /* "XETBL": neither a footer nor the stray tail */
  CHECK_EQ_INT(stream_rc(stray.p, stray.len, 0, BK_XORB_ALLOW_FOOTER, &h, NULL), BK_EVERSION);
  CHECK(parse_rc(stray.p, stray.len, BK_XORB_ALLOW_FOOTER, &h) != 0);
  /* a footer that lies about a chunk hash */
  whole.p[blen + 40 + 12 + 5] ^= 1;
  CHECK_EQ_INT(stream_rc(whole.p, whole.len, 1000, BK_XORB_ALLOW_FOOTER, &h, NULL), BK_EHASH);
  bk_buf_free(&stray);
  bk_buf_free(&whole);
  bk_xorb_free(p);
  bk_xorb_builder_free(b);
  free(d);
}

static void test_stream_malformed(void) {
  uint8_t d[3000];
  fill_text(d, sizeof d);
  bk_xorb_builder *b;
  bk_xorb_builder_new(1, &b);
  bk_xorb_builder_add(b, d, 1000, NULL);
  bk_xorb_builder_add(b, d + 1000, 2000, NULL);
  bk_hash h;
  const uint8_t *body;
  size_t blen;
  bk_xorb_builder_finish(b, &h, &body, &blen);
  uint8_t *m = malloc(blen);
  memcpy(m, body, blen);
  /* empty, truncated in a header, truncated in a payload */
  CHECK_EQ_INT(stream_rc(m, 0, 0, 0, NULL, NULL), BK_EFORMAT);
  CHECK_EQ_INT(stream_rc(m, 5, 1, 0, NULL, NULL), BK_ETRUNCATED);
  CHECK_EQ_INT(stream_rc(m, blen - 1, 64, 0, NULL, NULL), BK_ETRUNCATED);
  CHECK_EQ_INT(parse_rc(m, blen - 1, 0, NULL), BK_ETRUNCATED);
  /* wrong expected hash */
  bk_hash other = h;
  other.b[0] ^= 1;
  CHECK_EQ_INT(stream_rc(m, blen, 100, 0, &other, NULL), BK_EHASH);
  /* bad version in the second record */
  uint32_t first = bk_xorb_builder_chunks(b)[0].record_len;
  m[first] = 1;
  CHECK_EQ_INT(stream_rc(m, blen, 3, 0, NULL, NULL), BK_EVERSION);
  m[first] = 0;
  /* a corrupted payload: the chunk hash (or the frame) no longer matches */
  m[first + 20] ^= 0x55;
  CHECK(stream_rc(m, blen, 0, 0, &h, NULL) != 0);
  m[first + 20] ^= 0x55;
  /* errors are sticky: a later good feed still fails with the same code */
  bk_xorb_stream *s = NULL;
  CHECK_EQ_INT(bk_xorb_stream_new(0, &s), 0);
  uint8_t bad[8] = {9, 1, 0, 0, 0, 1, 0, 0};
  CHECK_EQ_INT(bk_xorb_stream_feed(s, bad, sizeof bad), BK_EVERSION);
  CHECK_EQ_INT(bk_xorb_stream_feed(s, m, blen), BK_EVERSION);
  bk_xorb *x = NULL;
  CHECK_EQ_INT(bk_xorb_stream_finish(s, NULL, &x), BK_EVERSION);
  CHECK(x == NULL);
  bk_xorb_stream_free(s);
  /* KEEP_DATA is not a streaming mode */
  s = NULL;
  CHECK_EQ_INT(bk_xorb_stream_new(BK_XORB_KEEP_DATA, &s), BK_EINVAL);
  /* an endless footer is cut at its maximum size */
  CHECK_EQ_INT(bk_xorb_stream_new(BK_XORB_ALLOW_FOOTER, &s), 0);
  CHECK_EQ_INT(bk_xorb_stream_feed(s, m, blen), 0);
  uint8_t *junk = calloc(1, 1u << 20);
  junk[0] = 'X';
  CHECK_EQ_INT(bk_xorb_stream_feed(s, junk, 1u << 20), BK_ELIMIT);
  free(junk);
  bk_xorb_stream_free(s);
  /* a lying 24-bit length larger than the record cap */
  uint8_t lie[16] = {0, 0xff, 0xff, 0xff, 1, 0x10, 0, 0};
  CHECK_EQ_INT(stream_rc(lie, sizeof lie, 2, 0, NULL, NULL), BK_ELIMIT);
  free(m);
  bk_xorb_builder_free(b);
}

int main(void) {
  RUN(test_bg4);
  RUN(test_roundtrip_mixed);
  RUN(test_scheme_choice);
  RUN(test_exact_sizes);
  RUN(test_keep_data_growth);
  RUN(test_chunk_limit);
  RUN(test_byte_limits);
  RUN(test_malformed);
  RUN(test_foreign_frames);
  RUN(test_footer);
  RUN(test_stream_same_as_parse);
  RUN(test_stream_malformed);
  return test_summary();
}
