/* bucketd — the store a command uses: --data or --db/--blobs (see
 * server/storecfg.h). */
#include "server/storecfg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static int usage_err(const char *msg) {
  fprintf(stderr, "bucketd: %s\n", msg);
  return 2;
}

/* sqlite:// and file:// need an absolute path right after "://". */
static int url_check(const char *what, const char *url) {
  const char *sep = strstr(url, "://");
  if (!sep || sep == url) {
    fprintf(stderr, "bucketd: %s must be a URL (scheme://...), e.g. %s\n", what,
            strcmp(what, "--db") ? "file:///srv/buckets/blobs" : "sqlite:///srv/buckets/meta.db");
    return 2;
  }
  size_t sl = (size_t)(sep - url);
  int local = (sl == 6 && !strncmp(url, "sqlite", 6)) || (sl == 4 && !strncmp(url, "file", 4));
  if (local && sep[3] != '/') {
    fprintf(stderr, "bucketd: %s %.*s:// needs an absolute path (%.*s:///abs/path): a relative "
                    "path would depend on each node's working directory\n",
            what, (int)sl, url, (int)sl, url);
    return 2;
  }
  if (local && strpbrk(sep + 3, "%?#")) {
    fprintf(stderr, "bucketd: %s %.*s:// URLs take a plain absolute path: %%-escapes, queries and "
                    "fragments are not supported\n", what, (int)sl, url);
    return 2;
  }
  return 0;
}

/* One source (command line or environment) of the three values. */
static int choose_from(const char *data, const char *db, const char *blobs, int need_blobs,
                       const char *names, struct bk_store_choice *out) {
  char m[256];
  if (data && (db || blobs)) {
    snprintf(m, sizeof m, "%s: give either the data dir or the metadata and blob URLs, not both "
                          "(the data dir is the shorthand for sqlite:///DIR/buckets.db and "
                          "file:///DIR/blobs)", names);
    return usage_err(m);
  }
  if (blobs && !db) return usage_err("--db and --blobs go together: --blobs needs --db");
  if (db && !blobs && need_blobs)
    return usage_err("--db and --blobs go together: this command needs both (or --data DIR)");
  if (db && url_check("--db", db)) return 2;
  if (blobs && url_check("--blobs", blobs)) return 2;
  out->data = data;
  out->db = db;
  out->blobs = blobs;
  return 0;
}

int bk_store_choose(const char *flag_data, const char *flag_db, const char *flag_blobs,
                    int need_blobs, struct bk_store_choice *out) {
  memset(out, 0, sizeof *out);
  if (flag_data || flag_db || flag_blobs)
    return choose_from(flag_data, flag_db, flag_blobs, need_blobs, "--data with --db/--blobs",
                       out);
  const char *d = env("BUCKETD_DATA"), *db = env("BUCKETD_DB"), *bl = env("BUCKETD_BLOBS");
  if (d || db || bl)
    return choose_from(d, db, bl, need_blobs, "BUCKETD_DATA with BUCKETD_DB/BUCKETD_BLOBS", out);
  out->data = "./var";
  return 0;
}

static int secret_name(const char *k, size_t n) {
  static const char *const words[] = {"pass", "secret", "token", "signature", "credential", "key",
                                      "sig"};
  char low[64];
  if (n >= sizeof low) n = sizeof low - 1;
  for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)k[i]);
  low[n] = 0;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strstr(low, words[i])) return 1;
  return 0;
}

/* Appends s[0..n) to out at *at (truncating). */
static void put(char *out, size_t cap, size_t *at, const char *s, size_t n) {
  while (n-- && *at + 1 < cap) out[(*at)++] = *s++;
  out[*at] = 0;
}

/* The query part: credential-like values masked. */
static void mask_query(const char *q, char *out, size_t cap, size_t *at) {
  while (*q) {
    size_t len = strcspn(q, "&#");
    const char *eq = memchr(q, '=', len);
    if (eq && secret_name(q, (size_t)(eq - q))) {
      put(out, cap, at, q, (size_t)(eq - q) + 1);
      put(out, cap, at, "***", 3);
    } else {
      put(out, cap, at, q, len);
    }
    q += len;
    if (*q) put(out, cap, at, q++, 1);
  }
}

void bk_url_mask(const char *url, char *out, size_t n) {
  size_t at = 0;
  if (!n) return;
  out[0] = 0;
  if (!url) return;
  const char *sep = strstr(url, "://");
  const char *auth = sep ? sep + 3 : url;
  size_t alen = strcspn(auth, "/?#");
  const char *atsign = NULL;
  for (size_t i = 0; i < alen; i++)
    if (auth[i] == '@') atsign = auth + i; /* the last '@' ends the user part */
  const char *colon = atsign ? memchr(auth, ':', (size_t)(atsign - auth)) : NULL;
  if (colon) {
    put(out, n, &at, url, (size_t)(colon - url) + 1);
    put(out, n, &at, "***", 3);
    put(out, n, &at, atsign, (size_t)(auth + alen - atsign));
  } else {
    put(out, n, &at, url, (size_t)(auth + alen - url));
  }
  const char *rest = auth + alen;
  const char *q = strchr(rest, '?');
  if (!q) {
    put(out, n, &at, rest, strlen(rest));
    return;
  }
  put(out, n, &at, rest, (size_t)(q - rest) + 1);
  mask_query(q + 1, out, n, &at);
}

void bk_store_describe(const struct bk_store_choice *c, char *out, size_t n) {
  if (c->data) {
    snprintf(out, n, "data %s", c->data);
    return;
  }
  char db[512], bl[512];
  bk_url_mask(c->db, db, sizeof db);
  bk_url_mask(c->blobs ? c->blobs : "", bl, sizeof bl);
  if (c->blobs) snprintf(out, n, "db %s, blobs %s", db, bl);
  else snprintf(out, n, "db %s", db);
}

/* The password of url's user part: *p and *n (0 when none). */
static void url_password(const char *url, const char **p, size_t *n) {
  *p = NULL;
  *n = 0;
  const char *sep = strstr(url, "://");
  const char *auth = sep ? sep + 3 : url;
  size_t alen = strcspn(auth, "/?#");
  const char *atsign = NULL;
  for (size_t i = 0; i < alen; i++)
    if (auth[i] == '@') atsign = auth + i;
  const char *colon = atsign ? memchr(auth, ':', (size_t)(atsign - auth)) : NULL;
  if (!colon) return;
  *p = colon + 1;
  *n = (size_t)(atsign - colon - 1);
}

void bk_url_scrub(const char *url, char *msg, size_t cap) {
  const char *pw;
  size_t n, at = 0;
  if (!url || !msg || !cap) return;
  url_password(url, &pw, &n);
  if (n == 0) return;
  char out[1024];
  for (const char *q = msg; *q;) {
    if (!strncmp(q, pw, n)) {
      put(out, sizeof out, &at, "***", 3);
      q += n;
    } else {
      put(out, sizeof out, &at, q++, 1);
    }
  }
  out[at] = 0;
  snprintf(msg, cap, "%s", out);
}
