"""OTLP JSON → span views, in every spelling trace tools write it.

* The OTLP/JSON encoding (Collector file exporter, SDK JSON, Jaeger ``/api/v3``): camelCase keys,
  hex ids, enums as integers, 64-bit integers as strings.
* protobuf's own JSON mapping (``json_format``): base64 ids, enums as names, and snake_case keys
  when written with ``preserving_proto_field_name``.
* Tempo: base64 ids and enum names, resource spans under ``batches``, and from older versions
  ``instrumentationLibrarySpans`` in place of ``scopeSpans``.

Only the fields the decoder needs are read; a field of the wrong type reads as absent. The
readers ask for views limited to what the decoder reads (``for_decoder``): events of other names
are left out and, unless the span has an attribute the decoder reads, so are the span's
attributes, so that reading a large export costs little more than ``json.loads`` of it.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from otel_scoring import schema
from otel_scoring.translate import _dialects
from otel_scoring.translate._span_view import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    EventView,
    LinkView,
    SpanView,
    as_float,
    as_int,
    decode_base64,
    first,
    hex_id,
    is_mapping,
    list_of_dicts,
)

_SERVICE_NAME = "service.name"
_DECODED_EVENTS = (schema.EVALUATION_RESULT_EVENT, schema.METADATA_UPDATE_EVENT)
# Span attributes the decoder reads (the carrier flag, annotations, other producers' forms): a
# span with none of them needs no attributes in its view.
_DECODED_KEYS = _dialects.KEYS | {schema.CARRIER}
_DECODED_KEY_PREFIXES = _dialects.KEY_PREFIXES + (schema.OPENINFERENCE_ANNOTATION_PREFIX,)
RESOURCE_SPANS_KEYS = ("resourceSpans", "resource_spans")
_SCOPE_SPANS_KEYS = ("scopeSpans", "scope_spans", "instrumentationLibrarySpans", "instrumentation_library_spans")


def span_views(
    document: Mapping[str, Any], resource_spans_keys: Tuple[str, ...] = RESOURCE_SPANS_KEYS, *, placeable_only: bool = False, for_decoder: bool = False
) -> Iterator[SpanView]:
    """The spans of one request (``{"resourceSpans": [...]}``, or ``{"batches": [...]}`` for Tempo).

    ``placeable_only``: leave out the spans :func:`unplaceable_spans` counts. ``for_decoder``:
    views limited to what the decoder reads (see the module's docstring).
    """
    view_of = _decoder_view if for_decoder else _span_view
    for resource_spans in list_of_dicts(document, *resource_spans_keys):
        resource = resource_spans.get("resource")
        resource_attributes = attributes(resource.get("attributes")) if is_mapping(resource) else None
        service_name = resource_attributes.get(_SERVICE_NAME) if resource_attributes is not None else None
        if not isinstance(service_name, str):
            service_name = None
        groups: List[Mapping[str, Any]] = []
        for key in _SCOPE_SPANS_KEYS:
            groups.extend(list_of_dicts(resource_spans, key))
        for group in groups:
            for span in list_of_dicts(group, "spans"):
                if placeable_only and not _placeable(span):
                    continue
                yield view_of(span, service_name, resource_attributes)


def _placeable(item: Any) -> bool:
    return (
        is_mapping(item)
        and hex_id(first(item, "traceId", "trace_id"), TRACE_ID_BYTES) is not None
        and hex_id(first(item, "spanId", "span_id"), SPAN_ID_BYTES) is not None
    )


def unplaceable_spans(document: Any) -> int:
    """How many spans of one OTLP JSON request lack a valid trace id and span id.

    Raises ``ValueError`` for a document that is not a request at all: not an object, or lists
    that are not lists of objects.
    """
    return sum(1 for item in strict_items(document, RESOURCE_SPANS_KEYS, _SCOPE_SPANS_KEYS, ("spans",)) if not _placeable(item))


def strict_items(document: Any, top_keys: Tuple[str, ...], group_keys: Tuple[str, ...], item_keys: Tuple[str, ...]) -> Iterator[Any]:
    """The items (spans, log records) of a request, checking its shape on the way (``ValueError``)."""
    if not is_mapping(document):
        raise ValueError(f"expected an object with {top_keys[0]}")
    for resource in _strict_list(document, top_keys):
        if not is_mapping(resource):
            raise ValueError(f"{top_keys[0]} must hold objects")
        for key in group_keys:
            for group in _strict_list(resource, (key,)):
                if not is_mapping(group):
                    raise ValueError(f"{key} must hold objects")
                yield from _strict_list(group, item_keys)


def _strict_list(parent: Mapping[str, Any], keys: Tuple[str, ...]) -> List[Any]:
    for key in keys:
        if key in parent:
            value = parent[key]
            if value is None:
                return []
            if not isinstance(value, list):
                raise ValueError(f"{key} must be a list")
            return value
    return []


def _span_view(span: Mapping[str, Any], service_name: Optional[str], resource: Optional[Mapping[str, Any]] = None, *, known_events_only: bool = False) -> SpanView:
    name = span.get("name")
    return SpanView(
        trace_id=hex_id(first(span, "traceId", "trace_id"), TRACE_ID_BYTES),
        span_id=hex_id(first(span, "spanId", "span_id"), SPAN_ID_BYTES),
        parent_span_id=hex_id(first(span, "parentSpanId", "parent_span_id"), SPAN_ID_BYTES),
        name=name if isinstance(name, str) else "",
        service_name=service_name,
        start_time_unix_nano=as_int(first(span, "startTimeUnixNano", "start_time_unix_nano")) or 0,
        attributes=attributes(span.get("attributes")),
        events=_events(span.get("events"), known_events_only),
        links=_links(span.get("links")),
        resource=resource,
    )


def _decoder_view(span: Mapping[str, Any], service_name: Optional[str], resource: Optional[Mapping[str, Any]] = None) -> SpanView:
    """:func:`_span_view` limited to what the decoder reads: the same view for a span with an
    attribute the decoder reads, else one without attributes (nor the start and parent they need)."""
    get = span.get
    raw_attributes = get("attributes")
    if _has_decoded_key(raw_attributes):
        return _span_view(span, service_name, resource, known_events_only=True)
    name = get("name")
    return SpanView(
        trace_id=hex_id(first(span, "traceId", "trace_id"), TRACE_ID_BYTES),
        span_id=hex_id(first(span, "spanId", "span_id"), SPAN_ID_BYTES),
        name=name if isinstance(name, str) else "",
        service_name=service_name,
        events=_events(get("events"), known_only=True),
        resource=resource,
    )


def _has_decoded_key(items: Any) -> bool:
    if not isinstance(items, list):
        return False
    for item in items:
        if is_mapping(item):
            key = item.get("key")
            if isinstance(key, str) and (key in _DECODED_KEYS or key.startswith(_DECODED_KEY_PREFIXES)):
                return True
    return False


def _events(items: Any, known_only: bool = False) -> List[EventView]:
    """The events (``known_only``: those of the names the decoder reads) with their attributes."""
    events: List[EventView] = []
    if not isinstance(items, list):
        return events
    for event in items:
        if event.__class__ is not dict and not is_mapping(event):
            continue
        name = event.get("name")
        if known_only and name not in _DECODED_EVENTS:
            continue
        time_unix_nano = as_int(first(event, "timeUnixNano", "time_unix_nano"))
        events.append((name if isinstance(name, str) else "", time_unix_nano or 0, attributes(event.get("attributes"))))
    return events


def _links(items: Any) -> List[LinkView]:
    links: List[LinkView] = []
    if not isinstance(items, list):
        return links
    for link in items:
        if not is_mapping(link):
            continue
        trace_id = hex_id(first(link, "traceId", "trace_id"), TRACE_ID_BYTES)
        span_id = hex_id(first(link, "spanId", "span_id"), SPAN_ID_BYTES)
        if trace_id is not None and span_id is not None:
            links.append((trace_id, span_id))
    return links


def attributes(items: Any) -> Dict[str, Any]:
    """A list of ``{"key": ..., "value": AnyValue}`` as a dict; malformed entries are left out.

    :func:`key_values` with :func:`any_value`, written out: this runs for every attribute of a
    file, and a string value (nearly all of them) is read here without a call.
    """
    decoded: Dict[str, Any] = {}
    if not isinstance(items, list):
        return decoded
    for item in items:
        if item.__class__ is not dict and not is_mapping(item):
            continue
        key = item.get("key")
        if not isinstance(key, str):
            continue
        value = item.get("value")
        if value.__class__ is dict:
            text = value.get("stringValue")
            if text.__class__ is str and len(value) == 1:
                decoded[key] = text
                continue
        decoded[key] = _entry_value(value)
    return decoded


def _entry_value(value: Any) -> Any:
    try:
        return any_value(value)
    except RecursionError:  # arrays nested deeper than Python recurses: not ours, read as no value
        return None


def any_value(value: Any) -> Any:
    """An OTLP JSON ``AnyValue`` (``{"stringValue": ...}``, ``{"int_value": "7"}``, ...) as a plain value."""
    if value.__class__ is not dict and not is_mapping(value):
        return None
    for key, item in value.items():
        decode = _ANY_VALUE_DECODERS.get(key)
        if decode is not None:
            return decode(item)
    return None


def _string(item: Any) -> Optional[str]:
    return item if isinstance(item, str) else None


def _bool(item: Any) -> Optional[bool]:
    return item if isinstance(item, bool) else None


def _array(item: Any) -> List[Any]:
    values = item.get("values") if is_mapping(item) else None
    return [any_value(value) for value in values] if isinstance(values, list) else []


def _kvlist(item: Any) -> Dict[str, Any]:
    return attributes(item.get("values")) if is_mapping(item) else {}


_ANY_VALUE_DECODERS = {
    "stringValue": _string,
    "string_value": _string,
    "boolValue": _bool,
    "bool_value": _bool,
    "intValue": as_int,
    "int_value": as_int,
    "doubleValue": as_float,
    "double_value": as_float,
    "bytesValue": decode_base64,
    "bytes_value": decode_base64,
    "arrayValue": _array,
    "array_value": _array,
    "kvlistValue": _kvlist,
    "kvlist_value": _kvlist,
}
