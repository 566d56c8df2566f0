"""2. What spans cost through the pipeline ``configure()`` installs, scored and unscored.

Every provider here exports for real: OTLP/gRPC to a collector sink in its own process
(``benchmarks/_null_sink.py``), through the delivery processor ``configure()`` installs
(``ScoreFirstSpanProcessor``), and each round ends with ``force_flush``, so encoding and sending
the round's spans are counted in it. CPU time of the whole process (``time.process_time``:
the application thread and the delivery worker).

- **Scored span / the same span unscored** (target ≤ 1.7×): two ``configure()`` providers; each
  round makes the same spans (a request span with two attributes), the subject's with one
  ``score_current_span(name, value, comment)`` each, as an application scores. The floor: the
  same spans carrying the same event and span attributes written with the SDK's ``add_event``
  and ``set_attributes``, through the same pipeline (the wire's own cost to make and export).
- **Spans without scores, with / without the scoring processor** (target ≤ 1.05×): a trace of a
  root and three children as instrumented code makes it, through ``configure()``'s provider
  against a provider with the same delivery processor and no scoring processor; a second pair
  with no export at all shows the processor against the SDK's bare span cost.

Every score and span made must be exported: a drop fails the benchmark.
"""

from __future__ import annotations

import time
from typing import List, Optional, Tuple

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import otel_scoring
from benchmarks._null_sink import NullSink
from benchmarks._timing import Comparison, Outcome, compare, per_op_micros
from otel_scoring import ScoringSpanProcessor
from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor

SCORED_TARGET = 1.7
UNSCORED_TARGET = 1.05
CHILDREN = 3


def _configured(url: str) -> TracerProvider:
    return otel_scoring.configure(service_name="benchmark", endpoint=url, set_global=False)


def _delivery_only(url: str) -> TracerProvider:
    """configure()'s export pipeline without its scoring processor."""
    provider = TracerProvider(resource=Resource.create({"service.name": "benchmark"}))
    provider.add_span_processor(ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=url)))
    return provider


def _flush(provider: TracerProvider) -> None:
    if not provider.force_flush(60_000):
        raise RuntimeError("force_flush did not finish: the round's export is not complete")


def _score_wire(provider: TracerProvider) -> Tuple[str, dict, dict]:
    """The event name, event attributes and span attributes one score_current_span writes."""
    with provider.get_tracer("benchmarks.span_overhead").start_as_current_span("sample") as sample:
        otel_scoring.score_current_span(name="model-confidence", value=0.83, comment="looks right")
    (event,) = sample.events
    return event.name, dict(event.attributes), dict(sample.attributes)


def _scored_round(provider: TracerProvider, spans: int, scored: bool, wire: Optional[Tuple[str, dict, dict]] = None):
    """Rounds of spans, each scored when ``scored``; with ``wire``, each carries the same event and
    attributes written straight through the SDK instead (the floor of what a score writes)."""
    tracer = provider.get_tracer("benchmarks.span_overhead")
    score_current_span = otel_scoring.score_current_span

    def one_round() -> float:
        start = time.process_time()
        for index in range(spans):
            with tracer.start_as_current_span("llm-call") as span:
                span.set_attribute("request.index", index)
                span.set_attribute("request.route", "/summarize")
                if scored:
                    score_current_span(name="model-confidence", value=0.83, comment="looks right")
                elif wire is not None:
                    span.add_event(wire[0], wire[1])
                    span.set_attributes(wire[2])
        _flush(provider)
        return time.process_time() - start

    return one_round


def _trace_round(provider: TracerProvider, traces: int, flush: bool):
    tracer = provider.get_tracer("benchmarks.span_overhead")

    def one_round() -> float:
        start = time.process_time()
        for index in range(traces):
            with tracer.start_as_current_span("handle-request") as root:
                root.set_attribute("request.index", index)
                root.set_attribute("request.route", "/summarize")
                for child in range(CHILDREN):
                    with tracer.start_as_current_span("step") as step:
                        step.set_attribute("step.index", child)
                        step.set_attribute("step.kind", "llm")
        if flush:
            _flush(provider)
        return time.process_time() - start

    return one_round


def check_delivered(*providers: TracerProvider) -> int:
    """Spans the delivery processors of configure()'s providers exported; raises when any was dropped."""
    exported = dropped = 0
    for provider in providers:
        stats = otel_scoring.delivery_processor(provider).stats  # a snapshot: read it after the work
        exported += stats.exported_scored + stats.exported_plain
        dropped += stats.dropped_scored + stats.dropped_plain
    if dropped:
        raise RuntimeError(f"{dropped} spans were dropped: the comparison would not be like for like")
    return exported


def run(quick: bool) -> List[Outcome]:
    spans = 300 if quick else 1500  # a round stays under the 2 048-span queue; each ends with a flush
    traces = 100 if quick else 500
    rounds = 5 if quick else 15
    with NullSink() as sink:
        scored_provider, unscored_provider = _configured(sink.url), _configured(sink.url)
        scored = compare(_scored_round(scored_provider, spans, True), _scored_round(unscored_provider, spans, False), rounds)
        floor_provider = _configured(sink.url)
        wire = _score_wire(floor_provider)
        floor = compare(_scored_round(floor_provider, spans, False, wire), _scored_round(unscored_provider, spans, False), rounds)
        exported = check_delivered(scored_provider, unscored_provider, floor_provider)

        with_scoring, without_scoring = _configured(sink.url), _delivery_only(sink.url)
        pipeline = compare(_trace_round(with_scoring, traces, True), _trace_round(without_scoring, traces, True), rounds)
        check_delivered(with_scoring)
        for provider in (scored_provider, unscored_provider, floor_provider, with_scoring, without_scoring):
            provider.shutdown()

    bare_with, bare_without = TracerProvider(), TracerProvider()
    bare_with.add_span_processor(ScoringSpanProcessor(tracer_provider=bare_with))
    bare: Comparison = compare(_trace_round(bare_with, traces, False), _trace_round(bare_without, traces, False), rounds)

    trace_spans = traces * (1 + CHILDREN)
    print(
        f"  scored span {per_op_micros(scored.subject, spans):.1f} us CPU, the same span unscored {per_op_micros(scored.baseline, spans):.1f} us "
        f"(configure(), OTLP/gRPC to a sink process, flushed each round): ratio {scored.ratio:.2f}x "
        f"(best rounds {scored.best_ratio:.2f}x, spread {scored.spread:.0%}, {rounds} rounds x {spans} spans); "
        f"{exported:,} spans exported, 0 dropped"
    )
    print(
        f"  floor: the same span carrying the score's event and attributes written straight through the SDK "
        f"{per_op_micros(floor.subject, spans):.1f} us: {floor.ratio:.2f}x the unscored span (spread {floor.spread:.0%})"
    )
    print(
        f"  unscored spans, configure()'s provider {per_op_micros(pipeline.subject, trace_spans):.2f} us/span, "
        f"its delivery processor alone {per_op_micros(pipeline.baseline, trace_spans):.2f}: ratio {pipeline.ratio:.3f}x "
        f"(best rounds {pipeline.best_ratio:.3f}x, spread {pipeline.spread:.0%}, {rounds} rounds x {trace_spans} spans)"
    )
    print(
        f"  bare provider, no export: {per_op_micros(bare.subject, trace_spans):.2f} us/span with the scoring processor, "
        f"{per_op_micros(bare.baseline, trace_spans):.2f} without; ratio {bare.ratio:.3f}x (spread {bare.spread:.0%})"
    )
    return [
        Outcome(2, "scored span / unscored span, configure()'s pipeline", scored.ratio, "x", f"<= {SCORED_TARGET}x", scored.ratio <= SCORED_TARGET, note=f"SDK floor {floor.ratio:.2f}x"),
        Outcome(2, "unscored spans: with / without scoring processor", pipeline.ratio, "x", f"<= {UNSCORED_TARGET}x", pipeline.ratio <= UNSCORED_TARGET),
    ]
