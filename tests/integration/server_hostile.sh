#!/usr/bin/env bash
# Hostile HTTP input against bucketd: slow clients, connection floods, broken
# request lines, lying lengths, encoding tricks, JSON/NDJSON bombs. After all
# of it the server must still answer and the bucket state must be unchanged.
. "$(dirname "$0")/lib.sh"
XET="$BK_HELPERS/srv_xet"
bk_start --timeout 2 --max-conns 16
A=$(bk_user_token alice write)
J=(-H 'Content-Type: application/json'); ND=(-H 'Content-Type: application/x-ndjson')
bk_req POST /api/buckets/alice/b "$A" "${J[@]}" -d '{}'
bk_xet_seed --bucket alice/b --files 20 --size 500 --prefix d/f >"$BK_TMP/f.nd" 2>/dev/null
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/f.nd"; bk_expect "setup batch" 200 "$BK_STATUS"
state() { bk_req GET '/api/buckets/alice/b/tree?recursive=true&limit=1000' "$A"; bk_json '[(e["path"],e["xetHash"],e["size"]) for e in j]' | md5sum | cut -c1-32; }
S0=$(state)

raw() { # raw request bytes (printf format) -> first status line
  "$BK_PY" - "$BK_PORT" "$1" "${2:-5}" <<'PY'
import socket, sys
port, data, wait = int(sys.argv[1]), sys.argv[2].encode().decode('unicode_escape').encode('latin-1'), float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(wait)
try:
    s.sendall(data); buf = b""
    while b"\r\n" not in buf:
        d = s.recv(4096)
        if not d: break
        buf += d
    print(buf.split(b"\r\n")[0].decode('latin-1') or "CLOSED")
except socket.timeout: print("TIMEOUT")
except ConnectionResetError: print("RESET")
PY
}
code() { echo "$1" | awk '{print $2}'; }
bk_expect "garbage request line: 400 or closed" yes "$(case "$(raw 'GARBAGE\r\n\r\n')" in *400*|CLOSED|RESET) echo yes;; *) echo no;; esac)"
bk_expect "HTTP/9.9" yes "$(case $(code "$(raw 'GET / HTTP/9.9\r\nHost: x\r\n\r\n')") in 4*|5*) echo yes;; *) echo no;; esac)"
bk_expect "non-numeric Content-Length" 400 "$(code "$(raw 'POST /api/buckets/alice/b/batch HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n')")"
bk_expect "negative Content-Length" 400 "$(code "$(raw 'POST /api/buckets/alice/b/batch HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n')")"
bk_expect "huge Content-Length 413 before body" 413 "$(code "$(raw 'POST /api/buckets/alice/b/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n')")"
bk_expect "Expect 100-continue over cap -> 413" 413 "$(code "$(raw 'POST /api/repos/move HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10000000\r\n\r\n')")"
bk_expect "body on GET refused" 413 "$(code "$(raw 'GET /api/buckets/alice/b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789')")"
bk_expect "lying Content-Length (short body) times out" yes "$(case "$(raw 'POST /api/repos/move HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}' 6)" in CLOSED|TIMEOUT|RESET|*408*) echo yes;; *) echo no;; esac)"
bk_expect "slow headers closed by idle timeout" yes "$(case "$(raw 'GET /api/buckets/alice/b HTTP/1.1\r\nHost: x\r\n' 6)" in CLOSED|RESET|*408*) echo yes;; *) echo no;; esac)"
# connection flood: 16 idle connections fill the limit; a 17th is not served
# (it waits in the kernel backlog) until they go, then the server is usable
"$BK_PY" - "$BK_PORT" <<'PY' &
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(16)]
time.sleep(1.5)
PY
FLOOD=$!
sleep 0.5
bk_req GET /api/buckets/alice/b - --max-time 0.5; S_FLOOD=$BK_STATUS
wait $FLOOD
bk_expect "connection limit: 17th not served while 16 are open" 000 "$S_FLOOD"
sleep 0.3
bk_req GET /api/buckets/alice/b; bk_expect "usable after the flood" 200 "$BK_STATUS"

# encoding tricks
bk_req GET /buckets/alice/b/resolve/d/%c0%ae%c0%ae/x; bk_expect "overlong UTF-8 dots 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/b/resolve/d/%ed%a0%80; bk_expect "UTF-16 surrogate 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/b/resolve/%252e%252e/x; bk_expect "double-encoded dots = literal name, 404" 404 "$BK_STATUS"
bk_req GET /buckets/alice/b/resolve/d//f000001; bk_expect "empty segment 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/b/resolve/d/f000001/; bk_expect "trailing slash 400" 400 "$BK_STATUS"
bk_req GET '/buckets/alice/b/resolve/d%5C..%5Cx'; bk_expect "backslash 400" 400 "$BK_STATUS"
bk_req GET /buckets/alice/b/resolve/d/f000001%0d%0aX-Injected:%201; bk_expect "CRLF in path 400" 400 "$BK_STATUS"
bk_check "no injected header" bash -c "! grep -qi '^X-Injected' '$BK_HDRS'"
bk_req GET /api/buckets/alice%2Fb; bk_expect "encoded slash in bucket id = same route" 200 "$BK_STATUS"
bk_req GET "/api/buckets/alice/b/tree?$(printf 'p%d=1&' $(seq 1 300))"; bk_expect "too many query params 400" 400 "$BK_STATUS"
bk_req GET "/api/buckets/alice/b/tree?limit=%zz"; bk_expect "bad query escape 400" 400 "$BK_STATUS"
bk_req GET "/api/buckets/alice/b/tree?limit=99999999999999999999999"; bk_expect "huge limit clamped" 200 "$BK_STATUS"
bk_req GET "/api/buckets/alice/b/tree?limit=-1"; bk_expect "negative limit 400" 400 "$BK_STATUS"

# JSON / NDJSON bombs
"$BK_PY" -c 'print("["*30000 + "]"*30000)' >"$BK_TMP/deep.json"
bk_req POST /api/buckets/alice/deep "$A" "${J[@]}" --data-binary @"$BK_TMP/deep.json"; bk_expect "deep JSON 400" 400 "$BK_STATUS"
"$BK_PY" -c 'import json;print(json.dumps({"paths":"x"*1000+"", "a":[{"b":[1]*1000}]*40}))' >"$BK_TMP/big.json"
bk_req POST /api/buckets/alice/b/paths-info "$A" "${J[@]}" --data-binary @"$BK_TMP/big.json"; bk_expect "odd paths-info shape ok" 200 "$BK_STATUS"
"$BK_PY" -c 'print("\n".join(["{\"type\":\"deleteFile\",\"path\":\"x\"}"]*100001))' >"$BK_TMP/many.nd"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/many.nd"; bk_expect "100,001 ops 413" 413 "$BK_STATUS"
"$BK_PY" -c 'print("{\"type\":\"deleteFile\",\"path\":\"" + "a"*300000 + "\"}")' >"$BK_TMP/long.nd"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/long.nd"; bk_expect "300 KB line 400" 400 "$BK_STATUS"
printf '{"type":"deleteFile","path":"d/f000001"}\n\x00\xff\n' >"$BK_TMP/bin.nd"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/bin.nd"; bk_expect "binary line 400 (nothing applied)" 400 "$BK_STATUS"
printf '{"type":"deleteFile","path":"d/f000001","type":"addFile"}' >"$BK_TMP/dup.nd"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/dup.nd"; bk_expect "duplicate keys: first wins or rejected" yes "$(case $BK_STATUS in 200|400|422) echo yes;; *) echo no;; esac)"
# ^ duplicate keys: cJSON keeps the first, i.e. a deleteFile of d/f000001 -> restore it
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary @"$BK_TMP/f.nd"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary '{"type":"addFile","path":"z","xetHash":"'"$(printf 'A%.0s' $(seq 64))"'"}'
bk_expect "uppercase hex hash of unknown file 422" 422 "$BK_STATUS"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary '{"type":"addFile","path":"z","xetHash":"'"$(printf 'a%.0s' $(seq 63))"'"}'
bk_expect "63-char hash 422" 422 "$BK_STATUS"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary '{"type":"addFile","path":"z","xetHash":"'"$(sed -n 1p "$BK_TMP/f.nd" | sed 's/.*"xetHash":"\([0-9a-f]*\)".*/\1/')"'","size":12345}'
bk_expect "lying size 422" 422 "$BK_STATUS"
bk_req POST /api/buckets/alice/b/batch "$A" "${ND[@]}" --data-binary '{"type":"addFile","path":"z","xetHash":"'"$(sed -n 1p "$BK_TMP/f.nd" | sed 's/.*"xetHash":"\([0-9a-f]*\)".*/\1/')"'","contentType":"'"$(printf 'x%.0s' $(seq 300))"'"}'
bk_expect "overlong contentType 422" 422 "$BK_STATUS"
# 400 random requests: random methods, byte-soup paths on every route prefix, random
# headers and bodies; the server must answer each (or close) and keep running
RESULT=$("$BK_PY" - "$BK_PORT" "$A" <<'PY'
import random, socket, sys
port, tok = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(1234)
prefixes = ["/api/buckets/alice/b/", "/api/buckets/", "/buckets/alice/b/resolve/", "/api/repos/move",
            "/v1/xorbs/default/", "/v1/reconstructions/", "/api/whoami-v2", "/", "/api/usage/"]
alphabet = b"abc/%.:?&=#+~-_0123456789\x00\x01\x7f\x80\xc0\xff \t"
answered = closed = 0
for i in range(400):
    m = rnd.choice([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"PATCH", b"OPTIONS", b"G\x00T"])
    path = rnd.choice(prefixes).encode() + bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 80)))
    path = path.replace(b" ", b"%20").replace(b"\t", b"%09")
    body = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 0, 10, 1000])))
    hdrs = [b"Host: x", b"Content-Length: %d" % len(body)]
    if rnd.random() < 0.5: hdrs.append(b"Authorization: Bearer " + rnd.choice([tok.encode(), b"hf_x", b"", b"\xff"]))
    if rnd.random() < 0.3: hdrs.append(b"Range: bytes=" + bytes(rnd.choice(b"0123456789-,") for _ in range(8)))
    if rnd.random() < 0.2: hdrs.append(b"Content-Type: " + rnd.choice([b"application/json", b"application/x-www-form-urlencoded", b"application/x-ndjson"]))
    req = m + b" " + path + b" HTTP/1.1\r\n" + b"\r\n".join(hdrs) + b"\r\nConnection: close\r\n\r\n" + body
    try:
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
        s.sendall(req)
        d = s.recv(64)
        if d.startswith(b"HTTP/1.1 "): answered += 1
        else: closed += 1
        s.close()
    except (ConnectionResetError, BrokenPipeError): closed += 1
    except socket.timeout: print("TIMEOUT", req[:80]); break
print(answered + closed, answered)
PY
)
bk_expect "400 random requests all answered or closed" 400 "${RESULT%% *}"
bk_check "most random requests got an HTTP answer" test "${RESULT##* }" -gt 300
bk_req GET /api/whoami-v2 "$A"; bk_expect "server still answers" 200 "$BK_STATUS"
bk_expect "state unchanged" "$S0" "$(state)"

# total body deadline: a body trickled one byte per second never trips the
# 2 s idle timeout; --body-timeout 3 drops the connection anyway
bk_stop
bk_start --timeout 2 --body-timeout 3
TRICKLE=$("$BK_PY" - "$BK_PORT" <<'PY'
import select, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /api/repos/move HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
t0 = time.time(); res = "OPEN"
for i in range(15):  # without a deadline this body would take 100 s
    r, _, _ = select.select([s], [], [], 1.0)
    try:
        if r and not s.recv(4096): res = "CLOSED"; break
        s.sendall(b" ")
    except (ConnectionResetError, BrokenPipeError): res = "CLOSED"; break
print(res, int(time.time() - t0))
PY
)
bk_expect "trickled body: connection closed" CLOSED "${TRICKLE%% *}"
bk_check "trickled body: closed after the deadline, not before" test "${TRICKLE##* }" -ge 3
bk_check "trickled body: logged as body-timeout" grep -q 'POST /api/repos/move 0 0B .* body-timeout (aborted)' "$BK_LOG"
bk_req POST /api/buckets/alice/b2 "$A" "${J[@]}" -d '{}'; bk_expect "normal body within the deadline" 200 "$BK_STATUS"
bk_stop
bk_summary
