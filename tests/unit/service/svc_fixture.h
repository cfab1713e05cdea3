/* Test-only helpers shared by the service unit tests (header with static
 * functions, compiled into test programs only): deterministic incompressible
 * bytes, a serialized xorb built from them, and a xorb put streamed through
 * the service. static inline: a test includes what it uses.
 *
 * Ownership: make_xorb's *out is malloc'd, the caller frees it. */
#ifndef BUCKETS_TEST_SVC_FIXTURE_H
#define BUCKETS_TEST_SVC_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/hash.h"
#include "buckets/xorb.h"
#include "service/service.h"

/* n pseudo-random bytes from seed (an LCG's top byte: incompressible). */
static inline void fill(uint8_t *p, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    p[i] = (uint8_t)(seed >> 56);
  }
}

/* A serialized xorb of nchunks (< 1000) incompressible chunks of 3000 bytes;
 * chunk c of seed s is fill(s * 1000 + c), so distinct seeds share no chunk.
 * 0, or negative when building failed. */
static inline int make_xorb(uint64_t seed, int nchunks, bk_hash *xh, uint8_t **out, size_t *len) {
  bk_xorb_builder *xb = NULL;
  if (bk_xorb_builder_new(1, &xb)) return -1;
  uint8_t chunk[3000];
  for (int c = 0; c < nchunks; c++) {
    fill(chunk, sizeof chunk, seed * 1000 + (uint64_t)c);
    if (bk_xorb_builder_add(xb, chunk, sizeof chunk, NULL)) return bk_xorb_builder_free(xb), -2;
  }
  const uint8_t *body;
  if (bk_xorb_builder_finish(xb, xh, &body, len)) return bk_xorb_builder_free(xb), -3;
  *out = malloc(*len);
  if (*out) memcpy(*out, body, *len);
  bk_xorb_builder_free(xb);
  return *out ? 0 : -4;
}

/* Streams body in three pieces through the service's xorb put for bucket
 * bid; returns commit's rc. inserted / vfail may be NULL. */
static inline int put_xorb_ex(bk_svc *svc, int64_t bid, const bk_hash *want, const uint8_t *body,
                       size_t len, int *inserted, int *vfail) {
  bk_svc_xorb_put *p = NULL;
  int rc = bk_svc_xorb_open(svc, want, bid, (int64_t)len, &p);
  if (rc) return rc;
  size_t a = len / 3, b = 2 * len / 3;
  bk_svc_xorb_write(p, body, a);
  bk_svc_xorb_write(p, body + a, b - a);
  bk_svc_xorb_write(p, body + b, len - b);
  int ins = 0, vf = 0;
  rc = bk_svc_xorb_commit(p, inserted ? inserted : &ins, vfail ? vfail : &vf);
  bk_svc_xorb_free(p);
  return rc;
}

#endif
