#!/usr/bin/env bash
# Symbol hygiene and library boundaries (docs/architecture.md "Libraries and the public API"):
#  - libbuckets.so exports exactly the declarations marked BK_API in the public headers
#    (include/), nothing else, and every exported name starts with bk_ / BK_;
#  - every declaration in a public header (one that uses BK_API) carries BK_API, and no
#    header outside include/ uses it;
#  - every function the Python package binds (python/hfbuckets/) is exported;
#  - libbuckets.so and libbuckets.a need neither SQLite nor libmicrohttpd, nor do hf and xetsum;
#  - no global symbol is defined twice in the static libraries $BUILD/lib/lib*.a.
# Reads only the build and the sources; independent of where internal headers live.
. "$(dirname "$0")/lib.sh"
cd "$BUCKETS_ROOT"
case "$BUILD" in /*) LIBDIR="$BUILD/lib" ;; *) LIBDIR="$BUCKETS_ROOT/$BUILD/lib" ;; esac
SO="$LIBDIR/libbuckets.so"
A="$LIBDIR/libbuckets.a"
T="$BK_TMP"
for f in "$SO" "$A"; do [ -f "$f" ] || { bk_fail "built: $f"; bk_summary; }; done

# --- what the headers declare ------------------------------------------------------------
# Prints "api NAME HEADER" for each BK_API declaration and "bare NAME HEADER" for each
# declaration without BK_API in a header that uses BK_API (a public header).
"$BK_PY" - "$T" $(find include -name '*.h' | sort) <<'EOF'
import re, sys
out = open(sys.argv[1] + "/decls", "w")
for path in sys.argv[2:]:
    text = open(path).read()
    if path.endswith("/api.h"):
        continue
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\\\n", " ", text)
    text = "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("#"))
    text = text.replace('extern "C" {', " ")
    public = "BK_API" in text
    stmts, cur, depth = [], [], 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:  # the closing brace of extern "C"
                continue
            depth -= 1
            if depth == 0 and "".join(cur).split()[:1] == ["static"]:
                stmts.append("".join(cur)); cur = []; continue
        cur.append(ch)
        if ch == ";" and depth == 0:
            stmts.append("".join(cur)); cur = []
    for s in stmts:
        s = " ".join(s.split())
        has_api = s.startswith("BK_API ")
        t = s[len("BK_API "):] if has_api else s
        if not t or t == ";" or re.match(r"(typedef|static)\b", t):
            continue
        if re.match(r"(struct|enum|union)\s+\w*\s*[{;]", t):
            continue
        if "(" in t:
            m = re.search(r"(\w+)\s*\(", t)
        else:
            m = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*(=.*)?;$", t)
        if not m:
            print("unparsed declaration in %s: %s" % (path, s), file=sys.stderr)
            out.write("unparsed ? %s\n" % path)
            continue
        if has_api:
            out.write("api %s %s\n" % (m.group(1), path))
        elif public:
            out.write("bare %s %s\n" % (m.group(1), path))
EOF
awk '$1=="api"{print $2}' "$T/decls" | sort -u >"$T/api"
bk_expect "headers parsed (no unparsed declaration)" 0 "$(grep -c '^unparsed' "$T/decls")"
n_api=$(wc -l <"$T/api")
if [ "$n_api" -ge 50 ]; then bk_ok "public headers declare $n_api BK_API names"
else bk_fail "public headers declare BK_API names" "only $n_api"; fi
bare=$(awk '$1=="bare"{print $3 ": " $2}' "$T/decls")
if [ -z "$bare" ]; then bk_ok "every declaration in a public header carries BK_API"
else bk_fail "declarations in public headers without BK_API" "$(echo $bare)"; fi
outside=$(grep -rl --include='*.h' --include='*.c' 'BK_API' src tests bench 2>/dev/null | grep -v '^tests/integration/symbols.sh$')
if [ -z "$outside" ]; then bk_ok "BK_API is used only in include/"
else bk_fail "BK_API used outside include/" "$(echo $outside)"; fi

# --- what libbuckets.so exports ----------------------------------------------------------
nm -D --defined-only "$SO" | awk 'NF==3 && $2 ~ /^[TDRBVWGS]$/ {print $3}' |
  grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' |
  grep -v -E '^__(odr_asan|asan_|ubsan_|sancov_)' | sort -u >"$T/exported"  # sanitizer instrumentation
n_exp=$(wc -l <"$T/exported")
extra=$(comm -23 "$T/exported" "$T/api")
missing=$(comm -13 "$T/exported" "$T/api")
if [ -z "$extra" ]; then bk_ok "libbuckets.so exports only BK_API names ($n_exp)"
else bk_fail "libbuckets.so exports names not declared BK_API" "$(echo $extra | cut -c1-2000)"; fi
if [ -z "$missing" ]; then bk_ok "every BK_API name is exported by libbuckets.so"
else bk_fail "BK_API names not exported by libbuckets.so" "$(echo $missing)"; fi
badname=$(grep -v -E '^(bk_|BK_)' "$T/exported")
if [ -z "$badname" ]; then bk_ok "every exported name starts with bk_ or BK_"
else bk_fail "exported names without the bk_/BK_ prefix" "$(echo $badname | cut -c1-2000)"; fi

# --- the Python binding's functions ------------------------------------------------------
# only names that the binding actually resolves: the ctypes signature table and lib.NAME calls
grep -ohE '"bk_[a-z0-9_]+"|\blib\.bk_[a-z0-9_]+' python/hfbuckets/*.py |
  sed -E 's/^"//; s/"$//; s/^lib\.//' | sort -u >"$T/py_used"
n_py=$(wc -l <"$T/py_used")
py_missing=$(comm -23 "$T/py_used" "$T/exported")
if [ "$n_py" -ge 10 ] && [ -z "$py_missing" ]; then bk_ok "all $n_py functions Python binds are exported"
else bk_fail "functions Python binds are exported" "$n_py found; not exported: $(echo $py_missing)"; fi

# --- dependencies of the public library --------------------------------------------------
needed=$(readelf -d "$SO" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
if ! echo "$needed" | grep -qE 'libsqlite3|libmicrohttpd'; then bk_ok "libbuckets.so needs no SQLite/libmicrohttpd ($needed)"
else bk_fail "libbuckets.so needs SQLite or libmicrohttpd" "$needed"; fi
for prog in hf xetsum; do  # client programs stand on the public library alone
  needed=$(readelf -d "$BK_BIN/$prog" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  if [ -n "$needed" ] && ! echo "$needed" | grep -qE 'libsqlite3|libmicrohttpd'; then bk_ok "$prog needs no SQLite/libmicrohttpd"
  else bk_fail "$prog needs no SQLite/libmicrohttpd" "${needed:-not built}"; fi
done
srv_refs=$(nm -u "$SO" "$A" 2>/dev/null | awk '{print $NF}' | grep -E '^(sqlite3_|MHD_)' | sort -u)
if [ -z "$srv_refs" ]; then bk_ok "libbuckets.{a,so} call no sqlite3_*/MHD_* function"
else bk_fail "libbuckets calls server-side libraries" "$(echo $srv_refs | cut -c1-2000)"; fi

# --- one definition per global symbol across the static libraries ------------------------
libs=$(ls "$LIBDIR"/lib*.a)
n_libs=$(echo "$libs" | wc -l)
nm -A --defined-only -g $libs 2>/dev/null |
  awk '$2 ~ /^[TDRBGS]$/ {split($1, p, ":"); n = split(p[1], q, "/"); print $3, q[n] ":" p[2]}' |
  sort >"$T/defs"
dups=$(awk '{c[$1]++; w[$1] = w[$1] " " $2} END {for (s in c) if (c[s] > 1) print s " (" w[s] " )"}' "$T/defs" | sort)
if [ "$n_libs" -ge 2 ] && [ -z "$dups" ]; then bk_ok "no global symbol is defined twice in the $n_libs static libraries"
else bk_fail "symbols defined more than once in $BUILD/lib/lib*.a" "$(echo "$dups" | head -n 20)"; fi

bk_summary
