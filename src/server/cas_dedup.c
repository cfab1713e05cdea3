/* CAS dedup: GET /v1/chunks/default-merkledb/{chunk} (and aliases).
 *
 * The xorbs a query may answer with depend on `bucketd serve --dedup-scope`
 * (srv->dedup_scope, bk_dedup_scope in db.h): any (global), those referenced
 * by a bucket of the token's namespace, or by the token's bucket only.
 * Answers 404 for an unknown (or ineligible, or out-of-scope) chunk, else a shard with footer,
 * an empty file-info section and one xorb block: the xorb holding the chunk,
 * every chunk hash replaced by blake3_keyed(key, raw hash) under a fresh
 * random key per response (footer chunk_hash_hmac_key, expiry now + 1 day).
 * Raw chunk hashes never leave the server. The xorb is verified before it
 * is offered (bk_svc_dedup_lookup); damaged xorbs are never offered.
 */
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/shard.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/server.h"
#include "service/service.h"

int cas_get_dedup(struct bk_server *srv, struct bk_http_req *req, const char *seg) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 0, &c)) return 1;
  bk_hash ch;
  if (!cas_path_hash(req, seg, &ch)) return 1;

  /* the service verifies the xorb before it is offered (damaged holders
   * are marked and skipped) */
  bk_hash xh;
  bk_xorb_info info;
  bk_xorb_chunk *xc = NULL;
  int rc = bk_svc_dedup_lookup(srv->svc, &ch, c.bucket_id, CAS_DEDUP_MAX_CHECKS, &xh, &info, &xc);
  if (rc == BK_ENOTFOUND) return bk_http_error(req, 404, "NotFound", "chunk not known"), 1;
  if (rc == BK_EFORMAT)
    return bk_http_error(req, 500, "InternalError", "stored xorb has a bad chunk count"), 1;
  if (rc == BK_ENOMEM) return bk_http_error(req, 503, "InternalError", "out of memory"), 1;
  if (rc != 0) return cas_reply_store_error(req, rc, "dedup query");
  bk_shard_chunk *sc = calloc(info.nchunks, sizeof *sc);
  if (!sc) {
    free(xc);
    return bk_http_error(req, 503, "InternalError", "out of memory"), 1;
  }
  uint8_t key[32];
  rc = bk_random_bytes(key, sizeof key);
  if (rc != 0) {
    free(xc);
    free(sc);
    return cas_reply_store_error(req, rc, "dedup query");
  }
  uint64_t unpacked = 0;
  for (uint32_t i = 0; i < info.nchunks; i++) {
    bk_hash_hmac(&xc[i].hash, key, &sc[i].hash);
    sc[i].byte_start = xc[i].unpacked_offset;
    sc[i].len = xc[i].unpacked_len;
    sc[i].flags = 0;
    unpacked += xc[i].unpacked_len;
  }
  free(xc);

  bk_shard_xorb sx;
  memset(&sx, 0, sizeof sx);
  sx.xorb_hash = xh;
  sx.nchunks = info.nchunks;
  sx.chunks = sc;
  sx.bytes_in_xorb = (uint32_t)unpacked;
  sx.bytes_on_disk = (uint32_t)info.bytes_on_disk;
  bk_shard s;
  memset(&s, 0, sizeof s);
  s.nxorbs = 1;
  s.xorbs = &sx;
  s.has_footer = 1;
  memcpy(s.footer.chunk_hash_hmac_key, key, sizeof key);
  int64_t now = bk_now_s();
  s.footer.creation_timestamp = (uint64_t)now;
  s.footer.key_expiry = (uint64_t)(now + CAS_DEDUP_KEY_TTL_S);

  bk_buf out;
  bk_buf_init(&out, BK_SHARD_MAX_BYTES);
  rc = bk_shard_serialize(&s, BK_SHARD_WITH_FOOTER, &out);
  free(sc);
  memset(key, 0, sizeof key);
  if (rc != 0) {
    bk_buf_free(&out);
    return cas_reply_store_error(req, rc, "dedup shard");
  }
  bk_http_add_header(req, "Cache-Control", "no-store");
  bk_http_reply_buf(req, 200, "application/octet-stream", &out);
  bk_buf_free(&out);
  return 1;
}
