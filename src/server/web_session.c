/* bucketd web — sessions and CSRF (see web_session.h). */
#include "server/web_session.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "blake3.h"
#include "buckets/error.h"

struct sess {
  uint8_t idhash[32];
  int used;
  int64_t created_ms, last_ms;
  struct web_sess_info info;
};

static struct sess g_sess[WEB_SESS_MAX];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

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

static int expired(const struct sess *s, int64_t now) {
  return now - s->last_ms > WEB_SESS_IDLE_MS || now - s->created_ms > WEB_SESS_TTL_MS;
}

int web_sess_create(const struct web_sess_info *info, int64_t now_ms,
                    char id_hex[WEB_SESS_ID_HEX + 1]) {
  uint8_t id[32];
  int rc = web_random_hex(id_hex);
  if (rc < 0) return rc;
  hex_decode32(id_hex, id);
  pthread_mutex_lock(&g_lock);
  struct sess *slot = NULL, *oldest = &g_sess[0];
  for (size_t i = 0; i < WEB_SESS_MAX; i++) {
    struct sess *s = &g_sess[i];
    if (!s->used || expired(s, now_ms)) { slot = s; break; }
    if (s->last_ms < oldest->last_ms) oldest = s;
  }
  if (!slot) slot = oldest;
  memset(slot, 0, sizeof *slot);
  id_digest(id, slot->idhash);
  slot->used = 1;
  slot->created_ms = slot->last_ms = now_ms;
  slot->info = *info;
  pthread_mutex_unlock(&g_lock);
  return 0;
}

static struct sess *find(const char *id_hex) {
  uint8_t id[32], dg[32];
  if (hex_decode32(id_hex, id) < 0) return NULL;
  id_digest(id, dg);
  for (size_t i = 0; i < WEB_SESS_MAX; i++)
    if (g_sess[i].used && ct_eq(g_sess[i].idhash, dg, 32)) return &g_sess[i];
  return NULL;
}

int web_sess_lookup(const char *id_hex, int64_t now_ms, struct web_sess_info *out) {
  int rc = BK_ENOTFOUND;
  pthread_mutex_lock(&g_lock);
  struct sess *s = find(id_hex);
  if (s && expired(s, now_ms)) {
    memset(s, 0, sizeof *s);
    s = NULL;
  }
  if (s) {
    s->last_ms = now_ms;
    *out = s->info;
    rc = 0;
  }
  pthread_mutex_unlock(&g_lock);
  return rc;
}

void web_sess_destroy(const char *id_hex) {
  pthread_mutex_lock(&g_lock);
  struct sess *s = find(id_hex);
  if (s) memset(s, 0, sizeof *s);
  pthread_mutex_unlock(&g_lock);
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
