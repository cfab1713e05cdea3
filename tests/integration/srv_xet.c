/* srv_xet — test/bench helper (owned by server-http): makes N deterministic
 * files, chunks them (gear CDC), packs the chunks into xorbs, builds one
 * shard describing every file, and either uploads it all to a running
 * bucketd through the Xet CAS API (mode "upload": xet-write-token, POST
 * /v1/xorbs/default/{hash}, POST /v1/shards) or writes it straight into a
 * data dir (mode "seed": blob store + db, as the CAS would; for tests that
 * must not depend on the CAS HTTP layer).
 *
 *   srv_xet upload --url URL --token TOK --bucket NS/NAME [opts]
 *   srv_xet seed   --data DIR | --db URL --blobs URL  --bucket NS/NAME [opts]
 * opts: --files N (1) --size BYTES (1000) --seed K (1) --prefix P ("f")
 *       --out DIR (also write each file's bytes to DIR/<index>)
 *       --text (compressible content instead of random)
 *       --mtime MS (add "mtime" to each NDJSON line)
 * stdout: one NDJSON addFile line per file:
 *   {"type":"addFile","path":"<prefix><index %06d>","xetHash":"<hex>","size":N}
 * (pipe it into POST /api/buckets/NS/NAME/batch). stderr: a summary.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/blobstore.h"
#include "buckets/buf.h"
#include "buckets/cdc.h"
#include "store/db.h"
#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"
#include "buckets/shard.h"
#include "buckets/xorb.h"
#include "server/server.h"

struct term {
  size_t xorb; /* index into xorbs */
  uint32_t start, end;
  uint32_t unpacked;
};

struct file {
  uint64_t size;
  bk_hash hash;
  struct term *terms;
  size_t nterms, capterms;
  bk_merkle *m;
};

struct ctx {
  const char *mode, *url, *token, *bucket, *data, *db_url, *blobs_url, *prefix, *out;
  int text;
  long long mtime;
  unsigned long long nfiles, size, seed;
  /* building */
  bk_xorb_builder *xb;
  size_t cur_xorb; /* index of the xorb being built */
  bk_shard_xorb *xorbs;
  size_t nxorbs, capxorbs;
  struct file *files;
  size_t cur_file;
  /* sinks */
  char cas_url[1024], cas_token[2048];
  CURL *curl;
  bk_db *db;
  bk_blobstore *bs;
  int64_t bucket_id;
  uint64_t bytes_sent;
  FILE *outf;
};

static int die(const char *what) {
  fprintf(stderr, "srv_xet: %s: %s (%s)\n", what, bk_errmsg(), bk_strerror(-1));
  exit(1);
}

/* ---- HTTP ---- */
static size_t wr_cb(void *p, size_t sz, size_t n, void *ud) {
  bk_buf *b = ud;
  if (bk_buf_append(b, p, sz * n)) return 0;
  return sz * n;
}

static long http(struct ctx *c, const char *method, const char *url, const char *bearer,
                 const void *body, size_t len, bk_buf *resp) {
  CURL *h = c->curl;
  curl_easy_reset(h);
  struct curl_slist *hd = NULL;
  char auth[2200];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
  hd = curl_slist_append(hd, auth);
  hd = curl_slist_append(hd, "Expect:");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, wr_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  long code = 0;
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  else fprintf(stderr, "srv_xet: %s %s: %s\n", method, url, curl_easy_strerror(rc));
  curl_slist_free_all(hd);
  return code;
}

static void get_token(struct ctx *c) {
  char url[2048];
  snprintf(url, sizeof url, "%s/api/buckets/%s/xet-write-token", c->url, c->bucket);
  bk_buf r;
  bk_buf_init(&r, 1 << 20);
  long code = http(c, "GET", url, c->token, NULL, 0, &r);
  if (code != 200) {
    fprintf(stderr, "srv_xet: xet-write-token: HTTP %ld: %.*s\n", code, (int)r.len, r.p);
    exit(1);
  }
  cJSON *j = cJSON_ParseWithLength((const char *)r.p, r.len);
  cJSON *t = cJSON_GetObjectItem(j, "accessToken"), *u = cJSON_GetObjectItem(j, "casUrl");
  if (!cJSON_IsString(t) || !cJSON_IsString(u)) {
    fprintf(stderr, "srv_xet: bad token response\n");
    exit(1);
  }
  snprintf(c->cas_token, sizeof c->cas_token, "%s", t->valuestring);
  snprintf(c->cas_url, sizeof c->cas_url, "%s", u->valuestring);
  cJSON_Delete(j);
  bk_buf_free(&r);
}

/* ---- sinks ---- */
static void put_xorb(struct ctx *c, const bk_hash *h, const uint8_t *body, size_t len) {
  char hex[65];
  bk_hash_to_hex(h, hex);
  c->bytes_sent += len;
  if (!strcmp(c->mode, "upload")) {
    char url[2048];
    snprintf(url, sizeof url, "%s/v1/xorbs/default/%s", c->cas_url, hex);
    bk_buf r;
    bk_buf_init(&r, 1 << 20);
    long code = http(c, "POST", url, c->cas_token, body, len, &r);
    if (code != 200) {
      fprintf(stderr, "srv_xet: POST xorb: HTTP %ld: %.*s\n", code, (int)r.len, r.p);
      exit(1);
    }
    bk_buf_free(&r);
    return;
  }
  bk_xorb *x = NULL;
  if (bk_xorb_parse(body, len, 0, h, &x)) die("parse own xorb");
  if (bk_blob_put(c->bs, BK_BLOB_XORB, h, body, len, NULL)) die("blob put");
  if (bk_db_xorb_register(c->db, h, len, bk_xorb_chunks(x), bk_xorb_count(x), NULL))
    die("xorb register");
  bk_xorb_free(x);
}

static void put_shard(struct ctx *c, const uint8_t *body, size_t len, const bk_shard *s) {
  c->bytes_sent += len;
  if (!strcmp(c->mode, "upload")) {
    char url[2048];
    snprintf(url, sizeof url, "%s/v1/shards", c->cas_url);
    bk_buf r;
    bk_buf_init(&r, 1 << 20);
    long code = http(c, "POST", url, c->cas_token, body, len, &r);
    if (code != 200) {
      fprintf(stderr, "srv_xet: POST shard: HTTP %ld: %.*s\n", code, (int)r.len, r.p);
      exit(1);
    }
    bk_buf_free(&r);
    return;
  }
  bk_hash sh;
  bk_blake3(body, len, sh.b);
  if (bk_blob_put(c->bs, BK_BLOB_SHARD, &sh, body, len, NULL)) die("shard put");
  bk_hash missing;
  if (bk_db_shard_register(c->db, &sh, len, s, c->bucket_id, &missing, NULL)) die("shard register");
}

/* ---- building ---- */
static void finish_xorb(struct ctx *c) {
  size_t n = bk_xorb_builder_count(c->xb);
  if (!n) return;
  bk_hash h;
  const uint8_t *body;
  size_t len;
  if (bk_xorb_builder_finish(c->xb, &h, &body, &len)) die("xorb finish");
  if (c->nxorbs == c->capxorbs) {
    c->capxorbs = c->capxorbs ? c->capxorbs * 2 : 8;
    c->xorbs = realloc(c->xorbs, c->capxorbs * sizeof *c->xorbs);
    if (!c->xorbs) die("oom");
  }
  bk_shard_xorb *sx = &c->xorbs[c->nxorbs++];
  memset(sx, 0, sizeof *sx);
  sx->xorb_hash = h;
  sx->nchunks = (uint32_t)n;
  sx->bytes_in_xorb = (uint32_t)bk_xorb_builder_unpacked(c->xb);
  sx->bytes_on_disk = (uint32_t)len;
  sx->chunks = calloc(n, sizeof *sx->chunks);
  if (!sx->chunks) die("oom");
  const bk_xorb_chunk *ch = bk_xorb_builder_chunks(c->xb);
  for (size_t i = 0; i < n; i++) {
    sx->chunks[i].hash = ch[i].hash;
    sx->chunks[i].byte_start = ch[i].unpacked_offset;
    sx->chunks[i].len = ch[i].unpacked_len;
  }
  put_xorb(c, &h, body, len);
  bk_xorb_builder_reset(c->xb);
  c->cur_xorb = c->nxorbs;
}

static int on_chunk(void *ud, uint64_t off, const uint8_t *data, size_t len, const bk_hash *hash) {
  (void)off;
  struct ctx *c = ud;
  int rc = bk_xorb_builder_add(c->xb, data, len, hash);
  if (rc == BK_ELIMIT) {
    finish_xorb(c);
    rc = bk_xorb_builder_add(c->xb, data, len, hash);
  }
  if (rc) die("xorb add");
  uint32_t idx = (uint32_t)bk_xorb_builder_count(c->xb) - 1;
  struct file *f = &c->files[c->cur_file];
  if (bk_merkle_push(f->m, hash, len)) die("merkle");
  struct term *t = f->nterms ? &f->terms[f->nterms - 1] : NULL;
  if (t && t->xorb == c->cur_xorb && t->end == idx) {
    t->end++;
    t->unpacked += (uint32_t)len;
    return 0;
  }
  if (f->nterms == f->capterms) {
    f->capterms = f->capterms ? f->capterms * 2 : 4;
    f->terms = realloc(f->terms, f->capterms * sizeof *f->terms);
    if (!f->terms) die("oom");
  }
  f->terms[f->nterms++] = (struct term){c->cur_xorb, idx, idx + 1, (uint32_t)len};
  return 0;
}

static void gen(struct ctx *c, unsigned long long i, uint8_t *buf, size_t n, uint64_t *st) {
  if (c->text) {
    static const char words[] = "the quick brown fox jumps over the lazy dog 0123456789 ";
    for (size_t k = 0; k < n; k++) {
      *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
      buf[k] = (uint8_t)words[(*st >> 59) + (k % 23)];
    }
    (void)i;
    return;
  }
  size_t k = 0;
  while (k < n) {
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    uint64_t v = *st;
    size_t m = n - k < 8 ? n - k : 8;
    memcpy(buf + k, &v, m);
    k += m;
  }
}

int main(int argc, char **argv) {
  struct ctx c;
  memset(&c, 0, sizeof c);
  c.nfiles = 1;
  c.size = 1000;
  c.seed = 1;
  c.prefix = "f";
  c.mtime = -1;
  if (argc < 2) {
    fprintf(stderr, "usage: srv_xet upload|seed ... (see source)\n");
    return 2;
  }
  c.mode = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--text")) { c.text = 1; continue; }
    i++;
    if (!strcmp(a, "--url")) c.url = v;
    else if (!strcmp(a, "--token")) c.token = v;
    else if (!strcmp(a, "--bucket")) c.bucket = v;
    else if (!strcmp(a, "--data")) c.data = v;
    else if (!strcmp(a, "--db")) c.db_url = v;
    else if (!strcmp(a, "--blobs")) c.blobs_url = v;
    else if (!strcmp(a, "--prefix")) c.prefix = v;
    else if (!strcmp(a, "--out")) c.out = v;
    else if (!strcmp(a, "--files")) c.nfiles = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--size")) c.size = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--seed")) c.seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--mtime")) c.mtime = strtoll(v, NULL, 10);
    else { fprintf(stderr, "srv_xet: unknown option %s\n", a); return 2; }
  }
  if (!c.bucket || !c.nfiles) { fprintf(stderr, "srv_xet: --bucket and --files required\n"); return 2; }
  if (!strcmp(c.mode, "upload")) {
    if (!c.url || !c.token) { fprintf(stderr, "srv_xet: upload needs --url --token\n"); return 2; }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c.curl = curl_easy_init();
    get_token(&c);
  } else if (!strcmp(c.mode, "seed")) {
    if (c.db_url && c.blobs_url) { /* a store by URL (postgresql+s3 as well) */
      if (bk_blobstore_open_url(c.blobs_url, &c.bs)) die("blobstore");
      if (bk_db_open_url(c.db_url, &c.db)) die("db");
    } else if (c.data) {
      char p[4096];
      snprintf(p, sizeof p, "%s/" BK_BLOBS_DIR, c.data);
      if (bk_blobstore_open(p, &c.bs)) die("blobstore");
      snprintf(p, sizeof p, "%s/" BK_DB_FILE, c.data);
      if (bk_db_open(p, &c.db)) die("db");
    } else {
      fprintf(stderr, "srv_xet: seed needs --data or --db and --blobs\n");
      return 2;
    }
    char ns[128];
    snprintf(ns, sizeof ns, "%s", c.bucket);
    char *sl = strchr(ns, '/');
    if (!sl) { fprintf(stderr, "srv_xet: bucket must be ns/name\n"); return 2; }
    *sl = 0;
    bk_bucket b;
    if (bk_db_bucket_get(c.db, ns, sl + 1, &b)) die("bucket");
    c.bucket_id = b.id;
  } else {
    fprintf(stderr, "srv_xet: unknown mode %s\n", c.mode);
    return 2;
  }
  if (c.out && bk_mkdir_p(c.out, 0755)) die("mkdir out");
  if (bk_xorb_builder_new(c.text, &c.xb)) die("builder");
  c.files = calloc(c.nfiles, sizeof *c.files);
  if (!c.files) die("oom");
  bk_chunker *ch;
  if (bk_chunker_new(on_chunk, &c, &ch)) die("chunker");
  size_t blk = 1 << 20;
  uint8_t *buf = malloc(blk);
  double t0 = (double)clock() / CLOCKS_PER_SEC;
  for (unsigned long long i = 0; i < c.nfiles; i++) {
    c.cur_file = i;
    struct file *f = &c.files[i];
    f->size = c.size;
    if (bk_merkle_new(&f->m)) die("merkle");
    uint64_t st = c.seed * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL + 1;
    FILE *of = NULL;
    if (c.out) {
      char p[4096];
      snprintf(p, sizeof p, "%s/%llu", c.out, i);
      of = fopen(p, "wb");
      if (!of) die("open out");
    }
    for (uint64_t done = 0; done < c.size;) {
      size_t n = c.size - done < blk ? (size_t)(c.size - done) : blk;
      gen(&c, i, buf, n, &st);
      if (of && fwrite(buf, 1, n, of) != n) die("write out");
      if (bk_chunker_feed(ch, buf, n)) die("feed");
      done += n;
    }
    if (bk_chunker_finish(ch)) die("finish");
    if (of) fclose(of);
    bk_hash root;
    size_t nleaves = bk_merkle_count(f->m);
    if (bk_merkle_finish(f->m, &root)) die("merkle finish");
    bk_file_hash_from_root(&root, nleaves > 0, NULL, &f->hash);
    bk_merkle_free(f->m);
    f->m = NULL;
  }
  finish_xorb(&c);
  /* shard */
  bk_shard s;
  memset(&s, 0, sizeof s);
  s.files = calloc(c.nfiles, sizeof *s.files);
  size_t nf = 0;
  for (unsigned long long i = 0; i < c.nfiles; i++) {
    struct file *f = &c.files[i];
    if (!f->nterms) continue;
    bk_shard_file *sf = &s.files[nf++];
    sf->file_hash = f->hash;
    sf->nterms = (uint32_t)f->nterms;
    sf->terms = calloc(f->nterms, sizeof *sf->terms);
    for (size_t k = 0; k < f->nterms; k++) {
      sf->terms[k].xorb_hash = c.xorbs[f->terms[k].xorb].xorb_hash;
      sf->terms[k].unpacked_bytes = f->terms[k].unpacked;
      sf->terms[k].chunk_start = f->terms[k].start;
      sf->terms[k].chunk_end = f->terms[k].end;
    }
  }
  s.nfiles = (uint32_t)nf;
  s.xorbs = c.xorbs;
  s.nxorbs = (uint32_t)c.nxorbs;
  bk_buf sb;
  bk_buf_init(&sb, BK_SHARD_MAX_BYTES);
  if (nf) {
    if (bk_shard_serialize(&s, 0, &sb)) die("shard serialize");
    put_shard(&c, sb.p, sb.len, &s);
  }
  for (unsigned long long i = 0; i < c.nfiles; i++) {
    char hex[65];
    bk_hash_to_hex(&c.files[i].hash, hex);
    printf("{\"type\":\"addFile\",\"path\":\"%s%06llu\",\"xetHash\":\"%s\",\"size\":%llu", c.prefix,
           i, hex, (unsigned long long)c.files[i].size);
    if (c.mtime >= 0) printf(",\"mtime\":%lld", c.mtime);
    printf("}\n");
  }
  fprintf(stderr, "srv_xet: %llu files, %zu xorbs, %llu bytes sent, %.2fs cpu\n", c.nfiles,
          c.nxorbs, (unsigned long long)c.bytes_sent, (double)clock() / CLOCKS_PER_SEC - t0);
  /* cleanup */
  for (size_t k = 0; k < nf; k++) free(s.files[k].terms);
  free(s.files);
  for (size_t k = 0; k < c.nxorbs; k++) free(c.xorbs[k].chunks);
  free(c.xorbs);
  for (unsigned long long i = 0; i < c.nfiles; i++) free(c.files[i].terms);
  free(c.files);
  free(buf);
  bk_buf_free(&sb);
  bk_chunker_free(ch);
  bk_xorb_builder_free(c.xb);
  if (c.curl) curl_easy_cleanup(c.curl);
  bk_db_close(c.db);
  bk_blobstore_close(c.bs);
  return 0;
}
