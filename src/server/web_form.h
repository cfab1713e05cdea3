/* bucketd web — HTML form bodies: application/x-www-form-urlencoded and
 * multipart/form-data (owned by the web helper).
 *
 * Parsing is pure and bounded: at most WEB_FORM_MAX_FIELDS fields, names and
 * text values NUL-terminated copies (malloc'd, freed by web_form_free), file
 * parts point INTO the body buffer (no copy; valid while the body is).
 * Malformed input -> BK_EFORMAT; too many fields -> BK_ELIMIT.
 */
#ifndef BUCKETD_WEB_FORM_H
#define BUCKETD_WEB_FORM_H

#include <stddef.h>
#include <stdint.h>

#define WEB_FORM_MAX_FIELDS 1024

struct web_field {
  char *name;
  char *value;          /* text fields: decoded, NUL-terminated (file parts: "") */
  char *filename;       /* multipart file parts: the client file name, else NULL */
  const uint8_t *data;  /* file parts: bytes inside the body */
  size_t len;           /* file parts: byte count; text: strlen(value) */
};

struct web_form {
  struct web_field *f;
  size_t n;
};

/* Parses a urlencoded body (or query string) of len bytes. */
int web_form_parse_urlencoded(struct web_form *out, const char *body, size_t len);
/* Parses a multipart body; content_type must carry the boundary parameter.
 * Text parts are copied (and must be valid UTF-8 without NUL); file parts
 * (those with a filename) are referenced. */
int web_form_parse_multipart(struct web_form *out, const char *content_type,
                             const uint8_t *body, size_t len);
void web_form_free(struct web_form *f);
/* First text field with that name, or NULL. */
const char *web_form_get(const struct web_form *f, const char *name);

#endif
