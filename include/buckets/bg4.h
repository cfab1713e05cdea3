/* buckets — byte grouping 4 (BG4), the pre-filter of xorb compression
 * scheme 2 (xet.md §3).
 *
 * Split: the bytes at positions i%4 == 0, 1, 2, 3 become four streams that are
 * written one after another; when n%4 == r the first r streams hold one extra
 * byte. Join is the exact inverse. Pure functions over caller buffers: `out`
 * must hold n bytes and must not overlap `in`. No allocation.
 */
#ifndef BUCKETS_BG4_H
#define BUCKETS_BG4_H

#include "buckets/api.h"

#include <stddef.h>
#include <stdint.h>

BK_API void bk_bg4_split(const uint8_t *in, size_t n, uint8_t *out);
BK_API void bk_bg4_join(const uint8_t *in, size_t n, uint8_t *out);

#endif
