/* libFuzzer target: request-target and query parsing as done before routing
 * (bk_http_parse_target, bk_http_parse_query) plus the Bearer token
 * accessor. Input: the raw URI as MHD hands it over (NUL-terminated), then
 * after the first NUL byte an Authorization header value. Checks: on success
 * the raw path starts with '/', the decoded path is valid UTF-8 without NUL
 * bytes and not longer than the raw path; every parameter is NUL-free. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = malloc(size + 1);
  if (!in) return 0;
  memcpy(in, data, size);
  in[size] = 0;
  const char *uri = in;
  size_t ulen = strlen(in);
  const char *auth = ulen < size ? in + ulen + 1 : NULL;

  char *raw = NULL, *query = NULL, *path = NULL;
  size_t plen = 0;
  const char *err = NULL;
  int st = bk_http_parse_target(uri, &raw, &query, &path, &plen, &err);
  ASSERT(st == 0 || st == 400 || st == 500);
  if (st == 0) {
    ASSERT(raw && query && path && !err);
    ASSERT(raw[0] == '/');
    ASSERT(plen == strlen(path));
    ASSERT(plen <= strlen(raw));
    ASSERT(bk_utf8_valid(path, plen));
    ASSERT(!strchr(raw, '?') && !strchr(raw, '#'));
    ASSERT(!strchr(query, '#'));
    struct bk_http_req req;
    memset(&req, 0, sizeof req);
    int rc = bk_http_parse_query(&req, query);
    ASSERT(req.nparams <= BK_HTTP_MAX_PARAMS);
    for (size_t i = 0; i < req.nparams; i++) {
      ASSERT(req.params[i].key && req.params[i].val);
      ASSERT(bk_http_param(&req, req.params[i].key) != NULL);
    }
    (void)rc;
    struct bk_kv hdr = {(char *)"authorization", (char *)(auth ? auth : "")};
    req.headers = &hdr;
    req.nheaders = auth ? 1 : 0;
    const char *tok = bk_http_bearer(&req);
    if (tok) ASSERT(*tok && *tok != ' ' && tok >= hdr.val && tok < hdr.val + strlen(hdr.val));
    for (size_t i = 0; i < req.nparams; i++) {
      free(req.params[i].key);
      free(req.params[i].val);
    }
    free(req.params);
  } else {
    ASSERT(err != NULL);
  }
  free(raw);
  free(query);
  free(path);
  free(in);
  return 0;
}
