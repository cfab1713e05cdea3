#!/usr/bin/env bash
# Damaged blobs are a known state, never a silent one (issue 11 items 1-2),
# with the real bucketd and the real `hf`:
#  - one byte of a stored xorb flipped in the store (its file, or its S3 object): an upload of a file sharing
#    chunks with it succeeds (dedup does not offer the damaged xorb; a shard
#    that references it is refused with 400 XorbDamaged naming it and hf
#    uploads those chunks itself) and reads back byte-identical;
#  - a download of the damaged file fails with a clear error and leaves no
#    file; fsck lists the affected bucket/path;
#  - POST of the correct xorb bytes answers was_inserted true and the old
#    file reads back; an hf re-upload of the original file heals too;
#  - bucketd scrub finds and marks damage, bounded per run, resuming.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
TOOL="$BK_HELPERS/cas_tool"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
[ -x "$TOOL" ] || { bk_fail "cas_tool built"; bk_summary; }
bk_start
TOK=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$TOK HF_HOME=$BK_TMP/home1
W=$BK_TMP/w; mkdir -p "$W"
"$HF" buckets create alice/b >/dev/null || bk_fail "create bucket"
bk_req GET /api/buckets/alice/b/xet-write-token "$TOK"
WT=$(bk_json 'j["accessToken"]')
bk_check "CAS write token" test -n "$WT"

# A: 6 MiB of random bytes (one xorb). B, C, D share A's first 3 MiB.
"$BK_PY" - "$W" <<'EOF'
import random, sys
w = sys.argv[1]
r = random.Random(11)
a = r.randbytes(6 << 20)
open(f"{w}/A", "wb").write(a)
for name in "BCD":
    open(f"{w}/{name}", "wb").write(a[: 3 << 20] + r.randbytes(3 << 20))
EOF
# Blobs through the store's interface: the data dir's files, or the S3 API on postgresql+s3 (lib.sh).
xorbs() { bk_blob_list xorbs | sed 's|^xorbs/||'; }
flip() { # HEX OFFSET-FRACTION: xor one byte of the stored xorb blob
  bk_blob_get xorbs "$1" "$BK_TMP/flip" || { bk_fail "read blob $1 to damage it"; return; }
  "$BK_PY" - "$BK_TMP/flip" "$2" <<'EOF'
import os, sys
p, frac = sys.argv[1], float(sys.argv[2])
n = os.path.getsize(p)
off = int(n * frac)
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x40]))
EOF
  bk_blob_put xorbs "$1" "$BK_TMP/flip" || bk_fail "write damaged blob $1"
}
blob_is() { bk_blob_get xorbs "$1" "$BK_TMP/cmp" && cmp -s "$BK_TMP/cmp" "$2"; } # HEX FILE
readback() { # NAME REMOTE LOCAL
  rm -f "$BK_TMP/rb"
  if "$HF" cp "hf://buckets/alice/b/$2" "$BK_TMP/rb" >"$BK_TMP/rb.out" 2>&1 && cmp -s "$BK_TMP/rb" "$3"; then
    bk_ok "$1"
  else bk_fail "$1" "$(tail -n 2 "$BK_TMP/rb.out")"; fi
}

"$HF" cp "$W/A" hf://buckets/alice/b/a.bin >/dev/null 2>&1 || bk_fail "upload A"
bk_expect "A is stored as one xorb" 1 "$(xorbs | wc -l)"
X=$(xorbs | head -n 1)
bk_blob_get xorbs "$X" "$BK_TMP/x.good"

# the first chunk of A is in the dedup index and offered while X is intact
"$TOOL" build "$W/A" "$BK_TMP/ta" >/dev/null || bk_fail "cas_tool build A"
C0=$(head -n 1 "$BK_TMP/ta/chunks.txt" | cut -d' ' -f1)
bk_expect "dedup offers the intact xorb" "hit $X 0" "$("$TOOL" dedup "$BK_URL" "$WT" "$C0")"

# ---- item 1: flip one byte; a new upload sharing chunks must not rely on X
flip "$X" 0.2 # inside the first 3 MiB, which B, C and D share
P0=$(grep -c "POST /v1/xorbs/default/" "$BK_LOG")
HF_HOME=$BK_TMP/home2 "$HF" cp "$W/B" hf://buckets/alice/b/b.bin >"$BK_TMP/up.out" 2>&1
bk_expect "cp of a file sharing chunks with a damaged xorb succeeds (fresh cache)" 0 $?
readback "that file reads back byte-identical" b.bin "$W/B"
bk_check "its new xorb(s) were uploaded" test "$(grep -c "POST /v1/xorbs/default/" "$BK_LOG")" -gt "$P0"
D=$("$TOOL" dedup "$BK_URL" "$WT" "$C0")
case "$D" in "hit $X "*|"") bk_fail "dedup no longer offers the damaged xorb" "$D";;
  *) bk_ok "dedup no longer offers the damaged xorb (answers another holder: $D)";; esac

# the local shard cache (home1) still promises X: the shard is refused with
# 400 XorbDamaged naming X, hf uploads the chunks itself and succeeds
S0=$(grep -c "POST /v1/shards 400" "$BK_LOG")
"$HF" cp "$W/C" hf://buckets/alice/b/c.bin >"$BK_TMP/up.out" 2>&1
bk_expect "cp with a local cache pointing at the damaged xorb succeeds" 0 $?
bk_check "the first shard was refused" test "$(grep -c "POST /v1/shards 400" "$BK_LOG")" -gt "$S0"
readback "that file reads back byte-identical" c.bin "$W/C"

# a shard referencing the damaged xorb: 400 XorbDamaged naming it
bk_check "cas_tool packs A into the same xorb" grep -q "^$X " "$BK_TMP/ta/xorbs.txt"
bk_req POST /v1/shards "$WT" --data-binary @"$BK_TMP/ta/shard.bin"
bk_expect "shard referencing a damaged xorb: 400" 400 "$BK_STATUS"
bk_expect "... X-Error-Code XorbDamaged" XorbDamaged "$(bk_hdr X-Error-Code)"
bk_check "... the message names the xorb" grep -q "damaged xorb $X" "$BK_BODY"

# ---- a download of the damaged file fails clearly and leaves nothing
rm -f "$BK_TMP/a.out"
"$HF" cp hf://buckets/alice/b/a.bin "$BK_TMP/a.out" >"$BK_TMP/dl.out" 2>&1
bk_check "download of the damaged file fails" test $? -ne 0
bk_check "... with a clear error" grep -q "damaged" "$BK_TMP/dl.out"
bk_check "... and leaves no file" test ! -e "$BK_TMP/a.out"
bk_check "... nor a temp file" sh -c "! ls -A '$BK_TMP' | grep -q '^\.a\.out'"

# ---- fsck names the affected bucket/path
bk_admin fsck >"$BK_TMP/fsck.out" 2>&1
bk_expect "fsck reports the damage" 1 $?
bk_check "fsck lists alice/b/a.bin" grep -q "file alice/b/a.bin references damaged xorb $X" "$BK_TMP/fsck.out"
bk_check "fsck does not list b.bin" sh -c "! grep -q 'alice/b/b.bin' '$BK_TMP/fsck.out'"

# ---- item 2: POST of the correct bytes replaces the damaged blob
bk_req POST "/v1/xorbs/default/$X" "$WT" --data-binary @"$BK_TMP/x.good"
bk_expect "POST of the correct bytes: 200" 200 "$BK_STATUS"
bk_expect "... was_inserted true" true "$(bk_json 'j["was_inserted"]')"
bk_check "the stored blob is the correct one again" blob_is "$X" "$BK_TMP/x.good"
readback "the old file reads back byte-identical" a.bin "$W/A"
bk_admin fsck --read-data >"$BK_TMP/fsck.out" 2>&1
bk_expect "fsck --read-data clean after the repair" 0 $?
bk_req POST "/v1/xorbs/default/$X" "$WT" --data-binary @"$BK_TMP/x.good"
bk_expect "a second POST of the same bytes: was_inserted false" false "$(bk_json 'j["was_inserted"]')"

# not yet marked: the stored blob no longer verifies but nothing read it;
# a POST of the correct bytes still replaces it
flip "$X" 0.25
bk_req POST "/v1/xorbs/default/$X" "$WT" --data-binary @"$BK_TMP/x.good"
bk_expect "POST over unmarked damage: was_inserted true" true "$(bk_json 'j["was_inserted"]')"
bk_check "... the blob is correct again" blob_is "$X" "$BK_TMP/x.good"

# ---- an hf re-upload of the original file heals the FILE: its stored
# reconstruction used a damaged xorb, so the new shard's terms (on intact
# xorbs) replace it. (The damaged xorb itself is then unreferenced; gc
# removes it, or a POST of its bytes repairs it.)
refs() { bk_admin fsck >"$BK_TMP/fsck.out" 2>&1; grep -c "references damaged xorb" "$BK_TMP/fsck.out"; }
flip "$X" 0.75
"$HF" cp "$W/A" hf://buckets/alice/b/a2.bin >"$BK_TMP/up.out" 2>&1
bk_expect "hf re-upload (local cache lists the damaged xorb) succeeds" 0 $?
readback "the old file reads back byte-identical after the hf re-upload" a.bin "$W/A"
bk_expect "no bucket file references a damaged xorb any more" 0 "$(refs)"
# same through the global dedup path (fresh cache), damaging B's xorb
# the xorb rows in id order through the metadata store's shell (sqlite3 or psql)
if bk_local_store; then HEXQ="SELECT lower(hex(hash)) FROM xorbs ORDER BY id"
else HEXQ="SELECT encode(hash, 'hex') FROM xorbs ORDER BY id"; fi
bk_db_sql "$HEXQ" >"$BK_TMP/xorb-rows" || bk_fail "read the xorb rows"
xorbs >"$BK_TMP/xorb-blobs"
Y=$("$BK_PY" - "$BK_TMP/xorb-rows" "$BK_TMP/xorb-blobs" "$X" <<'EOF'
import sys
rows_f, blobs_f, x = sys.argv[1:4]
stored = set(open(blobs_f).read().split())
def xet_hex(h):  # Xet string form: each 8-byte group reversed
    b = bytes.fromhex(h)
    return "".join(b[i:i + 8][::-1].hex() for i in range(0, 32, 8))
rows = [xet_hex(l.strip()) for l in open(rows_f) if l.strip()]
# the second registered xorb (B's): the row after X in the store's id order
print(rows[1] if len(rows) > 1 and rows[0] == x and rows[1] in stored else "")
EOF
)
bk_check "B's xorb found" test -n "$Y"
flip "${Y:-none}" 0.5
bk_expect "plain fsck does not read data (damage not yet known)" 0 "$(refs)"
HF_HOME=$BK_TMP/home3 "$HF" cp "$W/B" hf://buckets/alice/b/b2.bin >"$BK_TMP/up.out" 2>&1
bk_expect "hf re-upload of B with a fresh cache succeeds" 0 $?
readback "b.bin reads back byte-identical after it" b.bin "$W/B"
readback "c.bin reads back byte-identical" c.bin "$W/C"
bk_expect "no bucket file references a damaged xorb" 0 "$(refs)"

# ---- scrub: bounded per run, resumes where the last run stopped
bk_req POST "/v1/xorbs/default/$X" "$WT" --data-binary @"$BK_TMP/x.good"
bk_expect "X repaired by POST" true "$(bk_json 'j["was_inserted"]')"
bk_admin fsck --read-data >"$BK_TMP/fsck.out" 2>&1
bk_expect "fsck --read-data clean (B's re-upload re-created Y, which repaired it)" 0 $?
flip "$X" 0.4
bk_admin scrub --max-blobs 1 >"$BK_TMP/scrub.out" 2>&1
bk_expect "scrub run 1 finds the damage (exit 1)" 1 $?
bk_check "... verifies exactly one xorb" grep -q "^scrub: 1 xorbs, 0 shards verified" "$BK_TMP/scrub.out"
bk_check "... names the damaged xorb" grep -q "DAMAGE: xorb $X" "$BK_TMP/scrub.out"
bk_admin fsck >"$BK_TMP/fsck.out" 2>&1
bk_check "scrub marked it (plain fsck sees the mark)" grep -q "xorb $X: marked damaged" "$BK_TMP/fsck.out"
bk_req POST "/v1/xorbs/default/$X" "$WT" --data-binary @"$BK_TMP/x.good"
bk_expect "repaired by POST" true "$(bk_json 'j["was_inserted"]')"
flip "${Y:-none}" 0.3
bk_admin scrub --max-bytes 1 >"$BK_TMP/scrub.out" 2>&1
bk_expect "scrub run 2 resumes after X and finds Y" 1 $?
bk_check "... in xorb Y" grep -q "DAMAGE: xorb $Y" "$BK_TMP/scrub.out"
bk_check "... only Y" sh -c "! grep -q 'DAMAGE: xorb $X' '$BK_TMP/scrub.out'"
bk_admin scrub --max-bytes 64M >/dev/null 2>&1 # to the end of the table
bk_admin scrub --max-bytes 64M >"$BK_TMP/scrub.out" 2>&1 # starts over
bk_check "the next full pass reports Y still damaged" grep -q "DAMAGE: xorb $Y: still damaged" "$BK_TMP/scrub.out"
bk_check "... and X intact" sh -c "! grep -q 'DAMAGE: xorb $X' '$BK_TMP/scrub.out'"
if bk_admin scrub --max-bytes 12Q >/dev/null 2>&1; then bk_fail "scrub rejects a bad budget"
else bk_ok "scrub rejects a bad budget"; fi

bk_summary
