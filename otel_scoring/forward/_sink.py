"""Hand records to several forwarders: once (:func:`forward_records`) or continuously (:class:`ForwardingSink`)."""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Any, Deque, List, Optional, Sequence, Tuple

from otel_scoring._guard import handle_internal_errors
from otel_scoring.forward._base import Forwarder, ForwardResult, close_forwarders, split_records
from otel_scoring.records import MetadataRecord, ScoreRecord

_logger = logging.getLogger(__name__)

DEFAULT_MAX_PENDING_BATCHES = 1000
DEFAULT_FLUSH_TIMEOUT_SECONDS = 30.0

_Batch = Tuple[List[ScoreRecord], List[MetadataRecord]]


def forward_records(records: Any, forwarders: Sequence[Forwarder], *, close: bool = True) -> List[ForwardResult]:
    """Send ``records`` to every forwarder in turn; one result per forwarder, in order.

    ``records`` is a translation (anything with ``.scores`` and ``.metadata``) or an iterable of
    :class:`ScoreRecord` and :class:`MetadataRecord`. Never raises: a destination that fails
    does not stop the others. Then closes the forwarders' connections, unless ``close=False``
    (more records to send over them; the caller closes the forwarders when done).
    """
    try:
        scores, metadata = split_records(records)
        return _forward_all(scores, metadata, forwarders)
    finally:
        if close:
            close_forwarders(forwarders)


def _forward_all(
    scores: List[ScoreRecord], metadata: List[MetadataRecord], forwarders: Sequence[Forwarder]
) -> List[ForwardResult]:
    return [_forward_one(forwarder, scores, metadata) for forwarder in forwarders]


def _forward_one(forwarder: Forwarder, scores: List[ScoreRecord], metadata: List[MetadataRecord]) -> ForwardResult:
    destination = getattr(forwarder, "destination", type(forwarder).__name__)
    result: Optional[ForwardResult] = None
    with handle_internal_errors(f"forwarding to {destination}"):
        result = forwarder.forward(scores, metadata)
    if result is None:  # the forwarder itself broke: count everything as not delivered
        result = ForwardResult(destination, failed=len(scores), metadata_failed=len(metadata))
        result.add_error("internal error in the forwarder")
    return result


class ForwardingSink:
    """Forwards each stored batch in the background, so the receiver never waits on a destination.

    Call the sink with a translation (or records) after storing it: the batch is queued and a
    worker thread sends it to every forwarder. The queue holds at most ``max_pending_batches``; a
    batch that does not fit is dropped and counted (the scores are still in the store and can be
    re-sent with ``otel-scoring forward``; ids make re-sending safe). ``totals`` sums the results
    per forwarder.
    """

    def __init__(self, forwarders: Sequence[Forwarder], *, max_pending_batches: int = DEFAULT_MAX_PENDING_BATCHES) -> None:
        if max_pending_batches < 1:
            raise ValueError(f"max_pending_batches must be >= 1, got {max_pending_batches!r}")
        self._forwarders = list(forwarders)
        self._max_pending = max_pending_batches
        self._pending: Deque[_Batch] = collections.deque()
        self._condition = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._thread_pid: Optional[int] = None
        self._totals = [
            ForwardResult(getattr(forwarder, "destination", type(forwarder).__name__)) for forwarder in self._forwarders
        ]
        self.dropped_batches = 0

    def __call__(self, records: Any) -> bool:
        return self.submit(records)

    def submit(self, records: Any) -> bool:
        """Queue a batch; False when it was dropped (queue full or sink shut down). Never blocks."""
        with handle_internal_errors("queueing records for forwarding"):
            scores, metadata = split_records(records)
            if not scores and not metadata:
                return True
            with self._condition:
                if self._stopping:
                    _logger.debug("Forwarding sink is shut down; %d score(s) not forwarded.", len(scores))
                    return False
                if len(self._pending) >= self._max_pending:
                    self.dropped_batches += 1
                    level = logging.WARNING if self.dropped_batches == 1 else logging.DEBUG
                    _logger.log(
                        level,
                        "Forwarding queue full (%d batches): %d score(s) not forwarded (%d batch(es) dropped so far).",
                        self._max_pending,
                        len(scores),
                        self.dropped_batches,
                    )
                    return False
                self._pending.append((scores, metadata))
                self._ensure_worker()
                self._condition.notify_all()
                return True
        return False

    @property
    def totals(self) -> List[ForwardResult]:
        """Running totals per forwarder (copies), in the order the forwarders were given."""
        with self._condition:
            copies = []
            for total in self._totals:
                copy = ForwardResult(total.destination)
                copy.merge(total)
                copies.append(copy)
            return copies

    def force_flush(self, timeout_seconds: float = DEFAULT_FLUSH_TIMEOUT_SECONDS) -> bool:
        """Wait until every queued batch has been forwarded; False on timeout."""
        deadline = time.monotonic() + timeout_seconds
        with self._condition:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True

    def shutdown(self, timeout_seconds: float = DEFAULT_FLUSH_TIMEOUT_SECONDS) -> bool:
        """Forward what is queued (within the timeout), stop the worker, close the forwarders'
        connections. Safe to call twice."""
        deadline = time.monotonic() + timeout_seconds
        flushed = self.force_flush(timeout_seconds)
        with self._condition:
            self._stopping = True
            if not flushed and self._pending:
                _logger.warning("Forwarding sink shut down with %d batch(es) not forwarded.", len(self._pending))
                self._pending.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(deadline - time.monotonic(), 0.0))
        # A request still in flight (the join timed out) closes its connection when it ends.
        close_forwarders(self._forwarders)
        return flushed

    def _ensure_worker(self) -> None:
        # Called with the condition held. A forked child has no worker thread: start a new one.
        if self._thread is not None and self._thread.is_alive() and self._thread_pid == os.getpid():
            return
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="otel-scoring-forwarder", daemon=True)
        self._thread_pid = os.getpid()
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._stopping:
                    self._condition.wait()
                if not self._pending:
                    return
                scores, metadata = self._pending.popleft()
                self._busy = True
            results: List[ForwardResult] = []
            try:
                with handle_internal_errors("forwarding in the background"):
                    results = _forward_all(scores, metadata, self._forwarders)
            finally:
                with self._condition:
                    for total, result in zip(self._totals, results):
                        total.merge(result)
                    self._busy = False
                    self._condition.notify_all()
