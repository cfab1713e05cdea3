#!/usr/bin/env bash
# Web pages when a bucket's usage cannot be read (issue 12 part 3): the namespace page and the
# bucket page answer an error page (503 + Retry-After for a database error, as the API does)
# and log the store error, instead of showing 0 files / 0 B; once the store can read the
# usage again, both pages show the real figures.
# The failure is made real in the store: the table the stored-bytes query reads (xorb_chunks)
# is renamed with the sqlite3 shell (psql on PostgreSQL) while bucketd runs, then renamed back.
. "$(dirname "$0")/lib.sh"
export BUCKETD_WEB_DIR="$BUCKETS_ROOT/web"
HF=$BK_BIN/hf
DB() { bk_db_sql "$@"; }   # sqlite3 shell or psql (lib.sh)
J=(-H 'Content-Type: application/json')
command -v sqlite3 >/dev/null || { bk_fail "sqlite3 shell installed (scripts/deps.sh)"; bk_summary; }

bk_start
TOK=$(bk_user_token alice write) || { bk_fail "create alice"; bk_summary; }
export HF_ENDPOINT=$BK_URL HF_TOKEN=$TOK HF_HOME=$BK_TMP/hfhome
"$HF" buckets create alice/demo >/dev/null 2>&1; bk_expect "create alice/demo" 0 $?
head -c 300000 /dev/urandom >"$BK_TMP/a.bin"
"$HF" buckets cp "$BK_TMP/a.bin" hf://buckets/alice/demo/a.bin >/dev/null 2>&1
bk_expect "upload a.bin" 0 $?

# Break the usage query; a settings change drops any usage the server has cached.
DB 'ALTER TABLE xorb_chunks RENAME TO xorb_chunks_hidden'; bk_expect "rename xorb_chunks" 0 $?
bk_req PUT /api/buckets/alice/demo/settings "$TOK" "${J[@]}" -d '{"private":false}'
bk_req GET /api/buckets/alice/demo "$TOK"
bk_expect "API bucket info fails too (usage unreadable)" 503 "$BK_STATUS"

bk_req GET /alice
bk_expect "namespace page: 503 when a bucket's usage cannot be read" 503 "$BK_STATUS"
bk_expect "namespace page: Retry-After" 1 "$(bk_hdr Retry-After)"
bk_check "namespace page says the buckets could not be listed" grep -q "could not be listed" "$BK_BODY"
bk_req GET /buckets/alice/demo
bk_expect "bucket page: 503 when its usage cannot be read" 503 "$BK_STATUS"
bk_check "bucket page says the usage could not be read" grep -q "usage could not be read" "$BK_BODY"
bk_check "bucket page shows no made-up 0 B figures" sh -c "! grep -q '>0 B<' '$BK_BODY'"
bk_check "store error logged for the bucket page" grep -q 'GET /buckets/alice/demo: store error' "$BK_LOG"
bk_check "store error logged for the namespace page" grep -q 'GET /alice: store error' "$BK_LOG"
bk_req GET /buckets/alice/demo/blob/a.bin
bk_expect "file page (no usage) still works" 200 "$BK_STATUS"

# Repair: the pages show the real figures again.
DB 'ALTER TABLE xorb_chunks_hidden RENAME TO xorb_chunks'; bk_expect "rename back" 0 $?
bk_req GET /alice
bk_expect "namespace page 200 after repair" 200 "$BK_STATUS"
bk_check "namespace page lists demo with 1 file" \
  grep -q '<td class="num">1</td>' "$BK_BODY"
bk_req GET /buckets/alice/demo
bk_expect "bucket page 200 after repair" 200 "$BK_STATUS"
bk_check "bucket page lists a.bin" grep -q 'a.bin' "$BK_BODY"
bk_summary
