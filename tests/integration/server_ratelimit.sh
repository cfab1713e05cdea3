#!/usr/bin/env bash
# Hub-style rate limits (`bucketd serve --rate-limit`): fixed windows per
# user (or client IP when anonymous) and class — api, resolvers, pages — with
# the Hub's RateLimit / RateLimit-Policy headers, 429 + Retry-After over the
# quota, CAS traffic not counted, a fresh budget in the next window, and the
# real `hf` riding out a 429 with its retries.
. "$(dirname "$0")/lib.sh"
HF="$BK_BIN/hf"
WIN=4
bk_start --rate-limit "api=5,resolvers=3,pages=2,window=$WIN"

A=$(bk_user_token alice write)
B=$(bk_user_token bob write)
wait_window() { # sleeps into the start of the next window (t from the last reply)
  local t
  t=$(bk_hdr RateLimit | sed -n 's/.*;t=\([0-9]*\).*/\1/p')
  sleep "${t:-$WIN}.2"
}
# start at the beginning of a window so the counts below are not cut by a reset
bk_req GET /api/whoami-v2 "$B"
wait_window

bk_req POST /api/buckets/alice/pub "$A" -H 'Content-Type: application/json' --data-binary '{}'
bk_expect "create (api request 1)" 200 "$BK_STATUS"
bk_expect "RateLimit header after 1 of 5" '"api";r=4;t=' "$(bk_hdr RateLimit | sed 's/t=.*/t=/')"
bk_expect "RateLimit-Policy header" "\"fixed window\";\"api\";q=5;w=$WIN" "$(bk_hdr RateLimit-Policy)"
for i in 2 3 4 5; do bk_req GET /api/whoami-v2 "$A"; done
bk_expect "5th api request still allowed" 200 "$BK_STATUS"
bk_expect "nothing remains after 5" '"api";r=0;t=' "$(bk_hdr RateLimit | sed 's/t=.*/t=/')"
bk_req GET /api/whoami-v2 "$A"
bk_expect "6th api request -> 429" 429 "$BK_STATUS"
bk_expect "429 X-Error-Code" RateLimited "$(bk_hdr X-Error-Code)"
RA=$(bk_hdr Retry-After)
bk_check "429 Retry-After within the window" test -n "$RA" -a "$RA" -ge 1 -a "$RA" -le "$WIN"
bk_check "429 JSON error body" grep -q '"error":"rate limit of 5 api requests' "$BK_BODY"
bk_req GET /api/whoami-v2 "$B"
bk_expect "another user has their own budget" 200 "$BK_STATUS"
bk_req GET /api/buckets/alice/pub
bk_expect "anonymous (by IP) has its own budget" 200 "$BK_STATUS"
bk_expect "anonymous budget counted apart" '"api";r=4;t=' "$(bk_hdr RateLimit | sed 's/t=.*/t=/')"

# CAS requests are not counted and carry no RateLimit header
bk_req GET /api/buckets/alice/pub/xet-read-token "$B" # bob's budget; public bucket
RT=$(bk_json 'j["accessToken"]')
for i in 1 2 3 4 5 6 7 8; do bk_req GET /v1/chunks/default-merkledb/$(printf '%064d' 0) "$RT"; done
bk_expect "CAS request 8 not limited (unknown chunk -> 404)" 404 "$BK_STATUS"
bk_expect "CAS reply has no RateLimit header" "" "$(bk_hdr RateLimit)"

# pages (web) by IP
bk_req GET /
bk_expect "page 1" 200 "$BK_STATUS"
bk_req GET /static/style.css
bk_expect "static assets are not counted" "" "$(bk_hdr RateLimit)"
bk_req GET /
bk_expect "page 2" 200 "$BK_STATUS"
bk_req GET /
bk_expect "page 3 -> 429" 429 "$BK_STATUS"

# the next window starts afresh
wait_window
bk_req GET /api/whoami-v2 "$A"
bk_expect "alice allowed again in the next window" 200 "$BK_STATUS"
bk_expect "fresh budget" '"api";r=4;t=' "$(bk_hdr RateLimit | sed 's/t=.*/t=/')"

# resolvers: file downloads
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/hf
head -c 1000 /dev/urandom >"$BK_TMP/f.bin"
"$HF" cp "$BK_TMP/f.bin" hf://buckets/alice/pub/f.bin >/dev/null 2>&1
bk_check "upload through the api" test $? -eq 0
wait_window
for i in 1 2 3; do bk_req GET /buckets/alice/pub/resolve/f.bin "$A"; done
bk_expect "3rd resolve allowed" 200 "$BK_STATUS"
bk_expect "resolve RateLimit header" '"resolvers";r=0;t=' "$(bk_hdr RateLimit | sed 's/t=.*/t=/')"
bk_req GET /buckets/alice/pub/resolve/f.bin "$A"
bk_expect "4th resolve -> 429" 429 "$BK_STATUS"
bk_req GET /api/whoami-v2 "$A"
bk_expect "resolvers and api count apart" 200 "$BK_STATUS"

# hf retries a 429 with backoff: with the api budget used up, `hf buckets
# info` still succeeds once the window turns (it is short here)
for i in 1 2 3 4 5 6; do bk_req GET /api/whoami-v2 "$A"; done
bk_expect "budget used up before hf runs" 429 "$BK_STATUS"
OUT=$("$HF" buckets info alice/pub 2>&1)
bk_check "hf buckets info succeeds after its 429 retries" test $? -eq 0
bk_check "hf got its answer" grep -q '"id"' <<<"$OUT"
bk_check "the server answered hf 429 at least once" grep -q 'GET /api/buckets/alice/pub 429 .*RateLimited' "$BK_LOG"
bk_summary
