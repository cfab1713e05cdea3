#!/usr/bin/env bash
# bucketd lifecycle: --help, first start creates the data dir (db, blobs,
# 0600 secret), restart keeps the secret, a damaged secret stops the start,
# SIGINT/SIGTERM shut down cleanly, scripts/run.sh (make run) starts it,
# X-Request-Id on replies, and concurrent clients (mixed reads and writes).
. "$(dirname "$0")/lib.sh"
bk_require_data_dir "make run, the data dir lock and its files"
B="$BK_BUCKETD"
out=$("$B" --help); rc=$?
bk_expect "--help exit 0" 0 "$rc"
bk_check "--help mentions serve options" grep -q -- "--public-url" <<<"$out"
"$B" serve --bogus >/dev/null 2>&1; bk_expect "unknown option exit 2" 2 "$?"
"$B" serve --listen nonsense >/dev/null 2>&1; bk_expect "bad --listen fails" 1 "$?"

BK_DATA=$BK_TMP/fresh/data
bk_start
bk_check "db created" test -s "$BK_DATA/buckets.db"
bk_check "blobs dir created" test -d "$BK_DATA/blobs"
bk_expect "secret 32 bytes" 32 "$(stat -c %s "$BK_DATA/secret.key")"
bk_expect "secret mode 0600" 600 "$(stat -c %a "$BK_DATA/secret.key")"
bk_expect "data dir mode 0700" 700 "$(stat -c %a "$BK_DATA")"
SUM1=$(md5sum <"$BK_DATA/secret.key")
A=$(bk_user_token alice write)
bk_req GET /healthz; bk_expect "healthz" 200 "$BK_STATUS"
bk_check "X-Request-Id" test -n "$(bk_hdr X-Request-Id)"
RID=$(bk_hdr X-Request-Id)
bk_check "request id in the log" grep -q "id=$RID" "$BK_LOG"
bk_req GET /api/buckets/alice/nope "$A"; bk_check "X-Request-Id on errors" test -n "$(bk_hdr X-Request-Id)"
bk_stop
bk_check "stop logged" grep -q "SIGTERM received" "$BK_LOG"
bk_start
bk_expect "secret kept across restarts" "$SUM1" "$(md5sum <"$BK_DATA/secret.key")"
bk_req GET /api/whoami-v2 "$A"; bk_expect "token valid after restart" 200 "$BK_STATUS"
kill -INT "$BK_PID"; for i in $(seq 1 100); do kill -0 "$BK_PID" 2>/dev/null || break; sleep 0.05; done
wait "$BK_PID"; bk_expect "SIGINT exit 0" 0 "$?"; BK_PID=""
bk_check "SIGINT logged" grep -q "SIGINT received" "$BK_LOG"
head -c 7 /dev/zero >"$BK_DATA/secret.key"
"$B" serve --listen 127.0.0.1:0 --data "$BK_DATA" >/dev/null 2>"$BK_TMP/bad.log" &
P=$!; for i in $(seq 1 100); do kill -0 $P 2>/dev/null || break; sleep 0.05; done
kill $P 2>/dev/null; wait $P; rc=$?
bk_expect "damaged secret refuses to start" 1 "$rc"
bk_check "damaged secret explained" grep -q "secret.key" "$BK_TMP/bad.log"
bk_expect "damaged secret left alone" 7 "$(stat -c %s "$BK_DATA/secret.key")"

# scripts/run.sh (make run) with an ephemeral port and a temp data dir
RUNLOG=$BK_TMP/run.log
BUCKETD_LISTEN=127.0.0.1:0 BUCKETD_DATA=$BK_TMP/rundata "$BUCKETS_ROOT/scripts/run.sh" "$BUILD" --quiet >"$RUNLOG" 2>&1 &
RP=$!
for i in $(seq 1 100); do grep -q "listening on" "$RUNLOG" && break; sleep 0.05; done
bk_check "run.sh prints how to add a user" grep -q "bucketd user add" "$RUNLOG"
bk_check "run.sh prints the CLI usage" grep -q "HF_ENDPOINT" "$RUNLOG"
bk_check "run.sh starts bucketd" grep -q "listening on" "$RUNLOG"
kill -TERM $RP; wait $RP; bk_expect "run.sh bucketd stops cleanly" 0 "$?"

# concurrency: 6 clients x mixed operations against one bucket
unset BK_DATA; BK_DATA=$BK_TMP/conc
bk_start
A=$(bk_user_token alice write)
bk_req POST /api/buckets/alice/c "$A" -d '{}'
"$BK_HELPERS/srv_xet" seed --data "$BK_DATA" --bucket alice/c --files 600 --size 5000 --prefix f/ >"$BK_TMP/c.nd" 2>/dev/null
worker() { # id
  local i fails=0 s
  for i in $(seq 0 19); do
    s=$(sed -n "$(( $1 * 100 + i * 5 + 1 )),$(( $1 * 100 + i * 5 + 5 ))p" "$BK_TMP/c.nd" | curl -s -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer $A" -H 'Content-Type: application/x-ndjson' --data-binary @- "$BK_URL/api/buckets/alice/c/batch")
    [ "$s" = 200 ] || fails=$((fails+1))
    s=$(curl -s -o /dev/null -w '%{http_code}' "$BK_URL/api/buckets/alice/c/tree?recursive=true")
    [ "$s" = 200 ] || fails=$((fails+1))
    s=$(curl -s -o /dev/null -w '%{http_code}' "$BK_URL/buckets/alice/c/resolve/f/$(printf %06d $(( $1 * 100 )))")
    [ "$s" = 200 ] || [ "$s" = 404 ] || fails=$((fails+1))
  done
  echo "$fails" >"$BK_TMP/w$1"
}
WP=()
for w in 0 1 2 3 4 5; do worker $w & WP+=($!); done
wait "${WP[@]}"
tot=0; for w in 0 1 2 3 4 5; do tot=$((tot + $(cat "$BK_TMP/w$w" 2>/dev/null || echo 99))); done
bk_expect "concurrent clients: no failed request" 0 "$tot"
bk_req GET /api/buckets/alice/c; bk_expect "all 600 files registered" 600 "$(bk_json 'j["totalFiles"]')"
bk_summary
