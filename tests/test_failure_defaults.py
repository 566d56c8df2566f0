"""Failure tests with nothing but ``configure()``'s defaults (no spool, no tuning): a 20 000-span
burst with every span scored, and a receiver killed for 5 s under 200 scores a second, lose no
score. The counts appear in the run's "scores through failures" summary and in
docs/reliability.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.delivery_support import ReceiverProcess, stored_score_ids, wait_for_stored

import otel_scoring
from otel_scoring.configuration import delivery_processor

pytestmark = pytest.mark.slow

BURST_SPANS = 20_000
SCORES_PER_SECOND = 200
DOWN_SECONDS = 5.0


def test_a_20000_span_burst_every_span_scored_loses_no_score_with_defaults(tmp_path: Path, report_counts) -> None:
    """20 000 spans as fast as they come, each with a score, through configure()'s defaults: every score is stored."""
    db_path = tmp_path / "scores.db"
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        provider = otel_scoring.configure(service_name="burst-all", endpoint=receiver.grpc_endpoint, protocol="grpc", set_global=False)
        tracer = provider.get_tracer("burst")
        sent = []
        started = time.monotonic()
        try:
            for index in range(BURST_SPANS):
                with tracer.start_as_current_span("scored-work"):
                    score_id = f"all-{index:05d}"
                    otel_scoring.score_current_span(name="quality", value=0.5, score_id=score_id)
                    sent.append(score_id)
            produced_seconds = time.monotonic() - started
            provider.force_flush(60_000)
            stored = wait_for_stored(db_path, set(sent), timeout=60)
        finally:
            provider.shutdown()
            receiver.stop()
    stats = delivery_processor(provider).stats
    report_counts(
        f"(d) {BURST_SPANS}-span burst, every span scored, defaults ({BURST_SPANS / produced_seconds:.0f} spans/s): "
        f"scores sent={len(sent)} stored={len(set(stored))} lost={len(set(sent) - set(stored))}; {stats}"
    )
    assert set(stored) == set(sent)
    assert stats.dropped_scored == 0


def test_a_receiver_killed_for_5_s_under_200_scores_a_second_loses_no_score_with_defaults(tmp_path: Path, report_counts) -> None:
    """200 scores a second for 20 s; the receiver is SIGKILLed for 5 s in the middle and restarted; with no spool every score is stored (main lost 53 of 3999)."""
    db_path = tmp_path / "scores.db"
    sent = []
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        provider = otel_scoring.configure(service_name="outage", endpoint=receiver.grpc_endpoint, set_global=False)
        tracer = provider.get_tracer("outage")

        def stream_for(seconds: float) -> None:
            until = time.monotonic() + seconds
            next_at = time.monotonic()
            while time.monotonic() < until:
                with tracer.start_as_current_span("step"):
                    score_id = f"outage-{len(sent):05d}"
                    otel_scoring.score_current_span(name="quality", value=0.5, score_id=score_id)
                sent.append(score_id)
                next_at += 1 / SCORES_PER_SECOND
                time.sleep(max(0.0, next_at - time.monotonic()))

        try:
            stream_for(7.5)
            receiver.kill()
            stream_for(DOWN_SECONDS)
            receiver.start()
            stream_for(7.5)
            provider.force_flush(60_000)
            stored = wait_for_stored(db_path, set(sent), timeout=60)
        finally:
            provider.shutdown()
            receiver.stop()
        stored = stored_score_ids(db_path)
    stats = delivery_processor(provider).stats
    report_counts(
        f"(e) receiver killed for {DOWN_SECONDS:.0f} s at {SCORES_PER_SECOND} scores/s, defaults (no spool): "
        f"scores sent={len(sent)} stored={len(set(stored))} lost={len(set(sent) - set(stored))}; {stats}"
    )
    assert set(stored) == set(sent)
