"""Failure test (c): a 10k-span burst with some spans scored; no score-carrying span is dropped.

The stock BatchSpanProcessor runs the same burst for comparison; its numbers are reported, never
asserted. The counts appear in the run's "scores through failures" summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from support.delivery_support import ReceiverProcess, stored_score_ids, wait_for_stored
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import otel_scoring
from otel_scoring import ScoringSpanProcessor
from otel_scoring.configuration import delivery_processor

pytestmark = pytest.mark.slow

BURST_SPANS = 10_000
SCORE_EVERY = 10


def burst(provider: TracerProvider, prefix: str) -> List[str]:
    """BURST_SPANS spans as fast as they come; every SCORE_EVERY-th gets a score. Returns the score ids."""
    tracer = provider.get_tracer("burst")
    sent = []
    for index in range(BURST_SPANS):
        if index % SCORE_EVERY:
            tracer.start_span("work").end()
            continue
        with tracer.start_as_current_span("scored-work"):
            score_id = f"{prefix}-{index:05d}"
            otel_scoring.score_current_span(name="quality", value=0.5, score_id=score_id)
            sent.append(score_id)
    return sent


def test_a_burst_drops_plain_spans_but_never_a_score(tmp_path: Path, report_counts) -> None:
    """A 10k-span burst through configure()'s default delivery stores every score; only plain spans are shed."""
    db_path = tmp_path / "scores.db"
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        ours = otel_scoring.configure(service_name="burst-ours", endpoint=receiver.grpc_endpoint, protocol="grpc", set_global=False)
        try:
            ours_sent = burst(ours, "ours")
            ours.force_flush(30_000)
            stored = wait_for_stored(db_path, set(ours_sent), timeout=30)
        finally:
            ours.shutdown()
        stats = delivery_processor(ours).stats

        stock = TracerProvider(resource=Resource.create({"service.name": "burst-stock"}))
        stock.add_span_processor(ScoringSpanProcessor(tracer_provider=stock))
        stock.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)))
        try:
            stock_sent = burst(stock, "stock")
            stock.force_flush(30_000)
        finally:
            stock.shutdown()
        stock_stored = [score_id for score_id in stored_score_ids(db_path) if score_id.startswith("stock-")]
        receiver.stop()

    ours_stored = [score_id for score_id in stored if score_id.startswith("ours-")]
    report_counts(
        f"(c) {BURST_SPANS}-span burst, {len(ours_sent)} scored: score-first scores sent={len(ours_sent)} stored={len(set(ours_stored))} "
        f"duplicated={len(ours_stored) - len(set(ours_stored))}; plain spans shed={stats.dropped_plain}; {stats}"
        f"\n    stock BatchSpanProcessor, same burst (information only): scores sent={len(stock_sent)} stored={len(set(stock_stored))}"
    )
    assert sorted(ours_stored) == sorted(ours_sent)
    assert stats.dropped_scored == 0
