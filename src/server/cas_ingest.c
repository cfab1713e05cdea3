/* CAS ingest: POST /v1|v2/shards (xorbs stream through cas_xorb.c).
 *
 * HTTP only: the service verifies the shard against the stored chunk tables
 * and registers it (bk_svc_shard_put, src/service/svc_shard.c); this file
 * maps its verdict to a status and X-Error-Code. v2 answers NDJSON progress
 * frames (see docs/cas.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "buckets/error.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/server.h"
#include "service/service.h"

/* HTTP status and X-Error-Code of a refused shard. */
static void shard_status(const bk_svc_shard_err *e, int *status, const char **code) {
  *status = 400;
  switch (e->fault) {
  case BK_SVC_SHARD_FILE_HASH: *code = "FileHashMismatch"; return;
  case BK_SVC_SHARD_RANGE_HASH: *code = "RangeHashMismatch"; return;
  case BK_SVC_SHARD_XORB_MISSING: *code = "XorbNotFound"; return;
  case BK_SVC_SHARD_XORB_DAMAGED: *code = "XorbDamaged"; return;
  case BK_SVC_SHARD_NOMEM: *status = 503; *code = "InternalError"; return;
  case BK_SVC_SHARD_STORE:
    if (e->rc == BK_ENOSPC) {
      *status = 507;
      *code = "InsufficientStorage";
    } else if (e->rc == BK_EDB || e->rc == BK_EIO || e->rc == BK_ENOMEM) {
      *status = bk_http_status(e->rc);
      *code = "InternalError";
    } else {
      *code = "InvalidShard";
    }
    return;
  case BK_SVC_SHARD_INVALID:
  default: *code = "InvalidShard"; return;
  }
}

int cas_post_shard(struct bk_server *srv, struct bk_http_req *req, int v2) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 1, &c)) return 1;
  bk_svc_shard_err e;
  memset(&e, 0, sizeof e);
  int existed = 0, status = 200;
  uint32_t nfiles = 0;
  const char *code = NULL;
  int ret = bk_svc_shard_put(srv->svc, req->body.p, req->body.len, c.bucket_id, &existed,
                             &nfiles, &e);
  if (ret != 0) shard_status(&e, &status, &code);
  if (!v2) {
    if (ret != 0 && status == 503)
      bk_http_add_headerf(req, "Retry-After", "%d", BK_HTTP_RETRY_AFTER_S);
    if (ret != 0) return bk_http_error(req, status, code, "%s", e.msg), 1;
    bk_http_reply_json(req, 200, existed ? "{\"result\":0}" : "{\"result\":1}");
    return 1;
  }
  /* v2: NDJSON frames; the work is done synchronously before answering, so
   * the frames report what already happened. */
  bk_buf out;
  bk_buf_init(&out, 64 * 1024);
  int rc = bk_buf_printf(&out, "{\"type\":\"validating\",\"verified\":%u,\"total\":%u}\n",
                         ret == 0 ? nfiles : 0, nfiles);
  if (ret == 0) {
    rc |= bk_buf_printf(&out, "{\"type\":\"committing\",\"stage\":\"syncing\"}\n");
    rc |= bk_buf_printf(&out, "{\"type\":\"result\"}\n");
  } else {
    char esc[1100];
    size_t o = 0;
    for (const char *p = e.msg; *p && o + 7 < sizeof esc; p++) {
      unsigned char ch = (unsigned char)*p;
      if (ch == '"' || ch == '\\') {
        esc[o++] = '\\';
        esc[o++] = (char)ch;
      } else if (ch < 0x20) {
        o += (size_t)snprintf(esc + o, sizeof esc - o, "\\u%04x", ch);
      } else {
        esc[o++] = (char)ch;
      }
    }
    esc[o] = '\0';
    rc |= bk_buf_printf(&out, "{\"type\":\"error\",\"message\":\"%s\",\"retryable\":%s}\n", esc,
                        status >= 500 ? "true" : "false");
    bk_http_add_header(req, "X-Error-Code", code);
  }
  if (rc != 0) {
    bk_buf_free(&out);
    return bk_http_error(req, 503, "InternalError", "out of memory"), 1;
  }
  bk_http_reply_buf(req, 200, "application/x-ndjson", &out);
  bk_buf_free(&out);
  return 1;
}
