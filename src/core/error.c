/* Error codes and the per-thread detail message. */
#include "buckets/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errmsg[512];

const char *bk_strerror(int code) {
  switch (code) {
  case BK_OK: return "ok";
  case BK_ENOMEM: return "out of memory";
  case BK_EINVAL: return "invalid argument";
  case BK_EIO: return "i/o error";
  case BK_ETRUNCATED: return "truncated";
  case BK_EVERSION: return "unsupported version";
  case BK_ESIZE: return "size mismatch";
  case BK_EHASH: return "hash mismatch";
  case BK_ELIMIT: return "over limit";
  case BK_ENOTFOUND: return "not found";
  case BK_EEXIST: return "already exists";
  case BK_EPERM: return "permission denied";
  case BK_EFORMAT: return "bad format";
  case BK_ECOMPRESS: return "corrupt compressed data";
  case BK_ENET: return "network error";
  case BK_EHTTP: return "unexpected http status";
  case BK_EAUTH: return "authentication failed";
  case BK_ESTALE: return "stale";
  case BK_EDB: return "database error";
  case BK_ENOSPC: return "disk is full";
  case BK_EPARTIAL: return "some items failed";
  case BK_ENOTSUP: return "not supported";
  case BK_EBUSY: return "in use";
  default: return "unknown error";
  }
}

const char *bk_errmsg(void) { return errmsg; }

void bk_clearerr(void) { errmsg[0] = '\0'; }

/* The message is formatted aside first: callers wrap the current message
 * (bk_seterr(rc, "context: %s", bk_errmsg())), and formatting into the
 * buffer an argument points into is undefined (glibc gave "" for "%s"). */
int bk_seterr(int code, const char *fmt, ...) {
  char tmp[sizeof errmsg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  memcpy(errmsg, tmp, sizeof errmsg);
  return code;
}
