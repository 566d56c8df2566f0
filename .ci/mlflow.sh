#!/usr/bin/env bash
# Installs MLflow into its own venv for the real-server MLflow tests
# (tests/test_forward_mlflow.py, server launcher tests/support/fakes/mlflow_server.py).
# Usage: .ci/mlflow.sh [venv-dir]   default .ci/.mlflow-venv, where the tests look unless
# OTEL_SCORING_MLFLOW_VENV says otherwise.
# The release the REST assessment API in otel_scoring/forward/mlflow.py was checked against:
exec "$(dirname "$0")/peer-venv.sh" "${1:-.ci/.mlflow-venv}" "${OTEL_SCORING_MLFLOW_SPEC:-mlflow==3.17.2}" mlflow mlflow.server
