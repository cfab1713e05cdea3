/* Unit tests for the server's pure helpers (owned by server-http): range
 * parsing, percent-decoding/encoding, UTF-8 validation, ISO-8601 times and
 * the JSON output helpers. */
#include <stdlib.h>
#include <string.h>

#include "buckets/buf.h"
#include "buckets/error.h"
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
  /* numbers past 2^64-1: a first-pos is past the end (416), a last-pos is
   * clamped (RFC 9110 14.1.2) */
  CHECK_EQ_INT(bk_http_parse_range("bytes=99999999999999999999-", 100, &s, &e), -1);
  s = e = 7;
  CHECK_EQ_INT(bk_http_parse_range("bytes=1-99999999999999999999", 100, &s, &e), 1);
  CHECK_EQ_INT(s, 1);
  CHECK_EQ_INT(e, 99);
}

/* One case: header, size -> want (1/0/-1) and, for 1, the exact range. */
struct rcase {
  const char *h;
  uint64_t size;
  int want;
  uint64_t s, e;
};

static void test_range_edges(void) {
  static const struct rcase cases[] = {
      /* the two headers */
      {"bytes=18446744073709551616-", 1000, -1, 0, 0},
      {"bytes=0-18446744073709551616", 1000, 1, 0, 999},
      /* around 2^64 - 1 */
      {"bytes=18446744073709551615-", 1000, -1, 0, 0},
      {"bytes=18446744073709551614-18446744073709551615", UINT64_MAX, 1,
       18446744073709551614ull, 18446744073709551614ull},
      {"bytes=0-18446744073709551615", UINT64_MAX, 1, 0, UINT64_MAX - 1},
      {"bytes=18446744073709551615-", UINT64_MAX, -1, 0, 0},
      {"bytes=00000000000000000000000000000005-000000000000000000000000000009", 100, 1, 5, 9},
      {"bytes=184467440737095516160000-", 1000, -1, 0, 0},
      {"bytes=10-184467440737095516160000", 1000, 1, 10, 999},
      /* huge suffix: the whole body; "-0" and any range of an empty body: 416 */
      {"bytes=-18446744073709551616", 1000, 1, 0, 999},
      {"bytes=-99999999999999999999999999", 1000, 1, 0, 999},
      {"bytes=-0", 1000, -1, 0, 0},
      {"bytes=-00", 1000, -1, 0, 0},
      {"bytes=-1", 0, -1, 0, 0},
      {"bytes=0-", 0, -1, 0, 0},
      {"bytes=-1", 1000, 1, 999, 999},
      {"bytes=999-", 1000, 1, 999, 999},
      {"bytes=1000-", 1000, -1, 0, 0},
      {"bytes=1000-2000", 1000, -1, 0, 0},
      /* empty and malformed: ignored (whole body) */
      {"", 1000, 0, 0, 0},
      {" ", 1000, 0, 0, 0},
      {"bytes=", 1000, 0, 0, 0},
      {"bytes= ", 1000, 0, 0, 0},
      {"bytes=-", 1000, 0, 0, 0},
      {"bytes=--5", 1000, 0, 0, 0},
      {"bytes=5--6", 1000, 0, 0, 0},
      {"bytes=+5-6", 1000, 0, 0, 0},
      {"bytes=-+5", 1000, 0, 0, 0},
      {"bytes=5-+6", 1000, 0, 0, 0},
      {"bytes=0x10-20", 1000, 0, 0, 0},
      {"bytes=1e3-", 1000, 0, 0, 0},
      {"bytes=5", 1000, 0, 0, 0},
      {"bytes 0-5", 1000, 0, 0, 0},
      {"bytes:0-5", 1000, 0, 0, 0},
      {"bits=0-5", 1000, 0, 0, 0},
      {"bytes=9-5", 1000, 0, 0, 0},
      {"bytes=18446744073709551616-5", 1000, 0, 0, 0}, /* last < first */
      /* multiple ranges: ignored (a server may), also with a huge one */
      {"bytes=0-1,5-6", 1000, 0, 0, 0},
      {"bytes=0-1, 5-6", 1000, 0, 0, 0},
      {"bytes=0-1,", 1000, 0, 0, 0},
      {"bytes=,0-1", 1000, 0, 0, 0},
      {"bytes=18446744073709551616-,0-1", 1000, 0, 0, 0},
      /* whitespace: around the value and after '=' tolerated, inside not */
      {"  bytes=5-6  ", 1000, 1, 5, 6},
      {"\tbytes=\t5-6\t", 1000, 1, 5, 6},
      {"bytes=5 -6", 1000, 0, 0, 0},
      {"bytes=5- 6", 1000, 0, 0, 0},
      {"bytes=- 5", 1000, 0, 0, 0},
      {"bytes =5-6", 1000, 0, 0, 0},
      {"Bytes=5-6", 1000, 1, 5, 6},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct rcase *c = &cases[i];
    uint64_t s = 12345, e = 67890;
    int r = bk_http_parse_range(c->h, c->size, &s, &e);
    if (r != c->want) fprintf(stderr, "  case \"%s\" size %llu\n", c->h, (unsigned long long)c->size);
    CHECK_EQ_INT(r, c->want);
    if (c->want == 1) {
      CHECK(s == c->s);
      CHECK(e == c->e);
    } else {
      CHECK_EQ_INT(s, 12345); /* untouched */
      CHECK_EQ_INT(e, 67890);
    }
  }
  /* the decimal parser itself */
  uint64_t v = 1;
  const char *d = "18446744073709551615";
  CHECK_EQ_INT(bk_http_parse_dec(d, d + strlen(d), &v), 0);
  CHECK(v == UINT64_MAX);
  d = "18446744073709551616";
  CHECK_EQ_INT(bk_http_parse_dec(d, d + strlen(d), &v), 0);
  CHECK(v == UINT64_MAX);
  d = "1844674407370955161";
  CHECK_EQ_INT(bk_http_parse_dec(d, d + strlen(d), &v), 0);
  CHECK(v == 1844674407370955161ull);
  d = "";
  CHECK_EQ_INT(bk_http_parse_dec(d, d, &v), -1);
  d = "12a";
  CHECK_EQ_INT(bk_http_parse_dec(d, d + 3, &v), -1);
  d = "-1";
  CHECK_EQ_INT(bk_http_parse_dec(d, d + 2, &v), -1);
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

/* parses uri; returns the status and fills path (decoded) and query */
static int target(const char *uri, char *path, char *query) {
  char *raw = NULL, *q = NULL, *p = NULL;
  size_t plen = 99;
  const char *err = NULL;
  int st = bk_http_parse_target(uri, &raw, &q, &p, &plen, &err);
  path[0] = query[0] = 0;
  if (st == 0) {
    CHECK(err == NULL);
    CHECK_EQ_INT(plen, strlen(p));
    strcpy(path, p);
    strcpy(query, q);
  } else {
    CHECK(err != NULL);
  }
  free(raw);
  free(q);
  free(p);
  return st;
}

static void test_target(void) {
  char p[256], q[256];
  CHECK_EQ_INT(target("/api/buckets/a/b/tree/x%2Fy?limit=5&cursor=Zg", p, q), 0);
  CHECK_EQ_STR(p, "/api/buckets/a/b/tree/x/y");
  CHECK_EQ_STR(q, "limit=5&cursor=Zg");
  CHECK_EQ_INT(target("/a/b#frag?x=1", p, q), 0); /* a '?' inside the fragment is no query */
  CHECK_EQ_STR(p, "/a/b");
  CHECK_EQ_STR(q, "");
  CHECK_EQ_INT(target("/a/b?x=1#frag", p, q), 0);
  CHECK_EQ_STR(p, "/a/b");
  CHECK_EQ_STR(q, "x=1");
  CHECK_EQ_INT(target("/r/100%.txt", p, q), 0); /* stray '%': the whole path literal */
  CHECK_EQ_STR(p, "/r/100%.txt");
  CHECK_EQ_INT(target("/r/100%.txt%41", p, q), 0);
  CHECK_EQ_STR(p, "/r/100%.txt%41");
  CHECK_EQ_INT(target("/%e2%82%ac", p, q), 0);
  CHECK_EQ_STR(p, "/\xe2\x82\xac");
  CHECK_EQ_INT(target("/a%00b", p, q), 400);
  CHECK_EQ_INT(target("/a%00", p, q), 400);
  CHECK_EQ_INT(target("/%c0%ae", p, q), 400);   /* overlong after decoding */
  CHECK_EQ_INT(target("/\xff", p, q), 400);      /* raw invalid UTF-8 */
  CHECK_EQ_INT(target("*", p, q), 400);
  CHECK_EQ_INT(target("", p, q), 400);
  CHECK_EQ_INT(target("http://x/a", p, q), 400);
}

static void test_query(void) {
  struct bk_http_req r;
  memset(&r, 0, sizeof r);
  CHECK_EQ_INT(bk_http_parse_query(&r, "a=1&&b&c=x+y%2Bz&a=2&=v"), 0);
  CHECK_EQ_INT(r.nparams, 5);
  CHECK_EQ_STR(bk_http_param(&r, "a"), "1"); /* first wins */
  CHECK_EQ_STR(bk_http_param(&r, "b"), "");
  CHECK_EQ_STR(bk_http_param(&r, "c"), "x y+z");
  CHECK_EQ_STR(bk_http_param(&r, ""), "v");
  CHECK(bk_http_param(&r, "d") == NULL);
  size_t before = r.nparams;
  CHECK(bk_http_parse_query(&r, "x=%zz") != 0);
  CHECK_EQ_INT(r.nparams, before);
  CHECK(bk_http_parse_query(&r, "y=%00") != 0);
  for (size_t i = 0; i < r.nparams; i++) {
    free(r.params[i].key);
    free(r.params[i].val);
  }
  free(r.params);
  memset(&r, 0, sizeof r);
  char big[4096];
  size_t n = 0;
  for (int i = 0; i < BK_HTTP_MAX_PARAMS + 1; i++) n += (size_t)snprintf(big + n, sizeof big - n, "p=%d&", i % 10);
  CHECK_EQ_INT(bk_http_parse_query(&r, big), BK_ELIMIT);
  CHECK_EQ_INT(r.nparams, BK_HTTP_MAX_PARAMS);
  for (size_t i = 0; i < r.nparams; i++) {
    free(r.params[i].key);
    free(r.params[i].val);
  }
  free(r.params);
}

static void test_bearer(void) {
  struct bk_kv h = {(char *)"AUTHORIZATION", (char *)"  bearer   hf_abc"};
  struct bk_http_req r;
  memset(&r, 0, sizeof r);
  r.headers = &h;
  r.nheaders = 1;
  CHECK_EQ_STR(bk_http_bearer(&r), "hf_abc");
  h.val = (char *)"Bearer ";
  CHECK(bk_http_bearer(&r) == NULL);
  h.val = (char *)"Basic abc";
  CHECK(bk_http_bearer(&r) == NULL);
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

/* The one BK_E* -> HTTP status map (docs/server.md "Errors"), used by the
 * Hub API, CAS and web pages alike. */
static void test_status_map(void) {
  static const struct { int rc, status; } T[] = {
      {BK_OK, 200},         {BK_EINVAL, 400},    {BK_EFORMAT, 400}, {BK_ETRUNCATED, 400},
      {BK_EVERSION, 400},   {BK_ESIZE, 400},     {BK_EHASH, 400},   {BK_ECOMPRESS, 400},
      {BK_EAUTH, 401},      {BK_EPERM, 403},     {BK_ENOTFOUND, 404}, {BK_EEXIST, 409},
      {BK_ELIMIT, 413},     {BK_ENOMEM, 503},    {BK_EDB, 503},     {BK_ESTALE, 503},
      {BK_ENOSPC, 507},     {BK_ENOTSUP, 501},   {BK_EIO, 500},     {BK_ENET, 503},
      {BK_EBUSY, 409},
  };
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    CHECK_EQ_INT(bk_http_status(T[i].rc), T[i].status);
    CHECK_EQ_INT(bk_http_retryable(T[i].rc), T[i].status == 503);
  }
  CHECK(strcmp(bk_http_status_code(501), "NotImplemented") == 0);
  CHECK(strcmp(bk_http_status_code(503), "ServiceUnavailable") == 0);
  /* the service's "region 'eu' is unavailable: ..." is passed to the client;
   * other transport failures keep the generic 5xx text */
  bk_seterr(BK_ENET, "region 'eu' is unavailable: connection refused");
  CHECK(bk_http_region_unavailable(BK_ENET));
  CHECK(!bk_http_region_unavailable(BK_EIO));
  bk_seterr(BK_ENET, "s3: GET http://127.0.0.1:1/x: connection refused");
  CHECK(!bk_http_region_unavailable(BK_ENET));
}

int main(void) {
  RUN(test_range);
  RUN(test_range_edges);
  RUN(test_unescape);
  RUN(test_escape);
  RUN(test_utf8);
  RUN(test_target);
  RUN(test_query);
  RUN(test_bearer);
  RUN(test_iso8601);
  RUN(test_json);
  RUN(test_status_map);
  return test_summary();
}
