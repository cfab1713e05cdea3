/* buckets — MDB shard format (xet.md §4). See include/buckets/shard.h for the
 * API and ownership rules and docs/formats.md for the choices made here.
 *
 * Parsing runs in two passes: the first walks every section and checks every
 * count against the bytes that remain, without allocating; the second
 * allocates exactly what the first pass counted and fills it in.
 */
#include "buckets/shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buckets/error.h"

#define ENTRY 48u /* every entry of the info sections */
#define SHARD_VERSION 2u
#define FOOTER_VERSION 1u
#define FILE_LOOKUP_ENTRY 12u
#define XORB_LOOKUP_ENTRY 12u
#define CHUNK_LOOKUP_ENTRY 16u
#define KNOWN_FILE_FLAGS (BK_SHARD_FILE_VERIFY | BK_SHARD_FILE_META)

const uint8_t BK_SHARD_MAGIC[32] = {
    'H', 'F', 'R', 'e', 'p', 'o', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0,   85,
    105, 103, 69,  106, 123, 129, 87,  131, 165, 189, 217, 92,  205, 209, 74, 169};

/* Parsed shards carry their entry arrays in two blocks. */
typedef struct shard_alloc {
  bk_shard s; /* first member: bk_shard_free casts back */
  bk_shard_term *terms;
  bk_shard_chunk *chunks;
} shard_alloc;

static int is_bookend_hash(const uint8_t *p) {
  for (int i = 0; i < 32; i++)
    if (p[i] != 0xFF) return 0;
  return 1;
}

static int zeros(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* Entries (48 bytes each) that follow a file header with these flags. */
static uint64_t file_entries(uint32_t flags, uint32_t nterms) {
  uint64_t n = nterms;
  if (flags & BK_SHARD_FILE_VERIFY) n += nterms;
  if (flags & BK_SHARD_FILE_META) n += 1;
  return n;
}

static void get_hash(bk_hash *h, const uint8_t *p) { memcpy(h->b, p, 32); }

typedef struct walk {
  size_t file_start, xorb_start, xorb_end; /* byte offsets */
  uint32_t nfiles, nxorbs;
  uint64_t nterms, nchunks;
} walk;

/* Pass 1 over the file-info section starting at 48, ending before `end`. */
static int walk_files(const uint8_t *d, size_t end, walk *w) {
  size_t pos = BK_SHARD_HEADER_LEN;
  w->file_start = pos;
  for (;;) {
    if (end - pos < ENTRY)
      return bk_seterr(BK_ETRUNCATED, "file section: no bookend before offset %zu", end);
    const uint8_t *h = d + pos;
    if (is_bookend_hash(h)) {
      if (!zeros(h + 32, 16)) return bk_seterr(BK_EFORMAT, "file section: bad bookend");
      pos += ENTRY;
      break;
    }
    uint32_t flags = bk_load_u32le(h + 32), n = bk_load_u32le(h + 36);
    if (flags & ~KNOWN_FILE_FLAGS)
      return bk_seterr(BK_EFORMAT, "file %u: unknown flags 0x%08x", w->nfiles, flags);
    uint64_t ents = file_entries(flags, n);
    if (ents > (end - pos - ENTRY) / ENTRY)
      return bk_seterr(BK_ETRUNCATED, "file %u: %u terms do not fit in the shard", w->nfiles, n);
    const uint8_t *t = h + ENTRY;
    for (uint32_t i = 0; i < n; i++, t += ENTRY) {
      uint32_t s = bk_load_u32le(t + 40), e = bk_load_u32le(t + 44);
      if (s >= e)
        return bk_seterr(BK_EFORMAT, "file %u term %u: chunk range [%u,%u) is empty",
                         w->nfiles, i, s, e);
    }
    pos += ENTRY + (size_t)ents * ENTRY;
    w->nfiles++;
    w->nterms += n;
  }
  w->xorb_start = pos;
  return 0;
}

static int walk_xorbs(const uint8_t *d, size_t end, walk *w) {
  size_t pos = w->xorb_start;
  for (;;) {
    if (end - pos < ENTRY)
      return bk_seterr(BK_ETRUNCATED, "xorb section: no bookend before offset %zu", end);
    const uint8_t *h = d + pos;
    if (is_bookend_hash(h)) {
      if (!zeros(h + 32, 16)) return bk_seterr(BK_EFORMAT, "xorb section: bad bookend");
      pos += ENTRY;
      break;
    }
    uint32_t n = bk_load_u32le(h + 36);
    if (n > (end - pos - ENTRY) / ENTRY)
      return bk_seterr(BK_ETRUNCATED, "xorb %u: %u chunks do not fit in the shard", w->nxorbs, n);
    pos += ENTRY + (size_t)n * ENTRY;
    w->nxorbs++;
    w->nchunks += n;
  }
  w->xorb_end = pos;
  return 0;
}

static void read_footer(const uint8_t *f, bk_shard_footer *o) {
  o->version = bk_load_u64le(f);
  o->file_info_offset = bk_load_u64le(f + 8);
  o->xorb_info_offset = bk_load_u64le(f + 16);
  o->file_lookup_offset = bk_load_u64le(f + 24);
  o->file_lookup_num = bk_load_u64le(f + 32);
  o->xorb_lookup_offset = bk_load_u64le(f + 40);
  o->xorb_lookup_num = bk_load_u64le(f + 48);
  o->chunk_lookup_offset = bk_load_u64le(f + 56);
  o->chunk_lookup_num = bk_load_u64le(f + 64);
  memcpy(o->chunk_hash_hmac_key, f + 72, 32);
  o->creation_timestamp = bk_load_u64le(f + 104);
  o->key_expiry = bk_load_u64le(f + 112);
  o->stored_bytes_on_disk = bk_load_u64le(f + 168);
  o->materialized_bytes = bk_load_u64le(f + 176);
  o->stored_bytes = bk_load_u64le(f + 184);
  o->footer_offset = bk_load_u64le(f + 192);
}

/* A lookup table of num entries of esz bytes at off must lie in [lo, hi). */
static int check_table(const char *name, uint64_t off, uint64_t num, uint64_t esz,
                       size_t lo, size_t hi, uint64_t *bytes) {
  *bytes = 0;
  if (num == 0) return 0; /* offset not interpreted (huggingface.js writes 0) */
  if (num > (hi - lo) / esz)
    return bk_seterr(BK_EFORMAT, "%s lookup: %llu entries do not fit", name,
                     (unsigned long long)num);
  if (off < lo || off > hi || num * esz > hi - off)
    return bk_seterr(BK_EFORMAT, "%s lookup: offset %llu outside the lookup area", name,
                     (unsigned long long)off);
  *bytes = num * esz;
  return 0;
}

static int check_footer(const bk_shard_footer *f, size_t len, const walk *w) {
  size_t foot = len - BK_SHARD_FOOTER_LEN;
  if (f->version != FOOTER_VERSION)
    return bk_seterr(BK_EVERSION, "shard footer version %llu (only 1 is known)",
                     (unsigned long long)f->version);
  if (f->footer_offset != foot)
    return bk_seterr(BK_EFORMAT, "footer_offset %llu, footer is at %zu",
                     (unsigned long long)f->footer_offset, foot);
  if (f->file_info_offset != BK_SHARD_HEADER_LEN)
    return bk_seterr(BK_EFORMAT, "file_info_offset %llu != 48",
                     (unsigned long long)f->file_info_offset);
  if (f->xorb_info_offset != w->xorb_start)
    return bk_seterr(BK_EFORMAT, "xorb_info_offset %llu, section starts at %zu",
                     (unsigned long long)f->xorb_info_offset, w->xorb_start);
  uint64_t a, b, c;
  int rc;
  if ((rc = check_table("file", f->file_lookup_offset, f->file_lookup_num,
                        FILE_LOOKUP_ENTRY, w->xorb_end, foot, &a)) ||
      (rc = check_table("xorb", f->xorb_lookup_offset, f->xorb_lookup_num,
                        XORB_LOOKUP_ENTRY, w->xorb_end, foot, &b)) ||
      (rc = check_table("chunk", f->chunk_lookup_offset, f->chunk_lookup_num,
                        CHUNK_LOOKUP_ENTRY, w->xorb_end, foot, &c)))
    return rc;
  if (a + b + c != foot - w->xorb_end)
    return bk_seterr(BK_EFORMAT, "%zu bytes between the xorb section and the footer, "
                     "lookup tables account for %llu", foot - w->xorb_end,
                     (unsigned long long)(a + b + c));
  return 0;
}

/* The 48-byte header and, when it announces one, the footer's version: sets
 * *has_footer and *foot (zeroed without a footer). */
static int parse_header(const uint8_t *data, size_t len, int *has_footer,
                        bk_shard_footer *foot) {
  if (len < BK_SHARD_HEADER_LEN)
    return bk_seterr(BK_ETRUNCATED, "shard header needs 48 bytes, got %zu", len);
  if (memcmp(data, BK_SHARD_MAGIC, 32) != 0)
    return bk_seterr(BK_EFORMAT, "not a shard (bad magic tag)");
  uint64_t version = bk_load_u64le(data + 32), fsz = bk_load_u64le(data + 40);
  if (version != SHARD_VERSION)
    return bk_seterr(BK_EVERSION, "shard version %llu (only 2 is known)",
                     (unsigned long long)version);
  if (fsz != 0 && fsz != BK_SHARD_FOOTER_LEN)
    return bk_seterr(BK_EFORMAT, "shard footer_size %llu (0 or 200 expected)",
                     (unsigned long long)fsz);
  *has_footer = fsz != 0;
  memset(foot, 0, sizeof *foot);
  if (!*has_footer) return 0;
  if (len < BK_SHARD_HEADER_LEN + 2 * ENTRY + BK_SHARD_FOOTER_LEN)
    return bk_seterr(BK_ETRUNCATED, "shard of %zu bytes is too short for a footer", len);
  read_footer(data + len - BK_SHARD_FOOTER_LEN, foot);
  if (foot->version != FOOTER_VERSION)
    return bk_seterr(BK_EVERSION, "shard footer version %llu (only 1 is known)",
                     (unsigned long long)foot->version);
  return 0;
}

/* Pass 2 allocation: exactly the counts pass 1 found (bounded by len / 48). */
static int shard_alloc_arrays(const walk *w, shard_alloc **out) {
  shard_alloc *a = calloc(1, sizeof *a);
  if (!a) return bk_seterr(BK_ENOMEM, "shard");
  bk_shard *s = &a->s;
  if ((w->nfiles && !(s->files = calloc(w->nfiles, sizeof *s->files))) ||
      (w->nterms && !(a->terms = calloc(w->nterms, sizeof *a->terms))) ||
      (w->nxorbs && !(s->xorbs = calloc(w->nxorbs, sizeof *s->xorbs))) ||
      (w->nchunks && !(a->chunks = calloc(w->nchunks, sizeof *a->chunks)))) {
    bk_shard_free(s);
    return bk_seterr(BK_ENOMEM, "shard arrays");
  }
  s->nfiles = w->nfiles;
  s->nxorbs = w->nxorbs;
  *out = a;
  return 0;
}

/* Pass 2 over the file-info section (already walked: every count fits). */
static void fill_files(shard_alloc *a, const uint8_t *data, const walk *w) {
  bk_shard *s = &a->s;
  const uint8_t *p = data + w->file_start;
  bk_shard_term *t = a->terms;
  for (uint32_t i = 0; i < w->nfiles; i++) {
    bk_shard_file *f = &s->files[i];
    get_hash(&f->file_hash, p);
    f->flags = bk_load_u32le(p + 32);
    f->nterms = bk_load_u32le(p + 36);
    f->terms = f->nterms ? t : NULL;
    p += ENTRY;
    for (uint32_t k = 0; k < f->nterms; k++, p += ENTRY) {
      get_hash(&t[k].xorb_hash, p);
      t[k].xorb_flags = bk_load_u32le(p + 32);
      t[k].unpacked_bytes = bk_load_u32le(p + 36);
      t[k].chunk_start = bk_load_u32le(p + 40);
      t[k].chunk_end = bk_load_u32le(p + 44);
    }
    if (f->flags & BK_SHARD_FILE_VERIFY)
      for (uint32_t k = 0; k < f->nterms; k++, p += ENTRY) get_hash(&t[k].range_hash, p);
    if (f->flags & BK_SHARD_FILE_META) {
      get_hash(&f->sha256, p);
      p += ENTRY;
    }
    if (f->nterms) t += f->nterms;
  }
}

/* Pass 2 over the xorb-info section (already walked: every count fits). */
static void fill_xorbs(shard_alloc *a, const uint8_t *data, const walk *w) {
  bk_shard *s = &a->s;
  const uint8_t *p = data + w->xorb_start;
  bk_shard_chunk *c = a->chunks;
  for (uint32_t i = 0; i < w->nxorbs; i++) {
    bk_shard_xorb *x = &s->xorbs[i];
    get_hash(&x->xorb_hash, p);
    x->flags = bk_load_u32le(p + 32);
    x->nchunks = bk_load_u32le(p + 36);
    x->bytes_in_xorb = bk_load_u32le(p + 40);
    x->bytes_on_disk = bk_load_u32le(p + 44);
    x->chunks = x->nchunks ? c : NULL;
    p += ENTRY;
    for (uint32_t k = 0; k < x->nchunks; k++, p += ENTRY) {
      get_hash(&c[k].hash, p);
      c[k].byte_start = bk_load_u32le(p + 32);
      c[k].len = bk_load_u32le(p + 36);
      c[k].flags = bk_load_u32le(p + 40);
    }
    if (x->nchunks) c += x->nchunks;
  }
}

int bk_shard_parse(const uint8_t *data, size_t len, bk_shard **out) {
  if (!out || (!data && len)) return bk_seterr(BK_EINVAL, "shard parse: bad argument");
  *out = NULL;
  if (len > BK_SHARD_MAX_BYTES)
    return bk_seterr(BK_ELIMIT, "shard of %zu bytes exceeds %u", len, BK_SHARD_MAX_BYTES);
  int has_footer = 0;
  bk_shard_footer foot;
  int rc = parse_header(data, len, &has_footer, &foot);
  if (rc) return rc;

  /* Pass 1: every section, every count against the bytes left; no allocation. */
  size_t end = has_footer ? len - BK_SHARD_FOOTER_LEN : len;
  walk w;
  memset(&w, 0, sizeof w);
  if ((rc = walk_files(data, end, &w))) return rc;
  if ((rc = walk_xorbs(data, end, &w))) return rc;
  if (has_footer) {
    if ((rc = check_footer(&foot, len, &w))) return rc;
  } else if (w.xorb_end != len) {
    return bk_seterr(BK_EFORMAT, "%zu stray bytes after the xorb section", len - w.xorb_end);
  }

  /* Pass 2: allocate what pass 1 counted, fill it in. */
  shard_alloc *a = NULL;
  if ((rc = shard_alloc_arrays(&w, &a))) return rc;
  a->s.has_footer = has_footer;
  a->s.footer = foot;
  fill_files(a, data, &w);
  fill_xorbs(a, data, &w);
  *out = &a->s;
  return 0;
}

void bk_shard_free(bk_shard *s) {
  if (!s) return;
  shard_alloc *a = (shard_alloc *)s;
  free(a->terms);
  free(a->chunks);
  free(s->files);
  free(s->xorbs);
  free(a);
}

/* ---------------------------------------------------------------- writing */

size_t bk_shard_serialized_size(const bk_shard *s, unsigned flags) {
  if (!s) return 0;
  uint64_t ents = 2; /* bookends */
  uint64_t chunks = 0;
  for (uint32_t i = 0; i < s->nfiles; i++)
    ents += 1 + file_entries(s->files[i].flags, s->files[i].nterms);
  for (uint32_t i = 0; i < s->nxorbs; i++) {
    ents += 1 + (uint64_t)s->xorbs[i].nchunks;
    chunks += s->xorbs[i].nchunks;
  }
  uint64_t n = BK_SHARD_HEADER_LEN + ents * ENTRY;
  if (flags & BK_SHARD_WITH_FOOTER)
    n += (uint64_t)s->nfiles * FILE_LOOKUP_ENTRY + (uint64_t)s->nxorbs * XORB_LOOKUP_ENTRY +
         chunks * CHUNK_LOOKUP_ENTRY + BK_SHARD_FOOTER_LEN;
  return n > SIZE_MAX ? 0 : (size_t)n;
}

typedef struct lk {
  uint64_t key;
  uint32_t a, b;
} lk;

static int lk_cmp(const void *x, const void *y) {
  const lk *p = x, *q = y;
  if (p->key != q->key) return p->key < q->key ? -1 : 1;
  if (p->a != q->a) return p->a < q->a ? -1 : 1;
  if (p->b != q->b) return p->b < q->b ? -1 : 1;
  return 0;
}

static uint8_t *put_hash(uint8_t *p, const bk_hash *h) {
  memcpy(p, h->b, 32);
  return p + 32;
}
static uint8_t *put_u32x4(uint8_t *p, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  bk_store_u32le(p, a);
  bk_store_u32le(p + 4, b);
  bk_store_u32le(p + 8, c);
  bk_store_u32le(p + 12, d);
  return p + 16;
}
static uint8_t *put_bookend(uint8_t *p) {
  memset(p, 0xFF, 32);
  memset(p + 32, 0, 16);
  return p + ENTRY;
}

static int check_input(const bk_shard *s) {
  if ((s->nfiles && !s->files) || (s->nxorbs && !s->xorbs))
    return bk_seterr(BK_EINVAL, "shard: arrays missing");
  for (uint32_t i = 0; i < s->nfiles; i++) {
    const bk_shard_file *f = &s->files[i];
    if (f->flags & ~KNOWN_FILE_FLAGS)
      return bk_seterr(BK_EINVAL, "file %u: unknown flags 0x%08x", i, f->flags);
    if (f->nterms && !f->terms) return bk_seterr(BK_EINVAL, "file %u: terms missing", i);
    if (is_bookend_hash(f->file_hash.b))
      return bk_seterr(BK_EINVAL, "file %u: hash collides with the bookend", i);
    for (uint32_t k = 0; k < f->nterms; k++)
      if (f->terms[k].chunk_start >= f->terms[k].chunk_end)
        return bk_seterr(BK_EINVAL, "file %u term %u: empty chunk range", i, k);
  }
  for (uint32_t i = 0; i < s->nxorbs; i++) {
    if (s->xorbs[i].nchunks && !s->xorbs[i].chunks)
      return bk_seterr(BK_EINVAL, "xorb %u: chunks missing", i);
    if (is_bookend_hash(s->xorbs[i].xorb_hash.b))
      return bk_seterr(BK_EINVAL, "xorb %u: hash collides with the bookend", i);
  }
  return 0;
}

/* Serialization state: the output cursor, the lookup entries collected on
 * the way (only with a footer) and the footer's totals. */
typedef struct ser {
  uint8_t *base, *p;
  lk *fl, *xl, *cl; /* file, xorb, chunk lookup entries (NULL: no footer) */
  size_t nc;        /* chunk lookup entries filled */
  size_t xorb_off;  /* offset of the xorb-info section */
  uint64_t materialized, on_disk, in_xorbs;
} ser;

static void ser_free_lookups(ser *w) {
  free(w->fl);
  free(w->xl);
  free(w->cl);
}

/* One spare entry each, so that empty tables still allocate. */
static int ser_alloc_lookups(ser *w, const bk_shard *s) {
  uint64_t nchunks = 0;
  for (uint32_t i = 0; i < s->nxorbs; i++) nchunks += s->xorbs[i].nchunks;
  w->fl = malloc((s->nfiles + 1) * sizeof *w->fl);
  w->xl = malloc((s->nxorbs + 1) * sizeof *w->xl);
  w->cl = malloc((nchunks + 1) * sizeof *w->cl);
  if (w->fl && w->xl && w->cl) return 0;
  ser_free_lookups(w);
  return bk_seterr(BK_ENOMEM, "shard lookup tables");
}

static void ser_header(ser *w, int with_footer) {
  memcpy(w->p, BK_SHARD_MAGIC, 32);
  bk_store_u64le(w->p + 32, SHARD_VERSION);
  bk_store_u64le(w->p + 40, with_footer ? BK_SHARD_FOOTER_LEN : 0);
  w->p += BK_SHARD_HEADER_LEN;
}

/* The file-info section and its bookend. */
static void ser_files(ser *w, const bk_shard *s) {
  uint8_t *p = w->p;
  uint32_t idx = 0;
  for (uint32_t i = 0; i < s->nfiles; i++) {
    const bk_shard_file *f = &s->files[i];
    if (w->fl) w->fl[i] = (lk){bk_hash_head_u64(&f->file_hash), idx, 0};
    p = put_hash(p, &f->file_hash);
    bk_store_u32le(p, f->flags);
    bk_store_u32le(p + 4, f->nterms);
    bk_store_u64le(p + 8, 0);
    p += 16;
    for (uint32_t k = 0; k < f->nterms; k++) {
      const bk_shard_term *t = &f->terms[k];
      p = put_hash(p, &t->xorb_hash);
      p = put_u32x4(p, t->xorb_flags, t->unpacked_bytes, t->chunk_start, t->chunk_end);
      w->materialized += t->unpacked_bytes;
    }
    if (f->flags & BK_SHARD_FILE_VERIFY)
      for (uint32_t k = 0; k < f->nterms; k++) {
        p = put_hash(p, &f->terms[k].range_hash);
        memset(p, 0, 16);
        p += 16;
      }
    if (f->flags & BK_SHARD_FILE_META) {
      p = put_hash(p, &f->sha256);
      memset(p, 0, 16);
      p += 16;
    }
    idx += 1 + (uint32_t)file_entries(f->flags, f->nterms);
  }
  w->p = put_bookend(p);
}

/* The xorb-info section and its bookend. */
static void ser_xorbs(ser *w, const bk_shard *s) {
  uint8_t *p = w->p;
  w->xorb_off = (size_t)(p - w->base);
  uint32_t idx = 0;
  for (uint32_t i = 0; i < s->nxorbs; i++) {
    const bk_shard_xorb *x = &s->xorbs[i];
    if (w->xl) w->xl[i] = (lk){bk_hash_head_u64(&x->xorb_hash), idx, 0};
    p = put_hash(p, &x->xorb_hash);
    p = put_u32x4(p, x->flags, x->nchunks, x->bytes_in_xorb, x->bytes_on_disk);
    w->on_disk += x->bytes_on_disk;
    w->in_xorbs += x->bytes_in_xorb;
    for (uint32_t k = 0; k < x->nchunks; k++) {
      const bk_shard_chunk *c = &x->chunks[k];
      if (w->cl) w->cl[w->nc++] = (lk){bk_hash_head_u64(&c->hash), idx, k};
      p = put_hash(p, &c->hash);
      p = put_u32x4(p, c->byte_start, c->len, c->flags, 0);
    }
    idx += 1 + x->nchunks;
  }
  w->p = put_bookend(p);
}

/* The three sorted lookup tables, then the footer describing them. */
static void ser_footer(ser *w, const bk_shard *s) {
  uint8_t *p = w->p;
  qsort(w->fl, s->nfiles, sizeof *w->fl, lk_cmp);
  qsort(w->xl, s->nxorbs, sizeof *w->xl, lk_cmp);
  qsort(w->cl, w->nc, sizeof *w->cl, lk_cmp);
  size_t file_lk = (size_t)(p - w->base);
  for (uint32_t i = 0; i < s->nfiles; i++, p += 12) {
    bk_store_u64le(p, w->fl[i].key);
    bk_store_u32le(p + 8, w->fl[i].a);
  }
  size_t xorb_lk = (size_t)(p - w->base);
  for (uint32_t i = 0; i < s->nxorbs; i++, p += 12) {
    bk_store_u64le(p, w->xl[i].key);
    bk_store_u32le(p + 8, w->xl[i].a);
  }
  size_t chunk_lk = (size_t)(p - w->base);
  for (size_t i = 0; i < w->nc; i++, p += 16) {
    bk_store_u64le(p, w->cl[i].key);
    bk_store_u32le(p + 8, w->cl[i].a);
    bk_store_u32le(p + 12, w->cl[i].b);
  }
  size_t foot = (size_t)(p - w->base);
  const bk_shard_footer *in = &s->footer;
  bk_store_u64le(p, FOOTER_VERSION);
  bk_store_u64le(p + 8, BK_SHARD_HEADER_LEN);
  bk_store_u64le(p + 16, w->xorb_off);
  bk_store_u64le(p + 24, file_lk);
  bk_store_u64le(p + 32, s->nfiles);
  bk_store_u64le(p + 40, xorb_lk);
  bk_store_u64le(p + 48, s->nxorbs);
  bk_store_u64le(p + 56, chunk_lk);
  bk_store_u64le(p + 64, w->nc);
  memcpy(p + 72, in->chunk_hash_hmac_key, 32);
  bk_store_u64le(p + 104, in->creation_timestamp);
  bk_store_u64le(p + 112, in->key_expiry);
  memset(p + 120, 0, 48);
  bk_store_u64le(p + 168, w->on_disk);
  bk_store_u64le(p + 176, w->materialized);
  bk_store_u64le(p + 184, w->in_xorbs);
  bk_store_u64le(p + 192, foot);
  w->p = p + BK_SHARD_FOOTER_LEN;
}

int bk_shard_serialize(const bk_shard *s, unsigned flags, bk_buf *out) {
  if (!s || !out) return bk_seterr(BK_EINVAL, "shard serialize: bad argument");
  int rc = check_input(s);
  if (rc) return rc;
  int with_footer = (flags & BK_SHARD_WITH_FOOTER) != 0;
  size_t total = bk_shard_serialized_size(s, flags);
  if (total == 0 || total > BK_SHARD_MAX_BYTES)
    return bk_seterr(BK_ELIMIT, "shard would exceed %u bytes", BK_SHARD_MAX_BYTES);
  if ((rc = bk_buf_reserve(out, total))) return rc;

  ser w;
  memset(&w, 0, sizeof w);
  if (with_footer && (rc = ser_alloc_lookups(&w, s))) return rc;
  w.base = w.p = out->p + out->len;
  ser_header(&w, with_footer);
  ser_files(&w, s);
  ser_xorbs(&w, s);
  if (with_footer) ser_footer(&w, s);
  ser_free_lookups(&w);
  out->len += (size_t)(w.p - w.base);
  return 0;
}

int bk_shard_build_dedup_response(const bk_shard_xorb *xorbs, uint32_t nxorbs,
                                  const uint8_t key[32], uint64_t created,
                                  uint64_t expiry, bk_buf *out) {
  if ((nxorbs && !xorbs) || !out)
    return bk_seterr(BK_EINVAL, "dedup shard: bad argument");
  int keyed = key && !zeros(key, 32);
  uint64_t total = 0;
  for (uint32_t i = 0; i < nxorbs; i++) total += xorbs[i].nchunks;
  if (total > BK_SHARD_MAX_BYTES / ENTRY)
    return bk_seterr(BK_ELIMIT, "dedup shard: %llu chunks is too many",
                     (unsigned long long)total);
  bk_shard s;
  memset(&s, 0, sizeof s);
  s.nxorbs = nxorbs;
  s.has_footer = 1;
  s.footer.creation_timestamp = created;
  s.footer.key_expiry = expiry;
  bk_shard_xorb *xs = NULL;
  bk_shard_chunk *cs = NULL;
  if (keyed) {
    memcpy(s.footer.chunk_hash_hmac_key, key, 32);
    xs = malloc((nxorbs ? nxorbs : 1) * sizeof *xs);
    cs = malloc((total ? total : 1) * sizeof *cs);
    if (!xs || !cs) {
      free(xs);
      free(cs);
      return bk_seterr(BK_ENOMEM, "dedup shard");
    }
    size_t k = 0;
    for (uint32_t i = 0; i < nxorbs; i++) {
      xs[i] = xorbs[i];
      if (xorbs[i].nchunks && !xorbs[i].chunks) {
        free(xs);
        free(cs);
        return bk_seterr(BK_EINVAL, "xorb %u: chunks missing", i);
      }
      xs[i].chunks = cs + k;
      for (uint32_t j = 0; j < xorbs[i].nchunks; j++, k++) {
        cs[k] = xorbs[i].chunks[j];
        bk_hash_hmac(&xorbs[i].chunks[j].hash, key, &cs[k].hash);
      }
    }
    s.xorbs = xs;
  } else {
    s.xorbs = (bk_shard_xorb *)xorbs; /* only read */
  }
  int rc = bk_shard_serialize(&s, BK_SHARD_WITH_FOOTER, out);
  free(xs);
  free(cs);
  return rc;
}

void bk_shard_stored_chunk_hash(const bk_shard *s, const bk_hash *h, bk_hash *out) {
  if (s && s->has_footer && !zeros(s->footer.chunk_hash_hmac_key, 32))
    bk_hash_hmac(h, s->footer.chunk_hash_hmac_key, out);
  else
    *out = *h;
}
