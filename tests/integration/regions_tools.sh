#!/usr/bin/env bash
# tests/integration/regions_tools.sh — self-test of the two-region test environment (tests/tools/regions-*):
# regions-up starts two independent RGWs (eu, us) on 127.0.0.1; a PUT/GET round trip on each with its own
# SigV4 region; the s3:// URLs it exports name each node; regions-reqs counts each node's requests exactly;
# regions-stop eu makes eu refuse connections while us keeps working; regions-start eu brings the same data
# back within seconds; regions-down leaves no process and no dir. Starts its own nodes (not tests/run.sh's).
. "$(dirname "$0")/lib.sh"
T=$BUCKETS_ROOT/tests/tools
W=$BK_TMP/w; mkdir -p "$W"
env_out=$(env -u REGIONS_DIR -u D REGIONS="eu us" "$T/regions-up" 2>"$W/up.log") || {
  cat "$W/up.log"; bk_fail "regions-up starts eu and us"; bk_summary; }
eval "$env_out"
RD=$REGIONS_DIR
bk_cleanup_regions() { [ -d "$RD" ] && "$T/regions-down" "$RD" >/dev/null 2>&1; bk_cleanup; }
trap bk_cleanup_regions EXIT
bk_ok "regions-up: $(tail -n 1 "$W/up.log" | sed 's/^regions-up: //; s/; stop.*//')"
bk_expect "REGIONS exported" "eu us" "$REGIONS"
for r in EU US; do
  ep=S3_ENDPOINT_$r; u=BUCKETS_S3_URL_$r; b=S3_BUCKET_$r; g=S3_REGION_$r
  case "${!ep}" in http://127.0.0.1:*) bk_ok "S3_ENDPOINT_$r on 127.0.0.1" ;; *) bk_fail "S3_ENDPOINT_$r on 127.0.0.1" "${!ep}" ;; esac
  bk_expect "BUCKETS_S3_URL_$r names its bucket, endpoint and region" \
    "s3://${!b}?endpoint=${!ep}&region=${!g}" "${!u}"
done
[ "$S3_ENDPOINT_EU" != "$S3_ENDPOINT_US" ] && bk_ok "two distinct endpoints" || bk_fail "two distinct endpoints"
s3c() { # REGION(lower) curl-args...: SigV4 request to that region's node (secret on stdin, never argv)
  local r=$1 R; R=$(echo "$1" | tr a-z A-Z); shift
  local ep=S3_ENDPOINT_$R b=S3_BUCKET_$R
  printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
    curl -sS -f -m 10 -K - --aws-sigv4 "aws:amz:$r:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" \
      "${!ep}/${!b}/${S3KEY:-}"
}
head -c 3000000 /dev/urandom >"$W/eu.bin"; head -c 2000000 /dev/urandom >"$W/us.bin"
mEU=$("$T/regions-reqs" eu --mark); mUS=$("$T/regions-reqs" us --mark)
S3KEY=obj s3c eu -T "$W/eu.bin" -o /dev/null; bk_expect "PUT on eu" 0 $?
S3KEY=obj s3c us -T "$W/us.bin" -o /dev/null; bk_expect "PUT on us" 0 $?
S3KEY=obj s3c eu -o "$W/eu.got"; cmp -s "$W/eu.bin" "$W/eu.got"; bk_expect "GET on eu returns eu's bytes" 0 $?
S3KEY=obj s3c us -o "$W/us.got"; cmp -s "$W/us.bin" "$W/us.got"; bk_expect "GET on us returns us's bytes (independent stores)" 0 $?
S3KEY=obj s3c us -r 0-9 -o "$W/us.r"; bk_expect "ranged GET on us" "$(head -c 10 "$W/us.bin" | od -An -tx1)" "$(od -An -tx1 <"$W/us.r")"
S3KEY=nope s3c us -o /dev/null 2>/dev/null; bk_expect "an absent key on us: 404 (curl 22)" 22 $?
bk_expect "eu served exactly PUT + GET since the mark" "PUT /buckets-eu/obj 200|GET /buckets-eu/obj 200" \
  "$("$T/regions-reqs" eu "$mEU" | awk '{print $1, $2, $3}' | paste -sd'|')"
bk_expect "us served PUT, GET, ranged GET, 404 since the mark" "PUT 200|GET 200|GET 206|GET 404" \
  "$("$T/regions-reqs" us "$mUS" | awk '{print $1, $3}' | paste -sd'|')"
# stop eu: connection refused at once; us unaffected; counting still works on the stopped node
"$T/regions-stop" eu 2>"$W/stop.log"; bk_expect "regions-stop eu" 0 $?
t0=$(date +%s%N); S3KEY=obj s3c eu -o /dev/null 2>"$W/eu.err"; rc=$?
bk_expect "eu refuses connections while stopped (curl exit 7)" 7 "$rc"
bk_check "... at once (< 2 s)" test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000
bk_check "no radosgw of eu is running" bash -c "! pgrep -f '^radosgw -c $RD/eu/ceph.conf' >/dev/null"
S3KEY=obj s3c us -o "$W/us.got2"; cmp -s "$W/us.bin" "$W/us.got2"; bk_expect "us still serves while eu is stopped" 0 $?
"$T/regions-stop" eu 2>/dev/null; bk_expect "regions-stop twice is harmless" 0 $?
t0=$(date +%s%N)
"$T/regions-start" eu 2>"$W/start.log"; bk_expect "regions-start eu" 0 $?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
bk_check "eu answers again within 15 s (took $ms ms)" test "$ms" -lt 15000
S3KEY=obj s3c eu -o "$W/eu.got3"; cmp -s "$W/eu.bin" "$W/eu.got3"; bk_expect "eu serves the same bytes after the restart" 0 $?
m2=$("$T/regions-reqs" eu --mark)
S3KEY=obj s3c eu -I -o /dev/null; "$T/regions-stop" eu 2>/dev/null
bk_expect "the restarted eu's requests are counted, up to its stop" "HEAD /buckets-eu/obj 200" \
  "$("$T/regions-reqs" eu "$m2" | awk '{print $1, $2, $3}' | grep -v '^GET / ')"
"$T/regions-start" eu 2>/dev/null; bk_expect "a second stop/start cycle" 0 $?
"$T/regions-start" eu 2>/dev/null; bk_expect "regions-start on a running region is harmless" 0 $?
# down leaves nothing
"$T/regions-down" "$RD" 2>/dev/null; bk_expect "regions-down" 0 $?
bk_check "regions-down removed the dir" test ! -e "$RD"
left=$(grep -laF -- "$RD/" /proc/[0-9]*/cmdline 2>/dev/null | while read -r c; do
  p=${c#/proc/}; p=${p%/cmdline}; s=$(cat "/proc/$p/stat" 2>/dev/null) || continue; s=${s##*) }
  [ "${s%% *}" = Z ] || echo "$p"; done)
bk_expect "no process of the regions is left" "" "$left"
for e in "$S3_ENDPOINT_EU" "$S3_ENDPOINT_US"; do
  curl -s -m 2 -o /dev/null "$e/"; bk_expect "$e refuses after regions-down" 7 $?
done
env -u REGIONS_DIR -u D "$T/regions-down" "$BK_TMP" >/dev/null 2>&1; bk_expect "regions-down refuses a dir it did not make" 2 $?
bk_summary
