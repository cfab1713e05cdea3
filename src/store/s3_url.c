/* buckets — the s3:// URL (see s3_int.h, docs/store.md "S3 backend"):
 *
 *   s3://BUCKET?endpoint=URL&region=NAME&prefix=P/&part_size=BYTES&upload_parallel=N&max_keys=N&timeout=S&retries=N
 *
 * Every parameter is optional: endpoint defaults to AWS
 * (https://s3.<region>.amazonaws.com), region to us-east-1, prefix to none.
 * Values may be %-escaped. Anything else is BK_EINVAL naming the problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "store/s3_int.h"

#define DEFAULT_PART (8u << 20)
#define MIN_PART (5u << 20)   /* S3's minimum part size (all parts but the last) */
#define MAX_PART (512u << 20)

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* %-decodes in[0..n) into out (NUL-terminated); -1 on a bad escape, NUL or overflow */
static int pct_decode(const char *in, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)in[i];
    if (c == '%') {
      if (i + 2 >= n) return -1;
      int a = hexval(in[i + 1]), b = hexval(in[i + 2]);
      if (a < 0 || b < 0) return -1;
      c = a * 16 + b;
      i += 2;
    }
    if (c == 0 || o + 1 >= cap) return -1;
    out[o++] = (char)c;
  }
  out[o] = 0;
  return 0;
}

static int only(const char *s, const char *set) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(set, *s))) return 0;
  return 1;
}

static int check_bucket(const char *b, const char *url) {
  size_t n = strlen(b);
  if (n < 3 || n > 63 || !only(b, ".-") || b[0] == '.' || b[0] == '-' || b[n - 1] == '.' ||
      b[n - 1] == '-')
    return bk_seterr(BK_EINVAL, "blob store URL s3://%s: bucket name must be 3-63 characters a-z 0-9 . - "
                     "(s3://BUCKET?endpoint=...&region=...)", url);
  return 0;
}

static int set_endpoint(struct s3 *s, const char *v) {
  const char *h = !strncmp(v, "http://", 7) ? v + 7 : !strncmp(v, "https://", 8) ? v + 8 : NULL;
  if (!h) return bk_seterr(BK_EINVAL, "s3:// endpoint must start with http:// or https://");
  size_t hl = strlen(h);
  if (hl && h[hl - 1] == '/') hl--;
  if (hl == 0 || hl >= sizeof s->host) return bk_seterr(BK_EINVAL, "s3:// endpoint has no host");
  for (size_t i = 0; i < hl; i++) {
    char c = h[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          strchr(".-:[]", c)))
      return bk_seterr(BK_EINVAL, "s3:// endpoint must be scheme://host[:port] (no path, query or "
                       "credentials)");
  }
  snprintf(s->endpoint, sizeof s->endpoint, "%.*s%.*s", (int)(h - v), v, (int)hl, h);
  snprintf(s->host, sizeof s->host, "%.*s", (int)hl, h);
  /* the Host header omits a default port */
  size_t n = strlen(s->host);
  int https = h - v == 8;
  const char *dp = https ? ":443" : ":80";
  if (n > strlen(dp) && !strcmp(s->host + n - strlen(dp), dp)) s->host[n - strlen(dp)] = 0;
  return 0;
}

static int set_prefix(struct s3 *s, const char *v) {
  size_t n = strlen(v);
  if (n == 0) return 0;
  if (n > 400 || v[0] == '/' || strstr(v, "//"))
    return bk_seterr(BK_EINVAL, "s3:// prefix must be a relative key prefix of at most 400 bytes");
  for (const char *p = v; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._/-", c)))
      return bk_seterr(BK_EINVAL, "s3:// prefix may hold only A-Z a-z 0-9 . _ / -");
  }
  if (!strcmp(v, ".") || !strncmp(v, "./", 2) || !strncmp(v, "../", 3) || strstr(v, "/./") ||
      strstr(v, "/../") || !strcmp(v, "..") || (n >= 2 && !strcmp(v + n - 2, "/.")) ||
      (n >= 3 && !strcmp(v + n - 3, "/..")))
    return bk_seterr(BK_EINVAL, "s3:// prefix must not hold . or .. segments");
  memcpy(s->prefix, v, n); /* n <= 400 < sizeof s->prefix - 1, checked */
  if (v[n - 1] != '/') s->prefix[n++] = '/';
  s->prefix[n] = 0;
  return 0;
}

static int num(const char *name, const char *v, unsigned long long lo, unsigned long long hi,
               unsigned long long *out) {
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  if (!*v || *end || v[0] == '-' || x < lo || x > hi)
    return bk_seterr(BK_EINVAL, "s3:// %s must be a number in %llu..%llu", name, lo, hi);
  *out = x;
  return 0;
}

static int set_param(struct s3 *s, const char *k, const char *v) {
  unsigned long long x = 0;
  int rc = 0;
  if (!strcmp(k, "endpoint")) return set_endpoint(s, v);
  if (!strcmp(k, "prefix")) return set_prefix(s, v);
  if (!strcmp(k, "region")) {
    if (!*v || strlen(v) >= 40 || !only(v, "-")) return bk_seterr(BK_EINVAL, "s3:// region must be a-z 0-9 -");
    memcpy(s->region, v, strlen(v) + 1); /* < 40 bytes, checked */
  } else if (!strcmp(k, "part_size")) {
    if (!(rc = num(k, v, MIN_PART, MAX_PART, &x))) s->part_size = (size_t)x;
  } else if (!strcmp(k, "upload_parallel")) {
    if (!(rc = num(k, v, 1, S3_MAX_INFLIGHT, &x))) s->inflight = (unsigned)x;
  } else if (!strcmp(k, "max_keys")) {
    if (!(rc = num(k, v, 1, 1000, &x))) s->max_keys = (unsigned)x;
  } else if (!strcmp(k, "timeout")) {
    if (!(rc = num(k, v, 1, 3600, &x))) s->timeout_s = (long)x;
  } else if (!strcmp(k, "retries")) {
    if (!(rc = num(k, v, 0, 10, &x))) s->retries = (int)x;
  } else {
    return bk_seterr(BK_EINVAL, "s3:// URL: unknown parameter '%s' (endpoint, region, prefix, part_size, "
                     "max_keys, timeout, retries)", k);
  }
  return rc;
}

/* one "k=v" of the query */
static int param(struct s3 *s, const char *p, size_t n, unsigned *seen) {
  static const char *NAMES[] = {"endpoint", "region", "prefix", "part_size", "max_keys", "timeout", "retries",
                                "upload_parallel"};
  const char *eq = memchr(p, '=', n);
  char k[32], v[1024];
  if (!eq || eq == p || (size_t)(eq - p) >= sizeof k)
    return bk_seterr(BK_EINVAL, "s3:// URL: query must be name=value pairs joined by &");
  memcpy(k, p, (size_t)(eq - p));
  k[eq - p] = 0;
  if (pct_decode(eq + 1, n - (size_t)(eq - p) - 1, v, sizeof v))
    return bk_seterr(BK_EINVAL, "s3:// URL: bad %%-escape or value too long in '%s'", k);
  for (unsigned i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
    if (strcmp(k, NAMES[i])) continue;
    if (*seen & (1u << i)) return bk_seterr(BK_EINVAL, "s3:// URL: '%s' given twice", k);
    *seen |= 1u << i;
  }
  return set_param(s, k, v);
}

int s3_parse_url(struct s3 *s, const char *rest) {
  s->part_size = DEFAULT_PART;
  s->max_keys = 1000;
  s->inflight = 2;
  s->timeout_s = 30;
  s->connect_ms = 5000;
  s->retries = 3;
  snprintf(s->region, sizeof s->region, "us-east-1");
  const char *q = strchr(rest, '?');
  size_t bl = q ? (size_t)(q - rest) : strlen(rest);
  if (bl >= sizeof s->bucket || memchr(rest, '/', bl) || memchr(rest, '#', bl) || memchr(rest, '@', bl))
    return bk_seterr(BK_EINVAL, "blob store URL s3://%.*s: expected s3://BUCKET?endpoint=...&region=... "
                     "(no path, no credentials; a key prefix is prefix=)", (int)(bl > 80 ? 80 : bl), rest);
  memcpy(s->bucket, rest, bl);
  s->bucket[bl] = 0;
  int rc = check_bucket(s->bucket, s->bucket);
  if (rc) return rc;
  if (q && strchr(q, '#')) return bk_seterr(BK_EINVAL, "s3:// URL: fragments are not supported");
  unsigned seen = 0;
  for (const char *p = q ? q + 1 : NULL; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if ((rc = param(s, p, n, &seen))) return rc;
    p = amp ? amp + 1 : NULL;
  }
  if (!(seen & 1u)) { /* no endpoint: AWS, path-style */
    char ep[256];
    snprintf(ep, sizeof ep, "https://s3.%s.amazonaws.com", s->region);
    if ((rc = set_endpoint(s, ep))) return rc;
  }
  return 0;
}
