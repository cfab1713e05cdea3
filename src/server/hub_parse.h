/* bucketd — pure parsers for Hub API request bodies (owned by
 * server-hardening). They see untrusted bytes, touch no database and no
 * connection, and are fuzzed (tests/fuzz/fuzz_hub_batch.c,
 * fuzz_paths_info.c). hub_api.c turns their results into replies.
 *
 * Ownership: a parse result owns everything it points to (the parsed JSON
 * documents, decoded form strings) until its *_free function is called;
 * the op paths / hashes / messages point into it.
 */
#ifndef BUCKETD_HUB_PARSE_H
#define BUCKETD_HUB_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"

struct cJSON;

#define HUB_BATCH_LINE_MAX (256u * 1024u) /* bytes per NDJSON line */

/* One NDJSON batch body, split into operations. */
typedef struct hub_batch {
  size_t cap;             /* array capacity (line count + 1) */
  size_t nops;            /* operations parsed (non-blank lines) */
  struct cJSON **objs;    /* one parsed line per op (own the strings below) */
  bk_batch_op *ops;       /* type, path, xet_hash, mtime_ms, content_type, size */
  const char **pre_err;   /* per-op failure found while parsing, NULL = none */
  const char **src_type;  /* copyFile without pre_err: sourceRepoType, else NULL */
  const char **src_id;    /* copyFile without pre_err: sourceRepoId, else NULL */
  char err[160];          /* message when hub_batch_parse fails */
} hub_batch;

/* Parses an NDJSON batch body: lines split on '\n', surrounding ' ', '\t'
 * and a trailing '\r' dropped, blank lines skipped. Returns 0, or the HTTP
 * status of a refusal with b->err set (nothing may be applied then):
 * 413 more than BK_BATCH_MAX lines, 400 a line over HUB_BATCH_LINE_MAX,
 * not a JSON object, missing 'type'/'path' strings or an unknown type,
 * 503 out of memory. Per-op problems (bad xetHash, bad size, copyFile without
 * a source) land in b->pre_err and do not fail the parse. Paths are NOT
 * validated here (the caller applies bk_path_valid after resolving copy
 * sources, so that message order stays: source error, then path error).
 * Always call hub_batch_free afterwards. */
int hub_batch_parse(const char *s, size_t len, hub_batch *b);
void hub_batch_free(hub_batch *b);

/* Milliseconds from a client mtime number (Python: ms, Rust: seconds; values
 * below 1e11 are seconds); -1 when absent, not a finite non-negative number. */
int64_t hub_mtime_ms(const struct cJSON *m);

/* 1 if JSON text s[0..n) has a \u0000 escape (outside strings no backslash
 * can appear in valid JSON). cJSON decodes it to a NUL byte, which silently
 * cuts the C string ("a\u0000b" would be read as "a"), so bucketd refuses
 * such bodies with 400. */
int hub_json_has_nul(const char *s, size_t n);

/* "ns/name" or "buckets/ns/name" -> *ns, *name pointing into buf (bufsz
 * bytes), both valid names (bk_name_valid). 0 ok, -1 otherwise. */
int hub_split_repo_id(const char *id, char *buf, size_t bufsz, char **ns, char **name);

/* The paths of a paths-info body. */
typedef struct hub_paths {
  const char **paths;     /* the valid keys (bk_path_valid), in order */
  size_t nvalid;
  size_t n;               /* paths given (valid or not) */
  char **owned;           /* form bodies: the decoded strings (n of them) */
  struct cJSON *json;     /* JSON bodies: the document */
  char err[96];
} hub_paths;

/* Parses a paths-info body: `application/x-www-form-urlencoded` (by
 * content_type, may be NULL) with repeated paths= / paths[]=, else JSON
 * {"paths": [...] | "..."}. At most BK_PATHS_INFO_MAX paths. Invalid keys are
 * dropped silently (like missing paths). Returns 0, or the HTTP status (400
 * malformed / too many, 503 out of memory) with p->err set. Always call
 * hub_paths_free afterwards. */
int hub_paths_parse(const char *content_type, const uint8_t *body, size_t len, hub_paths *p);
void hub_paths_free(hub_paths *p);

/* Tree prefix from the URL (may be NULL): copies it into out (BK_PATH_MAX + 2
 * bytes), drops trailing '/'. Returns its length, -2 when it is longer than
 * BK_PATH_MAX, -1 when it is (non-empty and) not a valid key. */
long hub_tree_prefix(const char *in, char out[BK_PATH_MAX + 2]);

/* A comma-separated region list ("us,eu", "" = none) is split into names (n <= max, each valid, no duplicates).
 * Returns 0 or -1 (msg says why). names point into buf (caller's). */
int hub_region_list_parse(const char *s, char *buf, size_t bufsz, const char **names,
                          size_t max, size_t *n, char *msg, size_t msgn);

#endif
