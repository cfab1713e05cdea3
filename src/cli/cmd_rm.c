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

/* The files a recursive rm removes: borrowed from the listing (arr). */
typedef struct rm_sel {
  cJSON *arr;
  const char **paths;
  size_t n;
  uint64_t total;
} rm_sel;

static void rm_sel_free(rm_sel *s) {
  free(s->paths);
  cJSON_Delete(s->arr);
}

/* Plan: the files of the listing json beneath path that the filter keeps,
 * and their total size. */
static int rm_select(const char *json, const char *path, const bk_filter *f, rm_sel *s) {
  memset(s, 0, sizeof *s);
  s->arr = cJSON_Parse(json);
  size_t cap = (size_t)cJSON_GetArraySize(s->arr);
  s->paths = calloc(cap ? cap : 1, sizeof *s->paths);
  if (!s->paths) return bk_seterr(BK_ENOMEM, "out of memory");
  const cJSON *e;
  cJSON_ArrayForEach(e, s->arr) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(e, "size");
    if (!cJSON_IsString(p) || (cJSON_IsString(t) && strcmp(t->valuestring, "file") != 0)) continue;
    /* belt and braces: the library already filtered on path boundaries */
    if (!bk_path_under(p->valuestring, path)) continue;
    if (!bk_filter_match(f, p->valuestring)) continue;
    s->paths[s->n++] = p->valuestring;
    if (cJSON_IsNumber(z)) s->total += (uint64_t)z->valuedouble;
  }
  return 0;
}

/* rm without -R: one file, after confirmation. */
static int rm_one(cli *c, bk_client *cl, const char *id, const char *path, int dry) {
  if (dry) {
    printf("delete: hf://buckets/%s/%s\n(dry run) 1 file would be removed.\n", id, path);
    return 0;
  }
  char q[8400];
  snprintf(q, sizeof q, "Remove '%s' from '%s'?", path, id);
  int ok = cli_confirm(c, q);
  if (ok <= 0) return ok < 0 ? 1 : cli_aborted();
  const char *one[1] = {path};
  int rc = bk_bucket_delete_files(cl, id, one, 1);
  if (rc) return cli_fail_bucket(rc, id);
  const char *k[] = {"path", "bucket_id"};
  const char *v[] = {path, id};
  cli_result(c, "File removed", k, v, 2);
  return 0;
}

/* Execute a recursive rm: print (--dry-run) or confirm and delete. */
static int rm_many(cli *c, bk_client *cl, const char *id, const rm_sel *s, int dry) {
  char tsz[32];
  cli_fmt_size(s->total, 1, tsz);
  if (s->n == 0) {
    if (c->format != FMT_QUIET) printf("No files to remove.\n");
    return 0;
  }
  if (dry) {
    for (size_t i = 0; i < s->n; i++) printf("delete: hf://buckets/%s/%s\n", id, s->paths[i]);
    printf("(dry run) %zu file(s) totaling %s would be removed.\n", s->n, tsz);
    return 0;
  }
  if (!c->yes && c->format == FMT_HUMAN) { /* the list, then the question (official order) */
    for (size_t i = 0; i < s->n; i++) printf("  %s\n", s->paths[i]);
    fflush(stdout);
  }
  char q[600];
  snprintf(q, sizeof q, "Remove %zu file(s) totaling %s from '%s'?", s->n, tsz, id);
  int ok = cli_confirm(c, q);
  if (ok <= 0) return ok < 0 ? 1 : cli_aborted();
  int rc = bk_bucket_delete_files(cl, id, s->paths, s->n);
  if (rc) return cli_fail_bucket(rc, id);
  char msg[700], cnt[32];
  snprintf(msg, sizeof msg, "Removed %zu file(s) totaling %s from '%s'", s->n, tsz, id);
  snprintf(cnt, sizeof cnt, "\001%zu", s->n);
  const char *k[] = {"bucket_id", "files_deleted", "size"};
  const char *v[] = {id, cnt, tsz};
  cli_result(c, msg, k, v, 3);
  return 0;
}

/* rm -R: list beneath path, filter, then rm_many. */
static int rm_recursive(cli *c, bk_client *cl, const char *id, const char *path,
                        const strlist *inc, const strlist *exc, int dry) {
  char *json = NULL;
  bk_filter *f = NULL;
  int rc = bk_bucket_tree(cl, id, path, 1, &json);
  if (!rc) rc = bk_filter_new(&f);
  for (size_t i = 0; !rc && i < inc->n; i++) rc = bk_filter_include(f, inc->v[i]);
  for (size_t i = 0; !rc && i < exc->n; i++) rc = bk_filter_exclude(f, exc->v[i]);
  int ret = rc ? cli_fail_bucket(rc, id) : 0;
  rm_sel s;
  memset(&s, 0, sizeof s);
  if (!ret && (rc = rm_select(json, path, f, &s))) ret = cli_fail_lib(rc);
  if (!ret) ret = rm_many(c, cl, id, &s, dry);
  rm_sel_free(&s);
  bk_free(json);
  bk_filter_free(f);
  return ret;
}

/* Parse: the argument checks (usage errors exit 2). Returns -1 to go on,
 * else the exit status. *id and *path receive the parsed URI (caller frees). */
static int rm_parse_target(cli *c, const char **pos, int np, int recursive, const strlist *inc,
                           const strlist *exc, char **id, char **path) {
  if (np < 1) return (cli_fail("missing ARGUMENT (see --help)"), 2);
  if (cli_bucket_args(c, pos, np)) return 2;
  int rc = bk_uri_parse(pos[0], 1, id, path);
  if (rc) return cli_fail_lib(rc);
  size_t pl = strlen(*path);
  while (pl > 0 && (*path)[pl - 1] == '/') (*path)[--pl] = 0;
  if (!recursive && (inc->n || exc->n)) return (cli_fail("--include/--exclude require -R"), 2);
  if (!**path && !recursive)
    return (cli_fail("no path given: use -R to remove every file, or 'hf buckets delete %s' to delete the bucket", *id), 2);
  return -1;
}

int cmd_rm(cli *c, int argc, char **argv) {
  int recursive = 0, dry = 0;
  strlist inc = {0}, exc = {0};
  opt opts[] = {{"--recursive", 'R', OPT_FLAG, &recursive},
                {"--dry-run", 0, OPT_FLAG, &dry},
                {"--include", 0, OPT_MULTI, &inc},
                {"--exclude", 0, OPT_MULTI, &exc},
                {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np;
  char *id = NULL, *path = NULL;
  int ret = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (ret) ret = ret < 0 ? 2 : 0;
  else ret = rm_parse_target(c, pos, np, recursive, &inc, &exc, &id, &path);
  bk_client *cl = NULL;
  if (ret < 0 && !(cl = cli_client(c))) ret = 1;
  if (ret < 0)
    ret = recursive ? rm_recursive(c, cl, id, path, &inc, &exc, dry) : rm_one(c, cl, id, path, dry);
  free(id);
  free(path);
  free(inc.v);
  free(exc.v);
  return ret;
}
