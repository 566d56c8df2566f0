"""The processor's memory is bounded: BoundedMap never holds more than its size, forgetting the oldest first."""

from __future__ import annotations

import threading

import pytest

from otel_scoring._bounded import BoundedMap


def test_it_never_holds_more_than_its_size_and_forgets_the_oldest_first():
    """Past ``maxlen`` the oldest entries go (a tenth more at once); the newest are always kept."""
    bounded: BoundedMap[int, str] = BoundedMap(100)
    for key in range(1000):
        bounded.put(key, str(key))
        assert len(bounded) <= 100
    assert all(key in bounded for key in range(990, 1000))
    assert 0 not in bounded and bounded.get(0) is None
    assert bounded.evicted == 1000 - len(bounded)


def test_a_rewritten_key_keeps_its_place_and_its_new_value():
    """put() on a present key replaces the value without growing the map."""
    bounded: BoundedMap[str, int] = BoundedMap(2)
    bounded.put("a", 1)
    bounded.put("a", 2)
    assert (len(bounded), bounded.get("a"), bounded.evicted) == (1, 2, 0)


def test_remove_if_removes_only_the_value_it_was_given():
    """remove_if leaves a key alone once it maps to another value (a newer span of the same trace)."""
    bounded: BoundedMap[str, object] = BoundedMap(10)
    first, second = object(), object()
    bounded.put("trace", first)
    bounded.put("trace", second)
    bounded.remove_if("trace", first)
    assert bounded.get("trace") is second
    bounded.remove_if("trace", second)
    assert "trace" not in bounded
    assert bounded.pop("missing") is None


def test_threads_putting_at_once_stay_within_the_bound():
    """Eight threads writing at once never leave it above its size once they are done."""
    bounded: BoundedMap[tuple, int] = BoundedMap(500)

    def write(thread: int) -> None:
        for key in range(5000):
            bounded.put((thread, key), key)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    bounded.put(("last", 0), 0)  # an eviction a racing put skipped runs on the next put
    assert len(bounded) <= 500
    assert ("last", 0) in bounded


def test_a_size_below_one_is_refused():
    """A map that could hold nothing is a configuration mistake, raised at construction."""
    with pytest.raises(ValueError, match="maxlen must be at least 1"):
        BoundedMap(0)
