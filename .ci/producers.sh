#!/usr/bin/env bash
# Installs the producers whose scores the translator reads, each into a venv of its own (they pin
# their own, conflicting OpenTelemetry versions), for the `producers` tests
# (tests/test_producers.py, drivers in tests/support/producers/). Usage: .ci/producers.sh [dir]
# default .ci/.producers, where the tests look unless OTEL_SCORING_PRODUCERS_DIR says otherwise.
# The releases the readers in otel_scoring/translate/_dialects.py were checked against. Not here:
# Braintrust, whose Python (0.48.1) and JS (3.35.0) SDKs send scores through its own API; its Java
# SDK is the one that writes braintrust.scores, built by .ci/braintrust.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.ci/.producers}"
mkdir -p "$dir"
echo "*" > "$dir/.gitignore"
install() {  # venv name, import to check, pip specs...
    local name="$1" check="$2"; shift 2
    if ! .ci/peer-venv.sh "$dir/$name" "$* opentelemetry-exporter-otlp" python "$check" > "$dir/$name.log" 2>&1; then
        cat "$dir/$name.log"; return 1
    fi
    tail -n 1 "$dir/$name.log"
}
pids=()
install pydantic-evals "pydantic_evals, logfire" "pydantic-evals==2.62.0" "logfire==5.4.0" & pids+=($!)
install openinference "openinference.semconv, phoenix.otel" "openinference-semantic-conventions==0.1.42" "arize-phoenix-otel==0.17.2" & pids+=($!)
install opensearch "opensearch_genai_observability_sdk_py" "opensearch-genai-observability-sdk-py==0.2.8" & pids+=($!)
install strands "strands_evals" "strands-agents-evals==1.7.0" & pids+=($!)
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit "$status"
