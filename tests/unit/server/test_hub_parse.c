/* Unit tests for the pure Hub API body parsers (src/server/hub_parse.c):
 * NDJSON batch, paths-info (JSON and form), tree prefix, repo ids, mtime.
 * The fuzz targets check invariants; these check exact results. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/names.h"
#include "store/db.h"
#include "server/hub_parse.h"
#include "../test.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int batch(const char *body, hub_batch *b) { return hub_batch_parse(body, strlen(body), b); }

static void test_batch_ok(void) {
  hub_batch b;
  const char *body =
      "{\"type\":\"addFile\",\"path\":\"a.bin\",\"xetHash\":\"" H64 "\",\"mtime\":1700000000000,"
      "\"contentType\":\"text/plain\",\"size\":5}\r\n"
      "   \n"
      "\t{\"type\":\"deleteFile\",\"path\":\"old\"}  \n"
      "{\"type\":\"copyFile\",\"path\":\"c\",\"xetHash\":\"" H64 "\",\"sourceRepoType\":\"bucket\","
      "\"sourceRepoId\":\"alice/src\",\"mtime\":1700000000}\n"
      "{\"type\":\"addFile\",\"path\":\"x\",\"xetHash\":\"zz\",\"size\":1.5}\n"
      "{\"type\":\"copyFile\",\"path\":\"y\",\"xetHash\":\"" H64 "\"}";
  CHECK_EQ_INT(batch(body, &b), 0);
  CHECK_EQ_INT(b.nops, 5);
  CHECK_EQ_INT(b.ops[0].type, BK_OP_ADD);
  CHECK_EQ_STR(b.ops[0].path, "a.bin");
  CHECK_EQ_INT(b.ops[0].mtime_ms, 1700000000000LL);
  CHECK_EQ_INT(b.ops[0].size, 5);
  CHECK_EQ_STR(b.ops[0].content_type, "text/plain");
  CHECK(b.pre_err[0] == NULL);
  CHECK_EQ_INT(b.ops[1].type, BK_OP_DELETE);
  CHECK_EQ_STR(b.ops[1].path, "old");
  CHECK_EQ_INT(b.ops[2].type, BK_OP_COPY);
  CHECK_EQ_INT(b.ops[2].mtime_ms, 1700000000000LL); /* seconds -> ms */
  CHECK_EQ_STR(b.src_type[2], "bucket");
  CHECK_EQ_STR(b.src_id[2], "alice/src");
  CHECK(b.pre_err[3] != NULL); /* bad hash, then bad size: the later wins */
  CHECK_EQ_STR(b.pre_err[3], "invalid size");
  CHECK_EQ_STR(b.pre_err[4], "copyFile needs sourceRepoType and sourceRepoId");
  CHECK(b.src_type[4] == NULL);
  hub_batch_free(&b);
  CHECK_EQ_INT(batch("", &b), 0);
  CHECK_EQ_INT(b.nops, 0);
  hub_batch_free(&b);
}

static void test_batch_refused(void) {
  hub_batch b;
  CHECK_EQ_INT(batch("{\"type\":\"deleteFile\",\"path\":\"a\"}\n{not json", &b), 400);
  CHECK_EQ_STR(b.err, "line 2: not a JSON object");
  hub_batch_free(&b);
  CHECK_EQ_INT(batch("\n\n[1]", &b), 400);
  CHECK_EQ_STR(b.err, "line 3: not a JSON object");
  hub_batch_free(&b);
  CHECK_EQ_INT(batch("{\"type\":\"renameFile\",\"path\":\"x\"}", &b), 400);
  CHECK_EQ_STR(b.err, "line 1: unknown operation type 'renameFile'");
  hub_batch_free(&b);
  CHECK_EQ_INT(batch("{\"type\":\"addFile\",\"xetHash\":\"" H64 "\"}", &b), 400);
  CHECK_EQ_STR(b.err, "line 1: 'type' and 'path' (strings) are required");
  hub_batch_free(&b);
  CHECK_EQ_INT(batch("{\"type\":\"deleteFile\",\"path\":\"ok/one\\u0000x\"}", &b), 400);
  CHECK_EQ_STR(b.err, "line 1: \\u0000 in a string");
  hub_batch_free(&b);
  /* an escaped backslash before "u0000" is not the escape */
  CHECK_EQ_INT(batch("{\"type\":\"deleteFile\",\"path\":\"a\\\\u0000\"}", &b), 0);
  CHECK_EQ_STR(b.ops[0].path, "a\\u0000");
  hub_batch_free(&b);
  size_t n = BK_BATCH_MAX + 1;
  char *many = malloc(n + 2);
  memset(many, '\n', n + 1);
  many[n + 1] = 0;
  CHECK_EQ_INT(hub_batch_parse(many, n, &b), 413); /* BK_BATCH_MAX + 2 lines */
  hub_batch_free(&b);
  CHECK_EQ_INT(hub_batch_parse(many, n - 1, &b), 0); /* BK_BATCH_MAX + 1 lines (the last
                                                        may be empty after a final '\n') */
  hub_batch_free(&b);
  free(many);
  size_t ll = HUB_BATCH_LINE_MAX + 40;
  char *longl = malloc(ll + 1);
  memcpy(longl, "{\"type\":\"deleteFile\",\"path\":\"", 29);
  memset(longl + 29, 'a', ll - 31);
  memcpy(longl + ll - 2, "\"}", 2);
  longl[ll] = 0;
  CHECK_EQ_INT(hub_batch_parse(longl, ll, &b), 400);
  CHECK_EQ_STR(b.err, "line 1: operation too long");
  hub_batch_free(&b);
  free(longl);
}

static int paths(const char *ct, const char *body, hub_paths *p) {
  return hub_paths_parse(ct, (const uint8_t *)body, strlen(body), p);
}

static void test_paths(void) {
  hub_paths p;
  CHECK_EQ_INT(paths("application/json", "{\"paths\":[\"a\",\"b/c\",\"../x\",\"d/\"],\"expand\":true}", &p), 0);
  CHECK_EQ_INT(p.n, 4);
  CHECK_EQ_INT(p.nvalid, 2);
  CHECK_EQ_STR(p.paths[0], "a");
  CHECK_EQ_STR(p.paths[1], "b/c");
  hub_paths_free(&p);
  CHECK_EQ_INT(paths(NULL, "{\"paths\":\"single\"}", &p), 0);
  CHECK_EQ_INT(p.nvalid, 1);
  CHECK_EQ_STR(p.paths[0], "single");
  hub_paths_free(&p);
  CHECK_EQ_INT(paths("Application/X-WWW-Form-Urlencoded; charset=utf-8",
                     "paths=a&paths%5B%5D=b%2Fc&paths[]=x+y&other=1&paths=..", &p), 0);
  CHECK_EQ_INT(p.n, 4);
  CHECK_EQ_INT(p.nvalid, 3);
  CHECK_EQ_STR(p.paths[1], "b/c");
  CHECK_EQ_STR(p.paths[2], "x y");
  hub_paths_free(&p);
  CHECK_EQ_INT(paths("application/x-www-form-urlencoded", "paths=%zz", &p), 400);
  CHECK_EQ_STR(p.err, "malformed form body");
  hub_paths_free(&p);
  CHECK_EQ_INT(paths(NULL, "", &p), 400);
  CHECK_EQ_STR(p.err, "request body required");
  hub_paths_free(&p);
  CHECK_EQ_INT(paths(NULL, "[\"a\"]", &p), 400);
  CHECK_EQ_STR(p.err, "request body is not a JSON object");
  hub_paths_free(&p);
  CHECK_EQ_INT(paths(NULL, "{\"paths\":[\"a\",7]}", &p), 400);
  CHECK_EQ_STR(p.err, "'paths' must contain only strings");
  hub_paths_free(&p);
  CHECK_EQ_INT(paths(NULL, "{\"path\":[]}", &p), 400);
  hub_paths_free(&p);
  CHECK_EQ_INT(paths(NULL, "{\"paths\":[\"a\\u0000b\"]}", &p), 400);
  hub_paths_free(&p);
  /* 1,001 paths */
  size_t cap = 16 + 4 * (BK_PATHS_INFO_MAX + 1);
  char *big = malloc(cap), *w = big;
  w += sprintf(w, "{\"paths\":[");
  for (int i = 0; i <= BK_PATHS_INFO_MAX; i++) w += sprintf(w, "%s\"a\"", i ? "," : "");
  strcpy(w, "]}");
  CHECK_EQ_INT(paths(NULL, big, &p), 400);
  CHECK_EQ_STR(p.err, "at most 1000 paths per request");
  hub_paths_free(&p);
  free(big);
}

static void test_prefix_repo_mtime(void) {
  char out[BK_PATH_MAX + 2];
  CHECK_EQ_INT(hub_tree_prefix(NULL, out), 0);
  CHECK_EQ_STR(out, "");
  CHECK_EQ_INT(hub_tree_prefix("logs//", out), 4);
  CHECK_EQ_STR(out, "logs");
  CHECK_EQ_INT(hub_tree_prefix("a/../b", out), -1);
  char *longp = malloc(BK_PATH_MAX + 2);
  memset(longp, 'a', BK_PATH_MAX + 1);
  longp[BK_PATH_MAX + 1] = 0;
  CHECK_EQ_INT(hub_tree_prefix(longp, out), -2);
  free(longp);
  char buf[256], *ns, *name;
  CHECK_EQ_INT(hub_split_repo_id("buckets/alice/b1", buf, sizeof buf, &ns, &name), 0);
  CHECK_EQ_STR(ns, "alice");
  CHECK_EQ_STR(name, "b1");
  CHECK_EQ_INT(hub_split_repo_id("alice/b1/x", buf, sizeof buf, &ns, &name), -1);
  CHECK_EQ_INT(hub_split_repo_id("alice", buf, sizeof buf, &ns, &name), -1);
  CHECK_EQ_INT(hub_split_repo_id("al ice/b", buf, sizeof buf, &ns, &name), -1);
  CHECK_EQ_INT(hub_split_repo_id("alice/b1", buf, 4, &ns, &name), -1);
  cJSON *n = cJSON_CreateNumber(1700000000);
  CHECK_EQ_INT(hub_mtime_ms(n), 1700000000000LL);
  cJSON_SetNumberValue(n, 1700000000123.0);
  CHECK_EQ_INT(hub_mtime_ms(n), 1700000000123LL);
  cJSON_SetNumberValue(n, -1);
  CHECK_EQ_INT(hub_mtime_ms(n), -1);
  cJSON_Delete(n);
  cJSON *s = cJSON_CreateString("1700000000");
  CHECK_EQ_INT(hub_mtime_ms(s), -1);
  cJSON_Delete(s);
  CHECK_EQ_INT(hub_mtime_ms(NULL), -1);
}

/* Region names ([a-z][a-z0-9-]{0,31}) and warm-region lists (docs/regions.md). */
static void test_regions(void) {
  CHECK(bk_region_name_valid("us"));
  CHECK(bk_region_name_valid("eu-west-1"));
  CHECK(bk_region_name_valid("a2345678901234567890123456789012")); /* 32 */
  CHECK(!bk_region_name_valid("a23456789012345678901234567890123")); /* 33 */
  CHECK(!bk_region_name_valid(""));
  CHECK(!bk_region_name_valid(NULL));
  CHECK(!bk_region_name_valid("EU"));
  CHECK(!bk_region_name_valid("1eu"));
  CHECK(!bk_region_name_valid("-eu"));
  CHECK(!bk_region_name_valid("eu west"));
  CHECK(!bk_region_name_valid("eu\r\nX-Evil: 1"));
  char buf[128], msg[160];
  const char *names[4];
  size_t n = 9;
  CHECK_EQ_INT(hub_region_list_parse("", buf, sizeof buf, names, 4, &n, msg, sizeof msg), 0);
  CHECK_EQ_INT((int)n, 0);
  CHECK_EQ_INT(hub_region_list_parse(" us , eu,", buf, sizeof buf, names, 4, &n, msg, sizeof msg), 0);
  CHECK_EQ_INT((int)n, 2);
  CHECK_EQ_STR(names[0], "us");
  CHECK_EQ_STR(names[1], "eu");
  CHECK_EQ_INT(hub_region_list_parse("us,us", buf, sizeof buf, names, 4, &n, msg, sizeof msg), -1);
  CHECK(strstr(msg, "twice") != NULL);
  CHECK_EQ_INT(hub_region_list_parse("us,EU", buf, sizeof buf, names, 4, &n, msg, sizeof msg), -1);
  CHECK(strstr(msg, "EU") != NULL);
  CHECK_EQ_INT(hub_region_list_parse("a,b,c,d,e", buf, sizeof buf, names, 4, &n, msg, sizeof msg), -1);
  CHECK_EQ_INT(hub_region_list_parse("us,eu", buf, 4, names, 4, &n, msg, sizeof msg), -1);
}

int main(void) {
  RUN(test_batch_ok);
  RUN(test_regions);
  RUN(test_batch_refused);
  RUN(test_paths);
  RUN(test_prefix_repo_mtime);
  return test_summary();
}
