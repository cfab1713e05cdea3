/* bucketd — resolve: file metadata and server-side reconstruction. See
 * resolve.h.
 *
 * Streaming: the response body is produced by a read callback over the
 * service's file reader (bk_svc_reader_*, src/service/svc_read.c): every
 * chunk is decoded and its hash checked before any byte of it is sent.
 * Any mismatch aborts the connection (the client sees a short body, never
 * wrong bytes).
 */
#include "server/resolve.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/hash.h"
#include "server/cas_internal.h" /* cas_client_region: the reads pick the client's region too */
#include "server/hub_api.h"
#include "server/http.h"
#include "server/jsonout.h"
#include "server/server.h"
#include "service/service.h"

/* The response body: the service's reader (every chunk verified before a
 * byte of it is sent), whose first bytes were read before the status was
 * chosen (see stream_content). A later failure aborts the connection (the
 * client sees a short body, never wrong bytes) and is logged. */
struct rs {
  bk_svc_reader *r;
  uint8_t *first;     /* the bytes read ahead */
  size_t nfirst, off; /* how many, how many sent */
};

static ssize_t rs_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  struct rs *s = cls;
  if (s->off < s->nfirst) {
    size_t n = s->nfirst - s->off < max ? s->nfirst - s->off : max;
    memcpy(buf, s->first + s->off, n);
    s->off += n;
    return (ssize_t)n;
  }
  ssize_t n = bk_svc_reader_read(s->r, buf, max);
  if (n > 0) return n;
  if (n == 0) return BK_HTTP_STREAM_END;
  fprintf(stderr, "bucketd: resolve: %s\n", bk_errmsg());
  return BK_HTTP_STREAM_ERROR;
}

static void rs_free(void *cls) {
  struct rs *s = cls;
  if (!s) return;
  bk_svc_reader_close(s->r);
  free(s->first);
  free(s);
}

static ssize_t no_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)cls;
  (void)pos;
  (void)buf;
  (void)max;
  return BK_HTTP_STREAM_ERROR;
}

static int accepts_fileinfo(struct bk_http_req *req) {
  const char *a = bk_http_header(req, "Accept");
  return a && strstr(a, "application/vnd.xet-fileinfo+json") != NULL;
}

/* Common headers of every successful resolve answer. */
static int common_headers(struct bk_server *srv, struct bk_http_req *req, const bk_bucket *b,
                          const bk_file_info *fi, const char *hex, int fileinfo) {
  bk_buf l;
  bk_buf_init(&l, 8192);
  int rc = bk_buf_printf(&l, "%s/api/buckets/", srv->public_url);
  if (!rc) rc = bk_http_escape(&l, b->ns, 0);
  if (!rc) rc = bk_buf_append_u8(&l, '/');
  if (!rc) rc = bk_http_escape(&l, b->name, 0);
  if (!rc) rc = BK_LIT(&l, "/xet-read-token");
  if (!rc) rc = bk_buf_append_u8(&l, 0);
  if (rc) {
    bk_buf_free(&l);
    return rc;
  }
  const char *refresh = (const char *)l.p;
  rc = bk_http_add_header(req, "X-Xet-Hash", hex);
  if (!rc) rc = bk_http_add_headerf(req, "ETag", "\"%s\"", hex);
  if (!rc) rc = bk_http_add_header(req, "X-Xet-Refresh-Route", refresh + strlen(srv->public_url));
  if (!rc) {
    if (fileinfo)
      rc = bk_http_add_headerf(req, "Link",
                               "<%s>; rel=\"xet-auth\", <%s/v1/reconstructions/%s>; "
                               "rel=\"xet-reconstruction-info\"",
                               refresh, srv->public_url, hex);
    else
      rc = bk_http_add_headerf(req, "Link", "<%s>; rel=\"xet-auth\"", refresh);
  }
  char lm[64];
  time_t t = (time_t)(fi->e.uploaded_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!rc) rc = bk_http_add_header(req, "Last-Modified", lm);
  if (!rc) rc = bk_http_add_header(req, "Accept-Ranges", "bytes");
  if (!rc) rc = bk_http_add_header(req, "Cache-Control", b->is_private ? "private, no-cache" : "no-cache");
  bk_buf_free(&l);
  return rc;
}

/* 1 if a header value (an ETag list, "*", or W/ forms) names "hex". */
static int etag_matches(const char *v, const char *hex) {
  while (*v == ' ') v++;
  if (!strcmp(v, "*")) return 1;
  const char *p = v;
  while ((p = strstr(p, hex)) != NULL) {
    if (p > v && p[-1] == '"' && p[BK_HASH_HEX_LEN] == '"') return 1;
    p += BK_HASH_HEX_LEN;
  }
  return 0;
}

/* Content-Disposition: inline; filename="<ascii>"; filename*=UTF-8''<escaped>
 * from the last segment of the key (quotes/controls replaced in the ASCII
 * form). */
static int content_disposition(struct bk_http_req *req, const char *key) {
  const char *base = strrchr(key, '/');
  base = base ? base + 1 : key;
  char ascii[256];
  size_t j = 0;
  for (const unsigned char *p = (const unsigned char *)base; *p && j + 1 < sizeof ascii; p++)
    ascii[j++] = (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == ';') ? '_' : (char)*p;
  ascii[j] = 0;
  bk_buf v;
  bk_buf_init(&v, 8192);
  int rc = bk_buf_printf(&v, "inline; filename=\"%s\"; filename*=UTF-8''", ascii);
  if (!rc) rc = bk_http_escape(&v, base, 0);
  if (!rc) rc = bk_buf_append_u8(&v, 0);
  if (!rc) rc = bk_http_add_header(req, "Content-Disposition", (const char *)v.p);
  bk_buf_free(&v);
  return rc;
}

/* The Xet file-info answer (Accept: application/vnd.xet-fileinfo+json). */
static int reply_fileinfo(struct bk_server *srv, struct bk_http_req *req, const bk_bucket *b,
                          const bk_file_info *fi, const char *hex) {
  uint64_t size = fi->e.size;
  if (common_headers(srv, req, b, fi, hex, 1)) return hub_store_error(req, BK_ENOMEM);
  bk_http_add_headerf(req, "X-Linked-Size", "%" PRIu64, size);
  bk_http_add_headerf(req, "X-Linked-ETag", "\"%s\"", hex);
  bk_http_add_header(req, "Vary", "Accept");
  char body[1024];
  snprintf(body, sizeof body,
           "{\"hash\":\"%s\",\"size\":%" PRIu64 ",\"etag\":\"\\\"%s\\\"\","
           "\"reconstructionUrl\":\"%s/v1/reconstructions/%s\"}",
           hex, size, hex, srv->public_url, hex);
  return bk_http_reply(req, 200, "application/vnd.xet-fileinfo+json", body, strlen(body)), 1;
}

/* Conditional and Range headers of a file of size bytes: 1 = answered (304,
 * 416), else 0 with [*start, *end] to send and *status 200 or 206. */
static int plan_range(struct bk_http_req *req, const char *hex, uint64_t size, uint64_t *start,
                      uint64_t *end, int *status) {
  /* conditional requests: the ETag is the content hash, so it is strong */
  const char *inm = bk_http_header(req, "If-None-Match");
  if (inm && etag_matches(inm, hex)) return bk_http_reply(req, 304, NULL, "", 0), 1;
  const char *range = bk_http_header(req, "Range");
  const char *ifr = bk_http_header(req, "If-Range");
  if (range && ifr && !etag_matches(ifr, hex)) range = NULL; /* changed: send it all */
  *start = 0;
  *end = size ? size - 1 : 0;
  *status = 200;
  if (range && size == 0) {
    /* An empty file has no satisfiable range; answer 200 with the size in
     * Content-Range so size probes (Range: bytes=0-0) still learn it. */
    bk_http_add_header(req, "Content-Range", "bytes */0");
    return 0;
  }
  if (!range) return 0;
  int r = bk_http_parse_range(range, size, start, end);
  if (r < 0) {
    bk_http_add_headerf(req, "Content-Range", "bytes */%" PRIu64, size);
    return bk_http_error(req, 416, NULL, "range not satisfiable (file size %" PRIu64 ")", size), 1;
  }
  if (r == 0) {
    *start = 0;
    *end = size ? size - 1 : 0;
    return 0;
  }
  *status = 206;
  bk_http_add_headerf(req, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, *start,
                      *end, size);
  return 0;
}

/* Bytes read before the status line: enough to reach the first xorb, so a
 * store that cannot serve it (an unavailable region, a damaged xorb) is an
 * error status rather than a 200 whose body is cut. */
#define READ_AHEAD (64u * 1024u)

/* Opens the reader for the client's region and reads ahead. 0, or 1 when it
 * replied. */
static int rs_open(struct bk_server *srv, struct bk_http_req *req, const bk_file_info *fi,
                   uint64_t start, uint64_t end, struct rs *s) {
  uint64_t size = fi->e.size, cas_size = 0, terms_size = 0;
  char region[BK_REGION_NAME_MAX + 1];
  if (cas_client_region(srv, req, region)) return 1;
  int rc = bk_svc_reader_open(srv->svc, &fi->e.xet_hash, 0, &cas_size, &terms_size, &s->r);
  if (rc == BK_ENOTFOUND)
    return bk_http_error(req, 500, NULL, "file content is missing from the CAS (run bucketd fsck)"), 1;
  if (rc) return hub_store_error(req, rc);
  if (cas_size != size)
    return bk_http_error(req, 500, NULL, "size mismatch between bucket index and CAS"), 1;
  if (terms_size != size)
    return bk_http_error(req, 500, NULL, "reconstruction terms do not add up to the file size"), 1;
  bk_svc_reader_region(s->r, region);
  bk_svc_reader_range(s->r, start, end);
  size_t want = end - start + 1 < READ_AHEAD ? (size_t)(end - start + 1) : READ_AHEAD;
  if (!(s->first = malloc(want))) return hub_store_error(req, BK_ENOMEM);
  while (s->nfirst < want) {
    ssize_t n = bk_svc_reader_read(s->r, s->first + s->nfirst, want - s->nfirst);
    if (n < 0) return hub_store_error(req, (int)n);
    if (n == 0) break;
    s->nfirst += (size_t)n;
  }
  return 0;
}

/* Streams [start, end] of the file through the storage service's reader. */
static int stream_content(struct bk_server *srv, struct bk_http_req *req, const bk_file_info *fi,
                          const char *ctype, int status, uint64_t start, uint64_t end) {
  struct rs *s = calloc(1, sizeof *s);
  if (!s) return hub_store_error(req, BK_ENOMEM);
  if (rs_open(srv, req, fi, start, end, s)) {
    rs_free(s);
    return 1;
  }
  bk_http_reply_stream(req, status, ctype, end - start + 1, rs_read, s, rs_free);
  return 1;
}

int resolve_handle(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                   const char *name, const char *key) {
  bk_bucket b;
  if (hub_load_bucket(srv, req, ns, name, BK_ROLE_READ, &b, NULL)) return 1;
  size_t klen = strlen(key);
  if (!klen || !bk_path_valid(key, klen))
    return bk_http_error(req, 400, NULL, "invalid file path"), 1;
  bk_file_info fi;
  int rc = bk_db_file_get(srv->db, b.id, key, &fi);
  if (rc == BK_ENOTFOUND)
    return bk_http_error(req, 404, "EntryNotFound", "%s does not exist in bucket %s/%s",
                         klen > 200 ? "file" : key, b.ns, b.name),
           1;
  if (rc) return hub_store_error(req, rc);
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&fi.e.xet_hash, hex);
  uint64_t size = fi.e.size;
  const char *ctype = fi.e.content_type && *fi.e.content_type ? fi.e.content_type
                                                               : "application/octet-stream";
  if (accepts_fileinfo(req) && size > 0) return reply_fileinfo(srv, req, &b, &fi, hex);

  if (common_headers(srv, req, &b, &fi, hex, 0)) return hub_store_error(req, BK_ENOMEM);
  if (!bk_http_param(req, "noContentDisposition") && content_disposition(req, key))
    return hub_store_error(req, BK_ENOMEM);
  uint64_t start, end;
  int status;
  if (plan_range(req, hex, size, &start, &end, &status)) return 1;
  if (size == 0) return bk_http_reply(req, 200, ctype, "", 0), 1;
  if (bk_http_is_head(req))
    return bk_http_reply_stream(req, status, ctype, end - start + 1, no_read, NULL, NULL), 1;
  return stream_content(srv, req, &fi, ctype, status, start, end);
}
