#!/usr/bin/env bash
# bucketd admin subcommands against a RUNNING server (owned by the store helper):
# users, tokens (only the token on stdout; revocation seen by the server at
# once), orgs and members, then gc and fsck on a store with real uploads that
# is damaged in every way fsck must notice (orphan, deleted blob, corrupted
# blob, size change), while the server keeps serving.
. "$(dirname "$0")/lib.sh"
XET="$BK_HELPERS/srv_xet"
[ -x "$XET" ] || { bk_fail "srv_xet built"; bk_summary; }
bk_start
J=(-H 'Content-Type: application/json'); ND=(-H 'Content-Type: application/x-ndjson')

# ---- users and tokens ----
bk_admin user add alice >"$BK_TMP/o" 2>&1; bk_expect "user add" 0 $?
bk_admin user add alice >"$BK_TMP/o" 2>&1; bk_expect "user add twice fails" 1 $?
bk_admin user add 'bad..name' >/dev/null 2>&1; bk_expect "invalid name refused" 1 $?
bk_admin user add bob >/dev/null 2>&1
bk_admin token add alice --role write >"$BK_TMP/tok" 2>"$BK_TMP/tok.err"; bk_expect "token add" 0 $?
A=$(cat "$BK_TMP/tok")
bk_expect "stdout is only the token" 1 "$(wc -l <"$BK_TMP/tok")"
bk_check "token looks like a Hub token" grep -qE '^hf_[A-Za-z0-9]{34,}$' "$BK_TMP/tok"
bk_admin token add alice >/dev/null 2>&1; bk_expect "token add without role" 2 $?
bk_admin token add nobody --role read >/dev/null 2>&1; bk_expect "token for unknown user" 1 $?
R=$(bk_admin token add alice --role read 2>/dev/null)
B=$(bk_admin token add bob --role write 2>/dev/null)
bk_req GET /api/whoami-v2 "$A"; bk_expect "server accepts the new token" 200 "$BK_STATUS"
bk_expect "whoami name" alice "$(bk_json 'j["name"]')"
bk_admin token list alice >"$BK_TMP/list" 2>&1; bk_expect "token list" 0 $?
bk_check "token list shows roles" grep -q write "$BK_TMP/list"
if grep -q "$A" "$BK_TMP/list" || grep -q 'hf_' "$BK_TMP/list"; then bk_fail "token list never shows a token"
else bk_ok "token list never shows a token"; fi
RID=$(awk '$2=="read" {print $1}' "$BK_TMP/list" | head -n 1)
bk_admin token revoke "$RID" >/dev/null 2>&1; bk_expect "token revoke" 0 $?
bk_req GET /api/whoami-v2 "$R"; bk_expect "revoked token refused by the running server" 401 "$BK_STATUS"
bk_admin token list alice | grep -q revoked; bk_expect "list shows revoked" 0 $?
DUMP=$BK_TMP/db.dump; : >"$DUMP"   # PostgreSQL: the whole database as pg_dump sees it
bk_local_store || { bk_store_urls && pg_dump --no-owner "$BK_DB_URL" >"$DUMP"; } || bk_fail "pg_dump of the store"
if grep -rqa "$A" "$BK_DATA" "$BK_LOG" "$DUMP" 2>/dev/null; then bk_fail "token plaintext not stored or logged"
else bk_ok "token plaintext not stored or logged"; fi

# ---- orgs ----
bk_admin org add acme --owner alice >/dev/null 2>&1; bk_expect "org add" 0 $?
bk_admin org add bob --owner alice >/dev/null 2>&1; bk_expect "org name taken by a user" 1 $?
bk_req POST /api/buckets/acme/secret "$A" "${J[@]}" -d '{"private":true}'; bk_expect "owner creates org bucket" 200 "$BK_STATUS"
bk_req GET /api/buckets/acme/secret "$B"; bk_expect "non-member gets 404" 404 "$BK_STATUS"
bk_admin org member acme bob --role read >/dev/null 2>&1; bk_expect "org member add" 0 $?
bk_req GET /api/buckets/acme/secret "$B"; bk_expect "read member sees the bucket" 200 "$BK_STATUS"
bk_admin org member acme bob --role boss >/dev/null 2>&1; bk_expect "bad role" 2 $?

# ---- real content ----
bk_req POST /api/buckets/alice/data "$A" "${J[@]}" -d '{}'; bk_expect "create bucket" 200 "$BK_STATUS"
"$XET" upload --url "$BK_URL" --token "$A" --bucket alice/data --files 2 --size 300000 --seed 7 \
  --prefix keep/f --out "$BK_TMP/keep" >"$BK_TMP/keep.nd" 2>"$BK_TMP/xet.err"; bk_expect "upload keep" 0 $?
"$XET" upload --url "$BK_URL" --token "$A" --bucket alice/data --files 1 --size 300000 --seed 99 \
  --prefix drop/f --out "$BK_TMP/drop" >"$BK_TMP/drop.nd" 2>>"$BK_TMP/xet.err"; bk_expect "upload drop" 0 $?
cat "$BK_TMP/keep.nd" "$BK_TMP/drop.nd" >"$BK_TMP/all.nd"
bk_req POST /api/buckets/alice/data/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/all.nd"
bk_expect "batch" 200 "$BK_STATUS"
# blobs through the store's interface (the data dir's files, or the S3 API on postgresql+s3: lib.sh)
NX=$(bk_blob_list xorbs | wc -l)
bk_check "xorb blobs stored" test "$NX" -ge 2

bk_admin fsck >"$BK_TMP/fsck" 2>&1; bk_expect "fsck clean store" 0 $?
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1; bk_expect "fsck --read-data clean store" 0 $?
bk_check "fsck reports counts" grep -q '0 damaged' "$BK_TMP/fsck"

# orphan: a copy of a xorb under another (valid) name
ONE=$(bk_blob_list xorbs | head -n 1); ONE=${ONE#xorbs/}
OHEX=$(printf 'ab%062d' 7); bk_local_store && mkdir -p "$(bk_blob_dir)/xorbs/ab/00"
bk_blob_get xorbs "$ONE" "$BK_TMP/one.xorb" && bk_blob_put xorbs "$OHEX" "$BK_TMP/one.xorb"
has_orphan() { bk_blob_list xorbs | grep -q "^xorbs/$OHEX\$"; }
bk_admin fsck >"$BK_TMP/fsck" 2>&1; bk_expect "orphan is not damage" 0 $?
bk_check "fsck names the orphan" grep -q "orphan xorb blob $OHEX" "$BK_TMP/fsck"
bk_admin gc --grace 1h >"$BK_TMP/gc" 2>&1; bk_expect "gc" 0 $?
bk_check "fresh orphan kept (grace)" has_orphan
if bk_local_store; then  # an S3 object's Last-Modified cannot be set back: a grace of 2 s, 3 s later
  touch -d '2 hours ago' "$(bk_blob_dir)/xorbs/ab/00/$OHEX"; OGRACE=1h
else sleep 3; OGRACE="2s --delete-grace 0s"; fi  # S3: gc deletes what it records once due (below)
# shellcheck disable=SC2086
bk_admin gc --grace $OGRACE >"$BK_TMP/gc" 2>&1; bk_expect "gc" 0 $?
if has_orphan; then bk_fail "old orphan removed"; else bk_ok "old orphan removed"; fi
bk_check "gc says so" grep -q '1 orphan blobs' "$BK_TMP/gc"

# deleting a file from the bucket frees its content after gc
bk_req POST /api/buckets/alice/data/batch "$A" "${ND[@]}" --data-binary '{"type":"deleteFile","path":"drop/f000000"}'
bk_expect "delete file" 200 "$BK_STATUS"
bk_admin gc --grace 1h >"$BK_TMP/gc" 2>&1
bk_check "within grace nothing is collected" grep -q 'removed 0 file reconstructions, 0 xorbs' "$BK_TMP/gc"
DG=(); bk_local_store || DG=(--delete-grace 3s)  # S3 (no trash): removed blobs wait for the delete grace
bk_admin gc --grace 0s "${DG[@]}" >"$BK_TMP/gc" 2>&1; bk_expect "gc --grace 0s" 0 $?
bk_check "unreferenced file and shard collected" grep -qE 'removed 1 file reconstructions, [1-9][0-9]* xorbs .* 1 shards' "$BK_TMP/gc"
if ! bk_local_store; then
  bk_check "S3: removed blobs recorded as pending deletes" grep -qE 'pending deletes: [1-9][0-9]* blobs recorded' "$BK_TMP/gc"
  bk_expect "S3: every xorb blob still in the bucket within the delete grace" "$NX" "$(bk_blob_list xorbs | wc -l)"
  bk_admin fsck >"$BK_TMP/fsck" 2>&1; bk_expect "fsck: pending deletes are not damage" 0 $?
  bk_check "fsck lists the pending deletes" grep -q 'pending delete: xorb blob' "$BK_TMP/fsck"
  sleep 3.5
  bk_admin gc --grace 1h >"$BK_TMP/gc" 2>&1; bk_expect "gc after the delete grace" 0 $?
  bk_check "gc says it deleted them" grep -qE 'pending deletes: .*[1-9][0-9]* deleted' "$BK_TMP/gc"
fi
bk_check "fewer xorb blobs" test "$(bk_blob_list xorbs | wc -l)" -lt "$NX"
bk_req GET /buckets/alice/data/resolve/keep/f000001
bk_expect "kept file still served" 200 "$BK_STATUS"
bk_check "kept file bytes" cmp "$BK_BODY" "$BK_TMP/keep/1"
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1; bk_expect "fsck after gc" 0 $?

# damage: same-size corruption (only --read-data sees it), size change, deletion
X=$(bk_blob_list xorbs | head -n 1); X=${X#xorbs/}
bk_blob_get xorbs "$X" "$BK_TMP/xorb.save"; cp "$BK_TMP/xorb.save" "$BK_TMP/xorb.bad"
SZ=$(stat -c %s "$BK_TMP/xorb.save")
printf '\xff\xfe\xfd\xfc' | dd of="$BK_TMP/xorb.bad" bs=1 seek=$((SZ / 2)) conv=notrunc status=none
bk_blob_put xorbs "$X" "$BK_TMP/xorb.bad"
bk_admin fsck >"$BK_TMP/fsck" 2>&1; bk_expect "fsck without data misses same-size corruption" 0 $?
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1; bk_expect "fsck --read-data finds corruption" 1 $?
bk_check "reported as DAMAGE" grep -q '^DAMAGE: xorb' "$BK_TMP/fsck"
printf 'x' >>"$BK_TMP/xorb.bad"; bk_blob_put xorbs "$X" "$BK_TMP/xorb.bad"
bk_admin fsck >"$BK_TMP/fsck" 2>&1; bk_expect "fsck finds size change" 1 $?
bk_blob_del xorbs "$X"
bk_admin fsck >"$BK_TMP/fsck" 2>&1; bk_expect "fsck finds missing blob" 1 $?
bk_check "names the missing blob" grep -q 'blob missing' "$BK_TMP/fsck"
bk_blob_put xorbs "$X" "$BK_TMP/xorb.save"
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1; bk_expect "fsck clean after repair" 0 $?
# shard damage
S=$(bk_blob_list shards | head -n 1); S=${S#shards/}
bk_blob_get shards "$S" "$BK_TMP/shard.bad"
printf 'JUNK' | dd of="$BK_TMP/shard.bad" bs=1 seek=0 conv=notrunc status=none
bk_blob_put shards "$S" "$BK_TMP/shard.bad"
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1; bk_expect "fsck finds a corrupt shard" 1 $?
bk_req GET /api/whoami-v2 "$A"; bk_expect "server still up" 200 "$BK_STATUS"
# remove the corrupted shard blob: from now on fsck reports it as missing (and nothing else)
bk_blob_del shards "$S"

# ---- gc running in a loop while clients upload, register and delete ----
bk_req POST /api/buckets/alice/busy "$A" "${J[@]}" -d '{}'
(
  for i in 1 2 3 4 5 6; do
    "$XET" upload --url "$BK_URL" --token "$A" --bucket alice/busy --files 2 --size 200000 \
      --seed $((1000 + i)) --prefix "r$i/f" --out "$BK_TMP/busy$i" >"$BK_TMP/busy$i.nd" 2>/dev/null \
      || echo "upload $i failed" >>"$BK_TMP/busy.err"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $A" \
      -H 'Content-Type: application/x-ndjson' --data-binary @"$BK_TMP/busy$i.nd" \
      "$BK_URL/api/buckets/alice/busy/batch")
    [ "$code" = 200 ] || echo "batch $i: $code" >>"$BK_TMP/busy.err"
    if [ "$i" -gt 1 ]; then  # delete the previous round: gc may collect it later
      printf '{"type":"deleteFile","path":"r%d/f000000"}\n{"type":"deleteFile","path":"r%d/f000001"}\n' \
        $((i - 1)) $((i - 1)) >"$BK_TMP/del$i.nd"
      curl -s -o /dev/null -H "Authorization: Bearer $A" -H 'Content-Type: application/x-ndjson' \
        --data-binary @"$BK_TMP/del$i.nd" "$BK_URL/api/buckets/alice/busy/batch"
    fi
  done
  touch "$BK_TMP/busy.done"
) &
LOOP=$!
GCRUNS=0; GCFAIL=0
while [ ! -e "$BK_TMP/busy.done" ] && [ "$GCRUNS" -lt 400 ]; do
  bk_admin gc --grace 3s >/dev/null 2>&1 || GCFAIL=$((GCFAIL + 1))
  GCRUNS=$((GCRUNS + 1))
done
wait "$LOOP"
bk_expect "gc runs concurrent with uploads all succeed" 0 "$GCFAIL"
bk_check "gc ran several times during the uploads" test "$GCRUNS" -ge 3
if [ -s "$BK_TMP/busy.err" ]; then bk_fail "every upload and batch succeeded under gc" "$(cat "$BK_TMP/busy.err")"
else bk_ok "every upload and batch succeeded under gc"; fi
bk_req GET /buckets/alice/busy/resolve/r6/f000001
bk_check "last round downloads intact" cmp "$BK_BODY" "$BK_TMP/busy6/1"
sleep 3
bk_admin gc --grace 2s >"$BK_TMP/gc" 2>&1; bk_expect "final gc" 0 $?
bk_req GET /buckets/alice/busy/resolve/r6/f000000
bk_check "kept files still intact after the final gc" cmp "$BK_BODY" "$BK_TMP/busy6/0"
bk_req GET /buckets/alice/data/resolve/keep/f000001
bk_check "older bucket still intact" cmp "$BK_BODY" "$BK_TMP/keep/1"
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1
grep '^DAMAGE' "$BK_TMP/fsck" | grep -v 'shard .*blob missing' >"$BK_TMP/fsck.other"
bk_check "no damage besides the shard removed on purpose" test ! -s "$BK_TMP/fsck.other"
# what is left: keep/f0, keep/f1 and the last round's two files (rounds 1-5 were deleted and collected)
bk_check "deleted rounds were collected" grep -q ' 4 files checked' "$BK_TMP/fsck"
bk_summary
