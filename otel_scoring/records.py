"""What the translator gives back: plain records of scores and metadata updates.

Records are the read side of the wire schema, independent of where the trace went (SDK, OTLP,
Collector file, Jaeger, Tempo). Ids are lowercase hex strings, times are UTC datetimes, metadata is
decoded JSON. Two records of the same score read from two backends compare equal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Dict, Mapping, Optional


@dataclass(frozen=True)
class ScoreRecord:
    id: str
    name: str
    value: Optional[float]
    string_value: Optional[str]
    data_type: str
    scope: str
    trace_id: Optional[str]
    observation_id: Optional[str]  # span id; None for trace, session and dataset-run scores
    session_id: Optional[str]
    dataset_run_id: Optional[str]
    source: str
    comment: Optional[str]
    config_id: Optional[str]
    metadata: Any
    timestamp: datetime
    service_name: Optional[str] = None
    span_name: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: the timestamp as ISO 8601."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data


@dataclass(frozen=True)
class MetadataRecord:
    memo_id: str
    index: int
    kind: str
    scope: str  # "run" or "span"
    values: Mapping[str, Any] = field(hash=False)
    trace_id: Optional[str]
    span_id: Optional[str]
    timestamp: datetime
    service_name: Optional[str] = None
    span_name: Optional[str] = None

    @property
    def id(self) -> str:
        """Identifies the update within its run: a re-executed update has the same id and counts once."""
        return f"{self.memo_id}/{self.index}"

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["values"] = dict(self.values)
        data["timestamp"] = self.timestamp.isoformat()
        return data
