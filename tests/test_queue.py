"""The delivery queue is bounded and sheds plain spans before any span that carries a score."""

from __future__ import annotations

import pytest

from otel_scoring.delivery._queue import TwoLaneQueue


def test_a_full_queue_evicts_the_oldest_plain_span_for_a_score():
    """With plain spans queued, a new score-carrying span evicts the oldest plain one, never a score."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(3)
    queue.put("score-1", scored=True)
    queue.put("plain-1", scored=False)
    queue.put("plain-2", scored=False)
    assert queue.put("score-2", scored=True) == 3
    assert queue.take(10) == (["score-1", "score-2"], ["plain-2"])
    assert (queue.dropped_scored, queue.dropped_plain) == (0, 1)


def test_a_plain_span_never_displaces_a_score():
    """A queue full of scores drops a new plain span (counted) and keeps every score."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(2)
    queue.put("score-1", scored=True)
    queue.put("score-2", scored=True)
    assert queue.put("plain", scored=False) == 2
    assert queue.take(10) == (["score-1", "score-2"], [])
    assert (queue.queued_plain, queue.dropped_plain, queue.dropped_scored) == (0, 1, 0)


def test_only_a_queue_full_of_scores_drops_one_the_oldest():
    """When every queued span carries a score, a new score evicts the oldest score."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(2)
    for name in ("score-1", "score-2", "score-3"):
        queue.put(name, scored=True)
    assert queue.take(10) == (["score-2", "score-3"], [])
    assert (queue.queued_scored, queue.dropped_scored) == (3, 1)


def test_batches_take_scores_first():
    """take() fills a batch from the score lane before the plain lane, oldest first in each."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(10)
    for index in range(3):
        queue.put(f"plain-{index}", scored=False)
        queue.put(f"score-{index}", scored=True)
    assert queue.take(4) == (["score-0", "score-1", "score-2"], ["plain-0"])
    assert queue.lengths() == (0, 2)


def test_requeued_spans_go_back_in_front_and_overflow_sheds_plain_first():
    """Undelivered spans return at the front; if that overflows, the oldest plain spans go, then scores."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(4)
    scored, plain = ["old-score-1", "old-score-2"], ["old-plain-1", "old-plain-2"]
    queue.put("new-score", scored=True)
    queue.put("new-plain", scored=False)
    queue.requeue(scored, plain)
    assert queue.take(10) == (["old-score-1", "old-score-2", "new-score"], ["new-plain"])
    assert (queue.dropped_scored, queue.dropped_plain) == (0, 2)
    queue.put("a", scored=True)
    queue.requeue(["b", "c", "d", "e"], [])
    assert queue.take(10) == (["c", "d", "e", "a"], [])
    assert queue.dropped_scored == 1


def test_drop_all_and_count_dropped_keep_the_totals_exact():
    """Everything dropped, in the queue or after it, is counted in its lane."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(5)
    queue.put("score", scored=True)
    queue.put("plain", scored=False)
    assert queue.drop_all() == (1, 1)
    queue.count_dropped(2, 3)
    assert (len(queue), queue.dropped_scored, queue.dropped_plain) == (0, 3, 4)


def test_a_forked_child_starts_empty():
    """After fork the child forgets the parent's spans and counts (the parent delivers them)."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(5)
    queue.put("score", scored=True)
    queue.clear_after_fork()
    assert (len(queue), queue.queued_scored, queue.dropped_plain) == (0, 0, 0)
    queue.put("child", scored=False)
    assert queue.take(1) == ([], ["child"])


def test_a_capacity_below_one_is_refused():
    """A queue that could hold nothing is a configuration mistake, raised at construction."""
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        TwoLaneQueue(0)
