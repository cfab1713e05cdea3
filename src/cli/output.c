/* hf — option parsing, output modes, confirmation, progress (see cli.h). */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buckets/buf.h"
#include "buckets/clock.h"
#include "buckets/error.h"
#include "buckets/sync.h"
#include "cli/cli.h"

/* Set once an "Error: ..." line has been printed for a failure the official
 * CLI reports as a known exception (cli_fail, cli_fail_bucket). */
static int g_error_printed;

int cli_fail(const char *fmt, ...) {
  g_error_printed = 1;
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

int cli_fail_bucket(int rc, const char *bucket) {
  const char *m = bk_errmsg();
  if (rc != BK_ENOTFOUND || !strstr(m, "bucket not found")) return cli_fail_lib(rc);
  char *id = NULL, *path = NULL;
  if (bk_uri_parse(bucket, 1, &id, &path)) return cli_fail_lib(rc);
  g_error_printed = 1;
  fprintf(stderr,
          "Error: Bucket '%s' not found.\n"
          "If the bucket is private, make sure you are authenticated and your token has the "
          "required permissions.\n"
          "If the bucket does not exist, create it with: hf buckets create %s\n",
          id, id);
  free(id);
  free(path);
  return 1;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* http(s)://HOST/buckets/ns/name[/tree/P | /resolve/P] -> hf://buckets/ns/name[/P]
 * (percent-decoded, query and fragment dropped). HOST must be the configured
 * endpoint's host[:port]. Returns a malloc'd string, or NULL (error printed). */
static char *web_url_to_uri(const char *url, const char *endpoint) {
  const char *u = strstr(url, "://"), *e = strstr(endpoint, "://");
  u = u ? u + 3 : url;
  e = e ? e + 3 : endpoint;
  size_t el = strlen(e);
  while (el > 0 && e[el - 1] == '/') el--;
  if (strncasecmp(u, e, el) != 0 || strncmp(u + el, "/buckets/", 9) != 0) {
    cli_fail("'%s' is not a bucket URL of the configured endpoint %s "
             "(expected %.*s/buckets/NAMESPACE/NAME[/tree/PATH | /resolve/PATH])",
             url, endpoint, (int)(e - endpoint + el), endpoint);
    return NULL;
  }
  const char *rest = u + el + 9;
  size_t rl = strcspn(rest, "?#");
  if (rl > 8192) {
    cli_fail("URL too long: %s", url);
    return NULL;
  }
  char dec[8200];
  size_t n = 0;
  for (size_t i = 0; i < rl; i++) {
    int hi, lo;
    if (rest[i] == '%' && i + 2 < rl && (hi = hexval(rest[i + 1])) >= 0 &&
        (lo = hexval(rest[i + 2])) >= 0 && (hi || lo)) {
      dec[n++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      dec[n++] = rest[i];
    }
  }
  dec[n] = 0;
  /* ns/name, then optional /tree/... or /resolve/... */
  char *s1 = strchr(dec, '/');
  char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
  const char *path = "";
  if (s2) {
    *s2 = 0;
    char *act = s2 + 1;
    size_t al = strcspn(act, "/");
    int ok = (al == 4 && strncmp(act, "tree", 4) == 0) || (al == 7 && strncmp(act, "resolve", 7) == 0);
    if (!ok && *act) {
      cli_fail("unsupported bucket URL '%s': expected /tree/PATH or /resolve/PATH after the bucket", url);
      return NULL;
    }
    path = act[al] ? act + al + 1 : "";
  }
  if (!s1 || s1 == dec || !s1[1]) {
    cli_fail("'%s': expected a bucket URL %s/buckets/NAMESPACE/NAME", url, endpoint);
    return NULL;
  }
  size_t need = 13 + strlen(dec) + 1 + strlen(path) + 1;
  char *out = malloc(need);
  if (!out) {
    cli_fail("out of memory");
    return NULL;
  }
  snprintf(out, need, "hf://buckets/%s%s%s", dec, *path ? "/" : "", path);
  return out;
}

int cli_bucket_args(cli *c, const char **pos, int np) {
  for (int i = 0; i < np; i++) {
    if (strncmp(pos[i], "http://", 7) != 0 && strncmp(pos[i], "https://", 8) != 0) continue;
    if (c->nowned >= (int)(sizeof c->owned / sizeof c->owned[0])) return cli_fail("too many URLs"), -1;
    bk_client *cl = cli_client(c);
    if (!cl) return -1;
    char *u = web_url_to_uri(pos[i], bk_client_endpoint(cl));
    if (!u) return -1;
    c->owned[c->nowned++] = u;
    pos[i] = u;
  }
  return 0;
}

int cli_aborted(void) {
  fprintf(stderr, "Error: aborted\n");
  return 1;
}

/* huggingface_hub's constants._is_true: 1, ON, YES, TRUE in any case. */
static int env_true(const char *name) {
  const char *v = getenv(name);
  if (!v) return 0;
  return strcmp(v, "1") == 0 || strcasecmp(v, "ON") == 0 || strcasecmp(v, "YES") == 0 ||
         strcasecmp(v, "TRUE") == 0;
}

void cli_debug_hint(int rc) {
  if (rc != 1 || !g_error_printed || env_true("HF_DEBUG")) return;
  fprintf(stderr, "Hint: set HF_DEBUG=1 as environment variable for full traceback.\n");
}

void cli_hint(cli *c, const char *fmt, ...) {
  (void)c; /* the official out.hint prints in every mode, always on stderr */
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

/* The options every command takes (--token, --format, --json, --quiet,
 * --yes, --no-truncate). Returns 1 if name is one of them (handled, value
 * taken from val or argv[++*i]), 0 if not, -1 on error (printed). */
static int parse_global(cli *c, const char *name, const char *val, int argc, char **argv,
                        int *i) {
  if (strcmp(name, "--token") == 0 || strcmp(name, "--format") == 0) {
    if (!val) {
      if (*i + 1 >= argc) return cli_fail("option %s needs a value", name), -1;
      val = argv[++*i];
    }
    if (name[2] == 't') c->token = val;
    else if (set_format(c, val)) return -1;
    return 1;
  }
  if (strcmp(name, "--json") == 0) c->format = FMT_JSON;
  else if (strcmp(name, "--quiet") == 0) c->format = FMT_QUIET;
  else if (strcmp(name, "--yes") == 0) c->yes = 1;
  else if (strcmp(name, "--no-truncate") == 0) c->no_truncate = 1; /* long cells printed whole */
  else return 0;
  return 1;
}

/* One "--name[=value]" at argv[*i] (a value may also be the next argument,
 * then *i advances). Returns 0, or -1 on error (printed). */
static int parse_long(cli *c, const opt *opts, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  char name[128];
  const char *eq = strchr(a, '=');
  size_t nl = eq ? (size_t)(eq - a) : strlen(a);
  if (nl >= sizeof name) return cli_fail("unknown option '%s'", a), -1;
  memcpy(name, a, nl);
  name[nl] = 0;
  const char *val = eq ? eq + 1 : NULL;
  int g = parse_global(c, name, val, argc, argv, i);
  if (g) return g < 0 ? -1 : 0;
  const opt *o = NULL;
  for (const opt *p = opts; p && (p->lng || p->shrt); p++)
    if (p->lng && strcmp(p->lng, name) == 0) o = p;
  if (!o) return cli_fail("unknown option '%s' (see %s --help)", name, c->prog), -1;
  if (o->kind == OPT_FLAG) {
    if (val) return cli_fail("option %s takes no value", name), -1;
    *(int *)o->dst = 1;
    return 0;
  }
  if (!val) {
    if (*i + 1 >= argc) return cli_fail("option %s needs a value", name), -1;
    val = argv[++*i];
  }
  if (take(o, val)) return cli_fail("out of memory"), -1;
  return 0;
}

/* Short options at argv[*i], possibly combined (-Ry); an option with a
 * value takes the rest of the word or the next argument. Returns 0 or -1. */
static int parse_shorts(cli *c, const opt *opts, int argc, char **argv, int *i) {
  for (const char *s = argv[*i] + 1; *s; s++) {
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
      if (*i + 1 >= argc) return cli_fail("option -%c needs a value", *s), -1;
      val = argv[++*i];
    }
    if (take(o, val)) return cli_fail("out of memory"), -1;
    break;
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
    int rc = a[1] == '-' ? parse_long(c, opts, argc, argv, &i) : parse_shorts(c, opts, argc, argv, &i);
    if (rc) return -1;
  }
  return 0;
}

bk_client *cli_client(cli *c) {
  if (c->client) return c->client;
  bk_client_opts o = BK_CLIENT_OPTS_INIT;
  o.token = c->token;
  int rc = bk_client_new(&o, &c->client);
  if (rc) {
    cli_fail_lib(rc);
    return NULL;
  }
  return c->client;
}

/* ---- JSON as Python's json.dumps prints it (the official CLI's output) ---- */

static int dump_str(bk_buf *b, const char *s) {
  int rc = bk_buf_append_u8(b, '"');
  const unsigned char *p = (const unsigned char *)s;
  while (!rc && *p) {
    unsigned ch = *p, cp = ch;
    size_t len = 1;
    if (ch >= 0x80) { /* UTF-8 -> code point (invalid bytes -> U+FFFD) */
      size_t need = ch >= 0xf0 && ch < 0xf5 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc2 && ch < 0xe0 ? 2 : 0;
      cp = 0xfffd;
      if (need) {
        unsigned v = ch & (0x7fu >> need);
        size_t k = 1;
        while (k < need && (p[k] & 0xc0) == 0x80) v = (v << 6) | (p[k++] & 0x3f);
        if (k == need) {
          cp = v;
          len = need;
        }
      }
    }
    p += len;
    if (cp == '"' || cp == '\\') rc = bk_buf_printf(b, "\\%c", (char)cp);
    else if (cp == '\n') rc = bk_buf_printf(b, "\\n");
    else if (cp == '\r') rc = bk_buf_printf(b, "\\r");
    else if (cp == '\t') rc = bk_buf_printf(b, "\\t");
    else if (cp == '\b') rc = bk_buf_printf(b, "\\b");
    else if (cp == '\f') rc = bk_buf_printf(b, "\\f");
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0x10000)) rc = bk_buf_printf(b, "\\u%04x", cp);
    else if (cp >= 0x10000)
      rc = bk_buf_printf(b, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    else rc = bk_buf_append_u8(b, (uint8_t)cp);
  }
  return rc ? rc : bk_buf_append_u8(b, '"');
}

static int dump_num(bk_buf *b, double v) {
  if (v == (double)(long long)v && v > -9e15 && v < 9e15) return bk_buf_printf(b, "%lld", (long long)v);
  char tmp[40];
  for (int prec = 1; prec <= 17; prec++) { /* shortest text that reads back the same */
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v) break;
  }
  return bk_buf_printf(b, "%s", tmp);
}

static int dump(bk_buf *b, const cJSON *j, int indent, int depth) {
  if (depth > 64) return bk_seterr(BK_ELIMIT, "JSON nested too deeply");
  if (cJSON_IsString(j)) return dump_str(b, j->valuestring);
  if (cJSON_IsNumber(j)) return dump_num(b, j->valuedouble);
  if (cJSON_IsTrue(j)) return bk_buf_printf(b, "true");
  if (cJSON_IsFalse(j)) return bk_buf_printf(b, "false");
  if (!cJSON_IsArray(j) && !cJSON_IsObject(j)) return bk_buf_printf(b, "null");
  int obj = cJSON_IsObject(j);
  if (!j->child) return bk_buf_printf(b, obj ? "{}" : "[]");
  int rc = bk_buf_append_u8(b, obj ? '{' : '[');
  for (const cJSON *e = j->child; !rc && e; e = e->next) {
    if (indent) rc = bk_buf_printf(b, "\n%*s", indent * (depth + 1), "");
    if (!rc && obj) rc = dump_str(b, e->string ? e->string : "");
    if (!rc && obj) rc = bk_buf_printf(b, ": ");
    if (!rc) rc = dump(b, e, indent, depth + 1);
    if (!rc && e->next) rc = bk_buf_printf(b, indent ? "," : ", ");
  }
  if (!rc && indent) rc = bk_buf_printf(b, "\n%*s", indent * depth, "");
  return rc ? rc : bk_buf_append_u8(b, obj ? '}' : ']');
}

char *cli_json_dumps(const cJSON *j, int indent) {
  bk_buf b;
  bk_buf_init(&b, (size_t)1 << 30);
  int rc = dump(&b, j, indent, 0);
  if (!rc) rc = bk_buf_append_u8(&b, 0);
  if (rc) {
    bk_buf_free(&b);
    return NULL;
  }
  return (char *)b.p;
}

void cli_result(cli *c, const char *message, const char *const *keys, const char *const *vals,
                size_t n) {
  switch (c->format) {
  case FMT_QUIET:
    if (n > 0) printf("%s\n", vals[0][0] == '\x01' || vals[0][0] == '\x02' ? vals[0] + 1 : vals[0]);
    break;
  case FMT_JSON: {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
      const char *v = vals[i];
      if (v[0] == '\x02') {
        cJSON_AddBoolToObject(o, keys[i], strcmp(v + 1, "True") == 0);
      } else if (v[0] == '\x01') {
        v++;
        cJSON *raw = cJSON_Parse(v);
        if (raw) cJSON_AddItemToObject(o, keys[i], raw);
        else cJSON_AddStringToObject(o, keys[i], v);
      } else {
        cJSON_AddStringToObject(o, keys[i], v);
      }
    }
    char *s = cli_json_dumps(o, 0);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
    break;
  }
  case FMT_AGENT:
    for (size_t i = 0; i < n; i++)
      printf("%s%s=%s", i ? " " : "", keys[i],
             vals[i][0] == '\x01' || vals[i][0] == '\x02' ? vals[i] + 1 : vals[i]);
    printf("\n");
    break;
  default:
    printf("\xe2\x9c\x93 %s\n", message);
    for (size_t i = 0; i < n; i++)
      printf("  %s: %s\n", keys[i],
             vals[i][0] == '\x01' || vals[i][0] == '\x02' ? vals[i] + 1 : vals[i]);
  }
  fflush(stdout);
}

/* As click.confirm (the official CLI): "Q [y/N]: " on stderr, the answer is
 * read from standard input whether or not it is a terminal (so `echo y | hf
 * ...` works); y/yes accepts, n/no/empty/EOF declines, anything else asks
 * again (at most 3 times). Non-human formats never prompt: they need -y. */
int cli_confirm(cli *c, const char *question) {
  if (c->yes) return 1;
  if (c->format != FMT_HUMAN) {
    cli_fail("%s Refusing without confirmation: pass -y/--yes", question);
    return -1;
  }
  int tty = isatty(0);
  for (int tries = 0; tries < 3; tries++) {
    fprintf(stderr, "%s [y/N]: ", question);
    fflush(stderr);
    char line[256];
    if (!fgets(line, sizeof line, stdin)) {
      fputc('\n', stderr);
      return 0;
    }
    if (!tty) fputs(line, stderr); /* echo the piped answer, as a terminal would */
    if (!strchr(line, '\n')) {      /* overlong line: drop the rest of it */
      int ch;
      while ((ch = getchar()) != EOF && ch != '\n') {
      }
      if (!tty) fputc('\n', stderr);
    }
    size_t n = strcspn(line, "\r\n");
    line[n] = 0;
    for (size_t i = 0; i < n; i++)
      if (line[i] >= 'A' && line[i] <= 'Z') line[i] = (char)(line[i] - 'A' + 'a');
    if (strcmp(line, "y") == 0 || strcmp(line, "yes") == 0) return 1;
    if (n == 0 || strcmp(line, "n") == 0 || strcmp(line, "no") == 0) return 0;
    fprintf(stderr, "Error: invalid input\n");
  }
  return 0;
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

static void on_progress(void *ctx, const bk_progress *p) {
  (void)ctx;
  double t = bk_mono_ms() / 1e3;
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
