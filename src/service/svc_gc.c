/* buckets storage service — gc (service.h, docs/store.md "Garbage
 * collection"). Safe while the server runs: only objects older than the
 * cutoff are removed, each batch under the database write lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/clock.h"
#include "buckets/error.h"
#include "service/svc_internal.h"


/* A list of blobs (kind, hash, size), grown with bk_grow. */
struct hlist {
  bk_gc_item *e;
  size_t n, cap;
};

static int hlist_add(struct hlist *l, bk_blob_kind k, const bk_hash *h, uint64_t size) {
  bk_gc_item *ne = bk_grow(l->e, l->n, &l->cap, sizeof *ne, 64, 0);
  if (!ne) return bk_seterr(BK_ENOMEM, "out of memory");
  l->e = ne;
  l->e[l->n++] = (bk_gc_item){.kind = k, .hash = *h, .size = size};
  return 0;
}

static void hlist_free(struct hlist *l) {
  free(l->e);
  memset(l, 0, sizeof *l);
}

struct gc_ctx {
  bk_svc *s;
  bk_blobstore *bs;      /* the store whose blobs are trashed (regions: one at a time) */
  int pend;              /* 1 = the store has no trash: blobs become pending deletes */
  int64_t due_ms;        /* when a blob recorded now is due (now + the delete grace) */
  uint64_t pending;      /* recorded as pending deletes (committed) */
  struct hlist trashed;  /* moved to the trash in the current transaction */
  struct hlist removed;  /* xorb/shard rows deleted by the metadata pass: their blobs go next */
  uint64_t missing;      /* rows whose blob was already gone */
};

static int gc_trash(struct gc_ctx *g, bk_blob_kind kind, const bk_hash *h) {
  int rc = bk_blob_trash(g->bs, kind, h);
  if (rc == BK_ENOTFOUND) {
    g->missing++;
    return 0;
  }
  if (rc) return rc;
  return hlist_add(&g->trashed, kind, h, 0);
}

static void gc_undo(struct gc_ctx *g) {
  for (size_t i = 0; i < g->trashed.n; i++)
    bk_blob_untrash(g->bs, g->trashed.e[i].kind, &g->trashed.e[i].hash);
  g->trashed.n = 0;
}

static void gc_purge(struct gc_ctx *g) {
  for (size_t i = 0; i < g->trashed.n; i++)
    bk_blob_trash_purge(g->bs, g->trashed.e[i].kind, &g->trashed.e[i].hash);
  g->trashed.n = 0;
}


/* Trash left by an interrupted gc: restore what still has a row. */
struct recover_ctx {
  bk_svc *s;
  bk_blobstore *bs;
  uint64_t restored, purged;
};


static int recover_one(void *ctx, bk_blob_kind kind, const bk_hash *h, uint64_t size,
                       int64_t mtime) {
  (void)size;
  (void)mtime;
  struct recover_ctx *r = ctx;
  int e = svc_row_exists(r->s->db, kind, h);
  if (e < 0) return e;
  if (e) {
    if (bk_blob_untrash(r->bs, kind, h) == 0) r->restored++;
  } else if (bk_blob_trash_purge(r->bs, kind, h) == 0) {
    r->purged++;
  }
  return 0;
}

struct orphan_ctx {
  bk_svc *s;
  int64_t cutoff_s;
  int pend;            /* store without the trash: skip blobs already recorded */
  struct hlist cand;
};

static int orphan_scan(void *ctx, bk_blob_kind kind, const bk_hash *h, uint64_t size,
                       int64_t mtime) {
  struct orphan_ctx *o = ctx;
  if (mtime >= o->cutoff_s) return 0;
  int e = svc_row_exists(o->s->db, kind, h);
  if (e < 0) return e;
  if (e) return 0;
  if (o->pend && (e = bk_db_pending_get(o->s->db, kind, h, NULL)) != 0)
    return e < 0 ? e : 0; /* recorded already: its due time stands */
  return hlist_add(&o->cand, kind, h, size);
}

/* On a store without the trash: records the blobs of a page's removed rows
 * as pending deletes inside the page's transaction (so the rows and the
 * record commit together: no crash can leave a removed row's blob unrecorded). */
static int gc_record(bk_db_tx *tx, const struct gc_ctx *g, const bk_gc_item *items, size_t n) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = bk_db_pending_add_tx(tx, items[i].kind, &items[i].hash, g->due_ms, 0);
  return rc;
}

/* The metadata pass: pages of at most batch rows, each in its own
 * BK_TX_GC_FENCE transaction (so a large collection never holds the fence
 * long enough to make concurrent uploads time out). Rows only: the blobs of
 * the removed xorbs/shards are noted in g->removed and stay in place until
 * their rows' deletion committed, so a gc killed before a COMMIT leaves rows
 * and blobs as they were (moving a blob to the trash before its row's
 * deletion committed would leave a row without its blob until the next gc:
 * an upload deduplicating against that xorb meanwhile would be acknowledged
 * and then unreadable). On a store without the trash the blobs are recorded
 * as pending deletes in the same transaction instead (gc_record) and
 * g->removed stays empty. *st counts what was committed. */
static int gc_rows(bk_svc *svc, int64_t cutoff_ms, size_t batch, struct gc_ctx *g,
                   bk_gc_stats *st) {
  bk_gc_item *items = calloc(batch, sizeof *items);
  if (!items) return bk_seterr(BK_ENOMEM, "out of memory");
  int phase = 0, rc = 0;
  while (rc == 0 && phase < 3) {
    bk_db_tx *tx = NULL;
    bk_gc_stats round = {0};
    size_t n = 0;
    if ((rc = bk_db_tx_begin(svc->db, BK_TX_GC_FENCE, &tx))) break;
    rc = bk_db_gc_page_tx(tx, cutoff_ms, &phase, batch, items, &n, &round);
    if (rc == 0 && g->pend) rc = gc_record(tx, g, items, n);
    if (rc) {
      bk_db_tx_rollback(tx);
      break;
    }
    if ((rc = bk_db_tx_commit(tx))) break;
    st->files += round.files;
    st->xorbs += round.xorbs;
    st->shards += round.shards;
    st->xorb_bytes += round.xorb_bytes;
    st->shard_bytes += round.shard_bytes;
    if (g->pend) {
      g->pending += n;
      continue;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
      rc = hlist_add(&g->removed, items[i].kind, &items[i].hash, items[i].size);
  }
  free(items);
  return rc;
}

/* Blobs without a row: inside ONE BK_TX_GC_FENCE transaction, re-checks
 * that each blob of items still has no row (a concurrent registration
 * either committed before — the row is seen and the blob kept — or runs
 * after and finds the blob gone, BK_ESTALE), then removes it: on a store
 * with the trash, moves it to the trash (purged after the COMMIT; on any
 * failure — a check, a trash, the commit — the transaction is rolled back
 * and every blob trashed here is put back); without it (g->pend), records
 * it as a pending delete (an existing record keeps its due time). *got (may
 * be NULL) counts the trashed or recorded. */
static int gc_orphans(struct gc_ctx *g, const bk_gc_item *items, size_t n, size_t *got) {
  size_t k = 0;
  bk_db_tx *tx = NULL;
  int rc = bk_db_tx_begin(g->s->db, BK_TX_GC_FENCE, &tx);
  if (rc) return rc;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int e = bk_db_blob_row_exists_tx(tx, items[i].kind, &items[i].hash);
    if (e < 0) rc = e;
    if (e != 0) continue; /* registered meanwhile: keep */
    size_t before = g->trashed.n;
    rc = g->pend ? bk_db_pending_add_tx(tx, items[i].kind, &items[i].hash, g->due_ms, 1)
                 : gc_trash(g, items[i].kind, &items[i].hash);
    if (rc == 0 && (g->pend || g->trashed.n > before)) k++;
  }
  if (rc == 0) rc = bk_db_tx_commit(tx);
  else bk_db_tx_rollback(tx);
  if (rc) {
    gc_undo(g); /* nothing was trashed without the trash */
    return rc;
  }
  gc_purge(g);
  if (g->pend) g->pending += k;
  if (got) *got = k;
  return 0;
}

/* The stores gc works on: every region's (regions configured; a region
 * whose store cannot be opened fails the run) or the one store. */
static int gc_stores(bk_svc *svc, bk_blobstore **out, size_t max, size_t *n) {
  *n = 0;
  if (!svc->regions_on) {
    out[(*n)++] = svc->bs;
    return 0;
  }
  struct svc_region *rs[BK_REGIONS_MAX * 2];
  size_t nr = svc_regions_snapshot(svc, rs, sizeof rs / sizeof rs[0]);
  for (size_t i = 0; i < nr && *n < max; i++) {
    int rc = svc_region_ready(svc, rs[i]);
    if (rc) return rc;
    out[(*n)++] = rs[i]->bs;
  }
  return 0;
}

/* Deletes the blob from every store (regions: every region; an unreferenced
 * blob goes everywhere). 1 = deleted somewhere, 0 = it was nowhere,
 * negative on error. */
static int gc_delete_everywhere(bk_svc *svc, bk_blob_kind kind, const bk_hash *h) {
  bk_blobstore *st[BK_REGIONS_MAX * 2];
  size_t n = 0;
  int rc = gc_stores(svc, st, sizeof st / sizeof st[0], &n), any = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int d = bk_blob_delete(st[i], kind, h);
    if (d && d != BK_ENOTFOUND) rc = d;
    any |= d == 0;
  }
  return rc ? rc : any;
}

/* One page of due pending deletes, in ONE BK_TX_GC_FENCE transaction: a
 * blob whose row exists again (registered during the grace) is kept and
 * its record dropped; any other blob is deleted (already gone: fine) and
 * its record dropped. A registration either committed before (its row is
 * seen here) or runs after and finds the blob gone (BK_ESTALE, the client
 * sends it again). A failure rolls back: the records of blobs deleted
 * before it stay and the next run finishes them (deleting a deleted blob is
 * not an error). */
static int gc_due_page(bk_svc *svc, const bk_gc_item *items, size_t n, bk_svc_gc_result *out) {
  uint64_t deleted = 0, kept = 0;
  bk_db_tx *tx = NULL;
  int rc = bk_db_tx_begin(svc->db, BK_TX_GC_FENCE, &tx);
  if (rc) return rc;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const bk_gc_item *it = &items[i];
    int e = bk_db_blob_row_exists_tx(tx, it->kind, &it->hash);
    if (e < 0) rc = e;
    if (e == 0) {
      int d = gc_delete_everywhere(svc, it->kind, &it->hash);
      if (d < 0) rc = d;
      deleted += d == 1;
    }
    kept += e > 0;
    if (rc == 0) rc = bk_db_pending_del_tx(tx, it->kind, &it->hash);
  }
  if (rc == 0) rc = bk_db_tx_commit(tx);
  else bk_db_tx_rollback(tx);
  if (rc) return rc;
  out->deleted += deleted;
  out->kept += kept;
  return 0;
}

/* Carries out every pending delete due at now_ms, page by page (a page
 * that committed is gone from the table, so each round makes progress). */
static int gc_due(bk_svc *svc, int64_t now_ms, size_t batch, bk_svc_gc_result *out) {
  bk_gc_item *items = calloc(batch, sizeof *items);
  if (!items) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = 0;
  size_t n = batch;
  while (rc == 0 && n == batch) {
    rc = bk_db_pending_due(svc->db, now_ms, batch, items, &n);
    if (rc == 0 && n > 0) rc = gc_due_page(svc, items, n, out);
  }
  free(items);
  return rc;
}

/* Keeps the first failure: its step and message survive later calls. */
struct gc_fail {
  int rc;
  const char *what;
  char msg[512];
};

static void gc_failed(struct gc_fail *f, const char *what, int rc) {
  if (f->rc) return;
  f->rc = rc;
  f->what = what;
  snprintf(f->msg, sizeof f->msg, "%s", bk_errmsg());
}

/* Pending deletes are carried out in pages of at most this many blobs: the
 * page holds the fence while the blob store deletes (one request each on an
 * object store), so a registration never waits long. */
#define GC_DUE_PAGE 100

/* Step 2: unreferenced metadata, then their blobs. On a store with the trash, once the rows are
 * committed away the blobs are orphans, removed like any orphan (re-checked inside a fence
 * transaction: one registered again meanwhile is kept; a rolled-back page's blobs still have rows,
 * so the re-check keeps them). Without the trash, gc_rows recorded them as pending deletes. */
static void gc_step_rows(struct gc_ctx *g, int64_t cutoff_ms, size_t batch,
                         bk_svc_gc_result *out, struct gc_fail *f) {
  int rc = gc_rows(g->s, cutoff_ms, batch, g, &out->st);
  if (rc) gc_failed(f, "gc", rc);
  bk_blobstore *st[BK_REGIONS_MAX * 2];
  size_t ns = 0;
  if ((rc = gc_stores(g->s, st, sizeof st / sizeof st[0], &ns))) gc_failed(f, "gc (regions)", rc);
  for (size_t i = 0; i < ns; i++) { /* regions: the blobs go from every region */
    g->bs = st[i];
    for (size_t off = 0; off < g->removed.n; off += batch) {
      size_t k = g->removed.n - off < batch ? g->removed.n - off : batch;
      int r2 = gc_orphans(g, g->removed.e + off, k, NULL);
      if (r2) gc_failed(f, "gc (blobs)", r2);
    }
  }
  hlist_free(&g->removed);
}

/* Step 3: orphan blobs (no row) older than cutoff_s: removed (trash), or recorded as pending
 * deletes (no trash). */
static void gc_step_orphans(struct gc_ctx *g, int64_t cutoff_s, size_t batch,
                            bk_svc_gc_result *out, struct gc_fail *f) {
  struct orphan_ctx o = {.s = g->s, .cutoff_s = cutoff_s, .pend = g->pend};
  int rc = 0;
  for (int k = 0; k < BK_BLOB_NKINDS && rc == 0; k++)
    rc = bk_blob_list(g->bs, (bk_blob_kind)k, orphan_scan, NULL, &o);
  if (rc) gc_failed(f, "gc (orphan scan)", rc);
  for (size_t off = 0; rc == 0 && off < o.cand.n; off += batch) {
    size_t k = o.cand.n - off < batch ? o.cand.n - off : batch, got = 0;
    rc = gc_orphans(g, o.cand.e + off, k, &got);
    if (rc) gc_failed(f, "gc (orphans)", rc);
    else out->orphans += got;
  }
  hlist_free(&o.cand);
}

/* Regions: with any store lacking the trash, every blob gc removes becomes
 * a pending delete (one record per blob, carried out in every region). */
static int gc_pend(bk_svc *svc, bk_blobstore *const *st, size_t n) {
  int pend = 0;
  for (size_t i = 0; i < n; i++) pend |= !(bk_blobstore_caps(st[i]) & BK_BLOB_CAP_TRASH);
  return svc->regions_on ? pend : !(bk_blobstore_caps(svc->bs) & BK_BLOB_CAP_TRASH);
}

/* Step 1 on every store with the trash: what an interrupted gc left there. */
static int gc_recover(bk_svc *svc, bk_blobstore *const *st, size_t n, bk_svc_gc_result *out) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (!(bk_blobstore_caps(st[i]) & BK_BLOB_CAP_TRASH)) continue;
    struct recover_ctx rcx = {svc, st[i], 0, 0};
    rc = bk_blob_trash_list(st[i], recover_one, &rcx);
    out->restored += rcx.restored;
    out->purged += rcx.purged;
  }
  return rc;
}

int bk_svc_gc(bk_svc *svc, int64_t cutoff_ms, int64_t cutoff_s, size_t batch,
              bk_svc_gc_result *out, const char **what) {
  memset(out, 0, sizeof *out);
  struct gc_fail f = {0};
  if (batch == 0) batch = 500;
  if (what) *what = NULL;
  bk_blobstore *st[BK_REGIONS_MAX * 2];
  size_t ns = 0;
  int rc = gc_stores(svc, st, sizeof st / sizeof st[0], &ns);
  int pend = gc_pend(svc, st, ns);

  /* 1. finish an interrupted gc: the trash's leftovers (a store without the trash: its pending
   * deletes are finished by step 5) */
  if (rc == 0) rc = gc_recover(svc, st, ns, out);
  if (rc) {
    if (what) *what = "gc (trash recovery)";
    return rc;
  }

  /* 2. unreferenced metadata, then (or: recorded for) their blobs */
  struct gc_ctx g = {.s = svc, .bs = svc->bs, .pend = pend,
                     .due_ms = bk_now_ms() + svc->delete_grace_ms};
  gc_step_rows(&g, cutoff_ms, batch, out, &f);
  out->missing = g.missing;
  if (f.rc) {
    hlist_free(&g.trashed);
    out->pending = g.pending;
    if (what) *what = f.what;
    return bk_seterr(f.rc, "%s", f.msg);
  }

  /* 3. orphan blobs (in every region), then 4. staged writes and temp files older than cutoff_s
   * (the blob store's own business: bk_blob_clean_tmp) */
  for (size_t i = 0; i < ns; i++) {
    g.bs = st[i];
    gc_step_orphans(&g, cutoff_s, batch, out, &f);
    size_t ntmp = 0;
    bk_blob_clean_tmp(st[i], cutoff_s, &ntmp);
    out->temp_files += (uint64_t)ntmp;
  }
  out->missing = g.missing;
  out->pending = g.pending;
  out->summary = 1;
  hlist_free(&g.trashed);

  /* 5. no trash: the pending deletes that are due now (recorded by an earlier run, or by this
   * one with a delete grace of 0) */
  if (pend && f.rc == 0) {
    rc = gc_due(svc, bk_now_ms(), batch < GC_DUE_PAGE ? batch : GC_DUE_PAGE, out);
    if (rc) gc_failed(&f, "gc (pending deletes)", rc);
  }
  /* 6. regions: copy rows of blobs whose row is gone */
  uint64_t pruned = 0;
  if (svc->regions_on && f.rc == 0 && (rc = bk_db_copy_prune(svc->db, &pruned)))
    gc_failed(&f, "gc (region copies)", rc);
  if (f.rc) {
    if (what) *what = f.what;
    return bk_seterr(f.rc, "%s", f.msg);
  }
  return 0;
}
