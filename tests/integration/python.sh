#!/usr/bin/env bash
# tests/integration/python.sh — the hfbuckets Python package (python/) against a real bucketd.
# Creates/updates the venv ($BUCKETS_VENV, default <repo>/.venv) with python/install-venv.sh,
# starts bucketd (lib.sh), creates users alice (write) and bob (write), then runs
#   .venv/bin/python -m pytest python/tests
# with HF_ENDPOINT/HF_TOKEN (alice), BK_TOKEN_BOB, HF_HOME and BUCKETS_LIB set. pytest's counts
# are added to lib.sh's own checks; "no tests ran" (exit 5) counts as a failure.
. "$(dirname "$0")/lib.sh"
cd "$BUCKETS_ROOT"
VENV=${BUCKETS_VENV:-$BUCKETS_ROOT/.venv}
case "$BUILD" in /*) LIBSO="$BUILD/lib/libbuckets.so" ;; *) LIBSO="$BUCKETS_ROOT/$BUILD/lib/libbuckets.so" ;; esac
# idempotent and quick: (re)writes the .pth and the entry-point metadata
python/install-venv.sh "$VENV" >"$BK_TMP/venv.log" 2>&1 || {
  bk_fail "venv created" "$(tail -3 "$BK_TMP/venv.log")"; bk_summary; }
[ -f "$LIBSO" ] || { bk_fail "libbuckets.so built" "$LIBSO"; bk_summary; }
bk_start
bk_py_asan "$LIBSO" # a sanitizer build: the ASan runtime first
TOK_A=$(bk_user_token alice write) || { bk_fail "create user alice"; bk_summary; }
TOK_B=$(bk_user_token bob write) || { bk_fail "create user bob"; bk_summary; }
TOK_AR=$(bk_token alice read)
mkdir -p "$BK_TMP/hfhome"
export HF_ENDPOINT="$BK_URL" HF_TOKEN="$TOK_A" BK_TOKEN_ALICE="$TOK_A" BK_TOKEN_BOB="$TOK_B" \
  BK_TOKEN_ALICE_READ="$TOK_AR" HF_HOME="$BK_TMP/hfhome" BUCKETS_LIB="$LIBSO" BK_HF="$BK_BIN/hf"
export PYTHONDONTWRITEBYTECODE=1
out="$BK_TMP/pytest.out"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -o console_output_style=classic \
  ${PYTEST_ARGS:-} python/tests >"$out" 2>&1
rc=$?
cat "$out"
line=$(grep -E '^=*  ?[0-9]+ (passed|failed|error)|^[0-9]+ (passed|failed|error)|no tests ran' "$out" | tail -n 1)
num() { printf '%s\n' "$line" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
p=$(num passed); f=$(num failed); e=$(num error)
f=$((f + e))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL pytest exited $rc without failures (5 = no tests ran)"; fi
BK_PASS=$((BK_PASS + p)); BK_FAILN=$((BK_FAILN + f))
bk_summary
