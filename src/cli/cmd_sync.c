/* hf buckets sync [SOURCE] [DEST]  (also: hf sync) — spec §3.8. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/error.h"
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

static char *read_file(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) || st.st_size > (1ll << 31)) {
    close(fd);
    return NULL;
  }
  char *b = malloc((size_t)st.st_size + 1);
  size_t n = 0;
  while (b && n < (size_t)st.st_size) {
    ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (b) b[n] = 0;
  return b;
}

static void print_summary(cli *c, bk_plan *p) {
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

int cmd_sync(cli *c, int argc, char **argv) {
  int del = 0, nodel = 0, itimes = 0, isizes = 0, existing = 0, iexisting = 0, dry = 0,
      verbose = 0, force = 0;
  const char *filter_from = NULL, *plan_file = NULL, *apply_file = NULL;
  strlist inc = {0}, exc = {0};
  opt opts[] = {{"--delete", 0, OPT_FLAG, &del},
                {"--no-delete", 0, OPT_FLAG, &nodel},
                {"--ignore-times", 0, OPT_FLAG, &itimes},
                {"--ignore-sizes", 0, OPT_FLAG, &isizes},
                {"--existing", 0, OPT_FLAG, &existing},
                {"--ignore-existing", 0, OPT_FLAG, &iexisting},
                {"--include", 0, OPT_MULTI, &inc},
                {"--exclude", 0, OPT_MULTI, &exc},
                {"--filter-from", 0, OPT_STR, &filter_from},
                {"--plan", 0, OPT_STR, &plan_file},
                {"--apply", 0, OPT_STR, &apply_file},
                {"--dry-run", 0, OPT_FLAG, &dry},
                {"--force", 0, OPT_FLAG, &force},
                {"--verbose", 'v', OPT_FLAG, &verbose},
                {NULL, 0, 0, NULL}};
  const char *pos[2];
  int np, ret = 0;
  bk_plan plan;
  bk_plan_init(&plan);
  char *text = NULL;
  int r = cli_parse(c, argc, argv, opts, pos, 2, &np, USAGE);
  if (r) {
    ret = r < 0 ? 2 : 0;
    goto out;
  }
  if (del && nodel) {
    ret = cli_fail("--delete and --no-delete conflict");
    goto out;
  }
  if (dry && plan_file) {
    ret = cli_fail("--dry-run and --plan cannot be combined");
    goto out;
  }
  if (force && !apply_file) {
    ret = cli_fail("--force only applies to --apply");
    goto out;
  }
  bk_client *cl = NULL;
  int rc;
  if (apply_file) {
    if (np || del || itimes || isizes || existing || iexisting || inc.n || exc.n || filter_from ||
        plan_file || dry) {
      ret = cli_fail("--apply cannot be combined with SOURCE/DEST or other sync options");
      goto out;
    }
    text = read_file(apply_file);
    if (!text) {
      ret = cli_fail("cannot read plan %s: %s", apply_file, strerror(errno));
      goto out;
    }
    rc = bk_plan_from_jsonl(text, strlen(text), &plan);
    if (rc) {
      ret = cli_fail_lib(rc);
      goto out;
    }
    if (!(cl = cli_client(c))) {
      ret = 1;
      goto out;
    }
    c->verbose = verbose;
    print_summary(c, &plan);
    if (c->format == FMT_HUMAN) printf("Executing plan...\n");
    ret = execute(c, cl, &plan, force);
    goto out;
  }
  if (np < 2) {
    ret = cli_fail("sync needs SOURCE and DEST (see --help)");
    goto out;
  }
  if (cli_bucket_args(c, pos, np)) { /* Hub web URLs -> hf://buckets/... */
    ret = 2;
    goto out;
  }
  bk_sync_opts o;
  memset(&o, 0, sizeof o);
  o.source = pos[0];
  o.dest = pos[1];
  o.delete_files = del;
  o.ignore_times = itimes;
  o.ignore_sizes = isizes;
  o.existing = existing;
  o.ignore_existing = iexisting;
  o.include = inc.v;
  o.n_include = inc.n;
  o.exclude = exc.v;
  o.n_exclude = exc.n;
  o.filter_from = filter_from;
  o.verbose = verbose;
  if (!(cl = cli_client(c))) {
    ret = 1;
    goto out;
  }
  cli_progress_attach(c);
  rc = bk_sync_plan_compute(cl, &o, &plan);
  cli_progress_done(c);
  if (rc) {
    ret = cli_fail_lib(rc);
    goto out;
  }
  if (dry || plan_file) {
    bk_buf b;
    bk_buf_init(&b, (size_t)1 << 34);
    rc = bk_plan_to_jsonl(&plan, &b);
    if (!rc && dry) {
      if (fwrite(b.p, 1, b.len, stdout) != b.len) rc = bk_seterr(BK_EIO, "write stdout");
    } else if (!rc) {
      FILE *f = fopen(plan_file, "w");
      if (!f || fwrite(b.p, 1, b.len, f) != b.len) rc = bk_seterr(BK_EIO, "cannot write %s", plan_file);
      if (f && fclose(f)) rc = bk_seterr(BK_EIO, "cannot write %s", plan_file);
    }
    bk_buf_free(&b);
    if (rc) {
      ret = cli_fail_lib(rc);
      goto out;
    }
    if (plan_file) {
      print_summary(c, &plan);
      if (c->format == FMT_HUMAN) printf("Plan saved to: %s\n", plan_file);
      cli_hint(c, "Run `hf buckets sync --apply %s` to execute this plan.", plan_file);
    }
    goto out;
  }
  print_summary(c, &plan);
  if (nothing_to_do(&plan)) {
    if (verbose && c->format == FMT_HUMAN)
      for (size_t i = 0; i < plan.nops; i++)
        printf("  Skipping: %s (%s)\n", plan.ops[i].path, bk_plan_op_reason(&plan.ops[i]));
    if (c->format == FMT_HUMAN) printf("Nothing to sync.\n");
    print_json_result(c, &plan, NULL);
    goto out;
  }
  if (c->format == FMT_HUMAN) printf("Syncing...\n");
  fflush(stdout);
  c->verbose = verbose;
  ret = execute(c, cl, &plan, 1);
out:
  bk_plan_free(&plan);
  free(text);
  free(inc.v);
  free(exc.v);
  return ret;
}
