/* bucketd — resolve: file metadata and server-side reconstruction. See
 * resolve.h.
 *
 * Streaming: the response body is produced by a read callback that walks the
 * file's reconstruction terms in order. For each term it loads the chunk
 * rows (record offsets, lengths, hashes) from the database, opens the xorb
 * blob, reads the records through a window buffer (up to 4 MiB per pread),
 * decodes each chunk into a 128 KiB buffer with bk_xorb_decode_chunk and
 * checks its BLAKE3 chunk hash before any byte of it is sent. Chunks wholly
 * before the requested range are skipped without being read. Any mismatch
 * aborts the connection (the client sees a short body, never wrong bytes).
 */
#include "server/resolve.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buckets/blobstore.h"
#include "buckets/db.h"
#include "buckets/error.h"
#include "buckets/fsutil.h"
#include "buckets/hash.h"
#include "buckets/xorb.h"
#include "server/hub_api.h"
#include "server/http.h"
#include "server/jsonout.h"
#include "server/server.h"

#define WINDOW_MAX (4u << 20)

struct rstream {
  struct bk_server *srv;
  bk_file_term *terms;
  size_t nterms;
  uint64_t start, end; /* requested file range, inclusive */
  uint64_t file_pos;   /* file offset of the first byte of the current chunk */
  size_t ti;           /* current term */
  int term_open;
  bk_xorb_chunk *chunks;
  uint32_t nch, ci;
  uint64_t term_unpacked; /* decoded bytes of this term so far (incl. skipped) */
  int fd;
  uint64_t xorb_size;
  uint8_t *map;     /* whole xorb mapped read-only (NULL: pread window) */
  size_t map_len;
  uint8_t *win;
  uint64_t win_off;
  size_t win_len;
  uint8_t dec[BK_XORB_CHUNK_MAX];
  size_t dec_len, dec_pos; /* pending decoded bytes dec[dec_pos..dec_len) */
  uint64_t sent;
};

static void rs_close_term(struct rstream *s) {
  if (s->map) munmap(s->map, s->map_len);
  s->map = NULL;
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  free(s->chunks);
  s->chunks = NULL;
  s->term_open = 0;
  s->win_len = 0;
}

static void rs_free(void *cls) {
  struct rstream *s = cls;
  if (!s) return;
  rs_close_term(s);
  free(s->terms);
  free(s->win);
  free(s);
}

static int rs_fail(struct rstream *s, const char *what) {
  char hex[BK_HASH_HEX_LEN + 1] = "-";
  if (s->ti < s->nterms) bk_hash_to_hex(&s->terms[s->ti].xorb, hex);
  fprintf(stderr, "bucketd: resolve: %s (xorb %s, term %zu): %s\n", what, hex, s->ti, bk_errmsg());
  return -1;
}

static int rs_open_term(struct rstream *s) {
  const bk_file_term *t = &s->terms[s->ti];
  if (t->chunk_end <= t->chunk_start || t->chunk_end - t->chunk_start > BK_XORB_MAX_CHUNKS)
    return bk_seterr(BK_EFORMAT, "bad term range"), rs_fail(s, "bad term");
  s->nch = t->chunk_end - t->chunk_start;
  s->chunks = malloc(s->nch * sizeof *s->chunks);
  if (!s->chunks) return rs_fail(s, "out of memory");
  if (bk_db_xorb_chunks(s->srv->db, &t->xorb, t->chunk_start, t->chunk_end, s->chunks))
    return rs_fail(s, "chunk table");
  if (bk_blob_open(s->srv->blobs, BK_BLOB_XORB, &t->xorb, &s->fd, &s->xorb_size))
    return rs_fail(s, "xorb blob");
  s->ci = 0;
  s->term_unpacked = 0;
  s->term_open = 1;
  s->win_len = 0;
  /* Blobs are immutable (written to a temp file, renamed; gc unlinks), so a
   * mapping cannot be truncated under us. Saves the pread copy. */
  static int no_mmap = -1; /* BUCKETD_RESOLVE_PREAD=1: pread window (for comparisons) */
  if (no_mmap < 0) no_mmap = getenv("BUCKETD_RESOLVE_PREAD") != NULL;
  if (!no_mmap && s->xorb_size > 0 && s->xorb_size <= (uint64_t)BK_XORB_MAX_BYTES + (16u << 20)) {
    void *m = mmap(NULL, (size_t)s->xorb_size, PROT_READ, MAP_SHARED, s->fd, 0);
    if (m != MAP_FAILED) {
      s->map = m;
      s->map_len = (size_t)s->xorb_size;
      madvise(m, s->map_len, MADV_SEQUENTIAL);
    }
  }
  return 0;
}

/* Makes record bytes [off, off+len) available in the window. */
static const uint8_t *rs_window(struct rstream *s, uint64_t off, size_t len) {
  if (s->map) {
    if (off > s->map_len || len > s->map_len - off) {
      bk_seterr(BK_ETRUNCATED, "xorb shorter than its chunk table");
      return NULL;
    }
    return s->map + off;
  }
  if (s->win_len && off >= s->win_off && off + len <= s->win_off + s->win_len)
    return s->win + (off - s->win_off);
  /* read from off to the end of this term's records, at most WINDOW_MAX */
  const bk_xorb_chunk *last = &s->chunks[s->nch - 1];
  uint64_t term_end = (uint64_t)last->record_offset + last->record_len;
  uint64_t want = term_end > off ? term_end - off : len;
  if (want > WINDOW_MAX) want = WINDOW_MAX;
  if (want < len) want = len;
  if (off + want > s->xorb_size) {
    bk_seterr(BK_ETRUNCATED, "xorb shorter than its chunk table");
    return NULL;
  }
  if (!s->win) {
    s->win = malloc(WINDOW_MAX > len ? WINDOW_MAX : len);
    if (!s->win) return NULL;
  }
  if (bk_pread_full(s->fd, s->win, (size_t)want, off)) return NULL;
  s->win_off = off;
  s->win_len = (size_t)want;
  return s->win;
}

/* Advances to the next chunk that overlaps the requested range and decodes
 * it: straight into direct (when the whole chunk is wanted and fits in
 * direct_cap; *direct_len = its length) or else into s->dec. 0 ok, 1 at the
 * end, -1 error. */
static int rs_next_chunk(struct rstream *s, uint8_t *direct, size_t direct_cap,
                         size_t *direct_len) {
  *direct_len = 0;
  for (;;) {
    if (s->file_pos > s->end) return 1;
    if (!s->term_open) {
      if (s->ti >= s->nterms) return 1;
      /* skip whole terms before the range without touching their xorbs */
      const bk_file_term *t = &s->terms[s->ti];
      if (s->file_pos + t->unpacked_bytes <= s->start) {
        s->file_pos += t->unpacked_bytes;
        s->ti++;
        continue;
      }
      if (rs_open_term(s)) return -1;
    }
    if (s->ci >= s->nch) {
      if (s->term_unpacked != s->terms[s->ti].unpacked_bytes) {
        bk_seterr(BK_ESIZE, "term decoded to %" PRIu64 " bytes, expected %u", s->term_unpacked,
                  s->terms[s->ti].unpacked_bytes);
        return rs_fail(s, "term size");
      }
      rs_close_term(s);
      s->ti++;
      continue;
    }
    const bk_xorb_chunk *c = &s->chunks[s->ci];
    if (s->file_pos + c->unpacked_len <= s->start) { /* skip, no read */
      s->file_pos += c->unpacked_len;
      s->term_unpacked += c->unpacked_len;
      s->ci++;
      continue;
    }
    if (c->record_len < BK_XORB_RECORD_HEADER ||
        c->record_len > BK_XORB_RECORD_HEADER + BK_XORB_COMPRESSED_MAX ||
        c->unpacked_len > BK_XORB_CHUNK_MAX) {
      bk_seterr(BK_EFORMAT, "bad chunk row");
      return rs_fail(s, "chunk row");
    }
    const uint8_t *rec = rs_window(s, c->record_offset, c->record_len);
    if (!rec) return rs_fail(s, "read");
    int whole = s->file_pos >= s->start && s->file_pos + c->unpacked_len - 1 <= s->end &&
                c->unpacked_len <= direct_cap;
    uint8_t *dst = whole ? direct : s->dec;
    size_t consumed = 0, out_len = 0;
    if (bk_xorb_decode_chunk(rec, c->record_len, dst, whole ? direct_cap : sizeof s->dec,
                             &consumed, &out_len))
      return rs_fail(s, "decode");
    if (consumed != c->record_len || out_len != c->unpacked_len) {
      bk_seterr(BK_ESIZE, "chunk record disagrees with the chunk table");
      return rs_fail(s, "decode");
    }
    bk_hash h;
    bk_chunk_hash(dst, out_len, &h);
    if (!bk_hash_eq(&h, &c->hash)) {
      bk_seterr(BK_EHASH, "chunk %u hash mismatch", s->terms[s->ti].chunk_start + s->ci);
      return rs_fail(s, "verify");
    }
    if (whole) {
      *direct_len = out_len;
      s->file_pos += out_len;
      s->term_unpacked += out_len;
      s->ci++;
      return 0;
    }
    s->dec_len = out_len;
    s->dec_pos = s->start > s->file_pos ? (size_t)(s->start - s->file_pos) : 0;
    uint64_t chunk_last = s->file_pos + out_len - 1;
    if (chunk_last > s->end) s->dec_len = (size_t)(s->end - s->file_pos + 1);
    s->file_pos += out_len;
    s->term_unpacked += out_len;
    s->ci++;
    return 0;
  }
}

static ssize_t rs_read(void *cls, uint64_t pos, char *buf, size_t max) {
  struct rstream *s = cls;
  (void)pos;
  size_t n = 0;
  uint64_t total = s->end - s->start + 1;
  while (n < max && s->sent + n < total) {
    if (s->dec_pos >= s->dec_len) {
      s->dec_pos = s->dec_len = 0;
      size_t got = 0;
      int r = rs_next_chunk(s, (uint8_t *)buf + n, max - n, &got);
      if (r < 0) return BK_HTTP_STREAM_ERROR;
      if (r > 0) break;
      n += got;
      continue;
    }
    size_t k = s->dec_len - s->dec_pos;
    if (k > max - n) k = max - n;
    memcpy(buf + n, s->dec + s->dec_pos, k);
    s->dec_pos += k;
    n += k;
  }
  s->sent += n;
  if (n == 0) {
    if (s->sent < total) {
      bk_seterr(BK_ETRUNCATED, "reconstruction ended early");
      rs_fail(s, "short file");
      return BK_HTTP_STREAM_ERROR;
    }
    return BK_HTTP_STREAM_END;
  }
  return (ssize_t)n;
}

static ssize_t no_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)cls;
  (void)pos;
  (void)buf;
  (void)max;
  return BK_HTTP_STREAM_ERROR;
}

static int accepts_fileinfo(struct bk_http_req *req) {
  const char *a = bk_http_header(req, "Accept");
  return a && strstr(a, "application/vnd.xet-fileinfo+json") != NULL;
}

/* Common headers of every successful resolve answer. */
static int common_headers(struct bk_server *srv, struct bk_http_req *req, const bk_bucket *b,
                          const bk_file_info *fi, const char *hex, int fileinfo) {
  bk_buf l;
  bk_buf_init(&l, 8192);
  int rc = bk_buf_printf(&l, "%s/api/buckets/", srv->public_url);
  if (!rc) rc = bk_http_escape(&l, b->ns, 0);
  if (!rc) rc = bk_buf_append_u8(&l, '/');
  if (!rc) rc = bk_http_escape(&l, b->name, 0);
  if (!rc) rc = BK_LIT(&l, "/xet-read-token");
  if (!rc) rc = bk_buf_append_u8(&l, 0);
  if (rc) {
    bk_buf_free(&l);
    return rc;
  }
  const char *refresh = (const char *)l.p;
  rc = bk_http_add_header(req, "X-Xet-Hash", hex);
  if (!rc) rc = bk_http_add_headerf(req, "ETag", "\"%s\"", hex);
  if (!rc) rc = bk_http_add_header(req, "X-Xet-Refresh-Route", refresh + strlen(srv->public_url));
  if (!rc) {
    if (fileinfo)
      rc = bk_http_add_headerf(req, "Link",
                               "<%s>; rel=\"xet-auth\", <%s/v1/reconstructions/%s>; "
                               "rel=\"xet-reconstruction-info\"",
                               refresh, srv->public_url, hex);
    else
      rc = bk_http_add_headerf(req, "Link", "<%s>; rel=\"xet-auth\"", refresh);
  }
  char lm[64];
  time_t t = (time_t)(fi->e.uploaded_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!rc) rc = bk_http_add_header(req, "Last-Modified", lm);
  if (!rc) rc = bk_http_add_header(req, "Accept-Ranges", "bytes");
  if (!rc) rc = bk_http_add_header(req, "Cache-Control", b->is_private ? "private, no-cache" : "no-cache");
  bk_buf_free(&l);
  return rc;
}

/* 1 if a header value (an ETag list, "*", or W/ forms) names "hex". */
static int etag_matches(const char *v, const char *hex) {
  while (*v == ' ') v++;
  if (!strcmp(v, "*")) return 1;
  const char *p = v;
  while ((p = strstr(p, hex)) != NULL) {
    if (p > v && p[-1] == '"' && p[BK_HASH_HEX_LEN] == '"') return 1;
    p += BK_HASH_HEX_LEN;
  }
  return 0;
}

/* Content-Disposition: inline; filename="<ascii>"; filename*=UTF-8''<escaped>
 * from the last segment of the key (quotes/controls replaced in the ASCII
 * form). */
static int content_disposition(struct bk_http_req *req, const char *key) {
  const char *base = strrchr(key, '/');
  base = base ? base + 1 : key;
  char ascii[256];
  size_t j = 0;
  for (const unsigned char *p = (const unsigned char *)base; *p && j + 1 < sizeof ascii; p++)
    ascii[j++] = (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == ';') ? '_' : (char)*p;
  ascii[j] = 0;
  bk_buf v;
  bk_buf_init(&v, 8192);
  int rc = bk_buf_printf(&v, "inline; filename=\"%s\"; filename*=UTF-8''", ascii);
  if (!rc) rc = bk_http_escape(&v, base, 0);
  if (!rc) rc = bk_buf_append_u8(&v, 0);
  if (!rc) rc = bk_http_add_header(req, "Content-Disposition", (const char *)v.p);
  bk_buf_free(&v);
  return rc;
}

int resolve_handle(struct bk_server *srv, struct bk_http_req *req) {
  const char *p = req->path;
  if (strncmp(p, "/buckets/", 9) != 0) return 0;
  const char *ns = p + 9;
  const char *s1 = strchr(ns, '/');
  if (!s1) return 0;
  const char *s2 = strchr(s1 + 1, '/');
  if (!s2 || strncmp(s2, "/resolve/", 9) != 0) return 0;
  char nsb[BK_NAME_MAX + 2], nameb[BK_NAME_MAX + 2];
  size_t nl = (size_t)(s1 - ns), ml = (size_t)(s2 - s1 - 1);
  if (nl > BK_NAME_MAX || ml > BK_NAME_MAX || !nl || !ml)
    return bk_http_error(req, 404, "RepoNotFound", "bucket not found"), 1;
  memcpy(nsb, ns, nl);
  nsb[nl] = 0;
  memcpy(nameb, s1 + 1, ml);
  nameb[ml] = 0;
  const char *key = s2 + 9;
  int head = bk_http_is_head(req);
  if (!head && strcmp(req->method, "GET")) {
    bk_http_add_header(req, "Allow", "GET, HEAD");
    return bk_http_error(req, 405, NULL, "method %s not allowed here", req->method), 1;
  }
  bk_bucket b;
  if (hub_load_bucket(srv, req, nsb, nameb, BK_ROLE_READ, &b, NULL)) return 1;
  size_t klen = strlen(key);
  if (!klen || !bk_path_valid(key, klen))
    return bk_http_error(req, 400, NULL, "invalid file path"), 1;
  bk_file_info fi;
  int rc = bk_db_file_get(srv->db, b.id, key, &fi);
  if (rc == BK_ENOTFOUND)
    return bk_http_error(req, 404, "EntryNotFound", "%s does not exist in bucket %s/%s",
                         klen > 200 ? "file" : key, b.ns, b.name),
           1;
  if (rc) return hub_store_error(req, rc);
  char hex[BK_HASH_HEX_LEN + 1];
  bk_hash_to_hex(&fi.e.xet_hash, hex);
  uint64_t size = fi.e.size;
  const char *ctype = fi.e.content_type && *fi.e.content_type ? fi.e.content_type
                                                               : "application/octet-stream";

  if (accepts_fileinfo(req) && size > 0) {
    if (common_headers(srv, req, &b, &fi, hex, 1)) return hub_store_error(req, BK_ENOMEM);
    bk_http_add_headerf(req, "X-Linked-Size", "%" PRIu64, size);
    bk_http_add_headerf(req, "X-Linked-ETag", "\"%s\"", hex);
    bk_http_add_header(req, "Vary", "Accept");
    char body[1024];
    snprintf(body, sizeof body,
             "{\"hash\":\"%s\",\"size\":%" PRIu64 ",\"etag\":\"\\\"%s\\\"\","
             "\"reconstructionUrl\":\"%s/v1/reconstructions/%s\"}",
             hex, size, hex, srv->public_url, hex);
    return bk_http_reply(req, 200, "application/vnd.xet-fileinfo+json", body, strlen(body)), 1;
  }

  if (common_headers(srv, req, &b, &fi, hex, 0)) return hub_store_error(req, BK_ENOMEM);
  if (!bk_http_param(req, "noContentDisposition") && content_disposition(req, key))
    return hub_store_error(req, BK_ENOMEM);
  /* conditional requests: the ETag is the content hash, so it is strong */
  const char *inm = bk_http_header(req, "If-None-Match");
  if (inm && etag_matches(inm, hex)) return bk_http_reply(req, 304, NULL, "", 0), 1;
  const char *range = bk_http_header(req, "Range");
  const char *ifr = bk_http_header(req, "If-Range");
  if (range && ifr && !etag_matches(ifr, hex)) range = NULL; /* changed: send it all */
  uint64_t start = 0, end = size ? size - 1 : 0;
  int ranged = 0;
  if (range && size == 0) {
    /* An empty file has no satisfiable range; answer 200 with the size in
     * Content-Range so size probes (Range: bytes=0-0) still learn it. */
    bk_http_add_header(req, "Content-Range", "bytes */0");
  } else if (range) {
    int r = bk_http_parse_range(range, size, &start, &end);
    if (r < 0) {
      bk_http_add_headerf(req, "Content-Range", "bytes */%" PRIu64, size);
      return bk_http_error(req, 416, NULL, "range not satisfiable (file size %" PRIu64 ")", size), 1;
    }
    if (r > 0) {
      ranged = 1;
      bk_http_add_headerf(req, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
                          end, size);
    } else {
      start = 0;
      end = size ? size - 1 : 0;
    }
  }
  int status = ranged ? 206 : 200;
  if (size == 0) return bk_http_reply(req, 200, ctype, "", 0), 1;
  uint64_t len = end - start + 1;
  if (head) return bk_http_reply_stream(req, status, ctype, len, no_read, NULL, NULL), 1;

  bk_cas_file cf;
  rc = bk_db_cas_file_get(srv->db, &fi.e.xet_hash, &cf);
  if (rc == BK_ENOTFOUND)
    return bk_http_error(req, 500, NULL, "file content is missing from the CAS (run bucketd fsck)"), 1;
  if (rc) return hub_store_error(req, rc);
  if (cf.size != size)
    return bk_http_error(req, 500, NULL, "size mismatch between bucket index and CAS"), 1;
  struct rstream *s = calloc(1, sizeof *s);
  if (!s) return hub_store_error(req, BK_ENOMEM);
  s->srv = srv;
  s->fd = -1;
  s->start = start;
  s->end = end;
  rc = bk_db_cas_file_terms(srv->db, &fi.e.xet_hash, &s->terms, &s->nterms);
  if (rc) {
    rs_free(s);
    return hub_store_error(req, rc);
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < s->nterms; i++) sum += s->terms[i].unpacked_bytes;
  if (sum != size) {
    rs_free(s);
    return bk_http_error(req, 500, NULL, "reconstruction terms do not add up to the file size"), 1;
  }
  bk_http_reply_stream(req, status, ctype, len, rs_read, s, rs_free);
  return 1;
}
