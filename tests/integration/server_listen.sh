#!/usr/bin/env bash
# One bucketd per port and per data dir (issue 21): a second server on a port
# another process listens on fails at start with one clear line (no
# SO_REUSEPORT sharing); a second `serve` on the same data dir names the pid
# and address that serve it; admin commands still work beside a server; a
# server stopped with open connections can be replaced on the same port at
# once (SO_REUSEADDR); a pid file left by a killed server is taken over;
# several servers started at once on port 0 get distinct ports.
. "$(dirname "$0")/lib.sh"
bk_require_data_dir "the data dir serve lock and restarts on it"
B="$BK_BUCKETD"

second() { # ARGS... -> runs `bucketd serve ARGS` that should fail; sets RC (124 = still running) and ERR
  "$B" serve "$@" 2>"$BK_TMP/second.err" &
  local p=$! i
  for i in $(seq 1 100); do kill -0 $p 2>/dev/null || break; sleep 0.05; done
  if kill -0 $p 2>/dev/null; then kill -TERM $p; wait $p; RC=124; else wait $p; RC=$?; fi
  ERR=$(cat "$BK_TMP/second.err")
}

bk_start
A=$(bk_user_token alice write)
PORT=$BK_PORT
bk_expect "pid file names pid and address" "$BK_PID http://127.0.0.1:$PORT" "$(cat "$BK_DATA/bucketd.pid")"

# 1. the same port, another data dir
second --listen "127.0.0.1:$PORT" --data "$BK_TMP/other"
bk_expect "second server on a port in use exits 1" 1 "$RC"
bk_expect "one clear line" "bucketd: 127.0.0.1:$PORT is already in use (is another bucketd running?)" "$ERR"
bk_check "its data dir lock is released (no pid file left)" test ! -e "$BK_TMP/other/bucketd.pid"
n=0; for i in $(seq 1 20); do bk_req GET /api/whoami-v2 "$A"; [ "$BK_STATUS" = 200 ] && n=$((n+1)); done
bk_expect "the first server still answers every request" 20 "$n"

# 2. the same data dir, another port (and the same port: the data dir is checked first)
second --listen 127.0.0.1:0 --data "$BK_DATA"
bk_expect "second serve on the same data dir exits 1" 1 "$RC"
bk_check "it names the pid and address that serve it ($ERR)" \
  grep -qF "is already served by bucketd pid $BK_PID on http://127.0.0.1:$PORT" <<<"$ERR"
second --listen "127.0.0.1:$PORT" --data "$BK_DATA"
bk_check "same data dir and port: the data dir message" grep -qF "pid $BK_PID" <<<"$ERR"
bk_expect "the first server's pid file is untouched" "$BK_PID http://127.0.0.1:$PORT" "$(cat "$BK_DATA/bucketd.pid")"

# 3. admin commands beside the running server
bk_check "user add beside the server" bk_admin user add bob
bk_check "token add beside the server" bk_token bob read
bk_check "token list beside the server" bk_admin token list alice
bk_check "gc beside the server" bk_admin gc
bk_check "fsck beside the server" bk_admin fsck

# 4. stop with open connections (keep-alive after a request, and a request
#    half sent), then at once a new server on the same port
"$BK_PY" - "$PORT" "$BK_TMP/conns.ready" <<'PY' &
import socket, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(6):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    d = b""
    while b"ok\n" not in d:
        d += s.recv(4096)
    socks.append(s)
for i in range(3):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
open(ready, "w").close()
time.sleep(6)
PY
HOLD=$!
for i in $(seq 1 100); do [ -e "$BK_TMP/conns.ready" ] && break; sleep 0.05; done
bk_check "9 connections open before the stop" test -e "$BK_TMP/conns.ready"
OLDPID=$BK_PID
bk_stop
bk_check "pid file removed on a clean stop" test ! -e "$BK_DATA/bucketd.pid"
echo "# sockets on port $PORT after the stop: $(ss -tanH "( sport = :$PORT )" 2>/dev/null | awk '{print $1}' | sort | uniq -c | tr '\n' ' ')"
bk_start --listen "127.0.0.1:$PORT"
bk_expect "restart right after the stop binds the same port" "$PORT" "$BK_PORT"
bk_req GET /api/whoami-v2 "$A"; bk_expect "restarted server answers" 200 "$BK_STATUS"
bk_check "new pid in the pid file" grep -q "^$BK_PID " "$BK_DATA/bucketd.pid"
bk_check "(a different process)" test "$BK_PID" != "$OLDPID"
kill $HOLD 2>/dev/null; wait $HOLD 2>/dev/null

# 5. a killed server leaves a stale pid file: the next start takes it over
kill -KILL "$BK_PID"; wait "$BK_PID" 2>/dev/null; BK_PID=""
bk_check "stale pid file left by SIGKILL" test -s "$BK_DATA/bucketd.pid"
bk_start
bk_check "start over a stale pid file" grep -q "^$BK_PID http://127.0.0.1:$BK_PORT\$" "$BK_DATA/bucketd.pid"
bk_stop

# 6. six servers started at once on port 0 (as parallel test scripts do)
PIDS=()
for k in 1 2 3 4 5 6; do
  "$B" serve --listen 127.0.0.1:0 --data "$BK_TMP/par$k" --quiet 2>"$BK_TMP/par$k.log" &
  PIDS+=($!)
done
ports=()
for k in 1 2 3 4 5 6; do
  p=""
  for i in $(seq 1 200); do
    p=$(sed -n 's|^bucketd: listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$BK_TMP/par$k.log")
    [ -n "$p" ] && break; sleep 0.05
  done
  ports+=("$p")
done
bk_expect "six parallel starts: six distinct ports" 6 "$(printf '%s\n' "${ports[@]}" | grep -c . | tr -d ' ')"
bk_expect "(no port shared)" 6 "$(printf '%s\n' "${ports[@]}" | sort -u | grep -c .)"
okn=0
for k in 1 2 3 4 5 6; do
  [ "$(cat "$BK_TMP/par$k/bucketd.pid" 2>/dev/null)" = "${PIDS[$((k-1))]} http://127.0.0.1:${ports[$((k-1))]}" ] && okn=$((okn+1))
done
bk_expect "each port served by its own process" 6 "$okn"
for p in "${PIDS[@]}"; do kill -TERM "$p"; done
rcs=0; for p in "${PIDS[@]}"; do wait "$p" || rcs=$((rcs+1)); done
bk_expect "all six stop cleanly" 0 "$rcs"
bk_summary
