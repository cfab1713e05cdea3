/* bucketd — request routing: one route table per API.
 *
 * Each API (Hub API + resolve in hub_api.c, CAS in cas.c, web pages in web.c,
 * and the router's own /healthz) declares one table of rows
 *   {method, path pattern, body cap, rate class, start, handler}.
 * The router matches (method, decoded path) ONCE, when the headers are
 * complete, and keeps the match in the request (req->route): the body cap,
 * the body start, the rate class and the handler all come from that row.
 *
 * Tables are searched in order: Hub API, server (/healthz), CAS, web. Within
 * a table, the first row whose pattern matches the path decides; the rows
 * right after it with the same pattern are its other methods. When none of
 * them takes the method, the table's not_allowed answers (405 with Allow =
 * the pattern's methods) or, when it returns 0 (or is NULL), the search goes
 * on after that pattern. A handler that returns 0 ("not mine") also lets the
 * search go on. Nothing matched: 404 {"error": "not found"}.
 *
 * Patterns: literal bytes, "{name}" = one path segment (no '/', may be
 * empty), "{name...}" = the rest of the path (may be empty or hold '/'),
 * only last. Captures are passed to start/handler as NUL-terminated strings
 * arg[0..] in pattern order (valid during the call). Method "GET" also
 * answers HEAD; "*" takes any method. Matching is on the percent-decoded path
 * (http.h), so "%2F" in a segment is a '/'; a trailing '/' is significant
 * (a row for it or not).
 *
 * Misses (no row, or 405) get the body cap BK_DEFAULT_BODY_MAX (so they are
 * answered 404/405, not 413) and rate class BK_RL_PAGES, unless a catch-all
 * row ("*" method, "{rest...}" pattern) of the table says otherwise.
 */
#ifndef BUCKETD_ROUTER_H
#define BUCKETD_ROUTER_H

#include <stddef.h>

struct bk_server;
struct bk_http_req;

#define BK_ROUTE_MAX_ARGS 4

/* start / handler: 1 when it replied, 0 when not (start: go on reading the
 * body; handler: the search goes on with the next rows). */
typedef int (*bk_route_fn)(struct bk_server *srv, struct bk_http_req *req, char **arg);

struct bk_route {
  const char *method;   /* "GET" (+ HEAD), "POST", "PUT", "PATCH", "DELETE", "*" */
  const char *pattern;  /* see above */
  size_t body_max;      /* body cap, 0 = no body */
  int rate_class;       /* server/ratelimit.h: BK_RL_API, ..., BK_RL_NONE */
  bk_route_fn start;    /* NULL, or called before the first body byte (may set
                           req->body_sink, see http.h, or answer at once) */
  bk_route_fn handler;  /* called once the body is complete */
};

struct bk_route_table {
  const char *name;
  const struct bk_route *rows;
  size_t nrows;
  /* Answers a method the matched pattern does not take; allow = its methods
   * ("GET, HEAD, POST"). 1 = replied, 0 = go on searching. NULL = go on. */
  int (*not_allowed)(struct bk_server *srv, struct bk_http_req *req, const char *allow,
                     char **arg);
};

#define BK_ROUTES(name, rows, not_allowed) \
  { name, rows, sizeof rows / sizeof rows[0], not_allowed }

/* The tables, each defined next to its handlers. */
extern const struct bk_route_table hub_api_routes;
extern const struct bk_route_table cas_routes;
extern const struct bk_route_table web_routes;

/* Matches (req->method, req->path), stores the match in req->route and
 * returns the body cap of the matched row (BK_DEFAULT_BODY_MAX on a miss). */
size_t bk_router_body_limit(struct bk_http_req *req);

/* Called once the headers are complete and the body cap is set, before any
 * body byte: runs the matched row's start function, if any (a route that
 * streams its body sets req->body_sink there, and may answer at once: bad
 * token, bad hash). Returns 1 when it answered, else 0. */
int bk_router_body_start(struct bk_server *srv, struct bk_http_req *req);

/* Rate-limit class (server/ratelimit.h) of the matched row; BK_RL_PAGES on a
 * miss. */
int bk_router_rate_class(const struct bk_http_req *req);

/* Answers the request (always queues a reply: 404 when nobody handles it). */
void bk_router_dispatch(struct bk_server *srv, struct bk_http_req *req);

/* Matches a pattern (syntax above) against path; on a match returns the
 * number of captures and fills off[i]/len[i] (at most BK_ROUTE_MAX_ARGS),
 * else -1. Pure; exposed for the unit tests. */
int bk_route_match(const char *pattern, const char *path, size_t *off, size_t *len);

/* Body cap for API routes with small JSON bodies (create, settings, move). */
#define BK_JSON_BODY_MAX (64u * 1024u)
/* Body cap for paths-info (1,000 paths of at most 1,024 bytes, JSON-escaped). */
#define BK_PATHS_INFO_BODY_MAX (8u * 1024u * 1024u)
/* Body cap for batch NDJSON. */
#define BK_BATCH_BODY_MAX (64u * 1024u * 1024u)
/* Cap for requests no row takes (so they get a 404/405, not a 413). */
#define BK_DEFAULT_BODY_MAX (64u * 1024u)

#endif
