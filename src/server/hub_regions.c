/* bucketd — region parts of the Hub bucket API (see hub_regions.h). */
#include "buckets/names.h"
#include "server/hub_regions.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "server/http.h"
#include "server/hub_api.h"
#include "server/hub_parse.h"
#include "server/jsonout.h"
#include "server/server.h"
#include "service/service.h"

static int region_obj(bk_buf *o, const bk_svc_region_status *s, int first) {
  int rc = bk_buf_append(o, first ? "{\"name\":" : ",{\"name\":", first ? 8 : 9);
  if (!rc) rc = bk_jstr(o, s->name);
  if (!rc)
    rc = bk_buf_printf(o,
                       ",\"home\":%s,\"warm\":%s,\"prewarm\":%s,\"state\":\"%s\","
                       "\"bytesPresent\":%" PRIu64 ",\"bytesNeeded\":%" PRIu64
                       ",\"xorbsPresent\":%" PRIu64 ",\"xorbsNeeded\":%" PRIu64
                       ",\"lagMs\":%" PRId64 "}",
                       s->roles & BK_SVC_ROLE_HOME ? "true" : "false",
                       s->roles & BK_SVC_ROLE_WARM ? "true" : "false",
                       s->roles & BK_SVC_ROLE_PREWARM ? "true" : "false",
                       s->warm ? "warm" : "warming", s->bytes_present, s->bytes_needed,
                       s->xorbs_present, s->xorbs_needed, s->lag_ms > 0 ? s->lag_ms : 0);
  return rc;
}

int hub_region_fields(bk_buf *o, struct bk_server *srv, const bk_bucket *b) {
  int rc = BK_LIT(o, ",\"region\":");
  if (rc) return rc;
  if (bk_svc_regions_enabled(srv->svc) != 1) /* a label only; null when none was chosen */
    return b->region[0] ? bk_jstr(o, b->region) : BK_LIT(o, "null");
  bk_svc_region_status *st = NULL;
  size_t n = 0;
  rc = bk_svc_bucket_regions(srv->svc, b->id, &st, &n);
  if (rc) return rc;
  const char *home = NULL;
  for (size_t i = 0; i < n && !home; i++)
    if (st[i].roles & BK_SVC_ROLE_HOME) home = st[i].name;
  rc = home ? bk_jstr(o, home) : b->region[0] ? bk_jstr(o, b->region) : BK_LIT(o, "null");
  if (!rc) rc = BK_LIT(o, ",\"regions\":[");
  for (size_t i = 0; i < n && !rc; i++) rc = region_obj(o, &st[i], i == 0);
  if (!rc) rc = bk_buf_append_u8(o, ']');
  free(st);
  return rc;
}

static int warm_add(struct bk_http_req *req, struct hub_warm *w, const char *name) {
  if (!bk_region_name_valid(name))
    return bk_http_error(req, 400, NULL,
                         "invalid region name '%.40s' in 'prewarm' (a-z, 0-9, '-', at most 32, "
                         "starting with a letter)",
                         name),
           1;
  for (size_t i = 0; i < w->n; i++)
    if (!strcmp(w->names[i], name))
      return bk_http_error(req, 400, NULL, "region '%s' is listed twice in 'prewarm'", name), 1;
  if (w->n >= HUB_WARM_MAX)
    return bk_http_error(req, 400, NULL, "'prewarm' lists at most %d regions", HUB_WARM_MAX), 1;
  snprintf(w->names[w->n++], sizeof w->names[0], "%s", name);
  return 0;
}

int hub_warm_parse(struct bk_http_req *req, const cJSON *j, struct hub_warm *w) {
  memset(w, 0, sizeof *w);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prewarm");
  if (!p) return 0;
  w->set = 1;
  if (cJSON_IsNull(p)) return 0;
  if (cJSON_IsString(p)) {
    char buf[HUB_WARM_MAX * 40];
    const char *names[HUB_WARM_MAX];
    char msg[160];
    size_t n = 0;
    if (hub_region_list_parse(p->valuestring, buf, sizeof buf, names, HUB_WARM_MAX, &n, msg,
                              sizeof msg))
      return bk_http_error(req, 400, NULL, "'prewarm': %s", msg), 1;
    for (size_t i = 0; i < n; i++)
      if (warm_add(req, w, names[i])) return 1;
    return 0;
  }
  if (!cJSON_IsArray(p))
    return bk_http_error(req, 400, NULL, "'prewarm' must be a list of region names"), 1;
  const cJSON *e;
  cJSON_ArrayForEach(e, p) {
    if (!cJSON_IsString(e))
      return bk_http_error(req, 400, NULL, "'prewarm' must be a list of region names"), 1;
    if (warm_add(req, w, e->valuestring)) return 1;
  }
  return 0;
}

int hub_warm_apply(struct bk_server *srv, struct bk_http_req *req, int64_t bucket_id,
                   const struct hub_warm *w) {
  if (!w->set) return 0;
  const char *names[HUB_WARM_MAX];
  for (size_t i = 0; i < w->n; i++) names[i] = w->names[i];
  int rc = bk_svc_bucket_warm_set(srv->svc, bucket_id, names, w->n);
  if (rc == BK_EINVAL) return bk_http_error(req, 400, NULL, "%s", bk_errmsg()), 1;
  return rc ? hub_store_error(req, rc) : 0;
}

/* {"region": NAME, "prefix": PATH|null}: 0 with region/prefix pointing into
 * j (prefix NULL for none), or 1 after replying 400. */
static int prewarm_body(struct bk_http_req *req, const cJSON *j, const char **region,
                        const char **prefix) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "region");
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prefix");
  if (!cJSON_IsString(r))
    return bk_http_error(req, 400, NULL, "'region' (the region to pre-warm) is required"), 1;
  if (!bk_region_name_valid(r->valuestring))
    return bk_http_error(req, 400, NULL, "invalid region name '%.40s'", r->valuestring), 1;
  *region = r->valuestring;
  *prefix = NULL;
  if (!p || cJSON_IsNull(p)) return 0;
  char norm[BK_PATH_MAX + 2];
  if (!cJSON_IsString(p)) return bk_http_error(req, 400, NULL, "'prefix' must be a string"), 1;
  long pl = hub_tree_prefix(p->valuestring, norm);
  if (pl < 0) return bk_http_error(req, 400, NULL, "invalid 'prefix' (a path in the bucket)"), 1;
  if (*p->valuestring) *prefix = p->valuestring;
  return 0;
}

static int prewarm_reply(struct bk_http_req *req, int64_t job, const char *region,
                         const char *prefix) {
  bk_buf o;
  bk_buf_init(&o, 16 * 1024);
  int rc = bk_buf_printf(&o, "{\"job\":%" PRId64 ",\"region\":", job);
  if (!rc) rc = bk_jstr(&o, region);
  if (!rc) rc = BK_LIT(&o, ",\"prefix\":");
  if (!rc) rc = prefix ? bk_jstr(&o, prefix) : BK_LIT(&o, "null");
  if (!rc) rc = bk_buf_append_u8(&o, '}');
  if (rc) {
    bk_buf_free(&o);
    return hub_store_error(req, rc);
  }
  bk_http_reply_buf(req, 202, "application/json", &o);
  return 1;
}

int hub_prewarm(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                const char *name) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_WRITE, &b, NULL)) return 1;
  if (req->body.len == 0) return bk_http_error(req, 400, NULL, "request body required"), 1;
  cJSON *j = cJSON_ParseWithLength((const char *)req->body.p, req->body.len);
  if (!cJSON_IsObject(j) || hub_json_has_nul((const char *)req->body.p, req->body.len)) {
    cJSON_Delete(j);
    return bk_http_error(req, 400, NULL, "request body is not a JSON object"), 1;
  }
  const char *region, *prefix;
  if (prewarm_body(req, j, &region, &prefix)) {
    cJSON_Delete(j);
    return 1;
  }
  int64_t job = 0;
  int rc = bk_svc_prewarm(srv->svc, b.id, region, prefix, &job);
  if (rc == BK_EINVAL) rc = bk_http_error(req, 400, NULL, "%s", bk_errmsg());
  else if (rc) rc = hub_store_error(req, rc);
  else rc = prewarm_reply(req, job, region, prefix);
  cJSON_Delete(j);
  return rc;
}
