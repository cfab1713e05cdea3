#include "buckets/buf.h"
#include "buckets/error.h"
#include "../test.h"

#include <stdint.h>
#include <stdlib.h>

static void test_append_and_cap(void) {
  bk_buf b;
  bk_buf_init(&b, 10);
  CHECK_EQ_INT(bk_buf_append(&b, "hello", 5), 0);
  CHECK_EQ_INT(bk_buf_append(&b, "world", 5), 0);
  CHECK_EQ_INT(b.len, 10);
  CHECK_EQ_INT(bk_buf_append(&b, "!", 1), BK_ELIMIT);
  CHECK_EQ_INT(b.len, 10);
  CHECK(memcmp(b.p, "helloworld", 10) == 0);
  bk_buf_free(&b);
}

static void test_le_and_printf(void) {
  bk_buf b;
  bk_buf_init(&b, 1 << 20);
  CHECK_EQ_INT(bk_buf_append_u32le(&b, 0x01020304u), 0);
  CHECK_EQ_INT(bk_buf_append_u64le(&b, 0x1122334455667788ull), 0);
  CHECK_EQ_INT(b.p[0], 4);
  CHECK_EQ_INT(bk_load_u64le(b.p + 4), (long long)0x1122334455667788ull);
  bk_buf_reset(&b);
  CHECK_EQ_INT(bk_buf_printf(&b, "%s : %d\n", "x", 42), 0);
  CHECK_EQ_INT(b.len, 7);
  CHECK(memcmp(b.p, "x : 42\n", 7) == 0);
  bk_buf_free(&b);
}

static void test_errmsg(void) {
  CHECK_EQ_INT(bk_seterr(BK_EHASH, "bad %d", 7), BK_EHASH);
  CHECK_EQ_STR(bk_errmsg(), "bad 7");
  /* wrapping the current message, as callers do */
  bk_seterr(BK_EINVAL, "%s", bk_errmsg());
  CHECK_EQ_STR(bk_errmsg(), "bad 7");
  bk_seterr(BK_ENET, "region 'eu' is unavailable: %s", bk_errmsg());
  CHECK_EQ_STR(bk_errmsg(), "region 'eu' is unavailable: bad 7");
  CHECK_EQ_STR(bk_strerror(BK_ETRUNCATED), "truncated");
}

static void test_grow(void) {
  size_t cap = 0;
  int *a = NULL;
  for (size_t n = 0; n < 100; n++) {
    int *na = bk_grow(a, n, &cap, sizeof *na, 4, 0);
    CHECK(na != NULL);
    if (!na) break;
    a = na;
    a[n] = (int)n;
  }
  CHECK_EQ_INT(cap, 128); /* 4, 8, ..., 128 */
  int same = 1;
  for (int i = 0; i < 100; i++) same &= a[i] == i;
  CHECK(same);
  /* no growth needed: the same array back */
  CHECK(bk_grow(a, 50, &cap, sizeof *a, 4, 0) == a);
  /* a maximum is never passed; at the maximum the array stays as it was */
  size_t c2 = 0;
  int *b = bk_grow(NULL, 0, &c2, sizeof *b, 256, 100);
  CHECK(b != NULL);
  CHECK_EQ_INT(c2, 100);
  CHECK(bk_grow(b, 100, &c2, sizeof *b, 256, 100) == NULL);
  CHECK_EQ_INT(c2, 100);
  /* a size that would overflow is refused */
  size_t c3 = SIZE_MAX / 2 + 1;
  CHECK(bk_grow(b, c3, &c3, 2, 1, 0) == NULL);
  free(b);
  free(a);
}

int main(void) {
  RUN(test_append_and_cap);
  RUN(test_le_and_printf);
  RUN(test_errmsg);
  RUN(test_grow);
  return test_summary();
}
