/* bucketd — internal seams between the CAS source files (owned by server-cas).
 *
 *   cas.c        routing, body caps, bearer-token auth, telemetry
 *   cas_xorb.c   POST xorbs, verified and written while the body streams in
 *   cas_ingest.c POST shards (v1 JSON, v2 NDJSON)
 *   cas_recon.c  GET reconstructions (v1, v2) and the signed xorb-range URLs
 *   cas_dedup.c  GET global dedup shards
 *
 * Every handler replies exactly once (bk_http_reply* / bk_http_error) and
 * returns 1.
 */
#ifndef BUCKETD_CAS_INTERNAL_H
#define BUCKETD_CAS_INTERNAL_H

#include <stdint.h>

#include "buckets/hash.h"
#include "server/cas_token.h"

struct bk_server;
struct bk_http_req;

#define CAS_DEDUP_KEY_TTL_S 86400
#define CAS_BATCH_MAX_FILES 1000u
#define CAS_DEDUP_MAX_CHECKS 4 /* damaged holders skipped per dedup query */

/* Verifies `Authorization: Bearer <CAS token>`. need_write: 1 for upload
 * routes. Returns 1 and fills *c when allowed; otherwise replies (401 missing,
 * bad or expired token, or token of a deleted bucket; 403 read token on a
 * write route) and returns 0. */
int cas_auth(struct bk_server *srv, struct bk_http_req *req, int need_write,
             struct cas_claims *c);

/* Parses the 64-hex hash of a path segment that must end the path. Replies
 * 400 and returns 0 when malformed. */
int cas_path_hash(struct bk_http_req *req, const char *seg, bk_hash *out);

/* Replies with the status/X-Error-Code that matches a BK_E* error from the
 * store (BK_EDB/BK_EIO/BK_ENOMEM -> 500/503, others -> 400). Returns 1. */
int cas_reply_store_error(struct bk_http_req *req, int rc, const char *what);

/* The client's region for a reconstruction (X-Buckets-Region, else the
 * node's --region; "" = none) into out[33]. 1 when it replied (400). */
int cas_client_region(struct bk_server *srv, struct bk_http_req *req, char out[33]);

/* Before the body of POST /v1/xorbs/default/{seg}: auth, hash, then sets
 * req->body_sink. 1 = replied (refused), 0 = stream the body. */
int cas_xorb_start(struct bk_server *srv, struct bk_http_req *req, const char *seg);
int cas_post_xorb(struct bk_server *srv, struct bk_http_req *req, const char *seg);
int cas_post_shard(struct bk_server *srv, struct bk_http_req *req, int v2);
int cas_get_reconstruction(struct bk_server *srv, struct bk_http_req *req, const char *seg,
                           int v2);
int cas_get_reconstruction_batch(struct bk_server *srv, struct bk_http_req *req);
int cas_get_xorb_range(struct bk_server *srv, struct bk_http_req *req, const char *seg);
int cas_get_dedup(struct bk_server *srv, struct bk_http_req *req, const char *seg);

#endif
