"""What every translator function returns, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

from otel_scoring.records import MetadataRecord, ScoreRecord


class TranslationError(ValueError):
    """The input as a whole is not trace data in any form the translator reads.

    Raised only for the top level (not JSON and not OTLP protobuf, or JSON of no known shape, or a
    backend's error response). Anything inside a trace that is not understood is skipped instead.
    """


@dataclass
class Translation:
    """The scores and metadata updates read from trace data.

    ``scores`` hold one record per score id (the latest write of it), sorted by timestamp;
    ``metadata`` one record per (trace id, memo id, index), sorted by timestamp. ``skipped``
    counts the score and metadata forms found but not readable (each left out on its own).
    ``resources``: trace id -> (resource attributes, from the run) of the process that exported
    that trace's records, when the reader knows it; ``from the run`` is True when they came on
    one of the run's own spans, False when only on a carrier span (a late score's scorer). Stores
    keep it so that scores can be split into cohorts by ``service.version`` and the like.
    """

    scores: List[ScoreRecord] = field(default_factory=list)
    metadata: List[MetadataRecord] = field(default_factory=list)
    skipped: int = 0
    resources: Dict[str, Tuple[Mapping[str, Any], bool]] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """What one OTLP export's body holds: its records, and how many spans or log records OTLP's
    partial success reports as rejected (see :func:`~otel_scoring.translate.records_from_export`)."""

    translation: Translation
    rejected: int = 0
