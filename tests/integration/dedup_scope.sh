#!/usr/bin/env bash
# `bucketd serve --dedup-scope global|namespace|bucket` with the real `hf` CLI
# and bucketd: user B asking the dedup endpoint about the first chunk of user
# A's private file (a chunk B does not have) gets the answer under global and
# the same 404 as an unknown chunk under namespace / bucket; a second bucket
# of A's namespace is answered under global and namespace; A's own bucket
# always. Under bucket scope an `hf` upload of a second copy into the same
# bucket stores (and posts) no new xorb, while a copy into another bucket of
# the namespace has to send its xorbs. Invalid option values are refused.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
XS="$BK_BIN/xetsum"
[ -x "$HF" ] && [ -x "$XS" ] || { bk_fail "hf and xetsum built"; bk_summary; }

# ---- invalid values: exit 2 with a message, never serve
for v in "" nope GLOBAL "bucket,namespace"; do
  timeout 10 "$BK_BUCKETD" serve --listen 127.0.0.1:0 --data "$BK_TMP/inv" --dedup-scope "$v" \
    >"$BK_TMP/inv.out" 2>&1
  RC=$?
  bk_expect "--dedup-scope '$v' refused (exit 2)" 2 "$RC"
  bk_check "--dedup-scope '$v' names the option" grep -q -- "--dedup-scope" "$BK_TMP/inv.out"
done
timeout 10 "$BK_BUCKETD" serve --listen 127.0.0.1:0 --data "$BK_TMP/inv" --dedup-scope >"$BK_TMP/inv.out" 2>&1
bk_expect "--dedup-scope without a value refused" 2 "$?"
"$BK_BUCKETD" --help | grep -q -- "--dedup-scope" && bk_ok "--help lists --dedup-scope" || bk_fail "--help lists --dedup-scope"

"$BK_PY" -c 'import random,sys; sys.stdout.buffer.write(random.Random(11).randbytes(3 << 20))' >"$BK_TMP/f.bin"
FIRST=$("$XS" --chunks "$BK_TMP/f.bin" | head -n 1 | awk '{print $3}')
UNKNOWN=$(printf '%064d' 4242)

xorb_posts() { grep -cE 'POST /v1/xorbs/default/[0-9a-f]+ 200 ' "$BK_LOG"; }
blob_bytes() { # bytes of the stored xorbs + shards (files, or S3 objects: lib.sh bk_blob_list)
  { bk_blob_list xorbs sizes; bk_blob_list shards sizes; } | awk '{ n += $2 } END { print n + 0 }'
}
read_token() { # HF_TOKEN NS/NAME -> CAS read token of that bucket
  bk_req GET "/api/buckets/$2/xet-read-token" "$1"
  bk_json 'j["accessToken"]'
}
dedup() { # CAS_TOKEN CHUNK -> sets BK_STATUS, the body is in $BK_BODY
  bk_req GET "/v1/chunks/default-merkledb/$2" "$1"
}

for scope in global namespace bucket; do
  echo "--- scope $scope"
  BK_DATA=$BK_TMP/data-$scope
  bk_start --dedup-scope "$scope"
  A=$(bk_user_token alice write)
  B=$(bk_user_token bob write)
  export HF_ENDPOINT=$BK_URL
  HF_TOKEN=$A "$HF" buckets create alice/priv --private >/dev/null || bk_fail "$scope: create alice/priv"
  HF_TOKEN=$A "$HF" buckets create alice/second --private >/dev/null || bk_fail "$scope: create alice/second"
  HF_TOKEN=$B "$HF" buckets create bob/mine --private >/dev/null || bk_fail "$scope: create bob/mine"
  HF_TOKEN=$A HF_HOME=$BK_TMP/h-$scope-1 "$HF" cp "$BK_TMP/f.bin" hf://buckets/alice/priv/f.bin \
    >/dev/null 2>&1 || bk_fail "$scope: alice uploads f.bin"

  TB=$(read_token "$B" bob/mine)
  TA2=$(read_token "$A" alice/second)
  TA=$(read_token "$A" alice/priv)
  [ "$scope" = global ] && want_b=200 || want_b=404
  [ "$scope" = bucket ] && want_a2=404 || want_a2=200
  dedup "$TB" "$FIRST"
  bk_expect "$scope: bob asks about alice's private chunk" "$want_b" "$BK_STATUS"
  if [ "$want_b" = 404 ]; then
    cp "$BK_BODY" "$BK_TMP/hidden.json"
    dedup "$TB" "$UNKNOWN"
    bk_check "$scope: the 404 is the same as for an unknown chunk" cmp -s "$BK_TMP/hidden.json" "$BK_BODY"
  fi
  dedup "$TA2" "$FIRST"
  bk_expect "$scope: alice's other bucket asks" "$want_a2" "$BK_STATUS"
  dedup "$TA" "$FIRST"
  bk_expect "$scope: alice's own bucket asks" 200 "$BK_STATUS"
  dedup "$TA" "$UNKNOWN"
  bk_expect "$scope: unknown chunk" 404 "$BK_STATUS"

  # second copy, same bucket, fresh client cache: only the dedup query helps
  P0=$(xorb_posts)
  D0=$(blob_bytes)
  HF_TOKEN=$A HF_HOME=$BK_TMP/h-$scope-2 "$HF" cp "$BK_TMP/f.bin" hf://buckets/alice/priv/copy.bin \
    >/dev/null 2>&1 || bk_fail "$scope: second copy into alice/priv"
  bk_expect "$scope: second copy into the same bucket posts no xorb" "$P0" "$(xorb_posts)"
  D1=$(blob_bytes)
  [ $((D1 - D0)) -lt $((64 * 1024)) ] && bk_ok "$scope: second copy stores ~nothing ($((D1 - D0)) bytes of 3 MiB)" \
    || bk_fail "$scope: second copy stores ~nothing" "$((D1 - D0)) bytes"
  # copy into the namespace's other bucket: deduplicated unless scope=bucket
  P0=$(xorb_posts)
  HF_TOKEN=$A HF_HOME=$BK_TMP/h-$scope-3 "$HF" cp "$BK_TMP/f.bin" hf://buckets/alice/second/f.bin \
    >/dev/null 2>&1 || bk_fail "$scope: copy into alice/second"
  P1=$(xorb_posts)
  if [ "$scope" = bucket ]; then
    [ "$P1" -gt "$P0" ] && bk_ok "$scope: copy into another bucket sends its xorbs" \
      || bk_fail "$scope: copy into another bucket sends its xorbs" "$P0 -> $P1"
  else
    bk_expect "$scope: copy into another bucket of the namespace posts no xorb" "$P0" "$P1"
  fi
  # after its own upload, that bucket is answered under every scope
  dedup "$TA2" "$FIRST"
  bk_expect "$scope: alice/second asks after uploading the file" 200 "$BK_STATUS"
  # every copy reads back
  for p in priv/f.bin priv/copy.bin second/f.bin; do
    HF_TOKEN=$A "$HF" cp "hf://buckets/alice/$p" "$BK_TMP/back" >/dev/null 2>&1
    cmp -s "$BK_TMP/f.bin" "$BK_TMP/back" && bk_ok "$scope: alice/$p reads back" \
      || bk_fail "$scope: alice/$p reads back"
  done
  bk_stop
  unset BK_DATA
done
bk_summary
