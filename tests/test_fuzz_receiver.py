"""Fuzzing the receiver's OTLP/HTTP and OTLP/gRPC endpoints and the translator with hypothesis.

Each test runs a bounded number of examples against one real receiver on loopback, asserts no
input is ever answered with a 5xx (500 would be a bug in decoding, 503 a store that a record
could break), then checks the receiver still stores a good export.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any, Iterator, List, Tuple

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support.receiver_support import grpc_status, http_request, recorded_request, scored_request

import otel_scoring
from otel_scoring import schema
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.store import ScoreStore
from otel_scoring.translate import Translation, TranslationError, records_from_document, records_from_otlp_json, records_from_otlp_proto

MAX_BODY_BYTES = 256 * 1024
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CONTENT_TYPES = ["application/x-protobuf", "application/json", "application/json; charset=utf-8", "text/plain", "", "application/x-protobuf; q=1"]
CONTENT_ENCODINGS = ["", "identity", "gzip", "deflate", "br"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[ScoreStore]:
    with ScoreStore(tmp_path_factory.mktemp("fuzz") / "scores.db") as opened:
        yield opened


@pytest.fixture(scope="module")
def receiver(store) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_body_bytes=MAX_BODY_BYTES, request_timeout_seconds=5.0, shutdown_timeout_seconds=2.0) as started:
        yield started


def record_run() -> None:
    with otel_scoring.metadata("fuzz-memo").batch() as batch:
        batch.update({"ticket": "T-1", "nested": {"a": [1, 2]}}, kind="ticket")
    otel_scoring.score_current_span(name="fuzz-base", value=0.25, comment="base")
    otel_scoring.score_current_trace(name="fuzz-label", value="good")


VALID = recorded_request(record_run).SerializeToString()


def hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hex_ids(v) for k, v in node.items()}
    if isinstance(node, list):
        return [hex_ids(item) for item in node]
    return node


VALID_JSON = hex_ids(MessageToDict(ExportTraceServiceRequest.FromString(VALID)))


def paths(node: Any, prefix: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    """Every place in a JSON document a value could be swapped for another."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, prefix + (index,))
    return found


def replaced(document: Any, path: Tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


def assert_still_serves(receiver: OTLPReceiver, store: ScoreStore, name: str) -> None:
    """After fuzzing, a good export over each transport is answered and stored."""
    assert http_request(receiver.http_port, scored_request(name + "-http").SerializeToString())[0] == 200
    assert grpc_status(receiver.grpc_endpoint, scored_request(name + "-grpc").SerializeToString()) is grpc.StatusCode.OK
    assert {name + "-http", name + "-grpc"} <= {score.name for score in store.scores()}


any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)  # surrogates included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)


def encoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


@st.composite
def mutations(draw: Any, original: bytes = VALID) -> bytes:
    """A valid request truncated, with bytes flipped, or with bytes inserted."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "truncate":
            del data[position:]
        elif kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[position : position + draw(st.integers(1, 8))]
    return bytes(data)


# --- OTLP/HTTP -----------------------------------------------------------------------------------------


def test_random_http_bodies_never_get_a_server_error(receiver, store):
    """Random bytes under any content type and encoding get 200, 400 or 415, never 5xx."""

    @FUZZ
    @given(body=st.binary(max_size=2048), content_type=st.sampled_from(CONTENT_TYPES), encoding=st.sampled_from(CONTENT_ENCODINGS), compress=st.booleans())
    def fuzz(body: bytes, content_type: str, encoding: str, compress: bool) -> None:
        sent = encoded(body, encoding) if compress else body
        headers = {"Content-Encoding": encoding} if encoding else {}
        status, _, _ = http_request(receiver.http_port, sent, content_type or None, headers=headers)
        assert status in (200, 400, 415)

    fuzz()
    assert_still_serves(receiver, store, "after-random-http")


def test_mutated_protobuf_exports_over_http_get_200_or_400(receiver, store):
    """A real export truncated, bit-flipped or spliced is either read (200) or refused as malformed (400)."""

    @FUZZ
    @given(body=mutations(), gzipped=st.booleans())
    def fuzz(body: bytes, gzipped: bool) -> None:
        headers = {"Content-Encoding": "gzip"} if gzipped else {}
        status, _, _ = http_request(receiver.http_port, gzip.compress(body) if gzipped else body, headers=headers)
        assert status in (200, 400)

    fuzz()
    assert_still_serves(receiver, store, "after-mutated-http")


def test_otlp_json_with_any_value_anywhere_gets_200_or_400(receiver, store):
    """A real OTLP JSON export with any one value swapped for arbitrary JSON (lone surrogates included) is never a 5xx."""
    places = paths(VALID_JSON)

    @FUZZ
    @given(path=st.sampled_from(places), value=json_values)
    def fuzz(path: Tuple[Any, ...], value: Any) -> None:
        body = json.dumps(replaced(VALID_JSON, path, value)).encode("utf-8")
        status, _, _ = http_request(receiver.http_port, body, "application/json")
        assert status in (200, 400)

    fuzz()
    assert_still_serves(receiver, store, "after-json-http")


any_values = st.one_of(
    st.builds(lambda text: {"stringValue": text}, any_text | st.text(min_size=1000, max_size=5000)),
    st.builds(lambda number: {"intValue": number}, st.integers() | st.integers().map(str) | any_text),
    st.builds(lambda number: {"doubleValue": number}, st.floats() | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"])),
    st.builds(lambda flag: {"boolValue": flag}, st.booleans() | any_text),
    st.builds(lambda items: {"arrayValue": {"values": items}}, st.lists(st.builds(lambda t: {"stringValue": t}, any_text), max_size=3)),
    st.builds(lambda value: {"kvlistValue": {"values": [{"key": "k", "value": value}]}}, json_values),
    json_values,
)


def test_score_and_metadata_attributes_of_any_value_are_answered_200(receiver, store):
    """Every attribute of the score and metadata events set to any value the OTLP JSON shape allows: the export is read and answered 200."""
    events = [
        (resource_index, scope_index, span_index, event_index)
        for resource_index, resource in enumerate(VALID_JSON["resourceSpans"])
        for scope_index, scope in enumerate(resource["scopeSpans"])
        for span_index, span in enumerate(scope["spans"])
        for event_index, _ in enumerate(span.get("events", []))
    ]
    assert events

    @FUZZ
    @given(event=st.sampled_from(events), values=st.lists(any_values, min_size=1, max_size=12))
    def fuzz(event: Tuple[int, int, int, int], values: List[Any]) -> None:
        document = json.loads(json.dumps(VALID_JSON))
        resource_index, scope_index, span_index, event_index = event
        attributes = document["resourceSpans"][resource_index]["scopeSpans"][scope_index]["spans"][span_index]["events"][event_index]["attributes"]
        for attribute, value in zip(attributes, values):
            attribute["value"] = value
        status, _, _ = http_request(receiver.http_port, json.dumps(document).encode("utf-8"), "application/json")
        assert status == 200

    fuzz()
    assert_still_serves(receiver, store, "after-attributes-http")


# --- OTLP/gRPC -----------------------------------------------------------------------------------------


def test_random_and_mutated_grpc_messages_get_ok_or_invalid_argument(receiver, store):
    """Random bytes and mutated real exports as gRPC Export messages get OK or INVALID_ARGUMENT, never INTERNAL or UNKNOWN."""

    @FUZZ
    @given(message=st.binary(max_size=2048) | mutations())
    def fuzz(message: bytes) -> None:
        assert grpc_status(receiver.grpc_endpoint, message) in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)

    fuzz()
    assert_still_serves(receiver, store, "after-grpc")


# --- The translator ------------------------------------------------------------------------------------


def test_the_translator_reads_or_refuses_any_bytes_and_never_raises_anything_else():
    """records_from_otlp_proto and records_from_document return a Translation or raise TranslationError, for any bytes."""

    @FUZZ
    @given(data=st.binary(max_size=4096) | mutations())
    def fuzz(data: bytes) -> None:
        for read in (records_from_otlp_proto, records_from_document):
            try:
                assert isinstance(read(data), Translation)
            except TranslationError:
                pass

    fuzz()


def test_the_translator_reads_or_refuses_any_otlp_json():
    """records_from_otlp_json of arbitrary JSON, or of a real export with any value swapped, returns a Translation or raises TranslationError."""
    places = paths(VALID_JSON)

    @FUZZ
    @given(document=json_values | st.builds(replaced, st.just(VALID_JSON), st.sampled_from(places), json_values | any_values))
    def fuzz(document: Any) -> None:
        try:
            translation = records_from_otlp_json(json.dumps(document))
        except TranslationError:
            return
        assert isinstance(translation, Translation)
        for score in translation.scores:
            assert isinstance(score.name, str) and score.name
            assert score.trace_id is None or len(score.trace_id) == 32

    fuzz()


def test_a_real_export_still_translates_to_its_records():
    """The unmutated export the fuzzers start from holds its two scores and its metadata update (so mutations start from real data)."""
    translation = records_from_otlp_proto(VALID)
    assert sorted(score.name for score in translation.scores) == ["fuzz-base", "fuzz-label"]
    assert [update.memo_id for update in translation.metadata] == ["fuzz-memo"]
    assert schema.EVALUATION_RESULT_EVENT.encode() in VALID
