#!/bin/sh
# azd prepackage (service api): install the Function App's packages into .python_packages, so
# the package azd uploads is complete and Azure does not build it (remoteBuild: false).
# Why not a remote build: vcd (ASAM OpenLABEL) must be installed with --no-deps
# (requirements-nodeps.txt explains why), and a remote build only runs
# `pip install -r requirements.txt`. Wheels are chosen for the Functions host (Linux x86_64,
# CPython 3.11, glibc 2.28 or newer), whatever machine runs azd; pip takes --platform tags
# literally, so every manylinux tag the wheels use is listed.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
python=${PYTHON:-python3}
target="$root/.python_packages/lib/site-packages"
rm -rf "$root/.python_packages"
set -- --quiet --disable-pip-version-check --target "$target" \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --implementation cp --python-version 3.11 \
  --only-binary=:all:
"$python" -m pip install "$@" -r "$root/requirements.txt" -c "$root/constraints.txt"
"$python" -m pip install "$@" --no-deps -r "$root/requirements-nodeps.txt" -c "$root/constraints.txt"
# The explorer's browser libraries ship inside the app (no CDN): copy them from node_modules.
[ -f "$root/node_modules/leaflet/dist/leaflet.js" ] || (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$root" && "$python" -m dataops.explorer.vendor "$root/node_modules")
echo "Function App packages installed into .python_packages"
