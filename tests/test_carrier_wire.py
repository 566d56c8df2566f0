"""A carrier span is, on the wire, the span the SDK's own public calls make for it.

The processor starts and fills carriers by a cheaper route than ``start_span`` + ``add_event`` +
``set_attributes`` + ``end`` taken literally; these tests hold the result to those calls. For each
kind of late write, the carrier exported through a real provider is encoded as OTLP and compared
byte for byte with a reference carrier made in the same provider with the stock calls alone, as
``docs/schema.md`` describes it (parent, link, name, kind, scope, attributes, events), after the
fields that differ between any two spans (span id, times) are set aside. Both are then read back
by the translator, which must find the score it was given, on no span of the run (a carrier).
"""

from __future__ import annotations

import logging
from typing import Dict, List, Optional

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from otel_scoring import ScoringSpanProcessor, create_score, metadata, schema
from otel_scoring.langfuse import Langfuse
from otel_scoring.translate import records_from_otlp_proto

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0x00F067AA0BA902B7


class AddsOnStart(SpanProcessor):
    """Another processor of the user's provider, as a baggage processor is: it sees every span
    start, carriers included, and writes an attribute of its own then."""

    def __init__(self) -> None:
        self.started: List[str] = []

    def on_start(self, span, parent_context=None) -> None:
        self.started.append(span.name)
        span.set_attribute("app.tenant", "acme")


class Pipeline:
    def __init__(self, limits: Optional[SpanLimits] = None) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": "carrier-wire"}), span_limits=limits)
        self.others = AddsOnStart()
        self.provider.add_span_processor(ScoringSpanProcessor(tracer_provider=self.provider))
        self.provider.add_span_processor(self.others)
        self.exporter = InMemorySpanExporter()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def only_carrier(self) -> ReadableSpan:
        (carrier,) = [s for s in self.exporter.get_finished_spans() if s.name == schema.CARRIER_SPAN_NAME]
        self.exporter.clear()
        return carrier

    def stock_carrier(self, made: ReadableSpan, parent: Optional[SpanContext], linked: bool) -> ReadableSpan:
        """The carrier the SDK's public calls make in this provider, holding ``made``'s events and summary."""
        context = context_api.Context()
        if parent is not None:
            context = trace.set_span_in_context(NonRecordingSpan(parent), context)
        tracer = self.provider.get_tracer(schema.INSTRUMENTATION_SCOPE)
        span = tracer.start_span(schema.CARRIER_SPAN_NAME, context=context, kind=SpanKind.INTERNAL, links=[Link(parent)] if linked else [], attributes={schema.CARRIER: True})
        for event in made.events:
            span.add_event(event.name, dict(event.attributes))
        summary = {k: v for k, v in made.attributes.items() if k not in (schema.CARRIER, "app.tenant")}
        if summary:
            span.set_attributes(summary)
        span.end()
        return self.only_carrier()

    def shutdown(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def pipeline():
    made = Pipeline()
    yield made
    made.shutdown()


def remote(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))


def otlp(span: ReadableSpan, *, keep_trace_id: bool = True) -> bytes:
    """The span as an OTLP request, without what differs between any two spans: its id and times."""
    request = encode_spans([span])
    (encoded,) = request.resource_spans[0].scope_spans[0].spans
    encoded.span_id = b"\0" * 8
    encoded.start_time_unix_nano = encoded.end_time_unix_nano = 0
    for event in encoded.events:
        event.time_unix_nano = 0
    if not keep_trace_id:  # a carrier with no trace of its own starts one
        encoded.trace_id = b"\0" * 16
    return request.SerializeToString()


def assert_wire_is_stock(pipeline: Pipeline, made: ReadableSpan, parent: Optional[SpanContext], linked: bool) -> List:
    stock = pipeline.stock_carrier(made, parent, linked)
    assert otlp(made, keep_trace_id=parent is not None) == otlp(stock, keep_trace_id=parent is not None)
    assert made.context.trace_flags == stock.context.trace_flags and made.context.trace_flags.sampled
    assert pipeline.others.started.count(schema.CARRIER_SPAN_NAME) == 2  # ours and the reference: both seen starting
    ours = records_from_otlp_proto(encode_spans([made]).SerializeToString())
    reference = records_from_otlp_proto(encode_spans([stock]).SerializeToString())
    assert ours.scores == reference.scores and ours.metadata == reference.metadata
    return list(ours.scores) + list(ours.metadata)


def fields(record) -> Dict[str, object]:
    return {"trace": record.trace_id, "span": record.observation_id, "on_span": record.span_name}


def test_a_score_by_observation_id_rides_the_stock_carrier_of_that_span(pipeline):
    """create_score(trace_id=, observation_id=) for a span never seen here: child of it, linked to it."""
    create_score(name="model-confidence", value=0.83, trace_id=f"{TRACE_ID:032x}", observation_id=f"{SPAN_ID:016x}", comment="ok")
    made = pipeline.only_carrier()
    (score,) = assert_wire_is_stock(pipeline, made, remote(TRACE_ID, SPAN_ID), linked=True)
    assert fields(score) == {"trace": f"{TRACE_ID:032x}", "span": f"{SPAN_ID:016x}", "on_span": None}
    assert (score.name, score.value, score.comment, score.scope) == ("model-confidence", 0.83, "ok", "span")


def test_every_kind_of_score_value_rides_the_stock_carrier(pipeline):
    """Categorical, boolean, metadata and an environment: the event and summary are the stock calls' too."""
    create_score(name="tone", value="polite", trace_id=TRACE_ID, observation_id=SPAN_ID, metadata={"k": [1, 2]}, environment="prod")
    (score,) = assert_wire_is_stock(pipeline, pipeline.only_carrier(), remote(TRACE_ID, SPAN_ID), linked=True)
    assert (score.string_value, score.metadata) == ("polite", {"k": [1, 2]})
    pipeline.others.started.clear()
    create_score(name="passed", value=True, trace_id=TRACE_ID, observation_id=SPAN_ID)
    (score,) = assert_wire_is_stock(pipeline, pipeline.only_carrier(), remote(TRACE_ID, SPAN_ID), linked=True)
    assert (score.value, score.data_type) == (1.0, "BOOLEAN")


def test_a_trace_score_after_its_root_ended_rides_the_stock_carrier_of_the_root(pipeline):
    with pipeline.tracer.start_as_current_span("root") as root:
        pass
    pipeline.exporter.clear()
    root_context = root.get_span_context()
    create_score(name="helpful", value=1.0, trace_id=root_context.trace_id)
    (score,) = assert_wire_is_stock(pipeline, pipeline.only_carrier(), remote(root_context.trace_id, root_context.span_id), linked=True)
    assert fields(score) == {"trace": f"{root_context.trace_id:032x}", "span": None, "on_span": None}


def test_a_trace_score_for_an_unseen_trace_rides_the_stock_carrier_of_a_placeholder(pipeline):
    """The root is unknown: parent is the placeholder span id of the trace, and there is no link."""
    create_score(name="helpful", value=0.5, trace_id=TRACE_ID)
    made = pipeline.only_carrier()
    assert made.parent.span_id == TRACE_ID & 0xFFFFFFFFFFFFFFFF and made.links == ()
    (score,) = assert_wire_is_stock(pipeline, made, remote(TRACE_ID, TRACE_ID & 0xFFFFFFFFFFFFFFFF), linked=False)
    assert fields(score) == {"trace": f"{TRACE_ID:032x}", "span": None, "on_span": None}


def test_a_session_score_rides_a_stock_carrier_of_its_own_trace(pipeline):
    create_score(name="csat", value=4.0, session_id="session-7")
    made = pipeline.only_carrier()
    assert made.parent is None and made.links == ()
    (score,) = assert_wire_is_stock(pipeline, made, None, linked=False)
    assert (score.session_id, score.trace_id) == ("session-7", None)


def test_a_late_metadata_batch_rides_one_stock_carrier(pipeline):
    """Several updates of one batch for an ended run: one carrier, one event each, every summary key."""
    with pipeline.tracer.start_as_current_span("root") as root:
        pass
    pipeline.exporter.clear()
    trace_id = root.get_span_context().trace_id
    with metadata("late-batch").run(trace_id).batch() as batch:
        batch.update({"model": "m-1"})
        batch.update({"tokens": 12}, kind="usage")
    made = pipeline.only_carrier()
    assert len(made.events) == 2
    updates = assert_wire_is_stock(pipeline, made, remote(trace_id, root.get_span_context().span_id), linked=True)
    assert sorted(u.kind for u in updates) == ["default", "usage"]


def test_the_langfuse_drop_in_by_id_rides_the_stock_carrier(pipeline):
    client = Langfuse(pipeline.provider)
    client.create_score(name="model-confidence", value=0.83, trace_id=f"{TRACE_ID:032x}", observation_id=f"{SPAN_ID:016x}", comment="ok")
    (score,) = assert_wire_is_stock(pipeline, pipeline.only_carrier(), remote(TRACE_ID, SPAN_ID), linked=True)
    assert fields(score) == {"trace": f"{TRACE_ID:032x}", "span": f"{SPAN_ID:016x}", "on_span": None}


def test_a_carrier_with_no_room_for_its_summary_keeps_the_event_as_the_stock_calls_would(caplog):
    """At an attribute limit of 2 (the flag and another processor's attribute), the summary is left
    out with a warning, exactly the carrier the stock calls make without it; the score itself arrives."""
    pipeline = Pipeline(SpanLimits(max_span_attributes=2))
    try:
        with caplog.at_level(logging.WARNING, logger="otel_scoring"):
            create_score(name="model-confidence", value=0.83, trace_id=TRACE_ID, observation_id=SPAN_ID)
        made = pipeline.only_carrier()
        assert dict(made.attributes) == {schema.CARRIER: True, "app.tenant": "acme"}
        assert any("attribute limit" in r.getMessage() for r in caplog.records)
        (score,) = assert_wire_is_stock(pipeline, made, remote(TRACE_ID, SPAN_ID), linked=True)
        assert score.value == 0.83
    finally:
        pipeline.shutdown()
