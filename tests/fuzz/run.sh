#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) into build-fuzz/ and runs
# each one for SECONDS seconds on a scratch copy of its seed corpus.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     (default 60 s, all targets)
# New inputs go to tests/fuzz/scratch/<name>/ (gitignored); the committed seed
# corpus tests/fuzz/corpus/<name>/ is only read. Crash inputs are written as
# tests/fuzz/scratch/<name>-crash-*. Exits non-zero if any target crashes.
set -euo pipefail
SECONDS_PER=${1:-60}
shift || true
cd "$(dirname "$0")/../.."
CC=${FUZZ_CC:-clang}
OUT=build-fuzz
B3DIR=$(ls -d /usr/share/cargo/registry/blake3-*/c 2>/dev/null | head -n 1)
if [ -z "$B3DIR" ]; then echo "fuzz: BLAKE3 C sources not found (run make deps)" >&2; exit 1; fi
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found" >&2; exit 1; }

FLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
PKGS="liblz4 libmicrohttpd sqlite3 libcjson"
INC="-Iinclude -Isrc -I$B3DIR $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lpthread -lm"

mkdir -p "$OUT/obj"
# Library objects (core + BLAKE3), built once with the fuzzer instrumentation.
objs=()
for f in src/core/*.c; do
  o="$OUT/obj/$(basename "${f%.c}").o"
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ -n "$(find include -newer "$o" -name '*.h' | head -n 1)" ]; then
    $CC -std=c11 -D_GNU_SOURCE $FLAGS -fsanitize=fuzzer-no-link $INC -c "$f" -o "$o"
  fi
  objs+=("$o")
done
for f in blake3.c blake3_dispatch.c blake3_portable.c; do
  o="$OUT/obj/b3_${f%.c}.o"
  [ -f "$o" ] || $CC -std=c11 -O2 -g -fsanitize=address,undefined $INC -c "$B3DIR/$f" -o "$o"
  objs+=("$o")
done
for f in blake3_sse2_x86-64_unix.S blake3_sse41_x86-64_unix.S blake3_avx2_x86-64_unix.S \
         blake3_avx512_x86-64_unix.S; do
  o="$OUT/obj/b3_${f%.S}.o"
  [ -f "$o" ] || $CC -c "$B3DIR/$f" -o "$o"
  objs+=("$o")
done

# Server + store objects (targets for the server's parsers), as an archive so
# a target only pulls in what it references.
srv_objs=()
for f in src/store/*.c $(ls src/server/*.c | grep -v '/main\.c$'); do
  o="$OUT/obj/srv_$(basename "${f%.c}").o"
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ -n "$(find include src/server -newer "$o" -name '*.h' | head -n 1)" ]; then
    $CC -std=c11 -D_GNU_SOURCE $FLAGS -fsanitize=fuzzer-no-link $INC -c "$f" -o "$o"
  fi
  srv_objs+=("$o")
done
rm -f "$OUT/libsrv.a"
ar rcs "$OUT/libsrv.a" "${srv_objs[@]}"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; targets+=("${n%.c}"); done
fi

failed=()
for t in "${targets[@]}"; do
  bin="$OUT/fuzz_$t"
  $CC -std=c11 -D_GNU_SOURCE $FLAGS $INC "tests/fuzz/fuzz_$t.c" "$OUT/libsrv.a" "${objs[@]}" $LIBS -o "$bin"
  scratch="tests/fuzz/scratch/$t"
  mkdir -p "$scratch"
  cp -n tests/fuzz/corpus/"$t"/* "$scratch"/ 2>/dev/null || true
  echo "=== fuzz $t for ${SECONDS_PER}s"
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
      "$bin" -max_total_time="$SECONDS_PER" -print_final_stats=1 -rss_limit_mb=2048 \
      -artifact_prefix="tests/fuzz/scratch/$t-crash-" "$scratch" 2>"$OUT/fuzz_$t.log"; then
    failed+=("$t")
    tail -n 60 "$OUT/fuzz_$t.log"
  fi
  grep -E '^#[0-9]+' "$OUT/fuzz_$t.log" | tail -n 1 || true
  grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
    "$OUT/fuzz_$t.log" | sort -u || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crashes"
