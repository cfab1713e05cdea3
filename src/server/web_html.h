/* bucketd web — HTML escaping, a tiny template renderer, and formatting of
 * sizes and dates for the web pages (owned by the web helper).
 *
 * Everything here is pure: no I/O, no global state. Output goes into a
 * caller-owned bk_buf (capped); every function returns 0 or a negative BK_E*
 * code (BK_ELIMIT when the buffer cap would be exceeded).
 *
 * Templates (files under web/) use three forms:
 *   {{name}}           value, HTML-escaped (safe in text and in quoted attributes)
 *   {{{name}}}         value inserted raw (only for HTML the C code built itself)
 *   {{#name}}..{{/name}}  section kept when the value is set, non-empty and not "0"
 *   {{^name}}..{{/name}}  section kept when it is not
 * A name not present in the variable list is an error (BK_ENOTFOUND) so that a
 * typo in a template fails loudly in tests instead of rendering blank.
 */
#ifndef BUCKETD_WEB_HTML_H
#define BUCKETD_WEB_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"

/* Appends s[0..len) HTML-escaped: & < > " ' are replaced by entities; bytes
 * that are not valid UTF-8 and C0 controls other than TAB/LF/CR become U+FFFD.
 * An incomplete UTF-8 sequence at the very end is also replaced. */
int bk_html_escape(bk_buf *b, const char *s, size_t len);
int bk_html_escape_str(bk_buf *b, const char *s); /* NULL = "" */

/* Appends s percent-encoded as a URL path (keep_slash=1 keeps '/'), or as a
 * query value (keep_slash=0), then HTML-escaped, so that the result can be put
 * inside a quoted href attribute. Unreserved chars are kept. */
int bk_html_url(bk_buf *b, const char *s, int keep_slash);

/* Human-readable byte count with binary units: "0 B", "999 B", "1.0 KiB",
 * "12.3 MiB", "1.5 GiB" ... Always NUL-terminated. */
void bk_human_size(uint64_t n, char out[32]);

/* Date from unix milliseconds: "2026-11-26 23:16 UTC"; "-" when ms <= 0. */
void bk_html_date(int64_t ms, char out[32]);

/* Dedup ratio logical/stored as "2.50x" (or "-" when stored is 0). */
void bk_dedup_ratio(uint64_t logical, uint64_t stored, char out[32]);

struct bk_tvar {
  const char *key;
  const char *val; /* NULL = unset */
};

/* Renders template text tmpl[0..len) with vars into out. */
int bk_tmpl_render(bk_buf *out, const char *tmpl, size_t len,
                   const struct bk_tvar *vars, size_t nvars);

#endif
