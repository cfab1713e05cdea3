/* cli_api — drives the client library API (include/buckets/client.h) against
 * a live bucketd: uploads from memory, byte-range reads at edges, download
 * with verification, listings, paths-info, batch, plan JSONL, error codes.
 * Run by tests/integration/cli_api.sh with HF_ENDPOINT/HF_TOKEN/HF_HOME set
 * and the bucket given as argv[1]. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/test.h"
#include "buckets/client.h"
#include "buckets/error.h"

static const char *g_bucket, *g_dir;
static bk_client *g_c;
static uint8_t *g_data;
static size_t g_len = (5u << 20) + 12345;
static char g_hash[65];

static void fill(uint8_t *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (uint8_t)(seed >> 56);
  }
}

static void test_upload_memory(void) {
  bk_upload_item it[2];
  memset(it, 0, sizeof it);
  it[0].data = g_data;
  it[0].len = g_len;
  it[0].remote_path = "mem/data.bin";
  it[0].mtime_ms = 1700000000123LL;
  it[1].data = "";
  it[1].len = 0;
  it[1].remote_path = "mem/empty.bin";
  it[1].mtime_ms = 1700000000000LL;
  bk_transfer_stats st;
  int rc = bk_upload(g_c, g_bucket, it, 2, &st);
  if (rc) fprintf(stderr, "upload: %s\n", bk_errmsg());
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(st.files, 2);
  CHECK_EQ_INT(st.bytes, g_len);
  CHECK(st.bytes_sent > 0);
}

static void test_paths_info(void) {
  const char *paths[] = {"mem/data.bin", "mem/empty.bin", "mem/missing.bin"};
  char *json = NULL;
  CHECK_EQ_INT(bk_bucket_paths_info(g_c, g_bucket, paths, 3, &json), 0);
  cJSON *a = cJSON_Parse(json ? json : "[]");
  CHECK_EQ_INT(cJSON_GetArraySize(a), 2);
  const cJSON *e;
  cJSON_ArrayForEach(e, a) {
    const cJSON *p = cJSON_GetObjectItem(e, "path");
    const cJSON *h = cJSON_GetObjectItem(e, "xetHash");
    const cJSON *s = cJSON_GetObjectItem(e, "size");
    const cJSON *m = cJSON_GetObjectItem(e, "mtime");
    if (cJSON_IsString(p) && strcmp(p->valuestring, "mem/data.bin") == 0) {
      CHECK(cJSON_IsString(h) && strlen(h->valuestring) == 64);
      if (cJSON_IsString(h)) snprintf(g_hash, sizeof g_hash, "%s", h->valuestring);
      CHECK(cJSON_IsNumber(s) && (size_t)s->valuedouble == g_len);
      CHECK(cJSON_IsString(m) && strncmp(m->valuestring, "2023-11-14T22:13:20.123", 23) == 0);
    }
  }
  cJSON_Delete(a);
  bk_free(json);
}

static void test_read_range(void) {
  uint64_t offs[] = {0, 1, 65535, 65536, 1000000, g_len - 10, g_len - 1};
  uint64_t lens[] = {100, 200000, 1, 3u << 20, 777, 10, 1};
  uint8_t *buf = malloc(4u << 20);
  for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
    uint64_t got = 0;
    memset(buf, 0xAA, lens[i]);
    int rc = bk_read_range(g_c, g_bucket, g_hash, offs[i], lens[i], buf, &got);
    if (rc) fprintf(stderr, "read_range %llu: %s\n", (unsigned long long)offs[i], bk_errmsg());
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(got, lens[i]);
    CHECK(memcmp(buf, g_data + offs[i], lens[i]) == 0);
  }
  uint64_t got = 99;
  /* range past the end: short read */
  CHECK_EQ_INT(bk_read_range(g_c, g_bucket, g_hash, g_len - 5, 100, buf, &got), 0);
  CHECK_EQ_INT(got, 5);
  CHECK(memcmp(buf, g_data + g_len - 5, 5) == 0);
  CHECK_EQ_INT(bk_read_range(g_c, g_bucket, g_hash, g_len + 10, 100, buf, &got), 0);
  CHECK_EQ_INT(got, 0);
  CHECK(bk_read_range(g_c, g_bucket, "zz", 0, 1, buf, &got) != 0);
  free(buf);
}

static void test_download(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/sub/dir/data.bin", g_dir);
  bk_transfer_stats st;
  int rc = bk_download(g_c, g_bucket, "mem/data.bin", path, &st);
  if (rc) fprintf(stderr, "download: %s\n", bk_errmsg());
  CHECK_EQ_INT(rc, 0);
  FILE *f = fopen(path, "rb");
  uint8_t *b = malloc(g_len + 1);
  size_t n = f ? fread(b, 1, g_len + 1, f) : 0;
  if (f) fclose(f);
  CHECK_EQ_INT(n, g_len);
  CHECK(memcmp(b, g_data, g_len) == 0);
  free(b);
  struct stat sb;
  CHECK(stat(path, &sb) == 0 && sb.st_mtim.tv_sec == 1700000000 &&
        sb.st_mtim.tv_nsec / 1000000 == 123);
  snprintf(path, sizeof path, "%s/empty.bin", g_dir);
  CHECK_EQ_INT(bk_download(g_c, g_bucket, "mem/empty.bin", path, NULL), 0);
  CHECK(stat(path, &sb) == 0 && sb.st_size == 0);
  CHECK_EQ_INT(bk_download(g_c, g_bucket, "mem/missing.bin", path, NULL), BK_ENOTFOUND);
  /* a wrong expected hash is rejected and leaves no file behind */
  char bad[65];
  snprintf(bad, sizeof bad, "%s", g_hash);
  snprintf(path, sizeof path, "%s/wrong.bin", g_dir);
  rc = bk_download_hash(g_c, g_bucket, "0000000000000000000000000000000000000000000000000000000000000001",
                        g_len, -1, path, NULL);
  CHECK(rc != 0);
  CHECK(access(path, F_OK) != 0);
}

static int file_equals(const char *path, const uint8_t *want, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uint8_t *b = malloc(n + 1);
  size_t got = fread(b, 1, n + 1, f);
  fclose(f);
  int ok = got == n && memcmp(b, want, n) == 0;
  free(b);
  return ok;
}

static void test_download_files(void) {
  char p1[4096], p2[4096], p3[4096];
  snprintf(p1, sizeof p1, "%s/many/a/one.bin", g_dir);
  snprintf(p2, sizeof p2, "%s/many/b/two.bin", g_dir);
  snprintf(p3, sizeof p3, "%s/many/empty.bin", g_dir);
  bk_download_item it[3] = {
      {g_hash, g_len, 1700000000123LL, p1},
      {g_hash, g_len, -1, p2},
      {"0000000000000000000000000000000000000000000000000000000000000000", 0, 0, p3}};
  bk_transfer_stats st;
  int rc = bk_download_files(g_c, g_bucket, it, 3, &st);
  if (rc) fprintf(stderr, "download_files: %s\n", bk_errmsg());
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(st.files, 3);
  CHECK(file_equals(p1, g_data, g_len));
  CHECK(file_equals(p2, g_data, g_len));
  struct stat sb;
  CHECK(stat(p3, &sb) == 0 && sb.st_size == 0);
  CHECK(stat(p1, &sb) == 0 && sb.st_mtim.tv_sec == 1700000000);
  bk_download_item twice[2] = {{g_hash, g_len, -1, p1}, {g_hash, g_len, -1, p1}};
  CHECK_EQ_INT(bk_download_files(g_c, g_bucket, twice, 2, NULL), BK_EINVAL);
  /* a wrong size is refused and leaves nothing behind */
  char p4[4096];
  snprintf(p4, sizeof p4, "%s/many/bad.bin", g_dir);
  bk_download_item bad = {g_hash, g_len + 1, -1, p4};
  CHECK(bk_download_files(g_c, g_bucket, &bad, 1, NULL) != 0);
  CHECK(access(p4, F_OK) != 0);
}

static void test_xet_upload_hash_only(void) {
  bk_upload_item it;
  memset(&it, 0, sizeof it);
  it.data = g_data;
  it.len = g_len;
  it.remote_path = "unused";
  char h[1][65];
  bk_transfer_stats st;
  CHECK_EQ_INT(bk_xet_upload(g_c, g_bucket, &it, 1, h, &st), 0);
  CHECK_EQ_STR(h[0], g_hash);
  CHECK_EQ_INT(st.bytes_sent, 0); /* everything deduplicated */
  CHECK_EQ_INT(st.bytes_dedup, g_len);
}

static void test_tree_and_batch(void) {
  char *json = NULL;
  CHECK_EQ_INT(bk_bucket_tree(g_c, g_bucket, "mem", 1, &json), 0);
  cJSON *a = cJSON_Parse(json ? json : "[]");
  CHECK_EQ_INT(cJSON_GetArraySize(a), 2);
  cJSON_Delete(a);
  bk_free(json);
  /* batch with a failing op reports it */
  const char *nd = "{\"type\":\"deleteFile\",\"path\":\"mem/empty.bin\"}\n"
                   "{\"type\":\"addFile\",\"path\":\"x.bin\",\"xetHash\":\"nothex\"}\n";
  json = NULL;
  int rc = bk_bucket_batch(g_c, g_bucket, nd, &json);
  CHECK(rc != 0);
  cJSON *o = cJSON_Parse(json ? json : "{}");
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "failed")), 1);
  cJSON_Delete(o);
  bk_free(json);
  CHECK_EQ_INT(bk_bucket_tree(g_c, g_bucket, "mem", 1, &json), 0);
  a = cJSON_Parse(json ? json : "[]");
  CHECK_EQ_INT(cJSON_GetArraySize(a), 1);
  cJSON_Delete(a);
  bk_free(json);
}

static void test_errors(void) {
  char *json = NULL;
  CHECK_EQ_INT(bk_bucket_info(g_c, "nobody/nothing", &json), BK_ENOTFOUND);
  CHECK(strstr(bk_errmsg(), "not found") != NULL);
  CHECK_EQ_INT(bk_bucket_info(g_c, "single", &json), BK_EINVAL);
  CHECK_EQ_INT(bk_bucket_delete(g_c, "nobody/nothing", 1), 0);
  bk_upload_item it;
  memset(&it, 0, sizeof it);
  it.data = "x";
  it.len = 1;
  it.remote_path = "../escape";
  CHECK_EQ_INT(bk_upload(g_c, g_bucket, &it, 1, NULL), BK_EINVAL);
  bk_client *anon;
  bk_client_opts o = BK_CLIENT_OPTS_INIT;
  o.token = "";
  CHECK_EQ_INT(bk_client_new(&o, &anon), 0);
  CHECK(!bk_client_has_token(anon));
  CHECK_EQ_INT(bk_whoami(anon, &json), BK_EAUTH);
  bk_client_free(anon);
}

static void test_plan_jsonl(void) {
  char src[4096], dst[600];
  snprintf(src, sizeof src, "%s/sub", g_dir);
  snprintf(dst, sizeof dst, "hf://buckets/%s/planned", g_bucket);
  bk_sync_opts o;
  memset(&o, 0, sizeof o);
  o.source = src;
  o.dest = dst;
  char *jsonl = NULL;
  CHECK_EQ_INT(bk_sync_plan_jsonl(g_c, &o, &jsonl), 0);
  CHECK(jsonl && strstr(jsonl, "\"action\":\"upload\",\"path\":\"dir/data.bin\"") != NULL);
  bk_transfer_stats st;
  CHECK_EQ_INT(bk_sync_apply_jsonl(g_c, jsonl, 0, &st), 0);
  CHECK_EQ_INT(st.files, 1);
  CHECK_EQ_INT(st.bytes_sent, 0); /* same bytes as mem/data.bin */
  bk_free(jsonl);
  jsonl = NULL;
  CHECK_EQ_INT(bk_sync(g_c, &o, &jsonl, &st), 0);
  CHECK(jsonl && strstr(jsonl, "\"skips\":1") != NULL);
  bk_free(jsonl);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: cli_api BUCKET_ID WORKDIR\n");
    return 2;
  }
  g_bucket = argv[1];
  g_dir = argv[2];
  g_data = malloc(g_len);
  fill(g_data, g_len, 42);
  if (bk_client_new(NULL, &g_c)) {
    fprintf(stderr, "client: %s\n", bk_errmsg());
    return 1;
  }
  RUN(test_upload_memory);
  RUN(test_paths_info);
  RUN(test_read_range);
  RUN(test_download);
  RUN(test_download_files);
  RUN(test_xet_upload_hash_only);
  RUN(test_tree_and_batch);
  RUN(test_errors);
  RUN(test_plan_jsonl);
  bk_client_free(g_c);
  free(g_data);
  return test_summary();
}
