#!/usr/bin/env bash
# Upload through the Xet CAS API exactly like a client (xet-write-token,
# POST xorbs, POST shard), register with batch, read back through resolve
# (full, ranges, fileinfo variant), CAS token scoping between buckets, and the
# deduplicated footprint in bucket info.
. "$(dirname "$0")/lib.sh"
XET="$BK_HELPERS/srv_xet"
[ -x "$XET" ] || { bk_fail "srv_xet built"; bk_summary; }
bk_start
A=$(bk_user_token alice write); B=$(bk_user_token bob write)
J=(-H 'Content-Type: application/json'); ND=(-H 'Content-Type: application/x-ndjson')
bk_req POST /api/buckets/alice/up "$A" "${J[@]}" -d '{}'; bk_expect "create" 200 "$BK_STATUS"
bk_req POST /api/buckets/bob/other "$B" "${J[@]}" -d '{"private":true}'

# 3 files of 5 MiB (several chunks, 1 xorb) + 200 small files, text (compressible)
if "$XET" upload --url "$BK_URL" --token "$A" --bucket alice/up --files 3 --size 5242880 --text \
    --prefix big/f --out "$BK_TMP/big" >"$BK_TMP/big.nd" 2>"$BK_TMP/xet.err"; then bk_ok "upload via CAS"
else bk_fail "upload via CAS" "$(cat "$BK_TMP/xet.err")"; fi
"$XET" upload --url "$BK_URL" --token "$A" --bucket alice/up --files 200 --size 3000 --seed 5 \
  --prefix small/s >"$BK_TMP/small.nd" 2>>"$BK_TMP/xet.err" && bk_ok "upload small via CAS" || bk_fail "upload small via CAS"
cat "$BK_TMP/big.nd" "$BK_TMP/small.nd" >"$BK_TMP/all.nd"
bk_req POST /api/buckets/alice/up/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/all.nd"
bk_expect "batch 203" 200 "$BK_STATUS"; bk_expect "batch processed" 203 "$(bk_json 'j["processed"]')"

# the same hashes cannot be registered into bob's bucket by hash alone
bk_req POST /api/buckets/bob/other/batch "$B" "${ND[@]}" --data-binary @"$BK_TMP/big.nd"
bk_expect "foreign hashes refused" 422 "$BK_STATUS"

bk_req GET /buckets/alice/up/resolve/big/f000001
bk_expect "resolve 5 MiB 200" 200 "$BK_STATUS"
bk_check "resolve 5 MiB bytes" cmp "$BK_BODY" "$BK_TMP/big/1"
bk_req GET /buckets/alice/up/resolve/big/f000002 - -H 'Range: bytes=3000000-4999999'
bk_expect "range across chunks 206" 206 "$BK_STATUS"
bk_check "range across chunks bytes" cmp "$BK_BODY" <(tail -c +3000001 "$BK_TMP/big/2" | head -c 2000000)
bk_req GET /buckets/alice/up/resolve/big/f000000 - -H 'Range: bytes=5242879-'
bk_check "last byte" cmp "$BK_BODY" <(tail -c 1 "$BK_TMP/big/0")
# every small file (first and last)
for i in 000000 000199; do
  bk_req GET /buckets/alice/up/resolve/small/s$i
  bk_expect "small $i size" 3000 "$(stat -c %s "$BK_BODY")"
done
# fileinfo variant -> reconstruction with a read token works through CAS
bk_req GET /buckets/alice/up/resolve/big/f000001 - -H 'Accept: application/vnd.xet-fileinfo+json, */*' -H 'Range: bytes=0-0'
bk_expect "fileinfo" application/vnd.xet-fileinfo+json "$(bk_hdr Content-Type)"
RECON=$(bk_hdr Link | sed -n 's/.*<\([^>]*\)>; rel="xet-reconstruction-info".*/\1/p')
bk_req GET /api/buckets/alice/up/xet-read-token
RT=$(bk_json 'j["accessToken"]')
bk_req GET "${RECON#$BK_URL}" "$RT"
bk_expect "reconstruction via read token" 200 "$BK_STATUS"
bk_check "reconstruction has terms" test "$(bk_json 'len(j["terms"])')" -gt 0
bk_req POST "/v1/xorbs/default/$(printf '%064d' 0)" "$RT" --data-binary 'x'
bk_expect "read CAS token cannot upload" 403 "$BK_STATUS"

# dedup accounting: upload the same 3 big files into a second bucket
bk_req POST /api/buckets/alice/dup "$A" "${J[@]}" -d '{}'
"$XET" upload --url "$BK_URL" --token "$A" --bucket alice/dup --files 3 --size 5242880 --text --prefix big/f >"$BK_TMP/dup.nd" 2>>"$BK_TMP/xet.err"
bk_req POST /api/buckets/alice/dup/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/dup.nd"; bk_expect "dup batch" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/up; UP_STORED=$(bk_json 'j["storedSize"]'); UP_SIZE=$(bk_json 'j["size"]')
bk_expect "logical size" $((3*5242880 + 200*3000)) "$UP_SIZE"
bk_check "text compresses: storedSize < size" test "$UP_STORED" -lt "$UP_SIZE"
bk_req GET /api/usage/alice "$A"
NS_STORED=$(bk_json 'j["storedSize"]'); NS_SIZE=$(bk_json 'j["size"]')
bk_expect "namespace logical counts both buckets" $((2*3*5242880 + 200*3000)) "$NS_SIZE"
bk_expect "namespace stored counts shared chunks once" "$UP_STORED" "$NS_STORED"

# delete a file, resolve gives EntryNotFound
bk_req POST /api/buckets/alice/up/batch "$A" "${ND[@]}" --data-binary '{"type":"deleteFile","path":"big/f000001"}'
bk_req GET /buckets/alice/up/resolve/big/f000001; bk_expect "deleted -> EntryNotFound" EntryNotFound "$(bk_hdr X-Error-Code)"
# thousands of files registered through the CAS, batched like Python (1,000 per request), paginated
bk_req POST /api/buckets/alice/many "$A" "${J[@]}" -d '{}'
"$XET" upload --url "$BK_URL" --token "$A" --bucket alice/many --files 2345 --size 100 --seed 9 --prefix m/ >"$BK_TMP/many.nd" 2>>"$BK_TMP/xet.err" \
  && bk_ok "upload 2,345 files via CAS" || bk_fail "upload 2,345 files via CAS"
split -l 1000 "$BK_TMP/many.nd" "$BK_TMP/many.part."
okb=0; for f in "$BK_TMP"/many.part.*; do
  bk_req POST /api/buckets/alice/many/batch "$A" "${ND[@]}" --data-binary @"$f"; [ "$BK_STATUS" = 200 ] && okb=$((okb+1))
done
bk_expect "3 batches of <= 1,000" 3 "$okb"
n=0; pages=0; url="/api/buckets/alice/many/tree/m?recursive=true&limit=500"
while [ -n "$url" ] && [ $pages -lt 20 ]; do
  bk_req GET "$url"; n=$((n + $(bk_json 'len(j)'))); pages=$((pages+1))
  url=$(bk_hdr Link | sed -n 's/^<\(.*\)>; rel="next"$/\1/p'); url=${url#$BK_URL}
done
bk_expect "paginated listing of 2,345 files" "2345 5" "$n $pages"

# a damaged xorb in the store (its file, or its S3 object: lib.sh) is never served as data: the stream stops short
XH=$(bk_blob_list xorbs sizes | sort -k2 -n | tail -1 | cut -d' ' -f1); XH=${XH#xorbs/}
XF=$BK_TMP/xorb.flip; bk_blob_get xorbs "$XH" "$XF" || bk_fail "read the largest xorb"
"$BK_PY" - "$XF" <<'PY'
import sys
p = sys.argv[1]; f = open(p, "r+b"); f.seek(0, 2); n = f.tell()
for off in range(n // 4, n, n // 4):   # flip one byte in each quarter
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xFF]))
f.close()
PY
bk_blob_put xorbs "$XH" "$XF" || bk_fail "write the damaged xorb"
curl -s -o "$BK_TMP/dmg" "$BK_URL/buckets/alice/up/resolve/big/f000000"; rc=$?
bk_expect "damaged xorb: transfer aborted" yes "$([ $rc -ne 0 ] && echo yes || echo "no (curl $rc)")"
bk_check "damaged xorb: fewer bytes than the file" test "$(stat -c %s "$BK_TMP/dmg")" -lt 5242880
bk_check "damaged xorb: logged" grep -qE "bucketd: resolve: (verify|decode)" "$BK_LOG"
bk_req GET /api/whoami-v2 "$A"; bk_expect "server fine after damaged read" 200 "$BK_STATUS"
bk_summary
