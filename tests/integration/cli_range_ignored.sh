#!/usr/bin/env bash
# The client's "server ignored Range" path, end to end: the real `hf` talks to
# a real bucketd through a small reverse proxy on 127.0.0.1 that forwards
# everything unchanged except the signed xorb-range fetches
# (GET /v1/xorb-range/{xorb}?r=S-E...), which it answers like a server or
# cache that ignores Range: status 200, no Content-Range, the WHOLE xorb from
# byte 0. (bucketd itself only serves sub-ranges of the signed range, so the
# proxy first checks the signed request with bucketd — it must answer 206 with
# exactly the bytes the proxy then finds at [A, B] in the blob file — and
# reads the whole xorb from the blob store in $BK_DATA.) The client must drop
# the first S bytes and the tail, decode only its range and produce files
# identical to the originals. Every download step also checks, from the
# proxy's log, that at least one whole-xorb 200 answered a range starting
# past byte 0 (and one ending before the xorb's end), so the test cannot
# pass without exercising the slicing. Covered: `hf cp` (v2 reconstruction),
# `hf cp` with /v2 hidden by the proxy (v1 fetch_info), `hf sync` of a
# prefix (batch reconstruction, checked to succeed without the one-file
# fallback). A negative control makes the proxy lie (whole xorb with 206 +
# Content-Range, i.e. "pretends it honoured Range"): the download must then
# fail verification and leave no file behind.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }

PX_DIR=$BK_TMP/proxy; mkdir -p "$PX_DIR"
PX_LOG=$PX_DIR/log; PX_MODE=$PX_DIR/mode; PX_UP=$PX_DIR/upstream; PX_PORTF=$PX_DIR/port
: >"$PX_LOG"; echo 200 >"$PX_MODE"
cat >"$PX_DIR/proxy.py" <<'EOF'
# Reverse proxy for cli_range_ignored.sh (stdlib only, 127.0.0.1 only).
#   argv: DIR (port, upstream, mode, log files) BLOBS (bucketd blob root)
# mode file words: "200" whole xorb with 200 (default), "range200" just the
# asked bytes with status 200, "206" whole xorb with a
# lying 206 + Content-Range, "nov2" answer 404 to /v2/reconstructions/.
import glob, http.client, http.server, os, re, subprocess, sys, threading, urllib.parse
D, BLOBS = sys.argv[1], sys.argv[2]
lock = threading.Lock()
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
       "trailer", "upgrade", "content-length", "host"}

def log(line):
    with lock, open(os.path.join(D, "log"), "a") as f:
        f.write(line + "\n")

def mode():
    try:
        return open(os.path.join(D, "mode")).read().split()
    except OSError:
        return ["200"]

def upstream():
    u = urllib.parse.urlsplit(open(os.path.join(D, "upstream")).read().strip())
    assert u.hostname == "127.0.0.1"
    return u.hostname, u.port

def blob(xhex):
    if BLOBS.startswith("tool:"):  # a store without local files: lib.sh bk_blob_tool (S3 GET)
        out = os.path.join(D, "blob-%d.tmp" % threading.get_ident())
        if subprocess.run([BLOBS[5:], "get", "xorbs", xhex, out]).returncode != 0:
            return None
        with open(out, "rb") as f:
            return f.read()
    hits = glob.glob(os.path.join(BLOBS, "xorbs", xhex[:2], xhex[2:4], xhex))
    if not hits:
        hits = [p for p in glob.glob(os.path.join(BLOBS, "xorbs", "*", "*", "*"))
                if os.path.basename(p) == xhex]
    if len(hits) != 1:
        return None
    with open(hits[0], "rb") as f:
        return f.read()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body_in(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def forward(self, body, headers=None):
        host, port = upstream()
        c = http.client.HTTPConnection(host, port, timeout=120)
        hs = {k: v for k, v in (headers if headers is not None else self.headers.items())
              if k.lower() not in HOP}
        c.request(self.command, self.path, body=body, headers=hs)
        r = c.getresponse()
        data = r.read()
        rh = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP]
        c.close()
        return r.status, r.reason, rh, data

    def reply(self, status, reason, headers, data, length=None):
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        body = self.body_in()
        path = self.path.split("?")[0]
        m = re.fullmatch(r"/v1/xorb-range/([0-9a-f]{64})", path)
        if self.command == "GET" and m:
            return self.xorb_range(m.group(1), body)
        if "nov2" in mode() and path.startswith("/v2/reconstructions/"):
            log("hide-v2 %s" % path)
            return self.reply(404, "Not Found", [("Content-Type", "text/plain")], b"no v2 here")
        st, rs, rh, data = self.forward(body)
        log("fwd %s %s %d" % (self.command, path, st))
        length = None
        if self.command == "HEAD":
            cl = [v for k, v in rh if k.lower() == "content-length"]
            length = cl[0] if cl else 0
        self.reply(st, rs, rh, data, length)

    def xorb_range(self, xhex, body):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        signed = q.get("r", ["?"])[0]
        asked = self.headers.get("Range", "")
        st, rs, rh, data = self.forward(body)  # as the client sent it (with Range)
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", asked.strip())
        whole = blob(xhex)
        if st != 206 or not m or whole is None:
            log("xorb-pass %s status=%d asked=%s blob=%s" % (xhex, st, asked, whole is not None))
            return self.reply(st, rs, rh, data)
        a, b = int(m.group(1)), int(m.group(2))
        if whole[a:b + 1] != data:
            log("xorb-MISMATCH %s asked=%s" % (xhex, asked))
            return self.reply(502, "Bad Gateway", [], b"blob bytes differ from bucketd's")
        n = len(whole)
        if "range200" in mode():  # the asked bytes only, but with status 200
            log("xorb-range200 %s start=%d end=%d size=%d" % (xhex, a, b, n))
            return self.reply(200, "OK", [("Content-Type", "application/octet-stream")], data)
        lie = "206" in mode()
        log("xorb-whole %s status=%d signed=%s start=%d end=%d size=%d" %
            (xhex, 206 if lie else 200, signed, a, b, n))
        hs = [("Content-Type", "application/octet-stream")]
        if lie:
            hs.append(("Content-Range", "bytes 0-%d/%d" % (n - 1, n)))
            return self.reply(206, "Partial Content", hs, whole)
        self.reply(200, "OK", hs, whole)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # e.g. the client hung up
        log("conn-error %r" % (sys.exc_info()[1],))

srv = S(("127.0.0.1", 0), H)
tmp = os.path.join(D, "port.tmp")
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, os.path.join(D, "port"))
srv.serve_forever()
EOF

# the proxy first (bucketd's --public-url must name it), told the upstream later
: "${BK_DATA:=$BK_TMP/data}"; export BK_DATA
PX_BLOBS="$BK_DATA/blobs"
bk_local_store || { bk_blob_tool "$BK_TMP/blob-tool"; PX_BLOBS="tool:$BK_TMP/blob-tool"; }
"$BK_PY" "$PX_DIR/proxy.py" "$PX_DIR" "$PX_BLOBS" 2>"$PX_DIR/stderr" &
PX_PID=$!
trap 'kill "$PX_PID" 2>/dev/null; wait "$PX_PID" 2>/dev/null; bk_cleanup' EXIT
for _ in $(seq 1 200); do [ -s "$PX_PORTF" ] && break; sleep 0.05; done
[ -s "$PX_PORTF" ] || { bk_fail "proxy starts" "$(cat "$PX_DIR/stderr")"; bk_summary; }
PX_URL="http://127.0.0.1:$(cat "$PX_PORTF")"
bk_start --public-url "$PX_URL"
echo "$BK_URL" >"$PX_UP"

A=$(bk_user_token alice write)
export HF_ENDPOINT=$PX_URL HF_TOKEN=$A HF_HOME=$BK_TMP/hf
W=$BK_TMP/w; mkdir -p "$W/up/set" "$W/base"
"$HF" buckets create alice/r >/dev/null 2>"$BK_TMP/err" && bk_ok "create bucket through the proxy" \
  || bk_fail "create bucket through the proxy" "$(cat "$BK_TMP/err")"

# base.bin: 3 MiB random, uploaded alone (its own xorb). set/shift1.bin and
# set/shift2.bin start 1 MiB / 2 MiB into it (then new bytes): after the first
# content-defined chunk boundary they reuse base.bin's chunks, i.e. ranges of
# base.bin's xorb that start mid-xorb. set/s*.bin: small files uploaded in one
# sync (packed together, so later ones start mid-xorb too).
"$BK_PY" - "$W" <<'EOF'
import random, sys
w = sys.argv[1]
r = random.Random(20240611)
base = r.randbytes(3 << 20)
open(f"{w}/base/base.bin", "wb").write(base)
open(f"{w}/up/set/shift1.bin", "wb").write(base[1 << 20:] + r.randbytes(200_000))
open(f"{w}/up/set/shift2.bin", "wb").write(r.randbytes(5000) + base[2 << 20:(2 << 20) + 700_000])
for i in range(4):
    open(f"{w}/up/set/s{i}.bin", "wb").write(r.randbytes(150_000 + 37_000 * i))
EOF
"$HF" cp "$W/base/base.bin" hf://buckets/alice/r/base.bin >/dev/null 2>"$BK_TMP/err" \
  && bk_ok "upload base.bin" || bk_fail "upload base.bin" "$(cat "$BK_TMP/err")"
"$HF" sync "$W/up/set" hf://buckets/alice/r/set -q >/dev/null 2>"$BK_TMP/err" \
  && bk_ok "sync upload of set/" || bk_fail "sync upload of set/" "$(cat "$BK_TMP/err")"
grep -q '^fwd POST /v1/xorbs/default/' "$PX_LOG" && bk_ok "uploads went through the proxy (public url)" \
  || bk_fail "uploads went through the proxy (public url)"

# mark: current log length; since MARK: the log lines written after it
mark() { wc -l <"$PX_LOG"; }
since() { tail -n +"$(($1 + 1))" "$PX_LOG"; }
# check_whole NAME MARK: >= 1 whole-xorb 200 answered a range with start > 0,
# >= 1 one ending before the xorb's last byte, and no request passed through
check_whole() {
  local n=$1 lines mid tail pass
  lines=$(since "$2" | grep '^xorb-whole .* status=200 ')
  mid=$(printf '%s\n' "$lines" | grep -cE ' start=[1-9][0-9]* ')
  tail=$(printf '%s\n' "$lines" | awk '{for(i=1;i<=NF;i++){split($i,kv,"=");v[kv[1]]=kv[2]} if(v["end"]+1<v["size"])c++} END{print c+0}')
  pass=$(since "$2" | grep -cE '^xorb-(pass|MISMATCH)')
  if [ "$mid" -ge 1 ]; then bk_ok "$n: whole-xorb 200 for a range starting mid-xorb ($mid)"
  else bk_fail "$n: whole-xorb 200 for a range starting mid-xorb" "$(since "$2" | grep "^xorb" | head -n 3)"; fi
  if [ "$tail" -ge 1 ]; then bk_ok "$n: whole-xorb 200 for a range ending before the xorb's end ($tail)"
  else bk_fail "$n: whole-xorb 200 for a range ending before the xorb's end" "$(since "$2" | grep "^xorb" | head -n 3)"; fi
  bk_expect "$n: every xorb fetch answered by the proxy with the whole xorb" 0 "$pass"
}
get() { # NAME REMOTE LOCAL ORIGINAL
  rm -f "$3"
  "$HF" cp "hf://buckets/alice/r/$2" "$3" >/dev/null 2>"$BK_TMP/err"
  local rc=$?
  bk_expect "$1: hf cp exits 0" 0 "$rc"; [ "$rc" -eq 0 ] || sed -n 1,5p "$BK_TMP/err"
  cmp -s "$4" "$3" && bk_ok "$1: bytes identical" || bk_fail "$1: bytes identical"
}

# 1. hf cp, v2 reconstruction
D1=$W/d1; mkdir -p "$D1"; M=$(mark)
get "cp shift1 (v2)" set/shift1.bin "$D1/shift1.bin" "$W/up/set/shift1.bin"
get "cp shift2 (v2)" set/shift2.bin "$D1/shift2.bin" "$W/up/set/shift2.bin"
get "cp s3 (v2)" set/s3.bin "$D1/s3.bin" "$W/up/set/s3.bin"
since "$M" | grep -q '^fwd GET /v2/reconstructions/' && bk_ok "cp used /v2 reconstructions" \
  || bk_fail "cp used /v2 reconstructions"
check_whole "cp v2" "$M"

# 2. hf cp with /v2 hidden: the client falls back to v1 (fetch_info)
echo "200 nov2" >"$PX_MODE"; M=$(mark)
get "cp shift1 (v1)" set/shift1.bin "$D1/shift1.v1" "$W/up/set/shift1.bin"
get "cp s2 (v1)" set/s2.bin "$D1/s2.v1" "$W/up/set/s2.bin"
since "$M" | grep -q '^fwd GET /v1/reconstructions/' && bk_ok "cp fell back to /v1 reconstructions" \
  || bk_fail "cp fell back to /v1 reconstructions"
check_whole "cp v1" "$M"
echo 200 >"$PX_MODE"

# 3. hf sync of the prefix: one batch reconstruction for all six small files
D2=$W/d2; M=$(mark)
"$HF" sync hf://buckets/alice/r/set "$D2" -q >/dev/null 2>"$BK_TMP/err"
RC=$?; bk_expect "sync download of set/ exits 0" 0 "$RC"; [ "$RC" -eq 0 ] || sed -n 1,5p "$BK_TMP/err"
for f in shift1 shift2 s0 s1 s2 s3; do
  cmp -s "$W/up/set/$f.bin" "$D2/$f.bin" && bk_ok "sync: $f.bin identical" || bk_fail "sync: $f.bin identical"
done
bk_expect "sync: one batch reconstruction" 1 "$(since "$M" | grep -c '^fwd GET /v1/reconstructions ')"
bk_expect "sync: no one-file fallback" 0 "$(since "$M" | grep -cE '^fwd GET /v[12]/reconstructions/')"
check_whole "sync batch" "$M"

# 4. a server that sends exactly the asked bytes but with status 200 (its
# Content-Length is the range's): taken as the range, not sliced again
echo range200 >"$PX_MODE"; M=$(mark)
get "cp shift2 (range as 200)" set/shift2.bin "$D1/shift2.r200" "$W/up/set/shift2.bin"
since "$M" | grep -qE '^xorb-range200 .* start=[1-9]' && bk_ok "range-as-200 served for a mid-xorb range" \
  || bk_fail "range-as-200 served for a mid-xorb range"
echo 200 >"$PX_MODE"

# 5. negative control: the whole xorb sent as a (lying) 206 must not verify
echo 206 >"$PX_MODE"; M=$(mark)
rm -f "$D1/lie.bin"
"$HF" cp hf://buckets/alice/r/set/shift1.bin "$D1/lie.bin" >/dev/null 2>"$BK_TMP/err"
RC=$?
[ "$RC" -ne 0 ] && bk_ok "whole xorb as 206: download refused" || bk_fail "whole xorb as 206: download refused"
grep -qiE 'hash|expected|decod|record' "$BK_TMP/err" && bk_ok "whole xorb as 206: verification error reported" \
  || bk_fail "whole xorb as 206: verification error reported" "$(head -3 "$BK_TMP/err")"
[ ! -e "$D1/lie.bin" ] && bk_ok "whole xorb as 206: no file left" || bk_fail "whole xorb as 206: no file left"
ls -a "$D1" | grep -q bkpart && bk_fail "whole xorb as 206: no temp file left" || bk_ok "whole xorb as 206: no temp file left"
since "$M" | grep -qE '^xorb-whole .* status=206 .* start=[1-9]' && bk_ok "negative control lied for a mid-xorb range" \
  || bk_fail "negative control lied for a mid-xorb range"
echo 200 >"$PX_MODE"

kill -0 "$PX_PID" 2>/dev/null && bk_ok "proxy still running" || bk_fail "proxy still running" "$(cat "$PX_DIR/stderr")"
bk_summary
