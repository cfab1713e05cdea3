/* buckets — S3 blob backend (s3:// URLs; see src/store/blob_backend.h and
 * docs/store.md "S3 backend").
 *
 *   s3://BUCKET?endpoint=http://127.0.0.1:7480&region=us-east-1[&prefix=p/]
 *
 * Objects: <prefix>xorbs/<64-hex>, <prefix>shards/<64-hex>; staged multipart
 * writes under <prefix>tmp/. Requests are path-style (ENDPOINT/BUCKET/KEY),
 * signed by libcurl (CURLOPT_AWS_SIGV4); credentials from AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when set). Not public API.
 *
 * Ownership: the instance returned by bk_blob_s3_open is owned by the blob
 * store (released with be->close). Thread safety: as every backend.
 */
#ifndef BUCKETS_STORE_BLOB_S3_H
#define BUCKETS_STORE_BLOB_S3_H

#include "store/blob_backend.h"

/* rest = the URL after "s3://". Checks the URL and the credentials, then
 * probes the bucket (HEAD). BK_EINVAL (malformed URL, naming the problem;
 * missing credentials), BK_ENOTFOUND (no such bucket), BK_EPERM (refused),
 * BK_ENET (endpoint unreachable or failing), BK_ENOMEM. */
int bk_blob_s3_open(const char *rest, bk_blob_backend **out);
/* Ranged GETs its readers sent so far (bk_blob_reader_read_at; every blob
 * byte the node reads back from S3 goes through one). be must be an S3
 * backend (bk_blobstore_backend of an s3:// store). */
unsigned long bk_blob_s3_reads(const bk_blob_backend *be);

#endif
