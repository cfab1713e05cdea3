/* buckets — S3 backend: presigned GET URLs (SigV4 query-string signing,
 * AWS "Authenticating Requests: Using Query Parameters"), HMAC-SHA256 and
 * SHA-256 from OpenSSL's libcrypto.
 *
 * The URL grants GET of the whole object until it expires (the byte range is
 * the client's Range header, which is not signed); it carries the access key
 * id and a signature, never the secret. URLs are credentials: never logged.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"
#include "store/s3_int.h"

#define MAX_EXPIRES 604800 /* SigV4's limit: 7 days */

static void hexify(const unsigned char *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static int hmac(const void *key, size_t kl, const char *msg, unsigned char out[32]) {
  unsigned int ol = 0;
  if (!HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)msg, strlen(msg), out, &ol) || ol != 32)
    return bk_seterr(BK_EIO, "HMAC-SHA256 failed");
  return 0;
}

/* signature = HMAC(kSigning, sts) with kSigning derived from the secret */
static int sign(const struct s3 *s, const char *date, const char *sts, char sig[65]) {
  char k0[300];
  unsigned char a[32], b[32];
  snprintf(k0, sizeof k0, "AWS4%s", s->secret);
  int rc = hmac(k0, strlen(k0), date, a);
  if (!rc) rc = hmac(a, 32, s->region, b);
  if (!rc) rc = hmac(b, 32, "s3", a);
  if (!rc) rc = hmac(a, 32, "aws4_request", b);
  if (!rc) rc = hmac(b, 32, sts, a);
  memset(k0, 0, sizeof k0);
  if (!rc) hexify(a, 32, sig);
  return rc;
}

static int sha256_hex(const char *msg, char out[65]) {
  unsigned char d[32];
  unsigned int dl = 0;
  if (!EVP_Digest(msg, strlen(msg), d, &dl, EVP_sha256(), NULL) || dl != 32)
    return bk_seterr(BK_EIO, "SHA-256 failed");
  hexify(d, 32, out);
  return 0;
}

int s3_presign(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h, uint64_t off, uint64_t len,
               int64_t expires_at, char *url, size_t n) {
  struct s3 *s = (struct s3 *)be;
  /* The client sends the range as its Range header; the URL also names it in a signed parameter
   * S3 ignores (x-bk-range=FIRST-LAST), so two fetch entries of one xorb never share a URL: the
   * official JS client (@huggingface/hub 2.17) keys its download plan by URL and, given two entries
   * with one URL, fetched only the first range ("Download workers finished without producing data").
   * Found by tests/integration/cluster.sh. */
  if (len == 0 || off > UINT64_MAX - len) return bk_seterr(BK_EINVAL, "presign: empty or overflowing range");
  time_t now = time(NULL);
  if (expires_at <= (int64_t)now) return bk_seterr(BK_EINVAL, "presign: expiry is not in the future");
  int64_t secs = expires_at - (int64_t)now;
  if (secs > MAX_EXPIRES) secs = MAX_EXPIRES;
  char key[S3_KEY_MAX], date[16], ts[20], cred[512], ecred[1600], tok[4200] = "";
  int rc = s3_key(s, kind, h, key, sizeof key);
  if (rc) return rc;
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y%m%d", &tm);
  strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
  snprintf(cred, sizeof cred, "%s/%s/%s/s3/aws4_request", s->akid, date, s->region);
  if ((rc = s3_uri_encode(cred, ecred, sizeof ecred))) return rc;
  if (s->token_hdr) {
    char et[sizeof tok - 32];
    if ((rc = s3_uri_encode(s->token_hdr + strlen("x-amz-security-token: "), et, sizeof et))) return rc;
    snprintf(tok, sizeof tok, "&X-Amz-Security-Token=%s", et);
  }
  /* canonical query: parameters sorted by name */
  char query[sizeof ecred + sizeof tok + 256];
  snprintf(query, sizeof query,
           "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s&X-Amz-Expires=%lld%s"
           "&X-Amz-SignedHeaders=host&x-bk-range=%llu-%llu", ecred, ts, (long long)secs, tok,
           (unsigned long long)off, (unsigned long long)(off + len - 1));
  char creq[sizeof query + S3_KEY_MAX + 1024], ch[65], sts[256], sig[65];
  snprintf(creq, sizeof creq, "GET\n/%s/%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", s->bucket, key, query,
           s->host);
  if ((rc = sha256_hex(creq, ch))) return rc;
  snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", ts, date, s->region, ch);
  if ((rc = sign(s, date, sts, sig))) return rc;
  int w = snprintf(url, n, "%s/%s/%s?%s&X-Amz-Signature=%s", s->endpoint, s->bucket, key, query, sig);
  if (w < 0 || (size_t)w >= n) {
    url[0] = 0;
    return bk_seterr(BK_ELIMIT, "presigned URL does not fit in %zu bytes", n);
  }
  return 0;
}
