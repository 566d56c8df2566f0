"""What one request may cost the receiver, counted before the cost is paid.

A body within ``max_body_bytes`` can still be expensive: 16 MiB of empty protobuf spans parse into
about 1 GB of messages, the same in JSON into 2 GB of dicts, and a body of many tiny gzip members
used to inflate in quadratic time. Every request therefore passes three checks, shared by every
signal and both transports:

* :func:`inflate` decompresses in time linear in the body, refusing more than
  :data:`MAX_COMPRESSED_MEMBERS` members and more than the body limit once inflated;
* :func:`count_proto_messages` / :func:`count_json_objects` count the messages a body would
  decode into (protobuf by walking its wire format, stopping as soon as the count passes
  :data:`MAX_MESSAGES_PER_REQUEST`; JSON by its braces), so a body over the cap is refused
  before the protobuf parser or ``json.loads`` builds anything;
* :class:`MemoryBudget` holds what every request in flight may cost together (its body, its
  inflated copy and :data:`BYTES_PER_MESSAGE` per decoded message), and what the requests of any
  one peer may (:mod:`._peers`); a request that does not fit is answered 429 /
  ``RESOURCE_EXHAUSTED`` with a retry delay, as OTLP asks of a busy server.

Each body byte can describe at most half a message (an empty one is a tag and a length), so a body
shorter than twice the cap needs no counting at all: only large bodies pay for the scan.
"""

from __future__ import annotations

import zlib
from typing import Dict, List, Tuple

from otel_scoring.receiver._peers import SharedLimit

MAX_COMPRESSED_MEMBERS = 64  # exporters send one gzip member; a few are allowed, thousands are not
MAX_MESSAGES_PER_REQUEST = 512 * 1024  # spans, events, links, attributes, values: about 100 MB parsed
BYTES_PER_MESSAGE = 200  # what one decoded protobuf message or JSON object costs, measured (upb, CPython)
_INFLATE_INPUT_BYTES = 64 * 1024  # input fed to zlib at a time, so a member's leftovers are small


class TooCostly(Exception):
    """A body refused for what decoding it would cost; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- Decompression --------------------------------------------------------------------------------


def inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    """``body`` decompressed, member after member; :class:`TooCostly` past ``limit`` bytes or the member cap.

    The input is fed in slices of at most :data:`_INFLATE_INPUT_BYTES`, so the leftover zlib copies
    at each member's end is small: time is linear in the body whatever its members look like.
    """
    view = memoryview(body)
    chunks: List[bytes] = []
    size = offset = members = 0
    try:
        while True:
            members += 1
            if members > MAX_COMPRESSED_MEMBERS:
                raise TooCostly(400, f"the {name} body has more than {MAX_COMPRESSED_MEMBERS} compressed members")
            decompressor = zlib.decompressobj(wbits)
            while not decompressor.eof:
                if offset >= len(body):
                    raise TooCostly(400, f"the {name} body is truncated")
                piece = view[offset : offset + _INFLATE_INPUT_BYTES]
                offset += len(piece)
                chunk = decompressor.decompress(piece, limit - size + 1)
                size += len(chunk)
                if size > limit:
                    raise TooCostly(413, f"the body is larger than {limit} bytes once decompressed")
                chunks.append(chunk)
            offset -= len(decompressor.unused_data)  # the next member starts in this slice
            if offset >= len(body):
                return b"".join(chunks)
    except zlib.error as exc:
        raise TooCostly(400, f"the body is not valid {name} ({exc})") from None


# --- Counting messages -----------------------------------------------------------------------------
#
# For each message type of the OTLP requests, the fields that hold messages, by field number. Only
# these are descended into and counted; every other field is skipped without being read.

_KEY_VALUE, _ANY, _ARRAY, _KV_LIST, _LEAF = "KeyValue", "AnyValue", "ArrayValue", "KeyValueList", "leaf"
_FIELDS: Dict[str, Dict[int, str]] = {
    # opentelemetry/proto/common/v1/common.proto
    _KEY_VALUE: {2: _ANY},
    _ANY: {5: _ARRAY, 6: _KV_LIST},
    _ARRAY: {1: _ANY},
    _KV_LIST: {1: _KEY_VALUE},
    "Resource": {1: _KEY_VALUE},
    "InstrumentationScope": {3: _KEY_VALUE},
    _LEAF: {},
    # opentelemetry/proto/trace/v1/trace.proto
    "ExportTraceServiceRequest": {1: "ResourceSpans"},
    "ResourceSpans": {1: "Resource", 2: "ScopeSpans"},
    "ScopeSpans": {1: "InstrumentationScope", 2: "Span"},
    "Span": {9: _KEY_VALUE, 11: "Event", 13: "Link", 15: _LEAF},
    "Event": {3: _KEY_VALUE},
    "Link": {4: _KEY_VALUE},
    # opentelemetry/proto/logs/v1/logs.proto
    "ExportLogsServiceRequest": {1: "ResourceLogs"},
    "ResourceLogs": {1: "Resource", 2: "ScopeLogs"},
    "ScopeLogs": {1: "InstrumentationScope", 2: "LogRecord"},
    "LogRecord": {5: _ANY, 6: _KEY_VALUE},
}
TRACES = "ExportTraceServiceRequest"
LOGS = "ExportLogsServiceRequest"


def count_proto_messages(raw: bytes, request_type: str = TRACES, cap: int = MAX_MESSAGES_PER_REQUEST) -> int:
    """How many messages ``raw`` decodes into; stops counting once past ``cap`` (returns cap + 1).

    Malformed wire data ends the count early: the protobuf parser refuses it next, with its own
    message. Runs in time linear in what it counts, never deeper than an explicit stack.
    """
    if len(raw) <= 2 * cap:
        return len(raw) // 2  # an upper bound, within the cap: no scan needed
    count = 0
    stack: List[Tuple[int, Dict[int, str]]] = [(len(raw), _FIELDS[request_type])]
    position = 0
    size = len(raw)
    while stack:
        end, fields = stack[-1]
        if position >= end:
            stack.pop()
            continue
        # The field's tag, a varint.
        tag = shift = 0
        while True:
            if position >= size:
                return count
            byte = raw[position]
            position += 1
            tag |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 63:
                return count
        wire_type = tag & 7
        if wire_type == 2 or wire_type == 0:
            length = shift = 0
            while True:
                if position >= size:
                    return count
                byte = raw[position]
                position += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 63:
                    return count
            if wire_type == 0:
                continue
            child = fields.get(tag >> 3)
            if child is None or position + length > end:
                position += length  # not a message we count (or malformed: the parser says so)
                continue
            count += 1
            if count > cap:
                return count
            stack.append((position + length, _FIELDS[child]))
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        else:
            return count  # groups are not used by OTLP; let the parser refuse them
    return count


def count_json_objects(raw: bytes, cap: int = MAX_MESSAGES_PER_REQUEST) -> int:
    """How many JSON objects ``raw`` may hold: its ``{`` count, at C speed, without decoding.

    Every object needs a ``{``, so this never undercounts; braces inside strings count too, so a
    body is refused only when it has more braces than the cap, which a real export within the
    body limit does not (its objects hold their keys and values, a few dozen bytes each).
    """
    return raw.count(b"{")


# --- The budget of every request in flight ---------------------------------------------------------


class MemoryBudget(SharedLimit):
    """Bytes that requests in flight may hold together, and any one peer of them; a request takes
    its share or is refused.

    Never blocks: a request that does not fit is answered at once (429 / ``RESOURCE_EXHAUSTED``),
    so a flood of expensive requests cannot queue up memory either. :meth:`take` returns None when
    the bytes are taken, else whose limit is reached (``_peers.PEER`` or ``_peers.TOTAL``).
    """

    @property
    def limit_bytes(self) -> int:
        return self.limit

    @property
    def per_peer_bytes(self) -> int:
        return self.per_peer

    @property
    def used_bytes(self) -> int:
        return self.used
