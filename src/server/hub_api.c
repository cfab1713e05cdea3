/* bucketd — Hub bucket API. See hub_api.h and docs/server.md,
 * docs/api-compat.md for the choices where spec and clients disagree. */
#include "buckets/names.h"
#include "server/hub_api.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/accounts.h"
#include "buckets/error.h"
#include "server/auth.h"
#include "server/cas_token.h"
#include "server/http.h"
#include "server/hub_parse.h"
#include "server/hub_regions.h"
#include "server/jsonout.h"
#include "server/ratelimit.h"
#include "server/resolve.h"
#include "server/router.h"
#include "server/server.h"
#include "server/web.h"
#include "service/service.h"

#define XET_TOKEN_TTL_S 3600
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define TREE_LIMIT_DEFAULT 1000
#define TREE_BODY_MAX (512u << 20)

/* ---- small helpers ---- */

int hub_store_error(struct bk_http_req *req, int rc) {
  int status = bk_http_status(rc);
  if (status >= 500)
    fprintf(stderr, "bucketd: %s %s: store error %s: %s\n", req->method, req->raw_path,
            bk_strerror(rc), bk_errmsg());
  switch (rc) {
  case BK_ENOSPC:
    return bk_http_error_rc(req, rc, NULL,
                            "the server's disk is full, nothing was changed; retry when space "
                            "has been freed");
  case BK_EDB: return bk_http_error_rc(req, rc, NULL, "metadata database busy, retry");
  case BK_ENOMEM: return bk_http_error_rc(req, rc, NULL, "out of memory");
  default: break;
  }
  if (status < 500 || bk_http_region_unavailable(rc))
    return bk_http_error_rc(req, rc, NULL, "%s", bk_errmsg());
  return bk_http_error_rc(req, rc, NULL, "internal error (%s)", bk_strerror(rc));
}

static int reply_buf_json(struct bk_http_req *req, int status, bk_buf *b) {
  return bk_http_reply_buf(req, status, "application/json", b), 1;
}

static int oom(struct bk_http_req *req) {
  return bk_http_error_rc(req, BK_ENOMEM, NULL, "out of memory");
}

/* Replies 200 with the JSON built in o, or, when building failed (rc), frees
 * it and answers the error: 503 out of memory (as_oom) or by store code. */
static int reply_built(struct bk_http_req *req, int rc, bk_buf *o, int as_oom) {
  if (!rc) return reply_buf_json(req, 200, o);
  bk_buf_free(o);
  return as_oom ? oom(req) : hub_store_error(req, rc);
}

static int need_auth(struct bk_http_req *req) {
  return bk_http_error(req, 401, NULL, "authentication required"), 1;
}

/* Rejects a presented but invalid token; 1 if replied. */
static int check_token(struct bk_http_req *req) {
  if (req->auth.token_invalid ||
      (bk_http_bearer(req) && req->auth.user_id == 0))
    return bk_http_error(req, 401, NULL, "Invalid credentials in Authorization header"), 1;
  return 0;
}

static int repo_not_found(struct bk_http_req *req, const char *ns, const char *name) {
  int status = req->auth.user_id ? 404 : 401;
  return bk_http_error(req, status, "RepoNotFound",
                       "Bucket not found: %s/%s. If the bucket is private, make sure you are "
                       "authenticated and have access to it.",
                       ns, name),
         1;
}

/* Rejects a presented but invalid token and reads the namespace "me" as
 * the caller's own (401 when anonymous). 1 if replied. */
static int caller_ns(struct bk_http_req *req, const char **ns) {
  if (check_token(req)) return 1;
  if (!strcmp(*ns, "me")) {
    if (!req->auth.user_id) return need_auth(req);
    *ns = req->auth.name;
  }
  return 0;
}

int hub_load_bucket(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                    const char *name, int need_role, bk_bucket *b, int *rolep) {
  if (caller_ns(req, &ns)) return 1;
  if (!bk_name_valid(ns) || !bk_name_valid(name)) return repo_not_found(req, ns, name);
  int rc = bk_db_bucket_get(srv->db, ns, name, b);
  if (rc == BK_ENOTFOUND) return repo_not_found(req, ns, name);
  if (rc) return hub_store_error(req, rc);
  int role = BK_ROLE_NONE;
  rc = bk_auth_bucket_role(srv, &req->auth, b, &role);
  if (rc) return hub_store_error(req, rc);
  if (role < BK_ROLE_READ) return repo_not_found(req, ns, name);
  if (role < need_role) {
    if (!req->auth.user_id) return need_auth(req);
    if (req->auth.role < BK_ROLE_WRITE)
      return bk_http_error(req, 403, NULL, "this token is read-only; a write token is required"), 1;
    return bk_http_error(req, 403, NULL, "you need %s access to %s/%s",
                         bk_role_name(need_role), b->ns, b->name),
           1;
  }
  if (rolep) *rolep = role;
  return 0;
}

static int bucket_url(bk_buf *b, struct bk_server *srv, const char *ns, const char *name) {
  int rc = bk_buf_printf(b, "%s/buckets/", srv->public_url);
  if (!rc) rc = bk_http_escape(b, ns, 0);
  if (!rc) rc = bk_buf_append_u8(b, '/');
  if (!rc) rc = bk_http_escape(b, name, 0);
  return rc;
}

/* Writes a BucketInfo object. */
static int bucket_json(bk_buf *o, struct bk_server *srv, const bk_bucket *bk, int with_usage) {
  char id[2 * BK_NAME_MAX + 2];
  snprintf(id, sizeof id, "%s/%s", bk->ns, bk->name);
  bk_usage u = {0};
  if (with_usage) {
    int rc = bk_db_bucket_usage(srv->db, bk->id, &u);
    if (rc) return rc;
  }
  int rc = bk_buf_append_u8(o, '{');
  if (!rc) rc = bk_jkey(o, "id");
  if (!rc) rc = bk_jstr(o, id);
  if (!rc) rc = BK_LIT(o, ",\"name\":");
  if (!rc) rc = bk_jstr(o, bk->name);
  if (!rc) rc = BK_LIT(o, ",\"namespace\":");
  if (!rc) rc = bk_jstr(o, bk->ns);
  if (!rc) rc = bk_buf_printf(o, ",\"private\":%s,\"createdAt\":", bk->is_private ? "true" : "false");
  if (!rc) rc = bk_jtime(o, bk->created_ms);
  if (!rc) rc = BK_LIT(o, ",\"updatedAt\":");
  if (!rc) rc = bk_jtime(o, bk->updated_ms);
  if (!rc) rc = hub_region_fields(o, srv, bk); /* region (+ regions) */
  if (!rc) rc = BK_LIT(o, ",\"url\":\"");
  if (!rc) rc = bucket_url(o, srv, bk->ns, bk->name);
  if (!rc) rc = bk_buf_append_u8(o, '"');
  if (!rc && with_usage) {
    double ratio = u.stored_bytes ? (double)u.logical_bytes / (double)u.stored_bytes : 0.0;
    rc = bk_buf_printf(o,
                       ",\"size\":%" PRIu64 ",\"totalFiles\":%" PRIu64
                       ",\"storedSize\":%" PRIu64 ",\"storedChunks\":%" PRIu64
                       ",\"dedupRatio\":%.4f",
                       u.logical_bytes, u.nfiles, u.stored_bytes, u.nchunks, ratio);
  }
  if (!rc) rc = bk_buf_append_u8(o, '}');
  return rc;
}

static cJSON *parse_json_body(struct bk_http_req *req, int allow_empty, int *replied) {
  *replied = 0;
  if (req->body.len == 0) {
    if (allow_empty) return cJSON_CreateObject();
    bk_http_error(req, 400, NULL, "request body required");
    *replied = 1;
    return NULL;
  }
  cJSON *j = cJSON_ParseWithLength((const char *)req->body.p, req->body.len);
  if (!j || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    bk_http_error(req, 400, NULL, "request body is not a JSON object");
    *replied = 1;
    return NULL;
  }
  if (hub_json_has_nul((const char *)req->body.p, req->body.len)) {
    cJSON_Delete(j);
    bk_http_error(req, 400, NULL, "\\u0000 in a string");
    *replied = 1;
    return NULL;
  }
  return j;
}

/* Reads {private: bool} or {visibility: "public"|"private"|"protected"}.
 * Returns 0 and sets *priv (-1 when absent), or 1 after replying 400. */
static int parse_visibility(struct bk_http_req *req, cJSON *j, int *priv) {
  *priv = -1;
  cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "private");
  cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "visibility");
  if (p && !cJSON_IsNull(p)) {
    if (!cJSON_IsBool(p))
      return bk_http_error(req, 400, NULL, "'private' must be a boolean"), 1;
    *priv = cJSON_IsTrue(p) ? 1 : 0;
  }
  if (v && !cJSON_IsNull(v)) {
    if (!cJSON_IsString(v))
      return bk_http_error(req, 400, NULL, "'visibility' must be a string"), 1;
    int vp;
    if (!strcmp(v->valuestring, "public")) vp = 0;
    else if (!strcmp(v->valuestring, "private") || !strcmp(v->valuestring, "protected")) vp = 1;
    else
      return bk_http_error(req, 400, NULL, "'visibility' must be public, private or protected"), 1;
    if (*priv >= 0 && *priv != vp)
      return bk_http_error(req, 400, NULL, "'private' and 'visibility' disagree"), 1;
    *priv = vp;
  }
  return 0;
}

/* `region` of a create request (the key huggingface_hub sends; absent or
 * null = none): a region name the service accepts (a configured region, or
 * without regions "us"/"eu") copied to out ("" for none), else 400 naming
 * the accepted ones. */
static int parse_region(struct bk_server *srv, struct bk_http_req *req, cJSON *j, char *out,
                        size_t n) {
  out[0] = 0;
  cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "region");
  if (!r || cJSON_IsNull(r)) return 0;
  if (!cJSON_IsString(r) || !bk_region_name_valid(r->valuestring) ||
      strlen(r->valuestring) >= n)
    return bk_http_error(req, 400, NULL,
                         "'region' must be a region name (a-z, 0-9, '-', at most 32)"),
           1;
  int rc = bk_svc_region_check_name(srv->svc, r->valuestring);
  if (rc == BK_EINVAL) return bk_http_error(req, 400, NULL, "%s", bk_errmsg()), 1;
  if (rc) return hub_store_error(req, rc);
  snprintf(out, n, "%s", r->valuestring);
  return 0;
}

/* ---- whoami ---- */

struct orgs_ctx {
  bk_buf *o;
  int n;
  int rc;
};

static int org_cb(void *ctx, const bk_ns *org, int role) {
  struct orgs_ctx *c = ctx;
  int rc = c->n ? BK_LIT(c->o, ",{") : bk_buf_append_u8(c->o, '{');
  c->n++;
  if (!rc) rc = bk_buf_printf(c->o, "\"type\":\"org\",\"id\":\"%" PRId64 "\",\"name\":", org->id);
  if (!rc) rc = bk_jstr(c->o, org->name);
  if (!rc) rc = BK_LIT(c->o, ",\"fullname\":");
  if (!rc) rc = bk_jstr(c->o, org->name);
  if (!rc) rc = bk_buf_printf(c->o, ",\"roleInOrg\":\"%s\"}", bk_role_name(role));
  c->rc = rc;
  return rc;
}

static int h_whoami(struct bk_server *srv, struct bk_http_req *req) {
  if (check_token(req)) return 1;
  if (!req->auth.user_id) return need_auth(req);
  bk_buf o;
  bk_buf_init(&o, 1u << 20);
  int rc = bk_buf_printf(&o, "{\"type\":\"user\",\"id\":\"%" PRId64 "\",\"name\":", req->auth.user_id);
  if (!rc) rc = bk_jstr(&o, req->auth.name);
  if (!rc) rc = BK_LIT(&o, ",\"fullname\":");
  if (!rc) rc = bk_jstr(&o, req->auth.name);
  if (!rc) rc = BK_LIT(&o, ",\"isPro\":false,\"canPay\":false,\"emailVerified\":false,\"orgs\":[");
  struct orgs_ctx oc = {&o, 0, 0};
  if (!rc) {
    rc = bk_db_user_orgs(srv->db, req->auth.user_id, org_cb, &oc);
    if (!rc) rc = oc.rc;
  }
  if (!rc)
    rc = bk_buf_printf(&o,
                       "],\"auth\":{\"type\":\"access_token\",\"accessToken\":{\"displayName\":"
                       "\"token-%" PRId64 "\",\"role\":\"%s\"}}}",
                       req->auth.token_id, bk_role_name(req->auth.role));
  return reply_built(req, rc, &o, 0);
}

/* ---- create / info / delete / list / move / settings ---- */

/* Looks up namespace ns for creating a bucket in it (create, move target):
 * 0 with *out when the caller may write there, else 1 after replying 404
 * (unknown namespace) or 403 (read-only token / no write role). */
static int load_ns_writable(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                            bk_ns *out) {
  int rc = bk_db_ns_get(srv->db, ns, out);
  if (rc == BK_ENOTFOUND)
    return bk_http_error(req, 404, NULL, "namespace '%.100s' not found", ns), 1;
  if (rc) return hub_store_error(req, rc);
  int role;
  rc = bk_auth_ns_role(srv, &req->auth, out->id, &role);
  if (rc) return hub_store_error(req, rc);
  if (role >= BK_ROLE_WRITE) return 0;
  if (req->auth.role < BK_ROLE_WRITE)
    return bk_http_error(req, 403, NULL, "this token is read-only; a write token is required"), 1;
  return bk_http_error(req, 403, NULL, "no write permission on namespace '%s'", out->name), 1;
}

static int h_create(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                    const char *name) {
  if (check_token(req)) return 1;
  if (!req->auth.user_id) return need_auth(req);
  if (!strcmp(ns, "me")) ns = req->auth.name;
  if (!bk_name_valid(name))
    return bk_http_error(req, 400, NULL,
                         "invalid bucket name '%.100s': use letters, digits, '-', '_', '.' "
                         "(max 96, no '--' or '..', not starting or ending with '-' or '.')",
                         name),
           1;
  int replied;
  cJSON *j = parse_json_body(req, 1, &replied);
  if (!j) return 1;
  int priv;
  char region[sizeof ((bk_bucket *)0)->region];
  if (parse_visibility(req, j, &priv) || parse_region(srv, req, j, region, sizeof region)) {
    cJSON_Delete(j);
    return 1;
  }
  cJSON_Delete(j);
  bk_ns nsr;
  if (load_ns_writable(srv, req, ns, &nsr)) return 1;
  bk_bucket b;
  int rc = bk_db_bucket_create_ex(srv->db, nsr.id, name, priv > 0, region[0] ? region : NULL, &b);
  if (rc == BK_EEXIST)
    return bk_http_error(req, 409, NULL, "You already created this bucket: %s/%s", nsr.name, name), 1;
  if (rc) return hub_store_error(req, rc);
  bk_buf o;
  bk_buf_init(&o, 64 * 1024);
  rc = BK_LIT(&o, "{\"url\":\"");
  if (!rc) rc = bucket_url(&o, srv, b.ns, b.name);
  if (!rc) rc = BK_LIT(&o, "\",\"id\":");
  char id[2 * BK_NAME_MAX + 2];
  snprintf(id, sizeof id, "%s/%s", b.ns, b.name);
  if (!rc) rc = bk_jstr(&o, id);
  if (!rc) rc = BK_LIT(&o, ",\"name\":");
  if (!rc) rc = bk_jstr(&o, id);
  if (!rc) rc = bk_buf_printf(&o, ",\"private\":%s}", b.is_private ? "true" : "false");
  return reply_built(req, rc, &o, 1);
}

static int h_info(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                  const char *name) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_READ, &b, NULL)) return 1;
  /* `expand[]=...` (the Hub's field selection; JS repoExists sends
   * expand[]=likes and ignores the body): the usage figures, which cost a
   * scan on a large bucket that just changed, only when asked for. */
  int with_usage = 1, expand = 0;
  for (size_t i = 0; i < req->nparams; i++) {
    if (strcmp(req->params[i].key, "expand[]") && strcmp(req->params[i].key, "expand")) continue;
    const char *v = req->params[i].val;
    if (!expand) with_usage = 0;
    expand = 1;
    if (!strcmp(v, "size") || !strcmp(v, "totalFiles") || !strcmp(v, "storedSize") ||
        !strcmp(v, "usage"))
      with_usage = 1;
  }
  bk_buf o;
  bk_buf_init(&o, 64 * 1024);
  int rc = bucket_json(&o, srv, &b, with_usage);
  return reply_built(req, rc, &o, 0);
}

static int h_delete(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                    const char *name) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_ADMIN, &b, NULL)) return 1;
  int rc = bk_db_bucket_delete(srv->db, b.id);
  if (rc == BK_ENOTFOUND) return repo_not_found(req, ns, name);
  if (rc) return hub_store_error(req, rc);
  return bk_http_reply_json(req, 200, "{}"), 1;
}

static int h_settings(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                      const char *name) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_ADMIN, &b, NULL)) return 1;
  int replied;
  cJSON *j = parse_json_body(req, 0, &replied);
  if (!j) return 1;
  int priv;
  struct hub_warm warm;
  int bad = parse_visibility(req, j, &priv) || hub_warm_parse(req, j, &warm);
  cJSON_Delete(j);
  if (bad) return 1;
  if (hub_warm_apply(srv, req, b.id, &warm)) return 1; /* unknown region: nothing changed */
  if (priv >= 0 && priv != b.is_private) {
    int rc = bk_db_bucket_set_private(srv->db, b.id, priv);
    if (rc) return hub_store_error(req, rc);
    b.is_private = priv;
  }
  bk_buf o;
  bk_buf_init(&o, 64 * 1024);
  int rc = bucket_json(&o, srv, &b, 0);
  return reply_built(req, rc, &o, 1);
}

struct list_ctx {
  struct bk_server *srv;
  bk_buf *o;
  int n;
  int rc;
  char last[BK_NAME_MAX + 1];
};

static int list_cb(void *ctx, const bk_bucket *b) {
  struct list_ctx *c = ctx;
  int rc = c->n++ ? bk_buf_append_u8(c->o, ',') : 0;
  if (!rc) rc = bucket_json(c->o, c->srv, b, 1);
  snprintf(c->last, sizeof c->last, "%s", b->name);
  c->rc = rc;
  return rc;
}

static int parse_limit(struct bk_http_req *req, size_t def, size_t max, size_t *out) {
  const char *s = bk_http_param(req, "limit");
  *out = def;
  if (!s || !*s) return 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || s[0] == '-' || v == 0)
    return bk_http_error(req, 400, NULL, "bad 'limit' (positive integer expected)"), 1;
  *out = v > max ? max : (size_t)v;
  return 0;
}

static int h_list(struct bk_server *srv, struct bk_http_req *req, const char *ns) {
  if (caller_ns(req, &ns)) return 1;
  bk_ns nsr;
  int rc = bk_name_valid(ns) ? bk_db_ns_get(srv->db, ns, &nsr) : BK_ENOTFOUND;
  if (rc == BK_ENOTFOUND)
    return bk_http_error(req, 404, NULL, "namespace '%.100s' not found", ns), 1;
  if (rc) return hub_store_error(req, rc);
  size_t limit;
  if (parse_limit(req, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &limit)) return 1;
  const char *search = bk_http_param(req, "search");
  const char *cursor = bk_http_param(req, "cursor");
  int role;
  rc = bk_auth_ns_role(srv, &req->auth, nsr.id, &role);
  if (rc) return hub_store_error(req, rc);
  bk_buf o;
  bk_buf_init(&o, 64u << 20);
  struct list_ctx lc = {srv, &o, 0, 0, ""};
  int more = 0;
  rc = bk_buf_append_u8(&o, '[');
  if (!rc)
    rc = bk_db_bucket_list(srv->db, nsr.id, search, role >= BK_ROLE_READ, cursor, limit,
                           list_cb, &lc, &more);
  if (!rc) rc = lc.rc;
  if (!rc) rc = bk_buf_append_u8(&o, ']');
  if (rc) {
    bk_buf_free(&o);
    return hub_store_error(req, rc);
  }
  if (more && lc.n) {
    bk_buf l;
    bk_buf_init(&l, 8192);
    int lr = bk_buf_printf(&l, "<%s/api/buckets/", srv->public_url);
    if (!lr) lr = bk_http_escape(&l, nsr.name, 0);
    if (!lr) lr = bk_buf_printf(&l, "?limit=%zu", limit);
    if (!lr && search && *search) {
      lr = BK_LIT(&l, "&search=");
      if (!lr) lr = bk_http_escape(&l, search, 0);
    }
    if (!lr) lr = BK_LIT(&l, "&cursor=");
    if (!lr) lr = bk_http_escape(&l, lc.last, 0);
    if (!lr) lr = bk_buf_printf(&l, ">; rel=\"next\"");
    if (!lr) lr = bk_buf_append_u8(&l, 0);
    if (!lr) bk_http_add_header(req, "Link", (const char *)l.p);
    bk_buf_free(&l);
  }
  return reply_buf_json(req, 200, &o);
}

static int h_move(struct bk_server *srv, struct bk_http_req *req) {
  if (check_token(req)) return 1;
  if (!req->auth.user_id) return need_auth(req);
  int replied;
  cJSON *j = parse_json_body(req, 0, &replied);
  if (!j) return 1;
  cJSON *from = cJSON_GetObjectItemCaseSensitive(j, "fromRepo");
  cJSON *to = cJSON_GetObjectItemCaseSensitive(j, "toRepo");
  cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  char fb[256], tb[256];
  char *fns, *fname, *tns, *tname;
  int bad = !cJSON_IsString(from) || !cJSON_IsString(to);
  if (bad) {
    cJSON_Delete(j);
    return bk_http_error(req, 400, NULL, "'fromRepo' and 'toRepo' (strings) are required"), 1;
  }
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "bucket")) {
    cJSON_Delete(j);
    return bk_http_error(req, 400, NULL, "only type \"bucket\" can be moved on this server"), 1;
  }
  if (hub_split_repo_id(from->valuestring, fb, sizeof fb, &fns, &fname) ||
      hub_split_repo_id(to->valuestring, tb, sizeof tb, &tns, &tname)) {
    cJSON_Delete(j);
    return bk_http_error(req, 400, NULL, "repo ids must be exactly 'namespace/name'"), 1;
  }
  cJSON_Delete(j);
  bk_bucket b;
  if (hub_load_bucket(srv, req, fns, fname, BK_ROLE_ADMIN, &b, NULL)) return 1;
  bk_ns target;
  if (load_ns_writable(srv, req, tns, &target)) return 1;
  if (target.id == b.ns_id && !strcmp(tname, b.name))
    return bk_http_error(req, 400, NULL, "source and destination are the same"), 1;
  int rc = bk_db_bucket_move(srv->db, b.id, target.id, tname);
  if (rc == BK_EEXIST)
    return bk_http_error(req, 409, NULL, "bucket %s/%s already exists", target.name, tname), 1;
  if (rc) return hub_store_error(req, rc);
  bk_bucket nb;
  rc = bk_db_bucket_get_by_id(srv->db, b.id, &nb);
  if (rc) return hub_store_error(req, rc);
  bk_buf o;
  bk_buf_init(&o, 64 * 1024);
  rc = bucket_json(&o, srv, &nb, 0);
  return reply_built(req, rc, &o, 1);
}

/* ---- tree / paths-info ---- */

struct entries_ctx {
  bk_buf *o;
  size_t n;
  int rc;
};

static int entry_json(bk_buf *o, const bk_file_entry *e) {
  int rc;
  if (e->is_dir) {
    rc = BK_LIT(o, "{\"type\":\"directory\",\"path\":");
    if (!rc) rc = bk_jstr(o, e->path);
    if (!rc) rc = BK_LIT(o, ",\"uploadedAt\":");
    if (!rc) rc = bk_jtime(o, e->uploaded_ms);
    if (!rc) rc = bk_buf_append_u8(o, '}');
    return rc;
  }
  rc = BK_LIT(o, "{\"type\":\"file\",\"path\":");
  if (!rc) rc = bk_jstr(o, e->path);
  if (!rc) rc = bk_buf_printf(o, ",\"size\":%" PRIu64 ",\"xetHash\":", e->size);
  if (!rc) rc = bk_jhash(o, &e->xet_hash);
  if (!rc) rc = BK_LIT(o, ",\"mtime\":");
  if (!rc) rc = bk_jtime(o, e->mtime_ms);
  if (!rc) rc = BK_LIT(o, ",\"uploadedAt\":");
  if (!rc) rc = bk_jtime(o, e->uploaded_ms);
  if (!rc && e->content_type && *e->content_type) {
    rc = BK_LIT(o, ",\"contentType\":");
    if (!rc) rc = bk_jstr(o, e->content_type);
  }
  if (!rc) rc = bk_buf_append_u8(o, '}');
  return rc;
}

static int entries_cb(void *ctx, const bk_file_entry *e) {
  struct entries_ctx *c = ctx;
  int rc = c->n++ ? bk_buf_append_u8(c->o, ',') : 0;
  if (!rc) rc = entry_json(c->o, e);
  c->rc = rc;
  return rc;
}

static int parse_bool_param(struct bk_http_req *req, const char *name, int def, int *out) {
  const char *v = bk_http_param(req, name);
  *out = def;
  if (!v || !*v) return 0;
  if (!strcasecmp(v, "true") || !strcmp(v, "1")) *out = 1;
  else if (!strcasecmp(v, "false") || !strcmp(v, "0")) *out = 0;
  else return bk_http_error(req, 400, NULL, "bad '%s' (true or false expected)", name), 1;
  return 0;
}

static int h_tree(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                  const char *name, const char *prefix_in) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_READ, &b, NULL)) return 1;
  int recursive;
  if (parse_bool_param(req, "recursive", 1, &recursive)) return 1;
  size_t limit;
  if (parse_limit(req, TREE_LIMIT_DEFAULT, BK_TREE_LIMIT_MAX, &limit)) return 1;
  /* prefix: trailing '/' ignored; must otherwise be a valid key */
  char prefix[BK_PATH_MAX + 2];
  long plen = hub_tree_prefix(prefix_in, prefix);
  if (plen == -2) return bk_http_error(req, 400, NULL, "prefix too long"), 1;
  if (plen < 0) return bk_http_error(req, 400, NULL, "invalid path prefix"), 1;
  const char *cursor = bk_http_param(req, "cursor");
  bk_buf o;
  bk_buf_init(&o, TREE_BODY_MAX);
  struct entries_ctx ec = {&o, 0, 0};
  char *next = NULL;
  unsigned flags = recursive ? BK_TREE_RECURSIVE : BK_TREE_DIR_STATS;
  int rc = bk_buf_reserve(&o, limit > 4096 ? 4096 * 200 : limit * 200);
  if (!rc) rc = bk_buf_append_u8(&o, '[');
  if (!rc) rc = bk_db_tree(srv->db, b.id, prefix, flags, cursor, limit, entries_cb, &ec, &next);
  if (!rc) rc = ec.rc;
  if (!rc) rc = bk_buf_append_u8(&o, ']');
  if (rc) {
    free(next);
    bk_buf_free(&o);
    if (rc == BK_EINVAL) return bk_http_error(req, 400, NULL, "bad cursor"), 1;
    return hub_store_error(req, rc);
  }
  if (next) {
    bk_buf l;
    bk_buf_init(&l, 16384);
    int lr = bk_buf_printf(&l, "<%s/api/buckets/", srv->public_url);
    if (!lr) lr = bk_http_escape(&l, b.ns, 0);
    if (!lr) lr = bk_buf_append_u8(&l, '/');
    if (!lr) lr = bk_http_escape(&l, b.name, 0);
    if (!lr) lr = BK_LIT(&l, "/tree");
    if (!lr && plen) {
      lr = bk_buf_append_u8(&l, '/');
      if (!lr) lr = bk_http_escape(&l, prefix, 1);
    }
    if (!lr)
      lr = bk_buf_printf(&l, "?recursive=%s&limit=%zu", recursive ? "true" : "false", limit);
    const char *expand = bk_http_param(req, "expand");
    if (!lr && expand) {
      lr = BK_LIT(&l, "&expand=");
      if (!lr) lr = bk_http_escape(&l, expand, 0);
    }
    if (!lr) lr = BK_LIT(&l, "&cursor=");
    if (!lr) lr = bk_http_escape(&l, next, 0);
    if (!lr) lr = bk_buf_printf(&l, ">; rel=\"next\"");
    if (!lr) lr = bk_buf_append_u8(&l, 0);
    if (!lr) bk_http_add_header(req, "Link", (const char *)l.p);
    bk_buf_free(&l);
    free(next);
  }
  return reply_buf_json(req, 200, &o);
}

static int h_paths_info(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                        const char *name) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_READ, &b, NULL)) return 1;
  hub_paths hp;
  int st = hub_paths_parse(bk_http_header(req, "Content-Type"), req->body.p, req->body.len, &hp);
  if (st) {
    bk_http_error(req, st, NULL, "%s", hp.err);
    hub_paths_free(&hp);
    return 1;
  }
  bk_buf o;
  bk_buf_init(&o, 64u << 20);
  struct entries_ctx ec = {&o, 0, 0};
  int rc = bk_buf_append_u8(&o, '[');
  if (!rc && hp.nvalid) rc = bk_db_paths_info(srv->db, b.id, hp.paths, hp.nvalid, entries_cb, &ec);
  if (!rc) rc = ec.rc;
  if (!rc) rc = bk_buf_append_u8(&o, ']');
  hub_paths_free(&hp);
  return reply_built(req, rc, &o, 0);
}

/* ---- batch ---- */

struct src_cache {
  char id[2 * BK_NAME_MAX + 2];
  int64_t bucket_id; /* 0 = not readable / not found */
};

static int64_t resolve_source(struct bk_server *srv, struct bk_http_req *req, const bk_bucket *dst,
                              const char *type, const char *id, struct src_cache *cache,
                              size_t *ncache, const char **err) {
  if (strcmp(type, "bucket") && strcmp(type, "buckets")) {
    *err = "source repo type not supported (only buckets are stored on this server)";
    return 0;
  }
  for (size_t i = 0; i < *ncache; i++)
    if (!strcmp(cache[i].id, id)) {
      if (!cache[i].bucket_id) *err = "source bucket not found";
      return cache[i].bucket_id;
    }
  int64_t result = 0;
  char buf[256];
  char *ns, *name;
  if (!hub_split_repo_id(id, buf, sizeof buf, &ns, &name)) {
    if (!strcmp(ns, dst->ns) && !strcmp(name, dst->name)) {
      result = dst->id;
    } else {
      bk_bucket sb;
      int role = BK_ROLE_NONE;
      if (bk_db_bucket_get(srv->db, ns, name, &sb) == 0 &&
          bk_auth_bucket_role(srv, &req->auth, &sb, &role) == 0 && role >= BK_ROLE_READ)
        result = sb.id;
    }
  }
  if (*ncache < 16) {
    snprintf(cache[*ncache].id, sizeof cache[*ncache].id, "%s", id);
    cache[*ncache].bucket_id = result;
    (*ncache)++;
  }
  if (!result) *err = "source bucket not found";
  return result;
}

/* Plan: resolves copy sources (readable buckets only), checks paths, and
 * lists the operations without a failure so far in dbops (db_idx[k] = their
 * index in hb); sets *ndb. */
static void batch_plan(struct bk_server *srv, struct bk_http_req *req, const bk_bucket *b,
                       hub_batch *hb, bk_batch_op *dbops, size_t *db_idx, size_t *ndb) {
  struct src_cache cache[16];
  size_t ncache = 0;
  *ndb = 0;
  for (size_t i = 0; i < hb->nops; i++) {
    bk_batch_op *op = &hb->ops[i];
    if (hb->src_type[i])
      op->src_bucket_id = resolve_source(srv, req, b, hb->src_type[i], hb->src_id[i], cache,
                                         &ncache, &hb->pre_err[i]);
    if (!hb->pre_err[i] && !bk_path_valid(op->path, strlen(op->path)))
      hb->pre_err[i] = "invalid path";
    if (!hb->pre_err[i]) {
      dbops[*ndb] = *op;
      db_idx[(*ndb)++] = i;
    }
  }
}

/* Carries the store's per-operation failures back into hb. */
static void batch_merge(hub_batch *hb, const bk_batch_op *dbops, const size_t *db_idx,
                        size_t ndb) {
  for (size_t i = 0; i < ndb; i++) {
    if (!dbops[i].result) continue;
    hb->ops[db_idx[i]].result = dbops[i].result;
    hb->pre_err[db_idx[i]] = dbops[i].result == BK_ENOTFOUND && dbops[i].type == BK_OP_ADD
                                 ? "unknown xetHash: upload the file through the Xet CAS first"
                                 : (dbops[i].error ? dbops[i].error : bk_strerror(dbops[i].result));
  }
}

/* Emit: the Hub's batch summary into o. Returns the HTTP status: 200, 422
 * (some operation failed) or 503 (out of memory). */
static int batch_emit(const hub_batch *hb, bk_buf *o) {
  size_t nops = hb->nops, failed = 0;
  int rc = BK_LIT(o, "{\"success\":");
  for (size_t i = 0; i < nops; i++)
    if (hb->pre_err[i]) failed++;
  if (!rc)
    rc = bk_buf_printf(o, "%s,\"processed\":%zu,\"succeeded\":%zu,\"failed\":[",
                       failed ? "false" : "true", nops, nops - failed);
  size_t k = 0;
  for (size_t i = 0; !rc && i < nops; i++) {
    if (!hb->pre_err[i]) continue;
    const char *path = hb->ops[i].path;
    if (k++) rc = bk_buf_append_u8(o, ',');
    if (!rc) rc = BK_LIT(o, "{\"path\":");
    if (!rc) rc = bk_jstr(o, bk_utf8_valid(path, strlen(path)) ? path : "?");
    if (!rc) rc = BK_LIT(o, ",\"error\":");
    if (!rc) rc = bk_jstr(o, hb->pre_err[i]);
    if (!rc) rc = bk_buf_append_u8(o, '}');
  }
  if (!rc) rc = BK_LIT(o, "]}");
  return rc ? 503 : (failed ? 422 : 200);
}

static int h_batch(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                   const char *name) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_WRITE, &b, NULL)) return 1;
  hub_batch hb;
  int status = hub_batch_parse((const char *)req->body.p, req->body.len, &hb);
  if (status) {
    bk_http_error(req, status, NULL, "%s", hb.err);
    hub_batch_free(&hb);
    return 1;
  }
  size_t nops = hb.nops, ndb = 0, nfailed = 0;
  size_t *db_idx = calloc(nops ? nops : 1, sizeof *db_idx);
  bk_batch_op *dbops = calloc(nops ? nops : 1, sizeof *dbops);
  bk_buf o;
  bk_buf_init(&o, 256u << 20);
  if (!db_idx || !dbops) {
    status = 503;
    goto out;
  }
  batch_plan(srv, req, &b, &hb, dbops, db_idx, &ndb);
  int rc = ndb ? bk_db_batch(srv->db, b.id, dbops, ndb, BK_BATCH_REQUIRE_GRANT, &nfailed) : 0;
  if (rc) {
    hub_store_error(req, rc);
    status = -1;
    goto out;
  }
  batch_merge(&hb, dbops, db_idx, ndb);
  status = batch_emit(&hb, &o);
out:
  if (status == 503) bk_http_error(req, 503, NULL, "out of memory");
  else if (status > 0) bk_http_reply_buf(req, status, "application/json", &o);
  bk_buf_free(&o);
  hub_batch_free(&hb);
  free(db_idx);
  free(dbops);
  return 1;
}

/* ---- xet tokens ---- */

static int h_xet_token(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                       const char *name, int write) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, write ? BK_ROLE_WRITE : BK_ROLE_READ, &b, NULL))
    return 1;
  char *tok = NULL;
  int64_t exp = 0;
  int rc = cas_token_mint(srv, b.id, write, XET_TOKEN_TTL_S, &tok, &exp);
  if (rc) return hub_store_error(req, rc);
  bk_buf o;
  bk_buf_init(&o, 64 * 1024);
  rc = BK_LIT(&o, "{\"accessToken\":");
  if (!rc) rc = bk_jstr(&o, tok);
  if (!rc) rc = bk_buf_printf(&o, ",\"exp\":%" PRId64 ",\"casUrl\":", exp);
  if (!rc) rc = bk_jstr(&o, srv->public_url);
  if (!rc) rc = bk_buf_append_u8(&o, '}');
  if (!rc) rc = bk_http_add_header(req, "X-Xet-Access-Token", tok);
  if (!rc) rc = bk_http_add_headerf(req, "X-Xet-Token-Expiration", "%" PRId64, exp);
  if (!rc) rc = bk_http_add_header(req, "X-Xet-Cas-Url", srv->public_url);
  if (!rc) rc = bk_http_add_header(req, "Cache-Control", "no-store");
  free(tok);
  return reply_built(req, rc, &o, 1);
}

/* ---- namespace usage ---- */

static int h_usage(struct bk_server *srv, struct bk_http_req *req, const char *ns) {
  if (caller_ns(req, &ns)) return 1;
  bk_ns nsr;
  int rc = bk_name_valid(ns) ? bk_db_ns_get(srv->db, ns, &nsr) : BK_ENOTFOUND;
  int role = BK_ROLE_NONE;
  if (!rc) rc = bk_auth_ns_role(srv, &req->auth, nsr.id, &role);
  if (rc == BK_ENOTFOUND || (!rc && role < BK_ROLE_READ)) {
    if (!req->auth.user_id) return need_auth(req);
    return bk_http_error(req, 404, NULL, "namespace '%.100s' not found", ns), 1;
  }
  if (rc) return hub_store_error(req, rc);
  bk_usage u;
  rc = bk_db_ns_usage(srv->db, nsr.id, &u);
  if (rc) return hub_store_error(req, rc);
  bk_buf o;
  bk_buf_init(&o, 4096);
  rc = BK_LIT(&o, "{\"namespace\":");
  if (!rc) rc = bk_jstr(&o, nsr.name);
  if (!rc)
    rc = bk_buf_printf(&o,
                       ",\"type\":\"%s\",\"totalFiles\":%" PRIu64 ",\"size\":%" PRIu64
                       ",\"storedSize\":%" PRIu64 ",\"storedChunks\":%" PRIu64
                       ",\"dedupRatio\":%.4f}",
                       nsr.kind == BK_NS_ORG ? "org" : "user", u.nfiles, u.logical_bytes,
                       u.stored_bytes, u.nchunks,
                       u.stored_bytes ? (double)u.logical_bytes / (double)u.stored_bytes : 0.0);
  return reply_built(req, rc, &o, 1);
}

/* ---- routing: the Hub API route table ---- */

static int method_not_allowed(struct bk_server *srv, struct bk_http_req *req, const char *allow,
                              char **arg) {
  (void)srv;
  (void)arg;
  bk_http_add_header(req, "Allow", allow);
  return bk_http_error(req, 405, NULL, "method %s not allowed here", req->method), 1;
}

static int no_endpoint(struct bk_server *srv, struct bk_http_req *req, char **arg) {
  (void)srv;
  (void)arg;
  return bk_http_error(req, 404, NULL, "no such API endpoint"), 1;
}

static int r_whoami(struct bk_server *srv, struct bk_http_req *req, char **arg) {
  (void)arg;
  return h_whoami(srv, req);
}
static int r_move(struct bk_server *srv, struct bk_http_req *req, char **arg) {
  (void)arg;
  return h_move(srv, req);
}
static int r_usage(struct bk_server *srv, struct bk_http_req *req, char **a) {
  if (strchr(a[0], '/')) return bk_http_error(req, 404, NULL, "not found"), 1;
  return h_usage(srv, req, a[0]);
}
static int r_list(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_list(srv, req, a[0]);
}
static int r_info(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_info(srv, req, a[0], a[1]);
}
static int r_create(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_create(srv, req, a[0], a[1]);
}
static int r_delete(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_delete(srv, req, a[0], a[1]);
}
/* a[2] is the prefix of .../tree/{prefix...}, NULL for .../tree */
static int r_tree(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_tree(srv, req, a[0], a[1], a[2]);
}
static int r_settings(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_settings(srv, req, a[0], a[1]);
}
static int r_prewarm(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return hub_prewarm(srv, req, a[0], a[1]);
}
static int r_paths_info(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_paths_info(srv, req, a[0], a[1]);
}
static int r_batch(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_batch(srv, req, a[0], a[1]);
}
static int r_read_token(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_xet_token(srv, req, a[0], a[1], 0);
}
static int r_write_token(struct bk_server *srv, struct bk_http_req *req, char **a) {
  return h_xet_token(srv, req, a[0], a[1], 1);
}
/* A signed-in browser may download from a private bucket (GET/HEAD only, and
 * only without an Authorization header). */
static int r_resolve(struct bk_server *srv, struct bk_http_req *req, char **a) {
  if (!req->auth.user_id && !req->auth.token_invalid)
    web_session_principal(srv, req, &req->auth);
  return resolve_handle(srv, req, a[0], a[1], a[2]);
}

#define B "/api/buckets/{ns}/{name}"
#define J BK_JSON_BODY_MAX
#define API BK_RL_API
static const struct bk_route rows[] = {
    {"GET", "/api/whoami-v2", 0, API, NULL, r_whoami},
    {"GET", "/api/whoami", 0, API, NULL, r_whoami},
    {"POST", "/api/repos/move", J, API, NULL, r_move},
    {"GET", "/api/usage/{ns...}", 0, API, NULL, r_usage},
    {"GET", "/api/buckets/{ns}", 0, API, NULL, r_list},
    {"GET", "/api/buckets/{ns}/", 0, API, NULL, r_list},
    {"GET", B, 0, API, NULL, r_info},
    {"POST", B, J, API, NULL, r_create},
    {"DELETE", B, 0, API, NULL, r_delete},
    {"GET", B "/tree", 0, API, NULL, r_tree},
    {"GET", B "/tree/{prefix...}", 0, API, NULL, r_tree},
    {"PUT", B "/settings", J, API, NULL, r_settings},
    {"PATCH", B "/settings", J, API, NULL, r_settings},
    {"POST", B "/prewarm", J, API, NULL, r_prewarm},
    {"POST", B "/paths-info", BK_PATHS_INFO_BODY_MAX, API, NULL, r_paths_info},
    {"POST", B "/batch", BK_BATCH_BODY_MAX, API, NULL, r_batch},
    /* ".../{revision}" is tolerated (repos send a revision) */
    {"GET", B "/xet-read-token", 0, API, NULL, r_read_token},
    {"GET", B "/xet-read-token/{rev...}", 0, API, NULL, r_read_token},
    {"GET", B "/xet-write-token", 0, API, NULL, r_write_token},
    {"GET", B "/xet-write-token/{rev...}", 0, API, NULL, r_write_token},
    {"*", "/api/{rest...}", BK_DEFAULT_BODY_MAX, API, NULL, no_endpoint},
    {"GET", "/buckets/{ns}/{name}/resolve/{path...}", 0, BK_RL_RESOLVERS, NULL, r_resolve},
};
#undef B
#undef J
#undef API

const struct bk_route_table hub_api_routes = BK_ROUTES("hub", rows, method_not_allowed);
