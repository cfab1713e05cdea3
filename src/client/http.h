/* buckets client — internal HTTP layer over libcurl (not a public header).
 *
 * A bk_http is a pool of keep-alive easy handles; any thread may borrow one
 * per request. Requests retry on connection errors, 429 and 5xx with
 * exponential backoff. Response bodies are capped (max_resp).
 * Ownership: bk_http_new/bk_http_free; bk_http_resp owns its strings/body
 * (bk_http_resp_free).
 */
#ifndef BUCKETS_CLIENT_HTTP_H
#define BUCKETS_CLIENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"

typedef struct bk_http bk_http;

/* Reads $HF_BUCKETS_REGION once: every request then carries X-Buckets-Region
 * (BK_EINVAL when it is set to something that is not a region name). */
int bk_http_new(unsigned timeout_s, unsigned retries, bk_http **out);
void bk_http_free(bk_http *h);

typedef struct bk_curl_req {
  const char *method; /* GET POST PUT DELETE HEAD */
  const char *url;
  const char *bearer; /* NULL = no Authorization */
  const char *content_type;
  const void *body;
  size_t body_len;
  const char *range; /* "bytes=a-b" or NULL */
  size_t max_resp;   /* 0 = 16 MiB */
  int no_retry;
  /* optional streaming sink: when set, body bytes go here instead of resp.body */
  int (*sink)(void *ctx, const void *data, size_t len);
  void *sink_ctx;
} bk_curl_req;

typedef struct bk_http_resp {
  long status;
  bk_buf body;
  char *link_next;
  char *error_code;
  char *error_message;
  char *content_type;
  uint64_t bytes_in;
  /* Content-Length of the final response when it sent one (set, like
   * status, before the first body byte reaches a sink) */
  int has_content_length;
  uint64_t content_length;
} bk_http_resp;

/* Performs the request (with retries). Returns 0 when an HTTP status was
 * received (any status: check resp->status), BK_ENET on transport failure,
 * BK_ELIMIT when the body exceeded max_resp. resp must be freed in all cases. */
int bk_http_do(bk_http *h, const bk_curl_req *rq, bk_http_resp *resp);
void bk_http_resp_free(bk_http_resp *r);

/* Percent-encodes s (keeps unreserved chars; keeps '/' if keep_slash). */
char *bk_url_escape(const char *s, int keep_slash);

#endif
