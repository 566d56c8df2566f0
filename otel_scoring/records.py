"""What the translator gives back: plain records of scores and metadata updates.

Records are the read side of the wire schema, independent of where the trace went (SDK, OTLP,
Collector file, Jaeger, Tempo). Ids are lowercase hex strings, times are UTC datetimes, metadata is
decoded JSON. Two records of the same score read from two backends compare equal.

Both are frozen dataclasses (fields, equality, ``repr``, ``dataclasses.replace`` and ``asdict`` work
as usual; assigning a field raises ``FrozenInstanceError``), but with a hand-written ``__init__``:
the generated one of a frozen dataclass sets every field through ``object.__setattr__``, which made
constructing a record (1.9 µs) the largest single cost of translating a score on the receiver's hot
path. Setting the instance dict at once costs a third of that, and positional calls less again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Dict, Mapping, Optional

__all__ = ["MetadataRecord", "ScoreRecord"]

# Bypasses the frozen dataclass's __setattr__, as its own generated __init__ does.
_set_fields = object.__setattr__


@dataclass(frozen=True, init=False)
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

    def __init__(
        self,
        id: str,  # noqa: A002 - the field's public name
        name: str,
        value: Optional[float],
        string_value: Optional[str],
        data_type: str,
        scope: str,
        trace_id: Optional[str],
        observation_id: Optional[str],
        session_id: Optional[str],
        dataset_run_id: Optional[str],
        source: str,
        comment: Optional[str],
        config_id: Optional[str],
        metadata: Any,
        timestamp: datetime,
        service_name: Optional[str] = None,
        span_name: Optional[str] = None,
    ) -> None:
        _set_fields(
            self,
            "__dict__",
            {
                "id": id,
                "name": name,
                "value": value,
                "string_value": string_value,
                "data_type": data_type,
                "scope": scope,
                "trace_id": trace_id,
                "observation_id": observation_id,
                "session_id": session_id,
                "dataset_run_id": dataset_run_id,
                "source": source,
                "comment": comment,
                "config_id": config_id,
                "metadata": metadata,
                "timestamp": timestamp,
                "service_name": service_name,
                "span_name": span_name,
            },
        )

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: the timestamp as ISO 8601."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data


@dataclass(frozen=True, init=False)
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

    def __init__(
        self,
        memo_id: str,
        index: int,
        kind: str,
        scope: str,
        values: Mapping[str, Any],
        trace_id: Optional[str],
        span_id: Optional[str],
        timestamp: datetime,
        service_name: Optional[str] = None,
        span_name: Optional[str] = None,
    ) -> None:
        _set_fields(
            self,
            "__dict__",
            {
                "memo_id": memo_id,
                "index": index,
                "kind": kind,
                "scope": scope,
                "values": values,
                "trace_id": trace_id,
                "span_id": span_id,
                "timestamp": timestamp,
                "service_name": service_name,
                "span_name": span_name,
            },
        )

    @property
    def id(self) -> str:
        """Identifies the update within its run: a re-executed update has the same id and counts once."""
        return f"{self.memo_id}/{self.index}"

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["values"] = dict(self.values)
        data["timestamp"] = self.timestamp.isoformat()
        return data
