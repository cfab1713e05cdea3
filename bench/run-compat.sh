#!/usr/bin/env bash
# bench/run-compat.sh BUILD — upload 100 MB of fresh random bytes through the official JS client
# (@huggingface/hub, tests/compat) and 100 MB of different random bytes through our `hf` CLI to the
# same bucketd, in one run; prints both rates and the ratio (hf is the baseline). No assertions.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
. tests/integration/lib.sh
SIZE_MB=${COMPAT_BENCH_MB:-100}
COMPAT=$BUCKETS_ROOT/tests/compat
if [ ! -f "$COMPAT/node_modules/@huggingface/hub/package.json" ]; then
  (cd "$COMPAT" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci failed"; exit 1; }
fi
[ -x "$BK_BIN/hf" ] || { echo "bench/run-compat: $BK_BIN/hf not built"; exit 1; }
bk_start
TOK=$(bk_user_token bench write) || { echo "cannot create user/token"; exit 1; }
bk_req POST /api/buckets/bench/b-hf "$TOK" -H 'Content-Type: application/json' --data '{}'
case "$BK_STATUS" in 2??) ;; *) false;; esac || { echo "create bucket: HTTP $BK_STATUS"; cat "$BK_BODY"; exit 1; }
head -c $((SIZE_MB * 1048576)) /dev/urandom >"$BK_TMP/js.bin"
head -c $((SIZE_MB * 1048576)) /dev/urandom >"$BK_TMP/hf.bin"

# server-side milliseconds spent in CAS uploads (xorb + shard POSTs) logged since line $1
cas_ms() { tail -n +"$1" "$BK_LOG" | awk '$3 == "POST" && ($4 ~ /\/v1\/xorbs\// || $4 ~ /\/shards$/) { sub(/ms$/, "", $7); t += $7 } END { printf "%.0f", t }'; }

# JS client (node startup excluded: the script times only the upload call)
l0=$(($(wc -l <"$BK_LOG") + 1))
js=$(cd "$COMPAT" && BUCKETS_URL=$BK_URL BUCKETS_TOKEN=$TOK node bench-upload.mjs "$BK_TMP/js.bin" bench/b-js data/js.bin) \
  || { echo "JS upload failed"; exit 1; }
js_s=${js#* }
js_srv=$(cas_ms "$l0")
l1=$(($(wc -l <"$BK_LOG") + 1))

# hf CLI (whole process, includes its own startup)
t0=$(date +%s.%N)
HF_ENDPOINT=$BK_URL HF_TOKEN=$TOK "$BK_BIN/hf" buckets cp "$BK_TMP/hf.bin" hf://buckets/bench/b-hf/data/hf.bin >/dev/null \
  || { echo "hf upload failed"; exit 1; }
t1=$(date +%s.%N)
hf_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
hf_srv=$(cas_ms "$l1")

awk -v mb="$SIZE_MB" -v js="$js_s" -v hf="$hf_s" -v jss="$js_srv" -v hfs="$hf_srv" 'BEGIN {
  printf "compat upload %d MiB random, one bucketd on 127.0.0.1, same run\n", mb
  printf "  hf CLI (baseline)      : %7.2f s  %8.1f MiB/s   (sum of server-side xorb+shard POST times %.2f s)\n", hf, mb / hf, hfs / 1000
  printf "  @huggingface/hub 2.17.5: %7.2f s  %8.1f MiB/s   (sum of server-side xorb+shard POST times %.2f s)\n", js, mb / js, jss / 1000
  printf "  ratio JS/hf rate       : %7.2f\n", hf / js
}'
