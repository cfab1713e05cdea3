/* bucketd web — file previews: plain text, CSV/TSV as a table, JSON
 * pretty-printed; every byte of file content is HTML-escaped (owned by the
 * web helper). Pure functions, no I/O.
 */
#ifndef BUCKETD_WEB_PREVIEW_H
#define BUCKETD_WEB_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"

#define WEB_PREVIEW_MAX (64u * 1024u)  /* bytes of a file that are previewed */
#define WEB_PREVIEW_MAX_ROWS 1000u     /* CSV rows shown */
#define WEB_PREVIEW_MAX_COLS 200u      /* CSV columns shown */

enum web_preview_kind {
  WEB_PREVIEW_NONE = 0,  /* binary: no preview */
  WEB_PREVIEW_TEXT = 1,
  WEB_PREVIEW_CSV = 2,
  WEB_PREVIEW_TSV = 3,
  WEB_PREVIEW_JSON = 4,
};

/* Picks a kind from the path's extension, then the content (text = no NUL
 * byte and valid UTF-8, an incomplete sequence at a truncation point aside). */
int web_preview_kind(const char *path, const uint8_t *data, size_t len, int truncated);

/* Appends the preview HTML of data[0..len) (the first bytes of the file;
 * truncated = 1 when the file is longer). Returns the kind rendered. */
int web_preview_render(bk_buf *out, const char *path, const uint8_t *data, size_t len,
                       int truncated);

#endif
