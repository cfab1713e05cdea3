/* bucketd — file reads: HEAD/GET /buckets/{ns}/{name}/resolve/{path}
 * (owned by server-http; spec buckets-api.md §1.11).
 *
 * HEAD/GET answer X-Xet-Hash, ETag ("<xet hash>"), Content-Length,
 * Accept-Ranges, `Link: <.../xet-read-token>; rel="xet-auth"` (+
 * X-Xet-Refresh-Route). A plain GET streams the bytes, reconstructed on the
 * server from the xorbs (every chunk decoded and its hash checked against
 * the chunk table); `Range: bytes=...` gives 206 + Content-Range (416 when
 * unsatisfiable). `Accept: application/vnd.xet-fileinfo+json` (the JS
 * client's probe) gives the Xet file-info variant: X-Linked-Size,
 * X-Linked-ETag, Link rels xet-auth + xet-reconstruction-info, JSON body.
 * Missing file: 404 X-Error-Code EntryNotFound.
 */
#ifndef BUCKETD_RESOLVE_H
#define BUCKETD_RESOLVE_H

struct bk_server;
struct bk_http_req;

/* Answers the request for key in bucket ns/name (the captures of the route
 * row "/buckets/{ns}/{name}/resolve/{path...}", GET and HEAD; strings are
 * borrowed for the call). Always 1 (answered). */
int resolve_handle(struct bk_server *srv, struct bk_http_req *req, const char *ns,
                   const char *name, const char *key);

#endif
