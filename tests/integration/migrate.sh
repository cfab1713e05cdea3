#!/usr/bin/env bash
# bucketd migrate: a data dir populated with the real `hf` (several buckets, deduplicated
# checkpoints, an org, tokens) is copied into another store given by URLs; the target is served
# with --db/--blobs and every file downloads byte-identical, the old tokens still work (the
# secret carried over); a kill -9 during the blob copy and during the metadata transaction is
# resumed; a second run says "nothing to do"; a damaged source blob is refused; the source's
# serve lock is held. Target: MIGRATE_TO_DB / MIGRATE_TO_BLOBS when set (the pg+s3 round),
# else fresh sqlite:///… and file:///… paths in the temp dir.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
unset BK_TEST_DB_URL BK_TEST_BLOBS_URL # the source is a --data dir by definition
SRC=$BK_TMP/src
export BK_DATA=$SRC
bk_start
A=$(bk_user_token alice write)
B=$(bk_user_token bob write)
bk_admin org add acme --owner alice >/dev/null || bk_fail "org add"
bk_admin org member acme bob --role write >/dev/null || bk_fail "org member"
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/home
W=$BK_TMP/w; mkdir -p "$W/ck"
"$BK_PY" - "$W" <<'EOF'
import random, sys
w = sys.argv[1]; r = random.Random(3)
t = [r.randbytes(1 << 20) for _ in range(6)]
for k in range(3):
    open(f"{w}/ck/c{k}.bin", "wb").write(b"".join(t))
    t[2 + k] = r.randbytes(1 << 20)          # each checkpoint shares 5 of 6 MiB with the last
open(f"{w}/small.txt", "wb").write(b"hello migrate\n")
open(f"{w}/empty.bin", "wb").write(b"")
EOF
"$HF" buckets create alice/models >/dev/null || bk_fail "create alice/models"
"$HF" buckets create alice/priv --private >/dev/null || bk_fail "create alice/priv"
"$HF" buckets create acme/shared >/dev/null || bk_fail "create acme/shared"
"$HF" buckets sync "$W/ck" hf://buckets/alice/models/ck >/dev/null 2>&1 || bk_fail "sync checkpoints"
"$HF" cp "$W/small.txt" hf://buckets/alice/priv/a/small.txt >/dev/null 2>&1 || bk_fail "cp small"
"$HF" cp "$W/empty.bin" hf://buckets/alice/priv/empty.bin >/dev/null 2>&1 || bk_fail "cp empty"
HF_TOKEN=$B "$HF" cp "$W/ck/c1.bin" hf://buckets/acme/shared/c1.bin >/dev/null 2>&1 || bk_fail "cp as bob"
# a web session signed in on the source (its row is migrated with the rest)
J=$BK_TMP/jar
curl -s -c "$J" -b "$J" "$BK_URL/login" -o "$BK_TMP/login.html"
CSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$BK_TMP/login.html" | head -n 1)
curl -s -o /dev/null -c "$J" -b "$J" --data-urlencode "csrf=$CSRF" --data-urlencode "token=$A" "$BK_URL/login"
grep -q bk_session "$J" && bk_ok "web session signed in on the source" || bk_fail "web session signed in on the source"
bk_stop
NX=$(find "$SRC/blobs/xorbs" -type f -name '[0-9a-f]*' | wc -l)
[ "$NX" -ge 2 ] && bk_ok "source holds $NX xorbs" || bk_fail "source holds xorbs" "$NX"

T=$BK_TMP/target; mkdir -p "$T"
TO_DB=${MIGRATE_TO_DB:-sqlite://$T/meta.db}
TO_BLOBS=${MIGRATE_TO_BLOBS:-file://$T/blobs}
MIG=("$BK_BUCKETD" migrate --data "$SRC" --to-db "$TO_DB" --to-blobs "$TO_BLOBS")

# usage errors
"$BK_BUCKETD" migrate --data "$SRC" --to-db "$TO_DB" >/dev/null 2>&1; bk_expect "migrate without --to-blobs is a usage error" 2 $?
"$BK_BUCKETD" migrate --data "$BK_TMP/nope" --to-db "$TO_DB" --to-blobs "$TO_BLOBS" >/dev/null 2>"$BK_TMP/e"
bk_expect "a missing data dir is refused" 1 $?
bk_check "it says it is not a data dir" grep -q "not a data dir" "$BK_TMP/e"

# the source is locked while a server runs on it
bk_start
"${MIG[@]}" >/dev/null 2>"$BK_TMP/e"; bk_expect "migrate refuses a served data dir" 1 $?
bk_check "it names the serving pid" grep -q "already served by bucketd pid" "$BK_TMP/e"
bk_stop

# kill -9 after 2 copied blobs: no metadata in the target, some blobs
BUCKETD_MIGRATE_KILL_AFTER_BLOBS=3 "${MIG[@]}" >"$BK_TMP/m1" 2>&1; rc=$?
bk_expect "hook: killed by SIGKILL after 3 blobs" 137 "$rc"
[ -f "$SRC/bucketd.pid" ] && ! flock -n "$SRC/bucketd.pid" true && bk_fail "lock released by the kill" || bk_ok "lock released by the kill"
# kill -9 inside the metadata transaction (after table xorbs): nothing committed
BUCKETD_MIGRATE_KILL_AFTER_TABLE=xorbs "${MIG[@]}" >"$BK_TMP/m2" 2>&1; rc=$?
bk_expect "hook: killed inside the metadata transaction" 137 "$rc"
case "$TO_BLOBS" in file://*)
  bk_expect "the second run copied every xorb before its metadata transaction" "$NX" \
    "$(find "${TO_BLOBS#file://}/xorbs" -type f -name '[0-9a-f]*' | wc -l)" ;;
esac
# the target's metadata must still be empty: a server on it knows no user
"$BK_BUCKETD" token list alice --db "$TO_DB" >/dev/null 2>&1; bk_expect "no rows committed by the killed runs" 1 $?

# the real run resumes
"${MIG[@]}" >"$BK_TMP/m3" 2>"$BK_TMP/m3.err"; bk_expect "migrate completes" 0 $?
cat "$BK_TMP/m3"
P=$(sed -n 's/^migrate: xorbs: [0-9]* copied .* \([0-9]*\) already in the target.*/\1/p' "$BK_TMP/m3")
[ "${P:-0}" -ge 2 ] && bk_ok "resume skipped the $P xorbs already copied" || bk_fail "resume skipped copied xorbs" "$P"
bk_check "rows per table printed" grep -q "^migrate: table bucket_files: 6 rows" "$BK_TMP/m3"
bk_check "done line printed" grep -q "^migrate: done: .* rows in one transaction" "$BK_TMP/m3"
"${MIG[@]}" >"$BK_TMP/m4" 2>&1; bk_expect "a second run succeeds" 0 $?
bk_check "a second run says nothing to do" grep -q "nothing to do" "$BK_TMP/m4"
[ -e "$SRC/bucketd.pid" ] && bk_fail "the source lock file is removed after migrate" || bk_ok "the source lock file is removed after migrate"

# serve the target by URL, with no data dir: every file byte-identical, old tokens valid
export BK_DATA=$BK_TMP/unused BK_FIXED_DB_URL=$TO_DB BK_FIXED_BLOBS_URL=$TO_BLOBS
bk_start
export HF_ENDPOINT=$BK_URL
grep -q "listening on .*(db " "$BK_LOG" && bk_ok "startup line names the URLs" || bk_fail "startup line names the URLs"
D=$BK_TMP/down; mkdir -p "$D"
HF_HOME=$BK_TMP/home2 "$HF" buckets sync hf://buckets/alice/models/ck "$D/ck" >/dev/null 2>&1 || bk_fail "download checkpoints"
for k in 0 1 2; do bk_check "checkpoint c$k identical" cmp "$W/ck/c$k.bin" "$D/ck/c$k.bin"; done
HF_HOME=$BK_TMP/home2 "$HF" cp hf://buckets/alice/priv/a/small.txt "$D/small.txt" >/dev/null 2>&1
bk_check "private file identical (alice's old token)" cmp "$W/small.txt" "$D/small.txt"
HF_HOME=$BK_TMP/home2 "$HF" cp hf://buckets/alice/priv/empty.bin "$D/empty.bin" >/dev/null 2>&1
bk_check "empty file identical" cmp "$W/empty.bin" "$D/empty.bin"
HF_TOKEN=$B HF_HOME=$BK_TMP/home3 "$HF" cp hf://buckets/acme/shared/c1.bin "$D/s1.bin" >/dev/null 2>&1
bk_check "org file identical (bob's old token, org membership)" cmp "$W/ck/c1.bin" "$D/s1.bin"
bk_expect "the source's web session is valid on the target (private file by cookie)" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' -b "$J" "$BK_URL/buckets/alice/priv/resolve/a/small.txt")"
if [ -n "${MIGRATE_SECOND_NODE:-}" ]; then # a second node on the migrated store serves the same bytes
  bk_node_start two && {
    D2=$BK_TMP/down2; mkdir -p "$D2"
    HF_ENDPOINT=$BK_NODE_URL HF_HOME=$BK_TMP/home5 "$HF" buckets sync hf://buckets/alice/models/ck "$D2/ck" >/dev/null 2>&1 || bk_fail "download checkpoints (node 2)"
    for k in 0 1 2; do bk_check "checkpoint c$k identical through node 2" cmp "$W/ck/c$k.bin" "$D2/ck/c$k.bin"; done
    HF_ENDPOINT=$BK_NODE_URL HF_TOKEN=$B HF_HOME=$BK_TMP/home6 "$HF" cp hf://buckets/acme/shared/c1.bin "$D2/s1.bin" >/dev/null 2>&1
    bk_check "org file identical through node 2 (bob's old token)" cmp "$W/ck/c1.bin" "$D2/s1.bin"
    bk_expect "the web session is valid on node 2" 200 \
      "$(curl -s -o /dev/null -w '%{http_code}' -b "$J" "$BK_NODE_URL/buckets/alice/priv/resolve/a/small.txt")"
    bk_node_stop two
  }
fi
bk_req GET /api/buckets/alice/priv/tree/main "$B"
[ "$BK_STATUS" = 404 ] || [ "$BK_STATUS" = 403 ] && bk_ok "bob still cannot see alice's private bucket ($BK_STATUS)" || bk_fail "private stays private" "$BK_STATUS"
# the secret carried over: a token minted by the source's secret verifies here
SECRET_SRC=$(od -An -tx1 "$SRC/secret.key" | tr -d ' \n')
N=$(HF_TOKEN=$A HF_HOME=$BK_TMP/home4 "$HF" buckets cp "$W/small.txt" hf://buckets/alice/models/new.txt >/dev/null 2>&1 && echo ok)
bk_expect "uploads work on the target (ids continue after the copied ones)" ok "$N"
HF_HOME=$BK_TMP/home2 "$HF" buckets create alice/after >/dev/null 2>&1 && bk_ok "a new bucket gets a fresh id" || bk_fail "a new bucket gets a fresh id"
bk_stop
case "$TO_DB" in
  sqlite://*)
    DBF=${TO_DB#sqlite://}
    GOT=$(sqlite3 "$DBF" "SELECT hex(value) FROM settings WHERE key='token_secret'" | tr 'A-F' 'a-f')
    bk_expect "the signing secret carried over" "$SECRET_SRC" "$GOT"
    ;;
esac
bk_expect "fsck of the target is clean" 0 "$("$BK_BUCKETD" fsck --read-data --db "$TO_DB" --blobs "$TO_BLOBS" >/dev/null 2>&1; echo $?)"

# a damaged source blob is refused (fresh target), and nothing is written to its metadata
X=$(find "$SRC/blobs/xorbs" -type f -name '[0-9a-f]*' | head -n 1)
cp "$X" "$BK_TMP/x.bak"
printf '\xff\xff\xff\xff' | dd of="$X" bs=1 seek=200 conv=notrunc 2>/dev/null
T2=$BK_TMP/target2; mkdir -p "$T2"
"$BK_BUCKETD" migrate --data "$SRC" --to-db "sqlite://$T2/meta.db" --to-blobs "file://$T2/blobs" >"$BK_TMP/m5" 2>&1
bk_expect "a damaged source xorb stops the migration" 1 $?
bk_check "the message names the damaged xorb" grep -q "source xorb $(basename "$X") is damaged" "$BK_TMP/m5"
bk_expect "the damaged xorb was not copied" "" "$(find "$T2/blobs" -name "$(basename "$X")" 2>/dev/null)"
"$BK_BUCKETD" token list alice --db "sqlite://$T2/meta.db" >/dev/null 2>&1; bk_expect "no rows in the refused target" 1 $?
cp "$BK_TMP/x.bak" "$X"
# a row whose blob is missing in the source is refused
S=$(find "$SRC/blobs/shards" -type f -name '[0-9a-f]*' | head -n 1)
mv "$S" "$BK_TMP/s.bak"
T3=$BK_TMP/target3; mkdir -p "$T3"
"$BK_BUCKETD" migrate --data "$SRC" --to-db "sqlite://$T3/meta.db" --to-blobs "file://$T3/blobs" >"$BK_TMP/m7" 2>&1
bk_expect "a row without its blob stops the migration" 1 $?
bk_check "it counts the shard rows without a blob" grep -q "1 shard row(s) of the source have no blob" "$BK_TMP/m7"
mv "$BK_TMP/s.bak" "$S"
# a target holding other data is refused
"$BK_BUCKETD" user add carol --db "sqlite://$T2/other.db" >/dev/null 2>&1
"$BK_BUCKETD" migrate --data "$SRC" --to-db "sqlite://$T2/other.db" --to-blobs "file://$T2/blobs" >"$BK_TMP/m6" 2>&1
bk_expect "a target with other data is refused" 1 $?
bk_check "it says the target holds other data" grep -q "holds other data" "$BK_TMP/m6"
bk_summary
