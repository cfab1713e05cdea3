/* hf buckets move FROM_ID TO_ID */
#include <stdlib.h>

#include "buckets/error.h"
#include "buckets/sync.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets move FROM_ID TO_ID\n\n"
    "Renames a bucket or transfers it to another namespace (both ns/name or hf://buckets/ns/name).\n";

int cmd_move(cli *c, int argc, char **argv) {
  const char *pos[2];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 2, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 2) return cli_fail("need FROM_ID and TO_ID (see --help)"), 2;
  if (cli_bucket_args(c, pos, np)) return 2;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *ids[2] = {NULL, NULL}, *path = NULL;
  int rc = 0;
  for (int i = 0; i < 2 && !rc; i++) {
    rc = bk_uri_parse(pos[i], 1, &ids[i], &path);
    if (!rc && *path) rc = bk_seterr(BK_EINVAL, "Cannot specify a prefix for bucket move: %s", pos[i]);
    free(path);
    path = NULL;
  }
  if (!rc) rc = bk_bucket_move(cl, ids[0], ids[1]);
  int ret = 0;
  if (rc) {
    ret = ids[0] ? cli_fail_bucket(rc, ids[0]) : cli_fail_lib(rc);
  } else {
    const char *k[] = {"from_id", "to_id"};
    const char *v[] = {ids[0], ids[1]};
    cli_result(c, "Bucket moved", k, v, 2);
  }
  free(ids[0]);
  free(ids[1]);
  return ret;
}
