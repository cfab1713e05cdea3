/* buckets storage service — open/close and the shared put-then-register
 * steps (see service.h, docs/service.md). */
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "service/svc_internal.h"

/* The blob store of the config (optional when regions are configured). */
static int open_blobs(const struct bk_svc_config *cfg, bk_svc *svc) {
  if (cfg->blob_url && !(svc->cfg_blob_url = strdup(cfg->blob_url)))
    return bk_seterr(BK_ENOMEM, "out of memory");
  if (cfg->blobs) {
    svc->cfg_bs = cfg->blobs;
    return 0;
  }
  int rc = 0;
  if (cfg->blob_url) rc = bk_blobstore_open_url(cfg->blob_url, &svc->cfg_bs);
  else if (cfg->blob_root) rc = bk_blobstore_open(cfg->blob_root, &svc->cfg_bs);
  svc->own_cfg_bs = rc == 0 && svc->cfg_bs;
  return rc;
}

static int open_db(const struct bk_svc_config *cfg, bk_svc *svc) {
  if (cfg->db) {
    svc->db = cfg->db;
    return 0;
  }
  int rc = 0;
  if (cfg->db_url) rc = bk_db_open_url(cfg->db_url, &svc->db);
  else rc = bk_db_open(cfg->db_path, &svc->db);
  svc->own_db = rc == 0;
  return rc;
}

/* Longest delete grace (ten years): now + grace never overflows. */
#define DELETE_GRACE_MAX_MS ((int64_t)3650 * 86400 * 1000)

int bk_svc_open(const struct bk_svc_config *cfg, bk_svc **out) {
  *out = NULL;
  if (!cfg || (!cfg->db && !cfg->db_url && !cfg->db_path))
    return bk_seterr(BK_EINVAL, "service: a database and a blob store are required");
  bk_svc *svc = calloc(1, sizeof *svc);
  if (!svc) return bk_seterr(BK_ENOMEM, "out of memory");
  pthread_mutex_init(&svc->rmu, NULL);
  pthread_mutex_init(&svc->wmu, NULL);
  pthread_cond_init(&svc->wcv, NULL);
  svc->dedup_scope = cfg->dedup_scope;
  svc->reverify_ms = cfg->reverify_ms;
  svc->delete_grace_ms = cfg->delete_grace_ms > 0   ? cfg->delete_grace_ms
                         : cfg->delete_grace_ms == 0 ? BK_SVC_DELETE_GRACE_MS
                                                     : 0;
  if (svc->delete_grace_ms > DELETE_GRACE_MAX_MS) svc->delete_grace_ms = DELETE_GRACE_MAX_MS;
  svc->direct_downloads = cfg->direct_downloads != 0;
  int rc = open_blobs(cfg, svc);
  if (rc == 0) rc = open_db(cfg, svc);
  if (rc == 0) rc = svc_regions_open(svc); /* sets svc->bs */
  if (rc == 0 && svc->direct_downloads && !(bk_blobstore_caps(svc->bs) & BK_BLOB_CAP_PRESIGN))
    rc = bk_seterr(BK_EINVAL,
                   "--direct-downloads needs a blob store that can presign URLs "
                   "(the %s:// store cannot; use an S3 store)",
                   bk_blobstore_scheme(svc->bs));
  if (rc != 0) {
    bk_svc_close(svc);
    return rc;
  }
  *out = svc;
  return 0;
}

void bk_svc_close(bk_svc *svc) {
  if (!svc) return;
  bk_svc_replicate_stop(svc);
  svc_regions_close(svc);
  if (svc->own_db) bk_db_close(svc->db);
  if (svc->own_cfg_bs) bk_blobstore_close(svc->cfg_bs);
  free(svc->cfg_blob_url);
  pthread_mutex_destroy(&svc->rmu);
  pthread_mutex_destroy(&svc->wmu);
  pthread_cond_destroy(&svc->wcv);
  free(svc);
}

bk_db *bk_svc_db(const bk_svc *svc) { return svc->db; }

/* The shard blob named sh is stored already: if its bytes are not body's
 * (damaged), replace it durably. */
static int heal_shard_blob(bk_svc *svc, const bk_hash *sh, const uint8_t *body, size_t len) {
  bk_buf b;
  bk_buf_init(&b, len);
  int rc = bk_blob_get(svc->bs, BK_BLOB_SHARD, sh, len, &b);
  int same = rc == 0 && b.len == len && memcmp(b.p, body, b.len) == 0;
  bk_buf_free(&b);
  if (rc == BK_ENOMEM) return rc;
  if (same) return 0;
  return bk_blob_replace(svc->bs, BK_BLOB_SHARD, sh, body, len);
}

int svc_shard_store(bk_svc *svc, const uint8_t *body, size_t len, const bk_shard *s,
                    int64_t bucket_id, bk_hash *missing, int *existed) {
  bk_hash sh;
  bk_blake3(body, len, sh.b);
  int blob_existed = 0, rc = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    rc = bk_blob_put(svc->bs, BK_BLOB_SHARD, &sh, body, len, &blob_existed);
    /* a stored shard of this name must be these very bytes (its name is
     * their hash): one that differs is damaged and is replaced */
    if (rc == 0 && blob_existed) rc = heal_shard_blob(svc, &sh, body, len);
    if (rc != 0) break;
    /* the registration checks the blob under the write lock: a concurrent gc
     * that removed it as an orphan (no row yet) answers BK_ESTALE: put again */
    rc = svc_shard_register(svc, &sh, len, s, bucket_id, missing, existed);
    if (rc != BK_ENOTFOUND && rc != BK_ESTALE) break;
    /* or a xorb vanished between verification and registration (gc race):
     * the retry re-checks; a further miss is reported */
  }
  if (rc == BK_ESTALE) rc = bk_seterr(BK_EIO, "shard blob keeps vanishing (concurrent gc)");
  if (rc == 0 && blob_existed) rc = bk_db_shard_set_damaged(svc->db, &sh, 0);
  /* regions: shards live in the default region (docs/regions.md) */
  if (rc == 0 && svc->regions_on)
    rc = bk_db_copy_add(svc->db, BK_BLOB_SHARD, &sh, svc->default_region);
  return rc;
}

int svc_row_exists(bk_db *db, bk_blob_kind kind, const bk_hash *h) {
  return kind == BK_BLOB_XORB ? bk_db_xorb_exists(db, h) : bk_db_shard_exists(db, h);
}
