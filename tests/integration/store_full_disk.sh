#!/usr/bin/env bash
# A full disk (issue 11 item 7), on a real 8 MiB tmpfs holding the data dir:
# data written before the disk filled up; bucketd is stopped, a filler file
# takes every free block, bucketd must START (it used to die on
# "PRAGMA journal_mode=WAL: disk I/O error" creating buckets.db-shm), serve
# reads, and refuse every write with 507 + a JSON error saying the disk is
# full (xorb POST, shard POST, batch, bucket create, hf upload, web upload);
# nothing half-written stays behind (no temp file, fsck --read-data clean);
# after the filler is removed, writes work again without a restart.
# Needs `mount -t tmpfs` (root); skips cleanly (0 passed) where that fails.
. "$(dirname "$0")/lib.sh"
bk_require_local_store "fills the filesystem of the local store (tmpfs)"
HF="$BK_BIN/hf"
TOOL="$BK_HELPERS/cas_tool"
[ -x "$HF" ] && [ -x "$TOOL" ] || { bk_fail "hf and cas_tool built"; bk_summary; }
MNT=$BK_TMP/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=8m,mode=0700 tmpfs "$MNT" 2>"$BK_TMP/mount.err"; then
  echo "skip: cannot mount a tmpfs ($(cat "$BK_TMP/mount.err")); full-disk test not run"
  echo "0 passed, 0 failed"
  exit 0
fi
full_cleanup() { BK_IN_TRAP=1 bk_stop; umount "$MNT" 2>/dev/null || umount -l "$MNT"; bk_cleanup; }
trap full_cleanup EXIT

export BK_DATA=$MNT/data
bk_start
TOK=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$TOK HF_HOME=$BK_TMP/home
"$HF" buckets create alice/b >/dev/null 2>&1 || bk_fail "create bucket"
W=$BK_TMP/w; mkdir -p "$W"
head -c 300000 /dev/urandom >"$W/a.bin"
"$HF" cp "$W/a.bin" hf://buckets/alice/b/a.bin >/dev/null 2>&1 || bk_fail "upload before the disk fills"
# c: fully uploaded (xorbs + shard) but not added: the batch below adds it.
# d: only its xorbs are uploaded: the shard POST below is refused.
# e: nothing uploaded: its xorb POST is refused.
for f in c d e; do head -c 120000 /dev/urandom >"$W/$f.bin"; done
HC=$("$TOOL" build "$W/c.bin" "$W/c") || bk_fail "cas_tool build c"
"$TOOL" build "$W/d.bin" "$W/d" >/dev/null || bk_fail "cas_tool build d"
"$TOOL" build "$W/e.bin" "$W/e" >/dev/null || bk_fail "cas_tool build e"
bk_req GET /api/buckets/alice/b/xet-write-token "$TOK"
WT=$(bk_json 'j["accessToken"]')
"$TOOL" upload "$BK_URL" "$WT" "$W/c" >/dev/null || bk_fail "upload c (xorbs + shard)"
read -r DX DXF <"$W/d/xorbs.txt"
bk_req POST "/v1/xorbs/default/$DX" "$WT" --data-binary @"$DXF"
bk_expect "d's xorb stored before the disk fills" 200 "$BK_STATUS"
bk_stop

# ---- fill every free block, then start on the full disk
dd if=/dev/zero of="$MNT/filler" bs=64k >/dev/null 2>&1
head -c 65536 /dev/zero >>"$MNT/filler" 2>/dev/null   # the last partial block
AVAIL=$(df --output=avail -B1 "$MNT" | tail -n 1 | tr -d ' ')
bk_expect "filesystem is full" 0 "$AVAIL"
bk_start
bk_ok "bucketd starts on a full disk"
export HF_ENDPOINT=$BK_URL

# reads
"$HF" cp hf://buckets/alice/b/a.bin "$W/a.back" >/dev/null 2>"$BK_TMP/err"
cmp -s "$W/a.bin" "$W/a.back" && bk_ok "download on a full disk" || bk_fail "download on a full disk" "$(cat "$BK_TMP/err")"
bk_req GET "/api/buckets/alice/b/tree" "$TOK"
bk_expect "tree listing on a full disk" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/b "$TOK"
bk_expect "bucket info on a full disk" 200 "$BK_STATUS"

full_msg() { # NAME: last response is 507 with a JSON error that says the disk is full
  bk_expect "$1 -> 507" 507 "$BK_STATUS"
  local m; m=$(bk_json 'j["error"]')
  case "$m" in *"disk is full"*) bk_ok "$1: JSON error says the disk is full";;
    *) bk_fail "$1: JSON error says the disk is full" "$(head -c 300 "$BK_BODY")";; esac
}

# xorb POST (streamed to a temp file: the write fails)
read -r EX EXF <"$W/e/xorbs.txt"
bk_req POST "/v1/xorbs/default/$EX" "$WT" --data-binary @"$EXF"
full_msg "xorb POST"
# shard POST (its xorbs are stored; the shard blob / its rows cannot be written)
bk_req POST /v1/shards "$WT" --data-binary @"$W/d/shard.bin"
full_msg "shard POST"
# batch adding a registered file (only the database must grow)
printf '{"type":"addFile","path":"c.bin","xetHash":"%s"}\n' "$HC" >"$W/batch"
bk_req POST /api/buckets/alice/b/batch "$TOK" -H 'Content-Type: application/x-ndjson' --data-binary @"$W/batch"
full_msg "batch"
# bucket create
bk_req POST /api/buckets/alice/other "$TOK" -H 'Content-Type: application/json' --data-binary '{}'
full_msg "bucket create"
# the hf CLI: fails at once (507 is not retried) with the server's message
head -c 150000 /dev/urandom >"$W/f.bin"
T0=$(date +%s)
"$HF" cp "$W/f.bin" hf://buckets/alice/b/f.bin >/dev/null 2>"$BK_TMP/err"
RC=$?
bk_check "hf upload on a full disk fails" test "$RC" -ne 0
grep -q "507" "$BK_TMP/err" && grep -q "disk is full" "$BK_TMP/err" \
  && bk_ok "hf says 507 / disk is full" || bk_fail "hf says 507 / disk is full" "$(cat "$BK_TMP/err")"
bk_check "hf does not retry a full disk for long" test $(($(date +%s) - T0)) -le 3
# web upload form (bearer-authenticated form posts need no CSRF token)
WS=$(curl -sS -o "$BK_TMP/web.html" -w '%{http_code}' -H "Authorization: Bearer $TOK" \
  -F "files=@$W/f.bin;filename=web.bin" "$BK_URL/buckets/alice/b/upload")
bk_expect "web upload on a full disk -> 507" 507 "$WS"
grep -q "disk is full" "$BK_TMP/web.html" && bk_ok "web upload page says the disk is full" \
  || bk_fail "web upload page says the disk is full" "$(grep -o '<p[^<]*' "$BK_TMP/web.html" | head -3)"

# nothing half-written is visible
bk_expect "no temp file left in blobs/tmp" "" "$(ls -A "$BK_DATA/blobs/tmp")"
bk_expect "no .tmp.* file left in the blob tree" "" "$(find "$BK_DATA/blobs" -name '.tmp.*')"
bk_req GET "/api/buckets/alice/b/tree?recursive=true" "$TOK"
bk_expect "bucket still lists only a.bin" '["a.bin"]' "$(bk_json '[e["path"] for e in j if e["type"]=="file"]')"
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1 && bk_ok "fsck --read-data clean on the full disk" \
  || bk_fail "fsck --read-data clean on the full disk" "$(cat "$BK_TMP/fsck")"

# ---- free the space: writes work again, same server process
PID_BEFORE=$BK_PID
rm -f "$MNT/filler"
bk_req POST /api/buckets/alice/b/batch "$TOK" -H 'Content-Type: application/x-ndjson' --data-binary @"$W/batch"
bk_expect "batch after space is freed" 200 "$BK_STATUS"
"$HF" cp "$W/f.bin" hf://buckets/alice/b/f.bin >/dev/null 2>"$BK_TMP/err" && bk_ok "hf upload after space is freed" \
  || bk_fail "hf upload after space is freed" "$(cat "$BK_TMP/err")"
"$HF" cp hf://buckets/alice/b/f.bin "$W/f.back" >/dev/null 2>&1
cmp -s "$W/f.bin" "$W/f.back" && bk_ok "f.bin reads back" || bk_fail "f.bin reads back"
"$HF" cp hf://buckets/alice/b/c.bin "$W/c.back" >/dev/null 2>&1
cmp -s "$W/c.bin" "$W/c.back" && bk_ok "c.bin (added by the batch) reads back" || bk_fail "c.bin reads back"
bk_req POST /v1/shards "$WT" --data-binary @"$W/d/shard.bin"
bk_expect "shard POST after space is freed" 200 "$BK_STATUS"
bk_req POST "/v1/xorbs/default/$EX" "$WT" --data-binary @"$EXF"
bk_expect "xorb POST after space is freed" 200 "$BK_STATUS"
bk_expect "no restart was needed" "$PID_BEFORE" "$BK_PID"
bk_admin fsck --read-data >"$BK_TMP/fsck" 2>&1 && bk_ok "fsck --read-data clean at the end" \
  || bk_fail "fsck --read-data clean at the end" "$(cat "$BK_TMP/fsck")"
bk_summary
