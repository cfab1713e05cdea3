#!/usr/bin/env bash
# The `hf` CLI against a real bucketd: auth, create/list/info/delete/move/
# settings, cp (upload, download, stdin, stdout, remote copy), rm (single,
# -R, filters, dry-run, path-boundary safety), output formats, private
# bucket access refused, exit codes and one-line errors.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write); AR=$(bk_token alice read); B=$(bk_user_token bob write)
export HF_ENDPOINT=$BK_URL HF_HOME=$BK_TMP/hfhome
unset HF_TOKEN
W=$BK_TMP/w; mkdir -p "$W"

run() { "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
ok_run() { local n=$1; shift; run "$@"; if [ $RC -eq 0 ]; then bk_ok "$n"; else bk_fail "$n" "rc=$RC err=$ERR"; fi; }
HINT="Hint: set HF_DEBUG=1 as environment variable for full traceback."
fail_run() { # name, args: a one-line "Error:" message; exit 2 (usage), or exit 1 and the official HF_DEBUG hint
  local n=$1; shift; run "$@"
  local lines; lines=$(printf '%s\n' "$ERR" | grep -c .)
  if [[ "$ERR" == Error:* ]] && { { [ $RC -eq 2 ] && [ "$lines" -eq 1 ]; } ||
       { [ $RC -eq 1 ] && [ "$lines" -eq 2 ] && [ "$(printf '%s\n' "$ERR" | tail -n 1)" = "$HINT" ]; }; }; then bk_ok "$n"
  else bk_fail "$n" "rc=$RC err=$ERR"; fi
}
nf_run() { # name, bucket id, args: the official "not found" text (three lines + hint), exit 1
  local n=$1 id=$2; shift 2; run "$@"
  local want="Error: Bucket '$id' not found.
If the bucket is private, make sure you are authenticated and your token has the required permissions.
If the bucket does not exist, create it with: hf buckets create $id
$HINT"
  if [ $RC -eq 1 ] && [ "$ERR" = "$want" ]; then bk_ok "$n"; else bk_fail "$n" "rc=$RC err=$ERR"; fi
}
decline_run() { # name, args (stdin: no answer): asks, then "Error: aborted", exit 1
  local n=$1; shift; run "$@"
  if [ $RC -eq 1 ] && [[ "$ERR" == *"[y/N]: "* ]] && [ "$(printf '%s\n' "$ERR" | tail -n 1)" = "Error: aborted" ]; then bk_ok "$n"
  else bk_fail "$n" "rc=$RC err=$ERR"; fi
}
has() { case "$OUT" in *"$2"*) bk_ok "$1";; *) bk_fail "$1" "output lacks [$2]: $OUT";; esac; }
py() { "$BK_PY" -c "$@"; }

# ---- help and errors
ok_run "hf --help" --help; has "help lists sync" "buckets sync"; has "help names HF_ENDPOINT" HF_ENDPOINT
ok_run "sync --help" buckets sync --help; has "sync help: --delete" "--delete"; has "sync help: --apply" "--apply"
ok_run "hf sync --help (alias)" sync --help; has "alias help" "--filter-from"
ok_run "cp --help" cp --help; has "cp help stdin" "standard input"
run nosuchcmd; [ $RC -ne 0 ] && bk_ok "unknown command fails" || bk_fail "unknown command fails"
fail_run "unknown option" buckets create x --bogus
fail_run "whoami without token" auth whoami

# ---- auth
fail_run "login with bad token" auth login --token hf_notAValidTokenAtAll1234567890abcdef
[ ! -e "$HF_HOME/token" ] && bk_ok "bad token not saved" || bk_fail "bad token not saved"
ok_run "login" auth login --token "$A"; has "login says user" alice
bk_expect "token file" "$A" "$(cat "$HF_HOME/token" 2>/dev/null)"
ok_run "whoami" auth whoami; has "whoami alice" alice
run auth whoami -q; bk_expect "whoami -q" alice "$OUT"
run auth whoami --token "$B" -q; bk_expect "--token overrides file" bob "$OUT"
HF_TOKEN=$B run auth whoami -q; bk_expect "HF_TOKEN overrides file" bob "$OUT"
run --token "$B" -q auth whoami; bk_expect "global options before the command" bob "$OUT"

# ---- create
ok_run "create" buckets create demo; has "create uri" "hf://buckets/alice/demo"; has "create check mark" "✓ Bucket created"
fail_run "create existing fails" buckets create alice/demo
ok_run "create --exist-ok" buckets create hf://buckets/alice/demo --exist-ok
run buckets create alice/priv --private --json
bk_expect "create --private --json uri" "hf://buckets/alice/priv" "$(printf '%s' "$OUT" | py 'import json,sys; print(json.load(sys.stdin)["uri"])')"
run buckets create alice/other -q; bk_expect "create -q prints uri" "hf://buckets/alice/other" "$OUT"
fail_run "create with path rejected" buckets create alice/x/y
fail_run "create bad region" buckets create alice/r --region mars
ok_run "create --format agent" buckets create alice/agentb --format agent; has "agent key=value" "uri=hf://buckets/alice/agentb"

# ---- info / list buckets
run buckets info alice/priv --json
bk_expect "info private" True "$(printf '%s' "$OUT" | py 'import json,sys; print(json.load(sys.stdin)["private"])')"
bk_expect "info keys" ok "$(printf '%s' "$OUT" | py 'import json,sys; d=json.load(sys.stdin); print("ok" if {"id","private","created_at","size","total_files"} <= set(d) else sorted(d))')"
run buckets info alice/priv -q; bk_expect "info -q" alice/priv "$OUT"
nf_run "info missing bucket" alice/nope buckets info alice/nope
ok_run "ls buckets" buckets ls; has "ls header" "ID"; has "ls has demo" "alice/demo"
run buckets list -q; bk_expect "list -q ids" "alice/agentb alice/demo alice/other alice/priv" "$(echo $OUT | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"
run buckets ls --search dem -q; bk_expect "ls --search" alice/demo "$OUT"
run buckets ls alice --json; bk_expect "ls --json count" 4 "$(printf '%s' "$OUT" | py 'import json,sys; print(len(json.load(sys.stdin)))')"
fail_run "ls --tree without bucket" buckets ls --tree
fail_run "ls -R without bucket" buckets ls -R
fail_run "ls --search with bucket" buckets ls alice/demo --search x
run buckets ls alice -q --token "$B"; bk_expect "other user sees only public buckets" "alice/agentb alice/demo alice/other" "$(echo $OUT | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')"

# ---- cp upload
head -c 300000 /dev/urandom >"$W/a.bin"; echo hello >"$W/b.txt"
ok_run "cp upload to root" cp "$W/a.bin" hf://buckets/alice/demo; has "Uploaded" "Uploaded"
ok_run "cp upload to dir/" cp "$W/b.txt" hf://buckets/alice/demo/docs/
ok_run "cp upload exact name" buckets cp "$W/b.txt" hf://buckets/alice/demo/docs/renamed.txt
printf 'from stdin %s' "$RANDOM" >"$W/stdin.txt"
run cp - hf://buckets/alice/demo/in/stdin.txt <"$W/stdin.txt"; bk_expect "cp stdin upload" 0 "$RC"
fail_run "cp stdin needs file path" cp - hf://buckets/alice/demo/in/ </dev/null
fail_run "cp directory refused" cp "$W" hf://buckets/alice/demo/
fail_run "cp local to local refused" cp "$W/a.bin" "$W/c.bin"
fail_run "cp with read token refused" cp "$W/b.txt" hf://buckets/alice/demo/ro.txt --token "$AR"
fail_run "cp non-bucket URI refused" cp hf://datasets/alice/x/f "$W/"
run buckets ls alice/demo -R -q
bk_expect "ls -R -q" "a.bin docs/b.txt docs/renamed.txt in/stdin.txt" "$(echo $OUT)"

# ---- cp download
ok_run "cp download to file" cp hf://buckets/alice/demo/a.bin "$W/a.copy"
cmp -s "$W/a.bin" "$W/a.copy" && bk_ok "download identical" || bk_fail "download identical"
mkdir -p "$W/dl"
ok_run "cp download into dir" cp hf://buckets/alice/demo/docs/b.txt "$W/dl"
cmp -s "$W/b.txt" "$W/dl/b.txt" && bk_ok "download into dir" || bk_fail "download into dir"
(cd "$W/dl" && "$HF" cp hf://buckets/alice/demo/in/stdin.txt >/dev/null 2>&1)
cmp -s "$W/stdin.txt" "$W/dl/stdin.txt" && bk_ok "download to cwd" || bk_fail "download to cwd"
"$HF" cp hf://buckets/alice/demo/a.bin - >"$W/stdout.bin" 2>"$BK_TMP/err"
cmp -s "$W/a.bin" "$W/stdout.bin" && bk_ok "cp to stdout" || bk_fail "cp to stdout" "$(cat "$BK_TMP/err")"
echo "old contents that are longer than the new file ......................" >"$W/trunc.txt"
run cp hf://buckets/alice/demo/docs/b.txt "$W/trunc.txt"; cmp -s "$W/b.txt" "$W/trunc.txt" && bk_ok "download truncates" || bk_fail "download truncates"
fail_run "download missing file" cp hf://buckets/alice/demo/nope.bin "$W/"
fail_run "download of a folder refused" cp hf://buckets/alice/demo/docs/ "$W/"

# ---- remote copy
ok_run "remote copy file" cp hf://buckets/alice/demo/a.bin hf://buckets/alice/other/
ok_run "remote copy folder" cp hf://buckets/alice/demo/docs hf://buckets/alice/other/
run buckets ls alice/other -R -q; bk_expect "remote copy result" "a.bin docs/b.txt docs/renamed.txt" "$(echo $OUT)"
cmp -s "$W/a.bin" <("$HF" cp hf://buckets/alice/other/a.bin - 2>/dev/null) && bk_ok "copied file readable" || bk_fail "copied file readable"

# ---- ls files formats
run buckets ls alice/demo
echo "$OUT" | grep -Eq '^ +300000  [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}  a\.bin$' && bk_ok "ls file line format" || bk_fail "ls file line format" "$OUT"
echo "$OUT" | grep -Eq '^ {12}  .{19}  docs/$' && bk_ok "ls dir line format" || bk_fail "ls dir line format" "$OUT"
case "$ERR" in *"Use -R"*) bk_ok "ls hint -R";; *) bk_fail "ls hint -R" "$ERR";; esac
run buckets ls alice/demo -h; echo "$OUT" | grep -q "300.0 KB" && bk_ok "ls -h size" || bk_fail "ls -h size" "$OUT"
run buckets ls alice/demo --tree -R -q
printf '%s\n' "$OUT" | grep -q "docs/" && printf '%s\n' "$OUT" | grep -Eq '(└── |`-- )renamed.txt' && bk_ok "ls --tree" || bk_fail "ls --tree" "$OUT"
fail_run "ls --tree --json" buckets ls alice/demo --tree --json
run buckets ls hf://buckets/alice/demo/docs --json
bk_expect "ls --json entries" "docs/b.txt,docs/renamed.txt" "$(printf '%s' "$OUT" | py 'import json,sys; print(",".join(e["path"] for e in json.load(sys.stdin)))')"
run buckets ls alice/demo/nothing-here; bk_expect "ls empty" "(empty)" "$OUT"

# ---- rm and path boundaries
for p in logs/a.txt logs/sub/b.txt logs.json logs_backup/c.txt keep.txt x.tmp; do
  "$HF" cp "$W/b.txt" "hf://buckets/alice/demo/$p" >/dev/null 2>&1
done
run buckets rm alice/demo/logs -R --dry-run
bk_expect "rm -R --dry-run lists boundary files only" "delete: hf://buckets/alice/demo/logs/a.txt|delete: hf://buckets/alice/demo/logs/sub/b.txt|(dry run) 2 file(s) totaling 12 B would be removed." "$(printf '%s' "$OUT" | tr '\n' '|')"
decline_run "rm -R without -y and no answer declines" buckets rm alice/demo/logs -R </dev/null
ok_run "rm -R -y" buckets rm hf://buckets/alice/demo/logs -R -y
run buckets ls alice/demo -R -q
echo "$OUT" | grep -qx "logs.json" && echo "$OUT" | grep -qx "logs_backup/c.txt" && ! echo "$OUT" | grep -q "^logs/" \
  && bk_ok "rm -R respects path boundaries" || bk_fail "rm -R respects path boundaries" "$OUT"
run buckets rm alice/demo/x.tmp --dry-run; bk_expect "rm --dry-run single" "delete: hf://buckets/alice/demo/x.tmp|(dry run) 1 file would be removed." "$(printf '%s' "$OUT" | tr '\n' '|')"
ok_run "rm single -y" buckets rm alice/demo/x.tmp -y
run buckets ls alice/demo -R -q; echo "$OUT" | grep -q x.tmp && bk_fail "rm single removed" || bk_ok "rm single removed"
fail_run "rm without path and -R" buckets rm alice/demo -y
fail_run "rm --include without -R" buckets rm alice/demo/keep.txt --include '*.txt' -y
run buckets rm alice/demo -R --include '*.txt' --exclude 'keep*' --dry-run
bk_expect "rm include/exclude" "docs/b.txt docs/renamed.txt in/stdin.txt logs_backup/c.txt" "$(printf '%s\n' "$OUT" | sed -n 's|^delete: hf://buckets/alice/demo/||p' | tr '\n' ' ' | sed 's/ $//')"
run buckets rm alice/demo/nomatch -R -y; bk_expect "rm nothing" "No files to remove." "$OUT"

# ---- private bucket access
"$HF" cp "$W/b.txt" hf://buckets/alice/priv/secret.txt >/dev/null 2>&1
nf_run "private info refused to bob" alice/priv buckets info alice/priv --token "$B"
nf_run "private ls refused to bob" alice/priv buckets ls alice/priv --token "$B"
nf_run "private download refused to bob" alice/priv cp hf://buckets/alice/priv/secret.txt "$W/x" --token "$B"
nf_run "private upload refused to bob" alice/priv cp "$W/b.txt" hf://buckets/alice/priv/y.txt --token "$B"
HF_HOME=$BK_TMP/anon run buckets ls alice/priv
[ $RC -ne 0 ] && bk_ok "private ls refused to anonymous" || bk_fail "private ls refused to anonymous"
HF_HOME=$BK_TMP/anon run cp hf://buckets/alice/demo/keep.txt "$W/anon.txt"
cmp -s "$W/b.txt" "$W/anon.txt" && bk_ok "public download anonymous" || bk_fail "public download anonymous" "$ERR"
fail_run "bob cannot delete alice's bucket" buckets delete alice/demo -y --token "$B"

# ---- settings
ok_run "settings --public" buckets settings alice/priv --public; has "settings message" "Bucket settings updated"
run buckets info alice/priv --json; bk_expect "now public" False "$(printf '%s' "$OUT" | py 'import json,sys; print(json.load(sys.stdin)["private"])')"
ok_run "bob reads after --public" cp hf://buckets/alice/priv/secret.txt "$W/pub.txt" --token "$B"
ok_run "settings --private" buckets settings alice/priv --private
nf_run "bob refused again" alice/priv buckets info alice/priv --token "$B"
fail_run "settings needs a flag" buckets settings alice/priv

# ---- move
ok_run "move" buckets move alice/other alice/moved; has "move message" "Bucket moved"
nf_run "old name gone" alice/other buckets info alice/other
run buckets ls alice/moved -R -q; bk_expect "moved contents" "a.bin docs/b.txt docs/renamed.txt" "$(echo $OUT)"
fail_run "move with path rejected" buckets move alice/moved/x alice/y

# ---- delete
decline_run "delete without -y and no answer declines" buckets delete alice/moved </dev/null
fail_run "delete bare name rejected" buckets delete moved -y
ok_run "delete -y" buckets delete alice/moved -y; has "delete message" "Bucket deleted"
nf_run "delete missing" alice/moved buckets delete alice/moved -y
ok_run "delete --missing-ok" buckets delete alice/moved -y --missing-ok

# ---- logout
ok_run "logout" auth logout
[ ! -e "$HF_HOME/token" ] && bk_ok "token removed" || bk_fail "token removed"
fail_run "whoami after logout" auth whoami
bk_summary
