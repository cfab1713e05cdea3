/* faultctl — control tool of the fault-injection shim (faultinject.h).
 *
 *   faultctl FILE init                       create / reset the control file
 *   faultctl FILE arm OPS ERRNO N [sticky]   reset the counters, then arm:
 *                                            fail the Nth matching call (N 0 =
 *                                            count only); OPS e.g. all or
 *                                            write,fsync; ERRNO EIO|ENOSPC|EDQUOT
 *   faultctl FILE disarm                     stop counting and failing
 *   faultctl FILE show                       one line: calls=.. fired=.. per op,
 *                                            per class, and the first failed call
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "faultinject.h"

static int usage(void) {
  fprintf(stderr, "usage: faultctl FILE init|arm OPS ERRNO N [sticky]|disarm|show\n");
  return 2;
}

static struct fi_ctl *map(const char *path, int create) {
  int fd = open(path, O_RDWR | (create ? O_CREAT | O_TRUNC : 0) | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "faultctl: %s: %s\n", path, strerror(errno));
    return NULL;
  }
  if (create && ftruncate(fd, sizeof(struct fi_ctl)) != 0) {
    fprintf(stderr, "faultctl: %s: %s\n", path, strerror(errno));
    close(fd);
    return NULL;
  }
  void *p = mmap(NULL, sizeof(struct fi_ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    fprintf(stderr, "faultctl: mmap %s: %s\n", path, strerror(errno));
    return NULL;
  }
  struct fi_ctl *c = p;
  if (create) c->magic = FI_MAGIC;
  if (c->magic != FI_MAGIC) {
    fprintf(stderr, "faultctl: %s is not a control file\n", path);
    return NULL;
  }
  return c;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  const char *cmd = argv[2];
  struct fi_ctl *c = map(argv[1], !strcmp(cmd, "init"));
  if (!c) return 1;
  if (!strcmp(cmd, "init")) return 0;
  if (!strcmp(cmd, "disarm")) {
    __atomic_store_n(&c->armed, 0, __ATOMIC_SEQ_CST);
    return 0;
  }
  if (!strcmp(cmd, "arm")) {
    if (argc < 6) return usage();
    __atomic_store_n(&c->armed, 0, __ATOMIC_SEQ_CST);
    int ops = 0;
    for (int i = 0; i < FI_NOPS; i++)
      if (!strcmp(argv[3], "all") || strstr(argv[3], FI_OP_NAMES[i])) ops |= 1 << i;
    int err = !strcmp(argv[4], "EIO")      ? EIO
              : !strcmp(argv[4], "ENOSPC") ? ENOSPC
              : !strcmp(argv[4], "EDQUOT") ? EDQUOT
                                           : atoi(argv[4]);
    if (!ops || err <= 0) return usage();
    c->ops = ops;
    c->err = err;
    c->nth = atoll(argv[5]);
    c->sticky = argc > 6 && !strcmp(argv[6], "sticky");
    __atomic_store_n(&c->calls, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&c->fired, 0, __ATOMIC_SEQ_CST);
    memset(c->by_op, 0, sizeof c->by_op);
    memset(c->by_class, 0, sizeof c->by_class);
    c->fired_op = c->fired_class = -1;
    c->fired_path[0] = 0;
    __atomic_store_n(&c->armed, 1, __ATOMIC_SEQ_CST);
    return 0;
  }
  if (!strcmp(cmd, "show")) {
    printf("calls=%lld fired=%lld", (long long)c->calls, (long long)c->fired);
    for (int i = 0; i < FI_NOPS; i++) printf(" %s=%lld", FI_OP_NAMES[i], (long long)c->by_op[i]);
    for (int i = 0; i < FI_NCLASSES; i++)
      printf(" %s=%lld", FI_CLASS_NAMES[i], (long long)c->by_class[i]);
    if (c->fired > 0 && c->fired_op >= 0 && c->fired_op < FI_NOPS && c->fired_class >= 0 &&
        c->fired_class < FI_NCLASSES)
      printf(" first_op=%s first_class=%s first_path=%.255s", FI_OP_NAMES[c->fired_op],
             FI_CLASS_NAMES[c->fired_class], c->fired_path);
    printf("\n");
    return 0;
  }
  return usage();
}
