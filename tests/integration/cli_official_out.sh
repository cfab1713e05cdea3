#!/usr/bin/env bash
# The last output differences from the official `hf buckets` CLI (issue 12,
# part 2), against a real bucketd: the human bucket table as huggingface_hub's
# tabulate prints it (one space between columns, a row of dashes, ✔ for a
# private bucket, the date only, cells cut at 35 characters unless
# --no-truncate), `--format agent` file listings in print_file_listing's flat
# format, the "Use -R" hint in every mode, JSON file listings indented, and
# the "Hint: set HF_DEBUG=1 ..." line after a failure (none with HF_DEBUG=1,
# none after usage errors, which exit 2).
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/hfhome
unset HF_DEBUG NO_COLOR
W=$BK_TMP/w; mkdir -p "$W"
HINT="Hint: set HF_DEBUG=1 as environment variable for full traceback."
TAB=$'\t'

run() { "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
rc_is() { [ "$RC" -eq "$2" ] && bk_ok "$1" || bk_fail "$1" "rc=$RC out=$OUT err=$ERR"; }
# the exact bytes of stdout (trailing spaces kept, lines joined by |)
raw_out() { tr '\n' '|' <"$BK_TMP/out" | sed 's/|$//'; }

LONG=alice/a-very-long-bucket-name-for-the-table-test   # 48 characters
"$HF" buckets create "$LONG" >/dev/null || bk_fail "create $LONG"
"$HF" buckets create alice/p --private >/dev/null || bk_fail "create alice/p"
printf hello >"$W/f.txt"; head -c 2048 /dev/zero >"$W/big.bin"
touch -d '2025-01-15 10:30:00 UTC' "$W/f.txt" "$W/big.bin"
"$HF" cp "$W/f.txt" hf://buckets/alice/p/file.txt >/dev/null || bk_fail "upload file.txt"
"$HF" cp "$W/big.bin" hf://buckets/alice/p/sub/big.bin >/dev/null || bk_fail "upload sub/big.bin"
# creation dates as the server reports them (agent TSV, ISO), cut to the date
D=$("$HF" buckets ls --format agent | awk -F'\t' 'NR == 2 {print substr($5, 1, 10)}')
[[ "$D" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] && bk_ok "creation date from the agent listing" || bk_fail "creation date" "$D"
D2=$("$HF" buckets ls --format agent | awk -F'\t' 'NR == 3 {print substr($5, 1, 10)}')

# ---- the human bucket table (tabulate): widths, dashes, ✔, date only, cut IDs
run buckets ls
rc_is "ls: exit 0" 0
WANT="ID                                  PRIVATE SIZE TOTAL_FILES CREATED_AT|"
WANT+="----------------------------------- ------- ---- ----------- ----------|"
WANT+="alice/a-very-long-bucket-name-fo...            0           0 $D|"
WANT+="alice/p                             ✔       2053           2 $D2"
bk_expect "human table: exact, as the official tabulate" "$WANT" "$(raw_out)"
run buckets ls -h
WANT="ID                                  PRIVATE   SIZE TOTAL_FILES CREATED_AT|"
WANT+="----------------------------------- ------- ------ ----------- ----------|"
WANT+="alice/a-very-long-bucket-name-fo...            0 B           0 $D|"
WANT+="alice/p                             ✔       2.1 KB           2 $D2"
bk_expect "human table -h: human sizes, right-aligned" "$WANT" "$(raw_out)"
run buckets ls --no-truncate
WANT="ID                                               PRIVATE SIZE TOTAL_FILES CREATED_AT|"
WANT+="------------------------------------------------ ------- ---- ----------- ----------|"
WANT+="$LONG            0           0 $D|"
WANT+="alice/p                                          ✔       2053           2 $D2"
bk_expect "human table --no-truncate: full IDs" "$WANT" "$(raw_out)"
run buckets ls --format agent
bk_expect "agent table: never cut, True/False" "$LONG${TAB}False" "$(printf '%s\n' "$OUT" | sed -n 2p | cut -f1,2)"

# ---- file listings: agent = the official flat format; the -R hint in every mode
run buckets ls alice/p -R --format agent
rc_is "ls -R --format agent: exit 0" 0
WANT="           5  2025-01-15 10:30:00  file.txt|        2048  2025-01-15 10:30:00  sub/big.bin"
bk_expect "agent file listing -R: size(12)  date(19)  path" "$WANT" "$(raw_out)"
bk_expect "agent file listing -R: no hint" "" "$ERR"
run buckets ls alice/p --format agent
bk_expect "agent file listing: file line" "           5  2025-01-15 10:30:00  file.txt" "$(sed -n 1p "$BK_TMP/out")"
sed -n 2p "$BK_TMP/out" | grep -qE '^ {14}[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}  sub/$' \
  && bk_ok "agent file listing: folder line (empty size, date, trailing /)" || bk_fail "agent folder line" "$OUT"
bk_expect "agent file listing: 'Use -R' hint on stderr" "Hint: Use -R to list files recursively." "$ERR"
run buckets ls alice/p
bk_expect "human file listing: same lines as agent" "           5  2025-01-15 10:30:00  file.txt" "$(sed -n 1p "$BK_TMP/out")"
bk_expect "human file listing: hint" "Hint: Use -R to list files recursively." "$ERR"
run buckets ls alice/p -h -R
bk_expect "human file listing -h" "         5 B         Jan 15 10:30  file.txt|      2.0 KB         Jan 15 10:30  sub/big.bin" "$(raw_out)"
run buckets ls alice/p --format json
bk_expect "json file listing: hint on stderr too (out.hint prints in every mode)" "Hint: Use -R to list files recursively." "$ERR"
bk_expect "json file listing: json.dumps(indent=2)" '[|  {|    "type": "file",|    "path": "file.txt",|    "size": 5,' \
  "$(head -n 5 "$BK_TMP/out" | tr '\n' '|' | sed 's/|$//')"
printf '%s' "$OUT" | "$BK_PY" -c 'import json,sys; d=json.load(sys.stdin); assert [e["path"] for e in d] == ["file.txt", "sub"]' \
  && bk_ok "json file listing parses" || bk_fail "json file listing parses" "$OUT"
run buckets ls alice/p -q
bk_expect "quiet file listing: paths" "file.txt|sub/" "$(raw_out)"
bk_expect "quiet file listing: hint on stderr" "Hint: Use -R to list files recursively." "$ERR"
run buckets ls alice/p/sub --format agent
bk_expect "agent listing without folders: no hint" "" "$ERR"

# ---- "Hint: set HF_DEBUG=1 ..." after a failure, as the official main()
run buckets info alice/nope
rc_is "missing bucket: exit 1" 1
bk_expect "missing bucket: the hint is the last line" "$HINT" "$(printf '%s\n' "$ERR" | tail -n 1)"
bk_expect "missing bucket: error, two hint lines, then the HF_DEBUG hint" 4 "$(printf '%s\n' "$ERR" | grep -c .)"
run buckets info alice/nope --format json
bk_expect "json mode: the hint too" "$HINT" "$(printf '%s\n' "$ERR" | tail -n 1)"
run cp hf://buckets/alice/p/none.bin "$W/"
rc_is "missing file: exit 1" 1
bk_expect "missing file: Error line, then the hint" "Error:|$HINT" \
  "$(printf '%s\n' "$ERR" | sed '1s/^\(Error:\).*/\1/' | tr '\n' '|' | sed 's/|$//')"
for v in 1 true ON yes; do
  HF_DEBUG=$v run buckets info alice/nope
  [ "$RC" -eq 1 ] && ! grep -q HF_DEBUG "$BK_TMP/err" && grep -q "^Error: Bucket 'alice/nope' not found.$" "$BK_TMP/err" \
    && bk_ok "HF_DEBUG=$v: error kept, no hint" || bk_fail "HF_DEBUG=$v" "rc=$RC err=$ERR"
done
HF_DEBUG=0 run buckets info alice/nope
bk_expect "HF_DEBUG=0 is false: hint" "$HINT" "$(printf '%s\n' "$ERR" | tail -n 1)"
run buckets ls --bogus
rc_is "usage error: exit 2" 2
bk_expect "usage error: no HF_DEBUG hint" 0 "$(grep -c HF_DEBUG "$BK_TMP/err")"
run buckets ls alice --tree
rc_is "ls NAMESPACE --tree: usage error, exit 2" 2
bk_expect "ls NAMESPACE --tree: no HF_DEBUG hint" 0 "$(grep -c HF_DEBUG "$BK_TMP/err")"
# argument checks are usage errors in the official CLI (typer.BadParameter,
# click's exit status 2): no HF_DEBUG hint after them
usage_err() { local n=$1; shift; run "$@"
  if [ "$RC" -eq 2 ] && [[ "$ERR" == Error:* ]] && [ "$(printf '%s\n' "$ERR" | grep -c .)" -eq 1 ]; then bk_ok "$n"
  else bk_fail "$n" "rc=$RC err=$ERR"; fi; }
# (the official CLI's enum check refuses --region asia too; here any region name
# goes to the server, which knows its regions: only a malformed name is a usage error)
usage_err "create --region EU (not a region name): exit 2, no hint" buckets create alice/r --region EU
usage_err "create without BUCKET_ID" buckets create
usage_err "delete of a bare name" buckets delete nope -y
usage_err "delete of a path" buckets delete alice/p/file.txt -y
usage_err "rm without a path and -R" buckets rm alice/p -y
usage_err "rm --include without -R" buckets rm alice/p/file.txt --include '*.txt' -y
usage_err "settings without --public/--private" buckets settings alice/p
usage_err "ls --search with a bucket" buckets ls alice/p --search x
usage_err "ls --tree --format json" buckets ls alice/p --tree --format json
usage_err "move with one argument" buckets move alice/p
run buckets settings alice/nope --private
rc_is "settings of a missing bucket: a failure, exit 1" 1
bk_expect "settings of a missing bucket: the hint" "$HINT" "$(printf '%s\n' "$ERR" | tail -n 1)"
printf 'n\n' | "$HF" buckets rm alice/p/file.txt >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?
rc_is "declined confirmation: exit 1" 1
bk_expect "declined confirmation: ends with Error: aborted, no hint" "Error: aborted" "$(tail -n 1 "$BK_TMP/err")"
run buckets info alice/p -q
bk_expect "success: nothing on stderr" "" "$ERR"

bk_summary
