/* buckets — MDB shard format (xet.md §4): header, file-info section,
 * xorb-info section, optional lookup tables and footer.
 *
 * bk_shard is a plain, caller-visible structure. bk_shard_parse allocates it
 * (bounded by the input length: every count is checked against the bytes
 * that remain before anything is allocated); release with bk_shard_free.
 * For building, fill the structure yourself (arrays owned by you) and call
 * bk_shard_serialize.
 */
#ifndef BUCKETS_SHARD_H
#define BUCKETS_SHARD_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"
#include "buckets/hash.h"

#define BK_SHARD_HEADER_LEN 48u
#define BK_SHARD_FOOTER_LEN 200u
#define BK_SHARD_MAX_BYTES (64u << 20)
#define BK_SHARD_FILE_VERIFY 0x80000000u
#define BK_SHARD_FILE_META 0x40000000u
#define BK_SHARD_CHUNK_GLOBAL_DEDUP 0x80000000u

BK_API extern const uint8_t BK_SHARD_MAGIC[32];

typedef struct bk_shard_term {
  bk_hash xorb_hash;
  uint32_t xorb_flags;
  uint32_t unpacked_bytes;
  uint32_t chunk_start; /* inclusive */
  uint32_t chunk_end;   /* exclusive */
  bk_hash range_hash;   /* valid when the file has verification entries */
} bk_shard_term;

typedef struct bk_shard_file {
  bk_hash file_hash;
  uint32_t flags; /* BK_SHARD_FILE_VERIFY | BK_SHARD_FILE_META */
  uint32_t nterms;
  bk_shard_term *terms;
  bk_hash sha256; /* raw shard byte order; valid with BK_SHARD_FILE_META */
} bk_shard_file;

typedef struct bk_shard_chunk {
  bk_hash hash;
  uint32_t byte_start; /* cumulative uncompressed offset in the xorb */
  uint32_t len;        /* unpacked_segment_bytes */
  uint32_t flags;
} bk_shard_chunk;

typedef struct bk_shard_xorb {
  bk_hash xorb_hash;
  uint32_t flags;
  uint32_t nchunks;
  uint32_t bytes_in_xorb; /* sum of uncompressed chunk lengths */
  uint32_t bytes_on_disk; /* serialized xorb length */
  bk_shard_chunk *chunks;
} bk_shard_xorb;

typedef struct bk_shard_footer {
  uint64_t version;
  uint64_t file_info_offset, xorb_info_offset;
  uint64_t file_lookup_offset, file_lookup_num;
  uint64_t xorb_lookup_offset, xorb_lookup_num;
  uint64_t chunk_lookup_offset, chunk_lookup_num;
  uint8_t chunk_hash_hmac_key[32];
  uint64_t creation_timestamp;
  uint64_t key_expiry;
  uint64_t stored_bytes_on_disk, materialized_bytes, stored_bytes;
  uint64_t footer_offset;
} bk_shard_footer;

typedef struct bk_shard {
  uint32_t nfiles;
  bk_shard_file *files;
  uint32_t nxorbs;
  bk_shard_xorb *xorbs;
  int has_footer;
  bk_shard_footer footer; /* valid when has_footer */
} bk_shard;

/* Parses a shard with or without footer. Structural validation only (hashes
 * inside are not recomputed here: that needs the xorbs). Errors:
 * BK_ETRUNCATED, BK_EFORMAT, BK_EVERSION, BK_ELIMIT, BK_ENOMEM. */
BK_API int bk_shard_parse(const uint8_t *data, size_t len, bk_shard **out);
BK_API void bk_shard_free(bk_shard *s);

enum {
  BK_SHARD_WITH_FOOTER = 1, /* write lookup tables + 200-byte footer */
};
/* Serializes s onto out. With BK_SHARD_WITH_FOOTER, the footer fields
 * offsets/counts/bytes are computed; hmac key, timestamps come from
 * s->footer (zero-initialise it for defaults). */
BK_API int bk_shard_serialize(const bk_shard *s, unsigned flags, bk_buf *out);

/* ---- extensions ---- */

/* Bytes bk_shard_serialize would write (0 on arithmetic overflow). */
BK_API size_t bk_shard_serialized_size(const bk_shard *s, unsigned flags);

/* Builds a global-dedup response shard (xet.md §4 "Dedup response shards",
 * §8): header, empty file-info section, the given xorb blocks, lookup tables
 * and footer. When key is non-NULL and not all zero, every chunk hash is
 * written as bk_hash_hmac(hash, key) and the key goes into the footer's
 * chunk_hash_hmac_key (chunk lookup keys then use the keyed hashes).
 * created / expiry are unix seconds for the footer (expiry UINT64_MAX =
 * never). The input arrays are not modified. Appends to out. */
BK_API int bk_shard_build_dedup_response(const bk_shard_xorb *xorbs, uint32_t nxorbs,
                                  const uint8_t key[32], uint64_t created,
                                  uint64_t expiry, bk_buf *out);

/* The form of chunk hash h as stored in shard s: hmac(h, key) when the
 * footer carries a non-zero chunk_hash_hmac_key, else h itself. */
BK_API void bk_shard_stored_chunk_hash(const bk_shard *s, const bk_hash *h, bk_hash *out);

#endif
