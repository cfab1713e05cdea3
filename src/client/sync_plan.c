/* buckets client — pure sync parts: URIs, filters, decision table, plan JSONL.
 * See include/buckets/sync.h. */
#include "buckets/sync.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/buf.h"
#include "buckets/error.h"
#include "client/internal.h"

/* ---------------------------------------------------------------- URIs */

int bk_uri_is_remote(const char *s) { return s && strncmp(s, "hf://", 5) == 0; }

static int valid_segment(const char *s, size_t n) {
  if (n == 0 || n > 96) return 0;
  if (n == 1 && s[0] == '.') return 0;
  if (n == 2 && s[0] == '.' && s[1] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!(isalnum(ch) || ch == '-' || ch == '_' || ch == '.')) return 0;
  }
  return 1;
}

int bk_uri_parse(const char *s, int allow_short, char **bucket_id, char **path) {
  *bucket_id = NULL;
  *path = NULL;
  if (!s) return bk_seterr(BK_EINVAL, "missing bucket id");
  const char *p = s;
  int web = 0;
  if (strncmp(p, "hf://", 5) == 0) {
    p += 5;
    if (strncmp(p, "buckets/", 8) != 0)
      return bk_seterr(BK_EINVAL, "not a bucket URI (expected hf://buckets/ns/name): %s", s);
    p += 8;
  } else if (allow_short && strncmp(p, "/buckets/", 9) == 0) {
    p += 9;
    web = 1;
  } else if (allow_short && strncmp(p, "buckets/", 8) == 0) {
    p += 8;
  } else if (!allow_short) {
    return bk_seterr(BK_EINVAL, "not a bucket URI (expected hf://buckets/ns/name): %s", s);
  }
  if (strchr(s, '@') && !strchr(p, '/'))
    return bk_seterr(BK_EINVAL, "revisions are not supported for buckets: %s", s);
  const char *slash1 = strchr(p, '/');
  if (!slash1) return bk_seterr(BK_EINVAL, "bucket id must be 'namespace/name': %s", s);
  const char *name = slash1 + 1;
  const char *slash2 = strchr(name, '/');
  size_t nlen = slash2 ? (size_t)(slash2 - name) : strlen(name);
  if (!valid_segment(p, (size_t)(slash1 - p)) || !valid_segment(name, nlen)) {
    if (memchr(name, '@', nlen))
      return bk_seterr(BK_EINVAL, "revisions are not supported for buckets: %s", s);
    return bk_seterr(BK_EINVAL, "invalid bucket id: %s", s);
  }
  const char *rest = slash2 ? slash2 + 1 : "";
  if (web && *rest) {
    if (strncmp(rest, "resolve/", 8) == 0) rest += 8;
    else if (strncmp(rest, "tree/", 5) == 0) rest += 5;
    else if (strcmp(rest, "resolve") == 0 || strcmp(rest, "tree") == 0) rest = "";
    else return bk_seterr(BK_EINVAL, "unsupported bucket URL: %s", s);
  }
  size_t idlen = (size_t)(name + nlen - p);
  char *id = malloc(idlen + 1);
  char *pa = strdup(rest);
  if (!id || !pa) {
    free(id);
    free(pa);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  memcpy(id, p, idlen);
  id[idlen] = 0;
  *bucket_id = id;
  *path = pa;
  return 0;
}

int bk_path_under(const char *path, const char *prefix) {
  size_t n = prefix ? strlen(prefix) : 0;
  while (n > 0 && prefix[n - 1] == '/') n--;
  if (n == 0) return 1;
  if (strncmp(path, prefix, n) != 0) return 0;
  return path[n] == 0 || path[n] == '/';
}

/* ---------------------------------------------------------------- filters */

typedef struct rule {
  int include;
  char *pat;
} rule;

struct bk_filter {
  rule *rules; /* from --filter-from, first match decides */
  size_t nrules;
  char **inc, **exc;
  size_t ninc, nexc;
};

int bk_filter_new(bk_filter **out) {
  *out = calloc(1, sizeof(bk_filter));
  return *out ? 0 : bk_seterr(BK_ENOMEM, "out of memory");
}

void bk_filter_free(bk_filter *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nrules; i++) free(f->rules[i].pat);
  for (size_t i = 0; i < f->ninc; i++) free(f->inc[i]);
  for (size_t i = 0; i < f->nexc; i++) free(f->exc[i]);
  free(f->rules);
  free(f->inc);
  free(f->exc);
  free(f);
}

static int push_str(char ***arr, size_t *n, const char *s) {
  char **na = realloc(*arr, (*n + 1) * sizeof(char *));
  if (!na) return bk_seterr(BK_ENOMEM, "out of memory");
  *arr = na;
  if (!(na[*n] = strdup(s))) return bk_seterr(BK_ENOMEM, "out of memory");
  (*n)++;
  return 0;
}

int bk_filter_include(bk_filter *f, const char *p) { return push_str(&f->inc, &f->ninc, p); }
int bk_filter_exclude(bk_filter *f, const char *p) { return push_str(&f->exc, &f->nexc, p); }

int bk_filter_rule(bk_filter *f, const char *line) {
  while (*line == ' ' || *line == '\t') line++;
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                   line[n - 1] == '\t'))
    n--;
  if (n == 0 || line[0] == '#') return 0;
  int inc = 1;
  if ((line[0] == '+' || line[0] == '-') && n > 1 && line[1] == ' ') {
    inc = line[0] == '+';
    line += 2;
    n -= 2;
    while (n > 0 && *line == ' ') line++, n--;
    if (n == 0) return 0;
  }
  rule *nr = realloc(f->rules, (f->nrules + 1) * sizeof(rule));
  if (!nr) return bk_seterr(BK_ENOMEM, "out of memory");
  f->rules = nr;
  char *pat = strndup(line, n);
  if (!pat) return bk_seterr(BK_ENOMEM, "out of memory");
  nr[f->nrules].include = inc;
  nr[f->nrules].pat = pat;
  f->nrules++;
  return 0;
}

int bk_filter_load(bk_filter *f, const char *file) {
  FILE *fp = fopen(file, "r");
  if (!fp) return bk_seterr(BK_EIO, "cannot read filter file %s: %s", file, strerror(errno));
  char line[4096];
  int rc = 0;
  while (!rc && fgets(line, sizeof line, fp)) rc = bk_filter_rule(f, line);
  fclose(fp);
  return rc;
}

int bk_filter_match(const bk_filter *f, const char *path) {
  if (!f) return 1;
  for (size_t i = 0; i < f->nrules; i++)
    if (fnmatch(f->rules[i].pat, path, 0) == 0) return f->rules[i].include;
  for (size_t i = 0; i < f->nexc; i++)
    if (fnmatch(f->exc[i], path, 0) == 0) return 0;
  for (size_t i = 0; i < f->ninc; i++)
    if (fnmatch(f->inc[i], path, 0) == 0) return 1;
  return f->ninc == 0;
}

/* ---------------------------------------------------------------- decisions */

static const char *ACTIONS[] = {"none", "upload", "download", "delete", "skip"};

const char *bk_action_name(int a) {
  return (a >= 0 && a <= BK_ACT_SKIP) ? ACTIONS[a] : "none";
}

int bk_action_parse(const char *s) {
  for (int i = 1; i <= BK_ACT_SKIP; i++)
    if (s && strcmp(s, ACTIONS[i]) == 0) return i;
  return BK_ACT_NONE;
}

int bk_sync_decide(const bk_sync_mode *m, const bk_sync_side *src,
                   const bk_sync_side *dst, const char **reason) {
  int xfer = m->upload ? BK_ACT_UPLOAD : BK_ACT_DOWNLOAD;
  const char *newer = m->upload ? "local newer" : "remote newer";
  const char *older = m->upload ? "remote newer" : "local newer";
  *reason = "";
  if (src->present && !dst->present) {
    if (m->existing) {
      *reason = "new file (--existing)";
      return BK_ACT_SKIP;
    }
    *reason = "new file";
    return xfer;
  }
  if (!src->present && dst->present) {
    if (m->delete_files) {
      *reason = "not in source (--delete)";
      return BK_ACT_DELETE;
    }
    return BK_ACT_NONE;
  }
  if (!src->present) return BK_ACT_NONE;
  if (m->ignore_existing) {
    *reason = "exists on receiver (--ignore-existing)";
    return BK_ACT_SKIP;
  }
  int64_t diff = src->mtime_ms - dst->mtime_ms;
  if (m->ignore_sizes) {
    if (diff > BK_SYNC_TIME_WINDOW_MS) {
      *reason = newer;
      return xfer;
    }
    if (-diff > BK_SYNC_TIME_WINDOW_MS) {
      *reason = older;
      return BK_ACT_SKIP;
    }
    *reason = "same mtime";
    return BK_ACT_SKIP;
  }
  if (m->ignore_times) {
    if (src->size != dst->size) {
      *reason = "size differs";
      return xfer;
    }
    *reason = "same size";
    return BK_ACT_SKIP;
  }
  if (src->size != dst->size) {
    *reason = "size differs";
    return xfer;
  }
  if (diff > BK_SYNC_TIME_WINDOW_MS) {
    *reason = newer;
    return xfer;
  }
  *reason = "identical";
  return BK_ACT_SKIP;
}

int bk_sync_ambiguous(const bk_sync_mode *m, const bk_sync_side *src, const bk_sync_side *dst) {
  if (!src->present || !dst->present || m->ignore_existing || m->ignore_times || m->ignore_sizes)
    return 0;
  if (src->size != dst->size) return 0;
  int64_t diff = src->mtime_ms - dst->mtime_ms;
  return diff != 0 && diff <= BK_SYNC_TIME_WINDOW_MS && -diff <= BK_SYNC_TIME_WINDOW_MS;
}

/* ---------------------------------------------------------------- plans */

void bk_plan_init(bk_plan *p) { memset(p, 0, sizeof *p); }

void bk_plan_free(bk_plan *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nops; i++) {
    free(p->ops[i].path);
    free(p->ops[i].reason);
    free(p->ops[i].xet_hash);
  }
  free(p->ops);
  free(p->source);
  free(p->dest);
  free(p->timestamp);
  memset(p, 0, sizeof *p);
}

const char *bk_plan_op_reason(const bk_plan_op *op) {
  if (op->reason) return op->reason;
  return op->reason_static ? op->reason_static : "";
}

int bk_plan_add(bk_plan *p, int action, const char *path, const char *reason,
                const bk_sync_side *local, const bk_sync_side *remote,
                uint64_t size, int has_size) {
  bk_plan_op *n = bk_grow(p->ops, p->nops, &p->cap, sizeof *n, 64, 0);
  if (!n) return bk_seterr(BK_ENOMEM, "out of memory");
  p->ops = n;
  bk_plan_op *op = &p->ops[p->nops];
  memset(op, 0, sizeof *op);
  op->action = action;
  if (!(op->path = strdup(path))) return bk_seterr(BK_ENOMEM, "out of memory");
  op->reason_static = reason;
  op->has_size = has_size;
  op->size = size;
  if (local && local->present) {
    op->has_local_mtime = 1;
    op->local_mtime_ms = local->mtime_ms;
  }
  if (remote && remote->present) {
    op->has_remote_mtime = 1;
    op->remote_mtime_ms = remote->mtime_ms;
  }
  p->nops++;
  return 0;
}

void bk_plan_summarize(const bk_plan *p, bk_plan_summary *s) {
  memset(s, 0, sizeof *s);
  for (size_t i = 0; i < p->nops; i++) {
    const bk_plan_op *op = &p->ops[i];
    switch (op->action) {
    case BK_ACT_UPLOAD: s->uploads++; s->total_size += op->size; break;
    case BK_ACT_DOWNLOAD: s->downloads++; s->total_size += op->size; break;
    case BK_ACT_DELETE: s->deletes++; break;
    case BK_ACT_SKIP: s->skips++; break;
    default: break;
    }
  }
}

static int cmp_path(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int bk_plan_check(const bk_plan *p) {
  for (size_t i = 0; i < p->nops; i++)
    if (!bk_safe_relpath(p->ops[i].path))
      return bk_seterr(BK_EINVAL, "plan contains an unsafe path: %s", p->ops[i].path);
  if (p->nops < 2) return 0;
  const char **sorted = malloc(p->nops * sizeof *sorted);
  if (!sorted) return bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->nops; i++) sorted[i] = p->ops[i].path;
  qsort(sorted, p->nops, sizeof *sorted, cmp_path);
  int rc = 0;
  for (size_t i = 1; !rc && i < p->nops; i++)
    if (strcmp(sorted[i - 1], sorted[i]) == 0)
      rc = bk_seterr(BK_EINVAL, "plan lists %s twice", sorted[i]);
  free(sorted);
  return rc;
}

int bk_plan_compute(bk_plan *p, const bk_sync_mode *m, const bk_filter *f,
                    const bk_sync_entry *src, size_t nsrc,
                    const bk_sync_entry *dst, size_t ndst) {
  return bk_plan_compute_ex(p, m, f, src, nsrc, dst, ndst, NULL, NULL);
}

int bk_plan_compute_ex(bk_plan *p, const bk_sync_mode *m, const bk_filter *f,
                       const bk_sync_entry *src, size_t nsrc,
                       const bk_sync_entry *dst, size_t ndst,
                       bk_sync_same_fn same, void *ctx) {
  size_t i = 0, j = 0;
  while (i < nsrc || j < ndst) {
    int c;
    if (i >= nsrc) c = 1;
    else if (j >= ndst) c = -1;
    else c = strcmp(src[i].path, dst[j].path);
    const bk_sync_entry *se = c <= 0 ? &src[i] : NULL;
    const bk_sync_entry *de = c >= 0 ? &dst[j] : NULL;
    if (c <= 0) i++;
    if (c >= 0) j++;
    const char *path = se ? se->path : de->path;
    if (f && !bk_filter_match(f, path)) continue;
    bk_sync_side s = {se != NULL, se ? se->size : 0, se ? se->mtime_ms : 0};
    bk_sync_side d = {de != NULL, de ? de->size : 0, de ? de->mtime_ms : 0};
    const char *reason;
    int act = bk_sync_decide(m, &s, &d, &reason);
    if (act == BK_ACT_NONE) continue;
    if (act == BK_ACT_SKIP && same && bk_sync_ambiguous(m, &s, &d)) {
      /* same size, mtimes within the window: only the content can tell */
      int eq = 0;
      int rc = same(ctx, m->upload ? se : de, m->upload ? de : se, &eq);
      if (rc) return rc;
      if (!eq) {
        act = m->upload ? BK_ACT_UPLOAD : BK_ACT_DOWNLOAD;
        reason = "content differs";
      }
    }
    const bk_sync_side *local = m->upload ? &s : &d;
    const bk_sync_side *remote = m->upload ? &d : &s;
    uint64_t size = act == BK_ACT_DELETE ? d.size : s.size;
    int rc = bk_plan_add(p, act, path, reason, local, remote, size, 1);
    if (rc) return rc;
    const char *h = m->upload ? (de ? de->xet_hash : NULL) : (se ? se->xet_hash : NULL);
    if (h && !(p->ops[p->nops - 1].xet_hash = strdup(h)))
      return bk_seterr(BK_ENOMEM, "out of memory");
  }
  return 0;
}

/* ---------------------------------------------------------------- ISO time */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void bk_iso_from_ms(int64_t ms, char out[40]) {
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int frac = (int)(ms - secs * 1000);
  time_t t = (time_t)secs;
  struct tm tm;
  gmtime_r(&t, &tm);
  char tmp[128];
  if (frac)
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03d000+00:00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  else
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  size_t n = strlen(tmp);
  if (n > 39) n = 39;
  memcpy(out, tmp, n);
  out[n] = 0;
}

static int digits(const char **s, int n, int *v) {
  *v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*s)[i])) return -1;
    *v = *v * 10 + ((*s)[i] - '0');
  }
  *s += n;
  return 0;
}

int bk_iso_to_ms(const char *s, int64_t *ms) {
  int Y, M, D, h, mi, se;
  const char *p = s;
  if (!s) return BK_EINVAL;
  if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
      digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
    return bk_seterr(BK_EINVAL, "bad timestamp: %s", s);
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
      digits(&p, 2, &se))
    return bk_seterr(BK_EINVAL, "bad timestamp: %s", s);
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || se > 60)
    return bk_seterr(BK_EINVAL, "bad timestamp: %s", s);
  int frac_ms = 0;
  if (*p == '.') {
    p++;
    int nd = 0;
    while (isdigit((unsigned char)*p)) {
      if (nd < 3) frac_ms = frac_ms * 10 + (*p - '0');
      nd++;
      p++;
    }
    if (nd == 0) return bk_seterr(BK_EINVAL, "bad timestamp: %s", s);
    for (; nd < 3; nd++) frac_ms *= 10;
  }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om = 0;
    p++;
    if (digits(&p, 2, &oh)) return bk_seterr(BK_EINVAL, "bad timestamp: %s", s);
    if (*p == ':') p++;
    if (*p && digits(&p, 2, &om)) return bk_seterr(BK_EINVAL, "bad timestamp: %s", s);
    off = sign * (oh * 3600 + om * 60);
  }
  if (*p) return bk_seterr(BK_EINVAL, "bad timestamp: %s", s);
  int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
  *ms = ((days * 86400 + h * 3600 + mi * 60 + se) - off) * 1000 + frac_ms;
  return 0;
}

/* ---------------------------------------------------------------- JSONL */

static int append_json(bk_buf *out, cJSON *o) {
  char *s = cJSON_PrintUnformatted(o);
  if (!s) return bk_seterr(BK_ENOMEM, "out of memory");
  int rc = bk_buf_append(out, s, strlen(s));
  if (!rc) rc = bk_buf_append_u8(out, '\n');
  free(s);
  return rc;
}

int bk_plan_to_jsonl(const bk_plan *p, bk_buf *out) {
  bk_plan_summary s;
  bk_plan_summarize(p, &s);
  cJSON *h = cJSON_CreateObject();
  if (!h) return bk_seterr(BK_ENOMEM, "out of memory");
  cJSON_AddStringToObject(h, "type", "header");
  cJSON_AddStringToObject(h, "source", p->source ? p->source : "");
  cJSON_AddStringToObject(h, "dest", p->dest ? p->dest : "");
  cJSON_AddStringToObject(h, "timestamp", p->timestamp ? p->timestamp : "");
  cJSON *sum = cJSON_AddObjectToObject(h, "summary");
  if (sum) {
    cJSON_AddNumberToObject(sum, "uploads", (double)s.uploads);
    cJSON_AddNumberToObject(sum, "downloads", (double)s.downloads);
    cJSON_AddNumberToObject(sum, "deletes", (double)s.deletes);
    cJSON_AddNumberToObject(sum, "skips", (double)s.skips);
    cJSON_AddNumberToObject(sum, "total_size", (double)s.total_size);
  }
  int rc = append_json(out, h);
  cJSON_Delete(h);
  for (size_t i = 0; !rc && i < p->nops; i++) {
    const bk_plan_op *op = &p->ops[i];
    cJSON *o = cJSON_CreateObject();
    if (!o) return bk_seterr(BK_ENOMEM, "out of memory");
    char iso[40];
    cJSON_AddStringToObject(o, "type", "operation");
    cJSON_AddStringToObject(o, "action", bk_action_name(op->action));
    cJSON_AddStringToObject(o, "path", op->path);
    cJSON_AddStringToObject(o, "reason", bk_plan_op_reason(op));
    if (op->has_size) cJSON_AddNumberToObject(o, "size", (double)op->size);
    if (op->has_local_mtime) {
      bk_iso_from_ms(op->local_mtime_ms, iso);
      cJSON_AddStringToObject(o, "local_mtime", iso);
    }
    if (op->has_remote_mtime) {
      bk_iso_from_ms(op->remote_mtime_ms, iso);
      cJSON_AddStringToObject(o, "remote_mtime", iso);
    }
    rc = append_json(out, o);
    cJSON_Delete(o);
  }
  return rc;
}

static char *dup_str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

int bk_plan_from_jsonl(const char *text, size_t len, bk_plan *p) {
  bk_plan_init(p);
  size_t pos = 0, lineno = 0;
  int rc = 0;
  while (pos < len && !rc) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    size_t ll = end - pos;
    const char *line = text + pos;
    pos = end + 1;
    while (ll > 0 && (line[ll - 1] == '\r' || line[ll - 1] == ' ')) ll--;
    if (ll == 0) continue;
    lineno++;
    cJSON *o = cJSON_ParseWithLength(line, ll);
    if (!o || !cJSON_IsObject(o)) {
      cJSON_Delete(o);
      rc = bk_seterr(BK_EFORMAT, "plan line %zu is not a JSON object", lineno);
      break;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : "";
    if (lineno == 1) {
      if (strcmp(type, "header") != 0) {
        rc = bk_seterr(BK_EFORMAT, "plan must start with a header line");
      } else {
        p->source = dup_str(o, "source");
        p->dest = dup_str(o, "dest");
        p->timestamp = dup_str(o, "timestamp");
        if (!p->source || !p->dest)
          rc = bk_seterr(BK_EFORMAT, "plan header lacks source/dest");
      }
    } else if (strcmp(type, "operation") == 0) {
      const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "action");
      const cJSON *pa = cJSON_GetObjectItemCaseSensitive(o, "path");
      int act = cJSON_IsString(a) ? bk_action_parse(a->valuestring) : 0;
      if (!act || !cJSON_IsString(pa)) {
        rc = bk_seterr(BK_EFORMAT, "plan line %zu: bad action or path", lineno);
      } else {
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");
        int has_size = cJSON_IsNumber(sz) && sz->valuedouble >= 0;
        bk_sync_side l = {0, 0, 0}, r = {0, 0, 0};
        const cJSON *lm = cJSON_GetObjectItemCaseSensitive(o, "local_mtime");
        const cJSON *rm = cJSON_GetObjectItemCaseSensitive(o, "remote_mtime");
        if (cJSON_IsString(lm) && bk_iso_to_ms(lm->valuestring, &l.mtime_ms) == 0) l.present = 1;
        if (cJSON_IsString(rm) && bk_iso_to_ms(rm->valuestring, &r.mtime_ms) == 0) r.present = 1;
        rc = bk_plan_add(p, act, pa->valuestring, NULL, &l, &r,
                         has_size ? (uint64_t)sz->valuedouble : 0, has_size);
        if (!rc) p->ops[p->nops - 1].reason = dup_str(o, "reason");
      }
    }
    cJSON_Delete(o);
  }
  if (!rc && lineno == 0) rc = bk_seterr(BK_EFORMAT, "plan is empty");
  if (rc) bk_plan_free(p);
  return rc;
}
