/* hf buckets settings BUCKET_ID --public|--private */
#include <stdio.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets settings BUCKET_ID (--public | --private)\n\n"
    "Changes the visibility of a bucket.\n";

int cmd_settings(cli *c, int argc, char **argv) {
  int pub = 0, priv = 0;
  opt opts[] = {{"--public", 0, OPT_FLAG, &pub}, {"--private", 0, OPT_FLAG, &priv}, {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 1) return cli_fail("missing BUCKET_ID (see --help)");
  if (pub == priv) return cli_fail("give exactly one of --public or --private");
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  int rc = bk_bucket_settings(cl, pos[0], priv);
  if (rc) return cli_fail_lib(rc);
  const char *k[] = {"bucket_id", "private"};
  const char *v[] = {pos[0], priv ? "\001true" : "\001false"};
  cli_result(c, "Bucket settings updated", k, v, 2);
  cli_hint(c, "Run `hf buckets info %s` to see the bucket settings.", pos[0]);
  return 0;
}
