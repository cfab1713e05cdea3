/* bucketd — the replication thread of `serve` (docs/regions.md).
 *
 * Every serve node runs one: it loops bk_svc_replicate_step (one bounded
 * slice of pre-warm jobs and warm-region copies, leased in the metadata DB so
 * nodes share the work and a dead node's job is resumed by another) and, when
 * a step found nothing to do, waits in bk_svc_replicate_wait (woken when a
 * xorb is registered on this node, else about every 0.5 s).
 *
 * Ownership: bk_repl_start allocates the thread state into srv->repl;
 * bk_repl_stop joins the thread and frees it (idempotent). The thread borrows
 * srv->svc, which must stay open until bk_repl_stop returned.
 */
#ifndef BUCKETD_REPLICATE_H
#define BUCKETD_REPLICATE_H

struct bk_server;

/* Idle wait between polls, and the time budget of one replication step. */
#define BK_REPL_POLL_MS 500
#define BK_REPL_STEP_MS 2000

/* Starts the thread (owner string "bucketd-HOST-PID-RANDOM", unique per
 * process). 0 or BK_EIO/BK_ENOMEM. */
int bk_repl_start(struct bk_server *srv);
/* Asks the thread to stop, wakes it and joins it. NULL-safe, idempotent. */
void bk_repl_stop(struct bk_server *srv);
/* The owner string of this process's thread ("" when not running). */
const char *bk_repl_owner(const struct bk_server *srv);

#endif
