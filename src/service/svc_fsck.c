/* buckets storage service — fsck and scrub (service.h, docs/store.md
 * "Damaged blobs"). Findings are report lines to the caller's callback;
 * the only writes are damaged marks (and the scrub resume point). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/clock.h"
#include "buckets/error.h"
#include "buckets/merkle.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"

#define SCRUB_PAGE 256

struct fsck_ctx {
  bk_svc *s;
  int read_data;
  bk_svc_fsck_result r;
  int64_t started_s;
  bk_svc_line_cb cb;
  void *cb_ctx;
};

/* One report line to the caller. */
static void line(struct fsck_ctx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct fsck_ctx *f, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (f->cb) f->cb(f->cb_ctx, buf);
}

static void report(struct fsck_ctx *f, int damage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(struct fsck_ctx *f, int damage, const char *fmt, ...) {
  char buf[1800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  line(f, "%s: %s", damage ? "DAMAGE" : "warning", buf);
  if (damage) f->r.damage++;
  else f->r.warnings++;
}

static int db_msg(void *ctx, const char *msg) {
  report(ctx, 1, "database: %s", msg);
  return 0;
}

/* --read-data: the whole blob is verified (every chunk decoded and hashed,
 * the xorb hash, the chunk table against the row) by svc_xorb_check, which
 * records the outcome: a xorb that does not verify is MARKED damaged (the one
 * write fsck makes; docs/store.md), one that does is recorded as verified. */
static void check_xorb_data(struct fsck_ctx *f, const bk_xorb_info *x, const char *hex) {
  int rc = svc_xorb_check(f->s, &x->hash, -1);
  if (rc == BK_EHASH) {
    report(f, 1, "xorb %s: content does not verify (%s): %s", hex,
           x->damaged ? "still marked damaged" : "now marked damaged", bk_errmsg());
    f->r.marked += !x->damaged;
  } else if (rc) {
    report(f, 1, "xorb %s: cannot check: %s (%s)", hex, bk_errmsg(), bk_strerror(rc));
  } else if (x->damaged) {
    line(f, "repaired: xorb %s verifies again; its damaged mark was cleared", hex);
  }
}

/* --read-data: a file's hash is recomputed from the chunk hashes its terms
 * select (xet.md §2), and its size from the chunk lengths. */
static int fsck_file(void *ctx, const bk_cas_file *cf) {
  struct fsck_ctx *f = ctx;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&cf->hash, hex);
  f->r.files++;
  bk_file_term *t = NULL;
  size_t nt = 0;
  int rc = bk_db_cas_file_terms(f->s->db, &cf->hash, &t, &nt);
  if (rc) {
    report(f, 1, "file %s: terms unreadable: %s", hex, bk_errmsg());
    return 0;
  }
  size_t nleaves = 0, cap = 0;
  bk_merkle_leaf *leaves = NULL;
  uint64_t size = 0;
  int bad = 0;
  for (size_t i = 0; i < nt && !bad; i++) {
    uint32_t k = t[i].chunk_end - t[i].chunk_start;
    if (t[i].chunk_end <= t[i].chunk_start || k > BK_XORB_MAX_CHUNKS) { bad = 1; break; }
    if (nleaves + k > cap) {
      size_t nc = (nleaves + k) * 2;
      bk_merkle_leaf *nl = realloc(leaves, nc * sizeof *nl);
      if (!nl) { bad = 2; break; }
      leaves = nl;
      cap = nc;
    }
    bk_xorb_chunk *ch = calloc(k, sizeof *ch);
    if (!ch || bk_db_xorb_chunks(f->s->db, &t[i].xorb, t[i].chunk_start, t[i].chunk_end, ch)) {
      free(ch);
      bad = 1;
      break;
    }
    uint64_t tb = 0;
    for (uint32_t j = 0; j < k; j++) {
      leaves[nleaves].hash = ch[j].hash;
      leaves[nleaves].len = ch[j].unpacked_len;
      nleaves++;
      tb += ch[j].unpacked_len;
    }
    free(ch);
    if (tb != t[i].unpacked_bytes) bad = 3;
    size += tb;
  }
  bk_hash h;
  if (bad == 1) report(f, 1, "file %s: a term points outside its xorb", hex);
  else if (bad == 2) report(f, 0, "file %s: out of memory while checking", hex);
  else if (bad == 3) report(f, 1, "file %s: a term's length disagrees with its chunks", hex);
  else if (size != cf->size)
    report(f, 1, "file %s: chunks add up to %" PRIu64 " bytes, recorded %" PRIu64, hex, size,
           cf->size);
  else if (bk_file_hash(leaves, nleaves, NULL, &h) == 0 && !bk_hash_eq(&h, &cf->hash))
    report(f, 1, "file %s: hash of its chunks does not match", hex);
  free(leaves);
  free(t);
  return 0;
}

/* 1 if the blob of a row exists with the row's size; else reports the
 * damage and gives 0. */
static int blob_matches_row(struct fsck_ctx *f, bk_blob_kind kind, const bk_hash *h,
                            const char *hex, uint64_t want) {
  const char *name = bk_blob_kind_name(kind);
  uint64_t size;
  bk_blobstore *bs = f->s->bs; /* regions: a xorb's home copy (shards: the default) */
  int rc = kind == BK_BLOB_XORB ? svc_xorb_store(f->s, h, &bs) : 0;
  if (rc == 0) rc = bk_blob_stat(bs, kind, h, &size);
  if (rc == BK_ENOTFOUND) report(f, 1, "%s %s: blob missing", name, hex);
  else if (rc) report(f, 1, "%s %s: %s", name, hex, bk_errmsg());
  else if (size != want)
    report(f, 1, "%s %s: blob is %" PRIu64 " bytes, database says %" PRIu64, name, hex, size,
           want);
  return rc == 0 && size == want;
}

static int fsck_xorb(void *ctx, const bk_xorb_info *x) {
  struct fsck_ctx *f = ctx;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&x->hash, hex);
  f->r.xorbs++;
  if (x->damaged && !f->read_data)
    report(f, 1, "xorb %s: marked damaged (its stored copy did not verify)", hex);
  if (blob_matches_row(f, BK_BLOB_XORB, &x->hash, hex, x->bytes_on_disk) && f->read_data)
    check_xorb_data(f, x, hex);
  return 0;
}

static int fsck_shard(void *ctx, const bk_shard_info *si) {
  struct fsck_ctx *f = ctx;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&si->hash, hex);
  f->r.shards++;
  if (si->damaged && !f->read_data)
    report(f, 1, "shard %s: marked damaged (its stored copy did not verify)", hex);
  if (!blob_matches_row(f, BK_BLOB_SHARD, &si->hash, hex, si->size) || !f->read_data) return 0;
  int rc;
  bk_buf b;
  bk_buf_init(&b, (size_t)BK_SHARD_MAX_BYTES + (1u << 20));
  rc = bk_blob_get(f->s->bs, BK_BLOB_SHARD, &si->hash, b.max, &b);
  if (rc) {
    report(f, 1, "shard %s: cannot read: %s", hex, bk_errmsg());
  } else {
    /* Invariant (docs/store.md): a shard is named by the BLAKE3 of its
     * bytes. A blob that breaks it is one finding, whether or not it still
     * parses (a foreign name on a valid shard vs. corrupted bytes). */
    bk_hash h;
    bk_blake3(b.p, b.len, h.b);
    bk_shard *ps = NULL;
    int named_ok = bk_hash_eq(&h, &si->hash);
    rc = bk_shard_parse(b.p, b.len, &ps);
    char got[BK_HASH_HEX_LEN + 1];
    bk_hash_to_hex(&h, got);
    if (rc)
      report(f, 1, "shard %s: does not parse: %s (%s)%s", hex, bk_errmsg(), bk_strerror(rc),
             named_ok ? "" : "; its bytes do not hash to its name");
    else if (!named_ok)
      report(f, 1, "shard %s: well-formed, but its name is not the BLAKE3 of its bytes (%s)",
             hex, got);
    bk_shard_free(ps);
    int bad = rc || !named_ok;
    if (bad != si->damaged && bk_db_shard_set_damaged(f->s->db, &si->hash, bad) == 0)
      f->r.marked += bad;
  }
  bk_buf_free(&b);
  return 0;
}

static int fsck_blob(void *ctx, bk_blob_kind kind, const bk_hash *h, uint64_t size,
                     int64_t mtime) {
  struct fsck_ctx *f = ctx;
  f->r.blobs++;
  int e = svc_row_exists(f->s->db, kind, h);
  if (e < 0) return e;
  if (e) return 0;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
  int64_t due = 0;
  if ((e = bk_db_pending_get(f->s->db, kind, h, &due)) < 0) return e;
  if (e) { /* gc recorded it (a store without the trash): not damage, not a warning */
    int64_t left = (due - bk_now_ms()) / 1000;
    f->r.pending++;
    char when[48];
    if (left > 0) snprintf(when, sizeof when, "in %" PRId64 " s", left);
    else snprintf(when, sizeof when, "(due now)");
    line(f, "pending delete: %s blob %s (%" PRIu64 " bytes) is deleted by gc %s",
         bk_blob_kind_name(kind), hex, size, when);
    return 0;
  }
  report(f, 0, "orphan %s blob %s (%" PRIu64 " bytes%s; gc removes it after the grace period)",
         bk_blob_kind_name(kind), hex, size,
         mtime >= f->started_s - 60 ? ", written in the last minute: upload in progress?" : "");
  return 0;
}

static int fsck_stray(void *ctx, const char *rel, uint64_t size, int64_t mtime) {
  (void)mtime;
  report(ctx, 0, "stray file blobs/%s (%" PRIu64 " bytes) is not a blob", rel, size);
  return 0;
}

/* Every bucket file whose content uses a damaged xorb: the files to
 * re-upload (a re-upload of the original bytes repairs the xorb). */
static int print_damaged_ref(void *ctx, const bk_damaged_ref *r) {
  struct fsck_ctx *f = ctx;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&r->xorb, hex);
  report(f, 1, "file %s/%s/%s references damaged xorb %s", r->ns, r->bucket, r->path, hex);
  return 0;
}

/* Snapshots of the row lists, so that no read transaction stays open while
 * blobs are read (a long read would keep the WAL from being checkpointed
 * while the server writes). */
struct vec {
  void *p;
  size_t n, cap, elem;
};

static int vec_push(struct vec *v, const void *e) {
  void *np = bk_grow(v->p, v->n, &v->cap, v->elem, 256, 0);
  if (!np) return bk_seterr(BK_ENOMEM, "out of memory");
  v->p = np;
  memcpy((char *)v->p + v->n * v->elem, e, v->elem);
  v->n++;
  return 0;
}

static int push_xorb(void *ctx, const bk_xorb_info *x) { return vec_push(ctx, x); }
static int push_shard(void *ctx, const bk_shard_info *si) { return vec_push(ctx, si); }
static int push_file(void *ctx, const bk_cas_file *cf) { return vec_push(ctx, cf); }

struct scrub {
  bk_svc *s;
  bk_svc_line_cb cb;
  void *cb_ctx;
  uint64_t max_bytes, max_blobs;
  uint64_t bytes, blobs, xorbs, shards, damaged, errors;
  int64_t last_id; /* last row checked in the current page */
  int stop;        /* budget exhausted */
};

static void scrub_line(struct scrub *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void scrub_line(struct scrub *k, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (k->cb) k->cb(k->cb_ctx, buf);
}

/* Budget: at least one blob per run, then while it fits. */
static int scrub_fits(struct scrub *k, uint64_t size) {
  if (k->blobs == 0) return 1;
  return k->blobs < k->max_blobs && k->bytes + size <= k->max_bytes;
}

static int scrub_xorb(void *ctx, const bk_xorb_info *x) {
  struct scrub *k = ctx;
  if (!scrub_fits(k, x->bytes_on_disk)) {
    k->stop = 1;
    return 1;
  }
  k->blobs++;
  k->xorbs++;
  k->bytes += x->bytes_on_disk;
  k->last_id = x->row_id;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&x->hash, hex);
  int rc = svc_xorb_check(k->s, &x->hash, -1);
  if (rc == BK_EHASH) {
    scrub_line(k, "DAMAGE: xorb %s: %s", hex, x->damaged ? "still damaged" : bk_errmsg());
    k->damaged++;
  } else if (rc) {
    scrub_line(k, "warning: xorb %s: cannot check: %s (%s)", hex, bk_errmsg(), bk_strerror(rc));
    k->errors++;
  }
  return 0;
}

static int scrub_shard(void *ctx, const bk_shard_info *si) {
  struct scrub *k = ctx;
  if (!scrub_fits(k, si->size)) {
    k->stop = 1;
    return 1;
  }
  k->blobs++;
  k->shards++;
  k->bytes += si->size;
  k->last_id = si->row_id;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&si->hash, hex);
  int rc = svc_shard_check(k->s, &si->hash);
  if (rc == BK_EHASH) {
    scrub_line(k, "DAMAGE: shard %s: %s", hex, bk_errmsg());
    k->damaged++;
  } else if (rc) {
    scrub_line(k, "warning: shard %s: cannot check: %s (%s)", hex, bk_errmsg(), bk_strerror(rc));
    k->errors++;
  }
  return 0;
}

/* Scrubs one kind from its resume point until the budget is spent or the
 * table ends (then the resume point goes back to the start). */
static int scrub_kind(struct scrub *k, bk_blob_kind kind) {
  int64_t cur = 0;
  int rc = bk_db_scrub_cursor(k->s->db, kind, &cur);
  while (rc == 0 && !k->stop) {
    uint64_t before = k->blobs;
    k->last_id = cur;
    rc = kind == BK_BLOB_XORB ? bk_db_xorb_list_after(k->s->db, cur, SCRUB_PAGE, scrub_xorb, k)
                              : bk_db_shard_list_after(k->s->db, cur, SCRUB_PAGE, scrub_shard, k);
    if (rc == 1) rc = 0; /* budget stop */
    if (rc) break;
    cur = k->last_id;
    int at_end = !k->stop && k->blobs - before < SCRUB_PAGE;
    if (at_end) cur = 0; /* the next run starts over */
    rc = bk_db_scrub_set_cursor(k->s->db, kind, cur);
    if (at_end) break;
  }
  return rc;
}

/* Regions: every copy recorded in region r must be in its store (with the
 * row's size; --read-data: a xorb copy outside the home must verify). */
static int fsck_copy(struct fsck_ctx *f, struct svc_region *r, const bk_copy_row *c) {
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&c->hash, hex);
  const char *name = bk_blob_kind_name(c->kind);
  bk_xorb_info xi = {0};
  int rc = c->kind == BK_BLOB_XORB ? bk_db_xorb_get(f->s->db, &c->hash, &xi) : 0;
  if (rc == BK_ENOTFOUND) return 0; /* the row went (gc): the copy row goes with the next gc */
  if (rc) return rc;
  uint64_t size = 0;
  rc = bk_blob_stat(r->bs, c->kind, &c->hash, &size);
  if (rc == BK_ENOTFOUND)
    report(f, 1, "%s %s: recorded in region '%s' but missing from its store", name, hex, r->name);
  else if (rc)
    report(f, 1, "%s %s in region '%s': %s", name, hex, r->name, bk_errmsg());
  else if (c->kind == BK_BLOB_XORB && size != xi.bytes_on_disk)
    report(f, 1, "xorb %s in region '%s': blob is %" PRIu64 " bytes, database says %" PRIu64,
           hex, r->name, size, xi.bytes_on_disk);
  else if (c->kind == BK_BLOB_XORB && f->read_data &&
           (rc = svc_xorb_verify_blob(r->bs, &c->hash, xi.bytes_on_disk)) != 0)
    report(f, 1, "xorb %s: the copy in region '%s' does not verify: %s", hex, r->name,
           bk_errmsg());
  return 0;
}

static int fsck_region(struct fsck_ctx *f, struct svc_region *r) {
  int rc = svc_region_ready(f->s, r);
  if (rc) {
    report(f, 1, "%s", bk_errmsg());
    return 0;
  }
  bk_copy_row page[256];
  int after_kind = -1;
  bk_hash after = {{0}};
  for (;;) {
    size_t n = 0;
    rc = bk_db_copy_page(f->s->db, r->id, after_kind, &after, 256, page, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = fsck_copy(f, r, &page[i]);
    if (rc || n == 0) return rc;
    after_kind = (int)page[n - 1].kind;
    after = page[n - 1].hash;
  }
}

/* Regions: each region's copies, its orphan blobs, and a xorb with no copy
 * recorded anywhere (damage: nothing can serve it). */
static int fsck_regions(struct fsck_ctx *f) {
  struct svc_region *rs[BK_REGIONS_MAX * 2];
  size_t nr = svc_regions_snapshot(f->s, rs, sizeof rs / sizeof rs[0]);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < nr; i++) {
    rc = fsck_region(f, rs[i]);
    if (rc || !rs[i]->bs || rs[i]->bs == f->s->bs) continue; /* the default: scanned below */
    for (int k = 0; rc == 0 && k < BK_BLOB_NKINDS; k++)
      rc = bk_blob_list(rs[i]->bs, (bk_blob_kind)k, fsck_blob, fsck_stray, f);
  }
  bk_region_xorb page[256];
  int64_t after = 0;
  for (size_t n = 256; rc == 0 && n == 256;) {
    rc = bk_db_xorbs_uncopied(f->s->db, after, 256, page, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
      char hex[BK_HASH_HEX_LEN + 1];
      bk_hash_to_hex(&page[i].hash, hex);
      report(f, 1, "xorb %s: no region holds a copy", hex);
      after = page[i].id;
    }
  }
  return rc;
}

int bk_svc_fsck(bk_svc *svc, int read_data, bk_svc_line_cb cb, void *ctx,
                bk_svc_fsck_result *out) {
  struct fsck_ctx f = {.s = svc, .read_data = read_data, .started_s = (int64_t)time(NULL),
                       .cb = cb, .cb_ctx = ctx};
  struct vec vx = {.elem = sizeof(bk_xorb_info)}, vs = {.elem = sizeof(bk_shard_info)},
             vf = {.elem = sizeof(bk_cas_file)};
  int rc = bk_db_check(svc->db, db_msg, &f);
  if (rc == 0 || rc == 1) rc = bk_db_xorb_list(svc->db, push_xorb, &vx);
  if (rc == 0) rc = bk_db_shard_list(svc->db, push_shard, &vs);
  if (rc == 0 && read_data) rc = bk_db_cas_file_list(svc->db, push_file, &vf);
  for (size_t i = 0; rc == 0 && i < vx.n; i++) rc = fsck_xorb(&f, (bk_xorb_info *)vx.p + i);
  for (size_t i = 0; rc == 0 && i < vs.n; i++) rc = fsck_shard(&f, (bk_shard_info *)vs.p + i);
  for (size_t i = 0; rc == 0 && i < vf.n; i++) rc = fsck_file(&f, (bk_cas_file *)vf.p + i);
  free(vx.p);
  free(vs.p);
  free(vf.p);
  for (int k = 0; rc == 0 && k < BK_BLOB_NKINDS; k++)
    rc = bk_blob_list(svc->bs, (bk_blob_kind)k, fsck_blob, fsck_stray, &f);
  if (rc == 0 && svc->regions_on) rc = fsck_regions(&f);
  if (rc == 0) rc = bk_db_damaged_refs(svc->db, print_damaged_ref, &f);
  *out = f.r;
  return rc < 0 ? rc : 0;
}

int bk_svc_scrub(bk_svc *svc, uint64_t max_bytes, uint64_t max_blobs, bk_svc_line_cb cb,
                 void *ctx, bk_svc_scrub_result *out) {
  struct scrub k;
  memset(&k, 0, sizeof k);
  k.s = svc;
  k.cb = cb;
  k.cb_ctx = ctx;
  k.max_bytes = max_bytes;
  k.max_blobs = max_blobs;
  int rc = scrub_kind(&k, BK_BLOB_XORB);
  if (rc == 0 && !k.stop) rc = scrub_kind(&k, BK_BLOB_SHARD);
  struct fsck_ctx f = {.s = svc, .cb = cb, .cb_ctx = ctx};
  if (rc == 0 && k.damaged) rc = bk_db_damaged_refs(svc->db, print_damaged_ref, &f);
  out->bytes = k.bytes;
  out->blobs = k.blobs;
  out->xorbs = k.xorbs;
  out->shards = k.shards;
  out->damaged = k.damaged;
  out->errors = k.errors;
  out->stopped = k.stop;
  return rc < 0 ? rc : 0;
}
