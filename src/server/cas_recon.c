/* CAS downloads: GET /v1|v2/reconstructions/{file} and the signed
 * /v1/xorb-range/{xorb} URLs they hand out (see docs/cas.md).
 *
 * A reconstruction lists the file's terms (trimmed to the requested byte
 * range) and, per xorb, fetch entries: the union of the chunk ranges the
 * terms need, with overlapping or adjacent ranges merged, each with one
 * signed URL for exactly its record bytes. v1 puts them in `fetch_info`,
 * v2 in `xorbs` with one range per URL (no multi-range responses).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/names.h"
#include "buckets/buf.h"
#include "store/db.h"
#include "buckets/error.h"
#include "store/file_access.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/hub_parse.h"
#include "server/jsonout.h"
#include "server/server.h"
#include "service/service.h"

#define RECON_JSON_MAX (256u << 20)
#define CAS_PRESIGN_URL_MAX 4096 /* longest presigned URL accepted from the blob store */

typedef bk_svc_term rterm;
typedef bk_svc_fetch rfetch;

static int put_hash_key(bk_buf *b, const bk_hash *h) {
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hx);
  return bk_buf_printf(b, "\"%s\"", hx);
}

static int emit_terms(bk_buf *js, const rterm *rt, size_t n) {
  int rc = bk_buf_printf(js, "[");
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = bk_buf_printf(js, "%s{\"hash\":", i ? "," : "");
    if (rc == 0) rc = put_hash_key(js, &rt[i].xorb);
    if (rc == 0)
      rc = bk_buf_printf(js, ",\"unpacked_length\":%" PRIu64 ",\"range\":{\"start\":%u,\"end\":%u}}",
                         rt[i].ulen, rt[i].cs, rt[i].ce);
  }
  return rc ? rc : bk_buf_printf(js, "]");
}

/* The URL of one fetch entry: bucketd's own signed /v1/xorb-range URL, or
 * with --direct-downloads a presigned GET URL of the blob store for exactly
 * the entry's record bytes (the client sends them as its Range header, as
 * for bucketd's URLs). A failure to presign is a store error (never an
 * oversized answer): BK_ELIMIT from the store is reported as BK_EIO. */
static int emit_url(const struct bk_server *srv, bk_buf *js, const rfetch *fe, int64_t exp) {
  if (!srv->direct_downloads) {
    int rc = bk_buf_printf(js, "\"");
    if (rc == 0) rc = cas_url_sign(srv, &fe->xorb, fe->region, fe->bs, fe->be, exp, js);
    return rc ? rc : bk_buf_printf(js, "\"");
  }
  char url[CAS_PRESIGN_URL_MAX];
  int rc = bk_svc_xorb_presign(srv->svc, &fe->xorb, fe->region, fe->bs, fe->be, exp, url,
                               sizeof url);
  if (rc == BK_ELIMIT) return bk_seterr(BK_EIO, "presigned URL longer than %u bytes",
                                        (unsigned)sizeof url);
  if (rc) return rc;
  rc = bk_jstr(js, url);
  return rc == BK_ELIMIT ? BK_ELIMIT : rc;
}

/* The fetch map: v1 `{xorb: [{range, url, url_range}]}`, v2
 * `{xorb: [{url, ranges: [{chunks, bytes}]}]}` (one range per URL). */
static int emit_fetch(const struct bk_server *srv, bk_buf *js, const rfetch *fe, size_t nfe,
                      int v2) {
  int64_t exp = bk_now_s() + (srv->direct_downloads ? BK_SVC_PRESIGN_TTL_S : CAS_URL_TTL_S);
  int rc = bk_buf_printf(js, "{");
  for (size_t i = 0; i < nfe && rc == 0; i++) {
    int first_of_xorb = i == 0 || !bk_hash_eq(&fe[i - 1].xorb, &fe[i].xorb);
    if (first_of_xorb) {
      if (i) rc = bk_buf_printf(js, "],");
      if (rc == 0) rc = put_hash_key(js, &fe[i].xorb);
      if (rc == 0) rc = bk_buf_printf(js, ":[");
    } else {
      rc = bk_buf_printf(js, ",");
    }
    if (rc == 0) rc = bk_buf_printf(js, "{\"url\":");
    if (rc == 0) rc = emit_url(srv, js, &fe[i], exp);
    if (rc != 0) break;
    if (v2)
      rc = bk_buf_printf(js,
                         ",\"ranges\":[{\"chunks\":{\"start\":%u,\"end\":%u},"
                         "\"bytes\":{\"start\":%" PRIu64 ",\"end\":%" PRIu64 "}}]}",
                         fe[i].cs, fe[i].ce, fe[i].bs, fe[i].be);
    else
      rc = bk_buf_printf(js,
                         ",\"range\":{\"start\":%u,\"end\":%u},"
                         "\"url_range\":{\"start\":%" PRIu64 ",\"end\":%" PRIu64 "}}",
                         fe[i].cs, fe[i].ce, fe[i].bs, fe[i].be);
  }
  return rc ? rc : bk_buf_printf(js, "%s}", nfe ? "]" : "");
}

/* A damaged xorb is never handed out: 410 XorbDamaged naming it (not
 * retried by clients; a re-upload of the file repairs it). */
static int reply_damaged(struct bk_http_req *req, const bk_hash *x) {
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(x, hx);
  return bk_http_error(req, 410, "XorbDamaged",
                       "xorb %s is damaged on the server (its stored copy no longer verifies); "
                       "upload the file again to repair it",
                       hx),
         1;
}

/* The client's region: the X-Buckets-Region header, else the node's
 * --region, else none (out = ""). A malformed name is refused (400) always;
 * with regions configured an unknown one too (400 naming the configured
 * ones). Without regions the header has no effect. 1 = replied. */
_Static_assert(BK_REGION_NAME_MAX + 1 == 33, "region buffers are 33 bytes");
int cas_client_region(struct bk_server *srv, struct bk_http_req *req, char out[33]) {
  out[0] = 0;
  const char *h = bk_http_header(req, "X-Buckets-Region");
  if (h) {
    while (*h == ' ') h++;
    if (!*h) h = NULL;
  }
  if (h && !bk_region_name_valid(h))
    return bk_http_error(req, 400, "BadRequest",
                         "bad X-Buckets-Region header: a region name is a-z, 0-9 and '-' "
                         "(at most 32, starting with a letter)"),
           1;
  const char *name = h ? h : srv->region;
  if (!*name || bk_svc_regions_enabled(srv->svc) != 1) return 0;
  if (bk_svc_region_check_name(srv->svc, name) != 0)
    return bk_http_error(req, 400, "BadRequest", "X-Buckets-Region: %s", bk_errmsg()), 1;
  snprintf(out, 33, "%s", name);
  return 0;
}

/* Builds the fetch entries for the client's region; the service checks
 * their xorbs (a damaged one is never handed out). 1 = replied (damaged or
 * error), 0 = go on. */
static int finish_recon(struct bk_server *srv, struct bk_http_req *req, bk_svc_recon *r,
                        int batch) {
  char region[BK_REGION_NAME_MAX + 1];
  if (cas_client_region(srv, req, region)) return 1;
  r->region = region[0] ? region : NULL;
  int rc = bk_svc_recon_finish(srv->svc, r);
  r->region = NULL; /* it pointed at this frame */
  if (rc == 0) return 0;
  if (rc == BK_EHASH) return reply_damaged(req, &r->damaged);
  if (batch && rc == BK_ENOTFOUND && !r->fetch) /* building the fetch entries failed */
    return bk_http_error(req, 404, "FileNotFound", "a file_id is not in CAS"), 1;
  return cas_reply_store_error(req, rc, "reconstruction");
}

/* Sends the reconstruction JSON built in js; rc is the result of building
 * it (BK_ELIMIT: it outgrew RECON_JSON_MAX -> 503; another error: a
 * presigned URL could not be made -> the store error). Frees js. Returns 1. */
static int reply_json(struct bk_http_req *req, bk_buf *js, int rc) {
  if (rc != 0) {
    bk_buf_free(js);
    if (rc != BK_ELIMIT) return cas_reply_store_error(req, rc, "reconstruction (direct URLs)");
    return bk_http_error(req, 503, "InternalError", "reconstruction too large"), 1;
  }
  bk_http_add_header(req, "Cache-Control", "no-store");
  bk_http_reply_buf(req, 200, "application/json", js);
  bk_buf_free(js);
  return 1;
}

/* 1 when the token's bucket may read fh (it lists or was granted the file;
 * the empty file, all-zero hash, has no content and is readable by any
 * token); otherwise replies 404 (as for an unknown hash: no existence leak)
 * or a store error and returns 0. */
static int check_readable(struct bk_server *srv, struct bk_http_req *req,
                          const struct cas_claims *c, const bk_hash *fh) {
  if (bk_hash_is_zero(fh)) return 1;
  int rc = bk_db_bucket_file_readable(srv->db, c->bucket_id, fh);
  if (rc == 1) return 1;
  if (rc < 0) return cas_reply_store_error(req, rc, "file access check"), 0;
  bk_http_error(req, 404, "FileNotFound", "no such file in CAS");
  return 0;
}

int cas_get_reconstruction(struct bk_server *srv, struct bk_http_req *req, const char *seg,
                           int v2) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 0, &c)) return 1;
  bk_hash fh;
  if (!cas_path_hash(req, seg, &fh)) return 1;
  if (!check_readable(srv, req, &c, &fh)) return 1;

  uint64_t size = 0;
  bk_file_term *ft = NULL;
  size_t nft = 0;
  int rc = bk_svc_file_terms(srv->svc, &fh, &size, &ft, &nft);
  if (rc == BK_ENOTFOUND) return bk_http_error(req, 404, "FileNotFound", "no such file in CAS"), 1;
  if (rc != 0) return cas_reply_store_error(req, rc, "reconstruction");

  uint64_t s = 0, e = size ? size - 1 : 0;
  if (bk_http_parse_range(bk_http_header(req, "Range"), size, &s, &e) < 0) {
    free(ft);
    bk_http_add_headerf(req, "Content-Range", "bytes */%" PRIu64, size);
    return bk_http_error(req, 416, "RangeNotSatisfiable",
                         "range starts at or past the end of the file (%" PRIu64 " bytes)", size),
           1;
  }
  bk_svc_recon r;
  memset(&r, 0, sizeof r);
  uint64_t offset_first = 0;
  rc = bk_svc_recon_add(srv->svc, &r, ft, nft, size, s, e, &offset_first);
  free(ft);
  if (rc != 0) {
    bk_svc_recon_free(&r);
    return cas_reply_store_error(req, rc, "reconstruction");
  }
  if (finish_recon(srv, req, &r, 0)) {
    bk_svc_recon_free(&r);
    return 1;
  }
  bk_buf js;
  bk_buf_init(&js, RECON_JSON_MAX);
  rc = bk_buf_printf(&js, "{\"offset_into_first_range\":%" PRIu64 ",\"terms\":", offset_first);
  if (rc == 0) rc = emit_terms(&js, r.terms, r.nterms);
  if (rc == 0) rc = bk_buf_printf(&js, ",\"%s\":", v2 ? "xorbs" : "fetch_info");
  if (rc == 0) rc = emit_fetch(srv, &js, r.fetch, r.nfetch, v2);
  if (rc == 0) rc = bk_buf_printf(&js, "}");
  bk_svc_recon_free(&r);
  return reply_json(req, &js, rc);
}

/* GET /v1/reconstructions?file_id=H1&file_id=H2... (xet-core batch form):
 * {"files": {H: [terms]}, "fetch_info": {...}} over whole files. */
int cas_get_reconstruction_batch(struct bk_server *srv, struct bk_http_req *req) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 0, &c)) return 1;
  size_t nids = 0;
  for (size_t i = 0; i < req->nparams; i++)
    if (strcmp(req->params[i].key, "file_id") == 0) nids++;
  if (nids == 0) return bk_http_error(req, 400, "BadRequest", "no file_id given"), 1;
  if (nids > CAS_BATCH_MAX_FILES)
    return bk_http_error(req, 400, "BadRequest", "at most %u file_id per request",
                         CAS_BATCH_MAX_FILES),
           1;
  bk_hash *ids = calloc(nids, sizeof *ids);
  size_t *first = calloc(nids + 1, sizeof *first);
  bk_svc_recon r;
  memset(&r, 0, sizeof r);
  int rc = ids && first ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
  size_t k = 0;
  for (size_t i = 0; i < req->nparams && rc == 0; i++) {
    if (strcmp(req->params[i].key, "file_id") != 0) continue;
    const char *v = req->params[i].val;
    if (strlen(v) != BK_HASH_HEX_LEN || bk_hash_parse(v, &ids[k]) != 0) {
      free(ids);
      free(first);
      bk_svc_recon_free(&r);
      return bk_http_error(req, 400, "InvalidHash", "file_id must be a 64-character hex hash"), 1;
    }
    if (!check_readable(srv, req, &c, &ids[k])) {
      free(ids);
      free(first);
      bk_svc_recon_free(&r);
      return 1;
    }
    uint64_t size = 0, off;
    bk_file_term *ft = NULL;
    size_t nft = 0;
    first[k] = r.nterms;
    rc = bk_svc_file_terms(srv->svc, &ids[k], &size, &ft, &nft);
    if (rc == 0) rc = bk_svc_recon_add(srv->svc, &r, ft, nft, size, 0, size ? size - 1 : 0, &off);
    free(ft);
    k++;
  }
  if (rc != 0) {
    free(ids);
    free(first);
    bk_svc_recon_free(&r);
    if (rc == BK_ENOTFOUND)
      return bk_http_error(req, 404, "FileNotFound", "a file_id is not in CAS"), 1;
    return cas_reply_store_error(req, rc, "reconstruction");
  }
  first[nids] = r.nterms;
  if (finish_recon(srv, req, &r, 1)) {
    free(ids);
    free(first);
    bk_svc_recon_free(&r);
    return 1;
  }
  bk_buf js;
  bk_buf_init(&js, RECON_JSON_MAX);
  rc = bk_buf_printf(&js, "{\"files\":{");
  for (size_t i = 0; i < nids && rc == 0; i++) {
    if (i) rc = bk_buf_printf(&js, ",");
    if (rc == 0) rc = put_hash_key(&js, &ids[i]);
    if (rc == 0) rc = bk_buf_printf(&js, ":");
    if (rc == 0) rc = emit_terms(&js, r.terms + first[i], first[i + 1] - first[i]);
  }
  if (rc == 0) rc = bk_buf_printf(&js, "},\"fetch_info\":");
  if (rc == 0) rc = emit_fetch(srv, &js, r.fetch, r.nfetch, 0);
  if (rc == 0) rc = bk_buf_printf(&js, "}");
  free(ids);
  free(first);
  bk_svc_recon_free(&r);
  return reply_json(req, &js, rc);
}

/* ----------------------------------------------------- signed xorb ranges */

/* Strict unsigned decimal. */
static int parse_u64(const char *s, const char *end, uint64_t *v) {
  if (s >= end || end - s > 19) return -1;
  uint64_t x = 0;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9') return -1;
    x = x * 10 + (uint64_t)(*s - '0');
  }
  *v = x;
  return 0;
}

/* "A-B" exactly (both bounds), each number read by num: parse_u64 for the
 * signed `r` parameter, bk_http_parse_dec for the Range header (numbers of
 * any length, saturating, so a huge B is "outside the signed range", not
 * malformed, and nothing wraps). */
static int parse_pair(const char *s, int (*num)(const char *, const char *, uint64_t *),
                      uint64_t *a, uint64_t *b) {
  const char *d = strchr(s, '-');
  if (!d) return -1;
  return num(s, d, a) || num(d + 1, d + 1 + strlen(d + 1), b) || *b < *a ? -1 : 0;
}

/* The reader-backed range response: bytes [a, b] of the xorb streamed from
 * the service's reader in blocks of at most the stream's buffer
 * (libmicrohttpd's 256 KiB), the reader closed when the response is freed.
 * A read that fails (the blob vanished or changed mid-stream) aborts the
 * connection: the client sees a short body, never other bytes. */
struct range_stream {
  bk_svc_xorb_reader *rd;
  uint64_t a;   /* first byte of the range in the xorb */
};

static ssize_t range_read(void *cls, uint64_t pos, char *buf, size_t max) {
  struct range_stream *r = cls;
  ssize_t n = bk_svc_xorb_reader_read(r->rd, r->a + pos, buf, max);
  if (n > 0) return n;
  if (n == 0) return BK_HTTP_STREAM_END;
  fprintf(stderr, "bucketd: xorb range: %s\n", bk_errmsg());
  return BK_HTTP_STREAM_ERROR;
}

static void range_free(void *cls) {
  struct range_stream *r = cls;
  bk_svc_xorb_reader_close(r->rd);
  free(r);
}

static int reply_reader(struct bk_http_req *req, bk_svc_xorb_reader *rd, uint64_t a, uint64_t b) {
  struct range_stream *r = malloc(sizeof *r);
  if (!r) {
    bk_svc_xorb_reader_close(rd);
    return cas_reply_store_error(req, bk_seterr(BK_ENOMEM, "out of memory"), "xorb range");
  }
  r->rd = rd;
  r->a = a;
  bk_svc_xorb_reader_bound(rd, b + 1);
  bk_http_reply_stream(req, 206, "application/octet-stream", b - a + 1, range_read, r,
                       range_free);
  return 1;
}

int cas_get_xorb_range(struct bk_server *srv, struct bk_http_req *req, const char *seg) {
  bk_hash xh;
  if (!cas_path_hash(req, seg, &xh)) return 1;
  const char *r = bk_http_param(req, "r"), *ex = bk_http_param(req, "exp"),
             *sig = bk_http_param(req, "sig"), *region = bk_http_param(req, "region");
  uint64_t ss, se, expu;
  if (!r || !ex || !sig || parse_pair(r, parse_u64, &ss, &se) || parse_u64(ex, ex + strlen(ex), &expu) ||
      expu > INT64_MAX)
    return bk_http_error(req, 403, "Forbidden", "malformed signed URL"), 1;
  if (region && !bk_region_name_valid(region))
    return bk_http_error(req, 403, "Forbidden", "malformed signed URL"), 1;
  if (cas_url_verify(srv, &xh, region, ss, se, (int64_t)expu, sig, bk_now_s()) != 0)
    return bk_http_error(req, 403, "Forbidden", "%s", bk_errmsg()), 1;

  const char *rh = bk_http_header(req, "Range");
  uint64_t a, b;
  if (!rh) return bk_http_error(req, 403, "Forbidden", "a Range header (as signed) is required"), 1;
  while (*rh == ' ') rh++;
  if (strncmp(rh, "bytes=", 6) != 0 || parse_pair(rh + 6, bk_http_parse_dec, &a, &b))
    return bk_http_error(req, 403, "Forbidden", "Range must be a single bytes=S-E range"), 1;
  if (a < ss || b > se)
    return bk_http_error(req, 403, "Forbidden", "requested range is outside the signed range"), 1;

  /* Served bytes must verify (the service re-verifies the xorb unless that
   * was done within --reverify-after and its file is unchanged; a damaged
   * one is marked and refused). The bytes then go out zero-copy from the
   * file, or, from a store without local files, streamed from its reader. */
  int fd = -1;
  bk_svc_xorb_reader *rd = NULL;
  uint64_t size = 0;
  int rc = bk_svc_xorb_open_range(srv->svc, &xh, region, &fd, &rd, &size);
  if (rc == BK_EHASH) return reply_damaged(req, &xh);
  if (rc == BK_ENOTFOUND) return bk_http_error(req, 404, "NotFound", "xorb not found"), 1;
  if (rc != 0) return cas_reply_store_error(req, rc, "xorb range");
  if (b >= size) {
    if (fd >= 0) close(fd);
    bk_svc_xorb_reader_close(rd);
    bk_http_add_headerf(req, "Content-Range", "bytes */%" PRIu64, size);
    return bk_http_error(req, 416, "RangeNotSatisfiable", "range past the end of the xorb"), 1;
  }
  bk_http_add_headerf(req, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, size);
  bk_http_add_header(req, "Accept-Ranges", "bytes");
  if (fd >= 0) {
    bk_http_reply_fd(req, 206, "application/octet-stream", fd, a, b - a + 1);
    return 1;
  }
  return reply_reader(req, rd, a, b);
}
