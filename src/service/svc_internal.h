/* buckets storage service — internals shared by the src/service/ files.
 * Not a public header: only the src/service/ sources include it. */
#ifndef BUCKETS_SVC_INTERNAL_H
#define BUCKETS_SVC_INTERNAL_H

#include "service/service.h"

struct bk_svc {
  bk_db *db;
  bk_blobstore *bs;
  int own_db, own_bs;
  int dedup_scope;
  int64_t reverify_ms;
  int64_t delete_grace_ms; /* resolved: >= 0 */
  int direct_downloads;
};

/* The one "blob stored, now register it" step (put a xorb, ingest), in
 * svc_check.c: a BK_TX_GC_FENCE transaction in which the service checks the
 * stored blob (it exists, the row describes its layout; a writer `pass`
 * holding verified bytes that differ from the stored blob replaces it when
 * the stored one is damaged) and then calls bk_db_xorb_register_tx. See
 * docs/service.md "The gc race". A registration that finds the blob gone (a
 * concurrent gc removed it as an orphan before the row existed, or the
 * stored blob was damaged and removed) answers BK_ESTALE "xorb storage raced
 * with gc; retry" and registers nothing; nothing is retried here. Consumes
 * pass. */
int svc_xorb_register(bk_svc *svc, const bk_hash *xorb, uint64_t size,
                      const bk_xorb_chunk *chunks, size_t n, unsigned flags,
                      bk_blob_writer *pass, int *existed);
/* The same for a blob the caller's own writer just committed (BK_XORB_REG_VERIFIED
 * bytes laid out exactly as chunks / size say) with write tag `tag`
 * (bk_blob_writer_tag; "" or NULL: none). Under the fence, when the stored
 * blob still carries that tag (one HEAD on S3), it is the blob this writer
 * stored, so its layout is compared with chunks in memory instead of read
 * back from the store; any other tag (a concurrent put or copy of the same
 * name, a replace) or none: the blob is read as by svc_xorb_register. */
int svc_xorb_register_mine(bk_svc *svc, const bk_hash *xorb, uint64_t size,
                           const bk_xorb_chunk *chunks, size_t n, const char *tag,
                           int *existed);

/* Registers a shard whose blob sh was put: under BK_TX_GC_FENCE the blob
 * must still be stored (else BK_ESTALE, nothing registered), then
 * bk_db_shard_register_tx. */
int svc_shard_register(bk_svc *svc, const bk_hash *sh, uint64_t size, const bk_shard *s,
                       int64_t bucket_id, bk_hash *missing, int *existed);

/* Stores the shard blob (healing a damaged stored copy) and registers it,
 * putting the blob again when a concurrent gc removed it (BK_ESTALE from
 * the registration), at most 3 attempts. *missing names a xorb the
 * registration found missing (BK_ENOTFOUND) or damaged (BK_EHASH). */
int svc_shard_store(bk_svc *svc, const uint8_t *body, size_t len, const bk_shard *s,
                    int64_t bucket_id, bk_hash *missing, int *existed);

/* Makes sure a registered xorb's stored blob verifies before it is handed
 * out (dedup answer, shard reference, served range). 0: good; BK_EHASH: the
 * xorb is damaged (marked now, or earlier; message names it); BK_ENOTFOUND:
 * no row; other errors (BK_EIO, BK_EDB) leave the state unchanged.
 * A row verified at most max_age_ms ago whose blob change token
 * (bk_blob_stamp) is unchanged is trusted without reading the blob (one
 * stat); otherwise the whole blob is parsed (every chunk decoded and hashed,
 * the xorb hash, the chunk table compared with the row) and the verdict
 * recorded (bk_db_xorb_set_verdict). max_age_ms == INT64_MAX: read only a
 * blob that changed since its last verification (a never-verified row is
 * trusted). max_age_ms < 0: always read (fsck --read-data, scrub), also a
 * xorb marked damaged, whose mark is cleared if it verifies now (restored by
 * an operator). A missing blob counts as damaged. Recording the verdict is
 * best effort: when the row cannot be written (full disk, busy database)
 * the verdict is still returned and the check is simply redone next time. */
int svc_xorb_check(bk_svc *svc, const bk_hash *xorb, int64_t max_age_ms);

/* Reads the stored shard blob and checks it hashes to its name; records the
 * outcome (damaged mark). 0 good, BK_EHASH damaged (also a missing or
 * unreadable blob), BK_ENOTFOUND (no row), other errors. */
int svc_shard_check(bk_svc *svc, const bk_hash *shard_hash);

/* 1 if a xorb/shard row exists for the blob, 0 if not, negative on error. */
int svc_row_exists(bk_db *db, bk_blob_kind kind, const bk_hash *h);

#endif
