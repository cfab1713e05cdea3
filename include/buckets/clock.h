/* buckets — the one wall clock and the one monotonic clock.
 *
 * Every component (client, CLI, server) reads time through these two
 * functions, so a test or a later port changes the clock in one place.
 * No ownership: plain values, no state, safe from any thread. */
#ifndef BUCKETS_CLOCK_H
#define BUCKETS_CLOCK_H

#include "buckets/api.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wall-clock time (CLOCK_REALTIME) in milliseconds since the Unix epoch. */
BK_API int64_t bk_now_ms(void);

/* Monotonic time (CLOCK_MONOTONIC) in milliseconds, with sub-millisecond
 * fraction, from an arbitrary origin: only differences are meaningful. */
BK_API double bk_mono_ms(void);

#ifdef __cplusplus
}
#endif

#endif
