/* bucketd — libmicrohttpd glue: connection handling, body caps, request
 * log, daemon start/stop. See server.h / http.h.
 *
 * Per request: the URI log callback (called first, with the raw URI) creates
 * the request context; the first access-handler call (headers complete)
 * parses path/query/headers, decides the body cap through the router and
 * answers 413 at once when Content-Length exceeds it; later calls append body
 * bytes (a chunked body that passes the cap is answered 413 at once, see
 * reply_too_big, and the rest discarded); the final call authenticates and
 * routes. The completion callback writes the log line and frees the context.
 *
 * Slow clients: every connection is tracked from accept to close (MHD's
 * connection notification) in a list that a watchdog thread scans four times
 * a second. A connection is in one phase: waiting for its request line and
 * headers (since accept or since its previous response ended), receiving a
 * body, or being handled/answered. The watchdog cuts (shutdown(2) on our own
 * dup of the socket, so a reused descriptor number is never touched) a
 * connection whose headers are not complete after header_timeout, or whose
 * body falls behind min_body_rate after a grace of header_timeout, or is not
 * complete after body_timeout. Phase changes are compare-and-swap, so a
 * connection is either cut or moves on, never both.
 */
#include "server/server.h"
#include "server/replicate.h"
#include "server/storecfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/blobstore.h"
#include "store/db.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/hash.h"
#include "store/settings.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/router.h"
#include "service/service.h"

#define DISCARD_MAX (16u * 1024u * 1024u)
#define DEFER_BODY_MAX (1024u * 1024u) /* see defer_reply */
#define MAX_HEADERS 128

int64_t bk_now_s(void) { return (int64_t)time(NULL); }

/* bk_now_ms, bk_mono_ms: src/core/clock.c (declared in server.h and buckets/clock.h) */

/* ---- slow-client watchdog -------------------------------------------- */

enum { PH_HEADERS, PH_BODY, PH_HANDLER, PH_CUT };
enum { CUT_NONE, CUT_HEADERS, CUT_SLOW_BODY, CUT_BODY_TIMEOUT };
static const char *const cut_names[] = {"", "header-timeout", "slow-body", "body-timeout"};

#define WATCH_PERIOD_MS 250

/* One open connection (MHD socket context). Written by its connection
 * thread, read and cut by the watchdog; linked under watch.mu. */
struct conn_track {
  struct conn_track *prev, *next;
  int fd;                   /* our dup of the socket (-1: not watched) */
  _Atomic int phase;        /* PH_* */
  _Atomic int reason;       /* CUT_* once phase is PH_CUT */
  _Atomic int64_t t_idle;   /* PH_HEADERS since (ms, monotonic) */
  _Atomic int64_t t_req;    /* request line seen (body_timeout counts from here) */
  _Atomic int64_t t_body;   /* headers complete (the body rate counts from here) */
  _Atomic uint64_t body_bytes;
  char addr[64];
};

struct watch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct conn_track *head;
  int stop;
  pthread_t thread;
  struct bk_server *srv;
};

static int64_t mono_ms_i(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves t from phase `from` to `to`; 0 when it was not in `from` (cut). */
static int track_move(struct conn_track *t, int from, int to) {
  if (!t) return 1;
  int want = from;
  return atomic_compare_exchange_strong(&t->phase, &want, to);
}

/* Why a body that has taken elapsed_ms since the request line (req_ms) /
 * the end of the headers (body_ms) with n bytes so far is overdue, or
 * CUT_NONE. body_timeout caps req_ms at 86,400 s and min_body_rate is capped
 * at 1e9, so the products fit in 64 bits. */
static int body_overdue(const struct bk_server *srv, int64_t req_ms, int64_t body_ms, uint64_t n) {
  if (req_ms > 1000 * (int64_t)srv->body_timeout) return CUT_BODY_TIMEOUT;
  int64_t grace = 1000 * (int64_t)srv->header_timeout;
  if (!srv->min_body_rate || body_ms <= grace) return CUT_NONE;
  if (body_ms > req_ms) body_ms = req_ms; /* both <= body_timeout from here on */
  uint64_t due = (uint64_t)(body_ms - grace) * srv->min_body_rate / 1000;
  return n < due ? CUT_SLOW_BODY : CUT_NONE;
}

/* Decides whether t is overdue at now; returns the CUT_* reason. */
static int track_overdue(const struct bk_server *srv, struct conn_track *t, int64_t now) {
  int ph = atomic_load(&t->phase);
  if (ph == PH_HEADERS)
    return now - atomic_load(&t->t_idle) > 1000 * (int64_t)srv->header_timeout ? CUT_HEADERS
                                                                                : CUT_NONE;
  if (ph != PH_BODY) return CUT_NONE;
  return body_overdue(srv, now - atomic_load(&t->t_req), now - atomic_load(&t->t_body),
                      atomic_load(&t->body_bytes));
}

static void log_cut(struct bk_server *srv, struct conn_track *t, int reason) {
  if (srv->quiet || reason != CUT_HEADERS) return; /* body cuts: the request's own log line */
  char ts[32], line[256];
  bk_iso8601_ms(bk_now_ms(), ts);
  int n = snprintf(line, sizeof line,
                   "%s %s - - 0 0B %.1fms header-timeout (aborted: request line and headers "
                   "not complete after %u s)\n",
                   ts, t->addr[0] ? t->addr : "-", (double)(mono_ms_i() - atomic_load(&t->t_idle)),
                   srv->header_timeout);
  if (n > 0) {
    ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)w;
  }
}

static void *watch_main(void *arg) {
  struct watch *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    if (w->stop) break;
    int64_t now = mono_ms_i();
    for (struct conn_track *t = w->head; t; t = t->next) {
      if (t->fd < 0) continue;
      int why = track_overdue(w->srv, t, now);
      if (why == CUT_NONE) continue;
      int ph = why == CUT_HEADERS ? PH_HEADERS : PH_BODY;
      if (!track_move(t, ph, PH_CUT)) continue; /* moved on meanwhile */
      atomic_store(&t->reason, why);
      shutdown(t->fd, SHUT_RDWR); /* the connection thread sees EOF and closes */
      log_cut(w->srv, t, why);
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void client_addr(struct MHD_Connection *con, char out[64]);

static void notify_conn_cb(void *cls, struct MHD_Connection *con, void **socket_context,
                           enum MHD_ConnectionNotificationCode code) {
  struct bk_server *srv = cls;
  struct watch *w = srv->watch;
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    struct conn_track *t = *socket_context;
    *socket_context = NULL;
    if (!t) return;
    pthread_mutex_lock(&w->mu);
    if (t->prev) t->prev->next = t->next;
    else w->head = t->next;
    if (t->next) t->next->prev = t->prev;
    pthread_mutex_unlock(&w->mu);
    if (t->fd >= 0) close(t->fd);
    free(t);
    return;
  }
  if (code != MHD_CONNECTION_NOTIFY_STARTED || !w) return;
  struct conn_track *t = calloc(1, sizeof *t);
  if (!t) return; /* not watched: the idle timeout still applies */
  t->fd = -1;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci) {
    /* above the descriptors select() can watch when the limit allows, so
     * the dups never push MHD's own sockets out of FD_SETSIZE */
    t->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 1024);
    if (t->fd < 0) t->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0);
  }
  client_addr(con, t->addr);
  int64_t now = mono_ms_i();
  atomic_init(&t->phase, PH_HEADERS);
  atomic_init(&t->reason, CUT_NONE);
  atomic_init(&t->t_idle, now);
  atomic_init(&t->t_req, now);
  atomic_init(&t->t_body, now);
  atomic_init(&t->body_bytes, 0);
  pthread_mutex_lock(&w->mu);
  t->next = w->head;
  if (w->head) w->head->prev = t;
  w->head = t;
  pthread_mutex_unlock(&w->mu);
  *socket_context = t;
}

static int watch_start(struct bk_server *srv) {
  struct watch *w = calloc(1, sizeof *w);
  if (!w) return BK_ENOMEM;
  w->srv = srv;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int e = pthread_mutex_init(&w->mu, NULL);
  if (!e) e = pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (!e) e = pthread_create(&w->thread, NULL, watch_main, w);
  if (e) {
    free(w);
    return bk_seterr(BK_EIO, "cannot start the connection watchdog: %s", strerror(e));
  }
  srv->watch = w;
  return 0;
}

/* Stops the thread; the list itself empties as MHD closes connections. */
static void watch_stop_thread(struct bk_server *srv) {
  struct watch *w = srv->watch;
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stop = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
}

static void watch_free(struct bk_server *srv) {
  struct watch *w = srv->watch;
  if (!w) return;
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
  srv->watch = NULL;
}

struct conn_ctx {
  struct bk_http_req req;
  struct conn_track *track; /* the connection's (NULL: not watched) */
  char *raw_uri;
  char *raw_path_buf;
  char *query_buf;
  char *method_buf;
  double t0;     /* request line seen (ms, monotonic) */
  double t_body; /* headers complete */
  int started;
  int replied;  /* a response was queued */
  int too_big;  /* body exceeded the cap */
  int raw_replied; /* the 413 was written to the socket by reply_too_big */
  int deferred; /* an error answer is prepared; sent once the small body is read */
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
  struct conn_ctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  struct bk_server *srv = cls;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  c->track = ci ? ci->socket_context : NULL;
  if (c->track) atomic_store(&c->track->t_req, mono_ms_i());
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
  struct conn_track *t = c->track;
  int cut = t ? atomic_load(&t->reason) : CUT_NONE;
  if (cut != CUT_NONE && !c->req.err_code[0])
    snprintf(c->req.err_code, sizeof c->req.err_code, "%s", cut_names[cut]);
  /* requests libmicrohttpd refused itself (headers too large, broken
   * request line) never reached the handler: log them with status 0 (a
   * header-timeout cut was logged by the watchdog) */
  if (c->started || (term != MHD_REQUEST_TERMINATED_CLIENT_ABORT && cut != CUT_HEADERS))
    log_request(cls, c, (int)term);
  /* keep-alive: the next request's headers are due header_timeout from now */
  if (t) { /* t_idle first: the watchdog reads it as soon as the phase is PH_HEADERS */
    atomic_store(&t->t_idle, mono_ms_i());
    int ph = atomic_load(&t->phase);
    while (ph != PH_CUT && ph != PH_HEADERS &&
           !atomic_compare_exchange_weak(&t->phase, &ph, PH_HEADERS)) {
    }
  }
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
  /* the watchdog leaves an answered request alone (a body that still
   * trickles in after an early answer is checked on arrival) */
  if (!track_move(c->track, PH_BODY, PH_HANDLER) && atomic_load(&c->track->phase) != PH_HANDLER)
    return MHD_NO; /* cut by the watchdog */
  c->replied = 1;
  return MHD_queue_response(con, (unsigned)r->status, r->resp);
}

struct raw_hdrs {
  char *p;
  size_t len, cap;
  int fail;
};

static enum MHD_Result raw_hdr(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
  (void)kind;
  struct raw_hdrs *h = cls;
  int n = snprintf(h->p + h->len, h->cap - h->len, "%s: %s\r\n", key, value);
  if (n < 0 || (size_t)n >= h->cap - h->len) {
    h->fail = 1;
    return MHD_NO;
  }
  h->len += (size_t)n;
  return MHD_YES;
}

/* Writes all of buf to the connection's socket within 2 s. 0 / -1. */
static int raw_send(int fd, const char *buf, size_t len) {
  double deadline = bk_mono_ms() + 2000.0;
  while (len) {
    ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      buf += w;
      len -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    double left = deadline - bk_mono_ms();
    if (left <= 0) return -1;
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    (void)poll(&pf, 1, (int)left + 1);
  }
  return 0;
}

/* A chunked body just passed the cap. libmicrohttpd (0.9.75) refuses
 * MHD_queue_response while a body is still arriving, which leaves "read the
 * whole body, then answer" or "drop the connection" — the client got a
 * 100 Continue and then a reset. Instead the complete 413 (the usual error
 * headers and JSON body, Connection: close) is written straight to the
 * socket: nothing else is written on this connection while MHD is reading
 * the body, and it writes nothing more for this request (the final call
 * returns MHD_NO, closing the connection). The write side is then shut
 * (FIN after the answer) and what is still in flight is discarded, up to
 * DISCARD_MAX. Returns 0 when the answer was sent. */
static int reply_too_big(struct MHD_Connection *con, struct conn_ctx *c) {
  struct bk_http_req *r = &c->req;
  char msg[96];
  snprintf(msg, sizeof msg, "request body too large (limit %zu bytes)", r->body_limit);
  if (!r->resp) bk_http_error(r, 413, NULL, "%s", msg); /* headers, status, log size */
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!r->resp || r->status != 413 || !ci) return -1;
  char body[160];
  int blen = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
  char buf[4096];
  struct raw_hdrs h = {buf, 0, sizeof buf, 0};
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
                   "Content-Length: %d\r\n", blen);
  h.len = (size_t)n;
  MHD_get_response_headers(r->resp, raw_hdr, &h);
  if (h.fail || h.len + 2 + (size_t)blen >= sizeof buf) return -1;
  memcpy(buf + h.len, "\r\n", 2);
  memcpy(buf + h.len + 2, body, (size_t)blen);
  if (raw_send(ci->connect_fd, buf, h.len + 2 + (size_t)blen)) return -1;
  shutdown(ci->connect_fd, SHUT_WR);
  c->raw_replied = 1;
  return 0;
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

  size_t limit = bk_router_body_limit(r);
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

/* An answer queued before the body was read makes libmicrohttpd close the
 * connection with the rest of the body unread: the kernel answers what the
 * client still sends with a reset, and a client that sends its whole body
 * before reading (curl without Expect: 100-continue, i.e. bodies up to 1 MB)
 * fails its send and never reads the answer (curl: status 000). So an error
 * prepared at the headers of a request that declares a small body
 * (Content-Length up to DEFER_BODY_MAX, no Expect) is sent after that body was
 * read and discarded; a larger or chunked body is still refused at once (the
 * client waits for 100 Continue, or reads the answer: cas_hostile.sh). */
static int defer_reply(const struct bk_http_req *r) {
  if (r->status == 413 || r->status == 431) return 0;
  const char *cl = bk_http_header(r, "Content-Length");
  if (!cl || bk_http_header(r, "Expect")) return 0;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(cl, &end, 10);
  return !errno && end != cl && !*end && v > 0 && v <= DEFER_BODY_MAX;
}

/* Counts the request against its class's quota (when limits are on) and
 * adds the Hub's RateLimit headers; answers 429 and returns 0 over quota. */
static int rate_allowed(struct bk_server *srv, struct bk_http_req *r) {
  int cls = srv->rl ? bk_router_rate_class(r) : BK_RL_NONE;
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
  if (*upload_data_size && c->started) {
    /* a body still arriving after its deadline or behind the minimum rate
     * (a trickling client that never trips the idle timeout): drop the
     * connection. The watchdog also checks while nothing arrives. */
    double now = bk_mono_ms();
    int why = body_overdue(srv, (int64_t)(now - c->t0), (int64_t)(now - c->t_body),
                           c->req.body_received + *upload_data_size);
    if (why != CUT_NONE) {
      snprintf(c->req.err_code, sizeof c->req.err_code, "%s", cut_names[why]);
      return MHD_NO;
    }
    if (c->track) atomic_fetch_add(&c->track->body_bytes, *upload_data_size);
  }
  if (c->deferred) { /* an error waits for the end of a small body */
    if (!*upload_data_size) return queue(con, c);
    c->req.body_received += *upload_data_size;
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (c->replied) { /* early reply queued; swallow whatever follows */
    c->req.body_received += *upload_data_size;
    if (*upload_data_size) *upload_data_size = 0;
    return MHD_YES;
  }
  if (!c->started) {
    /* headers complete: from here the body clock runs (set before the
     * phase changes: the watchdog reads them as soon as it is PH_BODY) */
    c->t_body = bk_mono_ms();
    if (c->track) {
      atomic_store(&c->track->t_body, mono_ms_i());
      atomic_store(&c->track->body_bytes, 0);
    }
    if (!track_move(c->track, PH_HEADERS, PH_BODY)) return MHD_NO; /* cut meanwhile */
    if (!start_request(srv, con, c, method)) return MHD_YES;
    if (!defer_reply(&c->req)) return queue(con, c);
    c->deferred = 1;
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    struct bk_http_req *r = &c->req;
    r->body_received += n;
    if (r->body_received > r->body_limit) c->too_big = 1;
    if (!c->too_big && r->body_sink) r->body_sink(r, (const uint8_t *)upload_data, n);
    else if (!c->too_big && bk_buf_append(&r->body, upload_data, n) != 0) c->too_big = 1;
    if (c->too_big) {
      bk_buf_free(&r->body);
      /* answered now; if the answer cannot be written, drop the connection */
      if (!c->raw_replied && reply_too_big(con, c)) return MHD_NO;
      c->discarded += n;
      if (c->discarded > DISCARD_MAX) return MHD_NO;
    }
    return MHD_YES;
  }
  struct bk_http_req *r = &c->req;
  if (c->raw_replied) return MHD_NO; /* the 413 is out: close the connection */
  if (c->too_big) {
    bk_http_error(r, 413, NULL, "request body too large (limit %zu bytes)", r->body_limit);
    return queue(con, c);
  }
  /* body complete: the handler may take its time (xorb verification) */
  if (!track_move(c->track, PH_BODY, PH_HANDLER)) return MHD_NO;
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

/* "127.0.0.1:8080" / "[::1]:8080" */
static void host_port(const struct bk_server *srv, char *out, size_t n) {
  int v6 = strchr(srv->listen_host, ':') != NULL;
  snprintf(out, n, "%s%s%s:%u", v6 ? "[" : "", srv->listen_host, v6 ? "]" : "",
           (unsigned)srv->port);
}

/* The listening socket, made here rather than by MHD so that a port in use is
 * told apart from other failures. SO_REUSEADDR (a port whose previous owner
 * stopped and left connections in TIME_WAIT binds at once) but never
 * SO_REUSEPORT (with it a second server on the same port would bind too and
 * the kernel would split the connections between the two). */
static int open_listener(struct bk_server *srv, const struct sockaddr_storage *ss, int *out) {
  int v6 = ss->ss_family == AF_INET6;
  socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return bk_seterr(BK_EIO, "cannot create a socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  char hp[320];
  host_port(srv, hp, sizeof hp);
  if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE)
      return bk_seterr(BK_EEXIST, "%s is already in use (is another bucketd running?)", hp);
    return bk_seterr(BK_EIO, "cannot listen on %s (%s)", hp, strerror(e));
  }
  if (listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE) /* port 0 raced with another listener */
      return bk_seterr(BK_EEXIST, "%s is already in use (is another bucketd running?)", hp);
    return bk_seterr(BK_EIO, "cannot listen on %s (%s)", hp, strerror(e));
  }
  struct sockaddr_storage got;
  socklen_t glen = sizeof got;
  if (getsockname(fd, (struct sockaddr *)&got, &glen) == 0)
    srv->port = ntohs(v6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                         : ((struct sockaddr_in *)&got)->sin_port);
  *out = fd;
  return 0;
}

/* Rewrites the serve lock's content in place ("PID URL\n"): the lock lives
 * on the file's inode, so no temp file + rename here; the content is only
 * advice for a second `serve` (no fsync: it means nothing after a crash). */
static void note_fd(int fd, const char *url) {
  char line[512];
  int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), url ? url : "starting");
  if (n <= 0 || (size_t)n >= sizeof line) return;
  if (ftruncate(fd, 0) == 0) {
    ssize_t w = pwrite(fd, line, (size_t)n, 0);
    (void)w;
  }
}

static void lock_note(struct bk_server *srv, const char *url) {
  if (srv->locked) note_fd(srv->lock_fd, url);
}

/* The bind address for srv->listen_host:srv->port into *ss; adds
 * MHD_USE_IPv6 to *flags for an IPv6 host. */
static int listen_sockaddr(const struct bk_server *srv, struct sockaddr_storage *ss,
                           unsigned *flags) {
  memset(ss, 0, sizeof *ss);
  if (strchr(srv->listen_host, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(srv->port);
    if (inet_pton(AF_INET6, srv->listen_host, &a->sin6_addr) != 1)
      return bk_seterr(BK_EINVAL, "bad IPv6 listen address '%s'", srv->listen_host);
    *flags |= MHD_USE_IPv6;
    return 0;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons(srv->port);
  if (inet_pton(AF_INET, srv->listen_host, &a->sin_addr) != 1)
    return bk_seterr(BK_EINVAL, "bad listen address '%s' (numeric IP expected)",
                     srv->listen_host);
  return 0;
}

/* The threading model. select() per connection thread measured fastest
 * (0.05 ms vs 0.13 ms per keep-alive request with poll), but it cannot watch
 * fds >= FD_SETSIZE: with many connections use poll. */
static unsigned thread_flags(const struct bk_server *srv) {
  if (srv->threads == 0)
    return MHD_USE_THREAD_PER_CONNECTION | (srv->max_conns > 900 ? MHD_USE_POLL : 0);
  return MHD_USE_AUTO;
}

/* The libmicrohttpd options for srv serving on the listening socket lfd,
 * MHD_OPTION_END-terminated in opts (room for 16). */
static void mhd_options(struct bk_server *srv, int lfd, struct MHD_OptionItem opts[16]) {
  int n = 0;
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, lfd, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)srv->max_conns, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)srv->conn_timeout, NULL};
  if (srv->max_conns_per_ip)
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                        (intptr_t)srv->max_conns_per_ip, NULL};
  /* headers + read buffer of one connection: caps the total header size */
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log_cb, srv};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed_cb, srv};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_conn_cb, srv};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL};
  if (srv->threads > 0)
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)srv->threads, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

/* After the daemon runs: the default public URL (the bound address) and the
 * serve lock's note. */
static int announce(struct bk_server *srv) {
  char u[320], hp[300];
  host_port(srv, hp, sizeof hp);
  snprintf(u, sizeof u, "http://%s", hp);
  if (!srv->public_url && !(srv->public_url = strdup(u))) {
    bk_server_stop(srv);
    return BK_ENOMEM;
  }
  lock_note(srv, u);
  return 0;
}

int bk_server_start(struct bk_server *srv) {
  struct sockaddr_storage ss;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  int rc = listen_sockaddr(srv, &ss, &flags);
  if (rc) return rc;
  flags |= thread_flags(srv);
  int lfd = -1;
  if ((rc = open_listener(srv, &ss, &lfd))) return rc;
  if ((rc = watch_start(srv))) {
    close(lfd);
    return rc;
  }
  struct MHD_OptionItem opts[16];
  mhd_options(srv, lfd, opts);
  srv->started_at = bk_now_s();
  struct MHD_Daemon *d = MHD_start_daemon(flags, srv->port, NULL, NULL, access_cb, srv,
                                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
                                          MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!d) {
    /* lfd is not closed here: libmicrohttpd may have closed it already on
     * its failure path, and closing a number twice could hit a reused one;
     * the caller exits anyway */
    int e = errno;
    watch_stop_thread(srv);
    watch_free(srv);
    char hp[320];
    host_port(srv, hp, sizeof hp);
    return bk_seterr(BK_EIO, "cannot serve on %s (%s)", hp, strerror(e));
  }
  srv->mhd = d;
  rc = bk_repl_start(srv);
  if (rc) {
    bk_server_stop(srv);
    return rc;
  }
  return announce(srv);
}

void bk_server_stop(struct bk_server *srv) {
  bk_repl_stop(srv); /* before the service can go: the thread borrows it */
  watch_stop_thread(srv);
  if (srv->mhd) MHD_stop_daemon(srv->mhd); /* closes every connection (and untracks it) */
  srv->mhd = NULL;
  watch_free(srv);
}

/* Releases the serve lock: the file goes first (still locked, so a
 * concurrent start cannot take a lock on a name that is about to vanish
 * without noticing: see lock_data_dir), then the lock. */
void bk_data_dir_unlock(const char *dir, int fd) {
  if (fd < 0) return;
  char path[4096];
  if (dir && snprintf(path, sizeof path, "%s/%s", dir, BK_PID_FILE) < (int)sizeof path)
    unlink(path);
  close(fd);
}

static void unlock_data_dir(struct bk_server *srv) {
  if (!srv->locked) return;
  bk_data_dir_unlock(srv->data_dir, srv->lock_fd);
  srv->locked = 0;
  srv->lock_fd = -1;
}

void bk_server_close(struct bk_server *srv) {
  bk_server_stop(srv);
  bk_svc_close(srv->svc);
  srv->svc = NULL;
  bk_db_close(srv->db);
  srv->db = NULL;
  bk_blobstore_close(srv->blobs);
  srv->blobs = NULL;
  bk_ratelimit_free(srv->rl);
  srv->rl = NULL;
  unlock_data_dir(srv);
  free(srv->listen_host);
  free(srv->data_dir);
  free(srv->public_url);
  free(srv->store_desc);
  srv->listen_host = srv->data_dir = srv->public_url = srv->store_desc = NULL;
  memset(srv->secret, 0, sizeof srv->secret);
}

/* The holder's "PID note" was read from a locked file: the message. */
static int lock_busy(const char *dir, const char *path, const char *info) {
  long pid = 0;
  char url[200] = "";
  if (sscanf(info, "%ld %199s", &pid, url) < 1 || pid <= 0)
    return bk_seterr(BK_EEXIST, "data dir %s is already served by another bucketd "
                                "(starting; %s is locked)", dir, path);
  if (!strcmp(url, "migrate"))
    return bk_seterr(BK_EEXIST, "data dir %s is being migrated by bucketd pid %ld (bucketd "
                                "migrate; wait for it to finish)", dir, pid);
  return bk_seterr(BK_EEXIST, "data dir %s is already served by bucketd pid %ld on %s "
                              "(stop it first, or use another --data)",
                   dir, pid, url[0] ? url : "(starting)");
}

/* One `serve` per data dir: an exclusive flock on data_dir/BK_PID_FILE, held
 * while the process lives (the kernel drops it when the process dies, so a
 * file left by a crash is stale by construction and simply taken over).
 * A lock won on a file that a stopping server unlinked meanwhile would be
 * worthless, so the locked inode must still be the one at the path. */
int bk_data_dir_lock(const char *dir, const char *note, int *out) {
  *out = -1;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, BK_PID_FILE) >= (int)sizeof path)
    return bk_seterr(BK_EINVAL, "data dir path too long");
  for (int tries = 0; tries < 16; tries++) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return bk_seterr(BK_EIO, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      char info[256];
      ssize_t n = e == EWOULDBLOCK ? pread(fd, info, sizeof info - 1, 0) : -1;
      close(fd);
      if (e != EWOULDBLOCK) return bk_seterr(BK_EIO, "cannot lock %s: %s", path, strerror(e));
      info[n > 0 ? n : 0] = 0;
      return lock_busy(dir, path, info);
    }
    struct stat a, b;
    if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
      note_fd(fd, note);
      *out = fd;
      return 0;
    }
    close(fd); /* unlinked (or replaced) between open and flock: again */
  }
  return bk_seterr(BK_EIO, "cannot lock %s: it keeps being replaced", path);
}

static int lock_data_dir(struct bk_server *srv) {
  int rc = bk_data_dir_lock(srv->data_dir, NULL, &srv->lock_fd);
  srv->locked = rc == 0;
  return rc;
}

/* ---- the token-signing secret ----
 * Source order: --secret-file; else the metadata database's setting
 * BK_SETTING_SECRET, created once by the first node (an existing
 * data_dir/secret.key is imported when the database has none, so tokens
 * issued before the upgrade stay valid). data_dir/secret.key is kept as a
 * local copy of the database's secret (0600, for downgrades and tools that
 * read it); a copy that differs from the database's stops the start. */

static int hexval(int c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* 32 raw bytes, or 64 hex chars and an optional final newline. */
static int secret_decode(const char *path, const uint8_t *p, size_t n, uint8_t out[32]) {
  if (n == BK_SERVER_SECRET_LEN) {
    memcpy(out, p, BK_SERVER_SECRET_LEN);
    return 0;
  }
  if (n == 2 * BK_SERVER_SECRET_LEN + 1 && p[n - 1] == '\n') n--;
  if (n != 2 * BK_SERVER_SECRET_LEN)
    return bk_seterr(BK_EFORMAT, "%s: expected 32 raw bytes or 64 hex characters, found %zu bytes "
                                 "(refusing to start)", path, n);
  for (size_t i = 0; i < BK_SERVER_SECRET_LEN; i++) {
    int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return bk_seterr(BK_EFORMAT, "%s: 64 bytes but not hex (want 64 hex characters or 32 raw "
                                   "bytes; refusing to start)", path);
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* --secret-file: a regular file, no group/other permission bits. */
static int secret_from_file(const char *path, uint8_t out[32]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
  if (fd < 0) return bk_seterr(BK_EIO, "--secret-file %s: %s", path, strerror(errno));
  struct stat st;
  uint8_t buf[2 * BK_SERVER_SECRET_LEN + 2];
  size_t n = 0;
  int rc = fstat(fd, &st) ? bk_seterr(BK_EIO, "--secret-file %s: %s", path, strerror(errno)) : 0;
  if (!rc && !S_ISREG(st.st_mode))
    rc = bk_seterr(BK_EINVAL, "--secret-file %s: not a regular file", path);
  if (!rc && (st.st_mode & 077))
    rc = bk_seterr(BK_EPERM, "--secret-file %s: mode %04o lets group or others access it "
                             "(chmod 600 it; refusing to start)", path, (unsigned)(st.st_mode & 07777));
  if (!rc && st.st_size != 32 && st.st_size != 64 && st.st_size != 65)
    rc = bk_seterr(BK_EFORMAT, "%s: expected 32 raw bytes or 64 hex characters, found %lld bytes "
                               "(refusing to start)", path, (long long)st.st_size);
  while (!rc && n < sizeof buf) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = bk_seterr(BK_EIO, "--secret-file %s: %s", path, strerror(errno));
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (!rc) rc = secret_decode(path, buf, n, out);
  memset(buf, 0, sizeof buf);
  return rc;
}

/* data_dir/secret.key: 1 and the 32 bytes when present, 0 when absent. */
static int secret_local_copy(const char *path, uint8_t out[32]) {
  bk_buf b;
  bk_buf_init(&b, 4096);
  int rc = bk_read_file(path, 4096, &b);
  if (rc == 0 && b.len != BK_SERVER_SECRET_LEN)
    rc = bk_seterr(BK_EFORMAT, "%s: expected %d bytes, found %zu (damaged? refusing to start)",
                   path, BK_SERVER_SECRET_LEN, b.len);
  if (rc == 0) memcpy(out, b.p, BK_SERVER_SECRET_LEN);
  if (b.p) memset(b.p, 0, b.len);
  bk_buf_free(&b);
  if (rc == BK_ENOTFOUND) return 0;
  return rc ? rc : 1;
}

/* The database's secret, created (or imported from `mine`) if it has none.
 * Read first, so that a restart writes nothing (starts on a full disk). */
static int secret_from_db(bk_db *db, const uint8_t mine[32], uint8_t out[32]) {
  size_t n = 0;
  int rc = bk_db_setting_get(db, BK_SETTING_SECRET, out, BK_SERVER_SECRET_LEN, &n);
  if (rc == BK_ENOTFOUND)
    rc = bk_db_setting_add_once(db, BK_SETTING_SECRET, mine, BK_SERVER_SECRET_LEN, out,
                                BK_SERVER_SECRET_LEN, &n);
  if (rc == BK_EFORMAT || (!rc && n != BK_SERVER_SECRET_LEN))
    return bk_seterr(BK_EFORMAT, "database setting %s is not %d bytes (damaged? refusing to start)",
                     BK_SETTING_SECRET, BK_SERVER_SECRET_LEN);
  return rc;
}

/* --db/--blobs: no data dir, so no local copy: the database's secret
 * (created from fresh random bytes by the first node). */
static int load_secret_db(struct bk_server *srv) {
  uint8_t mine[BK_SERVER_SECRET_LEN], key[BK_SERVER_SECRET_LEN];
  int rc = bk_random_bytes(mine, sizeof mine);
  if (!rc) rc = secret_from_db(srv->db, mine, key);
  if (!rc) memcpy(srv->secret, key, sizeof key);
  memset(mine, 0, sizeof mine);
  memset(key, 0, sizeof key);
  return rc;
}

static int load_secret(struct bk_server *srv, const char *secret_file) {
  if (secret_file && *secret_file) return secret_from_file(secret_file, srv->secret);
  if (!srv->data_dir) return load_secret_db(srv);
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", srv->data_dir, BK_SECRET_FILE) >= (int)sizeof path)
    return bk_seterr(BK_EINVAL, "data dir path too long");
  uint8_t local[BK_SERVER_SECRET_LEN], key[BK_SERVER_SECRET_LEN];
  int have = secret_local_copy(path, local);
  int rc = have < 0 ? have : have ? 0 : bk_random_bytes(local, sizeof local);
  if (!rc) rc = secret_from_db(srv->db, local, key);
  if (!rc && have && memcmp(local, key, sizeof key))
    rc = bk_seterr(BK_EEXIST, "%s differs from the token-signing secret in the database (shared by "
                              "every node on it); move it away to use the database's secret, or "
                              "pass --secret-file (refusing to start)", path);
  if (!rc && !have)
    rc = bk_write_file_durable_mode(srv->data_dir, BK_SECRET_FILE, key, sizeof key, 0600);
  if (!rc) memcpy(srv->secret, key, sizeof key);
  memset(local, 0, sizeof local);
  memset(key, 0, sizeof key);
  return rc;
}

/* Request rate limits (off when no class has a quota): in process, or in
 * the database (--rate-limit-shared) keyed from the shared secret. */
static int open_ratelimit(struct bk_server *srv, const struct bk_server_config *cfg) {
  if (!cfg->rate_quota[0] && !cfg->rate_quota[1] && !cfg->rate_quota[2]) return 0;
  if (!cfg->rate_limit_shared) return bk_ratelimit_new(cfg->rate_quota, cfg->rate_window, &srv->rl);
  static const char label[] = "bucketd rate-limit caller v1";
  bk_hash k;
  bk_keyed_hash(srv->secret, label, sizeof label - 1, &k);
  int rc = bk_ratelimit_new_shared(cfg->rate_quota, cfg->rate_window, srv->db, k.b, &srv->rl);
  memset(&k, 0, sizeof k);
  return rc;
}

/* --data DIR: created on first start, locked (one serve per data dir),
 * DIR/blobs and DIR/buckets.db. */
static int open_data_dir(struct bk_server *srv) {
  int rc = bk_mkdir_p(srv->data_dir, 0700);
  if (rc) return bk_seterr(rc, "cannot create data dir %s: %s", srv->data_dir, bk_errmsg());
  rc = lock_data_dir(srv);
  if (rc) return rc;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", srv->data_dir, BK_BLOBS_DIR) >= (int)sizeof path)
    return bk_seterr(BK_EINVAL, "data dir path too long");
  rc = bk_blobstore_open(path, &srv->blobs);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/%s", srv->data_dir, BK_DB_FILE);
  rc = bk_db_open(path, &srv->db);
  if (rc) return rc;
  struct bk_store_choice c = {.data = srv->data_dir};
  char desc[1200];
  bk_store_describe(&c, desc, sizeof desc);
  srv->store_desc = strdup(desc);
  return srv->store_desc ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
}

/* --db URL --blobs URL: shared by every node, so no lock and no data dir.
 * Error messages name the URLs masked (a password never reaches a log). */
static int open_urls(struct bk_server *srv, const struct bk_server_config *cfg) {
  struct bk_store_choice c = {.db = cfg->db_url, .blobs = cfg->blob_url};
  char desc[1200], m[512];
  bk_store_describe(&c, desc, sizeof desc);
  srv->store_desc = strdup(desc);
  if (!srv->store_desc) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = bk_blobstore_open_url(cfg->blob_url, &srv->blobs);
  if (!rc) rc = bk_db_open_url(cfg->db_url, &srv->db);
  if (!rc) return 0;
  snprintf(m, sizeof m, "%s", bk_errmsg());
  bk_url_scrub(cfg->db_url, m, sizeof m);
  bk_url_scrub(cfg->blob_url, m, sizeof m);
  return bk_seterr(rc, "cannot open the store (%s): %s", desc, m);
}

/* --region NAME: must name a configured region (without regions: us/eu, a
 * label only); kept as the default client region. */
static int open_region(struct bk_server *srv, const char *region) {
  if (!region || !*region) return 0;
  if (strlen(region) >= sizeof srv->region || bk_svc_region_check_name(srv->svc, region) != 0)
    return bk_seterr(BK_EINVAL, "--region: %s", bk_errmsg());
  snprintf(srv->region, sizeof srv->region, "%s", region);
  return 0;
}

int bk_server_open(struct bk_server *srv, const struct bk_server_config *cfg) {
  memset(srv, 0, sizeof *srv);
  srv->lock_fd = -1;
  int rc = parse_listen(cfg->listen ? cfg->listen : "127.0.0.1:8080", &srv->listen_host,
                        &srv->port);
  if (rc) return bk_seterr(BK_EINVAL, "bad listen address '%s' (want HOST:PORT)", cfg->listen);
  if (!cfg->db_url || !cfg->blob_url) {
    srv->data_dir = strdup(cfg->data_dir && *cfg->data_dir ? cfg->data_dir : "./var");
    if (!srv->data_dir) return BK_ENOMEM;
  }
  if (cfg->public_url && *cfg->public_url) {
    if (strncmp(cfg->public_url, "http://", 7) && strncmp(cfg->public_url, "https://", 8))
      return bk_seterr(BK_EINVAL, "--public-url must start with http:// or https://");
    srv->public_url = strdup(cfg->public_url);
    if (!srv->public_url) return BK_ENOMEM;
    size_t n = strlen(srv->public_url);
    while (n > 8 && srv->public_url[n - 1] == '/') srv->public_url[--n] = 0;
  }
  srv->max_conns = cfg->max_conns ? cfg->max_conns : BK_MAX_CONNS_DEFAULT;
  srv->conn_timeout = cfg->conn_timeout;
  srv->threads = cfg->threads;
  srv->body_timeout = cfg->body_timeout ? cfg->body_timeout : BK_BODY_TIMEOUT_DEFAULT;
  srv->dedup_scope = cfg->dedup_scope;
  if (srv->body_timeout > 86400) srv->body_timeout = 86400; /* keeps body_overdue in range */
  srv->header_timeout = cfg->header_timeout ? cfg->header_timeout : BK_HEADER_TIMEOUT_DEFAULT;
  srv->min_body_rate = cfg->min_body_rate;
  if (srv->min_body_rate > 1000000000u) srv->min_body_rate = 1000000000u;
  srv->max_conns_per_ip = cfg->max_conns_per_ip;
  srv->reverify_ms =
      1000 * (int64_t)(cfg->reverify_set ? cfg->reverify_after_s : BK_REVERIFY_DEFAULT_S);
  srv->quiet = cfg->quiet;
  srv->direct_downloads = cfg->direct_downloads != 0;

  rc = cfg->db_url && cfg->blob_url ? open_urls(srv, cfg) : open_data_dir(srv);
  if (rc) return rc;
  rc = load_secret(srv, cfg->secret_file);
  if (rc) return rc;
  rc = open_ratelimit(srv, cfg);
  if (rc) return rc;
  /* blob_url names the borrowed store: with regions configured it must be a region's (docs/regions.md) */
  struct bk_svc_config sc = {.db = srv->db, .blobs = srv->blobs,
                             .blob_url = cfg->db_url && cfg->blob_url ? cfg->blob_url : NULL,
                             .dedup_scope = srv->dedup_scope,
                             .reverify_ms = srv->reverify_ms,
                             .direct_downloads = srv->direct_downloads};
  rc = bk_svc_open(&sc, &srv->svc);
  if (rc) return rc;
  return open_region(srv, cfg->region);
}
