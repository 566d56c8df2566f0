"""Forwarding to a real Phoenix server: scores become span, trace and session annotations.

Spans are exported to Phoenix itself over OTLP/HTTP, translated to records, forwarded, then read
back through Phoenix's REST API. Needs Phoenix installed by ``.ci/phoenix.sh``: skipped without it
outside CI, failed without it in CI.
"""

from __future__ import annotations

import dataclasses
import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support.fakes.phoenix_server import PhoenixServer
from otel_scoring import ScoringSpanProcessor, create_score, metadata, score_current_span, score_current_trace
from otel_scoring.environment_variables import PHOENIX_API_KEY
from otel_scoring.forward import ForwardingSink, PhoenixForwarder, build_forwarder, forward_records
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.records import ScoreRecord
from otel_scoring.schema import format_span_id, format_trace_id
from otel_scoring.store import ScoreStore
from otel_scoring.translate import records_from_spans

pytestmark = pytest.mark.phoenix

# OpenInference's span attribute that groups a trace into a Phoenix session.
OPENINFERENCE_SESSION_ID = "session.id"


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixServer]:
    with PhoenixServer(tmp_path_factory.mktemp("phoenix")) as server:
        yield server


def _provider(*exporters: Any) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _scored_run(provider: TracerProvider, session_id: str) -> Tuple[ReadableSpan, ReadableSpan]:
    """A run with a span score, a trace score, a session score, a dataset-run score and metadata."""
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("agent-run", attributes={OPENINFERENCE_SESSION_ID: session_id}) as root:
        with tracer.start_as_current_span("llm-call") as step:
            score_current_span(name="model-confidence", value=0.83, comment="calibrated on 1k samples")
        score_current_trace(name="guardrail", value="pass", data_type="CATEGORICAL")
        metadata("memo-1").update({"paymentId": "pi_1"}, kind="billing")
    create_score(name="csat", value=True, session_id=session_id)
    create_score(name="suite-accuracy", value=0.9, dataset_run_id="run-7")
    return root, step


def _by_name(records: List[ScoreRecord]) -> Dict[str, ScoreRecord]:
    return {record.name: record for record in records}


def _summary(annotation: Dict[str, Any]) -> Tuple[Any, ...]:
    result = annotation["result"]
    return (annotation["name"], result["score"], result["label"], result["explanation"], annotation["annotator_kind"], annotation["identifier"])


def test_scores_become_annotations_on_their_span_trace_and_session_exactly_once(phoenix: PhoenixServer) -> None:
    """Span, trace and session scores land on the right Phoenix objects, and re-sending adds nothing."""
    memory = InMemorySpanExporter()
    provider = _provider(memory, OTLPSpanExporter(endpoint=phoenix.otlp_traces_url))
    session_id = f"session-{uuid.uuid4().hex}"
    root, step = _scored_run(provider, session_id)
    provider.shutdown()
    trace_id = format_trace_id(root.get_span_context().trace_id)
    step_id = format_span_id(step.get_span_context().span_id)
    phoenix.wait_for_spans([format_span_id(root.get_span_context().span_id), step_id])

    translation = records_from_spans(memory.get_finished_spans())
    scores = _by_name(translation.scores)
    forwarder = build_forwarder(f"phoenix={phoenix.url}")
    first, second = (forward_records(translation, [forwarder])[0] for _ in range(2))

    for result in (first, second):
        assert (result.sent, result.skipped, result.failed, result.metadata_skipped) == (3, 1, 0, 1), result
    assert [_summary(a) for a in phoenix.annotations("span", [step_id])] == [
        ("model-confidence", 0.83, None, "calibrated on 1k samples", "CODE", scores["model-confidence"].id)
    ]
    assert [a["span_id"] for a in phoenix.annotations("span", [step_id])] == [step_id]
    assert [_summary(a) for a in phoenix.annotations("trace", [trace_id])] == [
        ("guardrail", None, "pass", None, "CODE", scores["guardrail"].id)
    ]
    assert [_summary(a) for a in phoenix.annotations("session", [session_id])] == [
        ("csat", 1.0, "true", None, "CODE", scores["csat"].id)
    ]


def test_a_changed_score_re_sent_with_the_same_id_updates_its_annotation(phoenix: PhoenixServer) -> None:
    """Phoenix upserts by the score id: the annotation takes the new value instead of doubling."""
    memory = InMemorySpanExporter()
    provider = _provider(memory, OTLPSpanExporter(endpoint=phoenix.otlp_traces_url))
    _root, step = _scored_run(provider, f"session-{uuid.uuid4().hex}")
    provider.shutdown()
    step_id = format_span_id(step.get_span_context().span_id)
    phoenix.wait_for_spans([step_id])
    original = _by_name(records_from_spans(memory.get_finished_spans()).scores)["model-confidence"]
    with PhoenixForwarder(phoenix.url) as forwarder:
        forwarder.forward([original], [])
        result = forwarder.forward([dataclasses.replace(original, value=0.41, comment="re-scored")], [])

    assert result.sent == 1
    assert [_summary(a) for a in phoenix.annotations("span", [step_id])] == [
        ("model-confidence", 0.41, None, "re-scored", "CODE", original.id)
    ]


def test_a_score_forwarded_before_its_span_arrives_is_attached_when_the_span_does(phoenix: PhoenixServer) -> None:
    """A span Phoenix has not stored yet gets its annotation once the span arrives (Phoenix queues it)."""
    memory = InMemorySpanExporter()
    provider = _provider(memory)  # not exported to Phoenix yet
    _root, step = _scored_run(provider, f"session-{uuid.uuid4().hex}")
    provider.shutdown()
    step_id = format_span_id(step.get_span_context().span_id)
    spans = memory.get_finished_spans()
    span_score = _by_name(records_from_spans(spans).scores)["model-confidence"]

    [result] = forward_records([span_score], [PhoenixForwarder(phoenix.url)])
    exporter = OTLPSpanExporter(endpoint=phoenix.otlp_traces_url)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()

    assert (result.sent, result.failed) == (1, 0)
    deadline = time.monotonic() + 60  # Phoenix retries queued annotations every 10 s
    while not phoenix.annotations("span", [step_id]) and time.monotonic() < deadline:
        time.sleep(1)
    assert [_summary(a) for a in phoenix.annotations("span", [step_id])] == [
        ("model-confidence", 0.83, None, "calibrated on 1k samples", "CODE", span_score.id)
    ]


ADMIN_SECRET = "admin-secret-for-tests-0123456789abcdef"  # Phoenix wants >= 32 chars, a digit, lowercase


@pytest.fixture(scope="module")
def secured_phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixServer]:
    with PhoenixServer(tmp_path_factory.mktemp("phoenix-auth"), admin_secret=ADMIN_SECRET) as server:
        yield server


def test_phoenix_with_auth_takes_the_api_key_and_refuses_a_wrong_one(secured_phoenix: PhoenixServer, monkeypatch) -> None:
    """PHOENIX_API_KEY travels as a bearer token; a wrong key is one 401, neither retried nor raised."""
    memory = InMemorySpanExporter()
    provider = _provider(memory, OTLPSpanExporter(endpoint=secured_phoenix.otlp_traces_url, headers=secured_phoenix.headers))
    _root, step = _scored_run(provider, f"session-{uuid.uuid4().hex}")
    provider.shutdown()
    step_id = format_span_id(step.get_span_context().span_id)
    secured_phoenix.wait_for_spans([step_id])
    translation = records_from_spans(memory.get_finished_spans())

    [refused] = forward_records(translation.scores, [PhoenixForwarder(secured_phoenix.url, api_key="not-the-key")])
    monkeypatch.setenv(PHOENIX_API_KEY, ADMIN_SECRET)
    [accepted] = forward_records(translation.scores, [build_forwarder(f"phoenix={secured_phoenix.url}")])

    assert (refused.sent, refused.failed, refused.error_kinds) == (0, 3, ["HTTP 401"])
    assert (accepted.sent, accepted.failed) == (3, 0)
    assert [a["name"] for a in secured_phoenix.annotations("span", [step_id])] == ["model-confidence"]


class _TeeCollector:
    """A stand-in for a Collector fanning one OTLP/HTTP export out to two backends: each POST is
    sent on to every URL, and the first one's answer goes back to the app."""

    def __init__(self, *urls: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answers = []
                for url in urls:
                    request = urllib.request.Request(url, data=body, headers={"Content-Type": self.headers["Content-Type"]})
                    with urllib.request.urlopen(request, timeout=10) as response:
                        answers.append((response.status, response.headers.get("Content-Type", ""), response.read()))
                status, content_type, payload = answers[0]
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "_TeeCollector":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def test_a_score_made_in_an_example_shows_up_as_a_phoenix_annotation_on_its_span(phoenix: PhoenixServer) -> None:
    """examples/score_step_confidence.py, run as is, exports to Phoenix and to a receiver that
    forwards to Phoenix: its model-confidence score becomes an annotation on the call-model span."""
    example = Path(__file__).resolve().parent.parent / "examples" / "score_step_confidence.py"
    sink = ForwardingSink([build_forwarder(f"phoenix={phoenix.url}")])
    with ScoreStore(":memory:") as store, OTLPReceiver(store, grpc_port=0, http_port=0, on_stored=sink) as receiver:
        with _TeeCollector(phoenix.otlp_traces_url, receiver.traces_url) as collector:
            env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") or k.startswith("OTEL_SCORING_RAISE")}
            env.update({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url})
            finished = subprocess.run([sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=60)
            assert finished.returncode == 0, finished.stdout + finished.stderr
        (score,) = receiver.wait_for_scores(1, timeout=10)
        assert (score.name, score.span_name) == ("model-confidence", "call-model")
        assert sink.force_flush(30)

    deadline = time.monotonic() + 30
    annotations: List[Dict[str, Any]] = []
    while time.monotonic() < deadline and not annotations:
        annotations = phoenix.annotations("span", [score.observation_id])
        time.sleep(0.2)
    assert [(a["span_id"], a["name"], a["result"]["score"], a["identifier"]) for a in annotations] == [
        (score.observation_id, "model-confidence", 0.83, score.id)
    ]
