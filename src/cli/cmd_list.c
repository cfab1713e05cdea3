/* hf buckets list|ls [ARGUMENT] — buckets of a namespace, or files of a
 * bucket prefix (spec §3.2). */
#include <cjson/cJSON.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buckets/error.h"
#include "buckets/sync.h"
#include "cli/cli.h"

static const char USAGE[] =
    "usage: hf buckets list [ARGUMENT] [-h] [-R] [--tree] [--search TEXT] [--format ...] [-q]\n"
    "       (alias: hf buckets ls)\n\n"
    "Without ARGUMENT, or with a namespace, lists buckets (columns ID PRIVATE SIZE\n"
    "TOTAL_FILES CREATED_AT). With ns/name[/prefix] or hf://buckets/ns/name[/prefix], lists\n"
    "files under the prefix (path boundaries respected: 'logs' never lists 'logs.json').\n"
    "  -h, --human-readable  sizes in kB/MB/GB, short dates\n"
    "  -R, --recursive       list files recursively\n"
    "  --tree                draw a tree\n"
    "  --search TEXT         filter bucket names (bucket listing only)\n"
    "  -q                    one id/path per line;  --format json: JSON array\n";

static int64_t entry_date(const cJSON *e) {
  const char *keys[] = {"mtime", "uploadedAt", "createdAt"};
  for (int i = 0; i < 3; i++) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, keys[i]);
    int64_t ms;
    if (cJSON_IsString(m) && bk_iso_to_ms(m->valuestring, &ms) == 0) return ms;
    if (cJSON_IsNumber(m)) return (int64_t)m->valuedouble;
  }
  return 0;
}

static const char *str(const cJSON *e, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

static uint64_t u64(const cJSON *e, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, k);
  return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

/* Width of a cell as Python's len() counts it: code points, not bytes. */
static size_t cell_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) n++;
  return n;
}

/* One cell padded to w code points (right-aligned when right). */
static void put_cell(const char *s, size_t w, int right, int last) {
  size_t l = cell_len(s), pad = w > l ? w - l : 0;
  if (right) printf("%*s%s", (int)pad, "", s);
  else printf("%s%*s", s, (int)pad, "");
  fputs(last ? "\n" : " ", stdout);
}

enum { NCOL = 5, MAX_CELL = 35 };

/* The official _format_table_cell_human: a cell longer than 35 characters
 * becomes its first 32 and "...". out >= 4 * 32 + 4 bytes. */
static const char *truncate_cell(const char *s, char *out, size_t outsz) {
  if (cell_len(s) <= MAX_CELL) return s;
  size_t b = 0, cps = 0;
  while (s[b] && cps < MAX_CELL - 3) {
    b++;
    while (((unsigned char)s[b] & 0xc0) == 0x80) b++;
    cps++;
  }
  snprintf(out, outsz, "%.*s...", (int)b, s);
  return out;
}

/* The official human bucket table (huggingface_hub's tabulate): headers, a
 * row of dashes, one space between columns, every column padded to its
 * widest cell (the last one too), SIZE and TOTAL_FILES right-aligned;
 * private is a check mark (U+2714) or empty, created_at the date only; cells
 * longer than 35 characters are cut to 32 + "..." unless --no-truncate. */
static int human_table(const cJSON *arr, int human, int no_truncate) {
  static const char *const hdr[NCOL] = {"ID", "PRIVATE", "SIZE", "TOTAL_FILES", "CREATED_AT"};
  static const int right[NCOL] = {0, 0, 1, 1, 0};
  size_t n = (size_t)cJSON_GetArraySize(arr);
  char(*cells)[NCOL][136] = calloc(n ? n : 1, sizeof *cells);
  const char **ids = calloc(n ? n : 1, sizeof *ids);
  if (!cells || !ids) {
    free(cells);
    free(ids);
    return BK_ENOMEM;
  }
  size_t w[NCOL];
  for (int k = 0; k < NCOL; k++) w[k] = strlen(hdr[k]);
  size_t i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    ids[i] = no_truncate ? str(e, "id") : truncate_cell(str(e, "id"), cells[i][0], sizeof cells[i][0]);
    snprintf(cells[i][1], sizeof cells[i][1], "%s",
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "private")) ? "\xe2\x9c\x94" : "");
    cli_fmt_size(u64(e, "size"), human, cells[i][2]);
    snprintf(cells[i][3], sizeof cells[i][3], "%llu", (unsigned long long)u64(e, "totalFiles"));
    int64_t ms;
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(e, "createdAt");
    if (cJSON_IsString(ca) && bk_iso_to_ms(ca->valuestring, &ms) == 0) {
      time_t t = (time_t)(ms / 1000);
      struct tm tm;
      gmtime_r(&t, &tm);
      strftime(cells[i][4], sizeof cells[i][4], "%Y-%m-%d", &tm);
    }
    size_t l = cell_len(ids[i]);
    if (l > w[0]) w[0] = l;
    for (int k = 1; k < NCOL; k++)
      if (cell_len(cells[i][k]) > w[k]) w[k] = cell_len(cells[i][k]);
    i++;
  }
  for (int k = 0; k < NCOL; k++) put_cell(hdr[k], w[k], right[k], k == NCOL - 1);
  for (int k = 0; k < NCOL; k++) {
    for (size_t d = 0; d < w[k]; d++) putchar('-');
    fputs(k == NCOL - 1 ? "\n" : " ", stdout);
  }
  for (size_t r = 0; r < i; r++)
    for (int k = 0; k < NCOL; k++) put_cell(k ? cells[r][k] : ids[r], w[k], right[k], k == NCOL - 1);
  free(cells);
  free(ids);
  return 0;
}

static int list_buckets(cli *c, const char *ns, const char *search, int human) {
  bk_client *cl = cli_client(c);
  if (!cl) return 1;
  char *json = NULL;
  int rc = bk_bucket_list(cl, ns, search, &json);
  if (rc) return cli_fail_lib(rc);
  cJSON *arr = cJSON_Parse(json);
  bk_free(json);
  if (!cJSON_IsArray(arr)) {
    cJSON_Delete(arr);
    return cli_fail("server answered invalid JSON");
  }
  const cJSON *e;
  if (c->format == FMT_JSON) { /* one compact array, keys in table order */
    cJSON *out = cJSON_CreateArray();
    cJSON_ArrayForEach(e, arr) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "id", str(e, "id"));
      cJSON_AddBoolToObject(o, "private", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "private")));
      cJSON_AddNumberToObject(o, "size", (double)u64(e, "size"));
      cJSON_AddNumberToObject(o, "total_files", (double)u64(e, "totalFiles"));
      cJSON_AddStringToObject(o, "created_at", str(e, "createdAt"));
      cJSON_AddItemToArray(out, o);
    }
    char *s = cli_json_dumps(out, 0);
    printf("%s\n", s ? s : "[]");
    free(s);
    cJSON_Delete(out);
  } else if (c->format == FMT_QUIET) {
    cJSON_ArrayForEach(e, arr) printf("%s\n", str(e, "id"));
  } else if (cJSON_GetArraySize(arr) == 0) {
    printf("No results found.\n");
  } else if (c->format == FMT_AGENT) { /* TSV, lowercase headers, no truncation */
    printf("id\tprivate\tsize\ttotal_files\tcreated_at\n");
    cJSON_ArrayForEach(e, arr) {
      char sz[32], dt[40] = "";
      cli_fmt_size(u64(e, "size"), human, sz);
      int64_t ms = entry_date(e);
      if (ms) {
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t l = strftime(dt, sizeof dt, "%Y-%m-%dT%H:%M:%S", &tm);
        if (ms % 1000) snprintf(dt + l, sizeof dt - l, ".%03d000", (int)(ms % 1000));
        l = strlen(dt);
        snprintf(dt + l, sizeof dt - l, "+00:00");
      }
      char id[512];
      snprintf(id, sizeof id, "%s", str(e, "id"));
      for (char *p = id; *p; p++)
        if (*p == '\t') *p = ' ';
      printf("%s\t%s\t%s\t%llu\t%s\n", id,
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "private")) ? "True" : "False", sz,
             (unsigned long long)u64(e, "totalFiles"), dt);
    }
  } else {
    rc = human_table(arr, human, c->no_truncate);
    if (rc) {
      cJSON_Delete(arr);
      return cli_fail("out of memory");
    }
  }
  cJSON_Delete(arr);
  return 0;
}

/* ---- tree rendering ---- */
typedef struct node {
  char *name;
  const cJSON *e; /* file entry or NULL (directory) */
  struct node *kids;
  size_t nk, ck;
} node;

static node *child(node *n, const char *name, size_t len) {
  for (size_t i = 0; i < n->nk; i++)
    if (strlen(n->kids[i].name) == len && strncmp(n->kids[i].name, name, len) == 0) return &n->kids[i];
  if (n->nk == n->ck) {
    size_t nc = n->ck ? n->ck * 2 : 8;
    node *nk = realloc(n->kids, nc * sizeof *nk);
    if (!nk) return NULL;
    n->kids = nk;
    n->ck = nc;
  }
  node *k = &n->kids[n->nk++];
  memset(k, 0, sizeof *k);
  k->name = strndup(name, len);
  return k;
}

static int cmp_node(const void *a, const void *b) {
  return strcmp(((const node *)a)->name, ((const node *)b)->name);
}

static void free_node(node *n) {
  for (size_t i = 0; i < n->nk; i++) free_node(&n->kids[i]);
  free(n->kids);
  free(n->name);
}

static void print_tree(cli *c, node *n, const char *indent, int human, int utf8) {
  if (n->nk) qsort(n->kids, n->nk, sizeof *n->kids, cmp_node);
  for (size_t i = 0; i < n->nk; i++) {
    node *k = &n->kids[i];
    int last = i + 1 == n->nk;
    const char *g = utf8 ? (last ? "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80 " : "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 ")
                         : (last ? "`-- " : "|-- ");
    const char *cont = utf8 ? (last ? "    " : "\xe2\x94\x82   ") : (last ? "    " : "|   ");
    int is_dir = k->nk > 0 || !k->e || strcmp(str(k->e, "type"), "directory") == 0;
    if (c->format == FMT_QUIET) {
      printf("%s%s%s%s\n", indent, g, k->name, is_dir ? "/" : "");
    } else {
      char sz[32] = "", dt[32] = "";
      if (!is_dir) {
        cli_fmt_size(u64(k->e, "size"), human, sz);
        cli_fmt_date(entry_date(k->e), human, dt);
      }
      printf("%12s  %19s  %s%s%s%s\n", sz, dt, indent, g, k->name, is_dir ? "/" : "");
    }
    char ni[4096];
    snprintf(ni, sizeof ni, "%s%s", indent, cont);
    print_tree(c, k, ni, human, utf8);
  }
}

static int list_files(cli *c, const char *arg, int human, int recursive, int tree) {
  char *id = NULL, *prefix = NULL;
  int rc = bk_uri_parse(arg, 1, &id, &prefix);
  if (rc) return cli_fail_lib(rc);
  bk_client *cl = cli_client(c);
  char *json = NULL;
  if (cl) rc = bk_bucket_tree(cl, id, prefix, recursive, &json);
  if (!cl || rc) {
    rc = cl ? cli_fail_bucket(rc, id) : 1;
    free(id);
    free(prefix);
    return rc;
  }
  cJSON *arr = cJSON_Parse(json);
  bk_free(json);
  size_t pl = strlen(prefix);
  while (pl > 0 && prefix[pl - 1] == '/') prefix[--pl] = 0;
  const cJSON *e;
  int has_dirs = 0;
  cJSON_ArrayForEach(e, arr) if (strcmp(str(e, "type"), "directory") == 0) has_dirs = 1;
  if (c->format == FMT_JSON) {
    cJSON *out = cJSON_CreateArray();
    cJSON_ArrayForEach(e, arr) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "type", str(e, "type"));
      cJSON_AddStringToObject(o, "path", str(e, "path"));
      if (strcmp(str(e, "type"), "file") == 0) {
        cJSON_AddNumberToObject(o, "size", (double)u64(e, "size"));
        cJSON_AddStringToObject(o, "xet_hash", str(e, "xetHash"));
        if (*str(e, "mtime")) cJSON_AddStringToObject(o, "mtime", str(e, "mtime"));
      }
      if (*str(e, "uploadedAt")) cJSON_AddStringToObject(o, "uploaded_at", str(e, "uploadedAt"));
      cJSON_AddItemToArray(out, o);
    }
    char *s = cli_json_dumps(out, 2); /* print_file_listing: json.dumps(indent=2) */
    printf("%s\n", s ? s : "[]");
    free(s);
    cJSON_Delete(out);
  } else if (cJSON_GetArraySize(arr) == 0) {
    if (c->format != FMT_QUIET) printf("(empty)\n");
  } else if (tree) {
    node root;
    memset(&root, 0, sizeof root);
    cJSON_ArrayForEach(e, arr) {
      const char *p = str(e, "path");
      if (pl && strncmp(p, prefix, pl) == 0 && p[pl] == '/') p += pl + 1;
      node *n = &root;
      while (n && *p) {
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        n = child(n, p, l);
        p = s ? s + 1 : p + l;
      }
      if (n && n != &root) n->e = e;
    }
    const char *cs = nl_langinfo(CODESET);
    int utf8 = cs && (strstr(cs, "UTF-8") || strstr(cs, "utf8"));
    print_tree(c, &root, "", human, utf8);
    free_node(&root);
  } else {
    cJSON_ArrayForEach(e, arr) {
      int dir = strcmp(str(e, "type"), "directory") == 0;
      if (c->format == FMT_QUIET) {
        printf("%s%s\n", str(e, "path"), dir ? "/" : "");
        continue;
      }
      char sz[32] = "", dt[32] = "";
      if (!dir) cli_fmt_size(u64(e, "size"), human, sz);
      int64_t d = entry_date(e);
      if (d) cli_fmt_date(d, human, dt);
      /* human and agent: the official print_file_listing has one flat format */
      printf("%12s  %19s  %s%s\n", sz, dt, str(e, "path"), dir ? "/" : "");
    }
  }
  if (has_dirs && !recursive) {
    fflush(stdout);
    cli_hint(c, "Use -R to list files recursively.");
  }
  cJSON_Delete(arr);
  free(id);
  free(prefix);
  return 0;
}

int cmd_list(cli *c, int argc, char **argv) {
  int human = 0, recursive = 0, tree = 0;
  const char *search = NULL;
  opt opts[] = {{"--human-readable", 'h', OPT_FLAG, &human},
                {"--recursive", 'R', OPT_FLAG, &recursive},
                {"--tree", 0, OPT_FLAG, &tree},
                {"--search", 0, OPT_STR, &search},
                {NULL, 0, 0, NULL}};
  const char *pos[1];
  int np;
  setlocale(LC_CTYPE, "");
  int r = cli_parse(c, argc, argv, opts, pos, 1, &np, USAGE);
  if (r) return r < 0 ? 2 : 0;
  if (cli_bucket_args(c, pos, np)) return 2;
  const char *arg = np ? pos[0] : NULL;
  char nsbuf[256];
  if (arg && strncmp(arg, "hf://buckets/", 13) == 0 && strlen(arg + 13) < sizeof nsbuf) {
    /* hf://buckets/NS[/] names a namespace, as in the official CLI */
    snprintf(nsbuf, sizeof nsbuf, "%s", arg + 13);
    size_t l = strlen(nsbuf);
    while (l > 0 && nsbuf[l - 1] == '/') nsbuf[--l] = 0;
    if (l && !strchr(nsbuf, '/')) arg = nsbuf;
  }
  int files = arg && (strchr(arg, '/') || bk_uri_is_remote(arg));
  if (!files) {
    /* usage errors (exit 2), as typer.BadParameter in the official CLI */
    if (tree || recursive) return cli_fail("--tree and -R apply to file listings (give ns/name[/prefix])"), 2;
    return list_buckets(c, arg, search, human);
  }
  if (search) return cli_fail("--search applies to bucket listings only"), 2;
  if (tree && c->format == FMT_JSON) return cli_fail("--tree cannot be combined with --format json"), 2;
  return list_files(c, arg, human, recursive, tree);
}
