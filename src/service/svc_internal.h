/* buckets storage service — internals shared by the src/service/ files.
 * Not a public header: only the src/service/ sources include it. */
#ifndef BUCKETS_SVC_INTERNAL_H
#define BUCKETS_SVC_INTERNAL_H

#include "service/service.h"

struct bk_svc {
  bk_db *db;
  bk_blobstore *bs;
  int own_db, own_bs;
  char *blob_root;
  int dedup_scope;
  int64_t reverify_ms;
};

/* The one "blob stored, now register it" step (put a xorb, ingest): see
 * docs/service.md "The gc race". A registration that finds the blob gone
 * (a concurrent gc removed it as an orphan before the row existed) answers
 * BK_ESTALE "xorb storage raced with gc; retry"; nothing is retried here. */
int svc_xorb_register(bk_svc *svc, const bk_hash *xorb, uint64_t size,
                      const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                      bk_blob_writer *pass, int *existed);

/* Stores the shard blob (healing a damaged stored copy) and registers it,
 * putting the blob again when a concurrent gc removed it (BK_ESTALE from
 * the registration), at most 3 attempts. *missing names a xorb the
 * registration found missing (BK_ENOTFOUND) or damaged (BK_EHASH). */
int svc_shard_store(bk_svc *svc, const uint8_t *body, size_t len, const bk_shard *s,
                    int64_t bucket_id, bk_hash *missing, int *existed);

/* 1 if a xorb/shard row exists for the blob, 0 if not, negative on error. */
int svc_row_exists(bk_db *db, bk_blob_kind kind, const bk_hash *h);

#endif
