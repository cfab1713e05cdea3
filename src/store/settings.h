/* buckets — state that several bucketd nodes on one metadata database share:
 * settings (the token-signing secret), web sessions and shared rate-limit
 * windows (schema v7).
 *
 * Same bk_db handle and conventions as store/db.h: thread-safe, every
 * function returns 0 or a negative BK_E* (detail in bk_errmsg()), times are
 * unix milliseconds unless named otherwise. Nothing here keeps state in the
 * process: two bk_db handles (two processes, two nodes) on one database see
 * the same rows.
 *
 * Ownership: every output is written into caller-provided memory; nothing is
 * allocated for the caller.
 */
#ifndef BUCKETS_SETTINGS_H
#define BUCKETS_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "buckets/hash.h"

/* ---- settings: write-once key -> value rows ---- */

#define BK_SETTING_KEY_MAX 64      /* bytes of a key */
#define BK_SETTING_VALUE_MAX 4096  /* bytes of a value */

/* Copies the value of key into val (cap bytes) and its length into *len.
 * BK_ENOTFOUND when there is no such row, BK_EFORMAT when the stored value
 * is longer than cap, BK_EINVAL for a bad key. */
int bk_db_setting_get(bk_db *db, const char *key, void *val, size_t cap, size_t *len);

/* Stores key = val (len bytes) unless the key already has a value (INSERT ..
 * ON CONFLICT DO NOTHING: the first writer wins, atomically, also between
 * processes), then reads the stored value back into out (cap bytes, length in
 * *outlen): the caller's value if it won, else the one stored before.
 * Values are never overwritten. BK_EINVAL for a bad key or length. */
int bk_db_setting_add_once(bk_db *db, const char *key, const void *val, size_t len, void *out,
                           size_t cap, size_t *outlen);

/* ---- web sessions ---- */

/* Limits applied by the session functions (policy belongs to the caller). */
typedef struct bk_session_limits {
  int64_t idle_ms;       /* a session unused this long has ended */
  int64_t ttl_ms;        /* a session this old has ended */
  int64_t touch_ms;      /* last use is written at most this often (0 = every lookup) */
  unsigned max_total;    /* sessions kept in all (oldest last use evicted first) */
  unsigned max_per_user; /* sessions kept per user (that user's oldest evicted) */
} bk_session_limits;

typedef struct bk_session {
  int64_t user_id, token_id;
  int role;                  /* the token's role when the session was created */
  char name[BK_NAME_MAX + 1]; /* the user's name */
  int64_t created_ms, last_ms; /* last_ms: last recorded use (see touch_ms) */
} bk_session;

/* Adds a session keyed by idhash (a digest of the session id: the id itself
 * is never stored) for user_id signed in with token_id (role). Ends expired
 * sessions and evicts beyond the caps in the same write transaction; the new
 * session is never the one evicted. BK_EEXIST when idhash is already used,
 * BK_ENOTFOUND when the user or the token does not exist. */
int bk_db_session_add(bk_db *db, const bk_hash *idhash, int64_t user_id, int64_t token_id,
                      int role, int64_t now_ms, const bk_session_limits *lim);

/* Looks a session up. BK_ENOTFOUND when unknown, expired (idle or ttl) or
 * when its token was revoked or deleted; an expired or revoked session's row
 * is deleted. Records the use (last_ms = now_ms) when the recorded one is
 * lim->touch_ms or more old, so a page view is not a write each time: idle
 * expiry is therefore exact to within touch_ms. Fills *out on success. */
int bk_db_session_get(bk_db *db, const bk_hash *idhash, int64_t now_ms,
                      const bk_session_limits *lim, bk_session *out);

/* Ends a session (0 also when it did not exist). */
int bk_db_session_del(bk_db *db, const bk_hash *idhash);

/* Number of sessions stored (all, or of one user when user_id > 0). */
int bk_db_session_count(bk_db *db, int64_t user_id, int64_t *n);

/* ---- shared rate-limit windows ---- */

/* Counts one request of caller (an opaque 64-bit key: the caller hashes
 * caller and class) in the fixed window starting at window_start (unix
 * seconds): one UPSERT .. RETURNING. When the window already holds quota
 * requests the count is not raised and *allowed = 0; else it is raised and
 * *allowed = 1. *count is the window's count afterwards (<= quota). */
int bk_db_rate_take(bk_db *db, int64_t caller, int64_t window_start, unsigned quota, int *allowed,
                    unsigned *count);

/* Deletes the windows that started before `before` (unix seconds). */
int bk_db_rate_prune(bk_db *db, int64_t before);

#endif
