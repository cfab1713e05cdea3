/* hf buckets prewarm BUCKET_ID --region NAME [--prefix PATH] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "buckets/names.h"
#include "buckets/sync.h"

#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets prewarm BUCKET_ID --region NAME [--prefix PATH]\n\n"
    "Copies the bucket's data (only what the region lacks) into region NAME, so that\n"
    "clients there (HF_BUCKETS_REGION=NAME) read it from a nearby copy. The server does\n"
    "the copy in the background; `hf buckets info` shows its progress.\n"
    "  --region NAME   the region to pre-warm (one of the server's regions)\n"
    "  --prefix PATH   only the files under PATH\n";

int cmd_prewarm(cli *c, int argc, char **argv) {
  const char *region = NULL, *prefix = NULL;
  opt opts[] = {{"--region", 0, OPT_STR, &region},
                {"--prefix", 0, OPT_STR, &prefix},
                {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 1) return cli_fail("missing BUCKET_ID (see --help)"), 2;
  if (!region) return cli_fail("missing --region NAME (see --help)"), 2;
  if (!bk_region_name_valid(region))
    return cli_fail("--region must be a region name (a-z, 0-9, '-', at most 32, starting with "
                    "a letter)"),
           2;
  if (cli_bucket_args(c, pos, np)) return 2;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *id = NULL, *path = NULL;
  int rc = bk_uri_parse(pos[0], 1, &id, &path);
  if (rc) return cli_fail_lib(rc);
  free(path);
  char *json = NULL;
  rc = bk_bucket_prewarm(cl, pos[0], region, prefix, &json);
  if (rc) {
    rc = cli_fail_bucket(rc, id);
    free(id);
    return rc;
  }
  cJSON *j = cJSON_Parse(json);
  const cJSON *job = cJSON_GetObjectItemCaseSensitive(j, "job");
  char jobs[32] = "\001null";
  if (cJSON_IsNumber(job)) snprintf(jobs, sizeof jobs, "\001%.0f", job->valuedouble);
  const char *k[] = {"bucket_id", "region", "prefix", "job"};
  const char *v[] = {id, region, prefix ? prefix : "", jobs};
  cli_result(c, "Pre-warm queued", k, v, 4);
  cli_hint(c, "Run `hf buckets info %s` to follow it.", id);
  cJSON_Delete(j);
  bk_free(json);
  free(id);
  return 0;
}
