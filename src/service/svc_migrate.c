/* buckets storage service — copy a whole store into another one (see
 * service/svc_migrate.h). Blobs first, each verified on the way; then the
 * metadata in one target transaction (store/db_copy.c). */
#include "service/svc_migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "buckets/error.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"

#define COPY_STEP (1u << 20)
#define MAX_BLOBS (1u << 25) /* listing cap per kind (40 bytes each: 1.3 GB at most) */

struct blob_ent {
  bk_hash h;
  uint64_t size;
};

struct blob_list {
  struct blob_ent *v;
  size_t n, cap;
};

static int list_cb(void *ctx, bk_blob_kind kind, const bk_hash *h, uint64_t size, int64_t mtime) {
  (void)kind;
  (void)mtime;
  struct blob_list *l = ctx;
  struct blob_ent *v = bk_grow(l->v, l->n, &l->cap, sizeof *v, 1024, MAX_BLOBS);
  if (!v) return bk_seterr(BK_ENOMEM, "listing source blobs: out of memory (or more than %u)",
                           MAX_BLOBS);
  l->v = v;
  v[l->n].h = *h;
  v[l->n++].size = size;
  return 0;
}

static int blob_fail(int rc, bk_blob_kind kind, const bk_hash *h, const char *what) {
  char hex[BK_HASH_HEX_LEN + 1], m[400];
  bk_hash_to_hex(h, hex);
  snprintf(m, sizeof m, "%s", bk_errmsg());
  return bk_seterr(rc, "source %s %s %s: %s", bk_blob_kind_name(kind), hex, what, m);
}

/* A xorb: streamed from the source reader through the xorb parser (every
 * chunk hash, the xorb hash, the footer) into a target writer, committed
 * only when it verified. */
static int copy_xorb(bk_blobstore *src, bk_blobstore *dst, const bk_hash *h) {
  bk_blob_reader *r = NULL;
  bk_blob_writer *w = NULL;
  bk_xorb_stream *vs = NULL;
  uint8_t *buf = malloc(COPY_STEP);
  int rc = buf ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
  if (!rc) rc = bk_blob_reader_open(src, BK_BLOB_XORB, h, &r);
  if (!rc) rc = bk_xorb_stream_new(BK_XORB_ALLOW_FOOTER, &vs);
  if (!rc) rc = bk_blob_writer_open(dst, BK_BLOB_XORB, &w);
  uint64_t size = r ? bk_blob_reader_size(r) : 0, off = 0;
  while (!rc && off < size) {
    size_t want = size - off < COPY_STEP ? (size_t)(size - off) : COPY_STEP, got = 0;
    rc = bk_blob_reader_read_at(r, off, buf, want, &got);
    if (!rc && got != want) rc = bk_seterr(BK_EIO, "blob shrank while read");
    if (!rc) rc = bk_xorb_stream_feed(vs, buf, want);
    if (!rc) rc = bk_blob_writer_write(w, buf, want);
    off += want;
  }
  bk_xorb *x = NULL;
  int vr = rc ? 0 : bk_xorb_stream_finish(vs, h, &x);
  bk_xorb_free(x);
  if (vr) rc = vr;
  if (!rc) rc = bk_blob_writer_commit(w, h, NULL);
  else bk_blob_writer_abort(w);
  bk_xorb_stream_free(vs);
  bk_blob_reader_close(r);
  free(buf);
  return rc;
}

/* A shard: its bytes must hash (BLAKE3) to its name, as on upload. */
static int copy_shard(bk_blobstore *src, bk_blobstore *dst, const bk_hash *h) {
  bk_buf b;
  bk_buf_init(&b, (size_t)BK_SHARD_MAX_BYTES);
  int rc = bk_blob_get(src, BK_BLOB_SHARD, h, b.max, &b);
  bk_hash got;
  if (!rc) bk_blake3(b.p, b.len, got.b);
  if (!rc && !bk_hash_eq(&got, h)) rc = bk_seterr(BK_EHASH, "its bytes do not hash to its name");
  if (!rc) rc = bk_blob_put(dst, BK_BLOB_SHARD, h, b.p, b.len, NULL);
  bk_buf_free(&b);
  return rc;
}

/* One listed source blob: skipped (no row, or already in the target),
 * or copied and verified. */
static int migrate_blob(const struct bk_svc_migrate_config *cfg, bk_blob_kind kind,
                        const struct blob_ent *e, bk_svc_migrate_stats *st) {
  int row = kind == BK_BLOB_XORB ? bk_db_xorb_exists(cfg->src_db, &e->h)
                                 : bk_db_shard_exists(cfg->src_db, &e->h);
  if (row < 0) return row;
  if (!row) {
    st->orphans[kind]++;
    return 0;
  }
  uint64_t have = 0;
  int rc = bk_blob_stat(cfg->dst_blobs, kind, &e->h, &have);
  if (rc == 0 && have != e->size)
    return blob_fail(BK_EEXIST, kind, &e->h, "is stored in the target with another size");
  if (rc == 0) {
    st->present[kind]++;
    st->present_bytes[kind] += have;
    return cfg->blob_cb ? cfg->blob_cb(cfg->ctx, bk_blob_kind_name(kind), &e->h, have, 0) : 0;
  }
  if (rc != BK_ENOTFOUND) return rc;
  bk_clearerr();
  rc = kind == BK_BLOB_XORB ? copy_xorb(cfg->src_blobs, cfg->dst_blobs, &e->h)
                            : copy_shard(cfg->src_blobs, cfg->dst_blobs, &e->h);
  if (rc == BK_EHASH || rc == BK_EFORMAT || rc == BK_ETRUNCATED)
    return blob_fail(BK_EHASH, kind, &e->h, "is damaged (not copied; run bucketd fsck --read-data)");
  if (rc) return blob_fail(rc, kind, &e->h, "could not be copied");
  st->copied[kind]++;
  st->copied_bytes[kind] += e->size;
  return cfg->blob_cb ? cfg->blob_cb(cfg->ctx, bk_blob_kind_name(kind), &e->h, e->size, 1) : 0;
}

/* Rows of a table in the fingerprint's counts. */
static uint64_t rows_of(const bk_db_copy_stats *m, const char *table) {
  for (size_t i = 0; i < m->ntables; i++)
    if (!strcmp(m->t[i].name, table)) return m->t[i].rows;
  return 0;
}

static int migrate_kind(const struct bk_svc_migrate_config *cfg, bk_blob_kind kind,
                        bk_svc_migrate_stats *st) {
  struct blob_list l = {0};
  int rc = bk_blob_list(cfg->src_blobs, kind, list_cb, NULL, &l);
  for (size_t i = 0; rc == 0 && i < l.n; i++) rc = migrate_blob(cfg, kind, &l.v[i], st);
  free(l.v);
  if (rc) return rc;
  uint64_t rows = rows_of(&st->meta, kind == BK_BLOB_XORB ? "xorbs" : "shards");
  uint64_t blobs = st->copied[kind] + st->present[kind];
  if (blobs < rows)
    return bk_seterr(BK_ENOTFOUND, "%llu %s row(s) of the source have no blob (run bucketd gc, "
                                   "which restores an interrupted gc's trash, then bucketd fsck on "
                                   "the source)", (unsigned long long)(rows - blobs),
                     bk_blob_kind_name(kind));
  return 0;
}

int bk_svc_migrate(const struct bk_svc_migrate_config *cfg, bk_svc_migrate_stats *st) {
  memset(st, 0, sizeof *st);
  uint8_t fp[32];
  int rc = bk_db_copy_fingerprint(cfg->src_db, fp, &st->meta);
  int state = 0;
  if (!rc) rc = bk_db_copy_target_state(cfg->dst_db, fp, &state);
  if (rc) return rc;
  if (state == BK_DB_TARGET_DONE) {
    st->nothing_to_do = 1;
    return 0;
  }
  if (state == BK_DB_TARGET_OTHER)
    return bk_seterr(BK_EEXIST, "the target database holds other data (not a copy of this source "
                                "as it is now); migrate into an empty database");
  rc = migrate_kind(cfg, BK_BLOB_XORB, st);
  if (!rc) rc = migrate_kind(cfg, BK_BLOB_SHARD, st);
  if (rc) return rc;
  bk_db_copy_stats fst = st->meta;
  rc = bk_db_copy_all(cfg->src_db, cfg->dst_db, fp, cfg->table_cb, cfg->ctx, &st->meta);
  if (rc) st->meta = fst;
  return rc;
}
