/* xetsum — prints Xet file hashes (xet.md §1-§2), like sha256sum.
 *
 *   xetsum [--chunks] [FILE|-]...
 *
 * Streams each input in 1 MiB reads through the chunker and a streaming
 * merkle builder: memory is constant for any file size. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buckets/cdc.h"
#include "buckets/error.h"
#include "buckets/hash.h"
#include "buckets/merkle.h"

#define READ_BLOCK (1u << 20)

typedef struct sum_ctx {
  bk_merkle *m;
  int print_chunks;
} sum_ctx;

static int on_chunk(void *ctx, uint64_t off, const uint8_t *data, size_t len,
                    const bk_hash *h) {
  (void)data;
  sum_ctx *s = ctx;
  if (s->print_chunks) {
    char hex[BK_HASH_HEX_LEN + 1];
    bk_hash_to_hex(h, hex);
    printf("%" PRIu64 " %zu %s\n", off, len, hex);
  }
  return bk_merkle_push(s->m, h, len);
}

/* Hashes one input; returns 0 or prints a one-line error and returns 1. */
static int sum_one(const char *path, int print_chunks, uint8_t *buf) {
  int is_stdin = strcmp(path, "-") == 0;
  int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "xetsum: %s: %s\n", path, strerror(errno));
    return 1;
  }
  sum_ctx s = {.print_chunks = print_chunks};
  bk_chunker *k = NULL;
  int rc = bk_merkle_new(&s.m);
  if (!rc) rc = bk_chunker_new(on_chunk, &s, &k);
  if (rc) {
    fprintf(stderr, "xetsum: %s: %s\n", path, bk_errmsg());
    goto out;
  }
  for (;;) {
    ssize_t n = read(fd, buf, READ_BLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "xetsum: %s: %s\n", path, strerror(errno));
      rc = 1;
      goto out;
    }
    if (n == 0) break;
    if ((rc = bk_chunker_feed(k, buf, (size_t)n))) break;
  }
  if (!rc) rc = bk_chunker_finish(k);
  if (rc) {
    fprintf(stderr, "xetsum: %s: %s\n", path, bk_errmsg());
    goto out;
  }
  bk_hash root, fh;
  if ((rc = bk_merkle_finish(s.m, &root))) {
    fprintf(stderr, "xetsum: %s: %s\n", path, bk_errmsg());
    goto out;
  }
  bk_file_hash_from_root(&root, bk_merkle_count(s.m) > 0, NULL, &fh);
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&fh, hex);
  printf("%s  %s\n", hex, path);
out:
  bk_chunker_free(k);
  bk_merkle_free(s.m);
  if (!is_stdin) close(fd);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "xetsum: write error: %s\n", strerror(errno));
    return 1;
  }
  return rc ? 1 : 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "Usage: xetsum [--chunks] [FILE]...\n"
          "Print the Xet file hash of each FILE (the Hugging Face Xet file id).\n"
          "With no FILE, or when FILE is -, read standard input.\n"
          "\n"
          "  --chunks   before each file's hash line, print one line per\n"
          "             content-defined chunk: <offset> <length> <chunk hash>\n"
          "  --help     show this help\n"
          "\n"
          "Output lines look like sha256sum: <hash>  <path>.\n"
          "Exit status is non-zero if any file could not be read.\n");
}

int main(int argc, char **argv) {
  int print_chunks = 0, nfiles = 0, end_opts = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (end_opts || a[0] != '-' || strcmp(a, "-") == 0) {
      nfiles++;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      end_opts = 1;
    } else if (strcmp(a, "--chunks") == 0) {
      print_chunks = 1;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "xetsum: unknown option '%s' (try --help)\n", a);
      return 2;
    }
  }
  uint8_t *buf = malloc(READ_BLOCK);
  if (!buf) {
    fprintf(stderr, "xetsum: out of memory\n");
    return 1;
  }
  int failed = 0;
  if (nfiles == 0) {
    failed |= sum_one("-", print_chunks, buf);
  } else {
    end_opts = 0;
    for (int i = 1; i < argc; i++) {
      const char *a = argv[i];
      if (!end_opts && strcmp(a, "--") == 0) {
        end_opts = 1;
        continue;
      }
      if (!end_opts && a[0] == '-' && strcmp(a, "-") != 0) continue;
      failed |= sum_one(a, print_chunks, buf);
    }
  }
  free(buf);
  return failed ? 1 : 0;
}
