#!/usr/bin/env bash
# Slow clients vs whoami latency (figures, not assertions): GET /api/whoami-v2
# p50/p99 over BENCH_REQUESTS requests (each on a new connection from
# 127.0.0.1, authenticated), first with no slow connections (the baseline),
# then while BENCH_SLOW connections from 10 other loopback addresses
# (127.0.1.1-10) trickle one byte every 2 s — headers never finished, then
# bodies of a 60,000-byte POST — all in the same run against one bucketd with
# its default options (plus BENCH_SERVE_ARGS).
#   bench/run-slowloris.sh [BUILD_DIR]
# Env: BENCH_SLOW (default 300), BENCH_REQUESTS (default 200),
#      BENCH_SERVE_ARGS (extra `bucketd serve` options, e.g. "--threads 4")
set -uo pipefail
cd "$(dirname "$0")/.."
export BUILD=${1:-build}
. tests/integration/lib.sh
SLOW=${BENCH_SLOW:-300}
REQ=${BENCH_REQUESTS:-200}
# shellcheck disable=SC2086
bk_start --quiet ${BENCH_SERVE_ARGS:-}
TOK=$(bk_user_token bench read 2>/dev/null)
echo "== bucketd $BK_URL ($(nproc) cores) ${BENCH_SERVE_ARGS:-defaults}: whoami, $REQ requests, new connection each"
D=(bench/slowloris.py --port "$BK_PORT" --token "$TOK" --requests "$REQ" --timeout 30)
"$BK_PY" "${D[@]}" --mode none
"$BK_PY" "${D[@]}" --mode headers --conns "$SLOW" --addrs 10 --interval 2 --settle 4 --reconnect
"$BK_PY" "${D[@]}" --mode body --conns "$SLOW" --addrs 10 --interval 2 --settle 4 --reconnect
"$BK_PY" "${D[@]}" --mode none
bk_stop >/dev/null
