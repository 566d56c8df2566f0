"""The span-form builders the translator tests share (``support.span_forms``) write what the tools write.

Checked against the recorded answers of the real tools, so the round-trip tests test the translator
against what backends really return.
"""

from __future__ import annotations

import base64
import copy
from typing import Any, List, Mapping

from support.span_forms import otlp_spans, collector_json, fixture, jaeger_legacy, tempo_v1, tempo_v2


def _keys(items: List[Mapping[str, Any]]) -> set:
    return {key for item in items for key in item}


def test_jaeger_legacy_builder_writes_the_shape_jaeger_returns(tracer, exporter):
    """A built Jaeger answer has exactly the envelope, span and log keys of Jaeger's own output."""
    with tracer.start_as_current_span("root") as root:
        root.add_event("checkpoint", {"count": 3, "big": 2**60, "ratio": 0.5, "ok": True, "blob": b"\x00\x01"})
        with tracer.start_as_current_span("child"):
            pass
    built = jaeger_legacy(exporter.get_finished_spans())
    real = fixture("transform-legacy-out.json")
    assert set(built) == set(real)
    assert _keys(built["data"]) == _keys(real["data"])
    assert _keys(built["data"][0]["spans"]) == _keys(real["data"][0]["spans"])
    log = next(span for span in built["data"][0]["spans"] if span["logs"])["logs"][0]
    assert set(log) == set(fixture("legacy-api-trace.json")["spans"][0]["logs"][0])
    types = {field["key"]: (field["type"], field["value"]) for field in log["fields"]}
    assert types == {
        "event": ("string", "checkpoint"),
        "count": ("int64", 3),
        "big": ("int64", str(2**60)),
        "ratio": ("float64", 0.5),
        "ok": ("bool", True),
        "blob": ("binary", "AAE="),
    }


def test_collector_json_builder_writes_hex_ids_and_integer_enums(tracer, exporter):
    """Built Collector JSON uses hex ids, integer span kinds and string 64-bit times, as the fixtures do."""
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("child"):
            pass
    document = collector_json(exporter.get_finished_spans())
    child = next(span for span in otlp_spans(document, "resourceSpans", "scopeSpans") if span["name"] == "child")
    real = otlp_spans(fixture("transform-otlp-in.json"), "resourceSpans", "scopeSpans")[0]
    assert len(child["traceId"]) == len(real["traceId"]) == 32 and int(child["traceId"], 16)
    assert len(child["spanId"]) == len(child["parentSpanId"]) == 16
    assert isinstance(child["kind"], int) and isinstance(child["startTimeUnixNano"], str)


def test_tempo_builders_write_base64_ids_and_enum_names(tracer, exporter):
    """Built Tempo answers carry base64 ids and enum names under batches or trace, as Tempo writes them."""
    with tracer.start_as_current_span("root"):
        pass
    spans = exporter.get_finished_spans()
    span = tempo_v1(spans)["batches"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 24 and len(base64.b64decode(span["traceId"])) == 16
    assert span["kind"] == "SPAN_KIND_INTERNAL"
    legacy = tempo_v1(spans, instrumentation_library=True)["batches"][0]
    assert "scopeSpans" not in legacy and legacy["instrumentationLibrarySpans"][0]["instrumentationLibrary"]["name"] == "tests"
    assert list(tempo_v2(spans)["trace"]) == ["resourceSpans"]
    assert copy.deepcopy(tempo_v2(spans)["trace"]["resourceSpans"]) == tempo_v1(spans)["batches"]
