/* buckets — the kinds of stored blobs, shared by the blob store
 * (store/blobstore.h) and the metadata layer (store/db.h: scrub cursors,
 * gc pages), which otherwise know nothing of each other. */
#ifndef BUCKETS_BLOBKIND_H
#define BUCKETS_BLOBKIND_H

typedef enum bk_blob_kind {
  BK_BLOB_XORB = 0,
  BK_BLOB_SHARD = 1,
} bk_blob_kind;
#define BK_BLOB_NKINDS 2

#endif
