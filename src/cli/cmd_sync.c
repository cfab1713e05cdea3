/* hf buckets sync [SOURCE] [DEST]  (also: hf sync) — spec §3.8. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/buf.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/sync.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets sync SOURCE DEST [options]      (alias: hf sync)\n"
    "       hf buckets sync --apply PLAN [--force]\n\n"
    "Synchronises a local directory and a bucket prefix, in either direction:\n"
    "  hf sync ./ckpt hf://buckets/ns/b/ckpt      upload what is new or changed\n"
    "  hf sync hf://buckets/ns/b/ckpt ./ckpt      download what is new or changed\n"
    "  hf sync hf://buckets/ns/b/dir/f.txt ./out  one remote file: lands as ./out/f.txt\n"
    "A bucket side may also be a Hub web URL of the endpoint (HOST/buckets/ns/b[/tree/PATH]).\n"
    "A file is transferred when it is new, its size differs, or the source is newer by\n"
    "more than 1 s; otherwise it is skipped. When the sizes match and the mtimes differ\n"
    "by 1 s or less, the local file's Xet hash is computed and compared with the remote\n"
    "one (\"content differs\"). Uploads are deduplicated by content: only chunks the\n"
    "server does not have are sent. Downloaded files get the remote mtime, so a repeated\n"
    "sync skips them. An interrupted sync can simply be run again.\n"
    "Downloads stay inside DEST: no symlink below it is followed (nor replaced) and a\n"
    "file that cannot be written there is reported (\"Failed: path: why\") and skipped;\n"
    "the other files are still transferred and the exit status is 1.\n\n"
    "Options:\n"
    "  --delete            delete destination files that are not in the source\n"
    "  --ignore-times      compare sizes only\n"
    "  --ignore-sizes      compare modification times only\n"
    "  --existing          only update files that already exist at the destination\n"
    "  --ignore-existing   only transfer files missing at the destination\n"
    "  --include PAT       include matching paths (fnmatch, '*' matches '/'; repeatable)\n"
    "  --exclude PAT       exclude matching paths (repeatable; wins over --include)\n"
    "  --filter-from FILE  rules '+ PAT' / '- PAT' (first match decides), read first\n"
    "  --dry-run           print the plan as JSONL on stdout, change nothing\n"
    "  --plan FILE         save the plan (JSONL) to FILE, change nothing\n"
    "  --apply FILE        execute a saved plan; every source file is re-checked (size,\n"
    "                      mtime) and a stale plan is refused\n"
    "  --force             with --apply: skip the staleness check\n"
    "  -v, --verbose       print one line per file\n"
    "  -q, --quiet         print nothing but errors\n"
    "Plan format: line 1 {\"type\":\"header\",\"source\",\"dest\",\"timestamp\",\"summary\":{uploads,\n"
    "downloads,deletes,skips,total_size}}, then one {\"type\":\"operation\",\"action\":\n"
    "upload|download|delete|skip,\"path\",\"reason\",\"size\",\"local_mtime\",\"remote_mtime\"} per path.\n";

#define PLAN_FILE_MAX ((size_t)1 << 31)

/* Reads the plan file at path as a NUL-terminated string into out (a
 * regular file of at most 2 GiB: a FIFO or a directory is refused, never
 * waited on). Prints the error; returns the exit status. */
static int read_plan_file(const char *path, bk_buf *out) {
  bk_buf_init(out, PLAN_FILE_MAX + 1);
  int rc = bk_read_file(path, PLAN_FILE_MAX, out);
  if (!rc) rc = bk_buf_append_u8(out, 0);
  if (rc == BK_ENOTFOUND) return cli_fail("cannot read plan %s: %s", path, strerror(ENOENT));
  if (rc) return cli_fail("cannot read plan %s: %s", path, bk_errmsg());
  return 0;
}

static void print_summary(cli *c, const bk_plan *p) {
  if (c->format != FMT_HUMAN) return;
  bk_plan_summary s;
  bk_plan_summarize(p, &s);
  printf("Sync plan: %s -> %s\n  Uploads: %llu\n  Downloads: %llu\n  Deletes: %llu\n  Skips: %llu\n",
         p->source, p->dest, (unsigned long long)s.uploads, (unsigned long long)s.downloads,
         (unsigned long long)s.deletes, (unsigned long long)s.skips);
}

static void print_json_result(cli *c, bk_plan *p, const bk_transfer_stats *st) {
  if (c->format != FMT_JSON && c->format != FMT_AGENT) return;
  bk_plan_summary s;
  bk_plan_summarize(p, &s);
  const char *fmt = c->format == FMT_JSON
                        ? "{\"source\": \"%s\", \"dest\": \"%s\", \"uploads\": %llu, \"downloads\": %llu, "
                          "\"deletes\": %llu, \"skips\": %llu, \"total_size\": %llu, \"bytes_sent\": %llu, "
                          "\"bytes_deduplicated\": %llu}\n"
                        : "source=%s dest=%s uploads=%llu downloads=%llu deletes=%llu skips=%llu "
                          "total_size=%llu bytes_sent=%llu bytes_deduplicated=%llu\n";
  char *src = NULL, *dst = NULL;
  /* sources are paths or URIs typed by the user: escape for JSON */
  cJSON *a = cJSON_CreateString(p->source), *b = cJSON_CreateString(p->dest);
  char *as = a ? cJSON_PrintUnformatted(a) : NULL, *bs = b ? cJSON_PrintUnformatted(b) : NULL;
  if (as && bs && c->format == FMT_JSON) {
    as[strlen(as) - 1] = 0;
    bs[strlen(bs) - 1] = 0;
    src = as + 1;
    dst = bs + 1;
  }
  printf(fmt, src ? src : p->source, dst ? dst : p->dest, (unsigned long long)s.uploads,
         (unsigned long long)s.downloads, (unsigned long long)s.deletes,
         (unsigned long long)s.skips, (unsigned long long)s.total_size,
         (unsigned long long)(st ? st->bytes_sent : 0), (unsigned long long)(st ? st->bytes_dedup : 0));
  free(as);
  free(bs);
  cJSON_Delete(a);
  cJSON_Delete(b);
}

static int nothing_to_do(bk_plan *p) {
  bk_plan_summary s;
  bk_plan_summarize(p, &s);
  return s.uploads + s.downloads + s.deletes == 0;
}

static void print_stats(cli *c, const bk_transfer_stats *st) {
  if (c->format != FMT_HUMAN || !c->tty_err) return;
  if (!st->files) return;
  double mb = (double)st->bytes / 1e6;
  fprintf(stderr, "%llu files, %.1f MB in %.2f s (%.1f MB/s); sent %.1f MB, %.1f MB deduplicated\n",
          (unsigned long long)st->files, mb, st->seconds, st->seconds > 0 ? mb / st->seconds : 0,
          (double)st->bytes_sent / 1e6, (double)st->bytes_dedup / 1e6);
}

/* Executes plan with progress, then prints the transfer figures and the
 * result. Returns the command's exit status. */
static int execute(cli *c, bk_client *cl, bk_plan *plan, int force) {
  bk_transfer_stats st;
  memset(&st, 0, sizeof st);
  cli_progress_attach(c);
  int rc = bk_sync_execute_plan(cl, plan, force, &st);
  cli_progress_done(c);
  if (rc == BK_EPARTIAL) { /* each failed file was printed ("Failed: ..."); the rest is done */
    print_stats(c, &st);
    return cli_fail_lib(rc);
  }
  if (rc) return cli_fail_lib(rc);
  print_stats(c, &st);
  print_json_result(c, plan, &st);
  if (c->format == FMT_HUMAN) printf("Sync completed.\n");
  return 0;
}

/* The parsed command line. */
typedef struct sync_args {
  int del, nodel, itimes, isizes, existing, iexisting, dry, verbose, force;
  const char *filter_from, *plan_file, *apply_file;
  strlist inc, exc;
  const char *pos[2];
  int np;
} sync_args;

/* Parse: options and the checks between them. Returns -1 to go on, else
 * the exit status (0 after --help, 2 for a usage error, 1 for a conflict). */
static int sync_parse(cli *c, int argc, char **argv, sync_args *a) {
  opt opts[] = {{"--delete", 0, OPT_FLAG, &a->del},
                {"--no-delete", 0, OPT_FLAG, &a->nodel},
                {"--ignore-times", 0, OPT_FLAG, &a->itimes},
                {"--ignore-sizes", 0, OPT_FLAG, &a->isizes},
                {"--existing", 0, OPT_FLAG, &a->existing},
                {"--ignore-existing", 0, OPT_FLAG, &a->iexisting},
                {"--include", 0, OPT_MULTI, &a->inc},
                {"--exclude", 0, OPT_MULTI, &a->exc},
                {"--filter-from", 0, OPT_STR, &a->filter_from},
                {"--plan", 0, OPT_STR, &a->plan_file},
                {"--apply", 0, OPT_STR, &a->apply_file},
                {"--dry-run", 0, OPT_FLAG, &a->dry},
                {"--force", 0, OPT_FLAG, &a->force},
                {"--verbose", 'v', OPT_FLAG, &a->verbose},
                {NULL, 0, 0, NULL}};
  int r = cli_parse(c, argc, argv, opts, a->pos, 2, &a->np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (a->del && a->nodel) return cli_fail("--delete and --no-delete conflict");
  if (a->dry && a->plan_file) return cli_fail("--dry-run and --plan cannot be combined");
  if (a->force && !a->apply_file) return cli_fail("--force only applies to --apply");
  if (a->apply_file && (a->np || a->del || a->itimes || a->isizes || a->existing ||
                        a->iexisting || a->inc.n || a->exc.n || a->filter_from || a->plan_file ||
                        a->dry))
    return cli_fail("--apply cannot be combined with SOURCE/DEST or other sync options");
  return -1;
}

/* Mode --apply: executes a saved plan (re-checked unless --force). */
static int sync_apply(cli *c, const sync_args *a) {
  bk_buf text;
  int ret = read_plan_file(a->apply_file, &text);
  if (ret) {
    bk_buf_free(&text);
    return ret;
  }
  bk_plan plan;
  bk_plan_init(&plan);
  int rc = bk_plan_from_jsonl((const char *)text.p, strlen((const char *)text.p), &plan);
  bk_buf_free(&text);
  bk_client *cl = NULL;
  if (rc) ret = cli_fail_lib(rc);
  else if (!(cl = cli_client(c))) ret = 1;
  if (!ret) {
    c->verbose = a->verbose;
    print_summary(c, &plan);
    if (c->format == FMT_HUMAN) printf("Executing plan...\n");
    ret = execute(c, cl, &plan, a->force);
  }
  bk_plan_free(&plan);
  return ret;
}

/* Writes the plan as JSONL to stdout (--dry-run) or to plan_file (--plan). */
static int write_plan(cli *c, const bk_plan *plan, const char *plan_file) {
  bk_buf b;
  bk_buf_init(&b, (size_t)1 << 34);
  int rc = bk_plan_to_jsonl(plan, &b);
  if (!rc && !plan_file) {
    if (fwrite(b.p, 1, b.len, stdout) != b.len) rc = bk_seterr(BK_EIO, "write stdout");
  } else if (!rc) {
    FILE *f = fopen(plan_file, "w");
    if (!f || fwrite(b.p, 1, b.len, f) != b.len) rc = bk_seterr(BK_EIO, "cannot write %s", plan_file);
    if (f && fclose(f)) rc = bk_seterr(BK_EIO, "cannot write %s", plan_file);
  }
  bk_buf_free(&b);
  if (rc) return cli_fail_lib(rc);
  if (plan_file) {
    print_summary(c, plan);
    if (c->format == FMT_HUMAN) printf("Plan saved to: %s\n", plan_file);
    cli_hint(c, "Run `hf buckets sync --apply %s` to execute this plan.", plan_file);
  }
  return 0;
}

/* Mode SOURCE DEST: computes the plan, then prints it (--dry-run), saves it
 * (--plan) or executes it. */
static int sync_run(cli *c, sync_args *a) {
  if (a->np < 2) return cli_fail("sync needs SOURCE and DEST (see --help)");
  if (cli_bucket_args(c, a->pos, a->np)) return 2; /* Hub web URLs -> hf://buckets/... */
  bk_sync_opts o;
  memset(&o, 0, sizeof o);
  o.source = a->pos[0];
  o.dest = a->pos[1];
  o.delete_files = a->del;
  o.ignore_times = a->itimes;
  o.ignore_sizes = a->isizes;
  o.existing = a->existing;
  o.ignore_existing = a->iexisting;
  o.include = a->inc.v;
  o.n_include = a->inc.n;
  o.exclude = a->exc.v;
  o.n_exclude = a->exc.n;
  o.filter_from = a->filter_from;
  o.verbose = a->verbose;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  bk_plan plan;
  bk_plan_init(&plan);
  cli_progress_attach(c);
  int rc = bk_sync_plan_compute(cl, &o, &plan);
  cli_progress_done(c);
  int ret = 0;
  if (rc) {
    ret = cli_fail_lib(rc);
  } else if (a->dry || a->plan_file) {
    ret = write_plan(c, &plan, a->plan_file);
  } else {
    print_summary(c, &plan);
    if (nothing_to_do(&plan)) {
      if (a->verbose && c->format == FMT_HUMAN)
        for (size_t i = 0; i < plan.nops; i++)
          printf("  Skipping: %s (%s)\n", plan.ops[i].path, bk_plan_op_reason(&plan.ops[i]));
      if (c->format == FMT_HUMAN) printf("Nothing to sync.\n");
      print_json_result(c, &plan, NULL);
    } else {
      if (c->format == FMT_HUMAN) printf("Syncing...\n");
      fflush(stdout);
      c->verbose = a->verbose;
      ret = execute(c, cl, &plan, 1);
    }
  }
  bk_plan_free(&plan);
  return ret;
}

int cmd_sync(cli *c, int argc, char **argv) {
  sync_args a;
  memset(&a, 0, sizeof a);
  int ret = sync_parse(c, argc, argv, &a);
  if (ret < 0) ret = a.apply_file ? sync_apply(c, &a) : sync_run(c, &a);
  free(a.inc.v);
  free(a.exc.v);
  return ret;
}
