"""A bounded queue of ended spans with two lanes: spans that carry scores, and plain spans.

Each lane has its own bound. Plain spans are counted: at most ``capacity`` of them, the oldest
evicted for a newcomer. Score-carrying spans are weighed: at most ``max_scored_bytes`` of their
estimated size (:func:`scored_bytes`), so a burst of thousands of scores fits where a count of
spans would not, at a memory cost stated in bytes; past it the oldest score-carrying span is
dropped. A score-carrying span never displaces a plain one nor the reverse. Every drop is
counted per lane. Batches are taken score lane first, so scores leave first.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Deque, Generic, List, Optional, Sequence, Tuple, TypeVar

from otel_scoring import _sdk_span

T = TypeVar("T")

# What one score-carrying span holds in memory beyond its text, measured for a span with one score
# event through the SDK (the span, its context, event, attribute mappings and tuples).
_SPAN_OVERHEAD_BYTES = 2048
_EVENT_OVERHEAD_BYTES = 512
_ATTRIBUTE_BYTES = 96


def scored_bytes(span: Any, events: Optional[Sequence[Any]] = None) -> int:
    """An estimate of the memory a score-carrying span holds, cheap enough for every one of them.

    ``events``: the span's events when the caller has them already (``span.events`` copies them).
    """
    size = _SPAN_OVERHEAD_BYTES + _ATTRIBUTE_BYTES * len(span.attributes or ())
    for event in span.events if events is None else events:
        size += _EVENT_OVERHEAD_BYTES
        attributes = event.attributes or {}
        # An event's attributes never change once it is made; the SDK's BoundedAttributes copies
        # itself under its lock to be iterated, and the plain dict inside it needs no copy.
        for value in getattr(attributes, _sdk_span.ATTRIBUTES_DICT, attributes).values():
            size += _ATTRIBUTE_BYTES + (len(value) if isinstance(value, str) else 0)
    return size


class TwoLaneQueue(Generic[T]):
    """At most ``capacity`` plain items and ``max_scored_bytes`` of scored ones, oldest first within a lane.

    One uncontended lock per ``put``: the counters must be exact, and a lock costs about what a
    ``deque`` with ``maxlen`` costs the stock ``BatchSpanProcessor``. ``weigh`` gives a scored
    item's size (:func:`scored_bytes` for spans).
    """

    __slots__ = (
        "capacity", "max_scored_bytes", "_weigh", "_scored", "_plain", "_lock", "_room", "scored_bytes",
        "queued_scored", "queued_plain", "dropped_scored", "dropped_plain",
    )  # fmt: skip

    def __init__(self, capacity: int, max_scored_bytes: int = 1 << 62, weigh: Callable[[T], int] = lambda item: 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if max_scored_bytes < 1:
            raise ValueError("max_scored_bytes must be at least 1")
        self.capacity = capacity
        self.max_scored_bytes = max_scored_bytes
        self._weigh = weigh
        self._scored: Deque[Tuple[T, int]] = deque()
        self._plain: Deque[T] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # notified when scored items leave
        self.scored_bytes = 0  # the weight of the scored lane now
        # Totals since creation; read without the lock (an int read is atomic), written under it.
        self.queued_scored = 0
        self.queued_plain = 0
        self.dropped_scored = 0
        self.dropped_plain = 0

    def put(self, item: T, scored: bool, weight: Optional[int] = None) -> int:
        """Queue ``item`` in its lane, evicting that lane's oldest to stay bounded. Returns the queue length after.

        ``weight``: a scored item's weight when the caller has it already, else ``weigh`` gives it.
        """
        if scored:
            if weight is None:
                weight = self._weigh(item)
            with self._lock:
                lane = self._scored
                lane.append((item, weight))
                self.scored_bytes += weight
                self.queued_scored += 1
                while self.scored_bytes > self.max_scored_bytes and len(lane) > 1:
                    _, dropped_weight = lane.popleft()  # the oldest score goes
                    self.scored_bytes -= dropped_weight
                    self.dropped_scored += 1
                return len(lane) + len(self._plain)
        with self._lock:
            plain_lane = self._plain
            if len(plain_lane) >= self.capacity:
                plain_lane.popleft()  # the oldest plain span makes room
                self.dropped_plain += 1
            plain_lane.append(item)
            self.queued_plain += 1
            return len(self._scored) + len(plain_lane)

    def wait_for_room(self, weight: int, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until a scored item of ``weight`` fits without evicting; True when it does."""
        with self._room:
            return self._room.wait_for(lambda: not self._scored or self.scored_bytes + weight <= self.max_scored_bytes, timeout)

    def take(self, limit: int) -> Tuple[List[T], List[T]]:
        """Remove up to ``limit`` items, score lane first: ``(scored, plain)``, oldest first."""
        with self._lock:
            scored_lane = self._scored
            plain_lane = self._plain
            scored = []
            for _ in range(min(limit, len(scored_lane))):
                item, weight = scored_lane.popleft()
                self.scored_bytes -= weight
                scored.append(item)
            plain = [plain_lane.popleft() for _ in range(min(limit - len(scored), len(plain_lane)))]
            if scored:
                self._room.notify_all()
            return scored, plain

    def take_scored(self, down_to_bytes: int = 0) -> List[T]:
        """Remove the oldest score-carrying items until the lane weighs at most ``down_to_bytes``."""
        with self._lock:
            lane = self._scored
            scored = []
            while lane and self.scored_bytes > down_to_bytes:
                item, weight = lane.popleft()
                self.scored_bytes -= weight
                scored.append(item)
            if scored:
                self._room.notify_all()
            return scored

    def requeue(self, scored: List[T], plain: List[T]) -> None:
        """Put items that could not be delivered back at the front of their lanes.

        They are the oldest, so when room must be made the rule stays the same: each lane's
        oldest items go first.
        """
        weighed = [(item, self._weigh(item)) for item in scored]
        with self._lock:
            scored_lane = self._scored
            plain_lane = self._plain
            scored_lane.extendleft(reversed(weighed))
            self.scored_bytes += sum(weight for _, weight in weighed)
            plain_lane.extendleft(reversed(plain))
            while len(plain_lane) > self.capacity:
                plain_lane.popleft()
                self.dropped_plain += 1
            while self.scored_bytes > self.max_scored_bytes and len(scored_lane) > 1:
                _, weight = scored_lane.popleft()
                self.scored_bytes -= weight
                self.dropped_scored += 1

    def drop_all(self) -> Tuple[int, int]:
        """Empty the queue, counting everything as dropped: ``(scored, plain)`` dropped now."""
        with self._lock:
            scored, plain = len(self._scored), len(self._plain)
            self._scored.clear()
            self._plain.clear()
            self.scored_bytes = 0
            self._room.notify_all()
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
        self._room = threading.Condition(self._lock)
        self._scored.clear()
        self._plain.clear()
        self.scored_bytes = 0
        self.queued_scored = self.queued_plain = self.dropped_scored = self.dropped_plain = 0

    def lengths(self) -> Tuple[int, int]:
        return len(self._scored), len(self._plain)

    def __len__(self) -> int:
        return len(self._scored) + len(self._plain)
