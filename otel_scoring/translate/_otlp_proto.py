"""OTLP protobuf (``ExportTraceServiceRequest`` / ``TracesData``) → span views, on the hot path.

The receiver runs this for every export, so it does the least it can: it parses with the
generated classes, and when the serialized bytes do not even contain an event name or annotation
prefix the decoder reads, it stops there. Otherwise it walks the events comparing names and builds
a view only for spans that carry something, holding only the events and attributes the decoder
reads. Nothing is converted to dicts wholesale.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Union

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from otel_scoring import schema
from otel_scoring.translate._decode import DECODED_EVENT_NAMES
from otel_scoring.translate._span_view import SpanView
from otel_scoring.translate._translation import TranslationError

TraceRequest = Union[ExportTraceServiceRequest, TracesData]

_SERVICE_NAME = "service.name"
_CARRIER = schema.CARRIER
_ANNOTATION_PREFIX = schema.OPENINFERENCE_ANNOTATION_PREFIX
# Strings are stored verbatim in protobuf, so absent bytes mean absent names.
# Scores first: most requests that carry anything carry a score, and any() stops at the first find.
_EVENT_NAME_BYTES = tuple(name.encode("utf-8") for name in (schema.EVALUATION_RESULT_EVENT, schema.METADATA_UPDATE_EVENT))
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


def span_views_from_bytes(data: Union[bytes, bytearray, memoryview], request: Optional[TraceRequest] = None) -> Iterator[SpanView]:
    """Views of the spans in serialized ``data`` (already parsed into ``request``, when given)."""
    if request is None:
        request = parse(data)
    raw = data if isinstance(data, bytes) else bytes(data)
    with_events = any(name in raw for name in _EVENT_NAME_BYTES)
    with_annotations = _ANNOTATION_PREFIX_BYTES in raw
    if not (with_events or with_annotations):
        return iter(())
    return span_views(request, with_events=with_events, with_annotations=with_annotations)


def span_views(request: TraceRequest, *, with_events: bool = True, with_annotations: bool = True) -> Iterator[SpanView]:
    """A view of each span that carries a decoded event or an annotation attribute.

    Span attributes are read only when annotations may be present. Carrier spans are still known
    by their name (the decoder checks the name as well as the flag attribute).
    """
    decoded_names = DECODED_EVENT_NAMES
    for resource_spans in request.resource_spans:
        service_name: Optional[str] = None
        service_name_read = False
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                events: Optional[List[Any]] = None
                if with_events:
                    for event in span.events:
                        name = event.name
                        if name in decoded_names:
                            if events is None:
                                events = []
                            events.append((name, event.time_unix_nano, attribute_dict(event.attributes)))
                if with_annotations:
                    attributes = _decoded_attributes(span)
                    if events is None and not _has_annotations(attributes):
                        continue
                elif events is None:
                    continue
                else:
                    attributes = None
                if not service_name_read:
                    service_name = _service_name(resource_spans.resource)
                    service_name_read = True
                yield SpanView(
                    trace_id=_hex(span.trace_id, 16),
                    span_id=_hex(span.span_id, 8),
                    parent_span_id=_hex(span.parent_span_id, 8),
                    name=span.name,
                    service_name=service_name,
                    start_time_unix_nano=span.start_time_unix_nano,
                    attributes=attributes,
                    events=events or (),
                    links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links] if span.links else (),
                )


def attribute_dict(key_values: Any) -> Dict[str, Any]:
    """Repeated ``KeyValue`` as a dict; scalars (all the schema writes) without a recursive call."""
    decoded = {}
    for kv in key_values:
        value = kv.value
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


def _service_name(resource: Any) -> Optional[str]:
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
