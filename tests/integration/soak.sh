#!/usr/bin/env bash
# tests/integration/soak.sh — a few cycles of the crash and bit-rot soaks (bench/soak-crash.sh,
# bench/soak-bitrot.sh; the full runs are benchmarks, docs/store.md "Crash safety and bit rot"), plus the
# gc-kill regression. Each part starts its own bucketd on 127.0.0.1 with a temp data dir (bench/soak.py).
#   gc-kill: `bucketd gc` killed -9 the moment it has blobs in the trash: fsck clean, a deduplicating
#            re-upload downloads (failed before the fix in src/server/admin.c gc)
#   shard-race: gc --grace 0s run (from a gdb breakpoint) between a shard's blob put and its registration:
#            the registered shard keeps its blob (failed before the fix in src/server/cas_ingest.c)
#   crash:   8 cycles of kill -9 during uploads/sync/rm/gc, ledger + byte-for-byte + fsck checks, and a
#            self-test: a corrupted ledger (changed file, lost file), a differing local copy and a flipped
#            xorb byte must each be reported — so the checker can fail
#   bitrot:  10 flips: detected, never a wrong byte served; self-test: the download check calls changed
#            bytes "wrong". Heal (re-upload, then the scheduled gc) is a check (SOAK_TEST_HEAL=report only counts it).
# Seeds are fixed (SOAK_SEED overrides) so a failure replays with the same operations.
set -u
: "${BUCKETS_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
cd "$BUCKETS_ROOT"
P=0; F=0
part() { # name, args...
  local name=$1 out line p f rc
  shift
  out=$(/usr/bin/python3 bench/soak.py "$@" --build "$BUILD" 2>&1); rc=$?
  printf '%s\n' "$out" | sed -E "s/^([0-9]+ passed, [0-9]+ failed)/  ($name) \1/"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -z "$line" ]; then p=0; f=1; else p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}; fi
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  P=$((P + p)); F=$((F + f))
}
part gc-kill gc-kill --attempts 2 --nfiles 15 --seed "${SOAK_SEED:-11}"
part shard-race shard-race --seed "${SOAK_SEED:-14}"
part crash crash --cycles 8 --kill-ms 300 --seed "${SOAK_SEED:-12}" --selftest
part bitrot bitrot --flips 10 --heal "${SOAK_TEST_HEAL:-require}" --seed "${SOAK_SEED:-13}" --selftest
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
