#!/usr/bin/env bash
# `make run`: start bucketd with the embedded default (SQLite + local disk in
# ./var) on 127.0.0.1:8080 and print how to create a user, a token, and use
# the CLI. Overrides: BUCKETD_LISTEN (HOST:PORT), BUCKETD_DATA (dir),
# BUCKETD_PUBLIC_URL, and any extra arguments are passed to `bucketd serve`.
#   scripts/run.sh [BUILD_DIR] [bucketd serve args...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; [ $# -gt 0 ] && shift
BIN=$BUILD/bin
LISTEN=${BUCKETD_LISTEN:-127.0.0.1:8080}
DATA=${BUCKETD_DATA:-./var}
URL=${BUCKETD_PUBLIC_URL:-http://$LISTEN}
[ -x "$BIN/bucketd" ] || { echo "run.sh: $BIN/bucketd is not built (run make)" >&2; exit 1; }
cat <<MSG
bucketd: starting on $URL with data in $DATA (Ctrl-C stops it; the data stays).

In another terminal:
  $BIN/bucketd user add alice --data $DATA
  export HF_TOKEN=\$($BIN/bucketd token add alice --role write --data $DATA)
  export HF_ENDPOINT=$URL
  $BIN/hf buckets create alice/demo
  $BIN/hf buckets cp ./some-file hf://buckets/alice/demo/some-file
  $BIN/hf buckets ls alice/demo
  curl -H "Authorization: Bearer \$HF_TOKEN" $URL/api/whoami-v2
Web pages: $URL/   (sign in with the token)
Organisations: $BIN/bucketd org add acme --owner alice --data $DATA
               $BIN/bucketd org member acme bob --role read|write|admin --data $DATA

MSG
exec "$BIN/bucketd" serve --listen "$LISTEN" --data "$DATA" ${BUCKETD_PUBLIC_URL:+--public-url "$BUCKETD_PUBLIC_URL"} "$@"
