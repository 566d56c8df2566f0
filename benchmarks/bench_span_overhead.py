"""2. Spans that carry no score: a provider with ``ScoringSpanProcessor`` against one without.

The workload is a small trace as instrumented code makes it: a root span with three children,
each with two attributes, all through ``start_as_current_span``. Both providers export through a
``BatchSpanProcessor`` to an exporter that drops the batch, as ``configure()`` builds them, so the
difference is exactly the scoring processor's ``on_start``/``on_end``. A second pair of providers
with no export at all shows the processor against the SDK's bare span cost, the strictest view.
CPU time of the whole process (``time.process_time``), so the batch worker thread is counted.
"""

from __future__ import annotations

import time
from typing import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from benchmarks._timing import Outcome, compare, per_op_micros
from otel_scoring import ScoringSpanProcessor

TARGET = 1.05
CHILDREN = 3


class DroppingSpanExporter(SpanExporter):
    """Accepts every batch and keeps nothing: export cost is not what this benchmark measures."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _provider(with_scoring: bool, with_export: bool) -> TracerProvider:
    provider = TracerProvider()
    if with_scoring:
        provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    if with_export:
        provider.add_span_processor(BatchSpanProcessor(DroppingSpanExporter()))
    return provider


def _workload(provider: TracerProvider, traces: int):
    tracer = provider.get_tracer("benchmarks.span_overhead")
    clock = time.process_time

    def one_round() -> float:
        start = clock()
        for index in range(traces):
            with tracer.start_as_current_span("handle-request") as root:
                root.set_attribute("request.index", index)
                root.set_attribute("request.route", "/summarize")
                for child in range(CHILDREN):
                    with tracer.start_as_current_span("step") as step:
                        step.set_attribute("step.index", child)
                        step.set_attribute("step.kind", "llm")
        provider.force_flush()  # the batch worker's share of the round is counted in it
        return clock() - start

    return one_round


def _measure(with_export: bool, traces: int, rounds: int):
    subject_provider = _provider(with_scoring=True, with_export=with_export)
    baseline_provider = _provider(with_scoring=False, with_export=with_export)
    comparison = compare(_workload(subject_provider, traces), _workload(baseline_provider, traces), rounds)
    subject_provider.shutdown()
    baseline_provider.shutdown()
    return comparison


def run(quick: bool) -> Outcome:
    traces = 200 if quick else 2000
    rounds = 5 if quick else 15
    spans = traces * (1 + CHILDREN)
    pipeline = _measure(with_export=True, traces=traces, rounds=rounds)
    bare = _measure(with_export=False, traces=traces, rounds=rounds)
    ratio = pipeline.ratio
    print(
        f"  with BatchSpanProcessor export: {per_op_micros(pipeline.subject, spans):.2f} us/span with the scoring processor, "
        f"{per_op_micros(pipeline.baseline, spans):.2f} without; ratio {ratio:.3f}x "
        f"(best rounds {pipeline.best_ratio:.3f}x, spread {pipeline.spread:.0%}, {rounds} rounds x {spans} spans)"
    )
    print(
        f"  bare provider, no export:      {per_op_micros(bare.subject, spans):.2f} us/span with the scoring processor, "
        f"{per_op_micros(bare.baseline, spans):.2f} without; ratio {bare.ratio:.3f}x "
        f"(best rounds {bare.best_ratio:.3f}x, spread {bare.spread:.0%})"
    )
    return Outcome(2, "spans without scores: with / without processor", ratio, "x", f"<= {TARGET}x", ratio <= TARGET)
