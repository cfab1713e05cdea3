/* Benchmark: the metadata store on PostgreSQL vs SQLite, same run, same
 * machine (bench/run-meta.sh starts a throwaway PostgreSQL).
 *
 *   bench_meta URL...   (each a metadata BASE: "sqlite:///dir" or a
 *                        "postgresql://..." URL; the first is the baseline)
 *
 * Per base, in a database of its own: 100 batches of 1,000 addFile
 * (bk_db_batch, the Hub API's batch registration) building a 100,000-file
 * bucket, then the full recursive tree listing of it in pages of 1,000
 * (bk_db_tree with cursors, as the listing API pages). Prints figures and
 * the ratio to the baseline; no timed assertion (goal: PostgreSQL within
 * 3x of SQLite). The PostgreSQL database is dropped at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"
#include "store/accounts.h"
#include "store/db.h"
#include "store/sql.h"

enum { NB = 100, PER = 1000 };

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int count_cb(void *ctx, const bk_file_entry *e) {
  (void)e;
  (*(int *)ctx)++;
  return 0;
}

struct figures {
  double batch_mean, batch_worst, list_ms;
  int listed;
};

static int run_batches(bk_db *db, int64_t bucket, struct figures *f) {
  static char names[PER][48];
  static bk_batch_op ops[PER];
  double total = 0;
  for (int r = 0; r < NB; r++) {
    for (int i = 0; i < PER; i++) {
      snprintf(names[i], sizeof names[i], "dir%02d/sub%02d/file-%05d.bin", r % 50, i % 20,
               r * PER + i);
      ops[i] = (bk_batch_op){.type = BK_OP_ADD, .path = names[i], .mtime_ms = -1, .size = -1};
    }
    size_t nf;
    double t0 = now_ms();
    int rc = bk_db_batch(db, bucket, ops, PER, 0, &nf);
    double dt = now_ms() - t0;
    if (rc) return rc;
    total += dt;
    if (dt > f->batch_worst) f->batch_worst = dt;
  }
  f->batch_mean = total / NB;
  return 0;
}

static int run_listing(bk_db *db, int64_t bucket, struct figures *f) {
  double t0 = now_ms();
  char *cur = NULL;
  for (;;) {
    char *next = NULL;
    int rc = bk_db_tree(db, bucket, "", BK_TREE_RECURSIVE, cur, 1000, count_cb, &f->listed, &next);
    free(cur);
    if (rc) return rc;
    if (!next) break;
    cur = next;
  }
  f->list_ms = now_ms() - t0;
  return 0;
}

/* "<base>/<name>" as a database URL; PostgreSQL: a fresh database
 * "bkbench<pid>" on the server of base (created by the driver). */
static void db_url(const char *base, char *out, size_t n, int *is_pg) {
  *is_pg = strncmp(base, "postgres", 8) == 0;
  if (!*is_pg) {
    snprintf(out, n, "%s/bench-%ld.db", base, (long)getpid());
    return;
  }
  const char *host = strstr(base, "://");
  const char *slash = host ? strchr(host + 3, '/') : NULL;
  int hl = slash ? (int)(slash - base) : (int)strlen(base);
  snprintf(out, n, "%.*s/bkbench%ld", hl, base, (long)getpid());
}

static void drop_pg(const char *base, const char *url) {
  const char *name = strrchr(url, '/') + 1;
  bk_sql_conn *c = NULL;
  char sql[200];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
  if (bk_sql_connect_url(base, &c) == 0 && bk_sql_exec(c, sql) != 0)
    fprintf(stderr, "bench_meta: drop %s: %s\n", name, bk_errmsg());
  bk_sql_close(c);
}

static int bench_one(const char *base, struct figures *f) {
  char url[600];
  int is_pg;
  db_url(base, url, sizeof url, &is_pg);
  bk_db *db = NULL;
  int rc = bk_db_open_url(url, &db);
  bk_ns u;
  bk_bucket b;
  if (rc == 0) rc = bk_db_user_add(db, "bench", &u);
  if (rc == 0) rc = bk_db_bucket_create(db, u.id, "b", 0, &b);
  if (rc == 0) rc = run_batches(db, b.id, f);
  if (rc == 0) rc = run_listing(db, b.id, f);
  if (rc) fprintf(stderr, "bench_meta: %s\n", bk_errmsg());
  bk_db_close(db);
  if (is_pg) drop_pg(base, url);
  else {
    char p[2000];
    snprintf(p, sizeof p, "rm -f '%s' '%s-wal' '%s-shm'", url + 9, url + 9, url + 9);
    if (system(p) != 0) fprintf(stderr, "bench_meta: cleanup failed\n");
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_meta BASE_URL...  (first = baseline)\n");
    return 2;
  }
  struct figures base = {0};
  for (int i = 1; i < argc; i++) {
    struct figures f = {0};
    const char *engine = strncmp(argv[i], "postgres", 8) == 0 ? "postgresql" : "sqlite";
    if (bench_one(argv[i], &f)) return 1;
    if (i == 1) base = f;
    printf("figure: %s: batch of %d addFile: mean %.1f ms, worst %.1f ms", engine, PER,
           f.batch_mean, f.batch_worst);
    if (i > 1) printf(" = %.2fx %s", f.batch_mean / base.batch_mean, "the baseline");
    printf("\n");
    printf("figure: %s: recursive listing of %d entries in pages of 1000: %.0f ms (%.0f entries/s)",
           engine, f.listed, f.list_ms, f.listed / (f.list_ms / 1000));
    if (i > 1) printf(" = %.2fx the baseline", f.list_ms / base.list_ms);
    printf("\n");
  }
  return 0;
}
