/* hf buckets info BUCKET_ID */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets info BUCKET_ID [--format human|json|quiet]\n\n"
    "Prints the bucket information as JSON: id, private, created_at, size, total_files\n"
    "(plus any extra fields the server reports, e.g. deduplicated stored bytes). -q prints the id.\n";

/* camelCase -> snake_case for the known BucketInfo keys; others kept. */
static void snake(const char *in, char *out, size_t n) {
  size_t j = 0;
  for (size_t i = 0; in[i] && j + 2 < n; i++) {
    char ch = in[i];
    if (ch >= 'A' && ch <= 'Z') {
      out[j++] = '_';
      out[j++] = (char)(ch - 'A' + 'a');
    } else {
      out[j++] = ch;
    }
  }
  out[j] = 0;
}

int cmd_info(cli *c, int argc, char **argv) {
  const char *pos[1];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 1, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 1) return cli_fail("missing BUCKET_ID (see --help)"), 2;
  if (cli_bucket_args(c, pos, np)) return 2;
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *json = NULL;
  int rc = bk_bucket_info(cl, pos[0], &json);
  if (rc) return cli_fail_bucket(rc, pos[0]);
  cJSON *j = cJSON_Parse(json);
  if (!j) {
    bk_free(json);
    return cli_fail("server answered invalid JSON");
  }
  cJSON *o = cJSON_CreateObject();
  const cJSON *e;
  cJSON_ArrayForEach(e, j) {
    char key[128];
    snake(e->string, key, sizeof key);
    cJSON_AddItemToObject(o, key, cJSON_Duplicate(e, 1));
  }
  if (c->format == FMT_QUIET) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    printf("%s\n", cJSON_IsString(id) ? id->valuestring : "");
  } else {
    char *s = cli_json_dumps(o, c->format == FMT_HUMAN ? 2 : 0); /* official out.dict */
    if (s) printf("%s\n", s);
    free(s);
  }
  cJSON_Delete(o);
  cJSON_Delete(j);
  bk_free(json);
  return 0;
}
