/* bucketd — process-wide server context (owned by server-http).
 *
 * One struct bk_server per process. bk_server_open creates the data dir on
 * first start (metadata db, blob store), loads the 32-byte server secret
 * (--secret-file, else the database's shared one, see `secret` below) and
 * fills the context; bk_server_start binds the
 * HTTP listener (libmicrohttpd) and returns; bk_server_stop stops accepting
 * and waits for in-flight requests; bk_server_close releases everything.
 *
 * Ownership: the server owns db, blobs, the strings in cfg (copied on open)
 * and the secret. Handlers (hub API, CAS, web) borrow them for the duration
 * of a request. Fields are read-only after bk_server_start, so handlers on
 * any thread may read them without locking (the db/blob store handles do
 * their own locking).
 *
 * Stable seam: other helpers code against these fields. Add, don't rename.
 */
#ifndef BUCKETD_SERVER_H
#define BUCKETD_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct bk_db;        /* store/db.h (store helper) */
struct bk_blobstore; /* store/blobstore.h (store helper) */
struct bk_svc;       /* src/service/service.h */

#define BK_SERVER_SECRET_LEN 32
/* settings row (store/settings.h) holding the shared token-signing secret */
#define BK_SETTING_SECRET "token_secret"

/* Layout of the data dir (shared with `bucketd` admin commands). */
#define BK_DB_FILE "buckets.db"     /* SQLite metadata (WAL) */
#define BK_BLOBS_DIR "blobs"        /* blob store root */
#define BK_SECRET_FILE "secret.key" /* local copy of the database's 32-byte secret, 0600 */
#define BK_PID_FILE "bucketd.pid"   /* "PID URL" of the serving process, flock'ed while it
                                       runs (one `serve` per data dir), removed on exit */

/* Total time from the request line to the end of the body (libmicrohttpd only
 * has the idle timeout, which a client sending a byte now and then never
 * hits). 30 min: a 256 MiB web upload still passes at 150 KB/s. */
#define BK_BODY_TIMEOUT_DEFAULT 1800u

/* Slow-client defaults (see docs/server.md, "Slow clients"). */
#define BK_MAX_CONNS_DEFAULT 512u      /* total connections */
#define BK_MAX_CONNS_PER_IP_DEFAULT 64u /* connections per client address */
#define BK_HEADER_TIMEOUT_DEFAULT 30u  /* seconds to receive request line + headers */
#define BK_MIN_BODY_RATE_DEFAULT 1024u /* bytes/s a request body must average */

struct bk_server_config {
  const char *listen;     /* "HOST:PORT", default "127.0.0.1:8080"; port 0 = ephemeral */
  const char *data_dir;   /* default "./var" */
  const char *public_url; /* default "http://HOST:PORT" (no trailing '/') */
  unsigned max_conns;     /* total connection limit (0 = BK_MAX_CONNS_DEFAULT) */
  unsigned conn_timeout;  /* idle seconds per connection (default 60) */
  unsigned threads;       /* 0 = one thread per connection (default); N = pool of N */
  unsigned body_timeout;  /* seconds a request may take until its body is complete
                             (0 = BK_BODY_TIMEOUT_DEFAULT) */
  int quiet;              /* 1 = no per-request log lines */
  unsigned max_conns_per_ip; /* connections per client address (0 = no cap) */
  unsigned header_timeout;   /* seconds from connection start (or the end of the
                                previous response) until the request line and
                                headers are complete (0 = BK_HEADER_TIMEOUT_DEFAULT) */
  unsigned min_body_rate;    /* bytes/s a body must average after a grace of
                                header_timeout seconds (0 = no minimum) */
  unsigned rate_quota[3]; /* requests per window for api, resolvers, pages
                             (0 = unlimited; all 0 = no rate limiting) */
  unsigned rate_window;   /* seconds (0 = 300) */
  int dedup_scope;        /* enum bk_dedup_scope (store/db.h); 0 = global */
  int reverify_set;       /* 1 = reverify_after_s given (else BK_REVERIFY_DEFAULT_S) */
  unsigned reverify_after_s; /* trust a xorb verified this recently whose blob is unchanged
                                (the service re-verifies older ones); 0 = verify every time */
  const char *secret_file; /* token-signing secret: 32 raw bytes or 64 hex chars (+ newline),
                              no group/other access; NULL = the database's (see load_secret) */
  int rate_limit_shared;   /* 1 = rate-limit windows counted in the metadata database */
  int direct_downloads;    /* 1 = reconstructions carry presigned blob-store URLs (the
                              store must presign: bk_server_open fails otherwise) */
  /* --db URL --blobs URL (both set, data_dir ignored): the metadata and blob
   * store by URL (server/storecfg.h). No data dir then: no serve lock (many
   * nodes share one database by design) and the secret comes from
   * secret_file or the database, never from a local file. */
  const char *db_url;
  const char *blob_url;
  /* --region NAME: the region of clients that send no X-Buckets-Region header
   * (reconstructions point at copies there); NULL = none. Must name a
   * configured region (bk_svc_region_check_name). */
  const char *region;
};

/* Default for --reverify-after: one day (see docs/store.md "Damaged blobs"). */
#define BK_REVERIFY_DEFAULT_S 86400u

struct bk_server {
  /* configuration (strings owned by the server, normalised) */
  char *listen_host;      /* e.g. "127.0.0.1" */
  uint16_t port;          /* actual bound port (after start, also for port 0) */
  char *data_dir;         /* absolute or as given; exists after open */
  char *public_url;       /* no trailing '/'; used for casUrl, Link headers, bucket urls */
  unsigned max_conns, conn_timeout, threads, body_timeout;
  int quiet;
  unsigned max_conns_per_ip, header_timeout, min_body_rate;
  int64_t reverify_ms;    /* max age of a trusted verification (service: xorb checks) */
  int direct_downloads;   /* --direct-downloads: fetch URLs are presigned by the blob store */

  /* storage */
  struct bk_db *db;
  struct bk_blobstore *blobs;
  /* the storage service (src/service/service.h): the only coordinator of
   * xorb/shard/CAS metadata and blobs; handlers call bk_svc_* on it. It
   * borrows db and blobs. */
  struct bk_svc *svc;

  /* 32 bytes that sign CAS tokens, xorb URLs and CSRF tokens. Never logged.
   * From --secret-file, else the metadata database (created once by the
   * first node; data_dir/secret.key imported on upgrade and kept as a local
   * copy, mode 0600), so every node on one database shares it. */
  uint8_t secret[BK_SERVER_SECRET_LEN];

  /* which xorbs dedup queries and web uploads may reuse: enum
   * bk_dedup_scope (store/db.h), from --dedup-scope */
  int dedup_scope;

  /* request rate limits (server/ratelimit.h); NULL when off */
  struct bk_ratelimit *rl;

  /* internal (server.c) */
  void *mhd;             /* struct MHD_Daemon * */
  int64_t started_at;    /* unix seconds */
  void *watch;           /* slow-client watchdog (server.c), NULL when not started */
  int lock_fd;           /* data_dir/BK_PID_FILE, flock'ed; valid when locked */
  int locked;

  /* "data DIR" or "db URL, blobs URL" with credentials masked (startup line) */
  char *store_desc;
  /* --region: the default client region ("" = none); read-only after open */
  char region[33];
  /* the replication thread (server/replicate.h), NULL when not running */
  void *repl;
};

/* The data dir's serve lock (BK_PID_FILE, flock), also taken by `bucketd
 * migrate` on its source: *fd holds it until bk_data_dir_unlock. note is
 * written into the file ("PID note"). BK_EEXIST (message names the holder's
 * pid and note) when a live process holds it. */
int bk_data_dir_lock(const char *dir, const char *note, int *fd);
void bk_data_dir_unlock(const char *dir, int fd); /* removes the file, then unlocks */

/* Creates/opens the data dir (or, with cfg->db_url and cfg->blob_url, the
 * stores those URLs name: no data dir, no lock), database, blob store and
 * secret. Takes the data dir's serve lock first (BK_PID_FILE, flock): when another live process
 * serves the same data dir, fails with BK_EEXIST and a message naming its pid
 * and address (a stale file of a dead process is taken over). On failure the
 * context is left closed (safe to call bk_server_close). */
int bk_server_open(struct bk_server *srv, const struct bk_server_config *cfg);
/* Binds and starts serving (returns immediately; requests run on MHD threads).
 * srv->port holds the bound port afterwards. The listening socket has
 * SO_REUSEADDR only (a port left in TIME_WAIT binds at once), never
 * SO_REUSEPORT: a port another process listens on fails with BK_EEXIST
 * ("HOST:PORT is already in use ..."). Also starts the slow-client watchdog
 * (header deadline, minimum body rate) and the replication thread
 * (server/replicate.h; bk_server_stop joins it first). */
int bk_server_start(struct bk_server *srv);
/* Stops accepting and finishes in-flight requests. Idempotent. */
void bk_server_stop(struct bk_server *srv);
/* Releases everything (calls bk_server_stop first), removes BK_PID_FILE when
 * this context holds the lock. Idempotent. */
void bk_server_close(struct bk_server *srv);

/* Current unix time in seconds / milliseconds (wall clock). */
int64_t bk_now_s(void);
int64_t bk_now_ms(void);
/* Monotonic milliseconds (for durations). */
double bk_mono_ms(void);

#endif
