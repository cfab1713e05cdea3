/* bucketd — libmicrohttpd glue: connection handling, body caps, request
 * log, daemon start/stop. See server.h / http.h.
 *
 * Per request: the URI log callback (called first, with the raw URI) creates
 * the request context; the first access-handler call (headers complete)
 * parses path/query/headers, decides the body cap through the router and
 * answers 413 at once when Content-Length exceeds it; later calls append body
 * bytes (chunked bodies over the cap are discarded and answered 413, or the
 * connection is dropped once the excess passes 16 MiB); the final call
 * authenticates and routes. The completion callback writes the log line and
 * frees the context.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buckets/blobstore.h"
#include "buckets/db.h"
#include "buckets/error.h"
#include "buckets/fsutil.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/router.h"

#define DISCARD_MAX (16u * 1024u * 1024u)
#define MAX_HEADERS 128

int64_t bk_now_s(void) { return (int64_t)time(NULL); }

int64_t bk_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double bk_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct conn_ctx {
  struct bk_http_req req;
  char *raw_uri;
  char *raw_path_buf;
  char *query_buf;
  char *method_buf;
  double t0;
  int started;
  int replied;  /* a response was queued */
  int too_big;  /* body exceeded the cap */
  uint64_t discarded;
};

static void free_kv(struct bk_kv *kv, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].val);
  }
  free(kv);
}

static void ctx_free(struct conn_ctx *c) {
  if (!c) return;
  struct bk_http_req *r = &c->req;
  free(c->raw_uri);
  free(c->raw_path_buf);
  free(c->query_buf);
  free(c->method_buf);
  free(r->path);
  free_kv(r->params, r->nparams);
  free_kv(r->headers, r->nheaders);
  free_kv(r->out_headers, r->nout_headers);
  bk_buf_free(&r->body);
  if (r->body_free) r->body_free(r->body_state);
  if (r->resp) MHD_destroy_response(r->resp);
  free(c);
}

static _Atomic uint64_t request_counter;

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *con) {
  (void)con;
  struct conn_ctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  struct bk_server *srv = cls;
  c->req.srv = srv;
  snprintf(c->req.request_id, sizeof c->req.request_id, "%08x-%" PRIx64,
           (unsigned)srv->started_at, ++request_counter);
  c->raw_uri = strdup(uri ? uri : "/");
  c->t0 = bk_mono_ms();
  bk_buf_init(&c->req.body, 1);
  return c;
}

/* Writes one access-log line: time client method path status bytes ms [code]. */
static void log_request(struct bk_server *srv, struct conn_ctx *c, int term) {
  if (srv->quiet) return;
  struct bk_http_req *r = &c->req;
  char ts[32];
  bk_iso8601_ms(bk_now_ms(), ts);
  char path[512];
  const char *p = r->raw_path ? r->raw_path : (c->raw_uri ? c->raw_uri : "?");
  size_t j = 0;
  for (; *p && *p != '?' && j + 4 < sizeof path; p++)
    path[j++] = ((unsigned char)*p < 0x21 || (unsigned char)*p >= 0x7f) ? '?' : *p;
  if (*p && *p != '?') {
    memcpy(path + j, "...", 3);
    j += 3;
  }
  path[j] = 0;
  char line[1024];
  int n = snprintf(line, sizeof line, "%s %s %s %s %d %lluB %.1fms%s%s%s id=%s\n", ts,
                   r->client_addr[0] ? r->client_addr : "-",
                   r->method ? r->method : "-", path, r->status,
                   (unsigned long long)r->resp_bytes, bk_mono_ms() - c->t0,
                   r->err_code[0] ? " " : "", r->err_code,
                   term == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)",
                   r->request_id);
  if (n > 0) {
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    ssize_t w = write(2, line, len);
    (void)w;
  }
}

static void completed_cb(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode term) {
  (void)con;
  struct conn_ctx *c = *con_cls;
  if (!c) return;
  /* requests libmicrohttpd refused itself (headers too large, broken
   * request line) never reached the handler: log them with status 0 */
  if (c->started || term != MHD_REQUEST_TERMINATED_CLIENT_ABORT) log_request(cls, c, (int)term);
  ctx_free(c);
  *con_cls = NULL;
}

/* Identity unescaper: we decode the raw URI ourselves. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  return strlen(s);
}

struct hdr_collect {
  struct bk_http_req *req;
  int fail;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  (void)kind;
  struct hdr_collect *h = cls;
  struct bk_http_req *r = h->req;
  if (r->nheaders >= MAX_HEADERS) {
    h->fail = 1;
    return MHD_NO;
  }
  if (!r->headers) {
    r->headers = calloc(MAX_HEADERS, sizeof *r->headers);
    if (!r->headers) {
      h->fail = 1;
      return MHD_NO;
    }
  }
  r->headers[r->nheaders].key = strdup(key ? key : "");
  r->headers[r->nheaders].val = strdup(value ? value : "");
  r->nheaders++;
  if (!r->headers[r->nheaders - 1].key || !r->headers[r->nheaders - 1].val) h->fail = 1;
  return MHD_YES;
}

static void client_addr(struct MHD_Connection *con, char out[64]) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = 0;
  if (!ci || !ci->client_addr) return;
  const struct sockaddr *sa = ci->client_addr;
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    snprintf(out, 64, "%s:%u", host, port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    snprintf(out, 64, "[%s]:%u", host, port);
  }
}

static enum MHD_Result queue(struct MHD_Connection *con, struct conn_ctx *c) {
  struct bk_http_req *r = &c->req;
  if (!r->resp) bk_http_error(r, 500, NULL, "internal error: no response");
  if (!r->resp) return MHD_NO;
  c->replied = 1;
  return MHD_queue_response(con, (unsigned)r->status, r->resp);
}

/* First call: request line + headers are complete. Returns 1 when a reply
 * was prepared already (error), 0 to go on reading the body. */
static int start_request(struct bk_server *srv, struct MHD_Connection *con,
                         struct conn_ctx *c, const char *method) {
  struct bk_http_req *r = &c->req;
  c->started = 1;
  c->method_buf = strdup(method ? method : "");
  r->method = c->method_buf ? c->method_buf : "";
  r->conn = con;
  r->srv = srv;
  client_addr(con, r->client_addr);

  struct hdr_collect hc = {r, 0};
  MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, &hc);
  if (hc.fail) return bk_http_error(r, 431, NULL, "too many request headers"), 1;

  const char *err = NULL;
  size_t dlen = 0;
  int st = bk_http_parse_target(c->raw_uri ? c->raw_uri : "/", &c->raw_path_buf, &c->query_buf,
                                &r->path, &dlen, &err);
  r->raw_path = c->raw_path_buf;
  r->query = c->query_buf ? c->query_buf : "";
  if (st) return bk_http_error(r, st, NULL, "%s", err), 1;
  if (bk_http_parse_query(r, r->query)) return bk_http_error(r, 400, NULL, "%s", bk_errmsg()), 1;

  size_t nauth = 0;
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].key, "Authorization") == 0) nauth++;
  if (nauth > 1) return bk_http_error(r, 400, NULL, "more than one Authorization header"), 1;

  size_t limit = bk_router_body_limit(r->method, r->path);
  r->body_limit = limit;
  bk_buf_init(&r->body, limit ? limit : 1);
  const char *cl = bk_http_header(r, "Content-Length");
  r->content_length = -1;
  if (cl) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno || end == cl || *end) return bk_http_error(r, 400, NULL, "bad Content-Length"), 1;
    if (v > limit)
      return bk_http_error(r, 413, NULL, "request body too large (limit %zu bytes)", limit), 1;
    r->content_length = (int64_t)v; /* <= limit, so it fits */
  }
  return bk_router_body_start(srv, r);
}

/* Counts the request against its class's quota (when limits are on) and
 * adds the Hub's RateLimit headers; answers 429 and returns 0 over quota. */
static int rate_allowed(struct bk_server *srv, struct bk_http_req *r) {
  int cls = srv->rl ? bk_router_rate_class(r->path) : BK_RL_NONE;
  if (cls == BK_RL_NONE) return 1;
  char caller[96];
  const char *ip = r->client_addr;
  const char *colon = strrchr(ip, ':'); /* "1.2.3.4:port" / "[v6]:port": drop the port */
  if (r->auth.user_id) snprintf(caller, sizeof caller, "user:%lld", (long long)r->auth.user_id);
  else snprintf(caller, sizeof caller, "ip:%.*s", colon ? (int)(colon - ip) : (int)strlen(ip), ip);
  bk_rl_state st;
  int ok = bk_ratelimit_take(srv->rl, cls, caller, bk_now_s(), &st);
  if (st.quota == 0) return 1;
  const char *name = bk_ratelimit_class_name(cls);
  bk_http_add_headerf(r, "RateLimit", "\"%s\";r=%u;t=%u", name, st.remaining, st.reset);
  bk_http_add_headerf(r, "RateLimit-Policy", "\"fixed window\";\"%s\";q=%u;w=%u", name, st.quota,
                      st.window);
  if (ok) return 1;
  bk_http_add_headerf(r, "Retry-After", "%u", st.reset);
  bk_http_error(r, 429, "RateLimited",
                "rate limit of %u %s requests per %u s reached; retry in %u s", st.quota, name,
                st.window, st.reset);
  return 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
  (void)url;
  (void)version;
  struct bk_server *srv = cls;
  struct conn_ctx *c = *con_cls;
  if (!c) return MHD_NO; /* allocation failed in the URI callback */
  if (c->replied) { /* early reply queued; swallow whatever follows */
    if (*upload_data_size) *upload_data_size = 0;
    return MHD_YES;
  }
  if (!c->started) {
    if (start_request(srv, con, c, method)) return queue(con, c);
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (bk_mono_ms() - c->t0 > 1000.0 * srv->body_timeout) {
      /* a body still arriving after the total deadline (a trickling client
       * that never trips the idle timeout): drop the connection */
      snprintf(c->req.err_code, sizeof c->req.err_code, "body-timeout");
      return MHD_NO;
    }
    struct bk_http_req *r = &c->req;
    r->body_received += n;
    if (r->body_received > r->body_limit) c->too_big = 1;
    if (!c->too_big && r->body_sink) r->body_sink(r, (const uint8_t *)upload_data, n);
    else if (!c->too_big && bk_buf_append(&r->body, upload_data, n) != 0) c->too_big = 1;
    if (c->too_big) {
      bk_buf_free(&r->body);
      c->discarded += n;
      if (c->discarded > DISCARD_MAX) return MHD_NO;
    }
    return MHD_YES;
  }
  struct bk_http_req *r = &c->req;
  if (c->too_big) {
    bk_http_error(r, 413, NULL, "request body too large (limit %zu bytes)", r->body_limit);
    return queue(con, c);
  }
  bk_auth_request(srv, r);
  if (!rate_allowed(srv, r)) return queue(con, c);
  bk_router_dispatch(srv, r);
  return queue(con, c);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  struct bk_server *srv = cls;
  if (srv->quiet) return;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
  fprintf(stderr, "bucketd: http: %s\n", msg);
}

/* Splits "HOST:PORT" / "[V6]:PORT" / ":PORT" / "PORT". */
static int parse_listen(const char *s, char **host, uint16_t *port) {
  const char *colon;
  char h[256];
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof h) return BK_EINVAL;
    memcpy(h, s + 1, (size_t)(rb - s - 1));
    h[rb - s - 1] = 0;
    colon = rb + 1;
  } else if ((colon = strrchr(s, ':')) != NULL) {
    if ((size_t)(colon - s) >= sizeof h) return BK_EINVAL;
    memcpy(h, s, (size_t)(colon - s));
    h[colon - s] = 0;
    if (!h[0]) strcpy(h, "127.0.0.1");
  } else {
    strcpy(h, "127.0.0.1");
    colon = s - 1;
  }
  char *end;
  errno = 0;
  unsigned long p = strtoul(colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || p > 65535) return BK_EINVAL;
  *host = strdup(h);
  if (!*host) return BK_ENOMEM;
  *port = (uint16_t)p;
  return 0;
}

int bk_server_start(struct bk_server *srv) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (strchr(srv->listen_host, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(srv->port);
    if (inet_pton(AF_INET6, srv->listen_host, &a->sin6_addr) != 1)
      return bk_seterr(BK_EINVAL, "bad IPv6 listen address '%s'", srv->listen_host);
    flags |= MHD_USE_IPv6;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(srv->port);
    if (inet_pton(AF_INET, srv->listen_host, &a->sin_addr) != 1)
      return bk_seterr(BK_EINVAL, "bad listen address '%s' (numeric IP expected)",
                       srv->listen_host);
  }
  /* select() per connection thread measured fastest (0.05 ms vs 0.13 ms per
   * keep-alive request with poll), but it cannot watch fds >= FD_SETSIZE:
   * with many connections use poll. */
  if (srv->threads == 0)
    flags |= MHD_USE_THREAD_PER_CONNECTION | (srv->max_conns > 900 ? MHD_USE_POLL : 0);
  else flags |= MHD_USE_AUTO;
  struct MHD_OptionItem opts[16];
  int n = 0;
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)srv->max_conns, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)srv->conn_timeout, NULL};
  /* headers + read buffer of one connection: caps the total header size */
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log_cb, srv};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_cb, srv};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
  if (srv->threads > 0)
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)srv->threads, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  srv->started_at = bk_now_s();
  struct MHD_Daemon *d = MHD_start_daemon(flags, srv->port, NULL, NULL, access_cb, srv,
                                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
                                          MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!d)
    return bk_seterr(BK_EIO, "cannot listen on %s:%u (%s)", srv->listen_host,
                     (unsigned)srv->port, strerror(errno));
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (di && di->port) srv->port = di->port;
  srv->mhd = d;
  if (!srv->public_url) {
    char u[320];
    int v6 = strchr(srv->listen_host, ':') != NULL;
    snprintf(u, sizeof u, "http://%s%s%s:%u", v6 ? "[" : "", srv->listen_host, v6 ? "]" : "",
             (unsigned)srv->port);
    srv->public_url = strdup(u);
    if (!srv->public_url) {
      bk_server_stop(srv);
      return BK_ENOMEM;
    }
  }
  return 0;
}

void bk_server_stop(struct bk_server *srv) {
  if (!srv->mhd) return;
  MHD_stop_daemon(srv->mhd);
  srv->mhd = NULL;
}

void bk_server_close(struct bk_server *srv) {
  bk_server_stop(srv);
  bk_db_close(srv->db);
  srv->db = NULL;
  bk_blobstore_close(srv->blobs);
  srv->blobs = NULL;
  bk_ratelimit_free(srv->rl);
  srv->rl = NULL;
  free(srv->listen_host);
  free(srv->data_dir);
  free(srv->public_url);
  srv->listen_host = srv->data_dir = srv->public_url = NULL;
  memset(srv->secret, 0, sizeof srv->secret);
}

/* Reads data_dir/secret.key (32 bytes) or creates it durably (mode 0600). */
static int load_secret(struct bk_server *srv) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", srv->data_dir, BK_SECRET_FILE) >= (int)sizeof path)
    return bk_seterr(BK_EINVAL, "data dir path too long");
  bk_buf b;
  bk_buf_init(&b, 4096);
  int rc = bk_read_file(path, 4096, &b);
  if (rc == 0) {
    if (b.len != BK_SERVER_SECRET_LEN) {
      bk_buf_free(&b);
      return bk_seterr(BK_EFORMAT, "%s: expected %d bytes, found %zu (damaged? refusing to start)",
                       path, BK_SERVER_SECRET_LEN, b.len);
    }
    memcpy(srv->secret, b.p, BK_SERVER_SECRET_LEN);
    bk_buf_free(&b);
    return 0;
  }
  bk_buf_free(&b);
  if (rc != BK_ENOTFOUND) return rc;
  uint8_t key[BK_SERVER_SECRET_LEN];
  rc = bk_random_bytes(key, sizeof key);
  if (!rc)
    rc = bk_write_file_durable_mode(srv->data_dir, BK_SECRET_FILE, key, sizeof key, 0600);
  if (!rc) memcpy(srv->secret, key, sizeof key);
  memset(key, 0, sizeof key);
  return rc;
}

int bk_server_open(struct bk_server *srv, const struct bk_server_config *cfg) {
  memset(srv, 0, sizeof *srv);
  int rc = parse_listen(cfg->listen ? cfg->listen : "127.0.0.1:8080", &srv->listen_host,
                        &srv->port);
  if (rc) return bk_seterr(BK_EINVAL, "bad listen address '%s' (want HOST:PORT)", cfg->listen);
  srv->data_dir = strdup(cfg->data_dir && *cfg->data_dir ? cfg->data_dir : "./var");
  if (!srv->data_dir) return BK_ENOMEM;
  if (cfg->public_url && *cfg->public_url) {
    if (strncmp(cfg->public_url, "http://", 7) && strncmp(cfg->public_url, "https://", 8))
      return bk_seterr(BK_EINVAL, "--public-url must start with http:// or https://");
    srv->public_url = strdup(cfg->public_url);
    if (!srv->public_url) return BK_ENOMEM;
    size_t n = strlen(srv->public_url);
    while (n > 8 && srv->public_url[n - 1] == '/') srv->public_url[--n] = 0;
  }
  srv->max_conns = cfg->max_conns ? cfg->max_conns : 256;
  srv->conn_timeout = cfg->conn_timeout;
  srv->threads = cfg->threads;
  srv->body_timeout = cfg->body_timeout ? cfg->body_timeout : BK_BODY_TIMEOUT_DEFAULT;
  srv->reverify_ms =
      1000 * (int64_t)(cfg->reverify_set ? cfg->reverify_after_s : BK_REVERIFY_DEFAULT_S);
  srv->quiet = cfg->quiet;
  if (cfg->rate_quota[0] || cfg->rate_quota[1] || cfg->rate_quota[2]) {
    rc = bk_ratelimit_new(cfg->rate_quota, cfg->rate_window, &srv->rl);
    if (rc) return rc;
  }

  rc = bk_mkdir_p(srv->data_dir, 0700);
  if (rc) return bk_seterr(rc, "cannot create data dir %s: %s", srv->data_dir, bk_errmsg());
  rc = load_secret(srv);
  if (rc) return rc;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", srv->data_dir, BK_BLOBS_DIR) >= (int)sizeof path)
    return bk_seterr(BK_EINVAL, "data dir path too long");
  rc = bk_blobstore_open(path, &srv->blobs);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/%s", srv->data_dir, BK_DB_FILE);
  rc = bk_db_open(path, &srv->db);
  if (rc) return rc;
  return 0;
}
