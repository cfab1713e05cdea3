#!/usr/bin/env bash
# `bucketd serve` option parsing (table-driven in src/server/main.c): every
# flag's bounds, the exact messages and exit codes (usage errors exit 2,
# --help exits 0). Accepted options are shown by reaching the server open,
# which then fails on `--listen nonsense` with exit 1 (no port is bound).
. "$(dirname "$0")/lib.sh"
B="$BK_BUCKETD"
D=$BK_TMP/data
# run ARGS... -> RC and ERR (first stderr line); never starts serving
run() { "$B" serve "$@" >"$BK_TMP/out" 2>"$BK_TMP/err"; RC=$?; ERR=$(head -n 1 "$BK_TMP/err"); }
# ok NAME ARGS...: the options parse (exit 1 from the bad listen address)
ok() { local n=$1; shift; run "$@" --data "$D" --listen nonsense
  bk_expect "$n accepted" "1 bucketd: bad listen address 'nonsense' (want HOST:PORT)" "$RC $ERR"; }
# bad NAME VALUE: refused with "bad value for NAME: 'VALUE'" and exit 2
bad() { run --data "$D" "$1" "$2" --listen nonsense
  bk_expect "$1 '$2' refused" "2 bucketd: bad value for $1: '$2'" "$RC $ERR"; }

run --help; bk_expect "--help exit 0" 0 "$RC"
bk_check "--help prints usage on stdout" grep -q "^usage: bucketd" "$BK_TMP/out"
run -h; bk_expect "-h exit 0" 0 "$RC"
run --data "$D" --quiet --help; bk_expect "--help after a flag exits 0" 0 "$RC"

# unsigned options: largest value accepted, one more refused, junk refused
for spec in --threads:256 --max-conns:100000 --max-conns-per-ip:100000 --timeout:86400 \
            --header-timeout:86400 --min-body-rate:1000000000 --reverify-after:31536000 \
            --body-timeout:86400; do
  o=${spec%%:*}; m=${spec#*:}
  ok "$o $m" "$o" "$m"
  bad "$o" $((m + 1))
  bad "$o" 12x
  bad "$o" ""
  bad "$o" -1
done
# 0 is refused where the option needs a positive value, accepted elsewhere
for o in --max-conns --header-timeout --body-timeout; do bad "$o" 0; done
for o in --threads --max-conns-per-ip --timeout --min-body-rate --reverify-after; do
  ok "$o 0" "$o" 0
done

ok "--dedup-scope global" --dedup-scope global
ok "--dedup-scope namespace" --dedup-scope namespace
ok "--dedup-scope bucket" --dedup-scope bucket
bad --dedup-scope Bucket
bad --secret-file ""
ok "string options" --public-url http://x.example --data "$D" --secret-file "$BK_TMP/none"
ok "flags" --quiet --rate-limit-shared --rate-limit api=5
ok "--rate-limit spec" --rate-limit api=1,resolvers=2,pages=3,window=60
ok "--direct-downloads" --direct-downloads
# --direct-downloads needs a blob store that presigns: the file:// store is refused at startup
run --data "$BK_TMP/d3" --listen 127.0.0.1:0 --direct-downloads
bk_expect "--direct-downloads on file://" "1 bucketd: --direct-downloads needs a blob store that can presign URLs (the file:// store cannot; use an S3 store)" "$RC $ERR"

run --rate-limit foo; bk_expect "--rate-limit bad spec" "2 bucketd: rate limit 'foo': expected NAME=NUMBER" "$RC $ERR"
run --data "$D" --rate-limit-shared --listen nonsense
bk_expect "--rate-limit-shared needs a quota" "2 bucketd: --rate-limit-shared needs --rate-limit with a quota" "$RC $ERR"
run --rate-limit-shared --rate-limit api=0
bk_expect "--rate-limit-shared needs a nonzero quota" "2 bucketd: --rate-limit-shared needs --rate-limit with a quota" "$RC $ERR"

run --bogus x; bk_expect "unknown option" "2 bucketd: unknown option '--bogus'" "$RC $ERR"
bk_check "unknown option prints usage" grep -q "^usage: bucketd" "$BK_TMP/err"
run --bogus; bk_expect "unknown last option" "2 bucketd: unknown or incomplete option '--bogus'" "$RC $ERR"
run --quiet --data; bk_expect "option without its value" "2 bucketd: unknown or incomplete option '--data'" "$RC $ERR"
run --quiet stray --listen nonsense; bk_expect "flags take no value" "2 bucketd: unknown option 'stray'" "$RC $ERR"
# a value is taken as it is, even one that looks like an option
run --data "$D" --listen --help; bk_expect "--listen --help is a value" "1 bucketd: bad listen address '--help' (want HOST:PORT)" "$RC $ERR"
# the last occurrence wins; the first bad value stops the parse
run --data "$D" --listen 127.0.0.1:1 --listen nonsense; bk_expect "later --listen wins" "1 bucketd: bad listen address 'nonsense' (want HOST:PORT)" "$RC $ERR"
run --data "$D" --threads 999 --timeout x; bk_expect "first bad value reported" "2 bucketd: bad value for --threads: '999'" "$RC $ERR"
BUCKETD_LISTEN=nonsense run --data "$D"; bk_expect "BUCKETD_LISTEN default" "1 bucketd: bad listen address 'nonsense' (want HOST:PORT)" "$RC $ERR"
bk_check "nothing bound, no data dir made" test ! -e "$D/buckets.db"
# addresses refused when the server starts (after the options parsed)
run --data "$BK_TMP/d2" --listen 1.2.3:0
bk_expect "IPv4 address checked" "1 bucketd: bad listen address '1.2.3' (numeric IP expected)" "$RC $ERR"
run --data "$BK_TMP/d2" --listen '[1.2.3.4:5]:0'
bk_expect "IPv6 address checked" "1 bucketd: bad IPv6 listen address '1.2.3.4:5'" "$RC $ERR"
bk_summary
