"""``otel-scoring demo``: scores and metadata from an instrumented workload, end to end, offline.

An embedded receiver listens on free loopback ports with a temporary SQLite store. A small support
bot handles three tickets with a tracer provider from :func:`otel_scoring.configure`, exporting
over real OTLP/gRPC: a guardrail score on each run, a model-confidence score inside a step, a
categorical and a boolean score checked against score configs, metadata of several kinds, and user
feedback scored by trace id after each run has ended. The demo waits until the store holds every
score, then prints what it holds and a trend table.

The provider is never made global and is shut down at the end, so the demo also runs inside another
program (or a test) without changing its tracing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from typing import List, Optional, TextIO

from opentelemetry.trace import Tracer

from otel_scoring import _formatting
from otel_scoring._api import create_score, score_current_span, score_current_trace
from otel_scoring.configs import ScoreConfig, ScoreConfigRegistry
from otel_scoring.configuration import configure
from otel_scoring import metadata
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.schema import format_trace_id
from otel_scoring.store import ScoreStore

SERVICE_NAME = "otel-scoring-demo"
SESSION_ID = "demo-session-1"
WAIT_TIMEOUT_SECONDS = 10.0
EXPORT_TIMEOUT_MILLIS = 5_000

# Every score name the demo records; the demo fails unless the store holds each one.
SCORE_NAMES = ("guardrail-pass", "model-confidence", "tone", "resolved", "user-feedback", "session-satisfaction")


@dataclass(frozen=True)
class Ticket:
    id: str
    customer: str
    documents: int
    confidence: float
    tone: str
    resolved: bool
    guardrail_passed: bool
    feedback: int  # 1-5 stars, given after the run
    feedback_comment: str


TICKETS = (
    Ticket("T-1001", "acme", 4, 0.91, "friendly", True, True, 5, "fixed on the first try"),
    Ticket("T-1002", "globex", 2, 0.64, "neutral", False, True, 2, "had to ask twice"),
    Ticket("T-1003", "initech", 6, 0.87, "friendly", True, False, 4, "good answer, slow"),
)


def score_configs() -> ScoreConfigRegistry:
    """Configs the demo's categorical, boolean and numeric scores are validated against."""
    return ScoreConfigRegistry(
        [
            ScoreConfig(id="cfg-tone", name="tone", data_type="CATEGORICAL", categories={"friendly": 1.0, "neutral": 0.5, "rude": 0.0}),
            ScoreConfig(id="cfg-resolved", name="resolved", data_type="BOOLEAN"),
            ScoreConfig(id="cfg-confidence", name="model-confidence", data_type="NUMERIC", min_value=0.0, max_value=1.0),
        ]
    )


def handle_ticket(tracer: Tracer, ticket: Ticket) -> str:
    """One run of the support bot, scored and annotated as it goes; returns its trace id."""
    with tracer.start_as_current_span("handle-ticket") as run:
        metadata("ticket-info").update({"ticketId": ticket.id, "customer": ticket.customer}, kind="ticket")
        with tracer.start_as_current_span("retrieve-docs"):
            metadata("retrieval").span().update({"documents": ticket.documents, "index": "kb-v2"}, kind="retrieval")
        with tracer.start_as_current_span("call-model"):
            score_current_span(name="model-confidence", value=ticket.confidence, config_id="cfg-confidence")
        # The step has ended: this update reaches it by name, on a carrier span.
        metadata("model-usage").step("call-model").update({"model": "demo-model", "tokens": 380 + 40 * ticket.documents}, kind="llm")
        score_current_trace(name="guardrail-pass", value=1 if ticket.guardrail_passed else 0, comment=None if ticket.guardrail_passed else "quoted an internal URL")
        score_current_trace(name="tone", value=ticket.tone, config_id="cfg-tone")
        score_current_trace(name="resolved", value=ticket.resolved, config_id="cfg-resolved")
        with metadata("run-status").batch() as batch:
            batch.update({"phase": "answered", "resolved": ticket.resolved}, kind="workflow")
            batch.update({"region": "eu-west-1"}, kind="infra")
        return format_trace_id(run.get_span_context().trace_id)


def run_workload(tracer: Tracer) -> int:
    """Handle every ticket, then score the runs from outside; returns how many scores were made."""
    trace_ids: List[str] = [handle_ticket(tracer, ticket) for ticket in TICKETS]
    # Feedback arrives after each run has ended: scored by trace id, carried by carrier spans.
    for ticket, trace_id in zip(TICKETS, trace_ids):
        create_score(name="user-feedback", value=ticket.feedback, trace_id=trace_id, comment=ticket.feedback_comment, metadata={"channel": "email"})
    create_score(name="session-satisfaction", value=0.8, session_id=SESSION_ID)
    per_ticket = 4  # model-confidence, guardrail-pass, tone, resolved
    return len(TICKETS) * per_ticket + len(TICKETS) + 1


def run_demo(out: Optional[TextIO] = None, db_path: Optional[str] = None) -> int:
    """Run the demo, printing to ``out`` (stdout); returns the exit code."""
    out = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="otel-scoring-demo-") as scratch:
        path = db_path or os.path.join(scratch, "scores.db")
        with ScoreStore(path) as store, OTLPReceiver(store, grpc_port=0, http_port=0) as receiver:
            print(f"Receiver: OTLP/gRPC on {receiver.grpc_endpoint}, OTLP/HTTP on {receiver.traces_url}", file=out)
            print(f"Store: {path}" + ("" if db_path else " (temporary)"), file=out)
            provider = configure(
                service_name=SERVICE_NAME,
                endpoint=f"http://{receiver.grpc_endpoint}",
                protocol="grpc",
                score_configs=score_configs(),
                set_global=False,
            )
            try:
                expected = run_workload(provider.get_tracer("otel_scoring.demo"))
                provider.force_flush(EXPORT_TIMEOUT_MILLIS)
                try:
                    scores = receiver.wait_for_scores(expected, timeout=WAIT_TIMEOUT_SECONDS)
                except TimeoutError as error:
                    print(f"otel-scoring demo: {error}", file=sys.stderr)
                    return 1
            finally:
                provider.shutdown()
            updates = store.metadata()
            trend = store.stats(bucket_seconds=3600)
        print(f"\n{len(scores)} scores exported over OTLP/gRPC and read back from the store:\n", file=out)
        print(_formatting.score_table(scores), file=out)
        print(f"\n{len(updates)} metadata updates:\n", file=out)
        print(_formatting.metadata_table(updates), file=out)
        print("\nTrend per score name per hour:\n", file=out)
        print(_formatting.stats_table(trend), file=out)
    missing = sorted(set(SCORE_NAMES) - {score.name for score in scores})
    if missing:
        print(f"otel-scoring demo: the store lacks {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
