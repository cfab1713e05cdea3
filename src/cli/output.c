/* hf — option parsing, output modes, confirmation, progress (see cli.h). */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buckets/error.h"
#include "cli/cli.h"

int cli_fail(const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ' ';
  fprintf(stderr, "Error: %s\n", msg);
  return 1;
}

int cli_fail_lib(int rc) {
  const char *m = bk_errmsg();
  return cli_fail("%s", *m ? m : bk_strerror(rc));
}

void cli_hint(cli *c, const char *fmt, ...) {
  if (c->format == FMT_QUIET || c->format == FMT_JSON) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "Hint: %s\n", msg);
}

static int set_format(cli *c, const char *v) {
  if (strcmp(v, "auto") == 0 || strcmp(v, "human") == 0) c->format = FMT_HUMAN;
  else if (strcmp(v, "agent") == 0) c->format = FMT_AGENT;
  else if (strcmp(v, "json") == 0) c->format = FMT_JSON;
  else if (strcmp(v, "quiet") == 0) c->format = FMT_QUIET;
  else return cli_fail("invalid --format '%s' (auto, human, agent, json, quiet)", v), -1;
  return 0;
}

static int take(const opt *o, const char *val) {
  if (o->kind == OPT_STR) {
    *(const char **)o->dst = val;
  } else {
    strlist *l = o->dst;
    const char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv) return -1;
    l->v = nv;
    l->v[l->n++] = val;
  }
  return 0;
}

int cli_parse(cli *c, int argc, char **argv, const opt *opts, const char **pos, int maxpos,
              int *npos, const char *usage) {
  *npos = 0;
  int only_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
      if (*npos >= maxpos) return cli_fail("unexpected argument '%s' (see --help)", a), -1;
      pos[(*npos)++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_pos = 1;
      continue;
    }
    if (strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 1;
    }
    if (a[1] == '-') {
      char name[128];
      const char *eq = strchr(a, '=');
      size_t nl = eq ? (size_t)(eq - a) : strlen(a);
      if (nl >= sizeof name) return cli_fail("unknown option '%s'", a), -1;
      memcpy(name, a, nl);
      name[nl] = 0;
      const char *val = eq ? eq + 1 : NULL;
      /* globals */
      if (strcmp(name, "--token") == 0 || strcmp(name, "--format") == 0) {
        if (!val) {
          if (i + 1 >= argc) return cli_fail("option %s needs a value", name), -1;
          val = argv[++i];
        }
        if (name[2] == 't') c->token = val;
        else if (set_format(c, val)) return -1;
        continue;
      }
      if (strcmp(name, "--json") == 0) {
        c->format = FMT_JSON;
        continue;
      }
      if (strcmp(name, "--quiet") == 0) {
        c->format = FMT_QUIET;
        continue;
      }
      if (strcmp(name, "--yes") == 0) {
        c->yes = 1;
        continue;
      }
      const opt *o = NULL;
      for (const opt *p = opts; p && (p->lng || p->shrt); p++)
        if (p->lng && strcmp(p->lng, name) == 0) o = p;
      if (!o) return cli_fail("unknown option '%s' (see %s --help)", name, c->prog), -1;
      if (o->kind == OPT_FLAG) {
        if (val) return cli_fail("option %s takes no value", name), -1;
        *(int *)o->dst = 1;
        continue;
      }
      if (!val) {
        if (i + 1 >= argc) return cli_fail("option %s needs a value", name), -1;
        val = argv[++i];
      }
      if (take(o, val)) return cli_fail("out of memory"), -1;
      continue;
    }
    /* short options, possibly combined (-Ry) */
    for (const char *s = a + 1; *s; s++) {
      if (*s == 'q') {
        c->format = FMT_QUIET;
        continue;
      }
      if (*s == 'y') {
        c->yes = 1;
        continue;
      }
      const opt *o = NULL;
      for (const opt *p = opts; p && (p->lng || p->shrt); p++)
        if (p->shrt == *s) o = p;
      if (!o) return cli_fail("unknown option '-%c' (see %s --help)", *s, c->prog), -1;
      if (o->kind == OPT_FLAG) {
        *(int *)o->dst = 1;
        continue;
      }
      const char *val = s[1] ? s + 1 : NULL;
      if (!val) {
        if (i + 1 >= argc) return cli_fail("option -%c needs a value", *s), -1;
        val = argv[++i];
      }
      if (take(o, val)) return cli_fail("out of memory"), -1;
      break;
    }
  }
  return 0;
}

bk_client *cli_client(cli *c) {
  if (c->client) return c->client;
  bk_client_opts o;
  memset(&o, 0, sizeof o);
  o.token = c->token;
  int rc = bk_client_new(&o, &c->client);
  if (rc) {
    cli_fail_lib(rc);
    return NULL;
  }
  return c->client;
}

void cli_result(cli *c, const char *message, const char *const *keys, const char *const *vals,
                size_t n) {
  switch (c->format) {
  case FMT_QUIET:
    if (n > 0) printf("%s\n", vals[0][0] == '\x01' ? vals[0] + 1 : vals[0]);
    break;
  case FMT_JSON: {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
      const char *v = vals[i];
      if (v[0] == '\x01') {
        v++;
        cJSON *raw = cJSON_Parse(v);
        if (raw) cJSON_AddItemToObject(o, keys[i], raw);
        else cJSON_AddStringToObject(o, keys[i], v);
      } else {
        cJSON_AddStringToObject(o, keys[i], v);
      }
    }
    char *s = cJSON_Print(o);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
    break;
  }
  case FMT_AGENT:
    for (size_t i = 0; i < n; i++)
      printf("%s%s=%s", i ? " " : "", keys[i], vals[i][0] == '\x01' ? vals[i] + 1 : vals[i]);
    printf("\n");
    break;
  default:
    printf("\xe2\x9c\x93 %s\n", message);
    for (size_t i = 0; i < n; i++)
      printf("  %s: %s\n", keys[i], vals[i][0] == '\x01' ? vals[i] + 1 : vals[i]);
  }
  fflush(stdout);
}

int cli_confirm(cli *c, const char *question) {
  if (c->yes) return 1;
  if (c->format != FMT_HUMAN || !isatty(0)) {
    cli_fail("%s Refusing without confirmation: pass -y/--yes", question);
    return -1;
  }
  fprintf(stderr, "%s [y/N] ", question);
  fflush(stderr);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) return 0;
  return line[0] == 'y' || line[0] == 'Y';
}

void cli_fmt_size(uint64_t n, int human, char *out) {
  if (!human) {
    snprintf(out, 32, "%llu", (unsigned long long)n);
    return;
  }
  static const char *u[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  if (n < 1000) {
    snprintf(out, 32, "%llu B", (unsigned long long)n);
    return;
  }
  double v = (double)n;
  int i = 0;
  while (v >= 1000 && i < 5) {
    v /= 1000;
    i++;
  }
  snprintf(out, 32, "%.1f %s", v, u[i]);
}

void cli_fmt_date(int64_t ms, int human, char *out) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  if (human) strftime(out, 32, "%b %d %H:%M", &tm);
  else strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---------------------------------------------------------------- progress */

typedef struct pstate {
  double t0, last;
  int printed;
} pstate;
static pstate g_ps;

static void human_bytes(double v, char *out) {
  static const char *u[] = {"B", "kB", "MB", "GB", "TB"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    i++;
  }
  snprintf(out, 24, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(void *ctx, const bk_progress *p) {
  (void)ctx;
  double t = now_s();
  if (!g_ps.t0) g_ps.t0 = t;
  if (t - g_ps.last < 0.1) return;
  g_ps.last = t;
  double el = t - g_ps.t0;
  double done = (double)p->bytes_done;
  double rate = el > 0 ? done / el : 0;
  char b1[24], b2[24], b3[24], b4[24];
  human_bytes(done, b1);
  human_bytes((double)p->bytes_total, b2);
  human_bytes(rate, b3);
  human_bytes((double)p->bytes_dedup, b4);
  double left = p->bytes_total > p->bytes_done ? (double)(p->bytes_total - p->bytes_done) : 0;
  int eta = rate > 0 ? (int)(left / rate) : 0;
  fprintf(stderr, "\r\x1b[K%s files %llu/%llu  %s/%s  %s/s  ETA %dm%02ds  dedup %s",
          p->phase == 2 ? "Downloading" : "Uploading", (unsigned long long)p->files_done,
          (unsigned long long)p->files_total, b1, b2, b3, eta / 60, eta % 60, b4);
  fflush(stderr);
  g_ps.printed = 1;
}

static void on_log(void *ctx, int level, const char *line) {
  cli *c = ctx;
  if (level == 2) { /* one file failed (the others go on): always shown */
    if (g_ps.printed) fprintf(stderr, "\r\x1b[K");
    g_ps.printed = 0;
    fprintf(stderr, "Failed: %s\n", line);
    fflush(stderr);
    return;
  }
  if (level == 1) {
    if (c->verbose && c->format == FMT_HUMAN) printf("%s\n", line);
    return;
  }
  if (c->tty_err && c->format == FMT_HUMAN) {
    fprintf(stderr, "\r\x1b[K%s", line);
    fflush(stderr);
    g_ps.printed = 1;
  }
}

void cli_progress_attach(cli *c) {
  if (!c->client) return;
  bk_client_set_log(c->client, on_log, c);
  if (c->tty_err && c->format == FMT_HUMAN) bk_client_set_progress(c->client, on_progress, c);
}

void cli_progress_done(cli *c) {
  (void)c;
  if (g_ps.printed) {
    fprintf(stderr, "\r\x1b[K");
    fflush(stderr);
  }
  g_ps.printed = 0;
  g_ps.t0 = 0;
}
