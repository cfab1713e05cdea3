/* bucketd — entry point: `bucketd [serve] [options]` runs the server; every
 * other subcommand (user, token, org, gc, fsck) goes to bucketd_admin.
 * Clean shutdown on SIGINT/SIGTERM (signals are blocked in every thread and
 * taken with sigwait by the main thread). */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "store/db.h"
#include "buckets/error.h"
#include "server/admin.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/storecfg.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: bucketd [serve] [--listen HOST:PORT] [--data DIR | --db URL --blobs URL]\n"
          "               [--public-url URL]\n"
          "               [--threads N] [--max-conns N] [--max-conns-per-ip N]\n"
          "               [--timeout SECONDS] [--header-timeout SECONDS]\n"
          "               [--body-timeout SECONDS] [--min-body-rate BYTES]\n"
           "               [--rate-limit SPEC] [--quiet] [--dedup-scope global|namespace|bucket]\n"
           "               [--reverify-after SECONDS] [--secret-file FILE] [--rate-limit-shared]\n"
          "               [--direct-downloads] [--region NAME]\n"
          "       bucketd migrate --data DIR --to-db URL --to-blobs URL\n"
          "       bucketd user add NAME [--data DIR]\n"
          "       bucketd token add USER --role read|write [--data DIR]\n"
          "       bucketd token list USER | token revoke ID [--data DIR]\n"
          "       bucketd org add ORG --owner USER | org member ORG USER --role read|write|admin\n"
          "       bucketd gc [--grace DURATION] | fsck [--read-data]   [--data DIR]\n"
          "       bucketd scrub [--max-bytes N[K|M|G]] [--max-blobs N]  [--data DIR]\n"
          "       bucketd region add NAME --blobs URL | region list | region remove NAME [--force]\n"
          "\n"
          "serve options (defaults):\n"
          "  --listen HOST:PORT   address to bind (127.0.0.1:8080; port 0 = any free port)\n"
          "  --data DIR           data directory: db, blobs, secret (./var); the shorthand for\n"
          "                       --db sqlite:///DIR/buckets.db --blobs file:///DIR/blobs\n"
          "  --db URL             metadata database: sqlite:///abs/meta.db or\n"
          "                       postgresql://user:password@host:port/dbname (with --blobs)\n"
          "  --blobs URL          blob store: file:///abs/dir or\n"
          "                       's3://BUCKET?endpoint=http://host:port&region=R[&prefix=P]'\n"
          "                       (every node of one deployment gets the same --db, --blobs\n"
          "                       and secret; no data dir, no lock)\n"
          "  --public-url URL     base URL clients reach this server at (http://HOST:PORT);\n"
          "                       used for casUrl, Link headers and bucket urls\n"
          "  --threads N          0 = one thread per connection (default), N = pool of N\n"
          "  --max-conns N        total connection limit (512)\n"
          "  --max-conns-per-ip N connections per client address, 0 = no cap (64)\n"
          "  --timeout SECONDS    idle timeout per connection (60)\n"
          "  --header-timeout SECONDS\n"
          "                       total time to receive the request line and headers,\n"
          "                       from connect or the end of the previous response (30)\n"
          "  --body-timeout SECONDS\n"
          "                       total time until a request body is complete (1800)\n"
          "  --min-body-rate BYTES\n"
          "                       a body must average BYTES/s after a grace of\n"
          "                       --header-timeout seconds, 0 = no minimum (1024)\n"
          "  --rate-limit SPEC    Hub-style limits per user (or client IP) and window:\n"
          "                       api=N,resolvers=N,pages=N[,window=SECONDS] (off; window 300)\n"
          "  --rate-limit-shared  count --rate-limit windows in the metadata database, so several\n"
          "                       bucketd nodes on one database enforce one quota (one write per\n"
          "                       counted request; default: in memory, per process)\n"
          "  --secret-file FILE   token-signing secret: 32 raw bytes or 64 hex characters (and a\n"
          "                       newline), mode 0600 or stricter (default: the one stored in the\n"
          "                       metadata database, created by the first node to start)\n"
          "  --dedup-scope SCOPE  which stored xorbs a dedup query may reveal and reuse:\n"
          "                       global (any, as on the Hub; default), namespace (those the\n"
          "                       caller's namespace references) or bucket (its bucket's own)\n"
          "  --reverify-after SECONDS\n"
          "                       a stored xorb verified less than this long ago, whose file\n"
          "                       is unchanged since, is handed out without reading it again\n"
          "                       (dedup answers, shard references, served ranges); 0 = read\n"
          "                       and verify it every time (86400)\n"
          "  --direct-downloads   reconstructions hand out presigned GET URLs of the object\n"
          "                       store (15 min), so file bytes bypass bucketd; needs a blob\n"
          "                       store that presigns (s3://), refused for file://\n"
          "  --region NAME        the region of clients that send no X-Buckets-Region header:\n"
          "                       reconstructions point them at the copies in that region\n"
          "                       (a configured region, see `bucketd region`; default none)\n"
          "  --quiet              no per-request log lines\n"
          "Environment: BUCKETD_DATA, BUCKETD_DB, BUCKETD_BLOBS, BUCKETD_LISTEN,\n"
          "BUCKETD_PUBLIC_URL set the defaults (--data/--db/--blobs on the command line\n"
          "override all three store variables). Admin commands take the same\n"
          "--data or --db/--blobs (user, token, org need only --db).\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *out) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (!*s || *end || v > max) return -1;
  *out = (unsigned)v;
  return 0;
}

/* Each connection costs two descriptors (the socket and the watchdog's dup,
 * see server.c) plus the files a request opens: lift the soft descriptor
 * limit toward the hard one when the default (often 1,024) is too small for
 * --max-conns. Best effort: without it accept(2) fails with EMFILE under load,
 * which libmicrohttpd logs. */
static void raise_fd_limit(unsigned max_conns) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = 1024 + 2 * (rlim_t)max_conns + 256; /* dups start at 1,024 */
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- serve options: one table, parsed in order (later flags win) ---- */

enum serve_opt_kind {
  SO_FLAG,  /* no value; sets an int field to 1 */
  SO_STR,   /* const char * field */
  SO_UINT,  /* unsigned field, 0..max */
  SO_RATE,  /* --rate-limit SPEC (rate_quota, rate_window) */
  SO_SCOPE, /* --dedup-scope global|namespace|bucket */
};

struct serve_opt {
  const char *name;
  enum serve_opt_kind kind;
  size_t off;        /* the field in struct bk_server_config */
  unsigned max;      /* SO_UINT: the largest value */
  int nonzero;       /* SO_UINT: 0 refused; SO_STR: "" refused */
  int marks_reverify; /* also sets reverify_set */
};

#define CFG_OFF(f) offsetof(struct bk_server_config, f)
static const struct serve_opt serve_opts[] = {
    {"--quiet", SO_FLAG, CFG_OFF(quiet), 0, 0, 0},
    {"--rate-limit-shared", SO_FLAG, CFG_OFF(rate_limit_shared), 0, 0, 0},
    {"--direct-downloads", SO_FLAG, CFG_OFF(direct_downloads), 0, 0, 0},
    {"--listen", SO_STR, CFG_OFF(listen), 0, 0, 0},
    {"--data", SO_STR, CFG_OFF(data_dir), 0, 0, 0},
    {"--db", SO_STR, CFG_OFF(db_url), 0, 1, 0},
    {"--blobs", SO_STR, CFG_OFF(blob_url), 0, 1, 0},
    {"--secret-file", SO_STR, CFG_OFF(secret_file), 0, 1, 0},
    {"--public-url", SO_STR, CFG_OFF(public_url), 0, 0, 0},
    {"--region", SO_STR, CFG_OFF(region), 0, 1, 0},
    {"--threads", SO_UINT, CFG_OFF(threads), 256, 0, 0},
    {"--max-conns", SO_UINT, CFG_OFF(max_conns), 100000, 1, 0},
    {"--max-conns-per-ip", SO_UINT, CFG_OFF(max_conns_per_ip), 100000, 0, 0},
    {"--timeout", SO_UINT, CFG_OFF(conn_timeout), 86400, 0, 0},
    {"--header-timeout", SO_UINT, CFG_OFF(header_timeout), 86400, 1, 0},
    {"--min-body-rate", SO_UINT, CFG_OFF(min_body_rate), 1000000000u, 0, 0},
    {"--rate-limit", SO_RATE, 0, 0, 0, 0},
    {"--dedup-scope", SO_SCOPE, CFG_OFF(dedup_scope), 0, 0, 0},
    {"--reverify-after", SO_UINT, CFG_OFF(reverify_after_s), 365u * 86400u, 0, 1},
    {"--body-timeout", SO_UINT, CFG_OFF(body_timeout), 86400, 1, 0},
};
#undef CFG_OFF

static const struct serve_opt *serve_opt_find(const char *name) {
  for (size_t i = 0; i < sizeof serve_opts / sizeof serve_opts[0]; i++)
    if (!strcmp(serve_opts[i].name, name)) return &serve_opts[i];
  return NULL;
}

/* The defaults, from the environment where it sets them. */
static void serve_defaults(struct bk_server_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->listen = getenv("BUCKETD_LISTEN") ? getenv("BUCKETD_LISTEN") : "127.0.0.1:8080";
  cfg->public_url = getenv("BUCKETD_PUBLIC_URL");
  cfg->max_conns = BK_MAX_CONNS_DEFAULT;
  cfg->max_conns_per_ip = BK_MAX_CONNS_PER_IP_DEFAULT;
  cfg->conn_timeout = 60;
  cfg->header_timeout = BK_HEADER_TIMEOUT_DEFAULT;
  cfg->min_body_rate = BK_MIN_BODY_RATE_DEFAULT;
}

/* Stores value v of option o into cfg. Returns 0, or the exit code (2) after
 * printing why (a bad value). */
static int serve_opt_set(const struct serve_opt *o, const char *v, struct bk_server_config *cfg) {
  char *field = (char *)cfg + o->off;
  switch (o->kind) {
  case SO_FLAG:
    *(int *)field = 1;
    return 0;
  case SO_STR:
    if (o->nonzero && !*v) break;
    *(const char **)field = v;
    return 0;
  case SO_UINT:
    if (parse_uint(v, o->max, (unsigned *)field) || (o->nonzero && !*(unsigned *)field)) break;
    if (o->marks_reverify) cfg->reverify_set = 1;
    return 0;
  case SO_RATE:
    if (!bk_ratelimit_parse(v, cfg->rate_quota, &cfg->rate_window)) return 0;
    fprintf(stderr, "bucketd: %s\n", bk_errmsg());
    return 2;
  case SO_SCOPE:
    if (!strcmp(v, "global")) cfg->dedup_scope = BK_DEDUP_GLOBAL;
    else if (!strcmp(v, "namespace")) cfg->dedup_scope = BK_DEDUP_NAMESPACE;
    else if (!strcmp(v, "bucket")) cfg->dedup_scope = BK_DEDUP_BUCKET;
    else break;
    return 0;
  }
  fprintf(stderr, "bucketd: bad value for %s: '%s'\n", o->name, v);
  return 2;
}

/* Parses the serve options into cfg (defaults already set). Returns -1 to go
 * on, else the exit code: 0 after --help, 2 for a usage error (printed). */
static int serve_parse(int argc, char **argv, struct bk_server_config *cfg) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    const struct serve_opt *o = serve_opt_find(a);
    if (o && o->kind == SO_FLAG) {
      serve_opt_set(o, NULL, cfg);
      continue;
    }
    if (!v || !o) {
      fprintf(stderr, v ? "bucketd: unknown option '%s'\n"
                        : "bucketd: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      return 2;
    }
    int rc = serve_opt_set(o, v, cfg);
    if (rc) return rc;
    i++;
  }
  struct bk_store_choice sc;
  if (bk_store_choose(cfg->data_dir, cfg->db_url, cfg->blob_url, 1, &sc)) return 2;
  cfg->data_dir = sc.data;
  cfg->db_url = sc.db;
  cfg->blob_url = sc.blobs;
  if (cfg->rate_limit_shared && !cfg->rate_quota[0] && !cfg->rate_quota[1] &&
      !cfg->rate_quota[2]) {
    fprintf(stderr, "bucketd: --rate-limit-shared needs --rate-limit with a quota\n");
    return 2;
  }
  return -1;
}

/* Opens and starts the server for cfg, then waits for SIGINT/SIGTERM and
 * shuts it down. Returns the exit code (1 when the server cannot start). */
static int serve_run(const struct bk_server_config *cfg) {
  /* Block the stop signals before any thread exists, so that every MHD
   * thread inherits the mask and only sigwait below sees them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  raise_fd_limit(cfg->max_conns);

  struct bk_server srv;
  memset(&srv, 0, sizeof srv);
  if (bk_server_open(&srv, cfg) || bk_server_start(&srv)) {
    fprintf(stderr, "bucketd: %s\n", bk_errmsg());
    bk_server_close(&srv);
    return 1;
  }
  fprintf(stderr, "bucketd: listening on http://%s%s%s:%u (%s, public url %s, %s)\n",
          strchr(srv.listen_host, ':') ? "[" : "", srv.listen_host,
          strchr(srv.listen_host, ':') ? "]" : "", (unsigned)srv.port, srv.store_desc,
          srv.public_url, srv.threads ? "thread pool" : "thread per connection");
  if (!cfg->public_url && (!strcmp(srv.listen_host, "0.0.0.0") || !strcmp(srv.listen_host, "::")))
    fprintf(stderr, "bucketd: warning: listening on all interfaces without --public-url; clients "
                    "are sent %s in casUrl and Link headers, which only works on this host\n",
            srv.public_url);
  fflush(stderr);
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "bucketd: %s received, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  bk_server_close(&srv);
  fprintf(stderr, "bucketd: stopped\n");
  return 0;
}

static int serve(int argc, char **argv) {
  struct bk_server_config cfg;
  serve_defaults(&cfg);
  int rc = serve_parse(argc, argv, &cfg);
  return rc >= 0 ? rc : serve_run(&cfg);
}

int main(int argc, char **argv) {
  if (argc < 2) return serve(0, argv + 1);
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "serve")) return serve(argc - 2, argv + 2);
  if (cmd[0] == '-') return serve(argc - 1, argv + 1);
  return bucketd_admin(argc - 1, argv + 1);
}
