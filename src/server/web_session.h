/* bucketd web — browser sessions and CSRF tokens (owned by the web helper).
 *
 * A session is created by signing in with an access token. The browser gets
 * a random 32-byte session id (cookie `bk_session`, 64 hex chars, HttpOnly,
 * SameSite=Strict, Path=/). The server keeps only BLAKE3(id) in an in-memory
 * table (at most WEB_SESS_MAX sessions; the oldest is evicted), together with
 * the user and the id of the token used to sign in. Sessions end on sign-out,
 * after WEB_SESS_IDLE_MS without use, WEB_SESS_TTL_MS after creation, when
 * the token is revoked (checked by the caller on each request), or when
 * bucketd restarts.
 *
 * CSRF: every form carries csrf = hex(blake3_keyed(K, "csrf\n" + id)) where
 * K is derived from the server secret and id is the session id, or for
 * signed-out visitors the id in the `bk_pre` cookie (random, set with the
 * sign-in form). Verification is constant time.
 *
 * Thread safety: the table has its own mutex; all functions may be called
 * from any thread.
 */
#ifndef BUCKETD_WEB_SESSION_H
#define BUCKETD_WEB_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define WEB_SESS_MAX 4096
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

/* Creates a session; writes the cookie value (64 hex + NUL) into id_hex. */
int web_sess_create(const struct web_sess_info *info, int64_t now_ms,
                    char id_hex[WEB_SESS_ID_HEX + 1]);
/* Looks up a session by its cookie value; refreshes its idle timer. Returns
 * 0 and fills *out, or BK_ENOTFOUND. */
int web_sess_lookup(const char *id_hex, int64_t now_ms, struct web_sess_info *out);
/* Ends a session (no-op when unknown). */
void web_sess_destroy(const char *id_hex);

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
