/* bucketd — pure parsers for Hub API request bodies. See hub_parse.h. */
#include "buckets/names.h"
#include "server/hub_parse.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buckets/buf.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "server/http.h"

/* ---- batch ---- */

void hub_batch_free(hub_batch *b) {
  for (size_t i = 0; b->objs && i < b->cap; i++) cJSON_Delete(b->objs[i]);
  free(b->objs);
  free(b->ops);
  free(b->pre_err);
  free(b->src_type);
  free(b->src_id);
  b->objs = NULL;
  b->ops = NULL;
  b->pre_err = b->src_type = b->src_id = NULL;
  b->cap = b->nops = 0;
}

int64_t hub_mtime_ms(const cJSON *m) {
  if (!cJSON_IsNumber(m)) return -1;
  double v = m->valuedouble;
  if (!isfinite(v) || v < 0 || v > 9.2e15) return -1;
  if (v < 1e11) v *= 1000.0;
  return (int64_t)v;
}

int hub_json_has_nul(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (s[i] != '\\') continue;
    if (s[i + 1] == 'u' && i + 5 < n && !memcmp(s + i + 2, "0000", 4)) return 1;
    i++; /* skip the escaped character (also a second backslash) */
  }
  return 0;
}

static int batch_fail(hub_batch *b, int status, const char *fmt, size_t lineno, const char *arg) {
  snprintf(b->err, sizeof b->err, fmt, lineno, arg);
  return status;
}

/* Fills op i from its parsed line; 0, or 400 with b->err for a structural
 * error. */
static int batch_op(hub_batch *b, cJSON *j, size_t lineno) {
  size_t i = b->nops;
  cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
  cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
  if (!cJSON_IsString(type) || !cJSON_IsString(path))
    return batch_fail(b, 400, "line %zu: 'type' and 'path' (strings) are required%s", lineno, "");
  bk_batch_op *op = &b->ops[i];
  op->path = path->valuestring;
  op->mtime_ms = -1;
  op->size = -1;
  const char *t = type->valuestring;
  if (!strcmp(t, "deleteFile")) {
    op->type = BK_OP_DELETE;
    return 0;
  }
  if (strcmp(t, "addFile") && strcmp(t, "copyFile")) {
    char tt[48];
    snprintf(tt, sizeof tt, "%.40s", t);
    return batch_fail(b, 400, "line %zu: unknown operation type '%s'", lineno, tt);
  }
  op->type = !strcmp(t, "addFile") ? BK_OP_ADD : BK_OP_COPY;
  cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "xetHash");
  if (!cJSON_IsString(h) || bk_hash_parse(h->valuestring, &op->xet_hash))
    b->pre_err[i] = "invalid or missing xetHash (64 hex characters expected)";
  op->mtime_ms = hub_mtime_ms(cJSON_GetObjectItemCaseSensitive(j, "mtime"));
  cJSON *ctp = cJSON_GetObjectItemCaseSensitive(j, "contentType");
  if (cJSON_IsString(ctp) && *ctp->valuestring) op->content_type = ctp->valuestring;
  cJSON *sz = cJSON_GetObjectItemCaseSensitive(j, "size");
  if (cJSON_IsNumber(sz)) {
    if (sz->valuedouble < 0 || sz->valuedouble > 9.2e18 ||
        sz->valuedouble != floor(sz->valuedouble))
      b->pre_err[i] = "invalid size";
    else
      op->size = (int64_t)sz->valuedouble;
  }
  if (op->type == BK_OP_COPY && !b->pre_err[i]) {
    cJSON *srt = cJSON_GetObjectItemCaseSensitive(j, "sourceRepoType");
    cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "sourceRepoId");
    if (!cJSON_IsString(srt) || !cJSON_IsString(sid)) {
      b->pre_err[i] = "copyFile needs sourceRepoType and sourceRepoId";
    } else {
      b->src_type[i] = srt->valuestring;
      b->src_id[i] = sid->valuestring;
    }
  }
  return 0;
}

int hub_batch_parse(const char *s, size_t len, hub_batch *b) {
  memset(b, 0, sizeof *b);
  size_t nlines = 1;
  for (size_t i = 0; i < len; i++)
    if (s[i] == '\n') nlines++;
  if (nlines > BK_BATCH_MAX + 1 && len) {
    snprintf(b->err, sizeof b->err, "at most %d operations per batch", BK_BATCH_MAX);
    return 413;
  }
  b->cap = nlines;
  b->objs = calloc(nlines, sizeof *b->objs);
  b->ops = calloc(nlines, sizeof *b->ops);
  b->pre_err = calloc(nlines, sizeof *b->pre_err);
  b->src_type = calloc(nlines, sizeof *b->src_type);
  b->src_id = calloc(nlines, sizeof *b->src_id);
  if (!b->objs || !b->ops || !b->pre_err || !b->src_type || !b->src_id) {
    snprintf(b->err, sizeof b->err, "out of memory");
    return 503;
  }
  size_t pos = 0, lineno = 0;
  while (pos < len) {
    size_t e = pos;
    while (e < len && s[e] != '\n') e++;
    lineno++;
    size_t ll = e - pos;
    while (ll && (s[pos + ll - 1] == '\r' || s[pos + ll - 1] == ' ' || s[pos + ll - 1] == '\t')) ll--;
    size_t st = pos;
    while (st < pos + ll && (s[st] == ' ' || s[st] == '\t')) st++, ll--;
    pos = e + 1;
    if (ll == 0) continue;
    if (ll > HUB_BATCH_LINE_MAX)
      return batch_fail(b, 400, "line %zu: operation too long%s", lineno, "");
    cJSON *j = cJSON_ParseWithLength(s + st, ll);
    if (!j || !cJSON_IsObject(j)) {
      cJSON_Delete(j);
      return batch_fail(b, 400, "line %zu: not a JSON object%s", lineno, "");
    }
    b->objs[b->nops] = j;
    if (hub_json_has_nul(s + st, ll))
      return batch_fail(b, 400, "line %zu: \\u0000 in a string%s", lineno, "");
    int st_op = batch_op(b, j, lineno);
    if (st_op) return st_op;
    b->nops++;
  }
  return 0;
}

int hub_split_repo_id(const char *id, char *buf, size_t bufsz, char **ns, char **name) {
  if (!strncmp(id, "buckets/", 8)) id += 8;
  if (strlen(id) >= bufsz) return -1;
  strcpy(buf, id);
  char *s = strchr(buf, '/');
  if (!s || strchr(s + 1, '/')) return -1;
  *s = 0;
  *ns = buf;
  *name = s + 1;
  if (!bk_name_valid(*ns) || !bk_name_valid(*name)) return -1;
  return 0;
}

/* ---- paths-info ---- */

void hub_paths_free(hub_paths *p) {
  for (size_t i = 0; p->owned && i < p->n; i++) free(p->owned[i]);
  free(p->owned);
  free(p->paths);
  cJSON_Delete(p->json);
  p->owned = NULL;
  p->paths = NULL;
  p->json = NULL;
  p->n = p->nvalid = 0;
}

static int paths_fail(hub_paths *p, int status, const char *msg) {
  snprintf(p->err, sizeof p->err, "%s", msg);
  return status;
}

static int too_many(hub_paths *p) {
  snprintf(p->err, sizeof p->err, "at most %d paths per request", BK_PATHS_INFO_MAX);
  return 400;
}

/* paths from a form body: paths=a&paths=b (also paths[]=). */
static int form_paths(hub_paths *p, const char *s, size_t len) {
  size_t cap = 0;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && s[j] != '&') j++;
    const char *eq = memchr(s + i, '=', j - i);
    if (eq) {
      char *k = bk_http_unescape(s + i, (size_t)(eq - (s + i)), 1, NULL);
      int is_path = k && (!strcmp(k, "paths") || !strcmp(k, "paths[]"));
      free(k);
      if (is_path) {
        if (p->n >= BK_PATHS_INFO_MAX) return too_many(p);
        char **nv = bk_grow(p->owned, p->n, &cap, sizeof *nv, 16, 0);
        if (!nv) return paths_fail(p, 503, "out of memory");
        p->owned = nv;
        char *v = bk_http_unescape(eq + 1, (size_t)(s + j - eq - 1), 1, NULL);
        if (!v) return paths_fail(p, 400, "malformed form body");
        p->owned[p->n++] = v;
      }
    }
    i = j + 1;
  }
  p->paths = calloc(p->n ? p->n : 1, sizeof *p->paths);
  if (!p->paths) return paths_fail(p, 503, "out of memory");
  for (size_t k = 0; k < p->n; k++)
    if (bk_path_valid(p->owned[k], strlen(p->owned[k]))) p->paths[p->nvalid++] = p->owned[k];
  return 0;
}

static void add_json_path(hub_paths *p, const char *s) {
  if (bk_path_valid(s, strlen(s))) p->paths[p->nvalid++] = s;
}

static int json_paths(hub_paths *p, const char *s, size_t len) {
  if (len == 0) return paths_fail(p, 400, "request body required");
  p->json = cJSON_ParseWithLength(s, len);
  if (!p->json || !cJSON_IsObject(p->json))
    return paths_fail(p, 400, "request body is not a JSON object");
  if (hub_json_has_nul(s, len)) return paths_fail(p, 400, "\\u0000 in a string");
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(p->json, "paths");
  if (cJSON_IsString(arr)) p->n = 1;
  else if (cJSON_IsArray(arr)) p->n = (size_t)cJSON_GetArraySize(arr);
  else return paths_fail(p, 400, "'paths' (array of strings) is required");
  if (p->n > BK_PATHS_INFO_MAX) return too_many(p);
  p->paths = calloc(p->n ? p->n : 1, sizeof *p->paths);
  if (!p->paths) return paths_fail(p, 503, "out of memory");
  if (cJSON_IsString(arr)) {
    add_json_path(p, arr->valuestring);
    return 0;
  }
  cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (!cJSON_IsString(it)) return paths_fail(p, 400, "'paths' must contain only strings");
    add_json_path(p, it->valuestring);
  }
  return 0;
}

int hub_paths_parse(const char *content_type, const uint8_t *body, size_t len, hub_paths *p) {
  memset(p, 0, sizeof *p);
  if (content_type && !strncasecmp(content_type, "application/x-www-form-urlencoded", 33))
    return form_paths(p, (const char *)body, len);
  return json_paths(p, (const char *)body, len);
}

long hub_tree_prefix(const char *in, char out[BK_PATH_MAX + 2]) {
  size_t plen = in ? strlen(in) : 0;
  if (plen > BK_PATH_MAX) return -2;
  memcpy(out, in ? in : "", plen);
  out[plen] = 0;
  while (plen && out[plen - 1] == '/') out[--plen] = 0;
  if (plen && !bk_path_valid(out, plen)) return -1;
  return (long)plen;
}

int hub_region_list_parse(const char *s, char *buf, size_t bufsz, const char **names,
                          size_t max, size_t *n, char *msg, size_t msgn) {
  *n = 0;
  size_t len = strlen(s);
  if (len >= bufsz) return snprintf(msg, msgn, "region list too long"), -1;
  memcpy(buf, s, len + 1);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    size_t tl = strlen(t);
    while (tl && t[tl - 1] == ' ') t[--tl] = 0;
    if (!*t) continue;
    if (!bk_region_name_valid(t))
      return snprintf(msg, msgn, "invalid region name '%.40s' (a-z, 0-9, '-', max 32)", t), -1;
    for (size_t i = 0; i < *n; i++)
      if (!strcmp(names[i], t)) return snprintf(msg, msgn, "region '%s' listed twice", t), -1;
    if (*n >= max) return snprintf(msg, msgn, "at most %zu regions", max), -1;
    names[(*n)++] = t;
  }
  return 0;
}
