"""The on-disk spool: durable, bounded, ordered, and resent when the collector comes back."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import List

import grpc
import pytest
from support.delivery_support import GrpcCollector, end_spans, free_port, one_request, score_ids, scoring_provider
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import otel_scoring
from otel_scoring.configuration import delivery_processor
from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor, SendOutcome, SpanSpool

NEVER_MILLIS = 60_000


def spool_files(directory: Path) -> List[str]:
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def spooled_score_ids(spool: SpanSpool) -> List[str]:
    ids = []
    for entry in spool.entries():
        ids.extend(score_ids(ExportTraceServiceRequest.FromString(Path(entry.path).read_bytes())))
    return ids


def test_the_spool_keeps_whole_requests_in_write_order_within_its_bound(tmp_path: Path) -> None:
    """Requests come back oldest first, byte for byte, with no temporary files left; past max_bytes a write is refused."""
    request = one_request()
    spool = SpanSpool(tmp_path / "spool", max_bytes=3 * len(request))
    for span_count in (1, 2, 3):
        assert spool.write(request, span_count) is True
    assert spool.write(request, 4) is False  # would exceed the bound: nothing written

    entries = spool.entries()
    assert [entry.span_count for entry in entries] == [1, 2, 3]
    assert all(Path(entry.path).read_bytes() == request for entry in entries)
    assert len(os.listdir(tmp_path / "spool")) == 3  # no temporary files beside them
    assert spool.used_bytes() == 3 * len(request) and spool.pending_spans() == 6


def test_resend_stops_at_the_first_request_the_collector_does_not_take(tmp_path: Path) -> None:
    """Resending goes oldest first and stops at a failure, leaving that request and the rest in place, in order."""
    spool = SpanSpool(tmp_path)
    for span_count in (1, 2, 3):
        spool.write(one_request(), span_count)
    outcomes = iter([SendOutcome.DELIVERED, SendOutcome.RETRY])
    sent: List[bytes] = []

    def send(request: bytes, timeout: float) -> SendOutcome:
        sent.append(request)
        return next(outcomes)

    result = spool.resend(send, time.monotonic() + 5)
    assert (result.sent_spans, result.complete, result.collector_down) == (1, False, True)
    assert len(sent) == 2  # the third was never tried
    assert [entry.span_count for entry in spool.entries()] == [2, 3]


def test_scores_wait_in_the_spool_while_the_collector_is_down_and_are_resent_in_order(tmp_path: Path) -> None:
    """Score-carrying spans that fail to export go to disk (plain ones do not), and reach the restarted collector in the order they ended."""
    collector = GrpcCollector(free_port())
    spool = SpanSpool(tmp_path / "spool")
    delivery = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=collector.endpoint), spool=spool, schedule_delay_millis=NEVER_MILLIS)
    provider = scoring_provider(delivery)
    try:
        for round_number in range(3):
            end_spans(provider, [f"scored-{round_number}", f"plain-{round_number}"])
            assert delivery.force_flush(5000) is False
        spooled_ids = spooled_score_ids(spool)
        assert len(spooled_ids) == 3 and delivery.stats.spooled == 3
        assert delivery.stats.pending_plain == 3  # plain spans wait in memory, never on disk

        with collector:
            assert delivery.force_flush(5000) is True
            assert collector.score_ids() == spooled_ids  # same scores, same order
            assert sorted(collector.span_names()) == sorted([f"scored-{i}" for i in range(3)] + [f"plain-{i}" for i in range(3)])
        assert spool.entries() == [] and delivery.stats.resent == 3
    finally:
        provider.shutdown()


def test_shutdown_with_the_collector_down_spools_the_queue_within_its_timeout(tmp_path: Path) -> None:
    """shutdown() against a dead collector returns False in time, with every score on disk and the plain spans counted as dropped."""
    spool = SpanSpool(tmp_path)
    delivery = ScoreFirstSpanProcessor(
        sender=OTLPTraceSender(endpoint=f"http://127.0.0.1:{free_port()}"), spool=spool, schedule_delay_millis=NEVER_MILLIS
    )
    provider = scoring_provider(delivery)
    end_spans(provider, ["scored-a", "scored-b", "plain-c"])

    assert delivery.shutdown(timeout_millis=3000) is False
    assert spool.pending_spans() == 2
    assert (delivery.stats.dropped_scored, delivery.stats.dropped_plain) == (0, 1)
    provider.shutdown()


def test_the_next_processor_on_a_spool_resends_it_before_anything_new(tmp_path: Path) -> None:
    """Scores spooled by a processor that stopped are sent first by the next processor that opens the directory."""
    port = free_port()
    directory = tmp_path / "spool"
    first = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=f"http://127.0.0.1:{port}"), spool=SpanSpool(directory))
    first_provider = scoring_provider(first)
    end_spans(first_provider, ["scored-old-1", "scored-old-2"])
    first_provider.shutdown()
    assert len(spool_files(directory)) == 1

    with GrpcCollector(port) as collector:
        second = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=collector.endpoint), spool=SpanSpool(directory))
        second_provider = scoring_provider(second)
        end_spans(second_provider, ["scored-new"])
        assert second.force_flush(5000) is True
        second_provider.shutdown()
    assert collector.span_names() == ["scored-old-1", "scored-old-2", "scored-new"]
    assert second.stats.resent == 2 and spool_files(directory) == []


def test_a_full_spool_drops_new_scores_counts_them_and_logs_once(tmp_path: Path, caplog) -> None:
    """When the spool is at its bound, scores that cannot be kept are counted as dropped with one error, not one per batch."""
    delivery = ScoreFirstSpanProcessor(
        sender=OTLPTraceSender(endpoint=f"http://127.0.0.1:{free_port()}"),
        spool=SpanSpool(tmp_path, max_bytes=10),
        schedule_delay_millis=NEVER_MILLIS,
    )
    provider = scoring_provider(delivery)
    with caplog.at_level(logging.ERROR, logger="otel_scoring"):
        for round_number in range(3):
            end_spans(provider, [f"scored-{round_number}"])
            assert delivery.force_flush(5000) is False
    assert delivery.stats.dropped_scored == 3 and delivery.stats.spooled == 0
    assert sum("spool" in record.getMessage() and "full" in record.getMessage() for record in caplog.records) == 1
    provider.shutdown()


def test_a_spooled_request_the_collector_rejects_is_removed_and_counted(tmp_path: Path) -> None:
    """A spooled request the collector calls malformed is removed so it cannot block the spool forever."""
    spool = SpanSpool(tmp_path)
    spool.write(one_request(), 1)
    with GrpcCollector(status=grpc.StatusCode.INVALID_ARGUMENT) as collector:
        delivery = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=collector.endpoint), spool=spool)
        try:
            assert delivery.force_flush(5000) is False  # the spooled score never arrived ...
            assert delivery.force_flush(5000) is True  # ... and it is not retried: the spool is empty
        finally:
            delivery.shutdown()
    assert spool.entries() == [] and delivery.stats.dropped_scored == 1


def test_configure_spools_to_the_directory_in_the_environment(tmp_path: Path, monkeypatch) -> None:
    """configure() spools to OTEL_SCORING_SPOOL_DIR when no spool_dir= is given."""
    monkeypatch.setenv("OTEL_SCORING_SPOOL_DIR", str(tmp_path / "from-env"))
    provider = otel_scoring.configure(endpoint=f"http://127.0.0.1:{free_port()}", set_global=False)
    end_spans(provider, ["scored-a"])
    assert provider.force_flush(3000) is False
    assert delivery_processor(provider).stats.spooled == 1
    assert len(spool_files(tmp_path / "from-env")) == 1
    provider.shutdown()


def test_configure_refuses_a_spool_with_an_in_memory_exporter(tmp_path: Path) -> None:
    """spool_dir= with span_exporter= is a programmer error raised at setup."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    with pytest.raises(ValueError):
        otel_scoring.configure(span_exporter=InMemorySpanExporter(), spool_dir=tmp_path, set_global=False)


def test_only_one_spool_resends_a_shared_directory_at_a_time(tmp_path: Path) -> None:
    """Two spools on one directory never resend the same request: while one resends, the other backs off."""
    first, second = SpanSpool(tmp_path), SpanSpool(tmp_path)
    for span_count in (1, 2):
        first.write(one_request(), span_count)
    sent: List[bytes] = []
    second_results = []

    def send(request: bytes, timeout: float) -> SendOutcome:
        second_results.append(second.resend(lambda *_: pytest.fail("sent twice"), time.monotonic() + 5))
        sent.append(request)
        return SendOutcome.DELIVERED

    result = first.resend(send, time.monotonic() + 5)
    assert (result.sent_spans, result.complete) == (3, True) and len(sent) == 2
    assert all(not other.complete and other.sent_requests == 0 for other in second_results)
    assert first.entries() == [] and second.entries() == []
