/* buckets — internals of the S3 blob backend (blob_s3.c, s3_url.c,
 * s3_xml.c, s3_writer.c, s3_presign.c). Not for other code.
 *
 * Ownership: struct s3 is owned by the blob store (be->close); a struct
 * s3req and every buffer it points to belong to the caller of s3_do, which
 * only borrows them for the request. Thread safety: s3_do may run on any
 * number of threads at once (the handle pool is locked).
 */
#ifndef BUCKETS_STORE_S3_INT_H
#define BUCKETS_STORE_S3_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"
#include "store/blob_backend.h"

#define S3_POOL_MAX 32          /* idle easy handles kept (connections reused) */
#define S3_MAXHDR 4             /* extra request headers */
#define S3_URL_MAX 4096
#define S3_KEY_MAX 1100         /* S3 keys are at most 1024 bytes */
#define S3_TOKEN_MAX 1100       /* continuation tokens / markers */
#define S3_ETAG_MAX 128
#define S3_UPLOAD_ID_MAX 512
#define S3_XML_MAX (16u << 20)  /* one listing page / answer document */
#define S3_MAX_PAGES 10000000ul /* bound on pages of one listing */
#define S3_MAX_PARTS 10000      /* S3's limit on parts of a multipart upload */
#define S3_PREFIX_MAX 512
#define S3_MAX_INFLIGHT 8      /* part uploads in flight per writer, at most */
#define S3_IO_BUFFER (512L << 10) /* libcurl's receive and send buffers (512 KiB: its maximum receive buffer) */
#define S3_BUF_POOL 8          /* idle part buffers kept per store (reused, not re-faulted) */
#define S3_TAG_HDR "x-amz-meta-bk-tag" /* user metadata: the writer's tag (BK_BLOB_CAP_TAG) */

struct s3 {
  bk_blob_backend base; /* first */
  char endpoint[512];   /* scheme://host[:port], no trailing slash */
  char host[512];       /* host[:port] as the Host header carries it */
  char bucket[64];
  char region[64];
  char prefix[S3_PREFIX_MAX]; /* "" or ending in '/' */
  char sigv4[128];            /* "aws:amz:<region>:s3" */
  char akid[256], secret[256];
  char *token_hdr; /* "x-amz-security-token: ..." or NULL */
  size_t part_size;
  unsigned inflight; /* part uploads in flight per writer (1..S3_MAX_INFLIGHT) */
  unsigned max_keys;
  int retries;
  long timeout_s, connect_ms;
  unsigned long reads; /* ranged GETs of readers (atomic; bk_blob_s3_reads) */
  pthread_mutex_t mu;
  int nidle;
  void *idle[S3_POOL_MAX];
  int nbufs;                /* idle part buffers (part_size bytes each) */
  char *bufs[S3_BUF_POOL];
};

struct s3req {
  /* request */
  const char *method;         /* GET HEAD PUT POST DELETE */
  const char *key;            /* object key; NULL: the bucket */
  const char *query;          /* canonical (sorted, SigV4-encoded) or NULL */
  const char *hdr[S3_MAXHDR]; /* extra "Name: value" headers, NULL-ended */
  const char *body;
  size_t body_len;
  int idempotent; /* may be retried */
  /* response sinks: dst (fixed, e.g. a ranged GET) or out (growing, capped) */
  char *dst;
  size_t dst_cap, dst_len;
  int dst_over; /* more bytes came than the sink holds */
  bk_buf *out;
  size_t out_base;
  /* response */
  long status;
  char etag[S3_ETAG_MAX], lastmod[64];
  char tag[BK_BLOB_TAG_MAX]; /* x-amz-meta-bk-tag (S3_TAG_HDR) */
  uint64_t clen;
  int have_clen;
  char err[2048]; /* head of an error document */
  size_t errlen;
  size_t body_off;
};

/* one <Contents> / <Upload> element */
struct s3_xml_rec {
  char key[S3_KEY_MAX];
  char upload_id[S3_UPLOAD_ID_MAX];
  uint64_t size;
  int64_t when; /* LastModified / Initiated, unix seconds */
};
typedef int (*s3_rec_fn)(void *ctx, const struct s3_xml_rec *r);

/* page-level fields */
struct s3_xml_page {
  int truncated;
  char next[S3_TOKEN_MAX];           /* NextContinuationToken */
  char next_key[S3_KEY_MAX];         /* NextKeyMarker */
  char next_upload[S3_UPLOAD_ID_MAX]; /* NextUploadIdMarker */
  char next_part[24];                /* NextPartNumberMarker (ListParts) */
  char upload_id[S3_UPLOAD_ID_MAX];  /* InitiateMultipartUploadResult */
  char code[64];                     /* Error/Code (also in a 200 answer) */
};

int s3_parse_url(struct s3 *s, const char *rest);
void s3_fill_ops(struct s3 *s);
void s3_fill_writer_ops(struct s3 *s);
int s3_do(struct s3 *s, struct s3req *q);
int s3_status_err(const struct s3 *s, const struct s3req *q, const char *what);
int s3_key(const struct s3 *s, bk_blob_kind k, const bk_hash *h, char *out, size_t n);
const char *s3_kind_dir(bk_blob_kind k); /* "xorbs", "shards" */
int s3_uri_encode(const char *in, char *out, size_t n);
int s3_head(struct s3 *s, const char *key, uint64_t *size, char *etag, size_t etag_n, char *lastmod,
            size_t lm_n);
/* tag: stored as S3_TAG_HDR metadata unless NULL or "" */
int s3_put_key(struct s3 *s, const char *key, const void *data, size_t len, int replace,
               const char *tag);
int s3_delete_key(struct s3 *s, const char *key, const char *query);
int s3_list_page(struct s3 *s, const char *pfx, char *token, size_t token_n, s3_rec_fn on_rec,
                 void *ctx);
int s3_put_multipart(struct s3 *s, bk_blob_kind k, const bk_hash *h, const void *data, size_t len,
                     int replace);
int s3_random_hex(char *out, size_t nbytes);
/* A part buffer (part_size bytes) from the store's pool, else malloc'ed;
 * NULL when out of memory. s3_buf_put returns one (NULL ok): kept while the
 * pool has room (its pages stay mapped: no page faults and zeroing for every
 * xorb), else freed. */
char *s3_buf_get(struct s3 *s);
void s3_buf_put(struct s3 *s, char *buf);
int s3_presign(bk_blob_backend *be, bk_blob_kind kind, const bk_hash *h, uint64_t off, uint64_t len,
               int64_t expires_at, char *url, size_t n);
/* Parses an S3 XML answer; rec names the record element ("Contents",
 * "Upload") whose fields go to on_rec (may be NULL). A non-zero on_rec result
 * stops and is returned. BK_EFORMAT for malformed or oversized fields. */
int s3_xml_parse(const struct s3 *s, const char *xml, size_t len, const char *rec, s3_rec_fn on_rec,
                 void *ctx, struct s3_xml_page *pg);
/* Code of an error document (best effort; "" when none). */
void s3_xml_error_code(const char *xml, size_t len, char *code, size_t n);

#endif
