/* buckets — BK_API, the marker of the public API of libbuckets.
 *
 * libbuckets is compiled with -fvisibility=hidden: a function or object is
 * exported from libbuckets.so only when its declaration in a public header
 * (include/buckets/) starts with BK_API. Every declaration in a public header
 * carries it; headers without it are internal (their functions are still in
 * the static archives, never in the shared library). The rule and how a new
 * public function is added: docs/architecture.md "Libraries and the public
 * API"; tests/integration/symbols.sh checks it.
 * No declarations here, nothing to own.
 */
#ifndef BUCKETS_API_H
#define BUCKETS_API_H

#if defined(__GNUC__) || defined(__clang__)
#define BK_API __attribute__((visibility("default")))
#else
#define BK_API
#endif

#endif
