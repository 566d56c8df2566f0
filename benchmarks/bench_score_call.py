"""1. ``score_current_span`` against the SDK floor of the same wire, and against a bare ``add_event``.

The subject is the public call a user makes inside a span. The baseline (target ≤ 1.3×) is the
least the SDK's public API needs to write what the subject writes: look up the current span, add
the same ``gen_ai.evaluation.result`` event with the same attributes, and ``set_attributes`` the
same searchable summary on the span (both taken from a span the subject scored). A second
comparison against the event alone shows what the summary adds. Each runs once in each of many
fresh spans on the same provider, as an application scores (one score per span, with span work
in between, so first-score costs count), and only the call itself is on the clock; the clock's
own cost, measured first, is taken off. CPU time (``time.process_time``).
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import otel_scoring
from benchmarks._timing import Outcome, compare, per_op_micros
from otel_scoring import schema

TARGET = 1.3


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
    summary = dict(sample.attributes)  # the span had none of its own: all of them are the score's summary
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

    def floor() -> float:
        elapsed = 0.0
        for _ in range(spans_per_round):
            with tracer.start_as_current_span("llm-call"):
                start = clock()
                span = get_current_span()
                span.add_event(event_name, event_attributes)
                span.set_attributes(summary)
                elapsed += clock() - start - empty_region
        return elapsed

    def event_only() -> float:
        elapsed = 0.0
        for _ in range(spans_per_round):
            with tracer.start_as_current_span("llm-call"):
                start = clock()
                get_current_span().add_event(event_name, event_attributes)
                elapsed += clock() - start - empty_region
        return elapsed

    comparison = compare(subject, floor, rounds)
    against_event = compare(subject, event_only, rounds)
    provider.shutdown()
    calls = spans_per_round
    ratio = comparison.ratio
    print(
        f"  score_current_span {per_op_micros(comparison.subject, calls):.2f} us/call, "
        f"SDK floor (add_event + set_attributes) {per_op_micros(comparison.baseline, calls):.2f} us/call "
        f"({len(event_attributes)} event attributes, {len(summary)} span attributes); ratio {ratio:.2f}x "
        f"(best rounds {comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds x {calls} spans; "
        f"clock cost {empty_region * 1e6:.2f} us per call taken off)"
    )
    print(
        f"  against span.add_event alone {per_op_micros(against_event.baseline, calls):.2f} us/call: ratio {against_event.ratio:.2f}x "
        f"(spread {against_event.spread:.0%})"
    )
    return Outcome(1, "score_current_span / SDK floor of the same wire", ratio, "x", f"<= {TARGET}x", ratio <= TARGET, note=f"{against_event.ratio:.2f}x a bare add_event")
