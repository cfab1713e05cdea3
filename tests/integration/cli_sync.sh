#!/usr/bin/env bash
# `hf buckets sync` against a real bucketd: the decision table row by row in
# both directions, --delete both ways, filters, --dry-run and --plan output
# checked against the documented JSONL, --apply, stale-plan refusal, path
# boundary safety, option conflicts, -v/-q, and an interrupted sync re-run.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_HOME=$BK_TMP/hfhome HF_TOKEN=$A
R=hf://buckets/alice/s/data
"$HF" buckets create alice/s >/dev/null || bk_fail "create bucket"
W=$BK_TMP/w; L=$W/local; D=$W/down; mkdir -p "$L/b"
T0=1700000000   # fixed mtimes (epoch seconds) make every row deterministic

run() { "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
ok_run() { local n=$1; shift; run "$@"; if [ $RC -eq 0 ]; then bk_ok "$n"; else bk_fail "$n" "rc=$RC err=$ERR"; fi; }
fail_run() { local n=$1; shift; run "$@"
  if [ $RC -ne 0 ] && [[ "$ERR" == Error:* ]]; then bk_ok "$n"; else bk_fail "$n" "rc=$RC out=$OUT err=$ERR"; fi; }
py() { "$BK_PY" -c "$@"; }
mk() { mkdir -p "$(dirname "$1")"; printf '%s' "$2" >"$1"; touch -d "@$3" "$1"; }  # file content epoch
# op PATH [sync args...]: "action|reason" of PATH in a dry-run plan ("none" if absent)
op() { local p=$1; shift; "$HF" sync "$@" --dry-run >"$BK_TMP/plan" 2>"$BK_TMP/err"
  py 'import json,sys
r="none"
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("type")=="operation" and d["path"]==sys.argv[2]: r=d["action"]+"|"+d["reason"]
print(r)' "$BK_TMP/plan" "$p"; }
rls() { "$HF" buckets ls "$1" -R -q 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
# Validates a plan file against the documented JSONL format; prints "ok" or the problem.
check_plan() { py 'import json,sys,datetime
lines=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
h=lines[0]; ops=lines[1:]
assert h["type"]=="header", "header type"
assert set(h)=={"type","source","dest","timestamp","summary"}, sorted(h)
assert h["source"]==sys.argv[2] and h["dest"]==sys.argv[3], (h["source"],h["dest"])
datetime.datetime.fromisoformat(h["timestamp"])
s=h["summary"]; assert set(s)=={"uploads","downloads","deletes","skips","total_size"}, sorted(s)
cnt={"upload":0,"download":0,"delete":0,"skip":0}; tot=0
for o in ops:
    assert o["type"]=="operation"
    assert set(o) <= {"type","action","path","reason","size","local_mtime","remote_mtime"}, sorted(o)
    assert {"action","path","reason"} <= set(o)
    cnt[o["action"]]+=1
    if o["action"] in ("upload","download"): tot+=o["size"]
    for k in ("local_mtime","remote_mtime"):
        if k in o: assert datetime.datetime.fromisoformat(o[k]).utcoffset() is not None
assert [o["path"] for o in ops]==sorted(o["path"] for o in ops), "sorted"
assert (s["uploads"],s["downloads"],s["deletes"],s["skips"])==(cnt["upload"],cnt["download"],cnt["delete"],cnt["skip"]), (s,cnt)
assert s["total_size"]==tot
print("ok")' "$@" 2>&1 | tail -1; }

mk "$L/a.txt" "hello" $T0; mk "$L/b/c.txt" "ccccc" $T0; mk "$L/b/d.bin" "dddddd" $T0

# ---- dry-run of a first upload
"$HF" sync "$L" "$R" --dry-run >"$BK_TMP/p1" 2>"$BK_TMP/err"; bk_expect "dry-run exit 0" 0 $?
bk_expect "dry-run JSONL matches the documented format" ok "$(check_plan "$BK_TMP/p1" "$L" "$R")"
bk_expect "dry-run: 3 new files" "3 upload new file" "$(py 'import json,sys
ops=[json.loads(l) for l in open(sys.argv[1])][1:]
print(len(ops), *sorted({o["action"]+" "+o["reason"] for o in ops}))' "$BK_TMP/p1")"
bk_expect "dry-run size and local_mtime" "6|2023-11-14T22:13:20+00:00" "$(py 'import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l)
    if o.get("path")=="b/d.bin": print(str(o["size"])+"|"+o["local_mtime"])' "$BK_TMP/p1")"
bk_expect "dry-run changed nothing" "" "$(rls alice/s)"

# ---- upload, then no-op re-sync
ok_run "sync upload" sync "$L" "$R"
case "$OUT" in *"Sync plan: $L -> $R"*"Uploads: 3"*"Sync completed."*) bk_ok "sync output";; *) bk_fail "sync output" "$OUT";; esac
bk_expect "remote after upload" "data/a.txt data/b/c.txt data/b/d.bin" "$(rls alice/s)"
ok_run "re-sync" sync "$L" "$R"; case "$OUT" in *"Nothing to sync."*) bk_ok "re-sync nothing to do";; *) bk_fail "re-sync nothing to do" "$OUT";; esac
bk_expect "row: identical" "skip|identical" "$(op a.txt "$L" "$R")"

# ---- decision table, upload direction
mk "$L/a.txt" "hello world" $T0                      # size differs, same mtime
mk "$L/b/c.txt" "CCCCC" $((T0 + 10))                 # same size, local newer
mk "$L/b/d.bin" "DDDDDD" $((T0 - 10))                # same size, remote newer
mk "$L/n.txt" "new" $T0                              # only local
bk_expect "row: size differs" "upload|size differs" "$(op a.txt "$L" "$R")"
bk_expect "row: local newer" "upload|local newer" "$(op b/c.txt "$L" "$R")"
bk_expect "row: dest newer -> identical" "skip|identical" "$(op b/d.bin "$L" "$R")"
bk_expect "row: new file" "upload|new file" "$(op n.txt "$L" "$R")"
bk_expect "row: --ignore-times same size" "skip|same size" "$(op b/c.txt "$L" "$R" --ignore-times)"
bk_expect "row: --ignore-times size differs" "upload|size differs" "$(op a.txt "$L" "$R" --ignore-times)"
bk_expect "row: --ignore-sizes same mtime" "skip|same mtime" "$(op a.txt "$L" "$R" --ignore-sizes)"
bk_expect "row: --ignore-sizes local newer" "upload|local newer" "$(op b/c.txt "$L" "$R" --ignore-sizes)"
bk_expect "row: --ignore-sizes remote newer" "skip|remote newer" "$(op b/d.bin "$L" "$R" --ignore-sizes)"
bk_expect "row: --existing new file" "skip|new file (--existing)" "$(op n.txt "$L" "$R" --existing)"
bk_expect "row: --existing updates existing" "upload|size differs" "$(op a.txt "$L" "$R" --existing)"
bk_expect "row: --ignore-existing" "skip|exists on receiver (--ignore-existing)" "$(op a.txt "$L" "$R" --ignore-existing)"
bk_expect "row: --ignore-existing new file" "upload|new file" "$(op n.txt "$L" "$R" --ignore-existing)"
"$HF" cp "$L/n.txt" "$R/remote-only.txt" >/dev/null 2>&1
bk_expect "row: dest only, no --delete" "none" "$(op remote-only.txt "$L" "$R")"
bk_expect "row: dest only, --delete" "delete|not in source (--delete)" "$(op remote-only.txt "$L" "$R" --delete)"

# ---- -v and -q
run sync "$L" "$R" -v --delete
case "$OUT" in *"  Uploading: a.txt (size differs)"*"  Skipping: b/d.bin (identical)"*"  Deleting: remote-only.txt (not in source (--delete))"*) bk_ok "-v per-file lines";; *) bk_fail "-v per-file lines" "$OUT";; esac
bk_expect "--delete upload applied" "data/a.txt data/b/c.txt data/b/d.bin data/n.txt" "$(rls alice/s)"
mk "$L/q.txt" "quiet" $T0
run sync "$L" "$R" -q; bk_expect "-q prints nothing" "0|" "$RC|$OUT"

run sync "$L" "$R" --json
bk_expect "--json result" "0 0" "$(printf '%s' "$OUT" | py 'import json,sys; d=json.load(sys.stdin); print(d["uploads"], d["deletes"])')"
run sync "$L" "$R" --format agent; case "$OUT" in "source=$L dest=$R uploads=0 "*) bk_ok "--format agent result";; *) bk_fail "--format agent result" "$OUT";; esac

# ---- download direction
ok_run "sync download" sync "$R" "$D"
# b/d.bin was never uploaded (the remote copy was newer), so the bucket still has "dddddd"
diff -r -x d.bin "$L" "$D" >/dev/null && bk_ok "download tree identical" || bk_fail "download tree identical" "$(diff -r "$L" "$D" 2>&1 | head -3)"
bk_expect "download has the bucket's version" "dddddd" "$(cat "$D/b/d.bin")"
bk_expect "download keeps remote mtime" "$(stat -c %Y "$L/b/c.txt")" "$(stat -c %Y "$D/b/c.txt")"
run sync "$R" "$D"; case "$OUT" in *"Nothing to sync."*) bk_ok "download re-sync nothing to do";; *) bk_fail "download re-sync nothing to do" "$OUT";; esac
mk "$W/a2.txt" "hello again, longer" $((T0 + 100))
"$HF" cp "$W/a2.txt" "$R/a.txt" >/dev/null 2>&1
bk_expect "down row: size differs" "download|size differs" "$(op a.txt "$R" "$D")"
mk "$W/c2.txt" "Ccccc" $((T0 + 100)); "$HF" cp "$W/c2.txt" "$R/b/c.txt" >/dev/null 2>&1
bk_expect "down row: remote newer" "download|remote newer" "$(op b/c.txt "$R" "$D")"
touch -d "@$((T0 + 500))" "$D/b/d.bin"
bk_expect "down row: local newer -> identical" "skip|identical" "$(op b/d.bin "$R" "$D")"
bk_expect "down row: --ignore-sizes local newer" "skip|local newer" "$(op b/d.bin "$R" "$D" --ignore-sizes)"
mk "$D/extra/only-local.txt" "x" $T0
bk_expect "down row: local only, no --delete" "none" "$(op extra/only-local.txt "$R" "$D")"
bk_expect "down row: local only, --delete" "delete|not in source (--delete)" "$(op extra/only-local.txt "$R" "$D" --delete)"
ok_run "download --delete" sync "$R" "$D" --delete
[ ! -e "$D/extra" ] && bk_ok "local delete removed file and empty dir" || bk_fail "local delete removed file and empty dir"
cmp -s "$W/a2.txt" "$D/a.txt" && bk_ok "updated file downloaded" || bk_fail "updated file downloaded"

# ---- filters
bk_expect "--include" "upload|new file" "$(op b/d.bin "$L" hf://buckets/alice/s/f --include '*.bin')"
bk_expect "--include excludes others" "none" "$(op a.txt "$L" hf://buckets/alice/s/f --include '*.bin')"
bk_expect "--exclude" "none" "$(op b/c.txt "$L" hf://buckets/alice/s/f --exclude 'b/*')"
bk_expect "--exclude keeps others" "upload|new file" "$(op a.txt "$L" hf://buckets/alice/s/f --exclude 'b/*')"
printf '# rules\n+ b/c.txt\n- b/*\n' >"$W/rules"
bk_expect "--filter-from include rule" "upload|new file" "$(op b/c.txt "$L" hf://buckets/alice/s/f --filter-from "$W/rules")"
bk_expect "--filter-from exclude rule" "none" "$(op b/d.bin "$L" hf://buckets/alice/s/f --filter-from "$W/rules")"
bk_expect "excluded remote file never deleted" "none" "$(op remote-x.bin "$L" "$R" --delete --exclude '*.bin')"

# ---- --plan / --apply / stale plans
mk "$L/p.txt" "planned" $T0
run sync "$L" "$R" --plan "$W/plan.jsonl"
case "$OUT" in *"Plan saved to: $W/plan.jsonl"*) bk_ok "--plan saved";; *) bk_fail "--plan saved" "$OUT $ERR";; esac
case "$ERR" in *"hf buckets sync --apply $W/plan.jsonl"*) bk_ok "--plan hint";; *) bk_fail "--plan hint" "$ERR";; esac
bk_expect "--plan file format" ok "$(check_plan "$W/plan.jsonl" "$L" "$R")"
"$HF" sync "$L" "$R" --dry-run >"$W/dry.jsonl" 2>/dev/null
bk_expect "--plan equals --dry-run (timestamp aside)" same "$(py 'import json,sys
a=[json.loads(l) for l in open(sys.argv[1])]; b=[json.loads(l) for l in open(sys.argv[2])]
a[0].pop("timestamp"); b[0].pop("timestamp"); print("same" if a==b else "differ")' "$W/plan.jsonl" "$W/dry.jsonl")"
case " $(rls alice/s) " in *" data/p.txt "*) bk_fail "--plan changed nothing";; *) bk_ok "--plan changed nothing";; esac
ok_run "--apply" sync --apply "$W/plan.jsonl"
case " $(rls alice/s) " in *" data/p.txt "*) bk_ok "--apply uploaded";; *) bk_fail "--apply uploaded";; esac
mk "$L/p.txt" "planned v2" $((T0 + 50))
"$HF" sync "$L" "$R" --plan "$W/plan2.jsonl" >/dev/null 2>&1
mk "$L/p.txt" "planned v3, changed after planning" $((T0 + 60))
fail_run "stale plan refused" sync --apply "$W/plan2.jsonl"
case "$ERR" in *stale*p.txt*) bk_ok "stale message names the file";; *) bk_fail "stale message names the file" "$ERR";; esac
"$HF" cp "hf://buckets/alice/s/data/p.txt" "$W/p.now" >/dev/null 2>&1
bk_expect "stale plan changed nothing" "planned" "$(cat "$W/p.now")"
ok_run "--apply --force" sync --apply "$W/plan2.jsonl" --force
"$HF" cp "hf://buckets/alice/s/data/p.txt" "$W/p.now" >/dev/null 2>&1
bk_expect "--force uploaded current contents" "planned v3, changed after planning" "$(cat "$W/p.now")"
rm -rf "$W/pd"; "$HF" sync "$R" "$W/pd" --plan "$W/plan3.jsonl" >/dev/null 2>&1
mk "$W/p4.txt" "remote changed" $((T0 + 900)); "$HF" cp "$W/p4.txt" "$R/p.txt" >/dev/null 2>&1
fail_run "stale download plan refused" sync --apply "$W/plan3.jsonl"
printf '{"type":"header","source":"%s","dest":"%s","timestamp":"x"}\n{"type":"operation","action":"download","path":"../escape.txt","reason":"x"}\n' "$R" "$W/pd" >"$W/evil.jsonl"
fail_run "plan with ../ path refused" sync --apply "$W/evil.jsonl" --force
printf '{"type":"header","source":"%s","dest":"%s","timestamp":"x"}\n{"type":"operation","action":"download","path":"a.txt","reason":"x"}\n{"type":"operation","action":"download","path":"a.txt","reason":"x"}\n' "$R" "$W/pd" >"$W/dup.jsonl"
fail_run "plan listing a path twice refused" sync --apply "$W/dup.jsonl" --force
[ ! -e "$W/escape.txt" ] && bk_ok "nothing written outside" || bk_fail "nothing written outside"
# the plan file must be a regular file: a missing one is named, a FIFO is refused, not waited on
fail_run "missing plan file" sync --apply "$W/no-such-plan.jsonl"
bk_expect "missing plan file message" "Error: cannot read plan $W/no-such-plan.jsonl: No such file or directory" "$(head -n1 "$BK_TMP/err")"
mkfifo "$W/plan.fifo"
timeout 10 "$HF" sync --apply "$W/plan.fifo" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; ERR=$(cat "$BK_TMP/err")
bk_expect "plan FIFO refused (exit 1, not a hang)" 1 "$RC"
case "$ERR" in *"cannot read plan $W/plan.fifo"*"not a regular file"*) bk_ok "plan FIFO message";; *) bk_fail "plan FIFO message" "$ERR";; esac
rm -f "$W/plan.fifo"

# ---- option conflicts and argument errors
fail_run "--ignore-times + --ignore-sizes" sync "$L" "$R" --ignore-times --ignore-sizes
fail_run "--existing + --ignore-existing" sync "$L" "$R" --existing --ignore-existing
fail_run "--dry-run + --plan" sync "$L" "$R" --dry-run --plan "$W/x"
fail_run "--apply + SOURCE" sync "$L" "$R" --apply "$W/plan.jsonl"
fail_run "--apply + --delete" sync --apply "$W/plan.jsonl" --delete
fail_run "remote to remote" sync "$R" hf://buckets/alice/s/other
fail_run "local to local" sync "$L" "$W/elsewhere"
fail_run "source not a directory" sync "$L/a.txt" "$R"
fail_run "missing bucket for download" sync hf://buckets/alice/nope "$W/nope"

# ---- path boundaries for --delete
for p in logs/x.txt logs.json logs_backup/y.txt; do "$HF" cp "$L/a.txt" "hf://buckets/alice/s/$p" >/dev/null 2>&1; done
mkdir -p "$W/lg"; mk "$W/lg/z.txt" "z" $T0
bk_expect "--delete plan stays inside the prefix" "delete x.txt|upload z.txt" "$("$HF" sync "$W/lg" hf://buckets/alice/s/logs --delete --dry-run 2>/dev/null | py 'import json,sys
print("|".join(sorted(d["action"]+" "+d["path"] for d in map(json.loads,sys.stdin) if d["type"]=="operation")))')"
ok_run "sync --delete to prefix logs" sync "$W/lg" hf://buckets/alice/s/logs --delete
bk_expect "siblings of the prefix untouched" "logs.json logs/z.txt logs_backup/y.txt" "$("$HF" buckets ls alice/s -R -q | grep '^logs' | sort | tr '\n' ' ' | sed 's/ $//')"
ok_run "download prefix logs" sync hf://buckets/alice/s/logs "$W/lgd"
bk_expect "download prefix only" "z.txt" "$(cd "$W/lgd" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ' | sed 's/ $//')"

# ---- an interrupted sync can be re-run and finishes the rest
I=$W/big; mkdir -p "$I"
for i in $(seq 1 150); do head -c 40000 /dev/urandom >"$I/f$i.bin"; done
head -c 24000000 /dev/urandom >"$I/large.bin"
"$HF" sync "$I" hf://buckets/alice/s/big >/dev/null 2>&1 &
SP=$!; sleep 0.4; kill -9 $SP 2>/dev/null; wait $SP 2>/dev/null
ok_run "re-run after kill -9" sync "$I" hf://buckets/alice/s/big
run sync "$I" hf://buckets/alice/s/big; case "$OUT" in *"Nothing to sync."*) bk_ok "nothing left after re-run";; *) bk_fail "nothing left after re-run" "$OUT";; esac
ok_run "download everything back" sync hf://buckets/alice/s/big "$W/big2"
diff -r "$I" "$W/big2" >/dev/null && bk_ok "interrupted+resumed upload is complete and identical" || bk_fail "interrupted+resumed upload is complete and identical"
bk_summary
