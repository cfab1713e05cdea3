/* CAS xorb upload: POST /v1/xorbs/default/{hash}, verified as it streams.
 *
 * HTTP only; the storage work is the service's (bk_svc_xorb_*, see
 * src/service/svc_xorb.c and docs/service.md). cas_xorb_start runs when the
 * headers are complete, before any body byte: it checks the CAS token
 * (write scope) and the hash in the path, so a request that will be refused
 * is answered at once instead of after 64 MiB, then opens the service's
 * streaming put. Each body piece goes to bk_svc_xorb_write (xorb_sink);
 * when the body is complete, cas_post_xorb commits and replies. Any failure
 * leaves nothing behind, also when the client goes away mid-body
 * (body_free).
 */
#include <stdio.h>
#include <stdlib.h>

#include "buckets/error.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/server.h"
#include "service/service.h"

static void upload_free(void *state) { bk_svc_xorb_free(state); }

static void xorb_sink(struct bk_http_req *req, const uint8_t *data, size_t len) {
  bk_svc_xorb_write(req->body_state, data, len);
}

int cas_xorb_start(struct bk_server *srv, struct bk_http_req *req, const char *seg) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 1, &c)) return 1;
  bk_hash want;
  if (!cas_path_hash(req, seg, &want)) return 1;
  bk_svc_xorb_put *u = NULL;
  int rc = bk_svc_xorb_open(srv->svc, &want, c.bucket_id, req->content_length, &u);
  if (rc == BK_ENOMEM)
    return bk_http_error(req, 503, "ServiceUnavailable", "out of memory"), 1;
  if (rc) return cas_reply_store_error(req, rc, "storing xorb");
  req->body_state = u;
  req->body_free = upload_free;
  req->body_sink = xorb_sink;
  return 0;
}

int cas_post_xorb(struct bk_server *srv, struct bk_http_req *req, const char *seg) {
  (void)srv;
  (void)seg; /* checked by cas_xorb_start */
  bk_svc_xorb_put *u = req->body_state;
  if (!u || req->body_sink != xorb_sink)
    return bk_http_error(req, 500, "InternalError", "xorb upload was not streamed"), 1;
  if (req->body_received == 0)
    return bk_http_error(req, 400, "InvalidXorb", "empty xorb body"), 1;
  int inserted = 0, verify_failed = 0;
  int rc = bk_svc_xorb_commit(u, &inserted, &verify_failed);
  if (rc != 0 && verify_failed) {
    const char *code = rc == BK_EHASH ? "XorbHashMismatch" : "InvalidXorb";
    return bk_http_error(req, 400, code, "xorb rejected (%s): %s", bk_strerror(rc), bk_errmsg()),
           1;
  }
  /* a concurrent gc removed the blob between the start and the register:
   * the bytes are gone with the body, so the client sends them again */
  if (rc == BK_ESTALE)
    return bk_http_error(req, 503, "ServiceUnavailable", "xorb storage raced with gc; retry"), 1;
  if (rc != 0) return cas_reply_store_error(req, rc, "storing xorb");
  bk_http_reply_json(req, 200, inserted ? "{\"was_inserted\":true}" : "{\"was_inserted\":false}");
  return 1;
}
