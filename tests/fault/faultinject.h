/* faultinject — shared control block of the LD_PRELOAD fault-injection shim
 * (tests/fault/faultinject.c) and its control tool (tests/fault/faultctl.c).
 *
 * The shim fails the Nth matching call of write / pwrite / fsync / rename
 * (and their glibc variants) with a chosen errno, counting only calls on
 * regular files and directories below FAULTINJECT_DIR (the data dir), so
 * sockets, pipes and the log on stderr are never hit. A failed call does
 * nothing (no byte written, nothing synced or renamed) and returns -1.
 *
 * Two ways to configure it:
 *  - FAULTINJECT_CTL=FILE: a file created by `faultctl FILE init` and mapped
 *    shared by the shim, so a test arms it after start-up (`faultctl FILE arm
 *    OPS ERRNO N [sticky]`), reads the counters (`faultctl FILE show`) and
 *    disarms it, while the process runs. Nothing is counted until armed.
 *  - environment only (no FAULTINJECT_CTL): FAULTINJECT_OPS, FAULTINJECT_ERRNO,
 *    FAULTINJECT_NTH (0 = only count), FAULTINJECT_STICKY=1; armed from the
 *    start; the counts are printed to stderr at exit.
 * OPS is a comma list of write, pwrite, fsync, rename (or "all").
 * Sticky: the Nth and every later matching call fail (a disk that stays
 * full); else only the Nth (a transient error).
 */
#ifndef BUCKETS_TESTS_FAULTINJECT_H
#define BUCKETS_TESTS_FAULTINJECT_H

#include <stdint.h>

#define FI_MAGIC 0x46494e4aU /* "FINJ" */

enum { FI_OP_WRITE, FI_OP_PWRITE, FI_OP_FSYNC, FI_OP_RENAME, FI_NOPS };
/* the file a counted call touched: SQLite (buckets.db, -wal, -shm, -journal),
 * the blob store (blobs/...), anything else under the dir (secret.key, ...) */
enum { FI_CLASS_SQLITE, FI_CLASS_BLOB, FI_CLASS_OTHER, FI_NCLASSES };

__attribute__((unused)) static const char *const FI_OP_NAMES[FI_NOPS] = {"write", "pwrite", "fsync", "rename"};
__attribute__((unused)) static const char *const FI_CLASS_NAMES[FI_NCLASSES] = {"sqlite", "blob", "other"};

struct fi_ctl {
  uint32_t magic;
  int32_t armed;          /* written last by faultctl (atomic) */
  int32_t ops;            /* bit (1 << FI_OP_*) */
  int32_t err;            /* errno to inject */
  int32_t sticky;
  int32_t pad;
  int64_t nth;            /* 0: count only */
  int64_t calls;          /* matching calls since armed (atomic) */
  int64_t fired;          /* calls failed (atomic) */
  int64_t by_op[FI_NOPS];
  int64_t by_class[FI_NCLASSES];
  int32_t fired_op, fired_class;  /* of the first failed call */
  char fired_path[256];
};

#endif
