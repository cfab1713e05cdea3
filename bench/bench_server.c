/* bench_server — Hub API figures against a running bucketd (driven by
 * bench/run-server.sh). Uses one keep-alive libcurl handle.
 *
 *   bench_server --url URL --token TOK --bucket NS/NAME --ndjson FILE [--batch 1000]
 *
 * 1. baseline: GET /api/whoami-v2 round trips (HTTP + token lookup), x200
 * 2. POST .../batch with consecutive groups of --batch lines of FILE (new
 *    paths: inserts), then the first group again (overwrites)
 * 3. tree listing: GET .../tree?recursive=true&limit=L following Link
 *    (L = 1000 and 10000), entries/s
 * Prints one line per figure.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buckets/buf.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t wr(void *p, size_t sz, size_t n, void *ud) {
  return bk_buf_append(ud, p, sz * n) ? 0 : sz * n;
}

static char next_url[8192];
static size_t hdr(char *p, size_t sz, size_t n, void *ud) {
  (void)ud;
  size_t len = sz * n;
  if (len > 6 && !strncasecmp(p, "Link: <", 7)) {
    char *e = memchr(p + 7, '>', len - 7);
    if (e && (size_t)(e - p - 7) < sizeof next_url && strstr(e, "rel=\"next\"")) {
      memcpy(next_url, p + 7, (size_t)(e - p - 7));
      next_url[e - p - 7] = 0;
    }
  }
  return len;
}

static CURL *h;
static struct curl_slist *hdrs;

static long req(const char *method, const char *url, const void *body, size_t len, bk_buf *out) {
  bk_buf_reset(out);
  next_url[0] = 0;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, wr);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, hdr);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  }
  long code = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void stats(const char *what, double *v, size_t n, const char *extra) {
  qsort(v, n, sizeof *v, cmpd);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i];
  printf("%-44s n=%-4zu median %8.2f ms  p90 %8.2f ms  mean %8.2f ms%s\n", what, n, v[n / 2],
         v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1], sum / n, extra ? extra : "");
}

int main(int argc, char **argv) {
  const char *url = NULL, *tok = NULL, *bucket = NULL, *nd = NULL;
  size_t batch = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--url")) url = argv[i + 1];
    else if (!strcmp(argv[i], "--token")) tok = argv[i + 1];
    else if (!strcmp(argv[i], "--bucket")) bucket = argv[i + 1];
    else if (!strcmp(argv[i], "--ndjson")) nd = argv[i + 1];
    else if (!strcmp(argv[i], "--batch")) batch = strtoul(argv[i + 1], NULL, 10);
  }
  if (!url || !tok || !bucket || !nd || !batch) {
    fprintf(stderr, "usage: bench_server --url U --token T --bucket NS/N --ndjson F [--batch N]\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  h = curl_easy_init();
  char auth[512];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  hdrs = curl_slist_append(hdrs, auth);
  hdrs = curl_slist_append(hdrs, "Expect:");
  hdrs = curl_slist_append(hdrs, "Content-Type: application/x-ndjson");
  bk_buf out;
  bk_buf_init(&out, 1u << 30);
  char u[8192];

  /* 1. baseline */
  double lat[200];
  snprintf(u, sizeof u, "%s/api/whoami-v2", url);
  for (int i = 0; i < 200; i++) {
    double t0 = now_ms();
    if (req("GET", u, NULL, 0, &out) != 200) { fprintf(stderr, "whoami failed\n"); return 1; }
    lat[i] = now_ms() - t0;
  }
  stats("baseline: GET whoami-v2 (auth + db lookup)", lat, 200, NULL);

  /* 2. batches */
  FILE *f = fopen(nd, "rb");
  if (!f) { perror(nd); return 1; }
  bk_buf all;
  bk_buf_init(&all, 1u << 30);
  char line[8192];
  size_t nlines = 0;
  size_t *starts = NULL, cap = 0;
  while (fgets(line, sizeof line, f)) {
    if (nlines == cap) {
      cap = cap ? cap * 2 : 1024;
      starts = realloc(starts, (cap + 1) * sizeof *starts);
    }
    starts[nlines++] = all.len;
    bk_buf_append(&all, line, strlen(line));
  }
  fclose(f);
  starts = realloc(starts, (nlines + 1) * sizeof *starts);
  starts[nlines] = all.len;
  size_t ngroups = nlines / batch;
  if (!ngroups) { fprintf(stderr, "need at least %zu lines\n", batch); return 1; }
  double *bt = calloc(ngroups, sizeof *bt);
  snprintf(u, sizeof u, "%s/api/buckets/%s/batch", url, bucket);
  for (size_t g = 0; g < ngroups; g++) {
    const char *p = (const char *)all.p + starts[g * batch];
    size_t len = starts[(g + 1) * batch] - starts[g * batch];
    double t0 = now_ms();
    long code = req("POST", u, p, len, &out);
    bt[g] = now_ms() - t0;
    if (code != 200) {
      fprintf(stderr, "batch %zu: HTTP %ld %.*s\n", g, code, (int)(out.len > 300 ? 300 : out.len), out.p);
      return 1;
    }
  }
  char extra[128];
  snprintf(extra, sizeof extra, "  (%zu ops each)", batch);
  stats("batch addFile, new paths", bt, ngroups, extra);
  size_t reps = ngroups < 20 ? ngroups : 20;
  for (size_t g = 0; g < reps; g++) {
    double t0 = now_ms();
    req("POST", u, all.p + starts[g * batch], starts[(g + 1) * batch] - starts[g * batch], &out);
    bt[g] = now_ms() - t0;
  }
  stats("batch addFile, overwrite existing", bt, reps, extra);

  /* 3. tree */
  size_t limits[2] = {1000, 10000};
  for (int k = 0; k < 2; k++) {
    double best = 1e30;
    size_t entries = 0, bytes = 0, pages = 0;
    for (int rep = 0; rep < 3; rep++) {
      snprintf(u, sizeof u, "%s/api/buckets/%s/tree?recursive=true&limit=%zu", url, bucket, limits[k]);
      size_t e = 0, b = 0, pg = 0;
      double t0 = now_ms();
      for (;;) {
        if (req("GET", u, NULL, 0, &out) != 200) { fprintf(stderr, "tree failed\n"); return 1; }
        pg++;
        b += out.len;
        for (size_t i = 0; i + 14 < out.len; i++)
          if (out.p[i] == '{' && !memcmp(out.p + i, "{\"type\":\"file\"", 14)) e++;
        if (!next_url[0]) break;
        snprintf(u, sizeof u, "%s", next_url);
      }
      double dt = now_ms() - t0;
      if (dt < best) best = dt;
      entries = e, bytes = b, pages = pg;
    }
    printf("tree recursive limit=%-6zu %zu entries, %zu pages, %.1f MB in %.1f ms: %.0f entries/s\n",
           limits[k], entries, pages, bytes / 1e6, best, entries / (best / 1e3));
  }
  printf("baseline whoami rate: %.0f requests/s (one connection)\n", 1e3 / lat[100]);
  free(bt);
  free(starts);
  bk_buf_free(&all);
  bk_buf_free(&out);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return 0;
}
