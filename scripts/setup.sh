#!/usr/bin/env bash
# Create .venv with the pinned requirements and the package. `--test` adds the test tools and
# Debian's Chromium (for the browser tests; needs root or sudo, as on the project's machines).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# pip on these machines warns once per package about local index folders it does not have
pip_install() { .venv/bin/python -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ "${1:-}" = "--test" ]; then
  pip_install -r requirements-test.txt
  if ! command -v chromium >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
else
  pip_install -r requirements.txt
fi
pip_install --no-deps -e .
