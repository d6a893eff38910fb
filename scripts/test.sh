#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
# This is the README's test command, and exactly what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-browser.sh          # Debian's Chromium, for the web app's browser tests
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/python -m pytest -q "$@"
