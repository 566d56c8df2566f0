"""Failure test (a): the receiver is killed mid-stream and restarted on the same port; no score is lost.

The counts appear in the run's "scores through failures" summary.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.delivery_support import ReceiverProcess, wait_for_stored

import otel_scoring
from otel_scoring.configuration import delivery_processor

pytestmark = pytest.mark.slow

STREAM_INTERVAL_SECONDS = 0.01
DOWN_SECONDS = 3.0


def test_every_score_reaches_the_store_when_the_receiver_is_killed_mid_stream(tmp_path: Path, monkeypatch, report_counts) -> None:
    """A receiver SIGKILLed for seconds in the middle of a stream of scores still ends up storing every score once."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    db_path = tmp_path / "scores.db"
    sent = []
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        provider = otel_scoring.configure(
            service_name="stream", endpoint=receiver.grpc_endpoint, protocol="grpc", spool_dir=tmp_path / "spool", set_global=False
        )
        tracer = provider.get_tracer("stream")

        def stream_for(seconds: float) -> None:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                score_id = f"stream-{len(sent):05d}"
                with tracer.start_as_current_span("step"):
                    otel_scoring.score_current_span(name="quality", value=len(sent) % 100 / 100, score_id=score_id)
                sent.append(score_id)
                time.sleep(STREAM_INTERVAL_SECONDS)

        try:
            stream_for(1.5)
            receiver.kill()
            stream_for(DOWN_SECONDS)
            receiver.start()  # the same ports
            stream_for(1.5)
            provider.force_flush(30_000)
            stored = wait_for_stored(db_path, set(sent), timeout=30)
        finally:
            provider.shutdown()
            receiver.stop()

    stats = delivery_processor(provider).stats
    deliveries = stats.exported_scored + stats.resent
    report_counts(
        f"(a) receiver killed for {DOWN_SECONDS:.0f} s mid-stream: scores sent={len(sent)} stored={len(set(stored))} "
        f"duplicated={len(stored) - len(set(stored))} (deliveries beyond one per score: {deliveries - len(set(stored))}); {stats}"
    )
    assert sorted(stored) == sorted(sent)
    assert stats.dropped_scored == 0
    assert stats.spooled > 0  # the outage really happened while scores were flowing
