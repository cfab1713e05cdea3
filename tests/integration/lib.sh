# tests/integration/lib.sh — shared helpers for integration tests (owned by server-http).
#
# Usage (from a tests/integration/*.sh script; tests/run.sh sets BUILD and BUCKETS_ROOT):
#
#   . "$(dirname "$0")/lib.sh"
#   bk_start                      # bucketd on a free 127.0.0.1 port, temp data dir; exports
#                                 #   BK_URL (http://127.0.0.1:PORT, no trailing /), BK_PORT,
#                                 #   BK_DATA (data dir), BK_LOG (server log), BK_PID, BK_TMP
#                                 # extra args go to `bucketd serve` (e.g. --threads 4)
#   TOK=$(bk_user_token alice write)   # creates user alice (if new) + a token, prints the token
#   bk_admin org add acme --owner alice   # any `bucketd` admin subcommand, --data added for you
#   bk_req GET /api/whoami-v2 "$TOK"      # HTTP request, see below
#   bk_expect "whoami is 200" 200 "$BK_STATUS"
#   bk_summary                    # prints "N passed, N failed" and exits 0/1 (call last)
#
# Everything is cleaned up on exit (server stopped with SIGTERM, temp dir removed) by an
# EXIT trap that lib.sh installs. If your script needs its own EXIT trap, call bk_cleanup
# from it. Set BK_KEEP=1 to keep the temp dir (and print its path) for debugging.
# BK_SERVE_ARGS (e.g. "--threads 4") is added to every `bucketd serve` started by bk_start.
#
# Store URLs (docs/server.md "Store URLs"): with BK_TEST_DB_URL and BK_TEST_BLOBS_URL set, bk_start
# serves `--db URL --blobs URL --secret-file $BK_DATA/secret.key` instead of `--data $BK_DATA`, and
# bk_admin passes the same --db/--blobs. Each BK_DATA gets FRESH stores, made once and reused by
# later bk_start/bk_admin calls with the same BK_DATA (recorded in $BK_DATA/.store-urls):
#   BK_TEST_DB_URL    sqlite | sqlite://...      -> sqlite://$BK_DATA/buckets.db
#                     postgresql://.../DB        -> a new database bk_t_<pid>_<n> on that server
#                                                   (CREATE DATABASE through psql)
#   BK_TEST_BLOBS_URL file | file://...          -> file://$BK_DATA/blobs
#                     s3://BUCKET?...            -> the same with prefix=<prefix>t-<pid>-<n>/
# sqlite+file keeps the data dir's layout, so tests that look into $BK_DATA still work; a test
# that needs a local store or the --data mode itself says so first:
# BK_FIXED_DB_URL / BK_FIXED_BLOBS_URL (both set) serve and administer exactly that store instead
# (no fresh one: several nodes on one store, a migration target); no --secret-file is added.
#   bk_require_local_store REASON   skip the whole test (counted: "skip ...") unless the store is
#                                   sqlite + file
#   bk_require_data_dir REASON      skip unless bk_start serves --data (serve lock, secret.key copy)
#
# Functions:
#   bk_start [ARGS...]          start bucketd (fails the script if it does not come up in 10 s)
#   bk_stop                     stop it (SIGTERM, wait) and record a check that it exited 0
#                               without sanitizer reports in its log; bk_start may be called
#                               again later (same BK_DATA unless you unset it first)
#   bk_admin ARGS...            run `bucketd ARGS... --data $BK_DATA`; stdout/stderr passed through
#   bk_db_sql SQL               run SQL on the store's metadata database (sqlite3 shell or psql), print rows
#   bk_xet_seed ARGS...         run `srv_xet seed ARGS...` on the same store (--data or --db/--blobs)
#   bk_user NAME                create a user (ignores "already exists")
#   bk_token USER ROLE          print a new token (role read|write)
#   bk_user_token NAME ROLE     bk_user + bk_token
#   bk_req METHOD PATH [TOKEN] [CURL ARGS...]
#                               request $BK_URL$PATH (PATH must already be URL-encoded) with
#                               curl; TOKEN "" or "-" = anonymous. Sets BK_STATUS (e.g. 200,
#                               000 on connection failure), BK_BODY (body file), BK_HDRS
#                               (response header file). Extra curl args e.g.
#                               -H 'Content-Type: application/json' --data-binary @file
#   bk_hdr NAME                 value of response header NAME from the last bk_req ("" if none)
#   bk_json EXPR                evaluate a Python expression on the last body parsed as JSON
#                               (variable j), print the result; e.g. bk_json 'j["name"]'
#   bk_ok NAME                  record a pass;  bk_fail NAME [DETAIL]  record a failure
#   bk_expect NAME WANT GOT     pass if WANT == GOT, else fail printing both
#   bk_check NAME CMD...        pass if CMD succeeds
#   bk_summary                  stop bucketd (if running, with the bk_stop checks), print
#                               "N passed, N failed"; exit status 0 iff no failure
# Programs: BK_BUCKETD (bucketd binary), BK_PY (/usr/bin/python3), BK_BIN ($BUILD/bin),
#           BK_HELPERS ($BUILD/tests/integration: C helper programs).

set -u
: "${BUCKETS_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BUILD:=build}"
case "$BUILD" in /*) BK_BIN="$BUILD/bin"; BK_HELPERS="$BUILD/tests/integration";;
  *) BK_BIN="$BUCKETS_ROOT/$BUILD/bin"; BK_HELPERS="$BUCKETS_ROOT/$BUILD/tests/integration";; esac
BK_BUCKETD="$BK_BIN/bucketd"
BK_PY=/usr/bin/python3
BK_PASS=0
BK_FAILN=0
BK_SKIPN=0
BK_PID=""
BK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bk-test.XXXXXX")
export BK_TMP BK_BIN BK_HELPERS BK_BUCKETD BK_PY

bk_ok() { BK_PASS=$((BK_PASS + 1)); echo "ok   $1"; }
bk_fail() { BK_FAILN=$((BK_FAILN + 1)); echo "FAIL $1${2:+ — $2}"; }
bk_expect() { # name want got
  if [ "$2" = "$3" ]; then bk_ok "$1"; else bk_fail "$1" "want [$2] got [$3]"; fi
}
bk_check() { local n=$1; shift; if "$@" >/dev/null 2>&1; then bk_ok "$n"; else bk_fail "$n"; fi; }

bk_cleanup() {
  BK_IN_TRAP=1 bk_stop
  local p; for p in ${BK_NODE_PIDS:-}; do kill -KILL "${p#*=}" 2>/dev/null; done
  if [ "${BK_KEEP:-0}" = 1 ]; then echo "kept $BK_TMP" >&2; else rm -rf "$BK_TMP"; fi
}
trap bk_cleanup EXIT

bk_url_mode() { [ -n "${BK_TEST_DB_URL:-}" ] && [ -n "${BK_TEST_BLOBS_URL:-}" ]; }

# A fresh PostgreSQL database on the server of URL $1: prints the new database's URL.
bk_fresh_pg_db() {
  local name="bk_t_$$_${RANDOM}${RANDOM}"
  psql -X -q -v ON_ERROR_STOP=1 "$1" -c "CREATE DATABASE $name" >/dev/null || return 1
  "$BK_PY" -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, p.fragment)))' "$1" "$name"
}

# s3://BUCKET?...: the same URL with a fresh key prefix under the given one.
bk_fresh_s3_prefix() {
  "$BK_PY" -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); q = u.parse_qsl(p.query, keep_blank_values=True)
old = [v for k, v in q if k == "prefix"]; base = old[0] if old else ""
if base and not base.endswith("/"): base += "/"
q = [(k, v) for k, v in q if k != "prefix"] + [("prefix", base + sys.argv[2] + "/")]
print(u.urlunsplit((p.scheme, p.netloc, p.path, u.urlencode(q, safe=":/"), p.fragment)))' "$1" "t-$$-${RANDOM}${RANDOM}"
}

# URL mode: BK_DB_URL / BK_BLOBS_URL of this BK_DATA (made on first use) and its secret file.
bk_store_urls() {
  mkdir -p "$BK_DATA" || return 1
  if [ -f "$BK_DATA/.store-urls" ]; then . "$BK_DATA/.store-urls"; export BK_DB_URL BK_BLOBS_URL; return 0; fi
  local abs; abs=$(cd "$BK_DATA" && pwd)
  case "$BK_TEST_DB_URL" in
    sqlite|sqlite://*) BK_DB_URL="sqlite://$abs/buckets.db" ;;
    postgresql://*|postgres://*) BK_DB_URL=$(bk_fresh_pg_db "$BK_TEST_DB_URL") || return 1 ;;
    *) echo "lib.sh: unsupported BK_TEST_DB_URL $BK_TEST_DB_URL" >&2; return 1 ;;
  esac
  case "$BK_TEST_BLOBS_URL" in
    file|file://*) BK_BLOBS_URL="file://$abs/blobs" ;;
    s3://*) BK_BLOBS_URL=$(bk_fresh_s3_prefix "$BK_TEST_BLOBS_URL") || return 1 ;;
    *) echo "lib.sh: unsupported BK_TEST_BLOBS_URL $BK_TEST_BLOBS_URL" >&2; return 1 ;;
  esac
  [ -f "$BK_DATA/secret.key" ] || (umask 077; head -c 32 /dev/urandom >"$BK_DATA/secret.key")
  printf 'BK_DB_URL=%q\nBK_BLOBS_URL=%q\n' "$BK_DB_URL" "$BK_BLOBS_URL" >"$BK_DATA/.store-urls"
  export BK_DB_URL BK_BLOBS_URL
}

# The store arguments of a bucketd command for this BK_DATA.
bk_store_args() {
  if [ -n "${BK_FIXED_DB_URL:-}" ]; then # a given store (several nodes, a migration target)
    BK_STORE_ARGS=(--db "$BK_FIXED_DB_URL" --blobs "$BK_FIXED_BLOBS_URL")
  elif bk_url_mode; then
    bk_store_urls || return 1
    BK_STORE_ARGS=(--db "$BK_DB_URL" --blobs "$BK_BLOBS_URL")
  else
    BK_STORE_ARGS=(--data "$BK_DATA")
  fi
}

# The store's blobs through its own interface (a file store's directory, or the S3 API with
# curl --aws-sigv4 and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; the secret goes to curl on stdin, never argv):
#   bk_local_store              true when the store is the local data dir or sqlite+file (files to look into)
#   bk_blob_list KIND [sizes]   print "KIND/<64-hex>" of every stored xorbs|shards blob, one a line
#                               (with "sizes": "KIND/<64-hex> BYTES"); KIND tmp: staged objects,
#                               all: every object of the store (relative names)
#   bk_blob_get KIND HEX OUT    copy a stored blob's bytes to OUT
#   bk_blob_put KIND HEX FILE   overwrite a stored blob with FILE's bytes (damage injection)
#   bk_blob_del KIND HEX        delete a stored blob
#   bk_blob_tool PATH           write a program for other languages: PATH list|get|put ARGS (as above)
bk_local_store() {
  bk_url_mode || [ -n "${BK_FIXED_DB_URL:-}" ] || return 0
  [ -z "${BK_FIXED_DB_URL:-}" ] || return 1
  case "$BK_TEST_DB_URL $BK_TEST_BLOBS_URL" in sqlite*" "file*) return 0 ;; esac
  return 1
}
bk_blob_dir() { # file store: its directory
  if bk_url_mode; then bk_store_urls || return 1; echo "${BK_BLOBS_URL#file://}"; else echo "$BK_DATA/blobs"; fi
}
bk_s3() { # METHOD KEY OUT [curl args]: the S3 API on the store's bucket; KEY is relative to its prefix,
          # "?QUERY" lists the bucket (QUERY gets prefix=<the store's prefix> added)
  local m=$1 key=$2 out=$3; shift 3
  bk_store_urls || return 1
  local parts; parts=$("$BK_PY" -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); q = dict(u.parse_qsl(p.query))
print(q["endpoint"].rstrip("/"), p.netloc, q.get("region", "us-east-1"), q.get("prefix", "") or "-", u.quote(q.get("prefix", ""), safe="") or "-")' "$BK_BLOBS_URL") || return 1
  local ep bucket region prefix qprefix url; read -r ep bucket region prefix qprefix <<<"$parts"
  [ "$prefix" = - ] && prefix="" qprefix=""
  BK_S3_PREFIX=$prefix
  case $key in
    \?*) url="$ep/$bucket?${key#\?}&prefix=$qprefix" ;;
    *) url="$ep/$bucket/$prefix$key" ;;
  esac
  printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
    curl -sS -f -K - --aws-sigv4 "aws:amz:$region:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
      -X "$m" -o "$out" "$@" "$url"
}
bk_blob_list() { # KIND [sizes]; KIND tmp|all: every object under tmp/ or the whole store, any name
  if bk_local_store; then
    local d; d=$(bk_blob_dir) || return 1
    case $1 in tmp|all)
      local sub=$1; [ "$1" = all ] && sub=.
      [ -d "$d/$sub" ] || return 0
      (cd "$d" && find "$sub" -type f -printf "%P${2:+ %s}\n" | sed "s|^|${1%all}${1:+/}|; s|^all/||; s|^/||" | sort)
      return 0 ;;
    esac
    [ -d "$d/$1" ] || return 0
    find "$d/$1" -type f -printf '%p %s\n' |
      sed -n "s|^.*/\($1\)/[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/\([0-9a-f]\{64\}\) \([0-9]*\)\$|\1/\2${2:+ \3}|p" | sort
    return 0
  fi
  local xml="$BK_TMP/s3-list.xml" tok="" page
  for page in $(seq 1 100); do  # ListObjectsV2, 1,000 keys a page (bounded: 100 pages)
    bk_s3 GET "?list-type=2&max-keys=1000${tok:+&continuation-token=$tok}" "$xml" || return 1
    "$BK_PY" - "$xml" "$1" "$xml.tok" "${2:-}" "$BK_S3_PREFIX" <<'PY' || return 1
import re, sys, urllib.parse as u
x = open(sys.argv[1]).read()
for c in re.findall(r"<Contents>(.*?)</Contents>", x, re.S):
    k = re.search(r"<Key>([^<]*)</Key>", c).group(1)[len(sys.argv[5]):]
    size = " " + re.search(r"<Size>([0-9]+)</Size>", c).group(1) if sys.argv[4] else ""
    if sys.argv[2] == "all" or (sys.argv[2] == "tmp" and k.startswith("tmp/")):
        print(k + size); continue
    m = re.search(r"^(%s)/([0-9a-f]{64})$" % sys.argv[2], k)
    if m: print(m.group(1) + "/" + m.group(2) + size)
t = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", x)
open(sys.argv[3], "w").write(u.quote(t.group(1), safe="") if t and "<IsTruncated>true" in x else "")
PY
    tok=$(cat "$xml.tok"); [ -n "$tok" ] || break
  done | sort
}
bk_blob_get() { # KIND HEX OUT
  if bk_local_store; then local d; d=$(bk_blob_dir) || return 1; cp "$d/$1/${2:0:2}/${2:2:2}/$2" "$3"; return; fi
  bk_s3 GET "$1/$2" "$3"
}
bk_blob_put() { # KIND HEX FILE
  if bk_local_store; then local d; d=$(bk_blob_dir) || return 1; cp "$3" "$d/$1/${2:0:2}/${2:2:2}/$2"; return; fi
  bk_s3 PUT "$1/$2" /dev/null --data-binary "@$3"
}
bk_blob_del() { # KIND HEX
  if bk_local_store; then local d; d=$(bk_blob_dir) || return 1; rm -f "$d/$1/${2:0:2}/${2:2:2}/$2"; return; fi
  bk_s3 DELETE "$1/$2" /dev/null
}
bk_blob_tool() { # PATH: write a program "PATH list KIND [sizes]" / "PATH get KIND HEX OUT" on this store
  : "${BK_DATA:=$BK_TMP/data}"; export BK_DATA
  bk_store_args || return 1
  printf '#!/bin/bash\nexport BK_DATA=%q BUILD=%q BUCKETS_ROOT=%q BK_TEST_DB_URL=%q BK_TEST_BLOBS_URL=%q\n. %q\ncmd=$1; shift\nbk_blob_$cmd "$@"\n' \
    "$BK_DATA" "$BUILD" "$BUCKETS_ROOT" "${BK_TEST_DB_URL:-}" "${BK_TEST_BLOBS_URL:-}" \
    "$BUCKETS_ROOT/tests/integration/lib.sh" >"$1" && chmod +x "$1"
}
bk_skip_all() { # REASON: the whole test does not apply to this store
  BK_SKIPN=$((BK_SKIPN + 1)); echo "skip $(basename "$0"): $1"; bk_summary
}
bk_require_local_store() {
  bk_url_mode || return 0
  case "$BK_TEST_DB_URL $BK_TEST_BLOBS_URL" in sqlite*" "file*) return 0 ;; esac
  bk_skip_all "needs a local sqlite+file store (${1:-looks into the data dir})"
}
# bk_py_asan LIBSO: a sanitizer build of libbuckets.so (make sanitize) can only be dlopen'ed by Python
# when the ASan runtime is loaded first; Python itself is not instrumented, so leaks are off. Exports
# LD_PRELOAD/ASAN_OPTIONS for that case (call it in the subshell that runs Python); nothing otherwise.
bk_py_asan() {
  local asan
  asan=$(ldd "$1" 2>/dev/null | awk '/libasan/ {print $3; exit}')
  [ -n "$asan" ] || return 0
  export LD_PRELOAD="$asan${LD_PRELOAD:+:$LD_PRELOAD}" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
}

bk_require_data_dir() {
  bk_url_mode || return 0
  bk_skip_all "needs bucketd serve --data (${1:-the data dir itself is under test})"
}

bk_start() {
  [ -x "$BK_BUCKETD" ] || { echo "lib.sh: $BK_BUCKETD not built" >&2; bk_fail "bucketd binary exists"; bk_summary; }
  : "${BK_DATA:=$BK_TMP/data}"
  BK_LOG="$BK_TMP/bucketd.log"
  export BK_DATA BK_LOG
  : >"$BK_LOG"
  bk_store_args || { bk_fail "fresh store for bk_start"; bk_summary; }
  local extra=()
  bk_url_mode && [ -z "${BK_FIXED_DB_URL:-}" ] && extra=(--secret-file "$BK_DATA/secret.key")
  case "${BK_STORE_ARGS[0]}" in --db) echo "lib.sh: serving ${BK_STORE_ARGS[*]}" | sed 's|://[^/@]*:[^/@]*@|://***@|' ;; esac
  # shellcheck disable=SC2086
  "$BK_BUCKETD" serve --listen 127.0.0.1:0 "${BK_STORE_ARGS[@]}" "${extra[@]}" ${BK_SERVE_ARGS:-} "$@" 2>>"$BK_LOG" &
  BK_PID=$!
  local i port=""
  for i in $(seq 1 200); do
    port=$(sed -n 's|^bucketd: listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$BK_LOG" | tail -n 1)
    [ -n "$port" ] && break
    kill -0 "$BK_PID" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "lib.sh: bucketd did not start; log:" >&2; cat "$BK_LOG" >&2
    BK_PID=""; bk_fail "bucketd starts"; bk_summary
  fi
  BK_PORT=$port
  BK_URL="http://127.0.0.1:$port"
  export BK_PORT BK_URL BK_PID
}

# More nodes on the same store as bk_start's (BK_FIXED_* or URL mode; --data cannot be shared):
#   bk_node_start NAME [ARGS...]  another bucketd; sets BK_NODE_URL, log $BK_TMP/bucketd-NAME.log
#   bk_node_stop NAME [SIGNAL]    SIGTERM (default; records that it exited 0) or e.g. KILL
bk_node_start() {
  local name=$1; shift
  local log="$BK_TMP/bucketd-$name.log" i port=""
  : "${BK_DATA:=$BK_TMP/data}"; export BK_DATA
  bk_store_args || { bk_fail "store for node $name"; return 1; }
  local extra=()
  bk_url_mode && [ -z "${BK_FIXED_DB_URL:-}" ] && extra=(--secret-file "$BK_DATA/secret.key")
  : >"$log"
  # shellcheck disable=SC2086
  "$BK_BUCKETD" serve --listen 127.0.0.1:0 "${BK_STORE_ARGS[@]}" "${extra[@]}" ${BK_SERVE_ARGS:-} "$@" 2>>"$log" &
  local pid=$!
  BK_NODE_PIDS="${BK_NODE_PIDS:-} $name=$pid"
  for i in $(seq 1 200); do
    port=$(sed -n 's|^bucketd: listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$log" | tail -n 1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "lib.sh: node $name did not start:" >&2; cat "$log" >&2; bk_fail "node $name starts"; return 1; }
  BK_NODE_URL="http://127.0.0.1:$port"; export BK_NODE_URL
}
bk_node_stop() {
  local name=$1 sig=${2:-TERM} e pid="" rest=""
  for e in ${BK_NODE_PIDS:-}; do if [ "${e%%=*}" = "$name" ]; then pid=${e#*=}; else rest="$rest $e"; fi; done
  BK_NODE_PIDS=$rest
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null; local rc=$?
  [ "$sig" = TERM ] || return 0
  if [ "$rc" -eq 0 ]; then bk_ok "node $name exited cleanly"; else bk_fail "node $name exited cleanly" "status $rc"; fi
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BK_TMP/bucketd-$name.log" 2>/dev/null; then
    bk_fail "no sanitizer reports in node $name's log"
  fi
}

bk_stop() { # stops bucketd; records a failure if it did not exit 0 or a sanitizer complained
  [ -n "${BK_PID:-}" ] || return 0
  kill -TERM "$BK_PID" 2>/dev/null
  local i rc
  for i in $(seq 1 200); do kill -0 "$BK_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$BK_PID" 2>/dev/null
  wait "$BK_PID" 2>/dev/null; rc=$?
  BK_PID=""
  [ "${BK_IN_TRAP:-0}" = 1 ] && return 0
  if [ "$rc" -eq 0 ]; then bk_ok "bucketd exited cleanly"; else bk_fail "bucketd exited cleanly" "status $rc"; fi
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BK_LOG" 2>/dev/null; then
    bk_fail "no sanitizer reports in bucketd log"
    grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BK_LOG" | head -40
  fi
}

bk_admin() {
  : "${BK_DATA:=$BK_TMP/data}"; export BK_DATA
  bk_store_args || return 1
  "$BK_BUCKETD" "$@" "${BK_STORE_ARGS[@]}"
}
bk_xet_seed() { # srv_xet seed ARGS... into this test's store (--data, or --db/--blobs URLs)
  : "${BK_DATA:=$BK_TMP/data}"; export BK_DATA
  bk_store_args || return 1
  "$BK_HELPERS/srv_xet" seed "${BK_STORE_ARGS[@]}" "$@"
}
bk_db_sql() { # SQL: run a statement on this test's metadata database (sqlite3 shell or psql)
  : "${BK_DATA:=$BK_TMP/data}"; export BK_DATA
  local url="sqlite://$BK_DATA/buckets.db"
  if [ -n "${BK_FIXED_DB_URL:-}" ]; then url=$BK_FIXED_DB_URL; elif bk_url_mode; then bk_store_urls || return 1; url=$BK_DB_URL; fi
  case "$url" in
    sqlite://*) sqlite3 -cmd '.timeout 5000' "${url#sqlite://}" "$1" ;;
    *) psql -X -q -v ON_ERROR_STOP=1 -At "$url" -c "$1" ;;
  esac
}
bk_user() { bk_admin user add "$1" >/dev/null 2>"$BK_TMP/useradd.err" || grep -qi exist "$BK_TMP/useradd.err"; }
bk_token() { bk_admin token add "$1" --role "${2:-write}"; }
bk_user_token() { bk_user "$1" && bk_token "$1" "${2:-write}"; }

bk_req() { # METHOD PATH [TOKEN] [curl args...]
  local m=$1 p=$2 tok=${3:-}
  shift 2; [ $# -gt 0 ] && shift
  BK_BODY="$BK_TMP/body"; BK_HDRS="$BK_TMP/hdrs"
  local auth=()
  [ -n "$tok" ] && [ "$tok" != "-" ] && auth=(-H "Authorization: Bearer $tok")
  local head=()
  [ "$m" = HEAD ] && head=(-I)
  BK_STATUS=$(curl -sS --path-as-is -g -o "$BK_BODY" -D "$BK_HDRS" -w '%{http_code}' \
    --max-time 60 -X "$m" "${head[@]}" "${auth[@]}" "$@" "$BK_URL$p" 2>"$BK_TMP/curl.err")
  [ -n "$BK_STATUS" ] || BK_STATUS=000
  export BK_STATUS BK_BODY BK_HDRS
}

bk_hdr() { # NAME -> value of the last response header with that name
  tr -d '\r' <"$BK_HDRS" | awk -v n="$1" 'tolower(substr($0,1,length(n)+1))==tolower(n)":" {v=substr($0,length(n)+2); sub(/^ +/,"",v); r=v} END{print r}'
}

bk_json() { # EXPR on j = json of last body
  "$BK_PY" -c 'import json,sys
j=json.load(open(sys.argv[1]))
r=eval(sys.argv[2])
print(json.dumps(r) if isinstance(r,(dict,list,bool)) or r is None else r)' "$BK_BODY" "$1" 2>/dev/null
}

bk_summary() {
  bk_stop
  [ "$BK_SKIPN" -gt 0 ] && echo "($BK_SKIPN skipped)"
  echo "$BK_PASS passed, $BK_FAILN failed"
  [ "$BK_FAILN" -eq 0 ] && exit 0
  exit 1
}
