#!/usr/bin/env bash
# CAS benchmark (owned by server-cas): starts a bucketd on 127.0.0.1 with a
# temp data dir, runs bench_cas (xorb ingest with full verification; upload,
# reconstruction + signed range fetch of a 1 GiB file) and measures `cp` of
# the same bytes on the same filesystem in the same run as the baseline.
# A second pass puts the data dir on tmpfs (/dev/shm, where fsync is free)
# to separate the server's own cost from the disk's.
#   bench/run-cas.sh [BUILD_DIR]        CAS_BENCH_TMPFS=0 skips the tmpfs pass
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
. tests/integration/lib.sh
BENCH="$BUILD/bench/bench_cas"
[ -x "$BENCH" ] || { echo "run-cas: $BENCH not built" >&2; exit 1; }
SHM=""
trap 'bk_cleanup; [ -n "$SHM" ] && rm -rf "$SHM"' EXIT

secs() { # command... -> wall seconds
  local t0 t1
  t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
mbps() { echo "$1 / $2 / 1000000" | bc -l | xargs printf '%.0f'; }

run_pass() { # LABEL DATADIR
  BK_DATA=$2
  bk_start --quiet
  local tok wt rt out xb fb t rc
  tok=$(bk_user_token bench write 2>/dev/null)
  bk_req POST /api/buckets/bench/cas "$tok" -H 'Content-Type: application/json' --data-binary '{}'
  [ "$BK_STATUS" = 200 ] || { echo "run-cas: cannot create bucket ($BK_STATUS)" >&2; return 1; }
  bk_req GET /api/buckets/bench/cas/xet-write-token "$tok"; wt=$(bk_json 'j["accessToken"]')
  bk_req GET /api/buckets/bench/cas/xet-read-token "$tok"; rt=$(bk_json 'j["accessToken"]')
  out=$2/out
  mkdir -p "$out"
  echo "== $1: bench_cas (bucketd pid $BK_PID, data $2; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$BENCH" "$BK_URL" "$wt" "$rt" "$out"
  rc=$?
  xb=$(du -sb "$out/xorbs" | cut -f1)
  fb=$(stat -c %s "$out/file.bin")
  cat "$out/file.bin" "$out"/xorbs/* >/dev/null
  local i b1=0 b2=0 b3=0 v
  for i in 1 2 3; do # best of 3, like the figures
    sync
    t=$(secs cp -r "$out/xorbs" "$out/cp1.$i"); v=$(mbps "$xb" "$t"); [ "$v" -gt "$b1" ] && b1=$v
    t=$(secs sh -c "cp -r '$out/xorbs' '$out/cp2.$i' && sync -f '$out/cp2.$i'/*"); v=$(mbps "$xb" "$t"); [ "$v" -gt "$b2" ] && b2=$v
    t=$(secs cp "$out/file.bin" "$out/file.cp"); v=$(mbps "$fb" "$t"); [ "$v" -gt "$b3" ] && b3=$v
    rm -rf "$out/cp1.$i" "$out/cp2.$i" "$out/file.cp"
  done
  echo "baseline cp of the same xorb files ($((xb / 1048576)) MiB), no fsync: best of 3 = $b1 MB/s"
  echo "baseline cp of the same xorb files + fsync of each: best of 3 = $b2 MB/s"
  echo "baseline cp of the same 1 GiB file (warm page cache, no fsync): best of 3 = $b3 MB/s"
  rm -rf "$out"
  bk_stop
  return $rc
}

run_pass "disk" "$BK_TMP/data"
rc=$?
if [ "${CAS_BENCH_TMPFS:-1}" = 1 ] && [ -d /dev/shm ]; then
  SHM=$(mktemp -d /dev/shm/cas-bench.XXXXXX)
  run_pass "tmpfs" "$SHM/data" || rc=1
fi
exit $rc
