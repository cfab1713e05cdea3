/* hf buckets settings BUCKET_ID --public|--private */
#include <stdio.h>
#include <stdlib.h>

#include "buckets/sync.h"

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
  if (np < 1) return cli_fail("missing BUCKET_ID (see --help)"), 2;
  if (pub == priv) return cli_fail("give exactly one of --public or --private"), 2;
  if (cli_bucket_args(c, pos, np)) return 2;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *id = NULL, *path = NULL;
  int rc = bk_uri_parse(pos[0], 1, &id, &path);
  if (rc) return cli_fail_lib(rc);
  rc = bk_bucket_settings(cl, pos[0], priv);
  free(path);
  if (rc) {
    rc = cli_fail_bucket(rc, id);
    free(id);
    return rc;
  }
  const char *k[] = {"bucket_id", "private"};
  const char *v[] = {id, priv ? "\002True" : "\002False"};
  cli_result(c, "Bucket settings updated", k, v, 2);
  cli_hint(c, "Run `hf buckets info %s` to see the bucket settings.", id);
  free(id);
  return 0;
}
