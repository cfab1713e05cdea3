/* bucketd — Hub authentication and bucket permissions (owned by server-http).
 *
 * bk_auth_request fills req->auth from `Authorization: Bearer hf_...` (db
 * token lookup: BLAKE3 digest, constant-time compare in the store). A bearer
 * that does not start with "hf_" is left alone (CAS tokens are verified by
 * the CAS handler). Tokens are never logged.
 *
 * bk_auth_bucket_access computes what the caller may do on a bucket
 * (spec buckets-api.md §6): namespace role (owner ADMIN, org member its
 * role), READ for anyone on a public bucket, capped by the token role (a
 * read token never writes).
 */
#ifndef BUCKETD_AUTH_H
#define BUCKETD_AUTH_H

#include "store/accounts.h"
#include "store/db.h"
#include "server/http.h"

struct bk_server;

void bk_auth_request(struct bk_server *srv, struct bk_http_req *req);

/* Effective role (BK_ROLE_*) of the caller on bucket b. */
int bk_auth_bucket_role(struct bk_server *srv, const struct bk_principal *p,
                        const bk_bucket *b, int *role);

/* Effective role of the caller on a namespace (token-capped). */
int bk_auth_ns_role(struct bk_server *srv, const struct bk_principal *p, int64_t ns_id,
                    int *role);

#endif
