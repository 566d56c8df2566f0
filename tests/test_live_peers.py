"""Scores through a real OpenTelemetry Collector into a live Jaeger v2 and `otel-scoring serve`.

One Jaeger, one receiver and one Collector running collector-config/collector-fanout.yaml serve the
whole module (starting them costs about a second; the app run is shared so the live group stays
short). Every Jaeger tag search in docs/finding-scores.md is run on Jaeger's HTTP query API, and
what Jaeger returns is read back by ``otel-scoring translate``. Needs the binaries that
``.ci/peers.sh`` builds: skipped without them outside CI, failed without them in CI.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest

import otel_scoring
from otel_scoring import ScoreConfig, ScoreConfigRegistry, schema
from otel_scoring._formatting import json_lines
from otel_scoring.schema import format_trace_id
from otel_scoring.store import ScoreStore
from otel_scoring.translate import Translation, records_from_jaeger
from support.peers import CONFIG_DIR, Collector, Jaeger, PeerProcess, accepts_connections, free_port

pytestmark = pytest.mark.peers

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "finding-scores.md"
FENCE = re.compile(r"^```jaeger-tags[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
WAIT_SECONDS = 30.0

# What each documented tag search finds among the traces the app below makes (by label), and so
# what it does not: "control" (a lower confidence, a failed guardrail) and "plain" (no score) never match.
EXPECTED = {
    "otel_scoring.has_scores=true": {"ticket", "control", "session"},
    "otel_scoring.has_metadata=true": {"ticket"},
    "otel_scoring.trace_score.value.guardrail-pass=1": {"ticket"},
    "otel_scoring.trace_score.label.guardrail-pass=true": {"ticket"},
    "otel_scoring.span_score.value.model-confidence=0.83": {"ticket"},
    "otel_scoring.span_score.label.user-feedback=thumbs-down": {"ticket"},
    "gen_ai.evaluation.name=model-confidence": {"ticket", "control"},
    "gen_ai.evaluation.name=model-confidence gen_ai.evaluation.score.value=0.83": {"ticket"},
    "otel_scoring.score.session_id=session-42": {"session"},
    "otel_scoring.score.config_id=guardrail-v2": {"ticket", "control"},
    "otel_scoring.metadata.billing.paymentId=pi_123": {"ticket"},
    "otel_scoring.carrier=true": {"ticket", "session"},
}
# Searches the doc says find nothing.
FINDS_NOTHING = {"otel_scoring.trace_score.value.guardrail-pass=1.0"}


def doc_tag_searches() -> List[str]:
    return [body.strip() for body in FENCE.findall(DOC.read_text(encoding="utf-8"))]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class Stack:
    def __init__(self, jaeger: Jaeger, store_path: Path, service: str, traces: Dict[str, str]) -> None:
        self.jaeger, self.store_path, self.service, self.traces = jaeger, store_path, service, traces

    def label(self, trace_id: str) -> str:
        return {value: key for key, value in self.traces.items()}.get(trace_id, trace_id)

    def search(self, tags: Dict[str, str], **params: str) -> Set[str]:
        query = {"service": self.service, "limit": "100", **params}
        if tags:
            query["tags"] = json.dumps(tags)
        answer = get_json(f"{self.jaeger.query_url}/api/traces?{urllib.parse.urlencode(query)}")
        return {self.label(trace["traceID"]) for trace in answer["data"]}


def run_app(endpoint: str, service: str) -> Dict[str, str]:
    """A support bot's runs, exported over OTLP/gRPC to the Collector; returns label -> trace id."""
    configs = ScoreConfigRegistry()
    configs.add(ScoreConfig(id="guardrail-v2", name="guardrail-pass", data_type="BOOLEAN"))
    provider = otel_scoring.configure(service_name=service, endpoint=endpoint, protocol="grpc", set_global=False, score_configs=configs)
    tracer = provider.get_tracer("support-bot")
    traces = {}
    try:
        with tracer.start_as_current_span("handle-ticket") as run:
            otel_scoring.metadata("payment").update({"paymentId": "pi_123"}, kind="billing")
            with tracer.start_as_current_span("retrieve-docs"):
                pass
            with tracer.start_as_current_span("call-model") as step:
                step.add_event("exception", {"exception.type": "TimeoutError"})
                otel_scoring.score_current_span(name="model-confidence", value=0.83)
                otel_scoring.score_current_span(name="user-feedback", value="thumbs-down")
            otel_scoring.score_current_trace(name="guardrail-pass", value=True, config_id="guardrail-v2")
        traces["ticket"] = format_trace_id(run.get_span_context().trace_id)
        with tracer.start_as_current_span("handle-ticket") as control:
            with tracer.start_as_current_span("call-model"):
                otel_scoring.score_current_span(name="model-confidence", value=0.5)
            otel_scoring.score_current_trace(name="guardrail-pass", value=False, config_id="guardrail-v2")
        traces["control"] = format_trace_id(control.get_span_context().trace_id)
        with tracer.start_as_current_span("health-check") as plain:
            pass
        traces["plain"] = format_trace_id(plain.get_span_context().trace_id)
        three_days_ago = time.time_ns() - 3 * 24 * 3600 * 10**9
        with tracer.start_as_current_span("nightly-eval", start_time=three_days_ago) as old:
            otel_scoring.score_current_span(name="model-confidence", value=0.83)
        traces["old"] = format_trace_id(old.get_span_context().trace_id)
        # After the run: a late score of the ticket's model call, and a session score with no trace.
        context = step.get_span_context()
        otel_scoring.create_score(name="user-feedback-late", value=1.0, trace_id=context.trace_id, observation_id=context.span_id, comment="after the run")
        otel_scoring.create_score(name="csat", value=4.0, session_id="session-42")
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    return traces


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("peers")
    store_path = work / "scores.db"
    receiver_port = free_port()
    serve = [str(Path(sys.executable).with_name("otel-scoring")), "serve", "--db", str(store_path), "--grpc-port", str(receiver_port), "--http-port", "0"]
    with Jaeger(work) as jaeger, PeerProcess(serve, log_path=work / "serve.log", env={}, ready=lambda _: accepts_connections(f"127.0.0.1:{receiver_port}")):
        env = {
            "JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc_endpoint,
            "TEMPO_OTLP_ENDPOINT": f"127.0.0.1:{free_port()}",  # no Tempo runs here: that exporter only retries
            "OTEL_SCORING_RECEIVER_ENDPOINT": f"127.0.0.1:{receiver_port}",
        }
        with Collector(CONFIG_DIR / "collector-fanout.yaml", work, env) as collector:
            service = f"support-bot-{uuid.uuid4().hex[:8]}"
            traces = run_app(f"http://{collector.otlp_grpc_endpoint}", service)
            stack = Stack(jaeger, store_path, service, traces)
            deadline = time.monotonic() + WAIT_SECONDS
            while len(stack.search({})) < len(traces) and time.monotonic() < deadline:  # the old one is outside the window, the session's own is in
                time.sleep(0.3)
            # The session score's one-span trace has an id the app never saw: find it by its tag.
            [session_trace] = [t for t in get_json(f"{jaeger.query_url}/api/traces?service={service}&tags=" + urllib.parse.quote('{"otel_scoring.score.session_id":"session-42"}'))["data"]]
            traces["session"] = session_trace["traceID"]
            while time.monotonic() < deadline:
                with ScoreStore(store_path) as store:
                    if len(store.scores()) >= 8 and store.metadata():  # every score run_app makes
                        break
                time.sleep(0.3)
            yield stack


def jaeger_trace(stack: Stack, label: str) -> dict:
    [trace] = get_json(f"{stack.jaeger.query_url}/api/traces/{stack.traces[label]}")["data"]
    return trace


def test_jaeger_gets_every_span_through_the_collector(stack: Stack):
    """Every span the app made, scored or not, reaches Jaeger through collector-fanout.yaml, event and attribute intact."""
    names = {label: sorted(span["operationName"] for span in jaeger_trace(stack, label)["spans"]) for label in ("ticket", "control", "plain", "session")}
    assert names == {
        "ticket": ["call-model", "handle-ticket", schema.CARRIER_SPAN_NAME, "retrieve-docs"],
        "control": ["call-model", "handle-ticket"],
        "plain": ["health-check"],
        "session": [schema.CARRIER_SPAN_NAME],
    }
    [call_model] = [span for span in jaeger_trace(stack, "ticket")["spans"] if span["operationName"] == "call-model"]
    assert [field["value"] for log in call_model["logs"] for field in log["fields"] if field["key"] == "event"] == [
        "exception", schema.EVALUATION_RESULT_EVENT, schema.EVALUATION_RESULT_EVENT
    ]


def test_receiver_behind_the_collector_stores_every_score_and_only_score_data(stack: Stack):
    """The receiver stores every score (the late and the session score included) and the metadata, from scored spans only."""
    with ScoreStore(stack.store_path) as store:
        scores = store.scores()
        metadata = store.metadata()
    assert sorted((s.name, s.trace_id) for s in scores) == sorted(
        [
            ("model-confidence", stack.traces["ticket"]),
            ("user-feedback", stack.traces["ticket"]),
            ("guardrail-pass", stack.traces["ticket"]),
            ("user-feedback-late", stack.traces["ticket"]),
            ("model-confidence", stack.traces["control"]),
            ("guardrail-pass", stack.traces["control"]),
            ("csat", None),
            ("model-confidence", stack.traces["old"]),
        ]
    )
    assert [(m.kind, m.values, m.trace_id) for m in metadata] == [("billing", {"paymentId": "pi_123"}, stack.traces["ticket"])]
    assert stack.traces["plain"] not in {s.trace_id for s in scores}


@pytest.mark.parametrize("search", doc_tag_searches())
def test_every_documented_jaeger_search_finds_what_the_doc_says(stack: Stack, search: str):
    """Each tag search in docs/finding-scores.md, run on the live Jaeger's /api/traces, finds exactly the traces it promises."""
    tags = dict(pair.split("=", 1) for pair in shlex.split(search))
    expected = set() if search in FINDS_NOTHING else EXPECTED[search]
    assert stack.search(tags) == expected


def test_search_without_a_start_looks_back_two_days(stack: Stack):
    """/api/traces without start= searches the last 2 days: a trace from 3 days ago is found only with an explicit start."""
    tags = {schema.score_value_attribute("span", "model-confidence"): "0.83"}
    assert "old" not in stack.search(tags)
    four_days_ago = int((time.time() - 4 * 24 * 3600) * 1_000_000)
    assert stack.search(tags, start=str(four_days_ago)) == {"ticket", "old"}


def test_searches_the_doc_warns_against_find_nothing(stack: Stack):
    """A double typed with '.0', and an event's name as a tag, find nothing in Jaeger."""
    assert stack.search({schema.score_value_attribute("trace", "guardrail-pass"): "1.0"}) == set()
    assert stack.search({"event": schema.EVALUATION_RESULT_EVENT}) == set()


def test_doc_curl_search_and_the_carrier_operation_find_what_the_doc_says(stack: Stack):
    """The doc's curl (tags as a JSON object) finds the scored traces; the operation otel_scoring.carrier finds the late ones."""
    [curl] = re.findall(r"```bash\n(curl -sG http://localhost:16686/api/traces.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    argv = shlex.split(curl.replace("\\\n", " "))
    params = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "--data-urlencode")
    assert stack.search(json.loads(params.pop("tags")), **{k: v for k, v in params.items() if k != "service"}) == {"ticket", "control", "session"}
    assert stack.search({}, operation=schema.CARRIER_SPAN_NAME) == {"ticket", "session"}


def test_v3_search_filters_by_service_and_operation_but_not_attributes(stack: Stack):
    """/api/v3/traces finds by service, operation and time window (with query.num_traces, which it requires); it ignores an attribute filter, as the doc says."""
    now = datetime.now(timezone.utc)
    window = {"query.service_name": stack.service, "query.num_traces": "100", "query.start_time_min": (now - timedelta(hours=1)).isoformat(), "query.start_time_max": (now + timedelta(minutes=1)).isoformat()}

    def found(**extra: str) -> Set[str]:
        answer = get_json(f"{stack.jaeger.query_url}/api/v3/traces?{urllib.parse.urlencode({**window, **extra})}")
        spans = [span for resource in answer["result"]["resourceSpans"] for scope in resource["scopeSpans"] for span in scope["spans"]]
        return {stack.label(span["traceId"]) for span in spans}

    assert found() == {"ticket", "control", "plain", "session"}
    assert found(**{"query.operation_name": schema.CARRIER_SPAN_NAME}) == {"ticket", "session"}
    assert found(**{"query.attributes": json.dumps({schema.HAS_METADATA: "true"})}) == {"ticket", "control", "plain", "session"}


@pytest.mark.parametrize("api", ["/api/traces/{}", "/api/v3/traces/{}"])
@pytest.mark.parametrize("label", ["ticket", "control", "session"])
def test_translate_of_jaegers_answers_equals_the_store(stack: Stack, tmp_path: Path, api: str, label: str):
    """`otel-scoring translate` of Jaeger's own answer for a trace prints the records the receiver stored for it."""
    trace_id = stack.traces[label]
    answer = urllib.request.urlopen(stack.jaeger.query_url + api.format(trace_id), timeout=10).read()
    path = tmp_path / "jaeger.json"
    path.write_bytes(answer)
    printed = subprocess.run([str(Path(sys.executable).with_name("otel-scoring")), "translate", str(path)], capture_output=True, text=True, timeout=60, check=True).stdout
    with ScoreStore(stack.store_path) as store:
        stored = Translation(
            scores=[s for s in store.scores() if s.trace_id == trace_id or (label == "session" and s.session_id == "session-42")],
            metadata=store.metadata(trace_id=trace_id),
        )
    read = records_from_jaeger(answer)
    # The records, not the Translation: a Translation also carries the resources the reader saw,
    # which the store keeps in its own tables rather than on the records.
    assert stored.scores and (read.scores, read.metadata) == (stored.scores, stored.metadata)
    as_printed = [json_lines(stored.scores, "score"), json_lines(stored.metadata, "metadata")]
    assert printed.strip() == "\n".join(lines for lines in as_printed if lines).strip()
