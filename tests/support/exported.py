"""Read what a test's TracerProvider exported: score and metadata events, carrier spans, warnings.

Every wire name comes from ``otel_scoring.schema``; tests compare plain values, never private state.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_scoring import schema


@dataclass(frozen=True)
class ScoreEvent:
    """One ``gen_ai.evaluation.result`` event, attribute by attribute."""

    name: str
    value: Optional[float]
    label: Optional[str]
    comment: Optional[str]
    id: str
    data_type: str
    scope: str
    config_id: Optional[str]
    source: str
    session_id: Optional[str]
    dataset_run_id: Optional[str]
    metadata: Any
    timestamp: str
    trace_id: Optional[str]
    span_id: Optional[str]


@dataclass(frozen=True)
class MetadataEvent:
    """One ``otel_scoring.metadata.update`` event, values decoded from JSON."""

    kind: str
    memo_id: str
    index: int
    scope: str
    values: dict
    timestamp: str
    trace_id: Optional[str]
    span_id: Optional[str]


def score_events(span: ReadableSpan) -> List[ScoreEvent]:
    found = []
    for event in span.events:
        if event.name != schema.EVALUATION_RESULT_EVENT:
            continue
        a = event.attributes
        metadata = a.get(schema.SCORE_METADATA)
        found.append(
            ScoreEvent(
                name=a[schema.GEN_AI_EVALUATION_NAME],
                value=a.get(schema.GEN_AI_EVALUATION_SCORE_VALUE),
                label=a.get(schema.GEN_AI_EVALUATION_SCORE_LABEL),
                comment=a.get(schema.GEN_AI_EVALUATION_EXPLANATION),
                id=a[schema.SCORE_ID],
                data_type=a[schema.SCORE_DATA_TYPE],
                scope=a[schema.SCORE_SCOPE],
                config_id=a.get(schema.SCORE_CONFIG_ID),
                source=a[schema.SCORE_SOURCE],
                session_id=a.get(schema.SCORE_SESSION_ID),
                dataset_run_id=a.get(schema.SCORE_DATASET_RUN_ID),
                metadata=None if metadata is None else json.loads(metadata),
                timestamp=a[schema.SCORE_TIMESTAMP],
                trace_id=a.get(schema.SCORE_TRACE_ID),
                span_id=a.get(schema.SCORE_SPAN_ID),
            )
        )
    return found


def metadata_events(span: ReadableSpan) -> List[MetadataEvent]:
    found = []
    for event in span.events:
        if event.name != schema.METADATA_UPDATE_EVENT:
            continue
        a = event.attributes
        found.append(
            MetadataEvent(
                kind=a[schema.METADATA_UPDATE_KIND],
                memo_id=a[schema.METADATA_UPDATE_MEMO_ID],
                index=a[schema.METADATA_UPDATE_INDEX],
                scope=a[schema.METADATA_UPDATE_SCOPE],
                values=json.loads(a[schema.METADATA_UPDATE_VALUES]),
                timestamp=a[schema.METADATA_UPDATE_TIMESTAMP],
                trace_id=a.get(schema.METADATA_UPDATE_TRACE_ID),
                span_id=a.get(schema.METADATA_UPDATE_SPAN_ID),
            )
        )
    return found


def finished(exporter: InMemorySpanExporter) -> Sequence[ReadableSpan]:
    return exporter.get_finished_spans()


def span_named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The one exported span called ``name`` (fails when there are none or several)."""
    matching = [span for span in finished(exporter) if span.name == name]
    assert len(matching) == 1, f"expected one exported span {name!r}, found {len(matching)}"
    return matching[0]


def carriers(exporter: InMemorySpanExporter) -> List[ReadableSpan]:
    return [span for span in finished(exporter) if span.attributes.get(schema.CARRIER) is True]


def all_score_events(exporter: InMemorySpanExporter) -> List[ScoreEvent]:
    return [event for span in finished(exporter) for event in score_events(span)]


def all_metadata_events(exporter: InMemorySpanExporter) -> List[MetadataEvent]:
    return [event for span in finished(exporter) for event in metadata_events(span)]


def trace_hex(span: Any) -> str:
    """The span's trace id as the wire writes it (works for SDK spans and ReadableSpans)."""
    return schema.format_trace_id(span.get_span_context().trace_id if hasattr(span, "get_span_context") else span.context.trace_id)


def span_hex(span: Any) -> str:
    return schema.format_span_id(span.get_span_context().span_id if hasattr(span, "get_span_context") else span.context.span_id)


def assert_carrier_of(carrier: ReadableSpan, target_trace_id: int, target_span_id: int) -> None:
    """A carrier span: our name and flag, child of the target, exactly one link, to the target."""
    assert carrier.name == schema.CARRIER_SPAN_NAME
    assert carrier.attributes[schema.CARRIER] is True
    assert carrier.instrumentation_scope.name == schema.INSTRUMENTATION_SCOPE
    assert carrier.context.trace_id == target_trace_id
    assert carrier.parent is not None and carrier.parent.span_id == target_span_id
    assert len(carrier.links) == 1
    (link,) = carrier.links
    assert (link.context.trace_id, link.context.span_id) == (target_trace_id, target_span_id)


def scoring_warnings(records: Sequence[logging.LogRecord]) -> List[str]:
    """Messages of the warnings (and worse) logged by otel-scoring, from ``caplog.records``."""
    return [r.getMessage() for r in records if r.name.startswith("otel_scoring") and r.levelno >= logging.WARNING]
