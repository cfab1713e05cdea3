/* bucketd — `bucketd migrate --data DIR --to-db URL --to-blobs URL`: copies
 * a single-machine store into another store (e.g. PostgreSQL + S3). Only
 * argument parsing, the source's lock and printing are here; the copy
 * (verified blobs, then every metadata row in one transaction) is the
 * storage service's (service/svc_migrate.h). Never parses HTTP.
 *
 * Test hooks (compiled in, documented in docs/server.md): with
 * BUCKETD_MIGRATE_KILL_AFTER_BLOBS=N the process kills itself (SIGKILL)
 * right after committing its N-th copied blob; with
 * BUCKETD_MIGRATE_KILL_AFTER_TABLE=NAME after copying table NAME inside the
 * target's metadata transaction. Both simulate a kill -9 at a chosen
 * point, for the resume tests. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"
#include "server/admin.h"
#include "server/server.h"
#include "server/storecfg.h"
#include "service/svc_migrate.h"
#include "store/blobstore.h"
#include "store/db.h"

struct margs {
  const char *data, *to_db, *to_blobs;
};

struct mrun {
  uint64_t done, kill_after;
  const char *kill_table;
  double t0;
};

static void usage(FILE *f) {
  fprintf(f, "usage: bucketd migrate --data DIR --to-db URL --to-blobs URL\n"
             "  copies the store in DIR (stopped: its lock is taken) into the target, e.g.\n"
             "  --to-db postgresql://user:password@127.0.0.1:5432/buckets\n"
             "  --to-blobs 's3://BUCKET?endpoint=http://127.0.0.1:7480&region=us-east-1'\n"
             "  Every blob is verified on the way; the metadata is copied in one transaction\n"
             "  once every blob is there. Run it again after an interruption: blobs already\n"
             "  copied are skipped; a finished migration reports nothing to do.\n");
}

static int parse(int argc, char **argv, struct margs *a) {
  memset(a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    const char **slot = NULL;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--data")) slot = &a->data;
    else if (!strcmp(argv[i], "--to-db")) slot = &a->to_db;
    else if (!strcmp(argv[i], "--to-blobs")) slot = &a->to_blobs;
    if (!slot || i + 1 >= argc || !*argv[i + 1]) {
      fprintf(stderr, "bucketd: migrate: %s '%s'\n", slot ? "option needs a value" : "unknown argument",
              argv[i]);
      usage(stderr);
      return 2;
    }
    *slot = argv[++i];
  }
  if (!a->data || !a->to_db || !a->to_blobs) {
    fprintf(stderr, "bucketd: migrate needs --data DIR, --to-db URL and --to-blobs URL\n");
    usage(stderr);
    return 2;
  }
  struct bk_store_choice c;
  return bk_store_choose(NULL, a->to_db, a->to_blobs, 1, &c) ? 2 : -1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_blob(void *ctx, const char *kind, const bk_hash *h, uint64_t size, int copied) {
  (void)kind;
  (void)h;
  (void)size;
  struct mrun *r = ctx;
  if (!copied) return 0;
  r->done++;
  if (r->done % 1000 == 0)
    fprintf(stderr, "bucketd: migrate: %" PRIu64 " blobs copied (%.1f s)\n", r->done,
            now_s() - r->t0);
  if (r->kill_after && r->done >= r->kill_after) raise(SIGKILL); /* test hook */
  return 0;
}

static int on_table(void *ctx, const char *table, uint64_t rows) {
  (void)rows;
  struct mrun *r = ctx;
  if (r->kill_table && !strcmp(r->kill_table, table)) raise(SIGKILL); /* test hook */
  return 0;
}

static void report(const struct margs *a, const bk_svc_migrate_stats *st, double secs) {
  if (st->nothing_to_do) {
    printf("migrate: nothing to do: the target is a complete copy of %s already (%" PRIu64
           " rows)\n", a->data, st->meta.rows);
    return;
  }
  static const char *const kinds[2] = {"xorb", "shard"};
  for (int k = 0; k < 2; k++)
    printf("migrate: %ss: %" PRIu64 " copied (%" PRIu64 " bytes, verified), %" PRIu64
           " already in the target (%" PRIu64 " bytes), %" PRIu64 " without a row not copied\n",
           kinds[k], st->copied[k], st->copied_bytes[k], st->present[k],
           st->present_bytes[k], st->orphans[k]);
  for (size_t i = 0; i < st->meta.ntables; i++)
    printf("migrate: table %s: %" PRIu64 " rows\n", st->meta.t[i].name, st->meta.t[i].rows);
  printf("migrate: done: %" PRIu64 " rows in one transaction, %.2f s\n", st->meta.rows, secs);
}

struct mstores {
  bk_db *sdb, *ddb;
  bk_blobstore *sbs, *dbs;
};

static void close_stores(struct mstores *s) {
  bk_db_close(s->sdb);
  bk_db_close(s->ddb);
  bk_blobstore_close(s->sbs);
  bk_blobstore_close(s->dbs);
}

/* The source (must be a data dir already: nothing is created) and target. */
static int open_stores(const struct margs *a, struct mstores *s) {
  memset(s, 0, sizeof *s);
  char path[4096];
  struct stat st;
  if (snprintf(path, sizeof path, "%s/%s", a->data, BK_DB_FILE) >= (int)sizeof path)
    return bk_seterr(BK_EINVAL, "data dir path too long");
  if (stat(path, &st) != 0)
    return bk_seterr(BK_ENOTFOUND, "%s is not a data dir (no %s)", a->data, BK_DB_FILE);
  int rc = bk_db_open(path, &s->sdb);
  snprintf(path, sizeof path, "%s/%s", a->data, BK_BLOBS_DIR);
  if (!rc) rc = bk_blobstore_open(path, &s->sbs);
  if (!rc) rc = bk_db_open_url(a->to_db, &s->ddb);
  if (!rc) rc = bk_blobstore_open_url(a->to_blobs, &s->dbs);
  return rc;
}

static int run(const struct margs *a, struct mrun *r) {
  struct mstores s;
  char desc[1200], m[512];
  struct bk_store_choice c = {.db = a->to_db, .blobs = a->to_blobs};
  bk_store_describe(&c, desc, sizeof desc);
  fprintf(stderr, "bucketd: migrate: data %s -> %s\n", a->data, desc);
  int rc = open_stores(a, &s);
  bk_svc_migrate_stats st;
  struct bk_svc_migrate_config cfg = {.src_db = s.sdb, .dst_db = s.ddb, .src_blobs = s.sbs,
                                      .dst_blobs = s.dbs, .blob_cb = on_blob,
                                      .table_cb = on_table, .ctx = r};
  if (!rc) rc = bk_svc_migrate(&cfg, &st);
  close_stores(&s);
  if (!rc) {
    report(a, &st, now_s() - r->t0);
    return 0;
  }
  snprintf(m, sizeof m, "%s", bk_errmsg());
  bk_url_scrub(a->to_db, m, sizeof m);
  bk_url_scrub(a->to_blobs, m, sizeof m);
  fprintf(stderr, "bucketd: migrate failed: %s (%s); nothing was written to the target's "
                  "metadata, run it again once fixed\n", m, bk_strerror(rc));
  return 1;
}

int bucketd_migrate(int argc, char **argv) {
  struct margs a;
  int rc = parse(argc, argv, &a);
  if (rc >= 0) return rc;
  struct mrun r = {.t0 = now_s()};
  const char *k = getenv("BUCKETD_MIGRATE_KILL_AFTER_BLOBS");
  if (k && *k) r.kill_after = strtoull(k, NULL, 10);
  r.kill_table = getenv("BUCKETD_MIGRATE_KILL_AFTER_TABLE");
  char dbf[4096];
  struct stat sb;
  if (snprintf(dbf, sizeof dbf, "%s/%s", a.data, BK_DB_FILE) >= (int)sizeof dbf ||
      stat(dbf, &sb) != 0) {
    fprintf(stderr, "bucketd: migrate: %s is not a data dir (no %s)\n", a.data, BK_DB_FILE);
    return 1;
  }
  int fd = -1;
  rc = bk_data_dir_lock(a.data, "migrate", &fd);
  if (rc) {
    fprintf(stderr, "bucketd: migrate: %s\n", bk_errmsg());
    return 1;
  }
  rc = run(&a, &r);
  bk_data_dir_unlock(a.data, fd);
  return rc;
}
