"""Where the time of one ``score_current_span`` call goes: ``python -m benchmarks.profile_score_call``.

Times each stage the call goes through on its own (best of several ``timeit`` repeats, CPU
time) and lists it beside the bare ``span.add_event`` of benchmark 1, so a missed target points
at the stage to fix. "Routing and checks" is what the whole call costs beyond the listed stages:
the guard, the current-span and processor lookups, and the processor's limit checks.
"""

from __future__ import annotations

import time
import timeit
from typing import Callable, List, Tuple

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

import otel_scoring
from otel_scoring import _wire, schema
from otel_scoring._model import Scope
from otel_scoring._validation import build_score, new_id

CALLS = 20_000
REPEATS = 7


def _best_micros(stage: Callable[[], object]) -> float:
    timer = timeit.Timer(stage, timer=time.process_time)
    return min(timer.repeat(repeat=REPEATS, number=CALLS)) / CALLS * 1e6


def _whole_call_micros(tracer: trace.Tracer) -> float:
    """score_current_span as benchmark 1 calls it: 50 calls per span, spans outside the clock."""
    calls_per_span = 50
    best = float("inf")
    for _ in range(REPEATS):
        elapsed = 0.0
        for _ in range(CALLS // calls_per_span):
            with tracer.start_as_current_span("llm-call"):
                start = time.process_time()
                for _ in range(calls_per_span):
                    otel_scoring.score_current_span(name="model-confidence", value=0.83, comment="looks right")
                elapsed += time.process_time() - start
        best = min(best, elapsed)
    return best / CALLS * 1e6


def stage_costs() -> List[Tuple[str, float]]:
    provider = TracerProvider()
    processor = otel_scoring.ScoringSpanProcessor(tracer_provider=provider)
    provider.add_span_processor(processor)
    whole = _whole_call_micros(provider.get_tracer("benchmarks.profile_score_call"))
    # The stages run on one span that takes every event (the oldest drop out past CALLS).
    stage_provider = TracerProvider(span_limits=SpanLimits(max_events=CALLS))
    span = stage_provider.get_tracer("benchmarks.profile_score_call").start_span("llm-call")
    context = span.get_span_context()

    def make_score():
        return build_score(
            name="model-confidence",
            value=0.83,
            scope=Scope.SPAN,
            trace_id=context.trace_id,
            span_id=context.span_id,
            comment="looks right",
            configs=otel_scoring.ScoreConfigRegistry(),  # what the processor's own (empty) registry holds
        )

    score = make_score()
    event_attributes = _wire.score_event_attributes(score)
    summary = _wire.score_span_attributes(score)
    stages = [
        ("span.add_event of the score event (the baseline)", _best_micros(lambda: span.add_event(schema.EVALUATION_RESULT_EVENT, event_attributes))),
        ("span.set_attributes of the searchable summary", _best_micros(lambda: span.set_attributes(summary))),
        ("_validation.build_score (checks, id, timestamp, Score)", _best_micros(make_score)),
        ("_wire.score_event_attributes", _best_micros(lambda: _wire.score_event_attributes(score))),
        ("_wire.score_span_attributes", _best_micros(lambda: _wire.score_span_attributes(score))),
    ]
    span.end()
    provider.shutdown()
    stage_provider.shutdown()
    listed = sum(cost for _, cost in stages)
    stages.append(("routing and checks (the rest of the call)", max(0.0, whole - listed)))
    stages.append(("score_current_span, whole call", whole))
    return stages


def main() -> None:
    stages = stage_costs()
    baseline = stages[0][1]
    inside = {"validation.build_score (checks, id, timestamp, Score)": (" of which the score id (validation.new_id)", _best_micros(new_id))}
    print(f"{'stage':<56} {'us':>7} {'x add_event':>12}")
    for name, cost in stages:
        print(f"{name:<56} {cost:7.2f} {cost / baseline:12.2f}")
        if name in inside:
            sub_name, sub_cost = inside[name]
            print(f"{sub_name:<56} {sub_cost:7.2f} {sub_cost / baseline:12.2f}")


if __name__ == "__main__":
    main()
