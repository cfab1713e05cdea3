/* Unit tests: MDB shard parse/serialize, footer, lookup tables, dedup shards. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/shard.h"

static uint64_t rng_state = 12345;
static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static void rand_hash(bk_hash *h) {
  for (int i = 0; i < 32; i++) h->b[i] = (uint8_t)rnd();
}

/* A sample shard: 3 files (verify+meta / verify / none with 0 terms),
 * 2 xorbs (3 and 5 chunks). All storage static. */
static bk_shard_term terms0[2], terms1[1];
static bk_shard_file files[3];
static bk_shard_chunk chunks0[3], chunks1[5];
static bk_shard_xorb xorbs[2];
static bk_shard sample;

static void make_sample(void) {
  memset(&sample, 0, sizeof sample);
  for (int i = 0; i < 2; i++) {
    bk_shard_xorb *x = &xorbs[i];
    memset(x, 0, sizeof *x);
    rand_hash(&x->xorb_hash);
    x->nchunks = i ? 5 : 3;
    x->chunks = i ? chunks1 : chunks0;
    uint32_t off = 0;
    for (uint32_t k = 0; k < x->nchunks; k++) {
      rand_hash(&x->chunks[k].hash);
      x->chunks[k].byte_start = off;
      x->chunks[k].len = 1000 + 7 * k;
      x->chunks[k].flags = k == 0 ? BK_SHARD_CHUNK_GLOBAL_DEDUP : 0;
      off += x->chunks[k].len;
    }
    x->bytes_in_xorb = off;
    x->bytes_on_disk = off / 2 + 8 * x->nchunks;
  }
  memset(files, 0, sizeof files);
  rand_hash(&files[0].file_hash);
  files[0].flags = BK_SHARD_FILE_VERIFY | BK_SHARD_FILE_META;
  files[0].nterms = 2;
  files[0].terms = terms0;
  rand_hash(&files[0].sha256);
  terms0[0] = (bk_shard_term){xorbs[0].xorb_hash, 0, 3021, 0, 3, {{0}}};
  rand_hash(&terms0[0].range_hash);
  terms0[1] = (bk_shard_term){xorbs[1].xorb_hash, 0, 2014, 1, 3, {{0}}};
  rand_hash(&terms0[1].range_hash);
  rand_hash(&files[1].file_hash);
  files[1].flags = BK_SHARD_FILE_VERIFY;
  files[1].nterms = 1;
  files[1].terms = terms1;
  terms1[0] = (bk_shard_term){xorbs[1].xorb_hash, 0, 1000, 0, 1, {{0}}};
  rand_hash(&terms1[0].range_hash);
  rand_hash(&files[2].file_hash);
  files[2].flags = 0;
  files[2].nterms = 0;
  sample.nfiles = 3;
  sample.files = files;
  sample.nxorbs = 2;
  sample.xorbs = xorbs;
}

static int shard_eq(const bk_shard *a, const bk_shard *b) {
  if (a->nfiles != b->nfiles || a->nxorbs != b->nxorbs) return 0;
  for (uint32_t i = 0; i < a->nfiles; i++) {
    const bk_shard_file *f = &a->files[i], *g = &b->files[i];
    if (!bk_hash_eq(&f->file_hash, &g->file_hash) || f->flags != g->flags ||
        f->nterms != g->nterms)
      return 0;
    if ((f->flags & BK_SHARD_FILE_META) && !bk_hash_eq(&f->sha256, &g->sha256)) return 0;
    for (uint32_t k = 0; k < f->nterms; k++) {
      const bk_shard_term *s = &f->terms[k], *t = &g->terms[k];
      if (!bk_hash_eq(&s->xorb_hash, &t->xorb_hash) || s->xorb_flags != t->xorb_flags ||
          s->unpacked_bytes != t->unpacked_bytes || s->chunk_start != t->chunk_start ||
          s->chunk_end != t->chunk_end)
        return 0;
      if ((f->flags & BK_SHARD_FILE_VERIFY) && !bk_hash_eq(&s->range_hash, &t->range_hash))
        return 0;
    }
  }
  for (uint32_t i = 0; i < a->nxorbs; i++) {
    const bk_shard_xorb *x = &a->xorbs[i], *y = &b->xorbs[i];
    if (!bk_hash_eq(&x->xorb_hash, &y->xorb_hash) || x->flags != y->flags ||
        x->nchunks != y->nchunks || x->bytes_in_xorb != y->bytes_in_xorb ||
        x->bytes_on_disk != y->bytes_on_disk)
      return 0;
    for (uint32_t k = 0; k < x->nchunks; k++) {
      const bk_shard_chunk *c = &x->chunks[k], *d = &y->chunks[k];
      if (!bk_hash_eq(&c->hash, &d->hash) || c->byte_start != d->byte_start ||
          c->len != d->len || c->flags != d->flags)
        return 0;
    }
  }
  return 1;
}

static int parse_rc(const uint8_t *d, size_t n) {
  bk_shard *s = NULL;
  int rc = bk_shard_parse(d, n, &s);
  if (rc == 0 && !s) return 999;
  bk_shard_free(s);
  return rc;
}

static void test_roundtrip_no_footer(void) {
  make_sample();
  bk_buf b;
  bk_buf_init(&b, BK_SHARD_MAX_BYTES);
  CHECK_EQ_INT(bk_shard_serialize(&sample, 0, &b), 0);
  /* 48 header + files (1+2+2+1, 1+1+1, 1) + bookend + xorbs (4 + 6) + bookend */
  CHECK_EQ_INT(b.len, 48 + 48 * (6 + 3 + 1 + 1 + 4 + 6 + 1));
  CHECK_EQ_INT(b.len, bk_shard_serialized_size(&sample, 0));
  CHECK(memcmp(b.p, BK_SHARD_MAGIC, 32) == 0);
  CHECK(memcmp(b.p, "HFRepoMetaData\0", 15) == 0);
  CHECK_EQ_INT(bk_load_u64le(b.p + 32), 2);
  CHECK_EQ_INT(bk_load_u64le(b.p + 40), 0);
  /* first file header: hash, flags, count */
  CHECK(memcmp(b.p + 48, files[0].file_hash.b, 32) == 0);
  CHECK_EQ_INT(bk_load_u32le(b.p + 48 + 32), 0xC0000000u);
  CHECK_EQ_INT(bk_load_u32le(b.p + 48 + 36), 2);
  bk_shard *s = NULL;
  CHECK_EQ_INT(bk_shard_parse(b.p, b.len, &s), 0);
  if (s) {
    CHECK(shard_eq(s, &sample));
    CHECK_EQ_INT(s->has_footer, 0);
    CHECK(s->files[2].terms == NULL);
    bk_buf b2;
    bk_buf_init(&b2, BK_SHARD_MAX_BYTES);
    CHECK_EQ_INT(bk_shard_serialize(s, 0, &b2), 0);
    CHECK(b2.len == b.len && memcmp(b2.p, b.p, b.len) == 0);
    bk_buf_free(&b2);
  }
  bk_shard_free(s);

  /* every prefix is rejected as truncated */
  int bad = 0;
  for (size_t L = 0; L < b.len; L++)
    if (parse_rc(b.p, L) != BK_ETRUNCATED) bad++;
  CHECK_EQ_INT(bad, 0);
  bk_buf_free(&b);
}

static void test_roundtrip_footer(void) {
  make_sample();
  sample.footer.creation_timestamp = 1700000000;
  sample.footer.key_expiry = UINT64_MAX;
  bk_buf b;
  bk_buf_init(&b, BK_SHARD_MAX_BYTES);
  CHECK_EQ_INT(bk_shard_serialize(&sample, BK_SHARD_WITH_FOOTER, &b), 0);
  CHECK_EQ_INT(b.len, bk_shard_serialized_size(&sample, BK_SHARD_WITH_FOOTER));
  CHECK_EQ_INT(bk_load_u64le(b.p + 40), 200);
  bk_shard *s = NULL;
  CHECK_EQ_INT(bk_shard_parse(b.p, b.len, &s), 0);
  if (s) {
    CHECK(shard_eq(s, &sample));
    CHECK_EQ_INT(s->has_footer, 1);
    const bk_shard_footer *f = &s->footer;
    size_t xoff = 48 + 48 * 11;
    CHECK_EQ_INT(f->version, 1);
    CHECK_EQ_INT(f->file_info_offset, 48);
    CHECK_EQ_INT(f->xorb_info_offset, xoff);
    size_t lk = xoff + 48 * 11;
    CHECK_EQ_INT(f->file_lookup_offset, lk);
    CHECK_EQ_INT(f->file_lookup_num, 3);
    CHECK_EQ_INT(f->xorb_lookup_offset, lk + 36);
    CHECK_EQ_INT(f->xorb_lookup_num, 2);
    CHECK_EQ_INT(f->chunk_lookup_offset, lk + 60);
    CHECK_EQ_INT(f->chunk_lookup_num, 8);
    CHECK_EQ_INT(f->footer_offset, b.len - 200);
    CHECK_EQ_INT(f->footer_offset, lk + 60 + 128);
    CHECK(f->creation_timestamp == 1700000000);
    CHECK(f->key_expiry == UINT64_MAX);
    CHECK_EQ_INT(f->stored_bytes, xorbs[0].bytes_in_xorb + xorbs[1].bytes_in_xorb);
    CHECK_EQ_INT(f->stored_bytes_on_disk, xorbs[0].bytes_on_disk + xorbs[1].bytes_on_disk);
    CHECK_EQ_INT(f->materialized_bytes, 3021 + 2014 + 1000);
    /* lookup tables: sorted keys, indices point at the right entries */
    const uint8_t *p = b.p + f->file_lookup_offset;
    int found = 0;
    for (int i = 0; i < 3; i++, p += 12) {
      if (i) CHECK(bk_load_u64le(p) >= bk_load_u64le(p - 12));
      uint32_t idx = bk_load_u32le(p + 8);
      const uint8_t *e = b.p + 48 + 48 * (size_t)idx;
      CHECK_EQ_INT(bk_load_u64le(e), bk_load_u64le(p));
      found += idx == 0 || idx == 6 || idx == 9;
    }
    CHECK_EQ_INT(found, 3);
    p = b.p + f->xorb_lookup_offset;
    for (int i = 0; i < 2; i++, p += 12) {
      uint32_t idx = bk_load_u32le(p + 8);
      CHECK(idx == 0 || idx == 4);
      CHECK_EQ_INT(bk_load_u64le(b.p + xoff + 48 * (size_t)idx), bk_load_u64le(p));
    }
    p = b.p + f->chunk_lookup_offset;
    for (int i = 0; i < 8; i++, p += 16) {
      if (i) CHECK(bk_load_u64le(p) >= bk_load_u64le(p - 16));
      uint32_t xi = bk_load_u32le(p + 8), ci = bk_load_u32le(p + 12);
      const uint8_t *e = b.p + xoff + 48 * ((size_t)xi + 1 + ci);
      CHECK_EQ_INT(bk_load_u64le(e), bk_load_u64le(p));
    }
    /* re-serialising the parsed shard gives the same bytes */
    bk_buf b2;
    bk_buf_init(&b2, BK_SHARD_MAX_BYTES);
    CHECK_EQ_INT(bk_shard_serialize(s, BK_SHARD_WITH_FOOTER, &b2), 0);
    CHECK(b2.len == b.len && memcmp(b2.p, b.p, b.len) == 0);
    bk_buf_free(&b2);
  }
  bk_shard_free(s);
  int bad = 0;
  for (size_t L = 0; L < b.len; L++)
    if (parse_rc(b.p, L) == 0) bad++;
  CHECK_EQ_INT(bad, 0);
  bk_buf_free(&b);
}

/* huggingface.js writes a footer whose lookup fields are all 0, expiry 0. */
static void test_js_style_footer(void) {
  make_sample();
  bk_buf b;
  bk_buf_init(&b, BK_SHARD_MAX_BYTES);
  CHECK_EQ_INT(bk_shard_serialize(&sample, 0, &b), 0);
  size_t body = b.len;
  bk_store_u64le(b.p + 40, 200);
  uint8_t f[200];
  memset(f, 0, sizeof f);
  bk_store_u64le(f, 1);
  bk_store_u64le(f + 8, 48);
  bk_store_u64le(f + 16, 48 + 48 * 11);
  bk_store_u64le(f + 104, 1750000000);
  bk_store_u64le(f + 168, 1234);
  bk_store_u64le(f + 184, 5678);
  bk_store_u64le(f + 192, body);
  bk_buf_append(&b, f, 200);
  bk_shard *s = NULL;
  CHECK_EQ_INT(bk_shard_parse(b.p, b.len, &s), 0);
  if (s) {
    CHECK(shard_eq(s, &sample));
    CHECK_EQ_INT(s->has_footer, 1);
    CHECK_EQ_INT(s->footer.key_expiry, 0);
    CHECK_EQ_INT(s->footer.file_lookup_num, 0);
    CHECK_EQ_INT(s->footer.stored_bytes_on_disk, 1234);
  }
  bk_shard_free(s);
  /* lookup tables claimed but absent -> rejected */
  bk_store_u64le(b.p + body + 32, 3);
  CHECK_EQ_INT(parse_rc(b.p, b.len), BK_EFORMAT);
  bk_buf_free(&b);
}

static void test_empty_shards(void) {
  bk_shard e;
  memset(&e, 0, sizeof e);
  for (int ft = 0; ft < 2; ft++) {
    bk_buf b;
    bk_buf_init(&b, 1 << 20);
    CHECK_EQ_INT(bk_shard_serialize(&e, ft ? BK_SHARD_WITH_FOOTER : 0, &b), 0);
    CHECK_EQ_INT(b.len, 48 + 96 + (ft ? 200 : 0));
    bk_shard *s = NULL;
    CHECK_EQ_INT(bk_shard_parse(b.p, b.len, &s), 0);
    if (s) {
      CHECK_EQ_INT(s->nfiles, 0);
      CHECK_EQ_INT(s->nxorbs, 0);
      CHECK_EQ_INT(s->has_footer, ft);
    }
    bk_shard_free(s);
    bk_buf_free(&b);
  }
}

static void test_malformed(void) {
  make_sample();
  bk_buf nf, wf;
  bk_buf_init(&nf, BK_SHARD_MAX_BYTES);
  bk_buf_init(&wf, BK_SHARD_MAX_BYTES);
  bk_shard_serialize(&sample, 0, &nf);
  bk_shard_serialize(&sample, BK_SHARD_WITH_FOOTER, &wf);
  uint8_t *m = malloc(wf.len + 256);
  size_t xoff = 48 + 48 * 11, foot = wf.len - 200;
#define NF() (memcpy(m, nf.p, nf.len), nf.len)
#define WF() (memcpy(m, wf.p, wf.len), wf.len)
  size_t n;
  /* bad magic, version, footer size */
  n = NF(); m[0] = 'h';
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = NF(); m[31] ^= 1;
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = NF(); bk_store_u64le(m + 32, 1);
  CHECK_EQ_INT(parse_rc(m, n), BK_EVERSION);
  n = NF(); bk_store_u64le(m + 32, 3);
  CHECK_EQ_INT(parse_rc(m, n), BK_EVERSION);
  n = NF(); bk_store_u64le(m + 40, 100);
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = NF(); bk_store_u64le(m + 40, 200); /* claims a footer it lacks */
  CHECK(parse_rc(m, n) != 0);
  n = WF(); bk_store_u64le(m + 40, 0); /* footer present but not declared */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  /* footer version */
  n = WF(); bk_store_u64le(m + foot, 2);
  CHECK_EQ_INT(parse_rc(m, n), BK_EVERSION);
  /* counts larger than the data */
  n = NF(); bk_store_u32le(m + 48 + 36, 1000); /* file 0 terms */
  CHECK_EQ_INT(parse_rc(m, n), BK_ETRUNCATED);
  n = NF(); bk_store_u32le(m + 48 + 36, 0xFFFFFFFFu);
  CHECK_EQ_INT(parse_rc(m, n), BK_ETRUNCATED);
  n = NF(); bk_store_u32le(m + xoff + 36, 0xFFFFFFFFu); /* xorb 0 chunks */
  CHECK_EQ_INT(parse_rc(m, n), BK_ETRUNCATED);
  n = NF(); bk_store_u32le(m + xoff + 36, 4); /* eats the next header: bookend lost */
  CHECK(parse_rc(m, n) != 0);
  /* unknown file flags; empty chunk ranges */
  n = NF(); bk_store_u32le(m + 48 + 32, 0xC0000001u);
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = NF(); bk_store_u32le(m + 96 + 40, 3); /* term 0: start 3, end 3 */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = NF(); bk_store_u32le(m + 96 + 40, 9); /* start > end */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  /* missing / damaged bookends */
  n = NF();
  CHECK_EQ_INT(parse_rc(m, n - 48), BK_ETRUNCATED); /* xorb bookend cut */
  n = NF(); m[n - 1] = 1; /* bookend tail must be zero */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = NF(); m[xoff - 48] = 0; /* file bookend becomes a file header */
  CHECK(parse_rc(m, n) != 0);
  n = NF(); memset(m + n, 0, 48); /* stray bytes after the xorb bookend */
  CHECK_EQ_INT(parse_rc(m, n + 48), BK_EFORMAT);
  CHECK_EQ_INT(parse_rc(m, n + 1), BK_EFORMAT);
  /* footer offsets pointing elsewhere or outside */
  n = WF(); bk_store_u64le(m + foot + 192, foot + 8);
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 192, UINT64_MAX);
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 8, 0);
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 16, xoff + 48);
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 56, UINT64_MAX - 3); /* chunk lookup offset */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 56, foot);
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 64, UINT64_MAX); /* chunk lookup count */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 24, 0); /* file lookup before the area */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  n = WF(); bk_store_u64le(m + foot + 32, 2); /* fewer entries than the bytes */
  CHECK_EQ_INT(parse_rc(m, n), BK_EFORMAT);
  /* too short for a footer */
  n = WF();
  bk_store_u64le(m + 40, 200);
  CHECK_EQ_INT(parse_rc(m, 48 + 96 + 199), BK_ETRUNCATED);
  /* over the size limit */
  uint8_t *huge = calloc(1, (size_t)BK_SHARD_MAX_BYTES + 1);
  if (huge) {
    memcpy(huge, nf.p, nf.len);
    CHECK_EQ_INT(parse_rc(huge, (size_t)BK_SHARD_MAX_BYTES + 1), BK_ELIMIT);
    free(huge);
  }
#undef NF
#undef WF
  free(m);
  bk_buf_free(&nf);
  bk_buf_free(&wf);
}

static void test_serialize_rejects(void) {
  make_sample();
  bk_buf b;
  bk_buf_init(&b, BK_SHARD_MAX_BYTES);
  terms0[1].chunk_end = terms0[1].chunk_start;
  CHECK_EQ_INT(bk_shard_serialize(&sample, 0, &b), BK_EINVAL);
  CHECK_EQ_INT(b.len, 0);
  make_sample();
  files[1].flags |= 1;
  CHECK_EQ_INT(bk_shard_serialize(&sample, 0, &b), BK_EINVAL);
  make_sample();
  memset(files[1].file_hash.b, 0xFF, 32);
  CHECK_EQ_INT(bk_shard_serialize(&sample, 0, &b), BK_EINVAL);
  /* a small output cap -> BK_ELIMIT, nothing written */
  make_sample();
  bk_buf small;
  bk_buf_init(&small, 100);
  CHECK_EQ_INT(bk_shard_serialize(&sample, 0, &small), BK_ELIMIT);
  CHECK_EQ_INT(small.len, 0);
  bk_buf_free(&small);
  bk_buf_free(&b);
}

static void test_dedup_response(void) {
  make_sample();
  uint8_t key[32];
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
  bk_buf b;
  bk_buf_init(&b, BK_SHARD_MAX_BYTES);
  CHECK_EQ_INT(bk_shard_build_dedup_response(xorbs, 2, key, 1700000000, 1800000000, &b), 0);
  bk_shard *s = NULL;
  CHECK_EQ_INT(bk_shard_parse(b.p, b.len, &s), 0);
  if (s) {
    CHECK_EQ_INT(s->nfiles, 0);
    CHECK_EQ_INT(s->nxorbs, 2);
    CHECK_EQ_INT(s->has_footer, 1);
    CHECK(memcmp(s->footer.chunk_hash_hmac_key, key, 32) == 0);
    CHECK(s->footer.creation_timestamp == 1700000000);
    CHECK(s->footer.key_expiry == 1800000000);
    CHECK_EQ_INT(s->footer.chunk_lookup_num, 8);
    for (uint32_t i = 0; i < 2; i++) {
      CHECK(bk_hash_eq(&s->xorbs[i].xorb_hash, &xorbs[i].xorb_hash));
      for (uint32_t k = 0; k < xorbs[i].nchunks; k++) {
        bk_hash want, stored;
        bk_hash_hmac(&xorbs[i].chunks[k].hash, key, &want);
        CHECK(bk_hash_eq(&s->xorbs[i].chunks[k].hash, &want));
        CHECK(!bk_hash_eq(&s->xorbs[i].chunks[k].hash, &xorbs[i].chunks[k].hash));
        bk_shard_stored_chunk_hash(s, &xorbs[i].chunks[k].hash, &stored);
        CHECK(bk_hash_eq(&stored, &want));
        CHECK_EQ_INT(s->xorbs[i].chunks[k].len, xorbs[i].chunks[k].len);
        CHECK_EQ_INT(s->xorbs[i].chunks[k].flags, xorbs[i].chunks[k].flags);
      }
    }
    /* the chunk lookup is keyed by the hmac'd hash */
    const uint8_t *p = b.p + s->footer.chunk_lookup_offset;
    bk_hash h0;
    bk_hash_hmac(&xorbs[0].chunks[0].hash, key, &h0);
    int hit = 0;
    for (int i = 0; i < 8; i++, p += 16)
      if (bk_load_u64le(p) == bk_hash_head_u64(&h0) && bk_load_u32le(p + 8) == 0 &&
          bk_load_u32le(p + 12) == 0)
        hit = 1;
    CHECK(hit);
  }
  bk_shard_free(s);
  /* the caller's hashes are untouched; without a key hashes stay raw */
  bk_buf_reset(&b);
  uint8_t zero[32] = {0};
  CHECK_EQ_INT(bk_shard_build_dedup_response(xorbs, 2, zero, 1, UINT64_MAX, &b), 0);
  s = NULL;
  CHECK_EQ_INT(bk_shard_parse(b.p, b.len, &s), 0);
  if (s) {
    CHECK(bk_hash_eq(&s->xorbs[1].chunks[4].hash, &chunks1[4].hash));
    bk_hash st;
    bk_shard_stored_chunk_hash(s, &chunks1[4].hash, &st);
    CHECK(bk_hash_eq(&st, &chunks1[4].hash));
    CHECK(s->footer.key_expiry == UINT64_MAX);
  }
  bk_shard_free(s);
  bk_buf_reset(&b);
  CHECK_EQ_INT(bk_shard_build_dedup_response(NULL, 0, NULL, 1, 2, &b), 0);
  CHECK_EQ_INT(parse_rc(b.p, b.len), 0);
  bk_buf_free(&b);
}

int main(void) {
  RUN(test_roundtrip_no_footer);
  RUN(test_roundtrip_footer);
  RUN(test_js_style_footer);
  RUN(test_empty_shards);
  RUN(test_malformed);
  RUN(test_serialize_rejects);
  RUN(test_dedup_response);
  return test_summary();
}
