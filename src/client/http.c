/* buckets client — HTTP over libcurl: handle pool, retries, capped bodies. */
#include "buckets/names.h"
#include "client/http.h"

#include <curl/curl.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buckets/error.h"

#define POOL_MAX 64

struct bk_http {
  pthread_mutex_t mu;
  CURL *free_handles[POOL_MAX];
  int nfree;
  unsigned timeout_s, retries;
  char region[33]; /* $HF_BUCKETS_REGION at creation ("" = none): X-Buckets-Region */
};

/* $HF_BUCKETS_REGION (docs/regions.md): the region this client runs in,
 * sent as X-Buckets-Region on every request so reconstructions point at the
 * copies there. Empty or unset = none; anything but a region name
 * ([a-z][a-z0-9-]{0,31}) is refused (it would go into a header). */
static int env_region(char out[33]) {
  const char *v = getenv("HF_BUCKETS_REGION");
  out[0] = 0;
  if (!v || !*v) return 0;
  if (!bk_region_name_valid(v))
    return bk_seterr(BK_EINVAL,
                     "HF_BUCKETS_REGION='%.40s' is not a region name (a-z, 0-9 and '-', at most "
                     "32, starting with a letter)",
                     v);
  memcpy(out, v, strlen(v) + 1);
  return 0;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int bk_http_new(unsigned timeout_s, unsigned retries, bk_http **out) {
  pthread_once(&g_once, global_init);
  char region[33];
  int rc = env_region(region);
  if (rc) return rc;
  bk_http *h = calloc(1, sizeof *h);
  if (!h) return bk_seterr(BK_ENOMEM, "out of memory");
  memcpy(h->region, region, sizeof region);
  pthread_mutex_init(&h->mu, NULL);
  h->timeout_s = timeout_s ? timeout_s : 60;
  h->retries = retries;
  *out = h;
  return 0;
}

void bk_http_free(bk_http *h) {
  if (!h) return;
  for (int i = 0; i < h->nfree; i++) curl_easy_cleanup(h->free_handles[i]);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

static CURL *borrow(bk_http *h) {
  CURL *c = NULL;
  pthread_mutex_lock(&h->mu);
  if (h->nfree > 0) c = h->free_handles[--h->nfree];
  pthread_mutex_unlock(&h->mu);
  if (!c) c = curl_easy_init();
  return c;
}

static void give_back(bk_http *h, CURL *c) {
  pthread_mutex_lock(&h->mu);
  if (h->nfree < POOL_MAX) {
    h->free_handles[h->nfree++] = c;
    c = NULL;
  }
  pthread_mutex_unlock(&h->mu);
  if (c) curl_easy_cleanup(c);
}

void bk_http_resp_free(bk_http_resp *r) {
  if (!r) return;
  bk_buf_free(&r->body);
  free(r->link_next);
  free(r->error_code);
  free(r->error_message);
  free(r->content_type);
  memset(r, 0, sizeof *r);
}

typedef struct wctx {
  const bk_curl_req *rq;
  bk_http_resp *rs;
  int over;
  int sink_err;
} wctx;

static size_t on_body(char *ptr, size_t sz, size_t n, void *ud) {
  wctx *w = ud;
  size_t len = sz * n;
  w->rs->bytes_in += len;
  if (w->rq->sink && w->rs->status >= 200 && w->rs->status < 300) {
    if (w->rq->sink(w->rq->sink_ctx, ptr, len)) {
      w->sink_err = 1;
      return 0;
    }
    return len;
  }
  if (bk_buf_append(&w->rs->body, ptr, len)) {
    w->over = 1;
    return 0;
  }
  return len;
}

static char *trim_dup(const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)*s)) s++, n--;
  while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
  return strndup(s, n);
}

/* Extracts the URL of rel="next" from a Link header value. */
static char *link_next(const char *v, size_t n) {
  const char *end = v + n;
  const char *p = v;
  while (p < end) {
    const char *lt = memchr(p, '<', (size_t)(end - p));
    if (!lt) return NULL;
    const char *gt = memchr(lt, '>', (size_t)(end - lt));
    if (!gt) return NULL;
    const char *comma = memchr(gt, ',', (size_t)(end - gt));
    const char *seg_end = comma ? comma : end;
    const char *q = gt;
    while (q < seg_end) {
      if ((size_t)(seg_end - q) >= 10 && strncasecmp(q, "rel=\"next\"", 10) == 0)
        return strndup(lt + 1, (size_t)(gt - lt - 1));
      if ((size_t)(seg_end - q) >= 8 && strncasecmp(q, "rel=next", 8) == 0)
        return strndup(lt + 1, (size_t)(gt - lt - 1));
      q++;
    }
    p = seg_end + (comma ? 1 : 0);
  }
  return NULL;
}

static size_t on_header(char *buf, size_t sz, size_t n, void *ud) {
  wctx *w = ud;
  size_t len = sz * n;
  if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
    /* new response (after a redirect or 100-continue): reset */
    const char *sp = memchr(buf, ' ', len);
    if (sp) w->rs->status = strtol(sp + 1, NULL, 10);
    w->rs->has_content_length = 0;
    return len;
  }
  const char *colon = memchr(buf, ':', len);
  if (!colon) return len;
  size_t kl = (size_t)(colon - buf);
  const char *v = colon + 1;
  size_t vl = len - kl - 1;
  if (kl == 4 && strncasecmp(buf, "link", 4) == 0) {
    char *nx = link_next(v, vl);
    if (nx) {
      free(w->rs->link_next);
      w->rs->link_next = nx;
    }
  } else if (kl == 12 && strncasecmp(buf, "x-error-code", 12) == 0) {
    free(w->rs->error_code);
    w->rs->error_code = trim_dup(v, vl);
  } else if (kl == 15 && strncasecmp(buf, "x-error-message", 15) == 0) {
    free(w->rs->error_message);
    w->rs->error_message = trim_dup(v, vl);
  } else if (kl == 14 && strncasecmp(buf, "content-length", 14) == 0) {
    char *cl = trim_dup(v, vl), *end = NULL;
    unsigned long long x = cl ? strtoull(cl, &end, 10) : 0;
    w->rs->has_content_length = cl && end != cl && *end == 0;
    w->rs->content_length = x;
    free(cl);
  } else if (kl == 12 && strncasecmp(buf, "content-type", 12) == 0) {
    free(w->rs->content_type);
    w->rs->content_type = trim_dup(v, vl);
  }
  return len;
}

static int retryable_status(long s) {
  return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int do_once(bk_http *h, CURL *c, const bk_curl_req *rq, bk_http_resp *rs,
                   CURLcode *cc) {
  size_t cap = rq->max_resp ? rq->max_resp : (16u << 20);
  bk_buf_init(&rs->body, cap);
  wctx w = {rq, rs, 0, 0};
  struct curl_slist *hdrs = NULL;
  char line[8192];
  if (rq->bearer && *rq->bearer) {
    snprintf(line, sizeof line, "Authorization: Bearer %s", rq->bearer);
    hdrs = curl_slist_append(hdrs, line);
  }
  if (rq->content_type) {
    snprintf(line, sizeof line, "Content-Type: %s", rq->content_type);
    hdrs = curl_slist_append(hdrs, line);
  }
  if (rq->range) {
    snprintf(line, sizeof line, "Range: %s", rq->range);
    hdrs = curl_slist_append(hdrs, line);
  }
  if (h->region[0]) {
    snprintf(line, sizeof line, "X-Buckets-Region: %s", h->region);
    hdrs = curl_slist_append(hdrs, line);
  }
  hdrs = curl_slist_append(hdrs, "Expect:");
  hdrs = curl_slist_append(hdrs, "User-Agent: buckets-hf/0.1");

  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, rq->url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)h->timeout_s);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &w);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &w);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024L);
  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024L * 1024L);
  const char *m = rq->method ? rq->method : "GET";
  if (strcmp(m, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (strcmp(m, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    if (strcmp(m, "POST") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
  }
  *cc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);
  if (w.over) return bk_seterr(BK_ELIMIT, "response from %s exceeds %zu bytes", rq->url, cap);
  if (w.sink_err) return bk_seterr(BK_EIO, "writing the response of %s failed", rq->url);
  if (*cc != CURLE_OK) return BK_ENET;
  long st = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  rs->status = st;
  return 0;
}

int bk_http_do(bk_http *h, const bk_curl_req *rq, bk_http_resp *rs) {
  memset(rs, 0, sizeof *rs);
  CURL *c = borrow(h);
  if (!c) return bk_seterr(BK_ENOMEM, "curl_easy_init failed");
  unsigned attempts = rq->no_retry ? 1 : h->retries + 1;
  unsigned backoff = 200;
  int rc = 0;
  for (unsigned a = 0; a < attempts; a++) {
    if (a > 0) {
      bk_http_resp_free(rs);
      sleep_ms(backoff);
      backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    CURLcode cc = CURLE_OK;
    rc = do_once(h, c, rq, rs, &cc);
    if (rc == BK_ENET) {
      bk_seterr(BK_ENET, "%s %s: %s", rq->method ? rq->method : "GET", rq->url,
                curl_easy_strerror(cc));
      /* a broken keep-alive connection must not be reused */
      curl_easy_cleanup(c);
      c = curl_easy_init();
      if (!c) return bk_seterr(BK_ENOMEM, "curl_easy_init failed");
      if (rq->sink && rs->bytes_in > 0) break; /* sink already got bytes */
      continue;
    }
    if (rc) break;
    if (retryable_status(rs->status) && !(rq->sink && rs->bytes_in > 0)) {
      rc = 0;
      continue;
    }
    break;
  }
  give_back(h, c);
  return rc;
}

char *bk_url_escape(const char *s, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  if (n > (SIZE_MAX - 1) / 3) return NULL;
  char *o = malloc(n * 3 + 1), *q = o;
  if (!o) return NULL;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
        (keep_slash && ch == '/')) {
      *q++ = (char)ch;
    } else {
      *q++ = '%';
      *q++ = hex[ch >> 4];
      *q++ = hex[ch & 15];
    }
  }
  *q = 0;
  return o;
}
