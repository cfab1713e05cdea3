/* bucketd web — HTML pages served by bucketd itself (owned by the web helper).
 *
 * Pages (all GET also answer HEAD):
 *   GET  /                                   home (your namespaces; open a namespace)
 *   GET  /login, POST /login, POST /logout   token sign-in -> session cookie; sign-out
 *   GET  /static/style.css, /static/app.js   the only assets (from web/static)
 *   GET  /{ns}, POST /{ns}                   namespace page; create-bucket form
 *   GET  /buckets/{ns}/{name}[/tree/{path}]  bucket / folder listing (cursor pagination, filter)
 *   GET  /buckets/{ns}/{name}/blob/{path}    file page with preview
 *   GET  /buckets/{ns}/{name}/delete?path=&kind=   confirmation page
 *   POST /buckets/{ns}/{name}/delete|upload|settings   actions (CSRF-checked)
 * Templates and assets are read once from the web directory: $BUCKETD_WEB_DIR,
 * else <dir of the bucketd binary>/../../web, ../share/buckets/web, ./web.
 * See docs/web.md.
 */
#ifndef BUCKETD_WEB_H
#define BUCKETD_WEB_H

#include <stddef.h>

struct bk_server;
struct bk_http_req;
struct bk_principal;

/* The pages above are the rows of web_routes (router.h). Another method on a
 * bucket page answers 405 with Allow (after the read check: 404 page for a
 * bucket the caller cannot see); anything else unknown is the plain 404. */

/* For the router (optional): fills *out from the browser session cookie of
 * req, for safe (GET/HEAD) requests without an Authorization header, so that
 * the download link (/buckets/{ns}/{name}/resolve/...) of a private bucket
 * works for a signed-in browser. Returns 1 when a live session was found. */
int web_session_principal(struct bk_server *srv, const struct bk_http_req *req,
                          struct bk_principal *out);

#define WEB_FORM_BODY_MAX (64u * 1024u)
#define WEB_UPLOAD_BODY_MAX (256u * 1024u * 1024u)

#endif
