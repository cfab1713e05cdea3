/* bucketd — one HTTP request with a complete, size-capped body, and the
 * response helpers (owned by server-http).
 *
 * Life cycle: server.c (on libmicrohttpd) parses the request line and
 * headers, asks the router for the body cap of this (method, path) BEFORE any
 * body byte is read (Content-Length over the cap -> 413 at once; chunked
 * bodies are cut off at the cap -> 413), accumulates the body into req->body,
 * authenticates `Authorization: Bearer hf_...` into req->auth, then calls the
 * router exactly once. A handler answers by calling ONE of the bk_http_reply*
 * / bk_http_error functions (after any bk_http_add_header calls) and returns
 * 1. If a handler returns 1 without replying, server.c answers 500.
 *
 * Ownership: every pointer in the request is owned by server.c and valid
 * until the handler returns. Reply helpers copy (or take ownership of) what
 * they are given, as documented per function. Handlers run on MHD worker
 * threads; one request is never touched by two threads.
 *
 * Stable seam: the CAS and web helpers code against this header.
 * Add, don't rename.
 */
#ifndef BUCKETD_HTTP_H
#define BUCKETD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/accounts.h" /* enum bk_role */
#include "buckets/buf.h"

struct bk_server;

/* Who is calling. Filled from `Authorization: Bearer hf_...` before routing.
 * CAS bearer tokens (not starting with "hf_") are NOT interpreted here: the
 * CAS handler verifies them itself from the raw header. */
struct bk_principal {
  int64_t user_id;       /* 0 = anonymous */
  int64_t token_id;      /* 0 when anonymous (or a web session, see web helper) */
  int role;              /* token role: BK_ROLE_READ or BK_ROLE_WRITE; NONE when anonymous */
  int token_invalid;     /* 1 = an hf_ token was presented but is unknown/revoked */
  char name[128];        /* user name, "" when anonymous */
};

/* Where the router found (method, path) in its route tables (router.c); kept
 * in the request so that the body cap, the body start, the rate class and
 * the handler all come from one match. */
struct bk_route_pos {
  int found;     /* 1 = a row's pattern matched the path */
  int allowed;   /* 1 = ... and one row of that pattern accepts the method */
  unsigned table, group, group_end, row; /* indexes into the router's tables */
};

struct bk_kv {
  char *key;
  char *val;
};

struct bk_http_req {
  const char *method;    /* "GET", "HEAD", "POST", "PUT", "DELETE", ... */
  const char *raw_path;  /* URL path as received (still percent-encoded), no query */
  char *path;            /* percent-decoded path (%2F decoded to '/'); NUL-safe:
                            a request whose path decodes to a NUL byte or is not
                            valid UTF-8 is rejected with 400 before routing */
  const char *query;     /* raw query string after '?', "" when none */
  struct bk_kv *params;  /* decoded query parameters, in order (repeats kept) */
  size_t nparams;
  struct bk_kv *headers; /* request headers, names as sent */
  size_t nheaders;
  char client_addr[64];  /* "127.0.0.1:54321" */
  struct bk_principal auth;
  bk_buf body;           /* complete body (len 0 when none, and always empty
                            for a streamed body, below) */
  size_t body_limit;     /* the cap that was applied */
  int64_t content_length; /* the announced Content-Length (checked against the
                             cap), -1 when none was sent (chunked or no body) */
  struct bk_server *srv;

  /* Streamed body. bk_router_body_start may set body_sink for a route that
   * consumes its body as it arrives (xorb upload): every body piece then goes
   * to body_sink instead of req->body (the cap still applies: past it the
   * request is answered 413 and the handler never runs). The sink cannot
   * fail the transfer; it remembers its own errors in body_state for the
   * handler, which runs once the body is complete. body_free(body_state) is
   * called exactly once when the request ends, however it ends (client gone,
   * timeout, 413, after the handler). */
  void (*body_sink)(struct bk_http_req *req, const uint8_t *data, size_t len);
  void (*body_free)(void *body_state);
  void *body_state;
  uint64_t body_received; /* bytes of body seen so far (streamed or not) */

  /* internal (server.c / http.c) */
  void *conn;            /* struct MHD_Connection * */
  void *resp;            /* struct MHD_Response * once replied */
  int status;            /* status once replied */
  uint64_t resp_bytes;   /* body bytes of the reply (for the log line) */
  struct bk_kv *out_headers;
  size_t nout_headers;
  char err_code[48];     /* X-Error-Code of the reply, for the log */
  char request_id[24];   /* sent as X-Request-Id on every reply and logged */
  struct bk_route_pos route; /* set by bk_router_body_limit (router.h) */
};

/* ---- request accessors ---- */
/* Case-insensitive header lookup; first match or NULL. */
const char *bk_http_header(const struct bk_http_req *req, const char *name);
/* First query parameter with this exact (decoded) name, or NULL. */
const char *bk_http_param(const struct bk_http_req *req, const char *name);
/* The Bearer token from Authorization, or NULL (pointer into the header). */
const char *bk_http_bearer(const struct bk_http_req *req);
/* 1 if the method is HEAD (replies then carry headers only; the helpers take
 * care of that, handlers may still pass a body). */
int bk_http_is_head(const struct bk_http_req *req);

/* ---- response ---- */
/* Adds a response header (copied). Call before the reply function. Headers
 * with CR/LF in name or value are refused (BK_EINVAL). */
int bk_http_add_header(struct bk_http_req *req, const char *name, const char *value);
int bk_http_add_headerf(struct bk_http_req *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Body from memory (copied). content_type may be NULL (no Content-Type). */
int bk_http_reply(struct bk_http_req *req, int status, const char *content_type,
                  const void *body, size_t len);
/* Body from a bk_buf; takes ownership of its storage (the buf is emptied). */
int bk_http_reply_buf(struct bk_http_req *req, int status, const char *content_type,
                      bk_buf *body);
/* JSON text (copied), Content-Type application/json. */
int bk_http_reply_json(struct bk_http_req *req, int status, const char *json);
/* Byte range [off, off+len) of an open file; takes ownership of fd (closed
 * when the response is done, also on failure). */
int bk_http_reply_fd(struct bk_http_req *req, int status, const char *content_type,
                     int fd, uint64_t off, uint64_t len);

/* Streamed body. read() fills buf (max bytes) with the bytes at position pos
 * and returns how many it wrote (> 0), BK_HTTP_STREAM_END at the end, or
 * BK_HTTP_STREAM_ERROR to abort the connection. total = body length when
 * known (Content-Length), BK_HTTP_SIZE_UNKNOWN otherwise (chunked). free_cls
 * is called exactly once when the response is destroyed (also on failure). */
#define BK_HTTP_STREAM_END ((ssize_t)-1)
#define BK_HTTP_STREAM_ERROR ((ssize_t)-2)
#define BK_HTTP_SIZE_UNKNOWN UINT64_MAX
typedef ssize_t (*bk_http_read_fn)(void *cls, uint64_t pos, char *buf, size_t max);
int bk_http_reply_stream(struct bk_http_req *req, int status, const char *content_type,
                         uint64_t total, bk_http_read_fn read, void *cls,
                         void (*free_cls)(void *cls));

/* Error reply: sets X-Error-Code: code (if code non-NULL), X-Error-Message,
 * Content-Type application/json and the body {"error": "<message>"}. */
int bk_http_error(struct bk_http_req *req, int status, const char *code,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- the one map from BK_E* codes to HTTP ---- */
/* HTTP status for a BK_E* code, the same for the Hub API, CAS and the web
 * pages (docs/server.md, "Errors"):
 *   BK_EINVAL, BK_EFORMAT, BK_ETRUNCATED, BK_EVERSION, BK_ESIZE, BK_EHASH,
 *   BK_ECOMPRESS -> 400      BK_EAUTH -> 401     BK_EPERM -> 403
 *   BK_ENOTFOUND -> 404      BK_EEXIST, BK_EBUSY -> 409    BK_ELIMIT -> 413
 *   BK_ENOMEM, BK_EDB, BK_ESTALE, BK_ENET -> 503 (retryable: Retry-After)
 *   BK_ENOSPC -> 507         anything else (BK_EIO, ...) -> 500
 * 0 (no error) -> 200. */
int bk_http_status(int rc);
/* 1 when the status for rc asks the client to retry (503): replies for it
 * carry Retry-After: BK_HTTP_RETRY_AFTER_S. */
int bk_http_retryable(int rc);
/* 1 when rc/bk_errmsg() is the service's "region 'NAME' is unavailable: ..."
 * (BK_ENET): such a 503 carries the service's message to the client (it
 * names the region; no credentials: store URLs are never in it). */
int bk_http_region_unavailable(int rc);
#define BK_HTTP_RETRY_AFTER_S 1
/* X-Error-Code for a status when an API has no more specific one (the CAS):
 * "BadRequest", "NotFound", "ServiceUnavailable", "InsufficientStorage",
 * ... ("InternalError" for any other 5xx, "Error" for other codes). Static. */
const char *bk_http_status_code(int status);
/* Error reply for a BK_E* code: status bk_http_status(rc), Retry-After when
 * bk_http_retryable(rc), X-Error-Code code (NULL: none, as the Hub API), and
 * the message as bk_http_error. Returns 1 (the handler's "replied"). */
int bk_http_error_rc(struct bk_http_req *req, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- small helpers shared by handlers ---- */
/* Percent-decodes src[0..len) into a new NUL-terminated string; '+' is kept
 * literally unless plus_space. Returns NULL on malformed escapes, decoded NUL
 * bytes, or allocation failure. *out_len (optional) receives the length. */
char *bk_http_unescape(const char *src, size_t len, int plus_space, size_t *out_len);
/* Percent-encodes s for a URL path segment (keep_slash = 1 keeps '/') or a
 * query value (keep_slash = 0) and appends it to b. */
int bk_http_escape(bk_buf *b, const char *s, int keep_slash);
/* Parses "bytes=S-E" / "bytes=S-" / "bytes=-N" against size (RFC 9110 14.1).
 * Returns 1 with [*start, *end] inclusive when it is a satisfiable single
 * range, 0 when there is no usable Range (ignore it: full body; also for a
 * multi-range, E < S, whitespace inside the spec, signs or other characters,
 * an empty spec), -1 when unsatisfiable (416: S >= size, "-0", any range of
 * an empty body). Numbers of any length are accepted and saturate at
 * 2^64-1: a huge S is unsatisfiable, a huge E is clamped to size - 1, a huge
 * suffix N means the whole body. *start / *end are only written on 1. */
int bk_http_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *end);
/* Strict unsigned decimal s[0..e): digits only (no sign, no space), at least
 * one; values past 2^64-1 saturate to UINT64_MAX. 0 ok, -1 malformed. */
int bk_http_parse_dec(const char *s, const char *e, uint64_t *out);
/* Splits a raw request target ("/path?query#fragment") the way bucketd routes
 * it: *raw_path (still encoded), *query (between '?' and '#', "" when none;
 * the fragment is dropped) and *path, the path percent-decoded once (*path_len bytes). A path
 * whose '%' does not start a valid escape is taken literally, undecoded;
 * "%00" anywhere, a path not starting with '/' and a decoded path that is
 * not valid UTF-8 are refused. Returns 0, or the HTTP status to answer (400,
 * 500 out of memory) with *err a static message. On any return the three
 * outputs are NULL or malloc'd strings the caller frees. Pure (fuzzed). */
int bk_http_parse_target(const char *uri, char **raw_path, char **query, char **path,
                         size_t *path_len, const char **err);
/* Splits a raw query string into decoded parameters appended to
 * req->params / nparams ('+' = space; at most BK_HTTP_MAX_PARAMS). 0, or
 * BK_EINVAL (malformed escape, decoded NUL) / BK_ELIMIT / BK_ENOMEM with
 * bk_seterr; what was parsed stays in req (freed by its owner). Pure. */
#define BK_HTTP_MAX_PARAMS 256
int bk_http_parse_query(struct bk_http_req *req, const char *query);
/* 1 if s is valid UTF-8 (len bytes), else 0. */
int bk_utf8_valid(const char *s, size_t len);
/* ISO-8601 UTC with milliseconds, e.g. "2026-11-26T23:16:00.000Z" (out >= 32). */
void bk_iso8601_ms(int64_t ms, char out[32]);

#endif
