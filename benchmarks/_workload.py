"""Scored traces made the way an application makes them, as SDK spans and as OTLP requests."""

from __future__ import annotations

from typing import List, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring

CHILDREN = 3
RECORDS_PER_TRACE = 3  # a span score, a trace score and a metadata update


def scored_spans(traces: int) -> List[ReadableSpan]:
    """``traces`` traces of a root and three steps, each trace with RECORDS_PER_TRACE records."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "benchmark"}))
    provider.add_span_processor(otel_scoring.ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("benchmarks.workload")
    for index in range(traces):
        with tracer.start_as_current_span("handle-request") as root:
            root.set_attribute("request.index", index)
            for child in range(CHILDREN):
                with tracer.start_as_current_span("step") as step:
                    step.set_attribute("step.index", child)
                    if child == 0:
                        otel_scoring.score_current_span(name="model-confidence", value=0.83, comment="matches the reference")
            otel_scoring.score_current_trace(name="guardrail-pass", value=True)
            otel_scoring.metadata(f"payment-{index}").update({"paymentId": f"pi_{index}", "amount": 12.5}, kind="billing")
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return spans


def otlp_request(spans: Sequence[ReadableSpan]) -> bytes:
    """One serialized ``ExportTraceServiceRequest``, as an OTLP exporter sends it."""
    return encode_spans(spans).SerializeToString()


def batches(spans: Sequence[ReadableSpan], size: int) -> List[Sequence[ReadableSpan]]:
    return [spans[start : start + size] for start in range(0, len(spans), size)]
