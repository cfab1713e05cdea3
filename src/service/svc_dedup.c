/* buckets storage service — dedup lookup (service.h).
 *
 * The xorbs a query may answer with depend on the configured dedup scope
 * (bk_dedup_scope in db.h): any (global), those referenced by a bucket of
 * the asking bucket's namespace, or by that bucket only. The xorb offered
 * must verify: a client that dedups against it never sends those chunks
 * again. svc_xorb_check reads it unless it was verified recently and its
 * file is unchanged; a damaged one is marked (the lookup then skips it) and
 * the next holder is tried. */
#include <stdlib.h>

#include "buckets/error.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"

int bk_svc_dedup_lookup(bk_svc *svc, const bk_hash *chunk, int64_t bucket_id, int max_checks,
                        bk_hash *xh, bk_xorb_info *info, bk_xorb_chunk **chunks) {
  *chunks = NULL;
  uint32_t idx = 0;
  int rc = 0;
  for (int attempt = 0; attempt < max_checks; attempt++) {
    rc = bk_db_dedup_lookup(svc->db, chunk, svc->dedup_scope, bucket_id, xh, &idx);
    if (rc != 0) break;
    rc = svc_xorb_check(svc, xh, svc->reverify_ms);
    if (rc != BK_EHASH) break;
  }
  if (rc == BK_EHASH) return bk_seterr(BK_ENOTFOUND, "chunk not known");
  if (rc != 0) return rc;
  rc = bk_db_xorb_get(svc->db, xh, info);
  if (rc != 0) return rc;
  if (info->nchunks == 0 || info->nchunks > BK_XORB_MAX_CHUNKS)
    return bk_seterr(BK_EFORMAT, "stored xorb has a bad chunk count");
  bk_xorb_chunk *xc = malloc((size_t)info->nchunks * sizeof *xc);
  if (!xc) return bk_seterr(BK_ENOMEM, "out of memory");
  rc = bk_db_xorb_chunks(svc->db, xh, 0, info->nchunks, xc);
  if (rc != 0) {
    free(xc);
    return rc;
  }
  *chunks = xc;
  return 0;
}
