#!/usr/bin/env bash
# bench/run-cli.sh BUILD — end-to-end figures of the `hf` client against a
# local bucketd, each printed beside `cp` of the same data in the same run.
#   1. upload of a fresh 1 GiB file           (goal >= 500 MB/s)
#   2. re-upload of an identical 1 GiB file   (goal >= 1.5 GB/s)
#   3. download of 1 GiB                      (goal >= 1 GB/s)
#   4. sync of 10,000 files of 4 KiB          (goal >= 2,000 files/s) and a no-change re-sync (< 1 s)
#   5. 5 successive 256 MiB checkpoints, 90% frozen tensors: stored / unique bytes (goal <= 1.15)
# BENCH_GIB (default 1) scales the big file. No timed assertions: figures only.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
. tests/integration/lib.sh
HF="$BK_BIN/hf"
GIB=${BENCH_GIB:-1}
bk_start --quiet >/dev/null 2>&1 || bk_start
A=$(bk_user_token bench write 2>/dev/null)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/hf
W=$BK_TMP/w; mkdir -p "$W"
"$HF" buckets create bench/b >/dev/null

now() { date +%s.%N; }
rate() { "$BK_PY" -c "import sys; b,t=float(sys.argv[1]),float(sys.argv[2]); print('%8.1f MB/s  (%.2f s)' % (b/t/1e6, t))" "$1" "$2"; }
el() { "$BK_PY" -c "import sys; print(float(sys.argv[2])-float(sys.argv[1]))" "$1" "$2"; }
line() { printf '%-44s %s   | cp: %s\n' "$1" "$2" "$3"; }

echo "== hf client benchmark ($(nproc) cores, ${GIB} GiB file, server and client on 127.0.0.1)"
BYTES=$((GIB * 1073741824))
head -c "$BYTES" /dev/urandom >"$W/big.bin"; sync

# 1. fresh upload
t0=$(now); cp "$W/big.bin" "$W/big.cp"; sync "$W/big.cp"; t1=$(now); CPT=$(el "$t0" "$t1"); rm -f "$W/big.cp"
t0=$(now); "$HF" cp "$W/big.bin" hf://buckets/bench/b/big.bin >/dev/null || echo "upload failed"; t1=$(now)
line "upload fresh ${GIB} GiB (goal 500 MB/s)" "$(rate "$BYTES" "$(el "$t0" "$t1")")" "$(rate "$BYTES" "$CPT")"

# 2. identical re-upload
t0=$(now); cp "$W/big.bin" "$W/big.cp"; sync "$W/big.cp"; t1=$(now); CPT=$(el "$t0" "$t1"); rm -f "$W/big.cp"
t0=$(now); "$HF" cp "$W/big.bin" hf://buckets/bench/b/big-again.bin >/dev/null || echo "re-upload failed"; t1=$(now)
line "re-upload identical (goal 1.5 GB/s)" "$(rate "$BYTES" "$(el "$t0" "$t1")")" "$(rate "$BYTES" "$CPT")"
t0=$(now); HF_HOME=$BK_TMP/hf-fresh "$HF" cp "$W/big.bin" hf://buckets/bench/b/big-3.bin >/dev/null || echo "re-upload failed"; t1=$(now)
line "re-upload identical, empty local cache" "$(rate "$BYTES" "$(el "$t0" "$t1")")" "$(rate "$BYTES" "$CPT")"

# 3. download (baseline re-measured right before: the disk's state drifts)
t0=$(now); cp "$W/big.bin" "$W/big.cp"; sync "$W/big.cp"; t1=$(now); CPT=$(el "$t0" "$t1"); rm -f "$W/big.cp"
t0=$(now); "$HF" cp hf://buckets/bench/b/big.bin "$W/big.down" >/dev/null || echo "download failed"; t1=$(now)
cmp -s "$W/big.bin" "$W/big.down" || echo "DOWNLOAD MISMATCH"
line "download ${GIB} GiB (goal 1 GB/s)" "$(rate "$BYTES" "$(el "$t0" "$t1")")" "$(rate "$BYTES" "$CPT")"
rm -f "$W/big.down" "$W/big.bin"

# 4. 10,000 small files
mkdir -p "$W/small"
"$BK_PY" - "$W/small" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(10000):
    sub = os.path.join(d, "d%02d" % (i % 100))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d.bin" % i), "wb") as f: f.write(os.urandom(4096))
EOF
t0=$(now); cp -r "$W/small" "$W/small.cp"; sync; t1=$(now); CPS=$(el "$t0" "$t1"); rm -rf "$W/small.cp"
t0=$(now); "$HF" sync "$W/small" hf://buckets/bench/b/small -q || echo "sync failed"; t1=$(now)
T=$(el "$t0" "$t1")
line "sync 10,000 x 4 KiB (goal 2,000 files/s)" "$("$BK_PY" -c "import sys; print('%8.0f files/s (%.2f s)' % (10000/float(sys.argv[1]), float(sys.argv[1])))" "$T")" \
  "$("$BK_PY" -c "import sys; print('%.0f files/s' % (10000/float(sys.argv[1])))" "$CPS")"
t0=$(now); "$HF" sync "$W/small" hf://buckets/bench/b/small -q || echo "re-sync failed"; t1=$(now)
line "no-change re-sync of 10,000 (goal < 1 s)" "$("$BK_PY" -c "import sys; print('%8.2f s' % float(sys.argv[1]))" "$(el "$t0" "$t1")")" "-"
t0=$(now); "$HF" sync hf://buckets/bench/b/small "$W/small.down" -q || echo "download sync failed"; t1=$(now)
line "download sync of 10,000 x 4 KiB" "$("$BK_PY" -c "import sys; print('%8.0f files/s (%.2f s)' % (10000/float(sys.argv[1]), float(sys.argv[1])))" "$(el "$t0" "$t1")")" "-"
diff -r "$W/small" "$W/small.down" >/dev/null || echo "SMALL FILES MISMATCH"
rm -rf "$W/small" "$W/small.down"

# 5. checkpoint family
"$HF" buckets create bench/ckpt >/dev/null
"$BK_PY" - "$W" <<'EOF'
import os, sys, random
w = sys.argv[1]
rnd = random.Random(1)
T, N = 4 << 20, 64                       # 64 tensors x 4 MiB = 256 MiB
tensors = [rnd.randbytes(T) for _ in range(N)]
unique = N * T
for k in range(5):
    with open(f"{w}/ckpt{k}.bin", "wb") as f:
        for t in tensors: f.write(t)
    if k < 4:
        for i in rnd.sample(range(1, N), 6):   # ~10% of the tensors change
            tensors[i] = rnd.randbytes(T); unique += T
open(f"{w}/unique", "w").write(str(unique))
EOF
UNIQUE=$(cat "$W/unique")
t0=$(now)
for k in 0 1 2 3 4; do "$HF" cp "$W/ckpt$k.bin" hf://buckets/bench/ckpt/ckpt$k.bin >/dev/null || echo "ckpt $k failed"; done
t1=$(now)
STORED=$("$HF" buckets info bench/ckpt --json | "$BK_PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_size"])')
"$BK_PY" -c "import sys; s,u,t=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3])
print('%-44s %8.3f x  (stored %.1f MB / unique %.1f MB; 5 uploads %.1f s)   | cp: %.3f x' % ('checkpoints: stored/unique (goal <= 1.15)', s/u, s/1e6, u/1e6, t, 5*256*1048576/u))" \
  "$STORED" "$UNIQUE" "$(el "$t0" "$t1")"
echo "== done"
