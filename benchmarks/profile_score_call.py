"""Where the time of one ``score_current_span`` call goes: ``python -m benchmarks.profile_score_call [--calls N]``.

Times each stage the call goes through on its own (best of several repeats, CPU time) and lists
it beside the bare ``span.add_event`` of benchmark 1, so a missed target points at the stage to
fix. As an application scores, every measured call is the first and only score of a fresh span
(started and ended off the clock), so first-score costs (a span's first event, its first
attributes) show. "Routing and checks" is what the whole call costs beyond the listed stages:
the guard, the current-span and processor lookups, and the processor's limit checks.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, List, Optional, Sequence, Tuple

from opentelemetry import trace
from opentelemetry.sdk.trace import Span, TracerProvider

import otel_scoring
from otel_scoring import _wire, schema
from otel_scoring._model import Scope
from otel_scoring._validation import build_score, new_id

CALLS = 5_000
REPEATS = 5


def _clock_cost() -> float:
    samples = []
    for _ in range(2000):
        start = time.process_time()
        samples.append(time.process_time() - start)
    samples.sort()
    return samples[len(samples) // 2]


def _per_span_micros(tracer: trace.Tracer, stage: Callable[[Span], object], calls: int, current: bool = False) -> float:
    """Best over REPEATS of the mean CPU of ``stage(span)``, once on each of ``calls`` fresh spans."""
    clock, empty = time.process_time, _clock_cost()
    best = float("inf")
    for _ in range(REPEATS):
        elapsed = 0.0
        for _ in range(calls):
            if current:
                with tracer.start_as_current_span("llm-call") as span:
                    start = clock()
                    stage(span)
                    elapsed += clock() - start - empty
            else:
                span = tracer.start_span("llm-call")
                start = clock()
                stage(span)
                elapsed += clock() - start - empty
                span.end()
        best = min(best, elapsed)
    return best / calls * 1e6


def _best_micros(stage: Callable[[], object], calls: int) -> float:
    """Best over REPEATS of the mean CPU of ``stage()`` (no span involved)."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        for _ in range(calls):
            stage()
        best = min(best, time.process_time() - start)
    return best / calls * 1e6


def stage_costs(calls: int = CALLS) -> List[Tuple[str, float]]:
    provider = TracerProvider()
    processor = otel_scoring.ScoringSpanProcessor(tracer_provider=provider)
    provider.add_span_processor(processor)
    whole = _per_span_micros(
        provider.get_tracer("benchmarks.profile_score_call"),
        lambda span: otel_scoring.score_current_span(name="model-confidence", value=0.83, comment="looks right"),
        calls,
        current=True,
    )
    stage_provider = TracerProvider()
    stage_tracer = stage_provider.get_tracer("benchmarks.profile_score_call")
    sample = stage_tracer.start_span("llm-call")
    context = sample.get_span_context()
    sample.end()

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
        ("span.add_event of the score event (the baseline)", _per_span_micros(stage_tracer, lambda span: span.add_event(schema.EVALUATION_RESULT_EVENT, event_attributes), calls)),
        ("span.set_attributes of the searchable summary", _per_span_micros(stage_tracer, lambda span: span.set_attributes(summary), calls)),
        ("_validation.build_score (checks, id, timestamp, Score)", _best_micros(make_score, calls)),
        ("_wire.score_event_attributes", _best_micros(lambda: _wire.score_event_attributes(score), calls)),
        ("_wire.score_span_attributes", _best_micros(lambda: _wire.score_span_attributes(score), calls)),
        ("span.events of a span with no events yet (a copy)", _per_span_micros(stage_tracer, lambda span: span.events, calls)),
    ]
    provider.shutdown()
    stage_provider.shutdown()
    listed = sum(cost for _, cost in stages)
    stages.append(("routing and checks (the rest of the call)", max(0.0, whole - listed)))
    stages.append(("score_current_span, whole call", whole))
    return stages


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_score_call", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS, help=f"calls per repeat, each on a fresh span (default {CALLS})")
    args = parser.parse_args(argv)
    stages = stage_costs(args.calls)
    baseline = stages[0][1]
    floor = baseline + stages[1][1]
    inside = {"_validation.build_score (checks, id, timestamp, Score)": (" of which the score id (_validation.new_id)", _best_micros(new_id, args.calls))}
    print(f"{'stage':<56} {'us':>7} {'x add_event':>12}")
    for name, cost in stages:
        print(f"{name:<56} {cost:7.2f} {cost / baseline:12.2f}")
        if name in inside:
            sub_name, sub_cost = inside[name]
            print(f"{sub_name:<56} {sub_cost:7.2f} {sub_cost / baseline:12.2f}")
    print(f"SDK floor of the same wire (add_event + set_attributes): {floor:.2f} us; the whole call is {stages[-1][1] / floor:.2f}x it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
