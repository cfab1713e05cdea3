/* bucketd — the region parts of the Hub bucket API (docs/regions.md,
 * docs/server.md "Regions"):
 *   BucketInfo `region` (the home region; with regions configured never
 *   null) and `regions` (per region: role, state, bytes, lag; only with
 *   regions configured);
 *   POST /api/buckets/{ns}/{name}/prewarm   {"region":"us","prefix":"ckpt/"} -> 202
 *   PUT  /api/buckets/{ns}/{name}/settings  {"prewarm":["us","eu"]} (warm regions)
 * Everything region-specific is asked of the service (bk_svc_region_*,
 * bk_svc_bucket_*); nothing here touches a store.
 *
 * Ownership: nothing is kept between calls; the JSON goes into the caller's
 * buffer, a parsed warm list lives in the caller's struct.
 */
#ifndef BUCKETD_HUB_REGIONS_H
#define BUCKETD_HUB_REGIONS_H

#include <stddef.h>

#include "buckets/buf.h"
#include "store/db.h"

struct bk_server;
struct bk_http_req;
struct cJSON;

#define HUB_WARM_MAX 16 /* regions in one warm list */

/* Appends `,"region":...` and, with regions configured,
 * `,"regions":[{"name","home","warm","prewarm","state","bytesPresent",
 * "bytesNeeded","xorbsPresent","xorbsNeeded","lagMs"}...]` to o. */
int hub_region_fields(bk_buf *o, struct bk_server *srv, const bk_bucket *b);

/* A warm-region list from a settings body: `prewarm` as an array of names
 * or a comma-separated string ("" or [] clears). */
struct hub_warm {
  int set;                        /* 1 = the body has `prewarm` */
  size_t n;
  char names[HUB_WARM_MAX][33];
};
/* Parses `prewarm` of j into w (syntax only). 0, or 1 after replying 400. */
int hub_warm_parse(struct bk_http_req *req, const struct cJSON *j, struct hub_warm *w);
/* Applies w (when set) to bucket_id. 0, or 1 after replying (400 naming an
 * unknown region, or the store error). */
int hub_warm_apply(struct bk_server *srv, struct bk_http_req *req, int64_t bucket_id,
                   const struct hub_warm *w);

/* POST .../prewarm: write access to the bucket; 202 {"job","region","prefix"}. */
int hub_prewarm(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                const char *name);

#endif
