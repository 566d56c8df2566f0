"""1. ``score_current_span`` against a bare ``span.add_event`` carrying the same attributes.

The subject is the public call a user makes inside a span. The baseline is what a user could do
without otel-scoring: look up the current span and add the same ``gen_ai.evaluation.result``
event with the same attributes (taken from an event the subject wrote). Both run inside the same
kind of span on the same provider; span start and end are outside the clock. CPU time
(``time.process_time``): nothing else runs in the process.
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import otel_scoring
from benchmarks._timing import Outcome, compare, per_op_micros
from otel_scoring import schema

TARGET = 1.5
CALLS_PER_SPAN = 50  # well under the SDK's default 128 events per span, so no score is carried


def run(quick: bool) -> Outcome:
    spans_per_round = 4 if quick else 40
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

    def subject() -> float:
        elapsed = 0.0
        for _ in range(spans_per_round):
            with tracer.start_as_current_span("llm-call"):
                start = clock()
                for _ in range(CALLS_PER_SPAN):
                    score_current_span(name="model-confidence", value=0.83, comment="looks right")
                elapsed += clock() - start
        return elapsed

    def baseline() -> float:
        elapsed = 0.0
        for _ in range(spans_per_round):
            with tracer.start_as_current_span("llm-call"):
                start = clock()
                for _ in range(CALLS_PER_SPAN):
                    get_current_span().add_event(event_name, event_attributes)
                elapsed += clock() - start
        return elapsed

    comparison = compare(subject, baseline, rounds)
    provider.shutdown()
    calls = spans_per_round * CALLS_PER_SPAN
    ratio = comparison.ratio
    print(
        f"  score_current_span {per_op_micros(comparison.subject, calls):.2f} us/call, "
        f"span.add_event {per_op_micros(comparison.baseline, calls):.2f} us/call "
        f"({len(event_attributes)} event attributes); ratio {ratio:.2f}x "
        f"(best rounds {comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds x {calls} calls)"
    )
    return Outcome(1, "score_current_span / bare span.add_event", ratio, "x", f"<= {TARGET}x", ratio <= TARGET)
