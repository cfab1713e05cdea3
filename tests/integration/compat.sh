#!/usr/bin/env bash
# integration/compat.sh — the official npm client @huggingface/hub (pinned in tests/compat/
# package-lock.json) against a real bucketd: a user + token are created, then
# tests/compat/compat.test.mjs runs under `node --test`. Installs the npm package with
# `npm ci` when tests/compat/node_modules is missing. Last line: "N passed, N failed".
# COMPAT_FILTER=regex runs only the matching JS tests (node --test-name-pattern).
set -u
. "$(dirname "$0")/lib.sh"
COMPAT="$BUCKETS_ROOT/tests/compat"

if ! command -v node >/dev/null 2>&1; then bk_fail "node is installed"; bk_summary; fi
if [ ! -f "$COMPAT/node_modules/@huggingface/hub/package.json" ]; then
  if (cd "$COMPAT" && npm ci --no-audit --no-fund --loglevel=error) >"$BK_TMP/npm.log" 2>&1; then
    bk_ok "npm ci (tests/compat)"
  else
    cat "$BK_TMP/npm.log"; bk_fail "npm ci (tests/compat)"; bk_summary
  fi
fi
ver=$(node -p 'require(process.argv[1]).version' "$COMPAT/node_modules/@huggingface/hub/package.json")
case "$ver" in 2.17.*) bk_ok "@huggingface/hub version $ver";; *) bk_fail "@huggingface/hub is 2.17.x" "got $ver";; esac

bk_start
TOK=$(bk_user_token compat write) || TOK=""
TOK2=$(bk_user_token compat-other write) || TOK2=""
[ -n "$TOK" ] && bk_ok "user + token created" || bk_fail "user + token created"

export BUCKETS_URL="$BK_URL" BUCKETS_NS=compat BUCKETS_TOKEN="$TOK" BUCKETS_TOKEN2="$TOK2" \
  BUCKETS_DATA_DIR="$BK_DATA" COMPAT_TMP="$BK_TMP" COMPAT_LOG="$BK_TMP/requests.log"
if ! bk_local_store; then  # stored-bytes accounting through the store's S3 listing (lib.sh bk_blob_list)
  printf '#!/bin/bash\nexec %q list "$1" sizes\n' "$BK_TMP/blob-tool" >"$BK_TMP/blob-list"
  chmod +x "$BK_TMP/blob-list"; bk_blob_tool "$BK_TMP/blob-tool"; export BUCKETS_BLOB_LIST="$BK_TMP/blob-list"
fi
HF_BIN=""; XETSUM_BIN=""
[ -x "$BK_BIN/hf" ] && HF_BIN="$BK_BIN/hf"
[ -x "$BK_BIN/xetsum" ] && XETSUM_BIN="$BK_BIN/xetsum"
export HF_BIN XETSUM_BIN

args=(--test --test-reporter=tap --test-force-exit --test-timeout=1500000)
[ -n "${COMPAT_FILTER:-}" ] && args+=(--test-name-pattern="$COMPAT_FILTER")
(cd "$COMPAT" && timeout 1800 node "${args[@]}" compat.test.mjs) >"$BK_TMP/tap.out" 2>&1
rc=$?
# Test names and failure details only (TAP diagnostics of passing tests are noise).
grep -E '^(not )?ok |^# (Subtest|tests|pass|fail)|error:|expected|actual|  +(message|code|status|statusCode):|^    at .*compat' "$BK_TMP/tap.out" | grep -v '^# Subtest' | head -n 300
p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$BK_TMP/tap.out" | tail -n 1)
f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$BK_TMP/tap.out" | tail -n 1)
if [ -z "$p" ] || [ -z "$f" ]; then
  tail -n 40 "$BK_TMP/tap.out"; bk_fail "node --test produced a summary" "rc=$rc"
else
  BK_PASS=$((BK_PASS + p)); BK_FAILN=$((BK_FAILN + f))
  [ "$f" -eq 0 ] && [ "$rc" -ne 0 ] && bk_fail "node --test exit status" "rc=$rc"
fi
if [ "$BK_FAILN" -gt 0 ]; then
  echo "--- last server log lines"; tail -n 25 "$BK_LOG"
  echo "--- last client requests"; tail -n 25 "$COMPAT_LOG" 2>/dev/null
fi
bk_summary
