/* buckets — copy every metadata row of one database into another (store
 * only; used by the storage service's migration, `bucketd migrate`).
 *
 * The copy goes table by table, parents first, row by row through the SQL
 * driver (store/sql.h) with the explicit ids of the source, then asks the
 * target's driver to move each generated-id sequence past the copied ids
 * (bk_sql_id_sync). It runs in ONE write transaction on the target: after a
 * crash the target holds either nothing or the whole copy. The copy records
 * a fingerprint of the source rows in the target's settings
 * (BK_DB_COPY_MARKER), so a second run can tell "this very source was copied
 * already" from "the target holds other data".
 *
 * The tables and their columns are listed once in db_copy.c (bk_db_copy_table
 * names them; tests/unit/store/test_db_copy.c fails when the schema has a
 * table or column the list lacks).
 *
 * Ownership: the handles are borrowed; stats are the caller's. The source is
 * read in one read transaction (a consistent snapshot).
 */
#ifndef BUCKETS_STORE_DB_COPY_H
#define BUCKETS_STORE_DB_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

/* settings key of the marker: the 32-byte fingerprint of the copied source */
#define BK_DB_COPY_MARKER "migrated_from"
#define BK_DB_COPY_MAX_TABLES 32

typedef struct bk_db_copy_stats {
  size_t ntables;
  struct {
    const char *name; /* static string */
    uint64_t rows;
  } t[BK_DB_COPY_MAX_TABLES];
  uint64_t rows; /* total */
} bk_db_copy_stats;

/* Name of the i-th table copied (in copy order) and its columns
 * ("name:type ..." with type i integer, t text, b blob; static strings), or
 * NULL past the end. *optional = 1 for a table an older schema may lack. */
const char *bk_db_copy_table(size_t i, const char **columns, int *optional);

/* Reads every row of src (one read snapshot) into a fingerprint fp and the
 * row counts per table (st). */
int bk_db_copy_fingerprint(bk_db *src, uint8_t fp[32], bk_db_copy_stats *st);

/* What a target holds. */
enum { BK_DB_TARGET_EMPTY = 0, BK_DB_TARGET_DONE = 1, BK_DB_TARGET_OTHER = 2 };
/* EMPTY: no row in any copied table; DONE: its marker is fp (this source was
 * copied completely); OTHER: anything else. */
int bk_db_copy_target_state(bk_db *dst, const uint8_t fp[32], int *state);

/* Called after each table was copied (inside the target's transaction);
 * a non-zero return stops the copy (rolled back) and is returned. */
typedef int (*bk_db_copy_cb)(void *ctx, const char *table, uint64_t rows);

/* Copies every row of src into dst (which must be EMPTY) in one BK_TX_WRITE
 * transaction, syncs the id sequences, resets the xorbs' verification record
 * (verified_ms, blob_stamp: the target's blobs have their own change tokens),
 * stores fp as BK_DB_COPY_MARKER and commits. st gets the rows per table. */
int bk_db_copy_all(bk_db *src, bk_db *dst, const uint8_t fp[32], bk_db_copy_cb cb, void *ctx,
                   bk_db_copy_stats *st);

#endif
