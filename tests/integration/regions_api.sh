#!/usr/bin/env bash
# tests/integration/regions_api.sh — the region interface (docs/regions.md) with two file://
# regions, so no second object store is needed: `bucketd region add|list|remove` (added before
# serve: eu = the store serve uses, the default; us = a second directory), create with a region,
# unknown region 400, BucketInfo region/regions, settings prewarm, POST .../prewarm 202,
# X-Buckets-Region validation and the signed region= of fetch URLs, serve --region, hf CLI
# outputs, HF_BUCKETS_REGION, Python (python/tests/test_regions.py) and the bucket web page's
# forms. The copy itself between two object stores, a stopped store and kill -9 are in
# regions.sh.
#
# Checks that need regions configured are skipped with "SKIP: regions not enabled" when the
# server reports none (BucketInfo has no `regions` array exactly when bk_svc_regions_enabled
# is 0); everything else (argument checks, validation, refusals, forms) runs always.
. "$(dirname "$0")/lib.sh"
cd "$BUCKETS_ROOT"
HF="$BK_BIN/hf"
: "${BK_DATA:=$BK_TMP/data}"; export BK_DATA
mkdir -p "$BK_DATA"
bk_store_args || { bk_fail "store"; bk_summary; }
# region add: the metadata store (--data or --db) and --blobs = the region's store;
# list/remove: the store as the other admin commands take it
if [ "${BK_STORE_ARGS[0]}" = --data ]; then
  META=(--data "$BK_DATA"); HOME_URL="file://$(cd "$BK_DATA" && pwd)/blobs"; STORE=("${META[@]}")
else
  META=(--db "${BK_STORE_ARGS[1]}"); HOME_URL="${BK_STORE_ARGS[3]}"; STORE=("${BK_STORE_ARGS[@]}")
fi
mkdir -p "$BK_TMP/us-blobs"
US_URL="file://$BK_TMP/us-blobs"
region() { # add NAME --blobs URL | list | remove NAME [--force]
  local st=("${STORE[@]}"); [ "${1:-}" = add ] && st=("${META[@]}")
  "$BK_BUCKETD" region "$@" "${st[@]}" >"$BK_TMP/rout" 2>"$BK_TMP/rerr"; RC=$?; }
run() { env "${RUN_ENV[@]}" "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
RUN_ENV=()
rc_is() { [ "$RC" -eq "$2" ] && bk_ok "$1" || bk_fail "$1" "rc=$RC out=$(cat "$BK_TMP/out" "$BK_TMP/rout" 2>/dev/null | head -c 400) err=$(cat "$BK_TMP/err" "$BK_TMP/rerr" 2>/dev/null | head -c 400)"; }
contains() { case "$3" in *"$2"*) bk_ok "$1";; *) bk_fail "$1" "lacks [$2]: $(printf '%s' "$3" | head -c 600)";; esac; }
lacks() { case "$3" in *"$2"*) bk_fail "$1" "has [$2]: $(printf '%s' "$3" | head -c 600)";; *) bk_ok "$1";; esac; }
json_post() { bk_req "$1" "$2" "$3" -H 'Content-Type: application/json' --data-binary "$4"; }

# ---- bucketd region: argument checks (before anything is configured)
region; rc_is "region without a subcommand: usage error" 2
region add eu; rc_is "region add without --blobs: usage error" 2
region add EU --blobs "$US_URL"; rc_is "region add EU (not a region name): usage error" 2
contains "the message says what a region name is" "bad region name 'EU'" "$(cat "$BK_TMP/rerr")"
region list --force; rc_is "region list --force: usage error" 2
region remove; rc_is "region remove without a name: usage error" 2
"$BK_BUCKETD" region --help >"$BK_TMP/rout" 2>&1
contains "usage names region add" "region add NAME --blobs URL" "$(cat "$BK_TMP/rout")"

# ---- the registry: eu (the store serve uses; first = default), then us
region add eu --blobs "$HOME_URL"; ADD_EU_RC=$RC; ADD_EU_OUT=$(cat "$BK_TMP/rout" "$BK_TMP/rerr")
region add us --blobs "$US_URL"; ADD_US_RC=$RC; ADD_US_OUT=$(cat "$BK_TMP/rout" "$BK_TMP/rerr")
region add us --blobs "$US_URL"; ADD_AGAIN_RC=$RC
region list; LIST_RC=$RC; LIST_OUT=$(cat "$BK_TMP/rout")
rc_is "region list" 0

"$BK_BUCKETD" serve --listen 127.0.0.1:0 "${BK_STORE_ARGS[@]}" --region mars >"$BK_TMP/mars.log" 2>&1 &
MPID=$!
for _ in $(seq 1 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$MPID" 2>/dev/null; then kill "$MPID"; wait "$MPID"; bk_fail "serve --region mars refused"
else wait "$MPID"; RC=$?; rc_is "serve --region mars (not a configured region): refused" 1
  contains "the refusal names the region" "mars" "$(cat "$BK_TMP/mars.log")"; fi

bk_start
A=$(bk_user_token alice write) || { bk_fail "alice"; bk_summary; }
AR=$(bk_token alice read)
B=$(bk_user_token bob write)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME="$BK_TMP/hfhome"
mkdir -p "$HF_HOME"

json_post POST /api/buckets/alice/plain "$A" '{}'
bk_expect "create without a region" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/plain "$A"
ENABLED=$(bk_json '"regions" in j')

# ---- always: validation and refusals
json_post POST /api/buckets/alice/m1 "$A" '{"region":"mars"}'
bk_expect "create with an unknown region: 400" 400 "$BK_STATUS"
contains "the 400 names the region" "unknown region 'mars'" "$(cat "$BK_BODY")"
json_post POST /api/buckets/alice/m2 "$A" '{"region":"Mars!"}'
bk_expect "create with a malformed region: 400" 400 "$BK_STATUS"
json_post POST /api/buckets/alice/plain/prewarm "$A" '{"region":"mars"}'
bk_expect "prewarm to an unknown region: 400" 400 "$BK_STATUS"
contains "its message names the region" "mars" "$(cat "$BK_BODY")"
json_post POST /api/buckets/alice/plain/prewarm "$A" '{}'
bk_expect "prewarm without a region: 400" 400 "$BK_STATUS"
json_post POST /api/buckets/alice/plain/prewarm "$A" '{"region":"us","prefix":"../x"}'
bk_expect "prewarm with a bad prefix: 400" 400 "$BK_STATUS"
json_post POST /api/buckets/alice/plain/prewarm "$AR" '{"region":"us"}'
bk_expect "prewarm with a read token: 403" 403 "$BK_STATUS"
json_post POST /api/buckets/alice/plain/prewarm "$B" '{"region":"us"}'
bk_expect "prewarm by a stranger: 403" 403 "$BK_STATUS"
json_post POST /api/buckets/alice/plain/prewarm - '{"region":"us"}'
bk_expect "prewarm anonymous: 401" 401 "$BK_STATUS"
json_post PUT /api/buckets/alice/plain/settings "$A" '{"prewarm":["US"]}'
bk_expect "settings prewarm with a malformed name: 400" 400 "$BK_STATUS"
json_post PUT /api/buckets/alice/plain/settings "$A" '{"prewarm":["mars"]}'
bk_expect "settings prewarm with an unknown region: 400" 400 "$BK_STATUS"
json_post PUT /api/buckets/alice/plain/settings "$A" '{"prewarm":"us,us"}'
bk_expect "settings prewarm listing a region twice: 400" 400 "$BK_STATUS"
json_post PUT /api/buckets/alice/plain/settings "$A" '{"prewarm":5}'
bk_expect "settings prewarm not a list: 400" 400 "$BK_STATUS"
json_post PUT /api/buckets/alice/plain/settings "$A" '{"prewarm":["mars"],"private":true}'
bk_req GET /api/buckets/alice/plain "$A"
bk_expect "a refused settings request changes nothing (visibility kept)" false "$(bk_json 'j["private"]')"
json_post PUT /api/buckets/alice/plain/settings "$A" '{"prewarm":[]}'
bk_expect "settings prewarm [] (clear): 200" 200 "$BK_STATUS"
json_post PUT /api/buckets/alice/plain/settings "$AR" '{"prewarm":[]}'
bk_expect "settings prewarm with a read token: 403" 403 "$BK_STATUS"

# hf
run buckets create alice/m3 --region mars
rc_is "hf create --region mars: the server refuses (exit 1)" 1
contains "hf prints the server's message" "unknown region 'mars'" "$ERR"
run buckets create alice/m3 --region 'EU'
rc_is "hf create --region EU: usage error" 2
run buckets prewarm alice/plain
rc_is "hf prewarm without --region: usage error" 2
run buckets prewarm alice/plain --region mars
rc_is "hf prewarm --region mars: exit 1" 1
contains "hf prewarm prints the server's message" "mars" "$ERR"
run buckets settings alice/plain --prewarm ''
rc_is "hf settings --prewarm '' (clear)" 0
contains "settings output names the list" "prewarm" "$OUT"
run buckets settings alice/plain --prewarm mars
rc_is "hf settings --prewarm mars: exit 1" 1
run buckets settings alice/plain
rc_is "hf settings without a setting: usage error" 2
RUN_ENV=(HF_BUCKETS_REGION='EU west')
run buckets info alice/plain
rc_is "HF_BUCKETS_REGION not a region name: hf refuses" 1
contains "the message names the variable" "HF_BUCKETS_REGION" "$ERR"
RUN_ENV=()

# X-Buckets-Region on a reconstruction, and the fetch URLs
head -c 300000 /dev/urandom >"$BK_TMP/f.bin"
run buckets cp "$BK_TMP/f.bin" hf://buckets/alice/plain/ckpt/f.bin
rc_is "upload a file" 0
bk_req GET "/api/buckets/alice/plain/tree/ckpt" "$A"
FH=$(bk_json 'j[0]["xetHash"]')
bk_req GET /api/buckets/alice/plain/xet-read-token "$A"
CT=$(bk_json 'j["accessToken"]'); CAS=$(bk_json 'j["casUrl"]')
recon() { curl -s -o "$BK_TMP/recon.json" -w '%{http_code}' -H "Authorization: Bearer $CT" "$@" "$CAS/v1/reconstructions/$FH"; }
bk_expect "X-Buckets-Region malformed: 400" 400 "$(recon -H 'X-Buckets-Region: EU!')"
contains "the 400 says what is wrong" "X-Buckets-Region" "$(cat "$BK_TMP/recon.json")"
bk_expect "no header: 200" 200 "$(recon)"
URL0=$("$BK_PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(next(iter(j["fetch_info"].values()))[0]["url"])' "$BK_TMP/recon.json")

if [ "$ENABLED" != true ]; then
  BK_SKIPN=$((BK_SKIPN + 1))
  echo "SKIP: regions not enabled (the server reports no regions): registry, home regions, warm lists, pre-warm jobs, region= URLs, serve --region, region removal, web region forms"
  lacks "without regions the fetch URLs carry no region" "region=" "$URL0"
  bk_req GET /buckets/alice/plain "$A"
  lacks "without regions the bucket page has no Regions section" 'id="reg-h"' "$(cat "$BK_BODY")"
else
  bk_expect "region add eu (the store in use)" 0 "$ADD_EU_RC"
  contains "region add prints what it did" "region eu added" "$ADD_EU_OUT"
  bk_expect "region add us" 0 "$ADD_US_RC"
  contains "region add us names its store" "$US_URL" "$ADD_US_OUT"
  bk_expect "region add us twice: refused" 1 "$ADD_AGAIN_RC"
  bk_expect "region list: two regions" 2 "$(printf '%s\n' "$LIST_OUT" | grep -c .)"
  contains "region list: eu first, the default" "(default)" "$(printf '%s\n' "$LIST_OUT" | head -n 1)"
  contains "region list: eu first" "eu" "$(printf '%s\n' "$LIST_OUT" | head -n 1)"
  bk_req GET /api/buckets/alice/plain "$A"
  bk_expect "BucketInfo region: the default (eu) when none chosen" eu "$(bk_json 'j["region"]')"

  json_post POST /api/buckets/alice/u1 "$A" '{"region":"us"}'
  bk_expect "create with region us" 200 "$BK_STATUS"
  bk_req GET /api/buckets/alice/u1 "$A"
  bk_expect "info: region us" us "$(bk_json 'j["region"]')"
  bk_expect "info: regions[0] is the home" "us True warm 0" \
    "$(bk_json '" ".join(str(x) for x in (j["regions"][0]["name"], j["regions"][0]["home"], j["regions"][0]["state"], j["regions"][0]["lagMs"]))')"
  json_post POST /api/buckets/alice/m4 "$A" '{"region":"mars"}'
  contains "unknown region 400 lists the configured ones" "eu, us" "$(cat "$BK_BODY")"
  bk_req GET /api/buckets/alice "$A"
  bk_expect "list: region per bucket" "eu us" "$(bk_json '" ".join(b["region"] for b in j if b["id"] in ("alice/plain","alice/u1"))')"

  # before pre-warming: a client in us is pointed at the home copy (eu)
  bk_expect "X-Buckets-Region: nosuch -> 400" 400 "$(recon -H 'X-Buckets-Region: nosuch')"
  contains "it names the configured regions" "eu, us" "$(cat "$BK_TMP/recon.json")"
  bk_expect "X-Buckets-Region: us -> 200" 200 "$(recon -H 'X-Buckets-Region: us')"
  URL=$("$BK_PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(next(iter(j["fetch_info"].values()))[0]["url"])' "$BK_TMP/recon.json")
  contains "us has no copy yet: the URL reads the home copy" "region=eu" "$URL"
  R=$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-99' "$URL")
  bk_expect "the signed URL serves its range" 206 "$R"
  BAD=${URL/region=eu/region=us}
  R=$(curl -s -o "$BK_TMP/bad.json" -w '%{http_code}' -H 'Range: bytes=0-99' "$BAD")
  bk_expect "region= is signed: a URL switched to another region is refused" 403 "$R"

  # warm list and pre-warm job
  json_post PUT /api/buckets/alice/plain/settings "$A" '{"prewarm":["us"]}'
  bk_expect "settings prewarm [us]" 200 "$BK_STATUS"
  bk_expect "the answer shows us as warm-listed" true "$(bk_json 'any(r["name"]=="us" and r["warm"] for r in j["regions"])')"
  json_post POST /api/buckets/alice/plain/prewarm "$A" '{"region":"us","prefix":"ckpt/"}'
  bk_expect "prewarm: 202" 202 "$BK_STATUS"
  bk_expect "prewarm answer" "us ckpt/ True" "$(bk_json '" ".join(str(x) for x in (j["region"], j["prefix"], isinstance(j["job"], int)))')"
  state=""
  for _ in $(seq 1 200); do
    bk_req GET /api/buckets/alice/plain "$A"
    state=$(bk_json 'next((r["state"], r["bytesPresent"]==r["bytesNeeded"]>0) for r in j["regions"] if r["name"]=="us")')
    [ "$state" = "('warm', True)" ] && break
    sleep 0.1
  done
  bk_expect "us becomes warm (bytes present = needed)" "('warm', True)" "$state"
  bk_expect "us: warm-listed and pre-warmed" "True True" "$(bk_json '" ".join(str(r[k]) for r in j["regions"] if r["name"]=="us" for k in ("warm","prewarm"))')"
  bk_expect "X-Buckets-Region: us after pre-warming" 200 "$(recon -H 'X-Buckets-Region: us')"
  URL=$("$BK_PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(next(iter(j["fetch_info"].values()))[0]["url"])' "$BK_TMP/recon.json")
  contains "now the URL reads the us copy" "region=us" "$URL"

  # hf outputs
  run buckets info alice/plain
  rc_is "hf info" 0
  contains "hf info prints a Regions table" "Regions:" "$OUT"
  contains "hf info: the home row" "home" "$OUT"
  run buckets info alice/plain --format json
  bk_expect "hf info --format json: regions in snake_case" "True" \
    "$("$BK_PY" -c 'import json,sys; j=json.loads(sys.stdin.read()); print(all("bytes_present" in r and "lag_ms" in r for r in j["regions"]))' <<<"$OUT")"
  run buckets prewarm alice/plain --region us --prefix ckpt/
  rc_is "hf prewarm" 0
  contains "hf prewarm output" "Pre-warm queued" "$OUT"
  run buckets create alice/u2 --region us
  rc_is "hf create --region us" 0
  RUN_ENV=(HF_BUCKETS_REGION=us)
  run buckets cp hf://buckets/alice/plain/ckpt/f.bin "$BK_TMP/f.us"
  rc_is "hf download with HF_BUCKETS_REGION=us" 0
  bk_check "the download is byte-identical" cmp -s "$BK_TMP/f.bin" "$BK_TMP/f.us"
  RUN_ENV=(HF_BUCKETS_REGION=nosuch)
  run buckets cp hf://buckets/alice/plain/ckpt/f.bin "$BK_TMP/f.no"
  rc_is "hf with HF_BUCKETS_REGION=nosuch: the server refuses" 1
  contains "the message names the region" "nosuch" "$ERR"
  RUN_ENV=()

  # the web page: regions, admin forms (CSRF)
  J="$BK_TMP/jar"
  curl -s -c "$J" -b "$J" "$BK_URL/login" >"$BK_TMP/login.html"
  CS=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$BK_TMP/login.html" | head -n 1)
  curl -s -c "$J" -b "$J" -o /dev/null --data-urlencode "csrf=$CS" --data-urlencode "token=$A" "$BK_URL/login"
  curl -s -c "$J" -b "$J" "$BK_URL/buckets/alice/plain" >"$BK_TMP/page.html"
  PAGE=$(cat "$BK_TMP/page.html")
  contains "bucket page: Regions section" 'id="reg-h"' "$PAGE"
  contains "bucket page: the home region" "<dd>eu</dd>" "$PAGE"
  contains "bucket page: us is warm" 'badge warm' "$PAGE"
  contains "admin: warm-regions form with us checked" 'name="warm" value="us" checked' "$PAGE"
  contains "admin: pre-warm form" 'id="prewarm-form"' "$PAGE"
  CS=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$BK_TMP/page.html" | head -n 1)
  R=$(curl -s -c "$J" -b "$J" -o /dev/null -w '%{http_code}' --data-urlencode "warm=us" "$BK_URL/buckets/alice/plain/regions")
  bk_expect "warm-regions form without CSRF: 403" 403 "$R"
  R=$(curl -s -c "$J" -b "$J" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$CS" "$BK_URL/buckets/alice/plain/regions")
  bk_expect "warm-regions form: nothing checked clears (303)" 303 "$R"
  bk_req GET /api/buckets/alice/plain "$A"
  bk_expect "the warm list is empty" false "$(bk_json 'any(r["warm"] for r in j["regions"])')"
  R=$(curl -s -c "$J" -b "$J" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$CS" --data-urlencode "warm=us" "$BK_URL/buckets/alice/plain/regions")
  bk_expect "warm-regions form: us (303)" 303 "$R"
  bk_req GET /api/buckets/alice/plain "$A"
  bk_expect "us is warm-listed again" true "$(bk_json 'any(r["name"]=="us" and r["warm"] for r in j["regions"])')"
  R=$(curl -s -c "$J" -b "$J" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$CS" --data-urlencode "region=us" --data-urlencode "prefix=ckpt/" "$BK_URL/buckets/alice/plain/prewarm")
  bk_expect "pre-warm form: 303" 303 "$R"
  R=$(curl -s -c "$J" -b "$J" -o "$BK_TMP/pw.html" -w '%{http_code}' --data-urlencode "csrf=$CS" --data-urlencode "region=mars" "$BK_URL/buckets/alice/plain/prewarm")
  bk_expect "pre-warm form, unknown region: 400" 400 "$R"

  # region removal: refused while something lives there
  region remove us; rc_is "region remove us while a bucket lists it as warm: refused" 1
  contains "the refusal says why" "us" "$(cat "$BK_TMP/rerr")"
  region remove eu; rc_is "region remove eu (home of buckets): refused" 1

  # serve --region us: the node's default for clients without the header
  bk_stop
  bk_start --region us
  bk_req GET /api/buckets/alice/plain/xet-read-token "$A"
  CT=$(bk_json 'j["accessToken"]'); CAS=$(bk_json 'j["casUrl"]')
  bk_expect "serve --region us, no header: 200" 200 "$(recon)"
  URL=$("$BK_PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(next(iter(j["fetch_info"].values()))[0]["url"])' "$BK_TMP/recon.json")
  contains "the node's region picks the us copy" "region=us" "$URL"
  bk_expect "the header wins over the node's region" 200 "$(recon -H 'X-Buckets-Region: eu')"
  URL=$("$BK_PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(next(iter(j["fetch_info"].values()))[0]["url"])' "$BK_TMP/recon.json")
  contains "X-Buckets-Region: eu -> the eu copy" "region=eu" "$URL"
  bk_stop
  region remove us --force; rc_is "region remove us --force" 0
  region list
  bk_expect "only eu is left" 1 "$(grep -c . "$BK_TMP/rout")"
  bk_start
fi

# ---- Python against this server (its region tests run here when regions are enabled)
VENV=${BUCKETS_VENV:-$BUCKETS_ROOT/.venv}
case "$BUILD" in /*) LIBSO="$BUILD/lib/libbuckets.so" ;; *) LIBSO="$BUCKETS_ROOT/$BUILD/lib/libbuckets.so" ;; esac
if python/install-venv.sh "$VENV" >"$BK_TMP/venv.log" 2>&1; then
  if [ "$ENABLED" = true ]; then # test_regions.py expects eu (default) and us
    region list; grep -q '^us ' "$BK_TMP/rout" || { bk_stop; region add us --blobs "$US_URL"; bk_start; }
  fi
  bk_py_asan "$LIBSO"
  BOBT=$(bk_token bob write)
  HF_ENDPOINT="$BK_URL" HF_TOKEN="$A" BK_TOKEN_BOB="$BOBT" BUCKETS_LIB="$LIBSO" PYTHONDONTWRITEBYTECODE=1 \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs python/tests/test_regions.py >"$BK_TMP/pytest.out" 2>&1
  prc=$?
  cat "$BK_TMP/pytest.out"
  line=$(grep -E '[0-9]+ (passed|failed)' "$BK_TMP/pytest.out" | tail -n 1)
  num() { printf '%s\n' "$line" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
  p=$(num passed); f=$(( $(num failed) + $(num error) ))
  [ "$prc" -ne 0 ] && [ "$f" -eq 0 ] && { f=1; echo "FAIL pytest exited $prc without failures"; }
  BK_PASS=$((BK_PASS + p)); BK_FAILN=$((BK_FAILN + f))
else
  bk_fail "python venv" "$(tail -3 "$BK_TMP/venv.log")"
fi
bk_summary
