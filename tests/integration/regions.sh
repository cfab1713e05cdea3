#!/usr/bin/env bash
# tests/integration/regions.sh — regions and pre-warming end to end (docs/regions.md), on one PostgreSQL
# database and TWO independent Ceph RGWs as two regions (tests/tools/regions-up: eu, us; tests/run.sh starts
# them and PostgreSQL for this test):
#   `bucketd region add eu|us`, `region list`; a bucket homed in eu (`hf buckets create --region eu`) whose
#   files (one > 64 MiB, several xorbs) are stored in eu only;
#   before pre-warming, a client with HF_BUCKETS_REGION=us and eu STOPPED fails with a message naming 'eu';
#   `hf buckets prewarm --region us` until info says warm (bytes present = needed = the xorbs' sizes), every
#   xorb then in us, each written once; eu stopped: hf, Python HfApi, the fsspec filesystem and the official
#   JS client (header through its fetch option) download every file byte-identical, and so does a node
#   started with `serve --region us` for a client that says nothing; eu running: the same reads send ZERO
#   requests to the eu RGW (its access log), while a client without a region reads from eu (the count can fail);
#   `hf buckets settings --prewarm us`: a file written afterwards is warm in us within the reported lag and
#   reads with eu stopped;
#   kill -9 of every node during a pre-warm (Python prewarm_bucket) of a 320 MiB bucket; a node restarted
#   resumes (dead lease) and finishes: every xorb written to us exactly once (completed PUTs in us's log),
#   every copy byte-identical to eu's, `bucketd fsck --read-data` clean;
#   region removal refused while used; gc after deleting a bucket removes its xorbs from BOTH regions and keeps
#   every referenced one (in eu, its home, and its copy in us).
# Needs BUCKETS_PG_URL and REGIONS_DIR + BUCKETS_S3_URL_EU/_US (tests/run.sh). Missing ones: a failure.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
T=$BUCKETS_ROOT/tests/tools
COMPAT="$BUCKETS_ROOT/tests/compat"
VENV=${BUCKETS_VENV:-$BUCKETS_ROOT/.venv}
case "$BUILD" in /*) LIBSO="$BUILD/lib/libbuckets.so" ;; *) LIBSO="$BUCKETS_ROOT/$BUILD/lib/libbuckets.so" ;; esac
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
if [ -z "${BUCKETS_PG_URL:-}" ] || [ -z "${REGIONS_DIR:-}" ] || [ -z "${BUCKETS_S3_URL_EU:-}" ] || [ -z "${BUCKETS_S3_URL_US:-}" ]; then
  bk_fail "PostgreSQL and two regions given (BUCKETS_PG_URL, REGIONS_DIR, BUCKETS_S3_URL_EU/_US: tests/run.sh starts them)"
  bk_summary
fi
unset BK_TEST_DB_URL BK_TEST_BLOBS_URL HF_BUCKETS_REGION
W=$BK_TMP/w; mkdir -p "$W"
# whatever happens, the stores end up running again (a later test or a rerun may use them)
trap '"$T/regions-start" eu >/dev/null 2>&1; "$T/regions-start" us >/dev/null 2>&1; bk_cleanup' EXIT

# ---- setup: a fresh database, a fresh prefix in each region's bucket
DB=$(bk_fresh_pg_db "$BUCKETS_PG_URL") || { bk_fail "fresh PostgreSQL database"; bk_summary; }
EU=$(bk_fresh_s3_prefix "$BUCKETS_S3_URL_EU") || { bk_fail "fresh eu prefix"; bk_summary; }
US=$(bk_fresh_s3_prefix "$BUCKETS_S3_URL_US") || { bk_fail "fresh us prefix"; bk_summary; }
EU_PREFIX=$(sed -n 's/.*[?&]prefix=\([^&]*\).*/\1/p' <<<"$EU"); US_PREFIX=$(sed -n 's/.*[?&]prefix=\([^&]*\).*/\1/p' <<<"$US")
"$T/regions-start" eu 2>/dev/null && "$T/regions-start" us 2>/dev/null || { bk_fail "both regions' RGWs run"; bk_summary; }
# region stores, listed through lib.sh's S3 helpers (each its own fake BK_DATA naming the region's URL)
for r in eu us; do mkdir -p "$BK_TMP/st-$r"; done
printf 'BK_DB_URL=%q\nBK_BLOBS_URL=%q\n' "$DB" "$EU" >"$BK_TMP/st-eu/.store-urls"
printf 'BK_DB_URL=%q\nBK_BLOBS_URL=%q\n' "$DB" "$US" >"$BK_TMP/st-us/.store-urls"
xorbs_in() { BK_DATA=$BK_TMP/st-$1 BK_FIXED_DB_URL=$DB bk_blob_list xorbs ${2:-}; }   # REGION [sizes]
xorb_get() { BK_DATA=$BK_TMP/st-$1 BK_FIXED_DB_URL=$DB bk_blob_get xorbs "$2" "$3"; } # REGION HEX OUT
export BK_FIXED_DB_URL=$DB BK_FIXED_BLOBS_URL=$EU BK_DATA=$BK_TMP/none
STORE=(--db "$DB" --blobs "$EU")
mark() { "$T/regions-reqs" "$1" --mark; }
reqs() { "$T/regions-reqs" "$@"; }                           # REGION MARK [--no-flush]: "METHOD TARGET STATUS BYTES"
xorb_writes() { # REGION MARK [--no-flush]: "N KEY" per xorb object written (single PUT, or multipart complete) since MARK
  reqs "$@" | awk '$3 ~ /^2/ && (($1 == "PUT" && $2 !~ /\?/) || ($1 == "POST" && $2 ~ /uploadId=/)) {
    sub(/\?.*/, "", $2); if ($2 ~ /\/xorbs\/[0-9a-f]+$/) print $2 }' | sort | uniq -c | awk '{print $1, $2}'
}
m0=$(mark eu); printf 'x' >"$W/probe"
S3C() { printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
  curl -sS -f -m 10 -K - --aws-sigv4 "aws:amz:$1:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "${@:2}"; }
S3C eu -o /dev/null -I "$S3_ENDPOINT_EU/$S3_BUCKET_EU/" 2>/dev/null
bk_expect "request counting on eu works (a HEAD of its bucket is seen)" "HEAD /$S3_BUCKET_EU/ 200" \
  "$(reqs eu "$m0" | awk '{print $1, $2, $3}' | tail -n 1)"

# ---- the feature: regions in the metadata database (until rcore + rapi are merged, this is where it stops)
"$BK_BUCKETD" region add eu --blobs "$EU" --db "$DB" >"$W/radd.out" 2>&1; rc=$?
if [ $rc -ne 0 ]; then
  bk_fail "bucketd region add eu --blobs <eu store>" "exit $rc: $(head -c 300 "$W/radd.out")"
  echo "(regions.sh stops here: \`bucketd region\` is not available — the regions feature is not in this build)"
  bk_summary
fi
bk_ok "bucketd region add eu"
"$BK_BUCKETD" region add us --blobs "$US" --db "$DB" >"$W/radd2.out" 2>&1 && bk_ok "bucketd region add us" ||
  bk_fail "bucketd region add us" "$(head -c 400 "$W/radd2.out")"
"$BK_BUCKETD" region add Bad_Name --blobs "$US" --db "$DB" >/dev/null 2>&1; bk_check "an invalid region name is refused" test $? -ne 0
"$BK_BUCKETD" region list --db "$DB" >"$W/rlist" 2>&1
bk_expect "region list: eu (the first added, default) then us" "eu us" "$(awk '{print $1}' "$W/rlist" | grep -E '^(eu|us)$' | paste -sd' ')"
bk_check "region list shows no S3 secret" bash -c "! grep -qF -- '$AWS_SECRET_ACCESS_KEY' '$W/rlist'"

bk_start; N1=$BK_URL
bk_node_start n2 || bk_summary; N2=$BK_NODE_URL
A=$(bk_user_token alice write) || bk_fail "user alice + token"
hfn() { HF_ENDPOINT=${NODE:-$N1} HF_TOKEN=$A HF_HOME=$BK_TMP/hf-home "$HF" "$@"; }
hfus() { HF_BUCKETS_REGION=us hfn "$@"; }
info_region() { # BUCKET REGION: "state bytesPresent bytesNeeded lagMs roles" from GET /api/buckets (node 1)
  bk_req GET "/api/buckets/alice/$1" "$A"
  bk_json "' '.join(str(x) for x in next(([r['state'], r['bytesPresent'], r['bytesNeeded'], r['lagMs'],
    ('h' if r.get('home') else '') + ('w' if r.get('warm') else '') + ('p' if r.get('prewarm') else '')]
    for r in j.get('regions', []) if r['name'] == '$2'), ['none']))"
}
wait_warm() { # BUCKET REGION SECONDS: polls info (every 0.2 s) until REGION is warm; WAIT_MAXLAG = max lagMs seen
  local i n=$(( $3 * 5 )) s; WAIT_MAXLAG=0; WAIT_MS=0
  local t0; t0=$(date +%s%N)
  for i in $(seq 1 "$n"); do
    s=$(info_region "$1" "$2")
    case "$s" in warm\ *) WAIT_MS=$(( ($(date +%s%N) - t0) / 1000000 )); return 0 ;; esac
    local lag; lag=$(awk '{print $4}' <<<"$s"); [[ $lag =~ ^[0-9]+$ ]] && [ "$lag" -gt "$WAIT_MAXLAG" ] && WAIT_MAXLAG=$lag
    sleep 0.2
  done
  WAIT_LAST=$s; return 1
}

# ---- a bucket homed in eu; its files are stored in eu only
hfn buckets create alice/xx --region mars >"$W/mars.out" 2>&1; rc=$?
bk_expect "create with an unknown region fails" 1 "$([ $rc -ne 0 ] && echo 1 || echo 0)"
grep -q "unknown region 'mars' (configured: eu, us)" "$W/mars.out" && bk_ok "... naming it and the configured ones" ||
  bk_fail "... naming it and the configured ones" "$(head -c 300 "$W/mars.out")"
hfn buckets create alice/m --region eu >/dev/null 2>&1; bk_expect "hf buckets create alice/m --region eu" 0 $?
bk_req GET /api/buckets/alice/m "$A"; bk_expect "info: region eu" eu "$(bk_json 'j["region"]')"
mkdir -p "$W/m/w" "$W/m/nested/deep"
"$BK_PY" - "$W/m" <<'EOF'
import random, sys
d = sys.argv[1]; r = random.Random(7)
open(f"{d}/a.txt", "wb").write(b"".join(b"line %d of a small text file\n" % i for i in range(3000)))
open(f"{d}/w/model.safetensors", "wb").write(r.randbytes(80 << 20))      # > 64 MiB: several xorbs
open(f"{d}/w/small.bin", "wb").write(r.randbytes(3 << 20))
open(f"{d}/nested/deep/c.bin", "wb").write(r.randbytes(1 << 20))
EOF
(cd "$W/m" && find . -type f | sed 's|^\./||' | sort | while read -r p; do echo "$(sha256sum <"$p" | cut -c1-64) $p"; done) >"$W/m.sha"
hfn buckets sync "$W/m" hf://buckets/alice/m >"$W/sync.out" 2>&1; bk_expect "upload 4 files (one of 80 MiB) into alice/m" 0 $?
XM=$(xorbs_in eu | sort); NXM=$(grep -c . <<<"$XM")
bk_check "the files' xorbs are in eu ($NXM, at least 2 for the 80 MiB file)" test "$NXM" -ge 2
bk_expect "no xorb in us" 0 "$(xorbs_in us | grep -c .)"
needed=$(xorbs_in eu sizes | awk '{s += $2} END {print s + 0}')

# ---- before pre-warming: a us client with eu stopped fails, naming eu
"$T/regions-stop" eu 2>/dev/null
timeout 120 env HF_BUCKETS_REGION=us HF_ENDPOINT=$N1 HF_TOKEN=$A HF_HOME=$BK_TMP/hf-home \
  "$HF" cp hf://buckets/alice/m/w/small.bin "$W/fail.bin" >"$W/fail.out" 2>&1; rc=$?
bk_expect "before pre-warm, eu stopped: hf download fails" 1 "$([ $rc -ne 0 ] && echo 1 || echo 0)"
grep -q "region 'eu' is unavailable" "$W/fail.out" && bk_ok "... with a message naming region 'eu'" ||
  bk_fail "... with a message naming region 'eu'" "$(head -c 300 "$W/fail.out")"
rm -f "$BK_TMP/body"; bk_req GET "/buckets/alice/m/resolve/w/small.bin" "$A" -H 'X-Buckets-Region: us' -L
bk_expect "... and a server-side read (GET /buckets/.../resolve/...): 503, not 200 and a cut body" 503 "$BK_STATUS"
grep -q "region 'eu' is unavailable" "$BK_BODY" 2>/dev/null && bk_ok "... whose body names region 'eu'" ||
  bk_fail "... whose body names region 'eu'" "$(head -c 300 "$BK_BODY" 2>/dev/null)"
"$T/regions-start" eu 2>/dev/null || bk_fail "eu starts again"

# ---- pre-warm to us
mu=$(mark us)
hfn buckets prewarm alice/m --region us >"$W/pw.out" 2>&1 && bk_ok "hf buckets prewarm alice/m --region us" ||
  bk_fail "hf buckets prewarm alice/m --region us" "$(head -c 300 "$W/pw.out")"
if wait_warm m us 120; then bk_ok "info shows us warm after the pre-warm (${WAIT_MS} ms)"; else bk_fail "us warm within 120 s" "last: $WAIT_LAST"; fi
s=$(info_region m us)
bk_expect "us: bytes present = bytes needed = the xorbs' sizes, lag 0" "warm $needed $needed 0" "$(cut -d' ' -f1-4 <<<"$s")"
bk_expect "every xorb of alice/m is in us" "$XM" "$(xorbs_in us | sort)"
bk_expect "each written to us exactly once" "$NXM" "$(xorb_writes us "$mu" | awk '$1 == 1' | grep -c .)"
hfn buckets info alice/m >"$W/info.out" 2>&1
bk_check "hf buckets info shows the regions (us warm)" grep -qiE 'us.*warm' "$W/info.out"

# ---- reading from us: every client, eu stopped
if [ ! -f "$COMPAT/node_modules/@huggingface/hub/package.json" ] &&
   ! (cd "$COMPAT" && npm ci --no-audit --no-fund --loglevel=error) >"$BK_TMP/npm.log" 2>&1; then
  cat "$BK_TMP/npm.log"; bk_fail "npm ci (tests/compat)"
fi
(cd "$BUCKETS_ROOT" && python/install-venv.sh "$VENV") >"$BK_TMP/venv.log" 2>&1 || bk_fail "venv" "$(tail -n 3 "$BK_TMP/venv.log")"
cat >"$W/read.py" <<'EOF'
# read.py BUCKET EXPECT OUTDIR: every file through HfApi.download_bucket_files and the fsspec filesystem
import hashlib, os, sys
from hfbuckets import HfApi, HfFileSystem
bid, expect, out = sys.argv[1:4]
api = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"])
fs = HfFileSystem(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"], skip_instance_cache=True)
for line in open(expect):
    sha, path = line.rstrip("\n").split(" ", 1)
    local = os.path.join(out, path.replace("/", "_"))
    try:
        api.download_bucket_files(bid, [(path, local)], raise_on_missing_files=True)
        got = hashlib.sha256(open(local, "rb").read()).hexdigest()
        print(("ok   " if got == sha else "FAIL ") + f"python download_bucket_files {path} byte-identical")
    except Exception as e:
        print(f"FAIL python download_bucket_files {path} — {e}")
    try:
        with fs.open(f"hf://buckets/{bid}/{path}", "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        print(("ok   " if got == sha else "FAIL ") + f"fsspec open/read {path} byte-identical")
    except Exception as e:
        print(f"FAIL fsspec open/read {path} — {e}")
EOF
read_all() { # LABEL NODE REGION(us or ""): hf, Python, fsspec, JS read every file of alice/m
  local label=$1 node=$2 reg=$3 p sha bad=""
  rm -rf "$W/got"; mkdir -p "$W/got"
  while read -r sha p; do
    timeout 300 env ${reg:+HF_BUCKETS_REGION=$reg} HF_ENDPOINT=$node HF_TOKEN=$A HF_HOME=$BK_TMP/hf-home \
      "$HF" cp "hf://buckets/alice/m/$p" "$W/got/hf.out" >"$W/got/hf.log" 2>&1 || bad="$bad $p($(head -c 200 "$W/got/hf.log"))"
    [ "$(sha256sum <"$W/got/hf.out" 2>/dev/null | cut -c1-64)" = "$sha" ] || bad="$bad $p"
  done <"$W/m.sha"
  bk_expect "$label: hf cp downloads every file byte-identical" "" "$bad"
  ( cd "$BUCKETS_ROOT" && bk_py_asan "$LIBSO" && timeout 300 env ${reg:+HF_BUCKETS_REGION=$reg} HF_ENDPOINT=$node HF_TOKEN=$A \
      HF_HOME=$BK_TMP/hf-home BUCKETS_LIB="$LIBSO" PYTHONDONTWRITEBYTECODE=1 \
      "$VENV/bin/python" "$W/read.py" alice/m "$W/m.sha" "$W/got" ) >"$W/py.out" 2>&1
  bk_expect "$label: Python HfApi + fsspec read every file byte-identical" \
    "$(( $(grep -c . "$W/m.sha") * 2 )) 0" "$(grep -c '^ok ' "$W/py.out") $(grep -vc '^ok ' "$W/py.out")"
  grep -v '^ok ' "$W/py.out" | head -n 5
  ( cd "$COMPAT" && timeout 300 node read_bucket.mjs "$node" "$A" buckets/alice/m "$W/m.sha" "$reg" ) >"$W/js.out" 2>&1
  bk_expect "$label: the official JS client downloads every file byte-identical" 0 $?
  grep -E '^FAIL' "$W/js.out" | head -n 5
}
bk_node_start usnode --region us || bk_summary; NUS=$BK_NODE_URL   # (serve opens --blobs, eu's store, at start)
"$T/regions-stop" eu 2>/dev/null
read_all "eu stopped, HF_BUCKETS_REGION=us" "$N1" us
while read -r sha p; do
  NODE=$NUS hfn cp "hf://buckets/alice/m/$p" "$W/usnode.out" >/dev/null 2>&1
  [ "$(sha256sum <"$W/usnode.out" | cut -c1-64)" = "$sha" ] || bk_fail "serve --region us: $p for a client that names no region"
done <"$W/m.sha"; bk_ok "a node started with --region us serves every file with eu stopped (client names no region)"
"$T/regions-start" eu 2>/dev/null || bk_fail "eu starts again"

# ---- eu running: a us client sends it nothing; a client without a region does read from eu
me=$(mark eu)
read_all "eu running, HF_BUCKETS_REGION=us" "$N1" us
NODE=$NUS hfn cp hf://buckets/alice/m/w/model.safetensors "$W/x.out" >/dev/null 2>&1
bk_expect "a us client reading a warm bucket sends no request to the eu RGW" "" "$(reqs eu "$me" | head -n 5)"
me=$(mark eu)
hfn cp hf://buckets/alice/m/w/model.safetensors "$W/x.out" >/dev/null 2>&1
bk_check "a client naming no region reads from eu, the home (GETs counted on eu)" \
  test "$(reqs eu "$me" | grep -c "^GET /$S3_BUCKET_EU/${EU_PREFIX}xorbs/")" -gt 0

# ---- warm regions: new writes are copied as they land
hfn buckets settings alice/m --prewarm us >"$W/set.out" 2>&1; bk_expect "hf buckets settings alice/m --prewarm us" 0 $?
bk_expect "info: us is in the warm list" w "$(info_region m us | awk '{print $5}' | tr -cd w)"
head -c $((5 << 20)) /dev/urandom >"$W/new.bin"; newsha=$(sha256sum <"$W/new.bin" | cut -c1-64)
hfn cp "$W/new.bin" hf://buckets/alice/m/late/new.bin >/dev/null 2>&1; bk_expect "a file written after the setting" 0 $?
if wait_warm m us 60; then bk_ok "it is warm in us $WAIT_MS ms after the write (largest lag reported meanwhile: $WAIT_MAXLAG ms)"
else bk_fail "us warm again within 60 s of the write" "last: $WAIT_LAST"; fi
"$T/regions-stop" eu 2>/dev/null
hfus cp hf://buckets/alice/m/late/new.bin "$W/new.got" >"$W/new.out" 2>&1
bk_expect "eu stopped: the new file reads from us byte-identical" "$newsha" "$(sha256sum <"$W/new.got" 2>/dev/null | cut -c1-64)"
"$T/regions-start" eu 2>/dev/null || bk_fail "eu starts again"
echo "$newsha late/new.bin" >>"$W/m.sha"

# ---- region removal is refused while used
"$BK_BUCKETD" region remove us --db "$DB" >"$W/rm.out" 2>&1; rc=$?
bk_expect "region remove us refused while alice/m lists it as warm" 1 "$rc"
grep -qi "warm" "$W/rm.out" && bk_ok "... saying why (a bucket keeps it warm)" || bk_fail "... saying why" "$(head -c 300 "$W/rm.out")"
"$BK_BUCKETD" region remove eu --db "$DB" >/dev/null 2>&1; bk_expect "region remove eu refused (home of alice/m)" 1 $?

# ---- kill -9 during a pre-warm; a restarted node resumes; no xorb written twice; every copy verifies
hfn buckets create alice/big --region eu >/dev/null 2>&1 || bk_fail "create alice/big --region eu"
mkdir -p "$W/big"
for i in $(seq 1 10); do head -c $((32 << 20)) /dev/urandom >"$W/big/part$i.bin"; done
hfn buckets sync "$W/big" hf://buckets/alice/big >/dev/null 2>&1; bk_expect "upload 320 MiB into alice/big" 0 $?
rm -rf "$W/big"
XALL=$(xorbs_in eu | sort); XB=$(comm -13 <(echo "$XM") <(echo "$XALL") | grep -v -F -f <(xorbs_in us) ); NXB=$(grep -c . <<<"$XB")
bk_check "alice/big has xorbs that us lacks ($NXB)" test "$NXB" -ge 4
mu=$(mark us)
( cd "$BUCKETS_ROOT" && bk_py_asan "$LIBSO" && HF_ENDPOINT=$N1 HF_TOKEN=$A BUCKETS_LIB="$LIBSO" "$VENV/bin/python" -c '
from hfbuckets import HfApi
import os; print(HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"]).prewarm_bucket("alice/big", "us"))' ) >"$W/pwpy.out" 2>&1
bk_expect "Python prewarm_bucket(\"alice/big\", \"us\")" 0 $?
before=0
for i in $(seq 1 600); do # until the first xorb of alice/big is written to us (bounded: 60 s)
  before=$(xorb_writes us "$mu" --no-flush | grep -c .); [ "$before" -ge 1 ] && break; sleep 0.05
done
kill -KILL "$BK_PID"; wait "$BK_PID" 2>/dev/null; BK_PID=""
bk_node_stop n2 KILL; bk_node_stop usnode KILL
bk_check "every node killed (-9) after $before of $NXB xorbs were copied" test "$before" -ge 1 -a "$before" -lt "$NXB"
bk_start; N1=$BK_URL      # one node comes back; the dead lease expires and it resumes the job
if wait_warm big us 180; then bk_ok "the pre-warm finishes after the restart (${WAIT_MS} ms)"; else bk_fail "pre-warm finished within 180 s of the restart" "last: $WAIT_LAST"; fi
xorb_writes us "$mu" >"$W/writes"
bk_expect "no xorb written to us twice (completed PUTs per key)" "" "$(awk '$1 != 1' "$W/writes")"
bk_expect "every xorb of alice/big written to us once" "$NXB" "$(grep -c . "$W/writes")"
bk_check "some xorbs were written after the restart" test "$(grep -c . "$W/writes")" -gt "$before"
bad=""
for h in $(xorbs_in us | sed 's|^xorbs/||'); do
  xorb_get us "$h" "$W/cu" && xorb_get eu "$h" "$W/ce" && cmp -s "$W/cu" "$W/ce" || bad="$bad $h"
done
rm -f "$W/cu" "$W/ce"
bk_expect "every copy in us is byte-identical to eu's" "" "$bad"
if "$BK_BUCKETD" fsck --read-data "${STORE[@]}" >"$W/fsck.out" 2>&1; then bk_ok "bucketd fsck --read-data clean"
else bk_fail "bucketd fsck --read-data clean" "$(tail -n 5 "$W/fsck.out")"; fi

# ---- gc: a deleted bucket's xorbs leave both regions; referenced ones stay in both
hfn buckets delete alice/big -y >/dev/null 2>&1; bk_expect "delete alice/big" 0 $?
for i in 1 2; do "$BK_BUCKETD" gc --grace 0s --delete-grace 0s "${STORE[@]}" >>"$W/gc.out" 2>&1 || bk_fail "gc run $i" "$(tail -n 3 "$W/gc.out")"; done
bk_expect "gc removed alice/big's xorbs from eu" "" "$(comm -12 <(echo "$XB") <(xorbs_in eu | sort))"
bk_expect "gc removed alice/big's xorbs from us" "" "$(comm -12 <(echo "$XB") <(xorbs_in us | sort))"
bk_expect "gc kept every xorb of alice/m in eu (home)" "" "$(comm -23 <(echo "$XM") <(xorbs_in eu | sort))"
bk_expect "gc kept alice/m's copies in us" "" "$(comm -23 <(echo "$XM") <(xorbs_in us | sort))"
"$T/regions-stop" eu 2>/dev/null
hfus cp hf://buckets/alice/m/w/model.safetensors "$W/after.bin" >/dev/null 2>&1
bk_expect "after gc, eu stopped: alice/m still reads from us" "$(grep ' w/model.safetensors$' "$W/m.sha" | cut -c1-64)" \
  "$(sha256sum <"$W/after.bin" 2>/dev/null | cut -c1-64)"
"$T/regions-start" eu 2>/dev/null
bk_summary
