/* buckets — Xorb format: chunk records, compression, the stored footer
 * (xet.md §3).
 *
 * Builder: packs chunks into a serialized xorb body (records only, no footer,
 * which is what clients upload). Parser: validates every record before
 * allocating, decompresses into exactly the declared size, recomputes every
 * chunk hash and the xorb hash.
 * Ownership: _new/_free pairs; pointers returned by accessors are owned by
 * the object and valid until it is reset or freed.
 */
#ifndef BUCKETS_XORB_H
#define BUCKETS_XORB_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"
#include "buckets/hash.h"

#define BK_XORB_MAX_BYTES (64u << 20) /* serialized and uncompressed cap */
#define BK_XORB_MAX_CHUNKS 8192u
#define BK_XORB_CHUNK_MAX 131072u       /* max uncompressed chunk */
#define BK_XORB_COMPRESSED_MAX (2u * 131072u)
#define BK_XORB_RECORD_HEADER 8u

enum bk_compression {
  BK_COMP_NONE = 0,
  BK_COMP_LZ4 = 1,
  BK_COMP_BG4_LZ4 = 2,
};

/* One chunk of a xorb as the parser or builder saw it. */
typedef struct bk_xorb_chunk {
  bk_hash hash;
  uint32_t record_offset;   /* byte offset of the record header in the body */
  uint32_t record_len;      /* header + payload */
  uint32_t unpacked_offset; /* cumulative uncompressed offset */
  uint32_t unpacked_len;
  uint8_t scheme;
} bk_xorb_chunk;

/* ---- builder ---- */
typedef struct bk_xorb_builder bk_xorb_builder;

/* compress: 1 = try LZ4 and BG4+LZ4 per chunk and keep the smallest
 * (raw when neither shrinks it); 0 = store raw. */
BK_API int bk_xorb_builder_new(int compress, bk_xorb_builder **out);
BK_API void bk_xorb_builder_free(bk_xorb_builder *b);
BK_API void bk_xorb_builder_reset(bk_xorb_builder *b);
/* Appends a chunk. hash may be NULL (then computed). Returns BK_ELIMIT,
 * leaving the builder unchanged, when the chunk would exceed 8,192 chunks
 * or 64 MiB; the caller then finishes this xorb and starts another. */
BK_API int bk_xorb_builder_add(bk_xorb_builder *b, const void *data, size_t len,
                        const bk_hash *hash);
BK_API size_t bk_xorb_builder_count(const bk_xorb_builder *b);
BK_API size_t bk_xorb_builder_size(const bk_xorb_builder *b);       /* serialized */
BK_API uint64_t bk_xorb_builder_unpacked(const bk_xorb_builder *b); /* raw bytes */
BK_API const bk_xorb_chunk *bk_xorb_builder_chunks(const bk_xorb_builder *b);
/* Computes the xorb hash and exposes the body (owned by the builder). */
BK_API int bk_xorb_builder_finish(bk_xorb_builder *b, bk_hash *xorb_hash,
                           const uint8_t **body, size_t *body_len);

/* ---- single record helpers ---- */
/* Encodes one chunk record (header + payload) onto out, choosing the
 * smallest scheme if compress != 0. Reports the scheme used. */
BK_API int bk_xorb_encode_chunk(bk_buf *out, const void *data, size_t len, int compress,
                         uint8_t *scheme_used);
/* Decodes the record at rec[0..avail): validates header, decompresses into
 * dst (capacity dst_cap >= unpacked length, else BK_EINVAL; never writes
 * more than the declared length), sets *consumed and *out_len. Same error
 * codes as bk_xorb_parse. Creates a codec per call: for many records use
 * bk_xorb_codec_decode. */
BK_API int bk_xorb_decode_chunk(const uint8_t *rec, size_t avail, uint8_t *dst,
                         size_t dst_cap, size_t *consumed, size_t *out_len);

/* ---- reusable codec (extension) ----
 * Holds the LZ4F contexts and scratch buffers so that encoding or decoding
 * many records does not allocate per record. Not thread-safe: one per thread.
 * Ownership: _new/_free. */
typedef struct bk_xorb_codec bk_xorb_codec;
BK_API int bk_xorb_codec_new(bk_xorb_codec **out);
BK_API void bk_xorb_codec_free(bk_xorb_codec *c);
/* Same as bk_xorb_encode_chunk / bk_xorb_decode_chunk with a reused codec.
 * Encode appends the whole record or nothing (BK_ELIMIT when `out` is full). */
BK_API int bk_xorb_codec_encode(bk_xorb_codec *c, bk_buf *out, const void *data,
                         size_t len, int compress, uint8_t *scheme_used);
BK_API int bk_xorb_codec_decode(bk_xorb_codec *c, const uint8_t *rec, size_t avail,
                         uint8_t *dst, size_t dst_cap, size_t *consumed,
                         size_t *out_len);

/* Validates one record header at rec[0..avail) (payload presence included)
 * without decoding. Any out pointer may be NULL. Errors: BK_ETRUNCATED (fewer
 * than 8 bytes or payload past avail), BK_EVERSION (version != 0), BK_EFORMAT
 * (unknown scheme, zero length), BK_ELIMIT (uncompressed > 131072 or
 * compressed > 262144), BK_ESIZE (scheme 0 with compressed != uncompressed). */
BK_API int bk_xorb_record_header(const uint8_t *rec, size_t avail, uint8_t *scheme,
                          uint32_t *compressed_len, uint32_t *unpacked_len);

/* ---- parser ---- */
typedef struct bk_xorb bk_xorb;

enum {
  BK_XORB_ALLOW_FOOTER = 1, /* accept (and validate) a trailing stored V1
                               footer, or exactly 4 stray bytes "XETB";
                               both are excluded from bk_xorb_body_len */
  BK_XORB_KEEP_DATA = 2,    /* keep decoded chunk bytes for bk_xorb_chunk_data */
};

/* Parses and fully verifies a serialized xorb. If expected is non-NULL the
 * computed xorb hash must equal it (else BK_EHASH). Errors: BK_ETRUNCATED,
 * BK_EVERSION, BK_ESIZE, BK_EHASH, BK_ELIMIT, BK_ECOMPRESS, BK_EFORMAT. */
BK_API int bk_xorb_parse(const uint8_t *data, size_t len, unsigned flags,
                  const bk_hash *expected, bk_xorb **out);
BK_API void bk_xorb_free(bk_xorb *x);
BK_API const bk_hash *bk_xorb_hash_of(const bk_xorb *x);
BK_API size_t bk_xorb_count(const bk_xorb *x);
BK_API const bk_xorb_chunk *bk_xorb_chunks(const bk_xorb *x);
BK_API size_t bk_xorb_body_len(const bk_xorb *x);   /* records only, footer excluded */
BK_API uint64_t bk_xorb_unpacked(const bk_xorb *x); /* sum of chunk lengths */
/* With BK_XORB_KEEP_DATA: decoded bytes of chunk i. */
BK_API const uint8_t *bk_xorb_chunk_data(const bk_xorb *x, size_t i);

/* ---- streaming parser ----
 * The same verification as bk_xorb_parse for a body that arrives in pieces
 * of any size: every complete record is decoded and hashed as soon as its
 * last byte is fed, so memory stays at one record (<= 8 + 256 KiB carried
 * across feeds), one decoded chunk and the chunk table; a footer
 * (BK_XORB_ALLOW_FOOTER, the only flag accepted) is kept (<= its maximum
 * size) and checked at the end. Errors are sticky: once a feed fails, every
 * later call returns the same code and message. Ownership: _new/_free; the
 * bk_xorb from _finish is the caller's (bk_xorb_free) and has no data. */
typedef struct bk_xorb_stream bk_xorb_stream;
BK_API int bk_xorb_stream_new(unsigned flags, bk_xorb_stream **out);
BK_API void bk_xorb_stream_free(bk_xorb_stream *s); /* NULL ok */
BK_API int bk_xorb_stream_feed(bk_xorb_stream *s, const void *data, size_t n);
/* End of the body: no partial record may remain; computes the xorb hash and
 * compares it with expected (NULL: no check), validates the footer. */
BK_API int bk_xorb_stream_finish(bk_xorb_stream *s, const bk_hash *expected, bk_xorb **out);

/* Builds the stored footer (XorbObjectInfoV1) for a parsed xorb. */
BK_API int bk_xorb_footer(const bk_xorb *x, bk_buf *out);

#endif
