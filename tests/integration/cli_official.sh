#!/usr/bin/env bash
# What a user switching from the official `hf` CLI relies on (issue 12, part 2),
# against a real bucketd: confirmations answered on standard input, the
# official result keys and wording, agent TSV / compact JSON listings,
# "No results found.", --no-truncate, the official "Bucket 'x' not found."
# text, Hub web URLs as arguments, several saved tokens (hf auth list|switch),
# and a clear error for repository sources.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write); B=$(bk_user_token bob write)
export HF_ENDPOINT=$BK_URL HF_HOME=$BK_TMP/hfhome
unset HF_TOKEN
W=$BK_TMP/w; mkdir -p "$W"
TAB=$'\t'

run() { "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
# answer ANSWER, args: runs hf with ANSWER piped to standard input
answer() { local a=$1; shift; printf '%s\n' "$a" | "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?
  OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
rc_is() { [ "$RC" -eq "$2" ] && bk_ok "$1" || bk_fail "$1" "rc=$RC out=$OUT err=$ERR"; }
has() { case "$OUT" in *"$2"*) bk_ok "$1";; *) bk_fail "$1" "output lacks [$2]: $OUT";; esac; }
err_has() { case "$ERR" in *"$2"*) bk_ok "$1";; *) bk_fail "$1" "stderr lacks [$2]: $ERR";; esac; }
remote() { "$HF" buckets ls "$1" -R -q --token "$A" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
py() { "$BK_PY" -c "$@"; }

"$HF" auth login --token "$A" >/dev/null 2>&1 || bk_fail "login alice"
"$HF" buckets create alice/off >/dev/null
printf 'aaaaaa' >"$W/a.txt"; printf 'bbbbbb' >"$W/b.txt"
for p in a.txt keep.txt d/1.txt d/2.txt; do "$HF" cp "$W/a.txt" "hf://buckets/alice/off/$p" >/dev/null; done

# ---- confirmations read standard input when it is not a terminal
answer y buckets rm alice/off/a.txt
rc_is "echo y | rm: exit 0" 0
bk_expect "echo y | rm: official message" "✓ File removed|  path: a.txt|  bucket_id: alice/off" "$(printf '%s' "$OUT" | tr '\n' '|')"
err_has "the question is asked on stderr" "Remove 'a.txt' from 'alice/off'? [y/N]: "
bk_expect "echo y | rm: file gone" "d/1.txt d/2.txt keep.txt" "$(remote alice/off)"
answer n buckets rm alice/off/keep.txt
rc_is "echo n | rm: exit 1" 1
bk_expect "echo n | rm: aborted" "Error: aborted" "$(printf '%s\n' "$ERR" | tail -n 1)"
answer "" buckets rm alice/off/keep.txt
rc_is "empty answer declines (default N)" 1
answer maybe buckets rm alice/off/keep.txt
rc_is "unknown answer, then EOF: declines" 1
err_has "unknown answer is refused" "Error: invalid input"
bk_expect "declined: file kept" "d/1.txt d/2.txt keep.txt" "$(remote alice/off)"
answer y buckets rm alice/off/keep.txt --format json
rc_is "non-human format still needs -y (even with y on stdin)" 1
err_has "non-human format: -y hint" "pass -y/--yes"
run buckets rm alice/off/keep.txt -y --format json </dev/null
bk_expect "-y skips the question; json result" '{"path": "keep.txt", "bucket_id": "alice/off"}' "$OUT"
answer YES buckets rm alice/off/d -R
rc_is "echo YES | rm -R: exit 0" 0
bk_expect "rm -R: paths listed, then the result with files_deleted and size" \
  "  d/1.txt|  d/2.txt|✓ Removed 2 file(s) totaling 12 B from 'alice/off'|  bucket_id: alice/off|  files_deleted: 2|  size: 12 B" \
  "$(printf '%s' "$OUT" | tr '\n' '|')"
for p in d/1.txt d/2.txt; do "$HF" cp "$W/a.txt" "hf://buckets/alice/off/$p" >/dev/null; done
run buckets rm alice/off/d -R -y --format json
bk_expect "rm -R json keys" '{"bucket_id": "alice/off", "files_deleted": 2, "size": "12 B"}' "$OUT"
run buckets rm alice/off/d -R -y --format agent
bk_expect "rm -R agent: nothing left" "No files to remove." "$OUT"
"$HF" buckets create alice/gone >/dev/null
answer y buckets delete alice/gone
rc_is "echo y | delete: exit 0" 0
bk_expect "delete result key bucket_id" "✓ Bucket deleted|  bucket_id: alice/gone" "$(printf '%s' "$OUT" | tr '\n' '|')"
run buckets info alice/gone; rc_is "deleted bucket is gone" 1

# ---- result keys and wording
run buckets settings alice/off --private
bk_expect "settings: private: True" "✓ Bucket settings updated|  bucket_id: alice/off|  private: True" "$(printf '%s' "$OUT" | tr '\n' '|')"
run buckets settings hf://buckets/alice/off --public --format json
bk_expect "settings json: a boolean" '{"bucket_id": "alice/off", "private": false}' "$OUT"
run buckets settings alice/off --public --format agent
bk_expect "settings agent: False" "bucket_id=alice/off private=False" "$OUT"
printf 'from stdin' | "$HF" cp - hf://buckets/alice/off/in.txt >"$BK_TMP/out" 2>&1
bk_expect "cp from stdin: src: stdin" "✓ Uploaded|  src: stdin|  dst: hf://buckets/alice/off/in.txt" "$(tr '\n' '|' <"$BK_TMP/out" | sed 's/|$//')"
run buckets move alice/off hf://buckets/alice/off2 --format json
bk_expect "move json: normalised ids" '{"from_id": "alice/off", "to_id": "alice/off2"}' "$OUT"
"$HF" buckets move alice/off2 alice/off >/dev/null

# ---- output formats
"$HF" buckets create alice/second --private >/dev/null
run buckets ls --format agent
bk_expect "agent: lowercase TSV header" "id${TAB}private${TAB}size${TAB}total_files${TAB}created_at" "$(printf '%s\n' "$OUT" | head -n 1)"
bk_expect "agent: one row per bucket, 5 tab-separated fields" "5 5" \
  "$(printf '%s\n' "$OUT" | tail -n +2 | awk -F'\t' '{print NF}' | tr '\n' ' ' | sed 's/ $//')"
bk_expect "agent: private as True/False" "alice/off False|alice/second True" \
  "$(printf '%s\n' "$OUT" | tail -n +2 | awk -F'\t' '{print $1" "$2}' | sort | tr '\n' '|' | sed 's/|$//')"
printf '%s\n' "$OUT" | tail -n +2 | awk -F'\t' '{print $5}' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+\+00:00$' \
  && bk_ok "agent: ISO timestamps" || bk_fail "agent: ISO timestamps" "$OUT"
run buckets ls --format json
bk_expect "json bucket list: one compact line" 1 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"
bk_expect "json bucket list: keys" "alice/off,alice/second id,private,size,total_files,created_at" \
  "$(printf '%s' "$OUT" | py 'import json,sys; d=json.load(sys.stdin); print(",".join(sorted(e["id"] for e in d)), ",".join(d[0]))')"
run buckets ls alice/off -R --json
bk_expect "json file list: json.dumps(indent=2), as print_file_listing" '[|  {|    "type": "file",' "$(printf '%s\n' "$OUT" | head -n 3 | tr '\n' '|' | sed 's/|$//')"
run buckets info alice/off --json
bk_expect "json info: one compact line" 1 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"
case "$OUT" in '{"id": "alice/off", '*) bk_ok "json as Python's json.dumps (', ' and ': ')";; *) bk_fail "json.dumps separators" "$OUT";; esac
run buckets info alice/off
bk_expect "human info: json.dumps(indent=2)" '{|  "id": "alice/off",' "$(printf '%s\n' "$OUT" | head -n 2 | tr '\n' '|' | sed 's/|$//')"
"$HF" cp "$W/a.txt" "hf://buckets/alice/off/caf$(printf '\xc3\xa9').txt" >/dev/null
run buckets ls alice/off --json
has "json: non-ASCII escaped as json.dumps does" '"path": "caf\u00e9.txt"'
"$HF" buckets rm "alice/off/caf$(printf '\xc3\xa9').txt" -y >/dev/null
run buckets ls --no-truncate; rc_is "--no-truncate accepted" 0
has "--no-truncate: the table" "alice/second"
run --no-truncate buckets ls -q; rc_is "--no-truncate before the command" 0
run buckets ls bob --token "$B"
bk_expect "empty bucket list: No results found." "No results found." "$OUT"
run buckets ls bob --token "$B" --format agent
bk_expect "empty bucket list (agent): No results found." "No results found." "$OUT"
run buckets ls bob --token "$B" --format json
bk_expect "empty bucket list (json): []" "[]" "$OUT"
run buckets ls hf://buckets/alice -q
bk_expect "hf://buckets/NS lists the namespace" "alice/off alice/second" "$(echo $OUT | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"

# ---- the official "not found" text; exit codes unchanged
WANT="Error: Bucket 'alice/nope' not found.
If the bucket is private, make sure you are authenticated and your token has the required permissions.
If the bucket does not exist, create it with: hf buckets create alice/nope
Hint: set HF_DEBUG=1 as environment variable for full traceback."
run buckets info alice/nope; rc_is "info missing: exit 1" 1
bk_expect "info missing: official text" "$WANT" "$ERR"
run buckets ls hf://buckets/alice/nope/sub -R; bk_expect "ls missing: official text" "$WANT" "$ERR"
run cp "$W/a.txt" hf://buckets/alice/nope/x.txt; bk_expect "upload to missing: official text" "$WANT" "$ERR"
run buckets rm alice/nope -R -y; bk_expect "rm -R missing: official text" "$WANT" "$ERR"
run buckets settings alice/nope --private; bk_expect "settings missing: official text" "$WANT" "$ERR"
run buckets info alice/second --token "$B"
bk_expect "private bucket of another user: same text" "Error: Bucket 'alice/second' not found." "$(printf '%s\n' "$ERR" | head -n 1)"
run cp hf://buckets/alice/off/none.bin "$W/"
rc_is "missing file: exit 1" 1
[ "$(printf '%s\n' "$ERR" | grep -c .)" -eq 2 ] && [ "$(printf '%s\n' "$ERR" | tail -n 1)" = "Hint: set HF_DEBUG=1 as environment variable for full traceback." ] \
  && bk_ok "missing file: one error line (not a bucket error) and the hint" || bk_fail "missing file: one line" "$ERR"

# ---- Hub web URLs as bucket arguments
HOSTPORT=${BK_URL#http://}
"$HF" cp "$W/b.txt" "hf://buckets/alice/off/dir/a b.txt" >/dev/null
run buckets info "$BK_URL/buckets/alice/off" -q
bk_expect "info <endpoint>/buckets/ns/name" "alice/off" "$OUT"
run buckets info "https://$HOSTPORT/buckets/alice/off/" -q
bk_expect "info https:// with the endpoint's host" "alice/off" "$OUT"
run buckets ls "$BK_URL/buckets/alice/off/tree/dir" -q
bk_expect "ls .../tree/PATH" "dir/a b.txt" "$OUT"
run cp "$BK_URL/buckets/alice/off/resolve/dir/a%20b.txt?download=true" "$W/web.txt"
rc_is "cp .../resolve/PATH (percent-encoded, query dropped)" 0
bk_expect "downloaded through a web URL" "bbbbbb" "$(cat "$W/web.txt" 2>/dev/null)"
run cp "$W/a.txt" "$BK_URL/buckets/alice/off/tree/up/"
bk_expect "upload to .../tree/DIR/" "dst: hf://buckets/alice/off/up/a.txt" "$(printf '%s\n' "$OUT" | sed -n 's/^  //p' | tail -n 1)"
run buckets rm "$BK_URL/buckets/alice/off/resolve/up/a.txt" -y
rc_is "rm .../resolve/PATH" 0
run buckets ls "$BK_URL/buckets/alice/off/tree/up"; bk_expect "removed through a web URL" "(empty)" "$OUT"
run buckets info "https://huggingface.co/buckets/alice/off"
rc_is "a URL of another host: usage error" 2
err_has "another host: names the configured endpoint" "$BK_URL"
run buckets ls "$BK_URL/buckets/alice/off/blob/dir"
rc_is "unknown action after the bucket: usage error" 2
err_has "unknown action: explained" "expected /tree/PATH or /resolve/PATH"

# ---- repository sources are refused clearly
run cp hf://datasets/alice/d/train.csv hf://buckets/alice/off/
rc_is "repo -> bucket: exit 1" 1
err_has "repo -> bucket: repositories are not supported by this server" "repositories (models, datasets, spaces) are not supported by this server"
run cp hf://buckets/alice/off/in.txt hf://models/alice/m/in.txt
err_has "bucket -> repo: official wording" "Bucket-to-repo copy is not supported."

# ---- several saved tokens: hf auth list | switch | logout --token-name
"$HF" auth login --token "$B" >/dev/null 2>&1
[ -f "$HF_HOME/stored_tokens" ] && bk_ok "stored_tokens written" || bk_fail "stored_tokens written"
bk_expect "stored_tokens mode 0600" 600 "$(stat -c %a "$HF_HOME/stored_tokens" 2>/dev/null)"
NA=$(sed -n 's/^\[\(.*\)\]$/\1/p' "$HF_HOME/stored_tokens" | head -n 1)
NB=$(sed -n 's/^\[\(.*\)\]$/\1/p' "$HF_HOME/stored_tokens" | sed -n 2p)
bk_expect "both logins kept, in the official layout" "hf_token = $A|hf_token = $B" \
  "$(grep '^hf_token = ' "$HF_HOME/stored_tokens" | tr '\n' '|' | sed 's/|$//')"
run auth list; rc_is "auth list" 0
bk_expect "auth list: header" "  name$(printf '%*s' $(( ${#NA} > 5 ? ${#NA} - 2 : 3 )) '')| token" "$(printf '%s\n' "$OUT" | head -n 1 | sed 's/ *$//')"
printf '%s\n' "$OUT" | grep -q "^\* $NB .*| ${B:0:3}\*\*\*\*${B: -4}" && bk_ok "auth list: * marks the active (masked) token" || bk_fail "auth list: active marked" "$OUT"
printf '%s\n' "$OUT" | grep -q "^  $NA .*| ${A:0:3}\*\*\*\*${A: -4}" && bk_ok "auth list: the other token" || bk_fail "auth list: other token" "$OUT"
case "$OUT" in *"$A"*|*"$B"*) bk_fail "auth list never prints a whole token";; *) bk_ok "auth list never prints a whole token";; esac
run auth whoami -q; bk_expect "active is bob (last login)" bob "$OUT"
run auth switch --token-name "$NA"; rc_is "auth switch --token-name" 0
has "switch: names the active token" "The current active token is: $NA"
bk_expect "switch writes \$HF_HOME/token" "$A" "$(cat "$HF_HOME/token")"
run auth whoami -q; bk_expect "whoami after switch" alice "$OUT"
answer 2 auth switch; rc_is "auth switch (number on stdin)" 0
run auth whoami -q; bk_expect "switched by number" bob "$OUT"
answer q auth switch; rc_is "auth switch: q aborts" 1
run auth switch --token-name nosuch; rc_is "switch to an unknown name: exit 1" 1
err_has "unknown name: official text" "Access token nosuch not found in"
run auth list --format json
bk_expect "auth list json" "$NA:False $NB:True" "$(printf '%s' "$OUT" | py 'import json,sys; print(" ".join("%s:%s" % (e["name"], e["active"]) for e in json.load(sys.stdin)))')"
HF_TOKEN=$A run auth list; err_has "HF_TOKEN overrides: noted" "Environment variable \`HF_TOKEN\` is set"
run auth logout --token-name "$NB"; rc_is "logout --token-name" 0
[ ! -e "$HF_HOME/token" ] && bk_ok "logging out the active token logs out" || bk_fail "active token removed"
run auth list -q; bk_expect "one token left" "$NA" "$OUT"
run auth logout; rc_is "logout (all)" 0
[ ! -e "$HF_HOME/stored_tokens" ] && bk_ok "logout removes every stored token" || bk_fail "stored_tokens removed"
run auth list; bk_expect "no tokens" "No access tokens found." "$OUT"

bk_summary
