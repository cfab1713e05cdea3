/* bucketd — CAS access tokens and signed xorb-range URLs (owned by server-cas).
 *
 * CAS token: `header.payload.sig`, each part base64url without padding, so
 * clients that treat it as a JWT are happy (they never parse it).
 *   header  = {"alg":"BK-B3","typ":"JWT"}
 *   payload = {"bkt":<bucket id>,"scope":"read"|"write","iat":<s>,"exp":<s>,"jti":"<16 hex>"}
 *   sig     = blake3_keyed(K_tok, header_b64 "." payload_b64), 32 bytes
 * with K_tok = blake3_keyed(server secret, "bucketd cas-token v1"). A token
 * is bound to one bucket, one scope and an expiry; it is < 300 bytes.
 *
 * Signed xorb-range URL: `{public_url}/v1/xorb-range/{xorb hex}?r=S-E&exp=T&sig=HEX`
 * where S-E is the inclusive byte range and
 *   sig = hex(blake3_keyed(K_url, "xorb-range\n{xorb hex}\n{S}\n{E}\n{T}"))
 * with K_url = blake3_keyed(server secret, "bucketd xorb-url v1").
 *
 * Keys are derived per call from srv->secret (cheap); nothing is stored.
 * All signature comparisons are constant time. Tokens are never logged.
 * Ownership: cas_token_mint returns a malloc'd string the caller frees.
 */
#ifndef BUCKETD_CAS_TOKEN_H
#define BUCKETD_CAS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"
#include "buckets/hash.h"

struct bk_server;

#define CAS_TOKEN_MAX_LEN 1024
#define CAS_URL_TTL_S 3600

struct cas_claims {
  int64_t bucket_id;
  int write; /* 1 = write scope (implies read), 0 = read scope */
  int64_t iat;
  int64_t exp;
};

/* Mints a token for bucket_id with write (1) or read (0) scope, valid for
 * ttl_s seconds from now. *token is malloc'd (caller frees); *exp (optional)
 * receives the expiry in unix seconds. Returns 0, BK_EINVAL, BK_ENOMEM. */
int cas_token_mint(struct bk_server *srv, int64_t bucket_id, int write, int64_t ttl_s,
                   char **token, int64_t *exp);

/* Verifies a token (signature in constant time, then structure, then expiry
 * against now). Returns 0 and fills *out, or BK_EAUTH (bad or expired; the
 * detail message says which, without echoing the token). */
int cas_token_verify(const struct bk_server *srv, const char *token, int64_t now,
                     struct cas_claims *out);

/* Appends the signed URL for bytes [start, end] (inclusive) of a xorb,
 * expiring at exp, to out. region (NULL or "" = none: the URL and signature
 * are those of a single-store deployment) is the region whose copy the URL
 * reads: the query parameter `region=NAME`, covered by the signature. */
int cas_url_sign(const struct bk_server *srv, const bk_hash *xorb, const char *region,
                 uint64_t start, uint64_t end, int64_t exp, bk_buf *out);

/* Checks a signed range: sig_hex must be the signature of (xorb, region,
 * start, end, exp) and exp >= now (region as given to cas_url_sign: a URL
 * whose region parameter was changed or removed does not verify). Returns
 * 0, or BK_EPERM (bad signature / expired). */
int cas_url_verify(const struct bk_server *srv, const bk_hash *xorb, const char *region,
                   uint64_t start, uint64_t end, int64_t exp, const char *sig_hex, int64_t now);

/* Constant-time equality of two byte strings of length n. */
int cas_ct_eq(const void *a, const void *b, size_t n);

#endif
