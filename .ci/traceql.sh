#!/usr/bin/env bash
# Installs Grafana's TraceQL grammar (npm @grafana/lezer-traceql, Apache-2.0; the parser Grafana's
# query editor uses) into .ci/.traceql/ (gitignored), for the tests that parse every TraceQL query
# in the docs (tests/support/traceql.py). Tempo itself cannot run here. Idempotent: a no-op when the
# pinned versions are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.ci/.traceql
packages=("@grafana/lezer-traceql@1.0.0" "@lezer/lr@1.4.12")
stamp="$dir/installed-${packages[*]//[@\/ ]/_}"
if [ ! -e "$stamp" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    echo '{"private": true}' > "$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --no-save --silent "${packages[@]}")
    touch "$stamp"
fi
echo "traceql: $(node -p "require('./$dir/node_modules/@grafana/lezer-traceql/package.json').version")"
