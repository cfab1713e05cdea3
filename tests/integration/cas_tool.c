/* cas_tool — helper program for tests/integration/cas_*.sh (owned by server-cas).
 *
 *   cas_tool build FILE OUTDIR [--footer] [--raw] [--xorb-max N] [--bad-file-hash]
 *            [--bad-range-hash] [--bad-unpacked] [--phantom-xorb] [--no-verify]
 *            [--bad-chunk-range] [--bad-xorb-info] [--xorb-footer]
 *       chunks FILE, packs xorbs, builds the upload shard. Writes OUTDIR/xorbs.txt
 *       ("<hash> <file>" per xorb), OUTDIR/<n>.xorb, OUTDIR/shard.bin,
 *       OUTDIR/chunks.txt ("<hash> <len> <eligible 0|1>" per chunk in file order);
 *       prints the file hash. --xorb-footer appends the stored-format footer
 *       (XorbObjectInfoV1) to every xorb file, as a server-side copy would have.
 *   cas_tool upload BASE TOKEN OUTDIR [--v2]
 *       POSTs every xorb then the shard; prints one line per request; exit 0
 *       iff all answered 200 (v2: and a final {"type":"result"} frame).
 *   cas_tool download BASE TOKEN FILEHASH OUT [--v1|--v2] [--range S-E]
 *       reconstruction + signed range fetches + decode; writes OUT.
 *   cas_tool dedup BASE TOKEN CHUNKHASH [PATHPREFIX]
 *       global dedup query. Prints "miss" (404) or "hit <xorb> <index>" after
 *       checking: footer present, hmac key non-zero, expiry in the future, the
 *       hmac of CHUNKHASH is listed, no raw chunk hash is listed. Exit 0 on
 *       hit/miss, 1 on any violation or other status.
 *   cas_tool mint DATADIR BUCKET_ID read|write TTL
 *       mints a CAS token with the server secret of DATADIR (for expiry tests).
 *
 * Talks only to the BASE URL given (127.0.0.1 in the tests).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cas_lib.h"
#include "server/cas_token.h"
#include "server/server.h"

static int write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = n ? fwrite(p, 1, n, f) : 0;
  int rc = fclose(f);
  return (w == n && rc == 0) ? 0 : -1;
}

static int read_file(const char *path, bk_buf *out) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char tmp[1 << 16];
  size_t n;
  int rc = 0;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    if (bk_buf_append(out, tmp, n) != 0) {
      rc = -1;
      break;
    }
  fclose(f);
  return rc;
}

static uint8_t *map_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return NULL;
  }
  *len = (size_t)st.st_size;
  void *p = *len ? mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0) : malloc(1);
  close(fd);
  return p == MAP_FAILED ? NULL : p;
}

static int cmd_build(int argc, char **argv) {
  if (argc < 4) return 2;
  unsigned flags = 0;
  int compress = 1, xfooter = 0;
  size_t xmax = 0;
  for (int i = 4; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--footer")) flags |= CL_SHARD_FOOTER;
    else if (!strcmp(a, "--raw")) compress = 0;
    else if (!strcmp(a, "--xorb-max") && i + 1 < argc) xmax = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--bad-file-hash")) flags |= CL_BAD_FILE_HASH;
    else if (!strcmp(a, "--bad-range-hash")) flags |= CL_BAD_RANGE_HASH;
    else if (!strcmp(a, "--bad-unpacked")) flags |= CL_BAD_UNPACKED;
    else if (!strcmp(a, "--phantom-xorb")) flags |= CL_PHANTOM_XORB;
    else if (!strcmp(a, "--no-verify")) flags |= CL_NO_VERIFY;
    else if (!strcmp(a, "--bad-chunk-range")) flags |= CL_BAD_CHUNK_RANGE;
    else if (!strcmp(a, "--bad-xorb-info")) flags |= CL_BAD_XORB_INFO;
    else if (!strcmp(a, "--xorb-footer")) xfooter = 1;
    else {
      fprintf(stderr, "unknown option %s\n", a);
      return 2;
    }
  }
  size_t len = 0;
  uint8_t *data = map_file(argv[2], &len);
  if (!data) {
    perror(argv[2]);
    return 1;
  }
  cl_upload u;
  int rc = cl_upload_build(&u, data, len, compress, xmax);
  if (rc) {
    fprintf(stderr, "build: %s %s\n", bk_strerror(rc), bk_errmsg());
    return 1;
  }
  mkdir(argv[3], 0755);
  char path[4096], hx[65];
  snprintf(path, sizeof path, "%s/xorbs.txt", argv[3]);
  FILE *xl = fopen(path, "w");
  if (!xl) return 1;
  for (size_t i = 0; i < u.nxorbs; i++) {
    bk_hash_to_hex(&u.xorbs[i].hash, hx);
    snprintf(path, sizeof path, "%s/%zu.xorb", argv[3], i);
    bk_buf xb;
    bk_buf_init(&xb, BK_XORB_MAX_BYTES + (1u << 20));
    if (bk_buf_append(&xb, u.xorbs[i].body, u.xorbs[i].len)) return 1;
    if (xfooter) {
      bk_xorb *px = NULL;
      if (bk_xorb_parse(u.xorbs[i].body, u.xorbs[i].len, 0, NULL, &px) || bk_xorb_footer(px, &xb)) {
        fprintf(stderr, "footer: %s\n", bk_errmsg());
        return 1;
      }
      bk_xorb_free(px);
    }
    if (write_file(path, xb.p, xb.len)) return 1;
    bk_buf_free(&xb);
    fprintf(xl, "%s %s\n", hx, path);
  }
  fclose(xl);
  snprintf(path, sizeof path, "%s/chunks.txt", argv[3]);
  FILE *cl = fopen(path, "w");
  if (!cl) return 1;
  for (size_t i = 0; i < u.nchunks; i++) {
    bk_hash_to_hex(&u.chunk_hash[i], hx);
    fprintf(cl, "%s %u %d\n", hx, u.chunk_len[i],
            i == 0 || bk_hash_tail_u64(&u.chunk_hash[i]) % 1024 == 0);
  }
  fclose(cl);
  bk_buf sh;
  bk_buf_init(&sh, BK_SHARD_MAX_BYTES);
  rc = cl_build_shard(&u, flags, &sh);
  if (rc) {
    fprintf(stderr, "shard: %s %s\n", bk_strerror(rc), bk_errmsg());
    return 1;
  }
  snprintf(path, sizeof path, "%s/shard.bin", argv[3]);
  if (write_file(path, sh.p, sh.len)) return 1;
  bk_buf_free(&sh);
  bk_hash_to_hex(&u.file_hash, hx);
  printf("%s\n", hx);
  cl_upload_free(&u);
  return 0;
}

static int cmd_upload(int argc, char **argv) {
  if (argc < 5) return 2;
  int v2 = argc > 5 && !strcmp(argv[5], "--v2");
  const char *base = argv[2], *dir = argv[4];
  char auth[1200], path[4096], url[1024];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[3]);
  const char *hdrs[] = {auth, NULL};
  CURL *c = curl_easy_init();
  snprintf(path, sizeof path, "%s/xorbs.txt", dir);
  FILE *xl = fopen(path, "r");
  if (!xl || !c) return 1;
  int ok = 1;
  char line[4200];
  while (fgets(line, sizeof line, xl)) {
    char hx[65], file[4096];
    if (sscanf(line, "%64s %4095s", hx, file) != 2) continue;
    bk_buf body, resp;
    bk_buf_init(&body, BK_XORB_MAX_BYTES + 4096);
    bk_buf_init(&resp, 1 << 20);
    if (read_file(file, &body)) return 1;
    snprintf(url, sizeof url, "%s/v1/xorbs/default/%s", base, hx);
    long st = cl_http(c, "POST", url, hdrs, body.p, body.len, &resp, NULL);
    printf("xorb %s %ld %.*s\n", hx, st, (int)resp.len, resp.p ? (char *)resp.p : "");
    if (st != 200) ok = 0;
    bk_buf_free(&body);
    bk_buf_free(&resp);
  }
  fclose(xl);
  bk_buf body, resp;
  bk_buf_init(&body, BK_SHARD_MAX_BYTES);
  bk_buf_init(&resp, 1 << 20);
  snprintf(path, sizeof path, "%s/shard.bin", dir);
  if (read_file(path, &body)) return 1;
  snprintf(url, sizeof url, "%s/v%d/shards", base, v2 ? 2 : 1);
  long st = cl_http(c, "POST", url, hdrs, body.p, body.len, &resp, NULL);
  printf("shard %ld %.*s\n", st, (int)resp.len, resp.p ? (char *)resp.p : "");
  if (st != 200) ok = 0;
  if (v2 && (resp.len == 0 || !memmem(resp.p, resp.len, "{\"type\":\"result\"}", 17))) ok = 0;
  bk_buf_free(&body);
  bk_buf_free(&resp);
  curl_easy_cleanup(c);
  return ok ? 0 : 1;
}

static int cmd_download(int argc, char **argv) {
  if (argc < 6) return 2;
  int ver = 1;
  int64_t rs = -1, re = -1;
  for (int i = 6; i < argc; i++) {
    if (!strcmp(argv[i], "--v2")) ver = 2;
    else if (!strcmp(argv[i], "--v1")) ver = 1;
    else if (!strcmp(argv[i], "--range") && i + 1 < argc) {
      if (sscanf(argv[++i], "%" SCNd64 "-%" SCNd64, &rs, &re) != 2) return 2;
    } else return 2;
  }
  CURL *c = curl_easy_init();
  bk_buf out;
  bk_buf_init(&out, (size_t)1 << 40);
  cl_dl_stats st = {0};
  int rc = cl_download(c, argv[2], argv[3], argv[4], ver, rs, re, &out, &st);
  curl_easy_cleanup(c);
  if (rc) {
    fprintf(stderr, "download: %s\n", bk_strerror(rc));
    bk_buf_free(&out);
    return rc == BK_ELIMIT ? 3 : 1;
  }
  int w = write_file(argv[5], out.p, out.len);
  bk_buf_free(&out);
  return w ? 1 : 0;
}

static int cmd_dedup(int argc, char **argv) {
  if (argc < 5) return 2;
  const char *prefix = argc > 5 ? argv[5] : "/v1/chunks/default-merkledb/";
  bk_hash ch;
  if (bk_hash_parse(argv[4], &ch)) return 2;
  char auth[1200], url[1024];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[3]);
  snprintf(url, sizeof url, "%s%s%s", argv[2], prefix, argv[4]);
  const char *hdrs[] = {auth, NULL};
  CURL *c = curl_easy_init();
  bk_buf resp;
  bk_buf_init(&resp, BK_SHARD_MAX_BYTES);
  char ct[128];
  long st = cl_http(c, "GET", url, hdrs, NULL, 0, &resp, ct);
  curl_easy_cleanup(c);
  if (st != 200) bk_buf_free(&resp);
  if (st == 404) {
    printf("miss\n");
    return 0;
  }
  if (st != 200) {
    printf("status %ld\n", st);
    return 1;
  }
  bk_shard *s = NULL;
  int rc = bk_shard_parse(resp.p, resp.len, &s);
  bk_buf_free(&resp);
  if (rc) {
    printf("unparseable shard: %s\n", bk_errmsg());
    return 1;
  }
  int bad = 0;
  uint8_t zero[32] = {0};
  if (!s->has_footer) printf("no footer\n"), bad = 1;
  if (s->has_footer && !memcmp(s->footer.chunk_hash_hmac_key, zero, 32)) printf("zero key\n"), bad = 1;
  if (s->has_footer && s->footer.key_expiry <= (uint64_t)time(NULL)) printf("expired key\n"), bad = 1;
  if (s->has_footer && s->footer.file_lookup_offset < s->footer.xorb_info_offset)
    printf("file_lookup_offset before xorb info (JS client would see no xorbs)\n"), bad = 1;
  if (s->nfiles != 0) printf("file section not empty\n"), bad = 1;
  bk_hash mac;
  bk_hash_hmac(&ch, s->footer.chunk_hash_hmac_key, &mac);
  int found = 0;
  char hx[65];
  for (uint32_t x = 0; x < s->nxorbs; x++)
    for (uint32_t i = 0; i < s->xorbs[x].nchunks; i++) {
      const bk_hash *h = &s->xorbs[x].chunks[i].hash;
      if (bk_hash_eq(h, &ch)) printf("raw chunk hash leaked\n"), bad = 1;
      if (!found && bk_hash_eq(h, &mac)) {
        bk_hash_to_hex(&s->xorbs[x].xorb_hash, hx);
        printf("hit %s %u\n", hx, i);
        found = 1;
      }
    }
  if (!found) printf("hmac of the chunk not listed\n"), bad = 1;
  bk_shard_free(s);
  return bad;
}

static int cmd_mint(int argc, char **argv) {
  if (argc < 6) return 2;
  char path[4096];
  snprintf(path, sizeof path, "%s/secret.key", argv[2]);
  bk_buf key;
  bk_buf_init(&key, 64);
  if (read_file(path, &key) || key.len != BK_SERVER_SECRET_LEN) {
    fprintf(stderr, "mint: cannot read %s\n", path);
    return 1;
  }
  struct bk_server srv;
  memset(&srv, 0, sizeof srv);
  memcpy(srv.secret, key.p, BK_SERVER_SECRET_LEN);
  bk_buf_free(&key);
  char *tok = NULL;
  int rc = cas_token_mint(&srv, strtoll(argv[3], NULL, 10), !strcmp(argv[4], "write"),
                          strtoll(argv[5], NULL, 10), &tok, NULL);
  memset(srv.secret, 0, sizeof srv.secret);
  if (rc) {
    fprintf(stderr, "mint: %s\n", bk_errmsg());
    return 1;
  }
  printf("%s\n", tok);
  free(tok);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: cas_tool build|upload|download|dedup ...\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 2;
  if (!strcmp(argv[1], "build")) rc = cmd_build(argc, argv);
  else if (!strcmp(argv[1], "upload")) rc = cmd_upload(argc, argv);
  else if (!strcmp(argv[1], "download")) rc = cmd_download(argc, argv);
  else if (!strcmp(argv[1], "dedup")) rc = cmd_dedup(argc, argv);
  else if (!strcmp(argv[1], "mint")) rc = cmd_mint(argc, argv);
  if (rc == 2) fprintf(stderr, "cas_tool: bad usage\n");
  curl_global_cleanup();
  return rc;
}
