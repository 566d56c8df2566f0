"""A dict that forgets its oldest entries past a fixed size."""

from __future__ import annotations

import threading
from typing import Dict, Generic, Optional, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """Insertion-ordered map holding at most ``maxlen`` entries; the oldest goes first.

    Reads are lock-free (single dict operations are atomic under the GIL); writes take a lock so
    eviction never races another writer.
    """

    __slots__ = ("_data", "_lock", "maxlen", "evicted")

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self.maxlen = maxlen
        self.evicted = 0
        self._data: Dict[K, V] = {}
        self._lock = threading.Lock()

    def put(self, key: K, value: V) -> None:
        with self._lock:
            data = self._data
            data.pop(key, None)  # re-inserting moves the key to the young end
            if len(data) >= self.maxlen:
                del data[next(iter(data))]
                self.evicted += 1
            data[key] = value

    def get(self, key: K) -> Optional[V]:
        return self._data.get(key)

    def pop(self, key: K) -> Optional[V]:
        return self._data.pop(key, None)

    def remove_if(self, key: K, value: V) -> None:
        """Remove ``key`` only while it still maps to ``value`` (identity)."""
        with self._lock:
            if self._data.get(key) is value:
                del self._data[key]

    def values(self) -> list:
        with self._lock:
            return list(self._data.values())

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)
