"""collector-config/: Collector pipelines that hold together, current component names, OTTL that
keys only on otel-scoring's wire names, and a compose stack whose files and ports line up.

The built Collector (``.ci/peers.sh``, from builder-config.yaml) validates every config and runs
collector-jaeger.yaml and collector-fanout.yaml against a live Jaeger v2 and a capturing OTLP
server; collector-fanout.yaml's delivery to ``otel-scoring serve`` is tests/test_live_peers.py. No
Docker engine runs here, so compose.yaml is checked against the files and ports it names.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import time
import urllib.error
import urllib.request
from concurrent import futures
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

import otel_scoring
from otel_scoring import schema
from otel_scoring.cli import build_parser
from otel_scoring.schema import format_trace_id
from support import peers
from support.wire_names import EVENT_NAMES, is_wire_name

CONFIG_DIR = Path(__file__).resolve().parent.parent / "collector-config"
COMPOSE = CONFIG_DIR / "compose.yaml"

# Exporters renamed in Collector v0.144.0 (the old names are deprecated aliases), and older renames.
RENAMED_EXPORTERS = {"otlp": "otlp_grpc", "otlphttp": "otlp_http", "logging": "debug"}
CURRENT_EXPORTERS = {"otlp_grpc", "otlp_http", "debug", "file", "nop", "load_balancing"}  # not `loadbalancing`, its deprecated alias
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")
MIN_COLLECTOR_VERSION = (0, 146, 0)  # filter processor trace_conditions; otlp_grpc needs 0.144.0


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def collector_configs() -> List[Path]:
    return sorted(CONFIG_DIR.glob("collector-*.yaml"))


def component_type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def compose() -> dict:
    return load(COMPOSE)


def env_default(value: str) -> str:
    """``${env:NAME:-default}`` -> ``default`` (what the Collector uses when NAME is unset)."""
    match = re.fullmatch(r"\$\{env:\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def host_port(endpoint: str) -> Tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host, int(port)


def test_every_yaml_file_loads():
    """Every YAML file under collector-config/ parses."""
    files = sorted(CONFIG_DIR.rglob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        assert isinstance(load(path), dict), path


def test_there_are_configs_for_jaeger_tempo_and_the_fanout():
    """Jaeger, Tempo, fan-out and load-balancing Collector configs exist, each exporting where its name says."""
    exporters = {path.name: set(load(path)["exporters"]) for path in collector_configs()}
    assert exporters == {
        "collector-jaeger.yaml": {"otlp_grpc/jaeger"},
        "collector-tempo.yaml": {"otlp_grpc/tempo"},
        "collector-fanout.yaml": {"otlp_grpc/jaeger", "otlp_grpc/tempo", "otlp_grpc/otel_scoring"},
        "collector-loadbalancing.yaml": {"load_balancing"},
    }


@pytest.mark.parametrize("path", collector_configs(), ids=lambda p: p.name)
def test_receivers_listen_on_all_interfaces(path: Path):
    """The OTLP receiver binds 0.0.0.0, so apps outside the Collector's container can reach it."""
    protocols = load(path)["receivers"]["otlp"]["protocols"]
    assert {name: host_port(settings["endpoint"]) for name, settings in protocols.items()} == {"grpc": ("0.0.0.0", 4317), "http": ("0.0.0.0", 4318)}


# --- OTTL ---------------------------------------------------------------------------------------------


def ottl_texts(config: dict) -> Iterator[str]:
    """Every OTTL condition and statement of the filter and transform processors."""

    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for key, value in node.items():
                if key not in ("error_mode", "context"):
                    yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)

    for processor, settings in (config.get("processors") or {}).items():
        if component_type(processor) in ("filter", "transform"):
            yield from strings(settings)


@pytest.mark.parametrize("path", collector_configs(), ids=lambda p: p.name)
def test_ottl_references_only_schema_names(path: Path):
    """Every attribute, event name and key pattern in OTTL is one otel_scoring.schema defines."""
    for text in ottl_texts(load(path)):
        for attribute in re.findall(r'attributes\["([^"]+)"\]', text):
            assert is_wire_name(attribute), f"{path.name}: {attribute} is not in otel_scoring.schema ({text})"
        for event_name in re.findall(r'spanevent\.name\s*(?:==|!=)\s*"([^"]+)"', text):
            assert event_name in EVENT_NAMES, f"{path.name}: event {event_name} is not one otel-scoring writes ({text})"
        for pattern in re.findall(r'keep_matching_keys\([^,]+,\s*"\^([^"\\]+)', text):
            assert pattern == schema.NAMESPACE, f"{path.name}: keeps keys under {pattern!r}, not {schema.NAMESPACE!r}"


# --- compose ----------------------------------------------------------------------------------------


def bind_mounts() -> Iterator[Tuple[str, Path, str]]:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                yield name, (CONFIG_DIR / source).resolve(), target


def test_compose_starts_collector_jaeger_tempo_grafana_and_the_receiver():
    """compose.yaml runs the contrib Collector (new enough for these configs) beside Jaeger v2, Tempo, Grafana and the receiver."""
    services = compose()["services"]
    assert set(services) == {"otel-collector", "jaeger", "tempo", "grafana", "otel-scoring"}
    images = {name: service["image"] for name, service in services.items()}
    for name, image in images.items():
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version ({image})"
    repository, version = images["otel-collector"].split(":")
    assert repository == "otel/opentelemetry-collector-contrib"
    assert tuple(int(part) for part in version.split(".")) >= MIN_COLLECTOR_VERSION
    assert images["jaeger"].startswith("jaegertracing/jaeger:2.")


def test_compose_bind_mounts_exist():
    """Every file or directory compose.yaml mounts from the repository exists."""
    mounts = list(bind_mounts())
    assert len(mounts) >= 4
    for service, source, _ in mounts:
        assert source.exists(), f"{service} mounts {source}, which does not exist"


def test_compose_collector_runs_the_fanout_config_against_the_compose_services():
    """The Collector loads collector-fanout.yaml, and each exporter reaches a compose service on the port it listens on."""
    services = compose()["services"]
    collector = services["otel-collector"]
    [(config_file, target)] = [(source, target) for name, source, target in bind_mounts() if name == "otel-collector"]
    assert config_file == CONFIG_DIR / "collector-fanout.yaml"
    assert f"--config={target}" in collector["command"]
    exporters = load(config_file)["exporters"]
    environment = collector["environment"]
    endpoints = {}
    for exporter, settings in exporters.items():
        variable = re.fullmatch(r"\$\{env:(\w+):-[^}]*\}", settings["endpoint"]).group(1)
        endpoints[exporter] = host_port(environment[variable])
        assert environment[variable] == env_default(settings["endpoint"]), f"{exporter}: the config's default and compose disagree"

    tempo_grpc = host_port(load(CONFIG_DIR / "tempo.yaml")["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    serve = shlex.split(services["otel-scoring"]["command"][-1].split("exec ", 1)[1])
    assert serve[0] == "otel-scoring"
    receiver = build_parser().parse_args(serve[1:])
    assert endpoints == {
        "otlp_grpc/jaeger": ("jaeger", 4317),  # Jaeger v2's default OTLP/gRPC port
        "otlp_grpc/tempo": ("tempo", tempo_grpc[1]),
        "otlp_grpc/otel_scoring": ("otel-scoring", receiver.grpc_port),
    }
    assert receiver.command == "serve" and receiver.grpc_port != 4317, "the receiver needs its own port, not the Collector's"
    assert receiver.host == "0.0.0.0" and receiver.allow_non_loopback


def test_compose_tempo_can_answer_traceql_metrics_over_every_span():
    """Tempo runs the local-blocks processor on all spans (scores sit on INTERNAL spans), and Grafana reads it."""
    tempo = load(CONFIG_DIR / "tempo.yaml")
    assert "local-blocks" in tempo["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert tempo["metrics_generator"]["processor"]["local_blocks"]["filter_server_spans"] is False
    sources = {source["type"]: source for source in load(CONFIG_DIR / "grafana" / "provisioning" / "datasources" / "datasources.yaml")["datasources"]}
    assert sources["tempo"]["url"] == f"http://tempo:{tempo['server']['http_listen_port']}"
    assert sources["tempo"]["uid"] == "tempo"
    assert sources["jaeger"]["url"] == "http://jaeger:16686"


def test_compose_grafana_provisions_the_score_trends_dashboard():
    """Grafana's dashboard provider reads the directory compose.yaml mounts docs/grafana into."""
    [provider] = load(CONFIG_DIR / "grafana" / "provisioning" / "dashboards" / "otel-scoring.yaml")["providers"]
    mounts = {target: source for name, source, target in bind_mounts() if name == "grafana"}
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "score-trends.json").is_file()
    assert mounts["/etc/grafana/provisioning"] == CONFIG_DIR / "grafana" / "provisioning"


# --- The built Collector (and Jaeger) -----------------------------------------------------------


@pytest.mark.peers
@pytest.mark.parametrize("path", collector_configs(), ids=lambda p: p.name)
def test_every_collector_config_passes_the_built_collectors_validate(path: Path):
    """The Collector of builder-config.yaml accepts each config: components, pipelines, OTTL and settings."""
    result = peers.validate_collector_config(path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.peers
def test_validate_rejects_a_config_the_collector_would_not_start(tmp_path: Path):
    """validate is no rubber stamp: an unknown exporter and a broken OTTL condition each fail it, naming the problem."""
    fanout = load(CONFIG_DIR / "collector-fanout.yaml")
    unknown = dict(fanout, exporters={**fanout["exporters"], "otlp_grpc/jaeger": {"endpoint": "x:1", "no_such_setting": 1}})
    broken = copy.deepcopy(fanout)
    broken["processors"]["filter/otel_scoring_only"]["trace_conditions"][0] += " and"
    for name, config, problem in (("unknown.yaml", unknown, "no_such_setting"), ("broken.yaml", broken, "filter/otel_scoring_only")):
        (tmp_path / name).write_text(yaml.safe_dump(config), encoding="utf-8")
        result = peers.validate_collector_config(tmp_path / name)
        assert result.returncode != 0 and problem in result.stdout + result.stderr, name


@pytest.mark.peers
def test_jaeger_config_passes_jaegers_validate():
    """collector-config/jaeger.yaml, the Jaeger v2 the Collector configs send to, is valid for Jaeger's own binary."""
    result = peers.validate_jaeger_config(CONFIG_DIR / "jaeger.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


class CapturingTraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC endpoint that keeps every request it is sent (where the fan-out's receiver would be)."""

    def __init__(self) -> None:
        self.requests: List[ExportTraceServiceRequest] = []

    def Export(self, request, context):  # noqa: N802 (the gRPC method name)
        self.requests.append(request)
        return ExportTraceServiceResponse()

    def spans(self) -> Dict[str, Tuple[List[str], List[str]]]:
        """span name -> (its attribute keys, its event names)."""
        return {
            span.name: (sorted(kv.key for kv in span.attributes), [event.name for event in span.events])
            for request in self.requests
            for resources in request.resource_spans
            for scopes in resources.scope_spans
            for span in scopes.spans
        }


@pytest.fixture
def capture() -> Iterator[Tuple[str, CapturingTraceService]]:
    service = CapturingTraceService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", service
    server.stop(grace=None)


def scored_app_run(endpoint: str) -> str:
    """An app's run through the Collector at ``endpoint``; returns its trace id."""
    provider = otel_scoring.configure(service_name="collector-config-test", endpoint=f"http://{endpoint}", protocol="grpc", set_global=False)
    tracer = provider.get_tracer("tests")
    try:
        with tracer.start_as_current_span("health-check"):
            pass
        with tracer.start_as_current_span("summarize-ticket") as run:
            otel_scoring.metadata("record-payment-info").update({"paymentId": "pi_123"}, kind="billing")
            with tracer.start_as_current_span("call-model") as step:
                step.set_attribute("gen_ai.input.messages", "a long prompt")
                step.add_event("exception", {"exception.type": "TimeoutError"})
                otel_scoring.score_current_span(name="model-confidence", value=0.83)
        context = step.get_span_context()
        otel_scoring.create_score(name="user-feedback", value=1, trace_id=context.trace_id, observation_id=context.span_id)
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    return format_trace_id(run.get_span_context().trace_id)


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def jaeger_span_names(jaeger: peers.Jaeger, trace_id: str) -> List[str]:
    try:
        with urllib.request.urlopen(f"{jaeger.query_url}/api/traces/{trace_id}", timeout=5) as response:
            return sorted(span["operationName"] for trace in json.loads(response.read())["data"] for span in trace["spans"])
    except urllib.error.HTTPError:
        return []  # 404 until the trace arrives


@pytest.mark.peers
def test_collector_jaeger_yaml_delivers_every_span_to_jaeger(tmp_path: Path):
    """collector-jaeger.yaml, run by the built Collector, brings an app's spans (scored or not) into a live Jaeger."""
    with peers.Jaeger(tmp_path) as jaeger, peers.Collector(CONFIG_DIR / "collector-jaeger.yaml", tmp_path, {"JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc_endpoint}) as collector:
        trace_id = scored_app_run(collector.otlp_grpc_endpoint)
        expected = ["call-model", schema.CARRIER_SPAN_NAME, "summarize-ticket"]
        wait_for(lambda: jaeger_span_names(jaeger, trace_id) == expected)
        assert jaeger_span_names(jaeger, trace_id) == expected


@pytest.mark.peers
def test_fanout_sends_jaeger_every_span_and_the_receiver_only_score_data(tmp_path: Path, capture):
    """collector-fanout.yaml gives Jaeger everything, and the receiver's endpoint only scored, metadata and carrier
    spans, with only their score and metadata events and otel_scoring.* attributes."""
    receiver_endpoint, received = capture
    env = {"OTEL_SCORING_RECEIVER_ENDPOINT": receiver_endpoint, "TEMPO_OTLP_ENDPOINT": f"127.0.0.1:{peers.free_port()}"}
    with peers.Jaeger(tmp_path) as jaeger, peers.Collector(CONFIG_DIR / "collector-fanout.yaml", tmp_path, {**env, "JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc_endpoint}) as collector:
        trace_id = scored_app_run(collector.otlp_grpc_endpoint)
        wait_for(lambda: len(received.spans()) == 3 and len(jaeger_span_names(jaeger, trace_id)) == 3)
        assert jaeger_span_names(jaeger, trace_id) == ["call-model", schema.CARRIER_SPAN_NAME, "summarize-ticket"]
    spans = received.spans()
    assert {name: events for name, (_, events) in spans.items()} == {
        "call-model": [schema.EVALUATION_RESULT_EVENT],
        "summarize-ticket": [schema.METADATA_UPDATE_EVENT],
        schema.CARRIER_SPAN_NAME: [schema.EVALUATION_RESULT_EVENT],
    }
    for name, (attributes, _) in spans.items():
        assert attributes and all(key.startswith(schema.NAMESPACE) for key in attributes), (name, attributes)
    assert schema.score_value_attribute("span", "model-confidence") in spans["call-model"][0]


def test_readme_stack_commands_match_what_the_suite_builds_and_runs():
    """The README's run-it-yourself block builds the Jaeger and builder versions .ci/peers.sh builds, runs
    files that exist, and wires the endpoints the configs read to the ports jaeger.yaml and serve listen on."""
    readme = (CONFIG_DIR.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Run the same stack on your machine", 1)[1]
    [block] = re.findall(r"```bash\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    peers_sh = (CONFIG_DIR.parent / ".ci" / "peers.sh").read_text(encoding="utf-8")
    [jaeger_version] = re.findall(r"OTEL_SCORING_JAEGER_MODULE_VERSION:-(v[\d.]+)", peers_sh)
    assert f"cmd/jaeger@{jaeger_version}" in block
    manifest = (CONFIG_DIR / "builder-config.yaml").read_text(encoding="utf-8")
    [release] = set(re.findall(r"go.opentelemetry.io/collector/receiver/otlpreceiver (v[\d.]+)", manifest))
    assert f"cmd/builder@{release}" in block
    for config in re.findall(r"--config (\S+)", block):
        assert (CONFIG_DIR.parent / config).is_file(), config
    jaeger_grpc = load(CONFIG_DIR / "jaeger.yaml")["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert f"JAEGER_OTLP_ENDPOINT=127.0.0.1:{host_port(jaeger_grpc)[1]}" in block
    serve = build_parser().parse_args(shlex.split(next(line for line in block.splitlines() if line.startswith("otel-scoring serve")))[1:])
    assert f"OTEL_SCORING_RECEIVER_ENDPOINT=127.0.0.1:{serve.grpc_port}" in block
    fanout = (CONFIG_DIR / "collector-fanout.yaml").read_text(encoding="utf-8")
    assert "${env:JAEGER_OTLP_ENDPOINT" in fanout and "${env:OTEL_SCORING_RECEIVER_ENDPOINT" in fanout
