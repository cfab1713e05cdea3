#!/usr/bin/env bash
# Issue 12 part 2 (remaining bullets), the real hf against a real bucketd:
#  - sync from a remote source that names ONE file downloads it into DEST
#    under its base name (as huggingface_hub's _list_remote_files does), also
#    through --plan/--apply; a single local file as upload source is refused
#    as the official client refuses it;
#  - Hub web URLs of the endpoint as sync source / destination;
#  - create --region us|eu is stored, info (and the API's bucket JSON) show it,
#    null when none was chosen; invalid regions are refused with 400.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_HOME=$BK_TMP/hfhome HF_TOKEN=$A
W=$BK_TMP/w; mkdir -p "$W/src/dir" "$W/src/d"

run() { "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
rc_is() { [ "$RC" -eq "$2" ] && bk_ok "$1" || bk_fail "$1" "rc=$RC out=$OUT err=$ERR"; }
has() { case "$OUT" in *"$2"*) bk_ok "$1";; *) bk_fail "$1" "output lacks [$2]: $OUT";; esac; }
err_has() { case "$ERR" in *"$2"*) bk_ok "$1";; *) bk_fail "$1" "stderr lacks [$2]: $ERR";; esac; }
files() { (cd "$1" 2>/dev/null && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ' | sed 's/ $//'); }

"$HF" buckets create alice/s >/dev/null || bk_fail "create alice/s"
printf 'the single file\n' >"$W/src/dir/file.txt"
printf 'sibling\n' >"$W/src/dir/other.txt"
printf 'top level\n' >"$W/src/top.txt"
printf 'same name as its folder\n' >"$W/src/d/d"
printf 'x\n' >"$W/src/d/x"
run sync "$W/src" hf://buckets/alice/s
rc_is "upload the fixture" 0

# ---- a remote source naming one file
run buckets sync hf://buckets/alice/s/dir/file.txt "$W/out"
rc_is "sync of one remote file: exit 0 (was: plan is stale)" 0
has "one download planned" "Downloads: 1"
bk_expect "the file lands as DEST/<base name>, nothing else" "file.txt" "$(files "$W/out")"
bk_expect "its bytes" "the single file" "$(cat "$W/out/file.txt" 2>/dev/null)"
run buckets sync hf://buckets/alice/s/dir/file.txt "$W/out"
rc_is "again: exit 0" 0
has "again: nothing to do (remote mtime kept)" "Nothing to sync."
run sync hf://buckets/alice/s/dir/file.txt "$W/out" --dry-run
bk_expect "dry-run names it by its base name" "skip file.txt" \
  "$("$BK_PY" -c 'import json,sys
for l in sys.stdin:
    o=json.loads(l)
    if o["type"]=="operation": print(o["action"], o["path"])' <<<"$OUT")"
run sync hf://buckets/alice/s/top.txt "$W/out2"
rc_is "a file at the bucket root: exit 0" 0
bk_expect "root file lands as DEST/top.txt" "top.txt" "$(files "$W/out2")"
# through a saved plan: --apply maps the base name back to the file
run sync hf://buckets/alice/s/dir/file.txt "$W/out3" --plan "$W/p.jsonl"
rc_is "plan of one remote file" 0
run sync --apply "$W/p.jsonl"
rc_is "apply of that plan: exit 0" 0
bk_expect "applied: DEST/file.txt" "the single file" "$(cat "$W/out3/file.txt" 2>/dev/null)"
# the remote file changed since the plan: still refused as stale
run sync hf://buckets/alice/s/dir/file.txt "$W/out4" --plan "$W/p4.jsonl"
sleep 1.1; printf 'changed, longer than before\n' >"$W/new.txt"
"$HF" cp "$W/new.txt" hf://buckets/alice/s/dir/file.txt >/dev/null
run sync --apply "$W/p4.jsonl"
rc_is "apply after the file changed: refused" 1
err_has "refused as stale" "plan is stale: remote file.txt changed"
run sync --apply "$W/p4.jsonl" --force
rc_is "apply --force: exit 0" 0
bk_expect "forced: the current bytes" "changed, longer than before" "$(cat "$W/out4/file.txt" 2>/dev/null)"
# a folder whose file has the folder's name is still a folder
run sync hf://buckets/alice/s/d "$W/out5"
rc_is "folder d holding d/d: exit 0" 0
bk_expect "folder sync unchanged" "d x" "$(files "$W/out5")"
run sync hf://buckets/alice/s/d "$W/out6" --plan "$W/p6.jsonl"
run sync --apply "$W/p6.jsonl"
rc_is "folder d holding d/d through --apply" 0
bk_expect "applied folder sync" "d x" "$(files "$W/out6")"
# a missing file is still an error, not an empty success
run sync hf://buckets/alice/s/dir/nope.txt "$W/out7"
bk_expect "missing remote file: nothing downloaded" "" "$(files "$W/out7")"
# DEST that is a file is refused (official: Destination must be a directory)
run sync hf://buckets/alice/s/dir/file.txt "$W/src/top.txt"
rc_is "DEST is a file: refused" 1
# upload of one local file: the official client refuses it (Source must be a directory)
run sync "$W/src/top.txt" hf://buckets/alice/s/up
rc_is "one local file as upload source: refused" 1
err_has "says to use hf cp" "use \`hf cp\` for one file"

# ---- Hub web URLs as sync ends
run sync "$BK_URL/buckets/alice/s/tree/dir" "$W/web1"
rc_is "web URL …/tree/dir as source: exit 0" 0
bk_expect "web URL source downloaded the folder" "file.txt other.txt" "$(files "$W/web1")"
run sync "$BK_URL/buckets/alice/s/resolve/dir/other.txt" "$W/web2"
rc_is "web URL …/resolve/FILE as source" 0
bk_expect "one file through a resolve URL" "other.txt" "$(files "$W/web2")"
run sync "$W/src/d" "$BK_URL/buckets/alice/s/tree/web%20up"
rc_is "web URL as destination (percent-decoded)" 0
bk_expect "uploaded under the decoded prefix" "web up/d web up/x" \
  "$("$HF" buckets ls alice/s/web\ up -R -q | tr '\n' ' ' | sed 's/ $//')"
run sync "$W/src/d" "$BK_URL/buckets/alice/s"
rc_is "web URL of the bucket root" 0
run sync "$W/src/d" "$BK_URL/buckets/alice/s/tree/web%20up" --dry-run
has "dry-run header names the hf:// form" '"dest":"hf://buckets/alice/s/web up"'
run sync "$W/src/d" "$BK_URL/buckets/alice/s/tree/web%20up" --plan "$W/pw.jsonl"
run sync --apply "$W/pw.jsonl"
rc_is "plan from a web URL applies" 0
run sync "http://example.invalid:1/buckets/alice/s" "$W/web3"
rc_is "a URL of another host: usage error" 2
err_has "names the configured endpoint" "$BK_URL"
run sync "$BK_URL/buckets/alice/s/blob/dir" "$W/web3"
rc_is "another action than tree/resolve: usage error" 2

# ---- region
run buckets create alice/eu1 --region eu
rc_is "create --region eu" 0
run buckets info alice/eu1 --format json
has "info shows the stored region" '"region": "eu"'
run buckets info alice/eu1
has "info (human) shows it too" '"region": "eu"'
run buckets create alice/us1 --region us --private
run buckets info alice/us1 --format json
has "region us" '"region": "us"'
run buckets info alice/s --format json
has "no region chosen: null, not a default" '"region": null'
bk_req GET /api/buckets/alice/eu1 "$A"
bk_expect "API BucketInfo: region" "eu" "$(bk_json 'j["region"]')"
bk_req GET /api/buckets/alice "$A"
bk_expect "API list: region per bucket" "eu None us" \
  "$(bk_json '" ".join(str(b["region"]) for b in j if b["id"] in ("alice/eu1","alice/s","alice/us1"))')"
bk_req POST /api/buckets/alice/bad1 "$A" -H 'Content-Type: application/json' -d '{"region":"asia"}'
bk_expect "unknown region: 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/bad2 "$A" -H 'Content-Type: application/json' -d '{"region":5}'
bk_expect "non-string region: 400" 400 "$BK_STATUS"
bk_req POST /api/buckets/alice/bad3 "$A" -H 'Content-Type: application/json' -d '{"region":"EU"}'
bk_expect "regions are lowercase as the Hub sends them: 400" 400 "$BK_STATUS"
bk_req GET /api/buckets/alice/bad1 "$A"
bk_expect "refused create left no bucket" 404 "$BK_STATUS"
bk_req POST /api/buckets/alice/nullr "$A" -H 'Content-Type: application/json' -d '{"region":null}'
bk_expect "region null = none" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/nullr "$A"
bk_expect "stored as none" null "$(bk_json 'j["region"]')"
run buckets create alice/bad4 --region EU
rc_is "hf create --region EU: not a region name, refused before sending (usage error, exit 2)" 2
run buckets create alice/bad4 --region asia
rc_is "hf create --region asia: sent, the server refuses it (no such region): exit 1" 1
err_has "the server's message names the regions it accepts" "unknown region 'asia'"
run buckets info alice/bad4
rc_is "nothing created for the refused region" 1
# the region survives a restart (it is in the database, not in memory)
bk_stop; bk_start; export HF_ENDPOINT=$BK_URL
run buckets info alice/eu1 --format json
has "region kept across a restart" '"region": "eu"'

bk_stop
bk_summary
