#!/usr/bin/env bash
# CAS benchmark (owned by server-cas): starts a bucketd on 127.0.0.1 with a
# temp data dir, runs bench_cas (xorb ingest with full verification; upload,
# reconstruction + signed range fetch of a 1 GiB file) and measures `cp` of
# the same bytes on the same filesystem in the same run as the baseline.
#   bench/run-cas.sh [BUILD_DIR]
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
. tests/integration/lib.sh
BENCH="$BUILD/bench/bench_cas"
[ -x "$BENCH" ] || { echo "run-cas: $BENCH not built" >&2; exit 1; }

bk_start --quiet
TOK=$(bk_user_token bench write)
bk_req POST /api/buckets/bench/cas "$TOK" -H 'Content-Type: application/json' --data-binary '{}'
[ "$BK_STATUS" = 200 ] || { echo "run-cas: cannot create bucket ($BK_STATUS)" >&2; exit 1; }
bk_req GET /api/buckets/bench/cas/xet-write-token "$TOK"; WT=$(bk_json 'j["accessToken"]')
bk_req GET /api/buckets/bench/cas/xet-read-token "$TOK"; RT=$(bk_json 'j["accessToken"]')
OUT=$BK_TMP/out
mkdir -p "$OUT"

echo "== bench_cas (bucketd pid $BK_PID, data $BK_DATA; $(nproc) cores)"
"$BENCH" "$BK_URL" "$WT" "$RT" "$OUT"
rc=$?

secs() { # command... -> wall seconds
  local t0 t1
  t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
mbps() { echo "$1 / $2 / 1000000" | bc -l | xargs printf '%.0f'; }

XB=$(du -sb "$OUT/xorbs" | cut -f1)
sync
T=$(secs cp -r "$OUT/xorbs" "$OUT/cp1")
echo "baseline cp_xorbs $((XB / 1048576)) MiB in $(printf '%.3f' "$T") s = $(mbps "$XB" "$T") MB/s (page cache, no fsync)"
T=$(secs sh -c "cp -r '$OUT/xorbs' '$OUT/cp2' && sync -f '$OUT/cp2'/*")
echo "baseline cp_xorbs+fsync $((XB / 1048576)) MiB in $(printf '%.3f' "$T") s = $(mbps "$XB" "$T") MB/s"
FB=$(stat -c %s "$OUT/file.bin")
cat "$OUT/file.bin" >/dev/null
T=$(secs cp "$OUT/file.bin" "$OUT/file.cp")
echo "baseline cp_1GiB $((FB / 1048576)) MiB in $(printf '%.3f' "$T") s = $(mbps "$FB" "$T") MB/s (page cache, no fsync)"
rm -rf "$OUT"
exit $rc
