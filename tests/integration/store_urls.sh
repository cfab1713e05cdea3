#!/usr/bin/env bash
# bucketd serve --db URL --blobs URL (not --data): the flag rules, the masked startup line, no
# serve lock and no local secret file, two nodes on one store (a token and a file from node A
# work on node B), and a few existing scenarios (admin.sh, cli_basic.sh, cli_dedup.sh) re-run
# through lib.sh's URL mode (BK_TEST_DB_URL=sqlite BK_TEST_BLOBS_URL=file: fresh sqlite:///…
# and file:///… per test).
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
D="$BK_BUCKETD"
U=$BK_TMP/u; mkdir -p "$U"
DB="sqlite://$U/meta.db"; BL="file://$U/blobs"

# flag rules: usage errors (exit 2) naming the rule
usage() { # name want-substring args...
  local n=$1 w=$2; shift 2
  "$D" "$@" >/dev/null 2>"$BK_TMP/e"; local rc=$?
  if [ "$rc" = 2 ] && grep -q -- "$w" "$BK_TMP/e"; then bk_ok "$n"; else bk_fail "$n" "rc $rc: $(cat "$BK_TMP/e")"; fi
}
usage "serve --db without --blobs" "go together" serve --db "$DB"
usage "serve --blobs without --db" "go together" serve --blobs "$BL"
usage "serve --data with --db" "not both" serve --data "$U/d" --db "$DB" --blobs "$BL"
usage "relative sqlite:// path refused" "absolute path" serve --db sqlite://rel/meta.db --blobs "$BL"
usage "relative file:// path refused" "absolute path" serve --db "$DB" --blobs file://rel/blobs
usage "query on sqlite:// refused" "not supported" serve --db "$DB?x=1" --blobs "$BL"
usage "gc needs --blobs with --db" "go together" gc --db "$DB"
BUCKETD_DB=$DB BUCKETD_DATA=$U/d "$D" fsck >/dev/null 2>"$BK_TMP/e"
bk_expect "env BUCKETD_DATA with BUCKETD_DB is a usage error" 2 $?
BUCKETD_DB=$DB "$D" fsck >/dev/null 2>&1; bk_expect "BUCKETD_DB alone is a usage error for fsck" 2 $?

# accounts commands need only --db; --blobs is accepted
"$D" user add alice --db "$DB" >/dev/null 2>&1; bk_expect "user add with --db only" 0 $?
A=$("$D" token add alice --role write --db "$DB" --blobs "$BL" 2>/dev/null)
[ -n "$A" ] && bk_ok "token add with --db --blobs" || bk_fail "token add with --db --blobs"
# env forms; command-line flags win over the environment
BUCKETD_DB=$DB BUCKETD_BLOBS=$BL "$D" fsck >"$BK_TMP/f" 2>&1; bk_expect "fsck by BUCKETD_DB/BUCKETD_BLOBS" 0 $?
BUCKETD_DATA=$U/other "$D" fsck --db "$DB" --blobs "$BL" >/dev/null 2>&1; bk_expect "flags win over BUCKETD_DATA" 0 $?
[ -e "$U/other" ] && bk_fail "BUCKETD_DATA ignored when flags are given" || bk_ok "BUCKETD_DATA ignored when flags are given"

# two nodes on one store; the secret comes from the database (no --secret-file, no data dir)
export BK_FIXED_DB_URL="$DB" BK_FIXED_BLOBS_URL="$BL" BK_DATA=$U/none
bk_start
grep -q "listening on http://127.0.0.1:[0-9]* (db $DB, blobs $BL, " "$BK_LOG" && bk_ok "startup line names db and blobs" || bk_fail "startup line names db and blobs" "$(head -1 "$BK_LOG")"
N1_URL=$BK_URL
bk_node_start two
N2_URL=$BK_NODE_URL
[ -n "$N2_URL" ] && [ "$N1_URL" != "$N2_URL" ] && bk_ok "a second node starts on the same store (no serve lock)" || bk_fail "second node"
bk_expect "no data dir was created" "no" "$([ -e "$U/none" ] && echo yes || echo no)"
bk_expect "no bucketd.pid next to the database" "" "$(ls "$U" | grep -c pid | grep -v '^0$')"
bk_expect "no local secret file" "" "$(find "$U" -name secret.key)"
W=$BK_TMP/w; mkdir -p "$W"; head -c 3000000 /dev/urandom >"$W/f.bin"
HF_ENDPOINT=$N1_URL HF_TOKEN=$A HF_HOME=$BK_TMP/h1 "$HF" buckets create alice/b >/dev/null 2>&1 || bk_fail "create on node 1"
HF_ENDPOINT=$N1_URL HF_TOKEN=$A HF_HOME=$BK_TMP/h1 "$HF" cp "$W/f.bin" hf://buckets/alice/b/f.bin >/dev/null 2>&1 || bk_fail "upload on node 1"
HF_ENDPOINT=$N2_URL HF_TOKEN=$A HF_HOME=$BK_TMP/h2 "$HF" cp hf://buckets/alice/b/f.bin "$W/back.bin" >/dev/null 2>&1
bk_check "a file committed through node 1 downloads byte-identical through node 2" cmp "$W/f.bin" "$W/back.bin"
# a CAS token issued by node 1 is accepted by node 2 (one secret in the database)
curl -sS -H "Authorization: Bearer $A" "$N1_URL/api/buckets/alice/b/xet-read-token" -o "$BK_TMP/t.json"
CT=$("$BK_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accessToken"])' "$BK_TMP/t.json" 2>/dev/null)
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CT" "$N2_URL/v1/reconstructions/0000000000000000000000000000000000000000000000000000000000000000")
[ -n "$CT" ] && [ "$CODE" != 401 ] && bk_ok "node 1's CAS token is valid on node 2 ($CODE)" || bk_fail "CAS token across nodes" "token [$CT] code $CODE"
bk_node_stop two
bk_stop
unset BK_FIXED_DB_URL BK_FIXED_BLOBS_URL BK_DATA

# existing scenarios through fresh --db/--blobs URLs
for t in admin cli_basic cli_dedup; do
  out=$(BK_TEST_DB_URL=sqlite BK_TEST_BLOBS_URL=file bash "$(dirname "$0")/$t.sh" 2>&1)
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  case "$line" in
    *" 0 failed") bk_ok "$t.sh through --db/--blobs: $line" ;;
    *) bk_fail "$t.sh through --db/--blobs" "$line"; printf '%s\n' "$out" | grep FAIL | head ;;
  esac
  printf '%s\n' "$out" | grep -q "^lib.sh: serving --db sqlite://" && bk_ok "$t.sh served by URL" || bk_fail "$t.sh served by URL"
done
bk_summary
