/* bucketd web — account wrappers (see web_acct.h). */
#include "server/web_acct.h"

#include <stdio.h>
#include <string.h>

#include "store/accounts.h"
#include "buckets/error.h"

int web_acct_login(bk_db *db, const char *token, size_t len, struct web_login *out) {
  bk_token_info ti;
  int rc = bk_db_token_lookup(db, token, len, &ti);
  if (rc < 0) return rc;
  if (ti.revoked) return bk_seterr(BK_EAUTH, "token revoked");
  out->user_id = ti.user_id;
  out->token_id = ti.id;
  out->token_role = ti.role;
  snprintf(out->name, sizeof out->name, "%s", ti.user);
  return 0;
}

static void fill_ns(const bk_ns *n, struct web_ns *out) {
  out->id = n->id;
  out->is_org = n->kind == BK_NS_ORG;
  snprintf(out->name, sizeof out->name, "%s", n->name);
}

int web_acct_ns_get(bk_db *db, const char *name, struct web_ns *out) {
  bk_ns n;
  int rc = bk_db_ns_get(db, name, &n);
  if (rc < 0) return rc;
  fill_ns(&n, out);
  return 0;
}

int web_acct_ns_get_by_id(bk_db *db, int64_t id, struct web_ns *out) {
  bk_ns n;
  int rc = bk_db_ns_get_by_id(db, id, &n);
  if (rc < 0) return rc;
  fill_ns(&n, out);
  return 0;
}

int web_acct_ns_role(bk_db *db, int64_t user_id, int64_t ns_id, int *role) {
  return bk_db_ns_role(db, user_id, ns_id, role);
}

int web_acct_bucket_role(bk_db *db, int64_t user_id, const bk_bucket *b, int *role) {
  return bk_db_bucket_role(db, user_id, b, role);
}

struct orgs_ctx {
  web_org_cb cb;
  void *ctx;
};

static int orgs_cb(void *ctx, const bk_ns *org, int role) {
  struct orgs_ctx *o = ctx;
  return o->cb(o->ctx, org->name, role);
}

int web_acct_user_orgs(bk_db *db, int64_t user_id, web_org_cb cb, void *ctx) {
  struct orgs_ctx o = {cb, ctx};
  return bk_db_user_orgs(db, user_id, orgs_cb, &o);
}
