/* bucketd — fast JSON output helpers for hand-built responses (owned by
 * server-http). Strings are escaped per RFC 8259; bytes >= 0x80 pass through
 * (callers only pass valid UTF-8). All append to a capped bk_buf and return
 * 0 or BK_ELIMIT/BK_ENOMEM. */
#ifndef BUCKETD_JSONOUT_H
#define BUCKETD_JSONOUT_H

#include <stdint.h>

#include "buckets/buf.h"
#include "buckets/hash.h"

/* Appends a string literal (length computed at compile time). */
#define BK_LIT(b, lit) bk_buf_append((b), (lit), sizeof(lit) - 1)

/* "escaped string" with quotes. */
int bk_jstr(bk_buf *b, const char *s);
/* "key": */
int bk_jkey(bk_buf *b, const char *key);
/* "<64 hex>" */
int bk_jhash(bk_buf *b, const bk_hash *h);
/* "2026-...Z" from unix ms */
int bk_jtime(bk_buf *b, int64_t ms);

#endif
