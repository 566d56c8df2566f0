"""Counts of what happened to the spans a ``ScoreFirstSpanProcessor`` was given."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["DeliveryStats"]


@dataclass(frozen=True)
class DeliveryStats:
    """A snapshot of delivery counts since the processor started (or since a fork, in a child).

    "Scored" spans carry a score or a metadata update; "plain" spans carry neither. A span that
    failed and was retried from memory counts once when it is finally exported or dropped.
    """

    queued_scored: int = 0
    """Score-carrying spans accepted into the queue."""
    queued_plain: int = 0
    exported_scored: int = 0
    """Score-carrying spans the collector took straight from the queue."""
    exported_plain: int = 0
    spooled: int = 0
    """Score-carrying spans written to the on-disk spool because the collector did not take them."""
    resent: int = 0
    """Spans the collector took from the spool (including spans spooled before a restart)."""
    dropped_scored: int = 0
    """Score-carrying spans lost: queue full of scores, spool full, rejected as malformed by the
    collector, ended after shutdown, or still undelivered at shutdown with no spool."""
    dropped_plain: int = 0
    pending_scored: int = 0
    """Score-carrying spans in the queue at the time of the snapshot."""
    pending_plain: int = 0
    spool_pending: int = 0
    """Spans in the spool directory at the time of the snapshot."""

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in asdict(self).items())
