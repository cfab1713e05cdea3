/* bucketd — Xet CAS API (owned by server-cas).
 *
 * Routes (all under the server's own public URL, which is also casUrl):
 *   POST /v1/xorbs/default/{xorb}              write token; body = serialized xorb (<= 64 MiB)
 *   POST /v1/shards, /v2/shards                write token; body = shard (<= 64 MiB)
 *   GET  /v1/reconstructions/{file}, /v2/...   read token; optional Range: bytes=S-E
 *   GET  /v1/reconstructions?file_id=H&...     read token; batch form (xet-core)
 *   GET  /v1/chunks/default-merkledb/{chunk}   read token; global dedup query
 *        (aliases /v1/chunks/default/{chunk} and /v1/chunk/default/{chunk})
 *   GET  /v1/xorb-range/{xorb}?r=S-E&exp=&sig= signed URL (no token); Range required
 *   POST /v1/telemetry                         accepted and ignored
 * See docs/cas.md for the design and every choice where spec and clients differ.
 *
 * These are the rows of cas_routes (router.h): body caps, the xorb upload's
 * start function (it streams its body; may reply before it) and handlers.
 * Another method on a CAS path answers 405 MethodNotAllowed with Allow.
 */
#ifndef BUCKETD_CAS_H
#define BUCKETD_CAS_H

/* The table itself is declared in router.h (cas_routes). */

#endif
