"""1. ``score_current_span`` against a bare ``span.add_event`` carrying the same attributes.

The subject is the public call a user makes inside a span. The baseline is what a user could do
without otel-scoring: look up the current span and add the same ``gen_ai.evaluation.result``
event with the same attributes (taken from an event the subject wrote). Both run once in each of
many fresh spans on the same provider, as an application scores (one score per span, with span
work in between), and only the call itself is on the clock; the clock's own cost, measured
first, is taken off. CPU time (``time.process_time``): nothing else runs in the process.
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import otel_scoring
from benchmarks._timing import Outcome, compare, per_op_micros
from otel_scoring import schema

TARGET = 1.5


def clock_cost(clock) -> float:
    """Seconds one start/stop pair of ``clock`` adds to a measured region (median of many)."""
    samples = []
    for _ in range(2000):
        start = clock()
        samples.append(clock() - start)
    samples.sort()
    return samples[len(samples) // 2]


def run(quick: bool) -> Outcome:
    spans_per_round = 200 if quick else 2000
    rounds = 5 if quick else 15
    provider = TracerProvider()
    provider.add_span_processor(otel_scoring.ScoringSpanProcessor(tracer_provider=provider))
    tracer = provider.get_tracer("benchmarks.score_call")

    with tracer.start_as_current_span("sample") as sample:
        otel_scoring.score_current_span(name="model-confidence", value=0.83, comment="looks right")
    (event,) = sample.events
    event_name, event_attributes = event.name, dict(event.attributes)
    if event_name != schema.EVALUATION_RESULT_EVENT:
        raise RuntimeError(f"score_current_span wrote {event_name!r}, expected {schema.EVALUATION_RESULT_EVENT!r}")

    score_current_span = otel_scoring.score_current_span
    get_current_span = trace.get_current_span
    clock = time.process_time

    empty_region = clock_cost(clock)

    def subject() -> float:
        elapsed = 0.0
        for _ in range(spans_per_round):
            with tracer.start_as_current_span("llm-call"):
                start = clock()
                score_current_span(name="model-confidence", value=0.83, comment="looks right")
                elapsed += clock() - start - empty_region
        return elapsed

    def baseline() -> float:
        elapsed = 0.0
        for _ in range(spans_per_round):
            with tracer.start_as_current_span("llm-call"):
                start = clock()
                get_current_span().add_event(event_name, event_attributes)
                elapsed += clock() - start - empty_region
        return elapsed

    comparison = compare(subject, baseline, rounds)
    provider.shutdown()
    calls = spans_per_round
    ratio = comparison.ratio
    print(
        f"  score_current_span {per_op_micros(comparison.subject, calls):.2f} us/call, "
        f"span.add_event {per_op_micros(comparison.baseline, calls):.2f} us/call "
        f"({len(event_attributes)} event attributes); ratio {ratio:.2f}x "
        f"(best rounds {comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds x {calls} spans; "
        f"clock cost {empty_region * 1e6:.2f} us per call taken off)"
    )
    return Outcome(1, "score_current_span / bare span.add_event", ratio, "x", f"<= {TARGET}x", ratio <= TARGET)
