#!/usr/bin/env bash
# Installs Arize Phoenix into its own venv for the `phoenix` integration tests
# (tests/test_forward_phoenix.py, server launcher tests/fakes/phoenix_server.py). Phoenix pins its
# own OpenTelemetry versions, so it must not share a venv with otel-scoring.
# Usage: .ci/phoenix.sh [venv-dir]   default .ci/.phoenix-venv, where the tests look unless
# OTEL_SCORING_PHOENIX_VENV says otherwise. Idempotent: quick when already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
venv="${1:-.ci/.phoenix-venv}"
# The release the REST annotation API in otel_scoring/forward/phoenix.py was checked against.
spec="${OTEL_SCORING_PHOENIX_SPEC:-arize-phoenix==20.26.1}"
if [ -x "$venv/bin/phoenix" ] && "$venv/bin/python" -c 'import phoenix' 2>/dev/null; then
    echo "phoenix already installed in $venv"
    exit 0
fi
python3 -m venv "$venv"
echo "*" > "$venv/.gitignore"  # keep the venv out of git status
"$venv/bin/pip" install -q "$spec"
"$venv/bin/python" -c 'import phoenix, sys; print("phoenix", phoenix.__version__, "installed in", sys.prefix)'
