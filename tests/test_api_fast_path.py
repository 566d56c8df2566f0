"""The common call ``score_current_span(name=, value=, comment=)`` takes a path of its own; it must
record, warn and raise exactly as the general path does for the same input."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoringSpanProcessor, schema
from otel_scoring.errors import ScoreValidationError

# What differs between two calls by design: each score's id and the moment it was made.
PER_CALL = {schema.SCORE_ID, schema.SCORE_TIMESTAMP}

names = st.one_of(st.text(max_size=12), st.text(min_size=195, max_size=205), st.sampled_from(["  ", "ok", "a.b c", "\ud800"]), st.integers(), st.none())
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**1100), max_value=2**1100),
    st.booleans(),
    st.text(max_size=8),
    st.text(min_size=199, max_size=202),
    st.sampled_from(["\ud800", None, [1], {"a": 1}, b"x"]),
)
comments = st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["x" * 16_385, "\udfff", 7, b"c"]))


@pytest.fixture(scope="module", params=[False, True], ids=["warns", "strict"])
def pipeline(request) -> Iterator[Tuple[Any, InMemorySpanExporter, bool]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, strict=request.param))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests.fast_path"), exporter, request.param
    provider.shutdown()


def _call(tracer, exporter, caplog, name: Any, value: Any, comment: Any, general: bool) -> Tuple[List[Dict[str, Any]], Dict[str, Any], List[str], Optional[str]]:
    """Score one fresh span; what it ended with (events, attributes), the warnings and any error."""
    exporter.clear()
    caplog.clear()
    error = None
    with tracer.start_as_current_span("step"):
        try:
            if general:  # any other keyword takes the general path; the timestamp is set aside below
                otel_scoring.score_current_span(name=name, value=value, comment=comment, timestamp=datetime.now(timezone.utc))
            else:
                otel_scoring.score_current_span(name=name, value=value, comment=comment)
        except ScoreValidationError as raised:
            error = str(raised)
    [span] = exporter.get_finished_spans()
    own_ids = {schema.SCORE_TRACE_ID: schema.format_trace_id(span.context.trace_id), schema.SCORE_SPAN_ID: schema.format_span_id(span.context.span_id)}
    # Each call scores a span of its own: its ids must be that span's, then they are set aside.
    events = [{k: ("own span" if own_ids.get(k) == v else v) for k, v in e.attributes.items() if k not in PER_CALL} for e in span.events]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return events, dict(span.attributes), warnings, error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, value=values, comment=comments)
def test_the_common_call_records_warns_and_raises_as_the_general_path(pipeline, caplog, name, value, comment):
    tracer, exporter, _ = pipeline
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        fast = _call(tracer, exporter, caplog, name, value, comment, general=False)
        general = _call(tracer, exporter, caplog, name, value, comment, general=True)
    assert fast == general


def test_the_common_call_on_an_ended_span_is_carried_as_the_general_path_carries_it(pipeline):
    """A span that has ended is not the fast path's: the score goes on a carrier span under it."""
    tracer, exporter, _ = pipeline
    exporter.clear()
    span = tracer.start_span("ended")
    span.end()
    with trace.use_span(span):
        otel_scoring.score_current_span(name="late", value=1.0)
    [carrier] = [s for s in exporter.get_finished_spans() if s.name == schema.CARRIER_SPAN_NAME]
    assert carrier.parent.span_id == span.get_span_context().span_id
    assert carrier.events[0].attributes[schema.GEN_AI_EVALUATION_NAME] == "late"
