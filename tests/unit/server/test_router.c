/* Unit tests for the route tables (router.h): pattern matching, and the body
 * cap and rate class each (method, path) gets, the same as before the tables
 * (router.c's prefix checks and the per-API body_limit functions). */
#include <string.h>

#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/router.h"
#include "server/web.h"
#include "../test.h"

static void test_match(void) {
  size_t off[BK_ROUTE_MAX_ARGS], len[BK_ROUTE_MAX_ARGS];
  CHECK_EQ_INT(bk_route_match("/api/whoami", "/api/whoami", off, len), 0);
  CHECK_EQ_INT(bk_route_match("/api/whoami", "/api/whoami/", off, len), -1);
  CHECK_EQ_INT(bk_route_match("/api/whoami", "/api/whoam", off, len), -1);
  CHECK_EQ_INT(bk_route_match("/api/buckets/{ns}/{name}", "/api/buckets/a/bc", off, len), 2);
  CHECK_EQ_INT((int)off[0], 13);
  CHECK_EQ_INT((int)len[0], 1);
  CHECK_EQ_INT((int)off[1], 15);
  CHECK_EQ_INT((int)len[1], 2);
  /* a trailing '/' is significant; a segment may be empty */
  CHECK_EQ_INT(bk_route_match("/api/buckets/{ns}/{name}", "/api/buckets/a/b/", off, len), -1);
  CHECK_EQ_INT(bk_route_match("/api/buckets/{ns}", "/api/buckets/", off, len), 1);
  CHECK_EQ_INT((int)len[0], 0);
  CHECK_EQ_INT(bk_route_match("/api/buckets/{ns}/", "/api/buckets/a/", off, len), 1);
  /* {x...} takes the rest, '/' included, possibly nothing */
  CHECK_EQ_INT(bk_route_match("/b/{ns}/{name}/tree/{p...}", "/b/a/b/tree/x/y/", off, len), 3);
  CHECK_EQ_INT((int)len[2], 4);
  CHECK_EQ_INT(bk_route_match("/b/{ns}/{name}/tree/{p...}", "/b/a/b/tree/", off, len), 3);
  CHECK_EQ_INT((int)len[2], 0);
  CHECK_EQ_INT(bk_route_match("/b/{ns}/{name}/tree/{p...}", "/b/a/b/tree", off, len), -1);
  CHECK_EQ_INT(bk_route_match("/{ns}", "/a/b", off, len), -1);
}

struct want {
  const char *method, *path;
  size_t body;
  int rate;
  int found, allowed;
};

static void check_routes(const struct want *w, size_t n) {
  for (size_t i = 0; i < n; i++) {
    struct bk_http_req req;
    memset(&req, 0, sizeof req);
    req.method = w[i].method;
    req.path = (char *)w[i].path;
    size_t lim = bk_router_body_limit(&req);
    int cls = bk_router_rate_class(&req);
    if (lim != w[i].body || cls != w[i].rate || req.route.found != w[i].found ||
        req.route.allowed != w[i].allowed) {
      fprintf(stderr, "  %s %s: body %zu (want %zu) class %d (want %d) found %d/%d allowed %d/%d\n",
              w[i].method, w[i].path, lim, w[i].body, cls, w[i].rate, req.route.found,
              w[i].found, req.route.allowed, w[i].allowed);
      CHECK(0);
    }
  }
}

#define K64 (64u * 1024u)
static void test_hub(void) {
  static const struct want w[] = {
      {"GET", "/api/whoami-v2", 0, BK_RL_API, 1, 1},
      {"HEAD", "/api/whoami", 0, BK_RL_API, 1, 1},
      {"POST", "/api/whoami", K64, BK_RL_API, 1, 0}, /* 405 */
      {"POST", "/api/repos/move", BK_JSON_BODY_MAX, BK_RL_API, 1, 1},
      {"GET", "/api/usage/alice", 0, BK_RL_API, 1, 1},
      {"GET", "/api/buckets/alice", 0, BK_RL_API, 1, 1},
      {"GET", "/api/buckets/alice/", 0, BK_RL_API, 1, 1},
      {"GET", "/api/buckets/alice/b", 0, BK_RL_API, 1, 1},
      {"POST", "/api/buckets/alice/b", BK_JSON_BODY_MAX, BK_RL_API, 1, 1},
      {"DELETE", "/api/buckets/alice/b", 0, BK_RL_API, 1, 1},
      {"PATCH", "/api/buckets/alice/b", K64, BK_RL_API, 1, 0},
      {"GET", "/api/buckets/alice/b/tree", 0, BK_RL_API, 1, 1},
      {"GET", "/api/buckets/alice/b/tree/d/e", 0, BK_RL_API, 1, 1},
      {"PUT", "/api/buckets/alice/b/settings", BK_JSON_BODY_MAX, BK_RL_API, 1, 1},
      {"POST", "/api/buckets/alice/b/paths-info", BK_PATHS_INFO_BODY_MAX, BK_RL_API, 1, 1},
      {"POST", "/api/buckets/alice/b/batch", BK_BATCH_BODY_MAX, BK_RL_API, 1, 1},
      {"GET", "/api/buckets/alice/b/xet-write-token", 0, BK_RL_API, 1, 1},
      {"GET", "/api/buckets/alice/b/xet-read-token/main", 0, BK_RL_API, 1, 1},
      {"GET", "/api/nope", K64, BK_RL_API, 1, 1}, /* the 404 catch-all row */
      {"GET", "/api/buckets/alice/b/settings/", K64, BK_RL_API, 1, 1},
      {"GET", "/buckets/alice/b/resolve/d/f.bin", 0, BK_RL_RESOLVERS, 1, 1},
      {"POST", "/buckets/alice/b/resolve/f.bin", K64, BK_RL_RESOLVERS, 1, 0},
  };
  check_routes(w, sizeof w / sizeof w[0]);
}

static void test_cas(void) {
  static const char X[] = "/v1/xorbs/default/"
                          "0000000000000000000000000000000000000000000000000000000000000000";
  static const struct want w[] = {
      {"POST", X, BK_XORB_MAX_BYTES, BK_RL_NONE, 1, 1},
      {"GET", X, K64, BK_RL_NONE, 1, 0},
      {"POST", "/v1/shards", BK_SHARD_MAX_BYTES, BK_RL_NONE, 1, 1},
      {"POST", "/v2/shards", BK_SHARD_MAX_BYTES, BK_RL_NONE, 1, 1},
      {"GET", "/v1/reconstructions/abc", 4096, BK_RL_NONE, 1, 1},
      {"HEAD", "/v2/reconstructions/abc", 4096, BK_RL_NONE, 1, 1},
      {"GET", "/v1/reconstructions", 4096, BK_RL_NONE, 1, 1},
      {"GET", "/v1/chunks/default-merkledb/abc", 4096, BK_RL_NONE, 1, 1},
      {"GET", "/v1/chunks/default/abc", 4096, BK_RL_NONE, 1, 1},
      {"GET", "/v1/chunk/default/abc", 4096, BK_RL_NONE, 1, 1},
      {"GET", "/v1/xorb-range/abc", 4096, BK_RL_NONE, 1, 1},
      {"POST", "/v1/telemetry", 1u << 20, BK_RL_NONE, 1, 1},
      {"GET", "/v1/nope", K64, BK_RL_NONE, 1, 1},
      {"GET", "/healthz", K64, BK_RL_NONE, 1, 1},
      {"POST", "/healthz", K64, BK_RL_NONE, 1, 1},
  };
  check_routes(w, sizeof w / sizeof w[0]);
}

static void test_web(void) {
  static const struct want w[] = {
      {"GET", "/static/style.css", 0, BK_RL_NONE, 1, 1},
      {"GET", "/static/nope.png", K64, BK_RL_NONE, 1, 1},
      {"GET", "/", 0, BK_RL_PAGES, 1, 1},
      {"POST", "/login", WEB_FORM_BODY_MAX, BK_RL_PAGES, 1, 1},
      {"GET", "/alice", 0, BK_RL_PAGES, 1, 1},
      {"POST", "/alice", WEB_FORM_BODY_MAX, BK_RL_PAGES, 1, 1},
      {"GET", "/buckets/alice/b", 0, BK_RL_PAGES, 1, 1},
      {"GET", "/buckets/alice/b/tree/d", 0, BK_RL_PAGES, 1, 1},
      {"POST", "/buckets/alice/b/upload", WEB_UPLOAD_BODY_MAX, BK_RL_PAGES, 1, 1},
      {"POST", "/buckets/alice/b/delete", WEB_FORM_BODY_MAX, BK_RL_PAGES, 1, 1},
      {"GET", "/buckets/alice/b/upload", K64, BK_RL_PAGES, 1, 0},
      {"GET", "/no/such/page", K64, BK_RL_PAGES, 0, 0},
  };
  check_routes(w, sizeof w / sizeof w[0]);
}

int main(void) {
  RUN(test_match);
  RUN(test_hub);
  RUN(test_cas);
  RUN(test_web);
  return test_summary();
}
