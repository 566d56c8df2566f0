"""The span processor: what lands on spans, carrier spans, span limits, bounded memory, lifecycle."""

from __future__ import annotations

import gc
import logging
import weakref
from datetime import datetime, timezone

import pytest
from support.exported import (
    all_score_events,
    assert_carrier_of,
    carriers,
    score_events,
    scoring_warnings,
    span_hex,
    span_named,
    trace_hex,
)
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import otel_scoring
from otel_scoring import ScoringSpanProcessor, metadata, schema
from otel_scoring.environment_variables import OTEL_SCORING_RAISE_INTERNAL_ERRORS


class Pipeline:
    """A provider built as a user would: scoring processor (with the given options), then export."""

    def __init__(self, *, span_limits=None, sampler=None, extra_first=None, **processor_options):
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "pipeline"}), span_limits=span_limits, sampler=sampler)
        if extra_first is not None:
            self.provider.add_span_processor(extra_first)
        self.processor = ScoringSpanProcessor(tracer_provider=self.provider, **processor_options)
        self.provider.add_span_processor(self.processor)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")


@pytest.fixture
def pipelines():
    """Build Pipelines inside a test; every one is shut down afterwards."""
    built = []

    def build(**options) -> Pipeline:
        pipeline = Pipeline(**options)
        built.append(pipeline)
        return pipeline

    yield build
    for pipeline in built:
        pipeline.provider.shutdown()


# --- What lands on a span ---------------------------------------------------------------------


def test_an_int_score_travels_as_a_double(tracer, exporter):
    """value=3 is written as 3.0 on the event, on the summary attribute and as an OTLP double."""
    with tracer.start_as_current_span("work"):
        otel_scoring.score_current_span(name="stars", value=3)

    work = span_named(exporter, "work")
    (score,) = score_events(work)
    assert score.value == 3.0 and type(score.value) is float
    assert type(work.attributes[schema.score_value_attribute("span", "stars")]) is float
    (encoded_span,) = encode_spans([work]).resource_spans[0].scope_spans[0].spans
    (event,) = encoded_span.events
    value = next(a.value for a in event.attributes if a.key == schema.GEN_AI_EVALUATION_SCORE_VALUE)
    assert value.WhichOneof("value") == "double_value" and value.double_value == 3.0


@pytest.mark.parametrize("value, number, label", [(True, 1.0, "true"), (False, 0.0, "false")])
def test_a_boolean_score_has_a_true_or_false_label(tracer, exporter, value, number, label):
    """A boolean score is 1.0/0.0 with the label "true"/"false", on the event and the span."""
    with tracer.start_as_current_span("work"):
        otel_scoring.score_current_span(name="helpful", value=value)

    work = span_named(exporter, "work")
    (score,) = score_events(work)
    assert (score.value, score.label, score.data_type) == (number, label, "BOOLEAN")
    assert work.attributes[schema.score_value_attribute("span", "helpful")] == number
    assert work.attributes[schema.score_label_attribute("span", "helpful")] == label


def test_span_attributes_summarise_the_latest_value_per_name(tracer, exporter):
    """Every score is an event; the span attributes hold the latest value of each name."""
    with tracer.start_as_current_span("work"):
        otel_scoring.score_current_span(name="relevance", value=0.2)
        otel_scoring.score_current_span(name="toxicity", value=0.01)
        otel_scoring.score_current_span(name="relevance", value=0.7)
        otel_scoring.score_current_span(name="sentiment", value="positive")
        otel_scoring.score_current_span(name="sentiment", value="negative")

    work = span_named(exporter, "work")
    assert [(s.name, s.value if s.label is None else s.label) for s in score_events(work)] == [
        ("relevance", 0.2),
        ("toxicity", 0.01),
        ("relevance", 0.7),
        ("sentiment", "positive"),
        ("sentiment", "negative"),
    ]
    assert work.attributes[schema.score_value_attribute("span", "relevance")] == 0.7
    assert work.attributes[schema.score_value_attribute("span", "toxicity")] == 0.01
    assert work.attributes[schema.score_label_attribute("span", "sentiment")] == "negative"
    assert work.attributes[schema.HAS_SCORES] is True


def test_a_span_and_a_trace_score_of_one_name_are_summarised_apart(tracer, exporter):
    """A root scored at span and trace scope keeps both summaries."""
    with tracer.start_as_current_span("root"):
        otel_scoring.score_current_span(name="quality", value=0.4)
        otel_scoring.score_current_trace(name="quality", value=0.9)

    root = span_named(exporter, "root")
    assert root.attributes[schema.score_value_attribute("span", "quality")] == 0.4
    assert root.attributes[schema.score_value_attribute("trace", "quality")] == 0.9


def test_trace_scores_land_on_the_local_root_while_it_is_open(tracer, exporter):
    """score_current_trace from deep inside a trace writes on the root span this process started."""
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("a"):
            with tracer.start_as_current_span("b"):
                otel_scoring.score_current_trace(name="overall", value=0.8)

    assert [s.name for s in score_events(span_named(exporter, "root"))] == ["overall"]
    assert all_score_events(exporter) == score_events(span_named(exporter, "root"))
    assert carriers(exporter) == []


def test_the_local_root_of_a_distributed_trace_takes_its_trace_scores(tracer, exporter):
    """Under a remote parent (an incoming traceparent) the first local span is the run's root here."""
    incoming = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    parent_context = TraceContextTextMapPropagator().extract(incoming)
    with tracer.start_as_current_span("handle-request", context=parent_context, kind=SpanKind.SERVER):
        with tracer.start_as_current_span("call-model"):
            otel_scoring.score_current_trace(name="overall", value=0.8)

    handle = span_named(exporter, "handle-request")
    (score,) = score_events(handle)
    assert score.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert handle.parent.span_id == 0x00F067AA0BA902B7


def test_two_local_roots_of_one_trace_keep_their_trace_scores(tracer, exporter):
    """Two requests of one distributed trace handled at once: the first ending does not orphan the second."""
    incoming = TraceContextTextMapPropagator().extract({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    first = tracer.start_span("request-1", context=incoming)
    second = tracer.start_span("request-2", context=incoming)
    first.end()
    with trace.use_span(second):
        otel_scoring.score_current_trace(name="overall", value=1)
    second.end()

    assert [s.name for s in score_events(span_named(exporter, "request-2"))] == ["overall"]
    assert carriers(exporter) == []


def test_interleaved_traces_keep_their_own_roots(tracer, exporter):
    """Two traces open at once: each trace score goes to its own root."""
    first = tracer.start_span("first-root")
    second = tracer.start_span("second-root")
    with trace.use_span(second):
        otel_scoring.score_current_trace(name="which", value=2)
    with trace.use_span(first):
        otel_scoring.score_current_trace(name="which", value=1)
    second.end()
    first.end()

    assert [s.value for s in score_events(span_named(exporter, "first-root"))] == [1.0]
    assert [s.value for s in score_events(span_named(exporter, "second-root"))] == [2.0]


# --- Carrier spans ----------------------------------------------------------------------------


def test_a_carrier_span_carries_the_same_event_the_target_would_have_had(tracer, exporter):
    """A late score's carrier: our name, flag, scope and resource, child of and linked to the target, same event."""
    fixed = {"score_id": "fixed-id", "timestamp": datetime(2026, 1, 1, tzinfo=timezone.utc), "comment": "late"}
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("answer") as answer:
            otel_scoring.create_score(name="accuracy", value=0.9, trace_id=trace_hex(answer), observation_id=span_hex(answer), **fixed)
    otel_scoring.create_score(name="accuracy", value=0.9, trace_id=trace_hex(answer), observation_id=span_hex(answer), **fixed)

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, answer.get_span_context().trace_id, answer.get_span_context().span_id)
    assert carrier.kind is SpanKind.INTERNAL
    assert carrier.resource.attributes["service.name"] == "test-service"
    assert carrier.end_time is not None and carrier.end_time >= carrier.start_time
    (on_target,) = span_named(exporter, "answer").events
    (on_carrier,) = carrier.events
    assert on_carrier.name == on_target.name == schema.EVALUATION_RESULT_EVENT
    assert dict(on_carrier.attributes) == dict(on_target.attributes)
    assert carrier.attributes[schema.score_value_attribute("span", "accuracy")] == 0.9
    assert carrier.attributes[schema.HAS_SCORES] is True


def test_every_late_score_gets_its_own_carrier(tracer, exporter):
    """Three late scores for one ended span are three carriers, all children of it."""
    with tracer.start_as_current_span("root") as root:
        pass
    for name in ("a", "b", "c"):
        otel_scoring.create_score(name=name, value=1, trace_id=trace_hex(root))

    found = carriers(exporter)
    assert [score_events(c)[0].name for c in found] == ["a", "b", "c"]
    for carrier in found:
        assert_carrier_of(carrier, root.get_span_context().trace_id, root.get_span_context().span_id)


def test_scoring_an_ended_span_made_current_again_uses_a_carrier(tracer, exporter):
    """score_current_span under trace.use_span(ended_span) is not lost: a carrier takes it."""
    span = tracer.start_span("finished-work")
    span.end()
    with trace.use_span(span):
        otel_scoring.score_current_span(name="late", value=1)

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, span.get_span_context().trace_id, span.get_span_context().span_id)
    assert [s.name for s in score_events(carrier)] == ["late"]


def test_scoring_a_remote_span_context_uses_a_carrier(tracer, exporter):
    """With only a remote span context active, the score rides a carrier child of that remote span."""
    remote = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(remote)):
        otel_scoring.score_current_span(name="downstream-quality", value=0.5)

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, remote.trace_id, remote.span_id)


def test_a_score_from_an_earlier_processors_on_end_is_not_lost(pipelines, caplog):
    """A processor that scores spans as they end, added before ours, gets its scores carried."""

    class ScoreOnEnd(SpanProcessor):
        def on_end(self, span):
            if span.attributes.get(schema.CARRIER):
                return  # scoring the carrier of a score would never end
            otel_scoring.create_score(name="duration-ok", value=True, trace_id=span.context.trace_id, observation_id=span.context.span_id)

    pipeline = pipelines(extra_first=ScoreOnEnd())
    with pipeline.tracer.start_as_current_span("work") as work:
        pass

    (carrier,) = carriers(pipeline.exporter)
    assert_carrier_of(carrier, work.get_span_context().trace_id, work.get_span_context().span_id)
    assert [s.name for s in score_events(carrier)] == ["duration-ok"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_without_a_recording_provider_for_carriers_a_late_score_warns(caplog):
    """A processor whose tracer provider cannot record says why a late score was not recorded."""
    processor = ScoringSpanProcessor(tracer_provider=trace.NoOpTracerProvider())
    try:
        otel_scoring.create_score(name="accuracy", value=1, trace_id="abcdef1234567890abcdef1234567890")
    finally:
        processor.shutdown()

    (warning,) = scoring_warnings(caplog.records)
    assert warning.startswith("No recording tracer provider to carry a late score or metadata update")


# --- Span limits ------------------------------------------------------------------------------


def test_a_span_full_of_events_sends_the_score_to_a_carrier_and_loses_nothing(pipelines, caplog):
    """At the span's event limit the score goes to a carrier with a warning; older events stay."""
    pipeline = pipelines(span_limits=SpanLimits(max_events=3))
    with pipeline.tracer.start_as_current_span("root") as root:
        with pipeline.tracer.start_as_current_span("chatty") as chatty:
            for n in range(3):
                chatty.add_event(f"user-event-{n}")
            otel_scoring.score_current_span(name="accuracy", value=0.9)
        for n in range(3):
            root.add_event(f"root-event-{n}")
        otel_scoring.score_current_trace(name="overall", value=0.8)

    assert [e.name for e in span_named(pipeline.exporter, "chatty").events] == ["user-event-0", "user-event-1", "user-event-2"]
    assert [e.name for e in span_named(pipeline.exporter, "root").events] == ["root-event-0", "root-event-1", "root-event-2"]
    span_carrier, trace_carrier = carriers(pipeline.exporter)
    assert_carrier_of(span_carrier, chatty.get_span_context().trace_id, chatty.get_span_context().span_id)
    assert_carrier_of(trace_carrier, root.get_span_context().trace_id, root.get_span_context().span_id)
    assert [(s.name, s.scope) for s in score_events(span_carrier)] == [("accuracy", "span")]
    assert [(s.name, s.scope) for s in score_events(trace_carrier)] == [("overall", "trace")]
    assert scoring_warnings(caplog.records) == [
        "Span 'chatty' has reached its event limit (3); score 'accuracy' is carried on a carrier span instead.",
        "Span 'root' has reached its event limit (3); score 'overall' is carried on a carrier span instead.",
    ]


def test_a_metadata_batch_that_would_overflow_the_event_limit_is_carried_whole(pipelines, caplog):
    """A batch of three updates on a span with room for two goes, all three, to one carrier."""
    pipeline = pipelines(span_limits=SpanLimits(max_events=3))
    with pipeline.tracer.start_as_current_span("root") as root:
        root.add_event("user-event")
        with metadata("update-all-statuses").batch() as batch:
            for kind in ("workflow", "timing", "infra"):
                batch.update({"set": True}, kind)

    assert [e.name for e in span_named(pipeline.exporter, "root").events] == ["user-event"]
    (carrier,) = carriers(pipeline.exporter)
    assert_carrier_of(carrier, root.get_span_context().trace_id, root.get_span_context().span_id)
    assert [e.name for e in carrier.events] == [schema.METADATA_UPDATE_EVENT] * 3
    assert len(scoring_warnings(caplog.records)) == 1


def test_a_span_full_of_attributes_keeps_the_event_without_the_summary(pipelines, caplog):
    """At the attribute limit the score is still an event on the span, without summary attributes."""
    pipeline = pipelines(span_limits=SpanLimits(max_span_attributes=2))
    with pipeline.tracer.start_as_current_span("work", attributes={"http.method": "GET", "http.route": "/answer"}):
        otel_scoring.score_current_span(name="accuracy", value=0.9)

    work = span_named(pipeline.exporter, "work")
    assert [s.value for s in score_events(work)] == [0.9]
    assert dict(work.attributes) == {"http.method": "GET", "http.route": "/answer"}
    assert carriers(pipeline.exporter) == []
    assert scoring_warnings(caplog.records) == [
        "Span 'work' has reached its attribute limit (2); score 'accuracy' is recorded as an event without its searchable attributes."
    ]


def test_an_attribute_over_the_length_limit_is_truncated_with_a_warning(pipelines, caplog):
    """A comment longer than max_attribute_length is recorded truncated, and a warning says so."""
    pipeline = pipelines(span_limits=SpanLimits(max_attribute_length=40))
    with pipeline.tracer.start_as_current_span("work"):
        otel_scoring.score_current_span(name="accuracy", value=0.9, comment="x" * 100)

    (score,) = score_events(span_named(pipeline.exporter, "work"))
    assert score.comment == "x" * 40
    assert scoring_warnings(caplog.records) == ["An attribute of score 'accuracy' is longer than the attribute length limit (40) and will be truncated."]


# --- Bounded memory ---------------------------------------------------------------------------


def test_ten_thousand_spans_that_never_end_do_not_break_scoring(pipelines):
    """With max_tracked_spans=100, 10 000 roots that never end are forgotten; scoring keeps working."""
    pipeline = pipelines(max_tracked_spans=100)
    tracer = pipeline.tracer
    first = tracer.start_span("leaked-0")
    first_ids = (first.get_span_context().trace_id, first.get_span_context().span_id)
    first_alive = weakref.ref(first)
    for n in range(1, 10_000):
        tracer.start_span(f"leaked-{n}")  # never ended, never referenced

    with tracer.start_as_current_span("fresh-root"):
        with tracer.start_as_current_span("fresh-step"):
            otel_scoring.score_current_span(name="still-works", value=1)
            otel_scoring.score_current_trace(name="still-works-trace", value=1)
    otel_scoring.create_score(name="late-for-leaked", value=1, trace_id=first_ids[0], observation_id=first_ids[1])
    first.end()

    exporter = pipeline.exporter
    assert [s.name for s in score_events(span_named(exporter, "fresh-step"))] == ["still-works"]
    assert [s.name for s in score_events(span_named(exporter, "fresh-root"))] == ["still-works-trace"]
    assert score_events(span_named(exporter, "leaked-0")) == []
    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, *first_ids)
    assert [s.name for s in score_events(carrier)] == ["late-for-leaked"]
    del first
    gc.collect()
    assert first_alive() is None, "a span the user dropped must not be kept alive by the processor"


def test_spans_that_never_end_are_not_kept_alive(pipelines):
    """Open spans (roots included) that nobody holds any more can be garbage-collected."""
    pipeline = pipelines(max_tracked_spans=10)
    watchers = [weakref.ref(pipeline.tracer.start_span(f"leaked-{n}")) for n in range(50)]
    gc.collect()

    assert [n for n, ref in enumerate(watchers) if ref() is not None] == []


# --- Sampling and lifecycle -------------------------------------------------------------------


def test_a_sampled_out_trace_exports_no_scores_and_warns_nothing(pipelines, caplog):
    """When the sampler drops a trace its scores are dropped too, quietly."""
    pipeline = pipelines(sampler=ALWAYS_OFF)
    with pipeline.tracer.start_as_current_span("root"):
        otel_scoring.score_current_span(name="accuracy", value=1)
        otel_scoring.score_current_trace(name="overall", value=1)

    assert pipeline.exporter.get_finished_spans() == ()
    assert scoring_warnings(caplog.records) == []


def test_after_shutdown_the_processor_records_nothing(pipelines):
    """A shut-down processor writes no more scores; shutting down twice is harmless."""
    pipeline = pipelines()
    pipeline.processor.shutdown()
    pipeline.processor.shutdown()

    with pipeline.tracer.start_as_current_span("after-shutdown") as span:
        otel_scoring.score_current_span(name="accuracy", value=1)
    otel_scoring.create_score(name="late", value=1, trace_id=trace_hex(span))

    assert score_events(span_named(pipeline.exporter, "after-shutdown")) == []
    assert carriers(pipeline.exporter) == []


def test_shutting_down_the_provider_shuts_the_processor_down(pipelines):
    """provider.shutdown() stops scoring through that provider's processor."""
    pipeline = pipelines()
    with pipeline.tracer.start_as_current_span("before") as before:
        pass
    pipeline.provider.shutdown()

    otel_scoring.create_score(name="late", value=1, trace_id=trace_hex(before))

    assert carriers(pipeline.exporter) == []
    assert pipeline.processor.force_flush() is True


def test_each_provider_scores_its_own_spans(pipelines):
    """With two providers, a span's score is recorded by the processor of the provider that made it."""
    first, second = pipelines(), pipelines()
    with first.tracer.start_as_current_span("first-work"):
        otel_scoring.score_current_span(name="which", value=1)
    with second.tracer.start_as_current_span("second-work") as second_work:
        pass
    otel_scoring.create_score(name="which-late", value=2, trace_id=trace_hex(second_work), observation_id=span_hex(second_work))

    assert [s.name for s in score_events(span_named(first.exporter, "first-work"))] == ["which"]
    assert carriers(first.exporter) == []
    (carrier,) = carriers(second.exporter)
    assert [s.name for s in score_events(carrier)] == ["which-late"]


# --- Internal errors never reach the caller ---------------------------------------------------


class BrokenTracerProvider(trace.TracerProvider):
    """A tracer provider whose tracers cannot be made: any carrier span fails internally."""

    def get_tracer(self, *args, **kwargs):
        raise RuntimeError("tracer provider is broken")


@pytest.fixture
def broken_carriers():
    processor = ScoringSpanProcessor(tracer_provider=BrokenTracerProvider())
    yield processor
    processor.shutdown()


UNKNOWN_TRACE = "abcdef1234567890abcdef1234567890"


def late_score():
    otel_scoring.create_score(name="accuracy", value=1, trace_id=UNKNOWN_TRACE)


def late_metadata():
    metadata("m").run(UNKNOWN_TRACE).update({"a": 1})


def late_batch():
    with metadata("b").run(UNKNOWN_TRACE).batch() as batch:
        batch.update({"a": 1})


LATE_CALLS = [(late_score, "create_score"), (late_metadata, "metadata.update"), (late_batch, "metadata batch")]


@pytest.mark.parametrize("call, where", LATE_CALLS, ids=[where for _, where in LATE_CALLS])
def test_an_internal_error_is_logged_not_raised(broken_carriers, monkeypatch, caplog, call, where):
    """Outside our test suite an internal failure is logged once with its traceback and the call returns."""
    monkeypatch.delenv(OTEL_SCORING_RAISE_INTERNAL_ERRORS)

    assert call() is None

    (error,) = [r for r in caplog.records if r.name == "otel_scoring" and r.levelno >= logging.ERROR]
    assert error.getMessage() == f"Internal error in otel-scoring ({where}); the call was ignored."
    assert "tracer provider is broken" in str(error.exc_info[1])


@pytest.mark.parametrize("call, where", LATE_CALLS, ids=[where for _, where in LATE_CALLS])
def test_our_own_suite_sees_internal_errors(broken_carriers, call, where):
    """With OTEL_SCORING_RAISE_INTERNAL_ERRORS set (as in this suite) the same failure raises."""
    with pytest.raises(RuntimeError, match="tracer provider is broken"):
        call()


@pytest.mark.parametrize("hook", ["on_start", "on_end"])
def test_span_processor_hooks_never_raise_into_the_sdk(monkeypatch, caplog, hook):
    """A hook handed something it cannot read logs an internal error instead of breaking the user's span."""
    monkeypatch.delenv(OTEL_SCORING_RAISE_INTERNAL_ERRORS)
    processor = ScoringSpanProcessor(tracer_provider=TracerProvider())
    try:
        assert getattr(processor, hook)(object()) is None
    finally:
        processor.shutdown()

    (error,) = [r for r in caplog.records if r.name == "otel_scoring" and r.levelno >= logging.ERROR]
    assert error.getMessage() == f"Internal error in otel-scoring (ScoringSpanProcessor.{hook}); the call was ignored."
