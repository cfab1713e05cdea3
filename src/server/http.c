/* bucketd — request accessors and response helpers on libmicrohttpd.
 * See http.h. Replies build an MHD_Response and park it in req->resp; the
 * connection handler in server.c queues it. */
#include "server/http.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"

/* ---- request accessors ---- */

const char *bk_http_header(const struct bk_http_req *req, const char *name) {
  for (size_t i = 0; i < req->nheaders; i++)
    if (strcasecmp(req->headers[i].key, name) == 0) return req->headers[i].val;
  return NULL;
}

const char *bk_http_param(const struct bk_http_req *req, const char *name) {
  for (size_t i = 0; i < req->nparams; i++)
    if (strcmp(req->params[i].key, name) == 0) return req->params[i].val;
  return NULL;
}

const char *bk_http_bearer(const struct bk_http_req *req) {
  const char *h = bk_http_header(req, "Authorization");
  if (!h) return NULL;
  while (*h == ' ') h++;
  if (strncasecmp(h, "Bearer ", 7) != 0) return NULL;
  h += 7;
  while (*h == ' ') h++;
  return *h ? h : NULL;
}

int bk_http_is_head(const struct bk_http_req *req) {
  return req->method && strcmp(req->method, "HEAD") == 0;
}

/* ---- response ---- */

static int hdr_ok(const char *s) {
  for (; *s; s++)
    if (*s == '\r' || *s == '\n') return 0;
  return 1;
}

int bk_http_add_header(struct bk_http_req *req, const char *name, const char *value) {
  if (!name || !value || !hdr_ok(name) || !hdr_ok(value))
    return bk_seterr(BK_EINVAL, "bad response header");
  if (req->nout_headers >= 64) return bk_seterr(BK_ELIMIT, "too many response headers");
  struct bk_kv *nh = realloc(req->out_headers, (req->nout_headers + 1) * sizeof *nh);
  if (!nh) return BK_ENOMEM;
  req->out_headers = nh;
  char *k = strdup(name), *v = strdup(value);
  if (!k || !v) {
    free(k);
    free(v);
    return BK_ENOMEM;
  }
  nh[req->nout_headers].key = k;
  nh[req->nout_headers].val = v;
  req->nout_headers++;
  return 0;
}

int bk_http_add_headerf(struct bk_http_req *req, const char *name, const char *fmt, ...) {
  char tmp[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) return bk_seterr(BK_ELIMIT, "header too long");
  return bk_http_add_header(req, name, tmp);
}

/* Attaches the accumulated headers and parks the response. */
static int finish(struct bk_http_req *req, int status, const char *ctype,
                  struct MHD_Response *r, uint64_t bytes) {
  if (!r) return bk_seterr(BK_ENOMEM, "cannot create response");
  if (req->resp) { /* a second reply: keep the first one */
    MHD_destroy_response(r);
    return bk_seterr(BK_EINVAL, "request already answered");
  }
  if (ctype) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  for (size_t i = 0; i < req->nout_headers; i++)
    MHD_add_response_header(r, req->out_headers[i].key, req->out_headers[i].val);
  if (req->request_id[0]) MHD_add_response_header(r, "X-Request-Id", req->request_id);
  req->resp = r;
  req->status = status;
  req->resp_bytes = bk_http_is_head(req) ? 0 : bytes;
  return 0;
}

int bk_http_reply(struct bk_http_req *req, int status, const char *content_type,
                  const void *body, size_t len) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
  return finish(req, status, content_type, r, len);
}

int bk_http_reply_buf(struct bk_http_req *req, int status, const char *content_type,
                      bk_buf *body) {
  struct MHD_Response *r;
  size_t len = body->len;
  if (body->len == 0) {
    bk_buf_free(body);
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  } else {
    r = MHD_create_response_from_buffer_with_free_callback(body->len, body->p, free);
    if (r) {
      body->p = NULL;
      body->len = body->cap = 0;
    }
  }
  return finish(req, status, content_type, r, len);
}

int bk_http_reply_json(struct bk_http_req *req, int status, const char *json) {
  return bk_http_reply(req, status, "application/json", json, strlen(json));
}

int bk_http_reply_fd(struct bk_http_req *req, int status, const char *content_type,
                     int fd, uint64_t off, uint64_t len) {
  struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, off);
  if (!r) {
    close(fd);
    return bk_seterr(BK_ENOMEM, "cannot create fd response");
  }
  return finish(req, status, content_type, r, len);
}

struct stream_ctx {
  bk_http_read_fn read;
  void *cls;
  void (*free_cls)(void *);
};

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max) {
  struct stream_ctx *s = cls;
  ssize_t n = s->read(s->cls, pos, buf, max);
  if (n == BK_HTTP_STREAM_END) return MHD_CONTENT_READER_END_OF_STREAM;
  if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
  return n;
}

static void stream_free(void *cls) {
  struct stream_ctx *s = cls;
  if (s->free_cls) s->free_cls(s->cls);
  free(s);
}

int bk_http_reply_stream(struct bk_http_req *req, int status, const char *content_type,
                         uint64_t total, bk_http_read_fn read, void *cls,
                         void (*free_cls)(void *cls)) {
  struct stream_ctx *s = malloc(sizeof *s);
  if (!s) {
    if (free_cls) free_cls(cls);
    return BK_ENOMEM;
  }
  s->read = read;
  s->cls = cls;
  s->free_cls = free_cls;
  struct MHD_Response *r = MHD_create_response_from_callback(
      total == BK_HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : total, 256 * 1024, stream_cb, s,
      stream_free);
  if (!r) {
    stream_free(s);
    return bk_seterr(BK_ENOMEM, "cannot create stream response");
  }
  return finish(req, status, content_type, r,
                total == BK_HTTP_SIZE_UNKNOWN ? 0 : total);
}

/* JSON string escaping for error messages. */
static int json_str(bk_buf *b, const char *s) {
  int rc = bk_buf_append_u8(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
    if (*p == '"' || *p == '\\') rc = bk_buf_printf(b, "\\%c", *p);
    else if (*p < 0x20) rc = bk_buf_printf(b, "\\u%04x", *p);
    else rc = bk_buf_append_u8(b, *p);
  }
  if (!rc) rc = bk_buf_append_u8(b, '"');
  return rc;
}

int bk_http_error(struct bk_http_req *req, int status, const char *code,
                  const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* X-Error-Message must stay a single printable line. */
  char hmsg[512];
  size_t j = 0;
  for (size_t i = 0; msg[i] && j + 1 < sizeof hmsg; i++)
    hmsg[j++] = ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f) ? '?' : msg[i];
  hmsg[j] = 0;
  if (code) {
    bk_http_add_header(req, "X-Error-Code", code);
    snprintf(req->err_code, sizeof req->err_code, "%s", code);
  }
  bk_http_add_header(req, "X-Error-Message", hmsg);
  bk_buf b;
  bk_buf_init(&b, 4096);
  int rc = bk_buf_append(&b, "{\"error\":", 9);
  if (!rc) rc = json_str(&b, msg);
  if (!rc) rc = bk_buf_append_u8(&b, '}');
  if (rc) {
    bk_buf_free(&b);
    return bk_http_reply_json(req, status, "{\"error\":\"error\"}");
  }
  return bk_http_reply_buf(req, status, "application/json", &b);
}

/* ---- the one map from BK_E* codes to HTTP (see http.h) ---- */

int bk_http_status(int rc) {
  switch (rc) {
  case BK_OK: return 200;
  case BK_EINVAL:
  case BK_EFORMAT:
  case BK_ETRUNCATED:
  case BK_EVERSION:
  case BK_ESIZE:
  case BK_EHASH:
  case BK_ECOMPRESS: return 400;
  case BK_EAUTH: return 401;
  case BK_EPERM: return 403;
  case BK_ENOTFOUND: return 404;
  case BK_EEXIST:
  case BK_EBUSY: return 409;
  case BK_ELIMIT: return 413;
  case BK_ENOMEM:
  case BK_EDB:
  case BK_ENET: /* the object store (S3) unreachable or failing: transient */
  case BK_ESTALE: return 503;
  case BK_ENOSPC: return 507;
  case BK_ENOTSUP: return 501; /* a backend lacks an optional capability */
  default: return 500;
  }
}

int bk_http_region_unavailable(int rc) {
  return rc == BK_ENET && !strncmp(bk_errmsg(), "region '", 8);
}

const char *bk_http_status_code(int status) {
  switch (status) {
  case 400: return "BadRequest";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "NotFound";
  case 405: return "MethodNotAllowed";
  case 409: return "Conflict";
  case 413: return "PayloadTooLarge";
  case 501: return "NotImplemented";
  case 503: return "ServiceUnavailable";
  case 507: return "InsufficientStorage";
  default: return status >= 500 ? "InternalError" : "Error";
  }
}

int bk_http_retryable(int rc) { return bk_http_status(rc) == 503; }

int bk_http_error_rc(struct bk_http_req *req, int rc, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (bk_http_retryable(rc)) bk_http_add_headerf(req, "Retry-After", "%d", BK_HTTP_RETRY_AFTER_S);
  bk_http_error(req, bk_http_status(rc), code, "%s", msg);
  return 1;
}

/* ---- helpers ---- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *bk_http_unescape(const char *src, size_t len, int plus_space, size_t *out_len) {
  char *out = malloc(len + 1);
  if (!out) return NULL;
  size_t j = 0;
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '%') {
      if (i + 2 >= len) goto bad;
      int h = hexval((unsigned char)src[i + 1]), l = hexval((unsigned char)src[i + 2]);
      if (h < 0 || l < 0) goto bad;
      c = (char)(h * 16 + l);
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    if (c == 0) goto bad;
    out[j++] = c;
  }
  out[j] = 0;
  if (out_len) *out_len = j;
  return out;
bad:
  free(out);
  return NULL;
}

int bk_http_escape(bk_buf *b, const char *s, int keep_slash) {
  static const char hx[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int c = *p;
    int plain = isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
                (keep_slash && c == '/');
    int rc;
    if (plain) {
      rc = bk_buf_append_u8(b, (uint8_t)c);
    } else {
      char e[3] = {'%', hx[c >> 4], hx[c & 15]};
      rc = bk_buf_append(b, e, 3);
    }
    if (rc) return rc;
  }
  return 0;
}

int bk_http_parse_dec(const char *s, const char *e, uint64_t *out) {
  if (s >= e) return -1;
  uint64_t v = 0;
  for (; s < e; s++) {
    if (*s < '0' || *s > '9') return -1;
    unsigned d = (unsigned)(*s - '0');
    /* saturate: a position past 2^64-1 is past the end of any file */
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  *out = v;
  return 0;
}

static int ows(char c) { return c == ' ' || c == '\t'; }

int bk_http_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *end) {
  if (!hdr) return 0;
  while (ows(*hdr)) hdr++;
  if (strncasecmp(hdr, "bytes=", 6) != 0) return 0;
  const char *s = hdr + 6;
  while (ows(*s)) s++;
  const char *stop = s + strlen(s);
  while (stop > s && ows(stop[-1])) stop--;
  if (memchr(s, ',', (size_t)(stop - s))) return 0; /* multi-range: serve whole body */
  const char *dash = memchr(s, '-', (size_t)(stop - s));
  if (!dash) return 0;
  uint64_t a, b;
  if (dash == s) { /* suffix: last N bytes (N saturates: "all of it") */
    if (bk_http_parse_dec(dash + 1, stop, &b)) return 0;
    if (b == 0 || size == 0) return -1;
    *start = b >= size ? 0 : size - b;
    *end = size - 1;
    return 1;
  }
  if (bk_http_parse_dec(s, dash, &a)) return 0;
  if (dash + 1 == stop) {
    b = UINT64_MAX;
  } else {
    if (bk_http_parse_dec(dash + 1, stop, &b)) return 0;
    if (b < a) return 0; /* invalid range-spec: ignore the header (RFC 9110 14.1.1) */
  }
  if (a >= size) return -1; /* also a first-pos past 2^64-1 */
  if (b >= size) b = size - 1; /* last-pos past the end: clamped */
  *start = a;
  *end = b;
  return 1;
}

int bk_http_parse_target(const char *uri, char **raw_path, char **query, char **path,
                         size_t *path_len, const char **err) {
  *raw_path = *query = *path = NULL;
  *path_len = 0;
  *err = "out of memory";
  /* path [ "?" query ] [ "#" fragment ] (clients do not send fragments) */
  const char *hash = strchr(uri, '#');
  size_t ulen = hash ? (size_t)(hash - uri) : strlen(uri);
  const char *qm = memchr(uri, '?', ulen);
  size_t plen = qm ? (size_t)(qm - uri) : ulen;
  *raw_path = strndup(uri, plen);
  *query = qm ? strndup(qm + 1, ulen - plen - 1) : strdup("");
  if (!*raw_path || !*query) return 500;
  const char *rp = *raw_path;
  *err = "bad request target";
  if (rp[0] != '/') return 400;
  *err = "NUL byte in path";
  for (size_t i = 0; i + 2 < plen; i++)
    if (rp[i] == '%' && rp[i + 1] == '0' && rp[i + 2] == '0') return 400;
  size_t dlen = 0;
  *path = bk_http_unescape(rp, plen, 0, &dlen);
  if (!*path) {
    /* A '%' that does not start an escape is taken literally: clients that
     * send keys raw (the JS client) would otherwise never reach "100%.txt".
     * Every other escape in such a path is left undecoded too. */
    *err = "out of memory";
    *path = strndup(rp, plen);
    if (!*path) return 500;
    dlen = plen;
  }
  *path_len = dlen;
  *err = "path is not valid UTF-8";
  if (!bk_utf8_valid(*path, dlen)) return 400;
  *err = NULL;
  return 0;
}

int bk_http_parse_query(struct bk_http_req *r, const char *q) {
  if (!*q) return 0;
  if (!r->params) r->params = calloc(BK_HTTP_MAX_PARAMS, sizeof *r->params);
  if (!r->params) return bk_seterr(BK_ENOMEM, "out of memory");
  while (*q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    if (len) {
      if (r->nparams >= BK_HTTP_MAX_PARAMS) return bk_seterr(BK_ELIMIT, "too many query parameters");
      const char *eq = memchr(q, '=', len);
      size_t klen = eq ? (size_t)(eq - q) : len;
      char *k = bk_http_unescape(q, klen, 1, NULL);
      char *v = eq ? bk_http_unescape(eq + 1, len - klen - 1, 1, NULL) : strdup("");
      if (!k || !v) {
        free(k);
        free(v);
        return bk_seterr(BK_EINVAL, "malformed query string");
      }
      r->params[r->nparams].key = k;
      r->params[r->nparams].val = v;
      r->nparams++;
    }
    if (!amp) break;
    q = amp + 1;
  }
  return 0;
}

int bk_utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (len - i <= n) return 0;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    i += n + 1;
  }
  return 1;
}

void bk_iso8601_ms(int64_t ms, char out[32]) {
  if (ms < 0) ms = 0;
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char tmp[24];
  strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 32, "%s.%03dZ", tmp, (int)(ms % 1000));
}
