"""The spool survives its own directory: entries that are not its regular files are skipped with
one warning and moved aside, reads are bounded by the recorded size, and a full disk keeps scores
in memory with one message, so one bad entry never stops delivery."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from support.delivery_support import GrpcCollector, end_spans, one_request, scoring_provider
from support.peers import in_ci

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
    """A spool whose disk is always full: every write fails with ENOSPC. The edge case (a disk
    full from the first write on); the proof on a real, small file system is the next test."""

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


SMALL_DISK_BYTES = 256 * 1024


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A real 256 KiB tmpfs, mounted for the test and unmounted after, whatever happens.

    Mounting needs root (CAP_SYS_ADMIN); this project's machines and CI run the tests as root and
    can, so there a refused mount fails the test in CI. Elsewhere it skips, saying why.
    """
    directory = Path(tempfile.mkdtemp(prefix="otel-scoring-small-disk-"))
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK_BYTES},mode=0700", "tmpfs", str(directory)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        mounted = subprocess.CompletedProcess([], 1, "", str(error))
    if mounted.returncode != 0:
        directory.rmdir()
        reason = f"mounting a small tmpfs for the spool was refused ({mounted.stderr.strip() or mounted.returncode})"
        if in_ci() and os.geteuid() == 0:
            pytest.fail(f"CI runs as root and must mount it, but {reason}", pytrace=False)
        pytest.skip(reason + "; needs root")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=30)
        directory.rmdir()


def fill(directory: Path) -> Path:
    """Write a file until the file system says ENOSPC; returns it (delete it to free the disk)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def test_a_spool_on_a_real_full_disk_keeps_every_score_and_says_so_once_per_spell(small_disk, caplog):
    """On a real 256 KiB tmpfs with the collector down: a batch spooled before the disk filled stays
    on disk; the batches that meet ENOSPC stay in memory (none dropped, no half-written file left),
    one error says so for the spell; freeing the disk and bringing the collector back delivers all."""
    spool_dir = small_disk / "spool"
    with GrpcCollector(status=grpc.StatusCode.UNAVAILABLE) as collector:
        spool = SpanSpool(spool_dir)
        delivery = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=collector.endpoint, protocol="grpc"), spool=spool, schedule_delay_millis=60_000)
        provider = scoring_provider(delivery)
        try:
            end_spans(provider, ["scored-before-full"])
            assert delivery.force_flush(5000) is False
            assert len(spool.entries()) == 1  # on disk while there was room
            filler = fill(small_disk)
            with caplog.at_level(logging.ERROR, logger="otel_scoring"):
                for round_number in range(3):
                    end_spans(provider, [f"scored-while-full-{round_number}"])
                    assert delivery.force_flush(5000) is False
            assert delivery.stats.dropped_scored == 0 and delivery.stats.pending_scored == 3
            assert len(spool.entries()) == 1 and [p.name for p in spool_dir.iterdir() if p.name.endswith(".tmp")] == []
            disk_messages = [record.getMessage() for record in caplog.records if "No space left" in record.getMessage()]
            assert len(disk_messages) == 1 and "full (" not in disk_messages[0]
            filler.unlink()
            collector.status = None
            assert delivery.force_flush(10_000) is True
            collector.wait_for(lambda: len(collector.span_names()) == 4)
            assert sorted(collector.span_names()) == ["scored-before-full", "scored-while-full-0", "scored-while-full-1", "scored-while-full-2"]
            assert delivery.stats.dropped_scored == 0
        finally:
            provider.shutdown()
