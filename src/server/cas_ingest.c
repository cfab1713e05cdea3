/* CAS ingest: POST /v1|v2/shards (xorbs stream through cas_xorb.c).
 *
 * Shards: parsed (with or without footer), then every file is re-derived
 * from the stored chunk tables: each term's chunks must exist, their lengths
 * must add up to the declared unpacked bytes, their verification range hash
 * must match, and the merkle file hash over all chunks must equal the
 * declared file hash. The xorb-info section must agree with the stored xorbs.
 * Only after all of that is the shard blob stored and registered (one db
 * transaction). v2 answers NDJSON progress frames (see docs/cas.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/blobstore.h"
#include "buckets/buf.h"
#include "buckets/db.h"
#include "buckets/error.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "server/cas_internal.h"
#include "server/http.h"
#include "server/server.h"

/* ----------------------------------------------------------------- shards */

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
  bk_blobstore *bs;   /* every xorb is checked (bk_db_xorb_check) when loaded */
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
  if (c->bs && (rc = bk_db_xorb_check(db, c->bs, xorb, c->max_age_ms)) != 0) return rc;
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

/* Verification failure details for the reply. */
typedef struct shard_err {
  int status; /* 400 or 5xx */
  const char *code;
  char msg[512];
} shard_err;

static int fail(shard_err *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(shard_err *e, int status, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->status = status;
  e->code = code;
  return -1;
}

static int fail_store(shard_err *e, int rc, const char *what) {
  if (rc == BK_ENOSPC)
    return fail(e, 507, "InsufficientStorage",
                "%s: the server's disk is full, nothing was stored; retry when space has been "
                "freed", what);
  if (rc == BK_EDB || rc == BK_EIO || rc == BK_ENOMEM)
    return fail(e, bk_http_status(rc), "InternalError", "%s: storage error", what);
  return fail(e, 400, "InvalidShard", "%s: %s", what, bk_errmsg());
}

static int fail_missing(shard_err *e, const bk_hash *x, const char *where) {
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(x, hx);
  return fail(e, 400, "XorbNotFound", "%s references xorb %s, which was not uploaded", where, hx);
}

/* The client (hf) reads the xorb hash after "damaged xorb " in the message
 * (docs/cas.md): keep that wording. */
static int fail_damaged(shard_err *e, const bk_hash *x, const char *where) {
  char hx[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(x, hx);
  return fail(e, 400, "XorbDamaged",
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
      return fail(e, 400, "FileHashMismatch", "file %s has no terms but a non-empty hash", fh);
    return 0;
  }
  bk_merkle *m = NULL;
  if (bk_merkle_new(&m) != 0) return fail(e, 503, "InternalError", "out of memory");
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
      ret = fail(e, 400, "InvalidShard",
                 "file %s term %u: chunk range [%u, %u) is not inside its xorb (%u chunks)", fh, t,
                 term->chunk_start, term->chunk_end, x->n);
      break;
    }
    uint64_t sum = 0;
    uint32_t n = term->chunk_end - term->chunk_start;
    for (uint32_t k = term->chunk_start; k < term->chunk_end; k++) {
      sum += x->chunks[k].unpacked_len;
      if (bk_merkle_push(m, &x->chunks[k].hash, x->chunks[k].unpacked_len) != 0) {
        ret = fail(e, 503, "InternalError", "out of memory");
        break;
      }
    }
    if (ret) break;
    if (sum != term->unpacked_bytes) {
      ret = fail(e, 400, "InvalidShard",
                 "file %s term %u declares %u unpacked bytes but its chunks hold %" PRIu64, fh, t,
                 term->unpacked_bytes, sum);
      break;
    }
    if (verify) {
      bk_hash *nt = realloc(tmp, (size_t)n * sizeof *nt);
      if (!nt) {
        ret = fail(e, 503, "InternalError", "out of memory");
        break;
      }
      tmp = nt;
      for (uint32_t k = 0; k < n; k++) tmp[k] = x->chunks[term->chunk_start + k].hash;
      bk_hash rh;
      bk_range_hash(tmp, n, &rh);
      if (!bk_hash_eq(&rh, &term->range_hash)) {
        ret = fail(e, 400, "RangeHashMismatch",
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
      ret = fail(e, 503, "InternalError", "out of memory");
    } else {
      bk_file_hash_from_root(&root, 1, NULL, &got);
      if (!bk_hash_eq(&got, &f->file_hash)) {
        char gh[BK_HASH_HEX_LEN + 1];
        bk_hash_to_hex(&got, gh);
        ret = fail(e, 400, "FileHashMismatch",
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
    return fail(e, 400, "InvalidShard", "xorb-info for %s lists %u chunks, the xorb has %u", hx,
                sx->nchunks, x->n);
  for (uint32_t k = 0; k < x->n; k++) {
    const bk_shard_chunk *a = &sx->chunks[k];
    const bk_xorb_chunk *b = &x->chunks[k];
    if (!bk_hash_eq(&a->hash, &b->hash) || a->len != b->unpacked_len ||
        a->byte_start != b->unpacked_offset)
      return fail(e, 400, "InvalidShard", "xorb-info for %s: chunk %u does not match the xorb",
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
static void check_stored_files(struct bk_server *srv, const xcache *xc, const bk_shard *s) {
  for (uint32_t i = 0; i < s->nfiles; i++) {
    bk_file_term *t = NULL;
    size_t nt = 0;
    if (s->files[i].nterms == 0 || bk_db_cas_file_terms(srv->db, &s->files[i].file_hash, &t, &nt))
      continue;
    for (size_t k = 0; k < nt; k++) {
      if (k > 0 && bk_hash_eq(&t[k].xorb, &t[k - 1].xorb)) continue;
      if (xcache_find(xc, &t[k].xorb)) continue; /* checked already by verify_shard */
      (void)bk_db_xorb_check(srv->db, srv->blobs, &t[k].xorb, srv->reverify_ms);
    }
    free(t);
  }
  bk_clearerr();
}

static int verify_shard(struct bk_server *srv, const bk_shard *s, shard_err *e) {
  bk_db *db = srv->db;
  xcache xc = {.bs = srv->blobs, .max_age_ms = srv->reverify_ms};
  int ret = 0;
  for (uint32_t i = 0; i < s->nxorbs && ret == 0; i++)
    ret = verify_xorb_info(db, &xc, &s->xorbs[i], e);
  for (uint32_t i = 0; i < s->nfiles && ret == 0; i++)
    ret = verify_file(db, &xc, &s->files[i], i, e);
  if (ret == 0) check_stored_files(srv, &xc, s);
  xcache_free(&xc);
  return ret;
}

/* The shard blob named sh is stored already: if its bytes are not body's
 * (damaged), replace it durably. */
static int heal_shard_blob(struct bk_server *srv, const bk_hash *sh, const bk_buf *body) {
  bk_buf b;
  bk_buf_init(&b, body->len);
  int rc = bk_blob_get(srv->blobs, BK_BLOB_SHARD, sh, body->len, &b);
  int same = rc == 0 && b.len == body->len && memcmp(b.p, body->p, b.len) == 0;
  bk_buf_free(&b);
  if (rc == BK_ENOMEM) return rc;
  if (same) return 0;
  return bk_blob_replace(srv->blobs, BK_BLOB_SHARD, sh, body->p, body->len);
}

/* Parse, verify, store, register. Returns 0 with *existed, or -1 with e. */
static int ingest_shard(struct bk_server *srv, struct bk_http_req *req,
                        const struct cas_claims *c, int *existed, uint32_t *nfiles,
                        shard_err *e) {
  bk_shard *s = NULL;
  int rc = bk_shard_parse(req->body.p, req->body.len, &s);
  if (rc != 0)
    return fail(e, 400, "InvalidShard", "shard rejected (%s): %s", bk_strerror(rc), bk_errmsg());
  *nfiles = s->nfiles;
  int ret = s->nfiles == 0 && s->nxorbs == 0
                ? fail(e, 400, "InvalidShard", "shard describes no file and no xorb")
                : verify_shard(srv, s, e);
  if (ret == 0) {
    bk_hash sh;
    bk_blake3(req->body.p, req->body.len, sh.b);
    bk_hash missing;
    int blob_existed = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
      rc = bk_blob_put(srv->blobs, BK_BLOB_SHARD, &sh, req->body.p, req->body.len, &blob_existed);
      /* a stored shard of this name must be these very bytes (its name is
       * their hash): one that differs is damaged and is replaced */
      if (rc == 0 && blob_existed) rc = heal_shard_blob(srv, &sh, &req->body);
      if (rc != 0) break;
      /* the registration checks the blob under the write lock: a concurrent gc
       * that removed it as an orphan (no row yet) answers BK_ESTALE: put again */
      rc = bk_db_shard_register_ex(srv->db, srv->blobs, &sh, req->body.len, s, c->bucket_id,
                                   &missing, existed);
      if (rc != BK_ENOTFOUND && rc != BK_ESTALE) break;
      /* or a xorb vanished between verification and registration (gc race):
       * the retry re-checks; a further miss is reported */
    }
    if (rc == BK_ESTALE) rc = bk_seterr(BK_EIO, "shard blob keeps vanishing (concurrent gc)");
    if (rc == 0 && blob_existed) rc = bk_db_shard_set_damaged(srv->db, &sh, 0);
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

int cas_post_shard(struct bk_server *srv, struct bk_http_req *req, int v2) {
  struct cas_claims c;
  if (!cas_auth(srv, req, 1, &c)) return 1;
  shard_err e = {0};
  int existed = 0;
  uint32_t nfiles = 0;
  int ret = req->body.len == 0 ? fail(&e, 400, "InvalidShard", "empty shard body")
                               : ingest_shard(srv, req, &c, &existed, &nfiles, &e);
  if (!v2) {
    if (ret != 0 && e.status == 503)
      bk_http_add_headerf(req, "Retry-After", "%d", BK_HTTP_RETRY_AFTER_S);
    if (ret != 0) return bk_http_error(req, e.status, e.code, "%s", e.msg), 1;
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
                        e.status >= 500 ? "true" : "false");
    bk_http_add_header(req, "X-Error-Code", e.code);
  }
  if (rc != 0) {
    bk_buf_free(&out);
    return bk_http_error(req, 503, "InternalError", "out of memory"), 1;
  }
  bk_http_reply_buf(req, 200, "application/x-ndjson", &out);
  bk_buf_free(&out);
  return 1;
}
