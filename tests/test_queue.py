"""The delivery queue is bounded per lane: plain spans by count, score-carrying spans by size, so plain spans never cost a score."""

from __future__ import annotations

import pytest

from otel_scoring.delivery._queue import TwoLaneQueue


def test_a_full_plain_lane_evicts_its_oldest_and_never_a_score():
    """Past its count the plain lane drops its oldest span; the scores queued beside it stay."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(2)
    queue.put("score-1", scored=True)
    for name in ("plain-1", "plain-2", "plain-3"):
        queue.put(name, scored=False)
    assert queue.take(10) == (["score-1"], ["plain-2", "plain-3"])
    assert (queue.dropped_scored, queue.dropped_plain) == (0, 1)


def test_a_plain_span_never_displaces_a_score_nor_the_reverse():
    """Each lane has its own bound: a lane at its limit takes nothing from the other."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(1, max_scored_bytes=2)
    queue.put("score-1", scored=True)
    queue.put("score-2", scored=True)
    assert queue.put("plain", scored=False) == 3
    assert queue.take(10) == (["score-1", "score-2"], ["plain"])
    assert (queue.dropped_plain, queue.dropped_scored) == (0, 0)


def test_a_score_lane_past_its_bytes_drops_its_oldest_score():
    """The score lane is weighed: past max_scored_bytes the oldest score goes, and is counted."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(10, max_scored_bytes=10, weigh=len)
    for name in ("aaaa", "bbbb", "cccc"):
        queue.put(name, scored=True)
    assert queue.scored_bytes == 8
    assert queue.take(10) == (["bbbb", "cccc"], [])
    assert (queue.queued_scored, queue.dropped_scored, queue.scored_bytes) == (3, 1, 0)


def test_a_score_bigger_than_the_whole_budget_is_still_queued_alone():
    """One score-carrying span always fits, whatever its size: the lane never refuses its newest."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(10, max_scored_bytes=3, weigh=len)
    queue.put("small", scored=True)
    queue.put("far too large", scored=True)
    assert queue.take(10) == (["far too large"], [])
    assert queue.dropped_scored == 1


def test_batches_take_scores_first():
    """take() fills a batch from the score lane before the plain lane, oldest first in each."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(10)
    for index in range(3):
        queue.put(f"plain-{index}", scored=False)
        queue.put(f"score-{index}", scored=True)
    assert queue.take(4) == (["score-0", "score-1", "score-2"], ["plain-0"])
    assert queue.lengths() == (0, 2)


def test_requeued_spans_go_back_in_front_and_overflow_sheds_each_lanes_oldest():
    """Undelivered spans return at the front; if a lane then overflows, its oldest spans go."""
    queue: TwoLaneQueue[str] = TwoLaneQueue(2, max_scored_bytes=3)
    queue.put("new-score", scored=True)
    queue.put("new-plain", scored=False)
    queue.requeue(["old-score-1", "old-score-2"], ["old-plain-1", "old-plain-2"])
    assert queue.take(10) == (["old-score-1", "old-score-2", "new-score"], ["old-plain-2", "new-plain"])
    assert (queue.dropped_scored, queue.dropped_plain) == (0, 1)
    queue.put("a", scored=True)
    queue.requeue(["b", "c", "d", "e"], [])
    assert queue.take(10) == (["d", "e", "a"], [])
    assert queue.dropped_scored == 2


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
    with pytest.raises(ValueError, match="max_scored_bytes must be at least 1"):
        TwoLaneQueue(1, max_scored_bytes=0)
