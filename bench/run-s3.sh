#!/usr/bin/env bash
# S3 backend benchmark: starts a throwaway Ceph RGW on bluestore (tests/tools/s3-up; BK_TEST_S3_URL skips
# that), puts and gets a SIZE_MIB stream (default 1024) through the backend (bench_s3: writer + reader),
# and the same amount by `curl --aws-sigv4` (one PUT of a file, one GET to /dev/null) as the baseline.
#   bench/run-s3.sh [BUILD_DIR]     env: S3_BENCH_MIB (1024), S3_BENCH_PART (part_size bytes, default 8 MiB)
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
MIB=${S3_BENCH_MIB:-1024}
B="$BUILD/bench/bench_s3"
[ -x "$B" ] || { echo "run-s3: $B not built" >&2; exit 1; }
TMP=$(mktemp -d /tmp/bk-s3bench.XXXXXX)
OWN=""   # only the RGW started here is stopped
trap '[ -n "$OWN" ] && tests/tools/s3-down "$OWN" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
if [ -z "${BK_TEST_S3_URL:-}" ]; then
  eval "$(STORE=bluestore tests/tools/s3-up)" || { echo "run-s3: s3-up failed" >&2; exit 1; }
  OWN=$S3_DIR
  BK_TEST_S3_URL=$BUCKETS_S3_URL
fi
ep=${BK_TEST_S3_URL#*endpoint=}; ep=${ep%%&*}
bk=${BK_TEST_S3_URL#s3://}; bk=${bk%%\?*}
rg=${S3_REGION:-us-east-1}
SIG=(--aws-sigv4 "aws:amz:$rg:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
head -c $((MIB << 20)) /dev/urandom > "$TMP/blob"
echo "== S3 bench: $MIB MiB to $ep bucket $bk ($(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg))"
for round in 1 2; do
  k="bench-curl-$$-$round"
  t0=$(date +%s.%N)
  curl -fsS "${SIG[@]}" -T "$TMP/blob" "$ep/$bk/$k" -o /dev/null || { echo "run-s3: curl PUT failed"; exit 1; }
  t1=$(date +%s.%N)
  curl -fsS "${SIG[@]}" "$ep/$bk/$k" -o /dev/null || { echo "run-s3: curl GET failed"; exit 1; }
  t2=$(date +%s.%N)
  curl -fsS "${SIG[@]}" -X DELETE "$ep/$bk/$k" -o /dev/null
  awk -v m="$MIB" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{mb=m*1048576/1e6;
    printf "curl put %d MiB: %.2f s = %.0f MB/s\ncurl get %d MiB: %.2f s = %.0f MB/s\n", m, b-a, mb/(b-a), m, c-b, mb/(c-b)}'
  "$B" "$BK_TEST_S3_URL&prefix=bench-$$/${S3_BENCH_PART:+&part_size=$S3_BENCH_PART}" "$MIB" || exit 1
done
