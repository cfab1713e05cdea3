/* bucketd — where a command finds its store: `--data DIR` (the embedded
 * default: DIR/buckets.db and DIR/blobs) or `--db URL --blobs URL` (any
 * metadata engine and blob store, shared by many nodes), with the
 * environment forms BUCKETD_DATA, BUCKETD_DB, BUCKETD_BLOBS. The rules
 * (docs/server.md "Store URLs"):
 *  - flags on the command line win over the environment, as a pair: any of
 *    --db/--blobs given ignores BUCKETD_DATA, --data given ignores
 *    BUCKETD_DB/BUCKETD_BLOBS;
 *  - --data with --db or --blobs is a usage error, and so is one of --db /
 *    --blobs without the other (the same for the environment variables);
 *    commands that need only the metadata (user, token, org) accept --db
 *    alone (a --blobs given with it is accepted and not opened);
 *  - neither: ./var;
 *  - sqlite:// and file:// URLs must name absolute paths (sqlite:///abs/x.db,
 *    file:///abs/blobs): a node's working directory is no part of a shared
 *    configuration. Relative --data DIR stays accepted.
 * Strings are borrowed from argv / the environment; nothing is allocated.
 */
#ifndef BUCKETD_STORECFG_H
#define BUCKETD_STORECFG_H

#include <stddef.h>

struct bk_store_choice {
  const char *data;  /* the data dir (data mode), else NULL */
  const char *db;    /* metadata URL (URL mode), else NULL */
  const char *blobs; /* blob store URL (URL mode; NULL when not needed and not given) */
};

/* flag_* = the values given on the command line (NULL = not given).
 * need_blobs = 0 for metadata-only commands. Returns 0, or 2 after printing
 * the usage error ("bucketd: ...") to stderr. */
int bk_store_choose(const char *flag_data, const char *flag_db, const char *flag_blobs,
                    int need_blobs, struct bk_store_choice *out);

/* A copy of url fit for logs: a password in the user part and the values of
 * query parameters that look like credentials (password, secret, token,
 * signature, credential, key) become "***". Always NUL-terminates out
 * (truncated when n is too small). */
void bk_url_mask(const char *url, char *out, size_t n);

/* Replaces every occurrence of url's password (user part) in msg (capacity
 * cap, at most 1 KiB kept) by "***": for error messages of drivers that
 * quote their connection string. */
void bk_url_scrub(const char *url, char *msg, size_t cap);

/* "db URL, blobs URL" (masked) or "data DIR" into out, for startup lines and
 * messages. */
void bk_store_describe(const struct bk_store_choice *c, char *out, size_t n);

#endif
