#!/usr/bin/env bash
# The client library API (include/buckets/client.h) against a real bucketd:
# runs the cli_api helper (uploads from memory, byte-range reads, verified
# downloads, listings, batch errors, plan JSONL) and reports its counts.
. "$(dirname "$0")/lib.sh"
API="$BK_HELPERS/cli_api"
[ -x "$API" ] || { bk_fail "cli_api built"; bk_summary; }
bk_start
A=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/hf
"$BK_BIN/hf" buckets create alice/api >/dev/null || bk_fail "create bucket"
mkdir -p "$BK_TMP/w"
"$API" alice/api "$BK_TMP/w" | tee "$BK_TMP/api.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$BK_TMP/api.out" | tail -1)
[ -n "$line" ] || bk_fail "cli_api ran to completion"
p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
BK_PASS=$((BK_PASS + p)); BK_FAILN=$((BK_FAILN + f))
bk_summary
