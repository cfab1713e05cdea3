/* buckets — pure parts of the client: hf:// URI parsing, sync filters, the
 * sync decision table and the plan JSONL format (buckets-api.md §3.8).
 *
 * No I/O except bk_filter_load (reads a filter file). Ownership: objects
 * created with _new are released with _free; strings inside a bk_plan are
 * owned by the plan.
 */
#ifndef BUCKETS_SYNC_H
#define BUCKETS_SYNC_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

#include "buckets/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- URIs ---- */
/* Parses "hf://buckets/ns/name[/path]" (and, if allow_short, "ns/name[/path]"
 * and "/buckets/ns/name[/resolve|tree/path]" web forms). Writes the bucket id
 * "ns/name" and the path ("" when none; trailing '/' kept) into malloc'd
 * strings. BK_EINVAL on anything else (revisions "@", one segment, ...). */
BK_API int bk_uri_parse(const char *s, int allow_short, char **bucket_id, char **path);
BK_API int bk_uri_is_remote(const char *s); /* starts with hf:// */

/* 1 if path equals prefix or lies under prefix/ (prefix "" matches all). */
BK_API int bk_path_under(const char *path, const char *prefix);

/* ---- filters ---- */
typedef struct bk_filter bk_filter;
BK_API int bk_filter_new(bk_filter **out);
BK_API void bk_filter_free(bk_filter *f);
BK_API int bk_filter_include(bk_filter *f, const char *pattern);
BK_API int bk_filter_exclude(bk_filter *f, const char *pattern);
/* Adds "+ pat" / "- pat" / "pat" rules (file rules, first match decides). */
BK_API int bk_filter_rule(bk_filter *f, const char *line);
BK_API int bk_filter_load(bk_filter *f, const char *file);
/* 1 = included. */
BK_API int bk_filter_match(const bk_filter *f, const char *path);

/* ---- decision table ---- */
enum bk_action { BK_ACT_NONE = 0, BK_ACT_UPLOAD, BK_ACT_DOWNLOAD, BK_ACT_DELETE, BK_ACT_SKIP };
BK_API const char *bk_action_name(int action);
BK_API int bk_action_parse(const char *s);

typedef struct bk_sync_mode {
  int upload; /* 1 = local -> remote, 0 = remote -> local */
  int delete_files, ignore_times, ignore_sizes, existing, ignore_existing;
} bk_sync_mode;

typedef struct bk_sync_side {
  int present;
  uint64_t size;
  int64_t mtime_ms;
} bk_sync_side;

#define BK_SYNC_TIME_WINDOW_MS 1000

/* Decides one path. reason points to a static string. */
BK_API int bk_sync_decide(const bk_sync_mode *m, const bk_sync_side *src,
                   const bk_sync_side *dst, const char **reason);

/* 1 when a default-mode "identical" would rest on the mtimes alone: both
 * sides present, same size, mtimes different but within the window (a
 * rewrite within a second, or a remote time coarser than the local one).
 * Only the content can decide these (bk_plan_compute_ex). */
BK_API int bk_sync_ambiguous(const bk_sync_mode *m, const bk_sync_side *src,
                      const bk_sync_side *dst);

/* ---- plans ---- */
typedef struct bk_plan_op {
  int action;
  char *path;
  const char *reason_static; /* set by the planner */
  char *reason;              /* set by the parser (owned) */
  int has_size;
  uint64_t size;
  int has_local_mtime, has_remote_mtime;
  int64_t local_mtime_ms, remote_mtime_ms;
  char *xet_hash; /* remote hash when known (not serialized) */
} bk_plan_op;

typedef struct bk_plan {
  char *source, *dest, *timestamp;
  bk_plan_op *ops;
  size_t nops, cap;
} bk_plan;

BK_API void bk_plan_init(bk_plan *p);
BK_API void bk_plan_free(bk_plan *p);
BK_API int bk_plan_add(bk_plan *p, int action, const char *path, const char *reason,
                const bk_sync_side *local, const bk_sync_side *remote,
                uint64_t size, int has_size);
BK_API const char *bk_plan_op_reason(const bk_plan_op *op);

typedef struct bk_plan_summary {
  uint64_t uploads, downloads, deletes, skips, total_size;
} bk_plan_summary;
BK_API void bk_plan_summarize(const bk_plan *p, bk_plan_summary *s);
/* Checks a plan before it is applied (pure, no I/O): every op's path is a
 * safe relative path (no "", "/x", ".", "..", "//", at most 4096 bytes) and
 * no path is listed twice. Returns 0, or BK_EINVAL (message names the path)
 * or BK_ENOMEM. Borrows p. */
BK_API int bk_plan_check(const bk_plan *p);

/* A local/remote listing entry for bk_plan_compute (sorted by path). */
typedef struct bk_sync_entry {
  const char *path;
  uint64_t size;
  int64_t mtime_ms;
  const char *xet_hash; /* may be NULL */
} bk_sync_entry;

/* Computes the plan over the union of src and dst (both sorted by path with
 * strcmp, no duplicates); filter may be NULL. Appends to p->ops. */
BK_API int bk_plan_compute(bk_plan *p, const bk_sync_mode *m, const bk_filter *f,
                    const bk_sync_entry *src, size_t nsrc,
                    const bk_sync_entry *dst, size_t ndst);

/* Content check for the ambiguous rows (bk_sync_ambiguous): sets *same to
 * 1 when the local file's Xet hash equals the remote entry's xet_hash.
 * Returns 0, or a negative BK_E* to abort the plan (a local file that cannot
 * be read is "not the same", not an error). */
typedef int (*bk_sync_same_fn)(void *ctx, const bk_sync_entry *local,
                               const bk_sync_entry *remote, int *same);
/* bk_plan_compute plus the content check: an ambiguous skip becomes a
 * transfer with reason "content differs" when same() says so. same may be
 * NULL (= bk_plan_compute). */
BK_API int bk_plan_compute_ex(bk_plan *p, const bk_sync_mode *m, const bk_filter *f,
                       const bk_sync_entry *src, size_t nsrc,
                       const bk_sync_entry *dst, size_t ndst,
                       bk_sync_same_fn same, void *ctx);

/* JSONL serialization (header line + one line per op, '\n' terminated). */
BK_API int bk_plan_to_jsonl(const bk_plan *p, bk_buf *out);
/* Parses JSONL: line 1 must be the header; non-operation lines ignored. */
BK_API int bk_plan_from_jsonl(const char *text, size_t len, bk_plan *p);

/* ISO-8601 helpers. Formats UTC with "+00:00" ("...T..:..:..[.mmm000]+00:00"). */
BK_API void bk_iso_from_ms(int64_t ms, char out[40]);
/* Accepts "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+HH:MM|-HH:MM]". */
BK_API int bk_iso_to_ms(const char *s, int64_t *ms);

#ifdef __cplusplus
}
#endif
#endif
