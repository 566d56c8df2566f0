"""The translator reads the real Jaeger project files in tests/fixtures/jaeger, as they are and with scores added."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import pytest
from support.record_builders import score
from support.span_forms import JAEGER_FIXTURES, fixture

from otel_scoring import schema
from otel_scoring.records import MetadataRecord
from otel_scoring.translate import (
    GENAI_EVENT_SOURCE,
    OPENINFERENCE_SOURCE,
    Translation,
    records_from_document,
    records_from_file,
    records_from_jaeger,
    records_from_otlp_json,
)
from otel_scoring.translate import _jaeger, _otlp_json  # the span readers, tested as the pure functions they are

READERS = {
    "legacy-api-trace.json": records_from_jaeger,
    "transform-legacy-out.json": records_from_jaeger,
    "api-v3-trace.json": records_from_jaeger,
    "transform-otlp-in.json": records_from_otlp_json,
    "otlp-events-typed-values.json": records_from_otlp_json,
}

SCORE_TIME = "2017-01-26T21:46:31.639875Z"


def test_every_fixture_has_a_reader():
    """Each file in the fixture directory is covered by the tests below."""
    assert sorted(path.name for path in JAEGER_FIXTURES.glob("*.json")) == sorted(READERS)


@pytest.mark.parametrize("name", sorted(READERS))
def test_fixtures_without_scores_translate_to_nothing(name):
    """Real Jaeger shapes read without error through their reader, detection and file reading, and hold no scores."""
    text = (JAEGER_FIXTURES / name).read_text(encoding="utf-8")
    assert READERS[name](text) == Translation()
    assert READERS[name](json.loads(text)) == Translation()
    assert records_from_document(text) == Translation()
    assert records_from_document(text.encode("utf-8")) == Translation()
    assert records_from_file(JAEGER_FIXTURES / name) == Translation()


def test_legacy_reader_reads_spans_events_typed_tags_references_and_processes():
    """Jaeger's legacy trace reads into spans with padded ids, named events, typed tags and service names."""
    views = list(_jaeger.span_views(fixture("legacy-api-trace.json")))
    assert [view.name for view in views] == ["test-general-conversion", "some-operation", "some-operation", "reference-test", "preserveParentID-test"]
    assert [view.service_name for view in views] == ["service-x", "service-x", "service-y", "service-y", "service-y"]
    assert {view.trace_id for view in views} == {"00000000000000000000000000000001"}
    first = views[0]
    assert first.start_time_unix_nano == 1485467191639875000
    assert first.events == [("some-event", 1485467191639875000, {}), ("", 1485467191639875000, {"x": "y"})]
    assert views[1].attributes == {
        "peer.service": "service-y",
        "peer.ipv4": 23456,
        "error": True,
        "temperature": 72.5,
        "javascript_limit": 9223372036854775222,  # int64 written as a string
        "blob": b"\x00\x0009",
    }
    reference_test = views[3]
    assert reference_test.parent_span_id == "0000000000000002"
    assert list(reference_test.links) == [("000000000000000000000000000000ff", "00000000000000ff"), ("00000000000000000000000000000001", "0000000000000002")]
    assert views[4].parent_span_id == "0000000000000004"


def test_otlp_reader_reads_typed_event_values_and_events_without_attributes():
    """OTLP JSON events with string, int, bool, double and bytes values read as Python values."""
    (view,) = _otlp_json.span_views(fixture("otlp-events-typed-values.json"))
    assert (view.trace_id, view.span_id, view.service_name, view.name) == ("00000000000000000000000000000002", "0000000000000001", "query02-service", "placeholder")
    assert view.events == [
        ("", 1485449191639875000, {"sameplacetag1": "sameplacevalue", "sameplacetag2": 123, "sameplacetag4": True, "sameplacetag3": 72.5, "blob": b"\x00\x0009"}),
        ("", 1485449191639875000, {}),
    ]
    (v3_view,) = _otlp_json.span_views(fixture("api-v3-trace.json")["result"])
    assert (v3_view.name, v3_view.span_id, v3_view.service_name) == ("foobar", "0000000000000002", None)
    transform = list(_otlp_json.span_views(fixture("transform-otlp-in.json")))
    assert [(v.service_name, v.parent_span_id, v.attributes["peer.service"]) for v in transform] == [("telemetrygen", "909541b92cf05311", "telemetrygen-client")] * 2


# --- The same files with scores added in each file's own encoding -------------------------------------


def _score_attributes(trace_id, span_id, **extra):
    return {
        schema.SCORE_ID: "fixture-score",
        schema.GEN_AI_EVALUATION_NAME: "helpfulness",
        schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.5,
        schema.SCORE_DATA_TYPE: "NUMERIC",
        schema.SCORE_SCOPE: "span",
        schema.SCORE_SOURCE: "API",
        schema.SCORE_TIMESTAMP: SCORE_TIME,
        schema.SCORE_TRACE_ID: trace_id,
        schema.SCORE_SPAN_ID: span_id,
        **extra,
    }


def _metadata_attributes(trace_id):
    return {
        schema.METADATA_UPDATE_MEMO_ID: "fixture-memo",
        schema.METADATA_UPDATE_INDEX: 3,
        schema.METADATA_UPDATE_KIND: "billing",
        schema.METADATA_UPDATE_SCOPE: "run",
        schema.METADATA_UPDATE_VALUES: '{"invoice": "in_9", "lines": 2}',
        schema.METADATA_UPDATE_TRACE_ID: trace_id,
        schema.METADATA_UPDATE_TIMESTAMP: SCORE_TIME,
    }


def _jaeger_fields(attributes, *, int64_as_string=False):
    fields = []
    for key, value in attributes.items():
        if isinstance(value, bool):
            fields.append({"key": key, "type": "bool", "value": value})
        elif isinstance(value, int):
            fields.append({"key": key, "type": "int64", "value": str(value) if int64_as_string else value})
        elif isinstance(value, float):
            fields.append({"key": key, "type": "float64", "value": value})
        else:
            fields.append({"key": key, "type": "string", "value": value})
    return fields


def _jaeger_log(event_name, attributes, timestamp_micros, **options):
    return {"timestamp": timestamp_micros, "fields": [{"key": "event", "type": "string", "value": event_name}] + _jaeger_fields(attributes, **options)}


def _otlp_attributes(attributes):
    encoded = []
    for key, value in attributes.items():
        if isinstance(value, bool):
            encoded.append({"key": key, "value": {"boolValue": value}})
        elif isinstance(value, int):
            encoded.append({"key": key, "value": {"intValue": str(value)}})
        elif isinstance(value, float):
            encoded.append({"key": key, "value": {"doubleValue": value}})
        else:
            encoded.append({"key": key, "value": {"stringValue": value}})
    return encoded


def _otlp_event(event_name, attributes, time_unix_nano):
    return {"timeUnixNano": str(time_unix_nano), "name": event_name, "attributes": _otlp_attributes(attributes)}


def _expected_score(trace_id, span_id, service_name, span_name, **changes):
    fields = dict(
        name="helpfulness",
        value=0.5,
        scope="span",
        trace_id=trace_id,
        observation_id=span_id,
        at=datetime(2017, 1, 26, 21, 46, 31, 639875, tzinfo=timezone.utc),
        service_name=service_name,
        span_name=span_name,
    )
    fields.update(changes)
    return score("fixture-score", **fields)


def test_scored_legacy_trace_reads_scores_from_logs_and_annotations_from_tags():
    """A score log and annotation tags added to Jaeger's legacy trace read with the span's name and process service."""
    trace = copy.deepcopy(fixture("legacy-api-trace.json"))
    trace_id = "00000000000000000000000000000001"
    trace["spans"][0]["logs"].append(_jaeger_log(schema.EVALUATION_RESULT_EVENT, _score_attributes(trace_id, "0000000000000002"), 1485467191639875))
    trace["spans"][2]["tags"] += _jaeger_fields({"annotation.groundedness.score": 0.25, "annotation.groundedness.label": "weak"})
    translation = records_from_jaeger(json.dumps(trace))
    annotation = next(record for record in translation.scores if record.source == OPENINFERENCE_SOURCE)
    assert translation.scores == sorted(
        [_expected_score(trace_id, "0000000000000002", "service-x", "test-general-conversion"), annotation], key=lambda record: (record.timestamp, record.id)
    )
    assert (annotation.name, annotation.value, annotation.string_value, annotation.observation_id) == ("groundedness", 0.25, "weak", "0000000000000003")
    assert (annotation.service_name, annotation.span_name, annotation.trace_id) == ("service-y", "some-operation", trace_id)
    assert annotation.timestamp == datetime(2017, 1, 26, 21, 46, 31, 639875, tzinfo=timezone.utc)
    assert records_from_document(json.dumps(trace)) == translation


def test_scored_legacy_answer_reads_metadata_with_string_int64_and_plain_genai_events():
    """Jaeger's full legacy answer with a metadata log (int64 as a string) and another tool's evaluation log reads both."""
    answer = copy.deepcopy(fixture("transform-legacy-out.json"))
    trace_id = answer["data"][0]["traceID"]
    span = answer["data"][0]["spans"][0]
    span["logs"].append(_jaeger_log(schema.METADATA_UPDATE_EVENT, _metadata_attributes(trace_id), 1706678909209800, int64_as_string=True))
    span["logs"].append(_jaeger_log(schema.EVALUATION_RESULT_EVENT, {schema.GEN_AI_EVALUATION_NAME: "toxicity", schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.0}, 1706678909209801))
    translation = records_from_jaeger(json.dumps(answer).encode("utf-8"))
    assert translation.metadata == [
        MetadataRecord(
            memo_id="fixture-memo",
            index=3,
            kind="billing",
            scope="run",
            values={"invoice": "in_9", "lines": 2},
            trace_id=trace_id,
            span_id=None,
            timestamp=datetime(2017, 1, 26, 21, 46, 31, 639875, tzinfo=timezone.utc),
            service_name="telemetrygen",
            span_name="okey-dokey-0",
        )
    ]
    (toxicity,) = translation.scores
    assert (toxicity.name, toxicity.value, toxicity.source, toxicity.data_type) == ("toxicity", 0.0, GENAI_EVENT_SOURCE, "NUMERIC")
    assert (toxicity.trace_id, toxicity.observation_id) == (trace_id, "e127af99e3b3e074")
    assert toxicity.timestamp == datetime(2024, 1, 31, 5, 28, 29, 209801, tzinfo=timezone.utc)


def test_scored_otlp_fixtures_read_with_their_resource_service():
    """A score event added to Jaeger's OTLP transform input and to the typed-values file reads like the original spans."""
    document = copy.deepcopy(fixture("transform-otlp-in.json"))
    trace_id = "83a9efd15c1c98a977e0711cc93ee28b"
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"] = [
        _otlp_event(schema.EVALUATION_RESULT_EVENT, _score_attributes(trace_id, "e127af99e3b3e074", **{schema.SCORE_METADATA: '{"judge": "human"}'}), 1706678909209800000)
    ]
    assert records_from_otlp_json(json.dumps(document)).scores == [
        _expected_score(trace_id, "e127af99e3b3e074", "telemetrygen", "okey-dokey-0", metadata={"judge": "human"})
    ]

    typed = copy.deepcopy(fixture("otlp-events-typed-values.json"))
    typed_trace_id = "00000000000000000000000000000002"
    typed["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"].append(
        _otlp_event(schema.METADATA_UPDATE_EVENT, _metadata_attributes(typed_trace_id), 1485449191639876000)
    )
    (update,) = records_from_document(json.dumps(typed)).metadata
    assert (update.id, update.values, update.service_name, update.span_name) == ("fixture-memo/3", {"invoice": "in_9", "lines": 2}, "query02-service", "placeholder")


def test_scored_v3_answer_reads_a_carrier_score_without_a_span_name():
    """A score on a carrier span in Jaeger's /api/v3 answer reads with no span name and no service."""
    answer = copy.deepcopy(fixture("api-v3-trace.json"))
    span = answer["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    trace_id = span["traceId"]
    span["attributes"] = _otlp_attributes({schema.CARRIER: True})
    span["events"] = [_otlp_event(schema.EVALUATION_RESULT_EVENT, _score_attributes(trace_id, "0000000000000001"), 1)]
    assert records_from_jaeger(answer).scores == [_expected_score(trace_id, "0000000000000001", None, None)]
