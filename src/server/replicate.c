/* bucketd — the replication thread of serve (see replicate.h): the service's
 * own loop (bk_svc_replicate_start), with an owner name unique to this
 * process and its failed steps on stderr. */
#include "server/replicate.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "buckets/error.h"
#include "server/server.h"
#include "service/service.h"

static char owner[128];

static void log_line(void *ctx, const char *line) {
  (void)ctx;
  fprintf(stderr, "bucketd: %s\n", line);
}

static void make_owner(char *out, size_t n) {
  char host[64] = "host";
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "host");
  host[sizeof host - 1] = 0;
  uint32_t rnd = 0;
  if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) rnd = (uint32_t)bk_now_ms();
  snprintf(out, n, "bucketd-%.24s-%ld-%08x", host, (long)getpid(), (unsigned)rnd);
}

int bk_repl_start(struct bk_server *srv) {
  if (srv->repl) return 0;
  make_owner(owner, sizeof owner);
  int rc = bk_svc_replicate_start(srv->svc, owner, BK_REPL_POLL_MS, log_line, NULL);
  if (rc) return rc;
  srv->repl = owner;
  return 0;
}

void bk_repl_stop(struct bk_server *srv) {
  if (!srv || !srv->repl) return;
  bk_svc_replicate_stop(srv->svc);
  srv->repl = NULL;
}

const char *bk_repl_owner(const struct bk_server *srv) {
  return srv && srv->repl ? owner : "";
}
