"""Sampling, as the README states it: in-process scores follow the trace's sampling decision; a
late score is carried only when the configured sampler keeps its trace, unless keep_late_scores.

Real TracerProviders with the SDK's own samplers; TraceIdRatioBased decides on the trace id, so
the tests pick one trace id it keeps and one it drops.
"""

from __future__ import annotations

from typing import Iterator, Tuple

import pytest
from support.exported import carriers, score_events
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased

import otel_scoring
from otel_scoring import ScoringSpanProcessor, metadata, schema

RATIO = TraceIdRatioBased(0.5)
KEPT = schema.format_trace_id((1 << 64) | 1)  # low 64 bits under the ratio's bound: sampled
DROPPED = schema.format_trace_id((1 << 64) | (0xFFFFFFFFFFFFFFFF))  # above it: not sampled


def build(sampler, **processor_options) -> Tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, **processor_options))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def sampled_half() -> Iterator[Tuple[TracerProvider, InMemorySpanExporter]]:
    provider, exporter = build(ParentBased(RATIO))
    yield provider, exporter
    provider.shutdown()


def test_the_chosen_trace_ids_are_kept_and_dropped_by_the_ratio_sampler():
    """The fixture's premise: TraceIdRatioBased(0.5) keeps KEPT and drops DROPPED."""
    assert RATIO.should_sample(None, int(KEPT, 16), "root").decision.is_sampled()
    assert not RATIO.should_sample(None, int(DROPPED, 16), "root").decision.is_sampled()


def test_in_process_scores_in_a_sampled_out_trace_export_nothing():
    """With ALWAYS_OFF, scores and metadata inside the trace leave no span and no carrier behind."""
    provider, exporter = build(ALWAYS_OFF)
    try:
        with provider.get_tracer("t").start_as_current_span("request"):
            otel_scoring.score_current_span(name="accuracy", value=0.9)
            otel_scoring.score_current_trace(name="overall", value=1)
            metadata("m").update({"k": 1})
    finally:
        provider.shutdown()
    assert exporter.get_finished_spans() == ()


def test_a_late_score_is_carried_only_for_a_trace_the_sampler_keeps(sampled_half):
    """create_score for a kept trace gets a carrier; for a dropped one nothing appears (no lone carrier)."""
    _, exporter = sampled_half
    otel_scoring.create_score(name="user-feedback", value=1, trace_id=KEPT)
    otel_scoring.create_score(name="user-feedback", value=0, trace_id=DROPPED)
    metadata("late").run(DROPPED).update({"k": 1})

    assert [(c.context.trace_id, [s.value for s in score_events(c)]) for c in carriers(exporter)] == [(int(KEPT, 16), [1.0])]


def test_a_trace_this_process_sampled_keeps_its_late_scores(sampled_half):
    """A trace whose root was sampled here gets its late score, whatever a fresh decision would say."""
    provider, exporter = sampled_half
    tracer = provider.get_tracer("t")
    kept_traces = []
    for _ in range(20):  # half are sampled: score each one that was
        with tracer.start_as_current_span("request") as span:
            pass
        if span.get_span_context().trace_flags.sampled:
            kept_traces.append(schema.format_trace_id(span.get_span_context().trace_id))
    for trace_id in kept_traces:
        otel_scoring.create_score(name="late", value=1, trace_id=trace_id)

    assert kept_traces
    assert sorted(schema.format_trace_id(c.context.trace_id) for c in carriers(exporter)) == sorted(kept_traces)


def test_keep_late_scores_carries_them_all():
    """keep_late_scores=True (OTEL_SCORING_KEEP_LATE_SCORES) carries the dropped trace's score too."""
    provider, exporter = build(ParentBased(RATIO), keep_late_scores=True)
    try:
        otel_scoring.create_score(name="user-feedback", value=1, trace_id=KEPT)
        otel_scoring.create_score(name="user-feedback", value=0, trace_id=DROPPED)
    finally:
        provider.shutdown()
    assert sorted(c.context.trace_id for c in carriers(exporter)) == sorted([int(KEPT, 16), int(DROPPED, 16)])


def test_keep_late_scores_from_the_environment(monkeypatch):
    """OTEL_SCORING_KEEP_LATE_SCORES=true sets the same option."""
    monkeypatch.setenv("OTEL_SCORING_KEEP_LATE_SCORES", "true")
    provider, exporter = build(ParentBased(RATIO))
    try:
        otel_scoring.create_score(name="user-feedback", value=0, trace_id=DROPPED)
    finally:
        provider.shutdown()
    assert len(carriers(exporter)) == 1
