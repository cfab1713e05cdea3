/* Test fixtures shared by the metadata tests (tests/unit/store/test_db.c)
 * and the service tests that register rows directly
 * (tests/unit/service/test_svc_meta.c). Include after ../test.h. */
#ifndef BUCKETS_TEST_META_FIXTURES_H
#define BUCKETS_TEST_META_FIXTURES_H

#include <stdint.h>
#include <string.h>

#include "buckets/hash.h"
#include "buckets/xorb.h"
#include "store/db.h"

/* A deterministic hash from seed. */
static inline void mk_hash(bk_hash *h, uint64_t seed) {
  seed ^= 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < 32; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    h->b[i] = (uint8_t)(seed >> 56);
  }
}

/* Registers a xorb with n chunks (record_len 100+i, unpacked 1000+i) in db;
 * chunk hashes derived from seed; chunk `dedup_idx` (if >= 0) gets a tail
 * of 0 (eligible for global dedup). */
__attribute__((unused, noinline)) static void reg_xorb(bk_db *db, bk_hash *xh, uint64_t seed, uint32_t n, int dedup_idx,
                     bk_xorb_chunk *out) {
  bk_xorb_chunk ch[64];
  uint32_t ro = 0, uo = 0;
  mk_hash(xh, seed);
  for (uint32_t i = 0; i < n; i++) {
    mk_hash(&ch[i].hash, seed * 1000 + i + 1);
    if ((int)i == dedup_idx) memset(ch[i].hash.b + 24, 0, 8);
    else ch[i].hash.b[24] |= 1; /* tail % 1024 != 0 */
    ch[i].record_offset = ro;
    ch[i].record_len = 100 + i;
    ch[i].unpacked_offset = uo;
    ch[i].unpacked_len = 1000 + i;
    ch[i].scheme = 0;
    ro += ch[i].record_len;
    uo += ch[i].unpacked_len;
  }
  int existed = -1;
  CHECK_EQ_INT(bk_db_xorb_register(db, xh, ro, ch, n, &existed), 0);
  CHECK_EQ_INT(existed, 0);
  if (out) memcpy(out, ch, n * sizeof ch[0]);
}

#endif
