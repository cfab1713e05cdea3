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
#include <strings.h>
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

/* nofollow (download direction): symlinks are not listed at all, so they
 * are neither compared, nor deleted, nor written through. */
static int walk(const char *root, const char *rel, entries *out, int depth, int nofollow) {
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
    if (nofollow ? lstat(full, &st) : stat(full, &st)) continue;
    if (S_ISDIR(st.st_mode)) {
      struct stat lst;
      if (lstat(full, &lst) == 0 && S_ISLNK(lst.st_mode)) continue;
      rc = walk(root, r2, out, depth + 1, nofollow);
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

/* Content check of the ambiguous rows: the local file's Xet hash (read and
 * chunked here, the only place a plan reads file content) against the
 * remote xetHash. Download direction: the file is opened beneath the
 * target without following symlinks. */
typedef struct same_ctx {
  bk_client *c;
  int upload;
  const char *local;
  int rootfd;
  size_t hashed;
} same_ctx;

static int same_content(void *ctx, const bk_sync_entry *l, const bk_sync_entry *r, int *same) {
  same_ctx *sc = ctx;
  *same = 0;
  if (!r->xet_hash) return 0;
  int fd = -1;
  if (sc->upload) {
    size_t n = strlen(sc->local) + strlen(l->path) + 2;
    char *full = malloc(n);
    if (!full) return bk_seterr(BK_ENOMEM, "out of memory");
    snprintf(full, n, "%s/%s", sc->local, l->path);
    fd = open(full, O_RDONLY | O_CLOEXEC);
    free(full);
  } else if (sc->rootfd >= 0 && bk_lfs_open_read(sc->rootfd, l->path, &fd)) {
    fd = -1;
  }
  if (fd < 0) return 0; /* unreadable: transfer (the transfer reports why) */
  char hex[65];
  int rc = bk_lfs_hash_fd(fd, hex);
  close(fd);
  sc->hashed++;
  if (rc == BK_ENOMEM) return rc;
  *same = rc == 0 && strcasecmp(hex, r->xet_hash) == 0;
  return 0;
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
  int rootfd = -1;
  if (!rc && e.upload) {
    struct stat st;
    if (stat(e.local, &st) == 0 && S_ISREG(st.st_mode)) /* as the official client */
      rc = bk_seterr(BK_EINVAL, "source %s is a file: sync uploads a directory (use `hf cp` for one file)",
                     e.local);
    else if (stat(e.local, &st) || !S_ISDIR(st.st_mode))
      rc = bk_seterr(BK_EINVAL, "source %s is not a directory", e.local);
    if (!rc) rc = walk(e.local, "", &loc, 0, 0);
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
    if (!rc && stat(e.local, &st) == 0 && (rc = bk_lfs_open_dir(e.local, 0, &rootfd)) == 0) {
      if (o->delete_files) {
        rc = walk(e.local, "", &loc, 0, 1);
        if (loc.n) qsort(loc.e, loc.n, sizeof *loc.e, cmp_entry);
      } else {
        /* beneath the target, no symlink followed: a path through a
         * symlink counts as absent here and is refused when downloading */
        for (size_t i = 0; !rc && i < rem.n; i++)
          if (bk_lfs_lstat(rootfd, rem.e[i].path, &st) == 0 && S_ISREG(st.st_mode))
            rc = entries_add(&loc, rem.e[i].path, (uint64_t)st.st_size, st_mtime_ms(&st), NULL);
      }
      if (!rc) bk_client_log(c, 0, "Scanning local directory (%zu files)", loc.n);
    }
  }
  if (!rc) {
    bk_sync_mode m = {e.upload, o->delete_files, o->ignore_times, o->ignore_sizes, o->existing,
                      o->ignore_existing};
    bk_client_log(c, 0, "Comparing files (%zu paths)", loc.n + rem.n);
    char ts[40];
    bk_iso_from_ms(bk_now_ms(), ts);
    plan->source = strdup(o->source);
    plan->dest = strdup(o->dest);
    plan->timestamp = strdup(ts);
    same_ctx sc = {c, e.upload, e.local, rootfd, 0};
    if (e.upload) rc = bk_plan_compute_ex(plan, &m, f, loc.e, loc.n, rem.e, rem.n, same_content, &sc);
    else rc = bk_plan_compute_ex(plan, &m, f, rem.e, rem.n, loc.e, loc.n, same_content, &sc);
    if (!rc && sc.hashed) bk_client_log(c, 0, "Compared the content of %zu files (same size, mtimes within 1 s)", sc.hashed);
  }
  if (rootfd >= 0) close(rootfd);
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
  int rootfd;                 /* sync: the target directory */
  const char *const *roots;   /* bk_download_files: directory of each op, or NULL */
  const char *const *rels;    /* ... and its file name */
  bk_client *c;
  char **tmps; /* per op: temp file (relative to its root) awaiting syncfs + rename */
  char **errs; /* per op: why it failed (reported, skipped), or NULL */
  const char *id;
  bk_plan_op **ops;
  size_t n, next;
  pthread_mutex_t mu;
  int err; /* fatal (network, auth, memory): stops every transfer */
  char errmsg[512];
  bk_transfer_stats st;
} dljob;

/* Root directory fd and relative path of op i. With roots (explicit local
 * paths) the directory is opened (created) here and the caller closes it
 * with op_dest_done. */
static int op_dest(const dljob *j, size_t i, int create, int *fd, const char **rel) {
  if (!j->roots) {
    *fd = j->rootfd;
    *rel = j->ops[i]->path;
    return 0;
  }
  *rel = j->rels[i];
  return bk_lfs_open_dir(j->roots[i], create, fd);
}

static void op_dest_done(const dljob *j, int fd) {
  if (j->roots && fd >= 0) close(fd);
}

/* Network, authentication and memory failures stop the whole transfer;
 * anything else concerns one file: it is reported and the others go on. */
static int fatal_error(int rc) { return rc == BK_ENET || rc == BK_EAUTH || rc == BK_ENOMEM; }

/* Records op i's failure (message from bk_errmsg); call with j->mu held. */
static void op_fail_locked(dljob *j, size_t i, int rc) {
  if (fatal_error(rc)) {
    if (!j->err) {
      j->err = rc;
      snprintf(j->errmsg, sizeof j->errmsg, "%.200s: %s", j->ops[i]->path, bk_errmsg());
    }
    return;
  }
  if (!j->errs[i] && !(j->errs[i] = strdup(bk_errmsg())) && !j->err) {
    j->err = BK_ENOMEM;
    snprintf(j->errmsg, sizeof j->errmsg, "out of memory");
  }
}

static void op_fail(dljob *j, size_t i, int rc) {
  pthread_mutex_lock(&j->mu);
  op_fail_locked(j, i, rc);
  pthread_mutex_unlock(&j->mu);
}

static void *dl_files(void *arg) {
  dljob *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    size_t i = j->next++;
    int stop = j->err != 0;
    int skip = i < j->n && (j->tmps[i] || j->errs[i]); /* done by a batch, or failed */
    pthread_mutex_unlock(&j->mu);
    if (stop || i >= j->n) return NULL;
    if (skip) continue;
    bk_plan_op *op = j->ops[i];
    bk_transfer_stats st;
    memset(&st, 0, sizeof st);
    char tmp[4400];
    int fd;
    const char *rel;
    int rc = op_dest(j, i, 1, &fd, &rel);
    if (!rc)
      rc = bk_download_hash_ex(j->c, j->id, op->xet_hash, op->has_size ? op->size : (uint64_t)-1,
                               op->has_remote_mtime ? op->remote_mtime_ms : -1, fd, rel, 0, tmp,
                               sizeof tmp, &st);
    op_dest_done(j, fd);
    char *t = rc ? NULL : strdup(tmp);
    if (!rc && !t) rc = bk_seterr(BK_ENOMEM, "out of memory");
    pthread_mutex_lock(&j->mu);
    if (rc) op_fail_locked(j, i, rc);
    else j->tmps[i] = t;
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

/* Before any transfer: each destination's parents are created beneath the
 * target and its file name checked (no symlink, not a directory, not too
 * long for the filesystem). A file that cannot be written is reported and
 * not fetched at all. */
static void preflight(dljob *j) {
  for (size_t i = 0; i < j->n && !j->err; i++) {
    int fd, dfd = -1;
    const char *rel, *base;
    int rc = op_dest(j, i, 1, &fd, &rel);
    if (!rc) rc = bk_lfs_parent(fd, rel, 1, &dfd, &base);
    if (!rc) rc = bk_lfs_check_dest(dfd, rel, base);
    if (dfd >= 0) close(dfd);
    op_dest_done(j, fd);
    if (rc) op_fail(j, i, rc);
  }
}

/* The directory part of op i's destination, for grouping directory fsyncs. */
static int same_dir(const dljob *j, size_t a, size_t b) {
  const char *ra = j->roots ? j->rels[a] : j->ops[a]->path;
  const char *rb = j->roots ? j->rels[b] : j->ops[b]->path;
  if (j->roots && strcmp(j->roots[a], j->roots[b]) != 0) return 0;
  const char *sa = strrchr(ra, '/'), *sb = strrchr(rb, '/');
  size_t la = sa ? (size_t)(sa - ra) : 0, lb = sb ? (size_t)(sb - rb) : 0;
  return la == lb && strncmp(ra, rb, la) == 0;
}

/* Batch durability for downloads: one syncfs for all verified temp files,
 * then the renames, then one fsync per directory after its last rename. A
 * file whose rename fails is reported; its temp file is removed. After a
 * fatal error the verified files are still committed (they are whole). */
static void commit_downloads(dljob *j) {
  int synced_rc = 0;
  const char *last_root = NULL;
  for (size_t i = 0; i < j->n && !synced_rc; i++) {
    if (!j->tmps[i]) continue;
    if (!j->roots && last_root) break; /* one target: one syncfs */
    if (j->roots && last_root && strcmp(last_root, j->roots[i]) == 0) continue;
    int fd;
    const char *rel;
    int rc = op_dest(j, i, 0, &fd, &rel);
    if (!rc && syncfs(fd)) rc = bk_seterr(BK_EIO, "syncfs: %s", strerror(errno));
    op_dest_done(j, fd);
    if (rc) synced_rc = rc;
    last_root = j->roots ? j->roots[i] : "";
  }
  for (size_t i = 0; i < j->n; i++) {
    if (!j->tmps[i]) continue;
    int fd;
    const char *rel;
    int rc = op_dest(j, i, 0, &fd, &rel);
    if (!rc && synced_rc) {
      rc = bk_seterr(synced_rc, "%.300s: not made durable (syncfs failed)", rel);
      int dfd;
      const char *base;
      if (bk_lfs_parent(fd, j->tmps[i], 0, &dfd, &base) == 0) {
        (void)unlinkat(dfd, base, 0);
        close(dfd);
      }
    } else if (!rc) {
      size_t k = i + 1;
      while (k < j->n && !j->tmps[k]) k++;
      rc = bk_lfs_commit(fd, j->tmps[i], rel, k >= j->n || !same_dir(j, i, k));
    }
    op_dest_done(j, fd);
    if (rc) {
      op_fail(j, i, rc);
      pthread_mutex_lock(&j->mu);
      j->st.files -= j->st.files > 0;
      j->st.bytes -= j->st.bytes >= j->ops[i]->size ? j->ops[i]->size : j->st.bytes;
      pthread_mutex_unlock(&j->mu);
    }
    free(j->tmps[i]);
    j->tmps[i] = NULL;
  }
}

#define BATCH_FILES 100
#define BATCH_MAX_SIZE (8u << 20)

static void *batch_worker(void *arg) {
  dljob *j = arg;
  for (;;) {
    bk_dl_item items[BATCH_FILES];
    size_t idx[BATCH_FILES], m = 0;
    pthread_mutex_lock(&j->mu);
    size_t i = j->bnext;
    for (; i < j->n && m < BATCH_FILES && !j->err; i++) {
      bk_plan_op *op = j->ops[i];
      if (!op->has_size || op->size > BATCH_MAX_SIZE || !op->xet_hash || j->errs[i]) continue;
      idx[m++] = i;
    }
    j->bnext = i;
    pthread_mutex_unlock(&j->mu);
    if (m == 0) return NULL;
    for (size_t k = 0; k < m; k++) {
      bk_plan_op *op = j->ops[idx[k]];
      items[k].hash = op->xet_hash;
      items[k].size = op->size;
      items[k].mtime_ms = op->has_remote_mtime ? op->remote_mtime_ms : -1;
      items[k].rootfd = j->roots ? -1 : j->rootfd;
      items[k].root_path = j->roots ? j->roots[idx[k]] : NULL;
      items[k].rel = j->roots ? j->rels[idx[k]] : op->path;
      items[k].tmp = NULL;
    }
    bk_transfer_stats bst;
    memset(&bst, 0, sizeof bst);
    if (bk_download_batch(j->c, j->id, items, m, &bst) == 0) {
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
  }
}

/* 1 when msg starts with path (localfs messages name the path, cut to 300
 * bytes). */
static int names_path(const char *msg, const char *path) {
  size_t pl = strlen(path);
  if (pl > 300) pl = 300;
  return strncmp(msg, path, pl) == 0;
}

/* msg after its leading path (as matched by names_path) and ": " or " ". */
static const char *skip_path(const char *msg, const char *path) {
  size_t pl = strlen(path);
  const char *p = msg + (pl > 300 ? 300 : pl);
  if (p[0] == ':' && p[1] == ' ') return p + 2;
  return *p == ' ' ? p + 1 : p;
}

/* Reports every failed op (log level 2, in plan order) and returns 0, the
 * fatal error, or BK_EPARTIAL naming the count and the first failure. */
static int report_failures(dljob *j, const char *what) {
  size_t nfail = 0, first = 0;
  for (size_t i = 0; i < j->n; i++) {
    if (!j->errs[i]) continue;
    if (!nfail++) first = i;
    const char *path = j->ops[i]->path, *msg = j->errs[i];
    if (names_path(msg, path)) msg = skip_path(msg, path);
    bk_client_log(j->c, 2, "%s: %s", path, msg);
  }
  if (j->err) return bk_seterr(j->err, "%s", j->errmsg);
  if (!nfail) return 0;
  const char *msg = j->errs[first], *path = j->ops[first]->path;
  int with_path = !names_path(msg, path);
  return bk_seterr(BK_EPARTIAL, "%zu of %zu files could not be %s (%zu done; first failure: %.150s%s%.250s)",
                   nfail, j->n, what, j->n - nfail, with_path ? path : "", with_path ? ": " : "", msg);
}

/* Preflight, batches for small files, then 8 threads for the rest, then
 * the batch commit (syncfs, renames, dir fsyncs). The caller reports the
 * failures (report_failures). */
static int run_downloads(bk_client *c, dljob *jp, bk_transfer_stats *stats) {
  if (!jp->n) return 0;
  preflight(jp);
  /* small files: batch reconstructions of up to 100 files, 8 batches in
   * parallel (falls back to one file at a time for a batch that fails) */
  if (!jp->err && !getenv("BK_NO_BATCH_DOWNLOAD")) {
    pthread_t bt[8];
    unsigned bstarted = 0, nbt = c->parallel < 8 ? c->parallel : 8;
    for (unsigned i = 1; i < nbt; i++) {
      if (pthread_create(&bt[i], NULL, batch_worker, jp)) break;
      bstarted = i;
    }
    batch_worker(jp);
    for (unsigned i = 1; i <= bstarted; i++) pthread_join(bt[i], NULL);
  }
  if (!jp->err && jp->n > jp->done_batched) {
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
  }
  commit_downloads(jp);
  if (stats) {
    stats->files += jp->st.files;
    stats->bytes += jp->st.bytes;
    stats->bytes_received += jp->st.bytes_received;
  }
  return 0;
}

typedef struct relent {
  const char *path; /* relative to the sync prefix */
  const cJSON *item;
} relent;

static int relent_cmp(const void *a, const void *b) {
  return strcmp(((const relent *)a)->path, ((const relent *)b)->path);
}

/* Last segment of a remote prefix (the whole prefix when it has no '/'). */
static const char *prefix_base(const char *prefix) {
  const char *b = strrchr(prefix, '/');
  return b ? b + 1 : prefix;
}

/* The paths-info answers by path relative to the prefix, sorted for binary
 * search (entries borrow from arr). The prefix itself, when asked for
 * (ask_prefix) and a file, answers for its base name. *out is malloc'd. */
static int index_answers(const ends *e, const cJSON *arr, int ask_prefix, relent **out,
                         size_t *nout) {
  size_t pl = strlen(e->prefix), nrel = 0;
  relent *rel = malloc((size_t)(cJSON_GetArraySize(arr) + 1) * sizeof *rel);
  if (!rel) return bk_seterr(BK_ENOMEM, "out of memory");
  const cJSON *x;
  cJSON_ArrayForEach(x, arr) {
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(x, "path");
    if (!cJSON_IsString(pp)) continue;
    const char *rp;
    if (!pl) rp = pp->valuestring;
    else if (ask_prefix && strcmp(pp->valuestring, e->prefix) == 0) {
      const cJSON *t = cJSON_GetObjectItemCaseSensitive(x, "type");
      if (cJSON_IsString(t) && strcmp(t->valuestring, "file") != 0) continue; /* a folder */
      rp = prefix_base(e->prefix);
    }
    else if (strncmp(pp->valuestring, e->prefix, pl) || pp->valuestring[pl] != '/') continue;
    else rp = pp->valuestring + pl + 1;
    rel[nrel].path = rp;
    rel[nrel++].item = x;
  }
  qsort(rel, nrel, sizeof *rel, relent_cmp);
  *out = rel;
  *nout = nrel;
  return 0;
}

/* Checks each download op against the remote's answer (unless force: size
 * and mtime as planned) and fills its xet hash, size and remote mtime. */
static int apply_answers(bk_plan *p, const relent *rel, size_t nrel, int force) {
  for (size_t i = 0; i < p->nops; i++) {
    bk_plan_op *op = &p->ops[i];
    if (op->action != BK_ACT_DOWNLOAD) continue;
    relent key = {op->path, NULL};
    const relent *r = bsearch(&key, rel, nrel, sizeof *rel, relent_cmp);
    const cJSON *hit = r ? r->item : NULL;
    if (!hit)
      return bk_seterr(BK_ESTALE, "plan is stale: %s no longer exists in the bucket (re-plan, or --force to skip the check)", op->path);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(hit, "xetHash");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(hit, "size");
    uint64_t size = cJSON_IsNumber(s) ? (uint64_t)s->valuedouble : 0;
    int64_t mt = entry_mtime(hit);
    if (!force && ((op->has_size && size != op->size) ||
                   (op->has_remote_mtime && mt != op->remote_mtime_ms)))
      return bk_seterr(BK_ESTALE, "plan is stale: remote %s changed since the plan was made (re-plan, or --force)", op->path);
    free(op->xet_hash);
    op->xet_hash = cJSON_IsString(h) ? strdup(h->valuestring) : NULL;
    op->size = size;
    op->has_size = 1;
    op->remote_mtime_ms = mt;
    op->has_remote_mtime = 1;
    if (!op->xet_hash) return bk_seterr(BK_EFORMAT, "%s: no xetHash", op->path);
  }
  return 0;
}

/* Fills xet hashes (and checks staleness of download sources). A source that
 * names one file (hf://buckets/ns/b/dir/file.txt) was planned as that file's
 * base name (list_remote, as the official client does): besides prefix/PATH,
 * the prefix itself is asked for, and a file found there answers for its
 * base name. */
static int remote_recheck(bk_client *c, const ends *e, bk_plan *p, int force) {
  size_t n = 0, nq;
  int ask_prefix = 0;
  for (size_t i = 0; i < p->nops; i++) {
    if (p->ops[i].action != BK_ACT_DOWNLOAD) continue;
    n++;
    if (*e->prefix && strcmp(p->ops[i].path, prefix_base(e->prefix)) == 0) ask_prefix = 1;
  }
  if (!n) return 0;
  nq = n + (size_t)ask_prefix;
  const char **paths = calloc(nq, sizeof *paths);
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
  if (ask_prefix) paths[n] = e->prefix;
  cJSON *arr = NULL;
  if (!rc) rc = bk_paths_info_json(c, e->id, paths, nq, &arr);
  size_t nrel = 0;
  relent *rel = NULL;
  if (!rc) rc = index_answers(e, arr, ask_prefix, &rel, &nrel);
  if (!rc) rc = apply_answers(p, rel, nrel, force);
  free(rel);
  cJSON_Delete(arr);
  for (size_t i = 0; i < n; i++) free(own[i]);
  free(own);
  free(paths);
  return rc;
}

/* Staleness before an upload: every upload source must still be a regular
 * file with the planned size and mtime. */
static int check_upload_sources(const ends *e, const bk_plan *p) {
  for (size_t i = 0; i < p->nops; i++) {
    const bk_plan_op *op = &p->ops[i];
    if (op->action != BK_ACT_UPLOAD) continue;
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", e->local, op->path);
    struct stat st;
    if (stat(full, &st) || !S_ISREG(st.st_mode))
      return bk_seterr(BK_ESTALE, "plan is stale: %s no longer exists (re-plan, or --force to skip the check)", full);
    if ((op->has_size && (uint64_t)st.st_size != op->size) ||
        (op->has_local_mtime && st_mtime_ms(&st) != op->local_mtime_ms))
      return bk_seterr(BK_ESTALE, "plan is stale: %s changed since the plan was made (size %llu -> %lld); re-plan, or --force",
                       full, (unsigned long long)op->size, (long long)st.st_size);
  }
  return 0;
}

static void log_ops(bk_client *c, const bk_plan *p) {
  for (size_t i = 0; i < p->nops; i++) {
    const bk_plan_op *op = &p->ops[i];
    const char *verb = op->action == BK_ACT_UPLOAD ? "Uploading" : op->action == BK_ACT_DOWNLOAD ? "Downloading"
                       : op->action == BK_ACT_DELETE ? "Deleting" : "Skipping";
    bk_client_log(c, 1, "  %s: %s (%s)", verb, op->path, bk_plan_op_reason(op));
  }
}

/* Executes an upload plan: the uploads in one bk_upload, then the remote
 * deletes in one batch. */
static int execute_upload(bk_client *c, const ends *e, bk_plan *p, bk_transfer_stats *stats) {
  size_t nu = 0, nd = 0;
  for (size_t i = 0; i < p->nops; i++) {
    nu += p->ops[i].action == BK_ACT_UPLOAD;
    nd += p->ops[i].action == BK_ACT_DELETE;
  }
  bk_client_log(c, 0, "Uploading %zu files, deleting %zu files", nu, nd);
  int rc = 0;
  bk_upload_item *items = calloc(nu ? nu : 1, sizeof *items);
  char **locs = calloc(nu ? nu : 1, sizeof *locs);
  char **rems = calloc((nu + nd) ? nu + nd : 1, sizeof *rems);
  if (!items || !locs || !rems) rc = bk_seterr(BK_ENOMEM, "out of memory");
  size_t ku = 0, kd = 0;
  for (size_t i = 0; !rc && i < p->nops; i++) {
    bk_plan_op *op = &p->ops[i];
    if (op->action != BK_ACT_UPLOAD) continue;
    size_t n = strlen(e->local) + strlen(op->path) + 2;
    locs[ku] = malloc(n);
    rems[ku + kd] = join_remote(e->prefix, op->path);
    if (!locs[ku] || !rems[ku + kd]) {
      rc = bk_seterr(BK_ENOMEM, "out of memory");
      break;
    }
    snprintf(locs[ku], n, "%s/%s", e->local, op->path);
    items[ku].local_path = locs[ku];
    items[ku].remote_path = rems[ku + kd];
    items[ku].mtime_ms = -1;
    ku++;
  }
  if (!rc && nu) rc = bk_upload(c, e->id, items, nu, stats);
  const char **dels = calloc(nd ? nd : 1, sizeof *dels);
  for (size_t i = 0; !rc && i < p->nops; i++) {
    if (p->ops[i].action != BK_ACT_DELETE) continue;
    rems[nu + kd] = join_remote(e->prefix, p->ops[i].path);
    if (!rems[nu + kd] || !dels) {
      rc = bk_seterr(BK_ENOMEM, "out of memory");
      break;
    }
    dels[kd] = rems[nu + kd];
    kd++;
  }
  if (!rc && kd) rc = bk_bucket_delete_files(c, e->id, dels, kd);
  free(dels);
  for (size_t i = 0; i < ku; i++) free(locs[i]);
  for (size_t i = 0; i < ku + kd; i++) free(rems[i]);
  free(items);
  free(locs);
  free(rems);
  return rc;
}

/* Executes a download plan: the downloads (parallel, each failure reported),
 * then the local deletes unless a download failed. bytes_total is the
 * planned total size for the progress report. */
static int execute_download(bk_client *c, const ends *e, bk_plan *p, uint64_t bytes_total,
                            bk_transfer_stats *stats) {
  size_t nd = 0, nx = 0;
  for (size_t i = 0; i < p->nops; i++) {
    nd += p->ops[i].action == BK_ACT_DOWNLOAD;
    nx += p->ops[i].action == BK_ACT_DELETE;
  }
  bk_client_log(c, 0, "Downloading %zu files", nd);
  dljob j;
  memset(&j, 0, sizeof j);
  j.rootfd = -1;
  int rc = bk_lfs_open_dir(e->local, 1, &j.rootfd);
  j.c = c;
  j.id = e->id;
  pthread_mutex_init(&j.mu, NULL);
  /* deletes are ops too: their failures are reported the same way */
  size_t cap = nd + nx ? nd + nx : 1;
  j.ops = calloc(cap, sizeof *j.ops);
  j.tmps = calloc(cap, sizeof *j.tmps);
  j.errs = calloc(cap, sizeof *j.errs);
  if ((!j.tmps || !j.ops || !j.errs) && !rc) rc = bk_seterr(BK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < p->nops; i++)
    if (p->ops[i].action == BK_ACT_DOWNLOAD) j.ops[j.n++] = &p->ops[i];
  pthread_mutex_lock(&c->mu);
  memset(&c->prog, 0, sizeof c->prog);
  c->prog.phase = 2;
  c->prog.files_total = nd;
  c->prog.bytes_total = bytes_total;
  pthread_mutex_unlock(&c->mu);
  if (!rc) rc = run_downloads(c, &j, stats);
  if (!rc && !j.err && nx) bk_client_log(c, 0, "Deleting %zu local files", nx);
  for (size_t i = 0; !rc && !j.err && i < p->nops; i++) {
    if (p->ops[i].action != BK_ACT_DELETE) continue;
    size_t k = j.n++;
    j.ops[k] = &p->ops[i];
    int r = bk_lfs_unlink(j.rootfd, p->ops[i].path);
    if (r) op_fail(&j, k, r);
    else bk_lfs_rmdir_parents(j.rootfd, p->ops[i].path);
  }
  if (!rc) rc = report_failures(&j, nx ? "downloaded or deleted" : "downloaded");
  for (size_t i = 0; j.tmps && i < j.n; i++) free(j.tmps[i]);
  for (size_t i = 0; j.errs && i < j.n; i++) free(j.errs[i]);
  free(j.tmps);
  free(j.errs);
  free(j.ops);
  if (j.rootfd >= 0) close(j.rootfd);
  pthread_mutex_destroy(&j.mu);
  return rc;
}

/* Checks the plan (paths, then staleness unless force: local sources for an
 * upload, remote sources for a download, which also fills their xet
 * hashes), then executes it. */
static int execute(bk_client *c, bk_plan *p, int force, bk_transfer_stats *stats) {
  ends e;
  int rc = parse_ends(p->source, p->dest, &e);
  if (!rc) rc = bk_plan_check(p);
  bk_plan_summary sum;
  bk_plan_summarize(p, &sum);
  if (!rc && !force && e.upload) rc = check_upload_sources(&e, p);
  if (!rc && !e.upload) rc = remote_recheck(c, &e, p, force);
  if (!rc) {
    log_ops(c, p);
    rc = e.upload ? execute_upload(c, &e, p, stats)
                  : execute_download(c, &e, p, sum.total_size, stats);
  }
  ends_free(&e);
  return rc;
}

int bk_sync_apply_jsonl(bk_client *c, const char *jsonl, int force, bk_transfer_stats *stats) {
  bk_transfer_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  double t0 = bk_mono_ms();
  bk_plan p;
  int rc = bk_plan_from_jsonl(jsonl, strlen(jsonl), &p);
  if (rc) return rc;
  rc = execute(c, &p, force, stats);
  bk_plan_free(&p);
  stats->seconds = (bk_mono_ms() - t0) / 1e3;
  return rc;
}

int bk_sync_execute_plan(bk_client *c, bk_plan *p, int force, bk_transfer_stats *stats) {
  bk_transfer_stats local;
  if (!stats) stats = &local;
  memset(stats, 0, sizeof *stats);
  double t0 = bk_mono_ms();
  int rc = execute(c, p, force, stats);
  stats->seconds = (bk_mono_ms() - t0) / 1e3;
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
  double t0 = bk_mono_ms();
  bk_plan_op *ops = calloc(n, sizeof *ops);
  bk_plan_op **pops = calloc(n, sizeof *pops);
  char **roots = calloc(n, sizeof *roots);
  const char **rels = calloc(n, sizeof *rels);
  dljob j;
  memset(&j, 0, sizeof j);
  j.rootfd = -1;
  j.tmps = calloc(n, sizeof *j.tmps);
  j.errs = calloc(n, sizeof *j.errs);
  if (!ops || !pops || !roots || !rels || !j.tmps || !j.errs) rc = bk_seterr(BK_ENOMEM, "out of memory");
  uint64_t total = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    const char *lp = items[i].local_path;
    if (!items[i].xet_hash || !lp || !*lp) {
      rc = bk_seterr(BK_EINVAL, "download item %zu lacks a hash or a path", i);
      break;
    }
    /* the directory is the caller's choice; the file name is written
     * beneath it without following a symlink */
    const char *slash = strrchr(lp, '/');
    size_t dl = slash ? (slash == lp ? 1 : (size_t)(slash - lp)) : 1;
    if (!(roots[i] = malloc(dl + 1))) {
      rc = bk_seterr(BK_ENOMEM, "out of memory");
      break;
    }
    memcpy(roots[i], slash ? lp : ".", dl);
    roots[i][dl] = 0;
    rels[i] = slash ? slash + 1 : lp;
    ops[i].action = BK_ACT_DOWNLOAD;
    ops[i].path = (char *)lp; /* borrowed: messages only */
    ops[i].xet_hash = (char *)items[i].xet_hash;
    ops[i].has_size = 1;
    ops[i].size = items[i].size;
    ops[i].has_remote_mtime = items[i].mtime_ms >= 0;
    ops[i].remote_mtime_ms = items[i].mtime_ms;
    pops[i] = &ops[i];
    total += items[i].size;
  }
  if (!rc) {
    /* two items writing one path: refuse */
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) rc = bk_seterr(BK_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) sorted[i] = items[i].local_path;
    if (!rc) qsort(sorted, n, sizeof *sorted, cmp_cstr);
    for (size_t i = 1; !rc && i < n; i++)
      if (strcmp(sorted[i - 1], sorted[i]) == 0)
        rc = bk_seterr(BK_EINVAL, "%s is the destination of two downloads", sorted[i]);
    free(sorted);
  }
  if (!rc) {
    j.c = c;
    j.id = id;
    j.ops = pops;
    j.n = n;
    j.roots = (const char *const *)roots;
    j.rels = rels;
    pthread_mutex_init(&j.mu, NULL);
    pthread_mutex_lock(&c->mu);
    memset(&c->prog, 0, sizeof c->prog);
    c->prog.phase = 2;
    c->prog.files_total = n;
    c->prog.bytes_total = total;
    pthread_mutex_unlock(&c->mu);
    rc = run_downloads(c, &j, stats);
    if (!rc) rc = report_failures(&j, "downloaded");
    pthread_mutex_destroy(&j.mu);
  }
  for (size_t i = 0; j.tmps && i < n; i++) free(j.tmps[i]);
  for (size_t i = 0; j.errs && i < n; i++) free(j.errs[i]);
  for (size_t i = 0; roots && i < n; i++) free(roots[i]);
  free(j.tmps);
  free(j.errs);
  free(roots);
  free(rels);
  free(ops);
  free(pops);
  free(id);
  stats->seconds = (bk_mono_ms() - t0) / 1e3;
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
