#!/usr/bin/env bash
# Debian's headless Chromium for the dashboard's browser tests (Playwright launches it; it never
# downloads a browser). Idempotent: nothing to do when both binaries are installed.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# .ci/postgres.sh may be installing packages at the same time: wait for its lock, not fail.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver
echo "chromium installed: $(chromium --version 2>/dev/null || echo unknown version)"
