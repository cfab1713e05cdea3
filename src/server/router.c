/* bucketd — request routing. See router.h.
 * Order: Hub API, resolve, CAS, web, 404. */
#include "server/router.h"

#include <string.h>

#include "server/http.h"
#include "server/hub_api.h"
#include "server/resolve.h"
#include "server/server.h"

size_t bk_router_body_limit(const char *method, const char *path) {
  int matched = 0;
  size_t lim = hub_api_body_limit(method, path, &matched);
  if (matched) return lim;
  if (!strncmp(path, "/buckets/", 9) && strstr(path, "/resolve/")) return 0;
  return BK_DEFAULT_BODY_MAX;
}

void bk_router_dispatch(struct bk_server *srv, struct bk_http_req *req) {
  if (hub_api_handle(srv, req)) return;
  if (resolve_handle(srv, req)) return;
  if (!strcmp(req->path, "/healthz")) {
    bk_http_reply(req, 200, "text/plain", "ok\n", 3);
    return;
  }
  bk_http_error(req, 404, NULL, "not found");
}
