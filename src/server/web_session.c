/* bucketd web — sessions and CSRF (see web_session.h). */
#include "server/web_session.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "blake3.h"
#include "buckets/error.h"
#include "store/settings.h"

static int hex_decode32(const char *hex, uint8_t out[32]) {
  if (!hex || strlen(hex) != 64) return -1;
  for (int i = 0; i < 32; i++) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char c = hex[2 * i + k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return 0;
}

static void hex_encode(const uint8_t *b, size_t n, char *out) {
  static const char h[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = h[b[i] >> 4];
    out[2 * i + 1] = h[b[i] & 15];
  }
  out[2 * n] = 0;
}

static void id_digest(const uint8_t id[32], uint8_t out[32]) {
  blake3_hasher h;
  blake3_hasher_init_derive_key(&h, "bucketd web session id v1");
  blake3_hasher_update(&h, id, 32);
  blake3_hasher_finalize(&h, out, 32);
}

static int ct_eq(const uint8_t *a, const uint8_t *b, size_t n) {
  uint8_t d = 0;
  for (size_t i = 0; i < n; i++) d |= (uint8_t)(a[i] ^ b[i]);
  return d == 0;
}

int web_random_hex(char out[WEB_SESS_ID_HEX + 1]) {
  uint8_t id[32];
  size_t got = 0;
  while (got < sizeof id) {
    ssize_t r = getrandom(id + got, sizeof id - got, 0);
    if (r <= 0) return bk_seterr(BK_EIO, "getrandom failed");
    got += (size_t)r;
  }
  hex_encode(id, sizeof id, out);
  return 0;
}

static const bk_session_limits LIMITS = {
    .idle_ms = WEB_SESS_IDLE_MS,
    .ttl_ms = WEB_SESS_TTL_MS,
    .touch_ms = WEB_SESS_TOUCH_MS,
    .max_total = WEB_SESS_MAX,
    .max_per_user = WEB_SESS_MAX_PER_USER,
};

/* The stored key of a cookie value; -1 when it is not 64 hex chars. */
static int id_key(const char *id_hex, bk_hash *out) {
  uint8_t id[32];
  if (hex_decode32(id_hex, id) < 0) return -1;
  id_digest(id, out->b);
  return 0;
}

int web_sess_create(struct bk_db *db, const struct web_sess_info *info, int64_t now_ms,
                    char id_hex[WEB_SESS_ID_HEX + 1]) {
  bk_hash key;
  int rc = web_random_hex(id_hex);
  if (rc < 0) return rc;
  id_key(id_hex, &key);
  return bk_db_session_add(db, &key, info->user_id, info->token_id, info->token_role, now_ms,
                           &LIMITS);
}

int web_sess_lookup(struct bk_db *db, const char *id_hex, int64_t now_ms,
                    struct web_sess_info *out) {
  bk_hash key;
  bk_session s;
  if (id_key(id_hex, &key) < 0) return bk_seterr(BK_ENOTFOUND, "no such session");
  int rc = bk_db_session_get(db, &key, now_ms, &LIMITS, &s);
  if (rc < 0) return rc;
  memset(out, 0, sizeof *out);
  out->user_id = s.user_id;
  out->token_id = s.token_id;
  out->token_role = s.role;
  snprintf(out->name, sizeof out->name, "%s", s.name);
  return 0;
}

void web_sess_destroy(struct bk_db *db, const char *id_hex) {
  bk_hash key;
  if (id_key(id_hex, &key) == 0) bk_db_session_del(db, &key);
}

static void csrf_raw(const uint8_t secret[32], const char *id_hex, uint8_t out[32]) {
  uint8_t key[32];
  blake3_hasher h;
  blake3_hasher_init_derive_key(&h, "bucketd web csrf v1");
  blake3_hasher_update(&h, secret, 32);
  blake3_hasher_finalize(&h, key, 32);
  blake3_hasher_init_keyed(&h, key);
  blake3_hasher_update(&h, "csrf\n", 5);
  blake3_hasher_update(&h, id_hex, strlen(id_hex));
  blake3_hasher_finalize(&h, out, 32);
}

void web_csrf_token(const uint8_t secret[32], const char *id_hex,
                    char out[WEB_CSRF_HEX + 1]) {
  uint8_t raw[32];
  csrf_raw(secret, id_hex ? id_hex : "", raw);
  hex_encode(raw, 32, out);
}

int web_csrf_check(const uint8_t secret[32], const char *id_hex, const char *token) {
  uint8_t want[32], got[32];
  if (!id_hex || !*id_hex || !token || hex_decode32(token, got) < 0) return 0;
  csrf_raw(secret, id_hex, want);
  return ct_eq(want, got, 32);
}

int web_cookie_get(const char *hdr, const char *name, char *out, size_t n) {
  size_t nl = strlen(name);
  const char *p = hdr;
  while (p && *p) {
    while (*p == ' ' || *p == '\t' || *p == ';') p++;
    const char *e = strchr(p, ';');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      size_t vl = len - nl - 1;
      while (vl > 0 && (p[nl + 1 + vl - 1] == ' ' || p[nl + 1 + vl - 1] == '\t')) vl--;
      if (vl + 1 > n) return 0;
      memcpy(out, p + nl + 1, vl);
      out[vl] = 0;
      return 1;
    }
    p = e;
  }
  return 0;
}
