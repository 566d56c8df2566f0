"""Score-first delivery over real OTLP/gRPC and OTLP/HTTP servers on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Iterator, List, Tuple

import grpc
import pytest
from support.delivery_support import GrpcCollector, HttpCollector, end_spans, free_port, one_request, scoring_provider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring.configuration import delivery_processor
from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor, SendOutcome

NEVER_MILLIS = 60_000


@pytest.fixture
def providers() -> Iterator[List[TracerProvider]]:
    made: List[TracerProvider] = []
    yield made
    for provider in made:
        provider.shutdown()


def otlp_provider(providers: List[TracerProvider], sender: OTLPTraceSender, **settings) -> Tuple[TracerProvider, ScoreFirstSpanProcessor]:
    settings.setdefault("schedule_delay_millis", NEVER_MILLIS)
    delivery = ScoreFirstSpanProcessor(sender=sender, **settings)
    provider = scoring_provider(delivery)
    providers.append(provider)
    return provider, delivery


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_scored_and_plain_spans_reach_a_real_collector(providers, protocol: str) -> None:
    """Over either OTLP protocol every span arrives, with its score event intact."""
    collector_type = GrpcCollector if protocol == "grpc" else HttpCollector
    with collector_type() as collector:
        provider, _ = otlp_provider(providers, OTLPTraceSender(endpoint=collector.endpoint, protocol=protocol))
        end_spans(provider, ["scored-a", "plain-b"])

        assert provider.force_flush(5000) is True
        assert sorted(collector.span_names()) == ["plain-b", "scored-a"]
        assert len(collector.score_ids()) == 1


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_headers_and_gzip_compression_are_sent(protocol: str) -> None:
    """Headers given as the OTLP env-var string and gzip compression reach the collector."""
    collector_type = GrpcCollector if protocol == "grpc" else HttpCollector
    with collector_type() as collector:
        sender = OTLPTraceSender(endpoint=collector.endpoint, protocol=protocol, headers="x-team=evals,authorization=Bearer%20t", compression="gzip")
        try:
            assert sender.send(one_request()) is SendOutcome.DELIVERED
        finally:
            sender.close()
        assert collector.span_names() == ["raw"]
        assert collector.headers[0]["x-team"] == "evals"
        assert collector.headers[0]["authorization"] == "Bearer t"
        if protocol == "http/protobuf":
            assert collector.headers[0]["content-encoding"] == "gzip"


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_configure_reads_the_standard_otlp_variables(monkeypatch, protocol: str) -> None:
    """configure() with no export arguments sends where OTEL_EXPORTER_OTLP_TRACES_* point, with their headers."""
    collector_type = GrpcCollector if protocol == "grpc" else HttpCollector
    with collector_type() as collector:
        endpoint = collector.endpoint if protocol == "grpc" else collector.endpoint + "/v1/traces"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-from-env=yes")
        provider = otel_scoring.configure(service_name="env-configured", set_global=False)
        try:
            end_spans(provider, ["scored-env"])
            assert provider.force_flush(5000) is True
            assert delivery_processor(provider).stats.exported_scored == 1
        finally:
            provider.shutdown()
        assert collector.span_names() == ["scored-env"]
        assert collector.headers[0]["x-from-env"] == "yes"


def test_a_collector_that_restarts_on_the_same_port_gets_the_scores_it_missed(providers) -> None:
    """Scores ended while the collector is down are kept in memory and delivered once it is back."""
    port = free_port()
    collector = GrpcCollector(port).start()
    provider, _ = otlp_provider(providers, OTLPTraceSender(endpoint=collector.endpoint))
    end_spans(provider, ["scored-before"])
    assert provider.force_flush(5000) is True
    collector.stop()

    end_spans(provider, ["scored-during-1", "scored-during-2", "plain-during"])
    assert provider.force_flush(2000) is False  # down: nothing is lost, but it is not delivered yet

    collector.start()  # same port, same recorder
    try:
        collector.wait_for_spans(4, timeout=15)  # the worker retries on its own backoff
    finally:
        collector.stop()
    assert sorted(collector.span_names()) == ["plain-during", "scored-before", "scored-during-1", "scored-during-2"]


@pytest.mark.parametrize(
    ("protocol", "failure"),
    [("grpc", grpc.StatusCode.INVALID_ARGUMENT), ("http/protobuf", 400)],
)
def test_a_batch_the_collector_calls_malformed_is_dropped_and_counted(providers, protocol: str, failure) -> None:
    """A request rejected as malformed (gRPC INVALID_ARGUMENT, HTTP 400) is not retried forever: it is dropped and counted."""
    collector = GrpcCollector(status=failure) if protocol == "grpc" else HttpCollector(status=failure)
    with collector:
        provider, delivery = otlp_provider(providers, OTLPTraceSender(endpoint=collector.endpoint, protocol=protocol))
        end_spans(provider, ["scored-a", "plain-b"])
        assert provider.force_flush(5000) is False  # the batch never arrived ...
        assert provider.force_flush(5000) is True  # ... but it is not retried: nothing is left to deliver
    assert (delivery.stats.dropped_scored, delivery.stats.dropped_plain) == (1, 1)


@pytest.mark.parametrize(("protocol", "status"), [("grpc", grpc.StatusCode.UNAVAILABLE), ("http/protobuf", 503)])
def test_a_busy_or_failing_collector_means_retry(protocol: str, status) -> None:
    """UNAVAILABLE and HTTP 503 keep the request for a later try instead of dropping it."""
    collector = GrpcCollector(status=status) if protocol == "grpc" else HttpCollector(status=status)
    with collector:
        sender = OTLPTraceSender(endpoint=collector.endpoint, protocol=protocol)
        try:
            assert sender.send(one_request()) is SendOutcome.RETRY
        finally:
            sender.close()


def test_flush_against_a_dead_endpoint_fails_fast() -> None:
    """With nothing listening, one flush fails without waiting out a retry loop, and says False."""
    sender = OTLPTraceSender(endpoint=f"http://127.0.0.1:{free_port()}")
    delivery = ScoreFirstSpanProcessor(sender=sender, schedule_delay_millis=NEVER_MILLIS)
    provider = scoring_provider(delivery)
    try:
        end_spans(provider, ["scored-a"])
        started = time.monotonic()
        assert delivery.force_flush(10_000) is False
        assert time.monotonic() - started < 5  # the stock exporter retries for ~10 s here
        assert delivery.stats.pending_scored == 1
    finally:
        provider.shutdown()


def test_unknown_protocol_or_compression_raise_at_construction() -> None:
    """Programmer errors in sender settings raise ValueError when it is built, not at export."""
    with pytest.raises(ValueError):
        OTLPTraceSender(protocol="thrift")
    with pytest.raises(ValueError):
        OTLPTraceSender(compression="brotli")


@pytest.mark.parametrize(
    "bad_settings",
    [{"protocol": "thrift"}, {"span_exporter": "in-memory", "spool_dir": "spool"}, {"score_configs": "no-such-configs.yaml"}],
    ids=["unknown-protocol", "spool-with-exporter", "missing-configs-file"],
)
def test_a_configure_that_raises_leaves_nothing_behind_to_take_scores(tmp_path, bad_settings) -> None:
    """A failed configure() next to a working one: late scores still reach the working provider."""
    exporter = InMemorySpanExporter()
    working = otel_scoring.configure(span_exporter=exporter, set_global=False)
    settings = dict(bad_settings)
    if settings.get("span_exporter") == "in-memory":
        settings.update(span_exporter=InMemorySpanExporter(), spool_dir=tmp_path / "spool")
    if "score_configs" in settings:
        settings["score_configs"] = str(tmp_path / settings["score_configs"])
    try:
        with pytest.raises((ValueError, OSError)):
            otel_scoring.configure(set_global=False, **settings)
        otel_scoring.create_score(name="user-feedback", value=1, trace_id="0af7651916cd43dd8448eb211c80319c")
        assert working.force_flush(5000) is True
        assert [span.name for span in exporter.get_finished_spans()] == ["otel_scoring.carrier"]
    finally:
        working.shutdown()

