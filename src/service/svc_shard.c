/* buckets storage service — put a shard (service.h).
 *
 * The shard is parsed (with or without footer), then every file is
 * re-derived from the stored chunk tables: each term's chunks must exist
 * (and their xorb verify), their lengths must add up to the declared
 * unpacked bytes, their verification range hash must match, and the merkle
 * file hash over all chunks must equal the declared file hash. The
 * xorb-info section must agree with the stored xorbs. Only after all of
 * that is the shard blob stored and registered (one db transaction).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "buckets/merkle.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"

/* Small cache of chunk tables, so a xorb used by many terms is read once. */
typedef struct xcache_ent {
  bk_hash xorb;
  uint32_t n;
  bk_xorb_chunk *chunks;
} xcache_ent;

typedef struct xcache {
  xcache_ent *e;
  size_t n, cap;
  size_t total_chunks;
  bk_svc *svc;        /* every xorb is checked (svc_xorb_check) when loaded */
  int64_t max_age_ms;
} xcache;

#define XCACHE_MAX_CHUNKS (1u << 20) /* ~56 MB of chunk rows per request at most */

static void xcache_free(xcache *c) {
  for (size_t i = 0; i < c->n; i++) free(c->e[i].chunks);
  free(c->e);
  c->e = NULL;
  c->n = c->cap = c->total_chunks = 0;
}

/* Chunk table of a stored xorb. BK_ENOTFOUND when the xorb is unknown,
 * BK_EHASH when it is damaged (a new shard may not reference it: the stored
 * blob is verified unless that was done recently and it is unchanged). The
 * returned entry is valid until the next call. */
/* The cached entry of xorb (checked when it was loaded), or NULL. */
static const xcache_ent *xcache_find(const xcache *c, const bk_hash *xorb) {
  for (size_t i = c->n; i > 0; i--)
    if (bk_hash_eq(&c->e[i - 1].xorb, xorb)) return &c->e[i - 1];
  return NULL;
}

static int xcache_get(bk_db *db, xcache *c, const bk_hash *xorb, const xcache_ent **out) {
  if ((*out = xcache_find(c, xorb)) != NULL) return 0;
  bk_xorb_info info;
  int rc = bk_db_xorb_get(db, xorb, &info);
  if (rc != 0) return rc;
  if (c->svc && (rc = svc_xorb_check(c->svc, xorb, c->max_age_ms)) != 0) return rc;
  if (info.nchunks == 0 || info.nchunks > BK_XORB_MAX_CHUNKS)
    return bk_seterr(BK_EFORMAT, "stored xorb has %u chunks", info.nchunks);
  if (c->total_chunks + info.nchunks > XCACHE_MAX_CHUNKS) {
    /* bounded memory: start over (callers hold no entry across calls) */
    for (size_t i = 0; i < c->n; i++) free(c->e[i].chunks);
    c->n = 0;
    c->total_chunks = 0;
  }
  xcache_ent *ne = bk_grow(c->e, c->n, &c->cap, sizeof *ne, 16, 0);
  if (!ne) return bk_seterr(BK_ENOMEM, "out of memory");
  c->e = ne;
  xcache_ent *e = &c->e[c->n];
  e->xorb = *xorb;
  e->n = info.nchunks;
  e->chunks = malloc((size_t)info.nchunks * sizeof *e->chunks);
  if (!e->chunks) return bk_seterr(BK_ENOMEM, "out of memory");
  rc = bk_db_xorb_chunks(db, xorb, 0, info.nchunks, e->chunks);
  if (rc != 0) {
    free(e->chunks);
    return rc;
  }
  c->n++;
  c->total_chunks += info.nchunks;
  *out = e;
  return 0;
}

typedef bk_svc_shard_err shard_err;

static int fail(shard_err *e, bk_svc_shard_fault fault, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(shard_err *e, bk_svc_shard_fault fault, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->fault = fault;
  e->rc = 0;
  return -1;
}

/* A storage error: the caller maps rc (disk full, storage error, or a
 * refusal with the store's message). */
static int fail_store(shard_err *e, int rc, const char *what) {
  if (rc == BK_ENOSPC)
    fail(e, BK_SVC_SHARD_STORE,
         "%s: the server's disk is full, nothing was stored; retry when space has been freed",
         what);
  else if (rc == BK_EDB || rc == BK_EIO || rc == BK_ENOMEM)
    fail(e, BK_SVC_SHARD_STORE, "%s: storage error", what);
  else
    fail(e, BK_SVC_SHARD_STORE, "%s: %s", what, bk_errmsg());
  e->rc = rc;
  return -1;
}

static int fail_missing(shard_err *e, const bk_hash *x, const char *where) {
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(x, hx);
  return fail(e, BK_SVC_SHARD_XORB_MISSING, "%s references xorb %s, which was not uploaded", where, hx);
}

/* The client (hf) reads the xorb hash after "damaged xorb " in the message
 * (docs/cas.md): keep that wording. */
static int fail_damaged(shard_err *e, const bk_hash *x, const char *where) {
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(x, hx);
  return fail(e, BK_SVC_SHARD_XORB_DAMAGED,
              "%s references damaged xorb %s: its stored copy no longer verifies; upload those "
              "chunks again (in a new xorb, or POST the xorb's bytes to repair it)",
              where, hx);
}

/* Maps an xcache_get failure. */
static int fail_xorb(shard_err *e, int rc, const bk_hash *x, const char *where) {
  if (rc == BK_ENOTFOUND) return fail_missing(e, x, where);
  if (rc == BK_EHASH) return fail_damaged(e, x, where);
  return fail_store(e, rc, "loading xorb chunks");
}

/* Re-derives one file from the stored chunk tables. */
static int verify_file(bk_db *db, xcache *xc, const bk_shard_file *f, size_t fi,
                       shard_err *e) {
  char fh[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&f->file_hash, fh);
  if (f->nterms == 0) {
    if (!bk_hash_is_zero(&f->file_hash))
      return fail(e, BK_SVC_SHARD_FILE_HASH, "file %s has no terms but a non-empty hash", fh);
    return 0;
  }
  bk_merkle *m = NULL;
  if (bk_merkle_new(&m) != 0) return fail(e, BK_SVC_SHARD_NOMEM, "out of memory");
  int verify = (f->flags & BK_SHARD_FILE_VERIFY) != 0;
  bk_hash *tmp = NULL;
  int ret = 0;
  for (uint32_t t = 0; t < f->nterms && ret == 0; t++) {
    const bk_shard_term *term = &f->terms[t];
    const xcache_ent *x = NULL;
    int rc = xcache_get(db, xc, &term->xorb_hash, &x);
    if (rc != 0) {
      ret = fail_xorb(e, rc, &term->xorb_hash, "a file term");
      break;
    }
    if (term->chunk_start >= term->chunk_end || term->chunk_end > x->n) {
      ret = fail(e, BK_SVC_SHARD_INVALID,
                 "file %s term %u: chunk range [%u, %u) is not inside its xorb (%u chunks)", fh, t,
                 term->chunk_start, term->chunk_end, x->n);
      break;
    }
    uint64_t sum = 0;
    uint32_t n = term->chunk_end - term->chunk_start;
    for (uint32_t k = term->chunk_start; k < term->chunk_end; k++) {
      sum += x->chunks[k].unpacked_len;
      if (bk_merkle_push(m, &x->chunks[k].hash, x->chunks[k].unpacked_len) != 0) {
        ret = fail(e, BK_SVC_SHARD_NOMEM, "out of memory");
        break;
      }
    }
    if (ret) break;
    if (sum != term->unpacked_bytes) {
      ret = fail(e, BK_SVC_SHARD_INVALID,
                 "file %s term %u declares %u unpacked bytes but its chunks hold %" PRIu64, fh, t,
                 term->unpacked_bytes, sum);
      break;
    }
    if (verify) {
      bk_hash *nt = realloc(tmp, (size_t)n * sizeof *nt);
      if (!nt) {
        ret = fail(e, BK_SVC_SHARD_NOMEM, "out of memory");
        break;
      }
      tmp = nt;
      for (uint32_t k = 0; k < n; k++) tmp[k] = x->chunks[term->chunk_start + k].hash;
      bk_hash rh;
      bk_range_hash(tmp, n, &rh);
      if (!bk_hash_eq(&rh, &term->range_hash)) {
        ret = fail(e, BK_SVC_SHARD_RANGE_HASH,
                   "file %s term %u: verification range hash does not match the stored chunks",
                   fh, t);
        break;
      }
    }
  }
  free(tmp);
  if (ret == 0) {
    bk_hash root, got;
    if (bk_merkle_finish(m, &root) != 0) {
      ret = fail(e, BK_SVC_SHARD_NOMEM, "out of memory");
    } else {
      bk_file_hash_from_root(&root, 1, NULL, &got);
      if (!bk_hash_eq(&got, &f->file_hash)) {
        char gh[BK_HASH_HEX_LEN + 1];
        bk_hash_to_hex(&got, gh);
        ret = fail(e, BK_SVC_SHARD_FILE_HASH,
                   "file %zu declares hash %s but its terms reconstruct %s", fi, fh, gh);
      }
    }
  }
  bk_merkle_free(m);
  return ret;
}

/* The xorb-info section must describe stored xorbs exactly (chunk hashes,
 * offsets and lengths; the byte totals are informational and not checked). */
static int verify_xorb_info(bk_db *db, xcache *xc, const bk_shard_xorb *sx, shard_err *e) {
  const xcache_ent *x = NULL;
  int rc = xcache_get(db, xc, &sx->xorb_hash, &x);
  if (rc != 0) return fail_xorb(e, rc, &sx->xorb_hash, "the xorb-info section");
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&sx->xorb_hash, hx);
  if (sx->nchunks != x->n)
    return fail(e, BK_SVC_SHARD_INVALID, "xorb-info for %s lists %u chunks, the xorb has %u", hx,
                sx->nchunks, x->n);
  for (uint32_t k = 0; k < x->n; k++) {
    const bk_shard_chunk *a = &sx->chunks[k];
    const bk_xorb_chunk *b = &x->chunks[k];
    if (!bk_hash_eq(&a->hash, &b->hash) || a->len != b->unpacked_len ||
        a->byte_start != b->unpacked_offset)
      return fail(e, BK_SVC_SHARD_INVALID, "xorb-info for %s: chunk %u does not match the xorb",
                  hx, k);
  }
  return 0;
}

/* A file of the shard that is registered already keeps its stored
 * reconstruction unless that uses a damaged xorb (then the shard's terms
 * replace it, bk_db_shard_register). Check the xorbs of the stored one first
 * so that damage nobody has read yet is found (and marked) here: a re-upload
 * of the original file then repairs it even when its chunks now live in
 * other xorbs. Errors only leave the marks as they are. */
static void check_stored_files(bk_svc *svc, const xcache *xc, const bk_shard *s) {
  for (uint32_t i = 0; i < s->nfiles; i++) {
    bk_file_term *t = NULL;
    size_t nt = 0;
    if (s->files[i].nterms == 0 || bk_db_cas_file_terms(svc->db, &s->files[i].file_hash, &t, &nt))
      continue;
    for (size_t k = 0; k < nt; k++) {
      if (k > 0 && bk_hash_eq(&t[k].xorb, &t[k - 1].xorb)) continue;
      if (xcache_find(xc, &t[k].xorb)) continue; /* checked already by verify_shard */
      (void)svc_xorb_check(svc, &t[k].xorb, svc->reverify_ms);
    }
    free(t);
  }
  bk_clearerr();
}

static int verify_shard(bk_svc *svc, const bk_shard *s, shard_err *e) {
  bk_db *db = svc->db;
  xcache xc = {.svc = svc, .max_age_ms = svc->reverify_ms};
  int ret = 0;
  for (uint32_t i = 0; i < s->nxorbs && ret == 0; i++)
    ret = verify_xorb_info(db, &xc, &s->xorbs[i], e);
  for (uint32_t i = 0; i < s->nfiles && ret == 0; i++)
    ret = verify_file(db, &xc, &s->files[i], i, e);
  if (ret == 0) check_stored_files(svc, &xc, s);
  xcache_free(&xc);
  return ret;
}

int bk_svc_shard_put(bk_svc *svc, const uint8_t *body, size_t len, int64_t bucket_id,
                     int *existed, uint32_t *nfiles, bk_svc_shard_err *e) {
  *existed = 0;
  *nfiles = 0;
  if (len == 0) return fail(e, BK_SVC_SHARD_INVALID, "empty shard body");
  bk_shard *s = NULL;
  int rc = bk_shard_parse(body, len, &s);
  if (rc != 0)
    return fail(e, BK_SVC_SHARD_INVALID, "shard rejected (%s): %s", bk_strerror(rc),
                bk_errmsg());
  *nfiles = s->nfiles;
  int ret = s->nfiles == 0 && s->nxorbs == 0
                ? fail(e, BK_SVC_SHARD_INVALID, "shard describes no file and no xorb")
                : verify_shard(svc, s, e);
  if (ret == 0) {
    bk_hash missing;
    rc = svc_shard_store(svc, body, len, s, bucket_id, &missing, existed);
    if (rc == BK_ENOTFOUND)
      ret = fail_missing(e, &missing, "the shard");
    else if (rc == BK_EHASH)
      ret = fail_damaged(e, &missing, "the shard");
    else if (rc != 0)
      ret = fail_store(e, rc, "registering shard");
  }
  bk_shard_free(s);
  return ret;
}
