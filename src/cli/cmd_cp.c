/* hf buckets cp SRC [DST]  (also: hf cp) — spec §3.7.
 * local -> bucket (upload), bucket -> local or '-' (download), '-' (stdin)
 * -> bucket, bucket -> bucket (server-side copy by hash). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/error.h"
#include "buckets/sync.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets cp SRC [DST]      (alias: hf cp)\n\n"
    "Copies one file:\n"
    "  hf cp ./model.bin hf://buckets/ns/b/         upload (bucket root or 'dir/': keeps the name)\n"
    "  hf cp ./model.bin hf://buckets/ns/b/x.bin    upload under an exact name\n"
    "  hf cp - hf://buckets/ns/b/x.bin              upload standard input\n"
    "  hf cp hf://buckets/ns/b/x.bin [DST]          download (DST dir, file, or '-' for stdout)\n"
    "  hf cp hf://buckets/ns/a/f hf://buckets/ns/b/ server-side copy (files or folders)\n"
    "Directories: use 'hf buckets sync'. Transfers are deduplicated: only new chunks travel.\n"
    "A download never follows (nor replaces) a symlink at the destination file name; the\n"
    "temp file is created beside it (O_EXCL|O_NOFOLLOW) and renamed when verified.\n";

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static int read_all(int fd, uint8_t **out, size_t *len) {
  size_t cap = 1 << 20, n = 0;
  uint8_t *b = malloc(cap);
  if (!b) return bk_seterr(BK_ENOMEM, "out of memory");
  for (;;) {
    if (n == cap) {
      if (cap >= ((size_t)1 << 36)) {
        free(b);
        return bk_seterr(BK_ELIMIT, "standard input is larger than 64 GiB");
      }
      uint8_t *nb = realloc(b, cap * 2);
      if (!nb) {
        free(b);
        return bk_seterr(BK_ENOMEM, "out of memory reading standard input");
      }
      b = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      free(b);
      return bk_seterr(BK_EIO, "read stdin: %s", strerror(errno));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *out = b;
  *len = n;
  return 0;
}

static int upload(cli *c, const char *src, const char *dst) {
  char *id = NULL, *path = NULL;
  int rc = bk_uri_parse(dst, 0, &id, &path);
  if (rc) return cli_fail_lib(rc);
  int ret = 0;
  uint8_t *data = NULL;
  size_t len = 0;
  char remote[8192];
  int from_stdin = strcmp(src, "-") == 0;
  size_t pl = strlen(path);
  if (from_stdin) {
    if (pl == 0 || path[pl - 1] == '/') {
      ret = cli_fail("uploading standard input needs a full destination file path");
      goto out;
    }
    snprintf(remote, sizeof remote, "%s", path);
  } else {
    struct stat st;
    if (stat(src, &st)) {
      ret = cli_fail("%s: %s", src, strerror(errno));
      goto out;
    }
    if (S_ISDIR(st.st_mode)) {
      ret = cli_fail("%s is a directory: use 'hf buckets sync' to upload directories", src);
      goto out;
    }
    if (!S_ISREG(st.st_mode)) {
      ret = cli_fail("%s is not a regular file", src);
      goto out;
    }
    if (pl == 0) snprintf(remote, sizeof remote, "%s", base_name(src));
    else if (path[pl - 1] == '/') snprintf(remote, sizeof remote, "%s%s", path, base_name(src));
    else snprintf(remote, sizeof remote, "%s", path);
  }
  bk_client *cl = cli_client(c);
  if (!cl) {
    ret = 1;
    goto out;
  }
  bk_upload_item it;
  memset(&it, 0, sizeof it);
  it.remote_path = remote;
  it.mtime_ms = -1;
  if (from_stdin) {
    rc = read_all(0, &data, &len);
    if (rc) {
      ret = cli_fail_lib(rc);
      goto out;
    }
    it.data = data;
    it.len = len;
  } else {
    it.local_path = src;
  }
  cli_progress_attach(c);
  bk_transfer_stats st;
  rc = bk_upload(cl, id, &it, 1, &st);
  cli_progress_done(c);
  if (rc) {
    ret = cli_fail_bucket(rc, id);
    goto out;
  }
  char dsturi[8400];
  snprintf(dsturi, sizeof dsturi, "hf://buckets/%s/%s", id, remote);
  const char *k[] = {"src", "dst"};
  const char *v[] = {from_stdin ? "stdin" : src, dsturi};
  cli_result(c, "Uploaded", k, v, 2);
out:
  free(data);
  free(id);
  free(path);
  return ret;
}

static int copy_fd(int in, int out) {
  char *buf = malloc(1 << 20);
  if (!buf) return -1;
  int rc = 0;
  for (;;) {
    ssize_t r = read(in, buf, 1 << 20);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = r < 0 ? -1 : 0;
      break;
    }
    for (ssize_t off = 0; off < r;) {
      ssize_t w = write(out, buf + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        rc = -1;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  free(buf);
  return rc;
}

static int download(cli *c, const char *src, const char *dst) {
  char *id = NULL, *path = NULL;
  int rc = bk_uri_parse(src, 0, &id, &path);
  if (rc) return cli_fail_lib(rc);
  int ret = 0;
  char local[8192];
  size_t pl = strlen(path);
  if (pl == 0 || path[pl - 1] == '/') {
    ret = cli_fail("%s does not name a file (use 'hf buckets sync' for folders)", src);
    goto out;
  }
  int to_stdout = dst && strcmp(dst, "-") == 0;
  if (to_stdout) {
    const char *tmpd = getenv("TMPDIR");
    snprintf(local, sizeof local, "%s/hf-cp-%d-%s", tmpd && *tmpd ? tmpd : "/tmp", (int)getpid(),
             base_name(path));
  } else if (!dst) {
    snprintf(local, sizeof local, "%s", base_name(path));
  } else {
    struct stat st;
    size_t dl = strlen(dst);
    if ((stat(dst, &st) == 0 && S_ISDIR(st.st_mode)) || (dl && dst[dl - 1] == '/'))
      snprintf(local, sizeof local, "%s%s%s", dst, dst[dl - 1] == '/' ? "" : "/", base_name(path));
    else
      snprintf(local, sizeof local, "%s", dst);
  }
  bk_client *cl = cli_client(c);
  if (!cl) {
    ret = 1;
    goto out;
  }
  if (!to_stdout) cli_progress_attach(c);
  bk_transfer_stats st;
  rc = bk_download(cl, id, path, local, &st);
  cli_progress_done(c);
  if (rc) {
    ret = cli_fail_bucket(rc, id);
    goto out;
  }
  if (to_stdout) {
    int fd = open(local, O_RDONLY);
    int bad = fd < 0 || copy_fd(fd, 1) != 0;
    if (fd >= 0) close(fd);
    unlink(local);
    if (bad) ret = cli_fail("writing to standard output failed");
    goto out;
  }
  const char *k[] = {"src", "dst"};
  const char *v[] = {src, local};
  cli_result(c, "Downloaded", k, v, 2);
out:
  free(id);
  free(path);
  return ret;
}

int cmd_cp(cli *c, int argc, char **argv) {
  const char *pos[2];
  int np;
  int r = cli_parse(c, argc, argv, NULL, pos, 2, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (np < 1) return cli_fail("missing SRC (see --help)"), 2;
  if (cli_bucket_args(c, pos, np)) return 2;
  const char *src = pos[0], *dst = np > 1 ? pos[1] : NULL;
  int rs = strncmp(src, "hf://", 5) == 0, rd = dst && strncmp(dst, "hf://", 5) == 0;
  if (rs && strncmp(src, "hf://buckets/", 13) != 0)
    return cli_fail("%s: repositories (models, datasets, spaces) are not supported by this server; "
                    "only buckets (hf://buckets/ns/name/...) are stored here", src);
  if (rd && strncmp(dst, "hf://buckets/", 13) != 0)
    return cli_fail(rs ? "Bucket-to-repo copy is not supported."
                       : "only bucket URIs (hf://buckets/ns/name/...) are supported as destination");
  if (rs && rd) {
    bk_client *cl = cli_client(c);
    if (!cl) return 1;
    int rc = bk_bucket_copy(cl, src, dst);
    if (rc) return cli_fail_lib(rc);
    const char *k[] = {"src", "dst"};
    const char *v[] = {src, dst};
    cli_result(c, "Copied", k, v, 2);
    return 0;
  }
  if (rs) return download(c, src, dst);
  if (!dst) return cli_fail("uploading needs a destination hf://buckets/ns/name[/path]");
  if (!rd) return cli_fail("one of SRC and DST must be a bucket URI (local to local copies are not supported)");
  return upload(c, src, dst);
}
