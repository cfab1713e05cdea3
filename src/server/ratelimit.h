/* bucketd — Hub-style request rate limits: fixed windows per caller and
 * class, as the Hub documents them (buckets-api.md §1.12). Off unless
 * `bucketd serve --rate-limit` sets a quota.
 *
 * Classes: "api" (/api/...), "resolvers" (file downloads through
 * /buckets/.../resolve/...), "pages" (the web pages). CAS traffic is not
 * counted (a file upload or download is thousands of CAS requests; the Hub
 * does not count those in these classes either). The caller is the signed-in
 * user when a valid hf_ token came with the request, otherwise the client IP
 * address.
 *
 * Memory is fixed at creation (a table of BK_RL_SLOTS counters; a caller is
 * stored as a keyed 64-bit hash, never as text). When every slot near a
 * caller's is taken by another caller of the current window, that caller
 * shares one overflow counter per class with every other such caller: the
 * limit still holds in aggregate and memory never grows.
 *
 * Shared mode (bk_ratelimit_new_shared, `bucketd serve --rate-limit-shared`):
 * the window counters live in the metadata database (table rate_windows,
 * store/settings.h) instead, so several bucketd nodes on one database
 * enforce one quota. Each counted request is one UPSERT .. RETURNING; windows
 * older than the previous one are deleted when a limiter first sees a new
 * window. The caller key is derived from a key all nodes share (the server
 * secret), so every node counts a caller in the same row. A database error
 * lets the request through (fail open: no RateLimit headers for it) and is
 * logged to stderr at most once per window.
 *
 * Ownership: bk_ratelimit_new / _new_shared return an object owned by the caller
 * (bk_ratelimit_free). Thread-safe: bk_ratelimit_take may be called from any
 * thread (one mutex).
 */
#ifndef BUCKETD_RATELIMIT_H
#define BUCKETD_RATELIMIT_H

#include <stdint.h>

struct bk_db;

enum bk_rl_class { BK_RL_API = 0, BK_RL_RESOLVERS = 1, BK_RL_PAGES = 2, BK_RL_NCLASSES = 3 };
#define BK_RL_NONE (-1)
#define BK_RL_SLOTS 65536u
#define BK_RL_WINDOW_DEFAULT 300u /* the Hub's 5-minute windows */

typedef struct bk_ratelimit bk_ratelimit;

typedef struct bk_rl_state {
  unsigned quota;     /* requests per window for this class (0 = unlimited) */
  unsigned remaining; /* after this request */
  unsigned reset;     /* seconds until the window ends (>= 1) */
  unsigned window;    /* window length, seconds */
} bk_rl_state;

/* quota[c] = requests per window for class c (0 = unlimited); window in
 * seconds (0 = BK_RL_WINDOW_DEFAULT). BK_ENOMEM. */
int bk_ratelimit_new(const unsigned quota[BK_RL_NCLASSES], unsigned window, bk_ratelimit **out);
/* Shared mode: the same limits, counted in db (borrowed: it must outlive the
 * limiter). key: 32 bytes every node sharing the quota passes alike (callers
 * are stored as keyed 64-bit hashes). BK_ENOMEM, BK_EINVAL (db NULL). */
int bk_ratelimit_new_shared(const unsigned quota[BK_RL_NCLASSES], unsigned window,
                            struct bk_db *db, const uint8_t key[32], bk_ratelimit **out);
void bk_ratelimit_free(bk_ratelimit *rl); /* NULL ok */

/* Counts one request of class cls by caller (any NUL-terminated string) at
 * unix time now. Returns 1 when it is within the quota, 0 when it must be
 * refused (429); *st describes the caller's window either way. A class
 * without quota always returns 1 with st->quota = 0. */
int bk_ratelimit_take(bk_ratelimit *rl, int cls, const char *caller, int64_t now, bk_rl_state *st);

/* "api", "resolvers", "pages". */
const char *bk_ratelimit_class_name(int cls);

/* Parses "api=N,resolvers=N,pages=N,window=S" (any subset, any order) into
 * quota[] and *window. BK_EINVAL with bk_seterr on a bad spec. */
int bk_ratelimit_parse(const char *spec, unsigned quota[BK_RL_NCLASSES], unsigned *window);

#endif
