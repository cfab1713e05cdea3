#!/usr/bin/env bash
# bench/soak-crash.sh [BUILD] [--cycles N] [--seed S] [--kill-ms MS] [--selftest]
# Crash-safety soak: kill -9 of bucketd at a random moment (0..kill-ms after the operations start) during
# fresh uploads, re-uploads of modified checkpoints, `hf buckets sync --delete`, `hf buckets rm` and
# `bucketd gc --grace 0s`, restart on the same data dir, then check a ledger of acknowledged writes
# (listed with the right content, downloads byte-for-byte) and `bucketd fsck --read-data` (0 DAMAGE).
# Env defaults: SOAK_CYCLES (200), SOAK_SEED (random; printed, replay with it), SOAK_KILL_MS (300).
# Prints figures and ends with "N passed, N failed". Details: bench/soak.py, docs/store.md "Crash safety".
set -u
cd "$(dirname "$0")/.."
BUILD=build
case "${1:-}" in ""|-*) ;; *) BUILD=$1; shift ;; esac
args=(--build "$BUILD" --cycles "${SOAK_CYCLES:-200}" --kill-ms "${SOAK_KILL_MS:-300}")
[ -n "${SOAK_SEED:-}" ] && args+=(--seed "$SOAK_SEED")
exec /usr/bin/python3 bench/soak.py crash "${args[@]}" "$@"
