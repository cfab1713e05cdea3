/* bucketd — administration subcommands (see admin.h). Accounts through
 * the store APIs (store/db.h, accounts.h); gc, fsck and scrub through the
 * storage service (src/service/service.h): this file only parses arguments
 * and prints. Never parses HTTP. */
#include "buckets/names.h"
#include "server/admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/accounts.h"
#include "buckets/buf.h"
#include "store/db.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "server/server.h"
#include "service/service.h"
#include "server/hub_parse.h"
#include "server/storecfg.h"

#define DEFAULT_GRACE_S 3600
#define GC_BATCH 500 /* objects per gc write transaction */

struct args {
  const char *pos[8];
  int npos;
  const char *data, *db, *blobs; /* as given (NULL = not), see server/storecfg.h */
  struct bk_store_choice store;  /* chosen once the command is known */
  const char *role;
  const char *owner;
  const char *grace;
  const char *delete_grace;
  const char *max_bytes;
  const char *max_blobs;
  int read_data;
  int force;
  int help;
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: bucketd user add NAME                         [STORE]\n"
          "       bucketd token add USER --role read|write      [STORE]\n"
          "       bucketd token list USER                       [STORE]\n"
          "       bucketd token revoke ID                       [STORE]\n"
          "       bucketd org add ORG --owner USER              [STORE]\n"
          "       bucketd org member ORG USER --role read|write|admin|none [STORE]\n"
          "       bucketd gc [--grace DURATION]   (default 1h; e.g. 30m, 0s) [STORE]\n"
          "                  [--delete-grace DURATION] (object stores: how long a blob gc\n"
          "                  unreferenced stays readable before it is deleted; default 20m)\n"
          "       bucketd fsck [--read-data]                    [STORE]\n"
          "       bucketd scrub [--max-bytes N[K|M|G]] [--max-blobs N] [STORE]\n"
          "                     (default 1G per run; resumes where the last run stopped)\n"
          "       bucketd migrate --data DIR --to-db URL --to-blobs URL\n"
          "       bucketd region add NAME --blobs URL         [--data DIR | --db URL]\n"
          "       bucketd region list                         [STORE]\n"
          "       bucketd region remove NAME [--force]        [STORE]\n"
          "                  (regions: one object store each, docs/regions.md; the first\n"
          "                  added is the default; --blobs of region add is the region's\n"
          "                  store, s3:// or file://, credentials from the environment)\n"
          "STORE is --data DIR, or --db URL --blobs URL (user, token, org: --db URL is\n"
          "enough; a --blobs given with it is not opened); defaults: $BUCKETD_DATA, or\n"
          "$BUCKETD_DB and $BUCKETD_BLOBS, else ./var\n");
}

/* Parses argv[1..]; returns 0 or 2 (usage error, message printed). */
static int parse_args(int argc, char **argv, struct args *a) {
  memset(a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    const char **slot = NULL;
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) { a->help = 1; continue; }
    if (!strcmp(s, "--read-data")) { a->read_data = 1; continue; }
    if (!strcmp(s, "--force")) { a->force = 1; continue; }
    if (!strcmp(s, "--data")) slot = &a->data;
    else if (!strcmp(s, "--db")) slot = &a->db;
    else if (!strcmp(s, "--blobs")) slot = &a->blobs;
    else if (!strcmp(s, "--role")) slot = &a->role;
    else if (!strcmp(s, "--owner")) slot = &a->owner;
    else if (!strcmp(s, "--grace")) slot = &a->grace;
    else if (!strcmp(s, "--delete-grace")) slot = &a->delete_grace;
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
};

/* The metadata db (accounts commands): DIR/buckets.db or --db URL. */
static int open_store(const struct bk_store_choice *sc, struct store *st) {
  memset(st, 0, sizeof *st);
  char path[4096], desc[1200], m[512];
  int rc = 0;
  if (sc->data) {
    rc = bk_mkdir_p(sc->data, 0700);
    if (rc == 0 && snprintf(path, sizeof path, "%s/%s", sc->data, BK_DB_FILE) >= (int)sizeof path)
      rc = bk_seterr(BK_EINVAL, "data dir path too long");
    if (rc == 0) rc = bk_db_open(path, &st->db);
  } else {
    rc = bk_db_open_url(sc->db, &st->db);
  }
  if (rc) {
    struct bk_store_choice only = {.data = sc->data, .db = sc->db};
    bk_store_describe(&only, desc, sizeof desc);
    snprintf(m, sizeof m, "%s", bk_errmsg());
    bk_url_scrub(sc->db, m, sizeof m);
    fprintf(stderr, "bucketd: cannot open the store (%s): %s (%s)\n", desc, m, bk_strerror(rc));
    bk_db_close(st->db);
    st->db = NULL;
  }
  return rc;
}

static void close_store(struct store *st) {
  bk_db_close(st->db);
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
  if (open_store(&a->store, &s)) return 1;
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
  if (open_store(&a->store, &s)) return 1;
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
  if (open_store(&a->store, &s)) return 1;
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

/* ---- gc, fsck, scrub: the storage service does the work ---- */

/* Opens the store's service (db + blob store owned by it). */
/* Opens the service on the chosen store; reports a failure on stderr unless
 * quiet. */
static int open_svc_as(const struct bk_store_choice *sc, int64_t delete_grace_ms, int quiet,
                       bk_svc **svc) {
  char db[4096], blobs[4096], desc[1200], m[512];
  struct bk_svc_config cfg = {.db_url = sc->db, .blob_url = sc->blobs,
                              .delete_grace_ms = delete_grace_ms};
  int rc = 0;
  if (sc->data) {
    rc = bk_mkdir_p(sc->data, 0700);
    if (rc == 0 && (snprintf(db, sizeof db, "%s/%s", sc->data, BK_DB_FILE) >= (int)sizeof db ||
                    snprintf(blobs, sizeof blobs, "%s/%s", sc->data, BK_BLOBS_DIR) >=
                        (int)sizeof blobs))
      rc = bk_seterr(BK_EINVAL, "data dir path too long");
    cfg.db_path = db;
    cfg.blob_root = blobs;
  }
  if (rc == 0) rc = bk_svc_open(&cfg, svc);
  if (rc && !quiet) {
    bk_store_describe(sc, desc, sizeof desc);
    snprintf(m, sizeof m, "%s", bk_errmsg());
    bk_url_scrub(sc->db, m, sizeof m);
    bk_url_scrub(sc->blobs, m, sizeof m);
    fprintf(stderr, "bucketd: cannot open the store (%s): %s (%s)\n", desc, m, bk_strerror(rc));
  }
  return rc;
}

static int open_svc(const struct bk_store_choice *sc, int64_t delete_grace_ms, bk_svc **svc) {
  return open_svc_as(sc, delete_grace_ms, 0, svc);
}

static void print_line(void *ctx, const char *line) {
  (void)ctx;
  printf("%s\n", line);
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
  int64_t dgrace = 0; /* 0: the service's default (BK_SVC_DELETE_GRACE_MS) */
  if (a->delete_grace && (bk_parse_duration(a->delete_grace, &dgrace) || dgrace > 3650 * 86400)) {
    fprintf(stderr, "bucketd: bad --delete-grace '%s' (e.g. 20m, 0s)\n", a->delete_grace);
    return 2;
  }
  if (a->delete_grace) dgrace = dgrace == 0 ? BK_SVC_DELETE_NOW : dgrace * 1000;
  bk_svc *svc = NULL;
  if (open_svc(&a->store, dgrace, &svc)) return 1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  int64_t cutoff_ms = now_ms - grace * 1000, cutoff_s = cutoff_ms / 1000;
  /* grace 0 means "everything unreferenced up to now" */
  if (grace == 0) {
    cutoff_ms = now_ms + 1;
    cutoff_s = now_ms / 1000 + 1;
  }
  bk_svc_gc_result r;
  const char *what = NULL;
  int rc = bk_svc_gc(svc, cutoff_ms, cutoff_s, GC_BATCH, &r, &what);
  int ret = rc ? fail(what ? what : "gc", rc) : 0;
  if (r.summary) {
    printf("gc: removed %" PRIu64 " file reconstructions, %" PRIu64 " xorbs (%" PRIu64
           " bytes), %" PRIu64 " shards (%" PRIu64 " bytes), %zu orphan blobs, %" PRIu64
           " temp files\n",
           r.st.files, r.st.xorbs, r.st.xorb_bytes, r.st.shards, r.st.shard_bytes, r.orphans,
           r.temp_files);
    if (r.missing) printf("gc: %" PRIu64 " removed rows had no blob (run fsck)\n", r.missing);
    if (r.restored || r.purged)
      printf("gc: recovered an interrupted gc: %" PRIu64 " blobs restored, %" PRIu64
             " purged\n",
             r.restored, r.purged);
    if (r.pending || r.deleted || r.kept)
      printf("gc: pending deletes: %" PRIu64 " blobs recorded, %" PRIu64 " deleted (due), %" PRIu64
             " kept (registered again)\n",
             r.pending, r.deleted, r.kept);
  }
  bk_svc_close(svc);
  return ret;
}

static int cmd_fsck(struct args *a) {
  if (a->npos != 0) {
    usage(stderr);
    return 2;
  }
  bk_svc *svc = NULL;
  if (open_svc(&a->store, 0, &svc)) return 1;
  bk_svc_fsck_result f;
  int rc = bk_svc_fsck(svc, a->read_data, print_line, NULL, &f);
  int ret;
  if (rc < 0) {
    ret = fail("fsck", rc);
  } else {
    printf("fsck: %" PRIu64 " xorbs, %" PRIu64 " shards, %" PRIu64 " blobs, %" PRIu64
           " files checked%s; %" PRIu64 " damaged, %" PRIu64 " warnings\n",
           f.xorbs, f.shards, f.blobs, f.files, a->read_data ? " (with data)" : "", f.damage,
           f.warnings);
    if (f.pending)
      printf("fsck: %" PRIu64 " blob(s) pending deletion by gc (not damage)\n", f.pending);
    if (f.marked)
      printf("fsck: marked %" PRIu64 " blob(s) damaged: dedup no longer offers them, new shards "
             "may not reference them, a re-upload of their bytes repairs them\n", f.marked);
    ret = f.damage ? 1 : 0;
  }
  bk_svc_close(svc);
  return ret;
}

#define SCRUB_DEFAULT_BYTES (1ull << 30)

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

static int cmd_scrub(struct args *a) {
  if (a->npos != 0) {
    usage(stderr);
    return 2;
  }
  uint64_t max_bytes = SCRUB_DEFAULT_BYTES, max_blobs = UINT64_MAX;
  if (a->max_bytes && (parse_size(a->max_bytes, &max_bytes) || max_bytes == 0)) {
    fprintf(stderr, "bucketd: bad --max-bytes '%s'\n", a->max_bytes);
    return 2;
  }
  if (a->max_blobs && (parse_size(a->max_blobs, &max_blobs) || max_blobs == 0)) {
    fprintf(stderr, "bucketd: bad --max-blobs '%s'\n", a->max_blobs);
    return 2;
  }
  bk_svc *svc = NULL;
  if (open_svc(&a->store, 0, &svc)) return 1;
  bk_svc_scrub_result k;
  int rc = bk_svc_scrub(svc, max_bytes, max_blobs, print_line, NULL, &k);
  int ret;
  if (rc < 0) {
    ret = fail("scrub", rc);
  } else {
    printf("scrub: %" PRIu64 " xorbs, %" PRIu64 " shards verified (%" PRIu64 " bytes); %" PRIu64
           " damaged, %" PRIu64 " not checked (errors)%s\n",
           k.xorbs, k.shards, k.bytes, k.damaged, k.errors,
           k.stopped ? "; budget reached, the next run resumes here" : "");
    ret = k.damaged || k.errors ? 1 : 0;
  }
  bk_svc_close(svc);
  return ret;
}

/* ---- region: the service keeps the registry (regions table) ---- */

/* The service for a region command: the metadata of --data/--db; the blob
 * store of the data dir, else $BUCKETD_BLOBS, else the --blobs given (region
 * add: the region's own store; list/remove: the deployment's store, as the
 * other admin commands take it), else none (the service opens the configured
 * regions' stores). */
/* The service for `region`: on --data, that store. On --db alone, the
 * service needs no store of its own once regions are configured (it opens
 * theirs); before the first region, the store being added (blobs, when
 * given) stands in — it is the default region from then on. */
static int open_region_svc(const struct bk_store_choice *sc, const char *blobs, bk_svc **svc) {
  struct bk_store_choice c = *sc;
  if (c.data || c.blobs || !blobs) return open_svc(&c, 0, svc);
  if (open_svc_as(&c, 0, 1, svc) == 0) return 0;
  c.blobs = blobs;
  return open_svc(&c, 0, svc);
}

static int region_add(struct args *a, bk_svc *svc) {
  char msg[512] = "", masked[512];
  int rc = bk_svc_region_add(svc, a->pos[1], a->blobs, msg, sizeof msg);
  if (rc) {
    snprintf(masked, sizeof masked, "%s", bk_errmsg());
    bk_url_scrub(a->blobs, masked, sizeof masked);
    fprintf(stderr, "bucketd: region add %s: %s (%s)\n", a->pos[1], masked, bk_strerror(rc));
    return 1;
  }
  bk_url_mask(a->blobs, masked, sizeof masked);
  printf("region %s added: %s\n", a->pos[1], masked);
  if (msg[0]) printf("%s\n", msg);
  return 0;
}

static int region_list(bk_svc *svc) {
  bk_svc_region *r = NULL;
  size_t n = 0;
  int rc = bk_svc_region_list(svc, &r, &n);
  if (rc) return fail("region list", rc);
  if (n == 0) printf("no regions configured (single store)\n");
  for (size_t i = 0; i < n; i++)
    printf("%-12s %s%s\n", r[i].name, r[i].url_masked, r[i].is_default ? "  (default)" : "");
  free(r);
  return 0;
}

static int region_remove(struct args *a, bk_svc *svc) {
  int rc = bk_svc_region_remove(svc, a->pos[1], a->force);
  if (rc == BK_EBUSY) {
    fprintf(stderr, "bucketd: region remove %s refused: %s%s\n", a->pos[1], bk_errmsg(),
            a->force ? "" : " (--force removes it anyway, once its data is moved)");
    return 1;
  }
  if (rc) return fail("region remove", rc);
  printf("region %s removed\n", a->pos[1]);
  return 0;
}

static int cmd_region(struct args *a) {
  const char *sub = a->npos ? a->pos[0] : "";
  int add = !strcmp(sub, "add"), list = !strcmp(sub, "list"), rm = !strcmp(sub, "remove");
  if ((!add && !list && !rm) || a->npos != (list ? 1 : 2) || (add && !a->blobs) ||
      (a->force && !rm)) {
    usage(stderr);
    return 2;
  }
  if (!list && !bk_region_name_valid(a->pos[1])) {
    fprintf(stderr, "bucketd: bad region name '%s' (a-z, 0-9, '-', at most 32, starting with a "
                    "letter)\n", a->pos[1]);
    return 2;
  }
  if (bk_store_choose(a->data, a->db, NULL, 0, &a->store)) return 2;
  bk_svc *svc = NULL;
  if (open_region_svc(&a->store, a->blobs, &svc)) return 1;
  int ret = add ? region_add(a, svc) : list ? region_list(svc) : region_remove(a, svc);
  bk_svc_close(svc);
  return ret;
}

int bucketd_admin(int argc, char **argv) {
  if (argc < 1 || !argv[0]) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[0], "migrate")) return bucketd_migrate(argc, argv);
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
  if (!strcmp(cmd, "region")) return cmd_region(&a); /* its --blobs is the region's store */
  int accounts = !strcmp(cmd, "user") || !strcmp(cmd, "token") || !strcmp(cmd, "org");
  if (bk_store_choose(a.data, a.db, a.blobs, !accounts, &a.store)) return 2;
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
