/* hf buckets move FROM_ID TO_ID */
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets move FROM_ID TO_ID\n\n"
    "Renames a bucket or transfers it to another namespace (both ns/name or hf://buckets/ns/name).\n";

int cmd_move(cli *c, int argc, char **argv) {
  const char *pos[2];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 2, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 2) return cli_fail("need FROM_ID and TO_ID (see --help)");
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  int rc = bk_bucket_move(cl, pos[0], pos[1]);
  if (rc) return cli_fail_lib(rc);
  const char *k[] = {"from_id", "to_id"};
  const char *v[] = {pos[0], pos[1]};
  cli_result(c, "Bucket moved", k, v, 2);
  return 0;
}
