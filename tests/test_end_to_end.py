"""End to end: scoring API → stock OTLP exporters → embedded receiver → SQLite store → records.

What comes out of the store must equal what the translator reads from the very spans the SDK
exported, whichever protocol and compression carried them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

import otel_scoring
from otel_scoring import ScoreConfig, ScoreConfigRegistry, create_score, metadata, score_current_span, score_current_trace
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.schema import format_trace_id
from otel_scoring.store import ScoreStore
from otel_scoring.translate import records_from_spans

EXPORT_TIMEOUT_SECONDS = 10


@pytest.fixture
def receiver(tmp_path) -> Iterator[OTLPReceiver]:
    with ScoreStore(tmp_path / "scores.db") as store, OTLPReceiver(store, grpc_port=0, http_port=0, shutdown_timeout_seconds=2.0) as started:
        yield started


def stock_exporter(kind: str, receiver: OTLPReceiver):
    if kind == "grpc":
        return GrpcSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True, timeout=EXPORT_TIMEOUT_SECONDS)
    if kind == "grpc+gzip":
        return GrpcSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True, timeout=EXPORT_TIMEOUT_SECONDS, compression=grpc.Compression.Gzip)
    if kind == "http":
        return HttpSpanExporter(endpoint=receiver.traces_url, timeout=EXPORT_TIMEOUT_SECONDS, compression=Compression.NoCompression)
    return HttpSpanExporter(endpoint=receiver.traces_url, timeout=EXPORT_TIMEOUT_SECONDS, compression=Compression.Gzip)


def run_ticket(tracer, ticket_id: str) -> str:
    """One scored, annotated run; returns its trace id."""
    with tracer.start_as_current_span("handle-ticket") as run:
        with tracer.start_as_current_span("retrieve-docs"):
            metadata("retrieval").span().update({"documents": 3, "sources": ["kb", "faq"]}, kind="retrieval")
        with tracer.start_as_current_span("call-model"):
            score_current_span(name="model-confidence", value=0.83, comment="logprob-based")
        metadata("model-usage").step("call-model").update({"tokens": 512}, kind="llm")
        score_current_trace(name="guardrail-pass", value=1)
        score_current_trace(name="tone", value="friendly", config_id="cfg-tone")
        score_current_trace(name="resolved", value=True, config_id="cfg-resolved")
        metadata("ticket-info").update({"ticketId": ticket_id}, kind="ticket")
        with metadata("run-status").batch() as batch:
            batch.update({"phase": "answered"}, kind="workflow")
            batch.update({"region": "eu-west-1"}, kind="infra")
    return format_trace_id(run.get_span_context().trace_id)


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    """The configs the conftest provider's processor validates against."""
    return ScoreConfigRegistry(
        [
            ScoreConfig(id="cfg-tone", name="tone", data_type="CATEGORICAL", categories={"friendly": 1, "rude": 0}),
            ScoreConfig(id="cfg-resolved", name="resolved", data_type="BOOLEAN"),
        ]
    )


@pytest.mark.parametrize("kind", ["grpc", "grpc+gzip", "http", "http+gzip"])
def test_records_out_of_the_store_equal_records_from_the_exported_spans(kind, receiver, provider, tracer, exporter, score_configs):
    """Every score and metadata update, late ones included, arrives intact over each protocol."""
    provider.add_span_processor(SimpleSpanProcessor(stock_exporter(kind, receiver)))
    trace_id = run_ticket(tracer, "T-1")
    create_score(name="user-feedback", value=4, trace_id=trace_id, comment="quick answer", metadata={"channel": "email"})
    create_score(name="session-satisfaction", value=0.9, session_id="session-1")

    expected = records_from_spans(exporter.get_finished_spans())
    assert len(expected.scores) == 6 and len(expected.metadata) == 5
    stored = receiver.wait_for_scores(len(expected.scores), timeout=EXPORT_TIMEOUT_SECONDS)
    assert sorted(stored, key=lambda s: s.id) == sorted(expected.scores, key=lambda s: s.id)
    assert sorted(receiver.store.metadata(), key=lambda m: m.id) == sorted(expected.metadata, key=lambda m: m.id)


def test_configure_exports_through_the_receiver(receiver, score_configs):
    """otel_scoring.configure(endpoint=..., protocol=...) with a batch processor reaches the store."""
    provider = otel_scoring.configure(
        service_name="e2e", endpoint=receiver.traces_url, protocol="http/protobuf", compression="gzip", score_configs=score_configs, set_global=False
    )
    try:
        run_ticket(provider.get_tracer("e2e"), "T-1")
        assert provider.force_flush(EXPORT_TIMEOUT_SECONDS * 1000)
        stored = receiver.wait_for_scores(4, timeout=EXPORT_TIMEOUT_SECONDS)
    finally:
        provider.shutdown()
    assert {s.name for s in stored} == {"model-confidence", "guardrail-pass", "tone", "resolved"}
    assert {s.service_name for s in stored} == {"e2e"}


def test_runs_sharing_memo_ids_keep_their_own_metadata(receiver, provider, tracer, exporter, score_configs):
    """Two runs using the same memo ids, exported in one batch, each keep their own metadata in the store."""
    provider.add_span_processor(BatchSpanProcessor(stock_exporter("grpc", receiver)))
    trace_ids = [run_ticket(tracer, "T-1"), run_ticket(tracer, "T-2")]
    assert provider.force_flush(EXPORT_TIMEOUT_SECONDS * 1000)
    receiver.wait_for_scores(8, timeout=EXPORT_TIMEOUT_SECONDS)

    by_trace = defaultdict(list)
    for span in exporter.get_finished_spans():
        by_trace[format_trace_id(span.context.trace_id)].append(span)
    for trace_id, ticket_id in zip(trace_ids, ["T-1", "T-2"]):
        stored = receiver.store.metadata(trace_id=trace_id)
        assert sorted(stored, key=lambda m: m.id) == sorted(records_from_spans(by_trace[trace_id]).metadata, key=lambda m: m.id)
        assert [dict(m.values) for m in stored if m.kind == "ticket"] == [{"ticketId": ticket_id}]
