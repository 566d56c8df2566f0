"""OTLP protobuf (``ExportTraceServiceRequest`` / ``TracesData``) → records, on the hot path.

The receiver runs this for every export, so it does the least it can: it parses with the
generated classes, and when the serialized bytes do not even contain an event name or annotation
prefix the decoder reads, it stops there. Otherwise it walks the events comparing names and hands
each decoded event straight to a :class:`RecordCollector`, without building a view per span: only
the rare span with OpenInference annotations becomes a :class:`SpanView`. Ids of the carrying span
are worked out only for evaluation events from other tools (ours carry their own). Nothing is
converted to dicts wholesale.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from otel_scoring import schema
from otel_scoring.translate import _dialects
from otel_scoring.translate._decode import RecordCollector, is_carrier
from otel_scoring.translate._dialects import has_dialect_key
from otel_scoring.translate._span_view import SpanView
from otel_scoring.translate._translation import Translation, TranslationError

TraceRequest = Union[ExportTraceServiceRequest, TracesData]

_SERVICE_NAME = "service.name"
_CARRIER = schema.CARRIER
_SCORE_EVENT = schema.EVALUATION_RESULT_EVENT
_METADATA_EVENT = schema.METADATA_UPDATE_EVENT
_ANNOTATION_PREFIX = schema.OPENINFERENCE_ANNOTATION_PREFIX
# Strings are stored verbatim in protobuf, so absent bytes mean absent names.
# Scores first: most requests that carry anything carry a score, and any() stops at the first find.
_EVENT_NAME_BYTES = tuple(name.encode("utf-8") for name in (_SCORE_EVENT, _METADATA_EVENT))
_ANNOTATION_PREFIX_BYTES = _ANNOTATION_PREFIX.encode("utf-8")
_SCALAR_KINDS = frozenset(("string_value", "double_value", "int_value", "bool_value", "bytes_value"))


def parse(data: Union[bytes, bytearray, memoryview]) -> ExportTraceServiceRequest:
    """Parse serialized OTLP traces; ``TracesData`` has the same wire layout and parses too."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(bytes(data))
    except (DecodeError, ValueError, TypeError) as exc:
        raise TranslationError(f"not OTLP protobuf trace data ({exc})") from None
    return request


def translate(data: Union[bytes, bytearray, memoryview], request: Optional[TraceRequest] = None, *, placeable_only: bool = False) -> Translation:
    """Records of serialized ``data`` (already parsed into ``request``, when given).

    ``placeable_only``: leave out the spans :func:`unplaceable_spans` counts.
    """
    if request is None:
        request = parse(data)
    raw = data if isinstance(data, bytes) else bytes(data)
    with_events = any(name in raw for name in _EVENT_NAME_BYTES)
    # One search for "annotation" rules out both the annotation prefix and OpenInference's markers.
    annotation_found = _dialects.ANNOTATION_BYTES in raw
    with_annotations = annotation_found and _ANNOTATION_PREFIX_BYTES in raw
    with_dialects = _dialects.may_hold_dialects(raw, annotation_found)
    collector = RecordCollector()
    if with_events or with_annotations or with_dialects:
        _collect(request, collector, with_events=with_events, with_annotations=with_annotations, with_dialects=with_dialects, placeable_only=placeable_only)
    return collector.translation()


_NO_TRACE_ID = bytes(16)
_NO_SPAN_ID = bytes(8)


def _placeable(span: Any) -> bool:
    trace_id = span.trace_id
    span_id = span.span_id
    return len(trace_id) == 16 and len(span_id) == 8 and trace_id != _NO_TRACE_ID and span_id != _NO_SPAN_ID


def unplaceable_spans(request: TraceRequest) -> int:
    """How many spans lack a valid trace id and span id (16 and 8 bytes, not all zero)."""
    return sum(1 for resource_spans in request.resource_spans for scope_spans in resource_spans.scope_spans for span in scope_spans.spans if not _placeable(span))


def _collect(
    request: TraceRequest,
    collector: RecordCollector,
    *,
    with_events: bool,
    with_annotations: bool,
    with_dialects: bool = False,
    placeable_only: bool = False,
) -> None:
    """Hand every decoded event (and, when present, annotation) of ``request`` to ``collector``.

    Span attributes are read only when annotations may be present. Carrier spans are still known
    by their name (the decoder checks the name as well as the flag attribute). A span with an
    attribute of another producer's form (``with_dialects``) goes to the collector as a whole view.
    """
    add_score_event = collector.add_score_event
    add_metadata_event = collector.add_metadata_event
    for resource_spans in request.resource_spans:
        service_name: Optional[str] = None
        service_name_read = False
        collector.resource = None  # read with the service name, the first time an event needs it
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if placeable_only and not _placeable(span):
                    continue
                if with_dialects and any(has_dialect_key(kv.key) for kv in span.attributes):
                    if not service_name_read:
                        service_name = service_name_of(resource_spans.resource)
                        service_name_read = True
                    collector.add_view(_full_view(span, service_name))
                    continue
                attributes = _decoded_attributes(span) if with_annotations else None
                span_name: Optional[str] = None
                span_name_read = False
                if with_events:
                    for event in span.events:
                        event_name = event.name
                        if event_name != _SCORE_EVENT and event_name != _METADATA_EVENT:
                            continue
                        if not span_name_read:
                            name = span.name
                            span_name = None if is_carrier(name, attributes) else name
                            span_name_read = True
                        if not service_name_read:
                            service_name = service_name_of(resource_spans.resource)
                            collector.resource = attribute_dict(resource_spans.resource.attributes)
                            service_name_read = True
                        if event_name == _SCORE_EVENT:
                            add_score_event(event.time_unix_nano, attribute_dict(event.attributes), service_name, span_name, span, _span_ids)
                        else:
                            add_metadata_event(event.time_unix_nano, attribute_dict(event.attributes), service_name, span_name)
                if attributes is not None and _has_annotations(attributes):
                    if not service_name_read:
                        service_name = service_name_of(resource_spans.resource)
                        collector.resource = attribute_dict(resource_spans.resource.attributes)
                        service_name_read = True
                    name = span.name
                    trace_id, span_id = _span_ids(span)
                    view = SpanView(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=_hex(span.parent_span_id, 8),
                        name=name,
                        service_name=service_name,
                        start_time_unix_nano=span.start_time_unix_nano,
                        attributes=attributes,
                    )
                    collector.add_annotations(view, None if is_carrier(name, attributes) else name)


def _full_view(span: Any, service_name: Optional[str]) -> SpanView:
    trace_id, span_id = _span_ids(span)
    return SpanView(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=_hex(span.parent_span_id, 8),
        name=span.name,
        service_name=service_name,
        start_time_unix_nano=span.start_time_unix_nano,
        attributes={kv.key: any_value(kv.value) for kv in span.attributes},
        events=[(event.name, event.time_unix_nano, attribute_dict(event.attributes)) for event in span.events],
    )


def _span_ids(span: Any) -> Tuple[Optional[str], Optional[str]]:
    return _hex(span.trace_id, 16), _hex(span.span_id, 8)


def attribute_dict(key_values: Any) -> Dict[str, Any]:
    """Repeated ``KeyValue`` as a dict; scalars (all the schema writes) without a recursive call.

    Nearly every value the decoder reads is a string: a non-empty ``string_value`` can only mean
    the oneof holds a string, so one field read replaces ``WhichOneof`` and a ``getattr``.
    """
    decoded = {}
    for kv in key_values:
        value = kv.value
        text = value.string_value
        if text:
            decoded[kv.key] = text
        else:
            kind = value.WhichOneof("value")
            decoded[kv.key] = getattr(value, kind) if kind in _SCALAR_KINDS else any_value(value)
    return decoded


def _decoded_attributes(span: Any) -> Optional[Dict[str, Any]]:
    found = None
    for kv in span.attributes:
        key = kv.key
        if key == _CARRIER or key.startswith(_ANNOTATION_PREFIX):
            if found is None:
                found = {}
            found[key] = any_value(kv.value)
    return found


def _hex(raw: bytes, size: int) -> Optional[str]:
    return raw.hex() if len(raw) == size and any(raw) else None


def _has_annotations(attributes: Optional[Dict[str, Any]]) -> bool:
    return attributes is not None and any(key != _CARRIER for key in attributes)


def service_name_of(resource: Any) -> Optional[str]:
    for kv in resource.attributes:
        if kv.key == _SERVICE_NAME:
            value = any_value(kv.value)
            return value if isinstance(value, str) else None
    return None


def any_value(value: AnyValue) -> Any:
    """A protobuf ``AnyValue`` as a plain Python value (None when unset)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "double_value":
        return value.double_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "bytes_value":
        return value.bytes_value
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return None
