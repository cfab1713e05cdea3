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
elif ! "$venv/bin/python" -c 'import fsspec' 2>/dev/null; then
  # made from another interpreter (e.g. a pyenv python without Debian's packages): redo it
  "$PY" -m venv --clear --system-site-packages --without-pip "$venv"
fi
venv=$(cd "$venv" && pwd)
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ver=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/pyproject.toml")
di="$site/hfbuckets-$ver.dist-info"
# Only stale versions are removed, and files are replaced atomically (temp + rename), so a test
# run in progress in the same venv never sees the metadata missing.
for d in "$site"/hfbuckets-*.dist-info; do [ -e "$d" ] && [ "$d" != "$di" ] && rm -rf "$d"; done
mkdir -p "$di"
put() { # FILE CONTENT: rewrite only if different
  if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
    printf '%s\n' "$2" >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
  fi
}
put "$di/METADATA" "$(printf 'Metadata-Version: 2.1\nName: hfbuckets\nVersion: %s\nRequires-Dist: fsspec' "$ver")"
put "$di/entry_points.txt" "$(printf '[fsspec.specs]\nhf = hfbuckets.fs:HfFileSystem')"
put "$di/top_level.txt" "hfbuckets"
put "$di/INSTALLER" "hfbuckets-install"
[ -f "$di/RECORD" ] || : >"$di/RECORD"
put "$site/hfbuckets.pth" "$here"
"$venv/bin/python" -c 'import fsspec, pandas, pytest' 2>/dev/null || {
  echo "install-venv: fsspec/pandas/pytest missing: apt-get install python3-fsspec python3-pandas python3-pytest" >&2
  exit 1; }
echo "hfbuckets installed in $venv"
