#!/usr/bin/env bash
# bench/run-cluster.sh BUILD — the scale-out goals on PostgreSQL + S3 (Ceph RGW), each figure printed beside
# its baseline measured in the same run, over CLUSTER_ROUNDS (default 3) alternating rounds: median [range].
# Starts its own throwaway PostgreSQL (tests/tools/pg-up) and RGW on bluestore (tests/tools/s3-up,
# STORE=bluestore, a sparse BLUESTORE_BYTES file: 48 GiB by default — every round stores ~7 GiB) and stops them.
#   1. `hf cp` upload of a fresh random 1 GiB file / download to a fresh dir through ONE bucketd on pg+s3
#      vs `curl --aws-sigv4` PUT / GET of the same bytes to the same RGW           (goal >= 0.7x)
#   2. bucketd CPU (utime+stime, /proc/PID/stat) per GiB downloaded with --direct-downloads vs proxied
#                                                                                  (goal <= 5%)
#   3. two `hf cp` uploads of different fresh 1 GiB files at once, one per node, vs the same through one
#      node: aggregate MB/s; ceiling: two parallel curl PUT streams to the RGW     (goal >= 1.5x one node)
#   4. 1,000-op addFile batches (POST .../batch, 100 of them → 100,000 files sharing one content) and the
#      recursive tree listing of the 100,000 entries (all pages) on pg+s3 vs --data (sqlite+file)
#                                                                                  (goal: pg within 3x)
# Figures only, no timed assertion. Env: CLUSTER_ROUNDS, CLUSTER_MIB (1024), CLUSTER_SKIP (e.g. "3 4"),
# CLUSTER_BLOBS_EXTRA (appended to the nodes' s3:// URL, e.g. "&part_size=67108864": a xorb in one PUT).
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
ROUNDS=${CLUSTER_ROUNDS:-3}
MIB=${CLUSTER_MIB:-1024}
BYTES=$((MIB << 20))
SKIP=" ${CLUSTER_SKIP:-} "
HF=$BUILD/bin/hf
XET=$PWD/$BUILD/tests/integration/srv_xet
BSRV=$PWD/$BUILD/bench/bench_server
for x in "$HF" "$XET" "$BSRV" "$BUILD/bin/bucketd"; do [ -x "$x" ] || { echo "run-cluster: $x not built" >&2; exit 1; }; done
HF=$PWD/$HF
PGD="" S3D=""
W=$(mktemp -d /tmp/bk-cluster.XXXXXX)
cleanup() {
  bk_cleanup >/dev/null 2>&1
  [ -n "$S3D" ] && tests/tools/s3-down "$S3D" >/dev/null 2>&1
  [ -n "$PGD" ] && tests/tools/pg-down "$PGD" >/dev/null 2>&1
  rm -rf "$W"
}
eval "$(tests/tools/pg-up 2>"$W/pg-up.log")" || { tail -n 20 "$W/pg-up.log" >&2; rm -rf "$W"; exit 1; }
PGD=$PG_DIR
eval "$(STORE=bluestore BLUESTORE_BYTES=${BLUESTORE_BYTES:-51539607552} tests/tools/s3-up 2>"$W/s3-up.log")" ||
  { tail -n 20 "$W/s3-up.log" >&2; tests/tools/pg-down "$PGD" >/dev/null 2>&1; rm -rf "$W"; exit 1; }
S3D=$S3_DIR
. tests/integration/lib.sh
trap cleanup EXIT
export BK_TEST_DB_URL=$BUCKETS_PG_URL BK_TEST_BLOBS_URL=$BUCKETS_S3_URL${CLUSTER_BLOBS_EXTRA:-}
SIG=(--aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
CURLB="$S3_ENDPOINT/$S3_BUCKET/bench-curl"
TCK=$(getconf CLK_TCK)

now() { date +%s.%N; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }           # ticks of user + system time
node_pid() { local e; for e in ${BK_NODE_PIDS:-}; do [ "${e%%=*}" = "$1" ] && echo "${e#*=}"; done; }
rnd() { head -c "$BYTES" /dev/urandom >"$1"; }
rec() { echo "$2" >>"$W/fig.$1"; }                          # figure NAME VALUE
el() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b - a}'; }
mbps() { awk -v n="$1" -v t="$2" 'BEGIN{printf "%.1f", n / t / 1e6}'; }
stat3() { sort -g "$W/fig.$1" | awk -v p="${2:-1}" '{v[NR]=$1} END{m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
  printf "%9." p "f [%." p "f..%." p "f]", m, v[1], v[NR]}'; }
med() { sort -g "$W/fig.$1" | awk '{v[NR]=$1} END{print NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN{printf "%.3fx", (b > 0 ? a / b : 0)}'; }
hfup() { # NODE_URL FILE DEST
  HF_ENDPOINT=$1 HF_HOME=$W/hf-$RANDOM "$HF" cp "$2" "hf://buckets/bench/c/$3" >/dev/null 2>>"$W/hf.err"; }
hfdown() { # NODE_URL SRC DIR
  mkdir -p "$3" && HF_ENDPOINT=$1 HF_HOME=$W/hf-$RANDOM "$HF" cp "hf://buckets/bench/c/$2" "$3/" >/dev/null 2>>"$W/hf.err"; }
cput() { curl -fsS "${SIG[@]}" -T "$1" "$CURLB/$2" -o /dev/null; }
cdel() { curl -fsS "${SIG[@]}" -X DELETE "$CURLB/$1" -o /dev/null; }

bk_start --quiet >/dev/null || exit 1
N1=$BK_URL P1=$BK_PID
bk_node_start n2 >/dev/null || exit 1
N2=$BK_NODE_URL P2=$(node_pid n2)
bk_node_start nd --direct-downloads >/dev/null || exit 1
ND=$BK_NODE_URL PD=$(node_pid nd)
export HF_TOKEN; HF_TOKEN=$(bk_user_token bench write 2>/dev/null)
HF_ENDPOINT=$N1 HF_HOME=$W/hf0 "$HF" buckets create bench/c >/dev/null || { echo "bucket create failed"; exit 1; }
echo "== cluster bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ${MIB} MiB files; $ROUNDS rounds;"
echo "   blobs URL options: ${CLUSTER_BLOBS_EXTRA:-(defaults)}"
echo "   PostgreSQL $(psql -XAtc 'show server_version' "$BUCKETS_PG_URL" 2>/dev/null) + Ceph RGW $(radosgw --version 2>/dev/null | awk '{print $3}') bluestore, all on 127.0.0.1"

round() { # R
  local r=$1 t0 t1 c0 c1 k j
  if [[ $SKIP != *" 1 "* || $SKIP != *" 2 "* ]]; then
    rnd "$W/a"
    for k in 0 1; do # alternate which side goes first
      if [ $(((r + k) % 2)) = 0 ]; then
        t0=$(now); cput "$W/a" "a$r" || echo "curl PUT failed"; t1=$(now); rec curl_put "$(mbps $BYTES "$(el "$t0" "$t1")")"
        t0=$(now); curl -fsS "${SIG[@]}" "$CURLB/a$r" -o "$W/a.curl" || echo "curl GET failed"; t1=$(now)
        rec curl_get "$(mbps $BYTES "$(el "$t0" "$t1")")"; rm -f "$W/a.curl"; cdel "a$r"
      else
        c0=$(cpu "$P1"); t0=$(now); hfup "$N1" "$W/a" "a$r.bin" || echo "hf upload failed"; t1=$(now); c1=$(cpu "$P1")
        rec hf_put "$(mbps $BYTES "$(el "$t0" "$t1")")"; rec cpu_put "$(awk -v c=$((c1 - c0)) -v t="$TCK" -v m="$MIB" 'BEGIN{print c / t / m * 1024}')"
        c0=$(cpu "$P1"); t0=$(now); hfdown "$N1" "a$r.bin" "$W/d1" || echo "hf download failed"; t1=$(now); c1=$(cpu "$P1")
        rec hf_get "$(mbps $BYTES "$(el "$t0" "$t1")")"; rec cpu_proxy "$(awk -v c=$((c1 - c0)) -v t="$TCK" -v m="$MIB" 'BEGIN{print c / t / m * 1024}')"
        cmp -s "$W/a" "$W/d1/a$r.bin" || echo "DOWNLOAD MISMATCH (proxied)"; rm -rf "$W/d1"
        c0=$(cpu "$PD"); t0=$(now); hfdown "$ND" "a$r.bin" "$W/d2" || echo "hf direct download failed"; t1=$(now); c1=$(cpu "$PD")
        rec hf_get_direct "$(mbps $BYTES "$(el "$t0" "$t1")")"; rec cpu_direct "$(awk -v c=$((c1 - c0)) -v t="$TCK" -v m="$MIB" 'BEGIN{print c / t / m * 1024}')"
        cmp -s "$W/a" "$W/d2/a$r.bin" || echo "DOWNLOAD MISMATCH (direct)"; rm -rf "$W/d2"
      fi
    done
  fi
  [[ $SKIP == *" 3 "* ]] && return 0
  for k in 0 1 2; do # one node, two nodes, the RGW ceiling; the order rotates with the round
    rnd "$W/b"; rnd "$W/c" # fresh bytes each time: nothing deduplicates against an earlier upload
    case $(((r + k) % 3)) in
    0) t0=$(now); hfup "$N1" "$W/b" "b$r-1n.bin" & j=$!; hfup "$N1" "$W/c" "c$r-1n.bin"; wait $j; t1=$(now)
       rec one_node "$(mbps $((2 * BYTES)) "$(el "$t0" "$t1")")" ;;
    1) t0=$(now); hfup "$N1" "$W/b" "b$r-2n.bin" & j=$!; hfup "$N2" "$W/c" "c$r-2n.bin"; wait $j; t1=$(now)
       rec two_nodes "$(mbps $((2 * BYTES)) "$(el "$t0" "$t1")")" ;;
    2) t0=$(now); cput "$W/b" "b$r" & j=$!; cput "$W/c" "c$r"; wait $j; t1=$(now)
       rec curl_two "$(mbps $((2 * BYTES)) "$(el "$t0" "$t1")")"; cdel "b$r"; cdel "c$r" ;;
    esac
  done
}

for r in $(seq 1 "$ROUNDS"); do
  round "$r"
  echo "   round $r done (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
[ -s "$W/hf.err" ] && { echo "hf errors:"; tail -n 5 "$W/hf.err"; }
line() { printf '%-52s %s   | %-18s %s  => %s\n' "$1" "$2" "$3" "$4" "$5"; }
if [ -s "$W/fig.hf_put" ]; then
  echo "-- 1. one node, ${MIB} MiB, MB/s median [range] (goal >= 0.7x curl)"
  line "hf cp upload (fresh random file)" "$(stat3 hf_put)" "curl PUT" "$(stat3 curl_put)" "$(ratio hf_put curl_put)"
  line "hf cp download (fresh dir, proxied)" "$(stat3 hf_get)" "curl GET" "$(stat3 curl_get)" "$(ratio hf_get curl_get)"
  line "hf cp download, --direct-downloads node" "$(stat3 hf_get_direct)" "curl GET" "$(stat3 curl_get)" "$(ratio hf_get_direct curl_get)"
  echo "-- 2. bucketd CPU seconds per GiB, median [range] (goal direct <= 5% of proxied)"
  line "download with --direct-downloads" "$(stat3 cpu_direct 3)" "proxied download" "$(stat3 cpu_proxy 3)" "$(ratio cpu_direct cpu_proxy)"
  line "(upload, for reference)" "$(stat3 cpu_put 3)" "" "" ""
fi
if [ -s "$W/fig.one_node" ]; then
  echo "-- 3. two uploads of ${MIB} MiB at once, aggregate MB/s median [range] (goal >= 1.5x one node)"
  line "two nodes (one upload each)" "$(stat3 two_nodes)" "one node (both)" "$(stat3 one_node)" "$(ratio two_nodes one_node)"
  line "ceiling: two parallel curl PUTs to RGW" "$(stat3 curl_two)" "one node (both)" "$(stat3 one_node)" "$(ratio curl_two one_node)"
fi
bk_stop >/dev/null; bk_node_stop n2 >/dev/null; bk_node_stop nd >/dev/null

[[ $SKIP == *" 4 "* ]] && exit 0
# 4. metadata through the Hub API: one content, 100,000 paths; sqlite+file (--data) vs pg+s3, alternating.
meta() { # LABEL  (BK_TEST_* decide the store)
  BK_DATA=$W/m-$RANDOM; export BK_DATA
  bk_start --quiet >/dev/null || return 1
  local tok; tok=$(bk_user_token bench write 2>/dev/null)
  curl -sf -X POST -H "Authorization: Bearer $tok" "$BK_URL/api/buckets/bench/tree" -d '{}' >/dev/null
  "$XET" upload --url "$BK_URL" --token "$tok" --bucket bench/tree --files 1 --size 64 >"$W/one.nd" 2>/dev/null ||
    { echo "srv_xet upload failed"; return 1; }
  /usr/bin/python3 - "$W/one.nd" >"$W/tree.nd" <<'EOF'
import json, sys
one = json.loads(open(sys.argv[1]).readline())
for i in range(100000):
    print(json.dumps({"type": "addFile", "path": "dir%02d/sub%02d/file-%06d.bin" % (i // 1000 % 50, i % 20, i),
                      "xetHash": one["xetHash"], "size": one["size"]}))
EOF
  echo "   $1 (load $(cut -d' ' -f1-3 /proc/loadavg)):"
  "$BSRV" --url "$BK_URL" --token "$tok" --bucket bench/tree --ndjson "$W/tree.nd" --batch 1000 | sed 's/^/     /'
  bk_stop >/dev/null
}
echo "-- 4. Hub API on pg+s3 vs --data (sqlite+file): 100 batches of 1,000 addFile, then the 100,000-entry listing"
for r in $(seq 1 "$(( ROUNDS < 2 ? ROUNDS : 2 ))"); do
  ( unset BK_TEST_DB_URL BK_TEST_BLOBS_URL; meta "round $r: --data (sqlite+file)" )
  meta "round $r: pg+s3"
done
echo "== done"
