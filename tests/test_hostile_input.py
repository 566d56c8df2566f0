"""The embedded receiver against hostile input: every bad request gets its exact answer and the
receiver keeps serving, with memory, time and threads bounded.

The corpus in ``tests/corpus/`` (made by ``tests/corpus/generate.py``) is replayed over OTLP/HTTP
and OTLP/gRPC; inputs too large to commit are built here.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import grpc
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from support.receiver_support import (
    TIMEOUT_SECONDS,
    grpc_status,
    http_request,
    raw_exchange,
    read_until_closed,
    recorded_request,
    score_event_attributes,
    scored_request,
    set_string_attribute,
    status_of,
)

import otel_scoring
from otel_scoring import schema
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.receiver._limits import MAX_COMMENT_CHARS, MAX_IDENTIFIER_CHARS
from otel_scoring.store import ScoreStore

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = json.loads((CORPUS / "expected.json").read_text())
LIMIT = MANIFEST["max_body_bytes"]


@pytest.fixture
def store(tmp_path) -> Iterator[ScoreStore]:
    with ScoreStore(tmp_path / "scores.db") as opened:
        yield opened


@pytest.fixture
def receiver(store) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(store, grpc_port=0, http_port=0, max_body_bytes=LIMIT, request_timeout_seconds=5.0, shutdown_timeout_seconds=2.0) as started:
        yield started


def assert_still_serves(receiver: OTLPReceiver, store: ScoreStore, name: str = "still-serving") -> None:
    """A good export is answered 200 over HTTP and OK over gRPC, and both land in the store."""
    assert http_request(receiver.http_port, scored_request(name + "-http").SerializeToString())[0] == 200
    assert grpc_status(receiver.grpc_endpoint, scored_request(name + "-grpc").SerializeToString()) is grpc.StatusCode.OK
    stored = {score.name for score in store.scores()}
    assert {name + "-http", name + "-grpc"} <= stored


# --- The corpus -----------------------------------------------------------------------------------------


def replay_over_http(port: int, entry: Dict[str, Any]) -> Any:
    body = (CORPUS / entry["file"]).read_bytes()
    if entry.get("raw"):
        answer = raw_exchange(port, body)
        return status_of(answer) if answer else "closed"
    headers = {"Content-Encoding": entry["content_encoding"]} if "content_encoding" in entry else {}
    status, _, _ = http_request(port, body, entry["content_type"], method=entry.get("method", "POST"), path=entry.get("path", "/v1/traces"), headers=headers)
    return status


def test_the_corpus_holds_at_least_fifty_committed_inputs_under_two_megabytes():
    """The corpus is real files on disk, each listed once with its expected answers."""
    files = [entry["file"] for entry in MANIFEST["entries"]]
    assert len(files) >= 50 and len(set(files)) == len(files)
    assert sum((CORPUS / name).stat().st_size for name in files) < 2 * 1024 * 1024


def test_every_corpus_input_gets_its_exact_http_status_and_the_receiver_keeps_serving(receiver, store):
    """Each bad input over OTLP/HTTP is answered with the status expected.json names; then a good export is stored."""
    mismatches = []
    for entry in MANIFEST["entries"]:
        answered = replay_over_http(receiver.http_port, entry)
        if answered != entry["http"]:
            mismatches.append(f"{entry['file']}: expected {entry['http']}, got {answered} ({entry['why']})")
    assert mismatches == []
    assert_still_serves(receiver, store)


def test_every_corpus_input_gets_its_exact_grpc_status_and_the_receiver_keeps_serving(receiver, store):
    """Each corpus file sent as a raw gRPC Export message gets the status code expected.json names; then a good export is stored."""
    mismatches = []
    for entry in MANIFEST["entries"]:
        answered = grpc_status(receiver.grpc_endpoint, (CORPUS / entry["file"]).read_bytes())
        if answered.name != entry["grpc"]:
            mismatches.append(f"{entry['file']}: expected {entry['grpc']}, got {answered.name} ({entry['why']})")
    assert mismatches == []
    assert_still_serves(receiver, store)


def test_errors_the_http_server_finds_itself_are_answered_with_a_status_body(receiver, store):
    """A malformed request line or too many headers gets an HTTP/1.1 status and a google.rpc.Status, never an HTML page."""
    for name, code in (("raw-garbage.http", 400), ("raw-200-headers.http", 431), ("raw-unknown-method.http", 501)):
        answer = raw_exchange(receiver.http_port, (CORPUS / name).read_bytes())
        head, _, body = answer.partition(b"\r\n\r\n")
        assert status_of(answer) == code
        assert b"Content-Type: application/x-protobuf" in head
        assert status_pb2.Status.FromString(body).message
    assert_still_serves(receiver, store)


# --- Size limits --------------------------------------------------------------------------------------


def padded_request(size: int) -> bytes:
    """A valid request of exactly ``size`` bytes (a score and a padding schema URL)."""
    request = scored_request("padded")
    padding = request.resource_spans.add()
    length = size - len(request.SerializeToString())
    for _ in range(3):  # the length prefixes grow with the padding: converge on the exact size
        padding.schema_url = "x" * length
        length -= len(request.SerializeToString()) - size
    encoded = request.SerializeToString()
    assert len(encoded) == size
    return encoded


def test_the_body_limit_is_the_same_over_http_and_grpc(receiver, store):
    """A request of exactly max_body_bytes is stored over both transports; one byte more is 413 / RESOURCE_EXHAUSTED."""
    at_limit, over_limit = padded_request(LIMIT), padded_request(LIMIT + 1)
    assert http_request(receiver.http_port, at_limit)[0] == 200
    assert grpc_status(receiver.grpc_endpoint, at_limit) is grpc.StatusCode.OK
    status, _, body = http_request(receiver.http_port, over_limit)
    assert status == 413 and status_pb2.Status.FromString(body).code == code_pb2.RESOURCE_EXHAUSTED
    assert grpc_status(receiver.grpc_endpoint, over_limit) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_still_serves(receiver, store)


def test_a_64_mib_gzip_bomb_is_refused_over_both_transports(receiver, store):
    """Zeros inflating to 64 times the limit get 413 over HTTP and RESOURCE_EXHAUSTED over gRPC, and the receiver lives on."""
    zeros = b"\x00" * (64 * LIMIT)
    bomb = gzip.compress(zeros, compresslevel=9)
    assert len(bomb) < LIMIT
    assert http_request(receiver.http_port, bomb, headers={"Content-Encoding": "gzip"})[0] == 413
    assert grpc_status(receiver.grpc_endpoint, zeros, compression=grpc.Compression.Gzip) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_still_serves(receiver, store)


def test_json_nested_far_past_the_recursion_limit_is_answered_400(receiver, store):
    """A JSON array nested half a million deep (the whole 1 MiB limit) is a 400, not a RecursionError or a 500."""
    depth = LIMIT // 2
    status, _, reply = http_request(receiver.http_port, b"[" * depth + b"]" * depth, "application/json")
    assert status == 400 and json.loads(reply)["code"] == code_pb2.INVALID_ARGUMENT
    assert_still_serves(receiver, store)


# --- Absurd records under the limit -----------------------------------------------------------------------


@pytest.fixture
def roomy_receiver(store) -> Iterator[OTLPReceiver]:
    """A receiver with the default 16 MiB body limit, for big-but-legal exports."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, shutdown_timeout_seconds=2.0) as started:
        yield started


def test_a_span_and_a_score_event_with_100k_attributes_are_stored(roomy_receiver, store):
    """100 000 extra attributes on the span and on the score event do not stop the score being stored."""
    request = scored_request("crowded")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for index in range(100_000):
        span.attributes.add(key=f"span.{index}").value.int_value = index
        score_event_attributes(request).add(key=f"event.{index}").value.int_value = index
    body = request.SerializeToString()
    assert len(body) < 16 * 1024 * 1024
    assert http_request(roomy_receiver.http_port, body)[0] == 200
    assert grpc_status(roomy_receiver.grpc_endpoint, body) is grpc.StatusCode.OK
    assert [score.name for score in store.scores()] == ["crowded"]


def test_a_10_mb_comment_is_stored_cut_to_the_comment_limit(roomy_receiver, store):
    """A score whose comment is 10 MB is stored with its first MAX_COMMENT_CHARS characters."""
    request = scored_request("verbose")
    set_string_attribute(score_event_attributes(request), schema.GEN_AI_EVALUATION_EXPLANATION, "c" * 10_000_000)
    status, _, body = http_request(roomy_receiver.http_port, request.SerializeToString())
    assert status == 200
    assert not ExportTraceServiceResponse.FromString(body).partial_success.error_message
    (stored,) = store.scores()
    assert stored.comment == "c" * MAX_COMMENT_CHARS


def test_a_10_mb_metadata_value_drops_that_record_and_says_so(roomy_receiver, store):
    """A metadata update of 10 MB is dropped; the reply's partial success says why; the score next to it is stored."""

    def record() -> None:
        otel_scoring.score_current_span(name="beside-big-metadata", value=1.0)
        otel_scoring.metadata("big").update({"blob": "small"})

    request = recorded_request(record)
    for span in request.resource_spans[0].scope_spans[0].spans:
        for event in span.events:
            if event.name == schema.METADATA_UPDATE_EVENT:
                set_string_attribute(event.attributes, schema.METADATA_UPDATE_VALUES, json.dumps({"blob": "m" * 10_000_000}))
    status, _, body = http_request(roomy_receiver.http_port, request.SerializeToString())
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 0 and "1 score or metadata record(s) over the receiver's per-record limits" in partial.error_message
    assert [score.name for score in store.scores()] == ["beside-big-metadata"]
    assert store.metadata() == []


def test_records_over_the_identifier_limit_are_dropped_and_the_rest_kept(receiver, store):
    """A score id longer than MAX_IDENTIFIER_CHARS is dropped; a score id exactly that long is stored."""
    for length in (MAX_IDENTIFIER_CHARS, MAX_IDENTIFIER_CHARS + 1):
        request = scored_request(f"id-of-{length}")
        set_string_attribute(score_event_attributes(request), schema.SCORE_ID, "i" * length)
        assert http_request(receiver.http_port, request.SerializeToString())[0] == 200
    assert [score.name for score in store.scores()] == [f"id-of-{MAX_IDENTIFIER_CHARS}"]


def test_a_score_name_sqlite_cannot_store_is_dropped_not_answered_503(receiver, store):
    """A lone-surrogate score name (a legal JSON escape) drops that record with 200; the store stays writable."""
    entry = (CORPUS / "json-lone-surrogate-name.json").read_bytes()
    status, _, body = http_request(receiver.http_port, entry, "application/json")
    assert status == 200
    assert "per-record limits" in json.loads(body)["partialSuccess"]["errorMessage"]
    assert store.scores() == []
    assert_still_serves(receiver, store)


# --- Slow and many clients ------------------------------------------------------------------------------------


@pytest.fixture
def impatient_receiver(store) -> Iterator[OTLPReceiver]:
    """A receiver that gives each HTTP request one second."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, request_timeout_seconds=1.0, shutdown_timeout_seconds=2.0) as started:
        yield started


@pytest.fixture
def crowded_receiver(store) -> Iterator[OTLPReceiver]:
    """A receiver that serves three HTTP connections at once (and waits long for idle ones), all of
    which one client may take: these tests are about the limits of all clients together."""
    with OTLPReceiver(
        store, grpc_port=0, http_port=0, request_timeout_seconds=TIMEOUT_SECONDS, max_connections=3, max_connections_per_peer=3, shutdown_timeout_seconds=2.0
    ) as started:
        yield started


def closes_within(connection: socket.socket, seconds: float) -> bool:
    """True when the server closes ``connection`` (EOF or reset) within ``seconds``."""
    connection.settimeout(seconds)
    try:
        read_until_closed(connection)
    except socket.timeout:
        return False
    return True


def test_a_client_that_never_finishes_its_headers_is_cut_off(impatient_receiver, store):
    """Half a request line and then silence: the connection is closed after the request timeout."""
    with socket.create_connection(("127.0.0.1", impatient_receiver.http_port)) as connection:
        connection.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        assert closes_within(connection, TIMEOUT_SECONDS)
    assert_still_serves(impatient_receiver, store)


def test_a_client_trickling_headers_is_cut_off_by_the_total_deadline(impatient_receiver, store):
    """A header line every 0.2 s keeps every read short but the request as a whole over time: it is closed."""
    with socket.create_connection(("127.0.0.1", impatient_receiver.http_port)) as connection:
        connection.sendall(b"POST /v1/traces HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < TIMEOUT_SECONDS and not closed:
            try:
                connection.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            closed = closes_within(connection, 0.2)
        assert closed
    assert_still_serves(impatient_receiver, store)


def test_a_body_that_stops_arriving_is_cut_off(impatient_receiver, store):
    """A declared 1000-byte body of which 10 bytes arrive: the connection is closed, nothing is stored."""
    with socket.create_connection(("127.0.0.1", impatient_receiver.http_port)) as connection:
        connection.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n0123456789")
        assert closes_within(connection, TIMEOUT_SECONDS)
    assert store.scores() == []
    assert_still_serves(impatient_receiver, store)


BUSY_HEAD = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n"


def test_requests_past_the_cap_are_answered_503_and_served_once_slots_free(crowded_receiver, store):
    """With three requests in progress (bodies still arriving), a fourth is answered 503 with Retry-After at once; after they go, exports are stored."""
    port = crowded_receiver.http_port
    held: List[socket.socket] = []
    try:
        for _ in range(3):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(BUSY_HEAD + b"0123")  # headers whole, body pending: a slot is taken
            held.append(connection)
        time.sleep(0.3)  # the server reads the three heads
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS) as extra:
            extra.sendall(BUSY_HEAD + b"x" * 1000)
            answer = read_until_closed(extra)
        assert status_of(answer) == 503
        assert b"Retry-After: 1" in answer
    finally:
        for connection in held:
            connection.close()
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:  # the slots free as the server notices the closed connections
        try:
            if http_request(port, scored_request("after-the-crowd").SerializeToString())[0] == 200:
                break
        except OSError:  # refused while still busy, before our request was read
            pass
        assert time.monotonic() < deadline, "the freed slots were never reused"
        time.sleep(0.05)
    assert [score.name for score in store.scores()] == ["after-the-crowd"]


def test_idle_connections_hold_no_slot_and_the_longest_waiting_makes_room(crowded_receiver, store):
    """Twice as many idle connections as waiting places: an export is still answered and stored, and the oldest idle ones are closed."""
    port = crowded_receiver.http_port
    waiting_places = 4 * 3  # WAITING_PER_SLOT x max_connections
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2 * waiting_places)]
    try:
        # Heard, not queued behind them. A closed idle connection gives its thread back only when
        # that thread has ended, so on a loaded machine the export may first hear 503 (retryable):
        # it retries as an OTLP exporter does, and must get through while every idle one stays open.
        status = 503
        for _ in range(50):
            status = http_request(port, scored_request("past-the-idle").SerializeToString())[0]
            if status != 503:
                break
            time.sleep(0.1)
        assert status == 200
        assert closes_within(idle[0], TIMEOUT_SECONDS)  # the first to wait was the first closed
    finally:
        for connection in idle:
            connection.close()
    assert [score.name for score in store.scores()] == ["past-the-idle"]


class HeldStore(ScoreStore):
    """A real store whose writes wait until released, to hold gRPC calls in progress."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.waiting = threading.Semaphore(0)

    def add(self, translation: Any) -> int:
        self.waiting.release()
        self.release.wait(TIMEOUT_SECONDS)
        return super().add(translation)


def test_grpc_calls_past_the_cap_get_resource_exhausted(tmp_path):
    """With max_connections=2 and two exports in progress, a third gRPC call is RESOURCE_EXHAUSTED; the two complete."""
    with HeldStore(tmp_path / "held.db") as held, OTLPReceiver(held, grpc_port=0, http_port=0, max_connections=2, max_connections_per_peer=2, shutdown_timeout_seconds=2.0) as receiver:
        results: List[grpc.StatusCode] = []
        callers = [
            threading.Thread(target=lambda name=name: results.append(grpc_status(receiver.grpc_endpoint, scored_request(name).SerializeToString())))
            for name in ("first", "second")
        ]
        for caller in callers:
            caller.start()
        try:
            for _ in callers:
                assert held.waiting.acquire(timeout=TIMEOUT_SECONDS)
            assert grpc_status(receiver.grpc_endpoint, scored_request("third").SerializeToString()) is grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            held.release.set()
            for caller in callers:
                caller.join(TIMEOUT_SECONDS)
        assert results == [grpc.StatusCode.OK, grpc.StatusCode.OK]
        assert sorted(score.name for score in held.scores()) == ["first", "second"]
