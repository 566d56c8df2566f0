"""Which processor records a score, and what an invalid score becomes (``otel_scoring._registry``)."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoreValidationError, ScoringSpanProcessor
from otel_scoring.environment_variables import OTEL_SCORING_STRICT


def _provider(**processor_settings):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, **processor_settings))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_the_processors_strict_keyword_wins_over_the_environment(monkeypatch, caplog):
    """strict=False on the processor keeps an invalid score a warning even with OTEL_SCORING_STRICT=true."""
    monkeypatch.setenv(OTEL_SCORING_STRICT, "true")
    provider, exporter = _provider(strict=False)
    try:
        with caplog.at_level(logging.WARNING, logger="otel_scoring"):
            with provider.get_tracer("tests").start_as_current_span("step"):
                otel_scoring.score_current_span(name="", value=1.0)
        assert any("not recorded" in record.getMessage() for record in caplog.records)
        assert not any(event.name == "gen_ai.evaluation.result" for span in exporter.get_finished_spans() for event in span.events)
    finally:
        provider.shutdown()


def test_the_environment_decides_strict_for_a_processor_without_the_keyword(monkeypatch):
    """With OTEL_SCORING_STRICT=true and no keyword, the processor's invalid scores raise, read once at construction."""
    monkeypatch.setenv(OTEL_SCORING_STRICT, "true")
    provider, _ = _provider()
    monkeypatch.setenv(OTEL_SCORING_STRICT, "false")  # later changes do not flip a live processor
    try:
        with provider.get_tracer("tests").start_as_current_span("step"):
            with pytest.raises(ScoreValidationError, match="not recorded"):
                otel_scoring.score_current_span(name="", value=1.0)
    finally:
        provider.shutdown()


def test_a_score_goes_to_the_processor_that_tracks_its_trace():
    """With two providers scoring, a trace score goes to the one whose trace it is, not to the newest."""
    first, first_spans = _provider()
    second, second_spans = _provider()
    try:
        with first.get_tracer("tests").start_as_current_span("root") as root:
            trace_id = f"{root.get_span_context().trace_id:032x}"
        otel_scoring.create_score(name="late", value=1.0, trace_id=trace_id)
        assert [span.name for span in first_spans.get_finished_spans()] == ["root", "otel_scoring.carrier"]
        assert second_spans.get_finished_spans() == ()
    finally:
        first.shutdown()
        second.shutdown()


def test_the_registry_does_not_import_the_processor():
    """The registry sees processors through a protocol: importing it loads no processor module."""
    code = "import sys, otel_scoring._registry; print('otel_scoring.processor' in sys.modules)"
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert finished.stdout.strip() == "False"
