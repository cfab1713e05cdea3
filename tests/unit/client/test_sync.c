/* Unit tests for the pure client parts: decision table (row by row), filters,
 * plan JSONL round trip, URI parsing, ISO-8601 times, path boundaries, the
 * rows decided by content (same size, mtimes within the window). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"
#include "buckets/buf.h"
#include "buckets/error.h"
#include "buckets/sync.h"

static bk_sync_side S(int present, uint64_t size, int64_t mt) {
  bk_sync_side s = {present, size, mt};
  return s;
}

static int decide(bk_sync_mode m, bk_sync_side a, bk_sync_side b, const char **r) {
  return bk_sync_decide(&m, &a, &b, r);
}

static void test_decision_new_file(void) {
  const char *r;
  bk_sync_mode up = {1, 0, 0, 0, 0, 0}, down = {0, 0, 0, 0, 0, 0};
  CHECK_EQ_INT(decide(up, S(1, 5, 0), S(0, 0, 0), &r), BK_ACT_UPLOAD);
  CHECK_EQ_STR(r, "new file");
  CHECK_EQ_INT(decide(down, S(1, 5, 0), S(0, 0, 0), &r), BK_ACT_DOWNLOAD);
  CHECK_EQ_STR(r, "new file");
  bk_sync_mode ex = {1, 0, 0, 0, 1, 0};
  CHECK_EQ_INT(decide(ex, S(1, 5, 0), S(0, 0, 0), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "new file (--existing)");
}

static void test_decision_ignore_existing(void) {
  const char *r;
  bk_sync_mode m = {1, 0, 0, 0, 0, 1};
  CHECK_EQ_INT(decide(m, S(1, 5, 9000), S(1, 7, 0), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "exists on receiver (--ignore-existing)");
  /* a new file is still transferred with --ignore-existing */
  CHECK_EQ_INT(decide(m, S(1, 5, 0), S(0, 0, 0), &r), BK_ACT_UPLOAD);
}

static void test_decision_ignore_sizes(void) {
  const char *r;
  bk_sync_mode up = {1, 0, 0, 1, 0, 0}, down = {0, 0, 0, 1, 0, 0};
  CHECK_EQ_INT(decide(up, S(1, 5, 5000), S(1, 5, 3000), &r), BK_ACT_UPLOAD);
  CHECK_EQ_STR(r, "local newer");
  CHECK_EQ_INT(decide(down, S(1, 5, 5000), S(1, 5, 3000), &r), BK_ACT_DOWNLOAD);
  CHECK_EQ_STR(r, "remote newer");
  CHECK_EQ_INT(decide(up, S(1, 5, 3000), S(1, 5, 5000), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "remote newer");
  CHECK_EQ_INT(decide(down, S(1, 5, 3000), S(1, 5, 5000), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "local newer");
  /* within the 1 s window, even with different sizes */
  CHECK_EQ_INT(decide(up, S(1, 5, 3900), S(1, 99, 3000), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "same mtime");
  CHECK_EQ_INT(decide(up, S(1, 5, 4000), S(1, 5, 3000), &r), BK_ACT_SKIP); /* exactly 1 s */
  CHECK_EQ_INT(decide(up, S(1, 5, 4001), S(1, 5, 3000), &r), BK_ACT_UPLOAD);
}

static void test_decision_ignore_times(void) {
  const char *r;
  bk_sync_mode up = {1, 0, 1, 0, 0, 0};
  CHECK_EQ_INT(decide(up, S(1, 5, 0), S(1, 6, 99999), &r), BK_ACT_UPLOAD);
  CHECK_EQ_STR(r, "size differs");
  CHECK_EQ_INT(decide(up, S(1, 5, 99999), S(1, 5, 0), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "same size");
}

static void test_decision_default(void) {
  const char *r;
  bk_sync_mode up = {1, 0, 0, 0, 0, 0}, down = {0, 0, 0, 0, 0, 0};
  CHECK_EQ_INT(decide(up, S(1, 5, 0), S(1, 6, 0), &r), BK_ACT_UPLOAD);
  CHECK_EQ_STR(r, "size differs");
  CHECK_EQ_INT(decide(up, S(1, 5, 10000), S(1, 5, 1000), &r), BK_ACT_UPLOAD);
  CHECK_EQ_STR(r, "local newer");
  CHECK_EQ_INT(decide(down, S(1, 5, 10000), S(1, 5, 1000), &r), BK_ACT_DOWNLOAD);
  CHECK_EQ_STR(r, "remote newer");
  CHECK_EQ_INT(decide(up, S(1, 5, 1000), S(1, 5, 10000), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "identical");
  CHECK_EQ_INT(decide(up, S(1, 5, 1500), S(1, 5, 1000), &r), BK_ACT_SKIP);
  CHECK_EQ_STR(r, "identical");
}

static void test_decision_dest_only(void) {
  const char *r;
  bk_sync_mode del = {1, 1, 0, 0, 0, 0}, nodel = {1, 0, 0, 0, 0, 0};
  CHECK_EQ_INT(decide(del, S(0, 0, 0), S(1, 5, 0), &r), BK_ACT_DELETE);
  CHECK_EQ_STR(r, "not in source (--delete)");
  CHECK_EQ_INT(decide(nodel, S(0, 0, 0), S(1, 5, 0), &r), BK_ACT_NONE);
}

static void test_filters(void) {
  bk_filter *f;
  CHECK_EQ_INT(bk_filter_new(&f), 0);
  CHECK(bk_filter_match(f, "anything/at/all"));
  bk_filter_include(f, "*.bin");
  CHECK(bk_filter_match(f, "a/b/c.bin")); /* '*' crosses '/' */
  CHECK(!bk_filter_match(f, "a/b/c.txt"));
  bk_filter_exclude(f, "tmp/*");
  CHECK(!bk_filter_match(f, "tmp/x.bin")); /* exclude wins over include */
  bk_filter_free(f);

  CHECK_EQ_INT(bk_filter_new(&f), 0);
  bk_filter_rule(f, "# comment");
  bk_filter_rule(f, "");
  bk_filter_rule(f, "+ keep/*.log");
  bk_filter_rule(f, "- *.log");
  bk_filter_rule(f, "data/*");
  bk_filter_exclude(f, "data/secret");
  CHECK(bk_filter_match(f, "keep/a.log"));  /* first rule */
  CHECK(!bk_filter_match(f, "other/a.log")); /* second rule */
  CHECK(bk_filter_match(f, "data/secret")); /* file rules come first */
  CHECK(bk_filter_match(f, "x.txt"));       /* no --include: included */
  bk_filter_free(f);

  char path[] = "/tmp/bk-filter-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  const char *txt = "- *.tmp\n+ *\n";
  CHECK(write(fd, txt, strlen(txt)) == (ssize_t)strlen(txt));
  close(fd);
  CHECK_EQ_INT(bk_filter_new(&f), 0);
  CHECK_EQ_INT(bk_filter_load(f, path), 0);
  CHECK(!bk_filter_match(f, "a.tmp"));
  CHECK(bk_filter_match(f, "a.bin"));
  bk_filter_free(f);
  unlink(path);
  CHECK_EQ_INT(bk_filter_new(&f), 0);
  CHECK(bk_filter_load(f, "/nonexistent/filter") != 0);
  bk_filter_free(f);
}

static void test_uri(void) {
  char *id, *p;
  CHECK_EQ_INT(bk_uri_parse("hf://buckets/ns/b", 0, &id, &p), 0);
  CHECK_EQ_STR(id, "ns/b");
  CHECK_EQ_STR(p, "");
  free(id), free(p);
  CHECK_EQ_INT(bk_uri_parse("hf://buckets/ns/b/dir/f.bin", 0, &id, &p), 0);
  CHECK_EQ_STR(p, "dir/f.bin");
  free(id), free(p);
  CHECK_EQ_INT(bk_uri_parse("hf://buckets/ns/b/dir/", 0, &id, &p), 0);
  CHECK_EQ_STR(p, "dir/");
  free(id), free(p);
  CHECK(bk_uri_parse("ns/b", 0, &id, &p) != 0);
  CHECK_EQ_INT(bk_uri_parse("ns/b/x", 1, &id, &p), 0);
  CHECK_EQ_STR(id, "ns/b");
  CHECK_EQ_STR(p, "x");
  free(id), free(p);
  CHECK_EQ_INT(bk_uri_parse("/buckets/ns/b/resolve/a/b.txt", 1, &id, &p), 0);
  CHECK_EQ_STR(p, "a/b.txt");
  free(id), free(p);
  CHECK(bk_uri_parse("/buckets/ns/b/blob/a", 1, &id, &p) != 0);
  CHECK(bk_uri_parse("hf://buckets/", 0, &id, &p) != 0);
  CHECK(bk_uri_parse("hf://buckets/single", 0, &id, &p) != 0);
  CHECK(bk_uri_parse("hf://buckets/ns/b@v1", 0, &id, &p) != 0);
  CHECK(bk_uri_parse("hf://datasets/ns/b", 0, &id, &p) != 0);
  CHECK(bk_uri_parse("hf://buckets/ns/../x", 0, &id, &p) != 0);
  CHECK(bk_uri_is_remote("hf://x"));
  CHECK(!bk_uri_is_remote("./x"));
}

static void test_path_under(void) {
  CHECK(bk_path_under("logs", "logs"));
  CHECK(bk_path_under("logs/a", "logs"));
  CHECK(bk_path_under("logs/a", "logs/"));
  CHECK(!bk_path_under("logs.json", "logs"));
  CHECK(!bk_path_under("logs_backup/x", "logs"));
  CHECK(bk_path_under("anything", ""));
  CHECK(!bk_path_under("log", "logs"));
}

static void test_iso(void) {
  char b[40];
  int64_t ms;
  bk_iso_from_ms(0, b);
  CHECK_EQ_STR(b, "1970-01-01T00:00:00+00:00");
  bk_iso_from_ms(1700000000123LL, b);
  CHECK_EQ_STR(b, "2023-11-14T22:13:20.123000+00:00");
  CHECK_EQ_INT(bk_iso_to_ms(b, &ms), 0);
  CHECK_EQ_INT(ms, 1700000000123LL);
  CHECK_EQ_INT(bk_iso_to_ms("2023-11-14T22:13:20Z", &ms), 0);
  CHECK_EQ_INT(ms, 1700000000000LL);
  CHECK_EQ_INT(bk_iso_to_ms("2023-11-14T23:13:20.5+01:00", &ms), 0);
  CHECK_EQ_INT(ms, 1700000000500LL);
  CHECK_EQ_INT(bk_iso_to_ms("2023-11-14T22:13:20.123456789Z", &ms), 0);
  CHECK_EQ_INT(ms, 1700000000123LL);
  CHECK(bk_iso_to_ms("2023-13-14T22:13:20Z", &ms) != 0);
  CHECK(bk_iso_to_ms("yesterday", &ms) != 0);
  CHECK(bk_iso_to_ms("2023-11-14T22:13:20Zjunk", &ms) != 0);
}

static void test_plan_compute_and_jsonl(void) {
  bk_sync_entry loc[] = {{"a.txt", 5, 10000, NULL}, {"b.txt", 6, 10000, NULL},
                         {"c.txt", 7, 10000, NULL}, {"skip.tmp", 1, 0, NULL}};
  bk_sync_entry rem[] = {{"b.txt", 6, 10000, "h"}, {"c.txt", 8, 10000, "h"},
                         {"d.txt", 9, 10000, "h"}, {"skip.tmp", 1, 0, NULL}};
  bk_filter *f;
  bk_filter_new(&f);
  bk_filter_exclude(f, "*.tmp");
  bk_sync_mode m = {1, 1, 0, 0, 0, 0};
  bk_plan p;
  bk_plan_init(&p);
  p.source = strdup("./dir");
  p.dest = strdup("hf://buckets/ns/b/pre");
  p.timestamp = strdup("2026-01-01T00:00:00+00:00");
  CHECK_EQ_INT(bk_plan_compute(&p, &m, f, loc, 4, rem, 4), 0);
  CHECK_EQ_INT(p.nops, 4);
  CHECK_EQ_STR(p.ops[0].path, "a.txt");
  CHECK_EQ_INT(p.ops[0].action, BK_ACT_UPLOAD);
  CHECK_EQ_INT(p.ops[1].action, BK_ACT_SKIP);
  CHECK_EQ_INT(p.ops[2].action, BK_ACT_UPLOAD);
  CHECK_EQ_STR(bk_plan_op_reason(&p.ops[2]), "size differs");
  CHECK_EQ_INT(p.ops[3].action, BK_ACT_DELETE);
  CHECK_EQ_INT(p.ops[3].size, 9);
  bk_plan_summary s;
  bk_plan_summarize(&p, &s);
  CHECK_EQ_INT(s.uploads, 2);
  CHECK_EQ_INT(s.deletes, 1);
  CHECK_EQ_INT(s.skips, 1);
  CHECK_EQ_INT(s.total_size, 12);

  bk_buf b;
  bk_buf_init(&b, 1 << 20);
  CHECK_EQ_INT(bk_plan_to_jsonl(&p, &b), 0);
  bk_buf_append_u8(&b, 0);
  const char *text = (const char *)b.p;
  CHECK(strncmp(text, "{\"type\":\"header\",\"source\":\"./dir\",\"dest\":\"hf://buckets/ns/b/pre\"", 60) == 0);
  CHECK(strstr(text, "\"summary\":{\"uploads\":2,\"downloads\":0,\"deletes\":1,\"skips\":1,\"total_size\":12}") != NULL);
  CHECK(strstr(text, "{\"type\":\"operation\",\"action\":\"upload\",\"path\":\"a.txt\",\"reason\":\"new file\",\"size\":5,\"local_mtime\":\"1970-01-01T00:00:10+00:00\"}") != NULL);
  bk_plan q;
  CHECK_EQ_INT(bk_plan_from_jsonl(text, strlen(text), &q), 0);
  CHECK_EQ_INT(q.nops, p.nops);
  for (size_t i = 0; i < q.nops && i < p.nops; i++) {
    CHECK_EQ_STR(q.ops[i].path, p.ops[i].path);
    CHECK_EQ_INT(q.ops[i].action, p.ops[i].action);
    CHECK_EQ_INT(q.ops[i].size, p.ops[i].size);
    CHECK_EQ_INT(q.ops[i].has_local_mtime, p.ops[i].has_local_mtime);
    CHECK_EQ_INT(q.ops[i].local_mtime_ms, p.ops[i].local_mtime_ms);
    CHECK_EQ_INT(q.ops[i].remote_mtime_ms, p.ops[i].remote_mtime_ms);
    CHECK_EQ_STR(bk_plan_op_reason(&q.ops[i]), bk_plan_op_reason(&p.ops[i]));
  }
  CHECK_EQ_STR(q.source, "./dir");
  bk_buf b2;
  bk_buf_init(&b2, 1 << 20);
  CHECK_EQ_INT(bk_plan_to_jsonl(&q, &b2), 0);
  CHECK_EQ_INT(b2.len + 1, b.len); /* identical re-serialization */
  CHECK(memcmp(b2.p, b.p, b2.len) == 0);
  bk_buf_free(&b2);
  bk_plan_free(&q);
  bk_plan_free(&p);
  bk_buf_free(&b);
  bk_filter_free(f);
}

static void test_plan_parse_errors(void) {
  bk_plan q;
  const char *nohdr = "{\"type\":\"operation\",\"action\":\"upload\",\"path\":\"a\"}\n";
  CHECK(bk_plan_from_jsonl(nohdr, strlen(nohdr), &q) != 0);
  const char *bad = "{\"type\":\"header\",\"source\":\"a\",\"dest\":\"b\"}\nnot json\n";
  CHECK(bk_plan_from_jsonl(bad, strlen(bad), &q) != 0);
  const char *badact = "{\"type\":\"header\",\"source\":\"a\",\"dest\":\"b\"}\n"
                       "{\"type\":\"operation\",\"action\":\"explode\",\"path\":\"a\"}\n";
  CHECK(bk_plan_from_jsonl(badact, strlen(badact), &q) != 0);
  const char *other = "{\"type\":\"header\",\"source\":\"a\",\"dest\":\"b\"}\n"
                      "{\"type\":\"comment\",\"x\":1}\n"
                      "{\"type\":\"operation\",\"action\":\"delete\",\"path\":\"z\"}\n";
  CHECK_EQ_INT(bk_plan_from_jsonl(other, strlen(other), &q), 0);
  CHECK_EQ_INT(q.nops, 1);
  bk_plan_free(&q);
  CHECK(bk_plan_from_jsonl("", 0, &q) != 0);
}

/* The rows that only content can decide: same size, mtimes within the
 * window but not equal, default mode only. */
static void test_ambiguous_rows(void) {
  bk_sync_mode up = {1, 0, 0, 0, 0, 0}, down = {0, 0, 0, 0, 0, 0};
  bk_sync_side a = S(1, 9, 10200), b = S(1, 9, 10700);
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &b, &a), 1);   /* source newer by 0.5 s */
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &a, &b), 1);   /* dest newer by 0.5 s */
  CHECK_EQ_INT(bk_sync_ambiguous(&down, &b, &a), 1);
  bk_sync_side w = S(1, 9, 10200 + BK_SYNC_TIME_WINDOW_MS);
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &w, &a), 1);   /* exactly the window */
  bk_sync_side far = S(1, 9, 10201 + BK_SYNC_TIME_WINDOW_MS);
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &far, &a), 0); /* decided by the mtimes */
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &a, &far), 0);
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &a, &a), 0);   /* equal to the ms: identical */
  bk_sync_side other = S(1, 8, 10700);
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &other, &a), 0); /* size differs */
  bk_sync_side none = S(0, 0, 0);
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &none, &a), 0);
  CHECK_EQ_INT(bk_sync_ambiguous(&up, &b, &none), 0);
  bk_sync_mode it = {1, 0, 1, 0, 0, 0}, is = {1, 0, 0, 1, 0, 0}, ie = {1, 0, 0, 0, 0, 1};
  CHECK_EQ_INT(bk_sync_ambiguous(&it, &b, &a), 0);   /* --ignore-times: sizes only, by request */
  CHECK_EQ_INT(bk_sync_ambiguous(&is, &b, &a), 0);
  CHECK_EQ_INT(bk_sync_ambiguous(&ie, &b, &a), 0);
}

typedef struct same_log {
  int calls;
  char seen[4][16];
} same_log;

/* "same" when the local path names the remote hash (a pure stand-in for the
 * Xet hash comparison of sync.c). */
static int fake_same(void *ctx, const bk_sync_entry *l, const bk_sync_entry *r, int *same) {
  same_log *lg = ctx;
  if (lg->calls < 4) snprintf(lg->seen[lg->calls], sizeof lg->seen[0], "%s", l->path);
  lg->calls++;
  *same = r->xet_hash && strncmp(l->path, r->xet_hash, strlen(r->xet_hash)) == 0;
  return 0;
}

static void test_plan_compute_content_check(void) {
  /* upload: local is the source */
  bk_sync_entry loc[] = {{"aaa", 5, 10700, NULL}, {"bbb", 5, 10700, NULL},
                         {"ccc", 5, 10200, NULL}, {"ddd", 5, 20000, NULL}};
  bk_sync_entry rem[] = {{"aaa", 5, 10200, "aaa"}, {"bbb", 5, 10200, "zzz"},
                         {"ccc", 5, 10200, "zzz"}, {"ddd", 5, 10200, "zzz"}};
  bk_sync_mode up = {1, 0, 0, 0, 0, 0};
  bk_plan p;
  bk_plan_init(&p);
  same_log lg;
  memset(&lg, 0, sizeof lg);
  CHECK_EQ_INT(bk_plan_compute_ex(&p, &up, NULL, loc, 4, rem, 4, fake_same, &lg), 0);
  CHECK_EQ_INT(lg.calls, 2); /* only aaa and bbb are ambiguous */
  CHECK_EQ_STR(lg.seen[0], "aaa");
  CHECK_EQ_STR(lg.seen[1], "bbb");
  CHECK_EQ_INT(p.nops, 4);
  CHECK_EQ_INT(p.ops[0].action, BK_ACT_SKIP);
  CHECK_EQ_STR(bk_plan_op_reason(&p.ops[0]), "identical");
  CHECK_EQ_INT(p.ops[1].action, BK_ACT_UPLOAD);
  CHECK_EQ_STR(bk_plan_op_reason(&p.ops[1]), "content differs");
  CHECK_EQ_INT(p.ops[2].action, BK_ACT_SKIP); /* equal mtimes: trusted */
  CHECK_EQ_INT(p.ops[3].action, BK_ACT_UPLOAD);
  CHECK_EQ_STR(bk_plan_op_reason(&p.ops[3]), "local newer");
  bk_plan_free(&p);
  /* download: the remote is the source; the callback still gets (local, remote) */
  bk_sync_mode down = {0, 0, 0, 0, 0, 0};
  bk_plan_init(&p);
  memset(&lg, 0, sizeof lg);
  CHECK_EQ_INT(bk_plan_compute_ex(&p, &down, NULL, rem, 4, loc, 4, fake_same, &lg), 0);
  CHECK_EQ_INT(lg.calls, 2);
  CHECK_EQ_INT(p.ops[0].action, BK_ACT_SKIP);
  CHECK_EQ_INT(p.ops[1].action, BK_ACT_DOWNLOAD);
  CHECK_EQ_STR(bk_plan_op_reason(&p.ops[1]), "content differs");
  bk_buf b;
  bk_buf_init(&b, 1 << 20);
  CHECK_EQ_INT(bk_plan_to_jsonl(&p, &b), 0);
  bk_buf_append_u8(&b, 0);
  CHECK(strstr((const char *)b.p, "{\"type\":\"operation\",\"action\":\"download\",\"path\":\"bbb\",\"reason\":\"content differs\",\"size\":5,") != NULL);
  bk_buf_free(&b);
  bk_plan_free(&p);
  /* without a callback: the reference table (bk_plan_compute) */
  bk_plan_init(&p);
  CHECK_EQ_INT(bk_plan_compute(&p, &up, NULL, loc, 4, rem, 4), 0);
  CHECK_EQ_INT(p.ops[1].action, BK_ACT_SKIP);
  bk_plan_free(&p);
}

/* bk_plan_check: the path checks a plan passes before it is applied. */
static void test_plan_check(void) {
  bk_plan q;
  bk_plan_init(&q);
  CHECK_EQ_INT(bk_plan_check(&q), 0); /* empty */
  CHECK_EQ_INT(bk_plan_add(&q, BK_ACT_UPLOAD, "a/b.txt", "new file", NULL, NULL, 1, 1), 0);
  CHECK_EQ_INT(bk_plan_check(&q), 0);
  CHECK_EQ_INT(bk_plan_add(&q, BK_ACT_DELETE, "a/c.txt", "not in source", NULL, NULL, 0, 0), 0);
  CHECK_EQ_INT(bk_plan_add(&q, BK_ACT_SKIP, "b", "identical", NULL, NULL, 0, 0), 0);
  CHECK_EQ_INT(bk_plan_check(&q), 0);
  CHECK_EQ_INT(bk_plan_add(&q, BK_ACT_DOWNLOAD, "a/b.txt", "new file", NULL, NULL, 1, 1), 0);
  CHECK_EQ_INT(bk_plan_check(&q), BK_EINVAL);
  CHECK(strstr(bk_errmsg(), "plan lists a/b.txt twice") != NULL);
  bk_plan_free(&q);
  static const char *const bad[] = {"", "/etc/passwd", "..", "a/../b", "a//b", "./a"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    bk_plan_init(&q);
    CHECK_EQ_INT(bk_plan_add(&q, BK_ACT_UPLOAD, "ok", "new file", NULL, NULL, 0, 0), 0);
    CHECK_EQ_INT(bk_plan_add(&q, BK_ACT_UPLOAD, bad[i], "new file", NULL, NULL, 0, 0), 0);
    CHECK_EQ_INT(bk_plan_check(&q), BK_EINVAL);
    CHECK(strstr(bk_errmsg(), "plan contains an unsafe path") != NULL);
    bk_plan_free(&q);
  }
}

int main(void) {
  RUN(test_decision_new_file);
  RUN(test_decision_ignore_existing);
  RUN(test_decision_ignore_sizes);
  RUN(test_decision_ignore_times);
  RUN(test_decision_default);
  RUN(test_decision_dest_only);
  RUN(test_filters);
  RUN(test_uri);
  RUN(test_path_under);
  RUN(test_iso);
  RUN(test_plan_compute_and_jsonl);
  RUN(test_ambiguous_rows);
  RUN(test_plan_compute_content_check);
  RUN(test_plan_parse_errors);
  RUN(test_plan_check);
  return test_summary();
}
