#!/usr/bin/env bash
# Install what credsim's browser tests (tests/test_web.py, end-to-end) need on a Debian
# machine: Debian's Chromium, driven by Playwright for Python with executable_path
# /usr/bin/chromium (so `playwright install` is never needed), and fonts for readable
# screenshots. Run as root. Idempotent: does nothing when /usr/bin/chromium is there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "install-browser: /usr/bin/chromium is already installed ($(/usr/bin/chromium --version 2>/dev/null | tail -n 1))"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser: run this as root (it uses apt-get): sudo $0" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-dejavu-core
/usr/bin/chromium --version
