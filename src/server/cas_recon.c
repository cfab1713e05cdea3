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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/blobstore.h"
#include "buckets/db.h"
#include "buckets/error.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/server.h"

#define RECON_JSON_MAX (256u << 20)

typedef struct rterm {
  bk_hash xorb;
  uint32_t cs, ce;
  uint64_t ulen;
} rterm;

typedef struct rfetch {
  bk_hash xorb;
  uint32_t cs, ce;
  uint64_t bs, be;
} rfetch;

static int cmp_term_idx(const void *a, const void *b, void *ctx) {
  const rterm *t = ctx;
  const rterm *x = &t[*(const size_t *)a], *y = &t[*(const size_t *)b];
  int c = memcmp(x->xorb.b, y->xorb.b, BK_HASH_LEN);
  if (c) return c;
  if (x->cs != y->cs) return x->cs < y->cs ? -1 : 1;
  return 0;
}

/* Trims term [pos, pos+len) of the file to the byte range [s, e]. */
static int trim_term(bk_db *db, const bk_file_term *ft, uint64_t pos, uint64_t s, uint64_t e,
                     rterm *out, uint64_t *first_start) {
  uint32_t n = ft->chunk_end - ft->chunk_start;
  bk_xorb_chunk *ch = malloc((size_t)n * sizeof *ch);
  if (!ch) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = bk_db_xorb_chunks(db, &ft->xorb, ft->chunk_start, ft->chunk_end, ch);
  if (rc != 0) {
    free(ch);
    return rc;
  }
  uint32_t k = 0;
  uint64_t cpos = pos;
  while (k < n && cpos + ch[k].unpacked_len <= s) cpos += ch[k++].unpacked_len;
  uint64_t start = cpos;
  uint32_t kk = k;
  while (kk < n && cpos <= e) cpos += ch[kk++].unpacked_len;
  free(ch);
  if (k >= n || kk <= k) return bk_seterr(BK_EFORMAT, "term chunks do not cover the range");
  out->xorb = ft->xorb;
  out->cs = ft->chunk_start + k;
  out->ce = ft->chunk_start + kk;
  out->ulen = cpos - start;
  *first_start = start;
  return 0;
}

static int put_hash_key(bk_buf *b, const bk_hash *h) {
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hx);
  return bk_buf_printf(b, "\"%s\"", hx);
}

int cas_get_reconstruction(struct bk_server *srv, struct bk_http_req *req, const char *seg,
                           int v2) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 0, &c)) return 1;
  bk_hash fh;
  if (!cas_path_hash(req, seg, &fh)) return 1;

  bk_cas_file f;
  memset(&f, 0, sizeof f);
  int rc = bk_db_cas_file_get(srv->db, &fh, &f);
  if (rc == BK_ENOTFOUND && !bk_hash_is_zero(&fh))
    return bk_http_error(req, 404, "FileNotFound", "no such file in CAS"), 1;
  if (rc != 0 && rc != BK_ENOTFOUND) return cas_reply_store_error(req, rc, "reconstruction");
  rc = 0; /* the unregistered empty file is served as size 0 */

  bk_file_term *ft = NULL;
  size_t nft = 0;
  if (rc == 0 && f.size > 0) {
    rc = bk_db_cas_file_terms(srv->db, &fh, &ft, &nft);
    if (rc != 0) return cas_reply_store_error(req, rc, "reconstruction");
  }

  uint64_t s = 0, e = f.size ? f.size - 1 : 0;
  int r = bk_http_parse_range(bk_http_header(req, "Range"), f.size, &s, &e);
  if (r < 0) {
    free(ft);
    bk_http_add_headerf(req, "Content-Range", "bytes */%" PRIu64, f.size);
    return bk_http_error(req, 416, "RangeNotSatisfiable",
                         "range starts at or past the end of the file (%" PRIu64 " bytes)",
                         f.size),
           1;
  }

  /* terms */
  rterm *rt = calloc(nft ? nft : 1, sizeof *rt);
  size_t nrt = 0;
  uint64_t offset_first = 0;
  if (!rt) {
    free(ft);
    return bk_http_error(req, 503, "InternalError", "out of memory"), 1;
  }
  uint64_t pos = 0;
  for (size_t i = 0; f.size > 0 && i < nft; i++) {
    uint64_t tend = pos + ft[i].unpacked_bytes;
    if (tend <= s) {
      pos = tend;
      continue;
    }
    if (pos > e) break;
    if (pos < s || tend - 1 > e) {
      uint64_t start = 0;
      rc = trim_term(srv->db, &ft[i], pos, s, e, &rt[nrt], &start);
      if (rc != 0) break;
      if (nrt == 0) offset_first = s > start ? s - start : 0;
    } else {
      rt[nrt].xorb = ft[i].xorb;
      rt[nrt].cs = ft[i].chunk_start;
      rt[nrt].ce = ft[i].chunk_end;
      rt[nrt].ulen = ft[i].unpacked_bytes;
    }
    nrt++;
    pos = tend;
  }
  free(ft);
  if (rc != 0) {
    free(rt);
    return cas_reply_store_error(req, rc, "reconstruction");
  }

  /* fetch entries: per xorb, union of overlapping/adjacent chunk ranges */
  size_t *idx = malloc((nrt ? nrt : 1) * sizeof *idx);
  rfetch *fe = calloc(nrt ? nrt : 1, sizeof *fe);
  size_t nfe = 0;
  if (!idx || !fe) {
    free(idx);
    free(fe);
    free(rt);
    return bk_http_error(req, 503, "InternalError", "out of memory"), 1;
  }
  for (size_t i = 0; i < nrt; i++) idx[i] = i;
  qsort_r(idx, nrt, sizeof *idx, cmp_term_idx, rt);
  for (size_t i = 0; i < nrt; i++) {
    const rterm *t = &rt[idx[i]];
    if (nfe > 0 && bk_hash_eq(&fe[nfe - 1].xorb, &t->xorb) && t->cs <= fe[nfe - 1].ce) {
      if (t->ce > fe[nfe - 1].ce) fe[nfe - 1].ce = t->ce;
      continue;
    }
    fe[nfe].xorb = t->xorb;
    fe[nfe].cs = t->cs;
    fe[nfe].ce = t->ce;
    nfe++;
  }
  free(idx);
  for (size_t i = 0; i < nfe && rc == 0; i++) {
    uint64_t unp;
    rc = bk_db_xorb_range(srv->db, &fe[i].xorb, fe[i].cs, fe[i].ce, &fe[i].bs, &fe[i].be, &unp);
  }
  if (rc != 0) {
    free(fe);
    free(rt);
    return cas_reply_store_error(req, rc, "reconstruction");
  }

  /* JSON */
  int64_t exp = bk_now_s() + CAS_URL_TTL_S;
  bk_buf js;
  bk_buf_init(&js, RECON_JSON_MAX);
  rc = bk_buf_printf(&js, "{\"offset_into_first_range\":%" PRIu64 ",\"terms\":[", offset_first);
  for (size_t i = 0; i < nrt && rc == 0; i++) {
    rc = bk_buf_printf(&js, "%s{\"hash\":", i ? "," : "");
    if (rc == 0) rc = put_hash_key(&js, &rt[i].xorb);
    if (rc == 0)
      rc = bk_buf_printf(&js, ",\"unpacked_length\":%" PRIu64 ",\"range\":{\"start\":%u,\"end\":%u}}",
                         rt[i].ulen, rt[i].cs, rt[i].ce);
  }
  if (rc == 0) rc = bk_buf_printf(&js, "],\"%s\":{", v2 ? "xorbs" : "fetch_info");
  for (size_t i = 0; i < nfe && rc == 0; i++) {
    int first_of_xorb = i == 0 || !bk_hash_eq(&fe[i - 1].xorb, &fe[i].xorb);
    if (first_of_xorb) {
      if (i) rc = bk_buf_printf(&js, "],");
      if (rc == 0) rc = put_hash_key(&js, &fe[i].xorb);
      if (rc == 0) rc = bk_buf_printf(&js, ":[");
    } else {
      rc = bk_buf_printf(&js, ",");
    }
    if (rc == 0) rc = bk_buf_printf(&js, "{\"url\":\"");
    if (rc == 0) rc = cas_url_sign(srv, &fe[i].xorb, fe[i].bs, fe[i].be, exp, &js);
    if (rc != 0) break;
    if (v2)
      rc = bk_buf_printf(&js,
                         "\",\"ranges\":[{\"chunks\":{\"start\":%u,\"end\":%u},"
                         "\"bytes\":{\"start\":%" PRIu64 ",\"end\":%" PRIu64 "}}]}",
                         fe[i].cs, fe[i].ce, fe[i].bs, fe[i].be);
    else
      rc = bk_buf_printf(&js,
                         "\",\"range\":{\"start\":%u,\"end\":%u},"
                         "\"url_range\":{\"start\":%" PRIu64 ",\"end\":%" PRIu64 "}}",
                         fe[i].cs, fe[i].ce, fe[i].bs, fe[i].be);
  }
  if (rc == 0) rc = bk_buf_printf(&js, "%s}}", nfe ? "]" : "");
  free(fe);
  free(rt);
  if (rc != 0) {
    bk_buf_free(&js);
    return bk_http_error(req, 503, "InternalError", "reconstruction too large"), 1;
  }
  bk_http_add_header(req, "Cache-Control", "no-store");
  bk_http_reply_buf(req, 200, "application/json", &js);
  bk_buf_free(&js);
  return 1;
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

/* "A-B" exactly (both bounds). */
static int parse_pair(const char *s, uint64_t *a, uint64_t *b) {
  const char *d = strchr(s, '-');
  if (!d) return -1;
  return parse_u64(s, d, a) || parse_u64(d + 1, d + 1 + strlen(d + 1), b) || *b < *a ? -1 : 0;
}

int cas_get_xorb_range(struct bk_server *srv, struct bk_http_req *req, const char *seg) {
  bk_hash xh;
  if (!cas_path_hash(req, seg, &xh)) return 1;
  const char *r = bk_http_param(req, "r"), *ex = bk_http_param(req, "exp"),
             *sig = bk_http_param(req, "sig");
  uint64_t ss, se, expu;
  if (!r || !ex || !sig || parse_pair(r, &ss, &se) || parse_u64(ex, ex + strlen(ex), &expu) ||
      expu > INT64_MAX)
    return bk_http_error(req, 403, "Forbidden", "malformed signed URL"), 1;
  if (cas_url_verify(srv, &xh, ss, se, (int64_t)expu, sig, bk_now_s()) != 0)
    return bk_http_error(req, 403, "Forbidden", "%s", bk_errmsg()), 1;

  const char *rh = bk_http_header(req, "Range");
  uint64_t a, b;
  if (!rh) return bk_http_error(req, 403, "Forbidden", "a Range header (as signed) is required"), 1;
  while (*rh == ' ') rh++;
  if (strncmp(rh, "bytes=", 6) != 0 || parse_pair(rh + 6, &a, &b))
    return bk_http_error(req, 403, "Forbidden", "Range must be a single bytes=S-E range"), 1;
  if (a < ss || b > se)
    return bk_http_error(req, 403, "Forbidden", "requested range is outside the signed range"), 1;

  int fd = -1;
  uint64_t size = 0;
  int rc = bk_blob_open(srv->blobs, BK_BLOB_XORB, &xh, &fd, &size);
  if (rc == BK_ENOTFOUND) return bk_http_error(req, 404, "NotFound", "xorb not found"), 1;
  if (rc != 0) return cas_reply_store_error(req, rc, "xorb range");
  if (b >= size) {
    close(fd);
    bk_http_add_headerf(req, "Content-Range", "bytes */%" PRIu64, size);
    return bk_http_error(req, 416, "RangeNotSatisfiable", "range past the end of the xorb"), 1;
  }
  bk_http_add_headerf(req, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, size);
  bk_http_add_header(req, "Accept-Ranges", "bytes");
  bk_http_reply_fd(req, 206, "application/octet-stream", fd, a, b - a + 1);
  return 1;
}
