/* bucketd — Hub authentication and bucket permissions. See auth.h. */
#include "server/auth.h"

#include <stdio.h>
#include <string.h>

#include "buckets/error.h"
#include "server/server.h"

/* A write token carries the user's full role (ADMIN included: owners delete
 * and move with write tokens); a read token (or anything less) caps at READ. */
static int cap(int role, int token_role) {
  if (token_role >= BK_ROLE_WRITE) return role;
  return role < BK_ROLE_READ ? role : BK_ROLE_READ;
}

void bk_auth_request(struct bk_server *srv, struct bk_http_req *req) {
  memset(&req->auth, 0, sizeof req->auth);
  const char *tok = bk_http_bearer(req);
  if (!tok || strncmp(tok, "hf_", 3) != 0) return;
  size_t len = strlen(tok);
  while (len && tok[len - 1] == ' ') len--;
  bk_token_info ti;
  if (len > 256 || bk_db_token_lookup(srv->db, tok, len, &ti) != 0) {
    req->auth.token_invalid = 1;
    return;
  }
  req->auth.user_id = ti.user_id;
  req->auth.token_id = ti.id;
  req->auth.role = ti.role;
  snprintf(req->auth.name, sizeof req->auth.name, "%s", ti.user);
}

int bk_auth_bucket_role(struct bk_server *srv, const struct bk_principal *p,
                        const bk_bucket *b, int *role) {
  *role = BK_ROLE_NONE;
  if (p->token_invalid) return 0;
  int r = BK_ROLE_NONE;
  int rc = bk_db_bucket_role(srv->db, p->user_id, b, &r);
  if (rc) return rc;
  if (p->user_id) r = cap(r, p->role);
  else if (r > BK_ROLE_READ) r = BK_ROLE_READ; /* anonymous never writes */
  if (r == BK_ROLE_NONE && !b->is_private) r = BK_ROLE_READ;
  *role = r;
  return 0;
}

int bk_auth_ns_role(struct bk_server *srv, const struct bk_principal *p, int64_t ns_id,
                    int *role) {
  *role = BK_ROLE_NONE;
  if (!p->user_id || p->token_invalid) return 0;
  int r = BK_ROLE_NONE;
  int rc = bk_db_ns_role(srv->db, p->user_id, ns_id, &r);
  if (rc) return rc;
  *role = cap(r, p->role);
  return 0;
}
