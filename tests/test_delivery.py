"""ScoreFirstSpanProcessor with SDK exporters: queue priority, retries, flush and shutdown bounds."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import warnings
from typing import Iterator, List, Sequence

import pytest
from support.delivery_support import end_spans, scoring_provider
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring.delivery import DeliveryStats, ScoreFirstSpanProcessor, carries_scores

# Long enough that only a full batch, a flush or a shutdown makes the worker export.
NEVER_MILLIS = 60_000


class GateExporter(SpanExporter):
    """Records batches; while its gate is closed, export() blocks (at most 10 s); can be told to fail."""

    def __init__(self, gate_open: bool = True) -> None:
        self.batches: List[List[str]] = []
        self.gate = threading.Event()
        if gate_open:
            self.gate.set()
        self.entered = threading.Event()
        self.fail = False
        self.suppressed: List[bool] = []
        self.shutdown_called = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.suppressed.append(bool(get_value(_SUPPRESS_INSTRUMENTATION_KEY)))
        self.gate.wait(10)
        if self.fail or self.shutdown_called:  # like the stock exporters: shutdown aborts an export
            return SpanExportResult.FAILURE
        self.batches.append([span.name for span in spans])
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shutdown_called = True
        self.gate.set()

    def exported(self) -> List[str]:
        return [name for batch in self.batches for name in batch]


@pytest.fixture
def make_provider() -> Iterator:
    providers: List[TracerProvider] = []

    def make(delivery: ScoreFirstSpanProcessor) -> TracerProvider:
        provider = scoring_provider(delivery)
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        provider.shutdown()


def test_every_span_is_exported_and_counted_per_lane(make_provider) -> None:
    """Plain and score-carrying spans all reach the exporter, and the stats count each lane."""
    exporter = InMemorySpanExporter()
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, ["plain-0", "scored-0", "plain-1", "scored-1", "plain-2"])

    assert delivery.force_flush(5000) is True

    assert sorted(span.name for span in exporter.get_finished_spans()) == ["plain-0", "plain-1", "plain-2", "scored-0", "scored-1"]
    assert delivery.stats == DeliveryStats(queued_scored=2, queued_plain=3, exported_scored=2, exported_plain=3)


def test_metadata_and_carrier_spans_ride_the_score_lane(make_provider) -> None:
    """A span with a metadata update and a carrier span for a late score both count as score-carrying."""
    exporter = InMemorySpanExporter()
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("with-metadata") as root:
        otel_scoring.metadata("memo-1").update({"plan": "pro"}, kind="billing")
    otel_scoring.create_score(name="late", value=1, trace_id=root.get_span_context().trace_id)

    assert delivery.force_flush(5000) is True
    spans = exporter.get_finished_spans()
    assert len(spans) == 2 and all(carries_scores(span) for span in spans)
    assert delivery.stats.exported_scored == 2 and delivery.stats.exported_plain == 0


def test_a_full_queue_evicts_plain_spans_and_exports_scores_first(make_provider) -> None:
    """While the exporter is stuck, overflow drops only plain spans (the queue holds 10 of them), and the next batch is all scores."""
    exporter = GateExporter(gate_open=False)
    delivery = ScoreFirstSpanProcessor(exporter, max_queue_size=10, max_export_batch_size=5, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, [f"first-{i}" for i in range(5)])  # a full batch: the worker takes it and blocks
    assert exporter.entered.wait(5)
    burst = [f"scored-{i}" if i % 5 == 2 else f"plain-{i}" for i in range(25)]
    end_spans(provider, burst)

    stats = delivery.stats
    assert (stats.dropped_scored, stats.dropped_plain) == (0, 10)  # 20 plain spans for 10 places
    exporter.gate.set()
    assert delivery.force_flush(5000) is False  # everything queued went out, but 10 spans were lost
    assert delivery.force_flush(5000) is True  # nothing lost since that flush

    scored = [name for name in burst if name.startswith("scored")]
    assert exporter.batches[1] == scored  # the batch after the stuck one: scores, oldest first
    assert set(scored) <= set(exporter.exported())
    print(f"\nqueue of 10, burst of 25 with 5 scored: {delivery.stats}")


def test_a_score_lane_over_its_byte_budget_drops_the_oldest_score(make_provider, caplog) -> None:
    """With room for one score-carrying span, each newer one drops the oldest, counted and logged at once; a plain span never displaces a score."""
    exporter = GateExporter(gate_open=False)
    delivery = ScoreFirstSpanProcessor(exporter, max_queue_size=4, max_export_batch_size=1, schedule_delay_millis=NEVER_MILLIS, max_scored_bytes=1)
    provider = make_provider(delivery)
    end_spans(provider, ["plain-blocker"])
    assert exporter.entered.wait(5)
    end_spans(provider, [f"scored-{i}" for i in range(6)])
    end_spans(provider, ["plain-late"])  # never displaces a score

    assert delivery.stats.dropped_scored == 5 and delivery.stats.dropped_plain == 0
    # The loss is logged when it happens, not only at shutdown.
    assert any("lost" in record.getMessage() and "score-carrying" in record.getMessage() for record in caplog.records)
    exporter.gate.set()
    assert delivery.force_flush(5000) is False  # the dropped spans never arrive
    assert exporter.exported() == ["plain-blocker", "scored-5", "plain-late"]


def test_opt_in_backpressure_holds_the_producer_instead_of_dropping_a_score(make_provider) -> None:
    """With max_block_millis and a full score lane, ending a scored span waits for the worker to make room: no score is dropped."""
    exporter = GateExporter(gate_open=False)
    delivery = ScoreFirstSpanProcessor(exporter, max_queue_size=4, max_export_batch_size=1, schedule_delay_millis=NEVER_MILLIS, max_scored_bytes=1, max_block_millis=10_000)
    provider = make_provider(delivery)
    end_spans(provider, ["plain-blocker"])
    assert exporter.entered.wait(5)
    opener = threading.Timer(0.3, exporter.gate.set)
    opener.start()
    started = time.monotonic()
    end_spans(provider, [f"scored-{i}" for i in range(4)])
    waited = time.monotonic() - started
    opener.join()
    assert waited >= 0.25  # the producer was held until the exporter took spans
    assert delivery.force_flush(5000) is True
    assert delivery.stats.dropped_scored == 0
    assert exporter.exported() == ["plain-blocker", "scored-0", "scored-1", "scored-2", "scored-3"]


def test_failed_exports_are_retried_from_memory_until_they_succeed(make_provider) -> None:
    """A failing exporter makes force_flush return False and keeps the spans; once it recovers they are delivered."""
    exporter = GateExporter()
    exporter.fail = True
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, ["scored-a", "plain-b"])

    assert delivery.force_flush(5000) is False
    assert delivery.stats.pending_scored == 1 and delivery.stats.pending_plain == 1

    exporter.fail = False
    assert delivery.force_flush(5000) is True
    assert sorted(exporter.exported()) == ["plain-b", "scored-a"]
    assert delivery.stats.dropped_scored == 0


def test_force_flush_returns_false_within_its_timeout_when_the_exporter_hangs(make_provider) -> None:
    """force_flush honours timeout_millis against an exporter that never answers, and says False."""
    exporter = GateExporter(gate_open=False)
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, ["scored-a"])

    started = time.monotonic()
    assert delivery.force_flush(timeout_millis=200) is False
    assert time.monotonic() - started < 5  # far below the exporter's 10 s hang
    exporter.gate.set()


def test_shutdown_returns_false_within_its_timeout_when_the_exporter_hangs(make_provider) -> None:
    """shutdown honours timeout_millis against a hanging exporter, shuts the exporter down, and is idempotent."""
    exporter = GateExporter(gate_open=False)
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, ["scored-a"])
    assert delivery.force_flush(timeout_millis=50) is False  # the worker is now stuck in export

    started = time.monotonic()
    assert delivery.shutdown(timeout_millis=500) is False
    assert time.monotonic() - started < 5
    assert exporter.shutdown_called
    assert delivery.shutdown() is False  # the same answer again, at once


def test_shutdown_without_a_spool_reports_the_scores_it_lost(make_provider, caplog) -> None:
    """With a collector that keeps failing and no spool, shutdown returns False and counts and logs the lost scores."""
    exporter = GateExporter()
    exporter.fail = True
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, ["scored-a", "scored-b", "plain-c"])

    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        assert delivery.shutdown(timeout_millis=5000) is False
    assert delivery.stats.dropped_scored == 2 and delivery.stats.dropped_plain == 1
    assert any("lost 2 score-carrying spans" in record.getMessage() for record in caplog.records)


def test_spans_ended_after_shutdown_are_counted_as_dropped(make_provider) -> None:
    """After shutdown nothing is queued or exported; late spans show up as dropped in their lane."""
    exporter = InMemorySpanExporter()
    delivery = ScoreFirstSpanProcessor(exporter)
    provider = make_provider(delivery)
    assert delivery.shutdown() is True
    end_spans(provider, ["scored-late", "plain-late"])

    assert exporter.get_finished_spans() == ()
    assert (delivery.stats.dropped_scored, delivery.stats.dropped_plain) == (1, 1)
    assert delivery.force_flush(1000) is False


def test_exporting_runs_with_instrumentation_suppressed(make_provider) -> None:
    """The exporter runs with the suppress-instrumentation flag set, so instrumented HTTP clients do not trace it."""
    exporter = GateExporter()
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, ["plain-a"])
    assert delivery.force_flush(5000) is True
    assert exporter.suppressed == [True]


def test_settings_fall_back_to_the_standard_batch_variables(monkeypatch) -> None:
    """OTEL_BSP_* variables size the queue and batches when no keyword is given; bad values raise at construction."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16")
    delivery = ScoreFirstSpanProcessor(InMemorySpanExporter())
    try:
        assert (delivery.max_queue_size, delivery.max_export_batch_size) == (64, 16)
    finally:
        delivery.shutdown()
    with pytest.raises(ValueError):
        ScoreFirstSpanProcessor(InMemorySpanExporter(), max_queue_size=4, max_export_batch_size=8)
    with pytest.raises(ValueError):
        ScoreFirstSpanProcessor()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_delivers_its_own_spans_with_a_new_worker(make_provider) -> None:
    """After fork the child's processor runs its own worker: the child's spans are exported, the parent's are not re-sent."""
    exporter = InMemorySpanExporter()
    delivery = ScoreFirstSpanProcessor(exporter, schedule_delay_millis=NEVER_MILLIS)
    provider = make_provider(delivery)
    end_spans(provider, ["scored-parent"])  # queued in the parent, not yet exported
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork of a threaded process
        pid = os.fork()
    if pid == 0:  # the child: report and leave without running the parent's cleanup
        try:
            end_spans(provider, ["scored-child"])
            flushed = delivery.force_flush(5000)
            report = {"flushed": flushed, "names": [span.name for span in exporter.get_finished_spans()]}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read() or b"{}")
    os.waitpid(pid, 0)

    assert report == {"flushed": True, "names": ["scored-child"]}
    assert delivery.force_flush(5000) is True
    assert [span.name for span in exporter.get_finished_spans()] == ["scored-parent"]


def test_configure_delivers_score_first_to_an_in_memory_exporter() -> None:
    """configure(span_exporter=...) still exports every span, through the score-first processor whose stats it exposes."""
    from otel_scoring.configuration import delivery_processor

    exporter = InMemorySpanExporter()
    provider = otel_scoring.configure(span_exporter=exporter, service_name="in-memory", set_global=False)
    try:
        end_spans(provider, ["scored-a", "plain-b"])
        assert provider.force_flush(5000) is True
        assert sorted(span.name for span in exporter.get_finished_spans()) == ["plain-b", "scored-a"]
        delivery = delivery_processor(provider)
        assert isinstance(delivery, ScoreFirstSpanProcessor)
        assert (delivery.stats.exported_scored, delivery.stats.exported_plain) == (1, 1)
    finally:
        provider.shutdown()
    assert delivery_processor(TracerProvider()) is None
