"""Log-based evaluation events (OTEP 4430): the stock OpenTelemetry log exporters into a live receiver, and the translator on logs files."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_scoring import schema
from support.fakes.server_process import in_ci
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.records import ScoreRecord
from otel_scoring.store import ScoreStore
from otel_scoring.translate import GENAI_EVENT_SOURCE, records_from_document, records_from_export, records_from_otlp_json, records_from_otlp_logs

TIMEOUT_SECONDS = 10
TOKEN = "logs-token"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path) -> Iterator[ScoreStore]:
    with ScoreStore(tmp_path / "scores.db") as opened:
        yield opened


@pytest.fixture
def receiver(store) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(store, grpc_port=0, http_port=0, token=TOKEN, shutdown_timeout_seconds=2.0) as started:
        yield started


def _emit_evaluations(exporter: Any) -> Tuple[str, str]:
    """Three evaluation results through the Logs SDK: of a span, of a trace, and of a response id.

    Returns the (trace id, span id) of the evaluated span.
    """
    provider = LoggerProvider(resource=Resource.create({"service.name": "evaluator"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("evaluations")
    tracer_provider = TracerProvider()
    try:
        with tracer_provider.get_tracer("app").start_as_current_span("chat") as span:
            logger.emit(
                event_name=schema.EVALUATION_RESULT_EVENT,
                timestamp=1_700_000_000_000_000_000,
                attributes={schema.GEN_AI_EVALUATION_NAME: "relevance", schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.75, schema.GEN_AI_EVALUATION_EXPLANATION: "on topic"},
            )
        context = span.get_span_context()
        trace_only = trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(context.trace_id, 0, False)))
        logger.emit(
            event_name=schema.EVALUATION_RESULT_EVENT,
            timestamp=1_700_000_000_000_001_000,
            context=trace_only,
            attributes={schema.GEN_AI_EVALUATION_NAME: "goal", schema.GEN_AI_EVALUATION_SCORE_LABEL: "met"},
        )
        logger.emit(
            event_name=schema.EVALUATION_RESULT_EVENT,
            timestamp=1_700_000_000_000_002_000,
            context=trace.set_span_in_context(trace.INVALID_SPAN),
            attributes={schema.GEN_AI_EVALUATION_NAME: "toxicity", schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.0, schema.GEN_AI_RESPONSE_ID: "chatcmpl-1"},
        )
        logger.emit(body="an ordinary log line, not an event", attributes={"level": "info"})
        provider.force_flush()
    finally:
        provider.shutdown()
        tracer_provider.shutdown()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _assert_evaluations(scores: List[ScoreRecord], trace_id: str, span_id: str) -> None:
    by_name = {score.name: score for score in scores}
    assert sorted(by_name) == ["goal", "relevance", "toxicity"]
    relevance, goal, toxicity = by_name["relevance"], by_name["goal"], by_name["toxicity"]
    assert (relevance.scope, relevance.trace_id, relevance.observation_id, relevance.value, relevance.comment) == ("span", trace_id, span_id, 0.75, "on topic")
    assert (goal.scope, goal.trace_id, goal.observation_id, goal.string_value, goal.data_type) == ("trace", trace_id, None, "met", "CATEGORICAL")
    assert (toxicity.scope, toxicity.trace_id, toxicity.observation_id, toxicity.value) == ("span", None, None, 0.0)
    assert toxicity.metadata == {schema.GEN_AI_RESPONSE_ID: "chatcmpl-1"}
    assert {score.source for score in scores} == {GENAI_EVENT_SOURCE}
    assert {score.service_name for score in scores} == {"evaluator"}
    assert {score.span_name for score in scores} == {None}  # a log record does not name the span


def _recorded() -> Tuple[Any, str, str]:
    memory = InMemoryLogRecordExporter()
    trace_id, span_id = _emit_evaluations(memory)
    return encode_logs(memory.get_finished_logs()), trace_id, span_id


def _otlp_json(request: Any) -> Dict[str, Any]:
    """OTLP JSON as the spec writes it: hex ids, not protobuf's base64."""

    def hex_ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId") else hex_ids(v) for k, v in node.items()}
        if isinstance(node, list):
            return [hex_ids(item) for item in node]
        return node

    return hex_ids(MessageToDict(request))


@pytest.mark.parametrize("transport", ["http", "http-gzip", "grpc", "grpc-gzip"])
def test_the_stock_python_log_exporters_deliver_evaluation_events_to_the_receiver(receiver, store, transport):
    """OTLPLogExporter over HTTP and gRPC, plain and gzip, with the token: every evaluation event is stored as a score of what it names."""
    headers = {"authorization": f"Bearer {TOKEN}"}
    if transport.startswith("http"):
        compression = Compression.Gzip if transport.endswith("gzip") else Compression.NoCompression
        exporter: Any = HttpLogExporter(endpoint=receiver.http_endpoint + "/v1/logs", headers=headers, compression=compression, timeout=TIMEOUT_SECONDS)
    else:
        compression = grpc.Compression.Gzip if transport.endswith("gzip") else grpc.Compression.NoCompression
        exporter = GrpcLogExporter(endpoint=receiver.grpc_endpoint, insecure=True, headers=headers, compression=compression, timeout=TIMEOUT_SECONDS)
    trace_id, span_id = _emit_evaluations(exporter)
    _assert_evaluations(receiver.wait_for_scores(3, timeout=TIMEOUT_SECONDS), trace_id, span_id)
    assert len(store.scores()) == 3


def test_logs_without_the_token_are_refused(receiver, store):
    """/v1/logs asks for the same bearer token as /v1/traces: 401 without it, nothing stored."""
    request, _, _ = _recorded()
    status, _, _ = _post(receiver, request.SerializeToString())
    assert status == 401
    with grpc.insecure_channel(receiver.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as raised:
            export(request.SerializeToString(), timeout=TIMEOUT_SECONDS)
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert store.scores() == []


def _post(receiver: OTLPReceiver, body: bytes, content_type: str = "application/x-protobuf", headers: Optional[Dict[str, str]] = None) -> Tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("POST", "/v1/logs", body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def test_otlp_json_logs_are_stored_and_answered_with_a_logs_response(receiver, store):
    """An OTLP/HTTP JSON logs export, gzip-compressed, is stored and answered in JSON; a malformed id is counted in rejectedLogRecords."""
    request, trace_id, span_id = _recorded()
    document = _otlp_json(request)
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"].append({"eventName": schema.EVALUATION_RESULT_EVENT, "traceId": "abc", "attributes": []})
    body = gzip.compress(json.dumps(document).encode())
    status, content_type, reply = _post(receiver, body, "application/json", {"Content-Encoding": "gzip", "Authorization": f"Bearer {TOKEN}"})
    assert (status, content_type) == (200, "application/json")
    partial = json.loads(reply)["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1" and "log records" in partial["errorMessage"]
    _assert_evaluations(store.scores(), trace_id, span_id)


def test_a_malformed_logs_body_is_400_and_a_clean_one_has_no_partial_success(receiver, store):
    """Bytes that are not an ExportLogsServiceRequest get 400 naming it; a clean export's reply holds no partial success."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, _ = _post(receiver, b"\x0a\xff\xff\xff\xff\x0f garbage", headers=auth)
    assert status == 400
    request, _, _ = _recorded()
    status, _, reply = _post(receiver, request.SerializeToString(), headers=auth)
    assert status == 200 and not ExportLogsServiceResponse.FromString(reply).HasField("partial_success")
    assert len(store.scores()) == 3


def test_translate_reads_logs_in_every_form_to_the_same_records(tmp_path):
    """A logs request as protobuf, OTLP JSON and the Collector's JSON lines translates to the same records as the receiver's route."""
    request, trace_id, span_id = _recorded()
    expected = records_from_export(request.SerializeToString(), signal="logs").translation.scores
    _assert_evaluations(expected, trace_id, span_id)
    document = _otlp_json(request)
    (tmp_path / "logs.bin").write_bytes(request.SerializeToString())
    (tmp_path / "logs.jsonl").write_text(json.dumps(document) + "\n" + json.dumps(document) + "\n")
    assert records_from_otlp_logs(request).scores == expected
    assert records_from_otlp_logs(request.SerializeToString()).scores == expected
    assert records_from_otlp_json(document).scores == expected
    assert records_from_document((tmp_path / "logs.bin").read_bytes()).scores == expected
    assert records_from_document((tmp_path / "logs.jsonl").read_text()).scores == expected
    assert records_from_otlp_json(json.dumps(MessageToDict(request, preserving_proto_field_name=True))).scores == expected


def test_a_metadata_update_travels_as_a_log_based_event_too(tmp_path):
    """An otel_scoring.metadata.update log record reads back as the metadata record it describes."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("m").emit(
        event_name=schema.METADATA_UPDATE_EVENT,
        timestamp=1_700_000_000_000_000_000,
        attributes={schema.METADATA_UPDATE_MEMO_ID: "memo-1", schema.METADATA_UPDATE_INDEX: 0, schema.METADATA_UPDATE_VALUES: '{"ticket":"T-1"}', schema.METADATA_UPDATE_KIND: "ticket"},
    )
    provider.shutdown()
    (update,) = records_from_otlp_logs(encode_logs(memory.get_finished_logs())).metadata
    assert (update.memo_id, update.index, update.kind, update.scope, dict(update.values)) == ("memo-1", 0, "ticket", "run", {"ticket": "T-1"})


def test_two_results_of_one_name_at_the_same_time_on_one_span_are_two_records(tracer, exporter):
    """Same name, same span, same timestamp: both results are kept, with stable ids on every re-read."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from otel_scoring.translate import records_from_otlp_proto, records_from_spans

    with tracer.start_as_current_span("judged") as span:
        for value in (0.1, 0.9):
            span.add_event(schema.EVALUATION_RESULT_EVENT, {schema.GEN_AI_EVALUATION_NAME: "judge", schema.GEN_AI_EVALUATION_SCORE_VALUE: value}, timestamp=1_700_000_000_000_000_000)
    spans = exporter.get_finished_spans()
    scores = records_from_spans(spans).scores
    assert sorted(score.value for score in scores) == [0.1, 0.9]
    assert len({score.id for score in scores}) == 2
    assert records_from_otlp_proto(encode_spans(spans)).scores == scores
    assert records_from_spans(spans).scores == scores


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_configure_events_logs_round_trips_through_the_receiver(store, protocol):
    """configure(events="logs") sends each score as a log-based event with the stock OTLP log exporter; the receiver stores exactly the expected record."""
    import otel_scoring
    from otel_scoring.translate import expected_record
    from otel_scoring._model import Scope
    from otel_scoring._validation import build_score

    with OTLPReceiver(store, grpc_port=0, http_port=0, shutdown_timeout_seconds=2.0) as receiver:
        endpoint = receiver.http_endpoint if protocol == "http/protobuf" else f"http://{receiver.grpc_endpoint}"
        provider = otel_scoring.configure(service_name="logs-app", endpoint=endpoint, protocol=protocol, events="logs", set_global=False)
        try:
            with provider.get_tracer("app").start_as_current_span("answer") as span:
                otel_scoring.score_current_span(name="helpfulness", value=0.5, comment="fine", score_id="s-1")
            context = span.get_span_context()
        finally:
            provider.shutdown()
        (stored,) = receiver.wait_for_scores(1, timeout=TIMEOUT_SECONDS)
    assert (stored.id, stored.name, stored.value, stored.comment, stored.scope) == ("s-1", "helpfulness", 0.5, "fine", "span")
    assert (stored.trace_id, stored.observation_id) == (format(context.trace_id, "032x"), format(context.span_id, "016x"))
    expected = expected_record(
        build_score(name="helpfulness", value=0.5, comment="fine", score_id="s-1", scope=Scope.SPAN, trace_id=context.trace_id, span_id=context.span_id, timestamp=stored.timestamp),
        service_name="logs-app",
        span_name="answer",  # the span it was recorded on, as its span event's record says
    )
    assert stored == expected


def _record_both_ways() -> Tuple[Any, Any]:
    """configure(events="both"): a span score, a trace score, a late score and a metadata update; the spans and log records made."""
    import otel_scoring
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    provider = otel_scoring.configure(service_name="both-app", span_exporter=spans, events="both", log_exporter=logs, set_global=False)
    try:
        tracer = provider.get_tracer("app")
        with tracer.start_as_current_span("run"):
            with tracer.start_as_current_span("answer") as answer:
                otel_scoring.score_current_span(name="helpfulness", value=0.5, comment="fine")
                otel_scoring.metadata("model").update({"name": "judge-1"}, kind="config")
            otel_scoring.score_current_trace(name="task-success", value=True)
        context = answer.get_span_context()
        otel_scoring.create_score(name="late-review", value="good", trace_id=context.trace_id, observation_id=context.span_id)  # ended: a carrier takes it
        assert otel_scoring.delivery_processor(provider).force_flush(TIMEOUT_SECONDS * 1000)
    finally:
        provider.shutdown()
    return spans.get_finished_spans(), logs.get_finished_logs()


@pytest.mark.parametrize("logs_first", [False, True], ids=["spans-then-logs", "logs-then-spans"])
def test_configure_events_both_gives_one_identical_record_whichever_route_arrives_last(tmp_path, logs_first):
    """configure(events="both") sends each score and metadata update twice, as a span event and a log record; the receiver keeps one record of each, the same whatever the order, as each route reads alone."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from otel_scoring.translate import records_from_otlp_proto

    spans, logs = _record_both_ways()
    from_spans, from_logs = records_from_otlp_proto(encode_spans(spans).SerializeToString()), records_from_otlp_logs(encode_logs(logs))
    assert from_logs.scores == from_spans.scores and from_logs.metadata == from_spans.metadata
    assert sorted((score.name, score.span_name) for score in from_spans.scores) == [("helpfulness", "answer"), ("late-review", None), ("task-success", "run")]
    with ScoreStore(tmp_path / "scores.db") as store, OTLPReceiver(store, grpc_port=0, http_port=0, shutdown_timeout_seconds=2.0) as receiver:
        send_spans = lambda: OTLPSpanExporter(endpoint=receiver.http_endpoint + "/v1/traces", timeout=TIMEOUT_SECONDS).export(spans)  # noqa: E731
        send_logs = lambda: HttpLogExporter(endpoint=receiver.http_endpoint + "/v1/logs", timeout=TIMEOUT_SECONDS).export(logs)  # noqa: E731
        for send in (send_logs, send_spans) if logs_first else (send_spans, send_logs):
            send()
        stored_scores, stored_metadata = store.scores(), store.metadata()
    key = lambda record: record.id  # noqa: E731
    assert sorted(stored_scores, key=key) == sorted(from_spans.scores, key=key)
    assert sorted(stored_metadata, key=key) == sorted(from_spans.metadata, key=key)


def test_an_unknown_events_form_is_refused_at_setup():
    """configure(events=...) takes spans, logs or both; anything else is a ValueError at setup, leaving no processor behind."""
    import otel_scoring
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    with pytest.raises(ValueError, match="events must be one of spans, logs, both"):
        otel_scoring.configure(events="traces", span_exporter=InMemorySpanExporter(), set_global=False)


def _node_modules() -> Path:
    """The JS exporters' node_modules from .ci/node.sh, or skip (outside CI) / fail (in CI)."""
    modules = Path(os.environ.get("OTEL_SCORING_NODE_DIR") or REPO_ROOT / ".ci" / ".node") / "node_modules"
    if (modules / "@opentelemetry" / "sdk-logs").is_dir() and shutil.which("node"):
        return modules
    reason = f"the OpenTelemetry JS log exporters are not installed in {modules.parent} (or node is missing): run .ci/node.sh (or set OTEL_SCORING_NODE_DIR)"
    if in_ci():
        pytest.fail(f"CI must run these tests, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_the_stock_js_log_exporters_deliver_evaluation_events_to_the_receiver(receiver, store, transport):
    """@opentelemetry/exporter-logs-otlp-proto and -grpc (Node) send log-based evaluation events with the token; both are stored as scores of the span they name."""
    modules = _node_modules()
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    endpoint = receiver.http_endpoint if transport == "http" else f"http://{receiver.grpc_endpoint}"
    done = subprocess.run(
        ["node", str(REPO_ROOT / "tests" / "support" / "js" / "export_logs.cjs"), transport, endpoint, trace_id, span_id, TOKEN],
        env={**os.environ, "NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scores = sorted(receiver.wait_for_scores(2, timeout=TIMEOUT_SECONDS), key=lambda score: score.name)
    assert [(s.name, s.value, s.string_value, s.comment, s.scope, s.trace_id, s.observation_id, s.source, s.service_name) for s in scores] == [
        ("groundedness", 0.5, None, "half cited", "span", trace_id, span_id, GENAI_EVENT_SOURCE, "js-evaluator"),
        ("tone", None, "polite", None, "span", trace_id, span_id, GENAI_EVENT_SOURCE, "js-evaluator"),
    ]
    assert len(store.scores()) == 2
