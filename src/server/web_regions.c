/* bucketd web — regions of a bucket page (see web_regions.h). */
#include "buckets/names.h"
#include "server/web_regions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "server/hub_parse.h"
#include "server/jsonout.h"
#include "server/server.h"
#include "server/web_form.h"
#include "server/web_html.h"
#include "service/service.h"

#define WEB_REGIONS_HTML_MAX (1u << 20)
#define WEB_WARM_MAX 16

static int role_text(unsigned roles, char *out, size_t n) {
  snprintf(out, n, "%s%s%s%s%s", roles & BK_SVC_ROLE_HOME ? "home" : "",
           roles & BK_SVC_ROLE_HOME && roles & (BK_SVC_ROLE_WARM | BK_SVC_ROLE_PREWARM) ? ", " : "",
           roles & BK_SVC_ROLE_WARM ? "warm" : "",
           roles & BK_SVC_ROLE_WARM && roles & BK_SVC_ROLE_PREWARM ? ", " : "",
           roles & BK_SVC_ROLE_PREWARM ? "pre-warm" : "");
  return 0;
}

static int table_row(bk_buf *o, const bk_svc_region_status *s) {
  char roles[64], have[32], need[32];
  role_text(s->roles, roles, sizeof roles);
  bk_human_size(s->bytes_present, have);
  bk_human_size(s->bytes_needed, need);
  int rc = BK_LIT(o, "<tr><th scope=\"row\">");
  if (!rc) rc = bk_html_escape_str(o, s->name);
  if (!rc)
    rc = bk_buf_printf(o,
                       "</th><td>%s</td><td><span class=\"badge %s\">%s</span></td>"
                       "<td class=\"num\">%s / %s</td><td class=\"num\">%.1f s</td></tr>\n",
                       roles, s->warm ? "warm" : "warming", s->warm ? "warm" : "warming", have,
                       need, (double)(s->lag_ms > 0 ? s->lag_ms : 0) / 1000.0);
  return rc;
}

static int load_table(struct bk_server *srv, const bk_bucket *b, struct web_regions *r,
                      bk_svc_region_status **st, size_t *n) {
  int rc = bk_svc_bucket_regions(srv->svc, b->id, st, n);
  if (rc) return rc;
  rc = BK_LIT(&r->table, "<table class=\"list regions\">\n<caption>Where the data is</caption>\n"
                         "<thead><tr><th scope=\"col\">Region</th><th scope=\"col\">Role</th>"
                         "<th scope=\"col\">State</th><th scope=\"col\" class=\"num\">Present / "
                         "needed</th><th scope=\"col\" class=\"num\">Lag</th></tr></thead>\n"
                         "<tbody>\n");
  for (size_t i = 0; i < *n && !rc; i++) {
    rc = table_row(&r->table, &(*st)[i]);
    if ((*st)[i].roles & BK_SVC_ROLE_HOME) snprintf(r->home, sizeof r->home, "%s", (*st)[i].name);
  }
  if (!rc) rc = BK_LIT(&r->table, "</tbody>\n</table>\n");
  return rc ? rc : bk_buf_append_u8(&r->table, 0);
}

/* One checkbox (warm regions) and one <option> (pre-warm) per region that
 * is not the home. */
static int region_choice(struct web_regions *r, const char *name, int checked) {
  int rc = BK_LIT(&r->choices, "<label><input type=\"checkbox\" name=\"warm\" value=\"");
  if (!rc) rc = bk_html_escape_str(&r->choices, name);
  if (!rc) rc = bk_buf_printf(&r->choices, "\"%s> ", checked ? " checked" : "");
  if (!rc) rc = bk_html_escape_str(&r->choices, name);
  if (!rc) rc = BK_LIT(&r->choices, "</label>\n");
  if (!rc) rc = BK_LIT(&r->options, "<option value=\"");
  if (!rc) rc = bk_html_escape_str(&r->options, name);
  if (!rc) rc = BK_LIT(&r->options, "\">");
  if (!rc) rc = bk_html_escape_str(&r->options, name);
  if (!rc) rc = BK_LIT(&r->options, "</option>");
  return rc;
}

static int load_choices(struct bk_server *srv, struct web_regions *r,
                        const bk_svc_region_status *st, size_t nst) {
  bk_svc_region *all = NULL;
  size_t n = 0;
  int rc = bk_svc_region_list(srv->svc, &all, &n);
  for (size_t i = 0; i < n && !rc; i++) {
    if (!strcmp(all[i].name, r->home)) continue;
    int warm = 0;
    for (size_t k = 0; k < nst; k++)
      if (!strcmp(st[k].name, all[i].name) && st[k].roles & BK_SVC_ROLE_WARM) warm = 1;
    rc = region_choice(r, all[i].name, warm);
  }
  free(all);
  if (!rc) rc = bk_buf_append_u8(&r->choices, 0);
  return rc ? rc : bk_buf_append_u8(&r->options, 0);
}

int web_regions_load(struct bk_server *srv, const bk_bucket *b, int with_forms,
                     struct web_regions *r) {
  memset(r, 0, sizeof *r);
  bk_buf_init(&r->table, WEB_REGIONS_HTML_MAX);
  bk_buf_init(&r->choices, WEB_REGIONS_HTML_MAX);
  bk_buf_init(&r->options, WEB_REGIONS_HTML_MAX);
  r->enabled = bk_svc_regions_enabled(srv->svc) == 1;
  if (!r->enabled) {
    snprintf(r->home, sizeof r->home, "%s", b->region);
    return 0;
  }
  bk_svc_region_status *st = NULL;
  size_t n = 0;
  int rc = load_table(srv, b, r, &st, &n);
  if (!rc && with_forms) rc = load_choices(srv, r, st, n);
  free(st);
  return rc;
}

void web_regions_free(struct web_regions *r) {
  bk_buf_free(&r->table);
  bk_buf_free(&r->choices);
  bk_buf_free(&r->options);
}

int web_regions_set_warm(struct bk_server *srv, int64_t bucket_id, const struct web_form *f) {
  const char *names[WEB_WARM_MAX];
  size_t n = 0;
  for (size_t i = 0; i < f->n; i++) {
    if (strcmp(f->f[i].name, "warm") != 0) continue;
    if (!bk_region_name_valid(f->f[i].value))
      return bk_seterr(BK_EINVAL, "'%.40s' is not a region name", f->f[i].value);
    if (n >= WEB_WARM_MAX) return bk_seterr(BK_EINVAL, "at most %d warm regions", WEB_WARM_MAX);
    names[n++] = f->f[i].value;
  }
  return bk_svc_bucket_warm_set(srv->svc, bucket_id, names, n);
}
