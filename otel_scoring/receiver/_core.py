"""One OTLP export (traces or logs), handled without a transport: (head, body) in, records and a reply out.

The HTTP and gRPC adapters describe each request as a :class:`RequestHead` and hand over its body;
:meth:`ReceiverCore.refuse` is the one gate every request passes (method, path, content type,
encoding, size, bearer token), and :meth:`ReceiverCore.handle` has the translator read the body
(:func:`~otel_scoring.translate.records_from_export`, which also says which spans or log records
are rejected), bounds each record (:mod:`._limits`), stores and builds the OTLP reply in the caller's
encoding. A refusal is an explicit :class:`Reply` with an HTTP status; the gRPC adapter maps it to a
status code with :data:`GRPC_STATUS_NAMES`.
"""

from __future__ import annotations

import enum
import functools
import hmac
import logging
import math
import re
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

from google.protobuf.json_format import MessageToJson
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_scoring._receiver_defaults import DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_LIMIT
from otel_scoring.receiver._cost import (
    BYTES_PER_MESSAGE,
    MAX_MESSAGES_PER_REQUEST,
    MemoryBudget,
    TooCostly,
    count_json_objects,
    count_proto_messages,
    inflate,
)
from otel_scoring.receiver._limits import bounded
from otel_scoring.receiver._peers import PEER, peer_share
from otel_scoring.translate import LOGS, TRACES, Translation, TranslationError, records_from_export

_logger = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
GRPC_EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GRPC_LOGS_EXPORT_PATH = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
# The signal each path carries: traces, and logs for log-based events (OTEP 4430).
SIGNAL_PATHS: Dict[str, str] = {TRACES_PATH: TRACES, LOGS_PATH: LOGS, GRPC_EXPORT_PATH: TRACES, GRPC_LOGS_EXPORT_PATH: LOGS}
_REQUEST_NAMES = {TRACES: "ExportTraceServiceRequest", LOGS: "ExportLogsServiceRequest"}
_REJECTED_REASONS = {
    TRACES: "spans without a valid trace id and span id were rejected",
    LOGS: "log records with a malformed trace id or span id were rejected",
}
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
JSON_CONTENT_TYPE = "application/json"
# What every request in flight may hold together (bodies, inflated copies, decoded messages): room
# for a few requests at the body limit with their messages, whatever the connection count.
DEFAULT_MAX_IN_FLIGHT_BYTES = 256 * 1024 * 1024
BUSY_RETRY_AFTER_SECONDS = 1

HTTP = "http"
GRPC = "grpc"

# HTTP status of a reply -> (google.rpc code in the error body, gRPC status code name).
_STATUS_CODES: Dict[int, Tuple[int, str]] = {
    200: (code_pb2.OK, "OK"),
    400: (code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    401: (code_pb2.UNAUTHENTICATED, "UNAUTHENTICATED"),
    404: (code_pb2.NOT_FOUND, "UNIMPLEMENTED"),
    405: (code_pb2.UNIMPLEMENTED, "UNIMPLEMENTED"),
    408: (code_pb2.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
    429: (code_pb2.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"),
    411: (code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    413: (code_pb2.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"),
    414: (code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    415: (code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    431: (code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    500: (code_pb2.INTERNAL, "INTERNAL"),
    501: (code_pb2.UNIMPLEMENTED, "UNIMPLEMENTED"),
    503: (code_pb2.UNAVAILABLE, "UNAVAILABLE"),
    505: (code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
}
GRPC_STATUS_NAMES: Dict[int, str] = {status: names[1] for status, names in _STATUS_CODES.items()}

# RFC 6750's token68: what a bearer token may hold, so both transports compare the same bytes.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_BEARER_CHALLENGE = 'Bearer realm="otel-scoring"'

_DECOMPRESSORS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_IDENTITY = ("", "identity")

Sink = Callable[[Translation], object]  # the receiver's writes the store


class Encoding(str, enum.Enum):
    PROTOBUF = "protobuf"
    JSON = "json"


@dataclass(frozen=True)
class RequestHead:
    """What a transport knows about a request before reading its body.

    ``headers`` are HTTP headers or gRPC metadata with lower-case names. ``content_length`` is the
    declared body size (HTTP ``Content-Length``; the message size for gRPC), None when undeclared.
    ``chunked``: an HTTP body sent in chunks, its size known only once read (the transport stops
    reading it at the body limit). ``peer``: the client's address (:mod:`._peers`), whose share of
    the memory budget the request takes; None for a caller with no address (not counted per peer).
    """

    transport: str
    method: str
    path: str
    headers: Mapping[str, str]
    content_length: Optional[int]
    chunked: bool = False
    peer: Optional[str] = None

    @classmethod
    def grpc(cls, metadata: Mapping[str, str], message_size: int, path: str = GRPC_EXPORT_PATH, peer: Optional[str] = None) -> "RequestHead":
        return cls(GRPC, "POST", path, metadata, message_size, peer=peer)

    @property
    def signal(self) -> Optional[str]:
        """``"traces"`` or ``"logs"``, from the path; None for any other path."""
        return SIGNAL_PATHS.get(self.path)

    @property
    def encoding(self) -> Optional[Encoding]:
        """The body's encoding from its content type; None when it is neither OTLP encoding."""
        if self.transport == GRPC:
            return Encoding.PROTOBUF
        media_type = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type == PROTOBUF_CONTENT_TYPE:
            return Encoding.PROTOBUF
        if media_type == JSON_CONTENT_TYPE:
            return Encoding.JSON
        return None

    @property
    def content_encoding(self) -> str:
        if self.transport == GRPC:
            return ""  # gRPC decompresses messages itself
        return self.headers.get("content-encoding", "").strip().lower()


@dataclass(frozen=True)
class Reply:
    """The answer to one request: an HTTP status, a body in the request's encoding, and counts."""

    status: int
    content_type: str
    body: bytes
    message: str = ""  # the error, or what partial success rejected or dropped
    rows_written: int = 0
    rejected_spans: int = 0
    headers: Tuple[Tuple[str, str], ...] = ()  # extra HTTP headers (WWW-Authenticate, Retry-After)
    retry_after_seconds: Optional[int] = None  # a busy refusal: HTTP Retry-After, gRPC RetryInfo

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def grpc_status_name(self) -> str:
        return GRPC_STATUS_NAMES.get(self.status, "UNKNOWN")


class _Busy(Exception):
    """The memory budget (or the peer's share of it) has no room for this request now."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_BUSY_LOG_INTERVAL_SECONDS = 60.0


class Refused(Exception):
    """An export answered with an error ``status``; ``logged`` when the cause was logged already."""

    def __init__(self, status: int, message: str, logged: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.logged = logged


@dataclass(frozen=True)
class Ingested:
    """What reading and storing one export came to: the counts its reply and log lines are made from."""

    rows: int
    rejected: int  # spans or log records the translator rejected
    dropped: int  # records over the per-record limits
    truncated: int  # records whose overlong text was shortened
    skipped: int  # score or metadata forms that break their schema


# Reads, bounds and stores an export's (inflated, counted) body: (body, encoding, signal, transport).
Ingest = Callable[[bytes, Encoding, str, str], Ingested]


def read_and_store(sink: Sink, raw: bytes, encoding: Encoding, signal: str, transport: str) -> Ingested:
    """Translate a body the gate let through, bound its records and hand them to ``sink``.

    The part of handling that needs no transport and no budget, so a worker process can do it
    (:mod:`._workers`). Raises :class:`Refused`: 400 for a body that is not an OTLP export, 500
    when translating fails, 503 (retryable) when the sink does.
    """
    try:
        translation, rejected = _translate(raw, encoding, signal)
        skipped = translation.skipped
        translation, dropped, truncated = bounded(translation)
    except Refused:
        raise
    except Exception:
        _logger.exception("Could not translate an OTLP %s export", transport)
        raise Refused(500, "internal error while reading the export", logged=True) from None
    try:
        written = sink(translation)
    except Exception:
        _logger.exception("Could not store the records of an OTLP %s export", transport)
        raise Refused(503, "the score store is unavailable; retry later", logged=True) from None
    rows = written if isinstance(written, int) and not isinstance(written, bool) else 0
    return Ingested(rows, rejected, dropped, truncated, skipped)


def _translate(raw: bytes, encoding: Encoding, signal: str) -> Tuple[Translation, int]:
    """Records of the export and how many of its spans or log records are rejected.

    Which ones are is the translator's rule (:func:`~otel_scoring.translate.records_from_export`).
    """
    try:
        export = records_from_export(raw, signal=signal, encoding=encoding.value)
    except TranslationError as exc:
        raise Refused(400, f"the body is not an OTLP {_REQUEST_NAMES[signal]} ({exc})") from None
    return export.translation, export.rejected


class ReceiverCore:
    """Decode, translate and store OTLP trace and log exports; answer each with a :class:`Reply`.

    Args:
        sink: called with each request's ``Translation``; the receiver passes one that writes the
            store. An exception from it answers 503 (retryable) and is logged.
        max_body_bytes: the largest body accepted, before and after decompression.
        token: when set, every request must carry ``Authorization: Bearer <token>`` (HTTP header
            or gRPC metadata), compared in constant time; others are answered 401 /
            ``UNAUTHENTICATED`` before anything else is looked at.
        max_in_flight_bytes: what every request in flight may hold together (bodies, inflated
            copies, decoded messages at :data:`BYTES_PER_MESSAGE` each); a request that does not
            fit is answered 429 / ``RESOURCE_EXHAUSTED`` with a retry delay, one that could never fit
            413. Default 256 MiB, or what one request at the body limit may cost if that is more.
        max_in_flight_bytes_per_peer: what the requests of one peer (client address) may hold of
            it; past it that peer is answered 429 / ``RESOURCE_EXHAUSTED`` while others are served.
            Default half the budget, or what one request at the body limit may cost if that is more.
        ingest: what reads and stores a body that passed the gate and the budget, in place of
            :func:`read_and_store` into ``sink`` on the request's thread: the receiver's worker
            processes (:mod:`._workers`) pass theirs.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        token: Optional[str] = None,
        max_in_flight_bytes: Optional[int] = None,
        max_in_flight_bytes_per_peer: Optional[int] = None,
        ingest: Optional[Ingest] = None,
    ) -> None:
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or not 1 <= max_body_bytes <= MAX_BODY_BYTES_LIMIT:
            raise ValueError(f"max_body_bytes must be an integer from 1 to {MAX_BODY_BYTES_LIMIT}, got {max_body_bytes!r}")
        if max_in_flight_bytes is None:
            max_in_flight_bytes = max(DEFAULT_MAX_IN_FLIGHT_BYTES, self.worst_request_bytes(max_body_bytes))
        if isinstance(max_in_flight_bytes, bool) or not isinstance(max_in_flight_bytes, int) or max_in_flight_bytes < 3 * max_body_bytes:
            raise ValueError(f"max_in_flight_bytes must be an integer of at least three times max_body_bytes ({3 * max_body_bytes}), got {max_in_flight_bytes!r}")
        if max_in_flight_bytes_per_peer is None:
            max_in_flight_bytes_per_peer = max(peer_share(max_in_flight_bytes), self.worst_request_bytes(max_body_bytes))
        if isinstance(max_in_flight_bytes_per_peer, bool) or not isinstance(max_in_flight_bytes_per_peer, int) or max_in_flight_bytes_per_peer < 3 * max_body_bytes:
            raise ValueError(f"max_in_flight_bytes_per_peer must be an integer of at least three times max_body_bytes ({3 * max_body_bytes}), got {max_in_flight_bytes_per_peer!r}")
        self.budget = MemoryBudget(max_in_flight_bytes, max_in_flight_bytes_per_peer)
        if token is not None and (not isinstance(token, str) or not _BEARER_TOKEN.fullmatch(token)):
            raise ValueError("the receiver token must be a non-empty string of letters, digits and -._~+/ (optionally ending in =)")
        self.max_body_bytes = max_body_bytes
        self._token = None if token is None else token.encode("ascii")
        self._ingest: Ingest = ingest if ingest is not None else functools.partial(read_and_store, sink)
        self._last_busy_log = -math.inf
        self._in_flight = 0
        self._closing = False
        self._idle = threading.Condition()

    @property
    def requires_token(self) -> bool:
        return self._token is not None

    @staticmethod
    def worst_request_bytes(max_body_bytes: int) -> int:
        """What one request may cost at most: its body, its inflated copy and its decoded messages."""
        return 3 * max_body_bytes + MAX_MESSAGES_PER_REQUEST * BYTES_PER_MESSAGE

    def authorized(self, headers: Mapping[str, str]) -> bool:
        """True when no token is required or ``headers`` carry it; transports ask as soon as they can."""
        return self._token is None or self._authorized(headers.get("authorization"))

    def unauthorized(self, head: RequestHead) -> Reply:
        return self._unauthorized(head)

    def reserve_body(self, head: RequestHead) -> Tuple[int, Optional[Reply]]:
        """Take the budget share of a body not yet read: the bytes taken, or 0 and the busy reply.

        Called by a transport before it reads the body, so waiting bodies count against the budget
        too (and against the peer's share); pass the bytes to :meth:`handle` as ``reserved``.
        """
        amount = head.content_length if head.content_length is not None else self.max_body_bytes
        refused = self.budget.take(amount, head.peer)
        return (amount, None) if refused is None else (0, self.busy_reply(head, refused))

    def give_back(self, head: RequestHead, reserved: int) -> None:
        """Return what :meth:`reserve_body` took, for a body that will not be handled."""
        self.budget.give_back(reserved, head.peer)

    def busy_reply(self, head: RequestHead, reason: str) -> Reply:
        """429 / ``RESOURCE_EXHAUSTED`` with a retry delay: the requests in flight (or the peer's
        own, ``reason`` :data:`~._peers.PEER`) use the budget."""
        self._log_busy(head, reason)
        return self._busy(head.encoding, reason)

    # --- The gate -----------------------------------------------------------------------------------

    def refuse(self, head: RequestHead) -> Optional[Reply]:
        """The refusal for a request, or None when it may proceed. Needs no body: transports call
        it before reading one, so an oversized body is never read."""
        if self._closing:
            return self._error(503, "the receiver is shutting down", None)
        if self._token is not None and not self._authorized(head.headers.get("authorization")):
            return self._unauthorized(head)
        if head.transport == HTTP:
            if head.path not in (TRACES_PATH, LOGS_PATH):
                return self._error(404, f"no such endpoint {head.path!r}; OTLP traces go to POST {TRACES_PATH}, logs to POST {LOGS_PATH}", None)
            if head.method != "POST":
                return self._error(405, f"{head.method} is not allowed; OTLP exports are sent with POST", None)
        encoding = head.encoding
        if encoding is None:
            return self._error(415, f"content type must be {PROTOBUF_CONTENT_TYPE} or {JSON_CONTENT_TYPE}", None)
        if head.content_encoding not in _IDENTITY and head.content_encoding not in _DECOMPRESSORS:
            return self._error(415, f"content encoding {head.content_encoding!r} is not supported; use gzip or deflate", encoding)
        if head.content_length is None:
            if head.chunked:
                return None  # the size is checked while the chunks are read
            return self._error(411, "the request must declare its Content-Length or be sent chunked", encoding)
        if head.content_length > self.max_body_bytes:
            return self._error(413, f"the body is {head.content_length} bytes; the limit is {self.max_body_bytes}", encoding)
        return None

    def _authorized(self, authorization: Optional[str]) -> bool:
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        presented = credentials.strip().encode("utf-8", "surrogateescape")
        # compare_digest takes as long whatever the bytes, so timing does not reveal the token.
        matches = hmac.compare_digest(presented, self._token or b"")
        return scheme.lower() == "bearer" and matches

    def _unauthorized(self, head: RequestHead) -> Reply:
        presented = "authorization" in head.headers
        _logger.info("Refused an OTLP %s export: %s bearer token", head.transport, "wrong" if presented else "no")
        challenge = _BEARER_CHALLENGE + (', error="invalid_token"' if presented else "")
        reply = self._error(401, "a valid bearer token is required (Authorization: Bearer <token>)", head.encoding)
        return Reply(reply.status, reply.content_type, reply.body, reply.message, headers=(("WWW-Authenticate", challenge),))

    # --- Handling -----------------------------------------------------------------------------------

    def handle(self, head: RequestHead, body: bytes, reserved: Optional[int] = None) -> Reply:
        """Answer one export whose body has been read.

        ``reserved``: the budget share the transport took for the body with :meth:`reserve_body`
        (given back here); None when it took none (gRPC: the message was already received).
        """
        with self._idle:
            self._in_flight += 1
        held = [0 if reserved is None else reserved]
        try:
            return self._handle(head, body, reserved is None, held)
        finally:
            self.budget.give_back(held[0], head.peer)
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _take(self, held: List[int], amount: int, peer: Optional[str]) -> None:
        refused = self.budget.take(amount, peer)
        if refused is not None:
            raise _Busy(refused)
        held[0] += amount

    def _handle(self, head: RequestHead, body: bytes, take_body: bool, held: List[int]) -> Reply:
        refusal = self.refuse(head)
        if refusal is not None:
            return refusal
        encoding = head.encoding
        if encoding is None:  # refuse() has answered such a request 415 already; this keeps the type exact
            return self._error(415, f"content type must be {PROTOBUF_CONTENT_TYPE} or {JSON_CONTENT_TYPE}", None)
        try:
            if len(body) > self.max_body_bytes:
                raise Refused(413, f"the body is {len(body)} bytes; the limit is {self.max_body_bytes}")
            if take_body:
                self._take(held, len(body), head.peer)
            if head.content_encoding not in _IDENTITY:
                # Taken before inflating, as much as the body can inflate to (deflate's best ratio
                # is about 1032:1); what it did not need is given back after.
                # Twice: the inflated pieces and their joined copy exist together for a moment.
                inflatable = 2 * min(self.max_body_bytes, len(body) * 1032 + 1024)
                self._take(held, inflatable, head.peer)
                raw = self._decompress(body, head.content_encoding)
                self.budget.give_back(inflatable - len(raw), head.peer)
                held[0] -= inflatable - len(raw)
            else:
                raw = body
            messages = count_proto_messages(raw) if encoding is Encoding.PROTOBUF else count_json_objects(raw)
            if messages > MAX_MESSAGES_PER_REQUEST:
                raise Refused(413, f"the body holds more than {MAX_MESSAGES_PER_REQUEST} messages (spans, events, links, attributes, values); send smaller batches")
            decoded_bytes = messages * BYTES_PER_MESSAGE
            ceiling = self.budget.limit_bytes if head.peer is None else self.budget.per_peer_bytes
            if held[0] + decoded_bytes > ceiling:
                raise Refused(413, f"decoding the body would take more than the receiver's memory budget of {ceiling} bytes; send smaller batches")
            self._take(held, decoded_bytes, head.peer)
            signal = head.signal or TRACES
            ingested = self._ingest(raw, encoding, signal, head.transport)
        except _Busy as busy:
            return self.busy_reply(head, busy.reason)
        except Refused as refused:
            if not refused.logged:
                _logger.info("Refused an OTLP %s export (%d): %s", head.transport, refused.status, refused.message)
            return self._error(refused.status, refused.message, encoding)
        except Exception:
            _logger.exception("Could not read an OTLP %s export", head.transport)
            return self._error(500, "internal error while reading the export", encoding)
        rejected, reason = ingested.rejected, _REJECTED_REASONS[signal]
        if rejected:
            _logger.info("Rejected %d item(s) of an OTLP %s %s export: %s", rejected, head.transport, signal, reason)
        if ingested.truncated:
            _logger.info("Shortened overlong text of %d record(s) of an OTLP %s export", ingested.truncated, head.transport)
        notes = [reason] if rejected else []
        if ingested.dropped:
            notes.append(f"{ingested.dropped} score or metadata record(s) over the receiver's per-record limits were dropped")
            _logger.info("Dropped %d record(s) of an OTLP %s export: over the per-record limits", ingested.dropped, head.transport)
        if ingested.skipped:
            notes.append(f"{ingested.skipped} score or metadata form(s) that break their schema were skipped")
            _logger.info("Skipped %d unreadable score or metadata form(s) of an OTLP %s export", ingested.skipped, head.transport)
        return self._success(encoding, rejected, "; ".join(notes), ingested.rows, signal)

    def _decompress(self, body: bytes, content_encoding: str) -> bytes:
        """The decompressed body, refused as 413 past ``max_body_bytes`` (a small gzip bomb stays small)."""
        if content_encoding in _IDENTITY:
            return body
        try:
            return inflate(body, _DECOMPRESSORS[content_encoding], self.max_body_bytes, content_encoding)
        except TooCostly as refused:
            raise Refused(refused.status, refused.message) from None

    # --- Replies ------------------------------------------------------------------------------------

    def _success(self, encoding: Optional[Encoding], rejected: int, message: str, rows: int, signal: str = TRACES) -> Reply:
        """OK; a ``message`` with no rejected spans is a warning, as OTLP's partial success allows."""
        response: Union[ExportTraceServiceResponse, ExportLogsServiceResponse]
        if signal == LOGS:
            response = ExportLogsServiceResponse()
            if rejected:
                response.partial_success.rejected_log_records = rejected
        else:
            response = ExportTraceServiceResponse()
            if rejected:
                response.partial_success.rejected_spans = rejected
        if message:
            response.partial_success.error_message = message
        if encoding is Encoding.JSON:
            body = MessageToJson(response, indent=None).encode("utf-8")
            return Reply(200, JSON_CONTENT_TYPE, body, message, rows, rejected)
        return Reply(200, PROTOBUF_CONTENT_TYPE, response.SerializeToString(), message, rows, rejected)

    def _log_busy(self, head: RequestHead, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_busy_log >= _BUSY_LOG_INTERVAL_SECONDS:  # a flood logs once a minute
            self._last_busy_log = now
            answer = "429" if head.transport == HTTP else "RESOURCE_EXHAUSTED"
            if reason == PEER:
                _logger.warning(
                    "Answered an OTLP %s export from %s %s: that client's requests in flight hold its share of the memory budget, %d bytes",
                    head.transport,
                    head.peer,
                    answer,
                    self.budget.per_peer_bytes,
                )
            else:
                _logger.warning(
                    "Answered an OTLP %s export %s: the requests in flight hold the receiver's memory budget of %d bytes",
                    head.transport,
                    answer,
                    self.budget.limit_bytes,
                )

    def _busy(self, encoding: Optional[Encoding], reason: str = "") -> Reply:
        message = "this client has too many exports in flight; retry later" if reason == PEER else "the receiver is busy with other exports; retry later"
        reply = self._error(429, message, encoding)
        seconds = BUSY_RETRY_AFTER_SECONDS
        return Reply(reply.status, reply.content_type, reply.body, reply.message, headers=(("Retry-After", str(seconds)),), retry_after_seconds=seconds)

    @staticmethod
    def error_reply(status: int, message: str, encoding: Optional[Encoding] = None) -> Reply:
        """A refusal the transport itself decided on (a malformed request line, a busy server)."""
        return ReceiverCore._error(status, message, encoding)

    @staticmethod
    def _error(status: int, message: str, encoding: Optional[Encoding]) -> Reply:
        """An error reply: a google.rpc.Status body, as OTLP/HTTP asks of every 4xx and 5xx."""
        error = status_pb2.Status(code=_STATUS_CODES.get(status, (code_pb2.UNKNOWN, ""))[0], message=message)
        if encoding is Encoding.JSON:
            return Reply(status, JSON_CONTENT_TYPE, MessageToJson(error, indent=None).encode("utf-8"), message)
        return Reply(status, PROTOBUF_CONTENT_TYPE, error.SerializeToString(), message)

    # --- Lifecycle ----------------------------------------------------------------------------------

    def close(self, timeout_seconds: float) -> bool:
        """Refuse new requests and wait up to ``timeout_seconds`` for those in flight; True when idle."""
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        with self._idle:
            self._closing = True
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True
