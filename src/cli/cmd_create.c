/* hf buckets create BUCKET_ID [--private] [--region NAME] [--exist-ok] */
#include <cjson/cJSON.h>
#include <string.h>

#include "buckets/names.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets create BUCKET_ID [--private] [--region NAME] [--exist-ok]\n\n"
    "Creates a bucket. BUCKET_ID is name (in your namespace), ns/name or hf://buckets/ns/name.\n"
    "  --private    make the bucket private (default: the namespace default, public)\n"
    "  --region R   the bucket's home region, where its new data is stored: one of the\n"
    "               server's regions (without regions configured: us or eu, a label)\n"
    "  --exist-ok   succeed if the bucket already exists\n";

int cmd_create(cli *c, int argc, char **argv) {
  int priv = 0, exist_ok = 0;
  const char *region = NULL;
  opt opts[] = {{"--private", 0, OPT_FLAG, &priv},
                {"--exist-ok", 0, OPT_FLAG, &exist_ok},
                {"--region", 0, OPT_STR, &region},
                {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 1) return cli_fail("missing BUCKET_ID (see --help)"), 2;
  if (cli_bucket_args(c, pos, np)) return 2;
  if (region && !bk_region_name_valid(region))
    return cli_fail("--region must be a region name (a-z, 0-9, '-', at most 32, starting with a "
                    "letter)"),
           2;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *json = NULL;
  int rc = bk_bucket_create(cl, pos[0], priv ? 1 : -1, region, exist_ok, &json);
  if (rc) return cli_fail_lib(rc);
  cJSON *j = cJSON_Parse(json);
  const cJSON *uri = cJSON_GetObjectItemCaseSensitive(j, "uri");
  const cJSON *url = cJSON_GetObjectItemCaseSensitive(j, "url");
  const char *k[] = {"uri", "url"};
  const char *v[] = {cJSON_IsString(uri) ? uri->valuestring : "",
                     cJSON_IsString(url) ? url->valuestring : ""};
  cli_result(c, "Bucket created", k, v, 2);
  cJSON_Delete(j);
  bk_free(json);
  return 0;
}
