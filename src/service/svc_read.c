/* buckets storage service — read a file back from its xorbs (service.h).
 *
 * The reader walks the file's reconstruction terms in order. For each term
 * it loads the chunk rows (record offsets, lengths, hashes) from the
 * database, opens the xorb blob with the blob reader, reads the records
 * through a window buffer (up to 4 MiB per bk_blob_reader_read_at, or, on a
 * store with local files (BK_BLOB_CAP_FD), a read-only mapping of the whole
 * xorb),
 * decodes each chunk into a 128 KiB buffer with bk_xorb_decode_chunk and
 * checks its BLAKE3 chunk hash before any byte of it is returned. Chunks
 * wholly before the requested range are skipped without being read. Any
 * mismatch fails the read (the caller never sees wrong bytes). Used by the
 * resolve route (streamed downloads) and the web previews.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buckets/error.h"
#include "util/fsutil.h"
#include "buckets/xorb.h"
#include "service/svc_internal.h"

#define WINDOW_MAX (4u << 20)

struct bk_svc_reader {
  bk_svc *svc;
  char prefer[BK_REGION_NAME_MAX + 1]; /* regions: the client's region ("" = the home first) */
  unsigned flags;
  int err;             /* sticky failure */
  bk_file_term *terms;
  size_t nterms;
  uint64_t start, end; /* requested file range, inclusive */
  uint64_t file_pos;   /* file offset of the first byte of the current chunk */
  size_t ti;           /* current term */
  int term_open;
  bk_xorb_chunk *chunks;
  uint32_t nch, ci;
  uint64_t term_unpacked; /* decoded bytes of this term so far (incl. skipped) */
  bk_blob_reader *blob; /* the term's xorb, opened version */
  bk_blobstore *blob_bs; /* the store blob was opened from (regions: home or a copy) */
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

static void rs_close_term(struct bk_svc_reader *s) {
  if (s->map) munmap(s->map, s->map_len);
  s->map = NULL;
  bk_blob_reader_close(s->blob);
  s->blob = NULL;
  free(s->chunks);
  s->chunks = NULL;
  s->term_open = 0;
  s->win_len = 0;
}

void bk_svc_reader_close(bk_svc_reader *s) {
  if (!s) return;
  rs_close_term(s);
  free(s->terms);
  free(s->win);
  free(s);
}

/* Records the failure with its context ("what (xorb X, term N): detail");
 * with BK_SVC_READ_MARK_DAMAGED a chunk that does not verify has its whole
 * xorb checked against the current row (marked damaged when it fails;
 * BK_ESTALE when it verifies: it changed while read). Returns -1. */
static int rs_fail(struct bk_svc_reader *s, int code, const char *what) {
  if (code >= 0) code = BK_EIO;
  char hex[BK_HASH_HEX_LEN + 1] = "-";
  if (s->ti < s->nterms) bk_hash_to_hex(&s->terms[s->ti].xorb, hex);
  if ((s->flags & BK_SVC_READ_MARK_DAMAGED) && s->ti < s->nterms && code == BK_EHASH) {
    code = svc_xorb_check(s->svc, &s->terms[s->ti].xorb, -1);
    if (code == 0) code = bk_seterr(BK_ESTALE, "xorb changed while read; try again");
  }
  char msg[300];
  snprintf(msg, sizeof msg, "%s", bk_errmsg());
  if (code == BK_ENET && !strncmp(msg, "region '", 8)) /* the region first: callers show it */
    s->err = bk_seterr(code, "%s (%s: xorb %s, term %zu)", msg, what, hex, s->ti);
  else
    s->err = bk_seterr(code, "%s (xorb %s, term %zu): %s", what, hex, s->ti, msg);
  return -1;
}

static int rs_open_term(struct bk_svc_reader *s) {
  const bk_file_term *t = &s->terms[s->ti];
  if (t->chunk_end <= t->chunk_start || t->chunk_end - t->chunk_start > BK_XORB_MAX_CHUNKS)
    return bk_seterr(BK_EFORMAT, "bad term range"), rs_fail(s, BK_EFORMAT, "bad term");
  s->nch = t->chunk_end - t->chunk_start;
  s->chunks = malloc(s->nch * sizeof *s->chunks);
  if (!s->chunks)
    return bk_seterr(BK_ENOMEM, "out of memory"), rs_fail(s, BK_ENOMEM, "chunk table");
  int rc = bk_db_xorb_chunks(s->svc->db, &t->xorb, t->chunk_start, t->chunk_end, s->chunks);
  if (rc) return rs_fail(s, rc, "chunk table");
  rc = svc_xorb_reader(s->svc, &t->xorb, s->prefer, &s->blob, &s->blob_bs);
  if (rc) return rs_fail(s, rc, "xorb blob");
  s->xorb_size = bk_blob_reader_size(s->blob);
  s->ci = 0;
  s->term_unpacked = 0;
  s->term_open = 1;
  s->win_len = 0;
  /* Blobs are immutable (written to a temp file, renamed; gc unlinks), so a
   * mapping cannot be truncated under us. Saves the read copy. Only where
   * the store has local files; else (or when mmap fails) the read_at window. */
  static int no_mmap = -1; /* BUCKETD_RESOLVE_PREAD=1: read window (for comparisons) */
  if (no_mmap < 0) no_mmap = getenv("BUCKETD_RESOLVE_PREAD") != NULL;
  int fd = (bk_blobstore_caps(s->blob_bs) & BK_BLOB_CAP_FD) ? bk_blob_reader_fd(s->blob) : -1;
  if (!no_mmap && fd >= 0 && s->xorb_size > 0 &&
      s->xorb_size <= (uint64_t)BK_XORB_MAX_BYTES + (16u << 20)) {
    void *m = mmap(NULL, (size_t)s->xorb_size, PROT_READ, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) {
      s->map = m;
      s->map_len = (size_t)s->xorb_size;
      madvise(m, s->map_len, MADV_SEQUENTIAL);
    }
  }
  return 0;
}

/* Makes record bytes [off, off+len) available in the window. */
static const uint8_t *rs_window(struct bk_svc_reader *s, uint64_t off, size_t len) {
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
  size_t got = 0;
  if (bk_blob_reader_read_at(s->blob, off, s->win, (size_t)want, &got)) return NULL;
  if (got != (size_t)want) {
    bk_seterr(BK_ETRUNCATED, "xorb shorter than its chunk table");
    return NULL;
  }
  s->win_off = off;
  s->win_len = (size_t)want;
  return s->win;
}

/* Advances to the next chunk that overlaps the requested range and decodes
 * it: straight into direct (when the whole chunk is wanted and fits in
 * direct_cap; *direct_len = its length) or else into s->dec. 0 ok, 1 at the
 * end, -1 error. */
static int rs_next_chunk(struct bk_svc_reader *s, uint8_t *direct, size_t direct_cap,
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
        return rs_fail(s, BK_ESIZE, "term size");
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
      return rs_fail(s, BK_EFORMAT, "chunk row");
    }
    const uint8_t *rec = rs_window(s, c->record_offset, c->record_len);
    if (!rec) return rs_fail(s, BK_EIO, "read");
    int whole = s->file_pos >= s->start && s->file_pos + c->unpacked_len - 1 <= s->end &&
                c->unpacked_len <= direct_cap;
    uint8_t *dst = whole ? direct : s->dec;
    size_t consumed = 0, out_len = 0;
    if (bk_xorb_decode_chunk(rec, c->record_len, dst, whole ? direct_cap : sizeof s->dec,
                             &consumed, &out_len))
      return rs_fail(s, BK_EHASH, "decode");
    if (consumed != c->record_len || out_len != c->unpacked_len) {
      bk_seterr(BK_ESIZE, "chunk record disagrees with the chunk table");
      return rs_fail(s, BK_EHASH, "decode");
    }
    bk_hash h;
    bk_chunk_hash(dst, out_len, &h);
    if (!bk_hash_eq(&h, &c->hash)) {
      bk_seterr(BK_EHASH, "chunk %u hash mismatch", s->terms[s->ti].chunk_start + s->ci);
      return rs_fail(s, BK_EHASH, "verify");
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

ssize_t bk_svc_reader_read(bk_svc_reader *s, void *out, size_t max) {
  char *buf = out;
  if (s->err) return s->err;
  size_t n = 0;
  uint64_t total = s->nterms ? s->end - s->start + 1 : 0;
  while (n < max && s->sent + n < total) {
    if (s->dec_pos >= s->dec_len) {
      s->dec_pos = s->dec_len = 0;
      size_t got = 0;
      int r = rs_next_chunk(s, (uint8_t *)buf + n, max - n, &got);
      if (r < 0) return s->err;
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
  if (n == 0 && s->sent < total) {
    bk_seterr(BK_ETRUNCATED, "reconstruction ended early");
    rs_fail(s, BK_ETRUNCATED, "short file");
    return s->err;
  }
  return (ssize_t)n;
}

int bk_svc_reader_open(bk_svc *svc, const bk_hash *file, unsigned flags, uint64_t *size,
                       uint64_t *terms_size, bk_svc_reader **out) {
  *out = NULL;
  *size = *terms_size = 0;
  bk_svc_reader *s = calloc(1, sizeof *s);
  if (!s) return bk_seterr(BK_ENOMEM, "out of memory");
  s->svc = svc;
  s->flags = flags;
  if (!bk_hash_is_zero(file)) { /* the empty file has no row and no terms */
    bk_cas_file cf;
    int rc = bk_db_cas_file_get(svc->db, file, &cf);
    if (rc == 0) rc = bk_db_cas_file_terms(svc->db, file, &s->terms, &s->nterms);
    if (rc) {
      bk_svc_reader_close(s);
      return rc;
    }
    *size = cf.size;
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < s->nterms; i++) sum += s->terms[i].unpacked_bytes;
  *terms_size = sum;
  s->start = 0;
  s->end = sum ? sum - 1 : 0;
  *out = s;
  return 0;
}

void bk_svc_reader_range(bk_svc_reader *s, uint64_t start, uint64_t end) {
  s->start = start;
  s->end = end;
}

void bk_svc_reader_region(bk_svc_reader *s, const char *region) {
  snprintf(s->prefer, sizeof s->prefer, "%s", region ? region : "");
}

int bk_svc_read_prefix(bk_svc *svc, const bk_hash *file, size_t max, bk_buf *out) {
  uint64_t size = 0, tsize = 0;
  bk_svc_reader *r = NULL;
  int rc = bk_svc_reader_open(svc, file, BK_SVC_READ_MARK_DAMAGED, &size, &tsize, &r);
  if (rc) return rc;
  if (tsize > 0 && max > 0) bk_svc_reader_range(r, 0, tsize - 1 < max - 1 ? tsize - 1 : max - 1);
  uint8_t *buf = malloc(64 * 1024);
  if (!buf) rc = bk_seterr(BK_ENOMEM, "out of memory");
  while (rc == 0 && tsize > 0 && max > 0) {
    ssize_t got = bk_svc_reader_read(r, buf, 64 * 1024);
    if (got < 0) rc = (int)got;
    if (got <= 0) break;
    rc = bk_buf_append(out, buf, (size_t)got);
  }
  free(buf);
  bk_svc_reader_close(r);
  return rc < 0 ? rc : 0;
}
