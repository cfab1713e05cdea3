/* buckets — the metadata schema and its migrations (schema version in the
 * driver's bookkeeping: PRAGMA user_version on SQLite).
 *
 * DIALECT SECTION: the DDL below is SQLite's (INTEGER PRIMARY KEY row ids,
 * WITHOUT ROWID tables, COLLATE NOCASE, partial indexes, a trigger, ALTER
 * TABLE ... RENAME). A PostgreSQL driver brings its own DDL for the same
 * tables (bigserial ids, bytea hashes, a lower(name) unique index); the
 * domain SQL in accounts.c / buckets.c / cas_meta.c is shared. Everything
 * here goes through the SQL seam (store/sql.h): no sqlite3_* call. */
#include <stdio.h>

#include "buckets/error.h"
#include "store/db_internal.h"

#define SCHEMA_VERSION 9

int bk_db_schema_version(void) { return SCHEMA_VERSION; }

static const char *SCHEMA_V1 =
    "CREATE TABLE namespaces("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " kind INTEGER NOT NULL,"         /* 1 user, 2 org */
    " created_ms INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX namespaces_name ON namespaces(name COLLATE NOCASE);"
    "CREATE TABLE org_members("
    " org_id INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " user_id INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " role INTEGER NOT NULL,"
    " PRIMARY KEY(org_id, user_id)) WITHOUT ROWID;"
    "CREATE INDEX org_members_user ON org_members(user_id);"
    "CREATE TABLE tokens("
    " id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " role INTEGER NOT NULL,"
    " token_hash BLOB NOT NULL UNIQUE,"
    " created_ms INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tokens_user ON tokens(user_id);"
    "CREATE TABLE buckets("
    " id INTEGER PRIMARY KEY,"
    " ns_id INTEGER NOT NULL REFERENCES namespaces(id),"
    " name TEXT NOT NULL,"
    " private INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " UNIQUE(ns_id, name));"
    "CREATE TABLE bucket_files("
    " bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " path TEXT NOT NULL,"
    " xet_hash BLOB NOT NULL,"
    " size INTEGER NOT NULL,"
    " mtime_ms INTEGER NOT NULL,"
    " uploaded_ms INTEGER NOT NULL,"
    " content_type TEXT,"
    " PRIMARY KEY(bucket_id, path)) WITHOUT ROWID;"
    "CREATE INDEX bucket_files_hash ON bucket_files(xet_hash);"
    "CREATE TABLE xorbs("
    " id INTEGER PRIMARY KEY,"
    " hash BLOB NOT NULL UNIQUE,"
    " bytes_on_disk INTEGER NOT NULL,"
    " unpacked_bytes INTEGER NOT NULL,"
    " nchunks INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " touched_ms INTEGER NOT NULL);"
    "CREATE TABLE xorb_chunks("
    " xorb_id INTEGER NOT NULL REFERENCES xorbs(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL,"
    " chunk_hash BLOB NOT NULL,"
    " record_offset INTEGER NOT NULL,"
    " record_len INTEGER NOT NULL,"
    " unpacked_offset INTEGER NOT NULL,"
    " unpacked_len INTEGER NOT NULL,"
    " PRIMARY KEY(xorb_id, idx)) WITHOUT ROWID;"
    "CREATE TABLE files("
    " id INTEGER PRIMARY KEY,"
    " hash BLOB NOT NULL UNIQUE,"
    " size INTEGER NOT NULL,"
    " sha256 BLOB,"
    " nterms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " touched_ms INTEGER NOT NULL);"
    "CREATE TABLE file_terms("
    " file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " xorb_id INTEGER NOT NULL REFERENCES xorbs(id),"
    " chunk_start INTEGER NOT NULL,"
    " chunk_end INTEGER NOT NULL,"
    " unpacked_bytes INTEGER NOT NULL,"
    " PRIMARY KEY(file_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX file_terms_xorb ON file_terms(xorb_id);"
    "CREATE TABLE file_grants("
    " file_hash BLOB NOT NULL,"
    " bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " PRIMARY KEY(file_hash, bucket_id)) WITHOUT ROWID;"
    "CREATE INDEX file_grants_bucket ON file_grants(bucket_id);"
    "CREATE TABLE shards("
    " id INTEGER PRIMARY KEY,"
    " hash BLOB NOT NULL UNIQUE,"
    " size INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " touched_ms INTEGER NOT NULL);"
    "CREATE TABLE shard_refs("
    " shard_id INTEGER NOT NULL REFERENCES shards(id) ON DELETE CASCADE,"
    " kind INTEGER NOT NULL,"          /* 0 file, 1 xorb */
    " hash BLOB NOT NULL,"
    " PRIMARY KEY(shard_id, kind, hash)) WITHOUT ROWID;"
    "CREATE TABLE dedup("
    " chunk_hash BLOB PRIMARY KEY,"
    " xorb_id INTEGER NOT NULL REFERENCES xorbs(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX dedup_xorb ON dedup(xorb_id);";

static int user_version(struct dbc *c, int *v) {
  int rc = c->h->drv->schema_version(c->h, v);
  return rc ? dbc_err(c, rc, "user_version") : 0;
}

static int set_version(struct dbc *c, int v) {
  int rc = c->h->drv->set_schema_version(c->h, v);
  return rc ? dbc_err(c, rc, "user_version") : 0;
}

static int has_column(struct dbc *c, const char *table, const char *column, int *has) {
  int rc = c->h->drv->has_column(c->h, table, column, has);
  if (!rc) return 0;
  char what[96];
  snprintf(what, sizeof what, "table_info %s", table);
  return dbc_err(c, rc, what);
}

/* v2: per-directory aggregates of each bucket's file index (maintained by
 * every change of bucket_files, see buckets.c dirs_adjust). */
static const char *SCHEMA_V2 =
    "CREATE TABLE bucket_dirs("
    " bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " path TEXT NOT NULL,"
    " nfiles INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(bucket_id, path)) WITHOUT ROWID;";

/* v3: the global dedup index holds every registered (chunk, xorb) pair of an
 * eligible chunk, not only the first one: when gc removes a xorb, its rows
 * go (cascade) and a lookup falls through to the next live xorb holding that
 * chunk. The upgrade keeps the existing entries and adds every other xorb
 * that holds one of their chunks (one scan of xorb_chunks). */
static const char *SCHEMA_V3 =
    "CREATE TABLE dedup_v3("
    " chunk_hash BLOB NOT NULL,"
    " xorb_id INTEGER NOT NULL REFERENCES xorbs(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL,"
    " PRIMARY KEY(chunk_hash, xorb_id)) WITHOUT ROWID;"
    "INSERT INTO dedup_v3(chunk_hash, xorb_id, idx) SELECT chunk_hash, xorb_id, idx FROM dedup;"
    "INSERT OR IGNORE INTO dedup_v3(chunk_hash, xorb_id, idx)"
    " SELECT c.chunk_hash, c.xorb_id, c.idx FROM xorb_chunks c"
    " WHERE c.chunk_hash IN (SELECT chunk_hash FROM dedup) ORDER BY c.xorb_id, c.idx;"
    "DROP TABLE dedup;"
    "ALTER TABLE dedup_v3 RENAME TO dedup;"
    "CREATE INDEX dedup_xorb ON dedup(xorb_id);";

/* v4: which buckets reference which xorbs, for the namespace / bucket dedup
 * scopes (see bk_dedup_scope in db.h). Keyed (bucket_id, xorb_id) for the
 * bucket-scope probe; ns_id (the bucket's namespace, kept in step by a
 * trigger when a bucket moves) indexed with xorb_id for the namespace-scope
 * probe, so neither depends on how many buckets a namespace has or how many
 * buckets reference a xorb; indexed by xorb for the cascade when gc removes
 * a xorb. The upgrade fills it from the files every bucket lists or was
 * granted (xorbs uploaded before the upgrade whose shard is not registered
 * yet have no uploader recorded: only the global scope finds them). */
static const char *SCHEMA_V4 =
    "CREATE TABLE IF NOT EXISTS xorb_refs("
    " bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " xorb_id INTEGER NOT NULL REFERENCES xorbs(id) ON DELETE CASCADE,"
    " ns_id INTEGER NOT NULL,"
    " PRIMARY KEY(bucket_id, xorb_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS xorb_refs_ns ON xorb_refs(ns_id, xorb_id);"
    "CREATE INDEX IF NOT EXISTS xorb_refs_xorb ON xorb_refs(xorb_id);"
    "CREATE TRIGGER IF NOT EXISTS xorb_refs_move AFTER UPDATE OF ns_id ON buckets"
    " BEGIN UPDATE xorb_refs SET ns_id = NEW.ns_id WHERE bucket_id = NEW.id; END;"
    "INSERT OR IGNORE INTO xorb_refs(bucket_id, xorb_id, ns_id)"
    " SELECT b.id, t.xorb_id, b.ns_id FROM bucket_files bf JOIN buckets b ON b.id = bf.bucket_id"
    " JOIN files f ON f.hash = bf.xet_hash JOIN file_terms t ON t.file_id = f.id;"
    "INSERT OR IGNORE INTO xorb_refs(bucket_id, xorb_id, ns_id)"
    " SELECT b.id, t.xorb_id, b.ns_id FROM file_grants g JOIN buckets b ON b.id = g.bucket_id"
    " JOIN files f ON f.hash = g.file_hash JOIN file_terms t ON t.file_id = f.id;";

/* v5: damaged blobs are a known state (issue 11). xorbs.damaged = 1 once a
 * stored xorb was found not to verify (serving it, fsck --read-data, scrub,
 * a dedup or shard-reference check): it is no longer offered by dedup nor
 * accepted as a reference, and a POST of bytes that verify replaces it.
 * verified_ms / blob_stamp record the last full verification and the blob's
 * change token (bk_blob_stamp) at that time, so a just-verified xorb is not
 * read again while its file is unchanged. shards.damaged likewise. scrub
 * keeps its resume point per blob kind in scrub_state. */
static const struct {
  const char *table, *column, *decl;
} V5_COLUMNS[] = {
    {"xorbs", "damaged", "damaged INTEGER NOT NULL DEFAULT 0"},
    {"xorbs", "verified_ms", "verified_ms INTEGER NOT NULL DEFAULT 0"},
    {"xorbs", "blob_stamp", "blob_stamp INTEGER NOT NULL DEFAULT 0"},
    {"shards", "damaged", "damaged INTEGER NOT NULL DEFAULT 0"},
};
static const char *SCHEMA_V5 =
    "CREATE INDEX IF NOT EXISTS xorbs_damaged ON xorbs(damaged) WHERE damaged != 0;"
    "CREATE TABLE IF NOT EXISTS scrub_state("
    " kind INTEGER PRIMARY KEY,"
    " last_id INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL);";

/* Adds the v5 columns that are not there yet (a file whose user_version was
 * lowered by hand may have some), then the index and table. */
static int upgrade_v5(struct dbc *c) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof V5_COLUMNS / sizeof V5_COLUMNS[0]; i++) {
    int have = 0;
    rc = has_column(c, V5_COLUMNS[i].table, V5_COLUMNS[i].column, &have);
    if (rc || have) continue;
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s", V5_COLUMNS[i].table,
             V5_COLUMNS[i].decl);
    rc = dbc_exec(c, sql);
  }
  return rc ? rc : dbc_exec(c, SCHEMA_V5);
}

/* v6: bucket region: buckets get a nullable `region` column ('us' or
 * 'eu', chosen at creation; NULL = none was asked for, never a made-up
 * default). Self-contained and safe to run twice: the column is added only
 * when PRAGMA table_info does not list it yet. */
static int upgrade_bucket_region(struct dbc *c) {
  int has;
  int rc = has_column(c, "buckets", "region", &has);
  if (rc || has) return rc;
  return dbc_exec(c, "ALTER TABLE buckets ADD COLUMN region TEXT"
                     " CHECK(region IS NULL OR region IN ('us', 'eu'))");
}

/* v7: state several bucketd nodes on one database share (settings.c):
 * write-once settings (the token-signing secret), web sessions (keyed by a
 * digest of the session id; the user's and token's rows cascade) and the
 * windows of the shared rate-limit mode. New tables only: safe to run twice. */
static const char *SCHEMA_V7 =
    "CREATE TABLE IF NOT EXISTS settings("
    " key TEXT PRIMARY KEY,"
    " value BLOB NOT NULL,"
    " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS web_sessions("
    " id INTEGER PRIMARY KEY,"
    " id_hash BLOB NOT NULL UNIQUE,"
    " user_id INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " token_id INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,"
    " role INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " last_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user_id, last_ms);"
    "CREATE INDEX IF NOT EXISTS web_sessions_last ON web_sessions(last_ms);"
    "CREATE INDEX IF NOT EXISTS web_sessions_token ON web_sessions(token_id);"
    "CREATE TABLE IF NOT EXISTS rate_windows("
    " window_start INTEGER NOT NULL,"
    " caller INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " PRIMARY KEY(window_start, caller)) WITHOUT ROWID;";

/* v8: gc on a blob store without a native two-phase delete (no
 * BK_BLOB_CAP_TRASH, e.g. S3): the blobs of removed rows and orphan blobs are
 * recorded here, in the fenced transaction that removes the rows, and
 * deleted once due_ms has passed (service svc_gc.c, docs/store.md "Garbage
 * collection"). kind: bk_blob_kind (0 xorb, 1 shard); hash: 32 bytes. New
 * table only: safe to run twice. */
static const char *SCHEMA_V8 =
    "CREATE TABLE IF NOT EXISTS pending_deletes("
    " kind INTEGER NOT NULL,"
    " hash BLOB NOT NULL,"
    " due_ms INTEGER NOT NULL,"
    " PRIMARY KEY(kind, hash)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS pending_deletes_due ON pending_deletes(due_ms);";

/* v9: regions (docs/regions.md). A deployment whose object stores sit in
 * several regions records them in `regions` (the default region is the one
 * with the lowest id); `blob_copies` says which region holds a verified copy
 * of which blob (kind: bk_blob_kind, one row per region); `bucket_warm` is
 * a bucket's list of warm regions (new writes are replicated there);
 * `prewarm_jobs` are the queued / leased / finished pre-warm jobs (state
 * 'queued', 'done' or 'failed'; a lease = lease_owner + lease_until_ms).
 * xorbs.home_region_id: the region a xorb was first stored in (NULL = stored
 * before regions existed = the default region). Bucket regions: the v6
 * column `region` keeps its CHECK(us|eu) (SQLite cannot drop a CHECK without
 * rebuilding a table other tables reference); a new column `region_name`
 * holds any valid region name and is what is read (`region` is still written
 * for 'us'/'eu', so an older program reading the file sees the same label).
 * The upgrade copies `region` into `region_name`. Safe to run twice. */
static const struct {
  const char *table, *column, *decl;
} V9_COLUMNS[] = {
    {"xorbs", "home_region_id", "home_region_id INTEGER"},
    {"buckets", "region_name", "region_name TEXT"},
};
static const char *SCHEMA_V9 =
    "CREATE TABLE IF NOT EXISTS regions("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " blob_url TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blob_copies("
    " kind INTEGER NOT NULL,"
    " hash BLOB NOT NULL,"
    " region_id INTEGER NOT NULL REFERENCES regions(id) ON DELETE CASCADE,"
    " copied_ms INTEGER NOT NULL,"
    " PRIMARY KEY(kind, hash, region_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS blob_copies_region ON blob_copies(region_id);"
    "CREATE TABLE IF NOT EXISTS bucket_warm("
    " bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " region_id INTEGER NOT NULL REFERENCES regions(id) ON DELETE CASCADE,"
    " PRIMARY KEY(bucket_id, region_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS bucket_warm_region ON bucket_warm(region_id);"
    "CREATE TABLE IF NOT EXISTS prewarm_jobs("
    " id INTEGER PRIMARY KEY,"
    " bucket_id INTEGER NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " region_id INTEGER NOT NULL REFERENCES regions(id) ON DELETE CASCADE,"
    " prefix TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " lease_owner TEXT,"
    " lease_until_ms INTEGER NOT NULL DEFAULT 0,"
    " bytes_needed INTEGER NOT NULL DEFAULT 0,"
    " bytes_copied INTEGER NOT NULL DEFAULT 0,"
    " xorbs_copied INTEGER NOT NULL DEFAULT 0,"
    " error TEXT);"
    "CREATE INDEX IF NOT EXISTS prewarm_jobs_bucket ON prewarm_jobs(bucket_id);"
    "CREATE INDEX IF NOT EXISTS prewarm_jobs_state ON prewarm_jobs(state, id);"
    "CREATE INDEX IF NOT EXISTS xorbs_home ON xorbs(home_region_id);";

static int upgrade_v9(struct dbc *c) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof V9_COLUMNS / sizeof V9_COLUMNS[0]; i++) {
    int have = 0;
    rc = has_column(c, V9_COLUMNS[i].table, V9_COLUMNS[i].column, &have);
    if (rc || have) continue;
    char sql[256];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s", V9_COLUMNS[i].table,
             V9_COLUMNS[i].decl);
    rc = dbc_exec(c, sql);
  }
  if (rc == 0) rc = dbc_exec(c, SCHEMA_V9);
  if (rc == 0)
    rc = dbc_exec(c, "UPDATE buckets SET region_name = region"
                     " WHERE region_name IS NULL AND region IS NOT NULL");
  return rc;
}

/* ---- PostgreSQL dialect (sql_pg.c) ----
 * The same tables at version 8 in one script (PostgreSQL has no older
 * deployments to upgrade): BIGINT everywhere SQLite says INTEGER (64-bit
 * there), generated ids as "GENERATED BY DEFAULT AS IDENTITY" (migrate may
 * insert explicit ids, then bk_sql_id_sync moves the sequence), BYTEA for
 * BLOB, every text column COLLATE "C" (byte-wise order and comparison, like
 * SQLite's BINARY: listings ordered by path match), the NOCASE unique index
 * as a unique index on lower(name) (lower() of a "C" text folds ASCII only,
 * exactly SQLite's NOCASE), the same partial index, and the xorb_refs_move
 * trigger as a PL/pgSQL function. Runs inside the BK_TX_WRITE transaction of
 * db_schema_ensure, whose advisory lock serialises two nodes creating or
 * upgrading at once; the second finds version 8 and does nothing. */
#define PG_SCHEMA_VERSION 9
_Static_assert(PG_SCHEMA_VERSION >= SCHEMA_VERSION,
               "a new schema version needs its PostgreSQL step too (schema_ensure_pg)");

static const char *PG_SCHEMA_V8 =
    "CREATE TABLE namespaces("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " name TEXT COLLATE \"C\" NOT NULL,"
    " kind BIGINT NOT NULL,"
    " created_ms BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX namespaces_name ON namespaces(lower(name));"
    "CREATE TABLE org_members("
    " org_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " user_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " role BIGINT NOT NULL,"
    " PRIMARY KEY(org_id, user_id));"
    "CREATE INDEX org_members_user ON org_members(user_id);"
    "CREATE TABLE tokens("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " user_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " role BIGINT NOT NULL,"
    " token_hash BYTEA NOT NULL UNIQUE,"
    " created_ms BIGINT NOT NULL,"
    " revoked BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX tokens_user ON tokens(user_id);"
    "CREATE TABLE buckets("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " ns_id BIGINT NOT NULL REFERENCES namespaces(id),"
    " name TEXT COLLATE \"C\" NOT NULL,"
    " private BIGINT NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " updated_ms BIGINT NOT NULL,"
    " region TEXT COLLATE \"C\" CHECK(region IS NULL OR region IN ('us', 'eu')),"
    " region_name TEXT COLLATE \"C\","
    " UNIQUE(ns_id, name));"
    "CREATE TABLE bucket_files("
    " bucket_id BIGINT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " path TEXT COLLATE \"C\" NOT NULL,"
    " xet_hash BYTEA NOT NULL,"
    " size BIGINT NOT NULL,"
    " mtime_ms BIGINT NOT NULL,"
    " uploaded_ms BIGINT NOT NULL,"
    " content_type TEXT COLLATE \"C\","
    " PRIMARY KEY(bucket_id, path));"
    "CREATE INDEX bucket_files_hash ON bucket_files(xet_hash);"
    "CREATE TABLE bucket_dirs("
    " bucket_id BIGINT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " path TEXT COLLATE \"C\" NOT NULL,"
    " nfiles BIGINT NOT NULL,"
    " bytes BIGINT NOT NULL,"
    " updated_ms BIGINT NOT NULL,"
    " PRIMARY KEY(bucket_id, path));"
    "CREATE TABLE xorbs("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " hash BYTEA NOT NULL UNIQUE,"
    " bytes_on_disk BIGINT NOT NULL,"
    " unpacked_bytes BIGINT NOT NULL,"
    " nchunks BIGINT NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " touched_ms BIGINT NOT NULL,"
    " damaged BIGINT NOT NULL DEFAULT 0,"
    " verified_ms BIGINT NOT NULL DEFAULT 0,"
    " blob_stamp BIGINT NOT NULL DEFAULT 0,"
    " home_region_id BIGINT);"
    "CREATE INDEX xorbs_damaged ON xorbs(damaged) WHERE damaged != 0;"
    "CREATE TABLE xorb_chunks("
    " xorb_id BIGINT NOT NULL REFERENCES xorbs(id) ON DELETE CASCADE,"
    " idx BIGINT NOT NULL,"
    " chunk_hash BYTEA NOT NULL,"
    " record_offset BIGINT NOT NULL,"
    " record_len BIGINT NOT NULL,"
    " unpacked_offset BIGINT NOT NULL,"
    " unpacked_len BIGINT NOT NULL,"
    " PRIMARY KEY(xorb_id, idx));"
    "CREATE TABLE files("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " hash BYTEA NOT NULL UNIQUE,"
    " size BIGINT NOT NULL,"
    " sha256 BYTEA,"
    " nterms BIGINT NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " touched_ms BIGINT NOT NULL);"
    "CREATE TABLE file_terms("
    " file_id BIGINT NOT NULL REFERENCES files(id) ON DELETE CASCADE,"
    " seq BIGINT NOT NULL,"
    " xorb_id BIGINT NOT NULL REFERENCES xorbs(id),"
    " chunk_start BIGINT NOT NULL,"
    " chunk_end BIGINT NOT NULL,"
    " unpacked_bytes BIGINT NOT NULL,"
    " PRIMARY KEY(file_id, seq));"
    "CREATE INDEX file_terms_xorb ON file_terms(xorb_id);"
    "CREATE TABLE file_grants("
    " file_hash BYTEA NOT NULL,"
    " bucket_id BIGINT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " PRIMARY KEY(file_hash, bucket_id));"
    "CREATE INDEX file_grants_bucket ON file_grants(bucket_id);"
    "CREATE TABLE shards("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " hash BYTEA NOT NULL UNIQUE,"
    " size BIGINT NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " touched_ms BIGINT NOT NULL,"
    " damaged BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE shard_refs("
    " shard_id BIGINT NOT NULL REFERENCES shards(id) ON DELETE CASCADE,"
    " kind BIGINT NOT NULL,"
    " hash BYTEA NOT NULL,"
    " PRIMARY KEY(shard_id, kind, hash));"
    "CREATE TABLE dedup("
    " chunk_hash BYTEA NOT NULL,"
    " xorb_id BIGINT NOT NULL REFERENCES xorbs(id) ON DELETE CASCADE,"
    " idx BIGINT NOT NULL,"
    " PRIMARY KEY(chunk_hash, xorb_id));"
    "CREATE INDEX dedup_xorb ON dedup(xorb_id);"
    "CREATE TABLE xorb_refs("
    " bucket_id BIGINT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " xorb_id BIGINT NOT NULL REFERENCES xorbs(id) ON DELETE CASCADE,"
    " ns_id BIGINT NOT NULL,"
    " PRIMARY KEY(bucket_id, xorb_id));"
    "CREATE INDEX xorb_refs_ns ON xorb_refs(ns_id, xorb_id);"
    "CREATE INDEX xorb_refs_xorb ON xorb_refs(xorb_id);"
    "CREATE FUNCTION bk_xorb_refs_move() RETURNS trigger LANGUAGE plpgsql AS"
    " $f$ BEGIN UPDATE xorb_refs SET ns_id = NEW.ns_id WHERE bucket_id = NEW.id;"
    " RETURN NULL; END $f$;"
    "CREATE TRIGGER xorb_refs_move AFTER UPDATE OF ns_id ON buckets"
    " FOR EACH ROW EXECUTE FUNCTION bk_xorb_refs_move();"
    "CREATE TABLE scrub_state("
    " kind BIGINT PRIMARY KEY,"
    " last_id BIGINT NOT NULL,"
    " updated_ms BIGINT NOT NULL);"
    "CREATE TABLE settings("
    " key TEXT COLLATE \"C\" PRIMARY KEY,"
    " value BYTEA NOT NULL,"
    " created_ms BIGINT NOT NULL);"
    "CREATE TABLE web_sessions("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " id_hash BYTEA NOT NULL UNIQUE,"
    " user_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
    " token_id BIGINT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,"
    " role BIGINT NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " last_ms BIGINT NOT NULL);"
    "CREATE INDEX web_sessions_user ON web_sessions(user_id, last_ms);"
    "CREATE INDEX web_sessions_last ON web_sessions(last_ms);"
    "CREATE INDEX web_sessions_token ON web_sessions(token_id);"
    "CREATE TABLE rate_windows("
    " window_start BIGINT NOT NULL,"
    " caller BIGINT NOT NULL,"
    " count BIGINT NOT NULL,"
    " PRIMARY KEY(window_start, caller));"
    "CREATE TABLE pending_deletes("
    " kind BIGINT NOT NULL,"
    " hash BYTEA NOT NULL,"
    " due_ms BIGINT NOT NULL,"
    " PRIMARY KEY(kind, hash));"
    "CREATE INDEX pending_deletes_due ON pending_deletes(due_ms);";

/* The v9 tables (regions, docs/regions.md) in PostgreSQL's dialect: part of
 * a fresh database and the upgrade step 8 -> 9 (with the two columns). */
static const char *PG_SCHEMA_V9_TABLES =
    "CREATE TABLE IF NOT EXISTS regions("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " name TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    " blob_url TEXT COLLATE \"C\" NOT NULL,"
    " created_ms BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS blob_copies("
    " kind BIGINT NOT NULL,"
    " hash BYTEA NOT NULL,"
    " region_id BIGINT NOT NULL REFERENCES regions(id) ON DELETE CASCADE,"
    " copied_ms BIGINT NOT NULL,"
    " PRIMARY KEY(kind, hash, region_id));"
    "CREATE INDEX IF NOT EXISTS blob_copies_region ON blob_copies(region_id);"
    "CREATE TABLE IF NOT EXISTS bucket_warm("
    " bucket_id BIGINT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " region_id BIGINT NOT NULL REFERENCES regions(id) ON DELETE CASCADE,"
    " PRIMARY KEY(bucket_id, region_id));"
    "CREATE INDEX IF NOT EXISTS bucket_warm_region ON bucket_warm(region_id);"
    "CREATE TABLE IF NOT EXISTS prewarm_jobs("
    " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " bucket_id BIGINT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,"
    " region_id BIGINT NOT NULL REFERENCES regions(id) ON DELETE CASCADE,"
    " prefix TEXT COLLATE \"C\" NOT NULL DEFAULT '',"
    " state TEXT COLLATE \"C\" NOT NULL,"
    " created_ms BIGINT NOT NULL,"
    " updated_ms BIGINT NOT NULL,"
    " lease_owner TEXT COLLATE \"C\","
    " lease_until_ms BIGINT NOT NULL DEFAULT 0,"
    " bytes_needed BIGINT NOT NULL DEFAULT 0,"
    " bytes_copied BIGINT NOT NULL DEFAULT 0,"
    " xorbs_copied BIGINT NOT NULL DEFAULT 0,"
    " error TEXT COLLATE \"C\");"
    "CREATE INDEX IF NOT EXISTS prewarm_jobs_bucket ON prewarm_jobs(bucket_id);"
    "CREATE INDEX IF NOT EXISTS prewarm_jobs_state ON prewarm_jobs(state, id);"
    "CREATE INDEX IF NOT EXISTS xorbs_home ON xorbs(home_region_id);";
static const char *PG_UPGRADE_V9_COLUMNS =
    "ALTER TABLE xorbs ADD COLUMN IF NOT EXISTS home_region_id BIGINT;"
    "ALTER TABLE buckets ADD COLUMN IF NOT EXISTS region_name TEXT COLLATE \"C\";"
    "UPDATE buckets SET region_name = region WHERE region_name IS NULL AND region IS NOT NULL;";

static int schema_ensure_pg(struct dbc *c) {
  int rc = dbc_begin(c); /* BK_TX_WRITE: the advisory write lock */
  if (rc) return rc;
  int v = 0;
  rc = user_version(c, &v);
  if (rc == 0 && v > PG_SCHEMA_VERSION)
    rc = bk_seterr(BK_EVERSION, "database schema %d is newer than this program (%d)", v,
                   PG_SCHEMA_VERSION);
  if (rc == 0 && v == 0) rc = dbc_exec(c, PG_SCHEMA_V8);
  if (rc == 0 && v == 0) rc = dbc_exec(c, PG_SCHEMA_V9_TABLES);
  if (rc == 0 && v == 0) rc = set_version(c, PG_SCHEMA_VERSION);
  if (rc == 0 && v == 8) { /* upgrade: regions */
    rc = dbc_exec(c, PG_UPGRADE_V9_COLUMNS);
    if (rc == 0) rc = dbc_exec(c, PG_SCHEMA_V9_TABLES);
    if (rc == 0) rc = set_version(c, 9);
    v = 9;
  }
  if (rc == 0 && v != 0 && v < PG_SCHEMA_VERSION)
    rc = bk_seterr(BK_EVERSION, "PostgreSQL schema %d cannot be upgraded (no step to %d)", v,
                   PG_SCHEMA_VERSION);
  if (rc) {
    dbc_rollback(c);
    return rc;
  }
  return dbc_commit(c);
}

int db_schema_ensure(struct dbc *c) {
  if (c->h->drv->dialect == BK_SQL_PG) return schema_ensure_pg(c);
  int rc = dbc_begin(c);
  if (rc) return rc;
  int v = 0;
  rc = user_version(c, &v);
  if (rc == 0 && v > SCHEMA_VERSION)
    rc = bk_seterr(BK_EVERSION, "database schema %d is newer than this program (%d)",
                   v, SCHEMA_VERSION);
  if (rc == 0 && v == 0) {
    rc = dbc_exec(c, SCHEMA_V1);
    if (rc == 0) rc = dbc_exec(c, SCHEMA_V2);
    v = 2;
  }
  if (rc == 0 && v == 1) { /* upgrade: build the directory aggregates */
    rc = dbc_exec(c, SCHEMA_V2);
    if (rc == 0) rc = db_dirs_rebuild(c);
    v = 2;
  }
  if (rc == 0 && v == 2) { /* upgrade: dedup index with every holder */
    rc = dbc_exec(c, SCHEMA_V3);
    if (rc == 0) rc = set_version(c, 3);
    v = 3;
  }
  if (rc == 0 && v == 3) { /* upgrade: bucket -> xorb references (dedup scopes) */
    rc = dbc_exec(c, SCHEMA_V4);
    if (rc == 0) rc = set_version(c, 4);
    v = 4;
  }
  if (rc == 0 && v == 4) { /* upgrade: damaged state, verification record */
    rc = upgrade_v5(c);
    if (rc == 0) rc = set_version(c, 5);
    v = 5;
  }
  if (rc == 0 && v == 5) { /* upgrade: bucket region (create --region) */
    rc = upgrade_bucket_region(c);
    if (rc == 0) rc = set_version(c, 6);
    v = 6;
  }
  if (rc == 0 && v == 6) { /* upgrade: shared node state (settings, sessions, rate windows) */
    rc = dbc_exec(c, SCHEMA_V7);
    if (rc == 0) rc = set_version(c, 7);
    v = 7;
  }
  if (rc == 0 && v == 7) { /* upgrade: gc's pending deletes (blob stores without trash) */
    rc = dbc_exec(c, SCHEMA_V8);
    if (rc == 0) rc = set_version(c, 8);
    v = 8;
  }
  if (rc == 0 && v == 8) { /* upgrade: regions (docs/regions.md) */
    rc = upgrade_v9(c);
    if (rc == 0) rc = set_version(c, 9);
    v = 9;
  }
  if (rc) {
    dbc_rollback(c);
    return rc;
  }
  return dbc_commit(c);
}

