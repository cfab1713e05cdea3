/* bucketd — request routing. See router.h.
 * Order: Hub API, resolve, CAS, web, 404. */
#include "server/router.h"

#include <string.h>

#include "server/cas.h"
#include "server/http.h"
#include "server/hub_api.h"
#include "server/resolve.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/web.h"

static int is_resolve(const char *path) {
  return !strncmp(path, "/buckets/", 9) && strstr(path, "/resolve/") != NULL;
}

size_t bk_router_body_limit(const char *method, const char *path) {
  int matched = 0;
  size_t lim = hub_api_body_limit(method, path, &matched);
  if (matched) return lim;
  if (is_resolve(path)) return 0;
  lim = cas_body_limit(method, path);
  if (lim) return lim;
  lim = web_body_limit(method, path);
  if (lim) return lim;
  return BK_DEFAULT_BODY_MAX;
}

int bk_router_rate_class(const char *path) {
  if (!strncmp(path, "/api/", 5)) return BK_RL_API;
  if (is_resolve(path)) return BK_RL_RESOLVERS;
  if (!strncmp(path, "/v1/", 4) || !strncmp(path, "/v2/", 4) || !strncmp(path, "/static/", 8) ||
      !strcmp(path, "/healthz"))
    return BK_RL_NONE;
  return BK_RL_PAGES;
}

int bk_router_body_start(struct bk_server *srv, struct bk_http_req *req) {
  return cas_body_start(srv, req);
}

void bk_router_dispatch(struct bk_server *srv, struct bk_http_req *req) {
  if (hub_api_handle(srv, req)) return;
  if (is_resolve(req->path)) {
    /* a signed-in browser may download from a private bucket (GET/HEAD only,
     * and only without an Authorization header) */
    if (!req->auth.user_id && !req->auth.token_invalid)
      web_session_principal(srv, req, &req->auth);
    if (resolve_handle(srv, req)) return;
  }
  if (!strcmp(req->path, "/healthz")) {
    bk_http_reply(req, 200, "text/plain", "ok\n", 3);
    return;
  }
  if (cas_handle(srv, req)) return;
  if (web_handle(srv, req)) return;
  bk_http_error(req, 404, NULL, "not found");
}
