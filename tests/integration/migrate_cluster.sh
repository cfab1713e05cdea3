#!/usr/bin/env bash
# bucketd migrate into PostgreSQL + S3: integration/migrate.sh (a --data dir populated with the real `hf`:
# buckets, dedup'd checkpoints, an org, tokens, a web session; kill -9 during the blob copy and inside the
# metadata transaction, a resumed run, "nothing to do" on a second run) with its target a FRESH PostgreSQL
# database and a FRESH S3 prefix, served afterwards by two bucketd nodes (MIGRATE_SECOND_NODE): every file
# byte-identical through both, old tokens and the web session valid, fsck --read-data clean.
# Needs BUCKETS_PG_URL and BK_TEST_S3_URL (tests/run.sh starts both); missing ones are a failure.
. "$(dirname "$0")/lib.sh"
if [ -z "${BUCKETS_PG_URL:-}" ] || [ -z "${BK_TEST_S3_URL:-}" ]; then
  bk_fail "PostgreSQL and S3 given (BUCKETS_PG_URL, BK_TEST_S3_URL: tests/run.sh starts them)"; bk_summary
fi
TO_DB=$(bk_fresh_pg_db "$BUCKETS_PG_URL") || { bk_fail "fresh PostgreSQL database"; bk_summary; }
TO_BLOBS=$(bk_fresh_s3_prefix "$BK_TEST_S3_URL") || { bk_fail "fresh S3 prefix"; bk_summary; }
out=$(MIGRATE_TO_DB=$TO_DB MIGRATE_TO_BLOBS=$TO_BLOBS MIGRATE_SECOND_NODE=1 bash "$(dirname "$0")/migrate.sh" 2>&1)
printf '%s\n' "$out" | grep -E '^(ok|FAIL|skip) |^migrate: (done|xorbs)' | sed 's|://[^/@]*:[^/@]*@|://***@|g'
line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
[ -n "$line" ] || { printf '%s\n' "$out" | tail -n 20; bk_fail "migrate.sh produced a summary"; bk_summary; }
BK_PASS=$((BK_PASS + p)); BK_FAILN=$((BK_FAILN + f))
printf '%s\n' "$out" | grep -q "migrate: done:" && bk_ok "the pg+s3 migration ran to done" || bk_fail "the pg+s3 migration ran to done"
bk_summary
