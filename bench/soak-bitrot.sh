#!/usr/bin/env bash
# bench/soak-bitrot.sh [BUILD] [--flips N] [--seed S] [--heal require|report] [--selftest]
# Bit-rot soak: flip one random bit in a random xorb or shard blob, then every file referencing it must
# download byte-identical or fail (hf cp and the server-side resolve URL; never other bytes),
# `bucketd fsck --read-data` must name the blob, and re-uploading the original file(s) with `hf buckets cp`
# followed by the scheduled `bucketd gc` must heal it (downloads identical, fsck clean). Prints `detected N/M, wrong bytes served K, healed H/M`
# and a table by category (record header, raw payload, LZ4 frame parts, shard parts, unreferenced blobs).
# Env defaults: SOAK_FLIPS (1000), SOAK_SEED (random; printed), SOAK_HEAL (require: a flip that does not
# heal is a failure; report: only counted). Ends with "N passed, N failed". Details: bench/soak.py.
set -u
cd "$(dirname "$0")/.."
BUILD=build
case "${1:-}" in ""|-*) ;; *) BUILD=$1; shift ;; esac
args=(--build "$BUILD" --flips "${SOAK_FLIPS:-1000}" --heal "${SOAK_HEAL:-require}")
[ -n "${SOAK_SEED:-}" ] && args+=(--seed "$SOAK_SEED")
exec /usr/bin/python3 bench/soak.py bitrot "${args[@]}" "$@"
