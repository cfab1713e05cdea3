/* Unit tests for src/server/web_html.c: escaping, URLs, sizes, dates, templates. */
#include <string.h>

#include "../test.h"
#include <stdlib.h>

#include "store/accounts.h"
#include "buckets/buf.h"
#include "buckets/error.h"
#include "server/web_form.h"
#include "server/web_html.h"
#include "server/web_preview.h"
#include "server/web_session.h"

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


static void test_form_urlencoded(void) {
  struct web_form f;
  const char *body = "csrf=ab%2Fc&name=my+bucket&private=1&empty=&flag";
  CHECK_EQ_INT(web_form_parse_urlencoded(&f, body, strlen(body)), 0);
  CHECK_EQ_STR(web_form_get(&f, "csrf"), "ab/c");
  CHECK_EQ_STR(web_form_get(&f, "name"), "my bucket");
  CHECK_EQ_STR(web_form_get(&f, "empty"), "");
  CHECK_EQ_STR(web_form_get(&f, "flag"), "");
  CHECK(web_form_get(&f, "nope") == NULL);
  web_form_free(&f);
  CHECK_EQ_INT(web_form_parse_urlencoded(&f, "a=%4", 4), BK_EFORMAT);
  CHECK_EQ_INT(web_form_parse_urlencoded(&f, "a=%00", 5), BK_EFORMAT);
}

static void test_form_multipart(void) {
  struct web_form f;
  const char *ct = "multipart/form-data; boundary=XyZ";
  const char body[] =
      "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.bin\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n\x00\x01\r\n--X\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"<b>.txt\"\r\n\r\n\r\n"
      "--XyZ--\r\n";
  CHECK_EQ_INT(web_form_parse_multipart(&f, ct, (const uint8_t *)body, sizeof body - 1), 0);
  CHECK_EQ_INT(f.n, 3);
  CHECK_EQ_STR(web_form_get(&f, "csrf"), "tok");
  if (f.n == 3) {
    CHECK_EQ_STR(f.f[1].filename, "a.bin");
    CHECK_EQ_INT(f.f[1].len, 7); /* \0 \1 \r \n - - X */
    CHECK(f.f[1].data[0] == 0 && f.f[1].data[1] == 1);
    CHECK_EQ_STR(f.f[2].filename, "<b>.txt");
    CHECK_EQ_INT(f.f[2].len, 0);
  }
  web_form_free(&f);
  /* missing closing boundary, no boundary param */
  const char bad[] = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv";
  CHECK_EQ_INT(web_form_parse_multipart(&f, ct, (const uint8_t *)bad, sizeof bad - 1), BK_EFORMAT);
  CHECK_EQ_INT(web_form_parse_multipart(&f, "multipart/form-data", (const uint8_t *)body,
                                        sizeof body - 1), BK_EFORMAT);
}

static const char *prev(const char *path, const char *data, int truncated, bk_buf *b) {
  bk_buf_reset(b);
  web_preview_render(b, path, (const uint8_t *)data, strlen(data), truncated);
  bk_buf_append_u8(b, 0);
  return (const char *)b->p;
}

static void test_preview(void) {
  bk_buf b;
  bk_buf_init(&b, 1 << 20);
  CHECK(strstr(prev("a.txt", "x<y>&", 0, &b), "<pre><code>x&lt;y&gt;&amp;</code></pre>") != NULL);
  const char *t = prev("d.csv", "h1,h2\n\"a,b\",<i>\n\"q\"\"x\",3\n", 0, &b);
  CHECK(strstr(t, "<th scope=\"col\">h1</th><th scope=\"col\">h2</th>") != NULL);
  CHECK(strstr(t, "<td>a,b</td><td>&lt;i&gt;</td>") != NULL);
  CHECK(strstr(t, "<td>q&quot;x</td><td>3</td>") != NULL);
  /* truncated CSV: partial last row dropped */
  t = prev("d.csv", "a,b\n1,2\n3,4partial", 1, &b);
  CHECK(strstr(t, "<td>1</td><td>2</td>") != NULL && strstr(t, "partial") == NULL);
  t = prev("x.json", "{\"a\":[1,2],\"s\":\"<script>\"}", 0, &b);
  CHECK(strstr(t, "&lt;script&gt;") != NULL && strstr(t, "<script>") == NULL);
  CHECK(strstr(t, "\n") != NULL);
  t = prev("x.json", "{\"a\":", 1, &b); /* partial json shown as text */
  CHECK(strstr(t, "<pre><code>{&quot;a&quot;:</code></pre>") != NULL);
  const char bin[] = {'a', 0, 'b', 0};
  bk_buf_reset(&b);
  CHECK_EQ_INT(web_preview_render(&b, "x.bin", (const uint8_t *)bin, 4, 0), WEB_PREVIEW_NONE);
  bk_buf_free(&b);
}

static void test_session_csrf_cookie(void) {
  uint8_t secret[32] = {1, 2, 3};
  /* sessions are rows of the metadata database: a user and a token first */
  char dir[] = "/tmp/bk_webhtml_XXXXXX", path[64];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/b.db", dir);
  bk_db *db = NULL;
  CHECK_EQ_INT(bk_db_open(path, &db), 0);
  bk_ns alice;
  char token[BK_TOKEN_LEN + 1];
  int64_t tid = 0;
  CHECK_EQ_INT(bk_db_user_add(db, "alice", &alice), 0);
  CHECK_EQ_INT(bk_db_token_add(db, alice.id, BK_ROLE_WRITE, token, &tid), 0);
  struct web_sess_info si = {alice.id, tid, 2, "alice"}, out;
  char sid[WEB_SESS_ID_HEX + 1], tok[WEB_CSRF_HEX + 1], other[WEB_SESS_ID_HEX + 1];
  CHECK_EQ_INT(web_sess_create(db, &si, 1000, sid), 0);
  CHECK_EQ_INT(strlen(sid), 64);
  CHECK_EQ_INT(web_sess_lookup(db, sid, 2000, &out), 0);
  CHECK_EQ_INT(out.user_id, alice.id);
  CHECK_EQ_STR(out.name, "alice");
  web_random_hex(other);
  CHECK_EQ_INT(web_sess_lookup(db, other, 2000, &out), BK_ENOTFOUND);
  CHECK_EQ_INT(web_sess_lookup(db, "zz", 2000, &out), BK_ENOTFOUND);
  /* idle expiry */
  CHECK_EQ_INT(web_sess_lookup(db, sid, 2000 + WEB_SESS_IDLE_MS + 1, &out), BK_ENOTFOUND);
  CHECK_EQ_INT(web_sess_create(db, &si, 1000, sid), 0);
  web_sess_destroy(db, sid);
  CHECK_EQ_INT(web_sess_lookup(db, sid, 1500, &out), BK_ENOTFOUND);
  bk_db_close(db);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_EQ_INT(system(cmd), 0);
  web_csrf_token(secret, sid, tok);
  CHECK(web_csrf_check(secret, sid, tok));
  CHECK(!web_csrf_check(secret, other, tok));
  tok[0] = tok[0] == 'a' ? 'b' : 'a';
  CHECK(!web_csrf_check(secret, sid, tok));
  CHECK(!web_csrf_check(secret, sid, NULL));
  CHECK(!web_csrf_check(secret, "", ""));
  char v[80];
  CHECK(web_cookie_get("a=1; bk_session=abc; b=2", "bk_session", v, sizeof v));
  CHECK_EQ_STR(v, "abc");
  CHECK(!web_cookie_get("xbk_session=abc", "bk_session", v, sizeof v));
  CHECK(web_cookie_get("bk_pre=zz", "bk_pre", v, sizeof v));
  CHECK_EQ_STR(v, "zz");
  CHECK(!web_cookie_get("bk_pre=0123456789", "bk_pre", v, 4));
}

int main(void) {
  RUN(test_escape_specials);
  RUN(test_escape_utf8_and_controls);
  RUN(test_escape_cap);
  RUN(test_url);
  RUN(test_sizes);
  RUN(test_dates_and_ratio);
  RUN(test_template);
  RUN(test_form_urlencoded);
  RUN(test_form_multipart);
  RUN(test_preview);
  RUN(test_session_csrf_cookie);
  return test_summary();
}
