/* bucketd — the replication thread (see replicate.h). */
#include "server/replicate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "buckets/error.h"
#include "server/server.h"
#include "service/service.h"

struct repl {
  pthread_t thread;
  atomic_int stop;
  struct bk_server *srv;
  char owner[128];
  int64_t last_err_ms; /* rate limit of the error log line */
};

/* Logs a failed step at most every 10 s (a region's store down for an hour
 * is one line per 10 s, not 2 per second). */
static void log_err(struct repl *r, int rc) {
  int64_t now = bk_now_ms();
  if (now - r->last_err_ms < 10000) return;
  r->last_err_ms = now;
  fprintf(stderr, "bucketd: replication: %s: %s\n", bk_strerror(rc), bk_errmsg());
}

static void *repl_main(void *arg) {
  struct repl *r = arg;
  while (!atomic_load(&r->stop)) {
    int did = 0;
    int rc = bk_svc_replicate_step(r->srv->svc, r->owner, BK_REPL_STEP_MS, &did);
    if (rc) log_err(r, rc);
    if (atomic_load(&r->stop)) break;
    if (rc || !did) bk_svc_replicate_wait(r->srv->svc, BK_REPL_POLL_MS);
  }
  return NULL;
}

static void make_owner(char *out, size_t n) {
  char host[64] = "host";
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "host");
  host[sizeof host - 1] = 0;
  uint32_t rnd = 0;
  if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) rnd = (uint32_t)bk_now_ms();
  snprintf(out, n, "bucketd-%.63s-%ld-%08x", host, (long)getpid(), (unsigned)rnd);
}

int bk_repl_start(struct bk_server *srv) {
  if (srv->repl) return 0;
  struct repl *r = calloc(1, sizeof *r);
  if (!r) return bk_seterr(BK_ENOMEM, "out of memory");
  r->srv = srv;
  atomic_init(&r->stop, 0);
  make_owner(r->owner, sizeof r->owner);
  int e = pthread_create(&r->thread, NULL, repl_main, r);
  if (e) {
    free(r);
    return bk_seterr(BK_EIO, "cannot start the replication thread: %s", strerror(e));
  }
  srv->repl = r;
  return 0;
}

void bk_repl_stop(struct bk_server *srv) {
  struct repl *r = srv ? srv->repl : NULL;
  if (!r) return;
  atomic_store(&r->stop, 1);
  bk_svc_replicate_wake(srv->svc);
  pthread_join(r->thread, NULL);
  free(r);
  srv->repl = NULL;
}

const char *bk_repl_owner(const struct bk_server *srv) {
  const struct repl *r = srv ? srv->repl : NULL;
  return r ? r->owner : "";
}
