#!/usr/bin/env bash
# Installs a real peer server (Phoenix, MLflow) into its own venv for the integration tests: they
# pin their own OpenTelemetry versions, so they must not share a venv with otel-scoring.
# Usage: .ci/peer-venv.sh VENV SPEC EXECUTABLE CHECK_IMPORT. Idempotent: quick when installed.
# SPEC may hold several requirements separated by spaces; the first is the one reported.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
venv="$1" spec="$2" executable="$3" check_import="$4"
if [ -x "$venv/bin/$executable" ] && "$venv/bin/python" -c "import $check_import" 2>/dev/null; then
    echo "$spec already installed in $venv"
    exit 0
fi
python3 -m venv "$venv"
echo "*" > "$venv/.gitignore"  # keep the venv out of git status
# shellcheck disable=SC2086 # several requirements are words of one argument
"$venv/bin/pip" install -q $spec
"$venv/bin/python" -c "import sys, importlib.metadata as m; first='$spec'.split()[0].split('==')[0].split('[')[0]; print(first, m.version(first), 'installed in', sys.prefix)"
