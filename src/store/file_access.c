/* Per-bucket read check for CAS file hashes (see store/file_access.h). */
#include "store/file_access.h"

#include "buckets/error.h"
#include "db_internal.h"

static const char SQL_READABLE[] =
    "SELECT 1 WHERE EXISTS(SELECT 1 FROM bucket_files WHERE xet_hash = ?1 AND bucket_id = ?2)"
    " OR EXISTS(SELECT 1 FROM file_grants WHERE file_hash = ?1 AND bucket_id = ?2)";

int bk_db_bucket_file_readable(bk_db *db, int64_t bucket_id, const bk_hash *file) {
  struct dbc *c;
  bk_sql_stmt *st;
  int rc = dbc_acquire_stmt(db, SQL_READABLE, &c, &st);
  if (rc) return rc;
  bind_hash(st, 1, file);
  bk_sql_bind_int64(st, 2, bucket_id);
  rc = dbc_one_row(c, st, NULL, NULL, "file not readable", "file access check");
  if (rc == 0) rc = 1;
  else if (rc == BK_ENOTFOUND) rc = 0;
  dbc_release(db, c);
  return rc;
}
