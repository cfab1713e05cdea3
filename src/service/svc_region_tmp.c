/* TEMPORARY (dropped at merge): placeholders of the contract-2 region
 * functions so that the rapi layer (HTTP, admin commands, CLI, Python, web)
 * builds and can be tested before part "rcore" lands the real ones. They
 * behave as a deployment WITHOUT regions: none configured, bucket regions are
 * the labels 'us'/'eu', nothing to replicate. Owns no memory beyond what its
 * functions hand out (documented in service.h). */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"
#include "service/service.h"

static pthread_mutex_t tmp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tmp_cv = PTHREAD_COND_INITIALIZER;
static int tmp_woken;

int bk_svc_region_add(bk_svc *svc, const char *name, const char *blob_url, char *msg,
                      size_t msgn) {
  (void)svc, (void)name, (void)blob_url;
  if (msgn) msg[0] = 0;
  return bk_seterr(BK_ENOTSUP, "regions are not available in this build (placeholder)");
}

int bk_svc_region_list(bk_svc *svc, bk_svc_region **out, size_t *n) {
  (void)svc;
  *out = NULL;
  *n = 0;
  return 0;
}

int bk_svc_region_remove(bk_svc *svc, const char *name, int force) {
  (void)svc, (void)force;
  return bk_seterr(BK_ENOTFOUND, "no region '%.40s' is configured", name);
}

int bk_svc_regions_enabled(bk_svc *svc) {
  (void)svc;
  return 0;
}

int bk_svc_region_check_name(bk_svc *svc, const char *name) {
  (void)svc;
  if (name && (!strcmp(name, "us") || !strcmp(name, "eu"))) return 0;
  return bk_seterr(BK_EINVAL, "unknown region '%.40s' (no regions configured: us or eu)",
                   name ? name : "");
}

int bk_svc_bucket_warm_set(bk_svc *svc, int64_t bucket_id, const char *const *names, size_t n) {
  (void)svc, (void)bucket_id;
  if (n == 0) return 0;
  return bk_seterr(BK_EINVAL, "unknown region '%.40s' (no regions configured)", names[0]);
}

int bk_svc_bucket_regions(bk_svc *svc, int64_t bucket_id, bk_svc_region_status **out,
                          size_t *n) {
  (void)svc, (void)bucket_id;
  *out = NULL;
  *n = 0;
  return 0;
}

int bk_svc_prewarm(bk_svc *svc, int64_t bucket_id, const char *region, const char *prefix,
                   int64_t *job_id) {
  (void)svc, (void)bucket_id, (void)prefix;
  *job_id = 0;
  return bk_seterr(BK_EINVAL, "unknown region '%.40s' (no regions configured)",
                   region ? region : "");
}

int bk_svc_replicate_step(bk_svc *svc, const char *owner, int64_t budget_ms, int *did_work) {
  (void)svc, (void)owner, (void)budget_ms;
  *did_work = 0;
  return 0;
}

void bk_svc_replicate_wake(bk_svc *svc) {
  (void)svc;
  pthread_mutex_lock(&tmp_mu);
  tmp_woken = 1;
  pthread_cond_broadcast(&tmp_cv);
  pthread_mutex_unlock(&tmp_mu);
}

int bk_svc_replicate_wait(bk_svc *svc, int64_t max_ms) {
  (void)svc;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += max_ms / 1000;
  ts.tv_nsec += (long)(max_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&tmp_mu);
  while (!tmp_woken)
    if (pthread_cond_timedwait(&tmp_cv, &tmp_mu, &ts) != 0) break;
  tmp_woken = 0;
  pthread_mutex_unlock(&tmp_mu);
  return 0;
}
