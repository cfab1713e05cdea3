#!/usr/bin/env bash
# The route tables (router.h): what a real bucketd answers for known paths with another
# method (405 + Allow), unknown paths (404, with the Hub API's own message under /api/),
# HEAD on GET routes, trailing slashes and percent-encoded paths, for the Hub API, resolve,
# the CAS, /healthz and the web pages.
. "$(dirname "$0")/lib.sh"
export BUCKETD_WEB_DIR="$BUCKETS_ROOT/web"
J=(-H 'Content-Type: application/json')
bk_start
A=$(bk_user_token alice write) || { bk_fail "create alice"; bk_summary; }
bk_req POST /api/buckets/alice/pub "$A" "${J[@]}" --data-binary '{}'
bk_expect "create alice/pub" 200 "$BK_STATUS"
err() { bk_json 'j["error"]'; }

# Hub API
bk_req HEAD /api/whoami-v2 "$A"; bk_expect "HEAD on a GET route" 200 "$BK_STATUS"
bk_req POST /api/whoami-v2 "$A"; bk_expect "POST whoami -> 405" 405 "$BK_STATUS"
bk_expect "whoami Allow" "GET, HEAD" "$(bk_hdr Allow)"
bk_req PATCH /api/buckets/alice/pub "$A"; bk_expect "PATCH bucket -> 405" 405 "$BK_STATUS"
bk_expect "bucket Allow" "GET, HEAD, POST, DELETE" "$(bk_hdr Allow)"
bk_req GET /api/buckets/alice/pub/batch "$A"; bk_expect "GET batch -> 405" 405 "$BK_STATUS"
bk_expect "batch Allow" "POST" "$(bk_hdr Allow)"
bk_req GET /api/nope "$A"; bk_expect "unknown /api/ path -> 404" 404 "$BK_STATUS"
bk_expect "unknown /api/ path message" "no such API endpoint" "$(err)"
bk_req GET /api/buckets/alice/pub/settings/ "$A"; bk_expect "settings/ -> 404" 404 "$BK_STATUS"
bk_req GET /api/buckets/alice/pub/ "$A"; bk_expect "bucket path with a trailing / -> 404" 404 "$BK_STATUS"
bk_req GET /api/buckets/alice/ "$A"; bk_expect "namespace list with a trailing / -> 200" 200 "$BK_STATUS"
bk_req GET /api/usage/alice/x "$A"; bk_expect "usage/{ns}/x -> 404" 404 "$BK_STATUS"
bk_req GET /api/buckets/alice/pub/tree/ "$A"; bk_expect "tree/ -> 200" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice%2Fpub "$A"; bk_expect "%2F decodes to / before routing" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/pub/xet-read-token/main "$A"
bk_expect "xet-read-token/{revision}" 200 "$BK_STATUS"
bk_req GET /api "$A"; bk_expect "/api itself -> 404" 404 "$BK_STATUS"

# resolve
bk_req DELETE /buckets/alice/pub/resolve/f "$A"; bk_expect "DELETE resolve -> 405" 405 "$BK_STATUS"
bk_expect "resolve Allow" "GET, HEAD" "$(bk_hdr Allow)"
bk_req GET /buckets/alice/pub/resolve/nope "$A"; bk_expect "resolve of a missing file -> 404" 404 "$BK_STATUS"
bk_expect "resolve 404 code" EntryNotFound "$(bk_hdr X-Error-Code)"

# CAS
H=$(printf '%064d' 0)
bk_req GET /v1/xorbs/default/$H; bk_expect "GET on the xorb route -> 405" 405 "$BK_STATUS"
bk_expect "xorb Allow" "POST" "$(bk_hdr Allow)"
bk_expect "CAS 405 code" MethodNotAllowed "$(bk_hdr X-Error-Code)"
bk_req POST /v1/reconstructions/$H; bk_expect "POST reconstruction -> 405" 405 "$BK_STATUS"
bk_req GET /v1/reconstructions/$H; bk_expect "reconstruction without a token -> 401" 401 "$BK_STATUS"
bk_req GET /v1/nope; bk_expect "unknown /v1/ path -> 404" 404 "$BK_STATUS"
bk_expect "unknown /v1/ path message" "not found" "$(err)"

# /healthz answers any method
bk_req GET /healthz; bk_expect "GET /healthz" 200 "$BK_STATUS"
bk_req POST /healthz; bk_expect "POST /healthz" 200 "$BK_STATUS"

# web pages
bk_req GET /static/style.css; bk_expect "stylesheet" 200 "$BK_STATUS"
bk_req POST /static/style.css; bk_expect "POST on an asset -> 404" 404 "$BK_STATUS"
bk_req GET /static/nope.css; bk_expect "unknown asset -> 404" 404 "$BK_STATUS"
bk_req POST /; bk_expect "POST / -> 404" 404 "$BK_STATUS"
bk_req DELETE /login; bk_expect "DELETE /login -> 404" 404 "$BK_STATUS"
bk_req HEAD /login; bk_expect "HEAD /login" 200 "$BK_STATUS"
bk_req GET /alice "$A"; bk_expect "namespace page" 200 "$BK_STATUS"
bk_req GET /buckets/alice/pub "$A"; bk_expect "bucket page" 200 "$BK_STATUS"
bk_req GET /buckets/alice/pub/ "$A"; bk_expect "bucket page with a trailing /" 200 "$BK_STATUS"
bk_req GET /buckets/alice/pub/tree "$A"; bk_expect "bucket page /tree" 200 "$BK_STATUS"
bk_req POST /buckets/alice/pub "$A"; bk_expect "POST on a bucket page -> 405" 405 "$BK_STATUS"
bk_expect "bucket page Allow" "GET, HEAD" "$(bk_hdr Allow)"
bk_req GET /buckets/alice/pub/upload "$A"; bk_expect "GET upload -> 405" 405 "$BK_STATUS"
bk_expect "upload Allow" "POST" "$(bk_hdr Allow)"
bk_req GET /buckets/alice/nope/upload "$A"; bk_expect "405 only for a bucket you can see" 404 "$BK_STATUS"
bk_req GET /buckets/alice/pub/nope "$A"; bk_expect "unknown bucket action -> 404" 404 "$BK_STATUS"
bk_req GET /no/such/page; bk_expect "unknown page -> 404" 404 "$BK_STATUS"
bk_expect "unknown page message" "not found" "$(err)"
bk_summary
