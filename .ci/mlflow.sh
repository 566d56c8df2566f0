#!/usr/bin/env bash
# Installs MLflow into its own venv for the real-server MLflow tests
# (tests/test_forward_mlflow.py, server launcher tests/fakes/mlflow_server.py). MLflow pins its
# own OpenTelemetry (and many other) versions, so it must not share a venv with otel-scoring.
# Usage: .ci/mlflow.sh [venv-dir]   default .ci/.mlflow-venv, where the tests look unless
# OTEL_SCORING_MLFLOW_VENV says otherwise. Idempotent: quick when already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
venv="${1:-.ci/.mlflow-venv}"
# The release the REST assessment API in otel_scoring/forward/mlflow.py was checked against.
spec="${OTEL_SCORING_MLFLOW_SPEC:-mlflow==3.17.2}"
if [ -x "$venv/bin/mlflow" ] && "$venv/bin/python" -c "import mlflow.server" 2>/dev/null; then
    echo "mlflow already installed in $venv"
    exit 0
fi
python3 -m venv "$venv"
echo "*" > "$venv/.gitignore"  # keep the venv out of git status
"$venv/bin/pip" install -q "$spec"
"$venv/bin/python" -c 'import mlflow, sys; print("mlflow", mlflow.__version__, "installed in", sys.prefix)'
