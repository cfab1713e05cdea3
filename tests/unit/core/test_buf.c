#include "buckets/buf.h"
#include "buckets/error.h"
#include "../test.h"

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
  CHECK_EQ_STR(bk_strerror(BK_ETRUNCATED), "truncated");
}

int main(void) {
  RUN(test_append_and_cap);
  RUN(test_le_and_printf);
  RUN(test_errmsg);
  return test_summary();
}
