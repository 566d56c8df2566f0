"""Score and metadata records built directly, for tests of what reads records (the store, the CLI).

Tests of what writes records build them the way users do, through the API and a real span.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

from otel_scoring.records import MetadataRecord, ScoreRecord

T0 = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=timezone.utc)
TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"


def score(score_id: str, name: str = "helpfulness", value: Optional[float] = 0.5, *, at: datetime = T0, **changes: Any) -> ScoreRecord:
    """A numeric trace score of TRACE_A made by code, with ``changes`` to any other field."""
    record = ScoreRecord(
        id=score_id,
        name=name,
        value=value,
        string_value=None,
        data_type="NUMERIC",
        scope="trace",
        trace_id=TRACE_A,
        observation_id=None,
        session_id=None,
        dataset_run_id=None,
        source="API",
        comment=None,
        config_id=None,
        metadata=None,
        timestamp=at,
    )
    return dataclasses.replace(record, **changes)


def update(
    memo_id: str, index: int = 0, *, trace_id: Optional[str] = TRACE_A, values: Optional[Mapping[str, Any]] = None, at: datetime = T0
) -> MetadataRecord:
    """A run-scoped ``billing`` metadata update."""
    return MetadataRecord(
        memo_id=memo_id,
        index=index,
        kind="billing",
        scope="run",
        values=values if values is not None else {"paymentId": "pi_1"},
        trace_id=trace_id,
        span_id=None,
        timestamp=at,
    )
