"""One neutral span shape that every input form is read into before decoding.

Readers (SDK spans, OTLP protobuf, OTLP JSON, Jaeger, Tempo) differ only in how they find ids,
names, times and typed values; once a span is a :class:`SpanView`, one decoder turns it into
records. The OTLP protobuf reader, on the receiver's hot path, skips the view for spans with only
events and hands each event to the decoder's collector directly. Ids are lowercase hex, times are nanoseconds since the epoch, attribute values are plain
Python values (str, bool, int, float, bytes, lists and dicts of those).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping as _AbcMapping
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from otel_scoring import schema

# (event name, time in nanoseconds since the epoch, attributes)
EventView = Tuple[str, int, Mapping[str, Any]]
# (trace id, span id) of a linked span
LinkView = Tuple[str, str]

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Hex ids of the two sizes spans carry, matched in one call; other sizes go through _HEX_DIGITS.
_IS_HEX = {size: re.compile("[0-9a-fA-F]{%d}" % (2 * size)).fullmatch for size in (TRACE_ID_BYTES, SPAN_ID_BYTES)}
_ZERO_HEX = {size: "0" * (2 * size) for size in _IS_HEX}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def time_from_nanos(time_unix_nano: int) -> datetime:
    """A UTC datetime from nanoseconds since the epoch, to the microsecond."""
    # Integer arithmetic: a float of nanoseconds since 1970 has no room for the microseconds.
    return _EPOCH + timedelta(microseconds=time_unix_nano // 1000)


class SpanView:
    """A span as the decoder sees it.

    ``attributes`` holds at least the attributes the decoder reads (the carrier flag and
    OpenInference annotations); a reader on a hot path may leave the others out. ``events`` may
    likewise be limited to the events whose names the decoder knows.
    """

    __slots__ = ("trace_id", "span_id", "parent_span_id", "name", "service_name", "start_time_unix_nano", "attributes", "events", "links", "resource")

    def __init__(
        self,
        *,
        trace_id: Optional[str],
        span_id: Optional[str],
        name: str,
        service_name: Optional[str] = None,
        parent_span_id: Optional[str] = None,
        start_time_unix_nano: int = 0,
        attributes: Optional[Mapping[str, Any]] = None,
        events: Sequence[EventView] = (),
        links: Sequence[LinkView] = (),
        resource: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.name = name
        self.service_name = service_name
        self.start_time_unix_nano = start_time_unix_nano
        self.attributes: Mapping[str, Any] = attributes if attributes is not None else {}
        self.events: Sequence[EventView] = events
        self.links: Sequence[LinkView] = links
        self.resource = resource  # attributes of the exporting resource, when the reader has them

    def __repr__(self) -> str:
        return f"SpanView(name={self.name!r}, trace_id={self.trace_id!r}, span_id={self.span_id!r}, events={len(self.events)})"


class LogView:
    """A log record as the decoder sees it: an event (OTEP 4430 log-based events) with its place.

    ``event_name`` is the record's ``event_name`` field, or its ``event.name`` attribute as SDKs
    wrote it before the field existed. ``attributes`` include the entries of a map body, which
    the Events API of those SDKs used for the event's payload. ``batch`` is the request it came in:
    a request sent twice (a retry in a Collector file) reads as the same records.
    """

    __slots__ = ("trace_id", "span_id", "event_name", "time_unix_nano", "attributes", "service_name", "batch")

    def __init__(
        self,
        *,
        trace_id: Optional[str],
        span_id: Optional[str],
        event_name: str,
        time_unix_nano: int,
        attributes: Mapping[str, Any],
        service_name: Optional[str] = None,
        batch: Any = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.batch = batch
        self.event_name = event_name
        self.time_unix_nano = time_unix_nano
        self.attributes = attributes
        self.service_name = service_name

    def __repr__(self) -> str:
        return f"LogView(event_name={self.event_name!r}, trace_id={self.trace_id!r}, span_id={self.span_id!r})"




def log_event_name(event_name: Any, attributes: Mapping[str, Any]) -> str:
    """The event name of a log record: its field, else the ``event.name`` attribute older SDKs set."""
    if isinstance(event_name, str) and event_name:
        return event_name
    legacy = attributes.get(schema.LOG_EVENT_NAME)
    return legacy if isinstance(legacy, str) else ""


def with_body(attributes: Dict[str, Any], body: Any) -> Dict[str, Any]:
    """``attributes`` plus the entries of a map ``body`` that attributes do not already hold."""
    if is_mapping(body):
        for key, value in body.items():
            if isinstance(key, str):
                attributes.setdefault(key, value)
    return attributes


def hex_id(value: Any, size: int) -> Optional[str]:
    """An id of ``size`` bytes as lowercase hex, from hex text, base64 text or raw bytes.

    JSON writers disagree: OTLP JSON (the Collector, Jaeger) writes hex, protobuf's own JSON mapping
    and Tempo write base64. The two never collide in length (hex is ``2 * size`` characters, base64
    ``4 * ceil(size / 3)``), so the length says which it is. All-zero and malformed ids are None.
    """
    if value.__class__ is str and len(value) == 2 * size:
        # Hex, as OTLP JSON writes it, read by one regex match: this runs for every span of a file.
        is_hex = _IS_HEX.get(size)
        if is_hex is not None and is_hex(value) is not None:
            text = value.lower()
            return None if text == _ZERO_HEX[size] else text
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str) and value:
        if len(value) == 2 * size and _HEX_DIGITS.issuperset(value):
            text = value.lower()
            return None if text.count("0") == len(text) else text
        raw = _base64(value)
        if raw is None:
            return None
    else:
        return None
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


def padded_hex_id(value: Any, size: int) -> Optional[str]:
    """A hex id that may have lost its leading zeros (Jaeger writes 64-bit trace ids as 16 digits)."""
    if not isinstance(value, str) or not value or len(value) > 2 * size or not _HEX_DIGITS.issuperset(value):
        return None
    text = value.lower().rjust(2 * size, "0")
    return None if text.count("0") == len(text) else text


def _base64(text: str) -> Optional[bytes]:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        return None


def decode_base64(text: Any) -> Optional[bytes]:
    """Bytes from a base64 string (protobuf's JSON mapping of ``bytes``); None when it is not one."""
    return _base64(text) if isinstance(text, str) else None


def as_int(value: Any) -> Optional[int]:
    """A 64-bit integer that JSON carried as a number or, to survive JavaScript, as a string."""
    if value.__class__ is str:  # OTLP JSON's spelling of every time: the common case first
        try:
            return int(value, 10)
        except ValueError:
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 10)
        except ValueError:
            return None
    return None


def as_float(value: Any) -> Optional[float]:
    """A double that JSON carried as a number, or as ``"NaN"``/``"Infinity"`` strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)``, with the answer for a plain dict (what ``json.loads`` makes)
    in one comparison: the ABC's check was a third of reading OTLP JSON. The hottest loops write
    ``value.__class__ is dict`` inline before calling this, to save the call too."""
    return value.__class__ is dict or isinstance(value, _AbcMapping)


def list_of_dicts(container: Any, *keys: str) -> List[Mapping[str, Any]]:
    """The dicts in the first list found under any of ``keys``; wrong shapes read as empty."""
    if container.__class__ is not dict and not isinstance(container, _AbcMapping):
        return []
    for key in keys:
        items = container.get(key)
        if isinstance(items, list):
            return [item for item in items if item.__class__ is dict or isinstance(item, _AbcMapping)]
    return []


def first(container: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first of ``keys`` present (camelCase or snake_case spellings of a field)."""
    for key in keys:
        value = container.get(key)
        if value is not None:
            return value
    return None


def key_values(items: Any, decode: Callable[[Mapping[str, Any]], Any], *, keep_none: bool) -> Dict[str, Any]:
    """A list of ``{"key": ..., ...}`` entries (OTLP JSON attributes, Jaeger tags) as a dict.

    ``decode`` turns one entry into its value; entries that are not mappings or have no string
    key are left out, and so are values decoded as None unless ``keep_none``.
    """
    decoded: Dict[str, Any] = {}
    if not isinstance(items, list):
        return decoded
    for item in items:
        if item.__class__ is not dict and not isinstance(item, _AbcMapping):
            continue
        key = item.get("key")
        if not isinstance(key, str):
            continue
        value = decode(item)
        if value is not None or keep_none:
            decoded[key] = value
    return decoded

