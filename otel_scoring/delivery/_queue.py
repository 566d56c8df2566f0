"""A bounded queue of ended spans with two lanes: spans that carry scores, and plain spans.

When the queue is full a plain span is evicted first, so a score-carrying span is never dropped
while a plain span is still queued; only a queue full of score-carrying spans drops one of them.
Every drop is counted per lane. Batches are taken score lane first, so scores leave first.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Deque, Generic, List, Tuple, TypeVar

T = TypeVar("T")


class TwoLaneQueue(Generic[T]):
    """At most ``capacity`` items across both lanes, oldest first within a lane.

    One uncontended lock per ``put``: the counters must be exact, and a lock costs about what a
    ``deque`` with ``maxlen`` costs the stock ``BatchSpanProcessor``.
    """

    __slots__ = ("capacity", "_scored", "_plain", "_lock", "queued_scored", "queued_plain", "dropped_scored", "dropped_plain")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._scored: Deque[T] = deque()
        self._plain: Deque[T] = deque()
        self._lock = threading.Lock()
        # Totals since creation; read without the lock (an int read is atomic), written under it.
        self.queued_scored = 0
        self.queued_plain = 0
        self.dropped_scored = 0
        self.dropped_plain = 0

    def put(self, item: T, scored: bool) -> int:
        """Queue ``item`` in its lane, evicting to stay bounded. Returns the queue length after."""
        with self._lock:
            scored_lane = self._scored
            plain_lane = self._plain
            if len(scored_lane) + len(plain_lane) >= self.capacity:
                if plain_lane:
                    plain_lane.popleft()  # the oldest plain span makes room, for either lane
                    self.dropped_plain += 1
                elif scored:
                    scored_lane.popleft()  # full of scores only: the oldest score goes
                    self.dropped_scored += 1
                else:
                    self.dropped_plain += 1  # full of scores only: a plain span never displaces one
                    return len(scored_lane)
            if scored:
                scored_lane.append(item)
                self.queued_scored += 1
            else:
                plain_lane.append(item)
                self.queued_plain += 1
            return len(scored_lane) + len(plain_lane)

    def take(self, limit: int) -> Tuple[List[T], List[T]]:
        """Remove up to ``limit`` items, score lane first: ``(scored, plain)``, oldest first."""
        with self._lock:
            scored_lane = self._scored
            plain_lane = self._plain
            scored = [scored_lane.popleft() for _ in range(min(limit, len(scored_lane)))]
            plain = [plain_lane.popleft() for _ in range(min(limit - len(scored), len(plain_lane)))]
            return scored, plain

    def take_scored(self) -> List[T]:
        """Remove every score-carrying item, oldest first, leaving plain items queued."""
        with self._lock:
            scored = list(self._scored)
            self._scored.clear()
            return scored

    def requeue(self, scored: List[T], plain: List[T]) -> None:
        """Put items that could not be delivered back at the front of their lanes.

        They are the oldest, so when room must be made the rule stays the same: the oldest plain
        items go first, then the oldest score-carrying ones.
        """
        with self._lock:
            scored_lane = self._scored
            plain_lane = self._plain
            scored_lane.extendleft(reversed(scored))
            plain_lane.extendleft(reversed(plain))
            overflow = len(scored_lane) + len(plain_lane) - self.capacity
            while overflow > 0 and plain_lane:
                plain_lane.popleft()
                self.dropped_plain += 1
                overflow -= 1
            while overflow > 0:
                scored_lane.popleft()
                self.dropped_scored += 1
                overflow -= 1

    def drop_all(self) -> Tuple[int, int]:
        """Empty the queue, counting everything as dropped: ``(scored, plain)`` dropped now."""
        with self._lock:
            scored, plain = len(self._scored), len(self._plain)
            self._scored.clear()
            self._plain.clear()
            self.dropped_scored += scored
            self.dropped_plain += plain
            return scored, plain

    def count_dropped(self, scored: int, plain: int) -> None:
        """Count items dropped after they left the queue (a failed export, a full spool)."""
        with self._lock:
            self.dropped_scored += scored
            self.dropped_plain += plain

    def clear_after_fork(self) -> None:
        """Forget the parent's items and counts in a forked child (the parent still delivers them)."""
        self._lock = threading.Lock()
        self._scored.clear()
        self._plain.clear()
        self.queued_scored = self.queued_plain = self.dropped_scored = self.dropped_plain = 0

    def lengths(self) -> Tuple[int, int]:
        return len(self._scored), len(self._plain)

    def __len__(self) -> int:
        return len(self._scored) + len(self._plain)
