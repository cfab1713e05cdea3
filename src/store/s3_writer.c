/* buckets — S3 backend: streaming writer, multipart upload, stale cleanup
 * (see s3_int.h, docs/store.md "S3 backend").
 *
 * A writer buffers up to part_size bytes in memory. A blob that fits is one
 * PUT at commit (If-None-Match: * unless replacing). A larger one becomes a
 * multipart upload, parts sent as the buffer fills:
 * - of the blob's own key when the writer was opened for its name
 *   (bk_blob_writer_open_as: xorb uploads, whole puts): an upload in progress
 *   is no object, so nothing is visible before the commit completes it
 *   (after a HEAD unless replacing: S3 has no conditional complete here;
 *   concurrent writers of one content-hash name carry the same content, the
 *   last complete wins, each with its own tag). RGW stores the bytes once;
 * - else of the staging key <prefix>tmp/<random>, completed at commit,
 *   server-side copied to the blob's key (the name was only known at
 *   commit; RGW writes the bytes twice), then the staging object deleted.
 * Every object carries the writer's random tag (S3_TAG_HDR). Abort (or any
 * failure) aborts the upload. clean_stale aborts uploads under <prefix>tmp/,
 * xorbs/ and shards/ not written to since a cutoff, and deletes staging
 * objects under tmp/ older than it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"
#include "store/s3_int.h"

/* one part upload in flight (its own thread) */
struct part_job {
  struct s3_writer *w;
  pthread_t th;
  int running;
  char *buf;
  size_t len, no;
  int rc;
  char etag[S3_ETAG_MAX];
  char err[256];
};

struct s3_writer {
  struct bk_blob_writer base;
  struct s3 *s;
  char *buf;
  size_t len;
  uint64_t total;
  char upkey[S3_KEY_MAX]; /* key of the multipart upload */
  int direct;             /* upkey is the blob's own key (named writer) */
  char upload_id[S3_UPLOAD_ID_MAX];
  char (*etags)[S3_ETAG_MAX];
  size_t nparts, cap; /* parts started; etags slots */
  int failed;         /* a part failed: the first error, kept */
  char failmsg[256];
  struct part_job jobs[S3_MAX_INFLIGHT];
  unsigned next; /* job slot for the next part (round robin) */
};

static int w_open(bk_blob_backend *be, bk_blob_kind kind, struct bk_blob_writer **out) {
  struct s3 *s = (struct s3 *)be;
  struct s3_writer *w = calloc(1, sizeof *w);
  if (!w || !(w->buf = s3_buf_get(s))) {
    free(w);
    return bk_seterr(BK_ENOMEM, "out of memory");
  }
  w->base.be = be;
  w->base.kind = kind;
  w->s = s;
  int rc = s3_random_hex(w->base.tag, 16); /* stored with the blob (S3_TAG_HDR) */
  if (rc) {
    s3_buf_put(s, w->buf);
    free(w);
    return rc;
  }
  *out = &w->base;
  return 0;
}

static int initiate(struct s3_writer *w) {
  struct s3 *s = w->s;
  char rnd[33];
  int rc = 0;
  w->direct = w->base.named;
  if (w->direct) rc = s3_key(s, w->base.kind, &w->base.name, w->upkey, sizeof w->upkey);
  else if (!(rc = s3_random_hex(rnd, 16)))
    snprintf(w->upkey, sizeof w->upkey, "%stmp/%s", s->prefix, rnd);
  if (rc) return rc;
  bk_buf b;
  bk_buf_init(&b, 64 << 10);
  char th[sizeof S3_TAG_HDR + BK_BLOB_TAG_MAX + 2];
  snprintf(th, sizeof th, "%s: %s", S3_TAG_HDR, w->base.tag);
  /* the tag goes with the object: multipart metadata, kept by the copy */
  struct s3req q = {.method = "POST", .key = w->upkey, .query = "uploads=", .out = &b, .idempotent = 1,
                    .hdr = {th}};
  struct s3_xml_page pg = {0};
  rc = s3_do(s, &q);
  if (!rc && q.status != 200) rc = s3_status_err(s, &q, "initiate multipart upload");
  if (!rc) rc = s3_xml_parse(s, (const char *)b.p, b.len, NULL, NULL, NULL, &pg);
  bk_buf_free(&b);
  if (!rc && !pg.upload_id[0]) rc = bk_seterr(BK_EIO, "s3://%s: multipart upload without UploadId", s->bucket);
  if (rc) return rc;
  snprintf(w->upload_id, sizeof w->upload_id, "%s", pg.upload_id);
  return 0;
}

/* A staged upload that vanished (404: NoSuchUpload / NoSuchKey on tmp/) was aborted by a concurrent
 * gc's stale-write cleanup (clean_stale below): the caller's race, BK_ESTALE, so the service answers
 * "retry" (CAS 503) instead of a missing object (404). */
static int staged_gone(struct s3_writer *w, int rc, const char *what) {
  if (rc != BK_ENOTFOUND) return rc;
  return bk_seterr(BK_ESTALE, "s3://%s: %s: staged upload %s vanished (a concurrent gc cleaned it up); retry",
                   w->s->bucket, what, w->upkey);
}

static void *part_main(void *arg) {
  struct part_job *j = arg;
  struct s3_writer *w = j->w;
  struct s3 *s = w->s;
  char uid[S3_UPLOAD_ID_MAX * 3 + 1], query[sizeof uid + 64];
  j->etag[0] = 0;
  int rc = s3_uri_encode(w->upload_id, uid, sizeof uid);
  snprintf(query, sizeof query, "partNumber=%zu&uploadId=%s", j->no, uid);
  struct s3req q = {.method = "PUT", .key = w->upkey, .query = query, .body = j->buf,
                    .body_len = j->len, .idempotent = 1};
  if (!rc) rc = s3_do(s, &q);
  if (!rc && q.status != 200) rc = staged_gone(w, s3_status_err(s, &q, "upload part"), "upload part");
  if (!rc && !q.etag[0]) rc = bk_seterr(BK_EIO, "s3://%s: part answer without ETag", s->bucket);
  if (!rc) snprintf(j->etag, sizeof j->etag, "%s", q.etag);
  if (rc) snprintf(j->err, sizeof j->err, "%s", bk_errmsg());
  j->rc = rc;
  return NULL;
}

/* waits for a job; its result goes to the writer (the first failure stays) */
static void join_job(struct s3_writer *w, struct part_job *j) {
  if (!j->running) return;
  if (j->running == 1) pthread_join(j->th, NULL);
  j->running = 0;
  if (j->rc && !w->failed) {
    w->failed = j->rc;
    snprintf(w->failmsg, sizeof w->failmsg, "%s", j->err);
  }
  if (!j->rc) snprintf(w->etags[j->no - 1], S3_ETAG_MAX, "%s", j->etag);
}

static int join_all(struct s3_writer *w) {
  for (unsigned i = 0; i < S3_MAX_INFLIGHT; i++) join_job(w, &w->jobs[i]);
  return w->failed ? bk_seterr(w->failed, "%s", w->failmsg) : 0;
}

/* hands buf[0..len) to a part upload (up to s->inflight at once) and takes a
 * free buffer back */
static int flush_part(struct s3_writer *w) {
  struct s3 *s = w->s;
  int rc = w->upload_id[0] ? 0 : initiate(w);
  if (rc) return rc;
  if (w->nparts >= S3_MAX_PARTS)
    return bk_seterr(BK_ELIMIT, "s3://%s: blob over %d parts of %zu bytes", s->bucket, S3_MAX_PARTS, s->part_size);
  if (w->nparts == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 16;
    void *p = realloc(w->etags, nc * sizeof *w->etags);
    if (!p) return bk_seterr(BK_ENOMEM, "out of memory");
    w->etags = p;
    w->cap = nc;
  }
  struct part_job *j = &w->jobs[w->next];
  w->next = (w->next + 1) % s->inflight;
  join_job(w, j);
  if (w->failed) return bk_seterr(w->failed, "%s", w->failmsg);
  char *spare = j->buf;
  if (!spare && !(spare = s3_buf_get(s))) return bk_seterr(BK_ENOMEM, "out of memory");
  *j = (struct part_job){.w = w, .buf = w->buf, .len = w->len, .no = ++w->nparts};
  w->buf = spare;
  w->len = 0;
  j->running = 1;
  if (pthread_create(&j->th, NULL, part_main, j) != 0) { /* no thread: send it here */
    part_main(j);
    j->running = 2;
  }
  return 0;
}

static int w_write(struct bk_blob_writer *bw, const void *data, size_t len) {
  struct s3_writer *w = (struct s3_writer *)bw;
  const char *p = data;
  while (len > 0) {
    if (w->len == w->s->part_size) { /* full and more is coming: send it */
      int rc = flush_part(w);
      if (rc) return rc;
    }
    size_t k = w->s->part_size - w->len;
    if (k > len) k = len;
    memcpy(w->buf + w->len, p, k);
    w->len += k;
    w->total += k;
    p += k;
    len -= k;
  }
  return 0;
}

static uint64_t w_size(const struct bk_blob_writer *bw) { return ((const struct s3_writer *)bw)->total; }

static void w_free(struct s3_writer *w) {
  join_all(w);
  for (unsigned i = 0; i < S3_MAX_INFLIGHT; i++) s3_buf_put(w->s, w->jobs[i].buf);
  s3_buf_put(w->s, w->buf);
  free(w->etags);
  free(w);
}

static void abort_upload(struct s3_writer *w) {
  char uid[S3_UPLOAD_ID_MAX * 3 + 1], query[sizeof uid + 16];
  if (!w->upload_id[0] || s3_uri_encode(w->upload_id, uid, sizeof uid)) return;
  snprintf(query, sizeof query, "uploadId=%s", uid);
  s3_delete_key(w->s, w->upkey, query); /* best effort: clean_stale catches a failure */
  w->upload_id[0] = 0;
}

static void w_abort(struct bk_blob_writer *bw) {
  struct s3_writer *w = (struct s3_writer *)bw;
  join_all(w); /* (its parts may still be running) */
  abort_upload(w);
  w_free(w);
}

/* POST ?uploadId: the staged object appears at upkey */
static int complete(struct s3_writer *w) {
  struct s3 *s = w->s;
  bk_buf body, ans;
  bk_buf_init(&body, (size_t)S3_MAX_PARTS * 200);
  bk_buf_init(&ans, 64 << 10);
  int rc = bk_buf_append(&body, "<CompleteMultipartUpload>", 25);
  for (size_t i = 0; !rc && i < w->nparts; i++) {
    char part[S3_ETAG_MAX + 96];
    int n = snprintf(part, sizeof part, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                     w->etags[i]);
    rc = bk_buf_append(&body, part, (size_t)n);
  }
  if (!rc) rc = bk_buf_append(&body, "</CompleteMultipartUpload>", 26);
  char uid[S3_UPLOAD_ID_MAX * 3 + 1], query[sizeof uid + 16];
  if (!rc) rc = s3_uri_encode(w->upload_id, uid, sizeof uid);
  snprintf(query, sizeof query, "uploadId=%s", uid);
  struct s3req q = {.method = "POST", .key = w->upkey, .query = query, .body = (const char *)body.p,
                    .body_len = body.len, .out = &ans};
  struct s3_xml_page pg = {0};
  if (!rc) rc = s3_do(s, &q);
  if (!rc && q.status != 200) rc = staged_gone(w, s3_status_err(s, &q, "complete multipart upload"), "complete");
  /* S3 may answer 200 and report a failure in the body */
  if (!rc) rc = s3_xml_parse(s, (const char *)ans.p, ans.len, NULL, NULL, NULL, &pg);
  if (!rc && pg.code[0]) rc = bk_seterr(BK_ENET, "s3://%s: completing an upload failed: %s", s->bucket, pg.code);
  bk_buf_free(&body);
  bk_buf_free(&ans);
  if (!rc) w->upload_id[0] = 0; /* it is an object now */
  return rc;
}

/* server-side copy upkey → key */
static int copy_to(struct s3_writer *w, const char *key) {
  struct s3 *s = w->s;
  char src[S3_KEY_MAX + 128];
  snprintf(src, sizeof src, "x-amz-copy-source: /%s/%s", s->bucket, w->upkey);
  bk_buf ans;
  bk_buf_init(&ans, 64 << 10);
  struct s3req q = {.method = "PUT", .key = key, .out = &ans, .idempotent = 1};
  q.hdr[0] = src;
  struct s3_xml_page pg = {0};
  int rc = s3_do(s, &q);
  if (!rc && q.status != 200) rc = staged_gone(w, s3_status_err(s, &q, "copy"), "copy");
  if (!rc) rc = s3_xml_parse(s, (const char *)ans.p, ans.len, NULL, NULL, NULL, &pg);
  if (!rc && pg.code[0]) rc = bk_seterr(BK_ENET, "s3://%s: copy failed: %s", s->bucket, pg.code);
  bk_buf_free(&ans);
  return rc;
}

/* HEAD key: BK_EEXIST when it is stored, 0 when not */
static int not_stored(struct s3_writer *w, const char *key) {
  int rc = s3_head(w->s, key, NULL, NULL, 0, NULL, 0);
  if (rc == 0) return bk_seterr(BK_EEXIST, "s3://%s/%s exists", w->s->bucket, key);
  return rc == BK_ENOTFOUND ? 0 : rc;
}

static int commit_multipart(struct s3_writer *w, const char *key, int replace) {
  int rc = w->len > 0 ? flush_part(w) : 0;
  int rc2 = join_all(w);
  if (!rc) rc = rc2;
  if (!rc && w->direct && strcmp(key, w->upkey) != 0)
    rc = bk_seterr(BK_EINVAL, "s3://%s: staged as %s, committed as %s", w->s->bucket, w->upkey, key);
  if (w->direct) { /* staged under its own key: completing it is the commit */
    if (!rc && !replace) rc = not_stored(w, key);
    return rc ? rc : complete(w);
  }
  if (!rc) rc = complete(w);
  if (rc) return rc;
  /* no conditional copy: HEAD first (concurrent writers of one content-hash
   * name carry identical bytes; the last copy wins, readers see either) */
  if (!replace) rc = not_stored(w, key);
  if (!rc) rc = copy_to(w, key);
  s3_delete_key(w->s, w->upkey, NULL); /* best effort: clean_stale catches a failure */
  return rc;
}

static int w_commit(struct bk_blob_writer *bw, const bk_hash *h, int replace) {
  struct s3_writer *w = (struct s3_writer *)bw;
  char key[S3_KEY_MAX];
  int rc = s3_key(w->s, bw->kind, h, key, sizeof key);
  if (!rc && !w->upload_id[0]) rc = s3_put_key(w->s, key, w->buf, w->len, replace, bw->tag);
  else if (!rc) rc = commit_multipart(w, key, replace);
  join_all(w);
  abort_upload(w); /* after a failure */
  w_free(w);
  return rc;
}

int s3_put_multipart(struct s3 *s, bk_blob_kind k, const bk_hash *h, const void *data, size_t len,
                     int replace) {
  struct bk_blob_writer *w;
  int rc = w_open(&s->base, k, &w);
  if (rc) return rc;
  w->named = 1; /* staged under its own key */
  w->name = *h;
  if ((rc = w_write(w, data, len))) {
    w_abort(w);
    return rc;
  }
  return w_commit(w, h, replace);
}

/* ---- stale staged writes ---- */

struct stale {
  struct s3 *s;
  int64_t older_than;
  size_t removed;
  int uploads;
};

static int newest_part(void *ctx, const struct s3_xml_rec *r) {
  int64_t *when = ctx;
  if (r->when > *when) *when = r->when;
  return 0;
}

/* The last activity of a multipart upload: the newest LastModified of its parts (ListParts, page by
 * page), at least its Initiated time. An upload is stale when it has not been written to for the cutoff
 * — as a staged file on the filesystem store, whose mtime every write moves — not when it STARTED before
 * the cutoff (that aborted a long upload still sending parts). BK_ENOTFOUND: the upload is gone. */
static int upload_last_active(struct s3 *s, const struct s3_xml_rec *u, const char *uid, int64_t *when) {
  char pm[sizeof ((struct s3_xml_page *)0)->next_part] = "0";
  char query[S3_UPLOAD_ID_MAX * 3 + 96];
  int rc = 0;
  *when = u->when;
  for (unsigned long page = 0; !rc && page < S3_MAX_PAGES; page++) {
    snprintf(query, sizeof query, "part-number-marker=%s&uploadId=%s", pm, uid);
    bk_buf b;
    bk_buf_init(&b, S3_XML_MAX);
    struct s3req q = {.method = "GET", .key = u->key, .query = query, .out = &b, .idempotent = 1};
    struct s3_xml_page pg = {0};
    rc = s3_do(s, &q);
    if (!rc && q.status != 200) rc = s3_status_err(s, &q, "list parts");
    if (!rc) rc = s3_xml_parse(s, (const char *)b.p, b.len, "Part", newest_part, when, &pg);
    bk_buf_free(&b);
    if (rc || !pg.truncated) break;
    if (!pg.next_part[0] || strspn(pg.next_part, "0123456789") != strlen(pg.next_part) || !strcmp(pg.next_part, pm))
      rc = bk_seterr(BK_EIO, "s3://%s: truncated part listing without a new marker", s->bucket);
    snprintf(pm, sizeof pm, "%s", pg.next_part);
  }
  return rc;
}

static int stale_rec(void *ctx, const struct s3_xml_rec *r) {
  struct stale *st = ctx;
  if (r->when >= st->older_than) return 0;
  char uid[S3_UPLOAD_ID_MAX * 3 + 1], query[sizeof uid + 16];
  int rc = 0;
  if (st->uploads) {
    if ((rc = s3_uri_encode(r->upload_id, uid, sizeof uid))) return rc;
    snprintf(query, sizeof query, "uploadId=%s", uid);
    int64_t active = 0;
    rc = upload_last_active(st->s, r, uid, &active);
    if (rc == BK_ENOTFOUND) return 0; /* completed or aborted meanwhile */
    if (rc) return rc;
    if (active >= st->older_than) return 0; /* still being written */
  }
  rc = s3_delete_key(st->s, r->key, st->uploads ? query : NULL);
  if (rc == BK_ENOTFOUND) rc = 0; /* gone meanwhile */
  if (!rc) st->removed++;
  return rc;
}

/* ListMultipartUploads under <prefix>tmp/, page by page */
static int stale_uploads(struct stale *st, const char *pfx) {
  struct s3 *s = st->s;
  char km[S3_KEY_MAX] = "", um[S3_UPLOAD_ID_MAX] = "";
  char ep[S3_KEY_MAX * 3 + 1], ek[sizeof ep], eu[S3_UPLOAD_ID_MAX * 3 + 1];
  char query[sizeof ep * 2 + sizeof eu + 128];
  int rc = s3_uri_encode(pfx, ep, sizeof ep);
  for (unsigned long page = 0; !rc && page < S3_MAX_PAGES; page++) {
    if ((rc = s3_uri_encode(km, ek, sizeof ek)) || (rc = s3_uri_encode(um, eu, sizeof eu))) break;
    snprintf(query, sizeof query, "key-marker=%s&max-uploads=%u&prefix=%s&upload-id-marker=%s&uploads=", ek,
             s->max_keys, ep, eu);
    bk_buf b;
    bk_buf_init(&b, S3_XML_MAX);
    struct s3req q = {.method = "GET", .query = query, .out = &b, .idempotent = 1};
    struct s3_xml_page pg = {0};
    rc = s3_do(s, &q);
    if (!rc && q.status != 200) rc = s3_status_err(s, &q, "list multipart uploads");
    if (!rc) rc = s3_xml_parse(s, (const char *)b.p, b.len, "Upload", stale_rec, st, &pg);
    bk_buf_free(&b);
    if (rc || !pg.truncated) break;
    if (!pg.next_key[0]) rc = bk_seterr(BK_EIO, "s3://%s: truncated upload listing without marker", s->bucket);
    snprintf(km, sizeof km, "%s", pg.next_key);
    snprintf(um, sizeof um, "%s", pg.next_upload);
  }
  return rc;
}

static int w_clean_stale(bk_blob_backend *be, int64_t older_than, size_t *removed) {
  struct s3 *s = (struct s3 *)be;
  char pfx[S3_KEY_MAX], token[S3_TOKEN_MAX] = "";
  snprintf(pfx, sizeof pfx, "%stmp/", s->prefix);
  struct stale st = {s, older_than, 0, 1};
  int rc = stale_uploads(&st, pfx);
  /* uploads staged under their blob's own key (named writers) */
  for (int k = 0; !rc && k < BK_BLOB_NKINDS; k++) {
    char kp[S3_KEY_MAX];
    snprintf(kp, sizeof kp, "%s%s/", s->prefix, s3_kind_dir((bk_blob_kind)k));
    rc = stale_uploads(&st, kp);
  }
  st.uploads = 0; /* completed but never copied (a crash between the two) */
  for (unsigned long page = 0; !rc && page < S3_MAX_PAGES; page++) {
    rc = s3_list_page(s, pfx, token, sizeof token, stale_rec, &st);
    if (!token[0]) break;
  }
  *removed = st.removed;
  return rc;
}

void s3_fill_writer_ops(struct s3 *s) {
  bk_blob_backend *b = &s->base;
  b->writer_open = w_open;
  b->writer_write = w_write;
  b->writer_size = w_size;
  b->writer_commit = w_commit;
  b->writer_abort = w_abort;
  b->clean_stale = w_clean_stale;
}
