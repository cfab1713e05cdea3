/* S3 blob backend benchmark: a stream of SIZE bytes written through the
 * backend's writer (multipart parts, complete, server-side copy to the blob
 * key) and read back through a reader (ranged GETs of READ bytes), as
 * bucketd's store does; prints MB/s. The same bytes go to the same server by
 * curl in bench/run-s3.sh (the baseline).
 *
 *   bench_s3 'S3URL' SIZE_MIB [READ_MIB]      (AWS_* credentials in the env)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"
#include "store/blobstore.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what, int rc) {
  fprintf(stderr, "bench_s3: %s: %s (%s)\n", what, bk_strerror(rc), bk_errmsg());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_s3 S3URL SIZE_MIB [READ_MIB]\n");
    return 2;
  }
  size_t mib = strtoul(argv[2], NULL, 10), rmib = argc > 3 ? strtoul(argv[3], NULL, 10) : 16;
  if (mib == 0 || mib > 65536 || rmib == 0 || rmib > 256) return 2;
  const size_t piece = 1u << 20;
  uint8_t *p = malloc(piece), *r = malloc(rmib << 20);
  if (!p || !r) return 1;
  uint64_t s = (uint64_t)time(NULL);
  bk_blobstore *bs;
  int rc = bk_blobstore_open_url(argv[1], &bs);
  if (rc) return die("open", rc);
  bk_hash h;
  for (int i = 0; i < 32; i++) h.b[i] = (uint8_t)((s >> (i % 8)) + (uint64_t)i * 77);
  bk_blob_writer *w;
  double t0 = now_s(), c0 = cpu_s();
  if ((rc = bk_blob_writer_open(bs, BK_BLOB_XORB, &w))) return die("writer", rc);
  for (size_t i = 0; i < mib; i++) {
    for (size_t k = 0; k < piece; k += 8) { /* incompressible, cheap */
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      memcpy(p + k, &s, 8);
    }
    if ((rc = bk_blob_writer_write(w, p, piece))) return die("write", rc);
  }
  double tw = now_s();
  if ((rc = bk_blob_writer_commit(w, &h, NULL))) return die("commit", rc);
  double t1 = now_s(), c1 = cpu_s();
  bk_blob_reader *rd;
  if ((rc = bk_blob_reader_open(bs, BK_BLOB_XORB, &h, &rd))) return die("reader", rc);
  uint64_t total = 0, size = bk_blob_reader_size(rd);
  while (total < size) {
    size_t got = 0;
    if ((rc = bk_blob_reader_read_at(rd, total, r, rmib << 20, &got))) return die("read", rc);
    if (got == 0) break;
    total += got;
  }
  double t2 = now_s(), c2 = cpu_s();
  bk_blob_reader_close(rd);
  double mb = (double)mib * piece / 1e6;
  printf("backend put %zu MiB: %.2f s = %.0f MB/s (parts %.2f s, complete+copy %.2f s; cpu %.2f s)\n", mib,
         t1 - t0, mb / (t1 - t0), tw - t0, t1 - tw, c1 - c0);
  printf("backend get %zu MiB: %.2f s = %.0f MB/s (%zu MiB ranged GETs; cpu %.2f s)\n", mib, t2 - t1,
         mb / (t2 - t1), rmib, c2 - c1);
  rc = bk_blob_delete(bs, BK_BLOB_XORB, &h);
  bk_blobstore_close(bs);
  free(p);
  free(r);
  return total == size && size == (uint64_t)mib * piece && rc == 0 ? 0 : 1;
}
