/* CAS tokens and signed xorb-range URLs (see cas_token.h for the formats). */
#include "server/cas_token.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "buckets/error.h"
#include "server/server.h"

static const char TOKEN_HEADER_JSON[] = "{\"alg\":\"BK-B3\",\"typ\":\"JWT\"}";
static const char TOKEN_KEY_LABEL[] = "bucketd cas-token v1";
static const char URL_KEY_LABEL[] = "bucketd xorb-url v1";

int cas_ct_eq(const void *a, const void *b, size_t n) {
  const volatile uint8_t *x = a, *y = b;
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++) d |= (uint8_t)(x[i] ^ y[i]);
  return d == 0;
}

static void derive_key(const struct bk_server *srv, const char *label, uint8_t key[32]) {
  bk_hash h;
  bk_keyed_hash(srv->secret, label, strlen(label), &h);
  memcpy(key, h.b, 32);
}

/* ---- base64url (no padding) ---- */
static const char B64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = B64URL[v >> 18];
    out[o++] = B64URL[(v >> 12) & 63];
    out[o++] = B64URL[(v >> 6) & 63];
    out[o++] = B64URL[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = B64URL[v >> 18];
    out[o++] = B64URL[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = B64URL[v >> 18];
    out[o++] = B64URL[(v >> 12) & 63];
    out[o++] = B64URL[(v >> 6) & 63];
  }
  out[o] = '\0';
  return o;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Decodes n chars; out needs n*3/4+1 bytes. Returns length or -1. */
static long b64url_decode(const char *in, size_t n, uint8_t *out) {
  if (n % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64val(in[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return (long)o;
}

int cas_token_mint(struct bk_server *srv, int64_t bucket_id, int write, int64_t ttl_s,
                   char **token, int64_t *exp) {
  if (!srv || !token || bucket_id <= 0 || ttl_s <= 0 || ttl_s > 30 * 86400)
    return bk_seterr(BK_EINVAL, "cas token: bad arguments");
  uint8_t jti[8];
  if (getrandom(jti, sizeof jti, 0) != (ssize_t)sizeof jti)
    return bk_seterr(BK_EIO, "getrandom: %s", strerror(errno));
  int64_t now = bk_now_s();
  int64_t e = now + ttl_s;
  char payload[256];
  int pn = snprintf(payload, sizeof payload,
                    "{\"bkt\":%" PRId64 ",\"scope\":\"%s\",\"iat\":%" PRId64 ",\"exp\":%" PRId64
                    ",\"jti\":\"%02x%02x%02x%02x%02x%02x%02x%02x\"}",
                    bucket_id, write ? "write" : "read", now, e, jti[0], jti[1], jti[2],
                    jti[3], jti[4], jti[5], jti[6], jti[7]);
  if (pn < 0 || (size_t)pn >= sizeof payload) return bk_seterr(BK_EINVAL, "cas token: payload");

  char *t = malloc(CAS_TOKEN_MAX_LEN);
  if (!t) return bk_seterr(BK_ENOMEM, "cas token: out of memory");
  size_t o = b64url_encode((const uint8_t *)TOKEN_HEADER_JSON, strlen(TOKEN_HEADER_JSON), t);
  t[o++] = '.';
  o += b64url_encode((const uint8_t *)payload, (size_t)pn, t + o);

  uint8_t key[32];
  bk_hash sig;
  derive_key(srv, TOKEN_KEY_LABEL, key);
  bk_keyed_hash(key, t, o, &sig);
  t[o++] = '.';
  o += b64url_encode(sig.b, sizeof sig.b, t + o);
  (void)o;
  *token = t;
  if (exp) *exp = e;
  return 0;
}

int cas_token_verify(const struct bk_server *srv, const char *token, int64_t now,
                     struct cas_claims *out) {
  if (!token) return bk_seterr(BK_EAUTH, "missing CAS token");
  size_t n = strnlen(token, CAS_TOKEN_MAX_LEN + 1);
  if (n == 0 || n > CAS_TOKEN_MAX_LEN) return bk_seterr(BK_EAUTH, "malformed CAS token");
  const char *d1 = memchr(token, '.', n);
  if (!d1) return bk_seterr(BK_EAUTH, "malformed CAS token");
  const char *d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token));
  if (!d2) return bk_seterr(BK_EAUTH, "malformed CAS token");
  size_t signed_len = (size_t)(d2 - token);
  size_t sig_len = n - signed_len - 1;
  if (sig_len != 43) return bk_seterr(BK_EAUTH, "malformed CAS token");

  /* compare the canonical encoding of the expected signature with the
   * token's text, so no second spelling of a signature is accepted */
  uint8_t key[32];
  bk_hash want;
  char want_b64[48];
  derive_key(srv, TOKEN_KEY_LABEL, key);
  bk_keyed_hash(key, token, signed_len, &want);
  b64url_encode(want.b, sizeof want.b, want_b64);
  if (!cas_ct_eq(d2 + 1, want_b64, 43)) return bk_seterr(BK_EAUTH, "invalid CAS token signature");

  /* Signature good: the payload was written by us, but parse defensively. */
  size_t plen = (size_t)(d2 - (d1 + 1));
  uint8_t pbuf[CAS_TOKEN_MAX_LEN];
  long pn = b64url_decode(d1 + 1, plen, pbuf);
  if (pn <= 0) return bk_seterr(BK_EAUTH, "malformed CAS token payload");
  cJSON *j = cJSON_ParseWithLength((const char *)pbuf, (size_t)pn);
  if (!j) return bk_seterr(BK_EAUTH, "malformed CAS token payload");
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bkt");
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "scope");
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "exp");
  const cJSON *i = cJSON_GetObjectItemCaseSensitive(j, "iat");
  int ok = cJSON_IsNumber(b) && cJSON_IsString(s) && cJSON_IsNumber(e) && cJSON_IsNumber(i) &&
           b->valuedouble >= 1 && b->valuedouble < 9e15 && e->valuedouble < 9e15 &&
           (strcmp(s->valuestring, "read") == 0 || strcmp(s->valuestring, "write") == 0);
  struct cas_claims c = {0};
  if (ok) {
    c.bucket_id = (int64_t)b->valuedouble;
    c.write = strcmp(s->valuestring, "write") == 0;
    c.exp = (int64_t)e->valuedouble;
    c.iat = (int64_t)i->valuedouble;
  }
  cJSON_Delete(j);
  if (!ok) return bk_seterr(BK_EAUTH, "malformed CAS token payload");
  if (c.exp <= now) return bk_seterr(BK_EAUTH, "CAS token expired");
  if (out) *out = c;
  return 0;
}

/* The signed message; a region adds a line (without one the message is the
 * single-store one, so URLs handed out before regions existed stay valid).
 * Region names are short ([a-z][a-z0-9-]{0,31}); a longer one is cut, which
 * only makes the URL fail to verify. */
static void url_sig(const struct bk_server *srv, const bk_hash *xorb, const char *region,
                    uint64_t start, uint64_t end, int64_t exp, bk_hash *sig) {
  char hx[BK_HASH_HEX_LEN + 1], msg[256];
  bk_hash_to_hex(xorb, hx);
  int n = snprintf(msg, sizeof msg, "xorb-range\n%s\n%" PRIu64 "\n%" PRIu64 "\n%" PRId64, hx,
                   start, end, exp);
  if (region && *region)
    n += snprintf(msg + n, sizeof msg - (size_t)n, "\nregion=%.40s", region);
  uint8_t key[32];
  derive_key(srv, URL_KEY_LABEL, key);
  bk_keyed_hash(key, msg, (size_t)n, sig);
}

static void raw_hex(const uint8_t *p, size_t n, char *out) {
  static const char D[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = D[p[i] >> 4];
    out[2 * i + 1] = D[p[i] & 15];
  }
  out[2 * n] = '\0';
}

int cas_url_sign(const struct bk_server *srv, const bk_hash *xorb, const char *region,
                 uint64_t start, uint64_t end, int64_t exp, bk_buf *out) {
  bk_hash sig;
  char hx[BK_HASH_HEX_LEN + 1], sx[65];
  url_sig(srv, xorb, region, start, end, exp, &sig);
  bk_hash_to_hex(xorb, hx);
  raw_hex(sig.b, 32, sx);
  int rc = bk_buf_printf(out, "%s/v1/xorb-range/%s?r=%" PRIu64 "-%" PRIu64 "&exp=%" PRId64,
                         srv->public_url, hx, start, end, exp);
  if (!rc && region && *region) rc = bk_buf_printf(out, "&region=%.40s", region);
  return rc ? rc : bk_buf_printf(out, "&sig=%s", sx);
}

int cas_url_verify(const struct bk_server *srv, const bk_hash *xorb, const char *region,
                   uint64_t start, uint64_t end, int64_t exp, const char *sig_hex, int64_t now) {
  if (!sig_hex || strlen(sig_hex) != 64) return bk_seterr(BK_EPERM, "bad URL signature");
  bk_hash sig;
  char sx[65];
  url_sig(srv, xorb, region, start, end, exp, &sig);
  raw_hex(sig.b, 32, sx);
  if (!cas_ct_eq(sig_hex, sx, 64)) return bk_seterr(BK_EPERM, "bad URL signature");
  if (exp < now) return bk_seterr(BK_EPERM, "URL expired");
  return 0;
}
