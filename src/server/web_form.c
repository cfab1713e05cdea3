/* bucketd web — form body parsing (see web_form.h). */
#include "server/web_form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buckets/error.h"

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes %XX and '+' into a new string; NULL on malformed input or NUL. */
static char *form_unescape(const char *s, size_t len) {
  char *o = malloc(len + 1);
  size_t j = 0;
  if (!o) return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '+') c = ' ';
    else if (c == '%') {
      int h, l;
      if (i + 2 >= len) { free(o); return NULL; } /* need two more chars */
      h = hexval((unsigned char)s[i + 1]);
      l = hexval((unsigned char)s[i + 2]);
      if (h < 0 || l < 0) { free(o); return NULL; }
      c = (char)(h * 16 + l);
      i += 2;
    }
    if (c == 0) { free(o); return NULL; }
    o[j++] = c;
  }
  o[j] = 0;
  return o;
}

static int add_field(struct web_form *f, char *name, char *value, char *filename,
                     const uint8_t *data, size_t len) {
  if (f->n >= WEB_FORM_MAX_FIELDS) goto limit;
  struct web_field *nf = realloc(f->f, (f->n + 1) * sizeof *nf);
  if (!nf) goto nomem;
  f->f = nf;
  f->f[f->n++] = (struct web_field){name, value, filename, data, len};
  return 0;
limit:
  free(name); free(value); free(filename);
  return bk_seterr(BK_ELIMIT, "too many form fields");
nomem:
  free(name); free(value); free(filename);
  return bk_seterr(BK_ENOMEM, "out of memory");
}

void web_form_free(struct web_form *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) {
    free(f->f[i].name);
    free(f->f[i].value);
    free(f->f[i].filename);
  }
  free(f->f);
  f->f = NULL;
  f->n = 0;
}

const char *web_form_get(const struct web_form *f, const char *name) {
  for (size_t i = 0; i < f->n; i++)
    if (!f->f[i].filename && strcmp(f->f[i].name, name) == 0) return f->f[i].value;
  return NULL;
}

int web_form_parse_urlencoded(struct web_form *out, const char *body, size_t len) {
  size_t i = 0;
  memset(out, 0, sizeof *out);
  while (i < len) {
    size_t end = i;
    while (end < len && body[end] != '&') end++;
    if (end > i) {
      size_t eq = i;
      while (eq < end && body[eq] != '=') eq++;
      char *k = form_unescape(body + i, eq - i);
      char *v = eq < end ? form_unescape(body + eq + 1, end - eq - 1) : strdup("");
      if (!k || !v) {
        free(k); free(v);
        web_form_free(out);
        return bk_seterr(BK_EFORMAT, "malformed form encoding");
      }
      int rc = add_field(out, k, v, NULL, NULL, strlen(v));
      if (rc < 0) { web_form_free(out); return rc; }
    }
    i = end + 1;
  }
  return 0;
}

/* ---- multipart ---- */

static const uint8_t *memmem_u8(const uint8_t *h, size_t hl, const char *n, size_t nl) {
  return memmem(h, hl, n, nl);
}

/* Extracts boundary from a Content-Type value into out (max 70 chars). */
static int get_boundary(const char *ct, char *out, size_t n) {
  const char *p;
  if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0) return -1;
  p = strcasestr(ct, "boundary=");
  if (!p) return -1;
  p += 9;
  size_t j = 0;
  int quoted = *p == '"';
  if (quoted) p++;
  while (*p && j + 1 < n) {
    if (quoted ? *p == '"' : (*p == ';' || *p == ' ' || *p == '\t')) break;
    out[j++] = *p++;
  }
  out[j] = 0;
  return j > 0 && j <= 70 ? 0 : -1;
}

/* Value of a parameter (name="value") inside a Content-Disposition header
 * line [h, e). Returns malloc'd copy or NULL when absent. *bad = 1 if it is
 * malformed. Browsers send names escaped as %22 for quotes, so no unescaping. */
static char *disp_param(const char *h, const char *e, const char *name, int *bad) {
  size_t nl = strlen(name);
  for (const char *p = h; p + nl + 2 <= e; p++) {
    if ((p == h || p[-1] == ' ' || p[-1] == ';') && strncasecmp(p, name, nl) == 0 &&
        p[nl] == '=' && p[nl + 1] == '"') {
      const char *v = p + nl + 2, *q = v;
      while (q < e && *q != '"') q++;
      if (q >= e) { *bad = 1; return NULL; }
      char *r = strndup(v, (size_t)(q - v));
      if (!r || strlen(r) != (size_t)(q - v)) { free(r); *bad = 1; return NULL; }
      return r;
    }
  }
  return NULL;
}

int web_form_parse_multipart(struct web_form *out, const char *content_type,
                             const uint8_t *body, size_t len) {
  char bnd[80], delim[86];
  memset(out, 0, sizeof *out);
  if (get_boundary(content_type, bnd, sizeof bnd) < 0)
    return bk_seterr(BK_EFORMAT, "multipart: missing boundary");
  int dl = snprintf(delim, sizeof delim, "--%s", bnd);
  /* first delimiter */
  const uint8_t *p = memmem_u8(body, len, delim, (size_t)dl);
  if (!p) return bk_seterr(BK_EFORMAT, "multipart: no boundary in body");
  const uint8_t *end = body + len;
  char sep[90];
  int sl = snprintf(sep, sizeof sep, "\r\n--%s", bnd);
  p += dl;
  for (;;) {
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') return 0; /* closing */
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') goto bad;
    p += 2;
    /* headers until blank line */
    const uint8_t *hend = memmem_u8(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!hend) goto bad;
    char *name = NULL, *filename = NULL;
    int badp = 0, have_disp = 0;
    const char *h = (const char *)p;
    while (h < (const char *)hend + 2) {
      const char *le = memmem(h, (size_t)((const char *)hend + 2 - h), "\r\n", 2);
      if (!le) break;
      if ((size_t)(le - h) > 20 && strncasecmp(h, "Content-Disposition:", 20) == 0) {
        have_disp = 1;
        free(name); free(filename);
        name = disp_param(h, le, "name", &badp);
        filename = disp_param(h, le, "filename", &badp);
      }
      h = le + 2;
    }
    if (badp || !have_disp || !name) { free(name); free(filename); goto bad; }
    const uint8_t *data = hend + 4;
    const uint8_t *dend = memmem_u8(data, (size_t)(end - data), sep, (size_t)sl);
    if (!dend) { free(name); free(filename); goto bad; }
    size_t dlen = (size_t)(dend - data);
    int rc;
    if (filename) {
      rc = add_field(out, name, strdup(""), filename, data, dlen);
    } else {
      if (memchr(data, 0, dlen)) { free(name); goto bad; }
      char *v = strndup((const char *)data, dlen);
      if (!v) { free(name); web_form_free(out); return bk_seterr(BK_ENOMEM, "oom"); }
      rc = add_field(out, name, v, NULL, NULL, dlen);
    }
    if (rc < 0) { web_form_free(out); return rc; }
    p = dend + sl;
  }
bad:
  web_form_free(out);
  return bk_seterr(BK_EFORMAT, "malformed multipart body");
}
