/* bucketd web — HTML escaping, templates, sizes and dates (see web_html.h). */
#include "server/web_html.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid/truncated. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t need;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { need = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { need = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { need = 4; cp = c & 0x07; }
  else return 0;
  if (n < need) return 0;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return need;
}

int bk_html_escape(bk_buf *b, const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0; /* run = start of pending plain bytes */
  int rc;
  while (i < len) {
    unsigned c = p[i];
    const char *ent = NULL;
    size_t adv = 1;
    switch (c) {
    case '&': ent = "&amp;"; break;
    case '<': ent = "&lt;"; break;
    case '>': ent = "&gt;"; break;
    case '"': ent = "&quot;"; break;
    case '\'': ent = "&#39;"; break;
    default:
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ent = REPLACEMENT;
      else if (c == 0x7F) ent = REPLACEMENT;
      else if (c >= 0x80) {
        adv = utf8_seq(p + i, len - i);
        if (adv == 0) { ent = REPLACEMENT; adv = 1; }
      }
    }
    if (!ent) { i += adv; continue; }
    if (i > run && (rc = bk_buf_append(b, p + run, i - run)) < 0) return rc;
    if ((rc = bk_buf_append(b, ent, strlen(ent))) < 0) return rc;
    i += adv;
    run = i;
  }
  if (len > run) return bk_buf_append(b, p + run, len - run);
  return 0;
}

int bk_html_escape_str(bk_buf *b, const char *s) {
  return s ? bk_html_escape(b, s, strlen(s)) : 0;
}

int bk_html_url(bk_buf *b, const char *s, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  int rc;
  if (!s) return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned c = *p;
    int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
                c == '~' || (keep_slash && c == '/');
    if (plain) {
      rc = bk_buf_append_u8(b, (uint8_t)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = bk_buf_append(b, e, 3);
    }
    if (rc < 0) return rc;
  }
  return 0;
}

void bk_human_size(uint64_t n, char out[32]) {
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) {
    snprintf(out, 32, "%" PRIu64 " B", n);
    return;
  }
  double v = (double)n;
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    u++;
  }
  /* 1023.96 KiB would print as "1024.0 KiB": move up a unit instead */
  if (v >= 1023.95 && u < 6) {
    v /= 1024.0;
    u++;
  }
  snprintf(out, 32, v < 10.0 ? "%.2f %s" : v < 100.0 ? "%.1f %s" : "%.0f %s", v,
           units[u]);
}

void bk_html_date(int64_t ms, char out[32]) {
  if (ms <= 0) {
    snprintf(out, 32, "-");
    return;
  }
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    snprintf(out, 32, "-");
    return;
  }
  if (strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0) snprintf(out, 32, "-");
}

void bk_dedup_ratio(uint64_t logical, uint64_t stored, char out[32]) {
  if (stored == 0) {
    snprintf(out, 32, "-");
    return;
  }
  snprintf(out, 32, "%.2fx", (double)logical / (double)stored);
}

/* ---- templates ---- */

static const struct bk_tvar *find_var(const struct bk_tvar *vars, size_t n,
                                      const char *name, size_t nlen) {
  for (size_t i = 0; i < n; i++)
    if (strlen(vars[i].key) == nlen && memcmp(vars[i].key, name, nlen) == 0)
      return &vars[i];
  return NULL;
}

static int truthy(const struct bk_tvar *v) {
  return v->val && v->val[0] && strcmp(v->val, "0") != 0;
}

/* Finds the matching {{/name}} for a section opened just before `from`,
 * honouring nested sections of the same name. Returns its offset or -1. */
static long find_close(const char *t, size_t len, size_t from, const char *name,
                       size_t nlen) {
  int depth = 0;
  for (size_t i = from; i + 5 + nlen <= len; i++) {
    if (t[i] != '{' || t[i + 1] != '{') continue;
    char k = t[i + 2];
    if ((k == '#' || k == '^' || k == '/') &&
        memcmp(t + i + 3, name, nlen) == 0 && t[i + 3 + nlen] == '}' &&
        t[i + 4 + nlen] == '}') {
      if (k != '/') depth++;
      else if (depth-- == 0) return (long)i;
    }
  }
  return -1;
}

static int render(bk_buf *out, const char *t, size_t len, const struct bk_tvar *vars,
                  size_t nvars, int level) {
  size_t i = 0;
  int rc;
  if (level > 16) return bk_seterr(BK_ELIMIT, "template sections nested too deep");
  while (i < len) {
    const char *open = NULL;
    for (size_t j = i; j + 1 < len; j++)
      if (t[j] == '{' && t[j + 1] == '{') { open = t + j; break; }
    if (!open) return bk_buf_append(out, t + i, len - i);
    size_t at = (size_t)(open - t);
    if (at > i && (rc = bk_buf_append(out, t + i, at - i)) < 0) return rc;
    int raw = at + 2 < len && t[at + 2] == '{';
    size_t ns = at + (raw ? 3 : 2);
    char kind = ns < len ? t[ns] : 0;
    if (!raw && (kind == '#' || kind == '^' || kind == '/')) ns++;
    else kind = 0;
    size_t ne = ns;
    while (ne < len && t[ne] != '}') ne++;
    size_t close_len = raw ? 3 : 2;
    if (ne + close_len > len || memcmp(t + ne, "}}}", close_len) != 0)
      return bk_seterr(BK_EFORMAT, "template: unterminated tag at offset %zu", at);
    size_t nlen = ne - ns;
    if (nlen == 0 || nlen > 64) return bk_seterr(BK_EFORMAT, "template: bad tag at %zu", at);
    const struct bk_tvar *v = find_var(vars, nvars, t + ns, nlen);
    if (!v)
      return bk_seterr(BK_ENOTFOUND, "template: unknown variable '%.*s'", (int)nlen,
                       t + ns);
    size_t after = ne + close_len;
    if (kind == '/') return bk_seterr(BK_EFORMAT, "template: stray close at %zu", at);
    if (kind == '#' || kind == '^') {
      char name[65];
      memcpy(name, t + ns, nlen);
      name[nlen] = 0;
      long cl = find_close(t, len, after, name, nlen);
      if (cl < 0) return bk_seterr(BK_EFORMAT, "template: unclosed section '%s'", name);
      int show = truthy(v) == (kind == '#');
      if (show && (rc = render(out, t + after, (size_t)cl - after, vars, nvars,
                               level + 1)) < 0)
        return rc;
      i = (size_t)cl + nlen + 5;
      continue;
    }
    rc = raw ? (v->val ? bk_buf_append(out, v->val, strlen(v->val)) : 0)
             : bk_html_escape_str(out, v->val);
    if (rc < 0) return rc;
    i = after;
  }
  return 0;
}

int bk_tmpl_render(bk_buf *out, const char *tmpl, size_t len, const struct bk_tvar *vars,
                   size_t nvars) {
  return render(out, tmpl, len, vars, nvars, 0);
}
