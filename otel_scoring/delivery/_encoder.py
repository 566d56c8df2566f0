"""OTLP request bytes written straight from ``ReadableSpan``\\ s, byte for byte what the SDK writes.

``encode_request(spans)`` returns exactly ``encode_spans(spans).SerializeToString()`` (the
SDK's ``opentelemetry-exporter-otlp-proto-common`` trace encoder serialised by protobuf), without
building a protobuf message per span, event and attribute first: that is most of what the stock
encoder costs, and a scored span, whose event carries ~10 attributes, is about two spans' worth
of it. It follows the SDK's ``_encode_resource_spans`` step for step (grouping by resource, then
scope, in first-seen order; every field the SDK sets and none it leaves out, such as a link's
trace_state) and protobuf's serialisation (fields in number order, proto3 defaults omitted, oneof
members written even when zero).

What it does not cover it hands to ``encode_spans`` itself, so the bytes, the logs and the
exceptions are the SDK's own: any value not of an exact built-in type (a ``str`` or ``int``
subclass, a ``bytearray``, a ``range``), an ``int`` outside int64, a count outside uint32, text
UTF-8 cannot encode (the SDK raises for a span name, an event name or a status, and logs and
skips an attribute), anything a ``to_bytes`` or ``struct`` call refuses. ``write_request`` raises in
each of those cases rather than guess, so no span is ever written differently from the SDK.
tests/test_delivery_encoder.py holds the two to the same bytes over random spans.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PB2Span
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags as PB2SpanFlags
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_scoring import _sdk_span

__all__ = ["NotCovered", "encode_request", "write_request"]

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack

_INT64_MIN = -(1 << 63)
_INT64_LIMIT = 1 << 63
_UINT32_LIMIT = 1 << 32
_TWO_TO_64 = 1 << 64

# The SDK's _SPAN_KIND_MAP, as the field's bytes (Span.kind, field 6, varint).
_KIND_FIELDS = {
    kind: bytes((0x30, value))
    for kind, value in (
        (SpanKind.INTERNAL, PB2Span.SpanKind.SPAN_KIND_INTERNAL),
        (SpanKind.SERVER, PB2Span.SpanKind.SPAN_KIND_SERVER),
        (SpanKind.CLIENT, PB2Span.SpanKind.SPAN_KIND_CLIENT),
        (SpanKind.PRODUCER, PB2Span.SpanKind.SPAN_KIND_PRODUCER),
        (SpanKind.CONSUMER, PB2Span.SpanKind.SPAN_KIND_CONSUMER),
    )
}
_HAS_IS_REMOTE = PB2SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = _HAS_IS_REMOTE | PB2SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
# Span.flags (field 16, fixed32) and Link.flags (field 6, fixed32), remote parent or not.
_SPAN_FLAGS = {False: b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE), True: b"\x85\x01" + _pack_fixed32(_IS_REMOTE)}
_LINK_FLAGS = {False: b"\x35" + _pack_fixed32(_HAS_IS_REMOTE), True: b"\x35" + _pack_fixed32(_IS_REMOTE)}

_SMALL_VARINTS = [bytes((n,)) for n in range(0x80)]

_TAGS = [bytes((n,)) for n in range(0x100)]

# Attribute keys repeat from span to span: each key's encoded KeyValue.key field is kept, and its
# last str value with the whole encoded KeyValue; a few thousand short ones at most (~2 MB).
_CACHE_SIZE = 4096
_CACHED_FIELD_BYTES = 256
_key_fields: Dict[str, bytes] = {}
_last_strings: Dict[str, Tuple[str, bytes]] = {}


# Span classes by whether their attributes and events may be read from the SDK's internals.
_reads_internals: Dict[type, bool] = {}


class NotCovered(Exception):
    """Something :func:`write_request` leaves to the SDK's encoder."""


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """``encode_spans(spans).SerializeToString()``: the same bytes, and where this encoder does not
    cover a span, the SDK's encoder itself (its logs, its exceptions)."""
    try:
        return write_request(spans)
    except Exception:  # noqa: BLE001 - anything not covered, or refused: the SDK decides
        return encode_spans(spans).SerializeToString()


def write_request(spans: Sequence[ReadableSpan]) -> bytes:
    """The request's bytes, written here; raises (NotCovered, or what a conversion raises) where the
    SDK's encoder might do anything but encode plainly."""
    # Resource -> scope -> encoded spans, compared as the SDK's defaultdicts compare them (by hash
    # and equality: equal resources share a group, the first one's attributes are written). A
    # batch mostly comes from one provider and tracer, so the last group is tried by identity
    # first, which a dict lookup would find as well.
    groups: Dict[Any, Dict[Any, List[bytes]]] = {}
    last_resource: Any = groups  # nothing a span holds
    last_scope: Any = groups
    last: List[bytes] = []
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        encoded = _span(span)
        if resource is not last_resource or scope is not last_scope:
            scopes = groups.get(resource)
            if scopes is None:
                scopes = groups[resource] = {}
            last = scopes.get(scope)  # type: ignore[assignment]
            if last is None:
                last = scopes[scope] = []
            last_resource, last_scope = resource, scope
        last.append(encoded)
    out = []
    for resource, scopes in groups.items():
        # ResourceSpans: resource (1), scope_spans (2), schema_url (3).
        body = [_message(0x0A, _attributes(0x0A, resource.attributes))]
        for scope, encoded_spans in scopes.items():
            # ScopeSpans: scope (1), spans (2), schema_url (3).
            scope_body = [_message(0x0A, _scope(scope))]
            for encoded in encoded_spans:
                scope_body.append(_message(0x12, encoded))
            if scope is not None:
                scope_body.append(_text(0x1A, scope.schema_url))
            body.append(_message(0x12, b"".join(scope_body)))
        body.append(_text(0x1A, resource.schema_url))
        out.append(_message(0x0A, b"".join(body)))  # ExportTraceServiceRequest.resource_spans (1)
    return b"".join(out)


def _scope(scope: Any) -> bytes:
    """InstrumentationScope: name (1), version (2), attributes (3); the SDK writes no schema_url
    here (it is the ScopeSpans') and an empty scope for none."""
    if scope is None:
        return b""
    return _text(0x0A, scope.name) + _text(0x12, scope.version) + _attributes(0x1A, scope.attributes)


def _span(span: ReadableSpan) -> bytes:
    """Span, fields in number order: trace_id (1), span_id (2), trace_state (3), parent_span_id
    (4), name (5), kind (6), start (7), end (8), attributes (9), dropped_attributes_count (10),
    events (11), dropped_events_count (12), links (13), dropped_links_count (14), status (15),
    flags (16)."""
    context = span.get_span_context()
    parent = span.parent
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
        _trace_state(context.trace_state),
    ]
    if parent:
        parts.append(b"\x22\x08")
        parts.append(parent.span_id.to_bytes(8, "big"))
    parts.append(_text(0x2A, span.name))
    parts.append(_KIND_FIELDS[span.kind])
    parts.append(_fixed64(0x39, span.start_time))
    parts.append(_fixed64(0x41, span.end_time))
    # span.attributes wraps the span's BoundedAttributes in a proxy whose items() is the Mapping
    # mixin's, a key at a time, and span.events copies the event list under a lock (most spans
    # have none): a span class whose properties are the SDK's own has its internals read.
    internals = _reads_internals.get(type(span))
    if internals is None:
        internals = _check_internals(type(span))
    attributes = getattr(span, _sdk_span.ATTRIBUTES) if internals else span.attributes
    parts.append(_attributes(0x4A, attributes))
    parts.append(_uint32(0x50, span.dropped_attributes))
    for event in span.events if not internals or len(getattr(span, _sdk_span.EVENTS)) else ():
        # Event: time_unix_nano (1), name (2), attributes (3), dropped_attributes_count (4).
        parts.append(
            _message(
                0x5A,
                _fixed64(0x09, event.timestamp) + _text(0x12, event.name) + _attributes(0x1A, event.attributes) + _uint32(0x20, event.dropped_attributes),
            )
        )
    parts.append(_uint32(0x60, span.dropped_events))
    for link in span.links:
        # Link: trace_id (1), span_id (2), attributes (4), dropped_attributes_count (5), flags (6);
        # the SDK leaves trace_state (3) out.
        link_context = link.context
        parts.append(
            _message(
                0x6A,
                b"\x0a\x10"
                + link_context.trace_id.to_bytes(16, "big")
                + b"\x12\x08"
                + link_context.span_id.to_bytes(8, "big")
                + _attributes(0x22, link.attributes)
                + _uint32(0x28, link.dropped_attributes)
                + _LINK_FLAGS[bool(link_context.is_remote)],
            )
        )
    parts.append(_uint32(0x70, span.dropped_links))
    status = span.status
    if status is not None:
        # Status: message (2), code (3).
        parts.append(_message(0x7A, _text(0x12, status.description) + _uint32(0x18, status.status_code.value)))
    parts.append(_SPAN_FLAGS[bool(parent and parent.is_remote)])
    return b"".join(parts)


def _check_internals(span_type: type) -> bool:
    """Whether spans of this class keep their attributes and events where the SDK's ReadableSpan
    does, behind its own properties (a subclass may override them)."""
    probe = ReadableSpan("probe", attributes={"a": 1}, events=())
    internals = (
        getattr(span_type, "attributes", None) is ReadableSpan.attributes
        and getattr(span_type, "events", None) is ReadableSpan.events
        and getattr(probe, _sdk_span.ATTRIBUTES, None) == {"a": 1}
        and getattr(probe, _sdk_span.EVENTS, None) == ()
    )
    if len(_reads_internals) < _CACHE_SIZE:
        _reads_internals[span_type] = internals
    return internals


def _trace_state(trace_state: Any) -> bytes:
    if trace_state is None or not len(trace_state):
        return b""
    return _text(0x1A, ",".join([f"{key}={value}" for key, value in trace_state.items()]))


def _attributes(tag: int, attributes: Any) -> bytes:
    """Repeated KeyValue under ``tag``, in the mapping's order."""
    if not attributes:
        return b""
    if type(attributes) is BoundedAttributes:
        # Its items() goes through the Mapping mixin a key at a time; the dict behind it holds
        # the same items in the same order.
        attributes = getattr(attributes, _sdk_span.ATTRIBUTES_DICT, attributes)
    prefix = _TAGS[tag]
    parts = []
    append = parts.append
    last_strings = _last_strings
    for key, value in attributes.items():
        append(prefix)
        if type(value) is str:
            # Many values repeat from span to span under the same key (a score's name, type,
            # source): the last one's encoding is kept per key.
            last = last_strings.get(key)
            if last is not None and last[0] == value:
                append(last[1])
                continue
            field = _key_value(key, value)
            if len(field) <= _CACHED_FIELD_BYTES:
                if len(last_strings) >= _CACHE_SIZE:
                    last_strings.clear()
                last_strings[key] = (value, field)
            append(field)
        else:
            append(_key_value(key, value))
    return b"".join(parts)


def _key_value(key: Any, value: Any) -> bytes:
    """A KeyValue, length-prefixed: key (1), value (2, always present, empty for None)."""
    key_field = _key_fields.get(key)
    if key_field is None:
        if type(key) is not str:
            raise NotCovered(type(key))
        key_field = _text(0x0A, key)
        if len(key_field) <= _CACHED_FIELD_BYTES:
            if len(_key_fields) >= _CACHE_SIZE:
                _key_fields.clear()
            _key_fields[key] = key_field
    # The two commonest values written inline (string_value: 0x0a, double_value: 0x21).
    kind = type(value)
    if kind is float:
        return _length_prefixed(key_field + b"\x12\x09\x21" + _pack_double(value))
    if kind is str:
        encoded = value.encode("utf-8")
        if len(encoded) < 0x7E:
            return _length_prefixed(key_field + b"\x12" + _SMALL_VARINTS[len(encoded) + 2] + b"\x0a" + _SMALL_VARINTS[len(encoded)] + encoded)
    return _length_prefixed(key_field + b"\x12" + _length_prefixed(_any_value(value)))


def _any_value(value: Any) -> bytes:
    """AnyValue, as the SDK's ``_encode_value`` picks its member: string (1), bool (2), int (3),
    double (4), array (5), kvlist (6), bytes (7); nothing for None."""
    kind = type(value)
    if kind is str:
        return b"\x0a" + _length_prefixed(value.encode("utf-8"))
    if kind is float:
        return b"\x21" + _pack_double(value)
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        if value >= 0:
            if value >= _INT64_LIMIT:
                raise NotCovered("int64")
            return b"\x18" + _varint(value)
        if value < _INT64_MIN:
            raise NotCovered("int64")
        return b"\x18" + _varint(value + _TWO_TO_64)
    if value is None:
        return b""
    if kind is tuple or kind is list:
        # ArrayValue: values (1).
        return _message(0x2A, b"".join([b"\x0a" + _length_prefixed(_any_value(item)) for item in value]))
    if kind is bytes:
        return b"\x3a" + _length_prefixed(value)
    if kind is dict:
        # KeyValueList: values (1); the SDK writes str(key), so only str keys are covered.
        return _message(0x32, _attributes(0x0A, value))
    raise NotCovered(kind)


def _length_prefixed(body: bytes) -> bytes:
    size = len(body)
    return (_SMALL_VARINTS[size] if size < 0x80 else _varint(size)) + body


def _message(tag: int, body: bytes) -> bytes:
    """A length-delimited field (a sub-message), written even when empty."""
    size = len(body)
    return _TAGS[tag] + (_SMALL_VARINTS[size] if size < 0x80 else _varint(size)) + body


def _text(tag: int, text: Optional[str]) -> bytes:
    """A proto3 string field: nothing for None or ""."""
    if not text:
        if text is None or type(text) is str:
            return b""
        raise NotCovered(type(text))
    if type(text) is not str:
        raise NotCovered(type(text))
    encoded = text.encode("utf-8")
    return _TAGS[tag] + _varint(len(encoded)) + encoded


def _fixed64(tag: int, number: Optional[int]) -> bytes:
    """A proto3 fixed64 field: nothing for None or 0."""
    if not number:
        if number is None or type(number) is int:
            return b""
        raise NotCovered(type(number))
    if type(number) is not int:
        raise NotCovered(type(number))
    return _TAGS[tag] + _pack_fixed64(number)


def _uint32(tag: int, number: int) -> bytes:
    """A proto3 varint field of at most 32 bits (a count, an enum): nothing for 0."""
    if not number and type(number) is int:
        return b""
    if type(number) is not int or not 0 < number < _UINT32_LIMIT:
        raise NotCovered(number)
    return _TAGS[tag] + _varint(number)


def _varint(number: int) -> bytes:
    if number < 0x80:
        return _SMALL_VARINTS[number]
    if number < 0x4000:
        return bytes(((number & 0x7F) | 0x80, number >> 7))
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)
