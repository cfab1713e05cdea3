#!/usr/bin/env bash
# Slow clients (issue 11 item 6): connections that trickle a byte now and then
# (headers or body) must not stall everyone. With the default options, 300
# such connections from 10 loopback addresses are open while whoami is still
# answered; a per-address cap refuses connections over it; a header sender is
# cut after --header-timeout, a body sender below --min-body-rate after its
# grace, a keep-alive connection idles at most --header-timeout; the same with
# the epoll thread pool. The slow connections come from 127.0.1.x (all of
# 127.0.0.0/8 is loopback), whoami from 127.0.0.1.
. "$(dirname "$0")/lib.sh"
SLOW="$BUCKETS_ROOT/bench/slowloris.py"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# 1. defaults: 300 slow header / body connections, whoami answers (each
#    request must answer within 2 s; before the fix none did: the 256
#    connection slots were all held by the slow clients)
bk_start --quiet
A=$(bk_user_token alice write)
for mode in headers body; do
  out=$("$BK_PY" "$SLOW" --port "$BK_PORT" --conns 300 --addrs 10 --mode $mode --interval 1 \
        --settle 2 --requests 20 --timeout 2 --token "$A")
  echo "# $out"
  bk_expect "defaults, 300 slow $mode connections: whoami answers 20 of 20 within 2 s" 20 "$(field ok "$out")"
  open=$(field slow_open "$out")
  bk_check "the 300 slow $mode connections were still open ($open)" test "${open:-0}" -ge 295
done
bk_stop

# 2. per-address cap: 12 connections from 127.0.1.1 with a cap of 8
bk_start --max-conns-per-ip 8
out=$("$BK_PY" "$SLOW" --port "$BK_PORT" --conns 12 --addrs 1 --mode headers --interval 0.5 \
      --settle 1.5 --requests 3 --timeout 2)
echo "# $out"
bk_expect "cap 8 per address: 8 of 12 stay open" 8 "$(field slow_open "$out")"
bk_expect "cap 8 per address: 4 of 12 refused" 4 "$(field slow_refused "$out")"
bk_expect "another address is still served" 3 "$(field ok "$out")"
bk_stop

# 3-5. deadlines, thread per connection (and the cuts with the epoll pool)
probe() { # MODE -> "closed after S s" / "answered STATUS after S s" / "open"
  "$BK_PY" - "$BK_PORT" "$1" <<'PY'
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(0.05)
t0 = time.monotonic()
def recv():
    try:
        d = s.recv(65536)
        return d if d else b"EOF"
    except socket.timeout:
        return b""
    except OSError:
        return b"EOF"
def finish(d):
    if d == b"EOF": print("closed after %.2f s" % (time.monotonic() - t0))
    else: print("answered %s after %.2f s" % (d.split(b" ")[1].decode(), time.monotonic() - t0))
    sys.exit(0)
if mode in ("headers", "body", "fastbody"):
    if mode == "headers":
        s.sendall(b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n"); piece, step = b"X", 0.3
    else:
        s.sendall(b"POST /api/repos/move HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 60000\r\n\r\n")
        piece, step = (b" ", 0.3) if mode == "body" else (b" " * 12000, 0.3)
    sent = 0
    while time.monotonic() - t0 < 8:
        try:
            if mode == "fastbody" and sent >= 60000: break
            s.sendall(piece); sent += len(piece)
        except OSError:
            finish(b"EOF")
        d = recv()
        if d: finish(d)
        time.sleep(step)
    while time.monotonic() - t0 < 8:
        d = recv()
        if d: finish(d)
    print("open"); sys.exit(0)
if mode == "keepalive":  # two requests 1 s apart on one connection, then idle
    for i in range(2):
        s.sendall(b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n\r\n")
        d = b""
        while b"\r\n\r\n" not in d:
            x = recv()
            if x == b"EOF": print("closed before answer %d" % i); sys.exit(0)
            d += x
        time.sleep(1.0)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8:
        if recv() == b"EOF": print("idle closed after %.2f s" % (time.monotonic() - t0)); sys.exit(0)
    print("open"); sys.exit(0)
PY
}
secs() { sed -n 's/.* after \([0-9.]*\) s/\1/p' <<<"$1"; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN{exit !(v != "" && v >= lo && v <= hi)}'; }
for pool in "" "--threads 4"; do
  tag=${pool:+, pool}
  # shellcheck disable=SC2086
  bk_start --header-timeout 2 --min-body-rate 1000 $pool
  r=$(probe headers); echo "# headers: $r"
  bk_check "header sender cut after --header-timeout 2 ($r)$tag" between "$(secs "$r")" 1.9 7
  bk_check "cut is a close, not an answer$tag" grep -q '^closed' <<<"$r"
  bk_check "header-timeout logged$tag" grep -q 'header-timeout' "$BK_LOG"
  r=$(probe body); echo "# body: $r"
  bk_check "body at 3 B/s cut after the 2 s grace ($r)$tag" between "$(secs "$r")" 1.9 7
  bk_check "slow-body logged with the request$tag" grep -q 'POST /api/repos/move 0 .* slow-body (aborted)' "$BK_LOG"
  if [ -z "$pool" ]; then
    r=$(probe fastbody); echo "# fastbody: $r"
    bk_check "body at 40 KB/s completes and is answered ($r)" grep -q '^answered 4' <<<"$r"
    r=$(probe keepalive); echo "# keepalive: $r"
    bk_check "keep-alive: 2 requests, then idle closed after the header timeout ($r)" \
      between "$(secs "$r")" 0.5 7
  fi
  bk_req GET /api/whoami-v2; bk_expect "server fine afterwards$tag" 401 "$BK_STATUS"
  bk_stop
done
bk_summary
