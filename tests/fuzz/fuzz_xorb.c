/* libFuzzer target: the xorb parser (bk_xorb_parse, bk_xorb_decode_chunk)
 * and the streaming parser (bk_xorb_stream_*). Arbitrary bytes must never
 * crash, leak or over-allocate. When an input parses, checks invariants: a
 * stored footer built from it re-parses to the same hash, and re-packing the
 * decoded chunks gives the same xorb hash. The stream, fed in pieces whose
 * size comes from the input, must accept exactly what the parser accepts and
 * find the same chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/xorb.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

static void check_parsed(const uint8_t *data, bk_xorb *x) {
  size_t n = bk_xorb_count(x);
  const bk_xorb_chunk *ch = bk_xorb_chunks(x);
  uint64_t sum = 0;
  size_t end = 0;
  for (size_t i = 0; i < n; i++) {
    ASSERT(ch[i].unpacked_offset == sum);
    ASSERT(ch[i].record_offset == end);
    ASSERT(ch[i].unpacked_len >= 1 && ch[i].unpacked_len <= BK_XORB_CHUNK_MAX);
    sum += ch[i].unpacked_len;
    end += ch[i].record_len;
  }
  ASSERT(sum == bk_xorb_unpacked(x));
  ASSERT(end == bk_xorb_body_len(x));
  ASSERT(n >= 1 && n <= BK_XORB_MAX_CHUNKS);

  /* body + freshly built footer parses to the same hash */
  bk_buf whole;
  bk_buf_init(&whole, (size_t)BK_XORB_MAX_BYTES + (1u << 20));
  ASSERT(bk_buf_append(&whole, data, end) == 0);
  ASSERT(bk_xorb_footer(x, &whole) == 0);
  bk_xorb *y = NULL;
  ASSERT(bk_xorb_parse(whole.p, whole.len, BK_XORB_ALLOW_FOOTER, bk_xorb_hash_of(x), &y) == 0);
  ASSERT(bk_xorb_body_len(y) == end);
  bk_xorb_free(y);
  bk_buf_free(&whole);

  /* re-pack the decoded chunks (compressed) -> same xorb hash */
  if (bk_xorb_chunk_data(x, 0)) {
    bk_xorb_builder *b = NULL;
    ASSERT(bk_xorb_builder_new(1, &b) == 0);
    for (size_t i = 0; i < n; i++)
      ASSERT(bk_xorb_builder_add(b, bk_xorb_chunk_data(x, i), ch[i].unpacked_len, NULL) == 0);
    bk_hash h;
    const uint8_t *body;
    size_t blen;
    ASSERT(bk_xorb_builder_finish(b, &h, &body, &blen) == 0);
    ASSERT(bk_hash_eq(&h, bk_xorb_hash_of(x)));
    bk_xorb *z = NULL;
    ASSERT(bk_xorb_parse(body, blen, 0, &h, &z) == 0);
    bk_xorb_free(z);
    bk_xorb_builder_free(b);
  }
}

/* Streams data in pieces and compares with the parser's result x (NULL
 * when the parser refused the input). */
static void check_stream(const uint8_t *data, size_t size, unsigned flags, const bk_xorb *x) {
  size_t piece = size ? 1 + (size_t)data[size - 1] * 37 % 4099 : 1;
  bk_xorb_stream *s = NULL;
  ASSERT(bk_xorb_stream_new(flags, &s) == 0);
  int rc = 0;
  for (size_t off = 0; rc == 0 && off < size; off += piece)
    rc = bk_xorb_stream_feed(s, data + off, size - off < piece ? size - off : piece);
  bk_xorb *y = NULL;
  if (rc == 0) rc = bk_xorb_stream_finish(s, NULL, &y);
  bk_xorb_stream_free(s);
  ASSERT((rc == 0) == (x != NULL));
  if (!x) return;
  ASSERT(bk_hash_eq(bk_xorb_hash_of(x), bk_xorb_hash_of(y)));
  ASSERT(bk_xorb_count(x) == bk_xorb_count(y) && bk_xorb_body_len(x) == bk_xorb_body_len(y));
  for (size_t i = 0; i < bk_xorb_count(x); i++) {
    const bk_xorb_chunk *a = &bk_xorb_chunks(x)[i], *b = &bk_xorb_chunks(y)[i];
    ASSERT(bk_hash_eq(&a->hash, &b->hash) && a->record_len == b->record_len &&
           a->unpacked_len == b->unpacked_len);
  }
  bk_xorb_free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bk_xorb *x = NULL;
  if (bk_xorb_parse(data, size, 0, NULL, &x) == 0) check_parsed(data, x);
  check_stream(data, size, 0, x);
  bk_xorb_free(x);
  x = NULL;
  if (bk_xorb_parse(data, size, BK_XORB_ALLOW_FOOTER | BK_XORB_KEEP_DATA, NULL, &x) == 0)
    check_parsed(data, x);
  check_stream(data, size, BK_XORB_ALLOW_FOOTER, x);
  bk_xorb_free(x);
  /* single-record decoder into an exact-size buffer */
  uint32_t ulen = 0;
  if (bk_xorb_record_header(data, size, NULL, NULL, &ulen) == 0) {
    uint8_t *dst = malloc(ulen);
    size_t used = 0, got = 0;
    if (dst && bk_xorb_decode_chunk(data, size, dst, ulen, &used, &got) == 0)
      ASSERT(got == ulen && used <= size);
    free(dst);
  }
  return 0;
}
