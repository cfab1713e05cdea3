/* bucketd web — the few account/permission calls the web pages need, as
 * plain ints (owned by the web helper).
 *
 * Kept in their own file so that the page code does not include
 * store/accounts.h next to server/http.h (both declare enum bk_role; the
 * role numbers are the same: 0 none, 1 read, 2 write, 3 admin).
 */
#ifndef BUCKETD_WEB_ACCT_H
#define BUCKETD_WEB_ACCT_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

#define WEB_ROLE_NONE 0
#define WEB_ROLE_READ 1
#define WEB_ROLE_WRITE 2
#define WEB_ROLE_ADMIN 3

struct web_login {
  int64_t user_id;
  int64_t token_id;
  int token_role;                /* READ or WRITE */
  char name[BK_NAME_MAX + 1];
};

/* Authenticates a presented access token. BK_EAUTH when unknown/revoked. */
int web_acct_login(bk_db *db, const char *token, size_t len, struct web_login *out);

struct web_ns {
  int64_t id;
  int is_org;
  char name[BK_NAME_MAX + 1];
};
int web_acct_ns_get(bk_db *db, const char *name, struct web_ns *out);
int web_acct_ns_get_by_id(bk_db *db, int64_t id, struct web_ns *out);
/* Namespace role of user (0 = anonymous), not capped by a token role. */
int web_acct_ns_role(bk_db *db, int64_t user_id, int64_t ns_id, int *role);
/* Effective bucket role (namespace role, at least READ on public buckets). */
int web_acct_bucket_role(bk_db *db, int64_t user_id, const bk_bucket *b, int *role);
/* Orgs of a user: cb(ctx, org name, role); non-zero stops. */
typedef int (*web_org_cb)(void *ctx, const char *org, int role);
int web_acct_user_orgs(bk_db *db, int64_t user_id, web_org_cb cb, void *ctx);

#endif
