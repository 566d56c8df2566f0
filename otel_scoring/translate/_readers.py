"""The public translator functions: one per input form, one that detects the form, one for files.

Each reads its input into span views and hands them to :func:`._decode.decode`. Only the top
level can fail (:class:`TranslationError`): input that is neither JSON nor OTLP protobuf, JSON of no
known shape, or a backend's error answer.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Union

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from otel_scoring.translate import _jaeger, _otlp_json, _otlp_proto, _sdk
from otel_scoring.translate._decode import decode
from otel_scoring.translate._span_view import SpanView
from otel_scoring.translate._translation import Translation, TranslationError

_logger = logging.getLogger(__name__)

JsonInput = Union[str, bytes, bytearray, Mapping[str, Any]]
ProtoInput = Union[bytes, bytearray, memoryview, ExportTraceServiceRequest, TracesData]
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
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _otlp_proto.translate(data)
    raise TranslationError(f"expected OTLP protobuf bytes or a parsed request, not {type(data).__name__}")


def records_from_parsed_otlp_proto(data: bytes, request: ExportTraceServiceRequest) -> Translation:
    """Records from serialized OTLP ``data`` that the caller has already parsed into ``request``.

    For the receiver, which parses each export itself to check it: neither parsing again nor
    serializing again is needed. ``request`` must be exactly what ``data`` parses to.
    """
    return _otlp_proto.translate(data, request)


def records_from_otlp_json(document: JsonInput) -> Translation:
    """Records from OTLP JSON: one request, or one request per line (a Collector file export)."""
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
    request = _otlp_proto.parse(document)
    if not request.resource_spans:
        # Protobuf parses much garbage as unknown fields; trace data has resource spans.
        raise TranslationError("not trace data: neither JSON nor OTLP protobuf with spans")
    return _otlp_proto.translate(document, request)


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


def _views(values: List[Any], views_of: Callable[[Any], Iterator[SpanView]]) -> Iterator[SpanView]:
    # Shapes are checked for every value before any is decoded, so a bad document raises whole.
    return itertools.chain.from_iterable([views_of(value) for value in values])


def _is_otlp(value: Mapping[str, Any]) -> bool:
    return any(key in value for key in _otlp_json.RESOURCE_SPANS_KEYS) or not value


def _otlp_json_views(value: Any) -> Iterator[SpanView]:
    if isinstance(value, Mapping) and _is_otlp(value):
        return _otlp_json.span_views(value)
    if isinstance(value, list):  # an array of requests
        return itertools.chain.from_iterable([_otlp_json_views(item) for item in value])
    raise TranslationError(f"not OTLP JSON: expected an object with resourceSpans, got {_describe(value)}")


def _jaeger_views(value: Any) -> Iterator[SpanView]:
    if isinstance(value, list):
        return itertools.chain.from_iterable([_jaeger_views(item) for item in value])
    if not isinstance(value, Mapping):
        raise TranslationError(f"not a Jaeger answer: got {_describe(value)}")
    if "result" in value:  # /api/v3: OTLP JSON wrapped in {"result": ...}
        result = value.get("result")
        if isinstance(result, Mapping) and _is_otlp(result):
            return _otlp_json.span_views(result)
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


def _tempo_views(value: Any) -> Iterator[SpanView]:
    if isinstance(value, Mapping):
        if "trace" in value:  # /api/v2/traces: {"trace": {...}, "status": ...}
            trace = value.get("trace")
            if trace is None or (isinstance(trace, Mapping) and not trace):
                return iter(())
            if isinstance(trace, Mapping) and ("batches" in trace or _is_otlp(trace)):
                return _tempo_views(trace)
            raise TranslationError("not a Tempo /api/v2 answer: trace holds no resourceSpans")
        if "batches" in value:  # /api/traces: {"batches": [...]}
            return _otlp_json.span_views(value, _TEMPO_BATCHES_KEYS)
        if _is_otlp(value):  # Tempo with Accept: application/json may answer plain OTLP JSON
            return _otlp_json.span_views(value)
    raise TranslationError(f"not a Tempo answer: expected batches or trace, got {_describe(value)}")


def _any_views(value: Any) -> Iterator[SpanView]:
    if isinstance(value, list):
        return itertools.chain.from_iterable([_any_views(item) for item in value])
    if isinstance(value, Mapping):
        if _is_otlp(value):
            return _otlp_json.span_views(value)
        if "batches" in value or "trace" in value:
            return _tempo_views(value)
        return _jaeger_views(value)
    raise TranslationError(f"not trace data: got {_describe(value)}")


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(sorted(str(key) for key in value)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(value).__name__}"
