"""Write the hostile-input corpus: one file per bad input, and ``expected.json`` saying how each is sent
and the exact answer the receiver must give it over OTLP/HTTP and over OTLP/gRPC.

    python tests/corpus/generate.py

The files are committed; this script documents how each was made and remakes them identically
(fixed ids and times, no randomness). ``tests/test_hostile_input.py`` replays every entry against a
receiver whose body limit is :data:`CORPUS_MAX_BODY_BYTES`. Inputs too big to commit (bodies over
the limit, large bombs) are built by the tests themselves.

Over gRPC every file is sent as-is as the ``Export`` message: gRPC has no content type or content
encoding, so an HTTP-level mistake (a JSON body, a gzip body, a bad request line) reaches the
protobuf parser as bytes. An ``http`` of ``"closed"`` means the receiver closes the connection
without answering (nobody is left to answer: the client stopped sending mid-body).
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_scoring import schema

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "expected.json"
CORPUS_MAX_BODY_BYTES = 1024 * 1024

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
TIME_NS = 1_795_000_000_000_000_000  # 2026-11-18
TIMESTAMP = "2026-11-18T08:26:40.000000Z"

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


# --- Requests built by hand (fixed ids, so the files never change) ------------------------------------


def add_attribute(key_values: Any, key: str, value: Any) -> None:
    target = key_values.add(key=key).value
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    else:
        target.string_value = value


def score_attributes(**overrides: Any) -> Dict[str, Any]:
    attributes: Dict[str, Any] = {
        schema.GEN_AI_EVALUATION_NAME: "corpus-score",
        schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.5,
        schema.SCORE_ID: "corpus-score-id",
        schema.SCORE_DATA_TYPE: "NUMERIC",
        schema.SCORE_SCOPE: "span",
        schema.SCORE_SOURCE: "API",
        schema.SCORE_TIMESTAMP: TIMESTAMP,
        schema.SCORE_TRACE_ID: TRACE_ID.hex(),
        schema.SCORE_SPAN_ID: SPAN_ID.hex(),
    }
    attributes.update(overrides)
    return {key: value for key, value in attributes.items() if value is not None}


def metadata_attributes(**overrides: Any) -> Dict[str, Any]:
    attributes: Dict[str, Any] = {
        schema.METADATA_UPDATE_KIND: "corpus",
        schema.METADATA_UPDATE_MEMO_ID: "corpus-memo",
        schema.METADATA_UPDATE_INDEX: 0,
        schema.METADATA_UPDATE_SCOPE: "run",
        schema.METADATA_UPDATE_VALUES: json.dumps({"ticket": "T-1"}),
        schema.METADATA_UPDATE_TIMESTAMP: TIMESTAMP,
        schema.METADATA_UPDATE_TRACE_ID: TRACE_ID.hex(),
    }
    attributes.update(overrides)
    return {key: value for key, value in attributes.items() if value is not None}


def request(events: Optional[List[tuple]] = None, *, spans: int = 1, span_attributes: int = 0) -> ExportTraceServiceRequest:
    """One resource, one scope, ``spans`` spans; the first carries ``events`` [(name, attributes, time)]."""
    built = ExportTraceServiceRequest()
    resource_spans = built.resource_spans.add()
    add_attribute(resource_spans.resource.attributes, "service.name", "corpus-service")
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "corpus"
    for index in range(spans):
        span = scope_spans.spans.add(trace_id=TRACE_ID, span_id=(index + 1).to_bytes(8, "big") if index else SPAN_ID, name="corpus-span")
        span.kind = Span.SPAN_KIND_INTERNAL
        span.start_time_unix_nano = TIME_NS
        span.end_time_unix_nano = TIME_NS + 1_000_000
        for attribute in range(span_attributes if index == 0 else 0):
            add_attribute(span.attributes, f"attribute.{attribute}", f"value-{attribute}")
    for name, attributes, time_unix_nano in events if events is not None else [(schema.EVALUATION_RESULT_EVENT, score_attributes(), TIME_NS)]:
        event = scope_spans.spans[0].events.add(name=name, time_unix_nano=time_unix_nano)
        for key, value in attributes.items():
            add_attribute(event.attributes, key, value)
    return built


def score_request(**overrides: Any) -> bytes:
    return request([(schema.EVALUATION_RESULT_EVENT, score_attributes(**overrides), TIME_NS)]).SerializeToString()


def metadata_request(**overrides: Any) -> bytes:
    return request([(schema.METADATA_UPDATE_EVENT, metadata_attributes(**overrides), TIME_NS)]).SerializeToString()


def otlp_json(message: ExportTraceServiceRequest) -> Dict[str, Any]:
    """OTLP JSON as the spec writes it: protobuf's JSON mapping with hex ids."""

    def hex_ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hex_ids(v) for k, v in node.items()}
        if isinstance(node, list):
            return [hex_ids(item) for item in node]
        return node

    return hex_ids(MessageToDict(message))


def json_bytes(document: Any) -> bytes:
    return json.dumps(document).encode("utf-8")


def nested_any_value(depth: int) -> AnyValue:
    value = AnyValue(string_value="bottom")
    for _ in range(depth):
        outer = AnyValue()
        outer.array_value.values.add().CopyFrom(value)
        value = outer
    return value


def raw_http(request_line: str, headers: List[str], body: bytes = b"") -> bytes:
    return (request_line + "\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode("latin-1") + body


# --- The corpus -----------------------------------------------------------------------------------------


def entries() -> List[Dict[str, Any]]:
    good = score_request()
    good_json = otlp_json(ExportTraceServiceRequest.FromString(good))
    corpus: List[Dict[str, Any]] = []

    def add(name: str, body: bytes, http: Any, grpc: str, why: str, *, content_type: Optional[str] = PROTOBUF, **send: Any) -> None:
        entry: Dict[str, Any] = {"file": name, "why": why, "http": http, "grpc": grpc, "content_type": content_type}
        entry.update(send)
        corpus.append((entry, body))  # type: ignore[arg-type]

    # Malformed and truncated protobuf.
    add("pb-garbage.bin", b"\x0a\xff\xff\xff\xff\x0f garbage", 400, "INVALID_ARGUMENT", "a length past the end of the body")
    add("pb-truncated-half.bin", good[: len(good) // 2], 400, "INVALID_ARGUMENT", "a real request cut in half")
    add("pb-truncated-last-byte.bin", good[:-1], 400, "INVALID_ARGUMENT", "a real request missing its last byte")
    add("pb-truncated-tag-only.bin", good[:1], 400, "INVALID_ARGUMENT", "a field tag with no length")
    add("pb-overlong-varint.bin", b"\x08" + b"\xff" * 11, 400, "INVALID_ARGUMENT", "a varint longer than ten bytes")
    add("pb-huge-length.bin", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 400, "INVALID_ARGUMENT", "a length prefix of 2^64-1")
    add("pb-field-zero.bin", b"\x00\x00", 400, "INVALID_ARGUMENT", "field number 0 does not exist")
    add("pb-unterminated-group.bin", b"\x0b", 400, "INVALID_ARGUMENT", "a group that never ends")
    add("pb-nested-200.bin", _nested_request(200), 400, "INVALID_ARGUMENT", "an attribute value nested 200 deep (protobuf's limit is 100)")
    add("pb-bad-utf8-span-name.bin", good.replace(b"corpus-span", b"corpus-\xff\xfean"), 400, "INVALID_ARGUMENT", "a span name that is not UTF-8")
    add("pb-bad-utf8-attribute.bin", good.replace(b"corpus-score-id", b"corpus-\xc0\x80ore-id"), 400, "INVALID_ARGUMENT", "an overlong UTF-8 encoding in an attribute")
    add("pb-empty.bin", b"", 200, "OK", "an empty request is a valid request with no spans")
    add("pb-unknown-field-only.bin", b"\x78\x01", 200, "OK", "unknown fields are skipped, as protobuf requires")
    add("pb-wrong-wire-type.bin", b"\x0d\x00\x00\x00\x00", 200, "OK", "a known field with another wire type is kept as an unknown field")
    add("pb-zero-trace-id.bin", good.replace(TRACE_ID, b"\x00" * 16, 1), 200, "OK", "a span with an all-zero trace id is rejected (partial success)")
    add("pb-score-without-name.bin", score_request(**{schema.GEN_AI_EVALUATION_NAME: None}), 200, "OK", "a score event without a name is skipped")
    add("pb-score-nan.bin", score_request(**{schema.GEN_AI_EVALUATION_SCORE_VALUE: float("nan")}), 200, "OK", "a NaN score value is skipped")
    add("pb-score-bad-timestamp.bin", score_request(**{schema.SCORE_TIMESTAMP: "yesterday"}), 200, "OK", "an unreadable timestamp skips the score")
    add("pb-score-year-9999.bin", score_request(**{schema.SCORE_TIMESTAMP: "9999-12-31T23:59:59.999999Z", schema.SCORE_ID: "corpus-year-9999"}), 200, "OK", "the last representable time is stored")
    add("pb-score-id-over-limit.bin", score_request(**{schema.SCORE_ID: "i" * 5000}), 200, "OK", "an id over the per-record limit drops the record (partial success message)")
    add("pb-score-name-over-limit.bin", score_request(**{schema.GEN_AI_EVALUATION_NAME: "n" * 5000, schema.SCORE_ID: "corpus-long-name"}), 200, "OK", "a name over the per-record limit drops the record")
    add("pb-score-comment-100k.bin", score_request(**{schema.GEN_AI_EVALUATION_EXPLANATION: "c" * 100_000, schema.SCORE_ID: "corpus-long-comment"}), 200, "OK", "a 100 kB comment is stored cut to 64 KiB")
    add("pb-score-metadata-deep.bin", score_request(**{schema.SCORE_METADATA: "[" * 5000 + "]" * 5000, schema.SCORE_ID: "corpus-deep-meta"}), 200, "OK", "score metadata nested 5000 deep is skipped")
    add("pb-score-metadata-100-levels.bin", score_request(**{schema.SCORE_METADATA: '{"a":' * 100 + "1" + "}" * 100, schema.SCORE_ID: "corpus-100-levels"}), 200, "OK", "score metadata nested past 64 levels drops the record")
    add("pb-metadata-values-not-json.bin", metadata_request(**{schema.METADATA_UPDATE_VALUES: "{not json"}), 200, "OK", "metadata values that are not JSON are skipped")
    add("pb-metadata-negative-index.bin", metadata_request(**{schema.METADATA_UPDATE_INDEX: -1}), 200, "OK", "a negative metadata index is skipped")
    add("pb-metadata-index-max.bin", metadata_request(**{schema.METADATA_UPDATE_INDEX: 2**63 - 1, schema.METADATA_UPDATE_MEMO_ID: "corpus-max-index"}), 200, "OK", "the largest int64 index is stored")
    add("pb-event-time-max.bin", request([(schema.EVALUATION_RESULT_EVENT, score_attributes(**{schema.SCORE_TIMESTAMP: None, schema.SCORE_ID: "corpus-max-time"}), 2**64 - 1)]).SerializeToString(), 200, "OK", "the largest event time (year 2554) is stored")
    add("pb-span-2000-attributes.bin", request(span_attributes=2000).SerializeToString(), 200, "OK", "a span with 2000 attributes")
    add("pb-1000-spans.bin", request(spans=1000).SerializeToString(), 200, "OK", "1000 spans in one request")
    add("pb-300-score-events.bin", request([(schema.EVALUATION_RESULT_EVENT, score_attributes(**{schema.SCORE_ID: f"corpus-many-{i}"}), TIME_NS + i) for i in range(300)]).SerializeToString(), 200, "OK", "300 scores on one span")

    # Compression.
    add("gz-corrupt.gz", b"not gzip at all", 400, "INVALID_ARGUMENT", "claims gzip but is not", content_encoding="gzip")
    add("gz-truncated.gz", gzip.compress(good, mtime=0)[:-12], 400, "INVALID_ARGUMENT", "gzip cut short", content_encoding="gzip")
    add("gz-bomb-2mib.gz", gzip.compress(b"\x00" * (2 * CORPUS_MAX_BODY_BYTES), compresslevel=9, mtime=0), 413, "INVALID_ARGUMENT", "2 KiB inflating to 2 MiB, past the 1 MiB limit", content_encoding="gzip")
    add("gz-garbage-inside.gz", gzip.compress(b"\xff" * 100, mtime=0), 400, "INVALID_ARGUMENT", "valid gzip of bytes that are not protobuf", content_encoding="gzip")
    add("gz-two-members.gz", gzip.compress(good[:40], mtime=0) + gzip.compress(good[40:], mtime=0), 200, "INVALID_ARGUMENT", "two gzip members make one request, as RFC 1952 allows", content_encoding="gzip")
    add("gz-trailing-junk.gz", gzip.compress(good, mtime=0) + b"junk", 400, "INVALID_ARGUMENT", "bytes after the gzip member", content_encoding="gzip")
    add("deflate-corrupt.bin", b"\x78\x9cnot deflate", 400, "INVALID_ARGUMENT", "claims deflate but is not", content_encoding="deflate")
    add("deflate-bomb-2mib.bin", zlib.compress(b"\x00" * (2 * CORPUS_MAX_BODY_BYTES), 9), 413, "INVALID_ARGUMENT", "deflate inflating past the limit", content_encoding="deflate")
    add("encoding-br.bin", good, 415, "OK", "a content encoding the receiver cannot undo", content_encoding="br")
    add("encoding-gzip-twice.bin", good, 415, "OK", "stacked encodings are not supported", content_encoding="gzip, gzip")

    # JSON.
    add("json-syntax.json", b"{not json", 400, "INVALID_ARGUMENT", "not JSON", content_type=JSON)
    add("json-empty.json", b"", 400, "OK", "an empty JSON body is not JSON", content_type=JSON)
    add("json-array.json", b"[1, 2]", 400, "INVALID_ARGUMENT", "JSON that is not an object", content_type=JSON)
    add("json-deep-array.json", b"[" * 10_000 + b"]" * 10_000, 400, "INVALID_ARGUMENT", "an array nested 10 000 deep", content_type=JSON)
    add("json-deep-object.json", b'{"a":' * 5_000 + b"1" + b"}" * 5_000, 400, "INVALID_ARGUMENT", "an object nested 5000 deep", content_type=JSON)
    add("json-not-utf8.json", b'{"resourceSpans": [], "x": "\xff\xfe"}', 400, "INVALID_ARGUMENT", "bytes that are not UTF-8", content_type=JSON)
    add("json-nan-resource-spans.json", b'{"resourceSpans": NaN}', 400, "INVALID_ARGUMENT", "resourceSpans that is not a list", content_type=JSON)
    add("json-huge-integer.json", b'{"x": 1' + b"1" * 5000 + b"}", 400, "INVALID_ARGUMENT", "an integer of 5000 digits", content_type=JSON)
    add("json-spans-not-objects.json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [1, "two", null]}]}]}', 200, "INVALID_ARGUMENT", "spans that are not objects are rejected (partial success)", content_type=JSON)
    add("json-null-resource-spans.json", b'{"resourceSpans": null}', 200, "INVALID_ARGUMENT", "null reads as no spans", content_type=JSON)
    add("json-bom.json", b"\xef\xbb\xbf" + json_bytes(good_json), 200, "INVALID_ARGUMENT", "a UTF-8 byte order mark", content_type=JSON)
    add("json-utf16.json", json.dumps(good_json).encode("utf-16"), 200, "INVALID_ARGUMENT", "UTF-16 JSON (RFC 8259 readers detect it)", content_type=JSON)
    add("json-lone-surrogate-name.json", _with_score_name(good_json, "\ud800"), 200, "INVALID_ARGUMENT", "a score name SQLite cannot store drops the record, never the request", content_type=JSON)
    add("json-wrong-value-types.json", _with_score_value(good_json, {"stringValue": "high"}), 200, "INVALID_ARGUMENT", "a score value of the wrong type is skipped", content_type=JSON)
    add("json-deep-attribute.json", _with_deep_array(good_json, 300), 200, "INVALID_ARGUMENT", "an attribute nested 900 JSON levels deep is skipped, the score kept", content_type=JSON)

    # Content types, methods and paths.
    add("type-text-plain.bin", good, 415, "OK", "text/plain", content_type="text/plain")
    add("type-missing.bin", good, 415, "OK", "no content type", content_type=None)
    add("type-form.bin", good, 415, "OK", "a form", content_type="application/x-www-form-urlencoded")
    add("type-protobuf-parameters.bin", good, 200, "OK", "parameters after the media type are ignored", content_type="application/x-protobuf; charset=binary")
    add("path-metrics.bin", good, 404, "OK", "an OTLP signal the receiver does not take", path="/v1/metrics")
    add("path-logs-with-traces.bin", good, 400, "OK", "a traces request sent to the logs endpoint", path="/v1/logs")
    add("path-dot-dot.bin", good, 404, "OK", "a path that only looks like /v1/traces", path="/v1/traces/../admin")
    add("path-query.bin", good, 200, "OK", "a query string does not change the path", path="/v1/traces?debug=1")
    add("method-get.bin", b"", 405, "OK", "GET", method="GET")
    add("method-put.bin", good, 405, "OK", "PUT", method="PUT")
    add("method-delete.bin", b"", 405, "OK", "DELETE", method="DELETE")

    # Whole HTTP requests, sent byte for byte.
    length = str(len(good))
    add("raw-garbage.http", b"GARBAGE\r\n\r\n", 400, "INVALID_ARGUMENT", "a request line of one word", raw=True)
    add("raw-http2-preface.http", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "INVALID_ARGUMENT", "HTTP/2 without negotiation", raw=True)
    add("raw-unknown-method.http", raw_http("BREW /v1/traces HTTP/1.1", ["Host: x", "Content-Length: 0"]), 501, "INVALID_ARGUMENT", "a method HTTP does not have", raw=True)
    add("raw-200-headers.http", raw_http("POST /v1/traces HTTP/1.1", [f"X-Header-{i}: {i}" for i in range(200)]), 431, "INVALID_ARGUMENT", "more headers than the server reads", raw=True)
    add("raw-long-request-line.http", raw_http("POST /" + "a" * 70_000 + " HTTP/1.1", []), 414, "INVALID_ARGUMENT", "a 70 kB request line", raw=True)
    add("raw-long-header.http", raw_http("POST /v1/traces HTTP/1.1", ["X-Long: " + "b" * 70_000]), 431, "INVALID_ARGUMENT", "a 70 kB header line", raw=True)
    half = len(good) // 2
    chunked_good = b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (half, good[:half], len(good) - half, good[half:])
    add("raw-chunked.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Transfer-Encoding: chunked"], chunked_good), 200, "INVALID_ARGUMENT", "a chunked body, with a chunk extension and a trailer, is read", raw=True)
    add("raw-chunked-bad-size.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Transfer-Encoding: chunked"], b"0x5\r\nhello\r\n0\r\n\r\n"), 400, "INVALID_ARGUMENT", "a chunk size int(..., 16) would accept but HTTP does not", raw=True)
    add("raw-chunked-and-length.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Transfer-Encoding: chunked", "Content-Length: 5"], b"5\r\nhello\r\n0\r\n\r\n"), 400, "INVALID_ARGUMENT", "chunked and a length together: how requests are smuggled", raw=True)
    add("raw-chunked-short.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Transfer-Encoding: chunked"], b"64\r\n0123456789"), "closed", "INVALID_ARGUMENT", "a chunk that stops short: nobody is left to answer", raw=True)
    add("raw-no-length.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}"]), 411, "INVALID_ARGUMENT", "a body with neither a length nor chunks", raw=True)
    add("raw-two-lengths.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Content-Length: 5", "Content-Length: 6"], b"hello!"), 411, "INVALID_ARGUMENT", "conflicting Content-Length headers", raw=True)
    add("raw-negative-length.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Content-Length: -5"]), 411, "INVALID_ARGUMENT", "a negative Content-Length", raw=True)
    add("raw-plus-length.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Content-Length: +5"], b"hello"), 411, "INVALID_ARGUMENT", "a Content-Length int() would accept but HTTP does not", raw=True)
    add("raw-huge-length.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Content-Length: 1000000000000"]), 413, "INVALID_ARGUMENT", "a terabyte declared: refused before reading", raw=True)
    add("raw-expect-continue-huge.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Content-Length: 5000000", "Expect: 100-continue"]), 413, "INVALID_ARGUMENT", "a client that asks first hears 413 before sending", raw=True)
    add("raw-short-body.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Content-Length: 1000"], b"0123456789"), "closed", "INVALID_ARGUMENT", "a body that stops short: nobody is left to answer", raw=True)
    add("raw-nul-in-path.http", raw_http("POST /v1/\x00traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}", "Content-Length: 0"]), 404, "INVALID_ARGUMENT", "a NUL byte in the path", raw=True)
    add("raw-latin1-content-type.http", raw_http("POST /v1/traces HTTP/1.1", ["Host: x", f"Content-Type: {PROTOBUF}\xff", "Content-Length: 0"]), 415, "INVALID_ARGUMENT", "a content type with a stray byte", raw=True)
    add("raw-http10.http", raw_http("POST /v1/traces HTTP/1.0", [f"Content-Type: {PROTOBUF}", f"Content-Length: {length}"], good), 200, "INVALID_ARGUMENT", "HTTP/1.0 without Host is still served", raw=True)
    return corpus  # type: ignore[return-value]


def _nested_request(depth: int) -> bytes:
    built = request()
    attribute = built.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="deep")
    attribute.value.CopyFrom(nested_any_value(depth))
    return built.SerializeToString()


def _score_event(document: Dict[str, Any]) -> Dict[str, Any]:
    return document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"][0]


def _with_score_name(document: Dict[str, Any], name: str) -> bytes:
    copy = json.loads(json.dumps(document))
    for attribute in _score_event(copy)["attributes"]:
        if attribute["key"] == schema.GEN_AI_EVALUATION_NAME:
            attribute["value"] = {"stringValue": name}
        if attribute["key"] == schema.SCORE_ID:
            attribute["value"] = {"stringValue": "corpus-surrogate"}
    return json.dumps(copy).encode("ascii")  # \ud800 travels as an escape, as a hostile client writes it


def _with_score_value(document: Dict[str, Any], value: Dict[str, Any]) -> bytes:
    copy = json.loads(json.dumps(document))
    for attribute in _score_event(copy)["attributes"]:
        if attribute["key"] == schema.GEN_AI_EVALUATION_SCORE_VALUE:
            attribute["value"] = value
    return json_bytes(copy)


def _with_deep_array(document: Dict[str, Any], depth: int) -> bytes:
    """An attribute value of arrays nested ``depth`` deep: JSON can parse it, the translator need not."""
    copy = json.loads(json.dumps(document))
    copy["resourceSpans"][0]["scopeSpans"][0]["spans"][0].setdefault("attributes", []).append({"key": "deep", "value": "PLACEHOLDER"})
    deep = '{"arrayValue":{"values":[' * depth + '{"stringValue":"bottom"}' + "]}}" * depth
    return json.dumps(copy).replace('"PLACEHOLDER"', deep).encode("utf-8")


def main() -> None:
    manifest = []
    for entry, body in entries():  # type: ignore[misc]
        (HERE / entry["file"]).write_bytes(body)
        manifest.append(entry)
    MANIFEST.write_text(json.dumps({"max_body_bytes": CORPUS_MAX_BODY_BYTES, "entries": manifest}, indent=1) + "\n")
    print(f"wrote {len(manifest)} inputs to {HERE}")


if __name__ == "__main__":
    main()
