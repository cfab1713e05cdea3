/* buckets — S3 blob backend (s3:// URLs; see src/store/blob_s3.h and
 * docs/store.md "S3 backend").
 *
 * Every request goes through s3_do: one easy handle from a small pool (kept
 * connections), libcurl's SigV4 signing (x-amz-content-sha256:
 * UNSIGNED-PAYLOAD; query strings written canonical: sorted, %-encoded),
 * timeouts, and bounded retries with backoff for idempotent requests on
 * connection errors and 5xx/429. XML answers (listings, multipart) are parsed
 * with expat (src/store/s3_xml.c) from bounded buffers. Presigned URLs are
 * computed in src/store/s3_presign.c with OpenSSL's HMAC-SHA256.
 */
#include "store/blob_s3.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "buckets/error.h"
#include "store/s3_int.h"

static const char *KIND_DIR[BK_BLOB_NKINDS] = {"xorbs", "shards"};

/* ---- easy-handle pool ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static CURL *pool_get(struct s3 *s) {
  CURL *c = NULL;
  pthread_mutex_lock(&s->mu);
  if (s->nidle > 0) c = s->idle[--s->nidle];
  pthread_mutex_unlock(&s->mu);
  return c ? c : curl_easy_init();
}

/* keep: the handle's connection is healthy and may be reused */
static void pool_put(struct s3 *s, CURL *c, int keep) {
  if (keep) {
    pthread_mutex_lock(&s->mu);
    if (s->nidle < S3_POOL_MAX) {
      s->idle[s->nidle++] = c;
      c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
  }
  if (c) curl_easy_cleanup(c);
}

/* ---- request callbacks ---- */

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
  struct s3req *q = ud;
  size_t n = sz * nm;
  if (q->status >= 300 || q->status < 200) { /* error document: keep its head */
    size_t room = sizeof q->err - 1 - q->errlen;
    size_t k = n < room ? n : room;
    memcpy(q->err + q->errlen, p, k);
    q->errlen += k;
    q->err[q->errlen] = 0;
    return n;
  }
  if (q->dst) {
    size_t room = q->dst_cap - q->dst_len;
    if (n > room) { /* more than asked (a server ignoring Range): stop */
      memcpy(q->dst + q->dst_len, p, room);
      q->dst_len += room;
      q->dst_over = 1;
      return 0;
    }
    memcpy(q->dst + q->dst_len, p, n);
    q->dst_len += n;
    return n;
  }
  if (q->out) {
    if (n > q->out->max - q->out->len) {
      q->dst_over = 1;
      return 0;
    }
    return bk_buf_append(q->out, p, n) == 0 ? n : 0;
  }
  return n; /* discarded */
}

/* copies a header value (trimmed) into out[0..n) if name matches */
static int hdr_value(const char *line, size_t len, const char *name, char *out, size_t n) {
  size_t nl = strlen(name);
  if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return 0;
  const char *v = line + nl + 1, *e = line + len;
  while (v < e && (*v == ' ' || *v == '\t')) v++;
  while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ')) e--;
  size_t k = (size_t)(e - v);
  if (k >= n) k = n - 1;
  memcpy(out, v, k);
  out[k] = 0;
  return 1;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud) {
  struct s3req *q = ud;
  size_t n = sz * nm;
  char num[32];
  if (n > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (also after 100) */
    const char *sp = memchr(p, ' ', n);
    q->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    q->etag[0] = q->lastmod[0] = q->tag[0] = 0;
    q->have_clen = 0;
    return n;
  }
  hdr_value(p, n, "ETag", q->etag, sizeof q->etag);
  hdr_value(p, n, "Last-Modified", q->lastmod, sizeof q->lastmod);
  hdr_value(p, n, S3_TAG_HDR, q->tag, sizeof q->tag);
  if (hdr_value(p, n, "Content-Length", num, sizeof num)) {
    char *end;
    unsigned long long v = strtoull(num, &end, 10);
    q->have_clen = end != num && *end == 0 && num[0] != '-';
    q->clen = v;
  }
  return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *ud) {
  struct s3req *q = ud;
  size_t n = sz * nm, left = q->body_len - q->body_off;
  if (n > left) n = left;
  memcpy(p, q->body + q->body_off, n);
  q->body_off += n;
  return n;
}

static int on_seek(void *ud, curl_off_t off, int origin) {
  struct s3req *q = ud;
  if (origin != SEEK_SET || off < 0 || (uint64_t)off > q->body_len) return CURL_SEEKFUNC_FAIL;
  q->body_off = (size_t)off;
  return CURL_SEEKFUNC_OK;
}

/* ---- one request ---- */

static int build_url(const struct s3 *s, const struct s3req *q, char *url, size_t n) {
  int w = snprintf(url, n, "%s/%s%s%s%s%s", s->endpoint, s->bucket, q->key ? "/" : "",
                   q->key ? q->key : "", q->query ? "?" : "", q->query ? q->query : "");
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "s3://%s: request URL too long", s->bucket);
  return 0;
}

static struct curl_slist *build_headers(const struct s3 *s, const struct s3req *q) {
  struct curl_slist *l = NULL, *t;
  /* (no "Expect:" to drop 100-continue: curl 7.88 would sign the empty header) */
  const char *fixed[] = {"x-amz-content-sha256: UNSIGNED-PAYLOAD", s->token_hdr};
  for (size_t i = 0; i < 2; i++) {
    if (!fixed[i]) continue;
    if (!(t = curl_slist_append(l, fixed[i]))) goto fail;
    l = t;
  }
  for (size_t i = 0; i < S3_MAXHDR && q->hdr[i]; i++) {
    if (!(t = curl_slist_append(l, q->hdr[i]))) goto fail;
    l = t;
  }
  return l;
fail:
  curl_slist_free_all(l);
  return NULL;
}

static void set_method(CURL *c, struct s3req *q) {
  if (!strcmp(q->method, "HEAD")) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (!strcmp(q->method, "PUT")) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, q);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, q);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
  } else if (!strcmp(q->method, "POST")) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? q->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
  } else if (strcmp(q->method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
  }
}

static void setup(const struct s3 *s, CURL *c, struct s3req *q, const char *url,
                  struct curl_slist *hl, char *errbuf) {
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
  curl_easy_setopt(c, CURLOPT_USERNAME, s->akid);
  curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_ms);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)s->timeout_s);
  curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
  /* big socket reads / writes: libcurl's defaults (16 KiB down, 64 KiB up)
   * cost a syscall and a wakeup per 16 KiB of every xorb byte */
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, S3_IO_BUFFER);
  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, S3_IO_BUFFER);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
  set_method(c, q);
}

static void reset_response(struct s3req *q) {
  q->status = 0;
  q->etag[0] = q->lastmod[0] = q->err[0] = 0;
  q->errlen = 0;
  q->have_clen = 0;
  q->clen = 0;
  q->body_off = 0;
  q->dst_len = 0;
  q->dst_over = 0;
  if (q->out) q->out->len = q->out_base;
}

static int transient(CURLcode cc, long status, int over) {
  if (cc == CURLE_OK) return status >= 500 || status == 429;
  if (cc == CURLE_WRITE_ERROR && over) return 0; /* our own stop */
  return cc != CURLE_OUT_OF_MEMORY && cc != CURLE_URL_MALFORMAT;
}

static void backoff(int attempt) {
  long ms = 50L << (attempt < 5 ? attempt : 5);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Performs q (retrying transient failures of idempotent requests); 0 when an
 * HTTP answer arrived (q->status says which), BK_ENET when none did. */
int s3_do(struct s3 *s, struct s3req *q) {
  char url[S3_URL_MAX], errbuf[CURL_ERROR_SIZE];
  int rc = build_url(s, q, url, sizeof url);
  if (rc) return rc;
  struct curl_slist *hl = build_headers(s, q);
  if (!hl) return bk_seterr(BK_ENOMEM, "out of memory");
  if (q->out) q->out_base = q->out->len;
  CURLcode cc = CURLE_OK;
  for (int attempt = 0;; attempt++) {
    CURL *c = pool_get(s);
    if (!c) {
      curl_slist_free_all(hl);
      return bk_seterr(BK_ENOMEM, "out of memory");
    }
    reset_response(q);
    errbuf[0] = 0;
    setup(s, c, q, url, hl, errbuf);
    cc = curl_easy_perform(c);
    pool_put(s, c, cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && q->dst_over));
    if (!transient(cc, q->status, q->dst_over) || !q->idempotent || attempt >= s->retries) break;
    backoff(attempt);
  }
  curl_slist_free_all(hl);
  if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && q->dst_over)) return 0;
  return bk_seterr(BK_ENET, "s3://%s: %s %s at %s failed: %s", s->bucket, q->method,
                   q->key ? q->key : "(bucket)", s->endpoint, errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

/* The error for a non-2xx answer to q (what: the operation, for the message). */
int s3_status_err(const struct s3 *s, const struct s3req *q, const char *what) {
  char code[64] = "";
  if (q->errlen) s3_xml_error_code(q->err, q->errlen, code, sizeof code);
  const char *obj = q->key ? q->key : "(bucket)";
  long st = q->status;
  if (st == 404)
    return bk_seterr(BK_ENOTFOUND, "s3://%s/%s: not found (%s)", s->bucket, obj, what);
  if (st == 401 || st == 403)
    return bk_seterr(BK_EPERM, "s3://%s: %s refused (%ld %s): check AWS_ACCESS_KEY_ID / "
                     "AWS_SECRET_ACCESS_KEY and the bucket's permissions", s->bucket, what, st, code);
  if (st >= 500 || st == 429)
    return bk_seterr(BK_ENET, "s3://%s: %s: object store busy or failing (%ld %s), retry", s->bucket,
                     what, st, code);
  return bk_seterr(BK_EIO, "s3://%s/%s: %s: unexpected answer %ld %s", s->bucket, obj, what, st, code);
}

/* ---- names ---- */

const char *s3_kind_dir(bk_blob_kind k) { return KIND_DIR[k]; }

int s3_key(const struct s3 *s, bk_blob_kind k, const bk_hash *h, char *out, size_t n) {
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
  int w = snprintf(out, n, "%s%s/%s", s->prefix, KIND_DIR[k], hex);
  if (w < 0 || (size_t)w >= n) return bk_seterr(BK_ELIMIT, "object key too long");
  return 0;
}

/* SigV4 URI encoding of a query value: unreserved characters stay, every other
 * byte is %XX (upper case). */
int s3_uri_encode(const char *in, char *out, size_t n) {
  static const char HX[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
    int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
               *p == '-' || *p == '_' || *p == '.' || *p == '~';
    if (o + (keep ? 1 : 3) >= n) return bk_seterr(BK_ELIMIT, "query value too long");
    if (keep) {
      out[o++] = (char)*p;
      continue;
    }
    out[o++] = '%';
    out[o++] = HX[*p >> 4];
    out[o++] = HX[*p & 15];
  }
  out[o] = 0;
  return 0;
}

/* ---- whole blobs ---- */

/* HEAD key: 0 with size/etag/lastmod, BK_ENOTFOUND, or another error. */
int s3_head(struct s3 *s, const char *key, uint64_t *size, char *etag, size_t etag_n,
            char *lastmod, size_t lm_n) {
  struct s3req q = {.method = "HEAD", .key = key, .idempotent = 1};
  int rc = s3_do(s, &q);
  if (rc) return rc;
  if (q.status != 200) return s3_status_err(s, &q, "HEAD");
  if (!q.have_clen) return bk_seterr(BK_EIO, "s3://%s/%s: HEAD without Content-Length", s->bucket, key);
  if (size) *size = q.clen;
  if (etag) snprintf(etag, etag_n, "%s", q.etag);
  if (lastmod) snprintf(lastmod, lm_n, "%s", q.lastmod);
  return 0;
}

/* PUT data as key; replace = 0: If-None-Match: * (412 → BK_EEXIST). */
int s3_put_key(struct s3 *s, const char *key, const void *data, size_t len, int replace,
               const char *tag) {
  struct s3req q = {.method = "PUT", .key = key, .body = data, .body_len = len, .idempotent = 1};
  char th[sizeof S3_TAG_HDR + BK_BLOB_TAG_MAX + 2];
  int nh = 0;
  if (!replace) q.hdr[nh++] = "If-None-Match: *";
  if (tag && tag[0]) {
    snprintf(th, sizeof th, "%s: %s", S3_TAG_HDR, tag);
    q.hdr[nh++] = th;
  }
  int rc = s3_do(s, &q);
  if (rc) return rc;
  if (q.status == 412) return bk_seterr(BK_EEXIST, "s3://%s/%s exists", s->bucket, key);
  if (q.status != 200) return s3_status_err(s, &q, "PUT");
  return 0;
}

int s3_delete_key(struct s3 *s, const char *key, const char *query) {
  struct s3req q = {.method = "DELETE", .key = key, .query = query, .idempotent = 1};
  int rc = s3_do(s, &q);
  if (rc) return rc;
  if (q.status != 204 && q.status != 200) return s3_status_err(s, &q, "DELETE");
  return 0;
}

static int s3_put(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, const void *data,
                  size_t len, int replace) {
  struct s3 *s = (struct s3 *)be;
  if (len > s->part_size) return s3_put_multipart(s, k, h, data, len, replace);
  char key[S3_KEY_MAX];
  int rc = s3_key(s, k, h, key, sizeof key);
  return rc ? rc : s3_put_key(s, key, data, len, replace, NULL);
}

/* non-zero change token from ETag and Last-Modified (FNV-1a 64) */
static int64_t stamp_of(const char *etag, const char *lastmod) {
  uint64_t x = 1469598103934665603ull;
  for (const char *p = etag; *p; p++) x = (x ^ (unsigned char)*p) * 1099511628211ull;
  x = (x ^ '|') * 1099511628211ull;
  for (const char *p = lastmod; *p; p++) x = (x ^ (unsigned char)*p) * 1099511628211ull;
  int64_t v = (int64_t)(x >> 1);
  return v ? v : 1;
}

static int s3_stat(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, uint64_t *size,
                   int64_t *stamp) {
  struct s3 *s = (struct s3 *)be;
  char key[S3_KEY_MAX], etag[S3_ETAG_MAX], lm[64];
  int rc = s3_key(s, k, h, key, sizeof key);
  if (rc) return rc;
  rc = s3_head(s, key, size, etag, sizeof etag, lm, sizeof lm);
  if (rc) return rc;
  if (stamp) *stamp = stamp_of(etag, lm);
  return 0;
}

/* HEAD: the writer's tag (metadata) and the size in one request */
static int s3_tag(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h, char *out, uint64_t *size) {
  struct s3 *s = (struct s3 *)be;
  char key[S3_KEY_MAX];
  int rc = s3_key(s, k, h, key, sizeof key);
  if (rc) return rc;
  struct s3req q = {.method = "HEAD", .key = key, .idempotent = 1};
  if ((rc = s3_do(s, &q))) return rc;
  if (q.status != 200) return s3_status_err(s, &q, "HEAD");
  if (!q.have_clen) return bk_seterr(BK_EIO, "s3://%s/%s: HEAD without Content-Length", s->bucket, key);
  /* a tag is ours only in our own form (hex); anything else is no tag */
  size_t n = strlen(q.tag);
  int hex = n > 0 && n < BK_BLOB_TAG_MAX && strspn(q.tag, "0123456789abcdef") == n;
  snprintf(out, BK_BLOB_TAG_MAX, "%s", hex ? q.tag : "");
  if (size) *size = q.clen;
  return 0;
}

static int s3_del(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h) {
  struct s3 *s = (struct s3 *)be;
  char key[S3_KEY_MAX];
  int rc = s3_key(s, k, h, key, sizeof key);
  if (rc) return rc;
  /* S3 answers 204 to a DELETE of a missing key: HEAD first for BK_ENOTFOUND */
  if ((rc = s3_head(s, key, NULL, NULL, 0, NULL, 0))) return rc;
  return s3_delete_key(s, key, NULL);
}

/* ---- listing ---- */

struct list_ctx {
  struct s3 *s;
  bk_blob_kind kind;
  size_t plen, kplen; /* prefix, prefix + kind dir + "/" */
  bk_blob_list_cb cb;
  bk_blob_stray_cb stray;
  void *ctx;
};

static int is_lower_hex64(const char *p) {
  for (int i = 0; i < BK_HASH_HEX_LEN; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return 0;
  return p[BK_HASH_HEX_LEN] == 0;
}

static int list_rec(void *ctx, const struct s3_xml_rec *r) {
  struct list_ctx *l = ctx;
  if (strlen(r->key) < l->kplen) return 0; /* not under our prefix: cannot happen */
  const char *name = r->key + l->kplen;
  bk_hash h;
  if (is_lower_hex64(name) && bk_hash_parse(name, &h) == 0)
    return l->cb(l->ctx, l->kind, &h, r->size, r->when);
  return l->stray ? l->stray(l->ctx, r->key + l->plen, r->size, r->when) : 0;
}

/* One ListObjectsV2 page under pfx after token; calls on_rec per object;
 * next[0] = 0 when it was the last page. */
int s3_list_page(struct s3 *s, const char *pfx, char *token, size_t token_n, s3_rec_fn on_rec,
                 void *ctx) {
  char ep[S3_KEY_MAX * 3 + 1], et[S3_TOKEN_MAX * 3 + 1], query[sizeof ep + sizeof et + 128];
  int rc = s3_uri_encode(pfx, ep, sizeof ep);
  if (!rc) rc = s3_uri_encode(token, et, sizeof et);
  if (rc) return rc;
  snprintf(query, sizeof query, "%s%s%slist-type=2&max-keys=%u&prefix=%s", token[0] ? "continuation-token=" : "",
           et, token[0] ? "&" : "", s->max_keys, ep);
  bk_buf b;
  bk_buf_init(&b, S3_XML_MAX);
  struct s3req q = {.method = "GET", .query = query, .out = &b, .idempotent = 1};
  rc = s3_do(s, &q);
  if (!rc && q.dst_over) rc = bk_seterr(BK_ELIMIT, "s3://%s: listing page over %u bytes", s->bucket, S3_XML_MAX);
  if (!rc && q.status != 200) rc = s3_status_err(s, &q, "list");
  struct s3_xml_page pg = {0};
  if (!rc) rc = s3_xml_parse(s, (const char *)b.p, b.len, "Contents", on_rec, ctx, &pg);
  bk_buf_free(&b);
  if (rc) return rc;
  token[0] = 0;
  if (!pg.truncated) return 0;
  if (!pg.next[0] || strlen(pg.next) >= token_n)
    return bk_seterr(BK_EIO, "s3://%s: truncated listing without a usable continuation token", s->bucket);
  snprintf(token, token_n, "%s", pg.next);
  return 0;
}

static int s3_list(bk_blob_backend *be, bk_blob_kind k, bk_blob_list_cb cb, bk_blob_stray_cb stray,
                   void *ctx) {
  struct s3 *s = (struct s3 *)be;
  char pfx[S3_KEY_MAX], token[S3_TOKEN_MAX] = "";
  snprintf(pfx, sizeof pfx, "%s%s/", s->prefix, KIND_DIR[k]);
  struct list_ctx l = {s, k, strlen(s->prefix), strlen(pfx), cb, stray, ctx};
  for (unsigned long page = 0; page < S3_MAX_PAGES; page++) {
    int rc = s3_list_page(s, pfx, token, sizeof token, list_rec, &l);
    if (rc || !token[0]) return rc;
  }
  return bk_seterr(BK_ELIMIT, "s3://%s: listing longer than %lu pages", s->bucket, (unsigned long)S3_MAX_PAGES);
}

/* ---- reader ---- */

struct s3_reader {
  struct bk_blob_reader base;
  struct s3 *s;
  char key[S3_KEY_MAX];
  char if_match[S3_ETAG_MAX + 16];
};

static int s3_reader_open(bk_blob_backend *be, bk_blob_kind k, const bk_hash *h,
                          struct bk_blob_reader **out) {
  struct s3 *s = (struct s3 *)be;
  struct s3_reader *r = calloc(1, sizeof *r);
  if (!r) return bk_seterr(BK_ENOMEM, "out of memory");
  char etag[S3_ETAG_MAX];
  uint64_t size = 0;
  int rc = s3_key(s, k, h, r->key, sizeof r->key);
  if (!rc) rc = s3_head(s, r->key, &size, etag, sizeof etag, NULL, 0);
  if (!rc && !etag[0]) rc = bk_seterr(BK_EIO, "s3://%s/%s: HEAD without ETag", s->bucket, r->key);
  if (rc) {
    free(r);
    return rc;
  }
  snprintf(r->if_match, sizeof r->if_match, "If-Match: %s", etag);
  r->base.be = be;
  r->base.kind = k;
  r->base.size = size;
  r->s = s;
  *out = &r->base;
  return 0;
}

/* Ranged GET of the version opened (If-Match: its ETag): a blob deleted or
 * replaced since answers BK_ESTALE, never bytes of another version. */
static int s3_reader_read_at(struct bk_blob_reader *br, uint64_t off, void *buf, size_t len,
                             size_t *got) {
  struct s3_reader *r = (struct s3_reader *)br;
  char range[64];
  snprintf(range, sizeof range, "Range: bytes=%llu-%llu", (unsigned long long)off,
           (unsigned long long)(off + len - 1));
  struct s3req q = {.method = "GET", .key = r->key, .dst = buf, .dst_cap = len, .idempotent = 1};
  __atomic_fetch_add(&r->s->reads, 1, __ATOMIC_RELAXED);
  q.hdr[0] = range;
  q.hdr[1] = r->if_match;
  int rc = s3_do(r->s, &q);
  if (rc) return rc;
  if (q.status == 412 || q.status == 404)
    return bk_seterr(BK_ESTALE, "s3://%s/%s changed or was deleted since it was opened",
                     r->s->bucket, r->key);
  if (q.status != 206 && !(q.status == 200 && off == 0)) return s3_status_err(r->s, &q, "GET");
  *got = q.dst_len;
  return 0;
}

static void s3_reader_close(struct bk_blob_reader *r) { free(r); }

/* ---- open / close ---- */

static void s3_close(bk_blob_backend *be) {
  struct s3 *s = (struct s3 *)be;
  for (int i = 0; i < s->nidle; i++) curl_easy_cleanup(s->idle[i]);
  for (int i = 0; i < s->nbufs; i++) free(s->bufs[i]);
  pthread_mutex_destroy(&s->mu);
  free(s->token_hdr);
  free(s);
}

static int probe_bucket(struct s3 *s) {
  struct s3req q = {.method = "HEAD", .idempotent = 1};
  int rc = s3_do(s, &q);
  if (rc) return rc;
  if (q.status == 404)
    return bk_seterr(BK_ENOTFOUND, "s3://%s: no such bucket at %s", s->bucket, s->endpoint);
  if (q.status != 200) return s3_status_err(s, &q, "HEAD bucket");
  return 0;
}

static int credentials(struct s3 *s) {
  const char *id = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
  const char *tok = getenv("AWS_SESSION_TOKEN");
  if (!id || !*id || !sk || !*sk)
    return bk_seterr(BK_EINVAL, "s3://%s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", s->bucket);
  if (strlen(id) >= sizeof s->akid || strlen(sk) >= sizeof s->secret || strchr(id, ':'))
    return bk_seterr(BK_EINVAL, "s3://%s: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY malformed", s->bucket);
  snprintf(s->akid, sizeof s->akid, "%s", id);
  snprintf(s->secret, sizeof s->secret, "%s", sk);
  if (tok && *tok) {
    if (strlen(tok) > 4096 || strpbrk(tok, "\r\n"))
      return bk_seterr(BK_EINVAL, "s3://%s: AWS_SESSION_TOKEN malformed", s->bucket);
    size_t n = strlen(tok) + 32;
    if (!(s->token_hdr = malloc(n))) return bk_seterr(BK_ENOMEM, "out of memory");
    snprintf(s->token_hdr, n, "x-amz-security-token: %s", tok);
  }
  return 0;
}

int bk_blob_s3_open(const char *rest, bk_blob_backend **out) {
  *out = NULL;
  pthread_once(&curl_once, curl_init_once);
  struct s3 *s = calloc(1, sizeof *s);
  if (!s) return bk_seterr(BK_ENOMEM, "out of memory");
  pthread_mutex_init(&s->mu, NULL);
  int rc = s3_parse_url(s, rest);
  if (!rc) rc = credentials(s);
  if (!rc) {
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
    s3_fill_ops(s);
    rc = probe_bucket(s);
  }
  if (rc) {
    s3_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return 0;
}

void s3_fill_ops(struct s3 *s) {
  bk_blob_backend *b = &s->base;
  b->version = BK_BLOB_BACKEND_VERSION;
  b->caps = BK_BLOB_CAP_PRESIGN | BK_BLOB_CAP_TAG;
  b->scheme = "s3";
  b->close = s3_close;
  b->put = s3_put;
  b->stat = s3_stat;
  b->del = s3_del;
  b->list = s3_list;
  b->reader_open = s3_reader_open;
  b->reader_read_at = s3_reader_read_at;
  b->reader_close = s3_reader_close;
  b->presign = s3_presign;
  b->tag = s3_tag;
  s3_fill_writer_ops(s);
}

char *s3_buf_get(struct s3 *s) {
  char *b = NULL;
  pthread_mutex_lock(&s->mu);
  if (s->nbufs > 0) b = s->bufs[--s->nbufs];
  pthread_mutex_unlock(&s->mu);
  return b ? b : malloc(s->part_size);
}

void s3_buf_put(struct s3 *s, char *buf) {
  if (!buf) return;
  pthread_mutex_lock(&s->mu);
  if (s->nbufs < S3_BUF_POOL) {
    s->bufs[s->nbufs++] = buf;
    buf = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  free(buf);
}

unsigned long bk_blob_s3_reads(const bk_blob_backend *be) {
  struct s3 *s = (struct s3 *)be;
  return __atomic_load_n(&s->reads, __ATOMIC_RELAXED);
}

/* random hex name for a staged write */
int s3_random_hex(char *out, size_t nbytes) {
  unsigned char r[32];
  if (nbytes > sizeof r || getrandom(r, nbytes, 0) != (ssize_t)nbytes)
    return bk_seterr(BK_EIO, "getrandom failed");
  for (size_t i = 0; i < nbytes; i++) sprintf(out + 2 * i, "%02x", r[i]);
  return 0;
}
