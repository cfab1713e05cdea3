#!/usr/bin/env bash
# Integration test of build/bin/xetsum against the spec vectors:
# file hash and --chunks of the 1 MB SplitMix64 data (derived vectors),
# chunk boundaries of the official whole-file vectors, stdin mode, empty
# file, several files, missing file error, options.
set -uo pipefail
ROOT=${BUCKETS_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SPEC=$ROOT/tests/data   # committed test vectors (tests/data/README.md)
XS=$BUILD/bin/xetsum
PY=/usr/bin/python3
pass=0; fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "not ok - $1"; fail=$((fail + 1)); }
check() { # name, got, want
  if [ "$2" == "$3" ]; then ok "$1"; else bad "$1"; echo "  got:  $2" | head -5; echo "  want: $3" | head -5; fi
}
if [ ! -x "$XS" ]; then
  bad "xetsum binary exists at $XS"
  echo "$pass passed, $fail failed"; exit 1
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

# Inputs: SplitMix64(seed 0) 1,000,000 bytes; 1,000,000 bytes of 0x3b.
$PY - "$T" <<'PYEOF'
import struct, sys
t = sys.argv[1]
M = (1 << 64) - 1
st, out = 0, bytearray()
while len(out) < 1000000:
    st = (st + 0x9E3779B97F4A7C15) & M
    z = st
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    z ^= z >> 31
    out += struct.pack('<Q', z)
open(t + '/splitmix.bin', 'wb').write(out[:1000000])
open(t + '/const.bin', 'wb').write(b'\x3b' * 1000000)
PYEOF
: > "$T/empty.bin"
printf 'hello' > "$T/hello.bin"

# Expected values from the data files.
$PY - "$SPEC" "$T" <<'PYEOF'
import json, sys
spec, t = sys.argv[1], sys.argv[2]
d = json.load(open(spec + '/xet_derived_vectors.json'))
open(t + '/want_hash', 'w').write(d['file_hash'] + '\n')
with open(t + '/want_chunks', 'w') as f:
    off = 0
    for c in d['chunks']:
        f.write('%d %d %s\n' % (off, c['size'], c['hash']))
        off = c['end']
open(t + '/want_hello', 'w').write(d['small_inputs']['file_hash_of_single_chunk_hello'] + '\n')
v = json.load(open(spec + '/xet_chunking_vectors.json'))
for vec in v['vectors']:
    key = 'random' if 'random' in vec['name'] else 'const'
    open(t + '/bounds_' + key, 'w').write(' '.join(str(b) for b in vec['boundaries']) + '\n')
PYEOF
WANT=$(cat "$T/want_hash")
ZERO=0000000000000000000000000000000000000000000000000000000000000000

check "file hash of 1 MB SplitMix data" "$("$XS" "$T/splitmix.bin")" "$WANT  $T/splitmix.bin"

got=$("$XS" --chunks "$T/splitmix.bin")
check "--chunks lines match derived chunk vectors" "$(printf '%s\n' "$got" | head -n -1)" "$(cat "$T/want_chunks")"
check "--chunks ends with the hash line" "$(printf '%s\n' "$got" | tail -n 1)" "$WANT  $T/splitmix.bin"

for key in random const; do
  f=$T/splitmix.bin; [ $key = const ] && f=$T/const.bin
  ends=$("$XS" --chunks "$f" | head -n -1 | awk '{ printf "%s%d", (NR > 1 ? " " : ""), $1 + $2 } END { print "" }')
  check "official boundaries ($key) via --chunks" "$ends" "$(cat "$T/bounds_$key")"
done

check "stdin (no args)" "$("$XS" < "$T/splitmix.bin")" "$WANT  -"
check "stdin (-) from a pipe" "$(cat "$T/splitmix.bin" | "$XS" -)" "$WANT  -"
check "empty file -> zero hash" "$("$XS" "$T/empty.bin")" "$ZERO  $T/empty.bin"
check "empty stdin -> zero hash, no chunks" "$("$XS" --chunks < /dev/null)" "$ZERO  -"
check "single chunk 'hello'" "$("$XS" "$T/hello.bin")" "$(cat "$T/want_hello")  $T/hello.bin"

got=$("$XS" "$T/hello.bin" "$T/splitmix.bin" "$T/empty.bin")
want=$(printf '%s  %s\n%s  %s\n%s  %s' "$(cat "$T/want_hello")" "$T/hello.bin" "$WANT" "$T/splitmix.bin" "$ZERO" "$T/empty.bin")
check "several files, in order" "$got" "$want"

out=$("$XS" "$T/nope.bin" "$T/hello.bin" 2> "$T/err"); rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q 'nope.bin' "$T/err"; then
  ok "missing file: non-zero exit, one-line error"
else
  bad "missing file: non-zero exit, one-line error (rc=$rc)"; cat "$T/err"
fi
check "missing file does not stop the others" "$out" "$(cat "$T/want_hello")  $T/hello.bin"

"$XS" "$T" > /dev/null 2> "$T/err"; rc=$?
if [ $rc -ne 0 ] && [ "$(wc -l < "$T/err")" -eq 1 ]; then ok "directory: non-zero exit, one-line error"; else bad "directory: non-zero exit (rc=$rc)"; fi

"$XS" --help > "$T/help"; rc=$?
if [ $rc -eq 0 ] && grep -q -- '--chunks' "$T/help"; then ok "--help"; else bad "--help"; fi
"$XS" --bogus > /dev/null 2>&1; rc=$?
if [ $rc -ne 0 ]; then ok "unknown option rejected"; else bad "unknown option rejected"; fi

# Larger streamed input: pieces fed by a pipe in odd sizes must give the same
# hash as the file (concatenate the SplitMix file 40 times ~ 40 MB).
for i in $(seq 40); do cat "$T/splitmix.bin"; done > "$T/big.bin"
a=$("$XS" < "$T/big.bin"); b=$(for i in $(seq 40); do cat "$T/splitmix.bin"; done | "$XS")
if [ "$a" == "$b" ] && [ "${a%%  *}" != "$ZERO" ]; then ok "40 MB: pipe == file"; else bad "40 MB: pipe == file"; fi

# Constant memory: 256 MiB sparse file of zeros = 2048 chunks of 128 KiB; the
# peak RSS must stay far below the file size (checked when /usr/bin/time exists;
# about 2.4 MiB normally, 16 MiB under ASan).
truncate -s 256M "$T/zeros.bin"
n=$("$XS" --chunks "$T/zeros.bin" | awk '$2 == 131072 { c++ } END { print c + 0 }')
check "256 MiB of zeros -> 2048 chunks of 128 KiB" "$n" "2048"
if [ -x /usr/bin/time ]; then
  rss=$( { /usr/bin/time -f '%M' "$XS" "$T/zeros.bin" > /dev/null; } 2>&1 | tail -n 1)
  # bound: 1/4 of the file size, with room for ASan's shadow memory
  if [ "${rss:-999999}" -lt 65536 ]; then
    ok "constant memory (peak RSS ${rss} KiB for 256 MiB)"
  else
    bad "constant memory (peak RSS ${rss} KiB)"
  fi
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
