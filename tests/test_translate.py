"""The translator reads the same records back from every form a scored trace takes."""

from __future__ import annotations

import copy
import functools
import json
import types
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.span_forms import collector_json, collector_json_lines, every_form, jaeger_legacy, otlp_proto, otlp_request, tempo_v1

from otel_scoring import ScoreConfig, ScoreConfigRegistry, ScoringSpanProcessor, create_score, metadata, schema, score_current_span, score_current_trace
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.translate import (
    GENAI_EVENT_SOURCE,
    OPENINFERENCE_SOURCE,
    Translation,
    TranslationError,
    records_from_document,
    records_from_file,
    records_from_jaeger,
    records_from_otlp_json,
    records_from_otlp_proto,
    records_from_spans,
    records_from_tempo,
)

SERVICE = "test-service"  # the resource of tests/conftest.py's provider
FEEDBACK_TIME = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    # Given to the processor already filled: the processor swaps an empty registry for its own.
    return ScoreConfigRegistry([ScoreConfig(id="tone-v1", name="tone", data_type="CATEGORICAL", categories={"polite": 1, "rude": 0})])


def record_a_scored_run(tracer):
    """Scores of every scope and type, a rewritten score and metadata, some on carrier spans."""
    with tracer.start_as_current_span("summarize-ticket") as root:
        trace_id = root.get_span_context().trace_id
        with tracer.start_as_current_span("call-model") as step:
            step_id = step.get_span_context().span_id
            score_current_span(name="model-confidence", value=0.83, comment="logprob based")
            create_score(
                name="tone",
                value="polite",
                config_id="tone-v1",
                trace_id=trace_id,
                observation_id=step_id,
                metadata={"judge": "gpt-4o", "votes": [1, 2, 3]},
            )
        metadata("step-note").step("call-model").update({"records": 1500})  # the step has ended: a carrier
        score_current_trace(name="guardrail-pass", value=True)
        metadata("record-payment-info").update({"paymentId": "pi_1", "amount": 12.5}, kind="billing")
        with metadata("phase-batch").batch() as batch:
            batch.update({"phase": "started"}, kind="workflow")
            batch.update({"region": "us-east-1"}, kind="infra")
    create_score(name="user-feedback", value=False, trace_id=trace_id, score_id="feedback-1", timestamp=FEEDBACK_TIME)
    create_score(name="user-feedback", value=True, trace_id=trace_id, score_id="feedback-1", timestamp=FEEDBACK_TIME, comment="changed my mind")
    create_score(name="session-quality", value=4, session_id="session-7")
    create_score(name="run-accuracy", value=0.91, dataset_run_id="run-3", data_type="NUMERIC")
    return format(trace_id, "032x"), format(step_id, "016x")


def test_a_scored_run_reads_back_as_the_scores_and_metadata_that_were_recorded(tracer, exporter):
    """Every score and metadata update recorded through the public API comes back once, with its target and carrier."""
    trace_id, step_id = record_a_scored_run(tracer)
    translation = records_from_spans(exporter.get_finished_spans())

    scores = {record.name: record for record in translation.scores}
    assert sorted(scores) == ["guardrail-pass", "model-confidence", "run-accuracy", "session-quality", "tone", "user-feedback"]
    assert len(translation.scores) == 6  # the rewritten feedback score collapsed into one
    confidence = scores["model-confidence"]
    assert (confidence.value, confidence.data_type, confidence.scope) == (0.83, "NUMERIC", "span")
    assert (confidence.trace_id, confidence.observation_id, confidence.comment) == (trace_id, step_id, "logprob based")
    assert (confidence.service_name, confidence.span_name, confidence.source) == (SERVICE, "call-model", "API")
    tone = scores["tone"]
    assert (tone.value, tone.string_value, tone.data_type, tone.config_id) == (1.0, "polite", "CATEGORICAL", "tone-v1")
    assert tone.metadata == {"judge": "gpt-4o", "votes": [1, 2, 3]}
    guardrail = scores["guardrail-pass"]
    assert (guardrail.value, guardrail.string_value, guardrail.data_type) == (1.0, "true", "BOOLEAN")
    assert (guardrail.scope, guardrail.observation_id, guardrail.span_name) == ("trace", None, "summarize-ticket")
    feedback = scores["user-feedback"]
    assert (feedback.id, feedback.string_value, feedback.comment, feedback.timestamp) == ("feedback-1", "true", "changed my mind", FEEDBACK_TIME)
    assert (feedback.trace_id, feedback.span_name, feedback.service_name) == (trace_id, None, SERVICE)  # carried
    session = scores["session-quality"]
    assert (session.scope, session.session_id, session.trace_id, session.value) == ("session", "session-7", None, 4.0)
    run = scores["run-accuracy"]
    assert (run.scope, run.dataset_run_id, run.trace_id) == ("dataset_run", "run-3", None)
    assert [record.timestamp for record in translation.scores] == sorted(record.timestamp for record in translation.scores)

    updates = {record.id: record for record in translation.metadata}
    assert sorted(updates) == ["phase-batch/0", "phase-batch/1", "record-payment-info/0", "step-note/0"]
    billing = updates["record-payment-info/0"]
    assert (billing.kind, billing.scope, billing.values, billing.trace_id) == ("billing", "run", {"paymentId": "pi_1", "amount": 12.5}, trace_id)
    assert (billing.span_name, billing.service_name) == ("summarize-ticket", SERVICE)
    assert (updates["phase-batch/1"].kind, updates["phase-batch/1"].values) == ("infra", {"region": "us-east-1"})
    step_note = updates["step-note/0"]
    assert (step_note.scope, step_note.span_id, step_note.span_name) == ("span", step_id, None)


def test_every_form_of_a_scored_run_gives_identical_records(tracer, exporter):
    """SDK spans, OTLP protobuf and JSON, Jaeger and Tempo answers of one run translate to the same records."""
    record_a_scored_run(tracer)
    spans = exporter.get_finished_spans()
    expected = records_from_spans(spans)
    assert len(expected.scores) == 6 and len(expected.metadata) == 4
    for form, translate in every_form(spans).items():
        assert translate() == expected, form


def test_a_rewritten_score_keeps_its_latest_write(tracer, exporter):
    """Writing a score id again on the same span replaces it: the record holds the second value."""
    with tracer.start_as_current_span("answer") as span:
        context = span.get_span_context()
        for value in (0.2, 0.9, 0.5):
            create_score(name="helpfulness", value=value, score_id="help-1", trace_id=context.trace_id, observation_id=context.span_id)
    for translate in every_form(exporter.get_finished_spans()).values():
        (score,) = translate().scores
        assert (score.id, score.value) == ("help-1", 0.5)


def test_evaluation_events_of_other_tools_read_as_span_scores(tracer, exporter):
    """A GenAI evaluation event without our attributes becomes a span score with a stable id, in every form."""
    with tracer.start_as_current_span("chat gpt-4o") as span:
        span.add_event(
            schema.EVALUATION_RESULT_EVENT,
            {
                schema.GEN_AI_EVALUATION_NAME: "relevance",
                schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.7,
                schema.GEN_AI_EVALUATION_SCORE_LABEL: "relevant",
                schema.GEN_AI_EVALUATION_EXPLANATION: "on topic",
                schema.GEN_AI_RESPONSE_ID: "chatcmpl-1",
            },
            timestamp=1_767_225_600_123_456_789,  # nanoseconds Jaeger will round away
        )
        span.add_event(schema.EVALUATION_RESULT_EVENT, {schema.GEN_AI_EVALUATION_NAME: "tone", schema.GEN_AI_EVALUATION_SCORE_LABEL: "friendly"})
        span.add_event(schema.EVALUATION_RESULT_EVENT, {schema.GEN_AI_EVALUATION_NAME: "no-result"})
        context = span.get_span_context()
    spans = exporter.get_finished_spans()
    translation = records_from_spans(spans)
    relevance, tone = sorted(translation.scores, key=lambda record: record.name)
    assert (relevance.value, relevance.string_value, relevance.data_type, relevance.comment) == (0.7, "relevant", "NUMERIC", "on topic")
    assert (relevance.scope, relevance.source, relevance.metadata) == ("span", GENAI_EVENT_SOURCE, {schema.GEN_AI_RESPONSE_ID: "chatcmpl-1"})
    assert (relevance.trace_id, relevance.observation_id) == (format(context.trace_id, "032x"), format(context.span_id, "016x"))
    assert (relevance.span_name, relevance.service_name) == ("chat gpt-4o", SERVICE)
    assert relevance.timestamp == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)
    assert (tone.value, tone.string_value, tone.data_type) == (None, "friendly", "CATEGORICAL")
    assert len(relevance.id) == 32 and relevance.id != tone.id
    for form, translate in every_form(spans).items():
        assert translate() == translation, form


def test_openinference_annotations_read_as_span_scores(tracer, exporter):
    """Phoenix-style ``annotation.<name>.*`` span attributes become span scores, in every form."""
    with tracer.start_as_current_span("retrieve") as span:
        span.set_attributes(
            {
                "annotation.correctness.score": 1,
                "annotation.correctness.label": "correct",
                "annotation.correctness.explanation": "matches the reference",
                "annotation.doc.relevance.label": "relevant",
                "annotation.empty.explanation": "no score or label: not a score",
            }
        )
    spans = exporter.get_finished_spans()
    translation = records_from_spans(spans)
    correctness, relevance = sorted(translation.scores, key=lambda record: record.name)
    assert (correctness.name, correctness.value, correctness.string_value, correctness.comment) == ("correctness", 1.0, "correct", "matches the reference")
    assert (correctness.source, correctness.scope, correctness.span_name, correctness.data_type) == (OPENINFERENCE_SOURCE, "span", "retrieve", "NUMERIC")
    assert (relevance.name, relevance.data_type, relevance.string_value) == ("doc.relevance", "CATEGORICAL", "relevant")
    assert correctness.timestamp == datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=spans[0].start_time // 1000)
    for form, translate in every_form(spans).items():
        assert translate() == translation, form


def _good_score_event(score_id: str):
    return {
        schema.SCORE_ID: score_id,
        schema.GEN_AI_EVALUATION_NAME: "kept",
        schema.GEN_AI_EVALUATION_SCORE_VALUE: 1.0,
        schema.SCORE_DATA_TYPE: "NUMERIC",
        schema.SCORE_SCOPE: "trace",
        schema.SCORE_SOURCE: "API",
        schema.SCORE_TRACE_ID: "0af7651916cd43dd8448eb211c80319c",
        schema.SCORE_TIMESTAMP: "2026-02-03T04:05:06.000007Z",
    }


BROKEN_SCORE_EVENTS = [
    {schema.GEN_AI_EVALUATION_NAME: None},  # no name
    {schema.GEN_AI_EVALUATION_SCORE_VALUE: "high"},  # a string value
    {schema.SCORE_METADATA: "{not json"},
    {schema.SCORE_TRACE_ID: "not-a-trace-id"},
    {schema.SCORE_SCOPE: "galaxy"},
    {schema.SCORE_DATA_TYPE: "VECTOR"},
    {schema.SCORE_TIMESTAMP: "yesterday"},
    {schema.GEN_AI_EVALUATION_EXPLANATION: 42},
]

BROKEN_METADATA_EVENTS = [
    {schema.METADATA_UPDATE_VALUES: "[1, 2]"},  # not an object
    {schema.METADATA_UPDATE_VALUES: "{oops"},
    {schema.METADATA_UPDATE_INDEX: -1},
    {schema.METADATA_UPDATE_INDEX: "zero"},
    {schema.METADATA_UPDATE_MEMO_ID: ""},
    {schema.METADATA_UPDATE_SCOPE: "planet"},
]


def test_events_that_break_the_schema_are_skipped_and_the_rest_is_read(tracer, exporter):
    """Malformed values, wrong types and missing attributes drop only their own event, in every form."""
    good_metadata = {
        schema.METADATA_UPDATE_MEMO_ID: "memo",
        schema.METADATA_UPDATE_INDEX: 0,
        schema.METADATA_UPDATE_KIND: "default",
        schema.METADATA_UPDATE_SCOPE: "run",
        schema.METADATA_UPDATE_VALUES: '{"ok": true}',
        schema.METADATA_UPDATE_TIMESTAMP: "2026-02-03T04:05:06.000007Z",
    }
    with tracer.start_as_current_span("handwritten") as span:
        for number, broken in enumerate(BROKEN_SCORE_EVENTS):
            attributes = {key: value for key, value in {**_good_score_event(f"broken-{number}"), **broken}.items() if value is not None}
            span.add_event(schema.EVALUATION_RESULT_EVENT, attributes)
        for number, broken in enumerate(BROKEN_METADATA_EVENTS):
            span.add_event(schema.METADATA_UPDATE_EVENT, {**good_metadata, schema.METADATA_UPDATE_MEMO_ID: f"broken-{number}", **broken})
        span.add_event(schema.EVALUATION_RESULT_EVENT, _good_score_event("good"))
        span.add_event(schema.METADATA_UPDATE_EVENT, good_metadata)
        span.set_attribute("annotation.half.score", "not a number")
    spans = exporter.get_finished_spans()
    for form, translate in every_form(spans).items():
        translation = translate()
        assert [record.id for record in translation.scores] == ["good"], form
        assert [record.id for record in translation.metadata] == ["memo/0"], form
        assert translation.metadata[0].values == {"ok": True}


@pytest.mark.parametrize(
    "document",
    [
        b"\x00\x01\x02 not trace data",
        "plain text, not JSON",
        b"\xff\xfe{ not utf-8",
        "null",
        "[1, 2]",
        '{"unrelated": "object"}',
        "   ",
    ],
)
def test_input_that_is_not_trace_data_raises_one_translation_error(document):
    """Garbage at the top level is reported as a TranslationError (a ValueError), never another exception."""
    with pytest.raises(TranslationError):
        records_from_document(document)


@pytest.mark.parametrize(
    "answer",
    [
        {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": 404, "msg": "trace not found"}]},
        {"error": {"grpcCode": 5, "httpCode": 404, "message": "trace not found", "httpStatus": "Not Found"}},
    ],
)
def test_a_jaeger_error_answer_is_reported_with_its_message(answer):
    """A Jaeger answer that holds an error instead of a trace raises TranslationError naming Jaeger's message."""
    with pytest.raises(TranslationError, match="trace not found"):
        records_from_jaeger(json.dumps(answer))
    with pytest.raises(TranslationError, match="trace not found"):
        records_from_document(json.dumps(answer))


def test_each_reader_rejects_a_document_of_another_shape(tracer, exporter):
    """Handing a reader a document it does not read raises TranslationError rather than reading nothing."""
    with tracer.start_as_current_span("root"):
        score_current_span(name="s", value=1)
    spans = exporter.get_finished_spans()
    with pytest.raises(TranslationError):
        records_from_otlp_json(jaeger_legacy(spans))
    with pytest.raises(TranslationError):
        records_from_tempo(jaeger_legacy(spans))
    with pytest.raises(TranslationError):
        records_from_jaeger(tempo_v1(spans))
    with pytest.raises(TranslationError):
        records_from_otlp_proto(b"\xff\xff\xff\xff")
    with pytest.raises(TranslationError):
        records_from_otlp_proto("a string")  # type: ignore[arg-type]


def _read_only(value):
    """``value`` with every JSON object a read-only mapping (a ``Mapping`` that is not a dict)."""
    if isinstance(value, dict):
        return types.MappingProxyType({key: _read_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_read_only(item) for item in value]
    return value


def test_otlp_json_of_mappings_that_are_not_dicts_reads_as_the_same_json_would(tracer, exporter):
    """A document handed over as other mappings than ``json.loads``'s dicts reads as the same records."""
    record_a_scored_run(tracer)
    with tracer.start_as_current_span("answer") as span:
        span.set_attributes({"annotation.correctness.score": 1, "annotation.correctness.label": "correct"})
        span.add_event(schema.EVALUATION_RESULT_EVENT, {schema.GEN_AI_EVALUATION_NAME: "relevance", schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.7})
    document = collector_json(exporter.get_finished_spans())
    translation = records_from_otlp_json(document)
    assert {score.source for score in translation.scores} >= {"API", GENAI_EVENT_SOURCE, OPENINFERENCE_SOURCE} and translation.metadata
    assert records_from_otlp_json(_read_only(document)) == translation


def test_json_lines_collapse_rewrites_across_lines(tracer, exporter):
    """A Collector file with one request per line reads as one document: a score rewritten later keeps its last line."""
    with tracer.start_as_current_span("answer") as span:
        context = span.get_span_context()
        create_score(name="q", value=0.1, score_id="q-1", trace_id=context.trace_id, observation_id=context.span_id)
    create_score(name="q", value=0.9, score_id="q-1", trace_id=context.trace_id, observation_id=context.span_id)
    first, carrier = exporter.get_finished_spans()
    lines = collector_json_lines(collector_json([first]), collector_json([carrier]))
    (score,) = records_from_otlp_json(lines).scores
    assert (score.value, score.span_name) == (0.9, None)
    assert records_from_otlp_json(json.dumps([collector_json([first]), collector_json([carrier])])).scores == [score]
    truncated = lines + lines.splitlines()[0][:40]  # a line cut short while the exporter was writing
    assert records_from_document(truncated).scores == [score]


def test_a_tracesdata_message_and_a_request_read_alike(tracer, exporter):
    """TracesData (the file format) and ExportTraceServiceRequest (the wire format) give the same records."""
    with tracer.start_as_current_span("root"):
        score_current_span(name="s", value=1)
    spans = exporter.get_finished_spans()
    traces_data = TracesData()
    traces_data.ParseFromString(otlp_proto(spans))
    assert records_from_otlp_proto(traces_data) == records_from_otlp_proto(otlp_request(spans)) == records_from_spans(spans)
    assert len(records_from_otlp_proto(traces_data).scores) == 1


def test_spans_without_scores_translate_to_nothing(tracer, exporter):
    """A trace with ordinary events and attributes only gives an empty translation in every form."""
    with tracer.start_as_current_span("root") as span:
        span.set_attribute("http.route", "/checkout")
        span.add_event("exception", {"exception.type": "ValueError"})
        with tracer.start_as_current_span("child"):
            pass
    for form, translate in every_form(exporter.get_finished_spans()).items():
        assert translate() == Translation(), form


def test_records_from_file_reads_protobuf_json_lines_and_jaeger_files(tracer, exporter, tmp_path):
    """Files of each form (binary OTLP, Collector JSON lines, a Jaeger answer) give the same records."""
    with tracer.start_as_current_span("root"):
        score_current_span(name="s", value=0.5)
        metadata("m").update({"k": "v"})
    spans = exporter.get_finished_spans()
    expected = records_from_spans(spans)
    (tmp_path / "traces.binpb").write_bytes(otlp_proto(spans))
    (tmp_path / "traces.jsonl").write_text(collector_json_lines(collector_json(spans), collector_json(spans)), encoding="utf-8")
    (tmp_path / "jaeger.json").write_text(json.dumps(jaeger_legacy(spans), indent=2), encoding="utf-8")
    for name in ("traces.binpb", "traces.jsonl", "jaeger.json"):
        assert records_from_file(tmp_path / name) == expected, name
    (tmp_path / "notes.txt").write_text("shopping list", encoding="utf-8")
    with pytest.raises(TranslationError, match="notes.txt"):
        records_from_file(tmp_path / "notes.txt")


def test_records_compare_equal_and_serialise_to_json(tracer, exporter):
    """Records read from two forms are equal values, and to_dict gives JSON-ready data."""
    with tracer.start_as_current_span("root"):
        score_current_span(name="s", value=0.5)
        metadata("m").update({"k": [1, 2]})
    spans = exporter.get_finished_spans()
    translation = records_from_spans(spans)
    assert isinstance(translation.scores[0], ScoreRecord) and isinstance(translation.metadata[0], MetadataRecord)
    assert json.loads(json.dumps(translation.scores[0].to_dict()))["name"] == "s"
    assert json.loads(json.dumps(translation.metadata[0].to_dict()))["values"] == {"k": [1, 2]}


# --- Whatever arrives, the translator answers with a translation or one TranslationError --------------

_SHAPE_KEYS = [
    "resourceSpans", "resource_spans", "scopeSpans", "instrumentationLibrarySpans", "spans", "events", "attributes", "resource",
    "key", "value", "stringValue", "intValue", "doubleValue", "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values",
    "traceId", "spanId", "name", "timeUnixNano", "links", "data", "traceID", "spanID", "logs", "fields", "tags", "type",
    "processes", "processID", "references", "timestamp", "batches", "trace", "result", "errors", "error",
    schema.EVALUATION_RESULT_EVENT, schema.SCORE_ID, schema.GEN_AI_EVALUATION_NAME, "annotation.x.score",
]  # fmt: skip
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(_SHAPE_KEYS + ["int64", "binary", "float64"])
_shaped_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(_SHAPE_KEYS) | st.text(max_size=5), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(document=_shaped_json)
def test_any_json_gives_a_translation_or_a_translation_error(document):
    """JSON of any shape, including near-misses of every trace format, never raises anything but TranslationError."""
    text = json.dumps(document)
    for read in (records_from_document, records_from_otlp_json, records_from_jaeger, records_from_tempo):
        try:
            assert isinstance(read(text), Translation)
        except TranslationError:
            pass


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_give_a_translation_or_a_translation_error(data):
    """Arbitrary bytes as a document or as OTLP protobuf never raise anything but TranslationError."""
    for read in (records_from_document, records_from_otlp_proto):
        try:
            assert isinstance(read(data), Translation)
        except TranslationError:
            pass


def _paths(value, prefix=()):
    """Every place in a JSON value, as the list of keys and indexes leading to it."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, prefix + (key,))


@settings(max_examples=300, deadline=None)
@given(choice=st.data())
def test_a_real_document_with_any_part_replaced_never_raises(choice):
    """Replacing any one part of real OTLP, Jaeger and Tempo answers by any value skips that part at most."""
    for form, (read, document) in _scored_documents().items():
        document = copy.deepcopy(document)
        path = choice.draw(st.sampled_from(list(_paths(document))[1:]), label=form)
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = choice.draw(_shaped_json, label="replacement")
        try:
            assert isinstance(read(json.dumps(document)), Translation)
        except TranslationError:
            pass


@functools.lru_cache(maxsize=1)
def _scored_documents():
    """Documents of a small scored trace with metadata, a carrier and annotations, built once."""
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fuzz")
    with tracer.start_as_current_span("root") as root:
        root.set_attribute("annotation.c.score", 1)
        score_current_span(name="s", value=0.5, comment="c")
        metadata("m").update({"k": "v"})
    create_score(name="late", value="label", trace_id=root.get_span_context().trace_id, metadata={"a": 1})
    spans = exporter.get_finished_spans()
    provider.shutdown()
    return {
        "otlp-json": (records_from_otlp_json, collector_json(spans)),
        "jaeger-legacy": (records_from_jaeger, jaeger_legacy(spans)),
        "tempo": (records_from_tempo, tempo_v1(spans)),
    }


@pytest.mark.parametrize("length_byte", [b"{", b"[", b" "])
def test_protobuf_whose_length_byte_looks_like_json_is_still_read_as_protobuf(length_byte):
    """A small OTLP request starting "\\n{" (field tag, then a length of 123) is detected as protobuf, not JSON."""
    for padding in range(200):
        request = ExportTraceServiceRequest()
        span = request.resource_spans.add().scope_spans.add().spans.add()
        span.name, span.trace_id, span.span_id = "x" * padding, b"\x01" * 16, b"\x02" * 8
        data = request.SerializeToString()
        if data[1:2] == length_byte:
            break
    assert data[:2] == b"\n" + length_byte
    assert records_from_document(data) == Translation()


def test_times_out_of_datetime_range_skip_only_their_records():
    """An event or span time no datetime can hold drops that score, not the document."""
    good = {"key": schema.GEN_AI_EVALUATION_NAME, "value": {"stringValue": "kept"}}
    value = {"key": schema.GEN_AI_EVALUATION_SCORE_VALUE, "value": {"doubleValue": 1}}
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "n",
        "startTimeUnixNano": str(10**30),
        "attributes": [{"key": "annotation.a.score", "value": {"doubleValue": 1}}],
        "events": [
            {"name": schema.EVALUATION_RESULT_EVENT, "timeUnixNano": str(-(10**30)), "attributes": [good, value]},
            {"name": schema.EVALUATION_RESULT_EVENT, "timeUnixNano": "1700000000000000000", "attributes": [good, value]},
        ],
    }
    (score,) = records_from_otlp_json({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).scores
    assert (score.name, score.timestamp.year) == ("kept", 2023)
