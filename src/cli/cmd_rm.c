/* hf buckets remove|rm ARGUMENT [-R] [--include P] [--exclude P] [--dry-run] [-y]
 * Path boundaries are respected: prefix 'logs' never removes 'logs.json'. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/error.h"
#include "buckets/sync.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets rm ns/name/path [-y] [--dry-run]\n"
    "       hf buckets rm ns/name[/prefix] -R [--include PAT]... [--exclude PAT]... [-y] [--dry-run]\n"
    "       (alias: hf buckets remove; hf://buckets/... accepted)\n\n"
    "Removes one file, or with -R every file under the prefix. The prefix is matched on\n"
    "path boundaries: 'logs' removes logs and logs/..., never logs.json or logs_backup/.\n"
    "  -R, --recursive   remove everything under the prefix (the whole bucket without one)\n"
    "  --include PAT     only remove matching paths (fnmatch, '*' matches '/'; repeatable)\n"
    "  --exclude PAT     keep matching paths (repeatable)\n"
    "  --dry-run         print what would be removed\n"
    "  -y, --yes         do not ask for confirmation\n";

int cmd_rm(cli *c, int argc, char **argv) {
  int recursive = 0, dry = 0;
  strlist inc = {0}, exc = {0};
  opt opts[] = {{"--recursive", 'R', OPT_FLAG, &recursive},
                {"--dry-run", 0, OPT_FLAG, &dry},
                {"--include", 0, OPT_MULTI, &inc},
                {"--exclude", 0, OPT_MULTI, &exc},
                {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np, ret = 0;
  char *id = NULL, *path = NULL, *json = NULL;
  cJSON *arr = NULL;
  bk_filter *f = NULL;
  const char **paths = NULL;
  int r = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (r) {
    ret = r < 0 ? 2 : 0;
    goto out;
  }
  if (np < 1) {
    ret = (cli_fail("missing ARGUMENT (see --help)"), 2);
    goto out;
  }
  if (cli_bucket_args(c, pos, np)) {
    ret = 2;
    goto out;
  }
  int rc = bk_uri_parse(pos[0], 1, &id, &path);
  if (rc) {
    ret = cli_fail_lib(rc);
    goto out;
  }
  size_t pl = strlen(path);
  while (pl > 0 && path[pl - 1] == '/') path[--pl] = 0;
  if (!recursive && (inc.n || exc.n)) {
    ret = (cli_fail("--include/--exclude require -R"), 2);
    goto out;
  }
  if (!*path && !recursive) {
    ret = (cli_fail("no path given: use -R to remove every file, or 'hf buckets delete %s' to delete the bucket", id), 2);
    goto out;
  }
  bk_client *cl = cli_client(c);
  if (!cl) {
    ret = 1;
    goto out;
  }
  if (!recursive) {
    if (dry) {
      printf("delete: hf://buckets/%s/%s\n(dry run) 1 file would be removed.\n", id, path);
      goto out;
    }
    char q[8400];
    snprintf(q, sizeof q, "Remove '%s' from '%s'?", path, id);
    int ok = cli_confirm(c, q);
    if (ok <= 0) {
      ret = ok < 0 ? 1 : cli_aborted();
      goto out;
    }
    const char *one[1] = {path};
    rc = bk_bucket_delete_files(cl, id, one, 1);
    if (rc) {
      ret = cli_fail_bucket(rc, id);
      goto out;
    }
    const char *k[] = {"path", "bucket_id"};
    const char *v[] = {path, id};
    cli_result(c, "File removed", k, v, 2);
    goto out;
  }
  rc = bk_bucket_tree(cl, id, path, 1, &json);
  if (!rc) rc = bk_filter_new(&f);
  for (size_t i = 0; !rc && i < inc.n; i++) rc = bk_filter_include(f, inc.v[i]);
  for (size_t i = 0; !rc && i < exc.n; i++) rc = bk_filter_exclude(f, exc.v[i]);
  if (rc) {
    ret = cli_fail_bucket(rc, id);
    goto out;
  }
  arr = cJSON_Parse(json);
  size_t n = 0, cap = (size_t)cJSON_GetArraySize(arr);
  paths = calloc(cap ? cap : 1, sizeof *paths);
  uint64_t total = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "size");
    if (!cJSON_IsString(p) || (cJSON_IsString(t) && strcmp(t->valuestring, "file") != 0)) continue;
    /* belt and braces: the library already filtered on path boundaries */
    if (!bk_path_under(p->valuestring, path)) continue;
    if (!bk_filter_match(f, p->valuestring)) continue;
    paths[n++] = p->valuestring;
    if (cJSON_IsNumber(s)) total += (uint64_t)s->valuedouble;
  }
  char tsz[32];
  cli_fmt_size(total, 1, tsz);
  if (n == 0) {
    if (c->format != FMT_QUIET) printf("No files to remove.\n");
    goto out;
  }
  if (dry) {
    for (size_t i = 0; i < n; i++) printf("delete: hf://buckets/%s/%s\n", id, paths[i]);
    printf("(dry run) %zu file(s) totaling %s would be removed.\n", n, tsz);
    goto out;
  }
  if (!c->yes && c->format == FMT_HUMAN) { /* the list, then the question (official order) */
    for (size_t i = 0; i < n; i++) printf("  %s\n", paths[i]);
    fflush(stdout);
  }
  char q[600];
  snprintf(q, sizeof q, "Remove %zu file(s) totaling %s from '%s'?", n, tsz, id);
  int ok = cli_confirm(c, q);
  if (ok <= 0) {
    ret = ok < 0 ? 1 : cli_aborted();
    goto out;
  }
  rc = bk_bucket_delete_files(cl, id, paths, n);
  if (rc) {
    ret = cli_fail_bucket(rc, id);
    goto out;
  }
  char msg[700], cnt[32];
  snprintf(msg, sizeof msg, "Removed %zu file(s) totaling %s from '%s'", n, tsz, id);
  snprintf(cnt, sizeof cnt, "\001%zu", n);
  const char *k[] = {"bucket_id", "files_deleted", "size"};
  const char *v[] = {id, cnt, tsz};
  cli_result(c, msg, k, v, 3);
out:
  free(paths);
  cJSON_Delete(arr);
  bk_free(json);
  bk_filter_free(f);
  free(id);
  free(path);
  free(inc.v);
  free(exc.v);
  return ret;
}
