/* Unit tests: the CAS download routes of an in-process bucketd (libbucketd.a,
 * a real libmicrohttpd listener on 127.0.0.1, real libcurl requests) over
 * three stores in a temp data dir:
 *   "file"   the filesystem store (signed xorb ranges go out by sendfile),
 *   "bare"   the test-only backend without fd and trash
 *            (tests/unit/service/bare_backend.h): the reader-backed range,
 *   "direct" bare + presigned URLs, served with --direct-downloads.
 * Checks: a reconstruction's signed xorb URL serves bytes identical to the
 * stored blob on "file" and "bare", also single-byte ranges at both edges; a
 * blob deleted mid-stream ends the reader-backed response short (curl sees a
 * partial transfer), never with other bytes; with --direct-downloads the v1,
 * v2 and batch answers carry the store's presigned URLs for exactly the
 * url_range bytes (expiry BK_SVC_PRESIGN_TTL_S) and everything else in the
 * answer equals the answer without the flag; the client library
 * (bk_download_hash) downloads a file from such a server, its xorb bytes
 * coming from a stand-in object endpoint on 127.0.0.1 that serves the
 * presigned URLs; bk_server_open refuses --direct-downloads on the file
 * store. The store is swapped after
 * bk_server_open (the fields are plain; test-only, bucketd opens by URL). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/client.h"
#include "store/accounts.h"
#include "store/blobstore.h"
#include "store/db.h"
#include "buckets/clock.h"
#include "buckets/error.h"
#include "server/cas_token.h"
#include "server/server.h"
#include "service/service.h"
#include "../service/bare_backend.h"
#include "../test.h"

static char root[200];
static int ndir;

#define PRESIGN_BASE "http://127.0.0.1:9/objs"
static const char *presign_base = PRESIGN_BASE; /* what tsrv_open(kind 2) presigns with */

struct tsrv {
  struct bk_server srv;
  char dir[300];
  int64_t bid, uid;
  char *tok;
  char base[64];
};

/* kind: 0 file, 1 bare, 2 bare + presign + --direct-downloads. */
static int tsrv_open(struct tsrv *t, int kind) {
  memset(t, 0, sizeof *t);
  snprintf(t->dir, sizeof t->dir, "%s/s%d", root, ndir++);
  struct bk_server_config cfg = {.listen = "127.0.0.1:0", .data_dir = t->dir, .quiet = 1};
  if (bk_server_open(&t->srv, &cfg)) return -1;
  if (kind > 0) {
    bk_svc_close(t->srv.svc);
    t->srv.svc = NULL;
    bk_blobstore_close(t->srv.blobs);
    t->srv.blobs = NULL;
    char blobs[400];
    snprintf(blobs, sizeof blobs, "%s/blobs", t->dir);
    if (bare_store_open(blobs, kind == 2 ? presign_base : NULL, &t->srv.blobs)) return -2;
    t->srv.direct_downloads = kind == 2;
    struct bk_svc_config sc = {.db = t->srv.db, .blobs = t->srv.blobs,
                               .reverify_ms = t->srv.reverify_ms,
                               .direct_downloads = kind == 2};
    if (bk_svc_open(&sc, &t->srv.svc)) return -3;
  }
  if (bk_server_start(&t->srv)) return -4;
  snprintf(t->base, sizeof t->base, "http://127.0.0.1:%u", (unsigned)t->srv.port);
  bk_ns u;
  bk_bucket b;
  if (bk_db_user_add(t->srv.db, "alice", &u) || bk_db_bucket_create(t->srv.db, u.id, "d", 0, &b))
    return -5;
  t->bid = b.id;
  t->uid = u.id;
  return cas_token_mint(&t->srv, b.id, 0, 3600, &t->tok, NULL);
}

static void tsrv_close(struct tsrv *t) {
  bk_server_close(&t->srv);
  free(t->tok);
}

static void fill(uint8_t *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (uint8_t)(seed >> 56);
  }
}

struct body {
  uint8_t *p;
  size_t n, cap;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx) {
  struct body *b = ctx;
  size_t n = sz * nm;
  if (b->n + n > b->cap) {
    size_t cap = (b->n + n) * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  return n;
}

/* GET url (with the CAS token when tok, a Range header when range); the
 * body in *b (caller frees b->p); returns the status, *cres the curl code. */
static long get(const char *url, const char *tok, const char *range, struct body *b,
                CURLcode *cres) {
  memset(b, 0, sizeof *b);
  CURL *c = curl_easy_init();
  if (!c) return -1;
  struct curl_slist *h = NULL;
  char line[1200];
  if (tok) {
    snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
    h = curl_slist_append(h, line);
  }
  if (range) {
    snprintf(line, sizeof line, "Range: bytes=%s", range);
    h = curl_slist_append(h, line);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  CURLcode r = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (cres) *cres = r;
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r == CURLE_OK ? code : (cres ? code : -2);
}

/* The reconstruction JSON of file fh (v 1 or 2; range NULL = whole file). */
static cJSON *recon(struct tsrv *t, const bk_hash *fh, int v, const char *range) {
  char hex[BK_HASH_HEX_LEN + 1], url[300];
  bk_hash_to_hex(fh, hex);
  snprintf(url, sizeof url, "%s/v%d/reconstructions/%s", t->base, v, hex);
  struct body b;
  long code = get(url, t->tok, range, &b, NULL);
  cJSON *j = code == 200 ? cJSON_ParseWithLength((const char *)b.p, b.n) : NULL;
  if (!j) fprintf(stderr, "  recon v%d: HTTP %ld\n", v, code);
  free(b.p);
  return j;
}

/* A file of len bytes ingested for the bucket (granted to it). */
static uint8_t *ingest(struct tsrv *t, size_t len, uint64_t seed, bk_hash *fh) {
  uint8_t *d = malloc(len);
  if (!d) return NULL;
  fill(d, len, seed);
  struct bk_svc_ingest_stats st;
  if (bk_svc_ingest(t->srv.svc, t->bid, d, len, fh, &st)) {
    free(d);
    return NULL;
  }
  return d;
}

/* The stored bytes [s, e] of xorb hex (read from the data dir's blobs). */
static int blob_bytes(struct tsrv *t, const char *hex, uint64_t s, uint64_t e, uint8_t *out) {
  char blobs[400];
  snprintf(blobs, sizeof blobs, "%s/blobs", t->dir);
  bk_blobstore *fs = NULL;
  bk_hash h;
  if (bk_hash_parse(hex, &h) || bk_blobstore_open(blobs, &fs)) return -1;
  int rc = bk_blob_read_range(fs, BK_BLOB_XORB, &h, s, (size_t)(e - s + 1), out);
  bk_blobstore_close(fs);
  return rc;
}

static uint64_t jnum(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? (uint64_t)v->valuedouble : UINT64_MAX;
}

/* Fetches the first fetch entry's URL with sub-ranges of its url_range and
 * compares with the stored bytes. Returns the number of mismatches. */
static int check_xorb_urls(struct tsrv *t, cJSON *j) {
  int bad = 0;
  cJSON *fi = cJSON_GetObjectItemCaseSensitive(j, "fetch_info");
  cJSON *x;
  cJSON_ArrayForEach(x, fi) {
    cJSON *e = cJSON_GetArrayItem(x, 0);
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "url"));
    cJSON *ur = cJSON_GetObjectItemCaseSensitive(e, "url_range");
    uint64_t s = jnum(ur, "start"), en = jnum(ur, "end");
    if (!url || s == UINT64_MAX || en < s) return bad + 1;
    if (strncmp(url, t->base, strlen(t->base)) != 0 || !strstr(url, "/v1/xorb-range/")) bad++;
    uint64_t sub[][2] = {{s, en}, {s, s}, {en, en}, {s + (en - s) / 3, en - 1}};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
      char range[64];
      snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, sub[i][0], sub[i][1]);
      struct body b;
      long code = get(url, NULL, range, &b, NULL);
      size_t want = (size_t)(sub[i][1] - sub[i][0] + 1);
      uint8_t *ref = malloc(want);
      int same = ref && code == 206 && b.n == want &&
                 blob_bytes(t, x->string, sub[i][0], sub[i][1], ref) == 0 &&
                 memcmp(ref, b.p, want) == 0;
      if (!same) {
        fprintf(stderr, "  range %s: HTTP %ld, %zu bytes\n", range, code, b.n);
        bad++;
      }
      free(ref);
      free(b.p);
    }
    /* outside the signed range: refused */
    char range[64];
    snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, s, en + 1);
    struct body b;
    if (get(url, NULL, range, &b, NULL) != 403) bad++;
    free(b.p);
  }
  return bad;
}

/* Signed xorb URLs serve the stored bytes, by sendfile (file) and by the
 * reader (bare). */
static void test_xorb_range_file_and_bare(void) {
  for (int kind = 0; kind < 2; kind++) {
    struct tsrv t;
    CHECK_EQ_INT(tsrv_open(&t, kind), 0);
    bk_hash fh;
    uint8_t *d = ingest(&t, 2500 * 1000, 7, &fh);
    CHECK(d != NULL);
    cJSON *j = d ? recon(&t, &fh, 1, NULL) : NULL;
    CHECK(j != NULL);
    if (j) CHECK_EQ_INT(check_xorb_urls(&t, j), 0);
    cJSON_Delete(j);
    free(d);
    tsrv_close(&t);
  }
}

/* A blob deleted while its range streams (a gc between two reader windows):
 * the response ends short; what arrived is the right prefix. */
static void test_range_deleted_midstream(void) {
  struct tsrv t;
  CHECK_EQ_INT(tsrv_open(&t, 1), 0);
  bk_hash fh;
  uint8_t *d = ingest(&t, 2 * BK_SVC_RANGE_WINDOW + (1u << 20), 8, &fh);
  cJSON *j = d ? recon(&t, &fh, 1, NULL) : NULL;
  CHECK(j != NULL);
  cJSON *x = j ? cJSON_GetObjectItemCaseSensitive(j, "fetch_info")->child : NULL;
  cJSON *e = x ? cJSON_GetArrayItem(x, 0) : NULL;
  const char *url = e ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "url")) : NULL;
  cJSON *ur = e ? cJSON_GetObjectItemCaseSensitive(e, "url_range") : NULL;
  uint64_t s = jnum(ur, "start"), en = jnum(ur, "end");
  CHECK(url && s == 0 && en > 2 * BK_SVC_RANGE_WINDOW);
  if (url && s == 0 && en > 2 * BK_SVC_RANGE_WINDOW) {
    uint8_t *ref = malloc(BK_SVC_RANGE_WINDOW);
    CHECK_EQ_INT(blob_bytes(&t, x->string, 0, BK_SVC_RANGE_WINDOW - 1, ref), 0);
    char range[64];
    snprintf(range, sizeof range, "0-%" PRIu64, en);
    bare_delete_at_off = BK_SVC_RANGE_WINDOW; /* the second window's read */
    struct body b;
    CURLcode cr = CURLE_OK;
    long code = get(url, NULL, range, &b, &cr);
    bare_delete_at_off = UINT64_MAX;
    CHECK_EQ_INT(code, 206);
    CHECK(cr != CURLE_OK); /* short body: partial transfer / connection closed */
    CHECK(b.n < en + 1);
    size_t cmp = b.n < BK_SVC_RANGE_WINDOW ? b.n : BK_SVC_RANGE_WINDOW;
    CHECK(b.n <= BK_SVC_RANGE_WINDOW); /* nothing after the failed window */
    CHECK(memcmp(b.p, ref, cmp) == 0);
    free(b.p);
    free(ref);
    /* the server is fine afterwards: the xorb is now missing -> a clean error */
    code = get(url, NULL, "0-10", &b, NULL);
    CHECK(code >= 400);
    free(b.p);
  }
  cJSON_Delete(j);
  free(d);
  tsrv_close(&t);
}

/* Removes every "url" member (recursively) so two answers can be compared. */
static void strip_urls(cJSON *j) {
  cJSON_DeleteItemFromObjectCaseSensitive(j, "url");
  cJSON *c;
  cJSON_ArrayForEach(c, j) strip_urls(c);
}

/* Every url of a v1 fetch map is PRESIGN_BASE/xorb/<hex>?r=<url_range>&exp=T with T
 * within the presign lifetime. Returns the mismatches. */
static int check_presigned_v1(const cJSON *fi, int64_t t0) {
  int bad = 0, n = 0;
  cJSON *x, *e;
  cJSON_ArrayForEach(x, fi) {
    cJSON_ArrayForEach(e, x) {
      const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "url"));
      cJSON *ur = cJSON_GetObjectItemCaseSensitive(e, "url_range");
      char want[512];
      int w = snprintf(want, sizeof want, PRESIGN_BASE "/xorb/%s?r=%" PRIu64 "-%" PRIu64 "&exp=",
                       x->string, jnum(ur, "start"), jnum(ur, "end"));
      long long exp = url && w > 0 && !strncmp(url, want, (size_t)w) ? atoll(url + w) : 0;
      if (exp < t0 + BK_SVC_PRESIGN_TTL_S || exp > t0 + BK_SVC_PRESIGN_TTL_S + 10) {
        fprintf(stderr, "  url %s\n  want %s<%lld>\n", url ? url : "(none)", want,
                (long long)(t0 + BK_SVC_PRESIGN_TTL_S));
        bad++;
      }
      n++;
    }
  }
  return n ? bad : 1;
}

/* --direct-downloads: presigned URLs, ranges unchanged (compared with the
 * same file on a server without the flag). */
static void test_direct_downloads_recon(void) {
  struct tsrv plain, dd;
  CHECK_EQ_INT(tsrv_open(&plain, 0), 0);
  CHECK_EQ_INT(tsrv_open(&dd, 2), 0);
  bk_hash fh, fh2;
  uint8_t *d1 = ingest(&plain, 1800 * 1000, 9, &fh);
  uint8_t *d2 = ingest(&dd, 1800 * 1000, 9, &fh2);
  CHECK(d1 && d2 && bk_hash_eq(&fh, &fh2));
  const char *ranges[] = {NULL, "1000-700000", "0-0"};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    int64_t t0 = bk_now_ms() / 1000;
    cJSON *a = recon(&plain, &fh, 1, ranges[i]), *b = recon(&dd, &fh, 1, ranges[i]);
    CHECK(a && b);
    if (!a || !b) {
      cJSON_Delete(a);
      cJSON_Delete(b);
      continue;
    }
    CHECK_EQ_INT(check_presigned_v1(cJSON_GetObjectItemCaseSensitive(b, "fetch_info"), t0), 0);
    strip_urls(a);
    strip_urls(b);
    CHECK(cJSON_Compare(a, b, 1)); /* terms, ranges, offset: unchanged */
    cJSON_Delete(a);
    cJSON_Delete(b);
  }
  /* v2: one presigned URL per range, bytes as in v1's url_range */
  cJSON *v1 = recon(&dd, &fh, 1, NULL), *v2 = recon(&dd, &fh, 2, NULL);
  CHECK(v1 && v2);
  cJSON *xs = v2 ? cJSON_GetObjectItemCaseSensitive(v2, "xorbs") : NULL, *x;
  int n = 0;
  cJSON_ArrayForEach(x, xs) {
    cJSON *e = cJSON_GetArrayItem(x, 0);
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "url"));
    cJSON *by = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "ranges"), 0), "bytes");
    char want[512];
    snprintf(want, sizeof want, PRESIGN_BASE "/xorb/%s?r=%" PRIu64 "-%" PRIu64 "&exp=", x->string,
             jnum(by, "start"), jnum(by, "end"));
    CHECK(url && strncmp(url, want, strlen(want)) == 0);
    n++;
  }
  CHECK(n > 0);
  /* the batch form (v1 fetch_info) */
  char hex[BK_HASH_HEX_LEN + 1], url[400];
  bk_hash_to_hex(&fh, hex);
  snprintf(url, sizeof url, "%s/v1/reconstructions?file_id=%s", dd.base, hex);
  struct body bb;
  int64_t t0 = bk_now_ms() / 1000;
  CHECK_EQ_INT(get(url, dd.tok, NULL, &bb, NULL), 200);
  cJSON *batch = cJSON_ParseWithLength((const char *)bb.p, bb.n);
  CHECK(batch != NULL);
  if (batch)
    CHECK_EQ_INT(check_presigned_v1(cJSON_GetObjectItemCaseSensitive(batch, "fetch_info"), t0),
                 0);
  cJSON_Delete(batch);
  free(bb.p);
  cJSON_Delete(v1);
  cJSON_Delete(v2);
  free(d1);
  free(d2);
  tsrv_close(&plain);
  tsrv_close(&dd);
}

/* ---- a stand-in object store endpoint for the presigned URLs ----
 * GET /objs/xorb/<hex>?r=S-E&exp=T with "Range: bytes=A-B" inside [S, E]
 * answers 206 with those bytes of the blob under obj_root (a file store);
 * anything else 403/404. Counts what it served. Test-only, 127.0.0.1. */
static char obj_root[400];
static volatile uint64_t obj_bytes, obj_gets;

static enum MHD_Result obj_reply(struct MHD_Connection *con, unsigned status, void *body,
                                 size_t n, const char *crange) {
  struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
  if (!r) return MHD_NO;
  if (crange) MHD_add_response_header(r, "Content-Range", crange);
  enum MHD_Result q = MHD_queue_response(con, status, r);
  MHD_destroy_response(r);
  return q;
}

static enum MHD_Result obj_cb(void *cls, struct MHD_Connection *con, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **con_cls) {
  (void)cls, (void)version, (void)upload, (void)upload_len, (void)con_cls;
  bk_hash h;
  const char *rq = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, "r");
  const char *rg = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Range");
  unsigned long long s = 0, e = 0, a = 0, b = 0;
  if (strcmp(method, "GET") || strncmp(url, "/objs/xorb/", 11) || bk_hash_parse(url + 11, &h) ||
      !rq || !rg || sscanf(rq, "%llu-%llu", &s, &e) != 2 ||
      sscanf(rg, "bytes=%llu-%llu", &a, &b) != 2 || a < s || b > e || b < a || b - a > (64u << 20))
    return obj_reply(con, 403, NULL, 0, NULL);
  bk_blobstore *fs = NULL;
  uint8_t *buf = malloc((size_t)(b - a + 1));
  int rc = buf ? bk_blobstore_open(obj_root, &fs) : BK_ENOMEM;
  if (rc == 0) rc = bk_blob_read_range(fs, BK_BLOB_XORB, &h, a, (size_t)(b - a + 1), buf);
  bk_blobstore_close(fs);
  if (rc) {
    free(buf);
    return obj_reply(con, 404, NULL, 0, NULL);
  }
  char cr[96];
  snprintf(cr, sizeof cr, "bytes %llu-%llu/*", a, b);
  obj_bytes += b - a + 1;
  obj_gets++;
  return obj_reply(con, 206, buf, (size_t)(b - a + 1), cr);
}

/* The real client library (bk_download_hash: hub read token, reconstruction,
 * ranged GETs of the fetch URLs) downloads a file from a --direct-downloads
 * server: every xorb byte comes from the object endpoint, the file verifies. */
static void test_direct_downloads_client(void) {
  struct MHD_Daemon *od = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                           0, NULL, NULL, obj_cb, NULL, MHD_OPTION_END);
  CHECK(od != NULL);
  if (!od) return;
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(od, MHD_DAEMON_INFO_BIND_PORT);
  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%u/objs", di ? (unsigned)di->port : 0u);
  presign_base = base;
  struct tsrv t;
  CHECK_EQ_INT(tsrv_open(&t, 2), 0);
  presign_base = PRESIGN_BASE;
  snprintf(obj_root, sizeof obj_root, "%s/blobs", t.dir);
  bk_hash fh;
  size_t len = 2200 * 1000;
  uint8_t *d = ingest(&t, len, 11, &fh);
  CHECK(d != NULL);
  char utok[BK_TOKEN_LEN + 1], hex[BK_HASH_HEX_LEN + 1], out[400];
  CHECK_EQ_INT(bk_db_token_add(t.srv.db, t.uid, BK_ROLE_READ, utok, NULL), 0);
  bk_hash_to_hex(&fh, hex);
  snprintf(out, sizeof out, "%s/downloaded.bin", t.dir);
  bk_client_opts o = BK_CLIENT_OPTS_INIT;
  o.endpoint = t.base;
  o.token = utok;
  o.hf_home = t.dir;
  bk_client *c = NULL;
  CHECK_EQ_INT(bk_client_new(&o, &c), 0);
  bk_transfer_stats st;
  memset(&st, 0, sizeof st);
  obj_bytes = obj_gets = 0;
  int rc = c && d ? bk_download_hash(c, "alice/d", hex, len, -1, out, &st) : -1;
  if (rc) fprintf(stderr, "  download: %s\n", bk_errmsg());
  CHECK_EQ_INT(rc, 0);
  FILE *f = fopen(out, "rb");
  uint8_t *got = malloc(len + 1);
  size_t n = f && got ? fread(got, 1, len + 1, f) : 0;
  if (f) fclose(f);
  CHECK_EQ_INT(n, len);
  CHECK(d && got && n == len && memcmp(got, d, len) == 0);
  CHECK(obj_gets > 0);
  CHECK(obj_bytes > len / 2); /* the (incompressible) xorb bytes came from the object endpoint */
  fprintf(stderr, "  direct: %" PRIu64 " GETs, %" PRIu64 " bytes from the object endpoint\n",
          (uint64_t)obj_gets, (uint64_t)obj_bytes);
  free(got);
  free(d);
  bk_client_free(c);
  tsrv_close(&t);
  MHD_stop_daemon(od);
}

/* bk_server_open refuses --direct-downloads on a store that cannot presign. */
static void test_direct_downloads_refused(void) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/refused", root);
  struct bk_server srv;
  struct bk_server_config cfg = {.listen = "127.0.0.1:0", .data_dir = dir, .quiet = 1,
                                 .direct_downloads = 1};
  CHECK_EQ_INT(bk_server_open(&srv, &cfg), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "--direct-downloads needs a blob store that can presign") != NULL);
  bk_server_close(&srv);
}

/* Signed xorb-range URLs carry the region inside the signature: a URL
 * switched to another region (or stripped of it) does not verify, and a URL
 * without a region is the single-store one (unchanged). */
static void test_url_region_signed(void) {
  struct bk_server srv;
  memset(&srv, 0, sizeof srv);
  memset(srv.secret, 7, sizeof srv.secret);
  char pub[] = "http://127.0.0.1:1";
  srv.public_url = pub;
  bk_hash x;
  memset(&x, 0xab, sizeof x);
  bk_buf u;
  bk_buf_init(&u, 4096);
  CHECK_EQ_INT(cas_url_sign(&srv, &x, "eu", 0, 99, 2000000000, &u), 0);
  CHECK_EQ_INT(bk_buf_append_u8(&u, 0), 0);
  const char *url = (const char *)u.p;
  CHECK(strstr(url, "&region=eu&sig=") != NULL);
  const char *sig = strstr(url, "sig=") + 4;
  CHECK_EQ_INT(cas_url_verify(&srv, &x, "eu", 0, 99, 2000000000, sig, 1000), 0);
  CHECK_EQ_INT(cas_url_verify(&srv, &x, "us", 0, 99, 2000000000, sig, 1000), BK_EPERM);
  CHECK_EQ_INT(cas_url_verify(&srv, &x, NULL, 0, 99, 2000000000, sig, 1000), BK_EPERM);
  CHECK_EQ_INT(cas_url_verify(&srv, &x, "eu", 0, 100, 2000000000, sig, 1000), BK_EPERM);
  bk_buf_reset(&u);
  CHECK_EQ_INT(cas_url_sign(&srv, &x, NULL, 0, 99, 2000000000, &u), 0);
  CHECK_EQ_INT(bk_buf_append_u8(&u, 0), 0);
  url = (const char *)u.p;
  CHECK(strstr(url, "region=") == NULL);
  sig = strstr(url, "sig=") + 4;
  CHECK_EQ_INT(cas_url_verify(&srv, &x, NULL, 0, 99, 2000000000, sig, 1000), 0);
  CHECK_EQ_INT(cas_url_verify(&srv, &x, "", 0, 99, 2000000000, sig, 1000), 0);
  CHECK_EQ_INT(cas_url_verify(&srv, &x, "eu", 0, 99, 2000000000, sig, 1000), BK_EPERM);
  bk_buf_free(&u);
}

int main(void) {
  RUN(test_url_region_signed);
  snprintf(root, sizeof root, "/tmp/bk_cas_bare_XXXXXX");
  if (!mkdtemp(root)) return 1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  RUN(test_xorb_range_file_and_bare);
  RUN(test_range_deleted_midstream);
  RUN(test_direct_downloads_recon);
  RUN(test_direct_downloads_refused);
  RUN(test_direct_downloads_client);
  curl_global_cleanup();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return test_summary();
}
