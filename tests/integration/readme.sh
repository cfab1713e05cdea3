#!/usr/bin/env bash
# Every shell example of README.md works (issue 12 part 3). The fenced blocks are extracted;
# each ```sh (bash, shell) block is run, in order, in ONE bash session (exports carry over, as
# for a reader following the README) with `set -e`, against a temporary bucketd (lib.sh).
# Substitutions, as a user would make them for their own server:
#   http://127.0.0.1:8080  -> the test server's URL;   HF_TOKEN=hf_...  -> the token the
#   README's own `bucketd token add` line produced.
# The session runs in a scratch directory that looks like the repository root: build/ -> the
# build under test, .venv -> the repository's venv, var/ = the server's data dir, plus the
# user's own files the README assumes (checkpoints/model.safetensors).
# Rules: a block marked by `<!-- readme-test: skip — REASON -->` on the line before it is
# skipped with REASON printed; every fenced block must name its language; a block naming a
# URL other than the test server's is refused (no traffic beyond 127.0.0.1).
. "$(dirname "$0")/lib.sh"
bk_require_data_dir "the README session administers --data ./var"
README=${README:-$BUCKETS_ROOT/README.md}
case "$BUILD" in /*) BDIR=$BUILD ;; *) BDIR=$BUCKETS_ROOT/$BUILD ;; esac
VENV=${BUCKETS_VENV:-$BUCKETS_ROOT/.venv}
W=$BK_TMP/w
mkdir -p "$W/checkpoints" "$W/hfhome" "$W/home" "$BK_TMP/blocks"

# Blocks -> $BK_TMP/blocks/NN.sh, manifest lines "NN<TAB>LINE<TAB>LANG<TAB>SKIP_REASON".
/usr/bin/python3 - "$README" "$BK_TMP/blocks" >"$BK_TMP/manifest" 2>"$BK_TMP/extract.err" <<'PYEOF'
import re, sys
src, out = sys.argv[1], sys.argv[2]
lines = open(src, encoding="utf-8").read().split("\n")
skip_re = re.compile(r"^<!--\s*readme-test:\s*skip\s*(?:—|-|:)?\s*(.*?)\s*-->\s*$")
i, n, errors = 0, 0, []
while i < len(lines):
    m = re.match(r"^```(\S*)\s*$", lines[i])
    if not m:
        if skip_re.match(lines[i]):
            j = i + 1
            if j >= len(lines) or not lines[j].startswith("```"):
                errors.append(f"line {i+1}: skip marker not directly before a block")
        i += 1
        continue
    start, lang = i + 1, m.group(1)
    j = i + 1
    while j < len(lines) and not re.match(r"^```\s*$", lines[j]):
        j += 1
    if j == len(lines):
        errors.append(f"line {start}: block never closed")
        break
    reason = ""
    if i > 0 and skip_re.match(lines[i - 1]):
        reason = skip_re.match(lines[i - 1]).group(1) or "-"
    n += 1
    open(f"{out}/{n:02d}.sh", "w", encoding="utf-8").write("\n".join(lines[i + 1:j]) + "\n")
    print(f"{n:02d}\t{start}\t{lang or '-'}\t{reason}")
    i = j + 1
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PYEOF
bk_expect "README blocks extracted" "" "$(cat "$BK_TMP/extract.err")"

# The server, its data dir where the README says (./var), and the user's own files.
BK_DATA=$W/var bk_start
ln -s "$BDIR" "$W/build"
ln -s "$VENV" "$W/.venv"
head -c 3000000 /dev/urandom >"$W/checkpoints/model.safetensors"
[ -x "$VENV/bin/python" ] || "$BUCKETS_ROOT/python/install-venv.sh" "$VENV" >"$BK_TMP/venv.log" 2>&1
# Python loads build/lib/libbuckets.so of the build under test; a sanitizer build needs the ASan
# runtime preloaded (as tests/integration/python.sh does).
export BUCKETS_LIB=$BDIR/lib/libbuckets.so
asan=$(ldd "$BUCKETS_LIB" 2>/dev/null | awk '/libasan/ {print $3; exit}')
[ -n "$asan" ] && export LD_PRELOAD="$asan${LD_PRELOAD:+:$LD_PRELOAD}" \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# One driver script: block after block, each ending with a marker line.
D=$BK_TMP/driver.sh
{
  echo 'set -e'
  echo "trap 'echo \"README command failed (status \$?): \$BASH_COMMAND\" >&2' ERR"
  echo "cd '$W'"
} >"$D"
ran=0; skipped=0
while IFS=$'\t' read -r nn line lang reason; do
  f=$BK_TMP/blocks/$nn.sh
  case $lang in
    sh|bash|shell) ;;
    -) bk_fail "README block at line $line names its language (\`\`\`sh, \`\`\`text, ...)"; continue ;;
    *) echo "not a shell block: line $line ($lang)"; continue ;;
  esac
  if [ -n "$reason" ]; then
    echo "skip: README block at line $line: $reason"
    skipped=$((skipped + 1)); continue
  fi
  sed -i -e "s|http://127\.0\.0\.1:8080|$BK_URL|g" -e 's|HF_TOKEN=hf_\.\.\.|HF_TOKEN=$HF_TOKEN|g' "$f"
  urls=$(grep -oE 'https?://[^ /"'"'"')]*' "$f" | grep -vxF "$BK_URL" | sort -u | tr '\n' ' ')
  if [ -n "$urls" ]; then
    bk_fail "README block at line $line only names the test server" "other URLs: $urls"; continue
  fi
  { echo "echo '--- README block at line $line'"; cat "$f"; echo "echo 'README-BLOCK-OK $line'"; } >>"$D"
  ran=$((ran + 1))
done <"$BK_TMP/manifest"
bk_check "README has shell blocks to run ($ran run, $skipped skipped)" test "$ran" -gt 0

( export HF_ENDPOINT=$BK_URL HF_HOME=$W/hfhome HOME=$W/home PYTHONDONTWRITEBYTECODE=1
  unset HF_TOKEN
  timeout 180 bash "$D" ) >"$BK_TMP/run.log" 2>&1
rc=$?
while IFS=$'\t' read -r nn line lang reason; do
  case $lang in sh|bash|shell) ;; *) continue ;; esac
  [ -n "$reason" ] && continue
  bk_check "README block at line $line runs" grep -qx "README-BLOCK-OK $line" "$BK_TMP/run.log"
done <"$BK_TMP/manifest"
bk_expect "README session exits 0" 0 "$rc"
if [ "$rc" -ne 0 ]; then echo "--- session log (tail)"; tail -n 30 "$BK_TMP/run.log"; fi
bk_summary
