/* bucketd web — page routing and handlers (see web.h, docs/web.md). */
#include "buckets/names.h"
#include "server/web.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "store/accounts.h"
#include "buckets/buf.h"
#include "store/db.h"
#include "buckets/error.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/router.h"
#include "server/hub_parse.h"
#include "server/web_regions.h"
#include "server/server.h"
#include "server/web_acct.h"
#include "server/web_form.h"
#include "server/web_html.h"
#include "server/web_preview.h"
#include "server/web_session.h"
#include "service/service.h"

#define PAGE_SIZE 100
#define NS_PAGE_SIZE 500
#define FILTER_SCAN_MAX 20000
#define HTML_MAX (16u << 20)

static const char CSP[] =
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/* ---- templates and assets, loaded once ---- */

enum { T_LAYOUT, T_LOGIN, T_HOME, T_NS, T_BUCKET, T_BLOB, T_CONFIRM, T_MESSAGE, T_PAGER, A_CSS, A_JS,
       T_N };
static const char *const T_FILES[T_N] = {
    "layout.html", "login.html",   "home.html",    "namespace.html", "bucket.html",
    "blob.html",   "confirm.html", "message.html", "pager.html",     "static/style.css",
    "static/app.js"};
static struct { char *p; size_t len; } g_t[T_N];
static int g_loaded_rc;
static char g_webdir[PATH_MAX];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int read_file(const char *dir, const char *name, char **out, size_t *len) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  bk_buf b;
  bk_buf_init(&b, 4u << 20);
  char tmp[8192];
  size_t n;
  int rc = 0;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    if ((rc = bk_buf_append(&b, tmp, n)) != 0) break;
  fclose(f);
  if (!rc) rc = bk_buf_append_u8(&b, 0);
  if (rc) { bk_buf_free(&b); return -1; }
  *out = (char *)b.p;
  *len = b.len - 1;
  return 0;
}

static int dir_ok(const char *d) {
  char p[PATH_MAX + 32];
  if (snprintf(p, sizeof p, "%s/layout.html", d) >= (int)sizeof p) return 0;
  return access(p, R_OK) == 0;
}

static void load_once(void) {
  const char *env = getenv("BUCKETD_WEB_DIR");
  char exe[PATH_MAX], cand[PATH_MAX + 32];
  g_webdir[0] = 0;
  if (env && *env && dir_ok(env)) snprintf(g_webdir, sizeof g_webdir, "%s", env);
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (!g_webdir[0] && n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    static const char *const rel[] = {"../../web", "../share/buckets/web", "../web"};
    for (size_t i = 0; i < 3 && !g_webdir[0]; i++) {
      snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]);
      if (dir_ok(cand) && snprintf(g_webdir, sizeof g_webdir, "%s", cand) >= (int)sizeof g_webdir)
        g_webdir[0] = 0;
    }
  }
  if (!g_webdir[0] && dir_ok("web")) snprintf(g_webdir, sizeof g_webdir, "web");
  if (!g_webdir[0]) {
    g_loaded_rc = -1;
    return;
  }
  for (int i = 0; i < T_N; i++)
    if (read_file(g_webdir, T_FILES[i], &g_t[i].p, &g_t[i].len) < 0) g_loaded_rc = -1;
}

/* ---- per-request context ---- */

struct wctx {
  struct bk_server *srv;
  struct bk_http_req *req;
  int signed_in;          /* through a session cookie */
  int via_bearer;         /* through Authorization: Bearer (no CSRF needed) */
  struct bk_principal who;
  char sid[WEB_SESS_ID_HEX + 1]; /* session id (cookie) when signed_in */
  char pre[WEB_SESS_ID_HEX + 1]; /* pre-session id for signed-out forms */
  int set_pre;            /* send a new bk_pre cookie */
  char csrf[WEB_CSRF_HEX + 1];
  char flash[160];
};

static void security_headers(struct bk_http_req *req) {
  bk_http_add_header(req, "Content-Security-Policy", CSP);
  bk_http_add_header(req, "X-Content-Type-Options", "nosniff");
  bk_http_add_header(req, "X-Frame-Options", "DENY");
  bk_http_add_header(req, "Referrer-Policy", "same-origin");
}

static const char *cookie_attrs(struct bk_server *srv) {
  return strncmp(srv->public_url, "https:", 6) == 0
             ? "; Path=/; HttpOnly; SameSite=Strict; Secure"
             : "; Path=/; HttpOnly; SameSite=Strict";
}

/* Fills who/sid from the session cookie (or the bearer principal). */
static void load_identity(struct wctx *c) {
  const char *ck = bk_http_header(c->req, "Cookie");
  struct web_sess_info si;
  if (ck && web_cookie_get(ck, "bk_session", c->sid, sizeof c->sid) &&
      web_sess_lookup(c->srv->db, c->sid, bk_now_ms(), &si) == 0) {
    c->signed_in = 1;
    memset(&c->who, 0, sizeof c->who);
    c->who.user_id = si.user_id;
    c->who.token_id = si.token_id;
    c->who.role = si.token_role;
    snprintf(c->who.name, sizeof c->who.name, "%s", si.name);
    web_csrf_token(c->srv->secret, c->sid, c->csrf);
    return;
  }
  c->sid[0] = 0;
  if (c->req->auth.user_id > 0) {
    c->via_bearer = 1;
    c->who = c->req->auth;
  } else {
    memset(&c->who, 0, sizeof c->who);
  }
  if (!(ck && web_cookie_get(ck, "bk_pre", c->pre, sizeof c->pre) &&
        strlen(c->pre) == WEB_SESS_ID_HEX)) {
    if (web_random_hex(c->pre) == 0) c->set_pre = 1;
    else c->pre[0] = 0;
  }
  web_csrf_token(c->srv->secret, c->pre, c->csrf);
}

static int is_user(const struct wctx *c) { return c->who.user_id > 0; }

/* Cross-site form posts are refused: same-origin Origin (when sent) and a
 * CSRF token bound to the session (or pre-session) id. */
static int csrf_ok(struct wctx *c, const char *token) {
  if (c->via_bearer) return 1;
  const char *origin = bk_http_header(c->req, "Origin");
  const char *host = bk_http_header(c->req, "Host");
  if (origin && strcmp(origin, "null") != 0) {
    const char *o = strstr(origin, "://");
    if (!o || !host || strcmp(o + 3, host) != 0) return 0;
  }
  return web_csrf_check(c->srv->secret, c->signed_in ? c->sid : c->pre, token);
}

static void add_pre_cookie(struct wctx *c) {
  if (c->set_pre)
    bk_http_add_headerf(c->req, "Set-Cookie", "bk_pre=%s%s", c->pre, cookie_attrs(c->srv));
}

static int render_into(bk_buf *out, int t, const struct bk_tvar *v, size_t n) {
  return bk_tmpl_render(out, g_t[t].p, g_t[t].len, v, n);
}

/* The "First page" / "Next page" links of a listing (either may be NULL),
 * rendered into out as a NUL-terminated string for {{{pager}}}. */
static int render_pager(bk_buf *out, const char *first_url, const char *next_url) {
  struct bk_tvar v[] = {{"first_url", first_url}, {"next_url", next_url}};
  int rc = render_into(out, T_PAGER, v, 2);
  if (!rc) rc = bk_buf_append_u8(out, 0);
  return rc;
}

static int reply_page(struct wctx *c, int status, const char *title, bk_buf *content) {
  bk_buf page;
  char user_url[512] = "";
  bk_buf_init(&page, HTML_MAX);
  bk_buf_append_u8(content, 0);
  if (is_user(c)) {
    bk_buf u;
    bk_buf_init(&u, sizeof user_url - 1);
    bk_html_url(&u, c->who.name, 0);
    snprintf(user_url, sizeof user_url, "%.*s", (int)u.len, u.p ? (char *)u.p : "");
    bk_buf_free(&u);
  }
  struct bk_tvar v[] = {
      {"title", title},
      {"user", is_user(c) ? c->who.name : NULL},
      {"user_url", user_url},
      {"csrf", c->csrf},
      {"flash", c->flash[0] ? c->flash : NULL},
      {"content", (const char *)content->p},
  };
  int rc = render_into(&page, T_LAYOUT, v, sizeof v / sizeof v[0]);
  bk_buf_free(content);
  if (rc) {
    bk_buf_free(&page);
    return bk_http_error(c->req, 500, "WebTemplate", "page rendering failed: %s", bk_errmsg());
  }
  security_headers(c->req);
  add_pre_cookie(c);
  bk_http_add_header(c->req, "Cache-Control", "no-store");
  return bk_http_reply_buf(c->req, status, "text/html; charset=utf-8", &page) < 0 ? 1 : 1;
}

static int message_page(struct wctx *c, int status, const char *heading, const char *msg,
                        const char *back_url, const char *back_label) {
  bk_buf content;
  bk_buf_init(&content, HTML_MAX);
  struct bk_tvar v[] = {{"heading", heading}, {"message", msg},
                        {"back_url", back_url ? back_url : "/"},
                        {"back_label", back_label ? back_label : "Home"}};
  if (render_into(&content, T_MESSAGE, v, 4)) {
    bk_buf_free(&content);
    return bk_http_error(c->req, 500, "WebTemplate", "rendering failed");
  }
  return reply_page(c, status, heading, &content);
}

/* A page the store could not read or write (rc a BK_E* code, message in
 * bk_errmsg): logs the error like the API does and answers an error page
 * instead of partial data, with the status of the one error map
 * (bk_http_status: 503 + Retry-After for database busy / out of memory, 507
 * for a full disk, else 500). */
static int store_error_page(struct wctx *c, int rc, const char *msg) {
  fprintf(stderr, "bucketd: %s %s: store error %s: %s\n", c->req->method, c->req->raw_path,
          bk_strerror(rc), bk_errmsg());
  if (bk_http_retryable(rc))
    bk_http_add_headerf(c->req, "Retry-After", "%d", BK_HTTP_RETRY_AFTER_S);
  return message_page(c, bk_http_status(rc), "Error", msg, "/", "Home");
}

static char *url_escape(const char *s, int keep_slash);

static int not_found(struct wctx *c) {
  if (!is_user(c) && c->req->raw_path && strlen(c->req->raw_path) < 2048 &&
      !strpbrk(c->req->raw_path, "\"<>'&")) {
    /* signed out: offer to sign in and come back (raw_path is still
     * percent-encoded; escaped again as a query value) */
    char *n = url_escape(c->req->raw_path, 0);
    char back[8300];
    snprintf(back, sizeof back, "/login?next=%s", n ? n : "%2F");
    free(n);
    return message_page(c, 404, "Not found",
                        "There is nothing here, or it is private: sign in to see private buckets.",
                        back, "Sign in");
  }
  return message_page(c, 404, "Not found",
                      "There is nothing here, or you do not have access to it.", "/", "Home");
}

static int redirect(struct wctx *c, const char *loc) {
  security_headers(c->req);
  add_pre_cookie(c);
  bk_http_add_header(c->req, "Location", loc);
  bk_http_add_header(c->req, "Cache-Control", "no-store");
  bk_http_reply(c->req, 303, "text/plain; charset=utf-8", "See Other\n", 10);
  return 1;
}

/* Redirects to u (allocated by mk_url; NULL = out of memory) and frees it. */
static int redirect_free(struct wctx *c, char *u) {
  if (!u) return bk_http_error(c->req, 500, NULL, "oom");
  redirect(c, u);
  free(u);
  return 1;
}

/* ---- URL helpers ---- */

/* "/buckets/<ns>/<name>" escaped, into b. */
static int bucket_base(bk_buf *b, const bk_bucket *bk) {
  int rc = bk_buf_printf(b, "/buckets/");
  if (!rc) rc = bk_html_url(b, bk->ns, 0);
  if (!rc) rc = bk_buf_append_u8(b, '/');
  if (!rc) rc = bk_html_url(b, bk->name, 0);
  return rc;
}

/* Returns a malloc'd NUL-terminated URL: base + "/" + kind + "/" + path. Note:
 * bk_html_url escapes for a URL and is then safe in a quoted attribute. */
static char *mk_url(const bk_bucket *bk, const char *kind, const char *path, const char *qs) {
  bk_buf b;
  bk_buf_init(&b, 16384);
  int rc = bucket_base(&b, bk);
  if (!rc && kind) rc = bk_buf_printf(&b, "/%s", kind);
  if (!rc && path && *path) {
    rc = bk_buf_append_u8(&b, '/');
    if (!rc) rc = bk_html_url(&b, path, 1);
  }
  if (!rc && qs) rc = bk_buf_printf(&b, "%s", qs);
  if (!rc) rc = bk_buf_append_u8(&b, 0);
  if (rc) { bk_buf_free(&b); return NULL; }
  return (char *)b.p;
}

static char *url_escape(const char *s, int keep_slash) {
  bk_buf b;
  bk_buf_init(&b, 16384);
  if (bk_html_url(&b, s, keep_slash) || bk_buf_append_u8(&b, 0)) {
    bk_buf_free(&b);
    return NULL;
  }
  if (!b.p) return strdup("");
  return (char *)b.p;
}

/* Breadcrumb list items: buckets / ns / name / seg / seg ... */
static int crumbs(bk_buf *o, const bk_bucket *bk, const char *path, int last_is_file) {
  int rc = bk_buf_printf(o, "<li><a href=\"/\">buckets</a></li><li><a href=\"/");
  if (!rc) rc = bk_html_url(o, bk->ns, 0);
  if (!rc) rc = bk_buf_printf(o, "\">");
  if (!rc) rc = bk_html_escape_str(o, bk->ns);
  if (!rc) rc = bk_buf_printf(o, "</a></li>");
  int at_root = !path || !*path;
  if (!rc) rc = bk_buf_printf(o, at_root ? "<li aria-current=\"page\">" : "<li><a href=\"");
  if (!rc && !at_root) rc = bucket_base(o, bk);
  if (!rc && !at_root) rc = bk_buf_printf(o, "\">");
  if (!rc) rc = bk_html_escape_str(o, bk->name);
  if (!rc) rc = bk_buf_printf(o, at_root ? "</li>" : "</a></li>");
  if (at_root || rc) return rc;
  const char *s = path;
  while (!rc && *s) {
    const char *e = strchr(s, '/');
    size_t seglen = e ? (size_t)(e - s) : strlen(s);
    int last = !e;
    if (last) {
      rc = bk_buf_printf(o, "<li aria-current=\"page\">");
      if (!rc) rc = bk_html_escape(o, s, seglen);
      if (!rc) rc = bk_buf_printf(o, "</li>");
      break;
    }
    char *sub = strndup(path, (size_t)(e - path));
    if (!sub) return BK_ENOMEM;
    rc = bk_buf_printf(o, "<li><a href=\"");
    if (!rc) rc = bucket_base(o, bk);
    if (!rc) rc = bk_buf_printf(o, "/tree/");
    if (!rc) rc = bk_html_url(o, sub, 1);
    free(sub);
    if (!rc) rc = bk_buf_printf(o, "\">");
    if (!rc) rc = bk_html_escape(o, s, seglen);
    if (!rc) rc = bk_buf_printf(o, "</a></li>");
    s = e + 1;
  }
  (void)last_is_file;
  return rc;
}

/* ---- login / logout ---- */

static int safe_next(const char *n) {
  return n && n[0] == '/' && n[1] != '/' && n[1] != '\\' && !strpbrk(n, "\r\n") &&
         strlen(n) < 2048;
}

static int page_login(struct wctx *c, const char *error, int status) {
  bk_buf content;
  const char *next = bk_http_param(c->req, "next");
  bk_buf_init(&content, HTML_MAX);
  struct bk_tvar v[] = {{"csrf", c->csrf}, {"next", safe_next(next) ? next : "/"},
                        {"error", error}};
  if (render_into(&content, T_LOGIN, v, 3)) {
    bk_buf_free(&content);
    return bk_http_error(c->req, 500, "WebTemplate", "rendering failed");
  }
  return reply_page(c, status, "Sign in", &content);
}

static int form_body(struct wctx *c, struct web_form *f);

/* Reads a posted form into f and checks its CSRF token. 1: refused, the error
 * page is queued and *ret is the handler's result; 0: go on (free f). A false
 * `usable` (a wrong content type) is refused like an unreadable body, with
 * message bad. */
static int form_refused(struct wctx *c, struct web_form *f, int usable, const char *bad,
                        int *ret) {
  if (!usable || form_body(c, f) < 0) {
    *ret = message_page(c, 400, "Bad request", bad, "/", "Home");
    return 1;
  }
  if (!csrf_ok(c, web_form_get(f, "csrf"))) {
    web_form_free(f);
    *ret = message_page(c, 403, "Forbidden", "The form expired; please try again.", "/", "Home");
    return 1;
  }
  return 0;
}

static int form_body(struct wctx *c, struct web_form *f) {
  const char *ct = bk_http_header(c->req, "Content-Type");
  if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0)
    return web_form_parse_multipart(f, ct, c->req->body.p, c->req->body.len);
  return web_form_parse_urlencoded(f, (const char *)c->req->body.p, c->req->body.len);
}

static int post_login(struct wctx *c) {
  struct web_form f;
  if (form_body(c, &f) < 0) return page_login(c, "The form could not be read.", 400);
  if (!csrf_ok(c, web_form_get(&f, "csrf"))) {
    web_form_free(&f);
    return page_login(c, "The form expired; please try again.", 403);
  }
  const char *tok = web_form_get(&f, "token");
  const char *next = web_form_get(&f, "next");
  struct web_login wl;
  if (!tok || web_acct_login(c->srv->db, tok, strlen(tok), &wl)) {
    web_form_free(&f);
    return page_login(c, "That token is not valid.", 401);
  }
  struct web_sess_info si = {wl.user_id, wl.token_id, wl.token_role, ""};
  snprintf(si.name, sizeof si.name, "%s", wl.name);
  char sid[WEB_SESS_ID_HEX + 1];
  if (web_sess_create(c->srv->db, &si, bk_now_ms(), sid)) {
    web_form_free(&f);
    return message_page(c, 500, "Error", "Could not create a session.", "/login", "Back");
  }
  char loc[2100];
  snprintf(loc, sizeof loc, "%s", safe_next(next) ? next : "/");
  web_form_free(&f);
  c->set_pre = 0;
  bk_http_add_headerf(c->req, "Set-Cookie", "bk_session=%s%s; Max-Age=%lld", sid,
                      cookie_attrs(c->srv), (long long)(WEB_SESS_TTL_MS / 1000));
  return redirect(c, loc);
}

static int post_logout(struct wctx *c) {
  struct web_form f;
  if (form_body(c, &f) < 0) return message_page(c, 400, "Bad request", "Unreadable form.", "/", "Home");
  int ok = csrf_ok(c, web_form_get(&f, "csrf"));
  web_form_free(&f);
  if (!ok) return message_page(c, 403, "Forbidden", "The form expired; please try again.", "/", "Home");
  if (c->signed_in) web_sess_destroy(c->srv->db, c->sid);
  bk_http_add_headerf(c->req, "Set-Cookie", "bk_session=%s; Max-Age=0", cookie_attrs(c->srv));
  return redirect(c, "/");
}

/* ---- home ---- */

struct orgs_out { bk_buf *b; int n; };
static int home_org_cb(void *ctx, const char *org, int role) {
  struct orgs_out *o = ctx;
  int rc = bk_buf_printf(o->b, "<li><a href=\"/");
  if (!rc) rc = bk_html_url(o->b, org, 0);
  if (!rc) rc = bk_buf_printf(o->b, "\">");
  if (!rc) rc = bk_html_escape_str(o->b, org);
  if (!rc) rc = bk_buf_printf(o->b, "</a> <span class=\"hint\">(org, %s)</span></li>",
                                  bk_role_name(role));
  o->n++;
  return rc ? 1 : 0;
}

static int page_home(struct wctx *c) {
  const char *ns = bk_http_param(c->req, "ns");
  if (ns && *ns) {
    char *u = url_escape(ns, 0);
    if (!u) return bk_http_error(c->req, 500, NULL, "oom");
    char loc[16400];
    snprintf(loc, sizeof loc, "/%s", u);
    free(u);
    return redirect(c, loc);
  }
  bk_buf nsl, content;
  bk_buf_init(&nsl, HTML_MAX);
  bk_buf_init(&content, HTML_MAX);
  char *uurl = url_escape(c->who.name, 0);
  if (is_user(c)) {
    bk_buf_printf(&nsl, "<h2>Your namespaces</h2><ul><li><a href=\"/%s\">", uurl ? uurl : "");
    bk_html_escape_str(&nsl, c->who.name);
    bk_buf_printf(&nsl, "</a> <span class=\"hint\">(you)</span></li>");
    struct orgs_out o = {&nsl, 0};
    web_acct_user_orgs(c->srv->db, c->who.user_id, home_org_cb, &o);
    bk_buf_printf(&nsl, "</ul>");
  } else {
    bk_buf_printf(&nsl, "<p>Signed-out visitors see public buckets only. "
                        "<a href=\"/login\">Sign in</a> with an access token to see yours.</p>");
  }
  bk_buf_append_u8(&nsl, 0);
  struct bk_tvar v[] = {{"user", is_user(c) ? c->who.name : NULL},
                        {"user_url", uurl ? uurl : ""},
                        {"namespaces", (const char *)nsl.p},
                        {"has_public", NULL},
                        {"public", ""}};
  int rc = render_into(&content, T_HOME, v, 5);
  free(uurl);
  bk_buf_free(&nsl);
  if (rc) {
    bk_buf_free(&content);
    return bk_http_error(c->req, 500, "WebTemplate", "rendering failed");
  }
  return reply_page(c, 200, "Home", &content);
}

/* ---- namespace page ---- */

struct ns_rows { struct wctx *c; bk_buf *b; int n; char last[BK_NAME_MAX + 1]; };
static int ns_row_cb(void *ctx, const bk_bucket *bk) {
  struct ns_rows *r = ctx;
  bk_usage u;
  char files[32], logical[32], stored[32], ratio[32], created[32];
  memset(&u, 0, sizeof u);
  int urc = bk_db_bucket_usage(r->c->srv->db, bk->id, &u); /* cached by the store */
  if (urc) return urc; /* ends the listing with the error (not zeros) */
  snprintf(files, sizeof files, "%llu", (unsigned long long)u.nfiles);
  bk_human_size(u.logical_bytes, logical);
  bk_human_size(u.stored_bytes, stored);
  bk_dedup_ratio(u.logical_bytes, u.stored_bytes, ratio);
  bk_html_date(bk->created_ms, created);
  int rc = bk_buf_printf(r->b, "<tr><td><a href=\"");
  if (!rc) rc = bucket_base(r->b, bk);
  if (!rc) rc = bk_buf_printf(r->b, "\">");
  if (!rc) rc = bk_html_escape_str(r->b, bk->name);
  if (!rc)
    rc = bk_buf_printf(r->b,
                       "</a></td><td><span class=\"badge %s\">%s</span></td>"
                       "<td class=\"num\">%s</td><td class=\"num\">%s</td>"
                       "<td class=\"num\">%s (%s)</td><td class=\"when\">%s</td></tr>\n",
                       bk->is_private ? "private" : "public",
                       bk->is_private ? "private" : "public", files, logical, stored, ratio,
                       created);
  snprintf(r->last, sizeof r->last, "%s", bk->name);
  r->n++;
  return rc ? 1 : 0;
}

static int page_namespace(struct wctx *c, const char *nsname, const char *flash) {
  struct web_ns ns;
  if (!bk_name_valid(nsname) || web_acct_ns_get(c->srv->db, nsname, &ns)) return 0;
  int role = 0;
  bk_auth_ns_role(c->srv, &c->who, ns.id, &role);
  int nsrole = 0; /* untcapped: may see private buckets with a read token too */
  web_acct_ns_role(c->srv->db, c->who.user_id, ns.id, &nsrole);
  bk_buf rows, content;
  bk_buf_init(&rows, HTML_MAX);
  bk_buf_init(&content, HTML_MAX);
  struct ns_rows r = {c, &rows, 0, ""};
  const char *after = bk_http_param(c->req, "after");
  int more = 0;
  if (after && !*after) after = NULL;
  int lrc = bk_db_bucket_list(c->srv->db, ns.id, NULL, nsrole >= BK_ROLE_READ, after,
                              NS_PAGE_SIZE, ns_row_cb, &r, &more);
  if (lrc < 0) { /* listing or a bucket's usage failed: no page of zeros */
    bk_buf_free(&rows);
    bk_buf_free(&content);
    return store_error_page(c, lrc, "The buckets could not be listed.");
  }
  bk_buf_append_u8(&rows, 0);
  char *nsurl = url_escape(ns.name, 0);
  char *lastu = more && r.n ? url_escape(r.last, 0) : NULL;
  char next_url[400] = "";
  if (lastu) snprintf(next_url, sizeof next_url, "/%s?after=%s", nsurl ? nsurl : "", lastu);
  free(lastu);
  if (flash) snprintf(c->flash, sizeof c->flash, "%s", flash);
  char first_url[300] = "";
  if (after) snprintf(first_url, sizeof first_url, "/%s", nsurl ? nsurl : "");
  bk_buf pager;
  bk_buf_init(&pager, HTML_MAX);
  int prc = render_pager(&pager, after ? first_url : NULL, next_url[0] ? next_url : NULL);
  struct bk_tvar v[] = {{"ns", ns.name},
                        {"ns_url", nsurl ? nsurl : ""},
                        {"user", is_user(c) ? c->who.name : NULL},
                        {"is_empty", r.n == 0 ? "1" : NULL},
                        {"rows", (const char *)rows.p},
                        {"can_create", role >= BK_ROLE_WRITE ? "1" : NULL},
                        {"csrf", c->csrf},
                        {"pager", !prc ? (const char *)pager.p : ""}};
  int rc = !prc ? render_into(&content, T_NS, v, sizeof v / sizeof v[0]) : prc;
  bk_buf_free(&pager);
  free(nsurl);
  bk_buf_free(&rows);
  if (rc) {
    bk_buf_free(&content);
    return bk_http_error(c->req, 500, "WebTemplate", "rendering failed: %s", bk_errmsg());
  }
  return reply_page(c, 200, ns.name, &content);
}

static int post_namespace(struct wctx *c, const char *nsname) {
  struct web_ns ns;
  struct web_form f;
  if (!bk_name_valid(nsname) || web_acct_ns_get(c->srv->db, nsname, &ns)) return 0;
  int ret;
  if (form_refused(c, &f, 1, "Unreadable form.", &ret)) return ret;
  int role = 0;
  bk_auth_ns_role(c->srv, &c->who, ns.id, &role);
  const char *name = web_form_get(&f, "name");
  const char *priv = web_form_get(&f, "private");
  int rc;
  if (role < BK_ROLE_WRITE) {
    web_form_free(&f);
    return message_page(c, 403, "Forbidden", "You cannot create buckets in this namespace.",
                        "/", "Home");
  }
  if (!name || !bk_name_valid(name)) {
    web_form_free(&f);
    return message_page(c, 400, "Invalid name",
                        "Bucket names use letters, digits, '.', '_' and '-'.", "/", "Home");
  }
  bk_bucket b;
  rc = bk_db_bucket_create(c->srv->db, ns.id, name, priv && strcmp(priv, "0") != 0, &b);
  web_form_free(&f);
  if (rc == BK_EEXIST)
    return message_page(c, 409, "Already exists", "A bucket with that name already exists.",
                        "/", "Home");
  if (rc) return store_error_page(c, rc, "The bucket could not be created.");
  char *u = mk_url(&b, NULL, NULL, "?done=created");
  return redirect_free(c, u);
}

/* ---- bucket / folder page ---- */

struct ent {
  int is_dir;
  char *path;
  uint64_t size;     /* file size, or bytes below a directory */
  uint64_t nfiles;   /* directories: files below it */
  int64_t mtime_ms, uploaded_ms;
};

struct listing {
  struct ent *e;
  size_t n, cap;
  const char *q;       /* filter (substring of the entry name, case-insensitive) */
  size_t prefix_len;   /* bytes of "prefix/" to skip for the name */
  size_t scanned;
};

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static int list_cb(void *ctx, const bk_file_entry *fe) {
  struct listing *l = ctx;
  l->scanned++;
  if (l->q && *l->q && !strcasestr(base_name(fe->path), l->q)) return 0;
  struct ent *ne = bk_grow(l->e, l->n, &l->cap, sizeof *ne, 128, 0);
  if (!ne) return BK_ENOMEM;
  l->e = ne;
  struct ent *e = &l->e[l->n];
  e->path = strdup(fe->path);
  if (!e->path) return BK_ENOMEM;
  e->is_dir = fe->is_dir;
  e->size = fe->size;
  e->nfiles = fe->is_dir ? fe->nfiles : 0;
  e->mtime_ms = fe->mtime_ms;
  e->uploaded_ms = fe->uploaded_ms;
  l->n++;
  return 0;
}

static void free_listing(struct listing *l) {
  for (size_t i = 0; i < l->n; i++) free(l->e[i].path);
  free(l->e);
}

static int ent_cmp(const void *a, const void *b) {
  const struct ent *x = a, *y = b;
  if (x->is_dir != y->is_dir) return y->is_dir - x->is_dir;
  return strcmp(x->path, y->path);
}

static const char *flash_text(const char *done, const char *n, char *buf, size_t len) {
  if (!done) return NULL;
  long k = n ? strtol(n, NULL, 10) : 0;
  if (k < 0 || k > 1000000) k = 0;
  if (strcmp(done, "upload") == 0) snprintf(buf, len, "Uploaded %ld file(s).", k);
  else if (strcmp(done, "delete") == 0) snprintf(buf, len, "Deleted %ld file(s).", k);
  else if (strcmp(done, "created") == 0) snprintf(buf, len, "Bucket created.");
  else if (strcmp(done, "settings") == 0) snprintf(buf, len, "Visibility saved.");
  else if (strcmp(done, "regions") == 0) snprintf(buf, len, "Warm regions saved.");
  else if (strcmp(done, "prewarm") == 0) snprintf(buf, len, "Pre-warm queued.");
  else return NULL;
  return buf;
}

static int bucket_access(struct wctx *c, const char *ns, const char *name, bk_bucket *b,
                         int *role) {
  *role = 0;
  if (!bk_name_valid(ns) || !bk_name_valid(name)) return BK_ENOTFOUND;
  int rc = bk_db_bucket_get(c->srv->db, ns, name, b);
  if (rc) return rc;
  if (bk_auth_bucket_role(c->srv, &c->who, b, role) || *role < BK_ROLE_READ)
    return BK_ENOTFOUND; /* private and not yours: looks like nothing */
  return 0;
}

/* Folder page, in three steps: fetch one page of the listing (tree_fetch),
 * decide what to answer (page_tree), render it (tree_render with its texts,
 * tree_text, and links, tree_links). */

/* One page of the folder prefix (NULL = root) after cursor into *l, filtered
 * by l->q when set (exactly the missing number of entries per call, so that
 * the cursor after each call is exact; at most FILTER_SCAN_MAX scanned).
 * *next: the cursor of the next page (malloc'd) or NULL. BK_E* code. */
static int tree_fetch(struct wctx *c, const bk_bucket *b, const char *prefix,
                      const char *cursor, struct listing *l, char **next) {
  if (!l->q)
    return bk_db_tree(c->srv->db, b->id, prefix, 0, cursor, PAGE_SIZE, list_cb, l, next);
  char *cur = cursor ? strdup(cursor) : NULL;
  int rc = 0;
  for (;;) {
    free(*next);
    *next = NULL;
    rc = bk_db_tree(c->srv->db, b->id, prefix, 0, cur, PAGE_SIZE - l->n, list_cb, l, next);
    free(cur);
    cur = NULL;
    if (rc || !*next || l->n >= PAGE_SIZE || l->scanned >= FILTER_SCAN_MAX) break;
    cur = strdup(*next);
    if (!cur) {
      rc = BK_ENOMEM;
      break;
    }
  }
  free(cur);
  return rc;
}

/* The table rows of a listing. */
static int tree_rows(bk_buf *rows, const bk_bucket *b, const struct listing *l) {
  int rc = 0;
  for (size_t i = 0; i < l->n && !rc; i++) {
    const struct ent *e = &l->e[i];
    char sz[80], hs[32], when[32];
    bk_html_date(e->is_dir ? e->uploaded_ms : e->mtime_ms, when);
    bk_human_size(e->size, hs);
    if (e->is_dir)
      snprintf(sz, sizeof sz, "%s <span class=\"hint\">(%llu file%s)</span>", hs,
               (unsigned long long)e->nfiles, e->nfiles == 1 ? "" : "s");
    else
      snprintf(sz, sizeof sz, "%s", hs);
    rc = bk_buf_printf(rows, "<tr class=\"%s\"><td><a href=\"", e->is_dir ? "dir" : "file");
    if (!rc) rc = bucket_base(rows, b);
    if (!rc) rc = bk_buf_printf(rows, e->is_dir ? "/tree/" : "/blob/");
    if (!rc) rc = bk_html_url(rows, e->path, 1);
    if (!rc) rc = bk_buf_printf(rows, "\">");
    if (!rc) rc = bk_html_escape_str(rows, base_name(e->path));
    if (!rc && e->is_dir) rc = bk_buf_append_u8(rows, '/');
    if (!rc)
      rc = bk_buf_printf(rows,
                         "</a></td><td class=\"num\">%s</td><td class=\"when\">%s</td></tr>\n",
                         sz, when);
  }
  if (!rc) rc = bk_buf_append_u8(rows, 0);
  return rc;
}

/* The figures and texts of a folder page. */
struct tree_text {
  char files[32], logical[32], stored[32], ratio[32];
  char folder_stats[160]; /* "" when not a folder (or no stats) */
  char uri[2300], sync[2500], label[1100];
};

static void tree_text(struct wctx *c, const bk_bucket *b, const char *prefix, const bk_usage *u,
                      struct tree_text *t) {
  snprintf(t->files, sizeof t->files, "%llu", (unsigned long long)u->nfiles);
  bk_human_size(u->logical_bytes, t->logical);
  bk_human_size(u->stored_bytes, t->stored);
  bk_dedup_ratio(u->logical_bytes, u->stored_bytes, t->ratio);
  t->folder_stats[0] = 0;
  bk_dir_stats ds;
  if (prefix && bk_db_dir_stats(c->srv->db, b->id, prefix, &ds) == 0) {
    char fb[32], fw[32];
    bk_human_size(ds.bytes, fb);
    bk_html_date(ds.updated_ms, fw);
    snprintf(t->folder_stats, sizeof t->folder_stats, "%llu file%s, %s, last change %s",
             (unsigned long long)ds.nfiles, ds.nfiles == 1 ? "" : "s", fb, fw);
  }
  snprintf(t->uri, sizeof t->uri, "hf://buckets/%s/%s%s%s", b->ns, b->name, prefix ? "/" : "",
           prefix ? prefix : "");
  snprintf(t->sync, sizeof t->sync, "hf buckets sync %s ./%s", t->uri,
           prefix ? base_name(prefix) : b->name);
  snprintf(t->label, sizeof t->label, "%s", prefix ? prefix : "/");
}

/* The links of a folder page (each malloc'd or NULL; tree_links_free). */
struct tree_links {
  char *here, *upload, *settings, *delete_folder, *first, *next;
  char *regions, *prewarm; /* the regions forms' actions */
};

/* mk_url(b, folder page of prefix, query built from fmt). */
static char *tree_url(const bk_bucket *b, const char *action, const char *prefix,
                      const char *fmt, const char *v1, const char *v2) {
  bk_buf qs;
  bk_buf_init(&qs, 16384);
  int rc = bk_buf_printf(&qs, fmt, v1 ? v1 : "", v2 ? v2 : "");
  if (!rc) rc = bk_buf_append_u8(&qs, 0);
  char *u = rc ? NULL : mk_url(b, action, prefix, (const char *)qs.p);
  bk_buf_free(&qs);
  return u;
}

static void tree_links(const bk_bucket *b, const char *prefix, const char *cursor, const char *q,
                       const char *next, struct tree_links *k) {
  const char *dir = prefix ? "tree" : NULL;
  char *pe = prefix ? url_escape(prefix, 0) : NULL;
  char *qe = q ? url_escape(q, 0) : NULL;
  char *ce = next ? url_escape(next, 0) : NULL;
  k->here = mk_url(b, dir, prefix, NULL);
  k->upload = mk_url(b, "upload", NULL, NULL);
  k->settings = mk_url(b, "settings", NULL, NULL);
  k->regions = mk_url(b, "regions", NULL, NULL);
  k->prewarm = mk_url(b, "prewarm", NULL, NULL);
  k->delete_folder = tree_url(b, "delete", NULL, "?kind=folder&path=%s%s", pe, NULL);
  k->first = !cursor ? NULL
             : q     ? tree_url(b, dir, prefix, "?q=%s%s", qe, NULL)
                     : tree_url(b, dir, prefix, "%s%s", NULL, NULL);
  k->next = !next ? NULL
            : q   ? tree_url(b, dir, prefix, "?cursor=%s&q=%s", ce, qe)
                  : tree_url(b, dir, prefix, "?cursor=%s%s", ce, NULL);
  free(pe);
  free(qe);
  free(ce);
}

static void tree_links_free(struct tree_links *k) {
  free(k->here);
  free(k->upload);
  free(k->settings);
  free(k->regions);
  free(k->prewarm);
  free(k->delete_folder);
  free(k->first);
  free(k->next);
}

/* Renders the folder page of listing l into content. */
static int tree_render(struct wctx *c, const bk_bucket *b, int role, const char *prefix,
                       const char *q, const struct listing *l, const struct tree_text *t,
                       const struct tree_links *k, bk_buf *content) {
  bk_buf rows, crumb, pager;
  bk_buf_init(&rows, HTML_MAX);
  bk_buf_init(&crumb, HTML_MAX);
  bk_buf_init(&pager, HTML_MAX);
  int rc = tree_rows(&rows, b, l);
  if (!rc) rc = crumbs(&crumb, b, prefix, 0);
  if (!rc) rc = bk_buf_append_u8(&crumb, 0);
  if (!rc) rc = render_pager(&pager, k->first, k->next);
  int can_write = role >= BK_ROLE_WRITE && is_user(c);
  int is_admin = role >= BK_ROLE_ADMIN && is_user(c);
  struct web_regions reg;
  if (!rc) rc = web_regions_load(c->srv, b, is_admin, &reg);
  else memset(&reg, 0, sizeof reg);
  const char *reg_table = reg.enabled && reg.table.len ? (const char *)reg.table.p : NULL;
  const char *reg_choices = reg.enabled && reg.choices.len > 1 ? (const char *)reg.choices.p : NULL;
  struct bk_tvar v[] = {
      {"crumbs", (const char *)crumb.p},
      {"ns", b->ns},
      {"name", b->name},
      {"visibility", b->is_private ? "private" : "public"},
      {"private", b->is_private ? "1" : NULL},
      {"files", t->files},
      {"logical", t->logical},
      {"stored", t->stored},
      {"ratio", t->ratio},
      {"uri", t->uri},
      {"sync", t->sync},
      {"here", k->here ? k->here : "/"},
      {"q", q},
      {"is_empty", l->n == 0 ? "1" : NULL},
      {"folder_label", t->label},
      {"folder_stats", t->folder_stats[0] ? t->folder_stats : NULL},
      {"rows", (const char *)rows.p},
      {"pager", (const char *)pager.p},
      {"can_write", can_write ? "1" : NULL},
      {"upload_url", k->upload ? k->upload : ""},
      {"csrf", c->csrf},
      {"prefix", prefix},
      {"delete_folder_url", k->delete_folder ? k->delete_folder : ""},
      {"is_admin", is_admin ? "1" : NULL},
      {"settings_url", k->settings ? k->settings : ""},
      {"home_region", reg.home[0] ? reg.home : NULL},
      {"regions_table", reg_table},
      {"warm_choices", reg_choices},
      {"prewarm_options", reg_choices ? (const char *)reg.options.p : ""},
      {"regions_url", k->regions ? k->regions : ""},
      {"prewarm_url", k->prewarm ? k->prewarm : ""},
  };
  if (!rc) rc = render_into(content, T_BUCKET, v, sizeof v / sizeof v[0]);
  web_regions_free(&reg);
  bk_buf_free(&pager);
  bk_buf_free(&rows);
  bk_buf_free(&crumb);
  return rc;
}

/* What a fetched listing answers other than the folder page (1 = replied):
 * a bad cursor, a store error, a prefix that is a file (its page), a folder
 * that does not exist. */
static int tree_answered(struct wctx *c, const bk_bucket *b, const char *prefix, int first_page,
                         int rc, const struct listing *l) {
  if (rc == BK_EINVAL)
    return message_page(c, 400, "Bad request", "That page link is not valid.", "/", "Home");
  if (rc) return store_error_page(c, rc, "The folder could not be listed.");
  if (!prefix || !first_page || l->n > 1) return 0;
  if (l->n == 1 && !l->e[0].is_dir && strcmp(l->e[0].path, prefix) == 0)
    return redirect_free(c, mk_url(b, "blob", prefix, NULL));
  if (l->n == 0) return not_found(c);
  return 0;
}

/* Answers the folder page of prefix (NULL = root): query ?cursor= &q= &done= &n=. */
static int page_tree(struct wctx *c, const bk_bucket *b, int role, const char *prefix) {
  const char *cursor = bk_http_param(c->req, "cursor");
  const char *q = bk_http_param(c->req, "q");
  if (q && !*q) q = NULL;
  if (cursor && !*cursor) cursor = NULL;
  struct listing l;
  memset(&l, 0, sizeof l);
  l.q = q;
  char *next = NULL;
  int rc = tree_fetch(c, b, prefix, cursor, &l, &next);
  int ret = tree_answered(c, b, prefix, !cursor && !q, rc, &l);
  bk_usage u;
  memset(&u, 0, sizeof u);
  if (!ret) rc = bk_db_bucket_usage(c->srv->db, b->id, &u); /* cached by the store */
  if (!ret && rc) /* no page of zeros: the figures could not be read */
    ret = store_error_page(c, rc, "The bucket usage could not be read.");
  if (ret) {
    free_listing(&l);
    free(next);
    return ret;
  }
  if (l.n > 1) qsort(l.e, l.n, sizeof *l.e, ent_cmp);

  char fl[160];
  const char *ft = flash_text(bk_http_param(c->req, "done"), bk_http_param(c->req, "n"), fl,
                              sizeof fl);
  if (ft) snprintf(c->flash, sizeof c->flash, "%s", ft);
  struct tree_text *t = malloc(sizeof *t);
  struct tree_links k;
  tree_links(b, prefix, cursor, q, next, &k);
  bk_buf content;
  bk_buf_init(&content, HTML_MAX);
  rc = t ? 0 : BK_ENOMEM;
  if (!rc) tree_text(c, b, prefix, &u, t);
  if (!rc) rc = tree_render(c, b, role, prefix, q, &l, t, &k, &content);
  free(t);
  tree_links_free(&k);
  free(next);
  free_listing(&l);
  if (rc) {
    bk_buf_free(&content);
    return bk_http_error(c->req, 500, "WebTemplate", "rendering failed: %s", bk_errmsg());
  }
  char title[300];
  snprintf(title, sizeof title, "%s/%s", b->ns, b->name);
  return reply_page(c, 200, title, &content);
}

/* ---- file page ---- */

static int page_blob(struct wctx *c, const bk_bucket *b, int role, const char *path) {
  bk_file_info fi;
  int rc = bk_db_file_get(c->srv->db, b->id, path, &fi);
  if (rc == BK_ENOTFOUND) {
    /* a folder? */
    char *u = mk_url(b, "tree", path, NULL);
    return redirect_free(c, u);
  }
  if (rc) return store_error_page(c, rc, "The file could not be read.");
  bk_buf data, prev, crumb, content;
  bk_buf_init(&data, WEB_PREVIEW_MAX);
  bk_buf_init(&prev, HTML_MAX);
  bk_buf_init(&crumb, HTML_MAX);
  bk_buf_init(&content, HTML_MAX);
  int truncated = fi.e.size > WEB_PREVIEW_MAX;
  if (bk_svc_read_prefix(c->srv->svc, &fi.e.xet_hash, WEB_PREVIEW_MAX, &data)) {
    bk_buf_printf(&prev, "<p class=\"error\">The content could not be read for a preview.</p>");
  } else {
    web_preview_render(&prev, path, data.p ? data.p : (const uint8_t *)"", data.len, truncated);
  }
  crumbs(&crumb, b, path, 1);
  bk_buf_append_u8(&prev, 0);
  bk_buf_append_u8(&crumb, 0);
  char size[32], sizeb[32], mtime[32], up[32], hex[BK_HASH_HEX_LEN + 1];
  bk_human_size(fi.e.size, size);
  snprintf(sizeb, sizeof sizeb, "%llu", (unsigned long long)fi.e.size);
  bk_html_date(fi.e.mtime_ms, mtime);
  bk_html_date(fi.e.uploaded_ms, up);
  bk_hash_to_hex(&fi.e.xet_hash, hex);
  char *dl = mk_url(b, "resolve", path, NULL);
  char *pe = url_escape(path, 0);
  char qs[4200];
  snprintf(qs, sizeof qs, "?kind=file&path=%s", pe ? pe : "");
  char *del = mk_url(b, "delete", NULL, qs);
  free(pe);
  struct bk_tvar v[] = {
      {"crumbs", (const char *)crumb.p}, {"basename", base_name(path)},
      {"size", size},                    {"size_bytes", sizeb},
      {"mtime", mtime},                  {"uploaded", up},
      {"xet_hash", hex},                 {"download_url", dl ? dl : ""},
      {"can_write", role >= BK_ROLE_WRITE && is_user(c) ? "1" : NULL},
      {"delete_url", del ? del : ""},    {"truncated", truncated ? "1" : NULL},
      {"preview", (const char *)prev.p},
  };
  rc = render_into(&content, T_BLOB, v, sizeof v / sizeof v[0]);
  free(dl);
  free(del);
  bk_buf_free(&data);
  bk_buf_free(&prev);
  bk_buf_free(&crumb);
  if (rc) {
    bk_buf_free(&content);
    return bk_http_error(c->req, 500, "WebTemplate", "rendering failed: %s", bk_errmsg());
  }
  return reply_page(c, 200, base_name(path), &content);
}

/* ---- delete ---- */

static int page_delete_confirm(struct wctx *c, const bk_bucket *b, int role) {
  const char *path = bk_http_param(c->req, "path");
  const char *kind = bk_http_param(c->req, "kind");
  if (role < BK_ROLE_WRITE || !is_user(c))
    return message_page(c, 403, "Forbidden", "You cannot delete files in this bucket.", "/", "Home");
  if (!path || !*path || !bk_path_valid(path, strlen(path)) || !kind)
    return message_page(c, 400, "Bad request", "No valid path given.", "/", "Home");
  int folder = strcmp(kind, "folder") == 0;
  char count[64];
  if (folder) {
    bk_dir_stats ds;
    if (bk_db_dir_stats(c->srv->db, b->id, path, &ds)) return not_found(c);
    snprintf(count, sizeof count, "%llu file(s)", (unsigned long long)ds.nfiles);
  } else {
    bk_file_info fi;
    if (bk_db_file_get(c->srv->db, b->id, path, &fi)) return not_found(c);
    snprintf(count, sizeof count, "1 file");
  }
  bk_buf crumb, content;
  bk_buf_init(&crumb, HTML_MAX);
  bk_buf_init(&content, HTML_MAX);
  crumbs(&crumb, b, path, !folder);
  bk_buf_append_u8(&crumb, 0);
  char *action = mk_url(b, "delete", NULL, NULL);
  char *cancel = mk_url(b, folder ? "tree" : "blob", path, NULL);
  struct bk_tvar v[] = {
      {"crumbs", (const char *)crumb.p}, {"what", folder ? "folder" : "file"},
      {"count", count}, {"ns", b->ns}, {"name", b->name}, {"target", path},
      {"is_folder", folder ? "1" : NULL}, {"action", action ? action : ""},
      {"csrf", c->csrf}, {"kind", folder ? "folder" : "file"},
      {"cancel_url", cancel ? cancel : "/"},
  };
  int rc = render_into(&content, T_CONFIRM, v, sizeof v / sizeof v[0]);
  free(action);
  free(cancel);
  bk_buf_free(&crumb);
  if (rc) {
    bk_buf_free(&content);
    return bk_http_error(c->req, 500, "WebTemplate", "rendering failed: %s", bk_errmsg());
  }
  return reply_page(c, 200, "Delete", &content);
}

struct collect_ctx { char **paths; size_t n, cap; };
static int collect_cb(void *ctx, const bk_file_entry *e) {
  struct collect_ctx *cc = ctx;
  if (cc->n == cc->cap) return 1;
  cc->paths[cc->n] = strdup(e->path);
  if (!cc->paths[cc->n]) return BK_ENOMEM;
  cc->n++;
  return 0;
}

/* Deletes a file, or every file under folder/ (path boundary: never
 * "folder.json"). Returns the count deleted or a negative error. */
static long delete_paths(struct bk_server *srv, int64_t bucket_id, const char *path, int folder) {
  if (!folder) {
    bk_batch_op op = {.type = BK_OP_DELETE, .path = path};
    int rc = bk_db_batch(srv->db, bucket_id, &op, 1, 0, NULL);
    if (rc) return rc;
    return op.result < 0 ? op.result : 1;
  }
  enum { CHUNK = 1000 };
  char *paths[CHUNK];
  bk_batch_op ops[CHUNK];
  long total = 0;
  for (int round = 0; round < 1000; round++) {
    struct collect_ctx cc = {paths, 0, CHUNK};
    char *next = NULL;
    int rc = bk_db_tree(srv->db, bucket_id, path, BK_TREE_RECURSIVE, NULL, CHUNK, collect_cb,
                        &cc, &next);
    free(next);
    if (rc < 0) { /* 1 = collect_cb stopped at CHUNK paths: not an error */
      for (size_t i = 0; i < cc.n; i++) free(paths[i]);
      return rc;
    }
    if (cc.n == 0) break;
    for (size_t i = 0; i < cc.n; i++)
      ops[i] = (bk_batch_op){.type = BK_OP_DELETE, .path = paths[i]};
    rc = bk_db_batch(srv->db, bucket_id, ops, cc.n, 0, NULL);
    for (size_t i = 0; i < cc.n; i++) free(paths[i]);
    if (rc) return rc;
    total += (long)cc.n;
  }
  return total;
}

static int post_delete(struct wctx *c, const bk_bucket *b, int role) {
  struct web_form f;
  int ret;
  if (form_refused(c, &f, 1, "Unreadable form.", &ret)) return ret;
  const char *path = web_form_get(&f, "path");
  const char *kind = web_form_get(&f, "kind");
  if (role < BK_ROLE_WRITE || !is_user(c)) {
    web_form_free(&f);
    return message_page(c, 403, "Forbidden", "You cannot delete files in this bucket.", "/", "Home");
  }
  if (!path || !bk_path_valid(path, strlen(path)) || !kind) {
    web_form_free(&f);
    return message_page(c, 400, "Bad request", "No valid path given.", "/", "Home");
  }
  long n = delete_paths(c->srv, b->id, path, strcmp(kind, "folder") == 0);
  /* go to the parent folder */
  char *parent = strdup(path);
  web_form_free(&f);
  if (!parent) return bk_http_error(c->req, 500, NULL, "oom");
  char *slash = strrchr(parent, '/');
  if (slash) *slash = 0;
  char qs[64];
  snprintf(qs, sizeof qs, "?done=delete&n=%ld", n < 0 ? 0 : n);
  char *u = mk_url(b, slash ? "tree" : NULL, slash ? parent : NULL, qs);
  free(parent);
  if (n < 0) {
    free(u);
    return store_error_page(c, (int)n, "Deleting failed.");
  }
  return redirect_free(c, u);
}

/* ---- upload ---- */

static int post_upload(struct wctx *c, const bk_bucket *b, int role) {
  struct web_form f;
  int rc;
  const char *ct = bk_http_header(c->req, "Content-Type");
  if (form_refused(c, &f, ct && strncasecmp(ct, "multipart/form-data", 19) == 0,
                   "Expected a multipart form upload.", &rc))
    return rc;
  if (role < BK_ROLE_WRITE || !is_user(c)) {
    web_form_free(&f);
    return message_page(c, 403, "Forbidden", "You cannot upload to this bucket.", "/", "Home");
  }
  const char *prefix = web_form_get(&f, "prefix");
  if (prefix && *prefix && !bk_path_valid(prefix, strlen(prefix))) prefix = NULL;
  long done = 0;
  int fail_rc = BK_EINVAL; /* the store code of the failure: its status (bk_http_status) */
  char err[300] = "";
  for (size_t i = 0; i < f.n; i++) {
    struct web_field *fd = &f.f[i];
    if (!fd->filename || !*fd->filename || strcmp(fd->name, "files") != 0) continue;
    const char *fn = fd->filename;
    const char *bs = strrchr(fn, '\\');
    if (bs) fn = bs + 1;
    char path[BK_PATH_MAX + 2];
    int pl = snprintf(path, sizeof path, "%s%s%s", prefix && *prefix ? prefix : "",
                      prefix && *prefix ? "/" : "", fn);
    if (pl < 0 || (size_t)pl >= sizeof path || !bk_path_valid(path, strlen(path))) {
      snprintf(err, sizeof err, "Invalid file name: %.200s", fn);
      break;
    }
    bk_hash fh;
    struct bk_svc_ingest_stats st;
    rc = bk_svc_ingest(c->srv->svc, b->id, fd->data, fd->len, &fh, &st);
    if (rc) {
      fail_rc = rc;
      snprintf(err, sizeof err, "Storing %.200s failed%s", fn,
               rc == BK_ENOSPC ? ": the server's disk is full." : ".");
      break;
    }
    bk_batch_op op = {.type = BK_OP_ADD, .path = path, .xet_hash = fh,
                      .mtime_ms = bk_now_ms(), .size = (int64_t)fd->len};
    rc = bk_db_batch(c->srv->db, b->id, &op, 1, BK_BATCH_REQUIRE_GRANT, NULL);
    if (rc || op.result < 0) {
      fail_rc = rc ? rc : op.result;
      snprintf(err, sizeof err, "Adding %.200s failed: %s", fn, op.error ? op.error : bk_errmsg());
      break;
    }
    done++;
  }
  char qs[64];
  snprintf(qs, sizeof qs, "?done=upload&n=%ld", done);
  char *u = mk_url(b, prefix && *prefix ? "tree" : NULL, prefix && *prefix ? prefix : NULL, qs);
  web_form_free(&f);
  if (err[0]) {
    free(u);
    if (bk_http_retryable(fail_rc))
      bk_http_add_headerf(c->req, "Retry-After", "%d", BK_HTTP_RETRY_AFTER_S);
    return message_page(c, bk_http_status(fail_rc), "Upload failed", err, "/", "Home");
  }
  return redirect_free(c, u);
}

/* ---- settings ---- */

static int post_settings(struct wctx *c, const bk_bucket *b, int role) {
  struct web_form f;
  int ret;
  if (form_refused(c, &f, 1, "Unreadable form.", &ret)) return ret;
  const char *vis = web_form_get(&f, "visibility");
  if (role < BK_ROLE_ADMIN || !is_user(c)) {
    web_form_free(&f);
    return message_page(c, 403, "Forbidden", "Only admins change visibility.", "/", "Home");
  }
  if (!vis || (strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0)) {
    web_form_free(&f);
    return message_page(c, 400, "Bad request", "Choose public or private.", "/", "Home");
  }
  int rc = bk_db_bucket_set_private(c->srv->db, b->id, strcmp(vis, "private") == 0);
  web_form_free(&f);
  if (rc) return store_error_page(c, rc, "Saving failed.");
  char *u = mk_url(b, NULL, NULL, "?done=settings");
  return redirect_free(c, u);
}

/* The regions forms: admins only (as the visibility form). 1 = replied. */
static int regions_form(struct wctx *c, int role, struct web_form *f) {
  int ret;
  if (form_refused(c, f, 1, "Unreadable form.", &ret)) return ret;
  if (role >= BK_ROLE_ADMIN && is_user(c)) return 0;
  web_form_free(f);
  return message_page(c, 403, "Forbidden", "Only admins choose the bucket's regions.", "/",
                      "Home");
}

static int region_error_page(struct wctx *c, int rc, const char *what) {
  if (rc == BK_EINVAL) return message_page(c, 400, "Bad request", bk_errmsg(), "/", "Home");
  return store_error_page(c, rc, what);
}

static int post_regions(struct wctx *c, const bk_bucket *b, int role) {
  struct web_form f;
  if (regions_form(c, role, &f)) return 1;
  int rc = web_regions_set_warm(c->srv, b->id, &f);
  web_form_free(&f);
  if (rc) return region_error_page(c, rc, "Saving the warm regions failed.");
  return redirect_free(c, mk_url(b, NULL, NULL, "?done=regions"));
}

static int post_prewarm(struct wctx *c, const bk_bucket *b, int role) {
  struct web_form f;
  if (regions_form(c, role, &f)) return 1;
  const char *region = web_form_get(&f, "region"), *prefix = web_form_get(&f, "prefix");
  char norm[BK_PATH_MAX + 2];
  int rc = 0;
  if (!region || !bk_region_name_valid(region))
    rc = bk_seterr(BK_EINVAL, "Choose a region to pre-warm.");
  else if (prefix && *prefix && hub_tree_prefix(prefix, norm) < 0)
    rc = bk_seterr(BK_EINVAL, "That prefix is not a path in the bucket.");
  int64_t job = 0;
  if (!rc) rc = bk_svc_prewarm(c->srv->svc, b->id, region, prefix && *prefix ? prefix : NULL, &job);
  web_form_free(&f);
  if (rc) return region_error_page(c, rc, "The pre-warm could not be queued.");
  return redirect_free(c, mk_url(b, NULL, NULL, "?done=prewarm"));
}

/* ---- static assets ---- */

static int serve_static(struct wctx *c, int t, const char *ctype) {
  security_headers(c->req);
  bk_http_add_header(c->req, "Cache-Control", "public, max-age=300");
  bk_http_reply(c->req, 200, ctype, g_t[t].p, g_t[t].len);
  return 1;
}

/* ---- routing: the web route table ---- */

/* Sets up the page context: the templates (500 when they cannot be found)
 * and, with identity, the caller (session cookie or bearer). 1 = replied. */
static int web_begin(struct wctx *c, struct bk_server *srv, struct bk_http_req *req,
                     int identity) {
  pthread_once(&g_once, load_once);
  if (g_loaded_rc < 0)
    return bk_http_error(req, 500, "WebAssets",
                         "web templates not found (set BUCKETD_WEB_DIR to the web/ directory)"),
           1;
  memset(c, 0, sizeof *c);
  c->srv = srv;
  c->req = req;
  if (identity) load_identity(c);
  return 0;
}

#define PAGE(fn, body)                                                       \
  static int fn(struct bk_server *srv, struct bk_http_req *req, char **a) { \
    struct wctx c;                                                           \
    (void)a;                                                                 \
    if (web_begin(&c, srv, req, 1)) return 1;                                \
    body                                                                     \
  }

static int r_css(struct bk_server *srv, struct bk_http_req *req, char **a) {
  struct wctx c;
  (void)a;
  if (web_begin(&c, srv, req, 0)) return 1;
  return serve_static(&c, A_CSS, "text/css; charset=utf-8");
}
static int r_js(struct bk_server *srv, struct bk_http_req *req, char **a) {
  struct wctx c;
  (void)a;
  if (web_begin(&c, srv, req, 0)) return 1;
  return serve_static(&c, A_JS, "text/javascript; charset=utf-8");
}
/* Other /static/ paths: 404, but like assets in no rate-limit class. */
static int r_no_asset(struct bk_server *srv, struct bk_http_req *req, char **a) {
  (void)srv;
  (void)req;
  (void)a;
  return 0;
}

PAGE(r_home, return page_home(&c);)
PAGE(r_login, return c.signed_in ? redirect(&c, "/") : page_login(&c, NULL, 200);)
PAGE(r_post_login, return post_login(&c);)
PAGE(r_logout, return redirect(&c, "/");)
PAGE(r_post_logout, return post_logout(&c);)

/* "/{ns}": any single segment no other row took, except "" and "api". */
static int ns_segment(const char *ns) { return *ns && strcmp(ns, "api") != 0; }
static int r_ns(struct bk_server *srv, struct bk_http_req *req, char **a) {
  struct wctx c;
  if (!ns_segment(a[0])) return 0;
  if (web_begin(&c, srv, req, 1)) return 1;
  return page_namespace(&c, a[0], NULL);
}
static int r_post_ns(struct bk_server *srv, struct bk_http_req *req, char **a) {
  struct wctx c;
  if (!ns_segment(a[0])) return 0;
  if (web_begin(&c, srv, req, 1)) return 1;
  return post_namespace(&c, a[0]);
}

/* Bucket pages: a[0] = ns, a[1] = name, a[2] = the path after the action.
 * A bucket the caller cannot read answers the same 404 page as a missing
 * one. */
typedef int (*bucket_page_fn)(struct wctx *c, const bk_bucket *b, int role, const char *rest);
static int bucket_route(struct bk_server *srv, struct bk_http_req *req, char **a,
                        bucket_page_fn fn) {
  struct wctx c;
  bk_bucket b;
  int role;
  if (web_begin(&c, srv, req, 1)) return 1;
  if (bucket_access(&c, a[0], a[1], &b, &role)) return not_found(&c);
  return fn(&c, &b, role, a[2]);
}

/* Strips trailing '/' from a folder path (in place); NULL for root. */
static char *norm_prefix(char *p) {
  size_t n = strlen(p);
  while (n > 0 && p[n - 1] == '/') p[--n] = 0;
  return n ? p : NULL;
}

/* Folder page: rest = folder path ("" or NULL = root, trailing '/' ignored). */
static int tree_page(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  char *pfx = strdup(rest ? rest : "");
  if (!pfx) return bk_http_error(c->req, 500, NULL, "oom");
  char *p = norm_prefix(pfx);
  int r;
  if (p && !bk_path_valid(p, strlen(p))) r = not_found(c);
  else r = page_tree(c, b, role, p);
  free(pfx);
  return r;
}
static int blob_page(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  if (!rest || !*rest || !bk_path_valid(rest, strlen(rest))) return not_found(c);
  return page_blob(c, b, role, rest);
}
static int delete_page(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  (void)rest;
  return page_delete_confirm(c, b, role);
}
static int delete_post(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  (void)rest;
  return post_delete(c, b, role);
}
static int upload_post(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  (void)rest;
  return post_upload(c, b, role);
}
static int settings_post(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  (void)rest;
  return post_settings(c, b, role);
}
static int regions_post(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  (void)rest;
  return post_regions(c, b, role);
}
static int prewarm_post(struct wctx *c, const bk_bucket *b, int role, const char *rest) {
  (void)rest;
  return post_prewarm(c, b, role);
}

#define BUCKET_ROUTE(fn, page)                                               \
  static int fn(struct bk_server *srv, struct bk_http_req *req, char **a) { \
    return bucket_route(srv, req, a, page);                                  \
  }
BUCKET_ROUTE(r_tree, tree_page)
BUCKET_ROUTE(r_blob, blob_page)
BUCKET_ROUTE(r_delete, delete_page)
BUCKET_ROUTE(r_post_delete, delete_post)
BUCKET_ROUTE(r_post_upload, upload_post)
BUCKET_ROUTE(r_post_settings, settings_post)
BUCKET_ROUTE(r_post_regions, regions_post)
BUCKET_ROUTE(r_post_prewarm, prewarm_post)

/* Another method on a web page: 405 with Allow on a bucket page the caller
 * can read (404 page when not); every other page, and methods forms never
 * send, fall through to the plain 404. */
static int not_allowed(struct bk_server *srv, struct bk_http_req *req, const char *allow,
                       char **a) {
  struct wctx c;
  bk_bucket b;
  int role;
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
      strcmp(req->method, "POST") != 0)
    return 0;
  if (strncmp(req->path, "/buckets/", 9) != 0) return 0;
  if (web_begin(&c, srv, req, 1)) return 1;
  if (bucket_access(&c, a[0], a[1], &b, &role)) return not_found(&c);
  bk_http_add_header(req, "Allow", allow);
  return bk_http_error(req, 405, NULL, "method not allowed"), 1;
}

#define F WEB_FORM_BODY_MAX
#define P BK_RL_PAGES
#define B "/buckets/{ns}/{name}"
static const struct bk_route rows[] = {
    {"GET", "/static/style.css", 0, BK_RL_NONE, NULL, r_css},
    {"GET", "/static/app.js", 0, BK_RL_NONE, NULL, r_js},
    {"*", "/static/{rest...}", BK_DEFAULT_BODY_MAX, BK_RL_NONE, NULL, r_no_asset},
    {"GET", "/", 0, P, NULL, r_home},
    {"GET", "/login", 0, P, NULL, r_login},
    {"POST", "/login", F, P, NULL, r_post_login},
    {"GET", "/logout", 0, P, NULL, r_logout},
    {"POST", "/logout", F, P, NULL, r_post_logout},
    {"GET", B, 0, P, NULL, r_tree},
    {"GET", B "/", 0, P, NULL, r_tree},
    {"GET", B "/tree", 0, P, NULL, r_tree},
    {"GET", B "/tree/{path...}", 0, P, NULL, r_tree},
    {"GET", B "/blob", 0, P, NULL, r_blob},
    {"GET", B "/blob/{path...}", 0, P, NULL, r_blob},
    {"GET", B "/delete", 0, P, NULL, r_delete},
    {"POST", B "/delete", F, P, NULL, r_post_delete},
    {"POST", B "/upload", WEB_UPLOAD_BODY_MAX, P, NULL, r_post_upload},
    {"POST", B "/settings", F, P, NULL, r_post_settings},
    {"POST", B "/regions", F, P, NULL, r_post_regions},
    {"POST", B "/prewarm", F, P, NULL, r_post_prewarm},
    {"GET", "/{ns}", 0, P, NULL, r_ns},
    {"POST", "/{ns}", F, P, NULL, r_post_ns},
};
#undef F
#undef P
#undef B

const struct bk_route_table web_routes = BK_ROUTES("web", rows, not_allowed);

int web_session_principal(struct bk_server *srv, const struct bk_http_req *req,
                          struct bk_principal *out) {
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  if (bk_http_header(req, "Authorization")) return 0;
  const char *ck = bk_http_header(req, "Cookie");
  char sid[WEB_SESS_ID_HEX + 1];
  struct web_sess_info si;
  if (!ck || !web_cookie_get(ck, "bk_session", sid, sizeof sid)) return 0;
  if (web_sess_lookup(srv->db, sid, bk_now_ms(), &si)) return 0; /* ends with a revoked token */
  memset(out, 0, sizeof *out);
  out->user_id = si.user_id;
  out->token_id = si.token_id;
  out->role = si.token_role;
  snprintf(out->name, sizeof out->name, "%s", si.name);
  return 1;
}
