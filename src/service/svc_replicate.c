/* buckets storage service — replication between regions: pre-warm jobs,
 * warm lists and their status (service.h "regions", docs/regions.md).
 *
 * One engine: bk_svc_replicate_step does a bounded slice of work. It first
 * claims a pre-warm job (a lease in the database: owner + expiry, renewed
 * with every progress update; a dead node's lease expires after
 * LEASE_MS and another node resumes the job), else walks the buckets' warm
 * lists. For a (bucket, prefix, target region) it pages through "xorbs the
 * bucket's files reference that have no copy recorded in the target" and
 * copies each (copy_xorb):
 *   1. stat the target: a blob of the right size is read back and verified,
 *      then recorded (no PUT) — this is what makes a resumed job never PUT a
 *      xorb twice after a kill between the PUT and the row;
 *   2. else read the whole xorb (at most BK_XORB_MAX_BYTES + footer) from a
 *      source region holding a copy (its home first), verify it (the xorb
 *      hash over every chunk hash, every chunk decoded, as a put does), PUT
 *      it into the target (an existing blob is never overwritten), and
 *   3. record the blob_copies row.
 * A source that does not verify is refused: nothing is put or recorded, the
 * job carries the error ("failed" once nothing else is left to copy).
 * Memory: PARALLEL (2) xorbs at a time per step. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buckets/clock.h"
#include "buckets/error.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"

#define LEASE_MS_DEFAULT 10000
#define PAGE 64
#define RELOAD_MS 5000

static _Atomic uint64_t g_puts;

uint64_t bk_svc_replicate_puts(void) { return atomic_load(&g_puts); }

/* Test hooks (environment): BUCKETD_REPLICATE_LEASE_MS shortens the lease;
 * BUCKETD_REPLICATE_KILL_AFTER_PUTS=N ends the process (_exit 137, like
 * kill -9) right after the Nth PUT of one service, before its row is recorded. */
static int64_t lease_ms(void) {
  const char *e = getenv("BUCKETD_REPLICATE_LEASE_MS");
  long long v = e ? atoll(e) : 0;
  return v > 0 && v < 3600000 ? (int64_t)v : LEASE_MS_DEFAULT;
}

static void kill_hook(uint64_t puts) {
  const char *e = getenv("BUCKETD_REPLICATE_KILL_AFTER_PUTS");
  long long v = e ? atoll(e) : 0;
  if (v > 0 && puts >= (uint64_t)v) _exit(137);
}

static int read_verified(bk_blobstore *bs, const bk_hash *x, uint64_t size, bk_buf *b);

/* --------------------------------------------------------------- wakeups */

void bk_svc_replicate_wake(bk_svc *svc) {
  pthread_mutex_lock(&svc->wmu);
  svc->wakes++;
  pthread_cond_broadcast(&svc->wcv);
  pthread_mutex_unlock(&svc->wmu);
}

/* Waits until the wake count differs from seen (a wakeup since then) or
 * max_ms passed: 1 woken, 0 timed out. */
static int wait_since(bk_svc *svc, uint64_t seen, int64_t max_ms) {
  if (max_ms < 0) max_ms = 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += max_ms / 1000;
  ts.tv_nsec += (long)(max_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&svc->wmu);
  int rc = 0;
  while (svc->wakes == seen && rc == 0) rc = pthread_cond_timedwait(&svc->wcv, &svc->wmu, &ts);
  int woken = svc->wakes != seen;
  pthread_mutex_unlock(&svc->wmu);
  return woken;
}

static uint64_t wake_count(bk_svc *svc) {
  pthread_mutex_lock(&svc->wmu);
  uint64_t w = svc->wakes;
  pthread_mutex_unlock(&svc->wmu);
  return w;
}

int bk_svc_replicate_wait(bk_svc *svc, int64_t max_ms) {
  return wait_since(svc, wake_count(svc), max_ms);
}

/* ------------------------------------------------------------ one copy */

int svc_xorb_verify_blob(bk_blobstore *bs, const bk_hash *x, uint64_t size) {
  bk_buf b;
  int rc = read_verified(bs, x, size, &b);
  bk_buf_free(&b);
  return rc;
}

/* Reads the whole xorb from store and verifies it (hash over every chunk). */
static int read_verified(bk_blobstore *bs, const bk_hash *x, uint64_t size, bk_buf *b) {
  bk_buf_init(b, (size_t)BK_XORB_MAX_BYTES + (1u << 20));
  int rc = bk_blob_get(bs, BK_BLOB_XORB, x, b->max, b);
  if (rc) return rc;
  if (b->len != size)
    return bk_seterr(BK_EHASH, "size %zu differs from the row's %" PRIu64, b->len, size);
  bk_xorb *px = NULL;
  rc = bk_xorb_parse(b->p, b->len, BK_XORB_ALLOW_FOOTER, x, &px);
  bk_xorb_free(px);
  return rc;
}

struct copy_out {
  int put;          /* 1 = a PUT was made */
  uint64_t bytes;   /* bytes PUT */
};

/* The target holds a blob of the right size already: verify it in place. */
static int adopt_present(bk_svc *svc, const bk_region_xorb *x, struct svc_region *t) {
  bk_buf b;
  int rc = read_verified(t->bs, &x->hash, x->size, &b);
  bk_buf_free(&b);
  if (rc == BK_ENOMEM) return rc;
  if (rc == BK_ENET) return svc_region_err(t, rc);
  if (rc) return 1; /* there but not these bytes: replaced by a verified copy */
  return bk_db_copy_add(svc->db, BK_BLOB_XORB, &x->hash, t->id);
}

/* Reads and verifies the xorb from the first source region that has a good
 * copy (home first). b is initialised in every case (the caller frees). */
static int read_source(bk_svc *svc, const bk_region_xorb *x, struct svc_region *t, bk_buf *b) {
  int64_t ids[BK_REGIONS_MAX];
  size_t n = 0;
  bk_buf_init(b, 0);
  int rc = bk_db_copy_regions(svc->db, BK_BLOB_XORB, &x->hash, ids, BK_REGIONS_MAX, &n);
  struct svc_region *home = NULL;
  if (rc == 0) rc = svc_xorb_home(svc, &x->hash, &home);
  if (rc) return rc;
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&x->hash, hex);
  int first = 0;
  char why[400] = "no region holds a copy";
  for (size_t pass = 0; pass <= n; pass++) {
    struct svc_region *s = pass == 0 ? home : NULL;
    if (pass > 0 && (ids[pass - 1] == home->id || svc_region_by_id(svc, ids[pass - 1], &s)))
      continue;
    if (s == t) continue;
    bk_buf_free(b);
    bk_buf_init(b, 0);
    rc = svc_region_ready(svc, s);
    if (rc == 0) rc = read_verified(s->bs, &x->hash, x->size, b);
    if (rc == 0) return 0;
    if (rc == BK_ENOMEM) return rc;
    rc = svc_region_err(s, rc);
    if (!first) {
      first = rc;
      snprintf(why, sizeof why, "copy in '%s': %s", s->name, bk_errmsg());
    }
  }
  bk_buf_free(b);
  bk_buf_init(b, 0);
  if (first == BK_ENET) return bk_seterr(BK_ENET, "xorb %s: %s", hex, why);
  return bk_seterr(BK_EHASH, "xorb %s not copied to '%s': no source verifies (%s)", hex, t->name,
                   why);
}

static int copy_xorb(bk_svc *svc, const bk_region_xorb *x, struct svc_region *t,
                     struct copy_out *o) {
  memset(o, 0, sizeof *o);
  uint64_t have = 0;
  int rc = svc_region_ready(svc, t);
  if (rc) return rc;
  rc = bk_blob_stat(t->bs, BK_BLOB_XORB, &x->hash, &have);
  if (rc && rc != BK_ENOTFOUND) return svc_region_err(t, rc);
  if (rc == 0 && have == x->size) {
    rc = adopt_present(svc, x, t);
    if (rc <= 0) return rc; /* recorded, or an error */
  }
  bk_buf b;
  rc = read_source(svc, x, t, &b);
  int existed = 0;
  if (rc == 0) rc = have ? bk_blob_replace(t->bs, BK_BLOB_XORB, &x->hash, b.p, b.len)
                         : bk_blob_put(t->bs, BK_BLOB_XORB, &x->hash, b.p, b.len, &existed);
  bk_buf_free(&b);
  if (rc) return svc_region_err(t, rc);
  if (!existed) {
    o->put = 1;
    o->bytes = x->size;
    atomic_fetch_add(&g_puts, 1);
    kill_hook(atomic_fetch_add(&svc->repl_puts, 1) + 1);
  }
  return bk_db_copy_add(svc->db, BK_BLOB_XORB, &x->hash, t->id);
}

/* -------------------------------------------------------- a set to copy */

struct run {
  bk_svc *svc;
  int64_t bucket_id;
  const char *prefix;
  struct svc_region *target;
  int64_t deadline;
  int64_t job_id;         /* > 0: a pre-warm job's run (progress per copy, lease renewed) */
  const char *owner;
  uint64_t bytes, xorbs;  /* copied (PUT) by this run */
  int did;                /* something was copied or recorded */
  int done;               /* the set is empty (except refused xorbs) */
  int refused;
  char err[BK_PREWARM_ERR_MAX + 1];
};

/* A few xorbs are copied at once (reading, verifying and writing overlap;
 * memory: PARALLEL xorbs at most). */
#define PARALLEL 2

struct worker {
  bk_svc *svc;
  const bk_region_xorb *x;
  struct svc_region *t;
  struct copy_out o;
  int rc;
  char err[400];
};

static void *copy_thread(void *p) {
  struct worker *w = p;
  w->rc = copy_xorb(w->svc, w->x, w->t, &w->o);
  if (w->rc) snprintf(w->err, sizeof w->err, "%s", bk_errmsg());
  return NULL;
}

/* Copies xs[0..n) (n <= PARALLEL) at once: the first on this thread. */
static void copy_group(struct run *r, const bk_region_xorb *xs, size_t n, struct worker *w) {
  pthread_t th[PARALLEL];
  int started[PARALLEL] = {0};
  for (size_t i = 0; i < n; i++) {
    w[i] = (struct worker){.svc = r->svc, .x = &xs[i], .t = r->target};
    if (i > 0) started[i] = pthread_create(&th[i], NULL, copy_thread, &w[i]) == 0;
    if (i > 0 && !started[i]) copy_thread(&w[i]); /* no thread: do it here */
  }
  copy_thread(&w[0]);
  for (size_t i = 1; i < n; i++)
    if (started[i]) pthread_join(th[i], NULL);
}

/* One finished copy: counted, and the job's progress (lease renewed). */
static int copy_done(struct run *r, struct worker *w) {
  if (w->rc == BK_EHASH) {
    r->refused++;
    if (!r->err[0]) snprintf(r->err, sizeof r->err, "%.*s", (int)sizeof r->err - 1, w->err);
    return 0;
  }
  if (w->rc) return bk_seterr(w->rc, "%s", w->err);
  r->did = 1;
  r->bytes += w->o.bytes;
  r->xorbs += w->o.put;
  if (r->job_id <= 0) return 0;
  /* BK_ESTALE: the lease was lost (another node took the job) */
  return bk_db_prewarm_progress(r->svc->db, r->job_id, r->owner, bk_now_ms(), lease_ms(), -1,
                                w->o.bytes, (uint64_t)w->o.put);
}

/* Copies what the target lacks until the set is done or the deadline. A
 * refused xorb is skipped (after_id moves past it) and reported. */
static int run_set(struct run *r) {
  bk_region_xorb page[PAGE];
  int64_t after = 0;
  for (;;) {
    size_t n = 0;
    int rc = bk_db_region_missing(r->svc->db, r->bucket_id, r->prefix, r->target->id, after,
                                  PAGE, page, &n);
    if (rc) return rc;
    if (n == 0) {
      r->done = 1;
      return 0;
    }
    for (size_t i = 0; i < n; i += PARALLEL) {
      if (bk_now_ms() >= r->deadline) return 0;
      size_t k = n - i < PARALLEL ? n - i : PARALLEL;
      struct worker w[PARALLEL];
      copy_group(r, page + i, k, w);
      after = page[i + k - 1].id;
      for (size_t j = 0; j < k; j++) {
        int c = copy_done(r, &w[j]);
        if (c && !rc) rc = c;
      }
      if (rc) return rc;
    }
  }
}

/* ------------------------------------------------------------- the jobs */

static int job_slice(bk_svc *svc, const char *owner, const bk_prewarm_job *j, int64_t budget_ms,
                     int *did) {
  int64_t lease = lease_ms();
  struct svc_region *t = NULL;
  int rc = svc_region_by_id(svc, j->region_id, &t);
  if (rc) return bk_db_prewarm_finish(svc->db, j->id, owner, "failed", bk_errmsg());
  bk_region_stats st;
  if ((rc = bk_db_region_stats(svc->db, j->bucket_id, j->prefix, t->id, &st))) return rc;
  /* bytes_needed: what the job has to bring (set on its first slice) */
  int64_t need = j->bytes_needed == 0 && j->bytes_copied == 0
                     ? (int64_t)(st.bytes_needed - st.bytes_present)
                     : -1;
  if ((rc = bk_db_prewarm_progress(svc->db, j->id, owner, bk_now_ms(), lease, need, 0, 0)))
    return rc;
  int64_t slice = budget_ms < lease / 2 ? budget_ms : lease / 2;
  struct run r = {.svc = svc, .bucket_id = j->bucket_id, .prefix = j->prefix, .target = t,
                  .deadline = bk_now_ms() + slice, .job_id = j->id, .owner = owner};
  rc = run_set(&r);
  *did = r.did;
  if (rc == BK_ENET || rc == BK_ESTALE) return rc; /* unreachable: the next slice retries */
  if (rc) return bk_db_prewarm_finish(svc->db, j->id, owner, "failed", bk_errmsg());
  if (!r.done) return 0; /* budget spent: the lease is ours, the next slice goes on */
  *did = 1;
  return bk_db_prewarm_finish(svc->db, j->id, owner, r.refused ? "failed" : "done",
                              r.refused ? r.err : NULL);
}

/* The warm lists: every (bucket, region) pair, bounded by the deadline. */
static int warm_slice(bk_svc *svc, int64_t deadline, int *did) {
  bk_warm_pair pairs[PAGE];
  int64_t ab = 0, ar = 0;
  for (;;) {
    size_t n = 0;
    int rc = bk_db_warm_page(svc->db, ab, ar, PAGE, pairs, &n);
    if (rc || n == 0) return rc;
    for (size_t i = 0; i < n; i++) {
      if (bk_now_ms() >= deadline) return 0;
      ab = pairs[i].bucket_id;
      ar = pairs[i].region_id;
      struct svc_region *t = NULL;
      if (svc_region_by_id(svc, pairs[i].region_id, &t)) continue;
      struct run r = {.svc = svc, .bucket_id = ab, .prefix = "", .target = t,
                      .deadline = deadline};
      rc = run_set(&r);
      if (r.did) *did = 1;
      if (rc && rc != BK_ENET) return rc;
    }
  }
}

int bk_svc_replicate_step(bk_svc *svc, const char *owner, int64_t budget_ms, int *did_work) {
  *did_work = 0;
  int64_t now = bk_now_ms();
  if (now - svc->regions_loaded_ms >= RELOAD_MS) {
    int rc = svc_regions_reload(svc);
    if (rc) return rc;
  }
  if (!svc->regions_on) return 0;
  if (budget_ms < 1) budget_ms = 1;
  bk_prewarm_job j;
  int rc = bk_db_prewarm_claim(svc->db, owner, now, lease_ms(), &j);
  if (rc == 0) return job_slice(svc, owner, &j, budget_ms, did_work);
  if (rc != BK_ENOTFOUND) return rc;
  bk_clearerr();
  return warm_slice(svc, now + budget_ms, did_work);
}

/* ---------------------------------------------------------------- API */

int bk_svc_prewarm(bk_svc *svc, int64_t bucket_id, const char *region, const char *prefix,
                   int64_t *job_id) {
  if (!svc->regions_on)
    return bk_seterr(BK_EINVAL, "no regions are configured (bucketd region add)");
  struct svc_region *t = NULL;
  int rc = svc_region_by_name(svc, region ? region : "", &t);
  if (rc == BK_ENOTFOUND) rc = bk_seterr(BK_EINVAL, "%s", bk_errmsg());
  if (rc) return rc;
  if (prefix && strlen(prefix) > BK_PATH_MAX) return bk_seterr(BK_EINVAL, "prefix too long");
  rc = bk_db_prewarm_add(svc->db, bucket_id, t->id, prefix, job_id);
  if (rc == 0) bk_svc_replicate_wake(svc);
  return rc;
}

/* Appends region id with roles to the list (or adds the roles). */
static int status_add(bk_svc *svc, bk_svc_region_status *v, int64_t *ids, size_t *n,
                      int64_t id, unsigned roles) {
  for (size_t i = 0; i < *n; i++)
    if (ids[i] == id) {
      v[i].roles |= roles;
      return 0;
    }
  struct svc_region *r = NULL;
  if (svc_region_by_id(svc, id, &r)) return 0; /* removed meanwhile */
  if (*n >= BK_REGIONS_MAX) return 0;
  memset(&v[*n], 0, sizeof v[*n]);
  snprintf(v[*n].name, sizeof v[*n].name, "%s", r->name);
  v[*n].roles = roles;
  ids[(*n)++] = id;
  return 0;
}

static int status_fill(bk_svc *svc, int64_t bucket_id, bk_svc_region_status *s, int64_t id) {
  bk_region_stats st;
  int rc = bk_db_region_stats(svc->db, bucket_id, NULL, id, &st);
  if (rc) return rc;
  s->xorbs_needed = st.xorbs_needed;
  s->bytes_needed = st.bytes_needed;
  s->xorbs_present = st.xorbs_present;
  s->bytes_present = st.bytes_present;
  s->warm = st.xorbs_present >= st.xorbs_needed;
  int64_t now = bk_now_ms();
  s->lag_ms = s->warm || st.oldest_missing_ms <= 0 || now < st.oldest_missing_ms
                  ? 0
                  : now - st.oldest_missing_ms;
  return 0;
}

int bk_svc_bucket_regions(bk_svc *svc, int64_t bucket_id, bk_svc_region_status **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!svc->regions_on) return 0;
  bk_svc_region_status *v = calloc(BK_REGIONS_MAX, sizeof *v);
  int64_t ids[BK_REGIONS_MAX], warm[BK_REGIONS_MAX];
  if (!v) return bk_seterr(BK_ENOMEM, "out of memory");
  struct svc_region *home = NULL;
  size_t nw = 0, nj = 0, k = 0;
  bk_prewarm_job *jobs = NULL;
  int rc = svc_bucket_home(svc, bucket_id, &home);
  if (rc == 0) rc = status_add(svc, v, ids, &k, home->id, BK_SVC_ROLE_HOME);
  if (rc == 0) rc = bk_db_warm_get(svc->db, bucket_id, warm, BK_REGIONS_MAX, &nw);
  for (size_t i = 0; rc == 0 && i < nw; i++)
    rc = status_add(svc, v, ids, &k, warm[i], BK_SVC_ROLE_WARM);
  if (rc == 0) rc = bk_db_prewarm_list(svc->db, bucket_id, &jobs, 100, &nj);
  for (size_t i = 0; rc == 0 && i < nj; i++)
    rc = status_add(svc, v, ids, &k, jobs[i].region_id, BK_SVC_ROLE_PREWARM);
  free(jobs);
  for (size_t i = 0; rc == 0 && i < k; i++) rc = status_fill(svc, bucket_id, &v[i], ids[i]);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  *n = k;
  return 0;
}

/* ------------------------------------------------------- the thread */

/* A failed step, at most one line per 10 s (a region down for an hour is
 * one line per 10 s, not two per second). */
static void repl_report(bk_svc *svc, int rc, int64_t *last_ms) {
  int64_t now = bk_now_ms();
  if (!svc->repl_log || now - *last_ms < 10000) return;
  *last_ms = now;
  char line[600];
  snprintf(line, sizeof line, "replication: %s: %s", bk_strerror(rc), bk_errmsg());
  svc->repl_log(svc->repl_log_ctx, line);
}

static void *repl_loop(void *p) {
  bk_svc *svc = p;
  int64_t last_err_ms = 0;
  while (!atomic_load(&svc->repl_stop)) {
    int did = 0;
    uint64_t gen = wake_count(svc); /* a wakeup during the step is not lost */
    int rc = bk_svc_replicate_step(svc, svc->repl_owner, 2000, &did);
    if (rc) repl_report(svc, rc, &last_err_ms);
    if (atomic_load(&svc->repl_stop)) break;
    if (rc || !did) wait_since(svc, gen, svc->repl_poll_ms);
  }
  return NULL;
}

int bk_svc_replicate_start(bk_svc *svc, const char *owner, int64_t poll_ms, bk_svc_line_cb log,
                           void *log_ctx) {
  if (svc->repl_running) return bk_seterr(BK_EEXIST, "replication thread already running");
  if (!owner || !*owner || strlen(owner) >= sizeof svc->repl_owner)
    return bk_seterr(BK_EINVAL, "bad replication owner name");
  snprintf(svc->repl_owner, sizeof svc->repl_owner, "%s", owner);
  svc->repl_poll_ms = poll_ms > 0 ? poll_ms : 500;
  svc->repl_log = log;
  svc->repl_log_ctx = log_ctx;
  atomic_store(&svc->repl_stop, 0);
  if (pthread_create(&svc->repl_th, NULL, repl_loop, svc) != 0)
    return bk_seterr(BK_EIO, "cannot start the replication thread");
  svc->repl_running = 1;
  return 0;
}

void bk_svc_replicate_stop(bk_svc *svc) {
  if (!svc->repl_running) return;
  atomic_store(&svc->repl_stop, 1);
  bk_svc_replicate_wake(svc);
  pthread_join(svc->repl_th, NULL);
  svc->repl_running = 0;
}
