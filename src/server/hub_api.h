/* bucketd — Hugging Face Hub bucket API (owned by server-http).
 *
 * Routes (spec buckets-api.md §1):
 *   GET    /api/whoami-v2 (alias /api/whoami)
 *   POST   /api/buckets/{ns}/{name}                create ({private} or {visibility}); ns may be "me"
 *   GET    /api/buckets/{ns}/{name}                info (+ dedup footprint fields)
 *   DELETE /api/buckets/{ns}/{name}                delete (admin)
 *   GET    /api/buckets/{ns}                       list (search, limit, cursor, Link next)
 *   POST   /api/repos/move                         {fromRepo, toRepo, type:"bucket"} (admin + write on target ns)
 *   PUT    /api/buckets/{ns}/{name}/settings       {private} / {visibility} (admin)
 *   GET    /api/buckets/{ns}/{name}/tree[/{prefix}] recursive, limit, cursor, Link next
 *   POST   /api/buckets/{ns}/{name}/paths-info     {paths:[...]} JSON or form, <= 1,000
 *   POST   /api/buckets/{ns}/{name}/batch          NDJSON addFile / copyFile / deleteFile
 *   GET    /api/buckets/{ns}/{name}/xet-read-token | xet-write-token
 *   GET    /api/usage/{ns}                         namespace usage (logical + deduplicated)
 * Resolve (/buckets/{ns}/{name}/resolve/{path}) is in resolve.h.
 */
#ifndef BUCKETD_HUB_API_H
#define BUCKETD_HUB_API_H

#include <stddef.h>

#include "store/db.h"

struct bk_server;
struct bk_http_req;

/* The routes above (and resolve) are the rows of hub_api_routes (router.h):
 * body caps, rate classes ("api", "resolvers") and handlers. Unknown /api/
 * paths answer 404 "no such API endpoint", a known path with another method
 * 405 with Allow. */

/* Shared with resolve.c: looks up {ns}/{name} and checks that the caller has
 * at least need_role on it. Returns 0 with *b filled, or 1 after replying
 * (401/403/404 RepoNotFound, 5xx). ns "me" = the caller. */
int hub_load_bucket(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                    const char *name, int need_role, bk_bucket *b, int *role);
/* Replies for a store error code (5xx / 4xx); always returns 1. */
int hub_store_error(struct bk_http_req *req, int rc);

#endif
