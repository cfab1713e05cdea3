/* libFuzzer target: the shard parser (bk_shard_parse). Arbitrary bytes must
 * never crash, leak or over-allocate. When an input parses, it must survive
 * serialize -> parse -> serialize in both forms with identical results. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/shard.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

static int same(const bk_shard *a, const bk_shard *b) {
  if (a->nfiles != b->nfiles || a->nxorbs != b->nxorbs) return 0;
  for (uint32_t i = 0; i < a->nfiles; i++) {
    const bk_shard_file *f = &a->files[i], *g = &b->files[i];
    if (memcmp(f->file_hash.b, g->file_hash.b, 32) || f->flags != g->flags ||
        f->nterms != g->nterms)
      return 0;
    if ((f->flags & BK_SHARD_FILE_META) && memcmp(f->sha256.b, g->sha256.b, 32)) return 0;
    for (uint32_t k = 0; k < f->nterms; k++) {
      const bk_shard_term *s = &f->terms[k], *t = &g->terms[k];
      if (memcmp(s->xorb_hash.b, t->xorb_hash.b, 32) || s->xorb_flags != t->xorb_flags ||
          s->unpacked_bytes != t->unpacked_bytes || s->chunk_start != t->chunk_start ||
          s->chunk_end != t->chunk_end)
        return 0;
      if ((f->flags & BK_SHARD_FILE_VERIFY) && memcmp(s->range_hash.b, t->range_hash.b, 32))
        return 0;
    }
  }
  for (uint32_t i = 0; i < a->nxorbs; i++) {
    const bk_shard_xorb *x = &a->xorbs[i], *y = &b->xorbs[i];
    if (memcmp(x->xorb_hash.b, y->xorb_hash.b, 32) || x->flags != y->flags ||
        x->nchunks != y->nchunks || x->bytes_in_xorb != y->bytes_in_xorb ||
        x->bytes_on_disk != y->bytes_on_disk)
      return 0;
    for (uint32_t k = 0; k < x->nchunks; k++)
      if (memcmp(&x->chunks[k].hash, &y->chunks[k].hash, 32) ||
          x->chunks[k].byte_start != y->chunks[k].byte_start ||
          x->chunks[k].len != y->chunks[k].len || x->chunks[k].flags != y->chunks[k].flags)
        return 0;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bk_shard *s = NULL;
  if (bk_shard_parse(data, size, &s) != 0) return 0;
  for (unsigned flags = 0; flags < 2; flags++) {
    bk_buf a, b;
    bk_buf_init(&a, BK_SHARD_MAX_BYTES);
    bk_buf_init(&b, BK_SHARD_MAX_BYTES);
    int rc = bk_shard_serialize(s, flags ? BK_SHARD_WITH_FOOTER : 0, &a);
    /* may only fail when the lookup tables push it over 64 MiB */
    if (rc == 0) {
      ASSERT(a.len == bk_shard_serialized_size(s, flags ? BK_SHARD_WITH_FOOTER : 0));
      bk_shard *t = NULL;
      ASSERT(bk_shard_parse(a.p, a.len, &t) == 0);
      ASSERT(same(s, t));
      ASSERT(t->has_footer == (int)flags);
      ASSERT(bk_shard_serialize(t, flags ? BK_SHARD_WITH_FOOTER : 0, &b) == 0);
      ASSERT(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
      bk_shard_free(t);
    } else {
      ASSERT(flags && rc == -8);
    }
    bk_buf_free(&a);
    bk_buf_free(&b);
  }
  bk_shard_free(s);
  return 0;
}
