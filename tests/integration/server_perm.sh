#!/usr/bin/env bash
# Permission matrix (spec buckets-api.md §6, issue 3 item 5): every actor x
# every Hub operation on a public and a private org bucket.
#   actors: alice (org owner = admin) with a write and a read token, carol
#   (org read), dave (org write), erin (org admin), bob (no relation), anon.
#   read ops: info, tree, paths-info, resolve HEAD, xet-read-token
#   write ops: xet-write-token, batch; admin ops: settings, delete, move
. "$(dirname "$0")/lib.sh"
XET="$BK_HELPERS/srv_xet"
bk_start
declare -A T
T[aw]=$(bk_user_token alice write); T[ar]=$(bk_token alice read)
T[carol]=$(bk_user_token carol write); T[dave]=$(bk_user_token dave write)
T[erin]=$(bk_user_token erin write); T[bob]=$(bk_user_token bob write); T[anon]=-
T[dr]=$(bk_token dave read)
bk_admin org add acme --owner alice >/dev/null
bk_admin org member acme carol --role read >/dev/null
bk_admin org member acme dave --role write >/dev/null
bk_admin org member acme erin --role admin >/dev/null
J=(-H 'Content-Type: application/json'); ND=(-H 'Content-Type: application/x-ndjson')
for b in pub priv; do
  p=false; [ $b = priv ] && p=true
  bk_req POST /api/buckets/acme/$b "${T[aw]}" "${J[@]}" -d "{\"private\":$p}"; bk_expect "create acme/$b" 200 "$BK_STATUS"
  bk_xet_seed --bucket acme/$b --files 1 --size 100 --prefix f >"$BK_TMP/$b.nd" 2>/dev/null
  bk_req POST /api/buckets/acme/$b/batch "${T[aw]}" "${ND[@]}" --data-binary @"$BK_TMP/$b.nd"; bk_expect "seed acme/$b" 200 "$BK_STATUS"
done

op() { # op bucket actor -> status
  local b=$2 t=${T[$3]}
  case $1 in
    info) bk_req GET /api/buckets/acme/$b "$t";;
    tree) bk_req GET /api/buckets/acme/$b/tree "$t";;
    pinfo) bk_req POST /api/buckets/acme/$b/paths-info "$t" "${J[@]}" -d '{"paths":["f000000"]}';;
    resolve) bk_req HEAD /buckets/acme/$b/resolve/f000000 "$t";;
    rtok) bk_req GET /api/buckets/acme/$b/xet-read-token "$t";;
    wtok) bk_req GET /api/buckets/acme/$b/xet-write-token "$t";;
    batch) bk_req POST /api/buckets/acme/$b/batch "$t" "${ND[@]}" --data-binary '{"type":"deleteFile","path":"no/such/file"}';;
    settings) p=false; [ $b = priv ] && p=true
              bk_req PUT /api/buckets/acme/$b/settings "$t" "${J[@]}" -d "{\"private\":$p}";;
    delete) bk_req DELETE /api/buckets/acme/$b "$t";;
    move) bk_req POST /api/repos/move "$t" "${J[@]}" -d "{\"fromRepo\":\"acme/$b\",\"toRepo\":\"acme/$b-renamed\",\"type\":\"bucket\"}"
          if [ "$BK_STATUS" = 200 ]; then # put it back
            local s=$BK_STATUS
            bk_req POST /api/repos/move "${T[aw]}" "${J[@]}" -d "{\"fromRepo\":\"acme/$b-renamed\",\"toRepo\":\"acme/$b\",\"type\":\"bucket\"}"
            [ "$BK_STATUS" = 200 ] || bk_fail "move back"
            BK_STATUS=$s
          fi;;
  esac
  echo "$BK_STATUS"
}

READ="info tree pinfo resolve rtok"; WRITE="wtok batch"; ADMIN="settings move"
# expected status per (bucket, actor, class)
expect() { # bucket actor class
  local b=$1 a=$2 c=$3
  case $a in
    aw|erin) echo 200;;
    dave) [ $c = admin ] && echo 403 || echo 200;;
    ar|dr|carol) [ $c = read ] && echo 200 || echo 403;;
    bob) if [ $b = priv ]; then echo 404; elif [ $c = read ]; then echo 200; else echo 403; fi;;
    anon) if [ $b = priv ]; then echo 401; elif [ $c = read ]; then echo 200; else echo 401; fi;;
  esac
}
for b in pub priv; do
  for a in aw ar carol dave dr erin bob anon; do
    for o in $READ; do bk_expect "$b $a $o" "$(expect $b $a read)" "$(op $o $b $a)"; done
    for o in $WRITE; do bk_expect "$b $a $o" "$(expect $b $a write)" "$(op $o $b $a)"; done
    for o in $ADMIN; do bk_expect "$b $a $o" "$(expect $b $a admin)" "$(op $o $b $a)"; done
    e=$(expect $b $a admin)
    if [ "$e" != 200 ]; then bk_expect "$b $a delete denied" "$e" "$(op delete $b $a)"; fi
  done
done
# private-bucket denials never leak existence: same answer as a missing bucket
bk_req GET /api/buckets/acme/priv "${T[bob]}"; S1="$BK_STATUS $(bk_hdr X-Error-Code)"
bk_req GET /api/buckets/acme/nosuch "${T[bob]}"; S2="$BK_STATUS $(bk_hdr X-Error-Code)"
bk_expect "private == missing for outsiders" "$S2" "$S1"
bk_req GET /api/buckets/acme/priv; S1="$BK_STATUS $(bk_hdr X-Error-Code)"
bk_req GET /api/buckets/acme/nosuch; S2="$BK_STATUS $(bk_hdr X-Error-Code)"
bk_expect "private == missing for anonymous" "$S2" "$S1"
# allowed deletes (on fresh buckets)
for a in aw erin; do
  bk_req POST /api/buckets/acme/tmp-$a "${T[aw]}" "${J[@]}" -d '{"private":true}'
  bk_expect "delete by $a" 200 "$(op delete tmp-$a $a)"
done
# revoked token stops working at once
TOKID=$(bk_admin token list dave | awk 'NR>0 && $2=="read"{print $1}' | head -1)
if [ -n "$TOKID" ]; then
  bk_admin token revoke "$TOKID" >/dev/null 2>&1
  bk_req GET /api/buckets/acme/priv "${T[dr]}"; bk_expect "revoked token 401" 401 "$BK_STATUS"
else bk_fail "token list shows dave's read token" "$(bk_admin token list dave 2>&1)"; fi
bk_summary
