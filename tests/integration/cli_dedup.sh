#!/usr/bin/env bash
# Deduplicated transfers with the real `hf` and bucketd: a second
# "checkpoint" sharing 90% of its bytes with the first must add at most 15%
# of its size to the server's stored bytes (bucket info stored_size), both
# with the local shard cache and with a fresh cache (global dedup query);
# an identical re-upload sends no xorb at all.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/home1
W=$BK_TMP/w; mkdir -p "$W"
"$HF" buckets create alice/ckpt >/dev/null || bk_fail "create"

# 20 tensors of 2 MiB; each next checkpoint rewrites 2 of them (10%).
"$BK_PY" - "$W" <<'EOF'
import os, sys, random
w = sys.argv[1]
rnd = random.Random(7)
T, N = 2 << 20, 20
tensors = [rnd.randbytes(T) for _ in range(N)]
for k in range(3):
    with open(f"{w}/c{k}.bin", "wb") as f:
        for t in tensors: f.write(t)
    for i in (5 + 4 * k, 6 + 4 * k):          # changed tensors (not the first)
        tensors[i] = rnd.randbytes(T)
EOF
SIZE=$(stat -c %s "$W/c0.bin")
stored() { "$HF" buckets info alice/ckpt --json | "$BK_PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_size"])'; }
xorb_posts() { grep -cE 'POST /v1/xorbs/default/[0-9a-f]+ 200 ' "$BK_LOG"; }
within() { # name delta limit
  if [ "$2" -le "$3" ]; then bk_ok "$1 ($2 <= $3 bytes)"; else bk_fail "$1" "$2 > $3 bytes"; fi; }

S0=$(stored)
"$HF" cp "$W/c0.bin" hf://buckets/alice/ckpt/c0.bin >/dev/null 2>&1 || bk_fail "upload c0"
S1=$(stored)
[ $((S1 - S0)) -ge $((SIZE * 9 / 10)) ] && bk_ok "first checkpoint stored ($((S1 - S0)) bytes)" || bk_fail "first checkpoint stored" "$((S1 - S0))"

# second checkpoint, same HF_HOME: local shard cache + global dedup
"$HF" cp "$W/c1.bin" hf://buckets/alice/ckpt/c1.bin >/dev/null 2>&1 || bk_fail "upload c1"
S2=$(stored)
within "90%-shared checkpoint adds <= 15% (local cache)" $((S2 - S1)) $((SIZE * 15 / 100))

# third checkpoint with a fresh HF_HOME: only the server's global dedup can help
HF_HOME=$BK_TMP/home2 "$HF" cp "$W/c2.bin" hf://buckets/alice/ckpt/c2.bin >/dev/null 2>&1 || bk_fail "upload c2"
S3=$(stored)
within "90%-shared checkpoint adds <= 15% (fresh cache, global dedup)" $((S3 - S2)) $((SIZE * 15 / 100))
grep -q 'GET /v1/chunks/default-merkledb/' "$BK_LOG" && bk_ok "global dedup queried" || bk_fail "global dedup queried"

# identical re-upload: nothing but hashes travels
P0=$(xorb_posts)
"$HF" cp "$W/c0.bin" hf://buckets/alice/ckpt/again.bin >/dev/null 2>&1 || bk_fail "re-upload"
bk_expect "identical re-upload posts no xorb" "$P0" "$(xorb_posts)"
bk_expect "identical re-upload stores nothing" "$S3" "$(stored)"
HF_HOME=$BK_TMP/home3 "$HF" cp "$W/c0.bin" hf://buckets/alice/ckpt/again2.bin >/dev/null 2>&1 || bk_fail "re-upload fresh cache"
bk_expect "fresh-cache identical re-upload stores nothing" "$S3" "$(stored)"

# every version reads back intact
for k in 0 1 2; do
  "$HF" cp hf://buckets/alice/ckpt/c$k.bin "$W/back$k.bin" >/dev/null 2>&1
  cmp -s "$W/c$k.bin" "$W/back$k.bin" && bk_ok "c$k reads back" || bk_fail "c$k reads back"
done

# a stale shard cache (server lost what it promised) is detected and bypassed
mkdir -p "$W/stale"
"$BK_PY" -c 'import random,sys; sys.stdout.buffer.write(random.Random(99).randbytes(3<<20))' >"$W/s.bin"
HF_HOME=$BK_TMP/home4 "$HF" buckets create alice/other >/dev/null 2>&1
HF_HOME=$BK_TMP/home4 "$HF" cp "$W/s.bin" hf://buckets/alice/other/s.bin >/dev/null 2>&1
HF_HOME=$BK_TMP/home4 "$HF" buckets delete alice/other -y >/dev/null 2>&1
bk_admin gc --grace 0 >/dev/null 2>&1
HF_HOME=$BK_TMP/home4 "$HF" cp "$W/s.bin" hf://buckets/alice/ckpt/s.bin >/dev/null 2>"$BK_TMP/err"
RC=$?; bk_expect "upload after server gc with a stale cache" 0 $RC; [ $RC -eq 0 ] || head -30 "$BK_TMP/err"
"$HF" cp hf://buckets/alice/ckpt/s.bin "$W/s.back" >/dev/null 2>&1
cmp -s "$W/s.bin" "$W/s.back" && bk_ok "stale-cache upload reads back" || bk_fail "stale-cache upload reads back" "$(cat "$BK_TMP/err")"
# an upload killed after some xorbs were stored re-runs without resending them
head -c 330000000 /dev/urandom >"$W/kill.bin"
P0=$(xorb_posts)
HF_HOME=$BK_TMP/home5 "$HF" cp "$W/kill.bin" hf://buckets/alice/ckpt/kill.bin >/dev/null 2>&1 &
KP=$!
for i in $(seq 1 600); do [ $(( $(xorb_posts) - P0 )) -ge 2 ] && break; kill -0 $KP 2>/dev/null || break; sleep 0.05; done
# the server logs a xorb's 200 just before the client writes it to its shard
# cache; a kill inside that window makes the re-run resend it legitimately, so
# give the client a moment to record the xorbs it has seen stored
sleep 0.1
kill -9 $KP 2>/dev/null; wait $KP 2>/dev/null
# let the server finish xorbs whose bodies it had fully received before the kill
sleep 3
P1=$(xorb_posts)
HF_HOME=$BK_TMP/home5 "$HF" cp "$W/kill.bin" hf://buckets/alice/ckpt/kill.bin >/dev/null 2>"$BK_TMP/kerr" || bk_fail "re-run after kill" "$(head -3 "$BK_TMP/kerr")"
P2=$(xorb_posts)
# the file's xorbs = the distinct hashes posted since P0; a xorb posted by both
# runs was resent: legitimate only for uploads in flight at the kill, whose 200
# the killed client never read (the client runs at most 4 xorb uploads at once)
NX=$(grep -oE 'POST /v1/xorbs/default/[0-9a-f]+ 200 ' "$BK_LOG" | tail -n $((P2 - P0)) | sort -u | wc -l)
RESENT=$(( P2 - P0 - NX ))
echo "killed upload: $((P1 - P0)) xorb posts before the kill, $((P2 - P1)) in the re-run, $RESENT resent (file has $NX xorbs)"
[ $((P1 - P0)) -ge 1 ] && [ "$RESENT" -le 4 ] && [ $((P2 - P1)) -lt "$NX" ] \
  && bk_ok "re-run after kill -9 sends only the missing xorbs" || { bk_fail "re-run after kill -9 sends only the missing xorbs"; grep -E 'xorbs|shards' "$BK_LOG" | tail -12 | cut -c1-150; }
"$HF" cp hf://buckets/alice/ckpt/kill.bin "$W/kill.back" >/dev/null 2>&1
cmp -s "$W/kill.bin" "$W/kill.back" && bk_ok "resumed upload reads back" || bk_fail "resumed upload reads back"
# a multi-xorb file re-uploaded with an empty cache finds every old xorb
SK=$(stored)
HF_HOME=$BK_TMP/home6 "$HF" cp "$W/kill.bin" hf://buckets/alice/ckpt/kill-again.bin >/dev/null 2>&1 || bk_fail "fresh-cache re-upload of a multi-xorb file"
within "multi-xorb identical re-upload, empty cache, adds ~nothing" $(( $(stored) - SK )) 1048576
rm -f "$W/kill.bin" "$W/kill.back"
bk_summary
