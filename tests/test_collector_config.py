"""collector-config/: Collector pipelines that hold together, current component names, OTTL that
keys only on otel-scoring's wire names, and a compose stack whose files and ports line up.

Docker is not available to the test suite, so nothing here starts a Collector: the configs are
loaded as YAML and checked against each other, against otel_scoring.schema, against the CLI's own
argument parser, and (for the OTTL filter) against spans a real TracerProvider exports.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml

import otel_scoring
from otel_scoring import schema
from otel_scoring.cli import build_parser
from support.wire_names import EVENT_NAMES, is_wire_name

CONFIG_DIR = Path(__file__).resolve().parent.parent / "collector-config"
COMPOSE = CONFIG_DIR / "compose.yaml"

# Exporters renamed in Collector v0.144.0 (the old names are deprecated aliases), and older renames.
RENAMED_EXPORTERS = {"otlp": "otlp_grpc", "otlphttp": "otlp_http", "logging": "debug"}
CURRENT_EXPORTERS = {"otlp_grpc", "otlp_http", "debug", "file", "nop"}
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
    """Jaeger, Tempo and fan-out Collector configs exist, each exporting where its name says."""
    exporters = {path.name: set(load(path)["exporters"]) for path in collector_configs()}
    assert exporters == {
        "collector-jaeger.yaml": {"otlp_grpc/jaeger"},
        "collector-tempo.yaml": {"otlp_grpc/tempo"},
        "collector-fanout.yaml": {"otlp_grpc/jaeger", "otlp_grpc/tempo", "otlp_grpc/otel_scoring"},
    }


@pytest.mark.parametrize("path", collector_configs(), ids=lambda p: p.name)
def test_pipelines_use_only_defined_components_and_every_component_is_used(path: Path):
    """A pipeline names only defined components (connectors count as both ends), and nothing is defined unused."""
    config = load(path)
    defined = {kind: set(config.get(kind) or {}) for kind in KINDS}
    used = {kind: set() for kind in KINDS}
    pipelines = config["service"]["pipelines"]
    assert pipelines
    for name, pipeline in pipelines.items():
        assert pipeline.get("receivers") and pipeline.get("exporters"), name
        for receiver in pipeline["receivers"]:
            assert receiver in defined["receivers"] | defined["connectors"], f"{name}: receiver {receiver} is not defined"
            used["receivers" if receiver in defined["receivers"] else "connectors"].add(receiver)
        for processor in pipeline.get("processors", []):
            assert processor in defined["processors"], f"{name}: processor {processor} is not defined"
            used["processors"].add(processor)
        for exporter in pipeline["exporters"]:
            assert exporter in defined["exporters"] | defined["connectors"], f"{name}: exporter {exporter} is not defined"
            used["exporters" if exporter in defined["exporters"] else "connectors"].add(exporter)
    used["extensions"] = set(config["service"].get("extensions", []))
    for kind in KINDS:
        assert defined[kind] == used[kind], f"{path.name}: {kind} defined but unused: {sorted(defined[kind] - used[kind])}"


@pytest.mark.parametrize("path", collector_configs(), ids=lambda p: p.name)
def test_exporters_use_current_names(path: Path):
    """Exporters use the names current since Collector v0.144.0 (otlp_grpc, otlp_http), not deprecated aliases."""
    for exporter in load(path)["exporters"]:
        kind = component_type(exporter)
        assert kind not in RENAMED_EXPORTERS, f"{path.name}: {exporter} uses a deprecated name; use {RENAMED_EXPORTERS[kind]}"
        assert kind in CURRENT_EXPORTERS, f"{path.name}: unexpected exporter type {kind}"


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


def fanout_processor(name: str) -> dict:
    return load(CONFIG_DIR / "collector-fanout.yaml")["processors"][name]


def ottl_operand(text: str, span_attributes: dict, event_name: Optional[str]) -> Any:
    text = text.strip()
    attribute = re.fullmatch(r'span\.attributes\["([^"]+)"\]', text)
    if attribute:
        return span_attributes.get(attribute.group(1))
    if text == "spanevent.name":
        return event_name
    if re.fullmatch(r'"[^"]*"', text):
        return text[1:-1]
    literals = {"true": True, "false": False, "nil": None}
    if text in literals:
        return literals[text]
    raise AssertionError(f"this test reads a small part of OTTL only; extend it for: {text}")


def ottl_condition_holds(condition: str, span_attributes: dict, event_name: Optional[str] = None) -> bool:
    """Evaluate the OTTL subset the fan-out filter uses: comparisons joined by 'and' / 'or'."""

    def comparison(text: str) -> bool:
        match = re.fullmatch(r"(.+?)\s*(==|!=)\s*(.+)", text.strip())
        assert match, f"not a comparison: {text}"
        left, right = ottl_operand(match.group(1), span_attributes, event_name), ottl_operand(match.group(3), span_attributes, event_name)
        return (left == right) if match.group(2) == "==" else (left != right)

    return any(all(comparison(part) for part in re.split(r"\s+and\s+", alternative)) for alternative in re.split(r"\s+or\s+", condition))


def forwarded_to_receiver(spans) -> Dict[str, List[str]]:
    """What the fan-out filter lets through to the receiver: span name -> the event names it keeps."""
    conditions = fanout_processor("filter/otel_scoring_only")["trace_conditions"]
    span_conditions = [c for c in conditions if "spanevent." not in c]
    event_conditions = [c for c in conditions if "spanevent." in c]
    kept: Dict[str, List[str]] = {}
    for span in spans:
        attributes = dict(span.attributes)
        if any(ottl_condition_holds(c, attributes) for c in span_conditions):
            continue
        kept[span.name] = [e.name for e in span.events if not any(ottl_condition_holds(c, attributes, e.name) for c in event_conditions)]
    return kept


def test_fanout_filter_forwards_only_spans_with_scores_or_metadata(tracer, exporter):
    """Of real exported spans, the receiver gets scored, metadata and carrier spans, with only their score and metadata events."""
    with tracer.start_as_current_span("health-check"):
        pass
    with tracer.start_as_current_span("summarize-ticket"):
        otel_scoring.metadata("record-payment-info").update({"paymentId": "pi_123"}, kind="billing")
        with tracer.start_as_current_span("call-model") as step:
            step.add_event("exception", {"exception.type": "TimeoutError"})
            otel_scoring.score_current_span(name="model-confidence", value=0.83)
    context = step.get_span_context()
    otel_scoring.create_score(name="user-feedback", value=1, trace_id=context.trace_id, observation_id=context.span_id)

    kept = forwarded_to_receiver(exporter.get_finished_spans())

    assert kept == {
        "call-model": [schema.EVALUATION_RESULT_EVENT],
        "summarize-ticket": [schema.METADATA_UPDATE_EVENT],
        schema.CARRIER_SPAN_NAME: [schema.EVALUATION_RESULT_EVENT],
    }


def test_fanout_transform_keeps_every_attribute_the_processor_writes_and_drops_the_rest(tracer, exporter):
    """The attribute pattern keeps all otel_scoring.* summary attributes of a real span and drops others."""
    [statement] = fanout_processor("transform/otel_scoring_attributes_only")["trace_statements"]
    match = re.fullmatch(r'keep_matching_keys\(span\.attributes, "((?:[^"\\]|\\.)*)"\)', statement)
    assert match, statement
    pattern = re.compile(match.group(1).replace("\\\\", "\\"))  # OTTL string escapes -> the regex
    with tracer.start_as_current_span("call-model") as span:
        span.set_attribute("gen_ai.input.messages", "a long prompt")
        otel_scoring.score_current_span(name="model-confidence", value=0.83)
        otel_scoring.metadata("m").update({"paymentId": "pi_1"}, kind="billing")
    [exported] = exporter.get_finished_spans()

    kept = {key for key in exported.attributes if pattern.search(key)}

    assert kept == set(exported.attributes) - {"gen_ai.input.messages"}
    assert {schema.HAS_SCORES, schema.HAS_METADATA, schema.score_value_attribute("span", "model-confidence")} <= kept


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
