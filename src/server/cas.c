/* CAS API: routing, body caps, bearer-token auth, telemetry. See cas.h. */
#include "server/cas.h"

#include <string.h>

#include "buckets/db.h"
#include "buckets/error.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/server.h"

#define CAS_GET_BODY_MAX 4096u
#define CAS_TELEMETRY_MAX (1u << 20)

static const char P_XORB[] = "/v1/xorbs/default/";
static const char P_RECON1[] = "/v1/reconstructions/";
static const char P_RECON2[] = "/v2/reconstructions/";
static const char P_DEDUP[] = "/v1/chunks/default-merkledb/";
static const char P_DEDUP_JS[] = "/v1/chunks/default/"; /* huggingface.js */
static const char P_DEDUP_ALIAS[] = "/v1/chunk/default/";
static const char P_RANGE[] = "/v1/xorb-range/";

static const char *after(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(path, prefix, n) == 0 ? path + n : NULL;
}

static const char *dedup_seg(const char *path) {
  const char *s = after(path, P_DEDUP);
  if (!s) s = after(path, P_DEDUP_JS);
  if (!s) s = after(path, P_DEDUP_ALIAS);
  return s;
}

size_t cas_body_limit(const char *method, const char *path) {
  if (!method || !path) return 0;
  if (strcmp(method, "POST") == 0) {
    if (after(path, P_XORB)) return BK_XORB_MAX_BYTES;
    if (strcmp(path, "/v1/shards") == 0 || strcmp(path, "/v2/shards") == 0)
      return BK_SHARD_MAX_BYTES;
    if (strcmp(path, "/v1/telemetry") == 0) return CAS_TELEMETRY_MAX;
    return 0;
  }
  if (after(path, P_RECON1) || after(path, P_RECON2) || dedup_seg(path) ||
      after(path, P_RANGE) || strcmp(path, "/v1/reconstructions") == 0)
    return CAS_GET_BODY_MAX;
  return 0;
}

int cas_body_start(struct bk_server *srv, struct bk_http_req *req) {
  const char *seg = after(req->path, P_XORB);
  if (!seg || strcmp(req->method, "POST") != 0) return 0;
  return cas_xorb_start(srv, req, seg);
}

int cas_path_hash(struct bk_http_req *req, const char *seg, bk_hash *out) {
  if (strlen(seg) != BK_HASH_HEX_LEN || bk_hash_parse(seg, out) != 0) {
    bk_http_error(req, 400, "InvalidHash", "expected a 64-character hex hash in the path");
    return 0;
  }
  return 1;
}

int cas_reply_store_error(struct bk_http_req *req, int rc, const char *what) {
  int status = bk_http_status(rc);
  const char *code = bk_http_status_code(status);
  switch (rc) {
  case BK_ENOMEM: return bk_http_error_rc(req, rc, code, "%s: out of memory", what);
  case BK_ENOSPC:
    return bk_http_error_rc(req, rc, code,
                            "%s: the server's disk is full, nothing was stored; retry when "
                            "space has been freed", what);
  case BK_EDB: return bk_http_error_rc(req, rc, code, "%s: metadata database busy, retry", what);
  default: break;
  }
  if (status >= 500) return bk_http_error_rc(req, rc, code, "%s: storage error", what);
  return bk_http_error_rc(req, rc, code, "%s: %s", what, bk_errmsg());
}

int cas_auth(struct bk_server *srv, struct bk_http_req *req, int need_write,
             struct cas_claims *c) {
  const char *tok = bk_http_bearer(req);
  if (!tok) {
    bk_http_add_header(req, "WWW-Authenticate", "Bearer");
    bk_http_error(req, 401, "Unauthorized", "missing CAS access token (Authorization: Bearer)");
    return 0;
  }
  if (cas_token_verify(srv, tok, bk_now_s(), c) != 0) {
    bk_http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    bk_http_error(req, 401, "Unauthorized", "%s", bk_errmsg());
    return 0;
  }
  if (need_write && !c->write) {
    bk_http_error(req, 403, "Forbidden", "this CAS token is read-only");
    return 0;
  }
  bk_bucket b;
  int rc = bk_db_bucket_get_by_id(srv->db, c->bucket_id, &b);
  if (rc == BK_ENOTFOUND) {
    bk_http_error(req, 401, "Unauthorized", "the bucket of this CAS token no longer exists");
    return 0;
  }
  if (rc != 0) {
    cas_reply_store_error(req, rc, "token check");
    return 0;
  }
  return 1;
}

static int telemetry(struct bk_server *srv, struct bk_http_req *req) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 0, &c)) return 1;
  bk_http_reply_json(req, 200, "{}");
  return 1;
}

int cas_handle(struct bk_server *srv, struct bk_http_req *req) {
  const char *p = req->path, *m = req->method, *seg;
  if (!p || !m || (strncmp(p, "/v1/", 4) != 0 && strncmp(p, "/v2/", 4) != 0)) return 0;
  int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
  int post = strcmp(m, "POST") == 0;

  if ((seg = after(p, P_XORB)) != NULL) {
    if (!post) return bk_http_error(req, 405, "MethodNotAllowed", "use POST"), 1;
    return cas_post_xorb(srv, req, seg);
  }
  if (strcmp(p, "/v1/shards") == 0 || strcmp(p, "/v2/shards") == 0) {
    if (!post) return bk_http_error(req, 405, "MethodNotAllowed", "use POST"), 1;
    return cas_post_shard(srv, req, p[2] == '2');
  }
  if ((seg = after(p, P_RECON1)) != NULL || (seg = after(p, P_RECON2)) != NULL) {
    if (!get) return bk_http_error(req, 405, "MethodNotAllowed", "use GET"), 1;
    return cas_get_reconstruction(srv, req, seg, p[2] == '2');
  }
  if (strcmp(p, "/v1/reconstructions") == 0) {
    if (!get) return bk_http_error(req, 405, "MethodNotAllowed", "use GET"), 1;
    return cas_get_reconstruction_batch(srv, req);
  }
  if ((seg = dedup_seg(p)) != NULL) {
    if (!get) return bk_http_error(req, 405, "MethodNotAllowed", "use GET"), 1;
    return cas_get_dedup(srv, req, seg);
  }
  if ((seg = after(p, P_RANGE)) != NULL) {
    if (!get) return bk_http_error(req, 405, "MethodNotAllowed", "use GET"), 1;
    return cas_get_xorb_range(srv, req, seg);
  }
  if (strcmp(p, "/v1/telemetry") == 0) {
    if (!post) return bk_http_error(req, 405, "MethodNotAllowed", "use POST"), 1;
    return telemetry(srv, req);
  }
  return 0;
}
