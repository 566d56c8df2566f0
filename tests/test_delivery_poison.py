"""One span the SDK's encoder cannot take (a lone surrogate in its name, an event name or its
status) costs at most itself: the rest of its batch, and its own scores, reach a real receiver."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.trace import Status, StatusCode

import otel_scoring
from support.delivery_support import scoring_provider
from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.store import ScoreStore


def poison_name(span) -> None:
    span.update_name("bad \ud800 name")


def poison_event(span) -> None:
    span.add_event("event \udfff")


def poison_status(span) -> None:
    span.set_status(Status(StatusCode.ERROR, "status \ud800"))


@pytest.mark.parametrize("poison", [poison_name, poison_event, poison_status], ids=["name", "event", "status"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_span_with_a_lone_surrogate_costs_nothing_else_and_keeps_its_score(tmp_path, caplog, poison, protocol):
    """Ten scored spans, one of them poisoned, in one batch: all ten scores are stored, nothing is dropped, and no collector rejection is logged."""
    with ScoreStore(tmp_path / "scores.db") as store, OTLPReceiver(store, grpc_port=0, http_port=0, shutdown_timeout_seconds=2.0) as receiver:
        endpoint = f"http://{receiver.grpc_endpoint}" if protocol == "grpc" else receiver.http_endpoint
        delivery = ScoreFirstSpanProcessor(sender=OTLPTraceSender(endpoint=endpoint, protocol=protocol), schedule_delay_millis=60_000)
        provider = scoring_provider(delivery)
        tracer = provider.get_tracer("poison")
        try:
            for index in range(10):
                with tracer.start_as_current_span(f"work-{index}") as span:
                    otel_scoring.score_current_span(name="quality", value=index / 10, score_id=f"poison-{index}")
                    if index == 4:
                        poison(span)
            with caplog.at_level(logging.WARNING, logger="otel_scoring"):
                assert delivery.force_flush(10_000) is True
            stored = sorted(score.id for score in receiver.wait_for_scores(10, timeout=10))
        finally:
            provider.shutdown()
    assert stored == [f"poison-{index}" for index in range(10)]
    assert delivery.stats.dropped_scored == 0 and delivery.stats.exported_scored == 10
    messages = [record.getMessage() for record in caplog.records]
    assert not any("rejected" in message for message in messages)
    assert sum("Repaired 1 spans" in message for message in messages) == 1
