/* buckets storage service — regions (service.h "regions", docs/regions.md):
 * the region stores this node opened, the registry functions, placement of
 * new xorbs, and which copy a read uses.
 *
 * The region table lives in the metadata database (store/regions.h). Each
 * node keeps a cache of it (svc->regions, guarded by svc->rmu): loaded at
 * bk_svc_open, re-read when a name or id is not in it and every few seconds
 * by the replication step, so a region added on one node is seen by the
 * others. A cache entry and its open store live until bk_svc_close (a removed
 * region is only flagged), so the pointers handed out never dangle.
 * Without any region row everything is the single store of the config
 * (svc->bs) exactly as before regions existed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/clock.h"
#include "buckets/error.h"
#include "buckets/names.h"
#include "service/svc_internal.h"

/* ------------------------------------------------------------- the cache */

/* The entry of id in the cache (rmu held), NULL if none. */
static struct svc_region *cache_find_id(bk_svc *svc, int64_t id) {
  for (size_t i = 0; i < svc->nregions; i++)
    if (svc->regions[i]->id == id && !svc->regions[i]->removed) return svc->regions[i];
  return NULL;
}

static struct svc_region *cache_find_name(bk_svc *svc, const char *name) {
  for (size_t i = 0; i < svc->nregions; i++)
    if (!svc->regions[i]->removed && !strcmp(svc->regions[i]->name, name))
      return svc->regions[i];
  return NULL;
}

/* A store for row: the configured store when its URL is the region's, else
 * opened here from the region's URL (a configured store known by no URL is
 * never taken for a region's: it might be another one). */
static int cache_open(bk_svc *svc, const bk_region_row *row, int is_default,
                      struct svc_region *e) {
  int cfg_match =
      svc->cfg_bs && svc->cfg_blob_url && !strcmp(svc->cfg_blob_url, row->blob_url);
  if (cfg_match) {
    e->bs = svc->cfg_bs;
    return 0;
  }
  int rc = bk_blobstore_open_url(row->blob_url, &e->bs);
  if (rc == 0) {
    e->own_bs = 1;
    return 0;
  }
  e->bs = NULL;
  /* the default region holds the shards: a node does not start without it;
   * another region's store is opened again when it is used */
  if (is_default)
    return bk_seterr(rc, "region '%s' (the default) is unavailable: %s", row->name, bk_errmsg());
  bk_clearerr();
  return 0;
}

int svc_region_ready(bk_svc *svc, struct svc_region *r) {
  if (r->bs) return 0;
  bk_blobstore *bs = NULL;
  int rc = bk_blobstore_open_url(r->url, &bs);
  if (rc) return bk_seterr(BK_ENET, "region '%s' is unavailable: %s", r->name, bk_errmsg());
  pthread_mutex_lock(&svc->rmu);
  if (!r->bs) {
    r->bs = bs;
    r->own_bs = 1;
    bs = NULL;
  }
  pthread_mutex_unlock(&svc->rmu);
  bk_blobstore_close(bs); /* NULL ok: another thread opened it first */
  return 0;
}

/* Entries for the rows not cached yet, their stores opened with no lock
 * held (opening an object store may take a network round trip). fresh[k]
 * stays NULL for a row already cached. */
static int cache_prepare(bk_svc *svc, const bk_region_row *rows, size_t n,
                         struct svc_region **fresh) {
  for (size_t k = 0; k < n; k++) {
    fresh[k] = NULL;
    pthread_mutex_lock(&svc->rmu);
    int have = cache_find_id(svc, rows[k].id) != NULL;
    pthread_mutex_unlock(&svc->rmu);
    if (have) continue;
    struct svc_region *e = calloc(1, sizeof *e);
    if (!e) return bk_seterr(BK_ENOMEM, "out of memory");
    e->id = rows[k].id;
    snprintf(e->name, sizeof e->name, "%s", rows[k].name);
    snprintf(e->url, sizeof e->url, "%s", rows[k].blob_url);
    int rc = cache_open(svc, &rows[k], k == 0, e);
    if (rc) {
      free(e);
      return rc;
    }
    fresh[k] = e;
  }
  return 0;
}

static void fresh_free(struct svc_region **fresh, size_t n) {
  for (size_t k = 0; k < n; k++) {
    if (!fresh[k]) continue;
    if (fresh[k]->own_bs) bk_blobstore_close(fresh[k]->bs);
    free(fresh[k]);
    fresh[k] = NULL;
  }
}

/* Adds the prepared entries (taken: set NULL; one another thread added
 * meanwhile is left to the caller to free) and flags the cached regions
 * that are gone (rmu held). */
static int cache_merge(bk_svc *svc, const bk_region_row *rows, size_t n,
                       struct svc_region **fresh) {
  for (size_t i = 0; i < svc->nregions; i++) {
    int found = 0;
    for (size_t k = 0; k < n && !found; k++) found = rows[k].id == svc->regions[i]->id;
    if (!found) svc->regions[i]->removed = 1;
  }
  for (size_t k = 0; k < n; k++) {
    if (!fresh[k] || cache_find_id(svc, rows[k].id)) continue;
    if (svc->nregions >= sizeof svc->regions / sizeof svc->regions[0])
      return bk_seterr(BK_ELIMIT, "too many regions added and removed: restart the node");
    svc->regions[svc->nregions++] = fresh[k];
    fresh[k] = NULL;
  }
  svc->regions_on = n > 0;
  svc->default_region = n > 0 ? rows[0].id : 0;
  struct svc_region *d = n > 0 ? cache_find_id(svc, rows[0].id) : NULL;
  svc->bs = d ? d->bs : svc->cfg_bs;
  svc->regions_loaded_ms = bk_now_ms();
  return 0;
}

/* Prepares (unlocked) and merges (locked) the rows into the cache. */
static int cache_load(bk_svc *svc, const bk_region_row *rows, size_t n) {
  struct svc_region *fresh[BK_REGIONS_MAX] = {0};
  if (n > BK_REGIONS_MAX) n = BK_REGIONS_MAX;
  int rc = cache_prepare(svc, rows, n, fresh);
  if (rc == 0) {
    pthread_mutex_lock(&svc->rmu);
    rc = cache_merge(svc, rows, n, fresh);
    pthread_mutex_unlock(&svc->rmu);
  }
  fresh_free(fresh, n);
  return rc;
}

int svc_regions_reload(bk_svc *svc) {
  bk_region_row *rows = NULL;
  size_t n = 0;
  int rc = bk_db_region_list(svc->db, &rows, &n);
  if (rc) return rc;
  rc = cache_load(svc, rows, n);
  free(rows);
  return rc;
}

/* "eu, us" into buf: the configured regions' names (rmu held). */
static void names_list(bk_svc *svc, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; i < svc->nregions && used < n; i++) {
    if (svc->regions[i]->removed) continue;
    int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", svc->regions[i]->name);
    if (w < 0) break;
    used += (size_t)w;
  }
}

int svc_regions_open(bk_svc *svc) {
  bk_region_row *rows = NULL;
  size_t n = 0;
  int rc = bk_db_region_list(svc->db, &rows, &n);
  if (rc) return rc;
  int match = !svc->cfg_blob_url;
  for (size_t k = 0; k < n && !match; k++) match = !strcmp(rows[k].blob_url, svc->cfg_blob_url);
  if (n > 0 && !match) {
    char names[256] = "";
    for (size_t k = 0; k < n; k++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
               rows[k].name);
    free(rows);
    return bk_seterr(BK_EINVAL,
                     "the blob store given (--blobs) is not the store of a configured region "
                     "(regions: %s); give a region's URL or omit --blobs",
                     names);
  }
  if (n == 0 && !svc->cfg_bs) {
    free(rows);
    return bk_seterr(BK_EINVAL, "service: a blob store is required (no region is configured)");
  }
  rc = cache_load(svc, rows, n);
  free(rows);
  return rc;
}

void svc_regions_close(bk_svc *svc) {
  for (size_t i = 0; i < svc->nregions; i++) {
    if (svc->regions[i]->own_bs) bk_blobstore_close(svc->regions[i]->bs);
    free(svc->regions[i]);
  }
  svc->nregions = 0;
}

static int lookup(bk_svc *svc, int64_t id, const char *name, struct svc_region **out) {
  *out = NULL;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) {
      int rc = svc_regions_reload(svc);
      if (rc) return rc;
    }
    pthread_mutex_lock(&svc->rmu);
    int64_t want = id == 0 && !name ? svc->default_region : id;
    *out = name ? cache_find_name(svc, name) : cache_find_id(svc, want);
    char names[256] = ""; /* for the message of a miss after the reload only */
    if (!*out && pass == 1) names_list(svc, names, sizeof names);
    pthread_mutex_unlock(&svc->rmu);
    if (*out) return 0;
    if (pass == 1 && name)
      return bk_seterr(BK_ENOTFOUND, "unknown region '%.40s' (configured: %s)", name,
                       names[0] ? names : "none");
    if (pass == 1)
      return bk_seterr(BK_ENOTFOUND, "unknown region id %lld (configured: %s)", (long long)id,
                       names[0] ? names : "none");
  }
  return BK_ENOTFOUND;
}

int svc_region_by_id(bk_svc *svc, int64_t id, struct svc_region **out) {
  return lookup(svc, id, NULL, out);
}

int svc_region_by_name(bk_svc *svc, const char *name, struct svc_region **out) {
  return lookup(svc, 0, name, out);
}

int svc_region_err(const struct svc_region *r, int rc) {
  if (rc != BK_ENET || !r) return rc;
  char cause[400];
  snprintf(cause, sizeof cause, "%s", bk_errmsg());
  return bk_seterr(BK_ENET, "region '%s' is unavailable: %s", r->name, cause);
}

int svc_store_err(bk_svc *svc, bk_blobstore *bs, int rc) {
  if (rc != BK_ENET || !svc->regions_on) return rc;
  struct svc_region *r = NULL;
  pthread_mutex_lock(&svc->rmu);
  for (size_t i = 0; i < svc->nregions && !r; i++)
    if (svc->regions[i]->bs == bs) r = svc->regions[i];
  pthread_mutex_unlock(&svc->rmu);
  return svc_region_err(r, rc);
}

/* ------------------------------------------------------------ placement */

int svc_bucket_home(bk_svc *svc, int64_t bucket_id, struct svc_region **out) {
  bk_bucket b;
  int rc = bk_db_bucket_get_by_id(svc->db, bucket_id, &b);
  if (rc == 0 && b.region[0] && svc_region_by_name(svc, b.region, out) == 0) return 0;
  if (rc && rc != BK_ENOTFOUND) return rc;
  bk_clearerr();
  return svc_region_by_id(svc, 0, out);
}

int svc_xorb_home(bk_svc *svc, const bk_hash *xorb, struct svc_region **out) {
  int64_t home = 0;
  int rc = bk_db_xorb_home(svc->db, xorb, &home);
  if (rc) return rc;
  if (home > 0 && svc_region_by_id(svc, home, out) == 0) return 0;
  return svc_region_by_id(svc, 0, out); /* NULL home: stored before regions */
}

int svc_place(bk_svc *svc, int64_t bucket_id, const bk_hash *xorb, struct svc_place *pl) {
  pl->bs = svc->bs;
  pl->region_id = 0;
  if (!svc->regions_on) return 0;
  struct svc_region *r = NULL;
  int rc = svc_xorb_home(svc, xorb, &r); /* a known xorb stays where it lives */
  if (rc == BK_ENOTFOUND) rc = svc_bucket_home(svc, bucket_id, &r);
  if (rc == 0) rc = svc_region_ready(svc, r);
  if (rc) return rc;
  pl->bs = r->bs;
  pl->region_id = r->id;
  return 0;
}

int svc_xorb_store(bk_svc *svc, const bk_hash *xorb, bk_blobstore **bs) {
  *bs = svc->bs;
  if (!svc->regions_on) return 0;
  struct svc_region *r = NULL;
  int rc = svc_xorb_home(svc, xorb, &r);
  if (rc == BK_ENOTFOUND) return 0; /* no row: the callers report it themselves */
  if (rc == 0) rc = svc_region_ready(svc, r);
  if (rc) return rc;
  *bs = r->bs;
  return 0;
}

int svc_region_register_tx(bk_svc *svc, bk_db_tx *tx, const bk_hash *xorb,
                           const struct svc_place *pl) {
  if (!svc->regions_on || pl->region_id <= 0) return 0;
  int rc = bk_db_copy_add_tx(tx, BK_BLOB_XORB, xorb, pl->region_id);
  return rc ? rc : bk_db_xorb_set_home_tx(tx, xorb, pl->region_id);
}

/* ---------------------------------------------------------------- reads */

/* The regions to try for a read of xorb, best first: prefer (when it holds
 * a copy), the home, then every other region holding a copy. */
static int read_order(bk_svc *svc, const bk_hash *xorb, const char *prefer,
                      struct svc_region **order, size_t max, size_t *n) {
  int64_t ids[BK_REGIONS_MAX];
  size_t nids = 0;
  *n = 0;
  int rc = bk_db_copy_regions(svc->db, BK_BLOB_XORB, xorb, ids, BK_REGIONS_MAX, &nids);
  struct svc_region *home = NULL, *p = NULL;
  if (rc == 0 && prefer && *prefer) rc = svc_region_by_name(svc, prefer, &p);
  if (rc == BK_ENOTFOUND) rc = 0; /* a client in a region that is not configured: no preference */
  if (rc == 0) rc = svc_xorb_home(svc, xorb, &home);
  if (rc) return rc;
  for (size_t i = 0; p && i < nids; i++)
    if (ids[i] == p->id) order[(*n)++] = p;
  if (*n == 0 || order[0] != home) order[(*n)++] = home;
  for (size_t i = 0; i < nids && *n < max; i++) {
    struct svc_region *r = NULL;
    if (ids[i] == home->id || (p && ids[i] == p->id)) continue;
    if (svc_region_by_id(svc, ids[i], &r) == 0) order[(*n)++] = r;
  }
  bk_clearerr();
  return 0;
}

int svc_xorb_reader(bk_svc *svc, const bk_hash *xorb, const char *prefer, bk_blob_reader **r,
                    bk_blobstore **bs) {
  *r = NULL;
  *bs = svc->bs;
  if (!svc->regions_on) return bk_blob_reader_open(svc->bs, BK_BLOB_XORB, xorb, r);
  struct svc_region *order[BK_REGIONS_MAX + 2];
  size_t n = 0;
  int rc = read_order(svc, xorb, prefer, order, BK_REGIONS_MAX + 2, &n);
  if (rc) return rc;
  int first = 0;
  char msg[512] = "";
  for (size_t i = 0; i < n; i++) {
    rc = svc_region_ready(svc, order[i]);
    if (rc == 0) rc = bk_blob_reader_open(order[i]->bs, BK_BLOB_XORB, xorb, r);
    if (rc == 0) {
      *bs = order[i]->bs;
      return 0;
    }
    if (first) continue;
    first = svc_region_err(order[i], rc);
    snprintf(msg, sizeof msg, "%s", bk_errmsg());
  }
  return bk_seterr(first ? first : BK_ENOTFOUND, "%s", msg[0] ? msg : "xorb has no copy");
}

/* ------------------------------------------------------- registry (API) */

int bk_svc_regions_enabled(bk_svc *svc) { return svc->regions_on; }

int bk_svc_region_check_name(bk_svc *svc, const char *name) {
  if (!svc->regions_on) {
    if (bk_region_valid(name)) return 0;
    return bk_seterr(BK_EINVAL, "unknown region '%.40s' (use 'us' or 'eu')", name ? name : "");
  }
  struct svc_region *r = NULL;
  if (name && svc_region_by_name(svc, name, &r) == 0) return 0;
  char names[256];
  pthread_mutex_lock(&svc->rmu);
  names_list(svc, names, sizeof names);
  pthread_mutex_unlock(&svc->rmu);
  return bk_seterr(BK_EINVAL, "unknown region '%.40s' (configured: %s)", name ? name : "", names);
}

/* Masks what could be a secret in a URL: the password of user:pw@ and the
 * values of query parameters whose name says key, secret, token, signature,
 * password or credential. out always NUL-terminated (truncated if small). */
static int secret_name(const char *k, size_t len) {
  static const char *SECRET[] = {"key", "secret", "token", "signature", "password", "credential"};
  char low[64];
  size_t l = len < sizeof low - 1 ? len : sizeof low - 1;
  for (size_t i = 0; i < l; i++) low[i] = (char)((k[i] >= 'A' && k[i] <= 'Z') ? k[i] + 32 : k[i]);
  low[l] = 0;
  for (size_t i = 0; i < sizeof SECRET / sizeof SECRET[0]; i++)
    if (strstr(low, SECRET[i])) return 1;
  return 0;
}

static void mask_url(const char *url, char *out, size_t n) {
  bk_buf b;
  bk_buf_init(&b, n - 1);
  const char *p = strstr(url, "://");
  const char *auth = p ? p + 3 : url;
  size_t alen = strcspn(auth, "/?");
  const char *at = memchr(auth, '@', alen);
  const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  if (colon) {
    bk_buf_append(&b, url, (size_t)(colon - url));
    bk_buf_append(&b, ":***", 4);
    url = at;
  }
  const char *q = strchr(url, '?');
  bk_buf_append(&b, url, q ? (size_t)(q - url) : strlen(url));
  while (q && *q) {
    size_t len = strcspn(q + 1, "&") + 1; /* the separator and k=v */
    const char *eq = memchr(q, '=', len);
    if (eq && secret_name(q + 1, (size_t)(eq - q - 1))) {
      bk_buf_append(&b, q, (size_t)(eq - q) + 1);
      bk_buf_append(&b, "***", 3);
    } else {
      bk_buf_append(&b, q, len);
    }
    q += len;
  }
  size_t l = b.len < n - 1 ? b.len : n - 1;
  if (b.p) memcpy(out, b.p, l);
  out[l] = 0;
  bk_buf_free(&b);
}

int bk_svc_region_list(bk_svc *svc, bk_svc_region **out, size_t *n) {
  *out = NULL;
  *n = 0;
  bk_region_row *rows = NULL;
  size_t nr = 0;
  int rc = bk_db_region_list(svc->db, &rows, &nr);
  if (rc || nr == 0) return rc;
  bk_svc_region *v = calloc(nr, sizeof *v);
  if (!v) {
    free(rows);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < nr; i++) {
    snprintf(v[i].name, sizeof v[i].name, "%s", rows[i].name);
    mask_url(rows[i].blob_url, v[i].url_masked, sizeof v[i].url_masked);
    v[i].is_default = i == 0;
  }
  free(rows);
  *out = v;
  *n = nr;
  return 0;
}

/* The first region over a database holding xorbs: a few of them must be
 * in its store (it is the store serve used so far), else refused. */
static int first_region_check(bk_svc *svc, const char *name, bk_blobstore *bs) {
  bk_hash sample[8];
  size_t n = 0;
  int rc = bk_db_xorb_sample(svc->db, sample, 8, &n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int e = bk_blob_exists(bs, BK_BLOB_XORB, &sample[i]);
    if (e < 0) return bk_seterr(e, "region '%s': cannot reach its store: %s", name, bk_errmsg());
    if (e == 1) continue;
    char hex[BK_HASH_HEX_LEN + 1];
    bk_hash_to_hex(&sample[i], hex);
    return bk_seterr(BK_EINVAL,
                     "refused: the database holds xorbs but xorb %s is not in region '%s''s store; "
                     "the first region must be the blob store serve used so far (add it first)",
                     hex, name);
  }
  return rc;
}

int bk_svc_region_add(bk_svc *svc, const char *name, const char *blob_url, char *msg,
                      size_t msgn) {
  if (msg && msgn) msg[0] = 0;
  if (!bk_region_name_valid(name))
    return bk_seterr(BK_EINVAL, "invalid region name '%.40s' ([a-z][a-z0-9-]{0,31})",
                     name ? name : "");
  bk_region_row *rows = NULL;
  size_t nr = 0;
  int rc = bk_db_region_list(svc->db, &rows, &nr);
  for (size_t i = 0; rc == 0 && i < nr; i++)
    if (blob_url && !strcmp(rows[i].blob_url, blob_url))
      rc = bk_seterr(BK_EEXIST, "region '%s' already uses that blob store", rows[i].name);
  free(rows);
  if (rc) return rc;
  bk_blobstore *bs = NULL;
  if ((rc = bk_blobstore_open_url(blob_url ? blob_url : "", &bs)))
    return bk_seterr(rc, "region '%s': %s", name, bk_errmsg());
  if (nr == 0) rc = first_region_check(svc, name, bs);
  bk_blobstore_close(bs);
  int64_t id = 0;
  if (rc == 0) rc = bk_db_region_add(svc->db, name, blob_url, &id);
  uint64_t nx = 0, ns = 0;
  if (rc == 0 && nr == 0) rc = bk_db_region_adopt_all(svc->db, id, &nx, &ns);
  if (rc) return rc;
  if (msg && nr == 0)
    snprintf(msg, msgn,
             "added region '%s' (the default); recorded %llu xorbs and %llu shards already "
             "stored as present in %s",
             name, (unsigned long long)nx, (unsigned long long)ns, name);
  else if (msg)
    snprintf(msg, msgn, "added region '%s'", name);
  return svc_regions_reload(svc);
}

int bk_svc_region_remove(bk_svc *svc, const char *name, int force) {
  struct svc_region *r = NULL;
  int rc = svc_region_by_name(svc, name ? name : "", &r);
  if (rc) return rc;
  bk_region_usage u;
  rc = bk_db_region_usage(svc->db, r->id, r->name, r->id == svc->default_region, &u);
  if (rc) return rc;
  int busy = u.buckets_home || u.buckets_warm || u.xorbs_home || u.blobs_only;
  if (busy && !force)
    return bk_seterr(BK_EBUSY,
                     "region '%s' still holds data: %llu buckets homed there, %llu keep it warm, "
                     "%llu xorbs homed there, %llu blobs whose only copy is there "
                     "(move the data, then remove it with --force)",
                     r->name, (unsigned long long)u.buckets_home,
                     (unsigned long long)u.buckets_warm, (unsigned long long)u.xorbs_home,
                     (unsigned long long)u.blobs_only);
  rc = bk_db_region_delete(svc->db, r->id);
  return rc ? rc : svc_regions_reload(svc);
}

/* ----------------------------------------------------------- warm list */

int bk_svc_bucket_warm_set(bk_svc *svc, int64_t bucket_id, const char *const *names, size_t n) {
  if (n > BK_REGIONS_MAX) return bk_seterr(BK_EINVAL, "too many regions");
  if (n > 0 && !svc->regions_on)
    return bk_seterr(BK_EINVAL, "no regions are configured (bucketd region add)");
  int64_t ids[BK_REGIONS_MAX];
  for (size_t i = 0; i < n; i++) {
    struct svc_region *r = NULL;
    int rc = svc_region_by_name(svc, names[i] ? names[i] : "", &r);
    if (rc == BK_ENOTFOUND) rc = bk_seterr(BK_EINVAL, "%s", bk_errmsg());
    if (rc) return rc;
    ids[i] = r->id;
  }
  int rc = bk_db_warm_set(svc->db, bucket_id, ids, n);
  if (rc == 0) bk_svc_replicate_wake(svc);
  return rc;
}

/* ------------------------------------------------ reconstruction, serving */

int svc_fetch_region(bk_svc *svc, const bk_hash *xorb, const char *prefer,
                     char out[BK_REGION_NAME_MAX + 1], int *home) {
  out[0] = 0;
  *home = 1;
  if (!svc->regions_on) return 0;
  struct svc_region *order[BK_REGIONS_MAX + 2], *h = NULL;
  size_t n = 0;
  int rc = read_order(svc, xorb, prefer, order, BK_REGIONS_MAX + 2, &n);
  if (rc == 0) rc = svc_xorb_home(svc, xorb, &h);
  if (rc) return rc;
  snprintf(out, BK_REGION_NAME_MAX + 1, "%s", order[0]->name);
  *home = order[0] == h;
  return 0;
}

int svc_region_store(bk_svc *svc, const bk_hash *xorb, const char *region, bk_blobstore **bs,
                     int *home) {
  *bs = svc->bs;
  *home = 1;
  if (!svc->regions_on) return 0;
  struct svc_region *h = NULL, *r = NULL;
  int rc = svc_xorb_home(svc, xorb, &h);
  if (rc) return rc;
  if (!region || !*region || !strcmp(region, h->name)) {
    if ((rc = svc_region_ready(svc, h))) return rc;
    *bs = h->bs;
    return 0;
  }
  if ((rc = svc_region_by_name(svc, region, &r))) return rc;
  int64_t ids[BK_REGIONS_MAX];
  size_t n = 0;
  if ((rc = bk_db_copy_regions(svc->db, BK_BLOB_XORB, xorb, ids, BK_REGIONS_MAX, &n))) return rc;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] != r->id) continue;
    if ((rc = svc_region_ready(svc, r))) return rc;
    *bs = r->bs;
    *home = 0;
    return 0;
  }
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(xorb, hex);
  return bk_seterr(BK_ENOTFOUND, "xorb %s has no copy in region '%s'", hex, r->name);
}

size_t svc_regions_snapshot(bk_svc *svc, struct svc_region **out, size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&svc->rmu);
  for (size_t i = 0; i < svc->nregions && n < max; i++)
    if (!svc->regions[i]->removed) out[n++] = svc->regions[i];
  pthread_mutex_unlock(&svc->rmu);
  return n;
}
