/* buckets storage service — put a xorb, verified as it streams (service.h).
 *
 * Each body piece, as the caller hands it over (bk_svc_xorb_write):
 *   1. goes through the streaming verifier (bk_xorb_stream: every complete
 *      record is decoded and its chunk hash recomputed right away), and
 *   2. is written to a temp file of the blob store, whose writeback is
 *      started every 8 MiB, so the final flush only waits for the tail.
 * No body is held in memory (one record at most). A blob of that name and
 * exact size already stored is not written again (still fully verified):
 * instead each piece is compared with the stored bytes at its offset. The
 * first difference (a damaged blob, or another serialization of the same
 * size) switches to writing: the equal prefix is copied from the stored
 * blob, the rest comes from the body, and at the end the register decides
 * under the database write lock whether the stored blob is kept (it
 * verifies) or replaced (marked damaged, or it no longer verifies).
 * bk_svc_xorb_commit finishes the verification (xorb hash, footer) and only
 * then commits the temp file under the xorb hash (fsync, rename, fsync dir)
 * and registers the row and chunk table. Any failure leaves nothing behind:
 * the temp file is removed, also when the caller frees an unfinished put.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"

#define CMP_COPY_STEP (1u << 20)

struct bk_svc_xorb_put {
  bk_svc *svc;
  struct svc_place pl; /* where the blob goes (regions: the bucket's home region) */
  bk_hash want;
  int64_t bucket_id;   /* references the xorb once stored */
  bk_xorb_stream *verify;
  bk_blob_writer *w;   /* NULL when the blob is stored already, or after a failure */
  int present;         /* a blob of this name and size was stored at the start */
  bk_blob_reader *cmp; /* that blob, compared piece by piece while equal; else NULL */
  uint64_t cmp_off;    /* body bytes found equal to the stored blob so far */
  uint8_t *cmp_buf;
  size_t cmp_cap;
  uint64_t received;
  int verify_rc;       /* first verification failure (sticky in the stream too) */
  int store_rc;        /* first storage failure */
  char msg[400];
};

void bk_svc_xorb_free(bk_svc_xorb_put *u) {
  if (!u) return;
  bk_blob_writer_abort(u->w); /* NULL ok: committed writers are NULL here */
  bk_xorb_stream_free(u->verify);
  bk_blob_reader_close(u->cmp);
  free(u->cmp_buf);
  free(u);
}

/* Records the first failure (into *slot) and drops the temp file. */
static void upload_refuse(bk_svc_xorb_put *u, int *slot, int rc) {
  *slot = rc;
  snprintf(u->msg, sizeof u->msg, "%s", bk_errmsg());
  bk_blob_writer_abort(u->w);
  u->w = NULL;
}

/* Stops comparing: the body differs from the stored blob at u->cmp_off.
 * Opens a writer holding the equal prefix (copied from the stored blob). */
static int cmp_diverge(bk_svc_xorb_put *u) {
  bk_blob_reader *r = u->cmp;
  u->cmp = NULL;
  int rc = bk_blob_writer_open_as(u->pl.bs, BK_BLOB_XORB, &u->want, &u->w);
  uint8_t *buf = rc == 0 ? malloc(CMP_COPY_STEP) : NULL;
  if (rc == 0 && !buf) rc = bk_seterr(BK_ENOMEM, "out of memory");
  for (uint64_t off = 0; rc == 0 && off < u->cmp_off;) {
    size_t n = u->cmp_off - off < CMP_COPY_STEP ? (size_t)(u->cmp_off - off) : CMP_COPY_STEP;
    size_t got = 0;
    rc = bk_blob_reader_read_at(r, off, buf, n, &got);
    if (rc == 0 && got != n) rc = bk_seterr(BK_EIO, "stored xorb shrank while compared");
    if (rc == 0) rc = bk_blob_writer_write(u->w, buf, n);
    off += n;
  }
  free(buf);
  bk_blob_reader_close(r);
  return rc;
}

/* While present: 1 if data equals the stored blob at cmp_off (and advances),
 * 0 if not (then the writer holds the equal prefix), negative on error. */
static int cmp_piece(bk_svc_xorb_put *u, const uint8_t *data, size_t len) {
  if (len > u->cmp_cap) {
    uint8_t *nb = realloc(u->cmp_buf, len);
    if (!nb) return bk_seterr(BK_ENOMEM, "out of memory");
    u->cmp_buf = nb;
    u->cmp_cap = len;
  }
  size_t got = 0;
  int rr = bk_blob_reader_read_at(u->cmp, u->cmp_off, u->cmp_buf, len, &got);
  if (rr == 0 && got == len && memcmp(u->cmp_buf, data, len) == 0) {
    u->cmp_off += len;
    return 1;
  }
  int rc = cmp_diverge(u);
  return rc ? rc : 0;
}

int bk_svc_xorb_open(bk_svc *svc, const bk_hash *want, int64_t bucket_id, int64_t expected_len,
                     bk_svc_xorb_put **out) {
  *out = NULL;
  bk_svc_xorb_put *u = calloc(1, sizeof *u);
  if (!u) return bk_seterr(BK_ENOMEM, "out of memory");
  u->svc = svc;
  u->want = *want;
  u->bucket_id = bucket_id;
  int prc = svc_place(svc, bucket_id, want, &u->pl);
  if (prc) {
    bk_svc_xorb_free(u);
    return prc;
  }
  if (bk_xorb_stream_new(BK_XORB_ALLOW_FOOTER, &u->verify) != 0) {
    bk_svc_xorb_free(u);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  /* a blob of the announced size is not written again as long as the body
   * equals it (compared piece by piece, see cmp_piece) */
  bk_blob_reader *r = NULL;
  if (expected_len >= 0 && bk_blob_reader_open(u->pl.bs, BK_BLOB_XORB, want, &r) == 0) {
    if (bk_blob_reader_size(r) == (uint64_t)expected_len) {
      u->present = 1;
      u->cmp = r;
    } else {
      bk_blob_reader_close(r);
    }
  }
  if (!u->present) {
    int rc = bk_blob_writer_open_as(u->pl.bs, BK_BLOB_XORB, want, &u->w);
    if (rc) {
      bk_svc_xorb_free(u);
      return rc == BK_ENOSPC ? rc : BK_EIO;
    }
  }
  *out = u;
  return 0;
}

void bk_svc_xorb_write(bk_svc_xorb_put *u, const uint8_t *data, size_t len) {
  u->received += len;
  if (u->verify_rc || u->store_rc) return; /* refused already: discard the rest */
  int rc = bk_xorb_stream_feed(u->verify, data, len);
  if (rc) {
    upload_refuse(u, &u->verify_rc, rc);
    return;
  }
  if (u->cmp) {
    rc = cmp_piece(u, data, len);
    if (rc < 0) upload_refuse(u, &u->store_rc, rc);
    if (rc != 0) return;
  }
  if (!u->w) return;
  /* the writer starts writeback itself as the data grows (blob_fs.c) */
  rc = bk_blob_writer_write(u->w, data, len);
  if (rc) upload_refuse(u, &u->store_rc, rc);
}

int bk_svc_xorb_commit(bk_svc_xorb_put *u, int *inserted, int *verify_failed) {
  *inserted = 0;
  *verify_failed = 0;
  if (u->store_rc) return u->store_rc == BK_ENOSPC ? BK_ENOSPC : BK_EIO;
  bk_xorb *x = NULL;
  int rc = u->verify_rc ? u->verify_rc : bk_xorb_stream_finish(u->verify, &u->want, &x);
  if (rc != 0) {
    if (!u->verify_rc) snprintf(u->msg, sizeof u->msg, "%s", bk_errmsg());
    *verify_failed = 1;
    return bk_seterr(rc, "%s", u->msg);
  }
  /* verified: the stored blob now holds these bytes (committed, or found
   * byte-identical), unless a different stored blob must be judged by the
   * register (then the writer goes with it) */
  unsigned flags = BK_XORB_REG_VERIFIED;
  bk_blob_writer *pass = NULL;
  char tag[BK_BLOB_TAG_MAX] = "";
  if (u->w) {
    int ex = 0;
    snprintf(tag, sizeof tag, "%s", bk_blob_writer_tag(u->w));
    rc = bk_blob_writer_try_commit(u->w, &u->want, &ex);
    if (rc == 0 && ex == 1) pass = u->w; /* stored blob differs: the register decides */
    u->w = NULL;                         /* released (or handed over) */
    if (ex) flags = 0;
    if (ex) tag[0] = 0; /* not committed by this writer */
  }
  int existed_row = 0;
  /* our writer's blob (tagged): the register trusts its layout without
   * reading it back while the stored blob still carries the tag */
  if (rc == 0 && tag[0])
    rc = svc_xorb_register_mine(u->svc, &u->pl, &u->want, u->received, bk_xorb_chunks(x),
                                bk_xorb_count(x), tag, &existed_row);
  else if (rc == 0)
    rc = svc_xorb_register_at(u->svc, &u->pl, &u->want, u->received, bk_xorb_chunks(x),
                              bk_xorb_count(x), flags, pass, &existed_row);
  bk_xorb_free(x);
  if (rc != 0) return rc;
  /* the uploading bucket references the xorb: the namespace / bucket dedup
   * scopes find it for this bucket before its shard is registered */
  rc = bk_db_xorb_ref(u->svc->db, &u->want, u->bucket_id);
  if (rc != 0) return rc;
  *inserted = !existed_row;
  if (u->pl.region_id > 0) bk_svc_replicate_wake(u->svc); /* warm lists copy it */
  return 0;
}
