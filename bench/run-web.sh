#!/usr/bin/env bash
# Web page benchmark (owned by the web helper): a folder of 100,000 files,
# time to the first page of the folder page (/buckets/{ns}/{name}/tree/big),
# next to the JSON tree API first page (/api/buckets/{ns}/{name}/tree/big,
# non-recursive, same 100 entries) measured in the same run on the same data.
#   bench/run-web.sh [BUILD_DIR] [NFILES]
# Goal (issue 6): first page < 200 ms.
set -uo pipefail
BUILD=${1:-build}
N=${2:-100000}
REPS=${REPS:-20}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
export BUCKETD_WEB_DIR=$PWD/web
. tests/integration/lib.sh

bk_start --quiet
TOK=$(bk_user_token bench write)
bk_req POST /api/buckets/bench/web "$TOK" -H 'Content-Type: application/json' --data-binary '{}'
[ "$BK_STATUS" = 200 ] || { echo "run-web: cannot create bucket ($BK_STATUS)" >&2; exit 1; }

# N empty files (the empty file's Xet hash is all zeros, no upload needed),
# registered with batch addFile in requests of 10,000 lines.
"$BK_PY" - "$N" "$BK_TMP/batch" <<'PY'
import sys
n, base = int(sys.argv[1]), sys.argv[2]
z = "0" * 64
for part in range(0, n, 10000):
    with open(f"{base}.{part // 10000:04d}", "w") as f:
        for i in range(part, min(n, part + 10000)):
            f.write('{"type":"addFile","path":"big/file-%06d.bin","xetHash":"%s","mtime":1764198960000}\n' % (i, z))
PY
t0=$(date +%s.%N)
for f in "$BK_TMP"/batch.*; do
  bk_req POST /api/buckets/bench/web/batch "$TOK" -H 'Content-Type: application/x-ndjson' --data-binary @"$f"
  [ "$BK_STATUS" = 200 ] || { echo "run-web: batch failed ($BK_STATUS): $(head -c 300 "$BK_BODY")" >&2; exit 1; }
done
t1=$(date +%s.%N)
printf '== web bench: %d files in one folder (registered in %.1f s), %d reps, bucketd pid %s\n' \
  "$N" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$REPS" "$BK_PID"

times() { # label url auth-args... -> prints first (cold) and median of REPS
  local label=$1 url=$2; shift 2
  local first all=() t status
  for i in $(seq 0 "$REPS"); do
    read -r status t < <(curl -sS -o "$BK_TMP/page" -w '%{http_code} %{time_starttransfer}\n' "$@" "$BK_URL$url")
    [ "$status" = 200 ] || { echo "run-web: $url -> $status" >&2; exit 1; }
    if [ "$i" = 0 ]; then first=$t; else all+=("$t"); fi
  done
  local med
  med=$(printf '%s\n' "${all[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  printf '  %-44s first %7.1f ms   median %7.1f ms   (%s bytes)\n' "$label" \
    "$(awk -v x="$first" 'BEGIN{print x*1000}')" "$(awk -v x="$med" 'BEGIN{print x*1000}')" "$(stat -c %s "$BK_TMP/page")"
}

times "baseline: JSON tree API, first 100 entries" "/api/buckets/bench/web/tree/big?recursive=false&limit=100" -H "Authorization: Bearer $TOK"
times "web folder page, first page (100 rows)" "/buckets/bench/web/tree/big"
times "web folder page, signed in (bearer)" "/buckets/bench/web/tree/big" -H "Authorization: Bearer $TOK"
times "web bucket root (1 folder entry)" "/buckets/bench/web"
# a page deep in the folder through its cursor
curl -sS "$BK_URL/buckets/bench/web/tree/big" -o "$BK_TMP/p1"
NEXT=$(grep -o 'href="[^"]*cursor=[^"]*"' "$BK_TMP/p1" | head -n 1 | sed 's/^href="//; s/"$//; s/&amp;/\&/g')
[ -n "$NEXT" ] && times "web folder page, second page (cursor)" "$NEXT"
times "web filter q=zzz (no match: scans 20,000)" "/buckets/bench/web/tree/big?q=zzz"
times "web filter q=file-0000 (10 matches early)" "/buckets/bench/web/tree/big?q=file-0000"
# after a change the cached totals are stale: the next view recomputes them
printf '{"type":"addFile","path":"big/zz-new.bin","xetHash":"%s"}\n' "$(printf '0%.0s' $(seq 64))" >"$BK_TMP/one"
bk_req POST /api/buckets/bench/web/batch "$TOK" -H 'Content-Type: application/x-ndjson' --data-binary @"$BK_TMP/one"
REPS=1 times "web folder page right after a change" "/buckets/bench/web/tree/big"
echo "goal: first page < 200 ms"
