/* buckets — S3 XML answers (ListObjectsV2, ListMultipartUploads,
 * InitiateMultipartUpload, CompleteMultipartUpload, CopyObject, Error),
 * parsed with expat from a bounded buffer (see s3_int.h).
 *
 * Only element text of known names is kept, each capped (a longer value is
 * BK_EFORMAT, never truncated silently); nesting is capped; expat's own
 * protection against entity expansion applies (no DTD is needed by S3).
 */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"
#include "store/s3_int.h"

#define XML_DEPTH_MAX 16
#define TEXT_MAX S3_KEY_MAX

struct xp {
  XML_Parser p;
  const char *rec_name;
  int depth, in_rec, bad;
  char text[TEXT_MAX];
  size_t tl;
  struct s3_xml_rec rec;
  struct s3_xml_page *pg;
  s3_rec_fn on_rec;
  void *ctx;
  int rc;
};

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attr) {
  struct xp *x = ud;
  (void)attr;
  x->tl = 0;
  x->text[0] = 0;
  if (++x->depth > XML_DEPTH_MAX) {
    x->bad = 1;
    XML_StopParser(x->p, XML_FALSE);
    return;
  }
  if (x->rec_name && !strcmp(name, x->rec_name)) {
    x->in_rec = 1;
    memset(&x->rec, 0, sizeof x->rec);
  }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
  struct xp *x = ud;
  if (len < 0 || (size_t)len >= sizeof x->text - x->tl) {
    x->bad = 1;
    XML_StopParser(x->p, XML_FALSE);
    return;
  }
  memcpy(x->text + x->tl, s, (size_t)len);
  x->tl += (size_t)len;
  x->text[x->tl] = 0;
}

/* "2026-12-03T16:09:00.000Z" → unix seconds (0 when unparsable) */
static int64_t iso_time(const char *s) {
  struct tm tm = {0};
  int y, mo, d, h, mi, se;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6) return 0;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  return (int64_t)timegm(&tm);
}

/* a value longer than its field is malformed, never cut */
static void copy_field(struct xp *x, char *dst, size_t n, const char *src) {
  size_t l = strlen(src);
  if (l >= n) {
    x->bad = 1;
    return;
  }
  memcpy(dst, src, l + 1);
}
#define copy(d, n, s) copy_field(x, d, n, s)

static void rec_field(struct xp *x, const char *name) {
  if (!strcmp(name, "Key")) {
    copy(x->rec.key, sizeof x->rec.key, x->text);
  } else if (!strcmp(name, "UploadId")) {
    copy(x->rec.upload_id, sizeof x->rec.upload_id, x->text);
  } else if (!strcmp(name, "Size")) {
    char *end;
    x->rec.size = strtoull(x->text, &end, 10);
    if (end == x->text || *end || x->text[0] == '-') x->bad = 1;
  } else if (!strcmp(name, "LastModified") || !strcmp(name, "Initiated")) {
    x->rec.when = iso_time(x->text);
  }
}

static void page_field(struct xp *x, const char *name) {
  struct s3_xml_page *pg = x->pg;
  if (!strcmp(name, "IsTruncated")) pg->truncated = !strcmp(x->text, "true");
  else if (!strcmp(name, "NextContinuationToken")) copy(pg->next, sizeof pg->next, x->text);
  else if (!strcmp(name, "NextKeyMarker")) copy(pg->next_key, sizeof pg->next_key, x->text);
  else if (!strcmp(name, "NextUploadIdMarker")) copy(pg->next_upload, sizeof pg->next_upload, x->text);
  else if (!strcmp(name, "NextPartNumberMarker")) copy(pg->next_part, sizeof pg->next_part, x->text);
  else if (!strcmp(name, "UploadId")) copy(pg->upload_id, sizeof pg->upload_id, x->text);
  else if (!strcmp(name, "Code")) copy(pg->code, sizeof pg->code, x->text);
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  struct xp *x = ud;
  x->depth--;
  if (x->in_rec && x->rec_name && !strcmp(name, x->rec_name)) {
    x->in_rec = 0;
    if (x->on_rec && (x->rc = x->on_rec(x->ctx, &x->rec)) != 0) XML_StopParser(x->p, XML_FALSE);
  } else if (x->in_rec) {
    rec_field(x, name);
  } else {
    page_field(x, name);
  }
  x->tl = 0;
  x->text[0] = 0;
}

int s3_xml_parse(const struct s3 *s, const char *xml, size_t len, const char *rec, s3_rec_fn on_rec,
                 void *ctx, struct s3_xml_page *pg) {
  if (len > S3_XML_MAX) return bk_seterr(BK_ELIMIT, "S3 answer too large");
  struct xp *x = calloc(1, sizeof *x);
  if (!x) return bk_seterr(BK_ENOMEM, "out of memory");
  x->p = XML_ParserCreate("UTF-8");
  if (!x->p) {
    free(x);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  x->rec_name = rec;
  x->pg = pg;
  x->on_rec = on_rec;
  x->ctx = ctx;
  XML_SetUserData(x->p, x);
  XML_SetElementHandler(x->p, on_start, on_end);
  XML_SetCharacterDataHandler(x->p, on_text);
  enum XML_Status st = XML_Parse(x->p, xml, (int)len, XML_TRUE);
  int rc = x->rc;
  if (!rc && (x->bad || st != XML_STATUS_OK))
    rc = bk_seterr(BK_EFORMAT, "s3://%s: malformed XML answer (%s)", s ? s->bucket : "?",
                   x->bad ? "field too long or too deep" : XML_ErrorString(XML_GetErrorCode(x->p)));
  XML_ParserFree(x->p);
  free(x);
  return rc;
}

void s3_xml_error_code(const char *xml, size_t len, char *code, size_t n) {
  struct s3_xml_page *pg = calloc(1, sizeof *pg);
  code[0] = 0;
  if (!pg) return;
  /* the error head may be cut: parse what there is, ignore the verdict */
  if (s3_xml_parse(NULL, xml, len, NULL, NULL, NULL, pg) == 0 || pg->code[0]) snprintf(code, n, "%s", pg->code);
  free(pg);
}
