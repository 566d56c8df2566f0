"""``ScoreFirstSpanProcessor``: batch export that gives up plain spans before scores.

The stock ``BatchSpanProcessor`` drops whatever overflows its queue and whatever its exporter
fails to send, and its ``force_flush`` reports success either way. Scores are worth more than the
spans around them, so this processor

* queues spans in two lanes and evicts plain spans first when the queue is full (a score-carrying
  span is dropped only when the queue holds nothing else);
* exports score-carrying spans first in every batch;
* keeps what the collector did not take: score-carrying spans go to a :class:`SpanSpool` on disk
  (resent in order when the collector is back, also by the next process that opens the spool), or
  without a spool back into the queue, as plain spans do;
* backs off while the collector is down instead of retrying inside each export;
* bounds every wait: ``force_flush`` and ``shutdown`` return within their timeouts and return
  False when anything is still undelivered.

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
from typing import List, Optional, Sequence

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_scoring import _sdk_span, schema
from otel_scoring._guard import handle_internal_errors
from otel_scoring._settings import resolve_int
from otel_scoring.delivery._queue import TwoLaneQueue
from otel_scoring.delivery.sender import OTLPTraceSender, SendOutcome
from otel_scoring.delivery.spool import SpanSpool
from otel_scoring.delivery.stats import DeliveryStats

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
    # Most spans have no events. ``span.events`` copies the SDK's event list under a lock (about
    # half of what BatchSpanProcessor spends per span), so ask the list itself whether it is
    # empty first, and fall back to the public property on any other ReadableSpan.
    raw_events = getattr(span, _sdk_span.EVENTS, None)
    if raw_events is not None and not len(raw_events):
        return False
    for event in span.events:
        if event.name in _SCORE_EVENTS:
            return True
    return False


class _FlushRequest:
    __slots__ = ("deadline", "done", "ok")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.ok = False


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
            ``sender``). Requests already in it are resent first when the processor starts.
        max_queue_size, schedule_delay_millis, max_export_batch_size, export_timeout_millis: as
            for ``BatchSpanProcessor``, each falling back to its ``OTEL_BSP_*`` variable, then to
            the SDK's default (2048, 5000, 512, 30000). ``export_timeout_millis`` bounds one export
            pass; one request is also bounded by the sender's own timeout.

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
    ) -> None:
        if (span_exporter is None) == (sender is None):
            raise ValueError("pass exactly one of span_exporter= and sender=")
        if spool is not None and sender is None:
            raise ValueError("a spool resends raw OTLP requests: pass sender= (an OTLPTraceSender) with spool=")
        self.span_exporter = span_exporter
        self.sender = sender
        self.spool = spool
        self.max_queue_size = resolve_int(max_queue_size, OTEL_BSP_MAX_QUEUE_SIZE, DEFAULT_MAX_QUEUE_SIZE)
        self.schedule_delay_millis = resolve_int(schedule_delay_millis, OTEL_BSP_SCHEDULE_DELAY, DEFAULT_SCHEDULE_DELAY_MILLIS)
        self.export_timeout_millis = resolve_int(export_timeout_millis, OTEL_BSP_EXPORT_TIMEOUT, DEFAULT_EXPORT_TIMEOUT_MILLIS)
        batch_size = resolve_int(max_export_batch_size, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, DEFAULT_MAX_EXPORT_BATCH_SIZE)
        if batch_size > self.max_queue_size:
            if max_export_batch_size is not None:
                raise ValueError("max_export_batch_size must be less than or equal to max_queue_size")
            batch_size = self.max_queue_size
        self.max_export_batch_size = batch_size
        self._queue: TwoLaneQueue[ReadableSpan] = TwoLaneQueue(self.max_queue_size)
        self._shutdown_called = False
        self._shutdown_ok = False
        self._transport_closed = False
        self._stop_by = float("inf")  # monotonic time by which the worker must have stopped sending
        self._start_worker()
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
        scored = carries_scores(span)
        if self._shutdown_called:
            self._queue.count_dropped(int(scored), int(not scored))
            return
        if self._queue.put(span, scored) >= self._wake_at and not self._wake.is_set():
            self._wake.set()

    @handle_internal_errors("ScoreFirstSpanProcessor.force_flush", default=False)
    def force_flush(self, timeout_millis: Optional[int] = 30000) -> bool:
        """Deliver everything queued and spooled; False if anything is still undelivered.

        Also False when spans were lost since the previous flush (a full queue or spool, a batch
        the collector rejected), even if nothing is left to send: the caller asked whether what
        it ended has arrived. Returns within ``timeout_millis`` even when the collector hangs.
        Tries at once, even while backing off from a collector that is down.
        """
        if self._shutdown_called or threading.current_thread() is self._worker:
            return False
        timeout = _seconds(timeout_millis)
        request = _FlushRequest(time.monotonic() + timeout)
        with self._flush_lock:
            self._flush_requests.append(request)
        self._wake.set()
        if not request.done.wait(timeout):
            return False
        return request.ok

    @handle_internal_errors("ScoreFirstSpanProcessor.shutdown", default=False)
    def shutdown(self, timeout_millis: Optional[int] = 30000) -> bool:
        """Deliver what is left, spool the scores that cannot be, and stop; at most ``timeout_millis``.

        Returns True when everything was delivered. Idempotent: later calls return the first
        result. Logs the :attr:`stats`.
        """
        with self._flush_lock:
            if self._shutdown_called:
                return self._shutdown_ok
            self._shutdown_called = True
        timeout = _seconds(timeout_millis)
        deadline = time.monotonic() + timeout
        self._stop_by = deadline - min(_SHUTDOWN_RESERVE_SECONDS, timeout * 0.2)
        self._wake.set()
        self._worker.join(max(0.0, self._stop_by - time.monotonic()))
        if self._worker.is_alive():
            # Cancels the request in flight; the worker then spools its scores and stops.
            self._close_transport()
            self._worker.join(max(0.0, deadline - time.monotonic()))
        finished = not self._worker.is_alive()
        self._close_transport()
        self._shutdown_ok = finished and self._final_ok
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
        pending_scored, pending_plain = queue.lengths()
        return DeliveryStats(
            queued_scored=queue.queued_scored,
            queued_plain=queue.queued_plain,
            exported_scored=self._exported_scored,
            exported_plain=self._exported_plain,
            spooled=self._spooled,
            resent=self._resent,
            dropped_scored=queue.dropped_scored,
            dropped_plain=queue.dropped_plain,
            pending_scored=pending_scored,
            pending_plain=pending_plain,
            spool_pending=self.spool.pending_spans() if self.spool is not None else 0,
        )

    # --- The worker -------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        self._wake = threading.Event()
        self._flush_lock = threading.Lock()
        self._flush_requests: List[_FlushRequest] = []
        self._wake_at = self.max_export_batch_size  # queue length that wakes the worker early
        self._retry_at = 0.0  # monotonic time of the next try while the collector is down
        self._retry_delay = 0.0
        self._exported_scored = self._exported_plain = self._spooled = self._resent = 0
        self._final_ok = False
        self._spool_full_logged = False
        self._dropped_at_last_flush = 0
        self._worker = threading.Thread(target=self._run, name="OtelScoringScoreFirstProcessor", daemon=True)
        self._worker.start()

    def _reinit_after_fork(self) -> None:
        # The parent keeps delivering what it queued; the child starts empty with its own worker.
        self._queue.clear_after_fork()
        if self._shutdown_called:
            self._wake = threading.Event()
            self._flush_lock = threading.Lock()
            return
        self._start_worker()

    def _run(self) -> None:
        # Nothing this thread does (HTTP, gRPC, file writes) may be traced by instrumentation.
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            if self.spool is not None:  # a spool left by an earlier run goes out before anything new
                self._guarded_pass(time.monotonic() + self.export_timeout_millis / 1000, force=True)
            while True:
                self._wake.wait(self._next_wait())
                self._wake.clear()
                if self._shutdown_called:
                    self._final_ok = self._final_pass()
                    return
                requests = self._take_flush_requests()
                if requests:
                    ok = self._guarded_pass(max(request.deadline for request in requests), force=True)
                    _resolve(requests, self._nothing_lost_since_last_flush() and ok)
                else:
                    self._guarded_pass(time.monotonic() + self.export_timeout_millis / 1000, force=False)
        finally:
            _resolve(self._take_flush_requests(), False)
            detach(token)

    def _next_wait(self) -> float:
        delay = self.schedule_delay_millis / 1000
        until_retry = self._retry_at - time.monotonic()
        if self._retry_at and until_retry > 0:
            return min(delay, until_retry)
        return delay  # healthy, or due for a retry that found nothing to send

    def _nothing_lost_since_last_flush(self) -> bool:
        dropped = self._queue.dropped_scored + self._queue.dropped_plain
        nothing_lost = dropped == self._dropped_at_last_flush
        self._dropped_at_last_flush = dropped
        return nothing_lost

    def _take_flush_requests(self) -> List[_FlushRequest]:
        with self._flush_lock:
            requests, self._flush_requests = self._flush_requests, []
        return requests

    def _guarded_pass(self, deadline: float, force: bool) -> bool:
        ok = False
        with handle_internal_errors("ScoreFirstSpanProcessor worker"):
            ok = self._pass(deadline, force)
        return ok

    def _pass(self, deadline: float, force: bool) -> bool:
        """Resend the spool, then export what is queued now. True when nothing is left undelivered."""
        if not force and self._retry_at and time.monotonic() < self._retry_at:
            # Backing off: make the scores durable now; plain spans wait in the queue.
            self._spool_queued_scores()
            return False
        delivered_any = False
        through_spool = False  # scores must queue up behind spooled ones to keep their order
        spool = self.spool
        if spool is not None and spool.entries():
            result = spool.resend(self._send_request, min(deadline, self._stop_by))
            self._resent += result.sent_spans
            delivered_any = result.sent_requests > 0
            if result.rejected_spans:
                self._queue.count_dropped(result.rejected_spans, 0)
            if result.collector_down:
                self._mark_down()
                self._spool_queued_scores()
                return False
            through_spool = not result.complete
        everything_sent = True
        budget = len(self._queue)  # only what is queued now: a busy producer cannot keep us here
        while budget > 0:
            remaining = min(deadline, self._stop_by) - time.monotonic()
            if remaining <= 0:
                everything_sent = False
                break
            scored, plain = self._queue.take(min(self.max_export_batch_size, budget))
            if not scored and not plain:
                break
            budget -= len(scored) + len(plain)
            if through_spool and scored:
                self._keep(scored, [])
                scored = []
                if not plain:
                    continue
            outcome = self._send_spans(scored + plain, remaining)
            if outcome is SendOutcome.DELIVERED:
                delivered_any = True
                self._exported_scored += len(scored)
                self._exported_plain += len(plain)
            elif outcome is SendOutcome.REJECTED:
                self._queue.count_dropped(len(scored), len(plain))
                _logger.error("The collector rejected a batch of %d spans (%d with scores) as malformed; it was dropped.", len(scored) + len(plain), len(scored))
            else:
                self._mark_down()
                self._keep(scored, plain)
                self._spool_queued_scores()
                return False
        if delivered_any:
            self._mark_up()
        if not everything_sent or through_spool:
            return False
        return spool is None or not spool.entries()

    def _final_pass(self) -> bool:
        """Shutdown: one last try, then spool the scores still queued and count the rest as lost."""
        _resolve(self._take_flush_requests(), False)
        ok = self._guarded_pass(self._stop_by, force=True)
        with handle_internal_errors("ScoreFirstSpanProcessor shutdown"):
            self._spool_queued_scores()
        scored, plain = self._queue.drop_all()
        if scored:
            _logger.error("%d score-carrying spans could not be delivered before shutdown and were lost (no spool configured).", scored)
        return ok and not scored and not plain

    # --- Sending and keeping ----------------------------------------------------------------------

    def _send_spans(self, spans: Sequence[ReadableSpan], timeout: float) -> SendOutcome:
        if self.sender is not None:
            request = _encode(spans)
            return SendOutcome.REJECTED if request is None else self._send_request(request, timeout)
        if self._transport_closed:
            return SendOutcome.RETRY
        try:
            result = self.span_exporter.export(spans)  # type: ignore[union-attr]
        except Exception:
            _logger.exception("Exception while exporting spans with %r.", self.span_exporter)
            return SendOutcome.RETRY
        return SendOutcome.DELIVERED if result is SpanExportResult.SUCCESS else SendOutcome.RETRY

    def _send_request(self, request: bytes, timeout: float) -> SendOutcome:
        try:
            return self.sender.send(request, timeout)  # type: ignore[union-attr]
        except Exception:  # whatever a transport throws, the request is kept for another try
            _logger.exception("Exception while sending spans to %s.", self._destination())
            return SendOutcome.RETRY

    def _keep(self, scored: List[ReadableSpan], plain: List[ReadableSpan]) -> None:
        """Keep undelivered spans: scores to the spool if there is one, the rest back in the queue."""
        if scored and self.spool is not None:
            self._spool_spans(scored)
            scored = []
        if scored or plain:
            self._queue.requeue(scored, plain)

    def _spool_queued_scores(self) -> None:
        if self.spool is None:
            return
        scored = self._queue.take_scored()
        for start in range(0, len(scored), self.max_export_batch_size):
            self._spool_spans(scored[start : start + self.max_export_batch_size])

    def _spool_spans(self, spans: List[ReadableSpan]) -> None:
        spool = self.spool
        if spool is None:
            return
        request = _encode(spans)
        if request is None:
            self._queue.count_dropped(len(spans), 0)
            return
        try:
            written = spool.write(request, len(spans))
        except OSError:
            _logger.exception("Could not write to the spool %s.", spool.directory)
            written = False
        if written:
            self._spooled += len(spans)
            self._spool_full_logged = False
            return
        self._queue.count_dropped(len(spans), 0)
        if not self._spool_full_logged:  # once per full spell, not once per batch
            self._spool_full_logged = True
            _logger.error("The spool %s is full (%d bytes); %d score-carrying spans were dropped.", spool.directory, spool.max_bytes, len(spans))

    def _mark_down(self) -> None:
        if not self._retry_at:
            where = f"the spool {self.spool.directory}" if self.spool is not None else "memory"
            _logger.warning("Cannot deliver spans to %s; keeping score-carrying spans in %s and retrying.", self._destination(), where)
        self._retry_delay = min(MAX_RETRY_DELAY_SECONDS, self._retry_delay * 2 or INITIAL_RETRY_DELAY_SECONDS)
        self._retry_at = time.monotonic() + self._retry_delay * random.uniform(0.8, 1.2)
        self._wake_at = self.max_queue_size + 1  # new spans must not spin the worker while it waits

    def _mark_up(self) -> None:
        if self._retry_at:
            _logger.info("Delivering spans to %s again.", self._destination())
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._wake_at = self.max_export_batch_size

    def _destination(self) -> str:
        return self.sender.endpoint if self.sender is not None else repr(self.span_exporter)

    def _close_transport(self) -> None:
        if self._transport_closed:
            return
        self._transport_closed = True
        with handle_internal_errors("ScoreFirstSpanProcessor.shutdown (closing the exporter)"):
            if self.sender is not None:
                self.sender.close()
            else:
                self.span_exporter.shutdown()  # type: ignore[union-attr]


def _encode(spans: Sequence[ReadableSpan]) -> Optional[bytes]:
    """The serialized OTLP request for ``spans``; None (logged) when they cannot be encoded."""
    try:
        return encode_spans(spans).SerializeToString()
    except Exception:
        _logger.exception("Could not encode %d spans as OTLP; they were dropped.", len(spans))
        return None


def _seconds(timeout_millis: Optional[float]) -> float:
    return max(0.0, (DEFAULT_EXPORT_TIMEOUT_MILLIS if timeout_millis is None else timeout_millis) / 1000)


def _resolve(requests: List[_FlushRequest], ok: bool) -> None:
    for request in requests:
        request.ok = ok
        request.done.set()


def _noop() -> None:
    pass
