#!/usr/bin/env bash
# PostgreSQL's server binaries for the PostgreSQL store tests (tests/support/postgres.py starts a
# throwaway cluster from them): Debian's `postgresql` package, installed only when missing.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1) (already installed)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Another .ci script may be installing packages at the same time: wait for its lock, not fail.
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends postgresql
echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1) (installed)"
