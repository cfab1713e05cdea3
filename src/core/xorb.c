/* buckets — Xet xorb format: chunk records, compression, the stored footer
 * (xet.md §3). See include/buckets/xorb.h for the API and ownership rules and
 * docs/formats.md for the choices made here.
 */
#include "buckets/xorb.h"

#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/bg4.h"
#include "buckets/error.h"
#include "buckets/merkle.h"

#define FOOTER_IDENT "XETBLOB"
#define FOOTER_HASHES_IDENT "XBLBHSH"
#define FOOTER_BOUNDS_IDENT "XBLBBND"
#define FOOTER_VERSION 1
#define FOOTER_HASHES_VERSION 0
#define FOOTER_BOUNDS_VERSION 1
/* Footer bytes (info_length u32 included) for n chunks. */
#define FOOTER_TOTAL(n) (96u + 40u * (uint32_t)(n))
#define FOOTER_MAX FOOTER_TOTAL(BK_XORB_MAX_CHUNKS)

/* Adaptive BG4 attempts: after a loss wait 1, 2, 4 ... up to this many chunks
 * before trying again; a win resets the wait. */
#define BG4_MAX_BACKOFF 32u

/* ------------------------------------------------------------------ codec */

struct bk_xorb_codec {
  LZ4F_cctx *cctx;
  LZ4F_dctx *dctx;
  uint8_t *grp;  /* BG4 scratch, BK_XORB_CHUNK_MAX bytes */
  uint8_t *c1;   /* LZ4 output, `bound` bytes */
  uint8_t *c2;   /* BG4+LZ4 output, `bound` bytes */
  size_t bound;
  unsigned bg4_wait, bg4_backoff;
};

static LZ4F_preferences_t lz4_prefs(void) {
  LZ4F_preferences_t p;
  memset(&p, 0, sizeof p);
  p.frameInfo.blockSizeID = LZ4F_max64KB;
  p.frameInfo.blockMode = LZ4F_blockIndependent;
  p.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  p.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  p.frameInfo.contentSize = 0; /* not written; readers never rely on it */
  p.compressionLevel = 0;      /* fast */
  p.autoFlush = 1;             /* compress straight into dst, no staging */
  return p;
}

int bk_xorb_codec_new(bk_xorb_codec **out) {
  bk_xorb_codec *c = calloc(1, sizeof *c);
  if (!c) return bk_seterr(BK_ENOMEM, "xorb codec");
  *out = c;
  return 0;
}

void bk_xorb_codec_free(bk_xorb_codec *c) {
  if (!c) return;
  if (c->cctx) LZ4F_freeCompressionContext(c->cctx);
  if (c->dctx) LZ4F_freeDecompressionContext(c->dctx);
  free(c->grp);
  free(c->c1);
  free(c->c2);
  free(c);
}

static int codec_need_grp(bk_xorb_codec *c) {
  if (c->grp) return 0;
  c->grp = malloc(BK_XORB_CHUNK_MAX);
  return c->grp ? 0 : bk_seterr(BK_ENOMEM, "xorb codec scratch");
}

static int codec_need_enc(bk_xorb_codec *c) {
  if (c->cctx && c->c1 && c->c2) return 0;
  LZ4F_preferences_t p = lz4_prefs();
  if (!c->cctx && LZ4F_isError(LZ4F_createCompressionContext(&c->cctx, LZ4F_VERSION))) {
    c->cctx = NULL;
    return bk_seterr(BK_ENOMEM, "LZ4F compression context");
  }
  c->bound = LZ4F_compressFrameBound(BK_XORB_CHUNK_MAX, &p);
  if (!c->c1) c->c1 = malloc(c->bound);
  if (!c->c2) c->c2 = malloc(c->bound);
  if (!c->c1 || !c->c2) return bk_seterr(BK_ENOMEM, "xorb codec buffers");
  return 0;
}

static int codec_need_dec(bk_xorb_codec *c) {
  if (c->dctx) return 0;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&c->dctx, LZ4F_VERSION))) {
    c->dctx = NULL;
    return bk_seterr(BK_ENOMEM, "LZ4F decompression context");
  }
  return 0;
}

/* One LZ4 frame of src into dst (capacity c->bound). Returns the frame size,
 * or 0 when LZ4F fails (treated as "does not compress"). */
static size_t lz4_frame(bk_xorb_codec *c, uint8_t *dst, const uint8_t *src,
                        size_t n) {
  LZ4F_preferences_t p = lz4_prefs();
  size_t cap = c->bound;
  size_t h = LZ4F_compressBegin(c->cctx, dst, cap, &p);
  if (LZ4F_isError(h)) return 0;
  size_t u = LZ4F_compressUpdate(c->cctx, dst + h, cap - h, src, n, NULL);
  if (LZ4F_isError(u)) return 0;
  size_t e = LZ4F_compressEnd(c->cctx, dst + h + u, cap - h - u, NULL);
  if (LZ4F_isError(e)) return 0;
  return h + u + e;
}

/* Decodes one LZ4 frame of exactly srclen bytes into exactly dstlen bytes. */
static int lz4_unframe(bk_xorb_codec *c, const uint8_t *src, size_t srclen,
                       uint8_t *dst, size_t dstlen) {
  LZ4F_resetDecompressionContext(c->dctx);
  size_t in = 0, out = 0;
  for (;;) {
    size_t dsz = dstlen - out, ssz = srclen - in;
    size_t r = LZ4F_decompress(c->dctx, dst + out, &dsz, src + in, &ssz, NULL);
    if (LZ4F_isError(r))
      return bk_seterr(BK_ECOMPRESS, "corrupt LZ4 frame: %s", LZ4F_getErrorName(r));
    in += ssz;
    out += dsz;
    if (r == 0) break; /* frame complete */
    if (ssz == 0 && dsz == 0) {
      if (out == dstlen && in < srclen)
        return bk_seterr(BK_ESIZE, "LZ4 frame holds more than the declared %zu bytes",
                         dstlen);
      return bk_seterr(BK_ECOMPRESS, "LZ4 frame is truncated");
    }
  }
  if (in != srclen)
    return bk_seterr(BK_ECOMPRESS, "%zu stray bytes after the LZ4 frame", srclen - in);
  if (out != dstlen)
    return bk_seterr(BK_ESIZE, "LZ4 frame holds %zu bytes, header declares %zu", out,
                     dstlen);
  return 0;
}

static void put_header(uint8_t h[8], uint32_t clen, uint8_t scheme, uint32_t ulen) {
  h[0] = 0;
  bk_store_u24le(h + 1, clen);
  h[4] = scheme;
  bk_store_u24le(h + 5, ulen);
}

int bk_xorb_codec_encode(bk_xorb_codec *c, bk_buf *out, const void *data,
                         size_t len, int compress, uint8_t *scheme_used) {
  if (!c || !out || (!data && len))
    return bk_seterr(BK_EINVAL, "xorb encode: bad argument");
  if (len == 0 || len > BK_XORB_CHUNK_MAX)
    return bk_seterr(BK_EINVAL, "chunk length %zu outside 1..%u", len, BK_XORB_CHUNK_MAX);
  const uint8_t *src = data;
  const uint8_t *payload = src;
  size_t plen = len;
  uint8_t scheme = BK_COMP_NONE;

  if (compress) {
    int rc = codec_need_enc(c);
    if (rc) return rc;
    /* Compress LZ4 straight into `out` when it has room for the worst case
     * (saves a copy of the usual winner); else into scratch. */
    uint8_t *a_dst = c->c1;
    if (out->max - out->len >= BK_XORB_RECORD_HEADER + c->bound &&
        bk_buf_reserve(out, BK_XORB_RECORD_HEADER + c->bound) == 0)
      a_dst = out->p + out->len + BK_XORB_RECORD_HEADER;
    size_t a = lz4_frame(c, a_dst, src, len);
    if (a && a < plen) {
      payload = a_dst;
      plen = a;
      scheme = BK_COMP_LZ4;
    }
    /* BG4 is only plausible when plain LZ4 did not already halve the chunk
     * (typed numeric data: LZ4 alone gains little there). Repeated losses back
     * off exponentially so that incompressible streams pay for it rarely. */
    int try_bg4 = len >= 16 && (a == 0 || a * 2 > len);
    if (try_bg4 && c->bg4_wait) {
      c->bg4_wait--;
      try_bg4 = 0;
    }
    if (try_bg4) {
      rc = codec_need_grp(c);
      if (rc) return rc;
      bk_bg4_split(src, len, c->grp);
      size_t b = lz4_frame(c, c->c2, c->grp, len);
      /* A clear win (> 1/32 smaller) keeps BG4 on every chunk; a marginal
       * win is still used for this chunk but backs off like a loss. */
      int clear_win = b && b + plen / 32 < plen;
      if (b && b < plen) {
        payload = c->c2;
        plen = b;
        scheme = BK_COMP_BG4_LZ4;
      }
      if (clear_win) {
        c->bg4_backoff = 0;
      } else {
        c->bg4_backoff = c->bg4_backoff ? c->bg4_backoff * 2 : 1;
        if (c->bg4_backoff > BG4_MAX_BACKOFF) c->bg4_backoff = BG4_MAX_BACKOFF;
        c->bg4_wait = c->bg4_backoff;
      }
    }
  }

  /* Whole record or nothing. */
  int rc = bk_buf_reserve(out, BK_XORB_RECORD_HEADER + plen);
  if (rc) return rc;
  put_header(out->p + out->len, (uint32_t)plen, scheme, (uint32_t)len);
  if (payload != out->p + out->len + BK_XORB_RECORD_HEADER)
    memcpy(out->p + out->len + BK_XORB_RECORD_HEADER, payload, plen);
  out->len += BK_XORB_RECORD_HEADER + plen;
  if (scheme_used) *scheme_used = scheme;
  return 0;
}

int bk_xorb_record_header(const uint8_t *rec, size_t avail, uint8_t *scheme,
                          uint32_t *compressed_len, uint32_t *unpacked_len) {
  if (!rec && avail) return bk_seterr(BK_EINVAL, "xorb record: bad argument");
  if (avail < BK_XORB_RECORD_HEADER)
    return bk_seterr(BK_ETRUNCATED, "record header needs 8 bytes, %zu left", avail);
  if (rec[0] != 0)
    return bk_seterr(BK_EVERSION, "record version %u (only 0 is known)", rec[0]);
  uint32_t clen = bk_load_u24le(rec + 1), ulen = bk_load_u24le(rec + 5);
  uint8_t s = rec[4];
  if (s > BK_COMP_BG4_LZ4)
    return bk_seterr(BK_EFORMAT, "unknown compression scheme %u", s);
  if (clen == 0 || ulen == 0)
    return bk_seterr(BK_EFORMAT, "zero-length chunk record");
  if (ulen > BK_XORB_CHUNK_MAX)
    return bk_seterr(BK_ELIMIT, "uncompressed length %u > %u", ulen, BK_XORB_CHUNK_MAX);
  if (clen > BK_XORB_COMPRESSED_MAX)
    return bk_seterr(BK_ELIMIT, "compressed length %u > %u", clen, BK_XORB_COMPRESSED_MAX);
  if (s == BK_COMP_NONE && clen != ulen)
    return bk_seterr(BK_ESIZE, "uncompressed record: payload %u != length %u", clen, ulen);
  if (avail - BK_XORB_RECORD_HEADER < clen)
    return bk_seterr(BK_ETRUNCATED, "record payload needs %u bytes, %zu left", clen,
                     avail - BK_XORB_RECORD_HEADER);
  if (scheme) *scheme = s;
  if (compressed_len) *compressed_len = clen;
  if (unpacked_len) *unpacked_len = ulen;
  return 0;
}

/* Decodes a validated payload into exactly ulen bytes at dst. */
static int decode_payload(bk_xorb_codec *c, uint8_t scheme, const uint8_t *p,
                          uint32_t clen, uint8_t *dst, uint32_t ulen) {
  int rc;
  switch (scheme) {
  case BK_COMP_NONE:
    memcpy(dst, p, ulen);
    return 0;
  case BK_COMP_LZ4:
    if ((rc = codec_need_dec(c))) return rc;
    return lz4_unframe(c, p, clen, dst, ulen);
  case BK_COMP_BG4_LZ4:
    if ((rc = codec_need_dec(c)) || (rc = codec_need_grp(c))) return rc;
    if ((rc = lz4_unframe(c, p, clen, c->grp, ulen))) return rc;
    bk_bg4_join(c->grp, ulen, dst);
    return 0;
  default:
    return bk_seterr(BK_EFORMAT, "unknown compression scheme %u", scheme);
  }
}

int bk_xorb_codec_decode(bk_xorb_codec *c, const uint8_t *rec, size_t avail,
                         uint8_t *dst, size_t dst_cap, size_t *consumed,
                         size_t *out_len) {
  uint8_t scheme;
  uint32_t clen, ulen;
  if (!c) return bk_seterr(BK_EINVAL, "xorb decode: no codec");
  int rc = bk_xorb_record_header(rec, avail, &scheme, &clen, &ulen);
  if (rc) return rc;
  if (!dst || dst_cap < ulen)
    return bk_seterr(BK_EINVAL, "decode buffer %zu < chunk length %u", dst_cap, ulen);
  rc = decode_payload(c, scheme, rec + BK_XORB_RECORD_HEADER, clen, dst, ulen);
  if (rc) return rc;
  if (consumed) *consumed = BK_XORB_RECORD_HEADER + (size_t)clen;
  if (out_len) *out_len = ulen;
  return 0;
}

int bk_xorb_encode_chunk(bk_buf *out, const void *data, size_t len, int compress,
                         uint8_t *scheme_used) {
  bk_xorb_codec *c;
  int rc = bk_xorb_codec_new(&c);
  if (rc) return rc;
  rc = bk_xorb_codec_encode(c, out, data, len, compress, scheme_used);
  bk_xorb_codec_free(c);
  return rc;
}

int bk_xorb_decode_chunk(const uint8_t *rec, size_t avail, uint8_t *dst,
                         size_t dst_cap, size_t *consumed, size_t *out_len) {
  bk_xorb_codec *c;
  int rc = bk_xorb_codec_new(&c);
  if (rc) return rc;
  rc = bk_xorb_codec_decode(c, rec, avail, dst, dst_cap, consumed, out_len);
  bk_xorb_codec_free(c);
  return rc;
}

/* ---------------------------------------------------------------- builder */

struct bk_xorb_builder {
  int compress;
  bk_xorb_codec *codec;
  bk_buf body;
  bk_xorb_chunk *chunks;
  size_t n, cap;
  uint64_t unpacked;
};

/* Room for chunk n in a chunk table (256 first, at most
 * BK_XORB_MAX_CHUNKS entries). */
static int grow_chunks(bk_xorb_chunk **chunks, size_t n, size_t *cap) {
  bk_xorb_chunk *nc = bk_grow(*chunks, n, cap, sizeof *nc, 256, BK_XORB_MAX_CHUNKS);
  if (!nc) return bk_seterr(BK_ENOMEM, "xorb chunk table: out of memory");
  *chunks = nc;
  return 0;
}

int bk_xorb_builder_new(int compress, bk_xorb_builder **out) {
  bk_xorb_builder *b = calloc(1, sizeof *b);
  if (!b) return bk_seterr(BK_ENOMEM, "xorb builder");
  int rc = bk_xorb_codec_new(&b->codec);
  if (rc) {
    free(b);
    return rc;
  }
  b->compress = compress;
  bk_buf_init(&b->body, BK_XORB_MAX_BYTES);
  *out = b;
  return 0;
}

void bk_xorb_builder_free(bk_xorb_builder *b) {
  if (!b) return;
  bk_xorb_codec_free(b->codec);
  bk_buf_free(&b->body);
  free(b->chunks);
  free(b);
}

void bk_xorb_builder_reset(bk_xorb_builder *b) {
  if (!b) return;
  bk_buf_reset(&b->body);
  b->n = 0;
  b->unpacked = 0;
}

int bk_xorb_builder_add(bk_xorb_builder *b, const void *data, size_t len,
                        const bk_hash *hash) {
  if (!b || (!data && len)) return bk_seterr(BK_EINVAL, "xorb builder: bad argument");
  if (len == 0 || len > BK_XORB_CHUNK_MAX)
    return bk_seterr(BK_EINVAL, "chunk length %zu outside 1..%u", len, BK_XORB_CHUNK_MAX);
  if (b->n >= BK_XORB_MAX_CHUNKS)
    return bk_seterr(BK_ELIMIT, "xorb already holds %u chunks", BK_XORB_MAX_CHUNKS);
  if (b->unpacked + len > BK_XORB_MAX_BYTES)
    return bk_seterr(BK_ELIMIT, "xorb would exceed %u uncompressed bytes", BK_XORB_MAX_BYTES);
  if (grow_chunks(&b->chunks, b->n, &b->cap)) return BK_ENOMEM;
  size_t off = b->body.len;
  uint8_t scheme;
  /* Appends all or nothing; BK_ELIMIT when the serialized body would pass
   * 64 MiB (the body buffer's cap). */
  int rc = bk_xorb_codec_encode(b->codec, &b->body, data, len, b->compress, &scheme);
  if (rc) return rc;
  bk_xorb_chunk *ch = &b->chunks[b->n];
  if (hash)
    ch->hash = *hash;
  else
    bk_chunk_hash(data, len, &ch->hash);
  ch->record_offset = (uint32_t)off;
  ch->record_len = (uint32_t)(b->body.len - off);
  ch->unpacked_offset = (uint32_t)b->unpacked;
  ch->unpacked_len = (uint32_t)len;
  ch->scheme = scheme;
  b->n++;
  b->unpacked += len;
  return 0;
}

size_t bk_xorb_builder_count(const bk_xorb_builder *b) { return b ? b->n : 0; }
size_t bk_xorb_builder_size(const bk_xorb_builder *b) { return b ? b->body.len : 0; }
uint64_t bk_xorb_builder_unpacked(const bk_xorb_builder *b) { return b ? b->unpacked : 0; }
const bk_xorb_chunk *bk_xorb_builder_chunks(const bk_xorb_builder *b) {
  return b ? b->chunks : NULL;
}

static int hash_of_chunks(const bk_xorb_chunk *ch, size_t n, bk_hash *out) {
  bk_merkle_leaf *leaves = malloc((n ? n : 1) * sizeof *leaves);
  if (!leaves) return bk_seterr(BK_ENOMEM, "xorb hash leaves");
  for (size_t i = 0; i < n; i++) {
    leaves[i].hash = ch[i].hash;
    leaves[i].len = ch[i].unpacked_len;
  }
  int rc = bk_xorb_hash(leaves, n, out);
  free(leaves);
  return rc;
}

int bk_xorb_builder_finish(bk_xorb_builder *b, bk_hash *xorb_hash,
                           const uint8_t **body, size_t *body_len) {
  if (!b) return bk_seterr(BK_EINVAL, "xorb builder: bad argument");
  if (b->n == 0) return bk_seterr(BK_EINVAL, "xorb builder holds no chunks");
  if (xorb_hash) {
    int rc = hash_of_chunks(b->chunks, b->n, xorb_hash);
    if (rc) return rc;
  }
  if (body) *body = b->body.p;
  if (body_len) *body_len = b->body.len;
  return 0;
}

/* ----------------------------------------------------------------- parser */

struct bk_xorb {
  bk_hash hash;
  size_t n;
  bk_xorb_chunk *chunks;
  size_t body_len;
  uint64_t unpacked;
  uint8_t *data; /* BK_XORB_KEEP_DATA: all decoded bytes */
};

void bk_xorb_free(bk_xorb *x) {
  if (!x) return;
  free(x->chunks);
  free(x->data);
  free(x);
}

const bk_hash *bk_xorb_hash_of(const bk_xorb *x) { return &x->hash; }
size_t bk_xorb_count(const bk_xorb *x) { return x->n; }
const bk_xorb_chunk *bk_xorb_chunks(const bk_xorb *x) { return x->chunks; }
size_t bk_xorb_body_len(const bk_xorb *x) { return x->body_len; }
uint64_t bk_xorb_unpacked(const bk_xorb *x) { return x->unpacked; }
const uint8_t *bk_xorb_chunk_data(const bk_xorb *x, size_t i) {
  if (!x || !x->data || i >= x->n) return NULL;
  return x->data + x->chunks[i].unpacked_offset;
}

/* Validates a stored V1 footer at f[0..flen) against the parsed chunks. */
static int check_footer(const bk_xorb *x, const uint8_t *f, size_t flen) {
  size_t n = x->n;
  if (flen < 8) return bk_seterr(BK_ETRUNCATED, "xorb footer truncated");
  if (f[7] != FOOTER_VERSION)
    return bk_seterr(BK_EVERSION, "xorb footer version %u (only 1 is supported)", f[7]);
  if (flen != FOOTER_TOTAL(n))
    return bk_seterr(flen < FOOTER_TOTAL(n) ? BK_ETRUNCATED : BK_EFORMAT,
                     "xorb footer is %zu bytes, %u expected for %zu chunks", flen,
                     FOOTER_TOTAL(n), n);
  const uint8_t *p = f + 8;
  if (memcmp(p, x->hash.b, 32) != 0)
    return bk_seterr(BK_EHASH, "xorb footer hash differs from the content");
  p += 32;
  if (memcmp(p, FOOTER_HASHES_IDENT, 7) != 0 || p[7] != FOOTER_HASHES_VERSION ||
      bk_load_u32le(p + 8) != n)
    return bk_seterr(BK_EFORMAT, "xorb footer: bad hashes section");
  p += 12;
  for (size_t i = 0; i < n; i++, p += 32)
    if (memcmp(p, x->chunks[i].hash.b, 32) != 0)
      return bk_seterr(BK_EHASH, "xorb footer: chunk %zu hash differs", i);
  if (memcmp(p, FOOTER_BOUNDS_IDENT, 7) != 0 || p[7] != FOOTER_BOUNDS_VERSION ||
      bk_load_u32le(p + 8) != n)
    return bk_seterr(BK_EFORMAT, "xorb footer: bad boundaries section");
  p += 12;
  for (size_t i = 0; i < n; i++, p += 4) {
    const bk_xorb_chunk *c = &x->chunks[i];
    if (bk_load_u32le(p) != c->record_offset + c->record_len)
      return bk_seterr(BK_EFORMAT, "xorb footer: chunk %zu boundary offset wrong", i);
  }
  for (size_t i = 0; i < n; i++, p += 4) {
    const bk_xorb_chunk *c = &x->chunks[i];
    if (bk_load_u32le(p) != c->unpacked_offset + c->unpacked_len)
      return bk_seterr(BK_EFORMAT, "xorb footer: chunk %zu unpacked offset wrong", i);
  }
  uint32_t bnd_from_end = 40u + 8u * (uint32_t)n;
  uint32_t hsh_from_end = 12u + 32u * (uint32_t)n + bnd_from_end;
  if (bk_load_u32le(p) != n || bk_load_u32le(p + 4) != hsh_from_end ||
      bk_load_u32le(p + 8) != bnd_from_end)
    return bk_seterr(BK_EFORMAT, "xorb footer: bad trailer counts or offsets");
  p += 12 + 16; /* the 16-byte buffer (nonce) is not interpreted */
  if (bk_load_u32le(p) != FOOTER_TOTAL(n) - 4)
    return bk_seterr(BK_EFORMAT, "xorb footer: bad info length");
  return 0;
}

/* Decodes the complete record at rec (header already validated) into dst,
 * hashes the chunk and describes it in *c (chunk i at body offset off,
 * content offset uoff). */
static int verify_record(bk_xorb_codec *codec, const uint8_t *rec, uint8_t scheme,
                         uint32_t clen, uint32_t ulen, uint8_t *dst, size_t i, size_t off,
                         uint64_t uoff, bk_xorb_chunk *c) {
  int rc = decode_payload(codec, scheme, rec + BK_XORB_RECORD_HEADER, clen, dst, ulen);
  if (rc) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s", bk_errmsg());
    return bk_seterr(rc, "chunk %zu at offset %zu: %s", i, off, msg);
  }
  bk_chunk_hash(dst, ulen, &c->hash);
  c->record_offset = (uint32_t)off;
  c->record_len = BK_XORB_RECORD_HEADER + clen;
  c->unpacked_offset = (uint32_t)uoff;
  c->unpacked_len = ulen;
  c->scheme = scheme;
  return 0;
}

/* The xorb hash over x's chunks, compared with expected (may be NULL). */
static int finish_hash(bk_xorb *x, const bk_hash *expected) {
  int rc = hash_of_chunks(x->chunks, x->n, &x->hash);
  if (rc || !expected || bk_hash_eq(expected, &x->hash)) return rc;
  char want[65], got[65];
  bk_hash_to_hex(expected, want);
  bk_hash_to_hex(&x->hash, got);
  return bk_seterr(BK_EHASH, "xorb hash %s, expected %s", got, want);
}

/* What pass 1 of bk_xorb_parse found: record count and sizes, all bounded. */
typedef struct xorb_scan {
  size_t n;         /* chunk records */
  uint64_t unpacked; /* total content bytes */
  int has_footer;
  size_t footer_at; /* offset of the footer (has_footer) */
  size_t body_len;  /* bytes of records */
} xorb_scan;

/* Pass 1: every record header, no allocation; every count and size against
 * the limits. */
static int scan_records(const uint8_t *data, size_t len, int allow_footer, xorb_scan *sc) {
  size_t off = 0, n = 0;
  uint64_t unpacked = 0;
  memset(sc, 0, sizeof *sc);
  while (off < len) {
    size_t rem = len - off;
    if (allow_footer && rem >= 7 && memcmp(data + off, FOOTER_IDENT, 7) == 0) {
      sc->has_footer = 1;
      sc->footer_at = off;
      break;
    }
    if (allow_footer && rem == 4 && memcmp(data + off, "XETB", 4) == 0)
      break; /* stray 4-byte tail seen in the wild: excluded from the body */
    if (n == BK_XORB_MAX_CHUNKS)
      return bk_seterr(BK_ELIMIT, "xorb has more than %u chunks", BK_XORB_MAX_CHUNKS);
    uint32_t clen, ulen;
    int rc = bk_xorb_record_header(data + off, rem, NULL, &clen, &ulen);
    if (rc) {
      char msg[200];
      snprintf(msg, sizeof msg, "%s", bk_errmsg());
      return bk_seterr(rc, "chunk %zu at offset %zu: %s", n, off, msg);
    }
    size_t rlen = BK_XORB_RECORD_HEADER + (size_t)clen;
    if (off + rlen > BK_XORB_MAX_BYTES)
      return bk_seterr(BK_ELIMIT, "xorb body exceeds %u bytes", BK_XORB_MAX_BYTES);
    if (unpacked + ulen > BK_XORB_MAX_BYTES)
      return bk_seterr(BK_ELIMIT, "xorb content exceeds %u bytes", BK_XORB_MAX_BYTES);
    unpacked += ulen;
    off += rlen;
    n++;
  }
  if (n == 0) return bk_seterr(BK_EFORMAT, "xorb holds no chunk records");
  sc->n = n;
  sc->unpacked = unpacked;
  sc->body_len = sc->has_footer ? sc->footer_at : off;
  return 0;
}

/* Makes room in x->data (capacity *cap) for content up to byte `need`:
 * grows geometrically with what actually decodes, never to the declared
 * total up front (a tiny input can claim 64 MiB), and never past `total`. */
static int grow_data(bk_xorb *x, size_t *cap, uint64_t need, uint64_t total) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap * 2 : (size_t)1 << 20;
  while (ncap < need) ncap *= 2;
  if (ncap > total) ncap = (size_t)total;
  uint8_t *nd = realloc(x->data, ncap);
  if (!nd) return bk_seterr(BK_ENOMEM, "xorb parse: out of memory");
  x->data = nd;
  *cap = ncap;
  return 0;
}

/* Pass 2: decodes and hashes the sc->n records pass 1 validated into
 * x->chunks (allocated by the caller); keeps the content in x->data with
 * BK_XORB_KEEP_DATA. */
static int decode_records(bk_xorb *x, const uint8_t *data, size_t len, unsigned flags,
                          const xorb_scan *sc) {
  bk_xorb_codec *codec = NULL;
  uint8_t *scratch = NULL;
  int keep = (flags & BK_XORB_KEEP_DATA) != 0;
  size_t data_cap = 0, off = 0;
  uint64_t uoff = 0;
  int rc = bk_xorb_codec_new(&codec);
  if (rc) return rc;
  if (!keep && !(scratch = malloc(BK_XORB_CHUNK_MAX))) {
    rc = bk_seterr(BK_ENOMEM, "xorb parse: out of memory");
    goto done;
  }
  for (size_t i = 0; i < sc->n; i++) {
    uint8_t scheme;
    uint32_t clen, ulen;
    bk_xorb_record_header(data + off, len - off, &scheme, &clen, &ulen);
    if (keep && (rc = grow_data(x, &data_cap, uoff + ulen, sc->unpacked))) goto done;
    uint8_t *dst = keep ? x->data + uoff : scratch;
    bk_xorb_chunk *c = &x->chunks[i];
    rc = verify_record(codec, data + off, scheme, clen, ulen, dst, i, off, uoff, c);
    if (rc) goto done;
    off += c->record_len;
    uoff += ulen;
  }
done:
  free(scratch);
  bk_xorb_codec_free(codec);
  return rc;
}

int bk_xorb_parse(const uint8_t *data, size_t len, unsigned flags,
                  const bk_hash *expected, bk_xorb **out) {
  if (!out || (!data && len)) return bk_seterr(BK_EINVAL, "xorb parse: bad argument");
  *out = NULL;
  int allow_footer = (flags & BK_XORB_ALLOW_FOOTER) != 0;
  size_t max_total = BK_XORB_MAX_BYTES + (allow_footer ? FOOTER_MAX : 0);
  if (len > max_total)
    return bk_seterr(BK_ELIMIT, "xorb of %zu bytes exceeds %zu", len, max_total);
  xorb_scan sc;
  int rc = scan_records(data, len, allow_footer, &sc);
  if (rc) return rc;

  /* Pass 2: all sizes are now validated and bounded. */
  bk_xorb *x = calloc(1, sizeof *x);
  if (!x) return bk_seterr(BK_ENOMEM, "xorb");
  if (!(x->chunks = malloc(sc.n * sizeof *x->chunks))) {
    rc = bk_seterr(BK_ENOMEM, "xorb parse: out of memory");
    goto fail;
  }
  if ((rc = decode_records(x, data, len, flags, &sc))) goto fail;
  x->n = sc.n;
  x->body_len = sc.body_len;
  x->unpacked = sc.unpacked;
  if ((rc = finish_hash(x, expected))) goto fail;
  if (sc.has_footer && (rc = check_footer(x, data + sc.footer_at, len - sc.footer_at)))
    goto fail;
  *out = x;
  return 0;

fail:
  bk_xorb_free(x);
  return rc;
}

int bk_xorb_footer(const bk_xorb *x, bk_buf *out) {
  if (!x || !out) return bk_seterr(BK_EINVAL, "xorb footer: bad argument");
  size_t n = x->n;
  int rc = bk_buf_reserve(out, FOOTER_TOTAL(n));
  if (rc) return rc;
  uint8_t *p = out->p + out->len;
  memcpy(p, FOOTER_IDENT, 7);
  p[7] = FOOTER_VERSION;
  memcpy(p + 8, x->hash.b, 32);
  p += 40;
  memcpy(p, FOOTER_HASHES_IDENT, 7);
  p[7] = FOOTER_HASHES_VERSION;
  bk_store_u32le(p + 8, (uint32_t)n);
  p += 12;
  for (size_t i = 0; i < n; i++, p += 32) memcpy(p, x->chunks[i].hash.b, 32);
  memcpy(p, FOOTER_BOUNDS_IDENT, 7);
  p[7] = FOOTER_BOUNDS_VERSION;
  bk_store_u32le(p + 8, (uint32_t)n);
  p += 12;
  for (size_t i = 0; i < n; i++, p += 4)
    bk_store_u32le(p, x->chunks[i].record_offset + x->chunks[i].record_len);
  for (size_t i = 0; i < n; i++, p += 4)
    bk_store_u32le(p, x->chunks[i].unpacked_offset + x->chunks[i].unpacked_len);
  uint32_t bnd_from_end = 40u + 8u * (uint32_t)n;
  bk_store_u32le(p, (uint32_t)n);
  bk_store_u32le(p + 4, 12u + 32u * (uint32_t)n + bnd_from_end);
  bk_store_u32le(p + 8, bnd_from_end);
  p += 12;
  memset(p, 0, 16); /* no uniqueness nonce */
  p += 16;
  bk_store_u32le(p, FOOTER_TOTAL(n) - 4);
  out->len += FOOTER_TOTAL(n);
  return 0;
}

/* ------------------------------------------------------- streaming parser */

struct bk_xorb_stream {
  int allow_footer;
  int err;            /* first failure, sticky */
  char errmsg[256];
  bk_xorb_codec *codec;
  uint8_t *scratch;   /* one decoded chunk */
  bk_buf carry;       /* the start of a record split across feeds */
  bk_buf footer;      /* bytes after the last record (ALLOW_FOOTER) */
  int in_footer;
  bk_xorb_chunk *chunks;
  size_t n, cap;
  size_t off;         /* body bytes consumed as complete records */
  uint64_t unpacked;
};

int bk_xorb_stream_new(unsigned flags, bk_xorb_stream **out) {
  if (!out || (flags & BK_XORB_KEEP_DATA))
    return bk_seterr(BK_EINVAL, "xorb stream: bad argument");
  bk_xorb_stream *s = calloc(1, sizeof *s);
  if (!s) return bk_seterr(BK_ENOMEM, "xorb stream: out of memory");
  s->allow_footer = (flags & BK_XORB_ALLOW_FOOTER) != 0;
  bk_buf_init(&s->carry, BK_XORB_RECORD_HEADER + BK_XORB_COMPRESSED_MAX);
  bk_buf_init(&s->footer, FOOTER_MAX);
  s->scratch = malloc(BK_XORB_CHUNK_MAX);
  int rc = s->scratch ? bk_xorb_codec_new(&s->codec) : BK_ENOMEM;
  if (rc) {
    bk_xorb_stream_free(s);
    return bk_seterr(rc, "xorb stream: out of memory");
  }
  *out = s;
  return 0;
}

void bk_xorb_stream_free(bk_xorb_stream *s) {
  if (!s) return;
  bk_xorb_codec_free(s->codec);
  free(s->scratch);
  bk_buf_free(&s->carry);
  bk_buf_free(&s->footer);
  free(s->chunks);
  free(s);
}

/* Records the first failure (code and message) and returns it. */
static int stream_fail(bk_xorb_stream *s, int rc) {
  s->err = rc;
  snprintf(s->errmsg, sizeof s->errmsg, "%s", bk_errmsg());
  return rc;
}

/* Validates the header at rec (have bytes there, have >= 8). Returns 0 with
 * the record's fields, 1 when the payload is not complete yet, or an error. */
static int stream_header(bk_xorb_stream *s, const uint8_t *rec, size_t have, uint8_t *scheme,
                         uint32_t *clen, uint32_t *ulen) {
  int rc = bk_xorb_record_header(rec, BK_XORB_RECORD_HEADER + BK_XORB_COMPRESSED_MAX, scheme,
                                 clen, ulen);
  if (rc) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s", bk_errmsg());
    return bk_seterr(rc, "chunk %zu at offset %zu: %s", s->n, s->off, msg);
  }
  if (s->n == BK_XORB_MAX_CHUNKS)
    return bk_seterr(BK_ELIMIT, "xorb has more than %u chunks", BK_XORB_MAX_CHUNKS);
  if (s->off + BK_XORB_RECORD_HEADER + *clen > BK_XORB_MAX_BYTES)
    return bk_seterr(BK_ELIMIT, "xorb body exceeds %u bytes", BK_XORB_MAX_BYTES);
  if (s->unpacked + *ulen > BK_XORB_MAX_BYTES)
    return bk_seterr(BK_ELIMIT, "xorb content exceeds %u bytes", BK_XORB_MAX_BYTES);
  return have < BK_XORB_RECORD_HEADER + (size_t)*clen ? 1 : 0;
}

/* Decodes and hashes one complete record (header validated). */
static int stream_record(bk_xorb_stream *s, const uint8_t *rec, uint8_t scheme, uint32_t clen,
                         uint32_t ulen) {
  /* the table grows with records actually received */
  if (grow_chunks(&s->chunks, s->n, &s->cap)) return BK_ENOMEM;
  int rc = verify_record(s->codec, rec, scheme, clen, ulen, s->scratch, s->n, s->off,
                         s->unpacked, &s->chunks[s->n]);
  if (rc) return rc;
  s->n++;
  s->off += BK_XORB_RECORD_HEADER + (size_t)clen;
  s->unpacked += ulen;
  return 0;
}

/* Moves bytes into the carry until it holds a complete record, then
 * verifies it. Returns bytes taken from p, or a negative error. */
static long stream_fill_carry(bk_xorb_stream *s, const uint8_t *p, size_t n) {
  size_t take = 0;
  if (s->carry.len < BK_XORB_RECORD_HEADER) {
    take = BK_XORB_RECORD_HEADER - s->carry.len;
    if (take > n) take = n;
    bk_buf_append(&s->carry, p, take); /* within the carry's cap */
    if (s->carry.len < BK_XORB_RECORD_HEADER) return (long)take;
  }
  uint8_t scheme;
  uint32_t clen, ulen;
  int rc = stream_header(s, s->carry.p, s->carry.len, &scheme, &clen, &ulen);
  if (rc < 0) return rc;
  size_t more = BK_XORB_RECORD_HEADER + (size_t)clen - s->carry.len;
  if (more > n - take) more = n - take;
  bk_buf_append(&s->carry, p + take, more);
  take += more;
  if (s->carry.len < BK_XORB_RECORD_HEADER + (size_t)clen) return (long)take;
  rc = stream_record(s, s->carry.p, scheme, clen, ulen);
  bk_buf_reset(&s->carry);
  return rc < 0 ? rc : (long)take;
}

int bk_xorb_stream_feed(bk_xorb_stream *s, const void *data, size_t n) {
  if (!s || (!data && n)) return bk_seterr(BK_EINVAL, "xorb stream: bad argument");
  if (s->err) return bk_seterr(s->err, "%s", s->errmsg);
  const uint8_t *p = data;
  while (n > 0) {
    if (s->in_footer) {
      if (bk_buf_append(&s->footer, p, n) != 0)
        return stream_fail(s, bk_seterr(BK_ELIMIT, "xorb footer exceeds %u bytes", FOOTER_MAX));
      return 0;
    }
    if (s->carry.len > 0) {
      long took = stream_fill_carry(s, p, n);
      if (took < 0) return stream_fail(s, (int)took);
      p += took;
      n -= (size_t)took;
      continue;
    }
    /* at a record boundary: a footer starts with 'X', a record with 0 */
    if (s->allow_footer && p[0] == 'X') {
      s->in_footer = 1;
      continue;
    }
    uint8_t scheme;
    uint32_t clen, ulen;
    int rc = n < BK_XORB_RECORD_HEADER ? 1 : stream_header(s, p, n, &scheme, &clen, &ulen);
    if (rc < 0) return stream_fail(s, rc);
    if (rc == 1) { /* split record: keep its start */
      long took = stream_fill_carry(s, p, n);
      if (took < 0) return stream_fail(s, (int)took);
      p += took;
      n -= (size_t)took;
      continue;
    }
    if ((rc = stream_record(s, p, scheme, clen, ulen))) return stream_fail(s, rc);
    p += BK_XORB_RECORD_HEADER + (size_t)clen;
    n -= BK_XORB_RECORD_HEADER + (size_t)clen;
  }
  return 0;
}

int bk_xorb_stream_finish(bk_xorb_stream *s, const bk_hash *expected, bk_xorb **out) {
  if (!s || !out) return bk_seterr(BK_EINVAL, "xorb stream: bad argument");
  *out = NULL;
  if (s->err) return bk_seterr(s->err, "%s", s->errmsg);
  if (s->carry.len > 0)
    return stream_fail(s, bk_seterr(BK_ETRUNCATED, "xorb ends inside chunk %zu at offset %zu",
                                    s->n, s->off));
  if (s->n == 0) return stream_fail(s, bk_seterr(BK_EFORMAT, "xorb holds no chunk records"));
  const bk_buf *f = &s->footer;
  int stray = f->len == 4 && memcmp(f->p, "XETB", 4) == 0;
  int footer = f->len >= 7 && memcmp(f->p, FOOTER_IDENT, 7) == 0;
  if (s->in_footer && !stray && !footer)
    return stream_fail(s, bk_seterr(BK_EVERSION, "chunk %zu at offset %zu: record version %u "
                                                 "(only 0 is known)", s->n, s->off, f->p[0]));
  bk_xorb *x = calloc(1, sizeof *x);
  if (!x) return stream_fail(s, bk_seterr(BK_ENOMEM, "xorb stream: out of memory"));
  x->chunks = s->chunks;
  x->n = s->n;
  x->body_len = s->off;
  x->unpacked = s->unpacked;
  s->chunks = NULL;
  s->n = s->cap = 0;
  int rc = finish_hash(x, expected);
  if (!rc && footer) rc = check_footer(x, f->p, f->len);
  if (rc) {
    bk_xorb_free(x);
    return stream_fail(s, rc);
  }
  *out = x;
  return 0;
}
