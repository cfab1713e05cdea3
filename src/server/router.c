/* bucketd — request routing over the per-API route tables. See router.h. */
#include "server/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/server.h"

static int healthz(struct bk_server *srv, struct bk_http_req *req, char **arg) {
  (void)srv;
  (void)arg;
  return bk_http_reply(req, 200, "text/plain", "ok\n", 3), 1;
}

/* The router's own rows: /healthz answers any method. */
static const struct bk_route server_rows[] = {
    {"*", "/healthz", BK_DEFAULT_BODY_MAX, BK_RL_NONE, NULL, healthz},
};
static const struct bk_route_table server_routes = BK_ROUTES("server", server_rows, NULL);

static const struct bk_route_table *const tables[] = {&hub_api_routes, &server_routes,
                                                      &cas_routes, &web_routes};
#define NTABLES (sizeof tables / sizeof tables[0])

int bk_route_match(const char *pat, const char *path, size_t *off, size_t *len) {
  const char *p = path;
  int n = 0;
  while (*pat) {
    if (*pat != '{') {
      if (*pat++ != *p++) return -1;
      continue;
    }
    const char *close = strchr(pat, '}');
    if (!close || n == BK_ROUTE_MAX_ARGS) return -1;
    int rest = close - pat >= 4 && memcmp(close - 3, "...", 3) == 0;
    size_t l = rest ? strlen(p) : strcspn(p, "/");
    off[n] = (size_t)(p - path);
    len[n++] = l;
    p += l;
    pat = close + 1;
  }
  return *p ? -1 : n;
}

static int method_ok(const char *row, const char *m) {
  if (row[0] == '*') return 1;
  if (strcmp(row, m) == 0) return 1;
  return strcmp(row, "GET") == 0 && strcmp(m, "HEAD") == 0;
}

static const struct bk_route *row_at(const struct bk_route_pos *pos, unsigned i) {
  return &tables[pos->table]->rows[i];
}

/* Finds the first match at or after row `row` of table `table`; 1 when found
 * (pos filled), 0 when nothing further matches. */
static int find(const char *method, const char *path, unsigned table, unsigned row,
                struct bk_route_pos *pos) {
  size_t off[BK_ROUTE_MAX_ARGS], len[BK_ROUTE_MAX_ARGS];
  for (; table < NTABLES; table++, row = 0) {
    const struct bk_route_table *t = tables[table];
    while (row < t->nrows) {
      const char *pat = t->rows[row].pattern;
      /* cheap first test: patterns start "/x" and most differ at x */
      int maybe = pat[1] == '{' || (pat[0] == path[0] && pat[1] == path[1]);
      if (!maybe || bk_route_match(pat, path, off, len) < 0) {
        /* skip the pattern's other rows (the compiler merges equal literals;
         * a copy that is not merged is only matched again) */
        do row++;
        while (row < t->nrows && t->rows[row].pattern == pat);
        continue;
      }
      unsigned end = row + 1;
      while (end < t->nrows && strcmp(t->rows[end].pattern, pat) == 0) end++;
      *pos = (struct bk_route_pos){1, 0, table, row, end, row};
      for (unsigned i = row; i < end; i++)
        if (method_ok(t->rows[i].method, method)) {
          pos->allowed = 1;
          pos->row = i;
          return 1;
        }
      if (t->not_allowed) return 1;
      row = end;
    }
  }
  return 0;
}

size_t bk_router_body_limit(struct bk_http_req *req) {
  memset(&req->route, 0, sizeof req->route);
  if (!find(req->method, req->path, 0, 0, &req->route) || !req->route.allowed)
    return BK_DEFAULT_BODY_MAX;
  return row_at(&req->route, req->route.row)->body_max;
}

int bk_router_rate_class(const struct bk_http_req *req) {
  if (!req->route.found) return BK_RL_PAGES;
  return row_at(&req->route, req->route.row)->rate_class;
}

/* NUL-terminated copies of the captures of pos's pattern in path, in one
 * allocation (*buf, caller frees). */
static int captures(const struct bk_route_pos *pos, const char *path, char **arg, char **buf) {
  size_t off[BK_ROUTE_MAX_ARGS], len[BK_ROUTE_MAX_ARGS];
  int n = bk_route_match(row_at(pos, pos->row)->pattern, path, off, len);
  size_t plen = strlen(path);
  *buf = malloc(plen + BK_ROUTE_MAX_ARGS + 1);
  if (!*buf || n < 0) return BK_ENOMEM;
  char *w = *buf;
  for (int i = 0; i < BK_ROUTE_MAX_ARGS; i++) arg[i] = NULL;
  for (int i = 0; i < n; i++) {
    memcpy(w, path + off[i], len[i]);
    w[len[i]] = 0;
    arg[i] = w;
    w += len[i] + 1;
  }
  return 0;
}

/* "GET, HEAD, POST": the methods of pos's pattern. */
static void allow_list(const struct bk_route_pos *pos, char *out, size_t cap) {
  size_t n = 0;
  out[0] = 0;
  for (unsigned i = pos->group; i < pos->group_end && n < cap; i++) {
    const char *m = row_at(pos, i)->method;
    int w = snprintf(out + n, cap - n, "%s%s%s", n ? ", " : "", m,
                     strcmp(m, "GET") == 0 ? ", HEAD" : "");
    if (w < 0) return;
    n += (size_t)w;
  }
}

/* Runs the start function (start = 1) or the handler / not_allowed of pos. */
static int run(struct bk_server *srv, struct bk_http_req *req, const struct bk_route_pos *pos,
               int start) {
  const struct bk_route *r = row_at(pos, pos->row);
  bk_route_fn fn = start ? r->start : r->handler;
  if (pos->allowed && !fn) return 0;
  char *arg[BK_ROUTE_MAX_ARGS], *buf = NULL;
  if (captures(pos, req->path, arg, &buf)) {
    free(buf);
    return bk_http_error_rc(req, BK_ENOMEM, NULL, "out of memory");
  }
  int replied;
  if (pos->allowed) {
    replied = fn(srv, req, arg);
  } else {
    char allow[96];
    allow_list(pos, allow, sizeof allow);
    replied = tables[pos->table]->not_allowed(srv, req, allow, arg);
  }
  free(buf);
  return replied;
}

int bk_router_body_start(struct bk_server *srv, struct bk_http_req *req) {
  if (!req->route.found || !req->route.allowed) return 0;
  return run(srv, req, &req->route, 1);
}

void bk_router_dispatch(struct bk_server *srv, struct bk_http_req *req) {
  struct bk_route_pos pos = req->route;
  int found = pos.found;
  if (!found) found = find(req->method, req->path, 0, 0, &pos);
  while (found) {
    if (run(srv, req, &pos, 0)) return;
    found = find(req->method, req->path, pos.table, pos.group_end, &pos);
  }
  bk_http_error(req, 404, NULL, "not found");
}
