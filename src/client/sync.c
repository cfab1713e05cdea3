/* buckets client — sync between a local directory and a bucket prefix
 * (buckets-api.md §3.8): listing both sides, planning, --plan/--apply with a
 * staleness re-check, execution; plus server-side copy (bk_bucket_copy).
 * Ownership: all listings and plans are freed before returning.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buckets/buf.h"
#include "buckets/error.h"
#include "buckets/sync.h"
#include "client/internal.h"

typedef struct entries {
  bk_sync_entry *e;
  size_t n, cap;
} entries;

static void entries_free(entries *l) {
  for (size_t i = 0; i < l->n; i++) {
    free((char *)l->e[i].path);
    free((char *)l->e[i].xet_hash);
  }
  free(l->e);
  memset(l, 0, sizeof *l);
}

static int entries_add(entries *l, const char *path, uint64_t size, int64_t mt, const char *h) {
  bk_sync_entry *ne = bk_grow(l->e, l->n, &l->cap, sizeof *ne, 256, 0);
  if (!ne) return bk_seterr(BK_ENOMEM, "out of memory");
  l->e = ne;
  bk_sync_entry *e = &l->e[l->n];
  e->path = strdup(path);
  e->xet_hash = h ? strdup(h) : NULL;
  e->size = size;
  e->mtime_ms = mt;
  if (!e->path) return bk_seterr(BK_ENOMEM, "out of memory");
  l->n++;
  return 0;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const bk_sync_entry *)a)->path, ((const bk_sync_entry *)b)->path);
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int64_t st_mtime_ms(const struct stat *st) {
  return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static int walk(const char *root, const char *rel, entries *out, int depth) {
  if (depth > 256) return bk_seterr(BK_ELIMIT, "directory tree too deep");
  char dir[8192];
  snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
  DIR *d = opendir(dir);
  if (!d) return bk_seterr(BK_EIO, "cannot read directory %s: %s", dir, strerror(errno));
  struct dirent *de;
  int rc = 0;
  while (!rc && (de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (strstr(de->d_name, ".bkpart.")) continue; /* our own temp files */
    char r2[8192], full[8192];
    if (snprintf(r2, sizeof r2, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= (int)sizeof r2 ||
        snprintf(full, sizeof full, "%s/%s", root, r2) >= (int)sizeof full)
      continue;
    struct stat st;
    if (stat(full, &st)) continue;
    if (S_ISDIR(st.st_mode)) {
      struct stat lst;
      if (lstat(full, &lst) == 0 && S_ISLNK(lst.st_mode)) continue;
      rc = walk(root, r2, out, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      rc = entries_add(out, r2, (uint64_t)st.st_size, st_mtime_ms(&st), NULL);
    }
  }
  closedir(d);
  return rc;
}

static int64_t entry_mtime(const cJSON *e) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "mtime");
  int64_t ms = 0;
  if (cJSON_IsString(m)) {
    if (bk_iso_to_ms(m->valuestring, &ms)) ms = 0;
  } else if (cJSON_IsNumber(m)) {
    ms = (int64_t)m->valuedouble;
  }
  return ms;
}

/* Remote files under prefix, paths relative to the prefix. */
static int list_remote(bk_client *c, const char *id, const char *prefix, entries *out,
                       int missing_ok) {
  cJSON *arr = NULL;
  int rc = bk_tree_json(c, id, prefix, 1, &arr);
  if (rc == BK_ENOTFOUND && missing_ok) return 0;
  if (rc) return rc;
  size_t pl = strlen(prefix);
  while (pl > 0 && prefix[pl - 1] == '/') pl--;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "size");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "xetHash");
    if (!cJSON_IsString(p) || (cJSON_IsString(t) && strcmp(t->valuestring, "file") != 0)) continue;
    const char *path = p->valuestring;
    const char *rel;
    if (pl == 0) rel = path;
    else if (strlen(path) == pl) {
      const char *b = strrchr(path, '/');
      rel = b ? b + 1 : path;
    } else rel = path + pl + 1;
    if (!bk_safe_relpath(rel)) continue;
    rc = entries_add(out, rel, cJSON_IsNumber(s) ? (uint64_t)s->valuedouble : 0, entry_mtime(e),
                     cJSON_IsString(h) ? h->valuestring : NULL);
    if (rc) break;
  }
  cJSON_Delete(arr);
  if (!rc && out->n) qsort(out->e, out->n, sizeof *out->e, cmp_entry);
  return rc;
}

typedef struct ends {
  int upload;
  char *local;  /* local dir */
  char *id;     /* bucket id */
  char *prefix; /* no trailing '/' */
} ends;

static void ends_free(ends *e) {
  free(e->local);
  free(e->id);
  free(e->prefix);
}

static int parse_ends(const char *src, const char *dst, ends *e) {
  memset(e, 0, sizeof *e);
  if (!src || !dst) return bk_seterr(BK_EINVAL, "sync needs a SOURCE and a DEST");
  int rs = bk_uri_is_remote(src), rd = bk_uri_is_remote(dst);
  if (rs && rd) return bk_seterr(BK_EINVAL, "Remote to remote sync is not supported");
  if (!rs && !rd)
    return bk_seterr(BK_EINVAL, "one of SOURCE and DEST must be a bucket (hf://buckets/ns/name[/prefix])");
  e->upload = rd;
  int rc = bk_uri_parse(rd ? dst : src, 0, &e->id, &e->prefix);
  if (rc) return rc;
  size_t pl = strlen(e->prefix);
  while (pl > 0 && e->prefix[pl - 1] == '/') e->prefix[--pl] = 0;
  const char *l = rd ? src : dst;
  e->local = strdup(l);
  if (!e->local) return bk_seterr(BK_ENOMEM, "out of memory");
  size_t ll = strlen(e->local);
  while (ll > 1 && e->local[ll - 1] == '/') e->local[--ll] = 0;
  return 0;
}

static char *join_remote(const char *prefix, const char *rel) {
  size_t n = strlen(prefix) + strlen(rel) + 2;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s%s%s", prefix, *prefix ? "/" : "", rel);
  return s;
}

int bk_sync_plan_compute(bk_client *c, const bk_sync_opts *o, bk_plan *plan) {
  if (o->ignore_times && o->ignore_sizes)
    return bk_seterr(BK_EINVAL, "--ignore-times and --ignore-sizes cannot be combined");
  if (o->existing && o->ignore_existing)
    return bk_seterr(BK_EINVAL, "--existing and --ignore-existing cannot be combined");
  ends e;
  int rc = parse_ends(o->source, o->dest, &e);
  if (rc) {
    ends_free(&e);
    return rc;
  }
  bk_filter *f = NULL;
  rc = bk_filter_new(&f);
  if (!rc && o->filter_from) rc = bk_filter_load(f, o->filter_from);
  for (size_t i = 0; !rc && i < o->n_include; i++) rc = bk_filter_include(f, o->include[i]);
  for (size_t i = 0; !rc && i < o->n_exclude; i++) rc = bk_filter_exclude(f, o->exclude[i]);
  entries loc = {0}, rem = {0};
  if (!rc && e.upload) {
    struct stat st;
    if (stat(e.local, &st) || !S_ISDIR(st.st_mode))
      rc = bk_seterr(BK_EINVAL, "source %s is not a directory", e.local);
    if (!rc) rc = walk(e.local, "", &loc, 0);
    if (!rc) {
      if (loc.n) qsort(loc.e, loc.n, sizeof *loc.e, cmp_entry);
      bk_client_log(c, 0, "Scanning local directory (%zu files)", loc.n);
      rc = list_remote(c, e.id, e.prefix, &rem, 1);
    }
    if (!rc) bk_client_log(c, 0, "Scanning remote bucket (%zu files)", rem.n);
  } else if (!rc) {
    struct stat st;
    if (stat(e.local, &st) == 0 && !S_ISDIR(st.st_mode))
      rc = bk_seterr(BK_EINVAL, "destination %s is not a directory", e.local);
    if (!rc) rc = list_remote(c, e.id, e.prefix, &rem, 0);
    if (!rc) bk_client_log(c, 0, "Scanning remote bucket (%zu files)", rem.n);
    if (!rc && stat(e.local, &st) == 0) {
      if (o->delete_files) {
        rc = walk(e.local, "", &loc, 0);
        if (loc.n) qsort(loc.e, loc.n, sizeof *loc.e, cmp_entry);
      } else {
        for (size_t i = 0; !rc && i < rem.n; i++) {
          char full[8192];
          snprintf(full, sizeof full, "%s/%s", e.local, rem.e[i].path);
          if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
            rc = entries_add(&loc, rem.e[i].path, (uint64_t)st.st_size, st_mtime_ms(&st), NULL);
        }
      }
      if (!rc) bk_client_log(c, 0, "Scanning local directory (%zu files)", loc.n);
    }
  }
  if (!rc) {
    bk_sync_mode m = {e.upload, o->delete_files, o->ignore_times, o->ignore_sizes, o->existing,
                      o->ignore_existing};
    bk_client_log(c, 0, "Comparing files (%zu paths)", loc.n + rem.n);
    char ts[40];
    bk_iso_from_ms(bk_wall_ms(), ts);
    plan->source = strdup(o->source);
    plan->dest = strdup(o->dest);
    plan->timestamp = strdup(ts);
    if (e.upload) rc = bk_plan_compute(plan, &m, f, loc.e, loc.n, rem.e, rem.n);
    else rc = bk_plan_compute(plan, &m, f, rem.e, rem.n, loc.e, loc.n);
  }
  entries_free(&loc);
  entries_free(&rem);
  bk_filter_free(f);
  ends_free(&e);
  return rc;
}

int bk_sync_plan_jsonl(bk_client *c, const bk_sync_opts *o, char **jsonl) {
  bk_plan p;
  bk_plan_init(&p);
  int rc = bk_sync_plan_compute(c, o, &p);
  bk_buf b;
  bk_buf_init(&b, (size_t)1 << 34);
  if (!rc) rc = bk_plan_to_jsonl(&p, &b);
  if (!rc) rc = bk_buf_append_u8(&b, 0);
  if (!rc) {
    *jsonl = (char *)b.p;
    b.p = NULL;
  }
  bk_buf_free(&b);
  bk_plan_free(&p);
  return rc;
}

/* ---------------------------------------------------------------- execute */

typedef struct dljob {
  size_t bnext, done_batched; /* batch cursor and count (guarded by mu) */
  const char *const *fulls;   /* full local paths per op (bk_download_files), or NULL */
  bk_client *c;
  char **tmps; /* per op: temp file awaiting syncfs + rename */
  const char *id;
  const char *local;
  const char *prefix;
  bk_plan_op **ops;
  size_t n, next;
  pthread_mutex_t mu;
  int err;
  char errmsg[512];
  bk_transfer_stats st;
} dljob;

/* Local path of op i: fulls[i], else local/op->path. */
static void op_local(const dljob *j, size_t i, char *out, size_t n) {
  if (j->fulls) snprintf(out, n, "%s", j->fulls[i]);
  else snprintf(out, n, "%s/%s", j->local, j->ops[i]->path);
}

static void *dl_files(void *arg) {
  dljob *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    size_t i = j->next++;
    int stop = j->err != 0;
    pthread_mutex_unlock(&j->mu);
    if (stop || i >= j->n) return NULL;
    if (j->tmps[i]) continue; /* done by a batch */
    bk_plan_op *op = j->ops[i];
    char full[8192];
    op_local(j, i, full, sizeof full);
    bk_transfer_stats st;
    memset(&st, 0, sizeof st);
    char tmp[4400];
    int rc = bk_download_hash_ex(j->c, j->id, op->xet_hash, op->has_size ? op->size : (uint64_t)-1,
                                 op->has_remote_mtime ? op->remote_mtime_ms : -1, full, 0, tmp,
                                 sizeof tmp, &st);
    if (!rc && !(j->tmps[i] = strdup(tmp))) rc = bk_seterr(BK_ENOMEM, "out of memory");
    pthread_mutex_lock(&j->mu);
    if (rc && !j->err) {
      j->err = rc;
      snprintf(j->errmsg, sizeof j->errmsg, "%s: %s", op->path, bk_errmsg());
    }
    j->st.files += st.files;
    j->st.bytes += st.bytes;
    j->st.bytes_received += st.bytes_received;
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_lock(&j->c->mu);
    j->c->prog.files_done++;
    bk_client_progress(j->c);
    pthread_mutex_unlock(&j->c->mu);
  }
}

/* Batch durability for downloads: one syncfs for all verified temp files,
 * then renames, then one fsync per distinct directory. On failure the temp
 * files are removed. */
static int commit_downloads(dljob *j, int rc) {
  if (!rc && j->n) {
    /* one syncfs per filesystem in practice: per distinct parent dir of the
     * first file (sync) or of each run of files (bk_download_files) */
    char last[8192] = "";
    for (size_t i = 0; !rc && i < j->n; i++) {
      if (!j->tmps[i]) continue;
      char dir[8192];
      snprintf(dir, sizeof dir, "%s", j->tmps[i]);
      char *sl = strrchr(dir, '/');
      if (sl) *sl = 0;
      else snprintf(dir, sizeof dir, ".");
      if (strcmp(dir, last) == 0 || (!j->fulls && *last)) continue;
      int fd = open(dir, O_RDONLY | O_DIRECTORY);
      if (fd < 0 || syncfs(fd)) rc = bk_seterr(BK_EIO, "syncfs %s: %s", dir, strerror(errno));
      if (fd >= 0) close(fd);
      snprintf(last, sizeof last, "%s", dir);
    }
  }
  char lastdir[8192] = "";
  for (size_t i = 0; i < j->n; i++) {
    if (!j->tmps[i]) continue;
    char full[8192];
    op_local(j, i, full, sizeof full);
    if (rc) {
      unlink(j->tmps[i]);
      continue;
    }
    if (rename(j->tmps[i], full)) {
      rc = bk_seterr(BK_EIO, "rename to %s: %s", full, strerror(errno));
      unlink(j->tmps[i]);
      continue;
    }
    char *slash = strrchr(full, '/');
    if (slash) *slash = 0;
    if (strcmp(full, lastdir) != 0) {
      int dfd = open(full, O_RDONLY | O_DIRECTORY);
      if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
      }
      snprintf(lastdir, sizeof lastdir, "%s", full);
    }
  }
  return rc;
}

#define BATCH_FILES 100
#define BATCH_MAX_SIZE (8u << 20)

static void *batch_worker(void *arg) {
  dljob *j = arg;
  for (;;) {
    bk_dl_item items[BATCH_FILES];
    size_t idx[BATCH_FILES], m = 0;
    char *fulls[BATCH_FILES];
    pthread_mutex_lock(&j->mu);
    size_t i = j->bnext;
    for (; i < j->n && m < BATCH_FILES; i++) {
      bk_plan_op *op = j->ops[i];
      if (!op->has_size || op->size > BATCH_MAX_SIZE || !op->xet_hash) continue;
      idx[m++] = i;
    }
    j->bnext = i;
    pthread_mutex_unlock(&j->mu);
    if (m == 0) return NULL;
    size_t ok = 0;
    for (size_t k = 0; k < m; k++) {
      bk_plan_op *op = j->ops[idx[k]];
      if (!(fulls[k] = malloc(8192))) break;
      op_local(j, idx[k], fulls[k], 8192);
      items[k].hash = op->xet_hash;
      items[k].size = op->size;
      items[k].mtime_ms = op->has_remote_mtime ? op->remote_mtime_ms : -1;
      items[k].local_path = fulls[k];
      items[k].tmp = NULL;
      ok++;
    }
    bk_transfer_stats bst;
    memset(&bst, 0, sizeof bst);
    if (ok == m && bk_download_batch(j->c, j->id, items, m, &bst) == 0) {
      pthread_mutex_lock(&j->mu);
      for (size_t k = 0; k < m; k++) j->tmps[idx[k]] = items[k].tmp;
      j->done_batched += m;
      j->st.files += bst.files;
      j->st.bytes += bst.bytes;
      j->st.bytes_received += bst.bytes_received;
      pthread_mutex_unlock(&j->mu);
      pthread_mutex_lock(&j->c->mu);
      j->c->prog.files_done += m;
      bk_client_progress(j->c);
      pthread_mutex_unlock(&j->c->mu);
    }
    for (size_t k = 0; k < ok; k++) free(fulls[k]);
  }
}

static void remove_empty_parents(const char *root, const char *rel) {
  char buf[8192];
  snprintf(buf, sizeof buf, "%s", rel);
  for (;;) {
    char *s = strrchr(buf, '/');
    if (!s) return;
    *s = 0;
    char full[16384];
    snprintf(full, sizeof full, "%s/%s", root, buf);
    if (rmdir(full)) return;
  }
}

/* Batches for small files, then 8 threads for the rest, then the batch
 * commit (syncfs, renames, dir fsyncs). */
static int run_downloads(bk_client *c, dljob *jp, bk_transfer_stats *stats) {
  int rc = 0;
  /* small files: batch reconstructions of up to 100 files, 8 batches in
   * parallel (falls back to one file at a time for a batch that fails) */
  if (!rc && jp->n && !getenv("BK_NO_BATCH_DOWNLOAD")) {
    pthread_t bt[8];
    unsigned bstarted = 0, nbt = c->parallel < 8 ? c->parallel : 8;
    for (unsigned i = 1; i < nbt; i++) {
      if (pthread_create(&bt[i], NULL, batch_worker, jp)) break;
      bstarted = i;
    }
    batch_worker(jp);
    for (unsigned i = 1; i <= bstarted; i++) pthread_join(bt[i], NULL);
  }
  size_t done_batched = jp->done_batched;
  if (!rc && jp->n > done_batched) {
    unsigned nt = c->parallel < 8 ? c->parallel : 8;
    if (nt > jp->n) nt = (unsigned)jp->n;
    pthread_t th[8];
    unsigned started = 0;
    for (unsigned i = 1; i < nt; i++) {
      if (pthread_create(&th[i], NULL, dl_files, jp)) break;
      started = i;
    }
    dl_files(jp);
    for (unsigned i = 1; i <= started; i++) pthread_join(th[i], NULL);
    if (jp->err) rc = bk_seterr(jp->err, "%s", jp->errmsg);
  }
  if (jp->n) {
    rc = commit_downloads(jp, rc);
    if (stats) {
      stats->files += jp->st.files;
      stats->bytes += jp->st.bytes;
      stats->bytes_received += jp->st.bytes_received;
    }
  }
  return rc;
}

typedef struct relent {
  const char *path; /* relative to the sync prefix */
  const cJSON *item;
} relent;

static int relent_cmp(const void *a, const void *b) {
  return strcmp(((const relent *)a)->path, ((const relent *)b)->path);
}

/* Fills xet hashes (and checks staleness of download sources). */
static int remote_recheck(bk_client *c, const ends *e, bk_plan *p, int force) {
  size_t n = 0;
  for (size_t i = 0; i < p->nops; i++) n += p->ops[i].action == BK_ACT_DOWNLOAD;
  if (!n) return 0;
  const char **paths = calloc(n, sizeof *paths);
  char **own = calloc(n, sizeof *own);
  if (!paths || !own) {
    free(paths);
    free(own);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  size_t k = 0;
  int rc = 0;
  for (size_t i = 0; i < p->nops && !rc; i++) {
    if (p->ops[i].action != BK_ACT_DOWNLOAD) continue;
    own[k] = join_remote(e->prefix, p->ops[i].path);
    if (!own[k]) rc = bk_seterr(BK_ENOMEM, "out of memory");
    paths[k] = own[k];
    k++;
  }
  cJSON *arr = NULL;
  if (!rc) rc = bk_paths_info_json(c, e->id, paths, n, &arr);
  /* the answers by path relative to the prefix, sorted (binary search) */
  size_t pl = strlen(e->prefix), nrel = 0;
  relent *rel = NULL;
  if (!rc && !(rel = malloc((size_t)(cJSON_GetArraySize(arr) + 1) * sizeof *rel)))
    rc = bk_seterr(BK_ENOMEM, "out of memory");
  const cJSON *x;
  cJSON *answers = rc ? NULL : arr;
  cJSON_ArrayForEach(x, answers) {
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(x, "path");
    if (!cJSON_IsString(pp)) continue;
    if (pl && (strncmp(pp->valuestring, e->prefix, pl) || pp->valuestring[pl] != '/')) continue;
    rel[nrel].path = pl ? pp->valuestring + pl + 1 : pp->valuestring;
    rel[nrel++].item = x;
  }
  if (!rc) qsort(rel, nrel, sizeof *rel, relent_cmp);
  for (size_t i = 0; i < p->nops && !rc; i++) {
    bk_plan_op *op = &p->ops[i];
    if (op->action != BK_ACT_DOWNLOAD) continue;
    relent key = {op->path, NULL};
    const relent *r = bsearch(&key, rel, nrel, sizeof *rel, relent_cmp);
    const cJSON *hit = r ? r->item : NULL;
    if (!hit) {
      rc = bk_seterr(BK_ESTALE, "plan is stale: %s no longer exists in the bucket (re-plan, or --force to skip the check)", op->path);
      break;
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(hit, "xetHash");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(hit, "size");
    uint64_t size = cJSON_IsNumber(s) ? (uint64_t)s->valuedouble : 0;
    int64_t mt = entry_mtime(hit);
    if (!force && ((op->has_size && size != op->size) ||
                   (op->has_remote_mtime && mt != op->remote_mtime_ms))) {
      rc = bk_seterr(BK_ESTALE, "plan is stale: remote %s changed since the plan was made (re-plan, or --force)", op->path);
      break;
    }
    free(op->xet_hash);
    op->xet_hash = cJSON_IsString(h) ? strdup(h->valuestring) : NULL;
    op->size = size;
    op->has_size = 1;
    op->remote_mtime_ms = mt;
    op->has_remote_mtime = 1;
    if (!op->xet_hash) rc = bk_seterr(BK_EFORMAT, "%s: no xetHash", op->path);
  }
  free(rel);
  cJSON_Delete(arr);
  for (size_t i = 0; i < n; i++) free(own[i]);
  free(own);
  free(paths);
  return rc;
}

static int execute(bk_client *c, bk_plan *p, int force, bk_transfer_stats *stats) {
  ends e;
  int rc = parse_ends(p->source, p->dest, &e);
  for (size_t i = 0; !rc && i < p->nops; i++)
    if (!bk_safe_relpath(p->ops[i].path))
      rc = bk_seterr(BK_EINVAL, "plan contains an unsafe path: %s", p->ops[i].path);
  if (!rc && p->nops > 1) {
    const char **sorted = malloc(p->nops * sizeof *sorted);
    if (!sorted) rc = bk_seterr(BK_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->nops; i++) sorted[i] = p->ops[i].path;
    if (!rc) qsort(sorted, p->nops, sizeof *sorted, cmp_cstr);
    for (size_t i = 1; !rc && i < p->nops; i++)
      if (strcmp(sorted[i - 1], sorted[i]) == 0)
        rc = bk_seterr(BK_EINVAL, "plan lists %s twice", sorted[i]);
    free(sorted);
  }
  bk_plan_summary sum;
  bk_plan_summarize(p, &sum);
  /* staleness: every upload source must still have the planned size/mtime */
  for (size_t i = 0; !rc && !force && e.upload && i < p->nops; i++) {
    bk_plan_op *op = &p->ops[i];
    if (op->action != BK_ACT_UPLOAD) continue;
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", e.local, op->path);
    struct stat st;
    if (stat(full, &st) || !S_ISREG(st.st_mode)) {
      rc = bk_seterr(BK_ESTALE, "plan is stale: %s no longer exists (re-plan, or --force to skip the check)", full);
    } else if ((op->has_size && (uint64_t)st.st_size != op->size) ||
               (op->has_local_mtime && st_mtime_ms(&st) != op->local_mtime_ms)) {
      rc = bk_seterr(BK_ESTALE, "plan is stale: %s changed since the plan was made (size %llu -> %lld); re-plan, or --force",
                     full, (unsigned long long)op->size, (long long)st.st_size);
    }
  }
  if (!rc && !e.upload) rc = remote_recheck(c, &e, p, force);
  if (rc) {
    ends_free(&e);
    return rc;
  }
  for (size_t i = 0; i < p->nops; i++) {
    const bk_plan_op *op = &p->ops[i];
    const char *verb = op->action == BK_ACT_UPLOAD ? "Uploading" : op->action == BK_ACT_DOWNLOAD ? "Downloading"
                       : op->action == BK_ACT_DELETE ? "Deleting" : "Skipping";
    bk_client_log(c, 1, "  %s: %s (%s)", verb, op->path, bk_plan_op_reason(op));
  }
  if (e.upload) {
    size_t nu = 0, nd = 0;
    for (size_t i = 0; i < p->nops; i++) {
      nu += p->ops[i].action == BK_ACT_UPLOAD;
      nd += p->ops[i].action == BK_ACT_DELETE;
    }
    bk_client_log(c, 0, "Uploading %zu files, deleting %zu files", nu, nd);
    bk_upload_item *items = calloc(nu ? nu : 1, sizeof *items);
    char **locs = calloc(nu ? nu : 1, sizeof *locs);
    char **rems = calloc((nu + nd) ? nu + nd : 1, sizeof *rems);
    if (!items || !locs || !rems) rc = bk_seterr(BK_ENOMEM, "out of memory");
    size_t ku = 0, kd = 0;
    for (size_t i = 0; !rc && i < p->nops; i++) {
      bk_plan_op *op = &p->ops[i];
      if (op->action == BK_ACT_UPLOAD) {
        size_t n = strlen(e.local) + strlen(op->path) + 2;
        locs[ku] = malloc(n);
        rems[ku + kd] = join_remote(e.prefix, op->path);
        if (!locs[ku] || !rems[ku + kd]) {
          rc = bk_seterr(BK_ENOMEM, "out of memory");
          break;
        }
        snprintf(locs[ku], n, "%s/%s", e.local, op->path);
        items[ku].local_path = locs[ku];
        items[ku].remote_path = rems[ku + kd];
        items[ku].mtime_ms = -1;
        ku++;
      }
    }
    if (!rc && nu) rc = bk_upload(c, e.id, items, nu, stats);
    const char **dels = calloc(nd ? nd : 1, sizeof *dels);
    for (size_t i = 0; !rc && i < p->nops; i++) {
      if (p->ops[i].action != BK_ACT_DELETE) continue;
      rems[nu + kd] = join_remote(e.prefix, p->ops[i].path);
      if (!rems[nu + kd] || !dels) {
        rc = bk_seterr(BK_ENOMEM, "out of memory");
        break;
      }
      dels[kd] = rems[nu + kd];
      kd++;
    }
    if (!rc && kd) rc = bk_bucket_delete_files(c, e.id, dels, kd);
    free(dels);
    for (size_t i = 0; i < ku; i++) free(locs[i]);
    for (size_t i = 0; i < ku + kd; i++) free(rems[i]);
    free(items);
    free(locs);
    free(rems);
  } else {
    size_t nd = 0, nx = 0;
    for (size_t i = 0; i < p->nops; i++) {
      nd += p->ops[i].action == BK_ACT_DOWNLOAD;
      nx += p->ops[i].action == BK_ACT_DELETE;
    }
    bk_client_log(c, 0, "Downloading %zu files", nd);
    if (mkdir(e.local, 0755) && errno != EEXIST)
      rc = bk_seterr(BK_EIO, "mkdir %s: %s", e.local, strerror(errno));
    dljob j;
    memset(&j, 0, sizeof j);
    j.c = c;
    j.id = e.id;
    j.local = e.local;
    j.prefix = e.prefix;
    pthread_mutex_init(&j.mu, NULL);
    j.ops = calloc(nd ? nd : 1, sizeof *j.ops);
    j.tmps = calloc(nd ? nd : 1, sizeof *j.tmps);
    if (!j.tmps && !rc) rc = bk_seterr(BK_ENOMEM, "out of memory");
    if (!j.ops && !rc) rc = bk_seterr(BK_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->nops; i++)
      if (p->ops[i].action == BK_ACT_DOWNLOAD) j.ops[j.n++] = &p->ops[i];
    pthread_mutex_lock(&c->mu);
    memset(&c->prog, 0, sizeof c->prog);
    c->prog.phase = 2;
    c->prog.files_total = nd;
    c->prog.bytes_total = sum.total_size;
    pthread_mutex_unlock(&c->mu);
    if (!rc) rc = run_downloads(c, &j, stats);
    for (size_t i = 0; j.tmps && i < j.n; i++) free(j.tmps[i]);
    free(j.tmps);
    free(j.ops);
    pthread_mutex_destroy(&j.mu);
    if (!rc && nx) bk_client_log(c, 0, "Deleting %zu local files", nx);
    for (size_t i = 0; !rc && i < p->nops; i++) {
      if (p->ops[i].action != BK_ACT_DELETE) continue;
      char full[8192];
      snprintf(full, sizeof full, "%s/%s", e.local, p->ops[i].path);
      if (unlink(full) && errno != ENOENT) rc = bk_seterr(BK_EIO, "cannot delete %s: %s", full, strerror(errno));
      else remove_empty_parents(e.local, p->ops[i].path);
    }
  }
  ends_free(&e);
  return rc;
}

int bk_sync_apply_jsonl(bk_client *c, const char *jsonl, int force, bk_transfer_stats *stats) {
  bk_transfer_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  double t0 = bk_mono_s();
  bk_plan p;
  int rc = bk_plan_from_jsonl(jsonl, strlen(jsonl), &p);
  if (rc) return rc;
  rc = execute(c, &p, force, stats);
  bk_plan_free(&p);
  stats->seconds = bk_mono_s() - t0;
  return rc;
}

int bk_sync_execute_plan(bk_client *c, bk_plan *p, int force, bk_transfer_stats *stats) {
  bk_transfer_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  double t0 = bk_mono_s();
  int rc = execute(c, p, force, stats);
  stats->seconds = bk_mono_s() - t0;
  return rc;
}

int bk_sync(bk_client *c, const bk_sync_opts *o, char **jsonl, bk_transfer_stats *stats) {
  bk_plan p;
  bk_plan_init(&p);
  int rc = bk_sync_plan_compute(c, o, &p);
  if (!rc && jsonl) {
    bk_buf b;
    bk_buf_init(&b, (size_t)1 << 34);
    rc = bk_plan_to_jsonl(&p, &b);
    if (!rc) rc = bk_buf_append_u8(&b, 0);
    if (!rc) {
      *jsonl = (char *)b.p;
      b.p = NULL;
    }
    bk_buf_free(&b);
  }
  /* fresh plan: the sources were just listed, no staleness check needed */
  if (!rc) rc = bk_sync_execute_plan(c, &p, 1, stats);
  bk_plan_free(&p);
  return rc;
}

/* ---------------------------------------------------------------- many files */

int bk_download_files(bk_client *c, const char *bucket_id, const bk_download_item *items,
                      size_t n, bk_transfer_stats *stats) {
  bk_transfer_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  if (n == 0) return 0;
  char *id = NULL;
  int rc = bk_uri_parse_id(bucket_id, &id);
  if (rc) return rc;
  double t0 = bk_mono_s();
  bk_plan_op *ops = calloc(n, sizeof *ops);
  bk_plan_op **pops = calloc(n, sizeof *pops);
  const char **fulls = calloc(n, sizeof *fulls);
  dljob j;
  memset(&j, 0, sizeof j);
  j.tmps = calloc(n, sizeof *j.tmps);
  if (!ops || !pops || !fulls || !j.tmps) rc = bk_seterr(BK_ENOMEM, "out of memory");
  uint64_t total = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    if (!items[i].xet_hash || !items[i].local_path) {
      rc = bk_seterr(BK_EINVAL, "download item %zu lacks a hash or a path", i);
      break;
    }
    ops[i].action = BK_ACT_DOWNLOAD;
    ops[i].path = (char *)items[i].local_path; /* borrowed: messages only */
    ops[i].xet_hash = (char *)items[i].xet_hash;
    ops[i].has_size = 1;
    ops[i].size = items[i].size;
    ops[i].has_remote_mtime = items[i].mtime_ms >= 0;
    ops[i].remote_mtime_ms = items[i].mtime_ms;
    pops[i] = &ops[i];
    fulls[i] = items[i].local_path;
    total += items[i].size;
  }
  if (!rc) {
    /* two items writing one path would share a temp file: refuse */
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) rc = bk_seterr(BK_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) sorted[i] = fulls[i];
    if (!rc) qsort(sorted, n, sizeof *sorted, cmp_cstr);
    for (size_t i = 1; !rc && i < n; i++)
      if (strcmp(sorted[i - 1], sorted[i]) == 0)
        rc = bk_seterr(BK_EINVAL, "%s is the destination of two downloads", sorted[i]);
    free(sorted);
  }
  if (!rc) {
    j.c = c;
    j.id = id;
    j.local = ".";
    j.prefix = "";
    j.ops = pops;
    j.n = n;
    j.fulls = fulls;
    pthread_mutex_init(&j.mu, NULL);
    pthread_mutex_lock(&c->mu);
    memset(&c->prog, 0, sizeof c->prog);
    c->prog.phase = 2;
    c->prog.files_total = n;
    c->prog.bytes_total = total;
    pthread_mutex_unlock(&c->mu);
    rc = run_downloads(c, &j, stats);
    pthread_mutex_destroy(&j.mu);
  }
  for (size_t i = 0; j.tmps && i < n; i++) free(j.tmps[i]);
  free(j.tmps);
  free(ops);
  free(pops);
  free(fulls);
  free(id);
  stats->seconds = bk_mono_s() - t0;
  return rc;
}

/* ---------------------------------------------------------------- copy */

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

int bk_bucket_copy(bk_client *c, const char *src_uri, const char *dst_uri) {
  char *sid = NULL, *spath = NULL, *did = NULL, *dpath = NULL;
  int rc = bk_uri_parse(src_uri, 0, &sid, &spath);
  if (!rc) rc = bk_uri_parse(dst_uri, 0, &did, &dpath);
  cJSON *srcs = NULL, *dinfo = NULL;
  bk_buf b;
  bk_buf_init(&b, (size_t)1 << 34);
  if (rc) goto out;
  size_t sl = strlen(spath);
  int src_contents = sl > 0 && spath[sl - 1] == '/';
  while (sl > 0 && spath[sl - 1] == '/') spath[--sl] = 0;
  size_t dl = strlen(dpath);
  int dst_dir = dl == 0 || dpath[dl - 1] == '/';
  while (dl > 0 && dpath[dl - 1] == '/') dpath[--dl] = 0;
  /* is the source a file? */
  int is_file = 0;
  if (sl > 0) {
    const char *pp[1] = {spath};
    rc = bk_paths_info_json(c, sid, pp, 1, &srcs);
    if (rc) goto out;
    is_file = cJSON_GetArraySize(srcs) > 0;
    if (!is_file) {
      cJSON_Delete(srcs);
      srcs = NULL;
    }
  }
  if (!is_file) {
    rc = bk_tree_json(c, sid, spath, 1, &srcs);
    if (rc) goto out;
    if (cJSON_GetArraySize(srcs) == 0) {
      rc = bk_seterr(BK_ENOTFOUND, "%s: no such file or folder", src_uri);
      goto out;
    }
  }
  if (!dst_dir && dl > 0) {
    /* an existing remote "directory" also counts as a directory */
    rc = bk_tree_json(c, did, dpath, 0, &dinfo);
    if (rc == BK_ENOTFOUND) goto out;
    rc = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, dinfo) {
      const cJSON *pp = cJSON_GetObjectItemCaseSensitive(x, "path");
      if (cJSON_IsString(pp) && strcmp(pp->valuestring, dpath) != 0) dst_dir = 1;
    }
  }
  const cJSON *x;
  cJSON_ArrayForEach(x, srcs) {
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(x, "path");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(x, "xetHash");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(x, "type");
    if (!cJSON_IsString(pp) || !cJSON_IsString(h)) continue;
    if (cJSON_IsString(t) && strcmp(t->valuestring, "file") != 0) continue;
    char dest[8192];
    if (is_file) {
      if (dst_dir) snprintf(dest, sizeof dest, "%s%s%s", dpath, dl ? "/" : "", base_name(spath));
      else snprintf(dest, sizeof dest, "%s", dpath);
    } else {
      const char *rel = sl ? pp->valuestring + sl + 1 : pp->valuestring;
      char sub[4096] = "";
      if (!src_contents && sl) snprintf(sub, sizeof sub, "%s/", base_name(spath));
      snprintf(dest, sizeof dest, "%s%s%s%s", dpath, dl ? "/" : "", sub, rel);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "copyFile");
    cJSON_AddStringToObject(o, "path", dest);
    cJSON_AddStringToObject(o, "xetHash", h->valuestring);
    cJSON_AddStringToObject(o, "sourceRepoType", "bucket");
    cJSON_AddStringToObject(o, "sourceRepoId", sid);
    int64_t mt = entry_mtime(x);
    if (mt) cJSON_AddNumberToObject(o, "mtime", (double)mt);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s || bk_buf_printf(&b, "%s\n", s)) rc = bk_seterr(BK_ENOMEM, "out of memory");
    free(s);
    if (rc) goto out;
  }
  if (b.len == 0) {
    rc = bk_seterr(BK_ENOTFOUND, "%s: nothing to copy", src_uri);
    goto out;
  }
  rc = bk_buf_append_u8(&b, 0);
  if (!rc) rc = bk_bucket_batch(c, did, (const char *)b.p, NULL);
out:
  bk_buf_free(&b);
  cJSON_Delete(srcs);
  cJSON_Delete(dinfo);
  free(sid);
  free(spath);
  free(did);
  free(dpath);
  return rc;
}
