"""The public translator functions: one per input form, one that detects the form, one for files,
and one for the body of an export as the receiver gets it.

Each reads its input into span views and hands them to :func:`._decode.decode`. Only the top
level can fail (:class:`TranslationError`): input that is neither JSON nor OTLP protobuf, JSON of no
known shape, or a backend's error answer.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Union

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from otel_scoring.translate import _jaeger, _otlp_json, _otlp_logs, _otlp_proto, _sdk
from otel_scoring.translate._decode import decode
from otel_scoring.translate._span_view import LogView, SpanView
from otel_scoring.translate._translation import Export, Translation, TranslationError

_logger = logging.getLogger(__name__)

JsonInput = Union[str, bytes, bytearray, Mapping[str, Any]]
ProtoInput = Union[bytes, bytearray, memoryview, ExportTraceServiceRequest, TracesData, ExportLogsServiceRequest, LogsData]
LogsProtoInput = Union[bytes, bytearray, memoryview, ExportLogsServiceRequest, LogsData]
View = Union[SpanView, LogView]

TRACES = "traces"
LOGS = "logs"
SIGNALS = (TRACES, LOGS)
PathInput = Union[str, "os.PathLike[str]"]

_TEMPO_BATCHES_KEYS = ("batches",)


def records_from_spans(spans: Iterable[Any]) -> Translation:
    """Records from SDK ``ReadableSpan`` objects, e.g. what an ``InMemorySpanExporter`` holds."""
    return decode(_sdk.span_views(spans))


def records_from_otlp_proto(data: ProtoInput) -> Translation:
    """Records from an OTLP ``ExportTraceServiceRequest`` or ``TracesData``, parsed or serialized.

    Serialized bytes are the fastest input: a parsed request is serialized again to look for the
    names the decoder reads before walking its spans.
    """
    if isinstance(data, (ExportTraceServiceRequest, TracesData)):
        # Serializing (C speed) to look for our names is cheaper than reading every span's attributes.
        return _otlp_proto.translate(data.SerializeToString(), data)
    if isinstance(data, (ExportLogsServiceRequest, LogsData)):
        return records_from_otlp_logs(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _otlp_proto.translate(data)
    raise TranslationError(f"expected OTLP protobuf bytes or a parsed request, not {type(data).__name__}")


def records_from_otlp_logs(data: LogsProtoInput) -> Translation:
    """Records from OTLP logs: an ``ExportLogsServiceRequest`` or ``LogsData``, parsed or serialized.

    Log records whose event name is ``gen_ai.evaluation.result`` or ``otel_scoring.metadata.update``
    (log-based events) are read; other log records are passed over.
    """
    if isinstance(data, (ExportLogsServiceRequest, LogsData)):
        return decode(_otlp_logs.proto_views(data))
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        return decode(_otlp_logs.proto_views(_otlp_logs.parse(raw), raw))
    raise TranslationError(f"expected OTLP protobuf logs bytes or a parsed request, not {type(data).__name__}")


def records_from_export(data: Union[bytes, bytearray, memoryview], *, signal: str = TRACES, encoding: str = "protobuf") -> Export:
    """Records from the body of one OTLP export (``signal`` ``"traces"`` or ``"logs"``; ``encoding``
    ``"protobuf"`` or ``"json"``), and how many of its items OTLP's partial success must reject.

    This is the rule the receiver applies: a span without a valid trace id and span id (16 and 8
    bytes, not all zero) cannot be placed in any trace, so it is rejected and none of its records
    read; a log record whose trace id or span id is present but malformed likewise (log records
    need no ids). A body that is not an export of ``signal`` at all raises :class:`TranslationError`.
    """
    raw = bytes(data)
    if encoding == "protobuf":
        if signal == LOGS:
            request = _otlp_logs.parse(raw)
            rejected = _otlp_logs.malformed_proto_records(request)
            return Export(decode(_otlp_logs.proto_views(request, raw, placeable_only=bool(rejected))), rejected)
        trace_request = _otlp_proto.parse(raw)
        rejected = _otlp_proto.unplaceable_spans(trace_request)
        return Export(_otlp_proto.translate(raw, trace_request, placeable_only=bool(rejected)), rejected)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise TranslationError(f"not JSON ({exc})") from None
    try:
        if signal == LOGS:
            rejected = _otlp_logs.malformed_json_records(document)
            return Export(decode(_otlp_logs.json_views(document, placeable_only=bool(rejected))), rejected)
        rejected = _otlp_json.unplaceable_spans(document)
        return Export(decode(_otlp_json.span_views(document, placeable_only=bool(rejected), for_decoder=True)), rejected)
    except (ValueError, RecursionError) as exc:
        raise TranslationError(f"not an OTLP JSON {signal} request ({exc})") from None


def records_from_parsed_otlp_proto(data: bytes, request: ExportTraceServiceRequest) -> Translation:
    """Records from serialized OTLP ``data`` that the caller has already parsed into ``request``.

    For the receiver, which parses each export itself to check it: neither parsing again nor
    serializing again is needed. ``request`` must be exactly what ``data`` parses to.
    """
    return _otlp_proto.translate(data, request)


def records_from_otlp_json(document: JsonInput) -> Translation:
    """Records from OTLP JSON: one request, or one request per line (a Collector file export).

    Traces requests (``resourceSpans``) and logs requests (``resourceLogs``) are both read.
    """
    return decode(_views(_json_values(document), _otlp_json_views))


def records_from_jaeger(document: JsonInput) -> Translation:
    """Records from a Jaeger answer: legacy ``/api/traces/{id}`` (or one trace of it) or ``/api/v3/traces/{id}``."""
    return decode(_views(_json_values(document), _jaeger_views))


def records_from_tempo(document: JsonInput) -> Translation:
    """Records from a Tempo answer: ``/api/traces/{id}`` (``batches``) or ``/api/v2/traces/{id}`` (``trace``)."""
    return decode(_views(_json_values(document), _tempo_views))


def records_from_document(document: Union[str, bytes, bytearray]) -> Translation:
    """Records from any of the forms above, detected from the content.

    Bytes that do not start like JSON are read as serialized OTLP protobuf.
    """
    if isinstance(document, (bytes, bytearray)):
        if not document.strip():
            raise TranslationError("empty document")
        if document[:1] == b"\n":
            # A protobuf request starts with 0x0a, a newline, and the length after it may read as
            # "{" or "[": try protobuf first (JSON text fails to parse as a request with spans).
            try:
                return _records_from_proto_document(document)
            except TranslationError:
                pass
        start = bytes(document[:64]).lstrip(b"\xef\xbb\xbf \t\r\n")
        if start[:1] not in (b"{", b"["):
            return _records_from_proto_document(document)
    elif not isinstance(document, str):
        raise TranslationError(f"expected text or bytes, not {type(document).__name__}")
    elif not document.strip():
        raise TranslationError("empty document")
    return decode(_views(_json_values(document), _any_views))


def _records_from_proto_document(document: Union[bytes, bytearray]) -> Translation:
    # Traces and logs requests both keep their resources in field 1, so either parses as the other
    # (mismatched fields become unknown ones): spans with a trace id say traces, log records logs.
    try:
        request: Optional[ExportTraceServiceRequest] = _otlp_proto.parse(document)
    except TranslationError:
        request = None
    if request is not None and _has_trace_ids(request):
        return _otlp_proto.translate(document, request)
    try:
        logs = _otlp_logs.parse(document)
    except TranslationError:
        logs = None
    if logs is not None and any(scope.log_records for resource in logs.resource_logs for scope in resource.scope_logs):
        raw = bytes(document)
        return decode(_otlp_logs.proto_views(logs, raw))
    if request is not None and request.resource_spans:
        return _otlp_proto.translate(document, request)
    # Protobuf parses much garbage as unknown fields; trace data has resource spans.
    raise TranslationError("not trace data: neither JSON nor OTLP protobuf with spans or log records")


def _has_trace_ids(request: ExportTraceServiceRequest) -> bool:
    return any(len(span.trace_id) == 16 for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans)


def records_from_file(path: PathInput) -> Translation:
    """Records from a file of any form: JSON, JSON lines, or binary OTLP protobuf."""
    with open(path, "rb") as file:
        data = file.read()
    try:
        return records_from_document(data)
    except TranslationError as error:
        raise TranslationError(f"{os.fspath(path)}: {error}") from None


# --- JSON values and their shapes ------------------------------------------------------------------


def _json_values(document: JsonInput) -> List[Any]:
    """The JSON values in ``document``: one value, or one per line (JSON lines)."""
    if isinstance(document, Mapping):
        return [document]
    if isinstance(document, (bytes, bytearray)):
        try:
            text = bytes(document).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TranslationError(f"not UTF-8 JSON ({exc.reason} at byte {exc.start})") from None
    elif isinstance(document, str):
        text = document.lstrip("\ufeff")
    else:
        raise TranslationError(f"expected JSON text, bytes or a dict, not {type(document).__name__}")
    try:
        return [json.loads(text)]
    except RecursionError:
        raise TranslationError("JSON nested too deeply") from None
    except ValueError as whole_error:
        values, malformed = [], 0
        for line in text.splitlines():
            if line.strip():
                try:
                    values.append(json.loads(line))
                except (ValueError, RecursionError):
                    malformed += 1
        if not values:
            raise TranslationError(f"not JSON ({whole_error})") from None
        if malformed:
            # A file exporter's last line can be cut short while it is written; read the rest.
            _logger.warning("Skipped %d malformed JSON line(s) of %d.", malformed, malformed + len(values))
        return values


def _views(values: List[Any], views_of: Callable[[Any], Iterator[View]]) -> Iterator[View]:
    # Shapes are checked for every value before any is decoded, so a bad document raises whole.
    return itertools.chain.from_iterable([views_of(value) for value in values])


def _is_otlp(value: Mapping[str, Any]) -> bool:
    return any(key in value for key in _otlp_json.RESOURCE_SPANS_KEYS) or not value


def _otlp_views(value: Mapping[str, Any]) -> Iterator[View]:
    """A traces request's span views, a logs request's log views (a Collector file may hold both)."""
    if _otlp_logs.is_logs_document(value):
        logs: Iterator[View] = _otlp_logs.json_views(value)
        return itertools.chain(logs, _otlp_json.span_views(value, for_decoder=True)) if any(key in value for key in _otlp_json.RESOURCE_SPANS_KEYS) else logs
    return _otlp_json.span_views(value, for_decoder=True)


def _otlp_json_views(value: Any) -> Iterator[View]:
    if isinstance(value, Mapping) and (_is_otlp(value) or _otlp_logs.is_logs_document(value)):
        return _otlp_views(value)
    if isinstance(value, list):  # an array of requests
        return itertools.chain.from_iterable([_otlp_json_views(item) for item in value])
    raise TranslationError(f"not OTLP JSON: expected an object with resourceSpans or resourceLogs, got {_describe(value)}")


def _jaeger_views(value: Any) -> Iterator[View]:
    if isinstance(value, list):
        return itertools.chain.from_iterable([_jaeger_views(item) for item in value])
    if not isinstance(value, Mapping):
        raise TranslationError(f"not a Jaeger answer: got {_describe(value)}")
    if "result" in value:  # /api/v3: OTLP JSON wrapped in {"result": ...}
        result = value.get("result")
        if isinstance(result, Mapping) and _is_otlp(result):
            return _otlp_json.span_views(result, for_decoder=True)
        raise TranslationError("not a Jaeger /api/v3 answer: result holds no resourceSpans")
    data = value.get("data")
    if isinstance(data, list):  # /api/traces: {"data": [trace, ...], "errors": ...}
        return itertools.chain.from_iterable(_jaeger.span_views(trace) for trace in data if isinstance(trace, Mapping))
    if isinstance(value.get("spans"), list):  # one trace object
        return _jaeger.span_views(value)
    message = _jaeger.error_message(value)
    if message is not None:
        raise TranslationError(f"Jaeger answered with an error: {message}")
    raise TranslationError(f"not a Jaeger answer: expected data, spans or result, got {_describe(value)}")


def _tempo_views(value: Any) -> Iterator[View]:
    if isinstance(value, Mapping):
        if "trace" in value:  # /api/v2/traces: {"trace": {...}, "status": ...}
            trace = value.get("trace")
            if trace is None or (isinstance(trace, Mapping) and not trace):
                return iter(())
            if isinstance(trace, Mapping) and ("batches" in trace or _is_otlp(trace)):
                return _tempo_views(trace)
            raise TranslationError("not a Tempo /api/v2 answer: trace holds no resourceSpans")
        if "batches" in value:  # /api/traces: {"batches": [...]}
            return _otlp_json.span_views(value, _TEMPO_BATCHES_KEYS, for_decoder=True)
        if _is_otlp(value):  # Tempo with Accept: application/json may answer plain OTLP JSON
            return _otlp_json.span_views(value, for_decoder=True)
    raise TranslationError(f"not a Tempo answer: expected batches or trace, got {_describe(value)}")


def _any_views(value: Any) -> Iterator[View]:
    if isinstance(value, list):
        return itertools.chain.from_iterable([_any_views(item) for item in value])
    if isinstance(value, Mapping):
        if _is_otlp(value) or _otlp_logs.is_logs_document(value):
            return _otlp_views(value)
        if "batches" in value or "trace" in value:
            return _tempo_views(value)
        return _jaeger_views(value)
    raise TranslationError(f"not trace data: got {_describe(value)}")


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(sorted(str(key) for key in value)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(value).__name__}"
