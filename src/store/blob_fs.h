/* buckets — filesystem blob backend: helpers for tests and tools only.
 *
 * Production code never needs a blob's path (it reads through
 * bk_blob_reader_* and writes through bk_blob_put / bk_blob_writer_*); tests
 * that damage blobs on disk and tools that print where a blob lives use
 * bk_blob_path. Not part of the public API (not in include/buckets/).
 */
#ifndef BUCKETS_STORE_BLOB_FS_H
#define BUCKETS_STORE_BLOB_FS_H

#include <stddef.h>

#include "store/blobstore.h"

/* Writes the filesystem path of blob (kind, h) of a file:// store into
 * out[0..n). BK_ELIMIT if n is too small, BK_EINVAL for a bad kind,
 * BK_ENOTSUP when the store has another backend. */
int bk_blob_path(const bk_blobstore *bs, bk_blob_kind kind, const bk_hash *h, char *out,
                 size_t n);

#endif
