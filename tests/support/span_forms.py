"""Every form a trace takes after export, built from real SDK spans the way each tool writes it.

The builders here are shared by the translator tests (``test_translate.py``, ``test_roundtrip.py``):
OTLP protobuf through the SDK's own encoder, OTLP JSON as the Collector's file exporter writes it
(hex ids, integer enums), protobuf's JSON mapping (base64 ids, enum names, either key spelling),
Jaeger's legacy answer (the shape of the fixtures in ``tests/fixtures/jaeger``: typed tags, logs,
microsecond times, processes), Jaeger ``/api/v3`` and Tempo's two answers. ``test_translate_forms.py``
checks the builders against the real shapes, so the round-trip tests test the translator against
what backends really return.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Sequence

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

JAEGER_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jaeger"

_JAVASCRIPT_SAFE_INTEGER = 2**53 - 1
_SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def fixture(name: str) -> Any:
    return json.loads((JAEGER_FIXTURES / name).read_text(encoding="utf-8"))


# --- OTLP ----------------------------------------------------------------------------------------


def otlp_request(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    return encode_spans(spans)


def otlp_proto(spans: Sequence[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializeToString()


def collector_json(spans: Sequence[ReadableSpan]) -> Dict[str, Any]:
    """OTLP JSON as the Collector's file exporter writes one request: hex ids, integer enums."""
    document = MessageToDict(otlp_request(spans), use_integers_for_enums=True)
    for span in otlp_spans(document, "resourceSpans", "scopeSpans"):
        _ids_to_hex(span, ("traceId", "spanId", "parentSpanId"))
        for link in span.get("links", []):
            _ids_to_hex(link, ("traceId", "spanId"))
    return document


def collector_json_lines(*requests: Mapping[str, Any]) -> str:
    return "".join(json.dumps(request, separators=(",", ":")) + "\n" for request in requests)


def protobuf_json(spans: Sequence[ReadableSpan], *, snake_case: bool = False) -> Dict[str, Any]:
    """protobuf's own JSON mapping: base64 ids, enum names; snake_case keys when asked."""
    return MessageToDict(otlp_request(spans), preserving_proto_field_name=snake_case)


def otlp_spans(document: Mapping[str, Any], resource_key: str, scope_key: str) -> List[Dict[str, Any]]:
    return [span for resource in document.get(resource_key, []) for scope in resource.get(scope_key, []) for span in scope.get("spans", [])]


def _ids_to_hex(item: Dict[str, Any], keys: Sequence[str]) -> None:
    for key in keys:
        if key in item:
            item[key] = base64.b64decode(item[key]).hex()


# --- Jaeger ---------------------------------------------------------------------------------------


def jaeger_v3(spans: Sequence[ReadableSpan]) -> Dict[str, Any]:
    """``GET /api/v3/traces/{id}``: Collector-style OTLP JSON wrapped in ``result``."""
    return {"result": collector_json(spans)}


def jaeger_legacy(spans: Sequence[ReadableSpan]) -> Dict[str, Any]:
    """``GET /api/traces/{id}`` as Jaeger converts OTLP: one trace object per trace id."""
    request = otlp_request(spans)
    traces: Dict[str, Dict[str, Any]] = {}
    for process_number, resource_spans in enumerate(request.resource_spans, start=1):
        process_id = f"p{process_number}"
        resource = {kv.key: _plain(kv.value) for kv in resource_spans.resource.attributes}
        process = {"serviceName": resource.pop("service.name", "unknown_service"), "tags": [_tag(k, v) for k, v in resource.items()]}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                trace_id = span.trace_id.hex()
                trace = traces.setdefault(trace_id, {"traceID": trace_id, "spans": [], "processes": {}, "warnings": None})
                trace["processes"][process_id] = process
                trace["spans"].append(_jaeger_span(span, scope_spans.scope.name, process_id))
    return {"data": list(traces.values()), "total": 0, "limit": 0, "offset": 0, "errors": None}


def _jaeger_span(span: Any, scope_name: str, process_id: str) -> Dict[str, Any]:
    references = []
    if span.parent_span_id:
        references.append({"refType": "CHILD_OF", "traceID": span.trace_id.hex(), "spanID": span.parent_span_id.hex()})
    for link in span.links:
        references.append({"refType": "FOLLOWS_FROM", "traceID": link.trace_id.hex(), "spanID": link.span_id.hex()})
    tags = [_tag("otel.scope.name", scope_name), _tag("span.kind", _SPAN_KINDS.get(span.kind, "unspecified"))]
    tags.extend(_tag(kv.key, _plain(kv.value)) for kv in span.attributes)
    logs = []
    for event in span.events:
        fields = [_tag("event", event.name)] + [_tag(kv.key, _plain(kv.value)) for kv in event.attributes]
        logs.append({"timestamp": event.time_unix_nano // 1000, "fields": fields})
    start_micros = span.start_time_unix_nano // 1000
    return {
        "traceID": span.trace_id.hex(),
        "spanID": span.span_id.hex(),
        "operationName": span.name,
        "references": references,
        "startTime": start_micros,
        "duration": span.end_time_unix_nano // 1000 - start_micros,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": None,
    }


def _plain(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _tag(key: str, value: Any) -> Dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        # Beyond JavaScript's safe integers Jaeger's UI model writes int64 as a string.
        return {"key": key, "type": "int64", "value": value if abs(value) <= _JAVASCRIPT_SAFE_INTEGER else str(value)}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return {"key": key, "type": "string", "value": json.dumps(value)}
    return {"key": key, "type": "string", "value": value}


# --- Tempo ----------------------------------------------------------------------------------------


def tempo_v1(spans: Sequence[ReadableSpan], *, instrumentation_library: bool = False) -> Dict[str, Any]:
    """``GET /api/traces/{id}``: resource spans under ``batches``, base64 ids, enum names.

    Tempo before 2.0 wrote ``instrumentationLibrarySpans``/``instrumentationLibrary`` for
    ``scopeSpans``/``scope``.
    """
    batches = MessageToDict(otlp_request(spans)).get("resourceSpans", [])
    if instrumentation_library:
        for batch in batches:
            groups = batch.pop("scopeSpans", [])
            for group in groups:
                if "scope" in group:
                    group["instrumentationLibrary"] = group.pop("scope")
            batch["instrumentationLibrarySpans"] = groups
    return {"batches": batches}


def tempo_v2(spans: Sequence[ReadableSpan]) -> Dict[str, Any]:
    """``GET /api/v2/traces/{id}``: the trace under ``trace``, with the query's status."""
    return {"trace": MessageToDict(otlp_request(spans)), "status": "COMPLETE"}


# --- Every form at once ----------------------------------------------------------------------------


def every_form(spans: Sequence[ReadableSpan]) -> Dict[str, Callable[[], Any]]:
    """Each form's name → a function translating ``spans`` from that form (imports kept lazy)."""
    from otel_scoring import translate

    return {
        "sdk": lambda: translate.records_from_spans(spans),
        "otlp-proto": lambda: translate.records_from_otlp_proto(otlp_proto(spans)),
        "otlp-proto-message": lambda: translate.records_from_otlp_proto(otlp_request(spans)),
        "otlp-json-collector": lambda: translate.records_from_otlp_json(json.dumps(collector_json(spans))),
        "otlp-json-lines": lambda: translate.records_from_otlp_json(collector_json_lines(collector_json(spans[:1]), collector_json(spans[1:]))),
        "otlp-json-protobuf-mapping": lambda: translate.records_from_otlp_json(json.dumps(protobuf_json(spans))),
        "otlp-json-snake-case": lambda: translate.records_from_otlp_json(protobuf_json(spans, snake_case=True)),
        "jaeger-legacy": lambda: translate.records_from_jaeger(json.dumps(jaeger_legacy(spans))),
        "jaeger-v3": lambda: translate.records_from_jaeger(json.dumps(jaeger_v3(spans)).encode()),
        "tempo-v1": lambda: translate.records_from_tempo(json.dumps(tempo_v1(spans))),
        "tempo-v1-instrumentation-library": lambda: translate.records_from_tempo(tempo_v1(spans, instrumentation_library=True)),
        "tempo-v2": lambda: translate.records_from_tempo(json.dumps(tempo_v2(spans))),
        "document-proto": lambda: translate.records_from_document(otlp_proto(spans)),
        "document-jaeger": lambda: translate.records_from_document(json.dumps(jaeger_legacy(spans))),
        "document-tempo": lambda: translate.records_from_document(json.dumps(tempo_v1(spans)).encode()),
        "document-collector-lines": lambda: translate.records_from_document(collector_json_lines(collector_json(spans))),
    }
