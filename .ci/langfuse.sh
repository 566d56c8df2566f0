#!/usr/bin/env bash
# Installs the Langfuse Python SDK v5 into its own venv for benchmarks 11-12 (total CPU per score,
# benchmarks/bench_langfuse.py): it pins its own OpenTelemetry, so it must not share our venv.
# Usage: .ci/langfuse.sh [venv-dir]   default .ci/.langfuse-venv, where the benchmark looks unless
# OTEL_SCORING_LANGFUSE_VENV says otherwise.
# The release the benchmark's sink (its endpoints and answers) was checked against:
exec "$(dirname "$0")/peer-venv.sh" "${1:-.ci/.langfuse-venv}" "${OTEL_SCORING_LANGFUSE_SPEC:-langfuse==5.2.0}" python langfuse
