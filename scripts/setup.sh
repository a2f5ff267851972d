#!/usr/bin/env bash
# Create .venv with the pinned requirements and the package, install Debian's jpegtran
# (libjpeg-turbo-progs: lossless JPEG crops; without it crops are PNGs), and build the in-browser page
# (web/: `npm ci` for ONNX Runtime Web, then scripts/build_web.py -> build/web/). `--test` adds the
# test tools, Debian's Chromium and, where npm is missing, Debian's Node.js (for the browser tests;
# needs root or sudo, as on the project's machines).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# pip on these machines warns once per package about local index folders it does not have
pip_install() { .venv/bin/python -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
apt_install() {
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if ! command -v jpegtran >/dev/null 2>&1; then
  apt_install libjpeg-turbo-progs || echo "warning: jpegtran not installed; JPEG crops will be PNGs" >&2
fi
if [ "${1:-}" = "--test" ]; then
  pip_install -r requirements-test.txt
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
else
  pip_install -r requirements.txt
fi
pip_install --no-deps -e .
# the in-browser page: ONNX Runtime Web from npm (web/package-lock.json), then the static folder
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix web --no-audit --no-fund --loglevel=error >/dev/null
  .venv/bin/python scripts/build_web.py
else
  echo "npm not found: the in-browser page (build/web, /web/ in the app) is not built; install Node.js and rerun" >&2
fi
