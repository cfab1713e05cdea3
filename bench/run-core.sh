#!/usr/bin/env bash
# `make bench-core`: throughput of the Xet core on a 1 GiB random file and a
# 1 GiB compressible (text-like) file, next to `b3sum --num-threads 1` on the
# same file in the same run. Prints MB/s (10^6 bytes/s) and the ratios against
# the goals. Figures only: nothing here asserts timings.
#   bench/run-core.sh BUILD_DIR
# Env: BENCH_SIZE_MB (default 1024 = 1 GiB), BENCH_DIR (temp dir parent),
#      BENCH_REPS (default 3; the median of the repetitions is reported).
#
# Two figures per line: "wall" (bytes / elapsed time) and "cpu" (bytes /
# CPU time of the process, user + system). On a machine shared with other
# work the wall figures drop while the cpu figures stay put, so the
# single-thread ratios are given for both. Thread scaling can only be read
# from wall time: it is meaningful only when the load average (printed) is
# well below the number of CPUs.
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
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# median of each column of "wall cpu" lines
med1() { sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }
median2() {
  local in
  in=$(cat)
  echo "$(printf '%s\n' "$in" | awk '{ print $1 }' | med1) $(printf '%s\n' "$in" | awk '{ print $2 }' | med1)"
}
# one bench_core run -> "wall cpu"
run_bc() { "$BIN" "$@" | tee -a "$TMP/log" | awk '{ print $2, $5; exit }'; }
rep_bc() { for _ in $(seq "$REPS"); do run_bc "$@"; done | median2; }
rep_b3() {
  for _ in $(seq "$REPS"); do
    local TIMEFORMAT='%R %U %S' t
    t=$( { time b3sum --num-threads 1 "$1" > /dev/null; } 2>&1 )
    awk -v b="$BYTES" -v t="$t" 'BEGIN { split(t, a, " ");
      printf "%.0f %.0f\n", b / a[1] / 1e6, b / (a[2] + a[3]) / 1e6 }'
  done | median2
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r + 0 >= g + 0) ? "meets" : "BELOW" }'; }
row() { # label, "wall cpu"
  printf '  %-44s wall %5s MB/s  cpu %5s MB/s' "$1" "${2% *}" "${2#* }"
}
vs() { # "wall cpu" of a, "wall cpu" of b, goal, what
  local rw rc
  rw=$(ratio "${1% *}" "${2% *}"); rc=$(ratio "${1#* }" "${2#* }")
  printf '  = %sx / %sx %s (goal >= %sx: wall %s, cpu %s)\n' "$rw" "$rc" "$4" "$3" "$(verdict "$rw" "$3")" "$(verdict "$rc" "$3")"
}

for kind in random text; do
  f=$TMP/$kind.bin
  echo
  echo "== $kind data ($SIZE_MB MiB)"
  b3=$(rep_b3 "$f")
  gear=$(rep_bc gear "$f")
  bl=$(rep_bc blake3 "$f")
  impl=$(grep '^blake3' "$TMP/log" | tail -n 1 | sed 's/.*impl \([a-z0-9]*\).*/\1/')
  st=$(rep_bc stream "$f")
  m1=$(rep_bc mem "$f" 1)
  m2=$(rep_bc mem "$f" 2)
  row "b3sum --num-threads 1 (baseline)" "$b3"; echo
  row "gear CDC alone, 1 thread" "$gear"; echo
  row "keyed BLAKE3 64 KiB, 1 thread ($impl)" "$bl"; echo
  row "chunk+hash 1 thread, read() 1 MiB (xetsum)" "$st"; vs "$st" "$b3" 0.5 "b3sum"
  row "chunk+hash 1 thread, in memory" "$m1"; vs "$m1" "$b3" 0.5 "b3sum"
  row "chunk+hash 2 threads, in memory" "$m2"
  printf '  = %sx 1 thread, wall (goal >= 1.6x: %s)\n' "$(ratio "${m2% *}" "${m1% *}")" "$(verdict "$(ratio "${m2% *}" "${m1% *}")" 1.6)"
  pk=$(rep_bc pack "$f")
  info=$(grep '^pack' "$TMP/log" | tail -n 1 | sed 's/^pack [0-9]* MB\/s cpu [0-9]* MB\/s  //')
  if [ -n "$pk" ] && [ "$pk" != " " ]; then
    row "xorb packing alone (LZ4, BG4+LZ4), 1 thread" "$pk"
    if [ "$kind" = text ]; then
      printf '  (goal >= 600 MB/s per thread: wall %s, cpu %s)\n' "$(verdict "${pk% *}" 600)" "$(verdict "${pk#* }" 600)"
    else
      echo "  (incompressible: stored raw)"
    fi
    echo "      $info"
  else
    echo "  xorb packing: not available (bk_xorb_builder failed; see above)"
  fi
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
