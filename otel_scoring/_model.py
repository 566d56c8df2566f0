"""The validated values otel-scoring records: a score and a metadata update.

Instances are built only by :mod:`otel_scoring._validation`, so anything holding one can rely on
every rule of the score model having been checked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, NamedTuple, Optional


class DataType(str, enum.Enum):
    """A score's data type, as Langfuse and the SDK scoring reference name them."""

    NUMERIC = "NUMERIC"
    CATEGORICAL = "CATEGORICAL"
    BOOLEAN = "BOOLEAN"


class Scope(str, enum.Enum):
    """What a score is about."""

    SPAN = "span"  # one observation (span) of a trace
    TRACE = "trace"  # a whole trace ("run")
    SESSION = "session"
    DATASET_RUN = "dataset_run"


class MetadataScope(str, enum.Enum):
    """What a metadata update is attached to: the run (trace) or one span (step)."""

    RUN = "run"
    SPAN = "span"


class Score(NamedTuple):
    """One validated score.

    ``value`` is the numeric value (always a float: an ``int`` travels as a double; booleans are
    0.0/1.0; a categorical score has one only when its config maps the label to a number).
    ``label`` is the string value: the category of a categorical score, ``"true"``/``"false"``
    for a boolean score, None for a numeric one.

    A named tuple rather than a frozen dataclass: it is as immutable, and one is built for every
    score, where a frozen dataclass's ``__init__`` alone costs more than writing the event.
    """

    id: str
    name: str
    value: Optional[float]
    label: Optional[str]
    data_type: DataType
    scope: Scope
    trace_id: Optional[int]
    span_id: Optional[int]
    session_id: Optional[str]
    dataset_run_id: Optional[str]
    comment: Optional[str]
    config_id: Optional[str]
    metadata_json: Optional[str]
    timestamp: datetime
    source: str = "API"
    environment: Optional[str] = None  # Langfuse's environment; deployment.environment.name


@dataclass(frozen=True)
class MetadataUpdate:
    """One validated metadata update: ``values`` of one ``kind`` on a run or a span.

    Updates recorded together in a batch share ``memo_id`` and are told apart by ``index``; the
    pair identifies an update, so a re-executed update is recorded once.
    """

    memo_id: str
    index: int
    kind: str
    scope: MetadataScope
    values: Mapping[str, Any]
    values_json: str
    trace_id: Optional[int]
    span_id: Optional[int]
    timestamp: datetime
