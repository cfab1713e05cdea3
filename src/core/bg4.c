/* buckets — byte grouping 4 (see include/buckets/bg4.h). */
#include "buckets/bg4.h"

#include <string.h>

/* Start offsets of the four streams for an input of n bytes. */
static void bg4_starts(size_t n, size_t st[4]) {
  size_t q = n / 4, r = n % 4;
  st[0] = 0;
  for (int k = 1; k < 4; k++) st[k] = st[k - 1] + q + ((size_t)(k - 1) < r);
}

void bk_bg4_split(const uint8_t *in, size_t n, uint8_t *out) {
  size_t st[4];
  bg4_starts(n, st);
  uint8_t *o0 = out + st[0], *o1 = out + st[1], *o2 = out + st[2],
          *o3 = out + st[3];
  size_t q = n / 4, i = 0;
  for (; i < q; i++) {
    o0[i] = in[4 * i];
    o1[i] = in[4 * i + 1];
    o2[i] = in[4 * i + 2];
    o3[i] = in[4 * i + 3];
  }
  /* Tail: the first n%4 streams get one more byte each. */
  size_t r = n % 4;
  uint8_t *os[4] = {o0, o1, o2, o3};
  for (size_t k = 0; k < r; k++) os[k][q] = in[4 * q + k];
}

void bk_bg4_join(const uint8_t *in, size_t n, uint8_t *out) {
  size_t st[4];
  bg4_starts(n, st);
  const uint8_t *s0 = in + st[0], *s1 = in + st[1], *s2 = in + st[2],
                *s3 = in + st[3];
  size_t q = n / 4;
  for (size_t i = 0; i < q; i++) {
    out[4 * i] = s0[i];
    out[4 * i + 1] = s1[i];
    out[4 * i + 2] = s2[i];
    out[4 * i + 3] = s3[i];
  }
  size_t r = n % 4;
  const uint8_t *ss[4] = {s0, s1, s2, s3};
  for (size_t k = 0; k < r; k++) out[4 * q + k] = ss[k][q];
}
