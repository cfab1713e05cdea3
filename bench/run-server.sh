#!/usr/bin/env bash
# Server benchmarks (figures, not assertions): batch of 1,000 addFile, tree
# listing entries/s, resolve GET of a large file vs cp of the same bytes.
#   bench/run-server.sh [BUILD_DIR]
# Env: BENCH_FILES (tree size, default 100000), BENCH_BIG_MB (resolve file, default 1024),
#      BENCH_THREADS (bucketd --threads, default 0 = thread per connection)
set -uo pipefail
cd "$(dirname "$0")/.."
export BUILD=${1:-build}
. tests/integration/lib.sh
NF=${BENCH_FILES:-100000}
BIG=${BENCH_BIG_MB:-1024}
XET="$BK_HELPERS/srv_xet"
BENCH="$BUCKETS_ROOT/$BUILD/bench/bench_server"
for x in "$XET" "$BENCH"; do [ -x "$x" ] || { echo "run-server: $x not built" >&2; exit 1; }; done
bk_start --quiet --threads "${BENCH_THREADS:-0}"
TOK=$(bk_user_token bench write 2>/dev/null)
curl -sf -X POST -H "Authorization: Bearer $TOK" "$BK_URL/api/buckets/bench/tree" -d '{}' >/dev/null
curl -sf -X POST -H "Authorization: Bearer $TOK" "$BK_URL/api/buckets/bench/big" -d '{}' >/dev/null
echo "== bucketd $BK_URL ($(nproc) cores), $NF files for batch/tree, ${BIG} MiB for resolve"
t0=$(date +%s%N)
"$XET" seed --data "$BK_DATA" --bucket bench/tree --files "$NF" --size 64 --prefix d/f >"$BK_TMP/tree.nd" 2>"$BK_TMP/seed.err" || { cat "$BK_TMP/seed.err"; exit 1; }
echo "seeded $NF small files into the CAS in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
"$BENCH" --url "$BK_URL" --token "$TOK" --bucket bench/tree --ndjson "$BK_TMP/tree.nd" --batch 1000

# resolve: upload one large file through the CAS, then GET it
"$XET" upload --url "$BK_URL" --token "$TOK" --bucket bench/big --files 1 --size $((BIG << 20)) \
  --prefix big --out "$BK_TMP/big" >"$BK_TMP/big.nd" 2>"$BK_TMP/up.err" || { cat "$BK_TMP/up.err"; exit 1; }
curl -sf -X POST -H "Authorization: Bearer $TOK" "$BK_URL/api/buckets/bench/big/batch" --data-binary @"$BK_TMP/big.nd" >/dev/null
SRC="$BK_TMP/big/0"
cat "$SRC" >/dev/null # warm the page cache for both sides
curl -s -o /dev/null "$BK_URL/buckets/bench/big/resolve/big000000" # warm the xorbs
ms() { local t0=$(date +%s%N); "$@"; echo $(( ($(date +%s%N) - t0) / 1000000 )); }
best_get=999999; best_cp=999999; best_null=999999
for i in 1 2 3; do
  t=$(ms curl -s -o "$BK_TMP/got" "$BK_URL/buckets/bench/big/resolve/big000000"); [ "$t" -lt "$best_get" ] && best_get=$t
  t=$(ms cp "$SRC" "$BK_TMP/copy"); rm -f "$BK_TMP/copy"; [ "$t" -lt "$best_cp" ] && best_cp=$t
  t=$(ms curl -s -o /dev/null "$BK_URL/buckets/bench/big/resolve/big000000"); [ "$t" -lt "$best_null" ] && best_null=$t
done
cmp -s "$BK_TMP/got" "$SRC" && ok=identical || ok=DIFFERENT
rate() { echo $(( BIG * 1000 / ($1 > 0 ? $1 : 1) )); }
echo "resolve GET ${BIG} MiB -> file:       ${best_get} ms  ($(rate $best_get) MiB/s, bytes $ok)"
echo "resolve GET ${BIG} MiB -> /dev/null:  ${best_null} ms  ($(rate $best_null) MiB/s)"
echo "baseline cp of the same bytes:       ${best_cp} ms  ($(rate $best_cp) MiB/s)"
bk_stop >/dev/null
rm -rf "$BK_TMP"
