"""The embedded OTLP receiver over real loopback HTTP and gRPC: replies, refusals and limits.

Every bad request is followed by a good one on the same server, to show the receiver keeps serving.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import time
from typing import Dict, Iterator, Optional, Tuple

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

import otel_scoring
from otel_scoring.receiver import OTLPReceiver, is_loopback
from otel_scoring.store import ScoreStore
from otel_scoring.translate import records_from_spans

MAX_BODY_BYTES = 64 * 1024
TIMEOUT_SECONDS = 10


@pytest.fixture
def store(tmp_path) -> Iterator[ScoreStore]:
    with ScoreStore(tmp_path / "scores.db") as opened:
        yield opened


@pytest.fixture
def receiver(store) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_body_bytes=MAX_BODY_BYTES, shutdown_timeout_seconds=2.0) as started:
        yield started


@pytest.fixture
def spans(tracer, exporter):
    """One run with a span score, a trace score and run metadata, as the SDK exported it."""
    with tracer.start_as_current_span("handle-ticket"):
        with tracer.start_as_current_span("call-model"):
            otel_scoring.score_current_span(name="model-confidence", value=0.83)
        otel_scoring.score_current_trace(name="guardrail-pass", value=True)
        otel_scoring.metadata("ticket-info").update({"ticketId": "T-1"}, kind="ticket")
    return exporter.get_finished_spans()


def protobuf_body(spans) -> bytes:
    return encode_spans(spans).SerializeToString()


def otlp_json(spans) -> dict:
    """OTLP JSON as the spec writes it: the protobuf JSON mapping with hex ids instead of base64."""
    document = MessageToDict(encode_spans(spans))

    def hex_ids(node):
        if isinstance(node, dict):
            return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hex_ids(v) for k, v in node.items()}
        if isinstance(node, list):
            return [hex_ids(item) for item in node]
        return node

    return hex_ids(document)


def post(receiver: OTLPReceiver, body: bytes, content_type: str = "application/x-protobuf", *, path: str = "/v1/traces", method: str = "POST", headers: Optional[Dict[str, str]] = None) -> Tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def assert_serves(receiver: OTLPReceiver, spans) -> None:
    """A good export after a bad one is still answered 200 and stored."""
    status, _, _ = post(receiver, protobuf_body(spans))
    assert status == 200
    assert {s.name for s in receiver.wait_for_scores(2, timeout=TIMEOUT_SECONDS)} == {"model-confidence", "guardrail-pass"}


def grpc_export(receiver: OTLPReceiver, message: bytes, compression: Optional[grpc.Compression] = None) -> bytes:
    """Send raw bytes to TraceService/Export, as a client with a broken encoder would."""
    with grpc.insecure_channel(receiver.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        return export(message, timeout=TIMEOUT_SECONDS, compression=compression)


# --- OTLP/HTTP ----------------------------------------------------------------------------------------


def test_http_protobuf_export_is_stored_and_answered_in_protobuf(receiver, store, spans):
    """A protobuf export gets a protobuf ExportTraceServiceResponse and its records land in the store."""
    status, content_type, body = post(receiver, protobuf_body(spans))
    assert (status, content_type) == (200, "application/x-protobuf")
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    expected = records_from_spans(spans)
    assert store.scores() == expected.scores
    assert store.metadata() == expected.metadata


def test_http_json_export_is_stored_and_answered_in_json(receiver, store, spans):
    """An OTLP JSON export gets a JSON reply and stores the same records as protobuf would."""
    status, content_type, body = post(receiver, json.dumps(otlp_json(spans)).encode(), "application/json; charset=utf-8")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {}
    assert store.scores() == records_from_spans(spans).scores


def test_gzip_bodies_are_decompressed(receiver, store, spans):
    """Content-Encoding: gzip works for protobuf and JSON alike."""
    assert post(receiver, gzip.compress(protobuf_body(spans)), headers={"Content-Encoding": "gzip"})[0] == 200
    assert post(receiver, gzip.compress(json.dumps(otlp_json(spans)).encode()), "application/json", headers={"Content-Encoding": "gzip"})[0] == 200
    assert store.scores() == records_from_spans(spans).scores


def test_malformed_protobuf_is_answered_400_with_a_status_and_the_server_keeps_serving(receiver, spans):
    """Bytes that are not an ExportTraceServiceRequest get 400 and a google.rpc.Status saying why."""
    status, content_type, body = post(receiver, b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert (status, content_type) == (400, "application/x-protobuf")
    error = status_pb2.Status.FromString(body)
    assert error.code == code_pb2.INVALID_ARGUMENT and "ExportTraceServiceRequest" in error.message
    assert_serves(receiver, spans)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"resourceSpans": 7}', b'{"resourceSpans": [3]}'], ids=["syntax", "not-utf8", "array", "not-a-list", "not-objects"])
def test_malformed_json_is_answered_400_in_json_and_the_server_keeps_serving(receiver, spans, body):
    """A JSON body that is not an OTLP request gets 400 with a JSON Status."""
    status, content_type, reply = post(receiver, body, "application/json")
    assert (status, content_type) == (400, "application/json")
    assert json.loads(reply)["code"] == code_pb2.INVALID_ARGUMENT
    assert_serves(receiver, spans)


def test_wrong_content_type_is_answered_415(receiver, spans):
    """Only application/x-protobuf and application/json are accepted."""
    assert post(receiver, b"hello", "text/plain")[0] == 415
    assert_serves(receiver, spans)


def test_unsupported_content_encoding_is_answered_415(receiver, spans):
    """A compression the receiver cannot undo is refused rather than misread."""
    assert post(receiver, protobuf_body(spans), headers={"Content-Encoding": "br"})[0] == 415
    assert_serves(receiver, spans)


def test_corrupt_gzip_is_answered_400(receiver, spans):
    """A body that claims gzip but is not (or is cut short) is malformed."""
    assert post(receiver, b"not gzip at all", headers={"Content-Encoding": "gzip"})[0] == 400
    assert post(receiver, gzip.compress(protobuf_body(spans))[:-12], headers={"Content-Encoding": "gzip"})[0] == 400
    assert_serves(receiver, spans)


def test_a_body_over_the_limit_is_answered_413(receiver, spans):
    """A declared body larger than max_body_bytes is refused with 413 before it is read."""
    status, _, body = post(receiver, b"\x00" * (MAX_BODY_BYTES + 1))
    assert status == 413
    assert status_pb2.Status.FromString(body).code == code_pb2.RESOURCE_EXHAUSTED
    assert_serves(receiver, spans)


def raw_request(receiver: OTLPReceiver, head: bytes) -> bytes:
    """Send request headers only and return the status line the receiver answers with."""
    with socket.create_connection(("127.0.0.1", receiver.http_port), timeout=TIMEOUT_SECONDS) as connection:
        connection.sendall(head)
        return connection.makefile("rb").readline()


def test_a_client_expecting_100_continue_hears_413_before_sending_its_body(receiver, spans):
    """With Expect: 100-continue, an oversized export is refused before a byte of its body is sent."""
    head = (
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {MAX_BODY_BYTES * 100}\r\nExpect: 100-continue\r\n\r\n"
    )
    assert raw_request(receiver, head.encode()).startswith(b"HTTP/1.1 413")
    assert_serves(receiver, spans)


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_gzip_body_is_stored_like_a_sized_one_and_the_connection_stays_usable(receiver, store, spans):
    """A streamed export (chunked, gzip: how OpenTelemetry JS sends) is stored, and the next request on the connection is served."""
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=TIMEOUT_SECONDS)
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    try:
        for _ in range(2):  # the same keep-alive connection twice: the first body was read exactly
            connection.request("POST", "/v1/traces", body=_chunks(gzip.compress(protobuf_body(spans)), 100), headers=headers, encode_chunked=True)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()
    assert store.scores() == records_from_spans(spans).scores


def test_a_chunked_body_over_the_limit_is_answered_413_without_being_stored(receiver, store, spans):
    """Chunks adding up past max_body_bytes are refused as soon as they do; nothing is stored."""
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("POST", "/v1/traces", body=_chunks(b"\x00" * (MAX_BODY_BYTES * 2), 8192), headers={"Content-Type": "application/x-protobuf"}, encode_chunked=True)
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    assert store.count_scores() == 0
    assert_serves(receiver, spans)


@pytest.mark.parametrize(
    "framing, body, status",
    [
        ("Transfer-Encoding: chunked", b"zz\r\nhello\r\n0\r\n\r\n", b"400"),  # a chunk size that is not hex
        ("Transfer-Encoding: chunked", b"2\r\nhello\r\n0\r\n\r\n", b"400"),  # a chunk longer than declared
        ("Transfer-Encoding: chunked\r\nContent-Length: 5", b"5\r\nhello\r\n0\r\n\r\n", b"400"),  # both: how requests are smuggled
        ("Transfer-Encoding: gzip, chunked", b"", b"501"),
        ("", b"", b"411"),  # neither a length nor chunks
    ],
    ids=["bad-size", "overlong-chunk", "with-content-length", "other-coding", "no-length"],
)
def test_a_body_framed_in_a_way_the_receiver_does_not_read_is_refused(receiver, spans, framing, body, status):
    """Malformed or ambiguous framing gets one clear error status, and the receiver keeps serving."""
    lines = ["POST /v1/traces HTTP/1.1", "Host: x", "Content-Type: application/x-protobuf", *([framing] if framing else [])]
    head = "\r\n".join(lines) + "\r\n\r\n"
    assert raw_request(receiver, head.encode() + body).split(b" ")[1] == status
    assert_serves(receiver, spans)


def test_a_gzip_bomb_is_answered_413(receiver, spans):
    """A small gzip body that inflates past max_body_bytes is refused without inflating it all."""
    bomb = gzip.compress(b"\x00" * (MAX_BODY_BYTES * 16))
    assert len(bomb) < MAX_BODY_BYTES
    assert post(receiver, bomb, headers={"Content-Encoding": "gzip"})[0] == 413
    assert_serves(receiver, spans)


def test_other_paths_and_methods_are_refused(receiver, spans):
    """Only POST /v1/traces and /v1/logs are served: other paths get 404, other methods 405."""
    assert post(receiver, protobuf_body(spans), path="/v1/metrics")[0] == 404
    assert post(receiver, b"", method="GET")[0] == 405
    assert_serves(receiver, spans)


def test_spans_without_valid_ids_are_reported_as_partial_success_in_json(receiver, store, spans):
    """Unreadable spans are counted in partialSuccess.rejectedSpans; the readable ones are stored."""
    document = otlp_json(spans)
    scope_spans = document["resourceSpans"][0]["scopeSpans"][0]
    scope_spans["spans"] += [{"traceId": "not-hex", "spanId": "00f067aa0ba902b7", "name": "bad"}, {"traceId": "0" * 32, "spanId": "0" * 16}, "not a span"]
    status, _, body = post(receiver, json.dumps(document).encode(), "application/json")
    assert status == 200
    partial = json.loads(body)["partialSuccess"]
    assert partial["rejectedSpans"] == "3"  # int64 is a string in OTLP JSON
    assert partial["errorMessage"]
    assert store.scores() == records_from_spans(spans).scores


def test_spans_without_valid_ids_are_reported_as_partial_success_in_protobuf(receiver, store, spans):
    """A protobuf span with a short trace id is rejected and counted; the rest of the export is kept."""
    request = encode_spans(spans)
    broken = request.resource_spans[0].scope_spans[0].spans.add()
    broken.trace_id = b"\x01\x02"
    broken.span_id = b"\x00" * 8
    status, _, body = post(receiver, request.SerializeToString())
    assert status == 200
    assert ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans == 1
    assert store.scores() == records_from_spans(spans).scores


def test_an_export_without_scores_is_accepted_and_stores_nothing(receiver, store):
    """Plain traces (no scores, no metadata) are a normal, successful export."""
    assert post(receiver, ExportTraceServiceRequest().SerializeToString())[0] == 200
    assert post(receiver, b"{}", "application/json")[0] == 200
    assert store.scores() == [] and store.metadata() == []


# --- OTLP/gRPC ----------------------------------------------------------------------------------------


def test_grpc_export_is_stored(receiver, store, spans):
    """The generated TraceService stub's Export stores the records and returns an empty response."""
    with grpc.insecure_channel(receiver.grpc_endpoint) as channel:
        response = TraceServiceStub(channel).Export(encode_spans(spans), timeout=TIMEOUT_SECONDS)
    assert not response.HasField("partial_success")
    assert store.scores() == records_from_spans(spans).scores


def test_grpc_gzip_export_is_stored(receiver, store, spans):
    """A gzip-compressed gRPC message is decompressed by gRPC and stored."""
    grpc_export(receiver, protobuf_body(spans), compression=grpc.Compression.Gzip)
    assert store.scores() == records_from_spans(spans).scores


def test_grpc_malformed_message_is_invalid_argument_and_the_server_keeps_serving(receiver, spans):
    """Bytes that are not an ExportTraceServiceRequest get INVALID_ARGUMENT (not INTERNAL)."""
    with pytest.raises(grpc.RpcError) as raised:
        grpc_export(receiver, b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    grpc_export(receiver, protobuf_body(spans))
    assert len(receiver.wait_for_scores(2, timeout=TIMEOUT_SECONDS)) == 2


def test_grpc_message_over_the_limit_is_resource_exhausted(receiver, spans):
    """A message larger than max_body_bytes gets RESOURCE_EXHAUSTED, plain or gzip-compressed."""
    oversized = ExportTraceServiceRequest()
    oversized.resource_spans.add().schema_url = "x" * (MAX_BODY_BYTES + 1)
    for compression in (None, grpc.Compression.Gzip):
        with pytest.raises(grpc.RpcError) as raised:
            grpc_export(receiver, oversized.SerializeToString(), compression=compression)
        assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    grpc_export(receiver, protobuf_body(spans))
    assert len(receiver.wait_for_scores(2, timeout=TIMEOUT_SECONDS)) == 2


def test_grpc_partial_success_counts_rejected_spans(receiver, spans):
    """A span with a missing span id is counted in partial_success.rejected_spans."""
    request = encode_spans(spans)
    request.resource_spans[0].scope_spans[0].spans.add(trace_id=b"\x01" * 16)
    reply = ExportTraceServiceResponse.FromString(grpc_export(receiver, request.SerializeToString()))
    assert reply.partial_success.rejected_spans == 1


# --- Lifecycle and settings ---------------------------------------------------------------------------


def test_wait_for_scores_times_out_saying_how_many_arrived(receiver):
    """Waiting for scores or metadata that never come raises TimeoutError after the timeout."""
    with pytest.raises(TimeoutError, match="0 of 1 scores"):
        receiver.wait_for_scores(1, timeout=0.2)
    with pytest.raises(TimeoutError, match="0 of 1 metadata"):
        receiver.wait_for_metadata(1, timeout=0.2)


def test_wait_for_metadata_returns_the_stored_updates(receiver, spans):
    """wait_for_metadata returns once the export's metadata updates are stored."""
    assert post(receiver, protobuf_body(spans))[0] == 200
    assert [m.id for m in receiver.wait_for_metadata(1, timeout=TIMEOUT_SECONDS)] == ["ticket-info/0"]


def test_stop_is_bounded_idempotent_and_closes_both_ports(store):
    """After stop() neither port accepts connections; a second stop() is harmless."""
    receiver = OTLPReceiver(store, grpc_port=0, http_port=0).start()
    ports = (receiver.grpc_port, receiver.http_port)
    started = time.monotonic()
    receiver.stop(timeout_seconds=2.0)
    receiver.stop()
    assert time.monotonic() - started < 5.0
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_taken_port_raises_oserror_on_start(store):
    """Starting on a port another socket holds fails loudly instead of sharing it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        for ports in ({"grpc_port": taken, "http_port": 0}, {"grpc_port": 0, "http_port": taken}):
            receiver = OTLPReceiver(store, **ports)
            with pytest.raises(OSError):
                receiver.start()
            receiver.stop()


def test_a_non_loopback_host_needs_explicit_permission(store):
    """Listening where other machines can reach is refused unless allow_non_loopback is passed."""
    with pytest.raises(ValueError, match="allow_non_loopback"):
        OTLPReceiver(store, host="0.0.0.0", grpc_port=0, http_port=0)


def test_permitting_a_non_loopback_host_logs_a_warning(store, caplog):
    """allow_non_loopback=True is accepted with a warning that anyone can write scores (never started here)."""
    OTLPReceiver(store, host="0.0.0.0", grpc_port=0, http_port=0, allow_non_loopback=True)
    assert any(r.levelname == "WARNING" and "0.0.0.0" in r.getMessage() and "no authentication" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True), ("0.0.0.0", False), ("10.0.0.5", False), ("example.com", False)])
def test_is_loopback(host, loopback):
    """Loopback addresses and localhost count as loopback; wildcard and routable addresses do not."""
    assert is_loopback(host) is loopback


def test_bad_settings_raise_at_construction(store):
    """A negative port or a zero body limit is a programmer error raised by the constructor."""
    with pytest.raises(ValueError):
        OTLPReceiver(store, grpc_port=-1, http_port=0)
    with pytest.raises(ValueError):
        OTLPReceiver(store, grpc_port=0, http_port=0, max_body_bytes=0)


def test_spans_without_ids_are_rejected_under_instrumentation_library_spans_too(receiver, store, spans):
    """The gate is the translator's rule: a span without ids counts as rejected whichever key (scopeSpans or the legacy instrumentationLibrarySpans) holds it."""
    document = otlp_json(spans)
    resource = document["resourceSpans"][0]
    resource["instrumentationLibrarySpans"] = [{"spans": [{"name": "no ids"}]}]
    status, _, body = post(receiver, json.dumps(document).encode(), "application/json")
    assert status == 200
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    assert store.scores() == records_from_spans(spans).scores
