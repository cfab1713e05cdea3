#!/usr/bin/env bash
# `hf --help` names every value `--format` accepts (issue 12 part 3: `auto` was missing):
# the usage line lists auto|human|agent|json|quiet, each listed value is accepted by a real
# command against a temporary bucketd, and the error for an invalid value lists the same set.
. "$(dirname "$0")/lib.sh"
HF=$BK_BIN/hf
bk_start
export HF_ENDPOINT=$BK_URL HF_HOME=$BK_TMP/hfhome
HF_TOKEN=$(bk_user_token alice write) || { bk_fail "create alice"; bk_summary; }
export HF_TOKEN

"$HF" --help >"$BK_TMP/help" 2>&1; bk_expect "hf --help exits 0" 0 $?
usage=$(head -n 1 "$BK_TMP/help")
listed=$(printf '%s\n' "$usage" | sed -n 's/.*--format \([a-z|]*\).*/\1/p')
bk_expect "usage line lists the --format values" "auto|human|agent|json|quiet" "$listed"

"$HF" buckets list --format bogus >/dev/null 2>"$BK_TMP/bogus.err"
bk_expect "invalid --format exits 2" 2 $?
accepted=$(sed -n "s/.*invalid --format 'bogus' (\(.*\)).*/\1/p" "$BK_TMP/bogus.err" | sed 's/, /|/g')
bk_expect "the invalid-format error names the same values as the usage line" "$listed" "$accepted"

IFS='|' read -r -a vals <<<"$listed"
[ ${#vals[@]} -gt 0 ] || bk_fail "usage line has --format values"
for v in "${vals[@]}"; do
  "$HF" buckets list --format "$v" >/dev/null 2>"$BK_TMP/list.err"
  bk_expect "hf buckets list --format $v is accepted" 0 $?
done
"$HF" --format auto buckets create alice/fmt >/dev/null 2>&1
bk_expect "--format auto before the command (global option)" 0 $?
bk_summary
