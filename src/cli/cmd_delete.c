/* hf buckets delete BUCKET_ID [-y] [--missing-ok] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/sync.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets delete BUCKET_ID [-y/--yes] [--missing-ok]\n\n"
    "Deletes a bucket and all its files (irreversible). BUCKET_ID must be ns/name.\n"
    "  -y, --yes      do not ask for confirmation\n"
    "  --missing-ok   succeed if the bucket does not exist\n";

int cmd_delete(cli *c, int argc, char **argv) {
  int missing_ok = 0;
  opt opts[] = {{"--missing-ok", 0, OPT_FLAG, &missing_ok}, {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 1) return cli_fail("missing BUCKET_ID (see --help)"), 2;
  if (cli_bucket_args(c, pos, np)) return 2;
  char *id = NULL, *path = NULL;
  if (bk_uri_parse(pos[0], 1, &id, &path)) return cli_fail("'%s': expected namespace/name", pos[0]), 2;
  int bad = *path != 0;
  free(path);
  if (bad) {
    free(id);
    return cli_fail("'%s' names a path; to remove files use 'hf buckets rm'", pos[0]), 2;
  }
  char q[600];
  snprintf(q, sizeof q, "Are you sure you want to delete bucket '%s'?", id);
  int ok = cli_confirm(c, q);
  if (ok <= 0) {
    free(id);
    return ok < 0 ? 1 : cli_aborted();
  }
  bk_client *cl = cli_client(c);
  int rc = cl ? bk_bucket_delete(cl, id, missing_ok) : 1;
  if (rc) {
    rc = cl ? cli_fail_bucket(rc, id) : 1;
    free(id);
    return rc;
  }
  const char *k[] = {"bucket_id"};
  const char *v[] = {id};
  cli_result(c, "Bucket deleted", k, v, 1);
  free(id);
  return 0;
}
