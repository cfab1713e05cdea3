#!/usr/bin/env bash
# Hub bucket API end to end against a real bucketd: every endpoint, the
# permission matrix, pagination over thousands of files, resolve.
# Files are registered by srv_xet (seed mode: blobs + db rows as the CAS
# would write them) so that this test does not depend on the CAS HTTP layer;
# server_cas_flow.sh covers the same through the CAS API.
. "$(dirname "$0")/lib.sh"
XET="$BK_HELPERS/srv_xet"
[ -x "$XET" ] || { bk_fail "srv_xet built"; bk_summary; }

bk_start
A=$(bk_user_token alice write); AR=$(bk_token alice read)
B=$(bk_user_token bob write)
C=$(bk_user_token carol write); D=$(bk_user_token dave write); E=$(bk_user_token erin write)
bk_admin org add acme --owner alice >/dev/null
bk_admin org member acme carol --role read >/dev/null
bk_admin org member acme dave --role write >/dev/null
bk_admin org member acme erin --role admin >/dev/null
J=(-H 'Content-Type: application/json')
ND=(-H 'Content-Type: application/x-ndjson')

# ---- whoami
bk_req GET /api/whoami-v2 "$A"; bk_expect "whoami 200" 200 "$BK_STATUS"
bk_expect "whoami name" alice "$(bk_json 'j["name"]')"
bk_expect "whoami orgs" acme "$(bk_json 'j["orgs"][0]["name"]')"
bk_expect "whoami role" write "$(bk_json 'j["auth"]["accessToken"]["role"]')"
bk_req GET /api/whoami-v2; bk_expect "whoami anon 401" 401 "$BK_STATUS"
bk_req GET /api/whoami-v2 hf_notAValidTokenAtAll123456789012345678; bk_expect "whoami bad token 401" 401 "$BK_STATUS"
bk_req GET /api/whoami-v2 "$AR"; bk_expect "whoami read token role" read "$(bk_json 'j["auth"]["accessToken"]["role"]')"

# ---- create
bk_req POST /api/buckets/alice/pub "$A" "${J[@]}" -d '{}'; bk_expect "create 200" 200 "$BK_STATUS"
bk_expect "create id" alice/pub "$(bk_json 'j["id"]')"
bk_expect "create url" "$BK_URL/buckets/alice/pub" "$(bk_json 'j["url"]')"
bk_req POST /api/buckets/alice/pub "$A" "${J[@]}" -d '{}'; bk_expect "create again 409" 409 "$BK_STATUS"
bk_req POST /api/buckets/me/priv "$A" "${J[@]}" -d '{"private":true}'; bk_expect "create me/ private" 200 "$BK_STATUS"
bk_expect "create me/ -> alice" alice/priv "$(bk_json 'j["id"]')"
bk_req POST /api/buckets/alice/vis "$A" "${J[@]}" -d '{"visibility":"private"}'; bk_expect "create visibility" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/vis "$A"; bk_expect "visibility private" true "$(bk_json 'j["private"]')"
bk_req POST /api/buckets/alice/nobody "$A"; bk_expect "create no body" 200 "$BK_STATUS"
bk_req POST /api/buckets/alice/bad..name "$A" "${J[@]}" -d '{}'; bk_expect "create bad name 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/x1 "$A" "${J[@]}" -d '{"private":'; bk_expect "create bad json 400" 400 "$BK_STATUS"
bk_req GET /api/buckets/alice/x1 "$A"; bk_expect "bad json created nothing" 404 "$BK_STATUS"
bk_req POST /api/buckets/alice/x2 "$A" "${J[@]}" -d '{"private":"yes"}'; bk_expect "create private not bool 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/x3 - "${J[@]}" -d '{}'; bk_expect "create anon 401" 401 "$BK_STATUS"
bk_req POST /api/buckets/alice/x4 "$B" "${J[@]}" -d '{}'; bk_expect "create in other ns 403" 403 "$BK_STATUS"
bk_req POST /api/buckets/alice/x5 "$AR" "${J[@]}" -d '{}'; bk_expect "create with read token 403" 403 "$BK_STATUS"
bk_req POST /api/buckets/nosuchns/x6 "$A" "${J[@]}" -d '{}'; bk_expect "create unknown ns 404" 404 "$BK_STATUS"

# ---- info
bk_req GET /api/buckets/alice/pub; bk_expect "info public anon 200" 200 "$BK_STATUS"
for f in id private createdAt size totalFiles storedSize; do
  bk_expect "info has $f" yes "$(bk_json "'yes' if '$f' in j else 'no'")"
done
bk_req GET '/api/buckets/alice/pub?expand%5B%5D=likes'; bk_expect "repoExists probe" 200 "$BK_STATUS"
bk_expect "expand[]=likes skips usage" no "$(bk_json "'yes' if 'size' in j else 'no'")"
bk_req GET '/api/buckets/alice/pub?expand[]=likes&expand[]=size'; bk_expect "expand[]=size keeps usage" yes "$(bk_json "'yes' if 'size' in j else 'no'")"
bk_req GET /api/buckets/alice/priv; bk_expect "info private anon 401" 401 "$BK_STATUS"
bk_expect "info private anon code" RepoNotFound "$(bk_hdr X-Error-Code)"
bk_req GET /api/buckets/alice/priv "$B"; bk_expect "info private other 404" 404 "$BK_STATUS"
bk_expect "info private other code" RepoNotFound "$(bk_hdr X-Error-Code)"
bk_req GET /api/buckets/alice/priv "$AR"; bk_expect "info private owner read token" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/nope "$A"; bk_expect "info unknown 404" 404 "$BK_STATUS"
bk_expect "info unknown body json" yes "$(bk_json "'yes' if 'error' in j else 'no'")"

# ---- list
bk_req GET /api/buckets/alice; bk_expect "list anon 200" 200 "$BK_STATUS"
bk_expect "list anon sees public only" '["alice/nobody", "alice/pub"]' "$(bk_json '[b["id"] for b in j]')"
bk_req GET /api/buckets/alice "$A"
bk_expect "list owner sees all" '["alice/nobody", "alice/priv", "alice/pub", "alice/vis"]' "$(bk_json '[b["id"] for b in j]')"
bk_req GET /api/buckets/me "$A"; bk_expect "list me" 4 "$(bk_json 'len(j)')"
bk_req GET '/api/buckets/alice?search=pu' "$A"; bk_expect "list search" '["alice/pub"]' "$(bk_json '[b["id"] for b in j]')"
bk_req GET '/api/buckets/alice?limit=3' "$A"; bk_expect "list page1" 3 "$(bk_json 'len(j)')"
next=$(bk_hdr Link | sed -n 's/^<\(.*\)>; rel="next"$/\1/p')
bk_check "list Link next" test -n "$next"
bk_req GET "${next#$BK_URL}" "$A"; bk_expect "list page2" '["alice/vis"]' "$(bk_json '[b["id"] for b in j]')"
bk_expect "list last page no Link" "" "$(bk_hdr Link)"
bk_req GET /api/buckets/nosuchns; bk_expect "list unknown ns 404" 404 "$BK_STATUS"

# ---- org permissions
bk_req POST /api/buckets/acme/data "$D" "${J[@]}" -d '{"private":true}'; bk_expect "org write member creates" 200 "$BK_STATUS"
bk_req POST /api/buckets/acme/c1 "$C" "${J[@]}" -d '{}'; bk_expect "org read member cannot create" 403 "$BK_STATUS"
bk_req GET /api/buckets/acme/data "$C"; bk_expect "org read member reads" 200 "$BK_STATUS"
bk_req GET /api/buckets/acme/data "$B"; bk_expect "non-member 404" 404 "$BK_STATUS"
bk_req GET /api/buckets/acme/data; bk_expect "anon on org private 401" 401 "$BK_STATUS"
bk_req GET /api/buckets/acme "$C"; bk_expect "org list member sees private" 1 "$(bk_json 'len(j)')"
bk_req GET /api/buckets/acme "$B"; bk_expect "org list other hides private" 0 "$(bk_json 'len(j)')"
bk_req PUT /api/buckets/acme/data/settings "$D" "${J[@]}" -d '{"private":false}'; bk_expect "settings needs admin (write member)" 403 "$BK_STATUS"
bk_req PUT /api/buckets/acme/data/settings "$E" "${J[@]}" -d '{"private":false}'; bk_expect "settings org admin" 200 "$BK_STATUS"
bk_req GET /api/buckets/acme/data; bk_expect "now public" 200 "$BK_STATUS"
bk_req PUT /api/buckets/acme/data/settings "$E" "${J[@]}" -d '{"visibility":"private"}'; bk_expect "settings visibility" 200 "$BK_STATUS"
bk_req GET /api/buckets/acme/data; bk_expect "private again" 401 "$BK_STATUS"
bk_req PUT /api/buckets/acme/data/settings "$E" "${J[@]}" -d '{"private":1}'; bk_expect "settings bad type 400" 400 "$BK_STATUS"
bk_req DELETE /api/buckets/acme/data "$D"; bk_expect "delete needs admin" 403 "$BK_STATUS"
bk_req DELETE /api/buckets/acme/data "$C"; bk_expect "delete read member 403" 403 "$BK_STATUS"
bk_req GET /api/buckets/acme/data "$E"; bk_expect "still there" 200 "$BK_STATUS"

# ---- register files (seed) and batch
OUT=$BK_TMP/files
bk_xet_seed --bucket alice/pub --files 2500 --size 200 --prefix many/f >"$BK_TMP/many.ndjson" 2>"$BK_TMP/xet.err" \
  || { cat "$BK_TMP/xet.err"; bk_fail "seed many"; }
bk_xet_seed --bucket alice/pub --files 5 --size 300000 --seed 7 --prefix dir/sub/big --out "$OUT" --mtime 1700000000000 >"$BK_TMP/big.ndjson" 2>>"$BK_TMP/xet.err" \
  || { cat "$BK_TMP/xet.err"; bk_fail "seed big"; }
bk_check "seeded 2500" test "$(wc -l <"$BK_TMP/many.ndjson")" -eq 2500

bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/many.ndjson"
bk_expect "batch 2500 -> 200" 200 "$BK_STATUS"
bk_expect "batch processed" 2500 "$(bk_json 'j["processed"]')"
bk_expect "batch success" true "$(bk_json 'j["success"]')"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/big.ndjson"
bk_expect "batch big 200" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/pub; bk_expect "info totalFiles" 2505 "$(bk_json 'j["totalFiles"]')"
bk_expect "info size" $((2500*200 + 5*300000)) "$(bk_json 'j["size"]')"

# tree pagination over 2505 files
pages() { # path token -> prints "count pages sorted unique"
  "$BK_PY" - "$BK_URL" "$1" "$2" <<'EOF'
import json, sys, urllib.request, re
base, path, tok = sys.argv[1], sys.argv[2], sys.argv[3]
url = base + path; seen = []; n = 0
while url:
    req = urllib.request.Request(url)
    if tok: req.add_header("Authorization", "Bearer " + tok)
    with urllib.request.urlopen(req) as r:
        seen += [e["path"] for e in json.load(r)]
        m = re.match(r'<([^>]*)>;\s*rel="next"', r.headers.get("Link") or "")
        url = m.group(1) if m else None
    n += 1
print(len(seen), n, seen == sorted(seen, key=lambda s: s.encode()), len(set(seen)) == len(seen))
EOF
}
bk_expect "tree recursive pages" "2505 6 True True" "$(pages '/api/buckets/alice/pub/tree?recursive=true&limit=500' '')"
bk_expect "tree default recursive" "2505 3 True True" "$(pages '/api/buckets/alice/pub/tree' '')"
bk_expect "tree prefix raw" "2500 3 True True" "$(pages '/api/buckets/alice/pub/tree/many?recursive=true' '')"
bk_expect "tree prefix encoded" "5 1 True True" "$(pages '/api/buckets/alice/pub/tree/dir%2Fsub?recursive=true' '')"
bk_req GET '/api/buckets/alice/pub/tree?recursive=false'
bk_expect "tree non-recursive dirs" '[["directory", "dir"], ["directory", "many"]]' "$(bk_json '[[e["type"],e["path"]] for e in j]')"
bk_expect "dir has uploadedAt" yes "$(bk_json "'yes' if 'uploadedAt' in j[0] else 'no'")"
bk_req GET '/api/buckets/alice/pub/tree/dir/sub?recursive=false&limit=2'
bk_expect "tree file entry fields" '["mtime", "path", "size", "type", "uploadedAt", "xetHash"]' "$(bk_json 'sorted(k for k in j[0] if k!="contentType")')"
bk_expect "tree mtime from client ms" 2023-11-14T22:13:20.000Z "$(bk_json 'j[0]["mtime"]')"
bk_check "tree limit Link" test -n "$(bk_hdr Link)"
bk_req GET '/api/buckets/alice/pub/tree?limit=abc'; bk_expect "tree bad limit 400" 400 "$BK_STATUS"
bk_req GET '/api/buckets/alice/pub/tree?cursor=%21%21%21'; bk_expect "tree bad cursor 400" 400 "$BK_STATUS"
bk_req GET '/api/buckets/alice/pub/tree?recursive=maybe'; bk_expect "tree bad recursive 400" 400 "$BK_STATUS"
bk_req GET '/api/buckets/alice/pub/tree/nothing-here'; bk_expect "tree empty prefix" 0 "$(bk_json 'len(j)')"
bk_req GET '/api/buckets/alice/priv/tree'; bk_expect "tree private anon 401" 401 "$BK_STATUS"
bk_req GET '/api/buckets/alice/priv/tree' "$B"; bk_expect "tree private other 404" 404 "$BK_STATUS"

# paths-info
bk_req POST /api/buckets/alice/pub/paths-info - "${J[@]}" -d '{"paths":["many/f000001","dir/sub/big000002","missing","many"],"expand":true}'
bk_expect "paths-info 200" 200 "$BK_STATUS"
bk_expect "paths-info found 2" '["many/f000001", "dir/sub/big000002"]' "$(bk_json '[e["path"] for e in j]')"
bk_expect "paths-info size" 300000 "$(bk_json 'j[1]["size"]')"
bk_req POST /api/buckets/alice/pub/paths-info - -H 'Content-Type: application/x-www-form-urlencoded' --data 'paths=many%2Ff000003&paths=many/f000004&expand=true'
bk_expect "paths-info form" 2 "$(bk_json 'len(j)')"
"$BK_PY" -c 'import json; print(json.dumps({"paths":["p%d"%i for i in range(1001)]}))' >"$BK_TMP/p1001.json"
bk_req POST /api/buckets/alice/pub/paths-info - "${J[@]}" --data-binary @"$BK_TMP/p1001.json"; bk_expect "paths-info 1001 -> 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/paths-info - "${J[@]}" -d '{"paths":[1,2]}'; bk_expect "paths-info non-string 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/paths-info - "${J[@]}" -d 'nope'; bk_expect "paths-info bad json 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/paths-info - "${J[@]}" -d '{"paths":["../etc/passwd","a//b","/abs"]}'; bk_expect "paths-info hostile paths -> []" 0 "$(bk_json 'len(j)')"

# batch: permissions, failures, copy, delete
snapshot() { pages "/api/buckets/$1/tree?recursive=true&limit=100000" "$2"; }
S0=$(snapshot alice/pub "")
H1=$(sed -n 1p "$BK_TMP/many.ndjson" | sed 's/.*"xetHash":"\([0-9a-f]*\)".*/\1/')
bk_req POST /api/buckets/alice/pub/batch "$AR" "${ND[@]}" --data-binary '{"type":"deleteFile","path":"many/f000001"}'
bk_expect "batch read token 403" 403 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/batch - "${ND[@]}" --data-binary '{"type":"deleteFile","path":"many/f000001"}'
bk_expect "batch anon 401" 401 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/batch "$B" "${ND[@]}" --data-binary '{"type":"deleteFile","path":"many/f000001"}'
bk_expect "batch other user 403" 403 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary $'{"type":"addFile","path":"x","xetHash":"'$H1$'"}\n{not json'
bk_expect "batch bad json line 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary '{"type":"renameFile","path":"x"}'
bk_expect "batch unknown op 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary '{"type":"addFile","xetHash":"'$H1'"}'
bk_expect "batch missing path 400" 400 "$BK_STATUS"
# cJSON decodes \u0000 to a NUL byte that would cut "ok/one\u0000x" to "ok/one"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary '{"type":"deleteFile","path":"ok/one\u0000x"}'
bk_expect "batch NUL escape in a path 400" 400 "$BK_STATUS"
bk_expect "state unchanged after rejected batches" "$S0" "$(snapshot alice/pub "")"
printf '{"type":"addFile","path":"ok/one","xetHash":"%s","mtime":1700000000}\n{"type":"addFile","path":"../evil","xetHash":"%s"}\n{"type":"addFile","path":"a/./b","xetHash":"%s"}\n{"type":"addFile","path":"bad\\u0001ctl","xetHash":"%s"}\n{"type":"addFile","path":"nohash","xetHash":"zz"}\n{"type":"addFile","path":"unknown","xetHash":"%064d"}\n{"type":"addFile","path":"%s","xetHash":"%s"}\n' \
  "$H1" "$H1" "$H1" "$H1" 7 "$(head -c 1025 /dev/zero | tr '\0' k)" "$H1" >"$BK_TMP/mixed.ndjson"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/mixed.ndjson"
bk_expect "batch partial 422" 422 "$BK_STATUS"
bk_expect "batch partial counts" "7 1 6 False" "$(bk_json '" ".join(str(x) for x in [j["processed"],j["succeeded"],len(j["failed"]),j["success"]])')"
bk_expect "failed paths" '["../evil", "a/./b", "bad\u0001ctl", "nohash", "unknown"]' "$(bk_json '[f["path"] for f in j["failed"][:5]]')"
bk_req POST /api/buckets/alice/pub/paths-info - "${J[@]}" -d '{"paths":["ok/one"]}'
bk_expect "seconds mtime read as seconds" 2023-11-14T22:13:20.000Z "$(bk_json 'j[0]["mtime"]')"
# grant: a hash registered for alice/pub cannot be added to alice/priv by hash alone ...
bk_req POST /api/buckets/alice/priv/batch "$A" "${ND[@]}" --data-binary '{"type":"addFile","path":"stolen","xetHash":"'$H1'"}'
bk_expect "addFile of foreign hash 422" 422 "$BK_STATUS"
# ... but copyFile from a readable source works
bk_req POST /api/buckets/alice/priv/batch "$A" "${ND[@]}" --data-binary '{"type":"copyFile","path":"copied","xetHash":"'$H1'","sourceRepoType":"bucket","sourceRepoId":"alice/pub"}'
bk_expect "copyFile from readable source" 200 "$BK_STATUS"
bk_req POST /api/buckets/alice/priv/paths-info "$A" "${J[@]}" -d '{"paths":["copied"]}'; bk_expect "copy landed" 1 "$(bk_json 'len(j)')"
# bob cannot copy out of alice/priv
bk_req POST /api/buckets/bob/bb "$B" "${J[@]}" -d '{}'
bk_req POST /api/buckets/bob/bb/batch "$B" "${ND[@]}" --data-binary '{"type":"copyFile","path":"x","xetHash":"'$H1'","sourceRepoType":"bucket","sourceRepoId":"alice/priv"}'
bk_expect "copy from unreadable source 422" 422 "$BK_STATUS"
bk_expect "copy from unreadable error" "source bucket not found" "$(bk_json 'j["failed"][0]["error"]')"
bk_req POST /api/buckets/bob/bb/batch "$B" "${ND[@]}" --data-binary '{"type":"copyFile","path":"x","xetHash":"'$H1'","sourceRepoType":"bucket","sourceRepoId":"alice/pub"}'
bk_expect "copy from public source" 200 "$BK_STATUS"
bk_req POST /api/buckets/bob/bb/batch "$B" "${ND[@]}" --data-binary '{"type":"copyFile","path":"y","xetHash":"'$H1'","sourceRepoType":"model","sourceRepoId":"alice/pub"}'
bk_expect "copy from model 422" 422 "$BK_STATUS"
# delete
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary $'{"type":"deleteFile","path":"ok/one"}\n{"type":"deleteFile","path":"never/was"}'
bk_expect "delete 200 (missing ok)" 200 "$BK_STATUS"
bk_expect "state back after add+delete" "$S0" "$(snapshot alice/pub "")"
# oversized body
head -c $((65*1024*1024)) /dev/zero >"$BK_TMP/huge"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/huge"
bk_expect "batch 65 MiB -> 413" 413 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$BK_TMP/huge"
bk_expect "chunked 65 MiB -> 413" 413 "$BK_STATUS"
bk_req POST /api/buckets/alice/pub/paths-info - "${J[@]}" --data-binary @"$BK_TMP/huge"
bk_expect "paths-info huge -> 413" 413 "$BK_STATUS"
rm -f "$BK_TMP/huge"
bk_expect "state unchanged after hostile bodies" "$S0" "$(snapshot alice/pub "")"

# ---- resolve
F2=dir/sub/big000002
bk_req HEAD /buckets/alice/pub/resolve/$F2
bk_expect "resolve HEAD 200" 200 "$BK_STATUS"
bk_expect "resolve Content-Length" 300000 "$(bk_hdr Content-Length)"
H2=$(grep -F "\"$F2\"" "$BK_TMP/big.ndjson" | sed 's/.*"xetHash":"\([0-9a-f]*\)".*/\1/')
bk_expect "resolve X-Xet-Hash" "$H2" "$(bk_hdr X-Xet-Hash)"
bk_expect "resolve ETag" "\"$H2\"" "$(bk_hdr ETag)"
bk_expect "resolve Link xet-auth" "<$BK_URL/api/buckets/alice/pub/xet-read-token>; rel=\"xet-auth\"" "$(bk_hdr Link)"
bk_req GET /buckets/alice/pub/resolve/$F2
bk_expect "resolve GET 200" 200 "$BK_STATUS"
bk_check "resolve GET bytes" cmp "$BK_BODY" "$OUT/2"
bk_req GET /buckets/alice/pub/resolve/dir%2Fsub%2Fbig000002
bk_check "resolve percent-encoded path" cmp "$BK_BODY" "$OUT/2"
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=100000-100099'
bk_expect "resolve Range 206" 206 "$BK_STATUS"
bk_expect "resolve Content-Range" "bytes 100000-100099/300000" "$(bk_hdr Content-Range)"
bk_check "resolve Range bytes" cmp "$BK_BODY" <(tail -c +100001 "$OUT/2" | head -c 100)
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=-10'
bk_check "resolve suffix range" cmp "$BK_BODY" <(tail -c 10 "$OUT/2")
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=299990-'
bk_check "resolve open range" cmp "$BK_BODY" <(tail -c 10 "$OUT/2")
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=300000-'
bk_expect "resolve 416" 416 "$BK_STATUS"
bk_expect "resolve 416 Content-Range" "bytes */300000" "$(bk_hdr Content-Range)"
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=0-0'
bk_expect "probe 0-0 Content-Range" "bytes 0-0/300000" "$(bk_hdr Content-Range)"
bk_expect "probe 0-0 size 1" 1 "$(stat -c %s "$BK_BODY")"
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=0-0' -H 'Accept: application/vnd.xet-fileinfo+json, */*'
bk_expect "fileinfo 200" 200 "$BK_STATUS"
bk_expect "fileinfo type" "application/vnd.xet-fileinfo+json" "$(bk_hdr Content-Type)"
bk_expect "fileinfo X-Linked-Size" 300000 "$(bk_hdr X-Linked-Size)"
bk_check "fileinfo reconstruction link" grep -q 'rel="xet-reconstruction-info"' <(bk_hdr Link)
bk_req GET /buckets/alice/pub/resolve/$F2 - -H "If-None-Match: \"$H2\""
bk_expect "If-None-Match -> 304" 304 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'If-None-Match: "other"'
bk_expect "If-None-Match other -> 200" 200 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=0-9' -H "If-Range: \"$H2\""
bk_expect "If-Range match -> 206" 206 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/$F2 - -H 'Range: bytes=0-9' -H 'If-Range: "stale"'
bk_expect "If-Range stale -> 200 whole file" "200 300000" "$BK_STATUS $(stat -c %s "$BK_BODY")"
bk_req HEAD /buckets/alice/pub/resolve/$F2
bk_expect "Content-Disposition" "inline; filename=\"big000002\"; filename*=UTF-8''big000002" "$(bk_hdr Content-Disposition)"
bk_req HEAD "/buckets/alice/pub/resolve/$F2?noContentDisposition=1"
bk_expect "noContentDisposition" "" "$(bk_hdr Content-Disposition)"
bk_req GET /buckets/alice/pub/resolve/nope
bk_expect "resolve missing 404" 404 "$BK_STATUS"
bk_expect "resolve missing EntryNotFound" EntryNotFound "$(bk_hdr X-Error-Code)"
bk_req HEAD /buckets/alice/pub/resolve/nope; bk_expect "resolve HEAD missing 404" 404 "$BK_STATUS"
bk_req GET /buckets/alice/priv/resolve/copied; bk_expect "resolve private anon 401" 401 "$BK_STATUS"
bk_req GET /buckets/alice/priv/resolve/copied "$B"; bk_expect "resolve private other 404" 404 "$BK_STATUS"
bk_req GET /buckets/alice/priv/resolve/copied "$AR"; bk_expect "resolve private owner" 200 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/../../../etc/passwd; bk_expect "resolve traversal 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/%2e%2e/%2e%2e/x; bk_expect "resolve encoded traversal 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/a%00b; bk_expect "resolve NUL 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/a%ffb; bk_expect "resolve bad UTF-8 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/pub/resolve/a%zzb; bk_expect "resolve stray % taken literally" "404 EntryNotFound" "$BK_STATUS $(bk_hdr X-Error-Code)"
bk_req POST /buckets/alice/pub/resolve/$F2 "$A"; bk_expect "resolve POST 405" 405 "$BK_STATUS"
# keys with '%' work both raw (JS client) and encoded (Python)
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary '{"type":"addFile","path":"pct/100%.txt","xetHash":"'$H1'"}'
bk_expect "add key with %" 200 "$BK_STATUS"
bk_req GET '/buckets/alice/pub/resolve/pct/100%.txt'; bk_expect "raw % key" "200 200" "$BK_STATUS $(stat -c %s "$BK_BODY")"
bk_req GET '/buckets/alice/pub/resolve/pct%2F100%25.txt'; bk_expect "encoded % key" "200 200" "$BK_STATUS $(stat -c %s "$BK_BODY")"
bk_req POST /api/buckets/alice/pub/batch "$A" "${ND[@]}" --data-binary '{"type":"deleteFile","path":"pct/100%.txt"}'

# ---- xet tokens
bk_req GET /api/buckets/alice/pub/xet-read-token; bk_expect "read token anon public" 200 "$BK_STATUS"
bk_expect "token casUrl" "$BK_URL" "$(bk_json 'j["casUrl"]')"
bk_check "token exp in future" test "$(bk_json 'j["exp"]')" -gt "$(date +%s)"
bk_check "token header" test -n "$(bk_hdr X-Xet-Access-Token)"
bk_req GET /api/buckets/alice/pub/xet-write-token; bk_expect "write token anon 401" 401 "$BK_STATUS"
bk_req GET /api/buckets/alice/pub/xet-write-token "$AR"; bk_expect "write token read hf token 403" 403 "$BK_STATUS"
bk_req GET /api/buckets/alice/pub/xet-write-token "$A"; bk_expect "write token owner" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/priv/xet-read-token "$B"; bk_expect "read token other private 404" 404 "$BK_STATUS"
bk_req GET /api/buckets/acme/data/xet-write-token "$C"; bk_expect "write token org read member 403" 403 "$BK_STATUS"
bk_req GET /api/buckets/acme/data/xet-write-token "$D"; bk_expect "write token org write member" 200 "$BK_STATUS"

# ---- usage
bk_req GET /api/usage/alice "$A"; bk_expect "usage 200" 200 "$BK_STATUS"
bk_check "usage storedSize > 0" test "$(bk_json 'j["storedSize"]')" -gt 0
bk_req GET /api/usage/alice "$B"; bk_expect "usage other 404" 404 "$BK_STATUS"

# ---- move
# move_expect LABEL STATUS TOKEN BODY: POST /api/repos/move, check the status
move_expect() {
  bk_req POST /api/repos/move "$3" "${J[@]}" -d "$4"; bk_expect "$1" "$2" "$BK_STATUS"
}
bk_req POST /api/buckets/alice/tomove "$A" "${J[@]}" -d '{}'
move_expect "move to org 200" 200 "$A" '{"fromRepo":"alice/tomove","toRepo":"acme/moved","type":"bucket"}'
bk_req GET /api/buckets/alice/tomove "$A"; bk_expect "old name gone" 404 "$BK_STATUS"
bk_req GET /api/buckets/acme/moved "$A"; bk_expect "new name" 200 "$BK_STATUS"
move_expect "move onto existing 409" 409 "$A" '{"fromRepo":"acme/moved","toRepo":"alice/pub","type":"bucket"}'
move_expect "move other's private 404" 404 "$B" '{"fromRepo":"alice/priv","toRepo":"bob/stolen","type":"bucket"}'
move_expect "move other's public 403" 403 "$B" '{"fromRepo":"alice/pub","toRepo":"bob/stolen","type":"bucket"}'
move_expect "move without type 400" 400 "$A" '{"fromRepo":"acme/moved","toRepo":"alice/m2"}'
move_expect "move bad id 400" 400 "$A" '{"fromRepo":"acme/moved","toRepo":"a/b/c","type":"bucket"}'
move_expect "move NUL escape in an id 400" 400 "$A" '{"fromRepo":"acme/moved\u0000x","toRepo":"alice/m2","type":"bucket"}'
move_expect "move by org write member 403" 403 "$D" '{"fromRepo":"acme/moved","toRepo":"acme/m3","type":"bucket"}'
move_expect "rename by org admin" 200 "$E" '{"fromRepo":"acme/moved","toRepo":"acme/m3","type":"bucket"}'

# ---- delete
bk_req DELETE /api/buckets/acme/m3 "$E"; bk_expect "delete org admin" 200 "$BK_STATUS"
bk_req DELETE /api/buckets/acme/m3 "$E"; bk_expect "delete again 404" 404 "$BK_STATUS"
bk_req DELETE /api/buckets/alice/vis "$AR"; bk_expect "delete read token 403" 403 "$BK_STATUS"
bk_req DELETE /api/buckets/alice/vis "$A"; bk_expect "delete owner" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/vis "$A"; bk_expect "deleted" 404 "$BK_STATUS"

# ---- HTTP-level hostile input; server must stay up
HH=$("$BK_PY" - "$BK_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
s.sendall(b"GET /api/buckets/alice/pub HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
try: print(s.recv(100).split(b"\r\n")[0].decode())
except Exception as e: print("ERR", e)
PY
)
bk_expect "200 KB header -> 431" "HTTP/1.1 431 Request Header Fields Too Large" "$HH"
bk_req GET /api/buckets/alice/pub - -H "Authorization: Bearer $A" -H "Authorization: Bearer $B"
bk_expect "two Authorization headers 400" 400 "$BK_STATUS"
bk_req GET /api/nothing; bk_expect "unknown api 404" 404 "$BK_STATUS"
bk_req PATCH /api/buckets/alice/pub "$A"; bk_expect "bad method 405" 405 "$BK_STATUS"
bk_req GET /api/whoami-v2 "$A"; bk_expect "server still answers" 200 "$BK_STATUS"
bk_check "log has no tokens" bash -c "! grep -qF -- '${A:3}' '$BK_LOG'"
bk_check "log has request lines" grep -q 'GET /api/whoami-v2 200' "$BK_LOG"

bk_stop
bk_check "clean shutdown logged" grep -q "bucketd: stopped" "$BK_LOG"
bk_summary
