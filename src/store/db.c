/* buckets — metadata database: connection pool, schema, validation
 * (see include/buckets/db.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"
#include "buckets/fsutil.h"
#include "store/db_internal.h"

#define SCHEMA_VERSION 7
#define POOL_MAX 8
#define BUSY_TIMEOUT_MS 10000
/* the WAL is cut back to this after a checkpoint restarts it, and to 0 bytes
 * on close (it stays as a file: SQLITE_FCNTL_PERSIST_WAL) */
#define WAL_SIZE_LIMIT "16777216"

int bk_db_schema_version(void) { return SCHEMA_VERSION; }

int64_t db_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The BK_E* code of an SQLite result: a full disk (SQLITE_FULL, or an I/O
 * error whose errno is ENOSPC/EDQUOT, e.g. growing the -shm file) is
 * BK_ENOSPC, any other I/O error BK_EIO, the rest BK_EDB. */
static int db_code(struct dbc *c, int src) {
  int primary = src & 0xff;
  if (primary == SQLITE_FULL) return BK_ENOSPC;
  if (primary != SQLITE_IOERR) return BK_EDB;
  return c && c->h ? bk_errno_code(sqlite3_system_errno(c->h)) : BK_EIO;
}

/* SQLite says "disk I/O error" when growing -shm fails with ENOSPC: add why */
static const char *full_note(struct dbc *c, int src) {
  return (src & 0xff) == SQLITE_IOERR && db_code(c, src) == BK_ENOSPC ? " (no space left on device)"
                                                                      : "";
}

int dbc_err(struct dbc *c, int src, const char *what) {
  const char *m = c && c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(src);
  if (src == SQLITE_BUSY || src == SQLITE_LOCKED)
    return bk_seterr(BK_EDB, "%s: database busy (%s)", what, m);
  return bk_seterr(db_code(c, src), "%s: %s%s", what, m, full_note(c, src));
}

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

/* ---- statements ---- */

sqlite3_stmt *dbc_stmt(struct dbc *c, const char *sql) {
  for (int i = 0; i < c->ncache; i++) {
    if (c->cache[i].sql == sql) {
      sqlite3_stmt *st = c->cache[i].st;
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return st;
    }
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v3(c->h, sql, -1,
                              c->ncache < DBC_CACHE ? SQLITE_PREPARE_PERSISTENT : 0,
                              &st, NULL);
  if (rc != SQLITE_OK) {
    dbc_err(c, rc, "prepare");
    return NULL;
  }
  if (c->ncache < DBC_CACHE) {
    c->cache[c->ncache].sql = sql;
    c->cache[c->ncache].st = st;
    c->ncache++;
    return st;
  }
  /* cache full (should not happen: statements are static): leak-free fallback
   * is not possible with this interface, so refuse. */
  sqlite3_finalize(st);
  bk_seterr(BK_EDB, "statement cache full");
  return NULL;
}

int dbc_step_done(struct dbc *c, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return dbc_err(c, rc, what);
  return 0;
}

int dbc_each_row(struct dbc *c, sqlite3_stmt *st, dbc_row_fn row, void *ctx, const char *what) {
  int r, rc = 0;
  while ((r = sqlite3_step(st)) == SQLITE_ROW)
    if ((rc = row(st, ctx))) break;
  if (!rc && r != SQLITE_DONE) rc = dbc_err(c, r, what);
  sqlite3_reset(st);
  return rc;
}

int dbc_one_row(struct dbc *c, sqlite3_stmt *st, void (*row)(sqlite3_stmt *, void *), void *ctx,
                const char *notfound, const char *what) {
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW && row) row(st, ctx);
  int rc = r == SQLITE_ROW    ? 0
           : r == SQLITE_DONE ? bk_seterr(BK_ENOTFOUND, "%s", notfound)
                              : dbc_err(c, r, what);
  sqlite3_reset(st);
  return rc;
}

int dbc_exec(struct dbc *c, const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(c->h, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    int e = bk_seterr(db_code(c, rc), "%s: %s%s", sql, msg ? msg : sqlite3_errstr(rc),
                      full_note(c, rc));
    sqlite3_free(msg);
    return e;
  }
  return 0;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

int dbc_begin(struct dbc *c) {
  sqlite3_stmt *st = dbc_stmt(c, SQL_BEGIN);
  if (!st) return BK_EDB;
  return dbc_step_done(c, st, "begin");
}

int dbc_commit(struct dbc *c) {
  sqlite3_stmt *st = dbc_stmt(c, SQL_COMMIT);
  if (!st) return BK_EDB;
  int rc = dbc_step_done(c, st, "commit");
  if (rc) dbc_rollback(c);
  return rc;
}

void dbc_rollback(struct dbc *c) {
  if (sqlite3_get_autocommit(c->h)) return;
  sqlite3_stmt *st = dbc_stmt(c, SQL_ROLLBACK);
  if (st) {
    sqlite3_step(st);
    sqlite3_reset(st);
  }
}

/* ---- connections ---- */

static void dbc_close(struct dbc *c) {
  if (!c) return;
  for (int i = 0; i < c->ncache; i++) sqlite3_finalize(c->cache[i].st);
  sqlite3_close_v2(c->h);
  free(c);
}

static int dbc_open(const char *path, struct dbc **out) {
  *out = NULL;
  struct dbc *c = calloc(1, sizeof *c);
  if (!c) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = sqlite3_open_v2(path, &c->h,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    int e = bk_seterr(db_code(c, rc), "open %s: %s%s", path,
                      c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc), full_note(c, rc));
    dbc_close(c);
    return e;
  }
  sqlite3_extended_result_codes(c->h, 0);
  sqlite3_busy_timeout(c->h, BUSY_TIMEOUT_MS);
  /* Keep buckets.db-wal and -shm when the last connection closes (the WAL is
   * truncated to 0 bytes then, see journal_size_limit): the next start finds
   * the 32 KiB wal-index file already allocated, so bucketd can start and
   * serve reads on a full disk (creating -shm needs free blocks). */
  int persist = 1;
  sqlite3_file_control(c->h, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  rc = dbc_exec(c, "PRAGMA journal_mode=WAL");
  if (rc == 0) rc = dbc_exec(c, "PRAGMA journal_size_limit=" WAL_SIZE_LIMIT);
  if (rc == 0) rc = dbc_exec(c, "PRAGMA synchronous=FULL");
  if (rc == 0) rc = dbc_exec(c, "PRAGMA foreign_keys=ON");
  if (rc == 0) rc = dbc_exec(c, "PRAGMA temp_store=MEMORY");
  if (rc) {
    dbc_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

static int user_version(struct dbc *c, int *v) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->h, "PRAGMA user_version", -1, &st, NULL);
  if (rc != SQLITE_OK) return dbc_err(c, rc, "user_version");
  rc = sqlite3_step(st);
  *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : dbc_err(c, rc, "user_version");
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
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'",
             V5_COLUMNS[i].table, V5_COLUMNS[i].column);
    sqlite3_stmt *st = NULL;
    int r = sqlite3_prepare_v2(c->h, sql, -1, &st, NULL);
    int have = 0;
    if (r == SQLITE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) have = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (r != SQLITE_ROW) rc = dbc_err(c, r, "schema v5");
    if (rc || have) continue;
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
static int buckets_have_region(struct dbc *c, int *has) {
  sqlite3_stmt *st = NULL;
  *has = 0;
  int rc = sqlite3_prepare_v2(c->h, "SELECT 1 FROM pragma_table_info('buckets') WHERE name = 'region'",
                              -1, &st, NULL);
  if (rc != SQLITE_OK) return dbc_err(c, rc, "table_info buckets");
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) *has = 1;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return 0;
  return dbc_err(c, rc, "table_info buckets");
}

static int upgrade_bucket_region(struct dbc *c) {
  int has;
  int rc = buckets_have_region(c, &has);
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

static int ensure_schema(struct dbc *c) {
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
    if (rc == 0) rc = dbc_exec(c, "PRAGMA user_version=3");
    v = 3;
  }
  if (rc == 0 && v == 3) { /* upgrade: bucket -> xorb references (dedup scopes) */
    rc = dbc_exec(c, SCHEMA_V4);
    if (rc == 0) rc = dbc_exec(c, "PRAGMA user_version=4");
    v = 4;
  }
  if (rc == 0 && v == 4) { /* upgrade: damaged state, verification record */
    rc = upgrade_v5(c);
    if (rc == 0) rc = dbc_exec(c, "PRAGMA user_version=5");
    v = 5;
  }
  if (rc == 0 && v == 5) { /* upgrade: bucket region (create --region) */
    rc = upgrade_bucket_region(c);
    if (rc == 0) rc = dbc_exec(c, "PRAGMA user_version=6");
    v = 6;
  }
  if (rc == 0 && v == 6) { /* upgrade: shared node state (settings, sessions, rate windows) */
    rc = dbc_exec(c, SCHEMA_V7);
    if (rc == 0) rc = dbc_exec(c, "PRAGMA user_version=7");
    v = 7;
  }
  if (rc) {
    dbc_rollback(c);
    return rc;
  }
  return dbc_commit(c);
}

/* Connections this thread currently holds (any bk_db). A thread only ever
 * blocks on its FIRST connection: a nested acquisition (a callback that calls
 * another bk_db function while an iteration holds a connection) takes a free
 * one or opens an extra one beyond the pool size, so callbacks can never
 * deadlock the pool. Extra connections are closed when released. */
static _Thread_local int tl_held;

int dbc_acquire(bk_db *db, struct dbc **out) {
  pthread_mutex_lock(&db->mu);
  while (tl_held == 0 && !db->free_list && db->nopen >= db->max)
    pthread_cond_wait(&db->cv, &db->mu);
  struct dbc *c = db->free_list;
  if (c) {
    db->free_list = c->next;
    pthread_mutex_unlock(&db->mu);
    c->next = NULL;
    tl_held++;
    *out = c;
    return 0;
  }
  db->nopen++;
  pthread_mutex_unlock(&db->mu);
  int rc = dbc_open(db->path, &c);
  if (rc) {
    pthread_mutex_lock(&db->mu);
    db->nopen--;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    return rc;
  }
  tl_held++;
  *out = c;
  return 0;
}

int dbc_acquire_stmt(bk_db *db, const char *sql, struct dbc **c, sqlite3_stmt **st) {
  int rc = dbc_acquire(db, c);
  if (rc) return rc;
  *st = dbc_stmt(*c, sql);
  if (*st) return 0;
  dbc_release(db, *c);
  *c = NULL;
  return BK_EDB;
}

void dbc_release(bk_db *db, struct dbc *c) {
  if (!c) return;
  tl_held--;
  /* never hand back a connection inside a transaction */
  if (!sqlite3_get_autocommit(c->h)) dbc_rollback(c);
  pthread_mutex_lock(&db->mu);
  if (db->nopen > db->max) { /* an extra one opened for a nested call */
    db->nopen--;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    dbc_close(c);
    return;
  }
  c->next = db->free_list;
  db->free_list = c;
  pthread_cond_signal(&db->cv);
  pthread_mutex_unlock(&db->mu);
}

int bk_db_open(const char *path, bk_db **out) {
  *out = NULL;
  if (!path || !*path) return bk_seterr(BK_EINVAL, "empty database path");
  bk_db *db = calloc(1, sizeof *db);
  if (!db) return bk_seterr(BK_ENOMEM, "out of memory");
  db->path = strdup(path);
  if (!db->path) {
    free(db);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&db->mu, NULL);
  pthread_cond_init(&db->cv, NULL);
  pthread_mutex_init(&db->umu, NULL);
  db->max = POOL_MAX;
  struct dbc *c;
  int rc = dbc_acquire(db, &c);
  if (rc == 0) {
    rc = ensure_schema(c);
    dbc_release(db, c);
  }
  if (rc) {
    bk_db_close(db);
    return rc;
  }
  *out = db;
  return 0;
}

void bk_db_close(bk_db *db) {
  if (!db) return;
  struct dbc *c = db->free_list;
  while (c) {
    struct dbc *n = c->next;
    dbc_close(c);
    c = n;
  }
  pthread_mutex_destroy(&db->mu);
  pthread_cond_destroy(&db->cv);
  pthread_mutex_destroy(&db->umu);
  free(db->path);
  free(db);
}

/* ---- validation ---- */

static int is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int bk_name_valid(const char *name) {
  if (!name || !is_alnum((unsigned char)name[0])) return 0;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++) {
    unsigned char c = (unsigned char)*p;
    if (n >= BK_NAME_MAX) return 0;
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return 0;
    if ((c == '-' || c == '.') && p[1] == c) return 0;
  }
  return 1;
}

/* Length of the UTF-8 sequence at p (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned cp;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return len;
}

int bk_path_valid(const char *path, size_t len) {
  if (!path || len == 0 || len > BK_PATH_MAX) return 0;
  const unsigned char *p = (const unsigned char *)path;
  if (p[0] == '/' || p[len - 1] == '/') return 0;
  size_t seg_start = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = p[i];
    if (c < 0x20 || c == 0x7f || c == '\\') return 0;
    size_t l = utf8_seq(p + i, len - i);
    if (l == 0) return 0;
    if (c == '/' || i + l == len) {
      size_t seg_end = c == '/' ? i : len;
      size_t sl = seg_end - seg_start;
      if (sl == 0) return 0;
      if (sl == 1 && p[seg_start] == '.') return 0;
      if (sl == 2 && p[seg_start] == '.' && p[seg_start + 1] == '.') return 0;
      seg_start = i + 1;
    }
    i += l;
  }
  return 1;
}
