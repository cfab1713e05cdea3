/* Minimal test harness shared by the unit tests.
 *
 *   static void test_something(void) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(test_something); return test_summary(); }
 *
 * Each binary ends with the line "N passed, N failed" (tests/run.sh sums them).
 * A test passes when none of its CHECKs failed.
 */
#ifndef BUCKETS_TEST_H
#define BUCKETS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed, t_cur_failed;
static const char *t_cur_name;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "  FAIL %s:%d (%s): %s\n", __FILE__, __LINE__,        \
              t_cur_name, #cond);                                           \
      t_cur_failed++;                                                       \
    }                                                                       \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                  \
  do {                                                                      \
    long long _a = (long long)(a), _b = (long long)(b);                     \
    if (_a != _b) {                                                         \
      fprintf(stderr, "  FAIL %s:%d (%s): %s == %s (%lld != %lld)\n",       \
              __FILE__, __LINE__, t_cur_name, #a, #b, _a, _b);              \
      t_cur_failed++;                                                       \
    }                                                                       \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                  \
  do {                                                                      \
    const char *_a = (a), *_b = (b);                                        \
    if (!_a || !_b || strcmp(_a, _b) != 0) {                                \
      fprintf(stderr, "  FAIL %s:%d (%s): %s == %s (\"%s\" != \"%s\")\n",   \
              __FILE__, __LINE__, t_cur_name, #a, #b, _a ? _a : "(null)",   \
              _b ? _b : "(null)");                                          \
      t_cur_failed++;                                                       \
    }                                                                       \
  } while (0)

#define RUN(fn)                                                             \
  do {                                                                      \
    t_cur_name = #fn;                                                       \
    t_cur_failed = 0;                                                       \
    fn();                                                                   \
    if (t_cur_failed) {                                                     \
      t_failed++;                                                           \
      printf("not ok - %s\n", #fn);                                         \
    } else {                                                                \
      t_passed++;                                                           \
      printf("ok - %s\n", #fn);                                             \
    }                                                                       \
    fflush(stdout);                                                         \
  } while (0)

static inline int test_summary(void) {
  printf("%d passed, %d failed\n", t_passed, t_failed);
  return t_failed ? 1 : 0;
}

/* Path of a test-data file (tests/data/NAME, committed in the repository):
 * $BUCKETS_ROOT/tests/data/NAME when BUCKETS_ROOT is set (tests/run.sh sets it
 * to the repository root), else tests/data/NAME relative to the current
 * directory. Writes into the caller's buf (n bytes) and returns it. */
static inline const char *test_data(const char *name, char *buf, size_t n) {
  const char *root = getenv("BUCKETS_ROOT");
  if (root && *root)
    snprintf(buf, n, "%s/tests/data/%s", root, name);
  else
    snprintf(buf, n, "tests/data/%s", name);
  return buf;
}

#endif
