/* bench_core — throughput of the Xet core on one file (driven by
 * bench/run-core.sh, which also times `b3sum --num-threads 1` on the same
 * file in the same run).
 *
 *   bench_core MODE FILE [THREADS]
 *
 * MODE:
 *   stream   single thread, read(2) in 1 MiB blocks (or THREADS KiB: the third
 *            argument is the block size in KiB here) -> bk_chunker (gear CDC +
 *            chunk hashes) -> streaming merkle file hash (what xetsum does)
 *   mem      file mapped into memory, chunk+hash with THREADS threads
 *            (bk_cdc_chunks_parallel; 1 thread = plain sequential path)
 *   gear     file mapped, boundaries only (gear CDC), 1 thread
 *   blake3   file mapped, one keyed BLAKE3 over 64 KiB pieces, 1 thread
 *   pack     file mapped, chunk+hash then xorb packing with compression
 *            (bk_xorb_builder, LZ4 / BG4+LZ4, smallest kept), 1 thread; the
 *            figure is for the packing step alone, plus the overall one
 *   gen-text FILE MB   writes MB*10^6 bytes of compressible, text-like data
 *            (CSV-style log lines from small vocabularies with random
 *            numbers; LZ4 ratio about 2-3x per chunk), deterministic
 * Prints "MODE <wall MB/s> MB/s cpu <cpu MB/s> MB/s ..." lines (MB = 10^6
 * bytes); the cpu figure divides by the process CPU time instead of the wall
 * time, so it is not distorted by other processes competing for the CPUs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buckets/cdc.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"
#include "buckets/xorb.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all threads): figures based on it are not
 * distorted when other processes compete for the CPUs. */
static double cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mbps(uint64_t bytes, double secs) { return (double)bytes / secs / 1e6; }

typedef struct stream_ctx {
  bk_merkle *m;
  uint64_t nchunks;
} stream_ctx;

static int on_chunk(void *ctx, uint64_t off, const uint8_t *d, size_t len, const bk_hash *h) {
  (void)off;
  (void)d;
  stream_ctx *s = ctx;
  s->nchunks++;
  return bk_merkle_push(s->m, h, len);
}

static int mode_stream(const char *path, size_t bs) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    fprintf(stderr, "bench_core: %s: %s\n", path, strerror(errno));
    return 1;
  }
  uint8_t *buf = malloc(bs);
  stream_ctx s = {0};
  bk_chunker *k = NULL;
  if (!buf || bk_merkle_new(&s.m) || bk_chunker_new(on_chunk, &s, &k)) return 1;
  uint64_t total = 0;
  double t0 = now(), c0 = cpu();
  for (;;) {
    ssize_t n = read(fd, buf, bs);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += (uint64_t)n;
    if (bk_chunker_feed(k, buf, (size_t)n)) return 1;
  }
  bk_chunker_finish(k);
  bk_hash root, fh;
  bk_merkle_finish(s.m, &root);
  bk_file_hash_from_root(&root, s.nchunks > 0, NULL, &fh);
  double t = now() - t0, c = cpu() - c0;
  char hex[65];
  bk_hash_to_hex(&fh, hex);
  printf("stream %.0f MB/s cpu %.0f MB/s  (%" PRIu64 " bytes, %" PRIu64
         " chunks, %.3f s, file hash %.16s...)\n",
         mbps(total, t), mbps(total, c), total, s.nchunks, t, hex);
  bk_chunker_free(k);
  bk_merkle_free(s.m);
  free(buf);
  close(fd);
  return 0;
}

static const uint8_t *map_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    fprintf(stderr, "bench_core: %s: %s\n", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) || st.st_size <= 0) {
    close(fd);
    return NULL;
  }
  *len = (size_t)st.st_size;
  void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return NULL;
  /* touch every page so that page faults are not timed */
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < *len; i += 4096) sink ^= ((const uint8_t *)p)[i];
  (void)sink;
  return p;
}

static int mode_mem(const uint8_t *d, size_t len, unsigned threads) {
  uint64_t *ends = NULL;
  bk_hash *hs = NULL;
  size_t n = 0;
  double t0 = now(), c0 = cpu();
  if (bk_cdc_chunks_parallel(d, len, threads, &ends, &hs, &n)) return 1;
  bk_merkle *m = NULL;
  if (bk_merkle_new(&m)) return 1;
  uint64_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    bk_merkle_push(m, &hs[i], ends[i] - prev);
    prev = ends[i];
  }
  bk_hash root, fh;
  bk_merkle_finish(m, &root);
  bk_file_hash_from_root(&root, n > 0, NULL, &fh);
  double t = now() - t0, c = cpu() - c0;
  char hex[65];
  bk_hash_to_hex(&fh, hex);
  printf("mem%u %.0f MB/s cpu %.0f MB/s  (%zu chunks, %.3f s, file hash %.16s...)\n", threads,
         mbps(len, t), mbps(len, c), n, t, hex);
  bk_merkle_free(m);
  free(ends);
  free(hs);
  return 0;
}

static int mode_gear(const uint8_t *d, size_t len) {
  uint64_t *ends = NULL;
  size_t n = 0;
  double t0 = now(), c0 = cpu();
  if (bk_cdc_boundaries(d, len, &ends, &n)) return 1;
  double t = now() - t0, c = cpu() - c0;
  printf("gear %.0f MB/s cpu %.0f MB/s  (%zu chunks, mean %.0f bytes, %.3f s)\n", mbps(len, t),
         mbps(len, c), n,
         n ? (double)len / (double)n : 0.0, t);
  free(ends);
  return 0;
}

static int mode_blake3(const uint8_t *d, size_t len) {
  double t0 = now(), c0 = cpu();
  uint8_t acc = 0;
  for (size_t off = 0; off < len; off += 65536) {
    bk_hash h;
    bk_chunk_hash(d + off, len - off < 65536 ? len - off : 65536, &h);
    acc ^= h.b[0];
  }
  double t = now() - t0, c = cpu() - c0;
  printf("blake3 %.0f MB/s cpu %.0f MB/s  (keyed, 64 KiB messages, impl %s, %.3f s, x%02x)\n",
         mbps(len, t), mbps(len, c), bk_blake3_impl(), t, acc);
  return 0;
}

static int mode_pack(const uint8_t *d, size_t len) {
  uint64_t *ends = NULL;
  bk_hash *hs = NULL;
  size_t n = 0;
  double t0 = now();
  if (bk_cdc_chunks_parallel(d, len, 1, &ends, &hs, &n)) return 1;
  double t1 = now(), c1 = cpu();
  bk_xorb_builder *b = NULL;
  if (bk_xorb_builder_new(1, &b)) {
    fprintf(stderr, "bench_core: xorb builder: %s\n", bk_errmsg());
    return 1;
  }
  uint64_t packed = 0, xorbs = 0, prev = 0;
  for (size_t i = 0; i < n; i++) {
    size_t clen = (size_t)(ends[i] - prev);
    int rc = bk_xorb_builder_add(b, d + prev, clen, &hs[i]);
    if (rc == BK_ELIMIT) {
      bk_hash xh;
      const uint8_t *body;
      size_t blen;
      if (bk_xorb_builder_finish(b, &xh, &body, &blen)) return 1;
      packed += blen;
      xorbs++;
      bk_xorb_builder_reset(b);
      rc = bk_xorb_builder_add(b, d + prev, clen, &hs[i]);
    }
    if (rc) {
      fprintf(stderr, "bench_core: xorb add: %s\n", bk_errmsg());
      return 1;
    }
    prev = ends[i];
  }
  if (bk_xorb_builder_count(b)) {
    bk_hash xh;
    const uint8_t *body;
    size_t blen;
    if (bk_xorb_builder_finish(b, &xh, &body, &blen)) return 1;
    packed += blen;
    xorbs++;
  }
  double t2 = now(), c2 = cpu();
  printf("pack %.0f MB/s cpu %.0f MB/s  (packing alone; chunk+hash+pack %.0f MB/s; %" PRIu64
         " xorbs, ratio %.2f, %.3f s)\n",
         mbps(len, t2 - t1), mbps(len, c2 - c1), mbps(len, t2 - t0), xorbs,
         packed ? (double)len / (double)packed : 0.0, t2 - t1);
  bk_xorb_builder_free(b);
  free(ends);
  free(hs);
  return 0;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int mode_gen_text(const char *path, uint64_t bytes) {
  static const char *lvl[] = {"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"};
  static const char *verb[] = {"GET", "GET", "PUT", "POST", "HEAD", "DELETE"};
  static const char *res[] = {"objects", "buckets", "xorbs", "shards", "tokens", "files",
                              "reconstructions", "chunks"};
  static const char *agent[] = {"hf-cli/0.9", "huggingface_hub/1.2.0", "curl/7.88.1",
                                "Mozilla/5.0", "python-requests/2.31"};
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "bench_core: %s: %s\n", path, strerror(errno));
    return 1;
  }
  char line[512];
  uint64_t written = 0, t = 1764000000000ull;
  while (written < bytes) {
    uint64_t r = rnd(), r2 = rnd();
    t += r % 5000;
    int n = snprintf(line, sizeof line,
                     "%llu.%03llu,%s,user_%04llu,%s /api/v1/%s/%016llx,%llu,%llu,%s,%s\n",
                     (unsigned long long)(t / 1000), (unsigned long long)(t % 1000),
                     lvl[r % 6], (unsigned long long)((r >> 8) % 5000), verb[(r >> 24) % 6],
                     res[(r >> 32) % 8], (unsigned long long)r2,
                     (unsigned long long)(((r >> 40) % 7) ? 200 : 404),
                     (unsigned long long)((r2 >> 20) % 100000), agent[(r >> 48) % 5],
                     ((r >> 56) & 1) ? "cache=hit" : "cache=miss");
    if (n <= 0) break;
    size_t w = (size_t)n;
    if (bytes - written < w) w = (size_t)(bytes - written);
    if (fwrite(line, 1, w, f) != w) break;
    written += w;
  }
  if (fclose(f) != 0 || written != bytes) {
    fprintf(stderr, "bench_core: write %s failed\n", path);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_core stream|mem|gear|blake3|pack FILE [THREADS]\n"
                    "       bench_core gen-text FILE MB\n");
    return 2;
  }
  const char *mode = argv[1], *path = argv[2];
  unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
  if (strcmp(mode, "stream") == 0)
    return mode_stream(path, argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) << 10 : (size_t)1 << 20);
  if (strcmp(mode, "gen-text") == 0)
    return mode_gen_text(path, (uint64_t)strtoull(argc > 3 ? argv[3] : "1", NULL, 10) * 1000000ull);
  size_t len = 0;
  const uint8_t *d = map_file(path, &len);
  if (!d) {
    fprintf(stderr, "bench_core: cannot map %s\n", path);
    return 1;
  }
  int rc = 2;
  if (strcmp(mode, "mem") == 0) rc = mode_mem(d, len, threads);
  else if (strcmp(mode, "gear") == 0) rc = mode_gear(d, len);
  else if (strcmp(mode, "blake3") == 0) rc = mode_blake3(d, len);
  else if (strcmp(mode, "pack") == 0) rc = mode_pack(d, len);
  else fprintf(stderr, "bench_core: unknown mode %s\n", mode);
  munmap((void *)d, len);
  return rc;
}
