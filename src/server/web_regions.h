/* bucketd web — the regions part of a bucket page (docs/web.md "Regions"):
 * the home region and every warm / pre-warm region with its state, bytes
 * present / needed and lag (a table), and for admins the choices of the
 * warm-regions form and the pre-warm form. Everything comes from the service
 * (bk_svc_region_list, bk_svc_bucket_regions); the forms' POST handlers in
 * web.c call web_regions_set_warm / bk_svc_prewarm.
 *
 * Ownership: a web_regions holds three growable buffers the caller releases
 * with web_regions_free (also after a failed load).
 */
#ifndef BUCKETD_WEB_REGIONS_H
#define BUCKETD_WEB_REGIONS_H

#include "buckets/buf.h"
#include "store/db.h"

struct bk_server;
struct web_form;

struct web_regions {
  int enabled;         /* regions configured on the server */
  char home[33];       /* the home region ("" without regions) */
  bk_buf table;        /* <table> of the bucket's regions (NUL-terminated) */
  bk_buf choices;      /* warm-region checkboxes (NUL-terminated) */
  bk_buf options;      /* <option>s of the pre-warm region select (NUL-terminated) */
};

/* Fills r for bucket b (with_forms: also the admin choices). 0 or BK_E*. */
int web_regions_load(struct bk_server *srv, const bk_bucket *b, int with_forms,
                     struct web_regions *r);
void web_regions_free(struct web_regions *r);

/* Applies the warm-regions form (every "warm" field is a region name; none
 * clears the list). 0, BK_EINVAL (msg says which name), or a store error. */
int web_regions_set_warm(struct bk_server *srv, int64_t bucket_id, const struct web_form *f);

#endif
