#!/usr/bin/env bash
# Fault-injection sweep (issue 11): a small upload (3 files -> one xorb, one
# shard, one batch, through the real `hf`) into a bucketd that runs under the
# LD_PRELOAD shim build/tests/fault/libfaultinject.so (tests/fault/). A
# counting run arms the shim after start-up and measures how many write /
# pwrite / fsync / rename calls the upload makes on files under the data dir
# (SQLite's buckets.db/-wal/-shm and the blob files); then, for every N up to
# that count, a fresh copy of the same data dir gets the Nth call failed:
#   EIO, once (a transient error: hf retries a 500 and may succeed), and
#   ENOSPC, sticky (the disk stays full from the Nth call on).
# Each run must end clean: hf exits 0 (and the files read back) or non-zero
# with an HTTP 5xx error message (507 for ENOSPC; never a hang or a crash);
# bucketd still answers; whatever the bucket lists reads back intact (all 3
# files or none: one batch); no temp file and no descriptor of a removed file is left
# behind; `bucketd fsck --read-data` finds no damage; after a failed run the
# same upload succeeds once the fault is gone, without a restart; every
# bucketd exits 0 on SIGTERM; and no fault is swallowed (the request that hit
# it is answered 5xx). One check per run; tallies are printed last.

# data dirs on tmpfs when there is one (/dev/shm): the shim works at the libc
# level, so the filesystem below changes nothing but the fsync latency
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
. "$(dirname "$0")/lib.sh"
bk_require_local_store "injects faults into the local files of the store (LD_PRELOAD shim)"
HF="$BK_BIN/hf"
case "$BUILD" in /*) FDIR="$BUILD/tests/fault";; *) FDIR="$BUCKETS_ROOT/$BUILD/tests/fault";; esac
SO="$FDIR/libfaultinject.so"
FC="$FDIR/faultctl"
[ -x "$HF" ] && [ -f "$SO" ] && [ -x "$FC" ] || { bk_fail "hf, libfaultinject.so, faultctl built"; bk_summary; }

# template data dir: user, token, bucket (made once, copied for every run)
export BK_DATA=$BK_TMP/tpl
bk_start
TOK=$(bk_user_token alice write)
bk_req POST /api/buckets/alice/b "$TOK" -H 'Content-Type: application/json' --data-binary '{}'
bk_expect "create bucket" 200 "$BK_STATUS"
bk_stop
SRC=$BK_TMP/src; mkdir -p "$SRC"
"$BK_PY" - "$SRC" <<'PY'   # the same bytes every time: the same call sequence
import random, sys
for i in (1, 2, 3):
    open(f"{sys.argv[1]}/f{i}.bin", "wb").write(random.Random(i).randbytes(i * 16000 + 7))
PY

# bucketd under the shim (only bucketd: hf, curl and fsck run without it)
WRAP=$BK_TMP/bucketd-fi
cat >"$WRAP" <<SH
#!/bin/sh
export LD_PRELOAD="$SO" FAULTINJECT_CTL="\$FI_CTL" FAULTINJECT_DIR="\$FI_DIR"
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
exec "$BK_BUCKETD" "\$@"
SH
chmod +x "$WRAP"
export HF_TOKEN=$TOK

# Every run gets its own copy of the template, control file and log, so a
# server still shutting down (SIGTERM sent, not waited for: the exit statuses
# are collected at the end) can neither touch nor be counted by the next run.
# S is the scratch dir of the current sweep (sweeps run side by side).
TPL=$BK_TMP/tpl
S=$BK_TMP/count; mkdir -p "$S"
nruns=0
SERVERS=()
start_run() {
  nruns=$((nruns + 1))
  RUN=$S/r$nruns CTL=$S/r$nruns.ctl LOG=$S/r$nruns.log
  cp -a "$TPL" "$RUN"
  "$FC" "$CTL" init
  rm -rf "$S/home"
  serve_run
}
serve_run() { # bucketd (under the shim, disarmed) on $RUN; appends to $LOG
  local from; from=$(cat "$LOG" 2>/dev/null | wc -l)
  FI_CTL=$CTL FI_DIR=$RUN "$WRAP" serve --listen 127.0.0.1:0 --data "$RUN" 2>>"$LOG" &
  FPID=$!
  SERVERS+=("$FPID")
  local i port=""
  for i in $(seq 1 1000); do
    port=$(tail -n +$((from + 1)) "$LOG" 2>/dev/null | sed -n 's|^bucketd: listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p')
    [ -n "$port" ] && break
    kill -0 "$FPID" 2>/dev/null || break
    sleep 0.01
  done
  [ -n "$port" ] || { cat "$LOG"; bk_fail "bucketd under the shim starts"; bk_summary; }
  export BK_DATA=$RUN BK_URL=http://127.0.0.1:$port HF_ENDPOINT=http://127.0.0.1:$port
  export HF_HOME=$S/home
}
stop_run() { kill -TERM "$FPID" 2>/dev/null; }

upload() { timeout 60 "$HF" buckets sync "$SRC" hf://buckets/alice/b/up >/dev/null 2>"$S/hf.err"; }
# every file the bucket lists under up/ reads back identical; prints the count
listed_ok() {
  rm -rf "$S/dl"; mkdir -p "$S/dl"
  timeout 60 "$HF" buckets sync hf://buckets/alice/b/up "$S/dl" >/dev/null 2>"$S/dl.err" || return 1
  local n=0 f
  for f in "$S/dl"/*; do
    [ -e "$f" ] || continue
    cmp -s "$f" "$SRC/${f##*/}" || return 1
    n=$((n + 1))
  done
  echo "$n"
}

# ---- counting run
start_run
"$FC" "$CTL" arm all EIO 0
upload; RC=$?
COUNTS=$("$FC" "$CTL" show)
"$FC" "$CTL" disarm
bk_expect "counting run uploads" 0 "$RC"
K=$(sed -n 's/^calls=\([0-9]*\) .*/\1/p' <<<"$COUNTS")
echo "counting run: $COUNTS"
bk_check "the upload makes store calls to sweep ($K)" test "${K:-0}" -gt 5
bk_check "the sweep covers SQLite calls" grep -qv ' sqlite=0 ' <<<"$COUNTS"
bk_check "the sweep covers blob calls" grep -qv ' blob=0 ' <<<"$COUNTS"
bk_expect "counting run reads back" 3 "$(listed_ok)"
stop_run
[ "${K:-0}" -gt 200 ] && K=200   # bound the sweep

one_run() { # ERRNO N [sticky]
  local err=$1 n=$2 sticky=${3:-} why="" rc show cls at nl
  start_run
  "$FC" "$CTL" arm all "$err" "$n" $sticky
  upload; rc=$?
  show=$("$FC" "$CTL" show)
  "$FC" "$CTL" disarm
  cls=$(sed -n 's/.* first_class=\([a-z]*\).*/\1/p' <<<"$show")
  cls=${cls:-none}
  at=$(sed -n 's/.* first_op=\([a-z]*\) .* first_path=\(.*\)/\1 \2/p' <<<"$show")
  at=${at/$RUN\//}
  if [ "$rc" -eq 124 ]; then why="hf hung (timeout)"
  elif ! kill -0 "$FPID" 2>/dev/null; then why="bucketd died"
  elif [ "$rc" -ne 0 ] && ! grep -Eq '(HTTP |\()5[0-9][0-9]' "$S/hf.err"; then
    why="hf failed without an HTTP 5xx message: $(head -c 300 "$S/hf.err")"
  elif [ "$rc" -ne 0 ] && [ "$err" = ENOSPC ] && ! grep -q '507' "$S/hf.err"; then
    why="a full disk was not answered 507: $(head -c 300 "$S/hf.err")"
  fi
  # a failed call is never swallowed: the request that hit it is answered 5xx
  # (hf may then retry and succeed). Exception: SQLite ignores the result of
  # its one fsync of the data directory (unixSync, UNIXFILE_DIRSYNC).
  if [ -z "$why" ] && [ "$cls" != none ] && [ "$at" != "fsync $RUN" ] &&
     ! grep -Eq ' (5[0-9][0-9]) [0-9]+B ' "$LOG"; then
    why="the fault ($at) was swallowed: no request was answered 5xx"
  fi
  if [ -z "$why" ]; then
    bk_req GET /api/whoami-v2 "$TOK"
    [ "$BK_STATUS" = 200 ] || why="bucketd does not answer after the fault ($BK_STATUS)"
  fi
  if [ -z "$why" ]; then
    nl=$(listed_ok) || why="a listed file does not read back: $(head -c 300 "$S/dl.err")"
    [ -z "$why" ] && [ "$rc" -eq 0 ] && [ "$nl" != 3 ] && why="hf succeeded but $nl files are listed"
    [ -z "$why" ] && [ "$nl" != 0 ] && [ "$nl" != 3 ] && why="half a batch is visible ($nl files)"
  fi
  if [ -z "$why" ]; then
    local tmps deleted
    tmps=$(find "$RUN/blobs" -name '.tmp.*' | head -3; ls -A "$RUN/blobs/tmp" | head -3)
    deleted=$(ls -l "/proc/$FPID/fd" 2>/dev/null | grep -c '(deleted)')
    [ -n "$tmps" ] && why="temp files left: $tmps"
    [ "$deleted" != 0 ] && why="bucketd holds $deleted descriptor(s) of removed files: $(ls -l "/proc/$FPID/fd" | grep '(deleted)' | head -2)"
  fi
  if [ -z "$why" ] && ! bk_admin fsck --read-data >"$S/fsck" 2>&1; then
    why="fsck: $(grep DAMAGE "$S/fsck" | head -3)"
  fi
  if [ -z "$why" ] && [ "$rc" -ne 0 ]; then # the fault is gone: same upload, same process
    upload || why="upload after the fault failed: $(head -c 300 "$S/hf.err")"
    [ -z "$why" ] && [ "$(listed_ok)" != 3 ] && why="files do not read back after the re-upload"
  fi
  stop_run
  echo "tally $err $([ "$rc" -eq 0 ] && echo succeeded || echo failed-cleanly)"
  echo "tally $err fault-in-$cls"
  if [ -z "$why" ]; then
    bk_ok "$err #$n${sticky:+ ($sticky)}: hf rc=$rc, fault in $cls: ${at:-nothing failed}"
  else
    bk_fail "$err #$n${sticky:+ ($sticky)}: fault in $cls ($show)" "$why"
    tail -n 5 "$LOG"
  fi
}

# Shutdown: the last connection's checkpoint copies the WAL into buckets.db
# (the only writes to the database file itself; an upload this small never
# reaches the auto-checkpoint). Fail each of its calls, then restart (no
# fault): the committed upload must be intact and fsck clean.
stop_wait() { # SIGTERM, wait for the exit (bounded); sets ST to the status
  kill -TERM "$FPID" 2>/dev/null
  local i; for i in $(seq 1 500); do kill -0 "$FPID" 2>/dev/null || break; sleep 0.01; done
  kill -KILL "$FPID" 2>/dev/null
  wait "$FPID"; ST=$?
  unset 'SERVERS[-1]'
}
start_run
upload || bk_fail "shutdown counting run: upload"
"$FC" "$CTL" arm all EIO 0
stop_wait
bk_expect "shutdown counting run: bucketd exits 0" 0 "$ST"
SCOUNTS=$("$FC" "$CTL" show)
echo "shutdown counting run: $SCOUNTS"
KS=$(sed -n 's/^calls=\([0-9]*\) .*/\1/p' <<<"$SCOUNTS")
bk_check "the shutdown writes the database file ($KS calls)" test "${KS:-0}" -gt 0
[ "${KS:-0}" -gt 100 ] && KS=100
shutdown_run() { # ERRNO N
  local err=$1 n=$2 why="" st show at
  start_run
  upload || why="upload before the shutdown failed"
  "$FC" "$CTL" arm all "$err" "$n"
  stop_wait; st=$ST
  show=$("$FC" "$CTL" show)
  at=$(sed -n 's/.* first_op=\([a-z]*\) .* first_path=\(.*\)/\1 \2/p' <<<"$show")
  at=${at/$RUN\//}
  [ -z "$why" ] && [ "$st" != 0 ] && why="bucketd exited $st"
  "$FC" "$CTL" disarm
  serve_run
  if [ -z "$why" ]; then
    local nl; nl=$(listed_ok) || why="a listed file does not read back after the restart"
    [ -z "$why" ] && [ "$nl" != 3 ] && why="$nl of 3 committed files listed after the restart"
  fi
  if [ -z "$why" ] && ! bk_admin fsck --read-data >"$S/fsck" 2>&1; then
    why="fsck: $(grep DAMAGE "$S/fsck" | head -3)"
  fi
  stop_run
  echo "tally shutdown-$err runs"
  if [ -z "$why" ]; then bk_ok "shutdown $err #$n: fault in ${at:-nothing}"
  else bk_fail "shutdown $err #$n: ($show)" "$why"; tail -n 5 "$LOG"; fi
}

# The sweeps run side by side (EIO | ENOSPC, then shutdown), each in a
# subshell with its own scratch dir; their check lines are replayed here.
sweep() { # NAME FUNCTION ARGS...
  local name=$1; shift
  ( S=$BK_TMP/$name; mkdir -p "$S"; BK_TMP=$S; nruns=0; SERVERS=(); BK_PASS=0; BK_FAILN=0
    "$@"
    bad=0
    for p in "${SERVERS[@]}"; do wait "$p" || bad=$((bad + 1)); done
    bk_expect "$name: every bucketd under the shim exited 0 on SIGTERM (${#SERVERS[@]})" 0 "$bad"
    echo "runs $nruns"
  ) >"$BK_TMP/$name.out" 2>&1 &
}
sweep_upload() { local n; for n in $(seq 1 "$K"); do one_run "$1" "$n" ${2:-}; done; }
sweep_shutdown() { local n; for n in $(seq 1 "$KS"); do shutdown_run EIO "$n"; done; }
sweep_full() { sweep_upload ENOSPC sticky; sweep_shutdown; }

T0=$(date +%s)
sweep eio sweep_upload EIO; P1=$!
sweep enospc sweep_full; P2=$!
wait "$P1" "$P2"
bad=0
for p in "${SERVERS[@]}"; do wait "$p" || bad=$((bad + 1)); done
bk_expect "counting runs: every bucketd exited 0 on SIGTERM (${#SERVERS[@]})" 0 "$bad"
declare -A TALLY
total=0
for name in eio enospc; do
  while IFS= read -r line; do
    case $line in
      "ok   "*) BK_PASS=$((BK_PASS + 1)); echo "$line" ;;
      "FAIL "*) BK_FAILN=$((BK_FAILN + 1)); echo "$line" ;;
      "tally "*) k=${line#tally }; TALLY[$k]=$((${TALLY[$k]:-0} + 1)) ;;
      "runs "*) total=$((total + ${line#runs })) ;;
      *) echo "  $line" ;;
    esac
  done <"$BK_TMP/$name.out"
done
bk_check "both sweeps ran ($total runs)" test "$total" -eq $((2 * K + KS))
echo "swept N = 1..$K of the upload for EIO (once) and ENOSPC (sticky), N = 1..$KS of the shutdown for EIO: $total runs in $(($(date +%s) - T0)) s"
for k in "${!TALLY[@]}"; do echo "  $k: ${TALLY[$k]}"; done | sort
bk_summary
