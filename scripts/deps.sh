#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent and quick when all are present.
# Usage: scripts/deps.sh [core|all]   (default all)
set -euo pipefail
PKGS=(
  build-essential pkg-config clang libclang-rt-14-dev
  librust-blake3-dev b3sum
  liblz4-dev libcjson-dev libsqlite3-dev sqlite3 libpq-dev postgresql postgresql-client
  libmicrohttpd-dev libcurl4-openssl-dev libexpat1-dev libssl-dev
  python3 python3-venv python3-fsspec python3-pandas python3-pytest python3-requests
  curl ca-certificates gdb
  chromium tidy
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
