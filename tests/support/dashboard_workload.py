"""A seeded "prompt change" workload, exported over real OTLP/gRPC into a receiver and its store.

Two releases of a question-answering service answer questions: ``1.0.0`` with prompt ``v1``,
then ``1.1.0`` with prompt ``v2``. Each run records a numeric ``helpfulness`` trace score (drawn
from a normal distribution, the new prompt's mean lowered by ``shift``), a boolean ``correct``, a
categorical ``tone``, a span score inside a step, metadata of kinds ``prompt`` and ``llm``, and a
late ``user-rating`` scored by trace id after the run ended. Used by the dashboard, compare and
browser tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import List

from opentelemetry.sdk.resources import Resource

from otel_scoring import create_score, metadata, score_current_span, score_current_trace
from otel_scoring.configuration import configure
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.schema import format_trace_id
from otel_scoring.store import ScoreStore

SERVICE = "qa-bot"
RELEASES = (("1.0.0", "v1"), ("1.1.0", "v2"))
BASE_HELPFULNESS = 0.8
HELPFULNESS_SD = 0.1
SCORES_PER_RUN = 5  # helpfulness, correct, tone, retrieval-confidence, user-rating


@dataclass(frozen=True)
class Workload:
    runs_per_release: int
    trace_ids: List[str]

    @property
    def scores(self) -> int:
        return len(self.trace_ids) * SCORES_PER_RUN


def fill(store_path: str, *, runs_per_release: int = 30, shift: float = 0.0, seed: int = 7, environment: str = "staging") -> Workload:
    """Run both releases into the store at ``store_path`` through a receiver; returns the trace ids."""
    rng = random.Random(seed)
    trace_ids: List[str] = []
    with ScoreStore(store_path) as store, OTLPReceiver(store, grpc_port=0, http_port=0) as receiver:
        before = store.count_scores()
        for version, prompt in RELEASES:
            provider = configure(
                service_name=SERVICE,
                endpoint=f"http://{receiver.grpc_endpoint}",
                protocol="grpc",
                resource=Resource.create({"service.version": version, "deployment.environment": environment}),
                set_global=False,
            )
            try:
                tracer = provider.get_tracer("tests.dashboard_workload")
                mean = BASE_HELPFULNESS - (shift if prompt == "v2" else 0.0)
                for index in range(runs_per_release):
                    with tracer.start_as_current_span("answer-question") as span:
                        metadata("prompt").update({"version": prompt, "template": f"qa-{prompt}"}, kind="prompt")
                        with tracer.start_as_current_span("retrieve"):
                            score_current_span(name="retrieval-confidence", value=round(rng.uniform(0.5, 1.0), 3))
                        metadata("usage").update({"model": "small-model", "tokens": rng.randint(200, 900)}, kind="llm")
                        helpfulness = min(1.0, max(0.0, rng.gauss(mean, HELPFULNESS_SD)))
                        score_current_trace(name="helpfulness", value=round(helpfulness, 4), comment="judged by the rubric")
                        score_current_trace(name="correct", value=helpfulness > 0.6)
                        score_current_trace(name="tone", value=rng.choice(("friendly", "friendly", "neutral")))
                        trace_id = format_trace_id(span.get_span_context().trace_id)
                    create_score(name="user-rating", value=rng.randint(3, 5), trace_id=trace_id, comment=f"rating {index}")
                    trace_ids.append(trace_id)
                provider.force_flush(10_000)
            finally:
                provider.shutdown()
        receiver.wait_for_scores(before + len(trace_ids) * SCORES_PER_RUN, timeout=30)
    return Workload(runs_per_release, trace_ids)
