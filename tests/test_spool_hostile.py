"""The spool survives its own directory: entries that are not its regular files are skipped with
one warning and moved aside, reads are bounded by the recorded size, and a full disk keeps scores
in memory with one message, so one bad entry never stops delivery."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import grpc
import pytest
from support.delivery_support import GrpcCollector, end_spans, one_request, scoring_provider

from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor, SpanSpool

NAME = "00000000000000000001-1-1-1.otlp"  # sorts before anything the spool writes now


def make_bad_entry(kind: str, path: Path) -> None:
    """One of the entries a spool directory can hold that is not a request file of its own."""
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it to read would block forever
    elif kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")  # reading it would never end
    else:
        path.symlink_to(path.parent / "elsewhere.bin")


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink to /dev/zero", "symlink to a request"])
def test_an_entry_that_is_not_a_regular_file_is_quarantined_and_delivery_goes_on(tmp_path, caplog, kind):
    """A bad entry ahead of a good spooled request: one warning, the entry moved to .quarantine, the good request and new scores delivered."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / "elsewhere.bin").write_bytes(one_request())
    make_bad_entry(kind, spool_dir / NAME)
    SpanSpool(spool_dir).write(one_request(), 1)
    with GrpcCollector() as collector, caplog.at_level(logging.WARNING, logger="otel_scoring"):
        spool = SpanSpool(spool_dir)
        delivery = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=collector.endpoint, protocol="grpc"), spool=spool, schedule_delay_millis=60_000)
        provider = scoring_provider(delivery)
        try:
            end_spans(provider, ["scored-new"])
            assert delivery.force_flush(10_000) is True
            collector.wait_for(lambda: "scored-new" in collector.span_names())
        finally:
            provider.shutdown()
    assert len(collector.span_names()) == 2  # the spooled request and the new span; nothing from the bad entry
    assert (spool_dir / ".quarantine" / NAME).exists() or (spool_dir / ".quarantine" / NAME).is_symlink()
    warnings = [record.getMessage() for record in caplog.records if NAME in record.getMessage()]
    assert len(warnings) == 1 and "not resent" in warnings[0]


def test_a_request_file_longer_than_when_it_was_listed_is_not_read_past_its_size(tmp_path, caplog):
    """A spool file that grows after it was listed is quarantined, never read whole."""
    spool_dir = tmp_path / "spool"
    spool = SpanSpool(spool_dir)
    spool.write(one_request(), 1)
    (entry,) = spool.entries()
    with open(entry.path, "ab") as handle:
        handle.write(b"\0" * 1_000_000)
    assert spool._read(entry) is None
    assert not os.path.exists(entry.path) and (spool_dir / ".quarantine" / os.path.basename(entry.path)).exists()


class FullDiskSpool(SpanSpool):
    """A real spool whose disk is full: every write fails with ENOSPC (filling a real disk, or
    mounting a tiny one, is not something a test on a shared machine may do)."""

    def write(self, request: bytes, span_count: int) -> bool:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_keeps_scores_in_memory_says_so_once_and_delivers_them_later(tmp_path, caplog):
    """With the collector down and the disk full, scores stay queued (none dropped), one error says why, and they arrive once the collector is back."""
    with GrpcCollector(status=grpc.StatusCode.UNAVAILABLE) as collector:
        spool = FullDiskSpool(tmp_path / "spool")
        delivery = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=collector.endpoint, protocol="grpc"), spool=spool, schedule_delay_millis=60_000)
        provider = scoring_provider(delivery)
        try:
            with caplog.at_level(logging.ERROR, logger="otel_scoring"):
                for round_number in range(3):
                    end_spans(provider, [f"scored-{round_number}"])
                    assert delivery.force_flush(5000) is False
            assert delivery.stats.dropped_scored == 0 and delivery.stats.pending_scored == 3
            disk_messages = [record.getMessage() for record in caplog.records if "No space left" in record.getMessage()]
            assert len(disk_messages) == 1 and "full (" not in disk_messages[0]
            collector.status = None
            assert delivery.force_flush(10_000) is True
            collector.wait_for(lambda: len(collector.span_names()) == 3)
        finally:
            provider.shutdown()
