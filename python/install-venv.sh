#!/usr/bin/env bash
# Creates/updates VENV (default <repo>/.venv) from Debian's /usr/bin/python3 with
# --system-site-packages (fsspec, pandas, pytest come from Debian packages) and
# installs hfbuckets from python/ in development mode, offline: a .pth file pointing
# at python/ plus a dist-info directory carrying the `fsspec.specs` entry point
# (what `pip install -e` would write; pip is not used, PyPI is unreachable).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/../.venv}
PY=/usr/bin/python3
if [ ! -x "$venv/bin/python" ]; then
  "$PY" -m venv --system-site-packages --without-pip "$venv"
fi
venv=$(cd "$venv" && pwd)
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ver=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/pyproject.toml")
rm -rf "$site"/hfbuckets-*.dist-info
di="$site/hfbuckets-$ver.dist-info"
mkdir -p "$di"
printf 'Metadata-Version: 2.1\nName: hfbuckets\nVersion: %s\nRequires-Dist: fsspec\n' "$ver" >"$di/METADATA"
printf '[fsspec.specs]\nhf = hfbuckets.fs:HfFileSystem\n' >"$di/entry_points.txt"
printf 'hfbuckets\n' >"$di/top_level.txt"
printf 'hfbuckets-install\n' >"$di/INSTALLER"
: >"$di/RECORD"
printf '%s\n' "$here" >"$site/hfbuckets.pth"
"$venv/bin/python" -c 'import fsspec, pandas, pytest' 2>/dev/null || {
  echo "install-venv: fsspec/pandas/pytest missing: apt-get install python3-fsspec python3-pandas python3-pytest" >&2
  exit 1; }
echo "hfbuckets installed in $venv"
