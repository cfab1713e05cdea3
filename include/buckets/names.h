/* buckets — validation of names, object keys and regions (pure functions,
 * no I/O, no allocation; nothing to own or free). */
#ifndef BUCKETS_NAMES_H
#define BUCKETS_NAMES_H

#include "buckets/api.h"

#include <stddef.h>

#define BK_NAME_MAX 96          /* namespace / user / org / bucket names */
#define BK_PATH_MAX 1024        /* object keys, bytes */

/* Namespace/user/org/bucket name: [A-Za-z0-9][A-Za-z0-9._-]{0,95}, no "--"
 * and no ".." (Hub-like). 1 = valid, 0 = not. (User and org creation
 * additionally refuses a few reserved names such as "me", "api", "static".) */
BK_API int bk_name_valid(const char *name);

/* Object key: valid UTF-8 (no overlongs/surrogates), 1..1024 bytes, no NUL
 * or control characters (< 0x20, 0x7f), no backslash, no empty, "." or ".."
 * segment, no leading or trailing '/'. 1 = valid, 0 = not. */
BK_API int bk_path_valid(const char *path, size_t len);

/* 1 if region is a storage region a bucket may be created in ("us", "eu"). */
BK_API int bk_region_valid(const char *region);

/* Longest region name (docs/regions.md). */
#define BK_REGION_NAME_MAX 32
/* 1 if name is a valid region name: [a-z][a-z0-9-]{0,31} (a configured
 * region of a multi-region deployment, or a bucket's region label). */
BK_API int bk_region_name_valid(const char *name);

#endif
