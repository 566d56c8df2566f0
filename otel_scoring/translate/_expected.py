"""What a validated core :class:`Score` reads back as, wherever its trace went."""

from __future__ import annotations

import json
from typing import Optional

from otel_scoring._model import Score
from otel_scoring.records import ScoreRecord
from otel_scoring.schema import format_span_id, format_trace_id


def expected_record(score: Score, *, service_name: Optional[str] = None, span_name: Optional[str] = None) -> ScoreRecord:
    """The record the translator gives for ``score``.

    ``service_name`` is the ``service.name`` of the exporting resource; ``span_name`` the name of
    the span that carried the score (None when a carrier span carried it).
    """
    return ScoreRecord(
        id=score.id,
        name=score.name,
        value=score.value,
        string_value=score.label,
        data_type=score.data_type.value,
        scope=score.scope.value,
        trace_id=None if score.trace_id is None else format_trace_id(score.trace_id),
        observation_id=None if score.span_id is None else format_span_id(score.span_id),
        session_id=score.session_id,
        dataset_run_id=score.dataset_run_id,
        source=score.source,
        comment=score.comment,
        config_id=score.config_id,
        metadata=None if score.metadata_json is None else json.loads(score.metadata_json),
        timestamp=score.timestamp,
        service_name=service_name,
        span_name=span_name,
    )
