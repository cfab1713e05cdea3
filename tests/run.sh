#!/usr/bin/env bash
# Runs every test program and sums their "N passed, N failed" lines.
#   tests/run.sh BUILD_DIR [FILTER]
# Programs: unit binaries, fuzz-corpus replays, integration scripts
# (tests/integration/*.sh except lib.sh and *_lib.sh, run with BUILD set). Each must end its output with
# "N passed, N failed"; a program that exits non-zero without such a line
# counts as one failure.
set -uo pipefail
BUILD=${1:-build}
FILTER=${2:-}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD   # test data: $BUCKETS_ROOT/tests/data
total_p=0; total_f=0; failed_progs=()

selected() { [ -z "$FILTER" ] || [[ "$1" == *"$FILTER"* ]]; }
run_one() { # name, command...
  local name=$1; shift
  selected "$name" || return 0
  local out rc
  out=$("$@" 2>&1); rc=$?
  count_one "$name" "$rc" "$out"
}
count_one() { # name, exit status, output: prints the output, adds its "N passed, N failed" to the totals
  local name=$1 rc=$2 out=$3 line p f
  echo "=== $name"
  printf '%s\n' "$out" | tail -n 400
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -n "$line" ]; then
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
  else
    p=0; f=0
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_p=$((total_p + p)); total_f=$((total_f + f))
  [ "$f" -ne 0 ] && failed_progs+=("$name")
  return 0
}

# One exit trap stops what this run started (PostgreSQL, RGW) and removes its temp dirs.
cleanup_dirs=(); own_s3=""; own_regions=""
on_exit() {
  [ -n "$PG_STARTED" ] && tests/tools/pg-down "$PG_STARTED" >/dev/null 2>&1
  [ -n "$own_s3" ] && tests/tools/s3-down "$own_s3" >/dev/null 2>&1   # only the one started here
  [ -n "$own_regions" ] && tests/tools/regions-down "$own_regions" >/dev/null 2>&1
  [ ${#cleanup_dirs[@]} -gt 0 ] && rm -rf "${cleanup_dirs[@]}"
  rm -rf "$RUN_TMP"
  return 0
}
trap on_exit EXIT

# The metadata conformance suites run on SQLite AND on a throwaway PostgreSQL
# (tests/tools/pg-up, 127.0.0.1 only, fsync off; stopped at exit, also on
# failure). A PostgreSQL that cannot start is a failed check, never a skip.
RUN_TMP=$(mktemp -d /tmp/bk-run.XXXXXX)
PG_STARTED=""
# (a run inside a run, e.g. integration/fresh_clone.sh, must not inherit the outer server's PG* port)
if pg_env=$(env -u PGPORT -u PGHOST -u PGUSER -u PGPASSWORD -u PGDATABASE -u PG_DIR -u D \
              PG_FAST=1 tests/tools/pg-up 2>"$RUN_TMP/pg-up.log"); then
  eval "$pg_env"
  PG_STARTED=$PG_DIR
  mkdir -p "$RUN_TMP/sqlite"
  export BK_TEST_DB_URLS="sqlite://$RUN_TMP/sqlite $BUCKETS_PG_URL"
  echo "=== postgresql: up on ${BUCKETS_PG_URL%%:*}://…@127.0.0.1:$PGPORT (BK_TEST_DB_URLS: sqlite + postgresql)"
else
  echo "=== postgresql: FAILED to start (tests/tools/pg-up):"
  tail -n 20 "$RUN_TMP/pg-up.log"
  unset BK_TEST_DB_URLS
  total_f=$((total_f + 1)); failed_progs+=("postgresql(pg-up)")
fi

# S3 for the blob-store suites: unless BK_TEST_S3_URL names one, a throwaway Ceph RGW (tests/tools/s3-up)
# is started once when a selected program needs it and stopped at exit, also on failure; a failed
# start is a failed check. BK_TEST_BLOB_URLS (if unset): a file:// store and the S3 store under a
# prefix of this run (each program adds its own fresh prefix below it). docs/store.md "S3 backend".
# The second integration pass (below) is named "integration/X.sh [pg+s3]" and needs both servers.
PGS3=" [pg+s3]"
S3_PROGS="unit/store/test_blob_conformance unit/store/test_blob_s3 unit/service/test_svc_region unit/service/test_svc_s3 integration/cluster.sh integration/migrate_cluster.sh"
needs_s3() {
  local p
  for p in $S3_PROGS; do selected "$p" && return 0; done
  for p in tests/integration/*.sh; do
    case ${p##*/} in regions.sh|regions_tools.sh) continue ;; esac   # not in the second pass (below)
    selected "integration/${p##*/}$PGS3" && return 0
  done
  return 1
}
if [ -z "${BK_TEST_S3_URL:-}" ] && needs_s3; then
  s3_log=$(mktemp /tmp/bk-s3-up.XXXXXX)
  if s3_env=$(tests/tools/s3-up 2>"$s3_log"); then
    eval "$s3_env"
    own_s3=$S3_DIR
    export BK_TEST_S3_URL=$BUCKETS_S3_URL
    echo "(S3: Ceph RGW at $S3_ENDPOINT, $(tail -n 1 "$s3_log" | sed -n 's/.*READY in \([0-9]* ms\).*/started in \1/p'))"
  else
    echo "=== tools/s3-up"; tail -n 20 "$s3_log"; echo "0 passed, 1 failed"
    total_f=$((total_f + 1)); failed_progs+=("tools/s3-up")
  fi
  rm -f "$s3_log"
fi
if [ -n "${BK_TEST_S3_URL:-}" ] && [ -z "${BK_TEST_BLOB_URLS:-}" ]; then
  blob_tmp=$(mktemp -d /tmp/bk-blobs.XXXXXX); cleanup_dirs+=("$blob_tmp")
  export BK_TEST_BLOB_URLS="file://$blob_tmp/blobs $BK_TEST_S3_URL&prefix=run-$$-$(date +%s)/"
fi

# Two RGWs as two regions (tests/tools/regions-up: eu, us) for integration/regions.sh, started once when it
# is selected (unless REGIONS_DIR names running ones) and stopped at exit; REGIONS_DIR, S3_ENDPOINT_EU,
# BUCKETS_S3_URL_EU, ... _US are exported. A failed start is a failed check. docs/regions.md "Test environment".
if [ -z "${REGIONS_DIR:-}" ] && selected integration/regions.sh; then
  reg_log=$(mktemp /tmp/bk-regions-up.XXXXXX)
  if reg_env=$(env -u D tests/tools/regions-up 2>"$reg_log"); then
    eval "$reg_env"; own_regions=$REGIONS_DIR
    echo "(regions: $(tail -n 1 "$reg_log" | sed -n 's/.*READY in \([0-9]* ms\): regions \([a-z0-9 -]*\);.*/\2 started in \1/p'))"
  else
    echo "=== tools/regions-up"; tail -n 20 "$reg_log"; echo "0 passed, 1 failed"
    total_f=$((total_f + 1)); failed_progs+=("tools/regions-up")
  fi
  rm -f "$reg_log"
fi

for t in $(find "$BUILD/tests/unit" -type f -perm -u+x 2>/dev/null | sort); do
  run_one "unit/${t#$BUILD/tests/unit/}" "$t"
done
for t in $(find "$BUILD/tests/fuzz" -name 'replay_*' -type f 2>/dev/null | sort); do
  n=${t##*/replay_}
  run_one "fuzz-replay/$n" "$t" tests/fuzz/corpus/"$n"
done
for t in $(ls tests/integration/*.sh 2>/dev/null | sort); do
  case ${t##*/} in lib.sh|*_lib.sh) continue ;; esac   # sourced helpers, not tests
  run_one "integration/${t##*/}" bash "$t"
done

# The whole integration suite a second time on postgresql+s3: every bk_start serves a fresh PostgreSQL
# database and a fresh S3 prefix (lib.sh "Store URLs"). BK_TEST_JOBS scripts at a time (default 2; each
# uses its own ports, temp dirs, database and prefix); outputs are reported in order once all are done.
# Selected by a FILTER matching "[pg+s3]" (e.g. `tests/run.sh build pg+s3`, `... 'cli_basic.sh [pg+s3]'`).
# PostgreSQL or RGW not up while the pass is selected: one failure, never a silent skip.
pgs3_names=()
for t in $(ls tests/integration/*.sh 2>/dev/null | sort); do
  case ${t##*/} in lib.sh|*_lib.sh) continue ;; esac
  # cluster.sh, migrate_cluster.sh and regions.sh run on postgresql+s3 in the first pass already (their own
  # stores); regions_tools.sh tests the region tools themselves
  case ${t##*/} in cluster.sh|migrate_cluster.sh|regions.sh|regions_tools.sh) continue ;; esac
  selected "integration/${t##*/}$PGS3" && pgs3_names+=("${t##*/}")
done
if [ ${#pgs3_names[@]} -gt 0 ]; then
  if [ -z "$PG_STARTED" ] || [ -z "${BK_TEST_S3_URL:-}" ]; then
    echo "=== integration$PGS3: FAILED, needs the throwaway PostgreSQL and RGW (see above)"
    total_f=$((total_f + 1)); failed_progs+=("integration$PGS3")
  else
    pgs3_t0=$(date +%s); mkdir -p "$RUN_TMP/pgs3"
    for n in "${pgs3_names[@]}"; do
      while [ "$(jobs -rp | wc -l)" -ge "${BK_TEST_JOBS:-2}" ]; do wait -n; done
      ( BK_TEST_DB_URL=$BUCKETS_PG_URL BK_TEST_BLOBS_URL=$BK_TEST_S3_URL bash "tests/integration/$n" \
          >"$RUN_TMP/pgs3/$n.out" 2>&1; echo $? >"$RUN_TMP/pgs3/$n.rc" ) &
    done
    wait
    for n in "${pgs3_names[@]}"; do
      count_one "integration/$n$PGS3" "$(cat "$RUN_TMP/pgs3/$n.rc" 2>/dev/null || echo 1)" "$(cat "$RUN_TMP/pgs3/$n.out")"
    done
    echo "(integration$PGS3: ${#pgs3_names[@]} scripts in $(( $(date +%s) - pgs3_t0 )) s, ${BK_TEST_JOBS:-2} at a time)"
  fi
fi

echo
[ ${#failed_progs[@]} -gt 0 ] && echo "failing: ${failed_progs[*]}"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
