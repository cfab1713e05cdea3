/* bucketd web — file bytes for the web pages (owned by the web helper):
 * reading the first bytes of a stored file for previews, and ingesting a
 * browser upload (the server does the Xet work a client would do).
 *
 * Ingest: the bytes are cut with the Xet CDC chunker and hashed; the file
 * hash is computed; when the file is already known the bucket is only
 * granted it. Otherwise each chunk is looked up (first in the chunks already
 * placed during this upload and in xorbs found through the dedup index
 * (within the server's --dedup-scope) — a hit loads the whole chunk table of that xorb, like a Xet client
 * does with a dedup shard), and only new chunks are packed into new xorbs
 * (compressed, stored, registered). A shard describing the file (terms
 * pointing at old and new xorbs) is then stored and registered with the
 * bucket's grant, so a later batch addFile may use the hash.
 *
 * Ownership: out buffers are caller-owned; nothing is retained.
 */
#ifndef BUCKETD_WEB_CONTENT_H
#define BUCKETD_WEB_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "buckets/blobstore.h"
#include "buckets/buf.h"
#include "buckets/db.h"
#include "buckets/hash.h"

/* Appends up to max bytes from the start of file `file` to out. */
int web_content_read_prefix(bk_db *db, bk_blobstore *bs, const bk_hash *file,
                            size_t max, bk_buf *out);

struct web_ingest_stats {
  uint64_t chunks, new_chunks;
  uint64_t new_bytes;      /* uncompressed bytes of new chunks */
  int whole_file_dedup;    /* the file hash was already known */
};

/* Ingests data[0..len) for bucket_id; *file receives the Xet file hash.
 * dedup_scope (enum bk_dedup_scope) limits which stored xorbs chunks may be
 * reused from, as for a client's dedup queries; a stored xorb is reused only
 * once bk_db_xorb_check(reverify_ms) passes (a damaged one is marked and its
 * chunks are stored again). */
int web_content_ingest(bk_db *db, bk_blobstore *bs, int64_t bucket_id, int dedup_scope,
                       int64_t reverify_ms, const uint8_t *data, size_t len, bk_hash *file,
                       struct web_ingest_stats *st);

#endif
