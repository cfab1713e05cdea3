/* buckets — error codes and the per-thread error message.
 *
 * Every fallible function in libbuckets returns int: 0 on success, a negative
 * BK_E* code on failure. A human-readable detail is kept per thread and can be
 * read with bk_errmsg() until the next failing call on that thread.
 */
#ifndef BUCKETS_ERROR_H
#define BUCKETS_ERROR_H

#include "buckets/api.h"

#ifdef __cplusplus
extern "C" {
#endif

enum bk_error {
  BK_OK = 0,
  BK_ENOMEM = -1,     /* allocation failed */
  BK_EINVAL = -2,     /* bad argument or malformed input */
  BK_EIO = -3,        /* operating-system I/O error */
  BK_ETRUNCATED = -4, /* input ends before a declared length */
  BK_EVERSION = -5,   /* unsupported format version */
  BK_ESIZE = -6,      /* a declared size disagrees with the data */
  BK_EHASH = -7,      /* a hash does not match the content */
  BK_ELIMIT = -8,     /* a hard limit would be exceeded */
  BK_ENOTFOUND = -9,  /* no such object */
  BK_EEXIST = -10,    /* already exists */
  BK_EPERM = -11,     /* not allowed */
  BK_EFORMAT = -12,   /* structurally invalid (bad magic, bad layout) */
  BK_ECOMPRESS = -13, /* compressed payload is corrupt */
  BK_ENET = -14,      /* network / HTTP transport failure */
  BK_EHTTP = -15,     /* server answered with an unexpected HTTP status */
  BK_EAUTH = -16,     /* authentication required or refused */
  BK_ESTALE = -17,    /* precondition no longer holds (stale plan, changed file) */
  BK_EDB = -18,       /* metadata database error */
  BK_ENOSPC = -19,    /* storage full: ENOSPC/EDQUOT, SQLITE_FULL (disk or quota) */
  BK_EPARTIAL = -20,  /* some items failed (each reported), the others were done */
  BK_ENOTSUP = -21,   /* operation or capability not supported by this backend */
  BK_EBUSY = -22,     /* refused while something still depends on it (message says what) */
};

/* Static name of an error code, e.g. "truncated". Never NULL. */
BK_API const char *bk_strerror(int code);

/* Detail message of the last failure on this thread (static thread-local
 * storage owned by the library; valid until the next bk_seterr on this
 * thread). Never NULL; "" when no detail was set. */
BK_API const char *bk_errmsg(void);

/* Sets the per-thread detail message (printf-style) and returns code, so that
 * callers can write `return bk_seterr(BK_EINVAL, "bad key %s", k);`. */
BK_API int bk_seterr(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears the per-thread message. */
BK_API void bk_clearerr(void);

#ifdef __cplusplus
}
#endif
#endif
