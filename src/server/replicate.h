/* bucketd — the replication thread of `serve` (docs/regions.md).
 *
 * Every serve node runs one: the service's loop (bk_svc_replicate_start) over
 * bk_svc_replicate_step (one bounded slice of pre-warm jobs and warm-region
 * copies, leased in the metadata DB so nodes share the work and a dead node's
 * job is resumed by another), waiting for a wakeup (a xorb registered on this
 * node) or about 0.5 s when a step found nothing to do. Failed steps go to
 * stderr, at most one line per 10 s.
 *
 * Ownership: one thread per process (srv->repl points at its owner name while
 * it runs); bk_repl_stop joins it (idempotent). The thread borrows srv->svc,
 * which must stay open until bk_repl_stop returned.
 */
#ifndef BUCKETD_REPLICATE_H
#define BUCKETD_REPLICATE_H

struct bk_server;

/* Idle wait between polls. */
#define BK_REPL_POLL_MS 500

/* Starts the thread (owner string "bucketd-HOST-PID-RANDOM", under 64 bytes, unique per
 * process). 0 or BK_EIO/BK_ENOMEM. */
int bk_repl_start(struct bk_server *srv);
/* Asks the thread to stop, wakes it and joins it. NULL-safe, idempotent. */
void bk_repl_stop(struct bk_server *srv);
/* The owner string of this process's thread ("" when not running). */
const char *bk_repl_owner(const struct bk_server *srv);

#endif
