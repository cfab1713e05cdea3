/* Unit tests for src/server/web_html.c: escaping, URLs, sizes, dates, templates. */
#include <string.h>

#include "../test.h"
#include "buckets/buf.h"
#include "buckets/error.h"
#include "server/web_html.h"

static char *esc(const char *s, size_t len, bk_buf *b) {
  bk_buf_reset(b);
  if (bk_html_escape(b, s, len) < 0) return NULL;
  bk_buf_append_u8(b, 0);
  return (char *)b->p;
}

static void test_escape_specials(void) {
  bk_buf b;
  bk_buf_init(&b, 1 << 16);
  const char *s = "<script>alert(1)</script>.txt";
  CHECK_EQ_STR(esc(s, strlen(s), &b), "&lt;script&gt;alert(1)&lt;/script&gt;.txt");
  s = "a&b \"q\" 'x'";
  CHECK_EQ_STR(esc(s, strlen(s), &b), "a&amp;b &quot;q&quot; &#39;x&#39;");
  CHECK_EQ_STR(esc("", 0, &b), "");
  bk_buf_free(&b);
}

static void test_escape_utf8_and_controls(void) {
  bk_buf b;
  bk_buf_init(&b, 1 << 16);
  const char ok[] = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  CHECK_EQ_STR(esc(ok, strlen(ok), &b), ok);
  /* lone continuation byte, overlong encoding, surrogate, truncated tail */
  CHECK_EQ_STR(esc("a\x80z", 3, &b), "a\xEF\xBF\xBDz");
  CHECK_EQ_STR(esc("\xC0\xAF", 2, &b), "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK_EQ_STR(esc("\xED\xA0\x80", 3, &b), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK_EQ_STR(esc("x\xE2\x82", 3, &b), "x\xEF\xBF\xBD\xEF\xBF\xBD");
  /* NUL and escape chars replaced, tab/newline kept */
  CHECK_EQ_STR(esc("a\0b\x1b\tc\n", 7, &b), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\tc\n");
  bk_buf_free(&b);
}

static void test_escape_cap(void) {
  bk_buf b;
  bk_buf_init(&b, 8);
  CHECK_EQ_INT(bk_html_escape(&b, "<<<", 3), BK_ELIMIT);
  bk_buf_free(&b);
}

static void test_url(void) {
  bk_buf b;
  bk_buf_init(&b, 1024);
  bk_html_url(&b, "a b/<c>&\"d\".txt", 1);
  bk_buf_append_u8(&b, 0);
  CHECK_EQ_STR((char *)b.p, "a%20b/%3Cc%3E%26%22d%22.txt");
  bk_buf_reset(&b);
  bk_html_url(&b, "x/y?z=1#", 0);
  bk_buf_append_u8(&b, 0);
  CHECK_EQ_STR((char *)b.p, "x%2Fy%3Fz%3D1%23");
  bk_buf_free(&b);
}

static void test_sizes(void) {
  char o[32];
  bk_human_size(0, o);
  CHECK_EQ_STR(o, "0 B");
  bk_human_size(1023, o);
  CHECK_EQ_STR(o, "1023 B");
  bk_human_size(1024, o);
  CHECK_EQ_STR(o, "1.00 KiB");
  bk_human_size(1536, o);
  CHECK_EQ_STR(o, "1.50 KiB");
  bk_human_size(15 * 1024 * 1024 + 300 * 1024, o);
  CHECK_EQ_STR(o, "15.3 MiB");
  bk_human_size(1048575, o); /* just under 1 MiB */
  CHECK_EQ_STR(o, "1.00 MiB");
  bk_human_size(UINT64_MAX, o);
  CHECK_EQ_STR(o, "16.0 EiB");
}

static void test_dates_and_ratio(void) {
  char o[32];
  bk_html_date(0, o);
  CHECK_EQ_STR(o, "-");
  bk_html_date(1764198960000LL, o); /* 2025-11-26 23:16:00 UTC */
  CHECK_EQ_STR(o, "2025-11-26 23:16 UTC");
  bk_dedup_ratio(250, 100, o);
  CHECK_EQ_STR(o, "2.50x");
  bk_dedup_ratio(5, 0, o);
  CHECK_EQ_STR(o, "-");
}

static const char *rend(const char *t, const struct bk_tvar *v, size_t n, bk_buf *b, int *rc) {
  bk_buf_reset(b);
  *rc = bk_tmpl_render(b, t, strlen(t), v, n);
  bk_buf_append_u8(b, 0);
  return (const char *)b->p;
}

static void test_template(void) {
  bk_buf b;
  int rc;
  bk_buf_init(&b, 1 << 16);
  struct bk_tvar v[] = {{"name", "<b>&"}, {"html", "<i>ok</i>"}, {"yes", "1"},
                        {"no", "0"}, {"empty", ""}, {"unset", NULL}};
  CHECK_EQ_STR(rend("Hi {{name}}!", v, 6, &b, &rc), "Hi &lt;b&gt;&amp;!");
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_STR(rend("[{{{html}}}]", v, 6, &b, &rc), "[<i>ok</i>]");
  CHECK_EQ_STR(rend("{{#yes}}Y{{/yes}}{{#no}}N{{/no}}{{^no}}n{{/no}}", v, 6, &b, &rc),
               "Yn");
  CHECK_EQ_STR(rend("{{#empty}}E{{/empty}}{{^unset}}U{{/unset}}{{unset}}.", v, 6, &b, &rc),
               "U.");
  CHECK_EQ_STR(rend("{{#yes}}a{{#yes}}b{{/yes}}c{{/yes}}", v, 6, &b, &rc), "abc");
  CHECK_EQ_STR(rend("{{#no}}a{{#no}}b{{/no}}c{{/no}}d", v, 6, &b, &rc), "d");
  CHECK_EQ_STR(rend("{{#yes}}{{name}}{{/yes}}", v, 6, &b, &rc), "&lt;b&gt;&amp;");
  CHECK_EQ_STR(rend("a { b } {c}", v, 6, &b, &rc), "a { b } {c}");
  CHECK_EQ_INT(rc, 0);
  rend("{{nope}}", v, 6, &b, &rc);
  CHECK_EQ_INT(rc, BK_ENOTFOUND);
  rend("{{name", v, 6, &b, &rc);
  CHECK_EQ_INT(rc, BK_EFORMAT);
  rend("{{#yes}}x", v, 6, &b, &rc);
  CHECK_EQ_INT(rc, BK_EFORMAT);
  rend("{{/yes}}", v, 6, &b, &rc);
  CHECK_EQ_INT(rc, BK_EFORMAT);
  rend("{{{html}}", v, 6, &b, &rc);
  CHECK_EQ_INT(rc, BK_EFORMAT);
  bk_buf_free(&b);
}

int main(void) {
  RUN(test_escape_specials);
  RUN(test_escape_utf8_and_controls);
  RUN(test_escape_cap);
  RUN(test_url);
  RUN(test_sizes);
  RUN(test_dates_and_ratio);
  RUN(test_template);
  return test_summary();
}
