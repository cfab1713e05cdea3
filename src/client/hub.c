/* buckets client — configuration, token file, Hub bucket API calls. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/sync.h"
#include "client/internal.h"

void bk_free(void *p) { free(p); }

int bk_safe_relpath(const char *p) {
  if (!p || !*p || p[0] == '/' || strlen(p) > 4096) return 0;
  const char *s = p;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!e) break;
    s = e + 1;
  }
  for (s = p; *s; s++)
    if ((unsigned char)*s < 0x20) return 0;
  return 1;
}

/* ---------------------------------------------------------------- config */

static char *default_hf_home(void) {
  const char *h = getenv("HF_HOME");
  if (h && *h) return strdup(h);
  const char *xdg = getenv("XDG_CACHE_HOME");
  char buf[4096];
  if (xdg && *xdg) {
    snprintf(buf, sizeof buf, "%s/huggingface", xdg);
  } else {
    const char *home = getenv("HOME");
    snprintf(buf, sizeof buf, "%s/.cache/huggingface", home && *home ? home : "/tmp");
  }
  return strdup(buf);
}

static char *read_token_file(const char *hf_home) {
  char path[4096];
  snprintf(path, sizeof path, "%s/token", hf_home);
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
  return n ? strdup(buf) : NULL;
}

char *bk_token_resolve(const char *hf_home) {
  const char *t = getenv("HF_TOKEN");
  if (t && *t) return strdup(t);
  char *home = hf_home ? strdup(hf_home) : default_hf_home();
  if (!home) return NULL;
  char *r = read_token_file(home);
  free(home);
  return r;
}

static int mkdir_p(const char *dir) {
  char buf[4096];
  if (strlen(dir) >= sizeof buf) return bk_seterr(BK_EINVAL, "path too long");
  strcpy(buf, dir);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0700) && errno != EEXIST) return bk_seterr(BK_EIO, "mkdir %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0700) && errno != EEXIST) return bk_seterr(BK_EIO, "mkdir %s: %s", buf, strerror(errno));
  return 0;
}

int bk_token_save(const char *hf_home, const char *token) {
  char *home = hf_home ? strdup(hf_home) : default_hf_home();
  if (!home) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = mkdir_p(home);
  char path[4096], tmp[4200];
  snprintf(path, sizeof path, "%s/token", home);
  snprintf(tmp, sizeof tmp, "%s/.token.%d", home, (int)getpid());
  free(home);
  if (rc) return rc;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return bk_seterr(BK_EIO, "cannot write %s: %s", tmp, strerror(errno));
  size_t n = strlen(token);
  int ok = write(fd, token, n) == (ssize_t)n && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp, path)) {
    unlink(tmp);
    return bk_seterr(BK_EIO, "cannot write %s: %s", path, strerror(errno));
  }
  return 0;
}

int bk_token_delete(const char *hf_home) {
  char *home = hf_home ? strdup(hf_home) : default_hf_home();
  if (!home) return bk_seterr(BK_ENOMEM, "out of memory");
  char path[4096];
  snprintf(path, sizeof path, "%s/token", home);
  free(home);
  if (unlink(path) && errno != ENOENT) return bk_seterr(BK_EIO, "cannot remove %s: %s", path, strerror(errno));
  return 0;
}

/* ---- several saved tokens: $HF_HOME/stored_tokens (huggingface_hub's
 * layout: an INI file, one "[name]" section with "hf_token = ..." per token;
 * the active one is copied to $HF_HOME/token). */

#define TOK_MAX 256          /* entries */
#define TOK_FILE_MAX (256u << 10)

typedef struct tokset {
  size_t n;
  char *name[TOK_MAX];
  char *tok[TOK_MAX];
} tokset;

static void tokset_free(tokset *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->name[i]);
    free(t->tok[i]);
  }
  t->n = 0;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

/* A name or token we can write back unchanged and read again: 1..200 bytes,
 * no control characters; names have no '[' or ']' and no space at either
 * end, tokens no space at all. */
static int tok_word_ok(const char *s, int is_name) {
  size_t n = strlen(s);
  if (n == 0 || n > 200 || s[0] == ' ' || s[n - 1] == ' ') return 0;
  for (const char *p = s; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch < 0x20 || ch == 0x7f || ch == '\t') return 0;
    if (ch == ' ' && !is_name) return 0;
    if (is_name && (ch == '[' || ch == ']')) return 0;
  }
  return 1;
}

static int tokset_load(const char *home, tokset *t) {
  memset(t, 0, sizeof *t);
  char path[4096];
  snprintf(path, sizeof path, "%s/stored_tokens", home);
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? 0 : bk_seterr(BK_EIO, "cannot read %s: %s", path, strerror(errno));
  char line[1024];
  char *cur = NULL;
  size_t total = 0;
  int rc = 0;
  while (!rc && fgets(line, sizeof line, f)) {
    total += strlen(line);
    if (total > TOK_FILE_MAX) rc = bk_seterr(BK_ELIMIT, "%s is larger than 256 KiB", path);
    char *l = trim(line);
    size_t ln = strlen(l);
    if (ln && l[ln - 1] == '\n') l[--ln] = 0;
    l = trim(l);
    if (rc || !*l || *l == '#' || *l == ';') continue;
    if (*l == '[') {
      char *e = strchr(l, ']');
      free(cur);
      cur = e ? strndup(l + 1, (size_t)(e - l - 1)) : NULL;
      continue;
    }
    char *eq = strchr(l, '=');
    if (!eq || !cur) continue;
    *eq = 0;
    if (strcmp(trim(l), "hf_token") != 0) continue;
    char *v = trim(eq + 1);
    if (!*v) continue;
    size_t i = 0;
    while (i < t->n && strcmp(t->name[i], cur) != 0) i++;
    if (i == TOK_MAX) {
      rc = bk_seterr(BK_ELIMIT, "%s holds more than %d tokens", path, TOK_MAX);
      break;
    }
    char *nv = strdup(v), *nn = i < t->n ? NULL : strdup(cur);
    if (!nv || (i == t->n && !nn)) {
      free(nv);
      free(nn);
      rc = bk_seterr(BK_ENOMEM, "out of memory");
      break;
    }
    if (i < t->n) {
      free(t->tok[i]);
      t->tok[i] = nv;
    } else {
      t->name[i] = nn;
      t->tok[i] = nv;
      t->n++;
    }
  }
  free(cur);
  fclose(f);
  if (rc) tokset_free(t);
  return rc;
}

static int tokset_save(const char *home, const tokset *t) {
  bk_buf b;
  bk_buf_init(&b, TOK_FILE_MAX + 4096);
  int rc = 0;
  for (size_t i = 0; !rc && i < t->n; i++)
    rc = bk_buf_printf(&b, "[%s]\nhf_token = %s\n\n", t->name[i], t->tok[i]);
  if (!rc) rc = mkdir_p(home);
  if (!rc) rc = bk_write_file_durable_mode(home, "stored_tokens", b.p ? b.p : (const uint8_t *)"", b.len, 0600);
  bk_buf_free(&b);
  return rc;
}

static char *home_or_default(const char *hf_home) {
  char *h = hf_home ? strdup(hf_home) : default_hf_home();
  if (!h) bk_seterr(BK_ENOMEM, "out of memory");
  return h;
}

int bk_token_store(const char *hf_home, const char *name, const char *token) {
  if (!name || !tok_word_ok(name, 1)) return bk_seterr(BK_EINVAL, "invalid token name '%s'", name ? name : "");
  if (!token || !tok_word_ok(token, 0)) return bk_seterr(BK_EINVAL, "invalid token");
  char *home = home_or_default(hf_home);
  if (!home) return BK_ENOMEM;
  tokset t;
  int rc = tokset_load(home, &t);
  if (rc) goto out;
  size_t i = 0;
  while (i < t.n && strcmp(t.name[i], name) != 0) i++;
  if (i == TOK_MAX) {
    rc = bk_seterr(BK_ELIMIT, "too many stored tokens (%d)", TOK_MAX);
    goto done;
  }
  char *nv = strdup(token);
  char *nn = i < t.n ? NULL : strdup(name);
  if (!nv || (i == t.n && !nn)) {
    free(nv);
    free(nn);
    rc = bk_seterr(BK_ENOMEM, "out of memory");
    goto done;
  }
  if (i < t.n) {
    free(t.tok[i]);
    t.tok[i] = nv;
  } else {
    t.name[i] = nn;
    t.tok[i] = nv;
    t.n++;
  }
  rc = tokset_save(home, &t);
done:
  tokset_free(&t);
out:
  free(home);
  return rc;
}

int bk_token_list(const char *hf_home, char **json) {
  *json = NULL;
  char *home = home_or_default(hf_home);
  if (!home) return BK_ENOMEM;
  tokset t;
  int rc = tokset_load(home, &t);
  char *active = rc ? NULL : read_token_file(home);
  free(home);
  if (rc) return rc;
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr && i < t.n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!o) break;
    cJSON_AddStringToObject(o, "name", t.name[i]);
    cJSON_AddStringToObject(o, "token", t.tok[i]);
    cJSON_AddBoolToObject(o, "active", active && strcmp(active, t.tok[i]) == 0);
    cJSON_AddItemToArray(arr, o);
  }
  free(active);
  tokset_free(&t);
  *json = arr ? cJSON_PrintUnformatted(arr) : NULL;
  cJSON_Delete(arr);
  return *json ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
}

int bk_token_switch(const char *hf_home, const char *name) {
  char *home = home_or_default(hf_home);
  if (!home) return BK_ENOMEM;
  tokset t;
  int rc = tokset_load(home, &t);
  if (!rc) {
    size_t i = 0;
    while (i < t.n && strcmp(t.name[i], name) != 0) i++;
    if (i == t.n) rc = bk_seterr(BK_ENOTFOUND, "Access token %s not found in %s/stored_tokens", name, home);
    else rc = bk_token_save(home, t.tok[i]);
    tokset_free(&t);
  }
  free(home);
  return rc;
}

int bk_token_forget(const char *hf_home, const char *name) {
  char *home = home_or_default(hf_home);
  if (!home) return BK_ENOMEM;
  tokset t;
  int rc = tokset_load(home, &t);
  if (rc) goto out;
  if (!name) { /* everything: the stored tokens and the active one */
    char path[4096];
    snprintf(path, sizeof path, "%s/stored_tokens", home);
    if (unlink(path) && errno != ENOENT) rc = bk_seterr(BK_EIO, "cannot remove %s: %s", path, strerror(errno));
    if (!rc) rc = bk_token_delete(home);
    goto done;
  }
  size_t i = 0;
  while (i < t.n && strcmp(t.name[i], name) != 0) i++;
  if (i == t.n) {
    rc = bk_seterr(BK_ENOTFOUND, "Access token %s not found in %s/stored_tokens", name, home);
    goto done;
  }
  char *active = read_token_file(home);
  int was_active = active && strcmp(active, t.tok[i]) == 0;
  free(active);
  free(t.name[i]);
  free(t.tok[i]);
  for (size_t k = i + 1; k < t.n; k++) {
    t.name[k - 1] = t.name[k];
    t.tok[k - 1] = t.tok[k];
  }
  t.n--;
  rc = tokset_save(home, &t);
  if (!rc && was_active) rc = bk_token_delete(home);
done:
  tokset_free(&t);
out:
  free(home);
  return rc;
}

int bk_client_new(const bk_client_opts *o, bk_client **out) {
  bk_client_opts d = BK_CLIENT_OPTS_INIT;
  if (!o) o = &d;
  if (o->version != BK_CLIENT_OPTS_VERSION)
    return bk_seterr(BK_EVERSION,
                     "bk_client_opts version %u, this library has version %d "
                     "(initialise the struct with BK_CLIENT_OPTS_INIT)",
                     o->version, BK_CLIENT_OPTS_VERSION);
  bk_client *c = calloc(1, sizeof *c);
  if (!c) return bk_seterr(BK_ENOMEM, "out of memory");
  pthread_mutex_init(&c->mu, NULL);
  const char *ep = o->endpoint;
  if (!ep || !*ep) ep = getenv("HF_ENDPOINT");
  if (!ep || !*ep) ep = "http://127.0.0.1:8080";
  c->endpoint = strdup(ep);
  c->hf_home = o->hf_home ? strdup(o->hf_home) : default_hf_home();
  if (!c->endpoint || !c->hf_home) {
    bk_client_free(c);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  size_t el = strlen(c->endpoint);
  while (el > 0 && c->endpoint[el - 1] == '/') c->endpoint[--el] = 0;
  if (o->token) c->token = *o->token ? strdup(o->token) : NULL;
  else c->token = bk_token_resolve(c->hf_home);
  c->parallel = o->parallel ? o->parallel : 8;
  if (c->parallel > 32) c->parallel = 32;
  c->no_global_dedup = o->no_global_dedup || (getenv("BK_NO_GLOBAL_DEDUP") != NULL);
  c->no_shard_cache = o->no_shard_cache || (getenv("BK_NO_SHARD_CACHE") != NULL);
  int rc = bk_http_new(o->timeout_s, o->retries ? o->retries : 5, &c->http);
  if (rc) {
    bk_client_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void bk_client_free(bk_client *c) {
  if (!c) return;
  bk_http_free(c->http);
  for (size_t i = 0; i < sizeof c->xt / sizeof c->xt[0]; i++) {
    free(c->xt[i].bucket);
    free(c->xt[i].token);
    free(c->xt[i].cas_url);
  }
  free(c->endpoint);
  free(c->token);
  free(c->hf_home);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

const char *bk_client_endpoint(const bk_client *c) { return c->endpoint; }
int bk_client_has_token(const bk_client *c) { return c->token != NULL; }

void bk_client_set_progress(bk_client *c, bk_progress_cb cb, void *ctx) {
  c->pcb = cb;
  c->pctx = ctx;
}

void bk_client_set_log(bk_client *c, bk_log_cb cb, void *ctx) {
  c->lcb = cb;
  c->lctx = ctx;
}

void bk_client_log(bk_client *c, int level, const char *fmt, ...) {
  if (!c->lcb) return;
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  c->lcb(c->lctx, level, line);
}

void bk_client_progress(bk_client *c) {
  if (c->pcb) c->pcb(c->pctx, &c->prog);
}

/* ---------------------------------------------------------------- errors */

int bk_hub_error_from_response(const bk_http_resp *r, const char *what) {
  char detail[512] = "";
  if (r->error_message) {
    snprintf(detail, sizeof detail, "%s", r->error_message);
  } else if (r->body.len > 0 && r->body.len < 4096) {
    cJSON *j = cJSON_ParseWithLength((const char *)r->body.p, r->body.len);
    const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    if (cJSON_IsString(e)) snprintf(detail, sizeof detail, "%s", e->valuestring);
    cJSON_Delete(j);
  }
  const char *sep = *detail ? ": " : "";
  long s = r->status;
  if (s == 401)
    return bk_seterr(BK_EAUTH, "%s: authentication required (401)%s%s", what, sep, detail);
  if (s == 403)
    return bk_seterr(BK_EPERM, "%s: permission denied (403)%s%s", what, sep, detail);
  if (s == 404) {
    if (r->error_code && strcmp(r->error_code, "RepoNotFound") == 0)
      return bk_seterr(BK_ENOTFOUND,
                       "%s: bucket not found (404; it may also be private and not visible to you)",
                       what);
    return bk_seterr(BK_ENOTFOUND, "%s: not found (404)%s%s", what, sep, detail);
  }
  if (s == 409) return bk_seterr(BK_EEXIST, "%s: already exists (409)%s%s", what, sep, detail);
  return bk_seterr(BK_EHTTP, "%s: HTTP %ld%s%s", what, s, sep, detail);
}

int bk_hub_call(bk_client *c, const char *method, const char *path, const char *ctype,
                const void *body, size_t len, const char *what, bk_http_resp *resp) {
  char *url;
  if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
    url = strdup(path);
  } else {
    size_t n = strlen(c->endpoint) + strlen(path) + 1;
    url = malloc(n);
    if (url) snprintf(url, n, "%s%s", c->endpoint, path);
  }
  if (!url) return bk_seterr(BK_ENOMEM, "out of memory");
  bk_curl_req rq = {.method = method, .url = url, .bearer = c->token, .content_type = ctype,
                    .body = body, .body_len = len, .max_resp = 256u << 20};
  int rc = bk_http_do(c->http, &rq, resp);
  free(url);
  if (rc) {
    bk_http_resp_free(resp);
    return rc;
  }
  if (resp->status < 200 || resp->status >= 300) {
    rc = bk_hub_error_from_response(resp, what);
    bk_http_resp_free(resp);
    return rc;
  }
  return 0;
}

static int body_json(bk_http_resp *r, cJSON **out) {
  *out = cJSON_ParseWithLength(r->body.len ? (const char *)r->body.p : "null", r->body.len ? r->body.len : 4);
  if (!*out) return bk_seterr(BK_EFORMAT, "server answered invalid JSON");
  return 0;
}

static int take_body_string(bk_http_resp *r, char **json) {
  if (bk_buf_append_u8(&r->body, 0)) return bk_seterr(BK_ENOMEM, "out of memory");
  *json = (char *)r->body.p;
  r->body.p = NULL;
  r->body.len = r->body.cap = 0;
  return 0;
}

static char *print_json(cJSON *j) {
  char *s = cJSON_PrintUnformatted(j);
  if (!s) bk_seterr(BK_ENOMEM, "out of memory");
  return s;
}

/* Prints j into *json (malloc'd, caller frees) and deletes j. */
static int json_take(cJSON *j, char **json) {
  *json = print_json(j);
  cJSON_Delete(j);
  return *json ? 0 : BK_ENOMEM;
}

/* Normalises a bucket id argument ("ns/name" or hf://buckets/ns/name, no path). */
int bk_uri_parse_id(const char *in, char **id) {
  char *path = NULL;
  int rc = bk_uri_parse(in, 1, id, &path);
  if (rc) return rc;
  int bad = path && *path;
  free(path);
  if (bad) {
    free(*id);
    *id = NULL;
    return bk_seterr(BK_EINVAL, "expected a bucket id without a path: %s", in);
  }
  return 0;
}

/* ---------------------------------------------------------------- API */

int bk_whoami(bk_client *c, char **json) {
  bk_http_resp r;
  int rc = bk_hub_call(c, "GET", "/api/whoami-v2", NULL, NULL, 0, "whoami", &r);
  if (rc) return rc;
  rc = take_body_string(&r, json);
  bk_http_resp_free(&r);
  return rc;
}

static int create_result(const char *id, const char *url, char **json) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return bk_seterr(BK_ENOMEM, "out of memory");
  char uri[600];
  snprintf(uri, sizeof uri, "hf://buckets/%s", id);
  cJSON_AddStringToObject(o, "uri", uri);
  cJSON_AddStringToObject(o, "url", url);
  cJSON_AddStringToObject(o, "id", id);
  return json_take(o, json);
}

int bk_bucket_create(bk_client *c, const char *bucket_id, int private_, const char *region,
                     int exist_ok, char **json) {
  char *id = NULL;
  int rc;
  if (!strchr(bucket_id, '/')) {
    char buf[300];
    snprintf(buf, sizeof buf, "me/%s", bucket_id);
    rc = bk_uri_parse_id(buf, &id);
  } else {
    rc = bk_uri_parse_id(bucket_id, &id);
  }
  if (rc) return rc;
  cJSON *b = cJSON_CreateObject();
  if (private_ >= 0) cJSON_AddBoolToObject(b, "private", private_ ? 1 : 0);
  if (region) cJSON_AddStringToObject(b, "region", region);
  char *body = print_json(b);
  cJSON_Delete(b);
  if (!body) {
    free(id);
    return BK_ENOMEM;
  }
  char path[600], what[600];
  snprintf(path, sizeof path, "/api/buckets/%s", id);
  snprintf(what, sizeof what, "create bucket %s", id);
  bk_http_resp r;
  rc = bk_hub_call(c, "POST", path, "application/json", body, strlen(body), what, &r);
  free(body);
  if (rc == 0) {
    cJSON *j = NULL;
    rc = body_json(&r, &j);
    bk_http_resp_free(&r);
    if (rc) goto out;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "url");
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(j, "id");
    char realid[300];
    snprintf(realid, sizeof realid, "%s", id);
    if (cJSON_IsString(i)) {
      snprintf(realid, sizeof realid, "%s", i->valuestring);
    } else if (cJSON_IsString(u)) {
      const char *p = strstr(u->valuestring, "/buckets/");
      if (p) snprintf(realid, sizeof realid, "%s", p + 9);
    }
    char urlbuf[800];
    snprintf(urlbuf, sizeof urlbuf, "%s/buckets/%s", c->endpoint, realid);
    rc = create_result(realid, cJSON_IsString(u) ? u->valuestring : urlbuf, json);
    cJSON_Delete(j);
    goto out;
  }
  if (exist_ok && (rc == BK_EEXIST || rc == BK_EAUTH || rc == BK_EPERM)) {
    char *saved = strdup(bk_errmsg());
    char *info = NULL;
    char realid[300];
    snprintf(realid, sizeof realid, "%s", id);
    if (strncmp(id, "me/", 3) == 0) {
      char *who = NULL;
      if (bk_whoami(c, &who) == 0) {
        cJSON *w = cJSON_Parse(who);
        const cJSON *n = w ? cJSON_GetObjectItemCaseSensitive(w, "name") : NULL;
        if (cJSON_IsString(n)) snprintf(realid, sizeof realid, "%s/%s", n->valuestring, id + 3);
        cJSON_Delete(w);
        free(who);
      }
    }
    if (bk_bucket_info(c, realid, &info) == 0) {
      free(info);
      char urlbuf[800];
      snprintf(urlbuf, sizeof urlbuf, "%s/buckets/%s", c->endpoint, realid);
      rc = create_result(realid, urlbuf, json);
    } else {
      bk_seterr(rc, "%s", saved ? saved : "create failed");
    }
    free(saved);
  }
out:
  free(id);
  return rc;
}

static int simple_get(bk_client *c, const char *path, const char *what, char **json) {
  bk_http_resp r;
  int rc = bk_hub_call(c, "GET", path, NULL, NULL, 0, what, &r);
  if (rc) return rc;
  rc = take_body_string(&r, json);
  bk_http_resp_free(&r);
  return rc;
}

/* The API path /api/buckets/{id}{suffix} of a bucket id ("ns/name" or an
 * hf:// URI) and the words for its errors (what_fmt with the id). */
static int bucket_route(const char *bucket_id, const char *suffix, const char *what_fmt,
                        char path[600], char what[600]) {
  char *id;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  snprintf(path, 600, "/api/buckets/%s%s", id, suffix);
  snprintf(what, 600, what_fmt, id);
  free(id);
  return 0;
}

int bk_bucket_info(bk_client *c, const char *bucket_id, char **json) {
  char path[600], what[600];
  int rc = bucket_route(bucket_id, "", "bucket %s", path, what);
  return rc ? rc : simple_get(c, path, what, json);
}

/* GETs url and every Link rel=next page; concatenates JSON arrays. */
static int get_paged(bk_client *c, const char *first, const char *what, cJSON **out) {
  cJSON *all = cJSON_CreateArray();
  if (!all) return bk_seterr(BK_ENOMEM, "out of memory");
  char *url = strdup(first);
  int rc = 0, pages = 0;
  while (url && !rc) {
    if (++pages > 100000) {
      rc = bk_seterr(BK_ELIMIT, "%s: too many pages", what);
      break;
    }
    bk_http_resp r;
    rc = bk_hub_call(c, "GET", url, NULL, NULL, 0, what, &r);
    free(url);
    url = NULL;
    if (rc) break;
    cJSON *j = NULL;
    rc = body_json(&r, &j);
    if (!rc && !cJSON_IsArray(j)) rc = bk_seterr(BK_EFORMAT, "%s: expected a JSON array", what);
    if (!rc) {
      cJSON *e;
      while ((e = cJSON_DetachItemFromArray(j, 0)) != NULL) cJSON_AddItemToArray(all, e);
    }
    cJSON_Delete(j);
    if (!rc && r.link_next) {
      /* never send the Hub token to another origin */
      int abs = strncmp(r.link_next, "http://", 7) == 0 || strncmp(r.link_next, "https://", 8) == 0;
      size_t el = strlen(c->endpoint);
      if (abs && (strncmp(r.link_next, c->endpoint, el) != 0 || r.link_next[el] != '/'))
        rc = bk_seterr(BK_EFORMAT, "%s: next page link points to another origin", what);
      else if (!abs && r.link_next[0] != '/')
        rc = bk_seterr(BK_EFORMAT, "%s: bad next page link", what);
      else
        url = strdup(r.link_next);
    }
    bk_http_resp_free(&r);
  }
  free(url);
  if (rc) {
    cJSON_Delete(all);
    return rc;
  }
  *out = all;
  return 0;
}

int bk_bucket_list(bk_client *c, const char *ns, const char *search, char **json) {
  char path[1200];
  char *es = search ? bk_url_escape(search, 0) : NULL;
  char *en = bk_url_escape(ns && *ns ? ns : "me", 0);
  if (!en) {
    free(es);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  snprintf(path, sizeof path, "/api/buckets/%s%s%s", en, es ? "?search=" : "", es ? es : "");
  free(es);
  char what[400];
  snprintf(what, sizeof what, "list buckets of %s", ns && *ns ? ns : "me");
  free(en);
  cJSON *arr;
  int rc = get_paged(c, path, what, &arr);
  return rc ? rc : json_take(arr, json);
}

int bk_bucket_delete(bk_client *c, const char *bucket_id, int missing_ok) {
  char path[600], what[600];
  int rc = bucket_route(bucket_id, "", "delete bucket %s", path, what);
  if (rc) return rc;
  bk_http_resp r;
  rc = bk_hub_call(c, "DELETE", path, NULL, NULL, 0, what, &r);
  if (!rc) bk_http_resp_free(&r);
  if (rc == BK_ENOTFOUND && missing_ok) rc = 0;
  return rc;
}

int bk_bucket_move(bk_client *c, const char *from_id, const char *to_id) {
  char *a = NULL, *b = NULL;
  int rc = bk_uri_parse_id(from_id, &a);
  if (!rc) rc = bk_uri_parse_id(to_id, &b);
  if (rc) {
    free(a);
    return rc;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "fromRepo", a);
  cJSON_AddStringToObject(o, "toRepo", b);
  cJSON_AddStringToObject(o, "type", "bucket");
  char *body = print_json(o);
  cJSON_Delete(o);
  char what[700];
  snprintf(what, sizeof what, "move bucket %s to %s", a, b);
  free(a);
  free(b);
  if (!body) return BK_ENOMEM;
  bk_http_resp r;
  rc = bk_hub_call(c, "POST", "/api/repos/move", "application/json", body, strlen(body), what, &r);
  free(body);
  if (!rc) bk_http_resp_free(&r);
  return rc;
}

int bk_bucket_settings(bk_client *c, const char *bucket_id, int private_) {
  char path[600], what[600];
  int rc = bucket_route(bucket_id, "/settings", "settings of %s", path, what);
  if (rc) return rc;
  const char *body = private_ ? "{\"private\":true}" : "{\"private\":false}";
  bk_http_resp r;
  rc = bk_hub_call(c, "PUT", path, "application/json", body, strlen(body), what, &r);
  if (!rc) bk_http_resp_free(&r);
  return rc;
}

/* {"private"?: bool, "prewarm"?: [names]} from a comma-separated list
 * (blanks around names dropped, empty names skipped: "" clears). */
static int settings_body(int private_, const char *prewarm, char **body) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return bk_seterr(BK_ENOMEM, "out of memory");
  if (private_ >= 0) cJSON_AddBoolToObject(o, "private", private_ != 0);
  cJSON *arr = prewarm ? cJSON_AddArrayToObject(o, "prewarm") : NULL;
  size_t n = prewarm ? strlen(prewarm) : 0;
  for (size_t i = 0; arr && i < n;) {
    size_t j = i;
    while (j < n && prewarm[j] != ',') j++;
    size_t a = i, b = j;
    while (a < b && prewarm[a] == ' ') a++;
    while (b > a && prewarm[b - 1] == ' ') b--;
    char name[64];
    if (b - a >= sizeof name) {
      cJSON_Delete(o);
      return bk_seterr(BK_EINVAL, "region name too long in '%.80s'", prewarm);
    }
    memcpy(name, prewarm + a, b - a);
    name[b - a] = 0;
    if (*name) cJSON_AddItemToArray(arr, cJSON_CreateString(name));
    i = j + 1;
  }
  *body = print_json(o);
  cJSON_Delete(o);
  return *body ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
}

int bk_bucket_update_settings(bk_client *c, const char *bucket_id, int private_,
                              const char *prewarm, char **json) {
  if (private_ < 0 && !prewarm) return bk_seterr(BK_EINVAL, "no setting to change");
  char path[600], what[600], *body = NULL;
  int rc = bucket_route(bucket_id, "/settings", "settings of %s", path, what);
  if (!rc) rc = settings_body(private_, prewarm, &body);
  if (rc) return rc;
  bk_http_resp r;
  rc = bk_hub_call(c, "PUT", path, "application/json", body, strlen(body), what, &r);
  free(body);
  if (rc) return rc;
  rc = json ? take_body_string(&r, json) : 0;
  bk_http_resp_free(&r);
  return rc;
}

int bk_bucket_prewarm(bk_client *c, const char *bucket_id, const char *region,
                      const char *prefix, char **json) {
  if (!region || !*region) return bk_seterr(BK_EINVAL, "a region to pre-warm is required");
  char path[600], what[600];
  int rc = bucket_route(bucket_id, "/prewarm", "pre-warm %s", path, what);
  if (rc) return rc;
  cJSON *o = cJSON_CreateObject();
  if (!o) return bk_seterr(BK_ENOMEM, "out of memory");
  cJSON_AddStringToObject(o, "region", region);
  if (prefix && *prefix) cJSON_AddStringToObject(o, "prefix", prefix);
  char *body = print_json(o);
  cJSON_Delete(o);
  if (!body) return bk_seterr(BK_ENOMEM, "out of memory");
  bk_http_resp r;
  rc = bk_hub_call(c, "POST", path, "application/json", body, strlen(body), what, &r);
  free(body);
  if (rc) return rc;
  rc = json ? take_body_string(&r, json) : 0;
  bk_http_resp_free(&r);
  return rc;
}

int bk_tree_json(bk_client *c, const char *id, const char *prefix, int recursive, cJSON **out) {
  char pre[4200] = "";
  if (prefix) snprintf(pre, sizeof pre, "%s", prefix);
  size_t pl = strlen(pre);
  while (pl > 0 && pre[pl - 1] == '/') pre[--pl] = 0;
  char *ep = pl ? bk_url_escape(pre, 1) : NULL;
  size_t n = strlen(id) + (ep ? strlen(ep) : 0) + 128;
  char *path = malloc(n);
  if (!path) {
    free(ep);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  snprintf(path, n, "/api/buckets/%s/tree%s%s?recursive=%s&limit=1000", id, ep ? "/" : "",
           ep ? ep : "", recursive ? "true" : "false");
  free(ep);
  char what[600];
  snprintf(what, sizeof what, "list %s", id);
  cJSON *arr;
  int rc = get_paged(c, path, what, &arr);
  free(path);
  if (rc) return rc;
  /* keep path-boundary matches only (prefix "logs" never means "logs.json") */
  if (pl) {
    int i = 0;
    cJSON *e = arr->child;
    while (e) {
      cJSON *next = e->next;
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
      if (!cJSON_IsString(p) || !bk_path_under(p->valuestring, pre)) {
        cJSON_Delete(cJSON_DetachItemViaPointer(arr, e));
      } else {
        i++;
      }
      e = next;
    }
  }
  *out = arr;
  return 0;
}

int bk_bucket_tree(bk_client *c, const char *bucket_id, const char *prefix, int recursive,
                   char **json) {
  char *id;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  cJSON *arr;
  rc = bk_tree_json(c, id, prefix, recursive, &arr);
  free(id);
  return rc ? rc : json_take(arr, json);
}

int bk_paths_info_json(bk_client *c, const char *id, const char *const *paths, size_t n,
                       cJSON **out) {
  cJSON *all = cJSON_CreateArray();
  if (!all) return bk_seterr(BK_ENOMEM, "out of memory");
  char path[600], what[600];
  snprintf(path, sizeof path, "/api/buckets/%s/paths-info", id);
  snprintf(what, sizeof what, "paths-info %s", id);
  int rc = 0;
  for (size_t off = 0; off < n && !rc; off += 1000) {
    size_t cnt = n - off < 1000 ? n - off : 1000;
    cJSON *b = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(b, "paths");
    for (size_t i = 0; i < cnt; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(paths[off + i]));
    char *body = print_json(b);
    cJSON_Delete(b);
    if (!body) {
      rc = BK_ENOMEM;
      break;
    }
    bk_http_resp r;
    rc = bk_hub_call(c, "POST", path, "application/json", body, strlen(body), what, &r);
    free(body);
    if (rc) break;
    cJSON *j = NULL;
    rc = body_json(&r, &j);
    bk_http_resp_free(&r);
    if (!rc && !cJSON_IsArray(j)) rc = bk_seterr(BK_EFORMAT, "paths-info: expected an array");
    if (!rc) {
      cJSON *e;
      while ((e = cJSON_DetachItemFromArray(j, 0)) != NULL) cJSON_AddItemToArray(all, e);
    }
    cJSON_Delete(j);
  }
  if (rc) {
    cJSON_Delete(all);
    return rc;
  }
  *out = all;
  return 0;
}

int bk_bucket_paths_info(bk_client *c, const char *bucket_id, const char *const *paths,
                         size_t n, char **json) {
  char *id;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  cJSON *arr;
  rc = bk_paths_info_json(c, id, paths, n, &arr);
  free(id);
  return rc ? rc : json_take(arr, json);
}

int bk_bucket_batch(bk_client *c, const char *bucket_id, const char *ndjson, char **json) {
  char path[600], what[600];
  int rc = bucket_route(bucket_id, "/batch", "batch %s", path, what);
  if (rc) return rc;
  uint64_t processed = 0, succeeded = 0;
  cJSON *failed = cJSON_CreateArray();
  const char *p = ndjson;
  while (*p && !rc) {
    /* take up to 1000 non-empty lines */
    const char *start = p;
    int lines = 0;
    while (*p && lines < 1000) {
      const char *nl = strchr(p, '\n');
      const char *e = nl ? nl : p + strlen(p);
      if (e > p) lines++;
      p = nl ? nl + 1 : e;
    }
    if (lines == 0) break;
    size_t len = (size_t)(p - start);
    bk_http_resp r;
    char url[700];
    snprintf(url, sizeof url, "%s%s", c->endpoint, path);
    bk_curl_req rq = {.method = "POST", .url = url, .bearer = c->token,
                      .content_type = "application/x-ndjson", .body = start, .body_len = len,
                      .max_resp = 64u << 20};
    rc = bk_http_do(c->http, &rq, &r);
    if (rc) {
      bk_http_resp_free(&r);
      break;
    }
    if ((r.status < 200 || r.status >= 300) && r.status != 422) {
      rc = bk_hub_error_from_response(&r, what);
      bk_http_resp_free(&r);
      break;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)r.body.p, r.body.len);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "processed");
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(j, "succeeded");
    cJSON *fa = cJSON_GetObjectItemCaseSensitive(j, "failed");
    processed += cJSON_IsNumber(pr) ? (uint64_t)pr->valuedouble : (uint64_t)lines;
    succeeded += cJSON_IsNumber(su) ? (uint64_t)su->valuedouble : (r.status == 422 ? 0 : (uint64_t)lines);
    if (cJSON_IsArray(fa)) {
      cJSON *e;
      while ((e = cJSON_DetachItemFromArray(fa, 0)) != NULL) cJSON_AddItemToArray(failed, e);
    }
    if (r.status == 422 && cJSON_GetArraySize(failed) == 0) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "path", "");
      cJSON_AddStringToObject(e, "error", "batch rejected (422)");
      cJSON_AddItemToArray(failed, e);
    }
    cJSON_Delete(j);
    bk_http_resp_free(&r);
  }
  int nf = cJSON_GetArraySize(failed);
  if (!rc && nf > 0) {
    const cJSON *f0 = cJSON_GetArrayItem(failed, 0);
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(f0, "path");
    const cJSON *fe = cJSON_GetObjectItemCaseSensitive(f0, "error");
    rc = bk_seterr(BK_EHTTP, "%d operation(s) failed; first: %s: %s", nf,
                   cJSON_IsString(fp) ? fp->valuestring : "?",
                   cJSON_IsString(fe) ? fe->valuestring : "?");
  }
  if (json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", nf == 0 && !rc);
    cJSON_AddNumberToObject(o, "processed", (double)processed);
    cJSON_AddNumberToObject(o, "succeeded", (double)succeeded);
    cJSON_AddItemToObject(o, "failed", failed);
    failed = NULL;
    *json = print_json(o);
    cJSON_Delete(o);
  }
  cJSON_Delete(failed);
  return rc;
}

int bk_bucket_delete_files(bk_client *c, const char *bucket_id, const char *const *paths,
                           size_t n) {
  bk_buf b;
  bk_buf_init(&b, (size_t)1 << 34);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "deleteFile");
    cJSON_AddStringToObject(o, "path", paths[i]);
    char *s = print_json(o);
    cJSON_Delete(o);
    if (!s) rc = BK_ENOMEM;
    else rc = bk_buf_printf(&b, "%s\n", s);
    free(s);
  }
  if (!rc && n) {
    if (bk_buf_append_u8(&b, 0)) rc = BK_ENOMEM;
    else rc = bk_bucket_batch(c, bucket_id, (const char *)b.p, NULL);
  }
  bk_buf_free(&b);
  return rc;
}

/* ---------------------------------------------------------------- xet token */

int bk_xet_token(bk_client *c, const char *bucket_id, int write, char **token, char **cas_url) {
  int64_t now = bk_now_ms() / 1000;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < sizeof c->xt / sizeof c->xt[0]; i++) {
    bk_xet_tok *t = &c->xt[i];
    if (t->bucket && t->write == write && strcmp(t->bucket, bucket_id) == 0 &&
        t->exp - 30 > now) {
      *token = strdup(t->token);
      *cas_url = strdup(t->cas_url);
      pthread_mutex_unlock(&c->mu);
      return (*token && *cas_url) ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
    }
  }
  pthread_mutex_unlock(&c->mu);
  char path[600], what[600];
  snprintf(path, sizeof path, "/api/buckets/%s/xet-%s-token", bucket_id, write ? "write" : "read");
  snprintf(what, sizeof what, "%s token for %s", write ? "write" : "read", bucket_id);
  bk_http_resp r;
  int rc = bk_hub_call(c, "GET", path, NULL, NULL, 0, what, &r);
  if (rc) return rc;
  cJSON *j = NULL;
  rc = body_json(&r, &j);
  bk_http_resp_free(&r);
  if (rc) return rc;
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "accessToken");
  const cJSON *cu = cJSON_GetObjectItemCaseSensitive(j, "casUrl");
  const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "exp");
  if (!cJSON_IsString(at) || !cJSON_IsString(cu)) {
    cJSON_Delete(j);
    return bk_seterr(BK_EFORMAT, "%s: missing accessToken/casUrl", what);
  }
  int64_t exp = cJSON_IsNumber(ex) ? (int64_t)ex->valuedouble : now + 600;
  pthread_mutex_lock(&c->mu);
  size_t slot = 0;
  for (size_t i = 0; i < sizeof c->xt / sizeof c->xt[0]; i++) {
    if (!c->xt[i].bucket || (c->xt[i].write == write && strcmp(c->xt[i].bucket, bucket_id) == 0)) {
      slot = i;
      break;
    }
    if (c->xt[i].exp < c->xt[slot].exp) slot = i;
  }
  bk_xet_tok *t = &c->xt[slot];
  free(t->bucket);
  free(t->token);
  free(t->cas_url);
  t->bucket = strdup(bucket_id);
  t->token = strdup(at->valuestring);
  t->cas_url = strdup(cu->valuestring);
  t->write = write;
  t->exp = exp;
  size_t ul = t->cas_url ? strlen(t->cas_url) : 0;
  while (ul > 0 && t->cas_url[ul - 1] == '/') t->cas_url[--ul] = 0;
  *token = t->token ? strdup(t->token) : NULL;
  *cas_url = t->cas_url ? strdup(t->cas_url) : NULL;
  pthread_mutex_unlock(&c->mu);
  cJSON_Delete(j);
  return (*token && *cas_url) ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
}

void bk_xet_token_invalidate(bk_client *c, const char *bucket_id, int write) {
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < sizeof c->xt / sizeof c->xt[0]; i++)
    if (c->xt[i].bucket && c->xt[i].write == write && strcmp(c->xt[i].bucket, bucket_id) == 0)
      c->xt[i].exp = 0;
  pthread_mutex_unlock(&c->mu);
}
