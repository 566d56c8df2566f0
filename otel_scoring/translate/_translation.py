"""What every translator function returns, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

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
    ``metadata`` one record per (trace id, memo id, index), sorted by timestamp.
    """

    scores: List[ScoreRecord] = field(default_factory=list)
    metadata: List[MetadataRecord] = field(default_factory=list)
