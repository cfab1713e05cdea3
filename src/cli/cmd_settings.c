/* hf buckets settings BUCKET_ID [--public|--private] [--prewarm REGIONS] */
#include <stdio.h>
#include <stdlib.h>

#include "buckets/sync.h"

#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets settings BUCKET_ID [--public | --private] [--prewarm REGIONS]\n\n"
    "Changes the visibility of a bucket and/or its warm regions.\n"
    "  --public, --private  the bucket's visibility\n"
    "  --prewarm REGIONS    comma-separated regions (e.g. us,eu) that keep a copy of the\n"
    "                       bucket's data: new writes are copied there as they land\n"
    "                       ('' clears the list). `hf buckets info` shows their state.\n";

int cmd_settings(cli *c, int argc, char **argv) {
  int pub = 0, priv = 0;
  const char *prewarm = NULL;
  opt opts[] = {{"--public", 0, OPT_FLAG, &pub},
                {"--private", 0, OPT_FLAG, &priv},
                {"--prewarm", 0, OPT_STR, &prewarm},
                {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 1) return cli_fail("missing BUCKET_ID (see --help)"), 2;
  if (pub && priv) return cli_fail("give only one of --public or --private"), 2;
  if (!pub && !priv && !prewarm)
    return cli_fail("give --public, --private or --prewarm REGIONS"), 2;
  if (cli_bucket_args(c, pos, np)) return 2;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *id = NULL, *path = NULL;
  int rc = bk_uri_parse(pos[0], 1, &id, &path);
  if (rc) return cli_fail_lib(rc);
  free(path);
  rc = bk_bucket_update_settings(cl, pos[0], pub || priv ? priv : -1, prewarm, NULL);
  if (rc) {
    rc = cli_fail_bucket(rc, id);
    free(id);
    return rc;
  }
  const char *k[3] = {"bucket_id"}, *v[3] = {id};
  size_t n = 1;
  if (pub || priv) k[n] = "private", v[n++] = priv ? "\002True" : "\002False";
  if (prewarm) k[n] = "prewarm", v[n++] = prewarm;
  cli_result(c, "Bucket settings updated", k, v, n);
  cli_hint(c, "Run `hf buckets info %s` to see the bucket settings.", id);
  free(id);
  return 0;
}
