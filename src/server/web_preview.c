/* bucketd web — file previews (see web_preview.h). */
#include "server/web_preview.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buckets/error.h"
#include "server/web_html.h"

static const char *ext_of(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  const char *dot = strrchr(base, '.');
  return dot && dot != base ? dot + 1 : "";
}

/* 1 if data looks like UTF-8 text (no NUL, few control chars). */
static int looks_text(const uint8_t *d, size_t len, int truncated) {
  size_t i = 0, ctrl = 0;
  while (i < len) {
    uint8_t c = d[i];
    if (c == 0) return 0;
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') ctrl++;
      i++;
      continue;
    }
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (need == 0 || c > 0xF4) return 0;
    if (i + need > len) return truncated; /* cut in the middle of a char */
    for (size_t k = 1; k < need; k++)
      if ((d[i + k] & 0xC0) != 0x80) return 0;
    i += need;
  }
  return ctrl * 100 <= len; /* at most 1% odd control bytes */
}

int web_preview_kind(const char *path, const uint8_t *data, size_t len, int truncated) {
  const char *ext = ext_of(path);
  if (!looks_text(data, len, truncated)) return WEB_PREVIEW_NONE;
  if (strcasecmp(ext, "csv") == 0) return WEB_PREVIEW_CSV;
  if (strcasecmp(ext, "tsv") == 0 || strcasecmp(ext, "tab") == 0) return WEB_PREVIEW_TSV;
  if (strcasecmp(ext, "json") == 0) return WEB_PREVIEW_JSON;
  return WEB_PREVIEW_TEXT;
}

static int pre_text(bk_buf *out, const uint8_t *d, size_t len) {
  int rc;
  if ((rc = bk_buf_printf(out, "<pre><code>")) < 0) return rc;
  if ((rc = bk_html_escape(out, (const char *)d, len)) < 0) return rc;
  return bk_buf_printf(out, "</code></pre>\n");
}

/* CSV (RFC 4180 quoting) -> table. When truncated, the last (possibly
 * partial) record is dropped. */
static int csv_table(bk_buf *out, const uint8_t *d, size_t len, char sep, int truncated) {
  bk_buf cell;
  size_t i = 0, row = 0, col = 0;
  int rc = 0, in_row = 0;
  bk_buf_init(&cell, WEB_PREVIEW_MAX + 1);
  if (truncated) { /* cut back to the last newline outside quotes is hard: use last '\n' */
    size_t k = len;
    while (k > 0 && d[k - 1] != '\n') k--;
    if (k > 0) len = k;
  }
  if ((rc = bk_buf_printf(out, "<div class=\"scroll\"><table class=\"csv\">\n")) < 0) goto done;
  while (i < len && row < WEB_PREVIEW_MAX_ROWS) {
    int quoted = 0;
    bk_buf_reset(&cell);
    if (d[i] == '"') { quoted = 1; i++; }
    for (; i < len; i++) {
      uint8_t c = d[i];
      if (quoted) {
        if (c == '"') {
          if (i + 1 < len && d[i + 1] == '"') { i++; }
          else { quoted = 0; continue; }
        }
      } else if (c == (uint8_t)sep || c == '\n' || c == '\r') {
        break;
      }
      if ((rc = bk_buf_append_u8(&cell, c)) < 0) goto done;
    }
    if (!in_row) {
      if ((rc = bk_buf_printf(out, "<tr>")) < 0) goto done;
      in_row = 1;
      col = 0;
    }
    if (col < WEB_PREVIEW_MAX_COLS) {
      const char *tag = row == 0 ? "th" : "td";
      if ((rc = bk_buf_printf(out, row == 0 ? "<%s scope=\"col\">" : "<%s>", tag)) < 0) goto done;
      if ((rc = bk_html_escape(out, (const char *)cell.p, cell.len)) < 0) goto done;
      if ((rc = bk_buf_printf(out, "</%s>", tag)) < 0) goto done;
    }
    col++;
    if (i < len && d[i] == (uint8_t)sep) { i++; if (i == len) goto endrow; continue; }
  endrow:
    if (i < len && d[i] == '\r') i++;
    if (i < len && d[i] == '\n') i++;
    if ((rc = bk_buf_printf(out, "</tr>\n")) < 0) goto done;
    in_row = 0;
    row++;
  }
  if (in_row && (rc = bk_buf_printf(out, "</tr>\n")) < 0) goto done;
  rc = bk_buf_printf(out, "</table></div>\n");
  if (rc >= 0 && i < len)
    rc = bk_buf_printf(out, "<p class=\"hint\">Showing the first %u rows.</p>\n",
                       WEB_PREVIEW_MAX_ROWS);
done:
  bk_buf_free(&cell);
  return rc;
}

static int json_pretty(bk_buf *out, const uint8_t *d, size_t len, int truncated) {
  if (!truncated) {
    cJSON *j = cJSON_ParseWithLength((const char *)d, len);
    if (j) {
      char *s = cJSON_Print(j);
      cJSON_Delete(j);
      if (s) {
        int rc = pre_text(out, (const uint8_t *)s, strlen(s));
        free(s);
        return rc;
      }
    }
  }
  return pre_text(out, d, len); /* partial or invalid JSON: show as is */
}

int web_preview_render(bk_buf *out, const char *path, const uint8_t *data, size_t len,
                       int truncated) {
  int kind = web_preview_kind(path, data, len, truncated), rc;
  switch (kind) {
  case WEB_PREVIEW_CSV: rc = csv_table(out, data, len, ',', truncated); break;
  case WEB_PREVIEW_TSV: rc = csv_table(out, data, len, '\t', truncated); break;
  case WEB_PREVIEW_JSON: rc = json_pretty(out, data, len, truncated); break;
  case WEB_PREVIEW_TEXT: rc = pre_text(out, data, len); break;
  default:
    rc = bk_buf_printf(out, "<p class=\"hint\">Binary file: no preview.</p>\n");
  }
  return rc < 0 ? rc : kind;
}
