#!/usr/bin/env bash
# Installs the stock OpenTelemetry JS log exporters (.ci/node/package.json) into .ci/.node for the
# JS log-export tests (tests/test_receiver_logs.py, driver tests/support/js/export_logs.mjs).
# Usage: .ci/node.sh [dir]   default .ci/.node, where the tests look unless OTEL_SCORING_NODE_DIR
# says otherwise. Idempotent: quick when the installed package.json matches.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.ci/.node}"
if [ -d "$dir/node_modules/@opentelemetry/sdk-logs" ] && cmp -s .ci/node/package.json "$dir/package.json"; then
    echo "JS log exporters already installed in $dir"
    exit 0
fi
mkdir -p "$dir"
echo "*" > "$dir/.gitignore"
cp .ci/node/package.json "$dir/package.json"
(cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
echo "JS log exporters installed in $dir: $(cd "$dir" && node -e 'console.log(require("./node_modules/@opentelemetry/sdk-logs/package.json").version)')"
