/* bucketd — request routing (owned by server-http).
 *
 * Order: Hub API (/api/...), resolve (/buckets/{ns}/{name}/resolve/...),
 * then the CAS hook, then the web hook, then 404.
 * Body caps are decided per route before any body byte is read.
 */
#ifndef BUCKETD_ROUTER_H
#define BUCKETD_ROUTER_H

#include <stddef.h>

struct bk_server;
struct bk_http_req;

/* Upper bound on the request body for (method, decoded path). 0 = no body. */
size_t bk_router_body_limit(const char *method, const char *path);

/* Called once the headers are complete and the body cap is set, before any
 * body byte: a route that streams its body sets req->body_sink here (see
 * http.h), and may answer at once (bad token, bad hash) instead of reading a
 * body it will refuse. Returns 1 when it answered, else 0. */
int bk_router_body_start(struct bk_server *srv, struct bk_http_req *req);

/* Rate-limit class of a decoded path (server/ratelimit.h): BK_RL_API for
 * /api/..., BK_RL_RESOLVERS for resolve URLs, BK_RL_NONE for CAS, static
 * assets and /healthz, BK_RL_PAGES for everything else (web pages). */
int bk_router_rate_class(const char *path);

/* Answers the request (always queues a reply: 404 when nobody handles it). */
void bk_router_dispatch(struct bk_server *srv, struct bk_http_req *req);

/* Body cap for API routes with small JSON bodies (create, settings, move). */
#define BK_JSON_BODY_MAX (64u * 1024u)
/* Body cap for paths-info (1,000 paths of at most 1,024 bytes, JSON-escaped). */
#define BK_PATHS_INFO_BODY_MAX (8u * 1024u * 1024u)
/* Body cap for batch NDJSON. */
#define BK_BATCH_BODY_MAX (64u * 1024u * 1024u)
/* Cap for routes nobody claims (so they get a 404, not a 413). */
#define BK_DEFAULT_BODY_MAX (64u * 1024u)

#endif
