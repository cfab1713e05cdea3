#!/usr/bin/env bash
# State several bucketd nodes share through the metadata database (issue 13
# item 5): the token-signing secret (created once in the database; an old
# data_dir/secret.key imported; or --secret-file), web sessions (rows: they
# survive a restart, work on every node, sign-out ends them everywhere) and
# --rate-limit-shared (one quota across nodes; the default stays per process).
# Two nodes on one database: data dirs A and B, B/buckets.db a symlink to
# A/buckets.db (SQLite resolves it, so both use one WAL).
# On postgresql+s3 (BK_TEST_DB_URL/BK_TEST_BLOBS_URL, lib.sh) the second node is a bk_node_start on the
# same database and prefix, the rows are read with psql, and the secret is the shared --secret-file:
# sections 2 (sessions) and 3 (shared rate limits) and the CAS tokens of section 1 run; the secret.key
# import, the schema-6 upgrade of a data dir and --secret-file on --data (1, 4, 5) need --data.
. "$(dirname "$0")/lib.sh"
TOOL="$BK_HELPERS/cas_tool"
ZERO=$(printf '%064d' 0)

N2_PID=""
n2_stop() { if bk_url_mode; then bk_node_stop n2; return; fi; [ -n "$N2_PID" ] || return 0; kill -TERM "$N2_PID" 2>/dev/null; wait "$N2_PID" 2>/dev/null; N2_PID=""; }
trap 'n2_stop; bk_cleanup' EXIT
n2_start() { # DATA ARGS... -> N2_URL (a second node; lib.sh runs the first)
  local d=$1 i port=""; shift
  if bk_url_mode; then bk_node_start n2 --quiet "$@" || bk_summary; N2_URL=$BK_NODE_URL; return; fi
  N2_LOG=$BK_TMP/n2.log; : >"$N2_LOG"
  "$BK_BUCKETD" serve --listen 127.0.0.1:0 --data "$d" --quiet "$@" 2>>"$N2_LOG" &
  N2_PID=$!
  for i in $(seq 1 200); do
    port=$(sed -n 's|^bucketd: listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$N2_LOG" | tail -n 1)
    [ -n "$port" ] && break
    kill -0 "$N2_PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$N2_LOG" >&2; N2_PID=""; bk_fail "second node starts"; bk_summary; }
  N2_URL="http://127.0.0.1:$port"
}
code() { # URL PATH [curl args] -> status
  local u=$1 p=$2; shift 2
  curl -sS -o "$BK_TMP/c.body" -D "$BK_TMP/c.hdrs" -w '%{http_code}' --max-time 30 "$@" "$u$p"
}
hdr() { tr -d '\r' <"$BK_TMP/c.hdrs" | sed -n "s/^$1: //Ip" | tail -n 1; }
db_hex() { # DBFILE SQL -> first column of the first row
  if bk_url_mode; then  # the store's database (psql); SQLite's lower(hex(x)) is encode(x, 'hex')
    bk_db_sql "$(printf '%s' "$2" | sed -E "s/lower\(hex\(([a-z_]+)\)\)/encode(\1, 'hex')/g")" | head -n 1
    return
  fi
  "$BK_PY" -c 'import sqlite3,sys
r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
print("" if r is None else r[0])' "$1" "$2"
}
fails_to_start() { # NAME WANT_MSG ARGS... : bucketd must exit 1 at once, saying WANT_MSG
  local name=$1 want=$2 rc; shift 2
  timeout 20 "$BK_BUCKETD" serve --listen 127.0.0.1:0 "$@" >/dev/null 2>"$BK_TMP/fail.log"; rc=$?
  bk_expect "$name: refused (exit 1)" 1 "$rc"
  bk_check "$name: says why" grep -q -- "$want" "$BK_TMP/fail.log"
}

# ---- 1. the secret: created once in the database, shared by a second node
BK_DATA=$BK_TMP/a
bk_start
A=$(bk_user_token alice write)
bk_req POST /api/buckets/alice/b "$A" -H 'Content-Type: application/json' --data-binary '{}'
bk_expect "bucket created" 200 "$BK_STATUS"
if ! bk_url_mode; then
  ROW=$(db_hex "$BK_TMP/a/buckets.db" "SELECT lower(hex(value)) FROM settings WHERE key='token_secret'")
  bk_expect "secret stored once in the database (32 bytes)" 64 "${#ROW}"
  bk_expect "secret.key is the database's secret" "$ROW" "$(od -An -v -tx1 "$BK_TMP/a/secret.key" | tr -d ' \n')"
  bk_expect "secret.key mode 0600" 600 "$(stat -c %a "$BK_TMP/a/secret.key")"
  mkdir -m 700 "$BK_TMP/b"; ln -s "$BK_TMP/a/buckets.db" "$BK_TMP/b/buckets.db"
fi
n2_start "$BK_TMP/b"
bk_url_mode || bk_expect "second node: same secret" "$ROW" "$(od -An -v -tx1 "$BK_TMP/b/secret.key" | tr -d ' \n')"
bk_req GET /api/buckets/alice/b/xet-read-token "$A"
RT=$(bk_json 'j["accessToken"]')
bk_expect "node A's CAS token accepted by node B (unknown chunk -> 404, not 401)" 404 \
  "$(code "$N2_URL" "/v1/chunks/default-merkledb/$ZERO" -H "Authorization: Bearer $RT")"
code "$N2_URL" /api/buckets/alice/b/xet-read-token -H "Authorization: Bearer $A" >/dev/null
RT2=$("$BK_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accessToken"])' "$BK_TMP/c.body")
bk_req GET "/v1/chunks/default-merkledb/$ZERO" "$RT2"
bk_expect "node B's CAS token accepted by node A" 404 "$BK_STATUS"
bk_req GET "/v1/chunks/default-merkledb/$ZERO" "${RT2%?}x"
bk_expect "a damaged CAS token is still refused" 401 "$BK_STATUS"

# ---- 2. web sessions are rows: any node, any restart; sign-out ends them
curl -s -c "$BK_TMP/jar" -o "$BK_TMP/login.html" "$BK_URL/login"
CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$BK_TMP/login.html" | head -n 1)
S=$(curl -s -b "$BK_TMP/jar" -c "$BK_TMP/jar" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$CSRF" \
  --data-urlencode "token=$A" --data-urlencode "next=/" "$BK_URL/login")
bk_expect "sign in on node A" 303 "$S"
SID=$(awk '$6 == "bk_session" {print $7}' "$BK_TMP/jar")
bk_expect "session cookie (64 hex)" 64 "${#SID}"
signed_in() { # URL -> 0 when the page shows the sign-out form for alice
  code "$1" / -H "Cookie: bk_session=$SID" >/dev/null
  grep -q 'action="/logout"' "$BK_TMP/c.body"
}
bk_check "signed in on node A" signed_in "$BK_URL"
bk_check "the same cookie is signed in on node B" signed_in "$N2_URL"
bk_expect "the database keeps a digest, not the id" 0 \
  "$(db_hex "$BK_TMP/a/buckets.db" "SELECT count(*) FROM web_sessions WHERE lower(hex(id_hash)) = '$SID'")"
bk_expect "one session row" 1 "$(db_hex "$BK_TMP/a/buckets.db" "SELECT count(*) FROM web_sessions")"
bk_stop
bk_start
bk_check "session survives a restart of node A" signed_in "$BK_URL"
# sign out on node B: the row goes, node A refuses the old cookie too
code "$N2_URL" / -H "Cookie: bk_session=$SID" >/dev/null
CSRF=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$BK_TMP/c.body" | head -n 1)
bk_expect "sign out on node B" 303 "$(code "$N2_URL" /logout -H "Cookie: bk_session=$SID" --data-urlencode "csrf=$CSRF")"
bk_check "node B: the old cookie no longer signs in" eval '! signed_in "$N2_URL"'
bk_check "node A: the old cookie no longer signs in" eval '! signed_in "$BK_URL"'
bk_expect "no session row left" 0 "$(db_hex "$BK_TMP/a/buckets.db" "SELECT count(*) FROM web_sessions")"

# ---- 3. rate limits: --rate-limit-shared is one quota on two nodes
n2_stop; bk_stop
bk_start --rate-limit api=4,window=600 --rate-limit-shared
n2_start "$BK_TMP/b" --rate-limit api=4,window=600 --rate-limit-shared
code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A" >/dev/null # aligns: 1 of 4 used
T=$(hdr RateLimit | sed -n 's/.*;t=\([0-9]*\).*/\1/p')
if [ "${T:-0}" -lt 5 ]; then sleep "$((T + 1))"; code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A" >/dev/null; fi
bk_expect "shared: A request 1" '"api";r=3' "$(hdr RateLimit | sed 's/;t=.*//')"
code "$N2_URL" /api/whoami-v2 -H "Authorization: Bearer $A" >/dev/null
bk_expect "shared: B request 2 counts on A's window" '"api";r=2' "$(hdr RateLimit | sed 's/;t=.*//')"
code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A" >/dev/null
bk_expect "shared: A request 3" '"api";r=1' "$(hdr RateLimit | sed 's/;t=.*//')"
bk_expect "shared: B request 4 allowed" 200 "$(code "$N2_URL" /api/whoami-v2 -H "Authorization: Bearer $A")"
bk_expect "shared: nothing left" '"api";r=0' "$(hdr RateLimit | sed 's/;t=.*//')"
bk_expect "shared: request 5 on A -> 429" 429 "$(code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A")"
bk_expect "shared: 429 Retry-After" 1 "$([ -n "$(hdr Retry-After)" ] && echo 1)"
bk_expect "shared: request 6 on B -> 429" 429 "$(code "$N2_URL" /api/whoami-v2 -H "Authorization: Bearer $A")"
bk_expect "shared: RateLimit-Policy as in process" '"fixed window";"api";q=4;w=600' "$(hdr RateLimit-Policy)"
bk_expect "shared: another caller (anonymous, by IP) has its own budget" 200 "$(code "$N2_URL" /api/buckets/alice/b)"
NROWS=$(db_hex "$BK_TMP/a/buckets.db" "SELECT count(*) FROM rate_windows")
bk_expect "shared: one window row per caller" 2 "$NROWS"
# the default stays in process: each node has its own budget, no writes
n2_stop; bk_stop
bk_start --rate-limit api=2,window=600
n2_start "$BK_TMP/b" --rate-limit api=2,window=600
code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A" >/dev/null
T=$(hdr RateLimit | sed -n 's/.*;t=\([0-9]*\).*/\1/p')
if [ "${T:-0}" -lt 5 ]; then sleep "$((T + 1))"; code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A" >/dev/null; fi
code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A" >/dev/null
bk_expect "default: node A's 3rd request -> 429" 429 "$(code "$BK_URL" /api/whoami-v2 -H "Authorization: Bearer $A")"
bk_expect "default: node B counts apart" 200 "$(code "$N2_URL" /api/whoami-v2 -H "Authorization: Bearer $A")"
bk_expect "default: no database write per request" "$NROWS" \
  "$(db_hex "$BK_TMP/a/buckets.db" "SELECT count(*) FROM rate_windows")"
n2_stop; bk_stop
"$BK_BUCKETD" serve --rate-limit-shared --data "$BK_TMP/a" >/dev/null 2>&1
bk_expect "--rate-limit-shared without --rate-limit is a usage error" 2 "$?"

if bk_url_mode; then
  BK_SKIPN=$((BK_SKIPN + 1))
  echo "skip sections 4-5: need bucketd serve --data (a schema-6 data dir's secret.key, --secret-file beside --data)"
  bk_summary
fi
# ---- 4. upgrade: a data dir from before (schema 6, secret.key only) keeps its tokens
BK_DATA=$BK_TMP/c
bk_start
C=$(bk_user_token carol write)
bk_req POST /api/buckets/carol/b "$C" -H 'Content-Type: application/json' --data-binary '{}'
BID=$(db_hex "$BK_TMP/c/buckets.db" "SELECT id FROM buckets WHERE name='b'")
bk_stop
"$BK_PY" -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
c.executescript("DROP TABLE settings; DROP TABLE web_sessions; DROP TABLE rate_windows; PRAGMA user_version=6;")
c.close()' "$BK_TMP/c/buckets.db"
head -c 32 /dev/urandom >"$BK_TMP/c/secret.key"; chmod 600 "$BK_TMP/c/secret.key"
OLD=$(od -An -v -tx1 "$BK_TMP/c/secret.key" | tr -d ' \n')
PRE=$("$TOOL" mint "$BK_TMP/c" "$BID" read 3600) # a CAS token issued before the upgrade
bk_start
CUR=$(sed -n 's/^#define SCHEMA_VERSION \([0-9]*\)$/\1/p' "$BUCKETS_ROOT/src/store/schema.c")
bk_expect "upgraded to the current schema ($CUR)" "$CUR" "$(db_hex "$BK_TMP/c/buckets.db" "PRAGMA user_version")"
bk_expect "old secret.key imported into the database" "$OLD" \
  "$(db_hex "$BK_TMP/c/buckets.db" "SELECT lower(hex(value)) FROM settings WHERE key='token_secret'")"
bk_req GET "/v1/chunks/default-merkledb/$ZERO" "$PRE"
bk_expect "a token issued before the upgrade still works" 404 "$BK_STATUS"
bk_stop
bk_expect "secret.key left as it was" "$OLD" "$(od -An -v -tx1 "$BK_TMP/c/secret.key" | tr -d ' \n')"
head -c 32 /dev/urandom >"$BK_TMP/c/secret.key"
fails_to_start "secret.key that differs from the database's" "differs from the token-signing secret" --data "$BK_TMP/c"
head -c 7 /dev/zero >"$BK_TMP/c/secret.key"
fails_to_start "damaged secret.key" "secret.key: expected 32 bytes" --data "$BK_TMP/c"

# ---- 5. --secret-file: 64 hex chars or 32 raw bytes, private, exact size
mkdir -m 700 "$BK_TMP/mint"
head -c 32 /dev/urandom >"$BK_TMP/mint/secret.key"
od -An -v -tx1 "$BK_TMP/mint/secret.key" | tr -d ' \n' >"$BK_TMP/hex.key"; echo >>"$BK_TMP/hex.key"
chmod 600 "$BK_TMP/hex.key"
BK_DATA=$BK_TMP/d
bk_start --secret-file "$BK_TMP/hex.key"
D=$(bk_user_token dave write)
bk_req POST /api/buckets/dave/b "$D" -H 'Content-Type: application/json' --data-binary '{}'
BID=$(db_hex "$BK_TMP/d/buckets.db" "SELECT id FROM buckets WHERE name='b'")
bk_req GET "/v1/chunks/default-merkledb/$ZERO" "$("$TOOL" mint "$BK_TMP/mint" "$BID" read 600)"
bk_expect "hex --secret-file signs the tokens" 404 "$BK_STATUS"
bk_check "--secret-file: no secret.key written" test ! -e "$BK_TMP/d/secret.key"
bk_expect "--secret-file: nothing stored in the database" 0 \
  "$(db_hex "$BK_TMP/d/buckets.db" "SELECT count(*) FROM settings")"
bk_stop
cp "$BK_TMP/mint/secret.key" "$BK_TMP/raw.key"; chmod 400 "$BK_TMP/raw.key"
bk_start --secret-file "$BK_TMP/raw.key"
bk_req GET "/v1/chunks/default-merkledb/$ZERO" "$("$TOOL" mint "$BK_TMP/mint" "$BID" read 600)"
bk_expect "raw 32-byte --secret-file signs the tokens" 404 "$BK_STATUS"
bk_stop
chmod 644 "$BK_TMP/hex.key"
fails_to_start "group/other-readable --secret-file" "chmod 600" --data "$BK_TMP/d" --secret-file "$BK_TMP/hex.key"
head -c 31 /dev/urandom >"$BK_TMP/short.key"; chmod 600 "$BK_TMP/short.key"
fails_to_start "31-byte --secret-file" "expected 32 raw bytes or 64 hex characters" --data "$BK_TMP/d" --secret-file "$BK_TMP/short.key"
head -c 100 /dev/urandom >"$BK_TMP/long.key"; chmod 600 "$BK_TMP/long.key"
fails_to_start "100-byte --secret-file" "found 100 bytes" --data "$BK_TMP/d" --secret-file "$BK_TMP/long.key"
head -c 64 /dev/zero | tr '\0' 'z' >"$BK_TMP/nothex.key"; chmod 600 "$BK_TMP/nothex.key"
fails_to_start "64 bytes that are not hex" "not hex" --data "$BK_TMP/d" --secret-file "$BK_TMP/nothex.key"
fails_to_start "missing --secret-file" "no such file\|No such file" --data "$BK_TMP/d" --secret-file "$BK_TMP/none.key"
bk_summary
