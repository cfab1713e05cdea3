#!/usr/bin/env bash
# The repository builds and its unit tests pass on its own (issue 12 part 1):
#  1. nothing under src/ tests/ bench/ scripts/ .ci/ or the Makefile names a path outside the
#     repository (the old test data in the sibling folder "shared", its environment override,
#     absolute paths of the build VM);
#  2. the committed HEAD, `git clone`d into an empty temporary directory (no sibling folders),
#     builds with plain `make` on a simulated fresh machine: when run as root with
#     `unshare -m`, /usr/share/cargo/registry is hidden behind an empty tmpfs and dpkg-query
#     reports librust-blake3-dev missing until scripts/deps.sh "installs" it (a PATH shim
#     apt-get that unmounts the tmpfs), so the BLAKE3 sources appear only after make has
#     started — as on a machine where `make` is the first command;
#  3. `make unit` in that clone runs every unit test (they read tests/data/) with 0 failures.
# The clone builds with OPT=-O0 to stay fast (about 20-40 s on 2 cores); the inherited make
# settings (MAKEFLAGS, BUILD=build-san, SAN, ...) are dropped so the clone builds plainly.
. "$(dirname "$0")/lib.sh"
ROOT=$BUCKETS_ROOT
LIMIT=${BK_FRESH_CLONE_SECONDS:-300}

# 1. No reads outside the repository. Patterns are written so they do not match this file.
outside='\.\./+shared|BUCKETS_SPEC_DAT[A]|/wor[k]/'
hits=$(cd "$ROOT" && grep -rnE "$outside" src tests bench scripts .ci Makefile \
         --exclude-dir=node_modules --exclude-dir=corpus 2>/dev/null | head -20)
bk_expect "no path outside the repository in src tests bench scripts .ci Makefile" "" "$hits"
for f in xet_gear_table.txt xet_chunking_vectors.json xet_merkle_hash_vectors.json xet_derived_vectors.json; do
  bk_check "tests/data/$f is committed" git -C "$ROOT" cat-file -e "HEAD:tests/data/$f"
done

# 2. Clone HEAD into an empty directory.
if ! git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1; then
  echo "skip: $ROOT is not a git checkout, cannot clone it (clean-clone build not run)"
  bk_summary
fi
mkdir -p "$BK_TMP/empty"
C=$BK_TMP/empty/buckets
if ! git clone -q "$ROOT" "$C" 2>"$BK_TMP/clone.err"; then
  bk_fail "git clone of HEAD" "$(head -3 "$BK_TMP/clone.err")"; bk_summary
fi
bk_expect "clone is at HEAD" "$(git -C "$ROOT" rev-parse HEAD)" "$(git -C "$C" rev-parse HEAD)"
bk_expect "clone has no sibling folders" "buckets" "$(ls -A "$BK_TMP/empty")"

clean_env=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u BUILD -u OPT -u SAN
           -u CFLAGS -u CC -u BUCKETS_ROOT -u ASAN_OPTIONS -u UBSAN_OPTIONS)
REG=/usr/share/cargo/registry
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null \
   && ls -d "$REG"/blake3-*/c >/dev/null 2>&1; then
  SHIM=$BK_TMP/shim; mkdir -p "$SHIM"
  cat >"$SHIM/dpkg-query" <<EOF
#!/bin/sh
# librust-blake3-dev counts as missing while its sources are hidden.
for a in "\$@"; do last=\$a; done
if [ "\$last" = librust-blake3-dev ] && ! ls -d $REG/blake3-*/c >/dev/null 2>&1; then exit 1; fi
exec /usr/bin/dpkg-query "\$@"
EOF
  cat >"$SHIM/apt-get" <<EOF
#!/bin/sh
# "install" = make the real registry visible again; "update" = nothing.
case " \$* " in *" install "*) umount $REG ;; esac
exit 0
EOF
  chmod +x "$SHIM/dpkg-query" "$SHIM/apt-get"
  ( cd "$C" && timeout "$LIMIT" "${clean_env[@]}" PATH="$SHIM:$PATH" unshare -m --propagation private \
      sh -c "mount -t tmpfs none $REG && ls $REG | wc -l && make -j2 OPT=-O0" ) >"$BK_TMP/make.log" 2>&1
  rc=$?
  bk_expect "registry hidden before make (fresh machine simulated)" "0" "$(head -1 "$BK_TMP/make.log")"
  bk_check "scripts/deps.sh installed librust-blake3-dev during make" \
    grep -q 'deps: installing librust-blake3-dev' "$BK_TMP/make.log"
else
  echo "skip: fresh-machine simulation needs root and unshare -m (plain make in the clone instead)"
  ( cd "$C" && timeout "$LIMIT" "${clean_env[@]}" make -j2 OPT=-O0 ) >"$BK_TMP/make.log" 2>&1
  rc=$?
fi
bk_expect "plain make in the clean clone exits 0" 0 "$rc"
[ "$rc" -eq 0 ] || tail -n 25 "$BK_TMP/make.log"
for b in build/lib/libbuckets.a build/bin/bucketd build/bin/hf build/bin/xetsum build/tests/unit/core/test_cdc; do
  bk_check "clone built $b" test -x "$C/$b" -o -f "$C/$b"
done

# 3. Unit tests in the clone (nothing beside it to read from).
( cd "$C" && timeout "$LIMIT" "${clean_env[@]}" make -j2 OPT=-O0 unit ) >"$BK_TMP/unit.log" 2>&1
rc=$?
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$BK_TMP/unit.log" | tail -n 1)
bk_expect "make unit in the clone exits 0" 0 "$rc"
bk_check "unit tests ran in the clone ($last)" \
  sh -c "echo '$last' | grep -qE '^[1-9][0-9]* passed, 0 failed$'"
for t in core/test_cdc core/test_hash core/test_merkle; do
  bk_check "clone ran unit/$t" grep -q "^=== unit/$t\$" "$BK_TMP/unit.log"
done
if [ "$rc" -ne 0 ]; then grep -E '^(not ok|FAIL|failing)' "$BK_TMP/unit.log" | head -20; fi
bk_summary
