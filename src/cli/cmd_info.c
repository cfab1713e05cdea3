/* hf buckets info BUCKET_ID */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets info BUCKET_ID [--format human|json|quiet]\n\n"
    "Prints the bucket information as JSON: id, private, created_at, size, total_files\n"
    "(plus any extra fields the server reports, e.g. deduplicated stored bytes). -q prints the id.\n"
    "With regions configured on the server: region (the home region) and regions, per region\n"
    "its role (home, warm, prewarm), state (warming or warm), bytes present / bytes needed and\n"
    "the replication lag of new writes (lag_ms); the human format adds a table of them.\n";

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

/* A copy of a regions array with snake_case keys (bytes_present, lag_ms). */
static cJSON *snake_regions(const cJSON *arr) {
  cJSON *out = cJSON_CreateArray();
  const cJSON *r, *e;
  cJSON_ArrayForEach(r, arr) {
    cJSON *o = cJSON_IsObject(r) ? cJSON_CreateObject() : cJSON_Duplicate(r, 1);
    if (cJSON_IsObject(r)) {
      cJSON_ArrayForEach(e, r) {
        char key[128];
        snake(e->string, key, sizeof key);
        cJSON_AddItemToObject(o, key, cJSON_Duplicate(e, 1));
      }
    }
    cJSON_AddItemToArray(out, o);
  }
  return out;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int flag(const cJSON *o, const char *k) {
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Human format: one line per region ("eu  home  warm  1.2 GB / 1.2 GB  lag 0 s"). */
static void print_regions(const cJSON *arr) {
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) return;
  printf("\nRegions:\n");
  const cJSON *r;
  cJSON_ArrayForEach(r, arr) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(r, "state");
    char roles[40] = "", have[32], need[32];
    if (flag(r, "home")) snprintf(roles, sizeof roles, "home");
    if (flag(r, "warm")) snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%swarm",
                                  roles[0] ? "," : "");
    if (flag(r, "prewarm"))
      snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%sprewarm",
               roles[0] ? "," : "");
    cli_fmt_size((uint64_t)num(r, "bytes_present"), 1, have);
    cli_fmt_size((uint64_t)num(r, "bytes_needed"), 1, need);
    printf("  %-12s %-18s %-8s %s / %s present, lag %.1f s\n",
           cJSON_IsString(name) ? name->valuestring : "?", roles,
           cJSON_IsString(state) ? state->valuestring : "?", have, need,
           num(r, "lag_ms") / 1000.0);
  }
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
    int regs = !strcmp(key, "regions") && cJSON_IsArray(e);
    cJSON_AddItemToObject(o, key, regs ? snake_regions(e) : cJSON_Duplicate(e, 1));
  }
  if (c->format == FMT_QUIET) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    printf("%s\n", cJSON_IsString(id) ? id->valuestring : "");
  } else {
    char *s = cli_json_dumps(o, c->format == FMT_HUMAN ? 2 : 0); /* official out.dict */
    if (s) printf("%s\n", s);
    free(s);
    if (c->format == FMT_HUMAN) print_regions(cJSON_GetObjectItemCaseSensitive(o, "regions"));
  }
  cJSON_Delete(o);
  cJSON_Delete(j);
  bk_free(json);
  return 0;
}
