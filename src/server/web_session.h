/* bucketd web — browser sessions and CSRF tokens.
 *
 * A session is created by signing in with an access token. The browser gets
 * a random 32-byte session id (cookie `bk_session`, 64 hex chars, HttpOnly,
 * SameSite=Strict, Path=/). The server keeps only BLAKE3(id) (derive-key
 * digest), as a row of the metadata database (table web_sessions,
 * store/settings.h) with the user, the id of the token used to sign in, its
 * role, and the creation and last-use times. So a session survives a bucketd
 * restart and is valid on every node that shares the database. At most
 * WEB_SESS_MAX sessions in all and WEB_SESS_MAX_PER_USER per user are kept
 * (the least recently used is evicted). Sessions end on sign-out (the row is
 * deleted), after WEB_SESS_IDLE_MS without use, WEB_SESS_TTL_MS after
 * creation, or when the token is revoked or deleted (every lookup joins the
 * token row, so a revocation takes effect on the next request). The last use is written at most
 * once per WEB_SESS_TOUCH_MS, so a page view is not a database write each
 * time; idle expiry is exact to within that minute.
 *
 * CSRF: every form carries csrf = hex(blake3_keyed(K, "csrf\n" + id)) where
 * K is derived from the server secret and id is the session id, or for
 * signed-out visitors the id in the `bk_pre` cookie (random, set with the
 * sign-in form). Verification is constant time.
 *
 * Thread safety: all functions may be called from any thread (the bk_db
 * handle does its own locking). Time is passed in (now_ms), so tests can
 * move it.
 */
#ifndef BUCKETD_WEB_SESSION_H
#define BUCKETD_WEB_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct bk_db;

#define WEB_SESS_MAX 4096
#define WEB_SESS_MAX_PER_USER 64
#define WEB_SESS_TOUCH_MS (60LL * 1000)
#define WEB_SESS_IDLE_MS (24LL * 3600 * 1000)
#define WEB_SESS_TTL_MS (7LL * 24 * 3600 * 1000)
#define WEB_SESS_ID_HEX 64
#define WEB_CSRF_HEX 64

struct web_sess_info {
  int64_t user_id;
  int64_t token_id;
  int token_role;
  char name[128];
};

/* Creates a session for info->user_id / token_id / token_role (info->name
 * is not stored: lookups return the user's current name); writes the cookie
 * value (64 hex + NUL) into id_hex. BK_ENOTFOUND when the token is not the
 * user's; BK_EDB etc. from the database. */
int web_sess_create(struct bk_db *db, const struct web_sess_info *info, int64_t now_ms,
                    char id_hex[WEB_SESS_ID_HEX + 1]);
/* Looks up a session by its cookie value; records the use (at most once per
 * WEB_SESS_TOUCH_MS). Returns 0 and fills *out, or BK_ENOTFOUND (unknown,
 * malformed, ended), or a database error. */
int web_sess_lookup(struct bk_db *db, const char *id_hex, int64_t now_ms,
                    struct web_sess_info *out);
/* Ends a session (no-op when unknown or malformed). */
void web_sess_destroy(struct bk_db *db, const char *id_hex);

/* New random id (64 hex) for the pre-session cookie. */
int web_random_hex(char out[WEB_SESS_ID_HEX + 1]);

/* CSRF token for a session or pre-session id (64 hex chars). */
void web_csrf_token(const uint8_t secret[32], const char *id_hex,
                    char out[WEB_CSRF_HEX + 1]);
/* 1 when token matches the id (constant time), else 0. NULLs -> 0. */
int web_csrf_check(const uint8_t secret[32], const char *id_hex, const char *token);

/* Value of cookie `name` from a Cookie header into out (n bytes). Returns 1
 * when found (and it fits), else 0. */
int web_cookie_get(const char *cookie_header, const char *name, char *out, size_t n);

#endif
