#!/usr/bin/env bash
# One error -> HTTP status map for the Hub API, the CAS and the web pages (issue 13 item 4):
# a metadata database error is 503 + Retry-After on all three (database busy is retryable:
# huggingface_hub, xet-core and hf retry 5xx), where the CAS used to answer 500 and the web
# pages 500 case by case. The failure is made real in the store: a table is renamed with the
# sqlite3 shell (psql on PostgreSQL) while bucketd runs, then renamed back.
. "$(dirname "$0")/lib.sh"
export BUCKETD_WEB_DIR="$BUCKETS_ROOT/web"
HF=$BK_BIN/hf
DB() { bk_db_sql "$@"; }   # sqlite3 shell or psql (lib.sh)
command -v sqlite3 >/dev/null || { bk_fail "sqlite3 shell installed (scripts/deps.sh)"; bk_summary; }
H0=$(printf '%064d' 0 | tr 0 a)

bk_start
TOK=$(bk_user_token alice write) || { bk_fail "create alice"; bk_summary; }
export HF_ENDPOINT=$BK_URL HF_TOKEN=$TOK HF_HOME=$BK_TMP/hfhome
"$HF" buckets create alice/demo >/dev/null 2>&1; bk_expect "create alice/demo" 0 $?
head -c 200000 /dev/urandom >"$BK_TMP/a.bin"
"$HF" buckets cp "$BK_TMP/a.bin" hf://buckets/alice/demo/a.bin >/dev/null 2>&1
bk_expect "upload a.bin" 0 $?
bk_req GET /api/buckets/alice/demo/xet-read-token "$TOK"
CAS=$(bk_json 'j["accessToken"]')

# CAS: the dedup query reads the table `dedup`.
bk_req GET "/v1/chunks/default-merkledb/$H0" "$CAS"
bk_expect "CAS dedup query of an unknown chunk: 404 while the store works" 404 "$BK_STATUS"
DB 'ALTER TABLE dedup RENAME TO dedup_hidden'; bk_expect "rename dedup" 0 $?
bk_req GET "/v1/chunks/default-merkledb/$H0" "$CAS"
bk_expect "CAS: database error -> 503" 503 "$BK_STATUS"
bk_expect "CAS: Retry-After" 1 "$(bk_hdr Retry-After)"
bk_expect "CAS: X-Error-Code" ServiceUnavailable "$(bk_hdr X-Error-Code)"
DB 'ALTER TABLE dedup_hidden RENAME TO dedup'; bk_expect "rename dedup back" 0 $?
bk_req GET "/v1/chunks/default-merkledb/$H0" "$CAS"
bk_expect "CAS dedup query answers 404 again after repair" 404 "$BK_STATUS"

# Hub API and web file page: both read `bucket_files`.
DB 'ALTER TABLE bucket_files RENAME TO bucket_files_hidden'; bk_expect "rename bucket_files" 0 $?
bk_req GET /api/buckets/alice/demo/paths-info "$TOK" -X POST -H 'Content-Type: application/json' \
  --data-binary '{"paths":["a.bin"]}'
bk_expect "Hub API: database error -> 503" 503 "$BK_STATUS"
bk_expect "Hub API: Retry-After" 1 "$(bk_hdr Retry-After)"
bk_req GET /buckets/alice/demo/blob/a.bin "$TOK"
bk_expect "web file page: database error -> 503" 503 "$BK_STATUS"
bk_expect "web file page: Retry-After" 1 "$(bk_hdr Retry-After)"
bk_check "web file page says the file could not be read" grep -q "could not be read" "$BK_BODY"
bk_check "store error logged for the file page" \
  grep -q 'GET /buckets/alice/demo/blob/a.bin: store error' "$BK_LOG"
DB 'ALTER TABLE bucket_files_hidden RENAME TO bucket_files'; bk_expect "rename back" 0 $?
bk_req GET /buckets/alice/demo/blob/a.bin "$TOK"
bk_expect "web file page 200 after repair" 200 "$BK_STATUS"
bk_summary
