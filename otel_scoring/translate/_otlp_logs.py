"""OTLP logs (``ExportLogsServiceRequest`` / ``LogsData``, protobuf or JSON) → log views.

The GenAI convention's ``gen_ai.evaluation.result`` and our ``otel_scoring.metadata.update`` may
travel as log-based events (OTEP 4430) instead of span events: a log record with that event name,
the event's attributes, and the trace and span id of what it is about. Only records with one of
those names become views; every other log record is passed over. JSON is read in the spellings
:mod:`._otlp_json` reads for traces (camelCase or snake_case keys, hex or base64 ids, 64-bit
integers as strings, ``instrumentationLibraryLogs`` from before scopes).
"""

from __future__ import annotations

from typing import Any, Iterator, List, Mapping, Optional, Union

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData

from otel_scoring import schema
from otel_scoring.translate import _otlp_json
from otel_scoring.translate._otlp_proto import any_value, attribute_dict, service_name_of
from otel_scoring.translate._span_view import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    LogView,
    as_int,
    first,
    hex_id,
    list_of_dicts,
    log_event_name,
    with_body,
)
from otel_scoring.translate._translation import TranslationError

LogsRequest = Union[ExportLogsServiceRequest, LogsData]

RESOURCE_LOGS_KEYS = ("resourceLogs", "resource_logs")
SCOPE_LOGS_KEYS = ("scopeLogs", "scope_logs", "instrumentationLibraryLogs", "instrumentation_library_logs")
LOG_RECORDS_KEYS = ("logRecords", "log_records")
_SERVICE_NAME = "service.name"
_EVENT_NAMES = frozenset((schema.EVALUATION_RESULT_EVENT, schema.METADATA_UPDATE_EVENT))
# Strings are stored verbatim in protobuf, so a request without these bytes holds no such event.
EVENT_NAME_BYTES = tuple(name.encode("utf-8") for name in _EVENT_NAMES)


def parse(data: Union[bytes, bytearray, memoryview]) -> ExportLogsServiceRequest:
    """Parse serialized OTLP logs; ``LogsData`` has the same wire layout and parses too."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(bytes(data))
    except (DecodeError, ValueError, TypeError, RecursionError) as exc:
        raise TranslationError(f"not an OTLP ExportLogsServiceRequest ({exc})") from None
    return request


def _well_formed_proto(record: Any) -> bool:
    trace_id = record.trace_id
    span_id = record.span_id
    return len(trace_id) in (0, TRACE_ID_BYTES) and len(span_id) in (0, SPAN_ID_BYTES) and not (span_id and not trace_id)


def malformed_proto_records(request: LogsRequest) -> int:
    """How many log records carry a trace id or span id of the wrong size (or a span id alone)."""
    return sum(1 for resource in request.resource_logs for scope in resource.scope_logs for record in scope.log_records if not _well_formed_proto(record))


def _well_formed_json(record: Any) -> bool:
    if not isinstance(record, Mapping):
        return False
    trace_id = first(record, "traceId", "trace_id")
    span_id = first(record, "spanId", "span_id")
    trace_ok = not trace_id or hex_id(trace_id, TRACE_ID_BYTES) is not None or _all_zero(trace_id)
    span_ok = not span_id or hex_id(span_id, SPAN_ID_BYTES) is not None or _all_zero(span_id)
    return trace_ok and span_ok and not (span_id and not trace_id)


def _all_zero(value: Any) -> bool:
    return isinstance(value, str) and value.count("0") == len(value)


def malformed_json_records(document: Any) -> int:
    """:func:`malformed_proto_records` for an OTLP JSON request (``ValueError`` for a wrong shape)."""
    return sum(1 for item in _otlp_json.strict_items(document, RESOURCE_LOGS_KEYS, SCOPE_LOGS_KEYS, LOG_RECORDS_KEYS) if not _well_formed_json(item))


def proto_views(request: LogsRequest, raw: Optional[bytes] = None, *, placeable_only: bool = False) -> Iterator[LogView]:
    """The event log records of a parsed request (``raw``: its bytes, to skip one without events).

    ``placeable_only``: leave out the records :func:`malformed_proto_records` counts.
    """
    if raw is not None and not any(name in raw for name in EVENT_NAME_BYTES):
        return
    for resource_logs in request.resource_logs:
        service_name: Optional[str] = None
        service_name_read = False
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if placeable_only and not _well_formed_proto(record):
                    continue
                attributes = attribute_dict(record.attributes)
                event_name = log_event_name(record.event_name, attributes)
                if event_name not in _EVENT_NAMES:
                    continue
                if not service_name_read:
                    service_name = service_name_of(resource_logs.resource)
                    service_name_read = True
                if record.HasField("body"):
                    with_body(attributes, any_value(record.body))
                yield LogView(
                    trace_id=_hex(record.trace_id, TRACE_ID_BYTES),
                    span_id=_hex(record.span_id, SPAN_ID_BYTES),
                    event_name=event_name,
                    time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
                    attributes=attributes,
                    service_name=service_name,
                    batch=request,
                )


def is_logs_document(value: Mapping[str, Any]) -> bool:
    return any(key in value for key in RESOURCE_LOGS_KEYS)


def json_views(document: Mapping[str, Any], *, placeable_only: bool = False) -> Iterator[LogView]:
    """The event log records of one OTLP JSON logs request (``{"resourceLogs": [...]}``).

    ``placeable_only``: leave out the records :func:`malformed_json_records` counts.
    """
    for resource_logs in list_of_dicts(document, *RESOURCE_LOGS_KEYS):
        resource = resource_logs.get("resource")
        service_name = _otlp_json.attributes(resource.get("attributes")).get(_SERVICE_NAME) if isinstance(resource, Mapping) else None
        if not isinstance(service_name, str):
            service_name = None
        groups: List[Mapping[str, Any]] = []
        for key in SCOPE_LOGS_KEYS:
            groups.extend(list_of_dicts(resource_logs, key))
        for group in groups:
            for record in list_of_dicts(group, *LOG_RECORDS_KEYS):
                if placeable_only and not _well_formed_json(record):
                    continue
                attributes = _otlp_json.attributes(record.get("attributes"))
                event_name = log_event_name(first(record, "eventName", "event_name"), attributes)
                if event_name not in _EVENT_NAMES:
                    continue
                with_body(attributes, _otlp_json.any_value(record.get("body")))
                time_unix_nano = as_int(first(record, "timeUnixNano", "time_unix_nano")) or as_int(first(record, "observedTimeUnixNano", "observed_time_unix_nano"))
                yield LogView(
                    trace_id=hex_id(first(record, "traceId", "trace_id"), TRACE_ID_BYTES),
                    span_id=hex_id(first(record, "spanId", "span_id"), SPAN_ID_BYTES),
                    event_name=event_name,
                    time_unix_nano=time_unix_nano or 0,
                    attributes=attributes,
                    service_name=service_name,
                    batch=document,
                )


def _hex(raw: bytes, size: int) -> Optional[str]:
    return raw.hex() if len(raw) == size and any(raw) else None
