#!/usr/bin/env bash
# `make bench-core`: throughput of the Xet core on a 1 GiB random file and a
# 1 GiB compressible (text-like) file, next to `b3sum --num-threads 1` on the
# same file in the same run. Prints MB/s (10^6 bytes/s) and the ratios against
# the goals. Figures only: nothing here asserts timings.
#   bench/run-core.sh BUILD_DIR
# Env: BENCH_SIZE_MB (default 1024 = 1 GiB), BENCH_DIR (temp dir parent),
#      BENCH_REPS (default 3; the median of the repetitions is reported).
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
BIN=$BUILD/bench/bench_core
SIZE_MB=${BENCH_SIZE_MB:-1024}
REPS=${BENCH_REPS:-3}
[ -x "$BIN" ] || { echo "run-core: $BIN not built (make BUILD=$BUILD)" >&2; exit 1; }
command -v b3sum > /dev/null || { echo "run-core: b3sum not found (make deps)" >&2; exit 1; }
TMP=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-core.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "bench-core: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), file size ${SIZE_MB} MiB, median of $REPS"
head -c $((SIZE_MB * 1048576)) /dev/urandom > "$TMP/random.bin" || exit 1
"$BIN" gen-text "$TMP/text.bin" $((SIZE_MB * 1048576 / 1000000 + 1)) || exit 1
truncate -s $((SIZE_MB * 1048576)) "$TMP/text.bin"
cat "$TMP/random.bin" "$TMP/text.bin" > /dev/null # warm the page cache
BYTES=$((SIZE_MB * 1048576))

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# figure of one bench_core run: first number after the mode word
run_bc() { "$BIN" "$@" | tee -a "$TMP/log" | awk '{ print $2; exit }'; }
rep_bc() { for _ in $(seq "$REPS"); do run_bc "$@"; done | median; }
rep_b3() {
  for _ in $(seq "$REPS"); do
    s=$(date +%s%N); b3sum --num-threads 1 "$1" > /dev/null; e=$(date +%s%N)
    awk -v b="$BYTES" -v ns=$((e - s)) 'BEGIN { printf "%.0f\n", b / (ns / 1e9) / 1e6 }'
  done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r + 0 >= g + 0) ? "meets goal" : "BELOW goal" }'; }

for kind in random text; do
  f=$TMP/$kind.bin
  echo
  echo "== $kind data ($SIZE_MB MiB)"
  b3=$(rep_b3 "$f")
  st=$(rep_bc stream "$f")
  m1=$(rep_bc mem "$f" 1)
  m2=$(rep_bc mem "$f" 2)
  gear=$(rep_bc gear "$f")
  bl=$(rep_bc blake3 "$f")
  printf '  %-46s %6s MB/s\n' "b3sum --num-threads 1 (baseline)" "$b3"
  printf '  %-46s %6s MB/s\n' "components: gear CDC only, 1 thread" "$gear"
  printf '  %-46s %6s MB/s  (%s)\n' "components: keyed BLAKE3 64 KiB, 1 thread" "$bl" "$(tail -n 1 "$TMP/log" | sed 's/.*impl \([a-z0-9]*\).*/impl \1/')"
  printf '  %-46s %6s MB/s  = %sx b3sum  (goal >= 0.5x: %s)\n' "chunk+hash, 1 thread, streamed read() 1 MiB" "$st" "$(ratio "$st" "$b3")" "$(verdict "$(ratio "$st" "$b3")" 0.5)"
  printf '  %-46s %6s MB/s  = %sx b3sum  (goal >= 0.5x: %s)\n' "chunk+hash, 1 thread, in memory" "$m1" "$(ratio "$m1" "$b3")" "$(verdict "$(ratio "$m1" "$b3")" 0.5)"
  printf '  %-46s %6s MB/s  = %sx 1 thread  (goal >= 1.6x: %s)\n' "chunk+hash, 2 threads, in memory" "$m2" "$(ratio "$m2" "$m1")" "$(verdict "$(ratio "$m2" "$m1")" 1.6)"
  if [ "$kind" = text ] || [ "${BENCH_PACK_RANDOM:-1}" = 1 ]; then
    pk=$(rep_bc pack "$f")
    line=$(grep '^pack' "$TMP/log" | tail -n 1 | sed 's/^pack [0-9]* MB\/s  //')
    if [ -n "$pk" ]; then
      printf '  %-46s %6s MB/s  %s  (goal >= 600 MB/s/thread on compressible data: %s)\n' "xorb packing (LZ4 / BG4+LZ4), 1 thread" "$pk" "$line" "$( [ "$kind" = text ] && verdict "$pk" 600 || echo "n/a")"
    else
      echo "  xorb packing: not available (bk_xorb_builder failed; see above)"
    fi
  fi
done
