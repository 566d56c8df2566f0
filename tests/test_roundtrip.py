"""Any score the core can write reads back as exactly the record it describes, from every form of its trace."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.span_forms import collector_json, jaeger_legacy, otlp_proto, protobuf_json, tempo_v1, tempo_v2

from otel_scoring import ScoreConfig, ScoreConfigRegistry, ScoringSpanProcessor, create_score, metadata
from otel_scoring._model import Scope
from otel_scoring._validation import build_score
from otel_scoring.translate import (
    expected_record,
    records_from_export,
    records_from_jaeger,
    records_from_otlp_json,
    records_from_otlp_logs,
    records_from_otlp_proto,
    records_from_spans,
    records_from_tempo,
)

SERVICE = "roundtrip-service"
SPAN_NAME = "scored-step"

CONFIGS = [
    ScoreConfig(id="tone-v1", name="tone", data_type="CATEGORICAL", categories={"polite": 1, "neutral": 0.5, "rude": 0}),
    ScoreConfig(id="confidence-v1", name="confidence", data_type="NUMERIC", min_value=0, max_value=1),
    ScoreConfig(id="passed-v1", name="passed", data_type="BOOLEAN"),
]

Pipeline = Tuple[Any, InMemorySpanExporter, ScoreConfigRegistry]


class CountingIdGenerator(IdGenerator):
    """Fresh ids for every example: hypothesis reseeds ``random``, which the SDK's default generator uses."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def generate_span_id(self) -> int:
        return next(self._next)

    def generate_trace_id(self) -> int:
        return (next(self._next) << 64) | 0xABCDEF


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """One provider for all examples (hypothesis reruns the test body, not its fixtures)."""
    registry = ScoreConfigRegistry(CONFIGS)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}), id_generator=CountingIdGenerator())
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, score_configs=registry))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("roundtrip"), exporter, registry
    provider.shutdown()


# --- What a caller can pass ------------------------------------------------------------------------

names = st.text(min_size=1, max_size=200).filter(lambda text: text.strip())
short_ids = st.text(min_size=1, max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
numbers = st.integers(min_value=-(2**63), max_value=2**63) | st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def name_value_type(draw: Any) -> Dict[str, Any]:
    """A name, a value and maybe a data type or config that the core accepts together."""
    kind = draw(st.sampled_from(["numeric", "categorical", "boolean", "config"]))
    if kind == "config":
        config = draw(st.sampled_from(CONFIGS))
        if config.name == "tone":
            value: Any = draw(st.sampled_from(sorted(config.categories)))
        elif config.name == "confidence":
            value = draw(st.floats(min_value=0, max_value=1) | st.integers(min_value=0, max_value=1))
        else:
            value = draw(st.booleans() | st.sampled_from([0, 1, 0.0, 1.0]))
        return {"name": config.name, "value": value, "config_id": config.id, "data_type": draw(st.none() | st.just(config.data_type.value))}
    if kind == "numeric":
        return {"name": draw(names), "value": draw(numbers), "data_type": draw(st.sampled_from([None, "NUMERIC", "numeric"]))}
    if kind == "categorical":
        return {"name": draw(names), "value": draw(st.text(min_size=1, max_size=200)), "data_type": draw(st.sampled_from([None, "CATEGORICAL"]))}
    return {"name": draw(names), "value": draw(st.booleans() | st.sampled_from([0, 1])), "data_type": draw(st.sampled_from([None, "BOOLEAN"]))}


scores = st.fixed_dictionaries(
    {
        "score_id": short_ids,
        "comment": st.none() | st.text(max_size=300),
        "metadata": st.none() | json_values,
        "timestamp": st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)),
        "session_id": st.none() | short_ids,
        "dataset_run_id": st.none() | short_ids,
    }
)


def _write_and_export(pipeline: Pipeline, scope: Scope, late: bool, arguments: Dict[str, Any]) -> Tuple[Any, Optional[str], Any]:
    """Write one score through the public API; return the exported spans, carrying span name, Score."""
    tracer, exporter, registry = pipeline
    exporter.clear()
    arguments = {key: value for key, value in arguments.items() if value is not None}
    if scope is Scope.SESSION:
        arguments.setdefault("session_id", "session-1")
        arguments.pop("dataset_run_id", None)
    if scope is Scope.DATASET_RUN:
        arguments.setdefault("dataset_run_id", "run-1")
        arguments.pop("session_id", None)
    trace_id = span_id = None
    with tracer.start_as_current_span(SPAN_NAME) as span:
        context = span.get_span_context()
        if scope in (Scope.SPAN, Scope.TRACE):
            trace_id = context.trace_id
        if scope is Scope.SPAN:
            span_id = context.span_id
        target = {"trace_id": trace_id, "observation_id": span_id}
        if not late:
            create_score(**arguments, **target)
    if late:
        create_score(**arguments, **target)
    score = build_score(
        name=arguments["name"],
        value=arguments["value"],
        scope=scope,
        trace_id=trace_id,
        span_id=span_id,
        session_id=arguments.get("session_id"),
        dataset_run_id=arguments.get("dataset_run_id"),
        score_id=arguments["score_id"],
        data_type=arguments.get("data_type"),
        comment=arguments.get("comment"),
        config_id=arguments.get("config_id"),
        metadata=arguments.get("metadata"),
        timestamp=arguments["timestamp"],
        configs=registry,
    )
    carried_by_its_target = not late and scope in (Scope.SPAN, Scope.TRACE)
    return exporter.get_finished_spans(), SPAN_NAME if carried_by_its_target else None, score


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=name_value_type(), extra=scores, scope=st.sampled_from(list(Scope)), late=st.booleans())
def test_every_writable_score_reads_back_as_its_expected_record(pipeline, value, extra, scope, late):
    """records_from_spans(export(score)) == expected_record(score), and OTLP, Jaeger and Tempo forms agree."""
    spans, span_name, score = _write_and_export(pipeline, scope, late, {**value, **extra})
    expected = expected_record(score, service_name=SERVICE, span_name=span_name)

    translation = records_from_spans(spans)
    assert translation.scores == [expected]
    assert records_from_otlp_proto(otlp_proto(spans)) == translation
    assert records_from_otlp_json(json.dumps(collector_json(spans))) == translation
    assert records_from_otlp_json(protobuf_json(spans, snake_case=True)) == translation
    assert records_from_jaeger(json.dumps(jaeger_legacy(spans))) == translation
    assert records_from_tempo(json.dumps(tempo_v1(spans))) == translation
    assert records_from_tempo(tempo_v2(spans)) == translation


@settings(max_examples=60, deadline=None)
@given(
    updates=st.lists(st.tuples(st.dictionaries(names, json_values, min_size=1, max_size=5), names.filter(lambda kind: "." not in kind)), min_size=1, max_size=3),
    memo_id=names,
)
def test_every_metadata_batch_reads_back_in_every_form(pipeline, updates, memo_id):
    """A batch of metadata updates reads back with its values, kinds and indexes, the same from every form."""
    tracer, exporter, _ = pipeline
    exporter.clear()
    with tracer.start_as_current_span(SPAN_NAME) as span:
        with metadata(memo_id).batch() as batch:
            for values, kind in updates:
                batch.update(values, kind=kind)
        trace_id = format(span.get_span_context().trace_id, "032x")
    spans = exporter.get_finished_spans()
    translation = records_from_spans(spans)
    assert [(record.index, record.kind, record.values) for record in sorted(translation.metadata, key=lambda r: r.index)] == [
        (index, kind, json.loads(json.dumps(values))) for index, (values, kind) in enumerate(updates)
    ]
    assert {(record.memo_id, record.trace_id, record.scope, record.span_name, record.service_name) for record in translation.metadata} == {
        (memo_id, trace_id, "run", SPAN_NAME, SERVICE)
    }
    assert records_from_otlp_proto(otlp_proto(spans)) == translation
    assert records_from_otlp_json(json.dumps(collector_json(spans))) == translation
    assert records_from_jaeger(json.dumps(jaeger_legacy(spans))) == translation
    assert records_from_tempo(json.dumps(tempo_v1(spans))) == translation


# --- Log-based events (configure(events="logs")) ---------------------------------------------------------


@pytest.fixture(scope="module")
def logs_pipeline() -> Iterator[Tuple[Any, InMemoryLogRecordExporter, ScoreConfigRegistry]]:
    """A provider whose processor records log-based events only (created after ``pipeline``'s tests ran)."""
    registry = ScoreConfigRegistry(CONFIGS)
    log_exporter = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": SERVICE}))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}), id_generator=CountingIdGenerator())
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, score_configs=registry, events="logs", logger_provider=logger_provider))
    yield provider.get_tracer("roundtrip"), log_exporter, registry
    provider.shutdown()
    logger_provider.shutdown()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=name_value_type(), extra=scores, scope=st.sampled_from(list(Scope)), late=st.booleans())
def test_every_writable_score_reads_back_from_its_log_based_event(logs_pipeline, value, extra, scope, late):
    """With events="logs", a score is one log record that reads back as expected_record(score), the very record its span event gives (span name included), from protobuf, JSON and the receiver's route."""
    tracer, log_exporter, registry = logs_pipeline
    log_exporter.clear()
    _, span_name, score = _write_and_export((tracer, _NoSpans(), registry), scope, late, {**value, **extra})
    expected = expected_record(score, service_name=SERVICE, span_name=span_name)  # otel_scoring.span_name names it
    request = encode_logs(log_exporter.get_finished_logs())
    translation = records_from_otlp_logs(request)
    assert translation.scores == [expected]
    assert records_from_export(request.SerializeToString(), signal="logs").translation == translation
    assert records_from_export(MessageToJson(request).encode(), signal="logs", encoding="json").translation == translation
    assert records_from_otlp_json(MessageToJson(request, preserving_proto_field_name=True)) == translation


class _NoSpans:
    """Stands in for the span exporter: in logs mode nothing of the score is on a span."""

    def clear(self) -> None:
        pass

    def get_finished_spans(self) -> tuple:
        return ()
