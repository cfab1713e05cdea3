/* Unit tests for the server's pure helpers (owned by server-http): range
 * parsing, percent-decoding/encoding, UTF-8 validation, ISO-8601 times and
 * the JSON output helpers. */
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "buckets/hash.h"
#include "server/http.h"
#include "server/jsonout.h"
#include "../test.h"

static void test_range(void) {
  uint64_t s = 0, e = 0;
  CHECK_EQ_INT(bk_http_parse_range("bytes=0-0", 100, &s, &e), 1);
  CHECK_EQ_INT(s, 0);
  CHECK_EQ_INT(e, 0);
  CHECK_EQ_INT(bk_http_parse_range("bytes=10-19", 100, &s, &e), 1);
  CHECK_EQ_INT(s, 10);
  CHECK_EQ_INT(e, 19);
  CHECK_EQ_INT(bk_http_parse_range("bytes=90-", 100, &s, &e), 1);
  CHECK_EQ_INT(e, 99);
  CHECK_EQ_INT(bk_http_parse_range("bytes=90-1000", 100, &s, &e), 1); /* clamped */
  CHECK_EQ_INT(e, 99);
  CHECK_EQ_INT(bk_http_parse_range("bytes=-10", 100, &s, &e), 1);
  CHECK_EQ_INT(s, 90);
  CHECK_EQ_INT(e, 99);
  CHECK_EQ_INT(bk_http_parse_range("bytes=-1000", 100, &s, &e), 1);
  CHECK_EQ_INT(s, 0);
  CHECK_EQ_INT(bk_http_parse_range("BYTES= 5-6 ", 100, &s, &e), 1);
  CHECK_EQ_INT(s, 5);
  /* unsatisfiable */
  CHECK_EQ_INT(bk_http_parse_range("bytes=100-", 100, &s, &e), -1);
  CHECK_EQ_INT(bk_http_parse_range("bytes=-0", 100, &s, &e), -1);
  CHECK_EQ_INT(bk_http_parse_range("bytes=0-0", 0, &s, &e), -1);
  /* ignored (whole body) */
  CHECK_EQ_INT(bk_http_parse_range(NULL, 100, &s, &e), 0);
  CHECK_EQ_INT(bk_http_parse_range("items=0-1", 100, &s, &e), 0);
  CHECK_EQ_INT(bk_http_parse_range("bytes=5-1", 100, &s, &e), 0);
  CHECK_EQ_INT(bk_http_parse_range("bytes=0-1,5-6", 100, &s, &e), 0);
  CHECK_EQ_INT(bk_http_parse_range("bytes=a-b", 100, &s, &e), 0);
  CHECK_EQ_INT(bk_http_parse_range("bytes=-", 100, &s, &e), 0);
  CHECK_EQ_INT(bk_http_parse_range("bytes=99999999999999999999-", 100, &s, &e), 0);
  CHECK_EQ_INT(bk_http_parse_range("bytes=1-99999999999999999999", 100, &s, &e), 0);
}

static void test_unescape(void) {
  size_t n = 0;
  char *s = bk_http_unescape("a%2Fb%20c+d", 11, 0, &n);
  CHECK_EQ_STR(s, "a/b c+d");
  CHECK_EQ_INT(n, 7);
  free(s);
  s = bk_http_unescape("a+b", 3, 1, NULL);
  CHECK_EQ_STR(s, "a b");
  free(s);
  s = bk_http_unescape("%e2%82%ac", 9, 0, NULL);
  CHECK_EQ_STR(s, "\xe2\x82\xac");
  free(s);
  CHECK(bk_http_unescape("%", 1, 0, NULL) == NULL);
  CHECK(bk_http_unescape("%4", 2, 0, NULL) == NULL);
  CHECK(bk_http_unescape("%zz", 3, 0, NULL) == NULL);
  CHECK(bk_http_unescape("a%00b", 5, 0, NULL) == NULL);
  /* length-bounded: the escape at the cut is incomplete */
  CHECK(bk_http_unescape("ab%41", 4, 0, NULL) == NULL);
  s = bk_http_unescape("", 0, 0, &n);
  CHECK_EQ_STR(s, "");
  CHECK_EQ_INT(n, 0);
  free(s);
}

static void test_escape(void) {
  bk_buf b;
  bk_buf_init(&b, 1024);
  CHECK_EQ_INT(bk_http_escape(&b, "a b/c?d&e=\xe2\x82\xac~", 1), 0);
  bk_buf_append_u8(&b, 0);
  CHECK_EQ_STR((char *)b.p, "a%20b/c%3Fd%26e%3D%E2%82%AC~");
  bk_buf_reset(&b);
  CHECK_EQ_INT(bk_http_escape(&b, "a/b", 0), 0);
  bk_buf_append_u8(&b, 0);
  CHECK_EQ_STR((char *)b.p, "a%2Fb");
  /* round trip */
  char *r = bk_http_unescape((char *)b.p, strlen((char *)b.p), 0, NULL);
  CHECK_EQ_STR(r, "a/b");
  free(r);
  bk_buf_free(&b);
  bk_buf_init(&b, 4); /* cap enforced */
  CHECK(bk_http_escape(&b, "abcdef", 0) != 0);
  bk_buf_free(&b);
}

static void test_utf8(void) {
  CHECK(bk_utf8_valid("plain", 5));
  CHECK(bk_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
  CHECK(!bk_utf8_valid("\xc0\xae", 2));         /* overlong '.' */
  CHECK(!bk_utf8_valid("\xe0\x80\xae", 3));     /* overlong 3-byte */
  CHECK(!bk_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
  CHECK(!bk_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
  CHECK(!bk_utf8_valid("\xff", 1));
  CHECK(!bk_utf8_valid("\xe2\x82", 2));         /* truncated */
  CHECK(!bk_utf8_valid("\xe2\x28\xa1", 3));     /* bad continuation */
  CHECK(bk_utf8_valid("", 0));
}

static void test_iso8601(void) {
  char t[32];
  bk_iso8601_ms(0, t);
  CHECK_EQ_STR(t, "1970-01-01T00:00:00.000Z");
  bk_iso8601_ms(1700000000123LL, t);
  CHECK_EQ_STR(t, "2023-11-14T22:13:20.123Z");
  bk_iso8601_ms(-5, t);
  CHECK_EQ_STR(t, "1970-01-01T00:00:00.000Z");
}

static void test_json(void) {
  bk_buf b;
  bk_buf_init(&b, 1 << 16);
  CHECK_EQ_INT(bk_jstr(&b, "a\"b\\c\n\x01\xe2\x82\xac"), 0);
  bk_buf_append_u8(&b, 0);
  CHECK_EQ_STR((char *)b.p, "\"a\\\"b\\\\c\\n\\u0001\xe2\x82\xac\"");
  bk_buf_reset(&b);
  CHECK_EQ_INT(bk_jkey(&b, "k"), 0);
  CHECK_EQ_INT(bk_jtime(&b, 1000), 0);
  bk_buf_append_u8(&b, 0);
  CHECK_EQ_STR((char *)b.p, "\"k\":\"1970-01-01T00:00:01.000Z\"");
  bk_buf_reset(&b);
  bk_hash h;
  memset(&h, 0, sizeof h);
  CHECK_EQ_INT(bk_jhash(&b, &h), 0);
  CHECK_EQ_INT(b.len, 66);
  CHECK_EQ_INT(BK_LIT(&b, "xy"), 0);
  CHECK_EQ_INT(b.len, 68);
  bk_buf_free(&b);
  bk_buf_init(&b, 8); /* cap enforced, buffer unchanged on failure */
  CHECK(bk_jstr(&b, "0123456789") != 0);
  bk_buf_free(&b);
}

int main(void) {
  RUN(test_range);
  RUN(test_unescape);
  RUN(test_escape);
  RUN(test_utf8);
  RUN(test_iso8601);
  RUN(test_json);
  return test_summary();
}
