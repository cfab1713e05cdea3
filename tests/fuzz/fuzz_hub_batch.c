/* libFuzzer target: the NDJSON batch body parser (hub_batch_parse), up to
 * the point where bucketd would touch the database, plus the copyFile source
 * id split. Checks: on success every op has a known type and a NUL-free path
 * taken from the body; copy sources are only recorded for copy ops without a
 * per-op error; a refused body reports a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "server/hub_parse.h"

#define ASSERT(c) \
  do {            \
    if (!(c)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hub_batch b;
  int st = hub_batch_parse((const char *)data, size, &b);
  ASSERT(st == 0 || st == 400 || st == 413 || st == 503);
  if (st) {
    ASSERT(b.err[0]);
  } else {
    ASSERT(b.nops <= b.cap || (b.nops == 0 && size == 0));
    size_t nonblank = 0;
    for (size_t i = 0; i < size; i++)
      if (data[i] == '\n') nonblank++;
    ASSERT(b.nops <= nonblank + 1);
    for (size_t i = 0; i < b.nops; i++) {
      const bk_batch_op *op = &b.ops[i];
      ASSERT(op->type == BK_OP_ADD || op->type == BK_OP_COPY || op->type == BK_OP_DELETE);
      ASSERT(op->path);
      (void)bk_path_valid(op->path, strlen(op->path));
      ASSERT(op->mtime_ms >= -1);
      ASSERT(op->size >= -1);
      if (b.src_type[i]) {
        ASSERT(op->type == BK_OP_COPY && !b.pre_err[i] && b.src_id[i]);
        char buf[256];
        char *ns, *name;
        if (hub_split_repo_id(b.src_id[i], buf, sizeof buf, &ns, &name) == 0)
          ASSERT(bk_name_valid(ns) && bk_name_valid(name));
      }
      if (op->type == BK_OP_DELETE) ASSERT(!b.pre_err[i] && !b.src_type[i]);
    }
  }
  hub_batch_free(&b);
  return 0;
}
