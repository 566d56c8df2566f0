"""Jaeger's legacy JSON (``GET /api/traces/{id}``, the UI's model) → span views.

Jaeger turns an OTLP span into: ``operationName``, typed ``tags`` for attributes, ``logs`` for
events (the event name in a field called ``event``, the attributes as the other fields), times in
microseconds, the parent as a ``CHILD_OF`` reference, links as further references, and the resource
as a ``process`` (shared through ``processes`` and ``processID``) whose ``serviceName`` is the
resource's ``service.name``. ``/api/v3`` answers in OTLP JSON instead (see :mod:`._otlp_json`).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional

from otel_scoring.translate._span_view import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    EventView,
    LinkView,
    SpanView,
    as_float,
    as_int,
    decode_base64,
    key_values,
    list_of_dicts,
    padded_hex_id,
)

# The log field Jaeger's OTLP translator writes the event name into.
EVENT_NAME_FIELD = "event"
_NANOS_PER_MICRO = 1000


def span_views(trace: Mapping[str, Any]) -> Iterator[SpanView]:
    """The spans of one trace object (an item of ``data`` in a ``/api/traces`` answer)."""
    processes = trace.get("processes")
    if not isinstance(processes, Mapping):
        processes = {}
    for span in list_of_dicts(trace, "spans"):
        yield _span_view(span, processes)


def _span_view(span: Mapping[str, Any], processes: Mapping[str, Any]) -> SpanView:
    trace_id = padded_hex_id(span.get("traceID"), TRACE_ID_BYTES)
    parent_span_id = padded_hex_id(span.get("parentSpanID"), SPAN_ID_BYTES)  # older answers name it directly
    links: List[LinkView] = []
    for reference in list_of_dicts(span, "references"):
        ref_trace_id = padded_hex_id(reference.get("traceID"), TRACE_ID_BYTES)
        ref_span_id = padded_hex_id(reference.get("spanID"), SPAN_ID_BYTES)
        if ref_trace_id is None or ref_span_id is None:
            continue
        if parent_span_id is None and reference.get("refType") == "CHILD_OF" and ref_trace_id == trace_id:
            parent_span_id = ref_span_id
        else:
            links.append((ref_trace_id, ref_span_id))
    process = span.get("process")
    if not isinstance(process, Mapping):
        process_id = span.get("processID")
        process = processes.get(process_id) if isinstance(process_id, str) else None
    service_name = process.get("serviceName") if isinstance(process, Mapping) else None
    name = span.get("operationName")
    return SpanView(
        trace_id=trace_id,
        span_id=padded_hex_id(span.get("spanID"), SPAN_ID_BYTES),
        parent_span_id=parent_span_id,
        name=name if isinstance(name, str) else "",
        service_name=service_name if isinstance(service_name, str) else None,
        start_time_unix_nano=(as_int(span.get("startTime")) or 0) * _NANOS_PER_MICRO,
        attributes=tags(span.get("tags")),
        events=_events(span.get("logs")),
        links=links,
        resource=_process_resource(process, service_name),
    )


def _process_resource(process: Any, service_name: Any) -> Optional[Dict[str, Any]]:
    """A Jaeger process is its span's resource: its tags, and its service name as ``service.name``."""
    if not isinstance(process, Mapping):
        return None
    resource = tags(process.get("tags"))
    if isinstance(service_name, str):
        resource["service.name"] = service_name
    return resource


def _events(logs: Any) -> List[EventView]:
    events: List[EventView] = []
    if not isinstance(logs, list):
        return events
    for log in logs:
        if not isinstance(log, Mapping):
            continue
        fields = tags(log.get("fields"))
        name = fields.pop(EVENT_NAME_FIELD, None)
        time_micros = as_int(log.get("timestamp")) or 0
        events.append((name if isinstance(name, str) else "", time_micros * _NANOS_PER_MICRO, fields))
    return events


def tags(items: Any) -> Dict[str, Any]:
    """Typed Jaeger key-values as a dict; a value that does not match its type is left out."""
    return key_values(items, lambda item: _typed_value(item.get("type"), item.get("value")), keep_none=False)


def _typed_value(kind: Any, value: Any) -> Any:
    # int64 arrives as a number, or as a string when it does not fit a JavaScript number.
    if kind == "int64":
        return as_int(value)
    if kind == "float64":
        return as_float(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        return {"true": True, "false": False}.get(value) if isinstance(value, str) else None
    if kind == "binary":
        return decode_base64(value)
    if kind in ("string", None):
        return value if isinstance(value, str) else None
    return value if isinstance(value, (str, int, float, bool)) else None


def error_message(document: Mapping[str, Any]) -> Optional[str]:
    """The error a Jaeger answer without data reports (``errors`` of /api/traces, ``error`` of /api/v3)."""
    errors = document.get("errors")
    if isinstance(errors, list) and errors:
        messages = [str(error.get("msg") or error.get("message") or error) if isinstance(error, Mapping) else str(error) for error in errors]
        return "; ".join(messages)
    error = document.get("error")
    if isinstance(error, Mapping):
        return str(error.get("message") or error)
    return None
