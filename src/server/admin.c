/* bucketd — administration subcommands (see admin.h). Uses only the store
 * APIs (buckets/db.h, accounts.h, blobstore.h); never parses HTTP. */
#include "server/admin.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/accounts.h"
#include "buckets/blobstore.h"
#include "buckets/buf.h"
#include "buckets/db.h"
#include "buckets/error.h"
#include "buckets/fsutil.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "server/server.h"

#define DEFAULT_GRACE_S 3600
#define GC_BATCH 500 /* objects per gc write transaction */

struct args {
  const char *pos[8];
  int npos;
  const char *data;
  const char *role;
  const char *owner;
  const char *grace;
  const char *max_bytes;
  const char *max_blobs;
  int read_data;
  int help;
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: bucketd user add NAME                         [--data DIR]\n"
          "       bucketd token add USER --role read|write      [--data DIR]\n"
          "       bucketd token list USER                       [--data DIR]\n"
          "       bucketd token revoke ID                       [--data DIR]\n"
          "       bucketd org add ORG --owner USER              [--data DIR]\n"
          "       bucketd org member ORG USER --role read|write|admin|none [--data DIR]\n"
          "       bucketd gc [--grace DURATION]   (default 1h; e.g. 30m, 0s) [--data DIR]\n"
          "       bucketd fsck [--read-data]                    [--data DIR]\n"
          "       bucketd scrub [--max-bytes N[K|M|G]] [--max-blobs N] [--data DIR]\n"
          "                     (default 1G per run; resumes where the last run stopped)\n"
          "--data defaults to $BUCKETD_DATA or ./var\n");
}

/* Parses argv[1..]; returns 0 or 2 (usage error, message printed). */
static int parse_args(int argc, char **argv, struct args *a) {
  memset(a, 0, sizeof *a);
  a->data = getenv("BUCKETD_DATA") ? getenv("BUCKETD_DATA") : "./var";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    const char **slot = NULL;
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) { a->help = 1; continue; }
    if (!strcmp(s, "--read-data")) { a->read_data = 1; continue; }
    if (!strcmp(s, "--data")) slot = &a->data;
    else if (!strcmp(s, "--role")) slot = &a->role;
    else if (!strcmp(s, "--owner")) slot = &a->owner;
    else if (!strcmp(s, "--grace")) slot = &a->grace;
    else if (!strcmp(s, "--max-bytes")) slot = &a->max_bytes;
    else if (!strcmp(s, "--max-blobs")) slot = &a->max_blobs;
    else if (!strncmp(s, "--", 2) && strlen(s) > 2) {
      fprintf(stderr, "bucketd: unknown option '%s'\n", s);
      return 2;
    }
    if (slot) {
      if (i + 1 >= argc) {
        fprintf(stderr, "bucketd: option '%s' needs a value\n", s);
        return 2;
      }
      *slot = argv[++i];
      continue;
    }
    if (a->npos >= (int)(sizeof a->pos / sizeof a->pos[0])) {
      fprintf(stderr, "bucketd: too many arguments\n");
      return 2;
    }
    a->pos[a->npos++] = s;
  }
  return 0;
}

struct store {
  bk_db *db;
  bk_blobstore *bs;
};

static int open_store(const char *data, int need_blobs, struct store *st) {
  memset(st, 0, sizeof *st);
  char path[4096];
  int rc = bk_mkdir_p(data, 0700);
  if (rc == 0 && snprintf(path, sizeof path, "%s/%s", data, BK_DB_FILE) >= (int)sizeof path)
    rc = bk_seterr(BK_EINVAL, "data dir path too long");
  if (rc == 0) rc = bk_db_open(path, &st->db);
  if (rc == 0 && need_blobs) {
    if (snprintf(path, sizeof path, "%s/%s", data, BK_BLOBS_DIR) >= (int)sizeof path)
      rc = bk_seterr(BK_EINVAL, "data dir path too long");
    else
      rc = bk_blobstore_open(path, &st->bs);
  }
  if (rc) {
    fprintf(stderr, "bucketd: cannot open the data dir %s: %s (%s)\n", data,
            bk_errmsg(), bk_strerror(rc));
    bk_db_close(st->db);
    st->db = NULL;
  }
  return rc;
}

static void close_store(struct store *st) {
  bk_db_close(st->db);
  bk_blobstore_close(st->bs);
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "bucketd: %s: %s (%s)\n", what, bk_errmsg(), bk_strerror(rc));
  return 1;
}

static void fmt_time(int64_t ms, char *out, size_t n) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Namespace that must be a user. */
static int get_user(bk_db *db, const char *name, bk_ns *u) {
  int rc = bk_db_ns_get(db, name, u);
  if (rc) return fail(name, rc);
  if (u->kind != BK_NS_USER) {
    fprintf(stderr, "bucketd: '%s' is an organization, not a user\n", name);
    return 1;
  }
  return 0;
}

/* ---- user ---- */

static int cmd_user(struct args *a) {
  if (a->npos != 2 || strcmp(a->pos[0], "add") != 0) {
    usage(stderr);
    return 2;
  }
  struct store s;
  if (open_store(a->data, 0, &s)) return 1;
  bk_ns u;
  int rc = bk_db_user_add(s.db, a->pos[1], &u);
  int ret = rc ? fail("user add", rc) : 0;
  if (!rc) printf("created user %s (id %" PRId64 ")\n", u.name, u.id);
  close_store(&s);
  return ret;
}

/* ---- token ---- */

struct tl_ctx {
  int n;
};

static int print_token(void *ctx, const bk_token_info *t) {
  struct tl_ctx *c = ctx;
  char when[32];
  fmt_time(t->created_ms, when, sizeof when);
  if (c->n++ == 0) printf("%-8s %-6s %-20s %s\n", "ID", "ROLE", "CREATED", "STATUS");
  printf("%-8" PRId64 " %-6s %-20s %s\n", t->id, bk_role_name(t->role), when,
         t->revoked ? "revoked" : "active");
  return 0;
}

static int cmd_token(struct args *a) {
  if (a->npos != 2) {
    usage(stderr);
    return 2;
  }
  const char *sub = a->pos[0];
  if (strcmp(sub, "add") && strcmp(sub, "list") && strcmp(sub, "revoke")) {
    usage(stderr);
    return 2;
  }
  int role = 0;
  if (!strcmp(sub, "add")) {
    if (!a->role || bk_role_parse(a->role, &role) || role == BK_ROLE_ADMIN) {
      fprintf(stderr, "bucketd: token add needs --role read|write\n");
      return 2;
    }
  }
  int64_t id = 0;
  if (!strcmp(sub, "revoke")) {
    char *end;
    long long v = strtoll(a->pos[1], &end, 10);
    if (!*a->pos[1] || *end || v <= 0) {
      fprintf(stderr, "bucketd: token revoke needs a numeric token id\n");
      return 2;
    }
    id = v;
  }
  struct store s;
  if (open_store(a->data, 0, &s)) return 1;
  int ret = 0, rc;
  bk_ns u;
  if (!strcmp(sub, "add")) {
    char tok[BK_TOKEN_LEN + 1];
    int64_t tid;
    if (!(ret = get_user(s.db, a->pos[1], &u))) {
      rc = bk_db_token_add(s.db, u.id, role, tok, &tid);
      if (rc) ret = fail("token add", rc);
      else {
        printf("%s\n", tok);
        fflush(stdout);
        fprintf(stderr, "created %s token id %" PRId64 " for %s\n", bk_role_name(role), tid,
                u.name);
      }
      memset(tok, 0, sizeof tok);
    }
  } else if (!strcmp(sub, "list")) {
    if (!(ret = get_user(s.db, a->pos[1], &u))) {
      struct tl_ctx c = {0};
      rc = bk_db_token_list(s.db, u.id, print_token, &c);
      if (rc) ret = fail("token list", rc);
      else if (c.n == 0) printf("no tokens for %s\n", u.name);
    }
  } else {
    rc = bk_db_token_revoke(s.db, id);
    if (rc) ret = fail("token revoke", rc);
    else printf("revoked token %" PRId64 "\n", id);
  }
  close_store(&s);
  return ret;
}

/* ---- org ---- */

static int cmd_org(struct args *a) {
  int is_add = a->npos == 2 && !strcmp(a->pos[0], "add");
  int is_member = a->npos == 3 && !strcmp(a->pos[0], "member");
  if (!is_add && !is_member) {
    usage(stderr);
    return 2;
  }
  int role = 0;
  if (is_add && !a->owner) {
    fprintf(stderr, "bucketd: org add needs --owner USER\n");
    return 2;
  }
  if (is_member) {
    if (!a->role) {
      fprintf(stderr, "bucketd: org member needs --role read|write|admin|none\n");
      return 2;
    }
    if (!strcmp(a->role, "none") || !strcmp(a->role, "remove")) role = BK_ROLE_NONE;
    else if (bk_role_parse(a->role, &role)) {
      fprintf(stderr, "bucketd: %s\n", bk_errmsg());
      return 2;
    }
  }
  struct store s;
  if (open_store(a->data, 0, &s)) return 1;
  int ret = 0, rc;
  bk_ns u, o;
  if (is_add) {
    if (!(ret = get_user(s.db, a->owner, &u))) {
      rc = bk_db_org_add(s.db, a->pos[1], u.id, &o);
      if (rc) ret = fail("org add", rc);
      else printf("created organization %s (id %" PRId64 ") owned by %s\n", o.name, o.id, u.name);
    }
  } else {
    rc = bk_db_ns_get(s.db, a->pos[1], &o);
    if (rc) ret = fail(a->pos[1], rc);
    else if (o.kind != BK_NS_ORG) {
      fprintf(stderr, "bucketd: '%s' is not an organization\n", o.name);
      ret = 1;
    } else if (!(ret = get_user(s.db, a->pos[2], &u))) {
      rc = bk_db_org_member_set(s.db, o.id, u.id, role);
      if (rc) ret = fail("org member", rc);
      else if (role == BK_ROLE_NONE) printf("removed %s from %s\n", u.name, o.name);
      else printf("%s is now %s member of %s\n", u.name, bk_role_name(role), o.name);
    }
  }
  close_store(&s);
  return ret;
}

/* ---- gc ---- */

struct hlist {
  bk_blob_kind *kinds;
  bk_hash *h;
  uint64_t *size;
  size_t n, cap;
};

static int hlist_add(struct hlist *l, bk_blob_kind k, const bk_hash *h, uint64_t size) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    bk_blob_kind *nk = realloc(l->kinds, nc * sizeof *nk);
    if (nk) l->kinds = nk;
    bk_hash *nh = realloc(l->h, nc * sizeof *nh);
    if (nh) l->h = nh;
    uint64_t *ns = realloc(l->size, nc * sizeof *ns);
    if (ns) l->size = ns;
    if (!nk || !nh || !ns) return bk_seterr(BK_ENOMEM, "out of memory");
    l->cap = nc;
  }
  l->kinds[l->n] = k;
  l->h[l->n] = *h;
  l->size[l->n] = size;
  l->n++;
  return 0;
}

static void hlist_free(struct hlist *l) {
  free(l->kinds);
  free(l->h);
  free(l->size);
  memset(l, 0, sizeof *l);
}

struct gc_ctx {
  struct store *s;
  struct hlist trashed;  /* moved to the trash in the current transaction */
  struct hlist removed;  /* xorb/shard rows deleted by the metadata pass: their blobs go next */
  uint64_t missing;      /* rows whose blob was already gone */
};

/* Metadata pass: only note the blob. Its rows are deleted first and committed; the blob stays in
 * place until then, so a gc killed before that COMMIT leaves rows and blobs as they were (moving
 * the blob to the trash inside the transaction left a row without its blob until the next gc —
 * an upload deduplicating against that xorb meanwhile was acknowledged and then unreadable). */
static int gc_note(void *ctx, bk_blob_kind kind, const bk_hash *h) {
  struct gc_ctx *g = ctx;
  return hlist_add(&g->removed, kind, h, 0);
}

static int gc_trash(void *ctx, bk_blob_kind kind, const bk_hash *h) {
  struct gc_ctx *g = ctx;
  int rc = bk_blob_trash(g->s->bs, kind, h);
  if (rc == BK_ENOTFOUND) {
    g->missing++;
    return 0;
  }
  if (rc) return rc;
  return hlist_add(&g->trashed, kind, h, 0);
}

static void gc_undo(struct gc_ctx *g) {
  for (size_t i = 0; i < g->trashed.n; i++)
    bk_blob_untrash(g->s->bs, g->trashed.kinds[i], &g->trashed.h[i]);
  g->trashed.n = 0;
}

static void gc_purge(struct gc_ctx *g) {
  for (size_t i = 0; i < g->trashed.n; i++)
    bk_blob_trash_purge(g->s->bs, g->trashed.kinds[i], &g->trashed.h[i]);
  g->trashed.n = 0;
}


/* Trash left by an interrupted gc: restore what still has a row. */
struct recover_ctx {
  struct store *s;
  uint64_t restored, purged;
};

static int row_exists(bk_db *db, bk_blob_kind kind, const bk_hash *h) {
  return kind == BK_BLOB_XORB ? bk_db_xorb_exists(db, h) : bk_db_shard_exists(db, h);
}

static int recover_one(void *ctx, bk_blob_kind kind, const bk_hash *h, uint64_t size,
                       int64_t mtime) {
  (void)size;
  (void)mtime;
  struct recover_ctx *r = ctx;
  int e = row_exists(r->s->db, kind, h);
  if (e < 0) return e;
  if (e) {
    if (bk_blob_untrash(r->s->bs, kind, h) == 0) r->restored++;
  } else if (bk_blob_trash_purge(r->s->bs, kind, h) == 0) {
    r->purged++;
  }
  return 0;
}

struct orphan_ctx {
  struct store *s;
  int64_t cutoff_s;
  struct hlist cand;
  uint64_t strays_removed;
  const char *blobroot;
};

static int orphan_scan(void *ctx, bk_blob_kind kind, const bk_hash *h, uint64_t size,
                       int64_t mtime) {
  struct orphan_ctx *o = ctx;
  if (mtime >= o->cutoff_s) return 0;
  int e = row_exists(o->s->db, kind, h);
  if (e < 0) return e;
  if (e) return 0;
  return hlist_add(&o->cand, kind, h, size);
}

static int stray_scan(void *ctx, const char *rel, uint64_t size, int64_t mtime) {
  (void)size;
  struct orphan_ctx *o = ctx;
  const char *base = strrchr(rel, '/');
  base = base ? base + 1 : rel;
  /* only leftovers of interrupted durable writes are removed */
  if (strncmp(base, ".tmp.", 5) != 0 || mtime >= o->cutoff_s) return 0;
  char p[4600];
  if (snprintf(p, sizeof p, "%s/%s", o->blobroot, rel) >= (int)sizeof p) return 0;
  if (remove(p) == 0) o->strays_removed++;
  return 0;
}

static int cmd_gc(struct args *a) {
  int64_t grace = DEFAULT_GRACE_S;
  if (a->npos != 0) {
    usage(stderr);
    return 2;
  }
  if (a->grace && bk_parse_duration(a->grace, &grace)) {
    fprintf(stderr, "bucketd: bad --grace '%s' (e.g. 1h, 30m, 0s)\n", a->grace);
    return 2;
  }
  struct store s;
  if (open_store(a->data, 1, &s)) return 1;
  int ret = 0, rc;
  int64_t now_ms;
  {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  }
  int64_t cutoff_ms = now_ms - grace * 1000;
  /* grace 0 means "everything unreferenced up to now" */
  if (grace == 0) cutoff_ms = now_ms + 1;

  /* 1. finish an interrupted gc */
  struct recover_ctx rcx = {&s, 0, 0};
  rc = bk_blob_trash_list(s.bs, recover_one, &rcx);
  if (rc) {
    ret = fail("gc (trash recovery)", rc);
    goto out;
  }

  /* 2. unreferenced metadata, then their blobs: once the rows are committed away the blobs are
   * orphans, removed like any orphan (re-checked inside a write transaction: one registered again
   * meanwhile is kept). A rolled-back batch's blobs still have rows, so the re-check keeps them. */
  struct gc_ctx g = {.s = &s};
  bk_gc_stats st;
  rc = bk_db_gc_ex(s.db, cutoff_ms, GC_BATCH, gc_note, NULL, &g, &st);
  if (rc) ret = fail("gc", rc);
  for (size_t off = 0; off < g.removed.n; off += GC_BATCH) {
    size_t k = g.removed.n - off < GC_BATCH ? g.removed.n - off : GC_BATCH;
    int r2 = bk_db_gc_orphans(s.db, g.removed.kinds + off, g.removed.h + off, k, gc_trash, &g, NULL);
    if (r2) gc_undo(&g);
    else gc_purge(&g);
    if (r2 && !ret) ret = fail("gc (blobs)", r2);
  }
  hlist_free(&g.removed);
  if (ret) {
    hlist_free(&g.trashed);
    goto out;
  }

  /* 3. orphan blobs (no row) older than the grace period */
  char root[4096];
  snprintf(root, sizeof root, "%s/%s", a->data, BK_BLOBS_DIR);
  struct orphan_ctx o = {.s = &s, .cutoff_s = cutoff_ms / 1000, .blobroot = root};
  if (grace == 0) o.cutoff_s = now_ms / 1000 + 1;
  for (int k = 0; k < BK_BLOB_NKINDS && rc == 0; k++)
    rc = bk_blob_list(s.bs, (bk_blob_kind)k, orphan_scan, stray_scan, &o);
  size_t norph = 0;
  for (size_t off = 0; rc == 0 && off < o.cand.n; off += GC_BATCH) {
    size_t k = o.cand.n - off < GC_BATCH ? o.cand.n - off : GC_BATCH, got = 0;
    rc = bk_db_gc_orphans(s.db, o.cand.kinds + off, o.cand.h + off, k, gc_trash, &g, &got);
    if (rc) {
      gc_undo(&g);
      ret = fail("gc (orphans)", rc);
    } else {
      gc_purge(&g);
      norph += got;
    }
  }
  if (rc && !ret) ret = fail("gc (orphan scan)", rc);
  size_t ntmp = 0;
  bk_blob_clean_tmp(s.bs, o.cutoff_s, &ntmp);

  printf("gc: removed %" PRIu64 " file reconstructions, %" PRIu64 " xorbs (%" PRIu64
         " bytes), %" PRIu64 " shards (%" PRIu64 " bytes), %zu orphan blobs, %" PRIu64
         " temp files\n",
         st.files, st.xorbs, st.xorb_bytes, st.shards, st.shard_bytes, norph, (uint64_t)(ntmp + o.strays_removed));
  if (g.missing)
    printf("gc: %" PRIu64 " removed rows had no blob (run fsck)\n", g.missing);
  if (rcx.restored || rcx.purged)
    printf("gc: recovered an interrupted gc: %" PRIu64 " blobs restored, %" PRIu64 " purged\n",
           rcx.restored, rcx.purged);
  hlist_free(&g.trashed);
  hlist_free(&o.cand);
out:
  close_store(&s);
  return ret;
}

/* ---- fsck ---- */

struct fsck_ctx {
  struct store *s;
  int read_data;
  uint64_t damage, warnings, xorbs, shards, blobs, files, marked;
  int64_t started_s;
};

static void report(struct fsck_ctx *f, int damage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(struct fsck_ctx *f, int damage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s: ", damage ? "DAMAGE" : "warning");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  if (damage) f->damage++;
  else f->warnings++;
}

static int db_msg(void *ctx, const char *msg) {
  report(ctx, 1, "database: %s", msg);
  return 0;
}

/* --read-data: the whole blob is verified (every chunk decoded and hashed,
 * the xorb hash, the chunk table against the row) by bk_db_xorb_check, which
 * records the outcome: a xorb that does not verify is MARKED damaged (the one
 * write fsck makes; docs/store.md), one that does is recorded as verified. */
static void check_xorb_data(struct fsck_ctx *f, const bk_xorb_info *x, const char *hex) {
  int rc = bk_db_xorb_check(f->s->db, f->s->bs, &x->hash, -1);
  if (rc == BK_EHASH) {
    report(f, 1, "xorb %s: content does not verify (%s): %s", hex,
           x->damaged ? "still marked damaged" : "now marked damaged", bk_errmsg());
    f->marked += !x->damaged;
  } else if (rc) {
    report(f, 1, "xorb %s: cannot check: %s (%s)", hex, bk_errmsg(), bk_strerror(rc));
  } else if (x->damaged) {
    printf("repaired: xorb %s verifies again; its damaged mark was cleared\n", hex);
  }
}

/* --read-data: a file's hash is recomputed from the chunk hashes its terms
 * select (xet.md §2), and its size from the chunk lengths. */
static int fsck_file(void *ctx, const bk_cas_file *cf) {
  struct fsck_ctx *f = ctx;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&cf->hash, hex);
  f->files++;
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
  int rc = bk_blob_stat(f->s->bs, kind, h, &size);
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
  f->xorbs++;
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
  f->shards++;
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
      f->marked += bad;
  }
  bk_buf_free(&b);
  return 0;
}

static int fsck_blob(void *ctx, bk_blob_kind kind, const bk_hash *h, uint64_t size,
                     int64_t mtime) {
  struct fsck_ctx *f = ctx;
  f->blobs++;
  int e = row_exists(f->s->db, kind, h);
  if (e < 0) return e;
  if (e) return 0;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(h, hex);
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

static int cmd_fsck(struct args *a) {
  if (a->npos != 0) {
    usage(stderr);
    return 2;
  }
  struct store s;
  if (open_store(a->data, 1, &s)) return 1;
  struct fsck_ctx f = {.s = &s, .read_data = a->read_data, .started_s = (int64_t)time(NULL)};
  struct vec vx = {.elem = sizeof(bk_xorb_info)}, vs = {.elem = sizeof(bk_shard_info)},
             vf = {.elem = sizeof(bk_cas_file)};
  int rc = bk_db_check(s.db, db_msg, &f);
  if (rc == 0 || rc == 1) rc = bk_db_xorb_list(s.db, push_xorb, &vx);
  if (rc == 0) rc = bk_db_shard_list(s.db, push_shard, &vs);
  if (rc == 0 && a->read_data) rc = bk_db_cas_file_list(s.db, push_file, &vf);
  for (size_t i = 0; rc == 0 && i < vx.n; i++) rc = fsck_xorb(&f, (bk_xorb_info *)vx.p + i);
  for (size_t i = 0; rc == 0 && i < vs.n; i++) rc = fsck_shard(&f, (bk_shard_info *)vs.p + i);
  for (size_t i = 0; rc == 0 && i < vf.n; i++) rc = fsck_file(&f, (bk_cas_file *)vf.p + i);
  free(vx.p);
  free(vs.p);
  free(vf.p);
  for (int k = 0; rc == 0 && k < BK_BLOB_NKINDS; k++)
    rc = bk_blob_list(s.bs, (bk_blob_kind)k, fsck_blob, fsck_stray, &f);
  if (rc == 0) rc = bk_db_damaged_refs(s.db, print_damaged_ref, &f);
  int ret;
  if (rc < 0) {
    ret = fail("fsck", rc);
  } else {
    printf("fsck: %" PRIu64 " xorbs, %" PRIu64 " shards, %" PRIu64 " blobs, %" PRIu64
           " files checked%s; %" PRIu64 " damaged, %" PRIu64 " warnings\n",
           f.xorbs, f.shards, f.blobs, f.files, a->read_data ? " (with data)" : "", f.damage,
           f.warnings);
    if (f.marked)
      printf("fsck: marked %" PRIu64 " blob(s) damaged: dedup no longer offers them, new shards "
             "may not reference them, a re-upload of their bytes repairs them\n", f.marked);
    ret = f.damage ? 1 : 0;
  }
  close_store(&s);
  return ret;
}

/* ---- scrub ---- */

#define SCRUB_DEFAULT_BYTES (1ull << 30)
#define SCRUB_PAGE 256

/* "N" with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t *out) {
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (!s[0] || end == s || s[0] == '-') return -1;
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  else if (*end == 'M' || *end == 'm') shift = 20;
  else if (*end == 'G' || *end == 'g') shift = 30;
  else if (*end) return -1;
  if (shift && end[1]) return -1;
  if (v > (UINT64_MAX >> shift)) return -1;
  *out = (uint64_t)v << shift;
  return 0;
}

struct scrub {
  struct store *s;
  uint64_t max_bytes, max_blobs;
  uint64_t bytes, blobs, xorbs, shards, damaged, errors;
  int64_t last_id; /* last row checked in the current page */
  int stop;        /* budget exhausted */
};

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
  int rc = bk_db_xorb_check(k->s->db, k->s->bs, &x->hash, -1);
  if (rc == BK_EHASH) {
    printf("DAMAGE: xorb %s: %s\n", hex, x->damaged ? "still damaged" : bk_errmsg());
    k->damaged++;
  } else if (rc) {
    printf("warning: xorb %s: cannot check: %s (%s)\n", hex, bk_errmsg(), bk_strerror(rc));
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
  int rc = bk_db_shard_check(k->s->db, k->s->bs, &si->hash);
  if (rc == BK_EHASH) {
    printf("DAMAGE: shard %s: %s\n", hex, bk_errmsg());
    k->damaged++;
  } else if (rc) {
    printf("warning: shard %s: cannot check: %s (%s)\n", hex, bk_errmsg(), bk_strerror(rc));
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

static int cmd_scrub(struct args *a) {
  if (a->npos != 0) {
    usage(stderr);
    return 2;
  }
  struct scrub k;
  memset(&k, 0, sizeof k);
  k.max_bytes = SCRUB_DEFAULT_BYTES;
  k.max_blobs = UINT64_MAX;
  if (a->max_bytes && (parse_size(a->max_bytes, &k.max_bytes) || k.max_bytes == 0)) {
    fprintf(stderr, "bucketd: bad --max-bytes '%s'\n", a->max_bytes);
    return 2;
  }
  if (a->max_blobs && (parse_size(a->max_blobs, &k.max_blobs) || k.max_blobs == 0)) {
    fprintf(stderr, "bucketd: bad --max-blobs '%s'\n", a->max_blobs);
    return 2;
  }
  struct store s;
  if (open_store(a->data, 1, &s)) return 1;
  k.s = &s;
  int rc = scrub_kind(&k, BK_BLOB_XORB);
  if (rc == 0 && !k.stop) rc = scrub_kind(&k, BK_BLOB_SHARD);
  struct fsck_ctx f = {.s = &s};
  if (rc == 0 && k.damaged) rc = bk_db_damaged_refs(s.db, print_damaged_ref, &f);
  int ret;
  if (rc < 0) {
    ret = fail("scrub", rc);
  } else {
    printf("scrub: %" PRIu64 " xorbs, %" PRIu64 " shards verified (%" PRIu64 " bytes); %" PRIu64
           " damaged, %" PRIu64 " not checked (errors)%s\n",
           k.xorbs, k.shards, k.bytes, k.damaged, k.errors,
           k.stop ? "; budget reached, the next run resumes here" : "");
    ret = k.damaged || k.errors ? 1 : 0;
  }
  close_store(&s);
  return ret;
}

int bucketd_admin(int argc, char **argv) {
  if (argc < 1 || !argv[0]) {
    usage(stderr);
    return 2;
  }
  struct args a;
  if (parse_args(argc, argv, &a)) {
    usage(stderr);
    return 2;
  }
  if (a.help) {
    usage(stdout);
    return 0;
  }
  const char *cmd = argv[0];
  if (!strcmp(cmd, "user")) return cmd_user(&a);
  if (!strcmp(cmd, "token")) return cmd_token(&a);
  if (!strcmp(cmd, "org")) return cmd_org(&a);
  if (!strcmp(cmd, "gc")) return cmd_gc(&a);
  if (!strcmp(cmd, "fsck")) return cmd_fsck(&a);
  if (!strcmp(cmd, "scrub")) return cmd_scrub(&a);
  fprintf(stderr, "bucketd: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
