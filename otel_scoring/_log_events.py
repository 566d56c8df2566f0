"""Scores and metadata updates as log-based events (OTEP 4430), through the OpenTelemetry Logs SDK.

Opt-in beside (or instead of) span events, for backends that read evaluation results from logs:
each score becomes one ``gen_ai.evaluation.result`` log record, each metadata update one
``otel_scoring.metadata.update`` record, with the same attributes the span events carry and the
scored span's trace and span id as the record's context, as the GenAI convention asks. The
attributes name the scored trace and span themselves, so the translator reads them back to the
same records whatever the record's context says. The name of the span it was recorded on, which
the span event's record takes from its span, travels as ``otel_scoring.span_name``: with
``events="both"`` the two routes give one and the same record, whichever arrives last.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence, Union

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_scoring import _wire, schema
from otel_scoring._model import MetadataUpdate, Score

EVENTS_SPANS = "spans"
EVENTS_LOGS = "logs"
EVENTS_BOTH = "both"
EVENT_FORMS = (EVENTS_SPANS, EVENTS_LOGS, EVENTS_BOTH)

Writable = Union[Score, Sequence[MetadataUpdate]]


def check_events(events: str) -> str:
    """``events`` lower-cased, or ValueError naming the choices."""
    chosen = events.strip().lower()
    if chosen not in EVENT_FORMS:
        raise ValueError(f"events must be one of {', '.join(EVENT_FORMS)}, got {events!r}")
    return chosen


class LogEventWriter:
    """Emits each score or metadata batch as log records of ``logger_provider``."""

    def __init__(self, logger_provider: LoggerProvider) -> None:
        self._logger = logger_provider.get_logger(schema.INSTRUMENTATION_SCOPE)

    def write(self, item: Writable, span_name: Optional[str]) -> bool:
        """``span_name``: the span ``item`` is (or, with span events, was) recorded on; None: carried."""
        if isinstance(item, Score):
            self._emit(schema.EVALUATION_RESULT_EVENT, _wire.score_event_attributes(item), item.trace_id, item.span_id, span_name)
        else:
            for update in item:
                self._emit(schema.METADATA_UPDATE_EVENT, _wire.metadata_event_attributes(update), update.trace_id, update.span_id, span_name)
        return True

    def _emit(self, name: str, attributes: dict, trace_id: Optional[int], span_id: Optional[int], span_name: Optional[str]) -> None:
        """One record, timed now as a span event is: the score's own time (any year, which OTLP's
        timestamp cannot hold) travels in its attributes."""
        if span_name is not None:
            attributes[schema.LOG_SPAN_NAME] = span_name  # a dict built for this record alone
        if trace_id is not None:
            # The scored span (or, for a trace score, the trace alone) as the record's parent.
            target = SpanContext(trace_id, span_id or 0, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            context = trace.set_span_in_context(NonRecordingSpan(target))
        else:
            context = trace.set_span_in_context(trace.INVALID_SPAN)
        self._logger.emit(event_name=name, attributes=attributes, context=context, timestamp=time.time_ns(), severity_number=SeverityNumber.INFO)
