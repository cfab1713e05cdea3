#!/usr/bin/env bash
# Range headers with numbers past 2^64-1 and oversized chunked bodies, against
# a real bucketd with curl and raw sockets (RFC 9110 14.1.2 / 15.5.14):
#   bytes=18446744073709551616-   -> 416 (first-pos past the end), resolve + CAS
#   bytes=0-18446744073709551616  -> 206, last-pos clamped to the size
#   a chunked body over the route's cap -> 413 with a JSON error body, sent as
#   soon as the cap is passed (not a dropped connection after 100 Continue).
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
[ -x "$HF" ] || { bk_fail "hf built"; bk_summary; }
bk_start
A=$(bk_user_token alice write)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/home
"$HF" buckets create alice/r >/dev/null || bk_fail "create bucket"
"$BK_PY" -c 'import random,sys; sys.stdout.buffer.write(random.Random(5).randbytes(1000))' >"$BK_TMP/f.bin"
"$HF" cp "$BK_TMP/f.bin" hf://buckets/alice/r/f.bin >/dev/null 2>&1 || bk_fail "upload"
RES=/buckets/alice/r/resolve/f.bin
H2_64=18446744073709551616 # 2^64

rng() { bk_req GET "$RES" "$A" -H "Range: $1"; }
rng "bytes=$H2_64-"
bk_expect "resolve bytes=2^64- -> 416" 416 "$BK_STATUS"
bk_expect "resolve bytes=2^64- Content-Range" "bytes */1000" "$(bk_hdr Content-Range)"
bk_check "resolve 416 has a JSON error" "$BK_PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["error"]' "$BK_BODY"
rng "bytes=0-$H2_64"
bk_expect "resolve bytes=0-2^64 -> 206" 206 "$BK_STATUS"
bk_expect "resolve bytes=0-2^64 clamped" "bytes 0-999/1000" "$(bk_hdr Content-Range)"
bk_check "resolve bytes=0-2^64 body is the file" cmp -s "$BK_TMP/f.bin" "$BK_BODY"
rng "bytes=990-99999999999999999999999999"
bk_expect "resolve bytes=990-(26 digits) -> 206" 206 "$BK_STATUS"
bk_expect "resolve bytes=990-(26 digits) clamped" "bytes 990-999/1000" "$(bk_hdr Content-Range)"
rng "bytes=18446744073709551615-"
bk_expect "resolve bytes=2^64-1- -> 416" 416 "$BK_STATUS"
rng "bytes=-$H2_64"
bk_expect "resolve huge suffix -> 206 whole" "206 bytes 0-999/1000" "$BK_STATUS $(bk_hdr Content-Range)"
rng "bytes=-0"
bk_expect "resolve bytes=-0 -> 416" 416 "$BK_STATUS"
rng "bytes=0-1,5-6"
bk_expect "resolve multi-range -> 200 (ignored)" 200 "$BK_STATUS"
rng "bytes=5-1"
bk_expect "resolve last < first -> 200 (ignored)" 200 "$BK_STATUS"
rng "bytes=5 -6"
bk_expect "resolve inner whitespace -> 200 (ignored)" 200 "$BK_STATUS"
rng "bytes=10-19"
bk_expect "resolve plain range -> 206" "206 bytes 10-19/1000" "$BK_STATUS $(bk_hdr Content-Range)"

# CAS reconstruction with the same headers
bk_req GET /api/buckets/alice/r/xet-read-token "$A"
RT=$(bk_json 'j["accessToken"]')
FH=$("$BK_BIN/xetsum" "$BK_TMP/f.bin" | awk '{print $1}')
bk_req GET "/v1/reconstructions/$FH" "$RT" -H "Range: bytes=$H2_64-"
bk_expect "reconstruction bytes=2^64- -> 416" 416 "$BK_STATUS"
bk_expect "reconstruction 416 Content-Range" "bytes */1000" "$(bk_hdr Content-Range)"
bk_req GET "/v2/reconstructions/$FH" "$RT" -H "Range: bytes=0-$H2_64"
bk_expect "reconstruction bytes=0-2^64 -> 200" 200 "$BK_STATUS"
bk_expect "reconstruction bytes=0-2^64 covers the file" 1000 \
  "$(bk_json 'sum(t["unpacked_length"] for t in j["terms"]) - j["offset_into_first_range"]')"
# the signed xorb-range fetch: a huge last byte is outside the signed range
bk_req GET "/v1/reconstructions/$FH" "$RT"
URL=$(bk_json 'list(j["fetch_info"].values())[0][0]["url"]')
UR=$(bk_json 'list(j["fetch_info"].values())[0][0]["url_range"]["start"]')
P=${URL#"$BK_URL"}
bk_req GET "$P" - -H "Range: bytes=$UR-$H2_64"
bk_expect "xorb-range bytes=S-2^64 -> 403 (outside the signed range)" 403 "$BK_STATUS"
bk_check "xorb-range 403 says outside" grep -q "outside the signed range" "$BK_BODY"

# ---- oversized chunked bodies
head -c $((20 * 1024 * 1024)) /dev/zero >"$BK_TMP/z20"
bk_req POST /api/repos/move "$A" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
  --data-binary @"$BK_TMP/z20"
bk_expect "curl chunked 20 MiB to a 64 KiB route -> 413" 413 "$BK_STATUS"
bk_check "413 body is a JSON error naming the limit" "$BK_PY" -c \
  'import json,sys; assert "65536" in json.load(open(sys.argv[1]))["error"]' "$BK_BODY"
bk_expect "413 says Connection: close" close "$(bk_hdr Connection)"
# the xorb upload (streamed, 64 MiB cap) sent chunked, 81 MiB
head -c $((81 * 1024 * 1024)) /dev/zero >"$BK_TMP/z81"
bk_req GET /api/buckets/alice/r/xet-write-token "$A"
WT=$(bk_json 'j["accessToken"]')
bk_req POST "/v1/xorbs/default/$(printf '%064d' 1)" "$WT" -H 'Transfer-Encoding: chunked' \
  --data-binary @"$BK_TMP/z81"
bk_expect "curl chunked 81 MiB xorb -> 413" 413 "$BK_STATUS"
bk_check "xorb 413 body is a JSON error" "$BK_PY" -c \
  'import json,sys; assert "limit" in json.load(open(sys.argv[1]))["error"]' "$BK_BODY"
rm -f "$BK_TMP/z20" "$BK_TMP/z81"

# raw sockets: (1) chunks that pass the cap and then stop (the body never
# ends): the 413 must arrive anyway; (2) a complete oversized chunked body
# sent before reading; (3) Expect: 100-continue, then the oversized body.
cat >"$BK_TMP/raw.py" <<'EOF'
import socket, sys, time, json
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
hdr = "POST /api/repos/move HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
chunk = b"%x\r\n" % 8192 + b"x" * 8192 + b"\r\n"
if mode == "open":          # 128 KiB of chunks, no terminating chunk
    s.sendall(hdr.encode() + b"\r\n" + chunk * 16)
elif mode == "full":        # 256 KiB + the last chunk, all before reading
    s.sendall(hdr.encode() + b"\r\n" + chunk * 32 + b"0\r\n\r\n")
else:                       # expect-continue
    s.sendall(hdr.encode() + b"Expect: 100-continue\r\n\r\n")
    first = s.recv(4096)
    assert first.startswith(b"HTTP/1.1 100"), first
    s.sendall(chunk * 16)
s.settimeout(5)
data = b""
t0 = time.time()
try:
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
        d = s.recv(65536)
        if not d:
            break
        data += d
        if data.startswith(b"HTTP/1.1 100") and data.count(b"\r\n\r\n") == 1 and data.endswith(b"\r\n\r\n"):
            data = b""
except socket.timeout:
    pass
head, _, body = data.partition(b"\r\n\r\n")
status = head.split(b" ")[1].decode() if head else "none"
err = ""
if status == "413":
    cl = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    err = json.loads(body[: cl[0]])["error"] if cl else ""
print(status, "%.1f" % (time.time() - t0), "json-error" if "too large" in err else "no-json")
EOF
for m in open full continue; do
  OUT=$("$BK_PY" "$BK_TMP/raw.py" "$BK_PORT" "$m" 2>&1)
  bk_expect "raw socket ($m): 413 with a JSON error" "413 json-error" "$(echo "$OUT" | awk '{print $1, $3}')"
done
# the server is fine afterwards
bk_req GET /api/whoami-v2 "$A"
bk_expect "server still answers" 200 "$BK_STATUS"
bk_summary
