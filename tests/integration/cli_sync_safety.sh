#!/usr/bin/env bash
# Data safety of `hf buckets sync` / `hf cp` downloads and of the sync
# decision (issue 11, items 3-5), against a real bucketd with the real `hf`:
#  - a same-size file rewritten within the 1 s mtime window is transferred
#    (the Xet hash decides), in both directions; an untouched one is not;
#  - bucket keys never make a download write outside the target: a symlinked
#    directory (to outside, and one created by the test deeper down), a
#    symlink at the file name itself, '..'-style keys the server might
#    accept, cp into a directory; with openat2 and with the O_NOFOLLOW
#    per-component fallback (BK_NO_OPENAT2=1);
#  - a key whose segment is too long for the local filesystem is reported,
#    the other 9 files arrive, exit status 1 with a summary line.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_HOME=$BK_TMP/hfhome HF_TOKEN=$A
W=$BK_TMP/w; mkdir -p "$W"
T0=1700000000
ND=(-H 'Content-Type: application/x-ndjson')

run() { "$HF" "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; OUT=$(cat "$BK_TMP/out"); ERR=$(cat "$BK_TMP/err"); }
# op PLANFILE PATH: "action|reason" of PATH in a JSONL plan ("none" if absent)
op() { "$BK_PY" -c 'import json,sys
r="none"
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("type")=="operation" and d["path"]==sys.argv[2]: r=d["action"]+"|"+d["reason"]
print(r)' "$1" "$2"; }
rcat() { "$HF" cp "$1" - 2>/dev/null; }
xh() { "$BK_BIN/xetsum" "$1" | cut -d' ' -f1; }
# add KEY HASH SIZE BUCKET: register a key through the batch API (no client-side checks)
add() { bk_req POST "/api/buckets/alice/$4/batch" "$A" "${ND[@]}" --data-binary \
  "$("$BK_PY" -c 'import json,sys; print(json.dumps({"type":"addFile","path":sys.argv[1],"xetHash":sys.argv[2],"size":int(sys.argv[3]),"mtime":1700000000000}))' "$1" "$2" "$3")"; }

# ================================================== item 3: sub-second rewrites
"$HF" buckets create alice/t >/dev/null || bk_fail "create alice/t"
R=hf://buckets/alice/t
L=$W/up; mkdir -p "$L"
printf 'version-1' >"$L/f.txt"; touch -d "@$T0.200" "$L/f.txt"
printf 'same-same' >"$L/g.txt"; touch -d "@$T0.200" "$L/g.txt"
run sync "$L" "$R"; bk_expect "upload: first sync" 0 "$RC"
printf 'version-2' >"$L/f.txt"; touch -d "@$T0.700" "$L/f.txt"   # same size, 0.5 s later
touch -d "@$T0.900" "$L/g.txt"                                  # only the mtime moved
"$HF" sync "$L" "$R" --dry-run >"$BK_TMP/plan" 2>/dev/null
bk_expect "upload: same-size rewrite within 1 s is planned" "upload|content differs" "$(op "$BK_TMP/plan" f.txt)"
bk_expect "upload: touched, unchanged file stays a skip" "skip|identical" "$(op "$BK_TMP/plan" g.txt)"
run sync "$L" "$R"
bk_expect "upload: sync exit 0" 0 "$RC"
case "$OUT" in *"Uploads: 1"*) bk_ok "upload: one upload";; *) bk_fail "upload: one upload" "$OUT";; esac
bk_expect "upload: the new content is in the bucket" "version-2" "$(rcat "$R/f.txt")"
# the same without touch: write, sync, rewrite at once (well within a second), sync
printf 'AAAAAAAA' >"$L/h.txt"; "$HF" sync "$L" "$R" >/dev/null 2>&1
printf 'BBBBBBBB' >"$L/h.txt"; run sync "$L" "$R"
case "$OUT" in *"Nothing to sync."*) bk_fail "upload: immediate rewrite is not 'Nothing to sync'" "$OUT";;
  *) bk_ok "upload: immediate rewrite is not 'Nothing to sync'";; esac
bk_expect "upload: immediate rewrite arrives" "BBBBBBBB" "$(rcat "$R/h.txt")"

# a file above 32 MiB is hashed in parallel 64 MiB windows (here two): same hash as the upload's
head -c $((72 << 20)) /dev/urandom >"$L/big.bin"; touch -d "@$T0.100" "$L/big.bin"
"$HF" sync "$L" "$R" >/dev/null 2>&1 || bk_fail "upload big.bin"
touch -d "@$T0.600" "$L/big.bin"
"$HF" sync "$L" "$R" --dry-run >"$BK_TMP/plan" 2>/dev/null
bk_expect "upload: 72 MiB file, touched only: skip" "skip|identical" "$(op "$BK_TMP/plan" big.bin)"
printf 'Z' | dd of="$L/big.bin" bs=1 seek=$((70 << 20)) conv=notrunc 2>/dev/null; touch -d "@$T0.800" "$L/big.bin"
"$HF" sync "$L" "$R" --dry-run >"$BK_TMP/plan" 2>/dev/null
bk_expect "upload: 72 MiB file, one byte changed: upload" "upload|content differs" "$(op "$BK_TMP/plan" big.bin)"
rm -f "$L/big.bin"; "$HF" buckets rm alice/t/big.bin -y >/dev/null 2>&1

# download direction: the remote copy is replaced (same size) 0.5 s after ours
D=$W/down
run sync "$R" "$D"; bk_expect "download: first sync" 0 "$RC"
bk_expect "download: local mtime is the remote one" "$T0.700" "$(stat -c %.3Y "$D/f.txt")"
printf 'version-3' >"$W/v3"; touch -d "@$T0.950" "$W/v3"
"$HF" cp "$W/v3" "$R/f.txt" >/dev/null 2>&1 || bk_fail "replace remote f.txt"
"$HF" sync "$R" "$D" --dry-run >"$BK_TMP/plan" 2>/dev/null
bk_expect "download: same-size remote rewrite within 1 s is planned" "download|content differs" "$(op "$BK_TMP/plan" f.txt)"
bk_expect "download: unchanged file stays a skip" "skip|identical" "$(op "$BK_TMP/plan" g.txt)"
run sync "$R" "$D"
bk_expect "download: sync exit 0" 0 "$RC"
bk_expect "download: the new content arrived" "version-3" "$(cat "$D/f.txt")"
touch -d "@$T0.500" "$D/g.txt"   # local mtime moved within the window, content equal
"$HF" sync "$R" "$D" --dry-run >"$BK_TMP/plan" 2>/dev/null
bk_expect "download: equal content within the window is skipped" "skip|identical" "$(op "$BK_TMP/plan" g.txt)"

# ================================================== item 4: never outside the target
"$HF" buckets create alice/x >/dev/null || bk_fail "create alice/x"
X=hf://buckets/alice/x
printf 'PWNED' >"$W/p"; "$HF" cp "$W/p" "$X/link/pwn" >/dev/null 2>&1 || bk_fail "upload link/pwn"
HP=$(xh "$W/p")
for k in ok.txt sub/ok2.txt fin.txt deep/a/b.txt; do
  printf 'fine' >"$W/o"; "$HF" cp "$W/o" "$X/$k" >/dev/null 2>&1 || bk_fail "upload $k"
done
escape_run() { # NAME [env...]: sync X into a fresh target with planted symlinks
  local name=$1; shift
  local T=$W/t-$name OUT=$W/outside-$name
  rm -rf "$T" "$OUT"; mkdir -p "$T/deep" "$OUT/deepdir" "$OUT/victim-dir"
  ln -s "$OUT" "$T/link"                                   # target/link -> outside
  printf 'ORIGINAL' >"$OUT/victim"; ln -s "$OUT/victim" "$T/fin.txt"   # file name is a symlink
  ln -s "$OUT/deepdir" "$T/deep/a"                         # symlinked intermediate dir, deeper
  env "$@" "$HF" sync "$X" "$T" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; ERR=$(cat "$BK_TMP/err")
  bk_expect "$name: sync exits 1" 1 "$RC"
  bk_expect "$name: nothing written outside the target" "deepdir victim victim-dir" "$(ls "$OUT" | tr '\n' ' ' | sed 's/ $//')"
  bk_expect "$name: outside dirs stay empty" "" "$(ls -A "$OUT/deepdir" "$OUT/victim-dir" | grep -v ':$' | tr -d '\n')"
  bk_expect "$name: symlinked file not followed" "ORIGINAL" "$(cat "$OUT/victim")"
  bk_check "$name: symlink at the file name not replaced" test -L "$T/fin.txt"
  case "$ERR" in *"Failed: link/pwn"*"symbolic link"*) bk_ok "$name: link/pwn reported";; *) bk_fail "$name: link/pwn reported" "$ERR";; esac
  case "$ERR" in *"Failed: fin.txt"*"symbolic link"*) bk_ok "$name: fin.txt reported";; *) bk_fail "$name: fin.txt reported" "$ERR";; esac
  case "$ERR" in *"Failed: deep/a/b.txt"*"symbolic link"*) bk_ok "$name: deep/a/b.txt reported";; *) bk_fail "$name: deep/a/b.txt reported" "$ERR";; esac
  case "$ERR" in *"Error: "*"could not be downloaded"*) bk_ok "$name: summary line";; *) bk_fail "$name: summary line" "$ERR";; esac
  bk_expect "$name: the safe files arrived" "fine fine" "$(cat "$T/ok.txt") $(cat "$T/sub/ok2.txt")"
  bk_expect "$name: no temp files left" "" "$(find "$T" "$OUT" -name '*.bkpart.*')"
}
escape_run openat2
escape_run fallback BK_NO_OPENAT2=1

# '..'-style keys, in a bucket of their own: whatever the server accepts must
# land beneath the target (the client also drops unsafe listed paths)
"$HF" buckets create alice/tr >/dev/null || bk_fail "create alice/tr"
"$HF" cp "$W/p" hf://buckets/alice/tr/base >/dev/null 2>&1 || bk_fail "upload tr/base"
tricks=0
for k in '../evil1' 'a/../../evil2' './evil3' 'a/./evil4' '..' '...' '.../evil5' 'a/..' ' ../evil6' '..\evil7' 'sub/../../evil8' '%2e%2e/evil9'; do
  add "$k" "$HP" 5 tr
  [ "$BK_STATUS" = 200 ] && [ "$(bk_json 'len(j.get("failed") or [])')" = 0 ] && tricks=$((tricks + 1))
done
echo "server accepted $tricks of the 12 '..'-style keys: $("$HF" buckets ls alice/tr -R -q | tr '\n' '|')"
for env in BK_NO_OPENAT2=0 BK_NO_OPENAT2=1; do
  TT=$W/t-tricks/in; rm -rf "$W/t-tricks"; mkdir -p "$TT"
  env $env "$HF" sync hf://buckets/alice/tr "$TT" >/dev/null 2>&1
  bk_expect "'..' keys ($env): nothing written outside the target" "" \
    "$(find "$W" -name '*evil*' -not -path "$TT/*" | head -3)"
done

# a hand-edited plan cannot name a path outside the target either
T=$W/t-plan; mkdir -p "$T"
printf '{"type":"header","source":"%s","dest":"%s","timestamp":"2026-01-01T00:00:00+00:00","summary":{}}\n{"type":"operation","action":"download","path":"../evil-plan","reason":"x","size":5}\n' "$X" "$T" >"$BK_TMP/evil.jsonl"
run sync --apply "$BK_TMP/evil.jsonl" --force
bk_expect "plan with '..' refused" 1 "$RC"
bk_check "plan with '..' wrote nothing" test ! -e "$W/evil-plan"
# a symlinked directory inside the target makes --apply --delete fail for that file, not outside
mkdir -p "$W/out-del"; printf 'KEEP' >"$W/out-del/k.txt"; ln -s "$W/out-del" "$T/ln"
printf '{"type":"header","source":"%s","dest":"%s","timestamp":"2026-01-01T00:00:00+00:00","summary":{}}\n{"type":"operation","action":"delete","path":"ln/k.txt","reason":"x","size":4}\n' "$X" "$T" >"$BK_TMP/del.jsonl"
run sync --apply "$BK_TMP/del.jsonl" --force
bk_expect "delete through a symlink: exit 1" 1 "$RC"
bk_expect "delete through a symlink: outside file kept" "KEEP" "$(cat "$W/out-del/k.txt")"

# cp into a directory whose entry of that name is a symlink
C=$W/cpdir; mkdir -p "$C"; printf 'ORIGINAL' >"$W/cp-victim"; ln -s "$W/cp-victim" "$C/ok.txt"
run cp "$X/ok.txt" "$C/"
bk_expect "cp: symlink at the destination name refused" 1 "$RC"
bk_expect "cp: symlink target untouched" "ORIGINAL" "$(cat "$W/cp-victim")"
bk_check "cp: symlink kept" test -L "$C/ok.txt"
rm "$C/ok.txt"; run cp "$X/ok.txt" "$C/"
bk_expect "cp: plain download still works" "0 fine" "$RC $(cat "$C/ok.txt")"

# ================================================== item 5: one unwritable key
"$HF" buckets create alice/l >/dev/null || bk_fail "create alice/l"
Lb=hf://buckets/alice/l
M=$W/many; mkdir -p "$M"
for n in a b c e f g h i j; do printf 'file %s' "$n" >"$M/$n.txt"; done
"$HF" sync "$M" "$Lb" >/dev/null 2>&1 || bk_fail "upload 9 files"
LONG=d$(head -c 1021 /dev/zero | tr '\0' x)   # a 1,022-byte segment: a valid key, too long locally
add "$LONG" "$(xh "$M/a.txt")" 6 l           # same content as a.txt (already stored)
bk_expect "long key accepted by the server" "200 0" "$BK_STATUS $(bk_json 'len(j.get("failed") or [])')"
bk_expect "bucket lists 10 files" 10 "$("$HF" buckets ls alice/l -R -q | wc -l)"
for mode in batch perfile; do
  G=$W/got-$mode; rm -rf "$G"
  if [ $mode = perfile ]; then export BK_NO_BATCH_DOWNLOAD=1; fi
  run sync "$Lb" "$G"
  unset BK_NO_BATCH_DOWNLOAD
  bk_expect "long key ($mode): exit status 1" 1 "$RC"
  bk_expect "long key ($mode): the other 9 files arrived" "9" "$(ls "$G" | wc -l)"
  bk_expect "long key ($mode): contents right" "file a|file e|file j" "$(cat "$G/a.txt")|$(cat "$G/e.txt")|$(cat "$G/j.txt")"
  case "$ERR" in *"Failed: d"*"x"*) bk_ok "long key ($mode): reported";; *) bk_fail "long key ($mode): reported" "$ERR";; esac
  bk_expect "long key ($mode): summary line" "1" "$(grep -c '^Error: 1 of 10 files could not be downloaded (9 done; first failure: ' "$BK_TMP/err")"
  bk_expect "long key ($mode): no temp files left" "" "$(find "$G" -name '*.bkpart.*')"
done
run sync "$Lb" "$G"
bk_expect "long key: re-run downloads nothing new and still reports it" "1" "$RC"
case "$OUT" in *"Downloads: 1"*) bk_ok "long key: re-run plans only the failed file";; *) bk_fail "long key: re-run plans only the failed file" "$OUT";; esac

bk_summary
