/* buckets — accounts in the metadata database: namespaces (users and orgs
 * share one name space), org membership, access tokens, permissions.
 *
 * Same bk_db handle and conventions as store/db.h (thread-safe, 0 or
 * negative BK_E*, times in unix milliseconds).
 *
 * Tokens: "hf_" + 37 random [A-Za-z0-9] characters (getrandom). Only a
 * BLAKE3 digest of the token is stored; lookups go by digest and the stored
 * digest is compared in constant time. The plaintext is returned once by
 * bk_db_token_add and never stored or logged.
 *
 * Permissions (spec buckets-api.md §6, issue 3 item 5):
 *  - a user has ADMIN on its own namespace; an org member has its role
 *    (READ, WRITE, ADMIN) on the org namespace; nobody else has any role;
 *  - bucket access = namespace role; plus READ for anyone (anonymous
 *    included) on a public bucket.
 * Token role capping (a read token never writes) is applied by the caller
 * (bk_access_cap).
 */
#ifndef BUCKETS_ACCOUNTS_H
#define BUCKETS_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

enum bk_ns_kind { BK_NS_USER = 1, BK_NS_ORG = 2 };

enum bk_role {
  BK_ROLE_NONE = 0,
  BK_ROLE_READ = 1,
  BK_ROLE_WRITE = 2,
  BK_ROLE_ADMIN = 3,
};

/* "read"/"write"/"admin"/"none" <-> enum. parse returns BK_EINVAL. */
const char *bk_role_name(int role);
int bk_role_parse(const char *s, int *role);

typedef struct bk_ns {
  int64_t id;
  int kind;                  /* BK_NS_USER / BK_NS_ORG */
  char name[BK_NAME_MAX + 1];
  int64_t created_ms;
} bk_ns;

/* Creates a user. BK_EINVAL (bk_name_valid), BK_EEXIST (name taken by a user
 * or an org, compared case-insensitively). out may be NULL. */
int bk_db_user_add(bk_db *db, const char *name, bk_ns *out);
/* Creates an org whose owner (a user) becomes an ADMIN member. BK_EINVAL,
 * BK_EEXIST, BK_ENOTFOUND (owner). out may be NULL. */
int bk_db_org_add(bk_db *db, const char *name, int64_t owner_user_id, bk_ns *out);
/* Namespace by exact name (falls back to a case-insensitive match). */
int bk_db_ns_get(bk_db *db, const char *name, bk_ns *out);
int bk_db_ns_get_by_id(bk_db *db, int64_t id, bk_ns *out);

/* Adds or changes a member (role READ..ADMIN); BK_ROLE_NONE removes it.
 * BK_ENOTFOUND (org or user), BK_EINVAL (org is not an org, user not a user,
 * bad role). */
int bk_db_org_member_set(bk_db *db, int64_t org_id, int64_t user_id, int role);
/* *role = BK_ROLE_NONE when not a member. */
int bk_db_org_member_role(bk_db *db, int64_t org_id, int64_t user_id, int *role);
/* Orgs of a user (ordered by name), with the user's role in each. */
typedef int (*bk_org_cb)(void *ctx, const bk_ns *org, int role);
int bk_db_user_orgs(bk_db *db, int64_t user_id, bk_org_cb cb, void *ctx);
/* Members of an org (ordered by name). */
typedef int (*bk_member_cb)(void *ctx, const bk_ns *user, int role);
int bk_db_org_members(bk_db *db, int64_t org_id, bk_member_cb cb, void *ctx);

/* ---- tokens ---- */

#define BK_TOKEN_LEN 40  /* "hf_" + 37 */

typedef struct bk_token_info {
  int64_t id;
  int64_t user_id;
  char user[BK_NAME_MAX + 1];
  int role;              /* BK_ROLE_READ or BK_ROLE_WRITE */
  int64_t created_ms;
  int revoked;
} bk_token_info;

/* Mints a token for a user (role READ or WRITE): writes the plaintext into
 * token[BK_TOKEN_LEN + 1] and the row id into *id (may be NULL).
 * BK_ENOTFOUND (user), BK_EINVAL (role, or namespace is an org), BK_EIO. */
int bk_db_token_add(bk_db *db, int64_t user_id, int role,
                    char token[BK_TOKEN_LEN + 1], int64_t *id);
/* Authenticates a presented token (any string, len bytes). BK_EAUTH when
 * unknown, malformed or revoked (no detail on which). */
int bk_db_token_lookup(bk_db *db, const char *token, size_t len,
                       bk_token_info *out);
/* Tokens of a user, ordered by id (plaintext never available). */
typedef int (*bk_token_cb)(void *ctx, const bk_token_info *t);
int bk_db_token_list(bk_db *db, int64_t user_id, bk_token_cb cb, void *ctx);
/* One token by id (plaintext never available). BK_ENOTFOUND. */
int bk_db_token_get(bk_db *db, int64_t token_id, bk_token_info *out);
/* BK_ENOTFOUND. Revoking twice is fine. */
int bk_db_token_revoke(bk_db *db, int64_t token_id);

/* ---- permissions ---- */

/* Role of user_id (0 = anonymous) on a namespace. */
int bk_db_ns_role(bk_db *db, int64_t user_id, int64_t ns_id, int *role);
/* Effective access of user_id (0 = anonymous) to a bucket: namespace role,
 * at least READ when the bucket is public. */
int bk_db_bucket_role(bk_db *db, int64_t user_id, const bk_bucket *b, int *role);
/* min(role, token role): a READ token never gives more than READ. */
static inline int bk_access_cap(int role, int token_role) {
  return role < token_role ? role : token_role;
}

#endif
