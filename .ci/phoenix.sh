#!/usr/bin/env bash
# Installs Arize Phoenix into its own venv for the `phoenix` integration tests
# (tests/test_forward_phoenix.py, server launcher tests/support/fakes/phoenix_server.py).
# Usage: .ci/phoenix.sh [venv-dir]   default .ci/.phoenix-venv, where the tests look unless
# OTEL_SCORING_PHOENIX_VENV says otherwise.
# The release the REST annotation API in otel_scoring/forward/phoenix.py was checked against:
exec "$(dirname "$0")/peer-venv.sh" "${1:-.ci/.phoenix-venv}" "${OTEL_SCORING_PHOENIX_SPEC:-arize-phoenix==20.26.1}" phoenix phoenix
