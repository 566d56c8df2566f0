"""What every forwarder shares: the protocol, the result it returns, and its failure reporting."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Protocol, Sequence, Tuple, TypeVar, runtime_checkable

from otel_scoring._guard import handle_internal_errors
from otel_scoring.records import MetadataRecord, ScoreRecord

MAX_ERRORS_KEPT = 5  # distinct error messages a result remembers

_F = TypeVar("_F", bound="ClosingForwarder")

# Who made a score, from its source: Langfuse's sources (API, EVAL, ANNOTATION) and the annotator
# kinds of Phoenix (HUMAN, LLM, CODE) and MLflow (HUMAN, LLM_JUDGE, CODE) as the translator reads
# them. Anything else (API: a score made in code through this package) counts as code.
HUMAN_SOURCES = frozenset({"ANNOTATION", "HUMAN"})
LLM_SOURCES = frozenset({"EVAL", "LLM", "LLM_JUDGE"})


def score_author(source: Optional[str]) -> str:
    """``HUMAN``, ``LLM`` or ``CODE``: who made a score with this source."""
    normalized = (source or "").strip().upper()
    if normalized in HUMAN_SOURCES:
        return "HUMAN"
    if normalized in LLM_SOURCES:
        return "LLM"
    return "CODE"


@dataclass
class ForwardResult:
    """What happened to the records handed to one destination.

    ``sent`` counts records the destination accepted (created or updated), ``skipped`` records it
    has no place for (e.g. dataset-run scores in Phoenix), ``failed`` records not delivered after
    retries. Scores and metadata updates are counted separately. ``errors`` keeps the first few
    distinct error messages, ``error_kinds`` the same problems without details (``HTTP 401``).
    """

    destination: str
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    metadata_sent: int = 0
    metadata_skipped: int = 0
    metadata_failed: int = 0
    errors: List[str] = field(default_factory=list)
    error_kinds: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.failed == 0 and self.metadata_failed == 0

    def add_error(self, message: str, kind: Optional[str] = None) -> None:
        if message not in self.errors and len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)
        kind = kind or message
        if kind not in self.error_kinds and len(self.error_kinds) < MAX_ERRORS_KEPT:
            self.error_kinds.append(kind)

    def merge(self, other: "ForwardResult") -> None:
        """Add ``other``'s counts (and errors) to this one: running totals over many batches."""
        self.sent += other.sent
        self.skipped += other.skipped
        self.failed += other.failed
        self.metadata_sent += other.metadata_sent
        self.metadata_skipped += other.metadata_skipped
        self.metadata_failed += other.metadata_failed
        for message in other.errors:
            if message not in self.errors and len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(message)
        for kind in other.error_kinds:
            if kind not in self.error_kinds and len(self.error_kinds) < MAX_ERRORS_KEPT:
                self.error_kinds.append(kind)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "destination": self.destination,
            "sent": self.sent,
            "skipped": self.skipped,
            "failed": self.failed,
            "metadata_sent": self.metadata_sent,
            "metadata_skipped": self.metadata_skipped,
            "metadata_failed": self.metadata_failed,
            "errors": list(self.errors),
            "error_kinds": list(self.error_kinds),
        }


@runtime_checkable
class Forwarder(Protocol):
    """Sends score records (and metadata records, where the destination has a place for them).

    ``forward`` never raises: failures are counted in the result and logged. Connections stay
    open between calls (keep-alive) until ``close``.
    """

    destination: str

    def forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord]) -> ForwardResult:
        ...  # pragma: no cover - protocol

    def close(self) -> None:
        """Close the connections kept alive for the next ``forward``; idempotent, never raises.

        A ``forward`` after it opens new ones."""
        ...  # pragma: no cover - protocol


class ClosingForwarder:
    """``close`` (and ``with``) for a forwarder whose requests go through ``self._client``."""

    destination: str
    _client: Any  # a JsonHttpClient

    def close(self) -> None:
        """As :meth:`Forwarder.close`."""
        with handle_internal_errors(f"closing the connections to {self.destination}"):
            self._client.close()

    def __enter__(self: _F) -> _F:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def close_forwarders(forwarders: Iterable[Any]) -> None:
    """Close each forwarder's connections; one written before forwarders had ``close`` has none."""
    for forwarder in forwarders:
        close = getattr(forwarder, "close", None)
        if callable(close):
            with handle_internal_errors(f"closing the connections to {getattr(forwarder, 'destination', forwarder)}"):
                close()


class FailureLog:
    """Logs a destination's failures once, not once per batch.

    A warning when a failure is of another kind than the previous one (a new problem: ``HTTP 401``
    after ``cannot connect``), debug while the same kind repeats with other details, and one info
    line when the destination works again.
    """

    def __init__(self, logger: logging.Logger, destination: str) -> None:
        self._logger = logger
        self._destination = destination
        self._last_problem: Optional[str] = None

    def report(self, result: ForwardResult) -> None:
        if result.ok:
            if self._last_problem is not None:
                self._logger.info("Forwarding to %s works again.", self._destination)
                self._last_problem = None
            return
        problem = result.error_kinds[0] if result.error_kinds else "unknown error"
        level = logging.DEBUG if problem == self._last_problem else logging.WARNING
        self._logger.log(
            level,
            "Forwarding to %s: %d score(s) and %d metadata update(s) not delivered: %s",
            self._destination,
            result.failed,
            result.metadata_failed,
            result.errors[0] if result.errors else problem,
        )
        self._last_problem = problem


def split_records(records: Any) -> Tuple[List[ScoreRecord], List[MetadataRecord]]:
    """Scores and metadata from a translation (``.scores``/``.metadata``) or an iterable of records."""
    if hasattr(records, "scores") and hasattr(records, "metadata"):
        return list(records.scores), list(records.metadata)
    scores: List[ScoreRecord] = []
    metadata: List[MetadataRecord] = []
    for record in _iterate(records):
        if isinstance(record, ScoreRecord):
            scores.append(record)
        elif isinstance(record, MetadataRecord):
            metadata.append(record)
        else:
            raise TypeError(f"expected ScoreRecord or MetadataRecord, got {type(record).__name__}")
    return scores, metadata


def _iterate(records: Any) -> Iterable[Any]:
    if isinstance(records, (ScoreRecord, MetadataRecord)):
        return (records,)
    return records


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def count_unaccounted(result: ForwardResult, score_count: int, metadata_count: int) -> None:
    """Count records a forwarder never reached (it stopped early) as failed, so totals add up."""
    missing_scores = score_count - (result.sent + result.skipped + result.failed)
    missing_metadata = metadata_count - (result.metadata_sent + result.metadata_skipped + result.metadata_failed)
    if missing_scores > 0:
        result.failed += missing_scores
    if missing_metadata > 0:
        result.metadata_failed += missing_metadata
    if (missing_scores > 0 or missing_metadata > 0) and not result.errors:
        result.add_error("not sent: forwarding stopped on an internal error")


def forward_guarded(
    destination: str,
    tool: str,
    failures: FailureLog,
    send: Callable[[Sequence[ScoreRecord], Sequence[MetadataRecord], ForwardResult], None],
    scores: Sequence[ScoreRecord],
    metadata: Sequence[MetadataRecord],
) -> ForwardResult:
    """What every forwarder's ``forward`` shares: ``send`` into a fresh result, never raising,
    every record accounted for, failures logged once."""
    result = ForwardResult(destination)
    with handle_internal_errors(f"forwarding to {tool}"):
        send(scores, metadata, result)
    count_unaccounted(result, len(scores), len(metadata))
    failures.report(result)
    return result
