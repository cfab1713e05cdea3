/* buckets — may a bucket read a CAS file? (store layer)
 *
 * CAS tokens are bound to one bucket. A file hash is readable through a
 * bucket's token only when that bucket lists a file with that hash or holds
 * a grant for it (it uploaded the file's shard, or a copyFile added it), so
 * that knowing a hash never opens another bucket's private content.
 * No ownership concerns: plain values in and out.
 */
#ifndef BUCKETS_FILE_ACCESS_H
#define BUCKETS_FILE_ACCESS_H

#include <stdint.h>

#include "store/db.h"
#include "buckets/hash.h"

/* Returns 1 if bucket_id may read file, 0 if not, a negative BK_E* on a
 * database error. */
int bk_db_bucket_file_readable(bk_db *db, int64_t bucket_id, const bk_hash *file);

#endif
