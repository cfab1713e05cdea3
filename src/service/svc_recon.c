/* buckets storage service — reconstructions and xorb ranges (service.h).
 *
 * A reconstruction lists the file's terms (trimmed to the requested byte
 * range) and, per xorb, fetch entries: the union of the chunk ranges the
 * terms need, with overlapping or adjacent ranges merged, each with its
 * record byte range. The caller turns them into its protocol (signed URLs).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/error.h"
#include "service/svc_internal.h"

typedef bk_svc_term rterm;
typedef bk_svc_fetch rfetch;

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
  if (ft->chunk_end <= ft->chunk_start) return bk_seterr(BK_EFORMAT, "empty stored term");
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

static int rterms_push(bk_svc_recon *l, const rterm *t) {
  rterm *nt = bk_grow(l->terms, l->nterms, &l->cap, sizeof *nt, 64, 0);
  if (!nt) return bk_seterr(BK_ENOMEM, "out of memory");
  l->terms = nt;
  l->terms[l->nterms++] = *t;
  return 0;
}

/* Appends the terms of file ft[0..nft) (size bytes) restricted to bytes
 * [s, e] to l; *offset_first = bytes to skip in the first appended term. */
int bk_svc_recon_add(bk_svc *svc, bk_svc_recon *l, const bk_file_term *ft, size_t nft,
                     uint64_t size, uint64_t s, uint64_t e, uint64_t *offset_first) {
  bk_db *db = svc->db;
  uint64_t pos = 0;
  size_t n0 = l->nterms;
  *offset_first = 0;
  for (size_t i = 0; size > 0 && i < nft; i++) {
    uint64_t tend = pos + ft[i].unpacked_bytes;
    if (tend <= s) {
      pos = tend;
      continue;
    }
    if (pos > e) break;
    rterm t;
    if (pos < s || tend - 1 > e) {
      uint64_t start = 0;
      int rc = trim_term(db, &ft[i], pos, s, e, &t, &start);
      if (rc != 0) return rc;
      if (l->nterms == n0) *offset_first = s > start ? s - start : 0;
    } else {
      t.xorb = ft[i].xorb;
      t.cs = ft[i].chunk_start;
      t.ce = ft[i].chunk_end;
      t.ulen = ft[i].unpacked_bytes;
    }
    int rc = rterms_push(l, &t);
    if (rc != 0) return rc;
    pos = tend;
  }
  return 0;
}

/* Fetch entries: per xorb, the union of the terms' chunk ranges (overlapping
 * or adjacent ranges merged), each with its record byte range. *fe is
 * malloc'd (sorted by xorb, then chunk). */
static int build_fetch(bk_db *db, const rterm *rt, size_t nrt, rfetch **out, size_t *nout) {
  size_t *idx = malloc((nrt ? nrt : 1) * sizeof *idx);
  rfetch *fe = calloc(nrt ? nrt : 1, sizeof *fe);
  size_t nfe = 0;
  if (!idx || !fe) {
    free(idx);
    free(fe);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < nrt; i++) idx[i] = i;
  qsort_r(idx, nrt, sizeof *idx, cmp_term_idx, (void *)rt);
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
  int rc = 0;
  for (size_t i = 0; i < nfe && rc == 0; i++) {
    uint64_t unp;
    rc = bk_db_xorb_range(db, &fe[i].xorb, fe[i].cs, fe[i].ce, &fe[i].bs, &fe[i].be, &unp);
  }
  if (rc != 0) {
    free(fe);
    return rc;
  }
  *out = fe;
  *nout = nfe;
  return 0;
}

int bk_svc_file_terms(bk_svc *svc, const bk_hash *fh, uint64_t *size, bk_file_term **ft,
                      size_t *nft) {
  bk_db *db = svc->db;
  bk_cas_file f;
  memset(&f, 0, sizeof f);
  *ft = NULL;
  *nft = 0;
  *size = 0;
  int rc = bk_db_cas_file_get(db, fh, &f);
  if (rc == BK_ENOTFOUND && bk_hash_is_zero(fh)) return 0;
  if (rc != 0) return rc;
  *size = f.size;
  return f.size > 0 ? bk_db_cas_file_terms(db, fh, ft, nft) : 0;
}

/* Every xorb the reconstruction fetches from must not be marked damaged,
 * and one whose file changed since its last verification is verified again
 * (max age unbounded here: the time-based re-read happens when ranges are
 * served). */
int bk_svc_recon_finish(bk_svc *svc, bk_svc_recon *r) {
  int rc = build_fetch(svc->db, r->terms, r->nterms, &r->fetch, &r->nfetch);
  if (rc != 0) return rc;
  for (size_t i = 0; i < r->nfetch; i++) {
    if (i > 0 && bk_hash_eq(&r->fetch[i - 1].xorb, &r->fetch[i].xorb)) continue;
    rc = svc_xorb_check(svc, &r->fetch[i].xorb, INT64_MAX);
    if (rc == BK_EHASH) r->damaged = r->fetch[i].xorb;
    if (rc != 0) return rc;
  }
  return 0;
}

void bk_svc_recon_free(bk_svc_recon *r) {
  free(r->terms);
  free(r->fetch);
  memset(r, 0, sizeof *r);
}

/* A xorb served from a store without local files: the reader of one version
 * and a window of its bytes (allocated on the first read, at most
 * BK_SVC_RANGE_WINDOW and never more than the bound asks for). */
struct bk_svc_xorb_reader {
  bk_blob_reader *r;
  uint64_t size, end;  /* end: reads stop here (exclusive) */
  uint8_t *win;
  size_t cap;
  uint64_t woff;       /* window holds bytes [woff, woff + wlen) */
  size_t wlen;
};

/* Served bytes must verify: unless the xorb was verified within the
 * reverify window and its file is unchanged since (one stat and one row
 * read), the whole xorb is verified first; a damaged one is marked and
 * refused. A store with local files hands out a private descriptor
 * (sendfile); any other store a reader (the response streams it). */
int bk_svc_xorb_open_range(bk_svc *svc, const bk_hash *xh, int *fd, bk_svc_xorb_reader **rd,
                           uint64_t *size) {
  *fd = -1;
  *rd = NULL;
  int rc = svc_xorb_check(svc, xh, svc->reverify_ms);
  if (rc != 0) return rc;
  bk_blob_reader *r = NULL;
  if ((rc = bk_blob_reader_open(svc->bs, BK_BLOB_XORB, xh, &r))) return rc;
  *size = bk_blob_reader_size(r);
  if (!(bk_blobstore_caps(svc->bs) & BK_BLOB_CAP_FD)) {
    bk_svc_xorb_reader *x = calloc(1, sizeof *x);
    if (!x) {
      bk_blob_reader_close(r);
      return bk_seterr(BK_ENOMEM, "out of memory");
    }
    x->r = r;
    x->size = x->end = *size;
    *rd = x;
    return 0;
  }
  int own = bk_blob_reader_fd(r);
  int dup = own >= 0 ? fcntl(own, F_DUPFD_CLOEXEC, 0) : -1;
  bk_blob_reader_close(r);
  if (dup < 0) return bk_seterr(BK_EIO, "cannot duplicate the xorb's descriptor");
  *fd = dup; /* stays valid even if gc later unlinks the blob */
  return 0;
}

void bk_svc_xorb_reader_bound(bk_svc_xorb_reader *x, uint64_t end) {
  x->end = end < x->size ? end : x->size;
}

/* Fills the window with the bytes at off (off < x->end). */
static int window_fill(bk_svc_xorb_reader *x, uint64_t off) {
  uint64_t want = x->end - off;
  if (want > BK_SVC_RANGE_WINDOW) want = BK_SVC_RANGE_WINDOW;
  if (!x->win || x->cap < want) {
    /* sized once by the first read: the whole range when it is smaller */
    uint64_t span = x->end - off > BK_SVC_RANGE_WINDOW ? BK_SVC_RANGE_WINDOW : x->end - off;
    uint8_t *w = realloc(x->win, (size_t)span);
    if (!w) return bk_seterr(BK_ENOMEM, "out of memory");
    x->win = w;
    x->cap = (size_t)span;
  }
  if (want > x->cap) want = x->cap;
  size_t got = 0;
  x->wlen = 0;
  int rc = bk_blob_reader_read_at(x->r, off, x->win, (size_t)want, &got);
  if (rc) return rc;
  if (got != want) /* the version we opened is shorter now: never serve other bytes */
    return bk_seterr(BK_EIO, "xorb changed while it was served");
  x->woff = off;
  x->wlen = got;
  return 0;
}

ssize_t bk_svc_xorb_reader_read(bk_svc_xorb_reader *x, uint64_t off, void *buf, size_t max) {
  if (off >= x->end || max == 0) return 0;
  if (off < x->woff || off >= x->woff + x->wlen) {
    int rc = window_fill(x, off);
    if (rc) return rc;
  }
  uint64_t avail = x->woff + x->wlen - off;
  size_t n = avail < max ? (size_t)avail : max;
  memcpy(buf, x->win + (off - x->woff), n);
  return (ssize_t)n;
}

void bk_svc_xorb_reader_close(bk_svc_xorb_reader *x) {
  if (!x) return;
  bk_blob_reader_close(x->r);
  free(x->win);
  free(x);
}

int bk_svc_xorb_presign(bk_svc *svc, const bk_hash *xh, uint64_t first, uint64_t last,
                        int64_t expires_at, char *url, size_t n) {
  if (!svc->direct_downloads)
    return bk_seterr(BK_ENOTSUP, "direct downloads are not enabled (--direct-downloads)");
  if (last < first) return bk_seterr(BK_EINVAL, "empty byte range");
  return bk_blob_presign(svc->bs, BK_BLOB_XORB, xh, first, last - first + 1, expires_at, url, n);
}

int bk_svc_direct_downloads(const bk_svc *svc) { return svc->direct_downloads; }
