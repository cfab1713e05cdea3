#!/usr/bin/env bash
# The metadata store on PostgreSQL vs SQLite in the same run: a 1,000-op
# addFile batch (100 of them, building a 100,000-file bucket) and the full
# recursive listing of those 100,000 entries in pages of 1,000. Starts a
# throwaway PostgreSQL (tests/tools/pg-up, 127.0.0.1, durable settings:
# fsync on, like SQLite's synchronous=FULL) and stops it at the end.
# Figures only (goal: PostgreSQL within 3x of SQLite); nothing asserts timings.
#   bench/run-meta.sh BUILD_DIR
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
BIN=$BUILD/bench/bench_meta
[ -x "$BIN" ] || { echo "run-meta: $BIN not built (make BUILD=$BUILD)" >&2; exit 1; }
TMP=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-meta.XXXXXX")
PG=""
trap '[ -n "$PG" ] && tests/tools/pg-down "$PG" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
env_lines=$(tests/tools/pg-up 2>"$TMP/pg-up.log") || { echo "run-meta: pg-up failed:" >&2; tail -n 20 "$TMP/pg-up.log" >&2; exit 1; }
eval "$env_lines"
PG=$PG_DIR
echo "bench-meta: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); SQLite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1) on $(df -T "$TMP" | awk 'NR==2{print $2}'), PostgreSQL $(psql -XAtc 'show server_version' 2>/dev/null) on 127.0.0.1 (TCP, scram)"
"$BIN" "sqlite://$TMP" "$BUCKETS_PG_URL"
