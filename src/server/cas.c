/* CAS API: the route table (body caps, handlers), bearer-token auth, the
 * store-error reply, telemetry. See cas.h. */
#include "server/cas.h"

#include <string.h>

#include "store/db.h"
#include "buckets/error.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/router.h"
#include "server/server.h"

#define CAS_GET_BODY_MAX 4096u
#define CAS_TELEMETRY_MAX (1u << 20)

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
  if (bk_http_region_unavailable(rc)) return bk_http_error_rc(req, rc, code, "%s", bk_errmsg());
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

/* ---- routing: the CAS route table ---- */

static int telemetry(struct bk_server *srv, struct bk_http_req *req, char **a) {
  (void)a;
  struct cas_claims c;
  if (!cas_auth(srv, req, 0, &c)) return 1;
  bk_http_reply_json(req, 200, "{}");
  return 1;
}

static int not_allowed(struct bk_server *srv, struct bk_http_req *req, const char *allow,
                       char **a) {
  (void)srv;
  (void)a;
  bk_http_add_header(req, "Allow", allow);
  return bk_http_error(req, 405, "MethodNotAllowed", "use %s", allow), 1;
}

/* Unknown /v1/, /v2/ paths: not CAS (the search goes on, ending in 404), but
 * like CAS traffic they count in no rate-limit class. */
static int not_cas(struct bk_server *srv, struct bk_http_req *req, char **a) {
  (void)srv;
  (void)req;
  (void)a;
  return 0;
}

static int r_xorb_start(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return cas_xorb_start(srv, req, a[0]);
}
static int r_xorb(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return cas_post_xorb(srv, req, a[0]);
}
static int r_shard_v1(struct bk_server *srv, struct bk_http_req *req, char **a) {
  (void)a;
  return cas_post_shard(srv, req, 0);
}
static int r_shard_v2(struct bk_server *srv, struct bk_http_req *req, char **a) {
  (void)a;
  return cas_post_shard(srv, req, 1);
}
static int r_recon_v1(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return cas_get_reconstruction(srv, req, a[0], 0);
}
static int r_recon_v2(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return cas_get_reconstruction(srv, req, a[0], 1);
}
static int r_recon_batch(struct bk_server *srv, struct bk_http_req *req, char **a) {
  (void)a;
  return cas_get_reconstruction_batch(srv, req);
}
static int r_dedup(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return cas_get_dedup(srv, req, a[0]);
}
static int r_xorb_range(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return cas_get_xorb_range(srv, req, a[0]);
}

#define GETMAX CAS_GET_BODY_MAX
#define NONE BK_RL_NONE
static const struct bk_route rows[] = {
    {"POST", "/v1/xorbs/default/{xorb...}", BK_XORB_MAX_BYTES, NONE, r_xorb_start, r_xorb},
    {"POST", "/v1/shards", BK_SHARD_MAX_BYTES, NONE, NULL, r_shard_v1},
    {"POST", "/v2/shards", BK_SHARD_MAX_BYTES, NONE, NULL, r_shard_v2},
    {"GET", "/v1/reconstructions/{file...}", GETMAX, NONE, NULL, r_recon_v1},
    {"GET", "/v2/reconstructions/{file...}", GETMAX, NONE, NULL, r_recon_v2},
    {"GET", "/v1/reconstructions", GETMAX, NONE, NULL, r_recon_batch},
    {"GET", "/v1/chunks/default-merkledb/{chunk...}", GETMAX, NONE, NULL, r_dedup},
    {"GET", "/v1/chunks/default/{chunk...}", GETMAX, NONE, NULL, r_dedup}, /* huggingface.js */
    {"GET", "/v1/chunk/default/{chunk...}", GETMAX, NONE, NULL, r_dedup},
    {"GET", "/v1/xorb-range/{xorb...}", GETMAX, NONE, NULL, r_xorb_range},
    {"POST", "/v1/telemetry", CAS_TELEMETRY_MAX, NONE, NULL, telemetry},
    {"*", "/v1/{rest...}", BK_DEFAULT_BODY_MAX, NONE, NULL, not_cas},
    {"*", "/v2/{rest...}", BK_DEFAULT_BODY_MAX, NONE, NULL, not_cas},
};
#undef GETMAX
#undef NONE

const struct bk_route_table cas_routes = BK_ROUTES("cas", rows, not_allowed);
