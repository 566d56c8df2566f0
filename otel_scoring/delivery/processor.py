"""``ScoreFirstSpanProcessor``: batch export that gives up plain spans before scores.

The stock ``BatchSpanProcessor`` drops whatever overflows its queue and whatever its exporter
fails to send, and its ``force_flush`` reports success either way. Scores are worth more than the
spans around them, so this processor

* queues spans in two lanes: plain spans by count (``max_queue_size``, the oldest evicted first),
  score-carrying spans by estimated size (``max_scored_bytes``, 64 MiB by default: a 20 000-span
  burst with every span scored fits), so a burst of plain spans never costs a score;
* exports score-carrying spans first in every batch;
* keeps what the collector did not take: score-carrying spans go to a :class:`SpanSpool` on disk
  (resent in order when the collector is back, also by the next process that opens the spool), or
  without a spool back into the queue, as plain spans do;
* backs off while the collector is down instead of retrying inside each export;
* with a spool, spills the oldest queued scores to it when their lane passes three quarters of
  its budget, rather than dropping them when it is full;
* without a spool, can hold up a producer for a bounded while when the score lane is full
  (``max_block_millis``, opt-in) instead of dropping its oldest score;
* logs every loss when it happens (rate-limited), not only at shutdown;
* encodes span by span when a batch cannot be encoded (a lone surrogate in a span name, say):
  such a span is sent with the offending text repaired, and only a span that still cannot be
  encoded is dropped and counted;
* bounds every wait: ``force_flush`` and ``shutdown`` return within their timeouts and return
  False when anything is still undelivered.

The worker follows the SDK's ``BatchSpanProcessor`` over its ``BatchProcessor``: the processor
owns the queue and the hooks, one :class:`_Worker` object owns the thread and everything it
changes (replaced whole in a forked child), and both transports (a stock ``SpanExporter`` or an
:class:`OTLPTraceSender`) sit behind one :class:`_Transport` shape.

The hot path (``on_end``) is one sampled check, one length check of the span's events and one
locked deque append: a plain span costs about what it costs through ``BatchSpanProcessor``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
)
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from otel_scoring import _sdk_span, schema
from otel_scoring._guard import handle_internal_errors
from otel_scoring._settings import resolve_int
from otel_scoring.delivery._encoder import encode_request
from otel_scoring.delivery._queue import TwoLaneQueue, scored_bytes
from otel_scoring.delivery.sender import OTLPTraceSender, SendOutcome
from otel_scoring.delivery.spool import SpanSpool
from otel_scoring.delivery.stats import DeliveryStats
from otel_scoring.environment_variables import OTEL_SCORING_MAX_BLOCK_MILLIS, OTEL_SCORING_MAX_SCORED_BYTES

__all__ = [
    "DEFAULT_EXPORT_TIMEOUT_MILLIS",
    "DEFAULT_MAX_EXPORT_BATCH_SIZE",
    "DEFAULT_MAX_QUEUE_SIZE",
    "DEFAULT_SCHEDULE_DELAY_MILLIS",
    "INITIAL_RETRY_DELAY_SECONDS",
    "MAX_RETRY_DELAY_SECONDS",
    "ScoreFirstSpanProcessor",
    "carries_scores",
]

_logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE_SIZE = 2048
DEFAULT_SCHEDULE_DELAY_MILLIS = 5000
DEFAULT_MAX_EXPORT_BATCH_SIZE = 512
DEFAULT_EXPORT_TIMEOUT_MILLIS = 30000
# Score-carrying spans queued at once, by estimated size (about 10 000 spans of one score each
# take 32 MiB): what a 20 000-span all-scored burst needs while the worker catches up.
DEFAULT_MAX_SCORED_BYTES = 64 * 1024 * 1024
# With a spool, the oldest queued scores spill to it past this share of the budget, down to half.
_SPILL_AT = 0.75
# A loss is logged when it happens, at most once per this many seconds (the rest are counted).
_LOSS_LOG_INTERVAL_SECONDS = 10.0
# While the collector is down, tries are spaced from this ...
INITIAL_RETRY_DELAY_SECONDS = 0.25
# ... doubling up to this, so a restarted collector gets its backlog within a few seconds.
MAX_RETRY_DELAY_SECONDS = 5.0
# Of a shutdown's timeout, the part kept at the end for spooling what could not be sent.
_SHUTDOWN_RESERVE_SECONDS = 0.5

_SCORE_EVENTS = frozenset({schema.EVALUATION_RESULT_EVENT, schema.METADATA_UPDATE_EVENT})


def carries_scores(span: ReadableSpan) -> bool:
    """True when the span holds a score or a metadata update.

    Every score and metadata update is written as an event (carrier spans included); the
    ``has_scores`` attributes can be missing on a span at its attribute limit, the events cannot.
    """
    return _score_events(span) is not None


def _score_events(span: ReadableSpan) -> Optional[Sequence[Event]]:
    """The span's events when one of them is a score or a metadata update, else None.

    Handing them back lets ``on_end`` weigh the span without a second copy of its events.
    """
    # Most spans have no events. ``span.events`` copies the SDK's event list under a lock (about
    # half of what BatchSpanProcessor spends per span), so ask the list itself whether it is
    # empty first, and fall back to the public property on any other ReadableSpan.
    raw_events = getattr(span, _sdk_span.EVENTS, None)
    if raw_events is not None and not len(raw_events):
        return None
    events = span.events
    for event in events:
        if event.name in _SCORE_EVENTS:
            return events
    return None


class _FlushRequest:
    __slots__ = ("deadline", "done", "ok")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.ok = False


# --- Transports -----------------------------------------------------------------------------------


class _Transport:
    """How the worker hands spans (and spooled requests) on: one shape for both kinds of transport."""

    can_resend = False  # whether raw spooled requests can be sent (needs an OTLPTraceSender)

    @property
    def destination(self) -> str:
        raise NotImplementedError

    def send_spans(self, spans: Sequence[ReadableSpan], request: Optional[bytes], timeout: float) -> SendOutcome:
        raise NotImplementedError

    def send_request(self, request: bytes, timeout: float) -> SendOutcome:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _SenderTransport(_Transport):
    can_resend = True

    def __init__(self, sender: OTLPTraceSender) -> None:
        self.sender = sender

    @property
    def destination(self) -> str:
        return self.sender.endpoint

    def send_spans(self, spans: Sequence[ReadableSpan], request: Optional[bytes], timeout: float) -> SendOutcome:
        return self.send_request(request if request is not None else b"", timeout)

    def send_request(self, request: bytes, timeout: float) -> SendOutcome:
        try:
            return self.sender.send(request, timeout)
        except Exception:  # whatever a transport throws, the request is kept for another try
            _logger.exception("Exception while sending spans to %s.", self.destination)
            return SendOutcome.RETRY

    def close(self) -> None:
        self.sender.close()


class _ExporterTransport(_Transport):
    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self._closed = False

    @property
    def destination(self) -> str:
        return repr(self.exporter)

    def send_spans(self, spans: Sequence[ReadableSpan], request: Optional[bytes], timeout: float) -> SendOutcome:
        if self._closed:
            return SendOutcome.RETRY
        try:
            result = self.exporter.export(spans)
        except Exception:
            _logger.exception("Exception while exporting spans with %r.", self.exporter)
            return SendOutcome.RETRY
        return SendOutcome.DELIVERED if result is SpanExportResult.SUCCESS else SendOutcome.RETRY

    def send_request(self, request: bytes, timeout: float) -> SendOutcome:
        raise TypeError("a SpanExporter cannot resend raw OTLP requests")

    def close(self) -> None:
        self._closed = True
        self.exporter.shutdown()


# --- The processor --------------------------------------------------------------------------------


class ScoreFirstSpanProcessor(SpanProcessor):
    """Batches ended spans to a collector, scores first, and keeps scores the collector missed.

    Give it either ``span_exporter`` (any SDK ``SpanExporter``, e.g. an ``InMemorySpanExporter``)
    or ``sender`` (an :class:`OTLPTraceSender`, which a spool needs to resend raw requests)::

        sender = OTLPTraceSender(endpoint="http://collector:4317")
        provider.add_span_processor(ScoreFirstSpanProcessor(sender=sender, spool=SpanSpool("/var/spool/app")))

    Args:
        span_exporter: export through this exporter; a failed export is retried from memory.
        sender: send OTLP requests through this sender, one bounded attempt each.
        spool: where score-carrying spans go when the collector does not take them (needs
            ``sender``), and where queued ones spill when a burst outgrows ``max_scored_bytes``.
            Requests already in it are resent first when the processor starts.
        max_queue_size, schedule_delay_millis, max_export_batch_size, export_timeout_millis: as
            for ``BatchSpanProcessor``, each falling back to its ``OTEL_BSP_*`` variable, then to
            the SDK's default (2048, 5000, 512, 30000). ``max_queue_size`` bounds the plain spans
            queued. ``export_timeout_millis`` bounds one export pass; one request is also bounded
            by the sender's own timeout.
        max_scored_bytes: the estimated size of score-carrying spans queued at once, else
            ``OTEL_SCORING_MAX_SCORED_BYTES``, else 64 MiB.
        max_block_millis: opt-in backpressure for a processor without a spool: when the score
            lane is full, ``on_end`` of a score-carrying span waits up to this long for room
            before the oldest score is dropped (else ``OTEL_SCORING_MAX_BLOCK_MILLIS``, else 0:
            never block the application).

    Programmer errors (neither or both of exporter and sender, a spool without a sender, a batch
    larger than the queue) raise ``ValueError`` here.
    """

    def __init__(
        self,
        span_exporter: Optional[SpanExporter] = None,
        *,
        sender: Optional[OTLPTraceSender] = None,
        spool: Optional[SpanSpool] = None,
        max_queue_size: Optional[int] = None,
        schedule_delay_millis: Optional[int] = None,
        max_export_batch_size: Optional[int] = None,
        export_timeout_millis: Optional[int] = None,
        max_scored_bytes: Optional[int] = None,
        max_block_millis: Optional[int] = None,
    ) -> None:
        self._transport: _Transport
        if sender is not None and span_exporter is None:
            self._transport = _SenderTransport(sender)
        elif span_exporter is not None and sender is None:
            if spool is not None:
                raise ValueError("a spool resends raw OTLP requests: pass sender= (an OTLPTraceSender) with spool=")
            self._transport = _ExporterTransport(span_exporter)
        else:
            raise ValueError("pass exactly one of span_exporter= and sender=")
        self.span_exporter = span_exporter
        self.sender = sender
        self.spool = spool
        self.max_queue_size = resolve_int(max_queue_size, OTEL_BSP_MAX_QUEUE_SIZE, DEFAULT_MAX_QUEUE_SIZE)
        self.schedule_delay_millis = resolve_int(schedule_delay_millis, OTEL_BSP_SCHEDULE_DELAY, DEFAULT_SCHEDULE_DELAY_MILLIS)
        self.export_timeout_millis = resolve_int(export_timeout_millis, OTEL_BSP_EXPORT_TIMEOUT, DEFAULT_EXPORT_TIMEOUT_MILLIS)
        self.max_scored_bytes = resolve_int(max_scored_bytes, OTEL_SCORING_MAX_SCORED_BYTES, DEFAULT_MAX_SCORED_BYTES)
        batch_size = resolve_int(max_export_batch_size, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, DEFAULT_MAX_EXPORT_BATCH_SIZE)
        if batch_size > self.max_queue_size:
            if max_export_batch_size is not None:
                raise ValueError("max_export_batch_size must be less than or equal to max_queue_size")
            batch_size = self.max_queue_size
        self.max_export_batch_size = batch_size
        self._queue: TwoLaneQueue[ReadableSpan] = TwoLaneQueue(self.max_queue_size, self.max_scored_bytes, scored_bytes)
        self._spill_at = int(self.max_scored_bytes * _SPILL_AT) if spool is not None else None
        # A spool takes overflow instead, so backpressure only applies without one.
        self._block_seconds = resolve_int(max_block_millis, OTEL_SCORING_MAX_BLOCK_MILLIS, 0) / 1000 if spool is None else 0.0
        self._losses = _LossLog()
        self._shutdown_called = False
        self._shutdown_ok = False
        self._transport_closed = False
        self._stop_by = float("inf")  # monotonic time by which the worker must have stopped sending
        self._worker = _Worker(self)
        self._worker.start()
        if hasattr(os, "register_at_fork"):
            reinit = weakref.WeakMethod(self._reinit_after_fork)
            os.register_at_fork(after_in_child=lambda: (reinit() or _noop)())

    # --- SpanProcessor hooks ----------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: object = None) -> None:
        pass

    @handle_internal_errors("ScoreFirstSpanProcessor.on_end")
    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        events = _score_events(span)
        scored = events is not None
        weight = scored_bytes(span, events) if scored else 0
        queue = self._queue
        if self._shutdown_called:
            queue.count_dropped(int(scored), int(not scored))
            self._losses.note(queue, "spans ended after shutdown")
            return
        dropped = queue.dropped_scored
        worker = self._worker
        if scored and self._block_seconds and queue.scored_bytes + weight > queue.max_scored_bytes:
            worker.wake.set()  # the lane is full: let the worker make room, for a bounded while
            if threading.current_thread() is not worker.thread:
                queue.wait_for_room(weight, self._block_seconds)
        if queue.put(span, scored, weight) >= worker.wake_at or (self._spill_at is not None and queue.scored_bytes > self._spill_at):
            if not worker.wake.is_set():
                worker.wake.set()
        if queue.dropped_scored != dropped:
            self._losses.note(queue, f"the queue's {self.max_scored_bytes} bytes for score-carrying spans are full; give the processor a spool or raise max_scored_bytes")

    @handle_internal_errors("ScoreFirstSpanProcessor.force_flush", default=False)
    def force_flush(self, timeout_millis: Optional[int] = 30000) -> bool:
        """Deliver everything queued and spooled; False if anything is still undelivered.

        Also False when spans were lost since the previous flush (a full queue or spool, a batch
        the collector rejected), even if nothing is left to send: the caller asked whether what
        it ended has arrived. Returns within ``timeout_millis`` even when the collector hangs.
        Tries at once, even while backing off from a collector that is down.
        """
        worker = self._worker
        if self._shutdown_called or threading.current_thread() is worker.thread:
            return False
        timeout = _seconds(timeout_millis)
        request = _FlushRequest(time.monotonic() + timeout)
        with worker.flush_lock:
            worker.flush_requests.append(request)
        worker.wake.set()
        if not request.done.wait(timeout):
            return False
        return request.ok

    @handle_internal_errors("ScoreFirstSpanProcessor.shutdown", default=False)
    def shutdown(self, timeout_millis: Optional[int] = 30000) -> bool:
        """Deliver what is left, spool the scores that cannot be, and stop; at most ``timeout_millis``.

        Returns True when everything was delivered. Idempotent: later calls return the first
        result. Logs the :attr:`stats`.
        """
        worker = self._worker
        with worker.flush_lock:
            if self._shutdown_called:
                return self._shutdown_ok
            self._shutdown_called = True
        timeout = _seconds(timeout_millis)
        deadline = time.monotonic() + timeout
        self._stop_by = deadline - min(_SHUTDOWN_RESERVE_SECONDS, timeout * 0.2)
        worker.wake.set()
        worker.thread.join(max(0.0, self._stop_by - time.monotonic()))
        if worker.thread.is_alive():
            # Cancels the request in flight; the worker then spools its scores and stops.
            self._close_transport()
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        finished = not worker.thread.is_alive()
        self._close_transport()
        self._shutdown_ok = finished and worker.final_ok
        stats = self.stats
        if stats.dropped_scored:
            _logger.warning("otel-scoring delivery lost %d score-carrying spans: %s", stats.dropped_scored, stats)
        elif not finished:
            _logger.warning("otel-scoring delivery did not finish within %.1f s: %s", timeout, stats)
        else:
            _logger.info("otel-scoring delivery stopped: %s", stats)
        if stats.spool_pending and self.spool is not None:
            _logger.warning("%d spans wait in the spool %s; they are resent when a processor opens it again.", stats.spool_pending, self.spool.directory)
        return self._shutdown_ok

    # --- Public state -----------------------------------------------------------------------------

    @property
    def stats(self) -> DeliveryStats:
        """What happened to the spans given to this processor so far."""
        queue = self._queue
        worker = self._worker
        pending_scored, pending_plain = queue.lengths()
        return DeliveryStats(
            queued_scored=queue.queued_scored,
            queued_plain=queue.queued_plain,
            exported_scored=worker.exported_scored,
            exported_plain=worker.exported_plain,
            spooled=worker.spooled,
            resent=worker.resent,
            dropped_scored=queue.dropped_scored,
            dropped_plain=queue.dropped_plain,
            pending_scored=pending_scored,
            pending_plain=pending_plain,
            spool_pending=self.spool.pending_spans() if self.spool is not None else 0,
        )

    # --- Internals --------------------------------------------------------------------------------

    def _reinit_after_fork(self) -> None:
        # The parent keeps delivering what it queued; the child starts empty with its own worker.
        self._queue.clear_after_fork()
        self._losses = _LossLog()
        self._worker = _Worker(self)
        if not self._shutdown_called:
            self._worker.start()

    def _close_transport(self) -> None:
        if self._transport_closed:
            return
        self._transport_closed = True
        with handle_internal_errors("ScoreFirstSpanProcessor.shutdown (closing the exporter)"):
            self._transport.close()


class _Worker:
    """The export thread and everything it changes; a forked child gets a new one, the SDK's way.

    One pass (:meth:`_pass`) resends the spool (:meth:`_resend_spool`), then exports what is
    queued (:meth:`_export_queued`); while the collector is down it backs off and, with a spool,
    makes queued scores durable instead.
    """

    def __init__(self, processor: ScoreFirstSpanProcessor) -> None:
        self.processor = processor
        self.wake = threading.Event()
        self.flush_lock = threading.Lock()
        self.flush_requests: List[_FlushRequest] = []
        self.wake_at = processor.max_export_batch_size  # queue length that wakes the worker early
        self.retry_at = 0.0  # monotonic time of the next try while the collector is down
        self.retry_delay = 0.0
        self.exported_scored = self.exported_plain = self.spooled = self.resent = 0
        self.final_ok = False
        self.spool_trouble = ""  # what the spool's current bad spell is about, said once per spell
        self.dropped_at_last_flush = 0
        self.thread = threading.Thread(target=self._run, name="OtelScoringScoreFirstProcessor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # --- The loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        # Nothing this thread does (HTTP, gRPC, file writes) may be traced by instrumentation.
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        processor = self.processor
        try:
            if processor.spool is not None:  # a spool left by an earlier run goes out before anything new
                self._guarded_pass(time.monotonic() + processor.export_timeout_millis / 1000, force=True)
            while True:
                self.wake.wait(self._next_wait())
                self.wake.clear()
                if processor._shutdown_called:
                    self.final_ok = self._final_pass()
                    return
                requests = self._take_flush_requests()
                if requests:
                    ok = self._guarded_pass(max(request.deadline for request in requests), force=True)
                    _resolve(requests, self._nothing_lost_since_last_flush() and ok)
                else:
                    self._guarded_pass(time.monotonic() + processor.export_timeout_millis / 1000, force=False)
        finally:
            _resolve(self._take_flush_requests(), False)
            detach(token)

    def _next_wait(self) -> float:
        delay = self.processor.schedule_delay_millis / 1000
        until_retry = self.retry_at - time.monotonic()
        if self.retry_at and until_retry > 0:
            return min(delay, until_retry)
        return delay  # healthy, or due for a retry that found nothing to send

    def _nothing_lost_since_last_flush(self) -> bool:
        queue = self.processor._queue
        dropped = queue.dropped_scored + queue.dropped_plain
        nothing_lost = dropped == self.dropped_at_last_flush
        self.dropped_at_last_flush = dropped
        return nothing_lost

    def _take_flush_requests(self) -> List[_FlushRequest]:
        with self.flush_lock:
            requests, self.flush_requests = self.flush_requests, []
        return requests

    def _guarded_pass(self, deadline: float, force: bool) -> bool:
        ok = False
        with handle_internal_errors("ScoreFirstSpanProcessor worker"):
            ok = self._pass(min(deadline, self.processor._stop_by), force)
        return ok

    def _pass(self, deadline: float, force: bool) -> bool:
        """Resend the spool, then export what is queued now. True when nothing is left undelivered."""
        self._spill_if_over_budget()
        if not force and self.retry_at and time.monotonic() < self.retry_at:
            # Backing off: make the scores durable now; plain spans wait in the queue.
            self._spool_queued_scores()
            return False
        resent_any, behind_spool = self._resend_spool(deadline)
        if behind_spool is None:  # the collector did not take the spool's oldest request
            self._collector_down()
            return False
        exported_any, everything_sent = self._export_queued(deadline, behind_spool)
        if exported_any is None:
            self._collector_down()
            return False
        if resent_any or exported_any:
            self._mark_up()
        spool = self.processor.spool
        return everything_sent and not behind_spool and (spool is None or not spool.entries())

    def _resend_spool(self, deadline: float) -> Tuple[bool, Optional[bool]]:
        """Send what the spool holds, oldest first: (anything sent, whether files remain), the
        second None when the collector is down."""
        processor = self.processor
        spool = processor.spool
        if spool is None or not spool.entries():
            return False, False
        result = spool.resend(processor._transport.send_request, deadline)
        self.resent += result.sent_spans
        if result.rejected_spans:
            processor._queue.count_dropped(result.rejected_spans, 0)
            processor._losses.note(processor._queue, "the collector rejected spooled requests as malformed")
        if result.collector_down:
            return result.sent_requests > 0, None
        # Files remain (time ran out, or another process resends): queued scores must wait behind
        # them, to keep their order.
        return result.sent_requests > 0, not result.complete

    def _export_queued(self, deadline: float, behind_spool: bool) -> Tuple[Optional[bool], bool]:
        """Export what is queued now, a batch at a time: (anything delivered or None when the
        collector is down, whether everything was sent)."""
        processor = self.processor
        queue = processor._queue
        delivered_any = False
        budget = len(queue)  # only what is queued now: a busy producer cannot keep us here
        while budget > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return delivered_any, False
            scored, plain = queue.take(min(processor.max_export_batch_size, budget))
            if not scored and not plain:
                break
            budget -= len(scored) + len(plain)
            if behind_spool and scored:
                self._keep(scored, [])
                scored = []
                if not plain:
                    continue
            outcome, scored, plain = self._send_batch(scored, plain, remaining)
            if outcome is SendOutcome.DELIVERED:
                delivered_any = True
                self.exported_scored += len(scored)
                self.exported_plain += len(plain)
            elif outcome is SendOutcome.REJECTED:
                queue.count_dropped(len(scored), len(plain))
                _logger.error("The collector rejected a batch of %d spans (%d with scores) as malformed; it was dropped.", len(scored) + len(plain), len(scored))
                processor._losses.note(queue, "the collector rejected a batch as malformed")
            else:
                self._keep(scored, plain)
                return None, False
        return delivered_any, True

    def _send_batch(self, scored: List[ReadableSpan], plain: List[ReadableSpan], timeout: float) -> Tuple[SendOutcome, List[ReadableSpan], List[ReadableSpan]]:
        """Send one batch; spans that cannot be encoded at all are dropped here (and counted), so
        the outcome and the lists returned are about what was sent."""
        processor = self.processor
        request = None
        if processor._transport.can_resend:
            request, scored, plain = _encode_each(processor, scored, plain)
            if request is None:  # nothing in the batch could be encoded
                return SendOutcome.DELIVERED, [], []
        return processor._transport.send_spans(scored + plain, request, timeout), scored, plain

    def _final_pass(self) -> bool:
        """Shutdown: one last try, then spool the scores still queued and count the rest as lost."""
        processor = self.processor
        _resolve(self._take_flush_requests(), False)
        ok = self._guarded_pass(processor._stop_by, force=True)
        with handle_internal_errors("ScoreFirstSpanProcessor shutdown"):
            self._spool_queued_scores()
        scored, plain = processor._queue.drop_all()
        if scored:
            _logger.error("%d score-carrying spans could not be delivered before shutdown and were lost (no spool configured).", scored)
        return ok and not scored and not plain

    # --- Keeping what was not delivered -----------------------------------------------------------

    def _keep(self, scored: List[ReadableSpan], plain: List[ReadableSpan]) -> None:
        """Keep undelivered spans: scores to the spool if there is one, the rest back in the queue."""
        if scored and self.processor.spool is not None:
            scored = self._spool_spans(scored)
        if scored or plain:
            self.processor._queue.requeue(scored, plain)
            self.processor._losses.note(self.processor._queue, "the queue overflowed while the collector was down")

    def _spill_if_over_budget(self) -> None:
        """With a spool, the oldest queued scores go to disk before their lane fills up."""
        processor = self.processor
        if processor._spill_at is not None and processor._queue.scored_bytes > processor._spill_at:
            self._spool_queued_scores(down_to_bytes=processor.max_scored_bytes // 2)

    def _spool_queued_scores(self, down_to_bytes: int = 0) -> None:
        processor = self.processor
        if processor.spool is None:
            return
        scored = processor._queue.take_scored(down_to_bytes)
        unspooled: List[ReadableSpan] = []
        for start in range(0, len(scored), processor.max_export_batch_size):
            unspooled.extend(self._spool_spans(scored[start : start + processor.max_export_batch_size]))
        if unspooled:
            processor._queue.requeue(unspooled, [])  # the disk is full: they wait in memory

    def _spool_spans(self, spans: List[ReadableSpan]) -> List[ReadableSpan]:
        """Write ``spans`` to the spool; returns those it could not take because the disk failed
        (kept in memory by the caller). A full spool drops them, counted and logged."""
        processor = self.processor
        spool = processor.spool
        if spool is None:
            return spans
        request, spans, _ = _encode_each(processor, spans, [])
        if request is None:
            return []
        try:
            written = spool.write(request, len(spans))
        except OSError as error:
            self._spool_trouble(f"could not write to the spool {spool.directory} ({error.strerror or error}); score-carrying spans wait in memory")
            return spans
        if written:
            self.spooled += len(spans)
            if self.spool_trouble:
                _logger.info("Writing to the spool %s again.", spool.directory)
            self.spool_trouble = ""
            return []
        processor._queue.count_dropped(len(spans), 0)
        self._spool_trouble(f"the spool {spool.directory} is full ({spool.max_bytes} bytes); score-carrying spans are dropped")
        processor._losses.reported(processor._queue)  # said once per full spell, just above
        return []

    def _spool_trouble(self, message: str) -> None:
        if self.spool_trouble != message:  # once per spell, not once per batch
            self.spool_trouble = message
            _logger.error("%s.", message[0].upper() + message[1:])

    # --- Backing off ------------------------------------------------------------------------------

    def _collector_down(self) -> None:
        self._mark_down()
        self._spool_queued_scores()

    def _mark_down(self) -> None:
        processor = self.processor
        if not self.retry_at:
            where = f"the spool {processor.spool.directory}" if processor.spool is not None else "memory"
            _logger.warning("Cannot deliver spans to %s; keeping score-carrying spans in %s and retrying.", processor._transport.destination, where)
        self.retry_delay = min(MAX_RETRY_DELAY_SECONDS, self.retry_delay * 2 or INITIAL_RETRY_DELAY_SECONDS)
        self.retry_at = time.monotonic() + self.retry_delay * random.uniform(0.8, 1.2)
        # New spans must not spin the worker while it waits (a spill still wakes it).
        self.wake_at = 1 << 62

    def _mark_up(self) -> None:
        if self.retry_at:
            _logger.info("Delivering spans to %s again.", self.processor._transport.destination)
        self.retry_at = 0.0
        self.retry_delay = 0.0
        self.wake_at = self.processor.max_export_batch_size


class _LossLog:
    """Logs score-carrying spans lost as they are lost, at most once per interval, with the total."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logged_total = 0
        self._last = -float("inf")

    def reported(self, queue: TwoLaneQueue) -> None:
        """The losses so far were logged elsewhere (a full spool says so once per spell)."""
        with self._lock:
            self._logged_total = queue.dropped_scored

    def note(self, queue: TwoLaneQueue, reason: str) -> None:
        total = queue.dropped_scored
        if total == self._logged_total:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < _LOSS_LOG_INTERVAL_SECONDS or total == self._logged_total:
                return
            lost, self._logged_total, self._last = total - self._logged_total, total, now
        _logger.error("otel-scoring lost %d score-carrying spans (%d so far): %s.", lost, total, reason)


# --- Encoding span by span ------------------------------------------------------------------------


def _encode_each(processor: ScoreFirstSpanProcessor, scored: List[ReadableSpan], plain: List[ReadableSpan]) -> Tuple[Optional[bytes], List[ReadableSpan], List[ReadableSpan]]:
    """The OTLP request for the spans, and the spans it holds.

    Normally one encoding of the whole batch (``encode_request``: the SDK's bytes, written
    without the SDK's protobuf messages, and raising where the SDK's encoder raises). When that
    fails (a lone surrogate in a span name, an event name or a status is enough), each span is
    encoded alone: one that fails is repaired (its text made encodable, so its scores are kept),
    and one that still fails is dropped and counted, costing only itself. None when nothing could
    be encoded.
    """
    try:
        return encode_request(scored + plain), scored, plain
    except Exception:  # noqa: BLE001 - whatever the SDK's encoder raises for one bad span
        pass
    kept: Dict[bool, List[ReadableSpan]] = {True: [], False: []}
    repaired = lost_scored = lost_plain = 0
    for lane, spans in ((True, scored), (False, plain)):
        for span in spans:
            usable = _encodable(span)
            if usable is None:
                if lane:
                    lost_scored += 1
                else:
                    lost_plain += 1
                continue
            repaired += usable is not span
            kept[lane].append(usable)
    queue = processor._queue
    if lost_scored or lost_plain:
        queue.count_dropped(lost_scored, lost_plain)
        _logger.error("Could not encode %d spans as OTLP even with their text repaired; only they were dropped.", lost_scored + lost_plain)
        processor._losses.note(queue, "spans that could not be encoded")
    if repaired:
        _logger.warning("Repaired %d spans whose text UTF-8 cannot encode (lone surrogates replaced by '?'), so they and their scores could be sent.", repaired)
    if not kept[True] and not kept[False]:
        return None, [], []
    try:
        return encode_request(kept[True] + kept[False]), kept[True], kept[False]
    except Exception:  # noqa: BLE001 - each span encoded alone, so together they encode too
        _logger.exception("Could not encode %d spans as OTLP; they were dropped.", len(kept[True]) + len(kept[False]))
        queue.count_dropped(len(kept[True]), len(kept[False]))
        return None, [], []


def _encodable(span: ReadableSpan) -> Optional[ReadableSpan]:
    """``span`` if it encodes, else a copy with its text repaired if that encodes, else None."""
    try:
        encode_request([span])
        return span
    except Exception:  # noqa: BLE001
        pass
    try:
        repaired = _repaired(span)
        encode_request([repaired])
        return repaired
    except Exception:  # noqa: BLE001
        return None


def _text(value: Any) -> Any:
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, (tuple, list)):
        return tuple(_text(item) for item in value)
    return value


def _attributes(attributes: Any) -> Dict[str, Any]:
    return {_text(key): _text(value) for key, value in (attributes or {}).items()}


def _repaired(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` whose texts (name, attributes, events, links, status) UTF-8 can encode."""
    status = span.status
    return ReadableSpan(
        name=_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_attributes(span.attributes),
        events=[Event(_text(event.name), _attributes(event.attributes), event.timestamp) for event in span.events],
        links=[Link(link.context, _attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=Status(status.status_code, _text(status.description)),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _seconds(timeout_millis: Optional[float]) -> float:
    return max(0.0, (DEFAULT_EXPORT_TIMEOUT_MILLIS if timeout_millis is None else timeout_millis) / 1000)


def _resolve(requests: List[_FlushRequest], ok: bool) -> None:
    for request in requests:
        request.ok = ok
        request.done.set()


def _noop() -> None:
    pass
