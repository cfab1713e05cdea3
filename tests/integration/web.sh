#!/usr/bin/env bash
# Web pages in headless Chromium (Debian's chromium driven by npm playwright-core)
# against a real bucketd. Screenshots are kept in $BUILD/web-screenshots/.
# Ends with "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
ROOT=$BUCKETS_ROOT
WEBT="$ROOT/tests/web"
case "$BUILD" in /*) SHOTS="$BUILD/web-screenshots";; *) SHOTS="$ROOT/$BUILD/web-screenshots";; esac
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$CHROMIUM" ]; then
  bk_fail "chromium installed at $CHROMIUM (scripts/deps.sh installs it)"; bk_summary
fi
if ! command -v node >/dev/null 2>&1; then
  bk_fail "node available"; bk_summary
fi
if [ ! -d "$WEBT/node_modules/playwright-core" ]; then
  (cd "$WEBT" && npm ci --no-audit --no-fund >"$BK_TMP/npm.log" 2>&1) || {
    cat "$BK_TMP/npm.log" >&2; bk_fail "npm ci in tests/web"; bk_summary; }
fi

export BUCKETD_WEB_DIR="$ROOT/web"
bk_start
ALICE=$(bk_user_token alice write) || { bk_fail "create alice"; bk_summary; }
BOB=$(bk_user_token bob write) || { bk_fail "create bob"; bk_summary; }
bk_admin org add acme --owner alice >/dev/null 2>&1 && bk_admin org member acme bob --role read >/dev/null 2>&1 \
  || { bk_fail "create org acme with bob as read member"; bk_summary; }
READ_TOK=$(bk_token alice read 2>"$BK_TMP/readtok.err") || { bk_fail "create alice read token"; bk_summary; }
READ_ID=$(sed -n 's/.*token id \([0-9]*\).*/\1/p' "$BK_TMP/readtok.err" | head -n 1)
rm -rf "$SHOTS"; mkdir -p "$SHOTS"

BK_URL="$BK_URL" TOK_ALICE="$ALICE" TOK_BOB="$BOB" TOK_ALICE_READ="$READ_TOK" TOK_ALICE_READ_ID="$READ_ID" \
  BK_BUCKETD="$BK_BUCKETD" BK_STORE_ARGS="$(bk_store_args && printf '%s\n' "${BK_STORE_ARGS[@]}")" \
  SHOTS="$SHOTS" CHROMIUM="$CHROMIUM" \
  timeout 600 node "$WEBT/web.test.mjs" >"$BK_TMP/node.out" 2>&1
rc=$?
cat "$BK_TMP/node.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$BK_TMP/node.out" | tail -n 1)
if [ -n "$line" ]; then
  p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
  BK_PASS=$((BK_PASS + p)); BK_FAILN=$((BK_FAILN + f))
fi
if [ "$rc" -ne 0 ] && [ -z "$line" ]; then
  bk_fail "browser tests ran (exit $rc)"; tail -n 30 "$BK_LOG" >&2
fi
# Markup check with HTML Tidy (HTML5 aware). Tidy 5.6 predates ARIA 1.1, so
# its "proprietary attribute aria-current" warning is ignored; anything else
# (error or warning) fails.
if command -v tidy >/dev/null 2>&1; then
  for spec in "-|/" "-|/login" "-|/alice" "A|/" "A|/alice" "A|/buckets/alice/pub" \
      "A|/buckets/alice/pub/tree/many" "A|/buckets/alice/pub/tree/many?cursor=bad" \
      "A|/buckets/alice/pub/blob/data.csv" "A|/buckets/alice/pub/blob/hello.txt" \
      "A|/buckets/alice/pub/delete?kind=folder&path=many" "A|/buckets/alice/pub/tree/%3Cscript%3Ealert(1)%3C"; do
    who=${spec%%|*}; p=${spec#*|}
    tok=-; [ "$who" = A ] && tok=$ALICE
    bk_req GET "$p" "$tok"
    msgs=$(tidy -q -e "$BK_BODY" 2>&1 | grep -v 'proprietary attribute "aria-current"')
    if [ -z "$msgs" ] && grep -q '^<!DOCTYPE html>' "$BK_BODY"; then bk_ok "valid HTML5: $p ($who)"
    else bk_fail "valid HTML5: $p ($who)" "$(printf '%s' "$msgs" | head -n 5 | tr '\n' ' ')"; fi
  done
else
  bk_fail "tidy installed (scripts/deps.sh installs it)"
fi
echo "screenshots: $SHOTS"
bk_summary
