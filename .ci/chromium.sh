#!/usr/bin/env bash
# Debian's headless Chromium for the dashboard's browser tests (Playwright launches it; it never
# downloads a browser). Idempotent: nothing to do when both binaries are installed.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver
echo "chromium installed: $(chromium --version 2>/dev/null || echo unknown version)"
