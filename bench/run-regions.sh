#!/usr/bin/env bash
# bench/run-regions.sh [BUILD] — the regions goals (docs/regions.md "Measured"), each figure beside a baseline
# measured in the same run, median [min..max] over REGIONS_ROUNDS rounds. Starts its own throwaway PostgreSQL
# (tests/tools/pg-up) and two RGWs as regions eu and us (tests/tools/regions-up, STORE=bluestore) and stops them.
#   0. baselines (no bucketd): `curl --aws-sigv4` GET-then-PUT copy eu -> us of REGIONS_MIB MiB in 64 MiB
#      objects (xorb-sized), one object at a time; curl GET rate of one object from each region
#   1. pre-warm throughput (`hf buckets prewarm` until info says warm) of a bucket homed in eu holding
#      REGIONS_MIB MiB, vs the curl GET-then-PUT copy of THE SAME xorbs (listed in eu) in the same round
#                                                                                    (goal >= 0.7x)
#      and `hf cp` download rate of its largest file from the warm region (HF_BUCKETS_REGION=us) vs from the
#      home region (no region)                                                       (goal: the same rate)
#   2. bytes copied pre-warming a checkpoint family (bench/gen_ckpt_family.py: 5 x 256 MiB safetensors,
#      10 % of the tensors rewritten per step), pre-warmed to us after each member, vs its unique bytes
#      (the bucket's storedSize and the xorbs in eu)                                 (goal <= 1.1x)
#   3. the same as 0 and 1 with eu 80 ms away: bench/delay_proxy.py in front of eu's RGW delays each
#      direction by REGIONS_RTT_MS/2 (4 MiB window per connection); eu's region URL points at the proxy
# Figures only, no timed assertion. Parts 1-3's bucketd figures need `bucketd region` (the regions feature):
# without it they print "not measured" and the reason. Env: REGIONS_ROUNDS (3), REGIONS_MIB (512),
# REGIONS_RTT_MS (80), REGIONS_STORE (bluestore), REGIONS_CKPT ("5 256": members, MiB each), REGIONS_SKIP
# (e.g. "2 3").
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
ROUNDS=${REGIONS_ROUNDS:-3}
MIB=${REGIONS_MIB:-512}
RTT=${REGIONS_RTT_MS:-80}
read -r CK_N CK_MIB <<<"${REGIONS_CKPT:-5 256}"
SKIP=" ${REGIONS_SKIP:-} "
HF=$PWD/$BUILD/bin/hf
for x in "$HF" "$BUILD/bin/bucketd"; do [ -x "$x" ] || { echo "run-regions: $x not built" >&2; exit 1; }; done
PGD="" RGD="" PXP=""
W=$(mktemp -d /tmp/bk-regbench.XXXXXX)
cleanup() {
  bk_cleanup >/dev/null 2>&1
  [ -n "$PXP" ] && kill "$PXP" 2>/dev/null
  [ -n "$RGD" ] && tests/tools/regions-down "$RGD" >/dev/null 2>&1
  [ -n "$PGD" ] && tests/tools/pg-down "$PGD" >/dev/null 2>&1
  rm -rf "$W"
}
eval "$(env -u D tests/tools/pg-up 2>"$W/pg-up.log")" || { tail -n 20 "$W/pg-up.log" >&2; rm -rf "$W"; exit 1; }
PGD=$PG_DIR
eval "$(env -u D STORE=${REGIONS_STORE:-bluestore} BLUESTORE_BYTES=${BLUESTORE_BYTES:-34359738368} tests/tools/regions-up 2>"$W/regions-up.log")" ||
  { tail -n 20 "$W/regions-up.log" >&2; tests/tools/pg-down "$PGD" >/dev/null 2>&1; rm -rf "$W"; exit 1; }
RGD=$REGIONS_DIR
. tests/integration/lib.sh
trap cleanup EXIT
unset BK_TEST_DB_URL BK_TEST_BLOBS_URL HF_BUCKETS_REGION

now() { date +%s.%N; }
rec() { echo "$2" >>"$W/fig.$1"; }                          # figure NAME VALUE
el() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b - a}'; }
mbps() { awk -v n="$1" -v t="$2" 'BEGIN{printf "%.1f", n / t / 1e6}'; }
has() { [ -s "$W/fig.$1" ]; }
stat3() { has "$1" || { printf '%9s' n/a; return; }
  sort -g "$W/fig.$1" | awk -v p="${2:-1}" '{v[NR]=$1} END{m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
  printf "%9." p "f [%." p "f..%." p "f]", m, v[1], v[NR]}'; }
med() { sort -g "$W/fig.$1" | awk '{v[NR]=$1} END{print NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { has "$1" && has "$2" || { echo n/a; return; }
  awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN{printf "%.3fx", (b > 0 ? a / b : 0)}'; }
say() { echo "run-regions: $*" >&2; }
# S3 on a region's RGW: s3 REGION ENDPOINT METHOD KEY [curl args] (the secret goes to curl on stdin)
s3() { local r=$1 ep=$2 m=$3 key=$4 R; R=$(echo "$r" | tr a-z A-Z); shift 4
  local b=S3_BUCKET_$R
  printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
    curl -sS -f -K - --aws-sigv4 "aws:amz:$r:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$m" "$@" "$ep/${!b}/$key"; }
# copy_objects SRC_EP KEYS_FILE DST_PREFIX: GET each key (eu) to a file, then PUT it (us); prints seconds
copy_objects() { local ep=$1 keys=$2 dst=$3 k t0; t0=$(now)
  while read -r k; do
    s3 eu "$ep" GET "$k" -o "$W/copy.tmp" || return 1
    s3 us "$S3_ENDPOINT_US" PUT "$dst/${k##*/}" -T "$W/copy.tmp" -o /dev/null || return 1
  done <"$keys"; rm -f "$W/copy.tmp"; el "$t0" "$(now)"; }
get_rate() { local r=$1 ep=$2 key=$3 n=$4 t0; t0=$(now); s3 "$r" "$ep" GET "$key" -o /dev/null || return 1; mbps "$n" "$(el "$t0" "$(now)")"; }

# a simulated far eu: the delay proxy in front of eu's RGW
EU_HP=${S3_ENDPOINT_EU#http://}
python3 bench/delay_proxy.py --listen 0 --to "$EU_HP" --delay-ms "$(awk -v r="$RTT" 'BEGIN{print r / 2}')" \
  --ready-file "$W/proxy.port" 2>"$W/proxy.log" & PXP=$!
for i in $(seq 1 100); do [ -s "$W/proxy.port" ] && break; sleep 0.05; done
EU_FAR=http://127.0.0.1:$(cat "$W/proxy.port")
rtt_ms() { curl -s -o /dev/null -w '%{time_starttransfer}\n' "$1/" | awk '{printf "%.1f", $1 * 1000}'; }
say "eu direct $S3_ENDPOINT_EU (first byte $(rtt_ms "$S3_ENDPOINT_EU") ms), eu far $EU_FAR (first byte $(rtt_ms "$EU_FAR") ms)"

# ---- 0. baselines without bucketd
NOBJ=$(( (MIB + 63) / 64 )); OBJ=$((64 << 20))
for i in $(seq 1 "$NOBJ"); do head -c "$OBJ" /dev/urandom >"$W/o.bin"; s3 eu "$S3_ENDPOINT_EU" PUT "bench-src/o$i" -T "$W/o.bin" -o /dev/null || exit 1; echo "bench-src/o$i"; done >"$W/src.keys"
s3 us "$S3_ENDPOINT_US" PUT bench-src/o1 -T "$W/o.bin" -o /dev/null || exit 1
rm -f "$W/o.bin"
for r in $(seq 1 "$ROUNDS"); do
  s=$(copy_objects "$S3_ENDPOINT_EU" "$W/src.keys" "bench-copy/near-$r") && rec copy_near "$(mbps $((NOBJ * OBJ)) "$s")"
  s=$(copy_objects "$EU_FAR" "$W/src.keys" "bench-copy/far-$r") && rec copy_far "$(mbps $((NOBJ * OBJ)) "$s")"
  v=$(get_rate us "$S3_ENDPOINT_US" bench-src/o1 "$OBJ") && rec get_us "$v"
  v=$(get_rate eu "$S3_ENDPOINT_EU" bench-src/o1 "$OBJ") && rec get_eu "$v"
  v=$(get_rate eu "$EU_FAR" bench-src/o1 "$OBJ") && rec get_eufar "$v"
  t0=$(now)   # 4 GETs at once over the far link: what parallel fetches hide
  pids=(); for i in 1 2 3 4; do s3 eu "$EU_FAR" GET "bench-src/o$(( (i - 1) % NOBJ + 1 ))" -o /dev/null & pids+=($!); done
  wait "${pids[@]}"; rec get_eufar4 "$(mbps $((4 * OBJ)) "$(el "$t0" "$(now)")")"
  for ep in near:$S3_ENDPOINT_EU far:$EU_FAR; do   # one small request (HEAD of an object): first byte, ms
    v=$(printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" | curl -sS -f -K - --aws-sigv4 "aws:amz:eu:s3" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -I -o /dev/null -w '%{time_starttransfer}' "${ep#*:}/$S3_BUCKET_EU/bench-src/o1") &&
      rec "head_${ep%%:*}" "$(awk -v t="$v" 'BEGIN{printf "%.1f", t * 1000}')"
  done
done

# ---- a deployment on a fresh database and fresh prefixes: deploy EU_ENDPOINT (sets BK_URL, A)
FEATURE=1
FEATURE_WHY=""
url_with_ep() { sed "s|endpoint=[^&]*|endpoint=$2|" <<<"$1"; }   # URL ENDPOINT
deploy() {
  bk_stop >/dev/null 2>&1
  local db eu us; db=$(bk_fresh_pg_db "$BUCKETS_PG_URL") || return 1
  eu=$(bk_fresh_s3_prefix "$(url_with_ep "$BUCKETS_S3_URL_EU" "$1")"); us=$(bk_fresh_s3_prefix "$BUCKETS_S3_URL_US")
  DEP_EU_PREFIX=$(sed -n 's/.*[?&]prefix=\([^&]*\).*/\1/p' <<<"$eu"); DEP_US_PREFIX=$(sed -n 's/.*[?&]prefix=\([^&]*\).*/\1/p' <<<"$us")
  if ! "$BK_BUCKETD" region add eu --blobs "$eu" --db "$db" >"$W/radd.out" 2>&1; then
    FEATURE=0; FEATURE_WHY=$(head -n 1 "$W/radd.out"); return 1; fi
  "$BK_BUCKETD" region add us --blobs "$us" --db "$db" >/dev/null 2>&1 || return 1
  export BK_FIXED_DB_URL=$db BK_FIXED_BLOBS_URL=$eu BK_DATA=$W/none
  DEP_DB=$db; DEP_EU=$eu
  BK_IN_TRAP=1 bk_start >/dev/null || return 1
  A=$(bk_user_token alice write 2>/dev/null) || return 1
}
hfn() { HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$W/hf-home "$HF" "$@"; }
region_state() { # BUCKET REGION: "state bytesPresent bytesNeeded" (GET /api/buckets)
  curl -s -H "Authorization: Bearer $A" "$BK_URL/api/buckets/alice/$1" | python3 -c 'import json, sys
j = json.load(sys.stdin); r = [x for x in j.get("regions", []) if x["name"] == sys.argv[1]]
print(*(r and [r[0]["state"], r[0]["bytesPresent"], r[0]["bytesNeeded"]] or ["none", 0, 0]))' "$2" 2>/dev/null; }
prewarm_wait() { # BUCKET: pre-warm to us, wait until warm (bounded 900 s); prints "seconds bytesNeeded"
  local t0 s i; t0=$(now)
  hfn buckets prewarm "alice/$1" --region us >/dev/null 2>&1 || return 1
  for i in $(seq 1 9000); do s=$(region_state "$1" us); case $s in warm\ *) break ;; esac; sleep 0.1; done
  case $s in warm\ *) echo "$(el "$t0" "$(now)") $(awk '{print $3}' <<<"$s")" ;; *) return 1 ;; esac
}
eu_xorbs_sized() { # the deployment's xorbs in eu: "KEY BYTES" (KEY in eu's bucket)
  BK_DATA=$W/st BK_FIXED_DB_URL=x bk_blob_list xorbs sizes | sed "s|^|$DEP_EU_PREFIX|"; }
store_of() { mkdir -p "$W/st"; printf 'BK_DB_URL=%q\nBK_BLOBS_URL=%q\n' "$DEP_DB" "$(url_with_ep "$1" "$S3_ENDPOINT_EU")" >"$W/st/.store-urls"; }
us_bytes() { mkdir -p "$W/stu"; printf 'BK_DB_URL=%q\nBK_BLOBS_URL=%q\n' "$DEP_DB" "$BUCKETS_S3_URL_US&prefix=$DEP_US_PREFIX" >"$W/stu/.store-urls"
  BK_DATA=$W/stu BK_FIXED_DB_URL=x bk_blob_list xorbs sizes | awk '{s += $2; n++} END {print s + 0, n + 0}'; }

# ---- 1 and 3: pre-warm throughput vs the curl copy of the same xorbs; downloads warm vs home
mkdir -p "$W/data"; NF=4
for i in $(seq 1 $NF); do head -c $(( (MIB << 20) / NF )) /dev/urandom >"$W/data/f$i.bin"; done
part_prewarm() { # LABEL EU_ENDPOINT
  local label=$1 ep=$2 r s t n
  for r in $(seq 1 "$ROUNDS"); do
    deploy "$ep" || { say "$label round $r: deployment failed${FEATURE_WHY:+: $FEATURE_WHY}"; return 1; }
    hfn buckets create alice/b --region eu >/dev/null 2>&1 && hfn buckets sync "$W/data" hf://buckets/alice/b >/dev/null 2>&1 ||
      { say "$label round $r: upload failed"; return 1; }
    store_of "$DEP_EU"; eu_xorbs_sized >"$W/b.sized"; cut -d' ' -f1 "$W/b.sized" >"$W/b.keys"
    n=$(awk '{s += $2} END {print s + 0}' "$W/b.sized")
    s=$(copy_objects "$ep" "$W/b.keys" "bench-copy/$label-b$r") || { say "curl copy failed"; return 1; }
    rec "pw_curl_$label" "$(mbps "$n" "$s")"
    out=$(prewarm_wait b) || { say "$label round $r: pre-warm did not finish"; return 1; }
    read -r t n <<<"$out"
    rec "pw_$label" "$(mbps "$n" "$t")"
    for k in 1 2; do  # alternate which goes first
      for who in warm home; do
        [ $k = 2 ] && who=$([ "$who" = warm ] && echo home || echo warm)
        rm -f "$W/dl.bin"; t0=$(now)
        if [ "$who" = warm ]; then HF_BUCKETS_REGION=us hfn cp hf://buckets/alice/b/f1.bin "$W/dl.bin" >/dev/null 2>&1
        else hfn cp hf://buckets/alice/b/f1.bin "$W/dl.bin" >/dev/null 2>&1; fi && cmp -s "$W/dl.bin" "$W/data/f1.bin" &&
          rec "dl_${who}_$label" "$(mbps "$(stat -c %s "$W/data/f1.bin")" "$(el "$t0" "$(now)")")"
      done
    done
    rm -f "$W/dl.bin"
  done
}
case $SKIP in *" 1 "*) ;; *) part_prewarm near "$S3_ENDPOINT_EU" ;; esac
case $SKIP in *" 3 "*) ;; *) [ $FEATURE = 1 ] && part_prewarm far "$EU_FAR" ;; esac
rm -rf "$W/data"

# ---- 2: checkpoint family
if [[ $SKIP != *" 2 "* ]] && [ $FEATURE = 1 ] && deploy "$S3_ENDPOINT_EU"; then
  python3 bench/gen_ckpt_family.py "$W/ck" --members "$CK_N" --mib "$CK_MIB" --tensor-mib 2 >"$W/ck.json"
  hfn buckets create alice/ck --region eu >/dev/null 2>&1
  ck_ok=1
  for k in $(seq 1 "$CK_N"); do
    hfn cp "$W/ck/step-$k.safetensors" "hf://buckets/alice/ck/step-$k.safetensors" >/dev/null 2>&1 && prewarm_wait ck >/dev/null || { ck_ok=0; break; }
    rm -f "$W/ck/step-$k.safetensors"
  done
  if [ $ck_ok = 1 ]; then
    read -r copied ncopied <<<"$(us_bytes)"
    stored=$(curl -s -H "Authorization: Bearer $A" "$BK_URL/api/buckets/alice/ck" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("storedSize", 0))')
    store_of "$DEP_EU"; eu_n=$(BK_DATA=$W/st BK_FIXED_DB_URL=x bk_blob_list xorbs sizes | awk '{s += $2} END {print s + 0}')
    rec ck_copied "$copied"; rec ck_stored "$stored"; rec ck_eu "$eu_n"; rec ck_n "$ncopied"
  else say "checkpoint family: upload or pre-warm failed"; fi
fi

# ---- report
echo
echo "regions bench: $(nproc) cores, ${REGIONS_STORE:-bluestore} RGWs, REGIONS_MIB=$MIB, $ROUNDS rounds, RTT to far eu ${RTT} ms (delay proxy)"
printf '%-62s %s\n' "0. curl GET-then-PUT copy eu->us, 64 MiB objects (MB/s)" "$(stat3 copy_near)"
printf '%-62s %s\n' "   the same with eu ${RTT} ms away (MB/s)" "$(stat3 copy_far)"
printf '%-62s %s\n' "   curl GET of one 64 MiB object: us (MB/s)" "$(stat3 get_us)"
printf '%-62s %s\n' "   curl GET of one 64 MiB object: eu (MB/s)" "$(stat3 get_eu)"
printf '%-62s %s\n' "   curl GET of one 64 MiB object: eu ${RTT} ms away (MB/s)" "$(stat3 get_eufar)"
printf '%-62s %s\n' "   4 such GETs at once, eu ${RTT} ms away (MB/s, aggregate)" "$(stat3 get_eufar4)"
printf '%-62s %s\n' "   one small request (HEAD) to eu, first byte (ms)" "$(stat3 head_near)"
printf '%-62s %s\n' "   the same with eu ${RTT} ms away (ms)" "$(stat3 head_far)"
if [ $FEATURE = 0 ]; then
  echo "1.-3. not measured: the bucketd figures need the regions feature (${FEATURE_WHY:-bucketd region add failed})"
  exit 0
fi
printf '%-62s %s\n' "1. pre-warm eu->us (MB/s)" "$(stat3 pw_near)"
printf '%-62s %s\n' "   curl GET-then-PUT of the same xorbs (MB/s)" "$(stat3 pw_curl_near)"
printf '%-62s %s\n' "   pre-warm / curl copy (goal >= 0.7x)" "$(ratio pw_near pw_curl_near)"
printf '%-62s %s\n' "   hf cp download, warm region us (MB/s)" "$(stat3 dl_warm_near)"
printf '%-62s %s\n' "   hf cp download, home region eu (MB/s)" "$(stat3 dl_home_near)"
printf '%-62s %s\n' "   warm / home (goal: the same rate)" "$(ratio dl_warm_near dl_home_near)"
if has ck_copied; then
  printf '%-62s %s\n' "2. checkpoint family ${CK_N} x ${CK_MIB} MiB: bytes copied to us" "$(med ck_copied) in $(med ck_n) xorbs"
  printf '%-62s %s\n' "   unique bytes (bucket storedSize) / xorbs in eu" "$(med ck_stored) / $(med ck_eu)"
  printf '%-62s %s\n' "   copied / unique (goal <= 1.1x)" "$(ratio ck_copied ck_stored)"
  printf '%-62s %s\n' "   expected unique (generator)" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique_bytes_expected"])' "$W/ck.json")"
fi
printf '%-62s %s\n' "3. eu ${RTT} ms away: pre-warm eu->us (MB/s)" "$(stat3 pw_far)"
printf '%-62s %s\n' "   curl GET-then-PUT of the same xorbs (MB/s)" "$(stat3 pw_curl_far)"
printf '%-62s %s\n' "   pre-warm / curl copy" "$(ratio pw_far pw_curl_far)"
printf '%-62s %s\n' "   hf cp download from the warm region us, near (MB/s)" "$(stat3 dl_warm_far)"
printf '%-62s %s\n' "   hf cp download from the home region eu, far (MB/s)" "$(stat3 dl_home_far)"
printf '%-62s %s\n' "   near / far" "$(ratio dl_warm_far dl_home_far)"
