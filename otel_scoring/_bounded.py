"""A dict that forgets its oldest entries past a fixed size."""

from __future__ import annotations

import itertools
import threading
from typing import Dict, Generic, Optional, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """Insertion-ordered map holding at most ``maxlen`` entries; the oldest go first.

    Written for span processor hooks, where a lock per call would cost more than the work: reads
    and writes are single dict operations (atomic under the GIL) and take no lock. Only eviction
    locks, and it drops a tenth more than it must, so it runs once per many inserts even when
    entries are never removed (spans that never end).
    """

    __slots__ = ("_data", "_evict_lock", "maxlen", "evicted")

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.maxlen = maxlen
        self.evicted = 0
        self._data: Dict[K, V] = {}
        self._evict_lock = threading.Lock()

    def put(self, key: K, value: V) -> None:
        data = self._data
        data[key] = value
        if len(data) > self.maxlen:
            self._evict()

    def _evict(self) -> None:
        with self._evict_lock:
            data = self._data
            excess = len(data) - self.maxlen
            if excess <= 0:
                return
            try:
                oldest = list(itertools.islice(data, excess + self.maxlen // 10))
            except RuntimeError:  # another thread changed the dict meanwhile; the next put retries
                return
            for key in oldest:
                if data.pop(key, None) is not None:
                    self.evicted += 1

    def get(self, key: K) -> Optional[V]:
        return self._data.get(key)

    def pop(self, key: K) -> Optional[V]:
        return self._data.pop(key, None)

    def remove_if(self, key: K, value: V) -> None:
        """Remove ``key`` only while it maps to ``value`` (identity). Not atomic: two threads
        replacing and removing one key at the same instant may leave a stale entry, which
        eviction then clears."""
        data = self._data
        if data.get(key) is value:
            data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)
