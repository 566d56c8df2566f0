"""One side of benchmarks 11-12, run as its own process: ``python _score_cpu_child.py SIDE BASE_URL N ROUNDS``.

SIDE is ``langfuse`` (run with the Langfuse venv's python) or ``otel`` (our venv). The process
makes N spans a round, alternately with and without one ``score_current_span`` each (ABBA), then
N scores by id (``create_score(trace_id=..., observation_id=...)``) a round, flushing every round so
the sending is in it. CPU is ``time.process_time()``: the caller and every background thread
(score consumer, span exporter, delivery worker). It prints one JSON line: median µs of CPU per
score in a span (scored round minus unscored round) and by id, plus what was dropped.
Imports only the stdlib and the side's own library, so it runs in either venv.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def _langfuse(base_url: str):
    from langfuse import Langfuse

    client = Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url=base_url, flush_at=512, flush_interval=1)

    def spans(n: int, scored: bool) -> None:
        for _ in range(n):
            with client.start_as_current_observation(name="step", as_type="span"):
                if scored:
                    client.score_current_span(name="model-confidence", value=0.83, comment="ok")
        client.flush()

    def by_id(ids) -> None:
        for trace_id, span_id in ids:
            client.create_score(name="model-confidence", value=0.83, trace_id=trace_id, observation_id=span_id, comment="ok")
        client.flush()

    def dropped() -> int:
        return 0  # counted by the sink: scores received against scores made

    return spans, by_id, dropped, client.shutdown


def _otel(base_url: str):
    from opentelemetry import trace

    import otel_scoring

    provider = otel_scoring.configure(service_name="benchmark", endpoint=f"{base_url}/v1/traces", protocol="http/protobuf")
    tracer = trace.get_tracer("benchmarks.score_cpu")
    score_current_span, create_score = otel_scoring.score_current_span, otel_scoring.create_score
    stats = otel_scoring.delivery_processor(provider).stats

    def spans(n: int, scored: bool) -> None:
        for _ in range(n):
            with tracer.start_as_current_span("step"):
                if scored:
                    score_current_span(name="model-confidence", value=0.83, comment="ok")
        provider.force_flush(60_000)

    def by_id(ids) -> None:
        for trace_id, span_id in ids:
            create_score(name="model-confidence", value=0.83, trace_id=trace_id, observation_id=span_id, comment="ok")
        provider.force_flush(60_000)

    def dropped() -> int:
        return stats.dropped_scored + stats.dropped_plain

    return spans, by_id, dropped, provider.shutdown


def main(side: str, base_url: str, n: int, rounds: int) -> None:
    spans, by_id, dropped, shutdown = (_langfuse if side == "langfuse" else _otel)(base_url)
    ids = [(f"{index + 1:032x}", f"{index + 1:016x}") for index in range(n)]

    def timed(work, *args) -> float:
        start = time.process_time()
        work(*args)
        return time.process_time() - start

    spans(n // 4, True)  # warm-up: imports, connections, first-call caches
    spans(n // 4, False)
    by_id(ids[: n // 4])
    in_span, by_id_us = [], []
    for index in range(rounds):
        order = (False, True) if index % 2 == 0 else (True, False)
        seconds = {scored: timed(spans, n, scored) for scored in order}
        in_span.append((seconds[True] - seconds[False]) / n * 1e6)
        by_id_us.append(timed(by_id, ids) / n * 1e6)
    made = (n // 4 + n // 4 + rounds * 2 * n)  # scores made: warm-up + every scored and by-id round
    result = {
        "side": side,
        "in_span_us": statistics.median(in_span),
        "by_id_us": statistics.median(by_id_us),
        "scores_made": made,
        "dropped": dropped(),
    }
    shutdown()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
