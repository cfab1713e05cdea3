#!/usr/bin/env bash
# Xet CAS API end to end against a real bucketd (owned by server-cas):
# upload a real file (chunk -> xorbs -> shard -> addFile), reconstruct and
# download through the signed range URLs (v1, v2, byte ranges), idempotent
# re-uploads, global dedup hit/miss/hmac, the JS-style footer shard, v2 shard
# NDJSON, auth (missing/bad/tampered/expired/read-only tokens) and the signed
# URL checks. Hostile inputs are in cas_hostile.sh.
. "$(dirname "$0")/lib.sh"
TOOL="$BK_HELPERS/cas_tool"
[ -x "$TOOL" ] || { bk_fail "cas_tool built"; bk_summary; }
bk_start

TOK=$(bk_user_token alice write)
RTOK=$(bk_token alice read)
bk_req POST /api/buckets/alice/b1 "$TOK" -H 'Content-Type: application/json' --data-binary '{"private":true}'
bk_expect "create bucket" 200 "$BK_STATUS"

xet_token() { # SCOPE -> prints accessToken (and checks casUrl)
  bk_req GET "/api/buckets/alice/b1/xet-$1-token" "$TOK"
  [ "$BK_STATUS" = 200 ] || { echo "xet-$1-token: $BK_STATUS $(cat "$BK_BODY")" >&2; return 1; }
  bk_json 'j["accessToken"]'
}
WT=$(xet_token write)
RT=$(xet_token read)
bk_check "write token minted" test -n "$WT"
bk_check "read token minted" test -n "$RT"
bk_req GET /api/buckets/alice/b1/xet-read-token "$TOK"
bk_expect "casUrl is the server itself" "$BK_URL" "$(bk_json 'j["casUrl"]')"
bk_check "token exp in the future" test "$(bk_json 'j["exp"]')" -gt "$(date +%s)"
bk_check "token under 1 KB" test "${#WT}" -lt 1024
claims() { "$BK_PY" -c 'import base64,json,sys
p=sys.argv[1].split(".")[1]; d=json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))
print(d["scope"], type(d["bkt"]).__name__, 3500 <= d["exp"]-d["iat"] <= 3700)' "$1"; }
bk_expect "write token claims (JWT-shaped, scope, bucket, ~1 h)" "write int True" "$(claims "$WT")"
bk_expect "read token claims" "read int True" "$(claims "$RT")"

# ---- data: 3 random MiB, a repeat of the first MiB (in-file dedup), 200 KB of zeros
D=$BK_TMP/d; mkdir -p "$D"
head -c 3145728 /dev/urandom >"$D/a"
head -c 1048576 "$D/a" >"$D/rep"
head -c 204800 /dev/zero >"$D/z"
cat "$D/a" "$D/rep" "$D/z" "$D/rep" >"$D/file1"
SIZE1=$(stat -c %s "$D/file1")
H1=$("$TOOL" build "$D/file1" "$D/b1" --xorb-max 1500000)
bk_check "build file1" test -n "$H1"
bk_check "file1 spans several xorbs" test "$(wc -l <"$D/b1/xorbs.txt")" -ge 3

"$TOOL" upload "$BK_URL" "$WT" "$D/b1" >"$D/up1.out" 2>&1
bk_check "upload file1 (xorbs + shard)" test $? -eq 0
bk_check "first xorb upload was_inserted true" grep -q '^xorb .* 200 {"was_inserted":true}' "$D/up1.out"
bk_check "first shard upload result 1" grep -q '^shard 200 {"result":1}' "$D/up1.out"
"$TOOL" upload "$BK_URL" "$WT" "$D/b1" >"$D/up1b.out" 2>&1
bk_check "re-upload succeeds" test $? -eq 0
bk_check "re-upload: was_inserted false" grep -q '^xorb .* 200 {"was_inserted":false}' "$D/up1b.out"
bk_check "re-upload: no xorb inserted again" sh -c "! grep -q 'was_inserted\":true' '$D/up1b.out'"
bk_check "re-upload: shard result 0" grep -q '^shard 200 {"result":0}' "$D/up1b.out"

printf '{"type":"addFile","path":"data/file1.bin","xetHash":"%s"}\n' "$H1" >"$D/batch1"
bk_req POST /api/buckets/alice/b1/batch "$TOK" -H 'Content-Type: application/x-ndjson' --data-binary @"$D/batch1"
bk_expect "addFile file1" 200 "$BK_STATUS"

# ---- downloads
for v in v1 v2; do
  rm -f "$D/out"
  "$TOOL" download "$BK_URL" "$RT" "$H1" "$D/out" --$v
  bk_check "download $v with read token" cmp -s "$D/out" "$D/file1"
done
"$TOOL" download "$BK_URL" "$WT" "$H1" "$D/out" --v2
bk_check "download with write token" cmp -s "$D/out" "$D/file1"

range_case() { # S E VER
  local s=$1 e=$2 want=$(( $2 < SIZE1 - 1 ? $2 : SIZE1 - 1 ))
  rm -f "$D/r.out"
  "$TOOL" download "$BK_URL" "$RT" "$H1" "$D/r.out" --$3 --range "$s-$e"
  tail -c +$((s + 1)) "$D/file1" | head -c $((want - s + 1)) >"$D/r.want"
  bk_check "range $s-$e ($3)" cmp -s "$D/r.out" "$D/r.want"
}
range_case 0 0 v1
range_case 0 99 v2
range_case 100000 100000 v1
range_case 70000 2000000 v2
range_case 3145000 3300000 v1
range_case 1000000 4500000 v2
range_case $((SIZE1 - 10)) $((SIZE1 + 5000)) v1
range_case 5 $((SIZE1 * 2)) v2

bk_req GET "/v1/reconstructions/$H1" "$RT" -H "Range: bytes=$SIZE1-$((SIZE1 + 10))"
bk_expect "range start == size -> 416" 416 "$BK_STATUS"
bk_req GET "/v2/reconstructions/$H1" "$RT" -H "Range: bytes=$((SIZE1 + 7))-"
bk_expect "range start > size -> 416 (v2)" 416 "$BK_STATUS"
bk_req GET "/v1/reconstructions/$H1" "$RT"
bk_expect "reconstruction v1 200" 200 "$BK_STATUS"
bk_expect "v1 offset_into_first_range 0" 0 "$(bk_json 'j["offset_into_first_range"]')"
bk_expect "terms cover the file" "$SIZE1" "$(bk_json 'sum(t["unpacked_length"] for t in j["terms"])')"
bk_check "in-file dedup gives repeated xorb ranges" test "$(bk_json 'len(j["terms"])')" -gt "$(wc -l <"$D/b1/xorbs.txt")"
bk_expect "fetch_info entries never overlap per xorb" ok "$(bk_json '"ok" if all(a["range"]["end"] <= b["range"]["start"] for v in j["fetch_info"].values() for a, b in zip(sorted(v, key=lambda e: e["range"]["start"]), sorted(v, key=lambda e: e["range"]["start"])[1:])) else "overlap"')"
cp "$BK_BODY" "$D/recon1.json"
bk_req GET "/v1/reconstructions/$(printf '%064d' 7)" "$RT"
bk_expect "unknown file -> 404" 404 "$BK_STATUS"
bk_req GET "/v1/reconstructions/xyz" "$RT"
bk_expect "malformed file hash -> 400" 400 "$BK_STATUS"
bk_req GET "/v1/reconstructions/$(printf '%064d' 0)" "$RT"
bk_expect "empty file reconstructs to no terms" "200 0" "$BK_STATUS $(bk_json 'len(j["terms"])')"

# ---- signed xorb-range URLs
URL=$("$BK_PY" -c 'import json,sys;j=json.load(open(sys.argv[1]));print(list(j["fetch_info"].values())[0][0]["url"])' "$D/recon1.json")
RS=$("$BK_PY" -c 'import json,sys;j=json.load(open(sys.argv[1]));print(list(j["fetch_info"].values())[0][0]["url_range"]["start"])' "$D/recon1.json")
RE=$("$BK_PY" -c 'import json,sys;j=json.load(open(sys.argv[1]));print(list(j["fetch_info"].values())[0][0]["url_range"]["end"])' "$D/recon1.json")
P=${URL#"$BK_URL"}
bk_check "URL points at bucketd itself" test "$P" != "$URL"
bk_req GET "$P" - -H "Range: bytes=$RS-$RE"
bk_expect "signed range fetch -> 206" 206 "$BK_STATUS"
bk_expect "signed range length" $((RE - RS + 1)) "$(stat -c %s "$BK_BODY")"
bk_check "Content-Range header" sh -c "echo '$(bk_hdr Content-Range)' | grep -q '^bytes $RS-$RE/'"
bk_req GET "$P" - -H "Range: bytes=$((RS + 1))-$((RE - 1))"
bk_expect "sub-range inside the signed one -> 206" 206 "$BK_STATUS"
bk_req GET "$P" -
bk_expect "no Range header -> 403" 403 "$BK_STATUS"
bk_req GET "$P" - -H "Range: bytes=$RS-$((RE + 1))"
bk_expect "range past the signed end -> 403" 403 "$BK_STATUS"
if [ "$RS" -gt 0 ]; then
  bk_req GET "$P" - -H "Range: bytes=$((RS - 1))-$RE"
  bk_expect "range before the signed start -> 403" 403 "$BK_STATUS"
fi
bk_req GET "$P" - -H "Range: bytes=$RS-$RE,0-1"
bk_expect "multi-range -> 403" 403 "$BK_STATUS"
SIG=${P##*sig=}
FLIP=$(echo "$SIG" | sed 's/^\(.\)/\1/' | tr '0-9a-f' '1-9a-f0')
bk_req GET "${P%sig=*}sig=$FLIP" - -H "Range: bytes=$RS-$RE"
bk_expect "tampered signature -> 403" 403 "$BK_STATUS"
P2=$(echo "$P" | sed "s/r=$RS-$RE/r=0-$((RE + 100))/")
bk_req GET "$P2" - -H "Range: bytes=0-$((RE + 100))"
bk_expect "tampered signed range -> 403" 403 "$BK_STATUS"
P3=$(echo "$P" | sed "s/exp=\([0-9]*\)/exp=9\1/")
bk_req GET "$P3" - -H "Range: bytes=$RS-$RE"
bk_expect "tampered expiry -> 403" 403 "$BK_STATUS"
OLD=$(( $(date +%s) - 5 ))
P4=$(echo "$P" | sed "s/exp=\([0-9]*\)/exp=$OLD/")
bk_req GET "$P4" - -H "Range: bytes=$RS-$RE"
bk_expect "expired (re-dated) URL -> 403" 403 "$BK_STATUS"

# ---- global dedup
FIRST=$(head -n 1 "$D/b1/chunks.txt" | cut -d' ' -f1)
OUT=$("$TOOL" dedup "$BK_URL" "$RT" "$FIRST")
bk_check "dedup: first chunk of a file is a hit (hmac'd, no raw hashes)" sh -c "echo '$OUT' | grep -q '^hit '"
XH=$(echo "$OUT" | cut -d' ' -f2)
bk_check "dedup: hit names a xorb of the file" grep -q "^$XH " "$D/b1/xorbs.txt"
bk_expect "dedup: first chunk is chunk 0" 0 "$(echo "$OUT" | cut -d' ' -f3)"
OUT=$("$TOOL" dedup "$BK_URL" "$RT" "$FIRST" /v1/chunk/default/)
bk_check "dedup alias /v1/chunk/default/" sh -c "echo '$OUT' | grep -q '^hit '"
OUT=$("$TOOL" dedup "$BK_URL" "$RT" "$FIRST" /v1/chunks/default/)
bk_check "dedup alias /v1/chunks/default/ (huggingface.js)" sh -c "echo '$OUT' | grep -q '^hit '"
OUT=$("$TOOL" dedup "$BK_URL" "$RT" "$(printf '%064d' 12345)")
bk_expect "dedup: unknown chunk -> miss (404)" miss "$OUT"
SECOND=$(sed -n 2p "$D/b1/chunks.txt")
if [ "$(echo "$SECOND" | cut -d' ' -f3)" = 0 ]; then
  OUT=$("$TOOL" dedup "$BK_URL" "$RT" "$(echo "$SECOND" | cut -d' ' -f1)")
  bk_expect "dedup: ineligible chunk is not indexed" miss "$OUT"
fi
bk_req GET "/v1/chunks/default-merkledb/$FIRST" -
bk_expect "dedup without token -> 401" 401 "$BK_STATUS"
bk_req GET "/v1/chunks/default-merkledb/$FIRST" "$RT"
cp "$BK_BODY" "$D/dd1"
bk_req GET "/v1/chunks/default-merkledb/$FIRST" "$RT"
bk_check "dedup key differs per response" sh -c "! cmp -s '$D/dd1' '$BK_BODY'"

# ---- second file, JS-style shard with footer, v2 shard upload
head -c 2000000 /dev/urandom >"$D/file2"
cat "$D/rep" >>"$D/file2"
H2=$("$TOOL" build "$D/file2" "$D/b2" --footer)
"$TOOL" upload "$BK_URL" "$WT" "$D/b2" --v2 >"$D/up2.out" 2>&1
bk_check "v2 shard upload (footer shard) ends with a result frame" test $? -eq 0
bk_check "v2 frames include validating" grep -q '"type":"validating"' "$D/up2.out"
"$TOOL" download "$BK_URL" "$RT" "$H2" "$D/out2" --v2
bk_check "download file2 (footer shard)" cmp -s "$D/out2" "$D/file2"
head -c 300000 /dev/urandom >"$D/file3"
H3=$("$TOOL" build "$D/file3" "$D/b3" --raw --no-verify)
"$TOOL" upload "$BK_URL" "$WT" "$D/b3" >/dev/null 2>&1
bk_check "shard without verification entries accepted (uncompressed xorb)" test $? -eq 0
"$TOOL" download "$BK_URL" "$RT" "$H3" "$D/out3" --v1
bk_check "download file3" cmp -s "$D/out3" "$D/file3"

# ---- compressible file (LZ4 / BG4 records): whole and ranged downloads
"$BK_PY" -c 'import struct,sys
out=bytearray()
for i in range(120000): out += struct.pack("<f", i * 0.001) + ("row %d,%d;" % (i, i % 97)).encode()
sys.stdout.buffer.write(out)' >"$D/text"
HT=$("$TOOL" build "$D/text" "$D/bt")
"$TOOL" upload "$BK_URL" "$WT" "$D/bt" >/dev/null 2>&1
bk_check "compressible file uploads" test $? -eq 0
bk_check "its xorb is smaller than the data (records compressed)" \
  test "$(stat -c %s "$(head -n 1 "$D/bt/xorbs.txt" | cut -d' ' -f2)")" -lt "$(stat -c %s "$D/text")"
"$TOOL" download "$BK_URL" "$RT" "$HT" "$D/outt" --v1
bk_check "compressible file downloads intact" cmp -s "$D/outt" "$D/text"
TS=$(stat -c %s "$D/text")
for r in "12345-12345" "70000-200000" "$((TS - 3))-$((TS + 3))"; do
  s0=${r%-*}; e0=${r#*-}; [ "$e0" -ge "$TS" ] && e0=$((TS - 1))
  "$TOOL" download "$BK_URL" "$RT" "$HT" "$D/outr" --v2 --range "$r"
  tail -c +$((s0 + 1)) "$D/text" | head -c $((e0 - s0 + 1)) >"$D/wantr"
  bk_check "compressible file range $r" cmp -s "$D/outr" "$D/wantr"
done

# ---- concurrent uploads of the same new xorb: all succeed, exactly one inserts
head -c 500000 /dev/urandom >"$D/file4"
"$TOOL" build "$D/file4" "$D/b4" >/dev/null
read -r X4 XF4 <"$D/b4/xorbs.txt"
PIDS=()
for i in 1 2 3 4 5 6; do
  curl -s --max-time 60 -o "$D/cc.$i" -w '%{http_code}' -H "Authorization: Bearer $WT" \
    --data-binary @"$XF4" "$BK_URL/v1/xorbs/default/$X4" >"$D/cs.$i" &
  PIDS+=($!)
done
wait "${PIDS[@]}"
bk_expect "6 concurrent uploads of one xorb all -> 200" 200200200200200200 "$(cat "$D"/cs.?)"
bk_expect "exactly one of them inserted it" 1 "$(cat "$D"/cc.? | grep -c '"was_inserted":true')"
bk_expect "one blob stored for it" 1 "$(bk_blob_list xorbs | grep -c "/$X4\$")"
bk_expect "no temp files (staged objects) left behind" "" "$(bk_blob_list tmp)"

# ---- batch reconstruction (xet-core form)
bk_req GET "/v1/reconstructions?file_id=$H1&file_id=$H2" "$RT"
bk_expect "batch reconstruction -> 200" 200 "$BK_STATUS"
bk_expect "batch: both files listed" 2 "$(bk_json 'len(j["files"])')"
bk_expect "batch: terms cover file1" "$SIZE1" "$(bk_json 'sum(t["unpacked_length"] for t in j["files"]["'"$H1"'"])')"
bk_expect "batch: every term has a covering fetch entry" ok "$(bk_json '"ok" if all(any(e["range"]["start"] <= t["range"]["start"] and t["range"]["end"] <= e["range"]["end"] for e in j["fetch_info"][t["hash"]]) for ts in j["files"].values() for t in ts) else "missing"')"
bk_req GET "/v1/reconstructions?file_id=$H1&file_id=$(printf '%064d' 9)" "$RT"
bk_expect "batch with an unknown file -> 404" 404 "$BK_STATUS"
bk_req GET "/v1/reconstructions" "$RT"
bk_expect "batch without file_id -> 400" 400 "$BK_STATUS"

# ---- xorbs that carry the stored-format footer are accepted (and the footer validated)
head -c 400000 /dev/urandom >"$D/file5"
H5=$("$TOOL" build "$D/file5" "$D/b5" --xorb-footer)
"$TOOL" upload "$BK_URL" "$WT" "$D/b5" >"$D/up5.out" 2>&1
bk_check "xorb with footer accepted" grep -q '^xorb .* 200 {"was_inserted":true}' "$D/up5.out"
"$TOOL" download "$BK_URL" "$RT" "$H5" "$D/out5" --v2
bk_check "file from footer-bearing xorbs downloads intact" cmp -s "$D/out5" "$D/file5"

# ---- auth
X1=$(head -n 1 "$D/b1/xorbs.txt" | cut -d' ' -f1)
XF=$(head -n 1 "$D/b1/xorbs.txt" | cut -d' ' -f2)
bk_req POST "/v1/xorbs/default/$X1" - --data-binary @"$XF"
bk_expect "xorb upload without token -> 401" 401 "$BK_STATUS"
bk_req POST "/v1/xorbs/default/$X1" "not-a-token" --data-binary @"$XF"
bk_expect "garbage token -> 401" 401 "$BK_STATUS"
bk_req POST "/v1/xorbs/default/$X1" "$TOK" --data-binary @"$XF"
bk_expect "Hub token is not a CAS token -> 401" 401 "$BK_STATUS"
B64=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_
LAST=${WT: -1}; IDX=${B64%%"$LAST"*}; IDX=${#IDX}
for d in 1 2 3; do # same high bits: only the unused low bits of the last char differ
  ALT=${B64:$(( (IDX & ~3) + ((IDX + d) & 3) )):1}
  bk_req POST "/v1/xorbs/default/$X1" "${WT%?}$ALT" --data-binary @"$XF"
  bk_expect "non-canonical signature spelling ($LAST -> $ALT) -> 401" 401 "$BK_STATUS"
done
SIGP=${WT##*.}
for pos in 0 10 42; do
  ch=${SIGP:$pos:1}; [ "$ch" = A ] && nc=B || nc=A
  bk_req POST "/v1/xorbs/default/$X1" "${WT%.*}.${SIGP:0:$pos}$nc${SIGP:$((pos + 1))}" --data-binary @"$XF"
  bk_expect "tampered token signature (char $pos) -> 401" 401 "$BK_STATUS"
done
PAY=$(echo "$RT" | cut -d. -f2)
WPAY=$("$BK_PY" -c 'import base64,sys,json
p=sys.argv[1]; d=json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4))); d["scope"]="write"
print(base64.urlsafe_b64encode(json.dumps(d,separators=(",",":")).encode()).decode().rstrip("="))' "$PAY")
FORGED="$(echo "$RT" | cut -d. -f1).$WPAY.$(echo "$RT" | cut -d. -f3)"
bk_req POST "/v1/xorbs/default/$X1" "$FORGED" --data-binary @"$XF"
bk_expect "read token re-scoped to write (forged payload) -> 401" 401 "$BK_STATUS"
bk_req POST "/v1/xorbs/default/$X1" "$RT" --data-binary @"$XF"
bk_expect "read token on xorb upload -> 403" 403 "$BK_STATUS"
bk_req POST "/v1/shards" "$RT" --data-binary @"$D/b1/shard.bin"
bk_expect "read token on shard upload -> 403" 403 "$BK_STATUS"
bk_req POST "/v2/shards" "$RT" --data-binary @"$D/b1/shard.bin"
bk_expect "read token on v2 shard upload -> 403" 403 "$BK_STATUS"
bk_req GET "/v1/reconstructions/$H1" -
bk_expect "reconstruction without token -> 401" 401 "$BK_STATUS"
EXP=$("$TOOL" mint "$BK_DATA" 1 read 1)
sleep 2.2
bk_req GET "/v1/reconstructions/$H1" "$EXP"
bk_expect "expired CAS token -> 401" 401 "$BK_STATUS"
bk_req POST /v1/telemetry "$RT" -H 'Content-Type: application/json' --data-binary '{"x":1}'
bk_expect "telemetry accepted" 200 "$BK_STATUS"

# token of a deleted bucket stops working
bk_req POST /api/buckets/alice/tmpb "$TOK" -H 'Content-Type: application/json' --data-binary '{}'
bk_req GET /api/buckets/alice/tmpb/xet-read-token "$TOK"
TT=$(bk_json 'j["accessToken"]')
bk_req GET "/v1/chunks/default-merkledb/$FIRST" "$TT"
bk_expect "token of another live bucket is valid" 200 "$BK_STATUS"
bk_req DELETE /api/buckets/alice/tmpb "$TOK"
bk_req GET "/v1/chunks/default-merkledb/$FIRST" "$TT"
bk_expect "token of a deleted bucket -> 401" 401 "$BK_STATUS"

# a CAS token is bound to its bucket: another user's token (for a bucket of
# their own) cannot reconstruct a file of alice's private bucket, even when
# the file hash is known
MTOK=$(bk_user_token mallory write)
bk_req POST /api/buckets/mallory/mine "$MTOK" -H 'Content-Type: application/json' --data-binary '{}'
bk_req GET /api/buckets/mallory/mine/xet-read-token "$MTOK"
MT=$(bk_json 'j["accessToken"]')
bk_req GET "/v1/reconstructions/$H1" "$MT"
bk_expect "other bucket's token: v1 reconstruction of a private file -> 404" 404 "$BK_STATUS"
bk_req GET "/v2/reconstructions/$H1" "$MT"
bk_expect "other bucket's token: v2 reconstruction of a private file -> 404" 404 "$BK_STATUS"
bk_req GET "/v1/reconstructions?file_id=$H1" "$MT"
bk_expect "other bucket's token: batch reconstruction of a private file -> 404" 404 "$BK_STATUS"
bk_req GET "/v1/reconstructions/$H1" "$RT"
bk_expect "own bucket's read token still reconstructs" 200 "$BK_STATUS"

bk_summary
