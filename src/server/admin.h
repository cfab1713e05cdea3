/* bucketd — administration subcommands (owned by the store helper).
 *
 *   bucketd user add NAME
 *   bucketd token add USER --role read|write     (prints ONLY the token)
 *   bucketd token list USER                      (id, role, created, status)
 *   bucketd token revoke ID
 *   bucketd org add ORG --owner USER
 *   bucketd org member ORG USER --role read|write|admin|none
 *   bucketd gc [--grace DURATION]                (default 1h)
 *   bucketd fsck [--read-data]
 *   bucketd migrate --data DIR --to-db URL --to-blobs URL   (migrate.c)
 * each with [--data DIR] or [--db URL --blobs URL] (server/storecfg.h;
 * user, token and org need only --db).
 *
 * Safe while the server runs (SQLite WAL + busy timeout; gc only removes
 * objects older than the grace period, under the database write lock).
 */
#ifndef BUCKETD_ADMIN_H
#define BUCKETD_ADMIN_H

/* argv[0] = subcommand name ("user", "token", "org", "gc", "fsck").
 * Returns the process exit code: 0 ok, 1 failure / damage found (fsck),
 * 2 usage error. Output on stdout, diagnostics on stderr. */
int bucketd_admin(int argc, char **argv);

/* `bucketd migrate` (migrate.c): argv[0] = "migrate". Same exit codes
 * (1: the migration failed or was refused). */
int bucketd_migrate(int argc, char **argv);

#endif
