"""The scoring API: Langfuse's inference table, score config rules, configs from files, and targets."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from support.exported import assert_carrier_of, carriers, score_events, scoring_warnings, span_hex, span_named, trace_hex
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import DataType, ScoreConfig, ScoreConfigRegistry, ScoringSpanProcessor, schema
from otel_scoring.environment_variables import OTEL_SCORING_SCORE_CONFIGS

ACCURACY = ScoreConfig(id="78545", name="accuracy", data_type=DataType.NUMERIC, min_value=0, max_value=1)
SENTIMENT = ScoreConfig(
    id="sentiment-v1",
    name="sentiment",
    data_type=DataType.CATEGORICAL,
    categories={"negative": -1, "neutral": 0, "positive": 1},
)
HELPFUL = ScoreConfig(id="helpful-v1", name="helpful", data_type=DataType.BOOLEAN)
LATENCY_FLOOR = ScoreConfig(id="latency-v1", name="latency", data_type=DataType.NUMERIC, min_value=0)
LOSS_CEILING = ScoreConfig(id="loss-v1", name="loss", data_type=DataType.NUMERIC, max_value=10)
UNBOUNDED = ScoreConfig(id="delta-v1", name="delta", data_type=DataType.NUMERIC)


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    return ScoreConfigRegistry([ACCURACY, SENTIMENT, HELPFUL, LATENCY_FLOOR, LOSS_CEILING, UNBOUNDED])


def score_in_span(tracer, method: str, **kwargs):
    """Score the span "my-operation" with ``score_current_span`` or ``create_score`` by its ids."""
    with tracer.start_as_current_span("my-operation") as span:
        if method == "score_current_span":
            otel_scoring.score_current_span(**kwargs)
        else:
            otel_scoring.create_score(trace_id=trace_hex(span), observation_id=span_hex(span), **kwargs)
    return span


METHODS = ["score_current_span", "create_score"]


# --- Langfuse "Detailed Examples" ------------------------------------------------------------

DETAILED_EXAMPLES = [
    # value, data type, config id -> inferred data type, or None when the score is invalid
    pytest.param(0.9, None, None, "NUMERIC", id="0.9|Null|Null: data type is inferred"),
    pytest.param(0.9, "NUMERIC", None, "NUMERIC", id="0.9|NUMERIC|Null: no properties inferred"),
    pytest.param("depth", "NUMERIC", None, None, id="depth|NUMERIC|Null: data type of value does not match"),
    pytest.param(0.9, "NUMERIC", "78545", "NUMERIC", id="0.9|NUMERIC|78545: valid by config"),
    pytest.param(0.9, None, "78545", "NUMERIC", id="0.9|Null|78545: data type inferred"),
    pytest.param("depth", "NUMERIC", "78545", None, id="depth|NUMERIC|78545: data type of value does not match"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value, data_type, config_id, inferred", DETAILED_EXAMPLES)
def test_langfuse_detailed_examples_row_by_row(tracer, exporter, caplog, method, value, data_type, config_id, inferred):
    """Each row of the table records with its inferred data type, or warns and records nothing."""
    score_in_span(tracer, method, name="accuracy", value=value, data_type=data_type, config_id=config_id)

    recorded = score_events(span_named(exporter, "my-operation"))
    if inferred is None:
        assert recorded == []
        assert scoring_warnings(caplog.records) == ["score 'accuracy' not recorded: value 'depth' does not match data_type NUMERIC (a number is required)"]
    else:
        (score,) = recorded
        assert (score.name, score.value, score.label, score.data_type, score.config_id) == ("accuracy", value, None, inferred, config_id)
        assert scoring_warnings(caplog.records) == []
    assert carriers(exporter) == []


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 1, 1.0])
def test_numeric_config_accepts_values_within_min_and_max_inclusive(tracer, exporter, value):
    """Config 78545 (0..1) accepts its bounds and what lies between them."""
    score_in_span(tracer, "score_current_span", name="accuracy", value=value, config_id="78545")

    (score,) = score_events(span_named(exporter, "my-operation"))
    assert score.value == float(value)


@pytest.mark.parametrize(
    "config_id, name, value, rule",
    [
        ("78545", "accuracy", 1.01, "value 1.01 is above max_value 1 of config '78545'"),
        ("78545", "accuracy", -0.01, "value -0.01 is below min_value 0 of config '78545'"),
        ("latency-v1", "latency", -5, "value -5.0 is below min_value 0 of config 'latency-v1'"),
        ("loss-v1", "loss", 10.5, "value 10.5 is above max_value 10 of config 'loss-v1'"),
    ],
)
def test_numeric_config_refuses_values_outside_min_and_max(tracer, exporter, caplog, config_id, name, value, rule):
    """A value past a configured bound warns with the bound and records nothing."""
    score_in_span(tracer, "score_current_span", name=name, value=value, config_id=config_id)

    assert score_events(span_named(exporter, "my-operation")) == []
    assert scoring_warnings(caplog.records) == [f"score {name!r} not recorded: {rule}"]


@pytest.mark.parametrize(
    "config_id, name, value",
    [("latency-v1", "latency", 1e12), ("loss-v1", "loss", -1e12), ("delta-v1", "delta", -1e300), ("delta-v1", "delta", 1e300)],
)
def test_a_missing_bound_is_infinite(tracer, exporter, config_id, name, value):
    """min_value and max_value are optional: left out, they are -inf and +inf."""
    score_in_span(tracer, "score_current_span", name=name, value=value, config_id=config_id)

    (score,) = score_events(span_named(exporter, "my-operation"))
    assert score.value == value


def test_config_name_must_equal_score_name(tracer, exporter, caplog):
    """A score named "precision" cannot use the "accuracy" config."""
    score_in_span(tracer, "score_current_span", name="precision", value=0.5, config_id="78545")

    assert score_events(span_named(exporter, "my-operation")) == []
    assert scoring_warnings(caplog.records) == ["score 'precision' not recorded: name must equal the name 'accuracy' of config '78545'"]


@pytest.mark.parametrize(
    "config_id, name, value, data_type",
    [("78545", "accuracy", 1, "BOOLEAN"), ("sentiment-v1", "sentiment", "positive", "NUMERIC"), ("helpful-v1", "helpful", True, "NUMERIC")],
)
def test_config_data_type_must_match_a_given_data_type(tracer, exporter, caplog, config_id, name, value, data_type):
    """A data type that contradicts the config's warns, even when the value would fit."""
    score_in_span(tracer, "score_current_span", name=name, value=value, data_type=data_type, config_id=config_id)

    assert score_events(span_named(exporter, "my-operation")) == []
    (warning,) = scoring_warnings(caplog.records)
    assert warning.startswith(f"score {name!r} not recorded: data_type {data_type} does not match")
    assert f"of config {config_id!r}" in warning


@pytest.mark.parametrize("data_type", [None, "CATEGORICAL"])
@pytest.mark.parametrize("label, number", [("negative", -1.0), ("neutral", 0.0), ("positive", 1.0)])
def test_categorical_config_maps_each_category_to_its_number(tracer, exporter, data_type, label, number):
    """A category of the config is recorded with its label and its mapped numeric value."""
    score_in_span(tracer, "score_current_span", name="sentiment", value=label, data_type=data_type, config_id="sentiment-v1")

    recorded = span_named(exporter, "my-operation")
    (score,) = score_events(recorded)
    assert (score.label, score.value, score.data_type, score.config_id) == (label, number, "CATEGORICAL", "sentiment-v1")
    assert recorded.attributes[schema.score_value_attribute("span", "sentiment")] == number
    assert recorded.attributes[schema.score_label_attribute("span", "sentiment")] == label


def test_categorical_without_config_has_a_label_and_no_number(tracer, exporter):
    """Without a config a category has no numeric mapping: only the label travels."""
    score_in_span(tracer, "score_current_span", name="sentiment", value="positive")

    recorded = span_named(exporter, "my-operation")
    (score,) = score_events(recorded)
    assert (score.label, score.value, score.data_type) == ("positive", None, "CATEGORICAL")
    assert schema.score_value_attribute("span", "sentiment") not in recorded.attributes


@pytest.mark.parametrize(
    "value, rule",
    [
        ("angry", "value 'angry' is not a category of config 'sentiment-v1' (negative, neutral, positive)"),
        (1, "value 1 does not match data_type CATEGORICAL (a string label is required)"),
    ],
)
def test_categorical_config_refuses_anything_but_its_categories(tracer, exporter, caplog, value, rule):
    """An unknown label, or a number, is not one of the config's categories."""
    score_in_span(tracer, "score_current_span", name="sentiment", value=value, config_id="sentiment-v1")

    assert score_events(span_named(exporter, "my-operation")) == []
    assert scoring_warnings(caplog.records) == [f"score 'sentiment' not recorded: {rule}"]


@pytest.mark.parametrize("value, number, label", [(0, 0.0, "false"), (1, 1.0, "true"), (0.0, 0.0, "false"), (True, 1.0, "true"), (False, 0.0, "false")])
def test_boolean_config_accepts_zero_one_and_bools(tracer, exporter, value, number, label):
    """A boolean score is 0 or 1 (or False/True) and travels as both a number and a label."""
    score_in_span(tracer, "score_current_span", name="helpful", value=value, config_id="helpful-v1")

    recorded = span_named(exporter, "my-operation")
    (score,) = score_events(recorded)
    assert (score.value, score.label, score.data_type) == (number, label, "BOOLEAN")
    assert recorded.attributes[schema.score_label_attribute("span", "helpful")] == label


@pytest.mark.parametrize("value", [2, 0.5, -1, "yes"])
def test_boolean_config_refuses_anything_but_zero_and_one(tracer, exporter, caplog, value):
    """"Score Value when Type is boolean: Value must equal 0 or 1"."""
    score_in_span(tracer, "score_current_span", name="helpful", value=value, config_id="helpful-v1")

    assert score_events(span_named(exporter, "my-operation")) == []
    assert scoring_warnings(caplog.records) == [f"score 'helpful' not recorded: value {value!r} does not match data_type BOOLEAN (0, 1, True or False)"]


@pytest.mark.parametrize(
    "value, data_type, expected",
    [
        (0.75, None, ("NUMERIC", 0.75, None)),
        (3, None, ("NUMERIC", 3.0, None)),
        ("good", None, ("CATEGORICAL", None, "good")),
        (True, None, ("BOOLEAN", 1.0, "true")),
        (False, None, ("BOOLEAN", 0.0, "false")),
        (1, "BOOLEAN", ("BOOLEAN", 1.0, "true")),
        (0, "BOOLEAN", ("BOOLEAN", 0.0, "false")),
    ],
)
def test_data_type_is_inferred_from_the_value_without_a_config(tracer, exporter, value, data_type, expected):
    """A number is NUMERIC, a string CATEGORICAL, a bool BOOLEAN; 0/1 are BOOLEAN when declared so."""
    score_in_span(tracer, "create_score", name="quality", value=value, data_type=data_type)

    (score,) = score_events(span_named(exporter, "my-operation"))
    assert (score.data_type, score.value, score.label) == expected


# --- Score configs from files -----------------------------------------------------------------

LANGFUSE_SHAPED_JSON = {
    "configs": [
        {"id": "78545", "name": "accuracy", "dataType": "NUMERIC", "minValue": 0, "maxValue": 1},
        {
            "id": "sentiment-v1",
            "name": "sentiment",
            "dataType": "CATEGORICAL",
            "categories": [{"label": "negative", "value": 0}, {"label": "positive", "value": 1}],
        },
        {"id": "helpful-v1", "name": "helpful", "dataType": "BOOLEAN"},
    ]
}

OUR_SHAPED_YAML = """\
- id: "78545"
  name: accuracy
  data_type: NUMERIC
  min_value: 0
  max_value: 1
- id: sentiment-v1
  name: sentiment
  data_type: CATEGORICAL
  categories:
    negative: 0
    positive: 1
- id: helpful-v1
  name: helpful
  data_type: BOOLEAN
"""


@pytest.fixture(params=["json", "yaml"])
def config_file(request, tmp_path):
    """The same three configs written as Langfuse-shaped JSON or as YAML."""
    if request.param == "json":
        path = tmp_path / "score-configs.json"
        path.write_text(json.dumps(LANGFUSE_SHAPED_JSON), encoding="utf-8")
    else:
        path = tmp_path / "score-configs.yaml"
        path.write_text(OUR_SHAPED_YAML, encoding="utf-8")
    return path


def provider_with(processor: ScoringSpanProcessor, provider: TracerProvider, exporter: InMemorySpanExporter) -> TracerProvider:
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def score_every_config(tracer) -> None:
    with tracer.start_as_current_span("my-operation"):
        otel_scoring.score_current_span(name="accuracy", value=0.9, config_id="78545")
        otel_scoring.score_current_span(name="accuracy", value=1.9, config_id="78545")
        otel_scoring.score_current_span(name="sentiment", value="positive", config_id="sentiment-v1")
        otel_scoring.score_current_span(name="sentiment", value="meh", config_id="sentiment-v1")
        otel_scoring.score_current_span(name="helpful", value=1, config_id="helpful-v1")
        otel_scoring.score_current_span(name="helpful", value=2, config_id="helpful-v1")


@pytest.mark.parametrize("how", ["keyword", "environment variable"])
def test_score_configs_load_from_json_and_yaml_files(config_file, how, monkeypatch, caplog):
    """Configs in a file (score_configs= or OTEL_SCORING_SCORE_CONFIGS) validate scores like configs in code."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    if how == "keyword":
        processor = ScoringSpanProcessor(tracer_provider=provider, score_configs=str(config_file))
    else:
        monkeypatch.setenv(OTEL_SCORING_SCORE_CONFIGS, str(config_file))
        processor = ScoringSpanProcessor(tracer_provider=provider)
    provider_with(processor, provider, exporter)
    try:
        score_every_config(provider.get_tracer("tests"))
    finally:
        provider.shutdown()

    recorded = score_events(span_named(exporter, "my-operation"))
    assert [(s.name, s.data_type, s.value, s.label, s.config_id) for s in recorded] == [
        ("accuracy", "NUMERIC", 0.9, None, "78545"),
        ("sentiment", "CATEGORICAL", 1.0, "positive", "sentiment-v1"),
        ("helpful", "BOOLEAN", 1.0, "true", "helpful-v1"),
    ]
    assert len(scoring_warnings(caplog.records)) == 3


def test_score_configs_loaded_from_a_file_are_score_configs(config_file):
    """A file's configs read back with their ids, types, bounds and category numbers."""
    registry = ScoreConfigRegistry.from_file(config_file)

    assert registry.get("78545") == ScoreConfig(id="78545", name="accuracy", data_type=DataType.NUMERIC, min_value=0, max_value=1)
    assert dict(registry.get("sentiment-v1").categories) == {"negative": 0.0, "positive": 1.0}
    assert registry.get("helpful-v1").data_type is DataType.BOOLEAN
    assert len(registry) == 3


def test_a_config_added_while_running_applies_to_later_scores(tracer, exporter, score_configs):
    """A config registered after the processor was built is enforced from then on."""
    score_configs.add(ScoreConfig(id="tone-v1", name="tone", data_type=DataType.CATEGORICAL, categories={"formal": 1, "casual": 2}))

    score_in_span(tracer, "score_current_span", name="tone", value="casual", config_id="tone-v1")

    (score,) = score_events(span_named(exporter, "my-operation"))
    assert (score.label, score.value) == ("casual", 2.0)


# --- Targets and optional fields --------------------------------------------------------------


def test_create_score_for_a_session_is_carried_in_its_own_trace(exporter, provider):
    """A session score has no trace to join: it rides a parentless carrier span."""
    otel_scoring.create_score(name="session-rating", value=4, session_id="session-42", comment="good chat")

    (carrier,) = carriers(exporter)
    assert carrier.parent is None and carrier.links == ()
    (score,) = score_events(carrier)
    assert (score.scope, score.session_id, score.trace_id, score.span_id) == ("session", "session-42", None, None)
    assert (score.value, score.comment) == (4.0, "good chat")
    assert carrier.attributes[schema.score_value_attribute("session", "session-rating")] == 4.0


def test_create_score_for_a_dataset_run(exporter, provider):
    """A dataset-run score carries its dataset run id and the dataset_run scope."""
    otel_scoring.create_score(name="exact-match", value=0.66, dataset_run_id="run-2026-01")

    (carrier,) = carriers(exporter)
    (score,) = score_events(carrier)
    assert (score.scope, score.dataset_run_id, score.value) == ("dataset_run", "run-2026-01", 0.66)


def test_a_trace_score_can_name_its_session_and_dataset_run(tracer, exporter):
    """With a trace id the scope is the trace; session and dataset run ride along."""
    with tracer.start_as_current_span("chat") as span:
        otel_scoring.create_score(name="rating", value=5, trace_id=trace_hex(span), session_id="session-42", dataset_run_id="run-7")

    (score,) = score_events(span_named(exporter, "chat"))
    assert (score.scope, score.trace_id, score.session_id, score.dataset_run_id) == ("trace", trace_hex(span), "session-42", "run-7")


def test_score_metadata_travels_as_json(tracer, exporter):
    """metadata= is any JSON-serialisable value and reads back equal."""
    meta = {"model": "gpt-4o", "tokens": 812, "tags": ["a", "b"], "nested": {"ok": True, "none": None}}
    with tracer.start_as_current_span("chat") as span:
        otel_scoring.create_score(name="rating", value=5, trace_id=trace_hex(span), metadata=meta)

    (score,) = score_events(span_named(exporter, "chat"))
    assert score.metadata == meta


@pytest.mark.parametrize(
    "given, expected",
    [
        (datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc), "2026-01-02T03:04:05.600000Z"),
        (datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), "2026-01-02T03:04:05.000000Z"),
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000000Z"),
    ],
)
def test_timestamp_is_written_in_utc(tracer, exporter, given, expected):
    """A timestamp is recorded in UTC; a naive one is taken to be UTC already."""
    with tracer.start_as_current_span("chat") as span:
        otel_scoring.create_score(name="rating", value=5, trace_id=trace_hex(span), timestamp=given)

    (score,) = score_events(span_named(exporter, "chat"))
    assert score.timestamp == expected


def test_defaults_a_random_score_id_the_api_source_and_the_current_time(tracer, exporter):
    """Without score_id, timestamp or source the score gets a 32-hex id, source API and now in UTC."""
    before = datetime.now(timezone.utc)
    with tracer.start_as_current_span("chat"):
        otel_scoring.score_current_span(name="rating", value=5)
    after = datetime.now(timezone.utc)

    (score,) = score_events(span_named(exporter, "chat"))
    assert re.fullmatch(r"[0-9a-f]{32}", score.id)
    assert score.source == "API"
    assert before <= datetime.strptime(score.timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc) <= after


@pytest.mark.parametrize(
    "trace_id, observation_id",
    [
        ("ABCDEF1234567890ABCDEF1234567890", "ABCDEF1234567890"),
        ("0xabcdef1234567890abcdef1234567890", "0xabcdef1234567890"),
        (" abcdef1234567890abcdef1234567890 ", " abcdef1234567890 "),
        (0xABCDEF1234567890ABCDEF1234567890, 0xABCDEF1234567890),
    ],
)
def test_ids_may_be_hex_in_any_case_with_0x_or_ints(exporter, provider, trace_id, observation_id):
    """Ids are read as hex strings in any case, with or without 0x, or as ints; written as lowercase hex."""
    otel_scoring.create_score(name="rating", value=5, trace_id=trace_id, observation_id=observation_id)

    (carrier,) = carriers(exporter)
    (score,) = score_events(carrier)
    assert (score.trace_id, score.span_id) == ("abcdef1234567890abcdef1234567890", "abcdef1234567890")


def test_create_score_on_an_open_trace_lands_on_its_root(tracer, exporter):
    """create_score(trace_id=...) while the trace is open writes on its local root, not a carrier."""
    with tracer.start_as_current_span("root") as root:
        with tracer.start_as_current_span("child"):
            otel_scoring.create_score(name="rating", value=5, trace_id=trace_hex(root))

    assert [s.name for s in score_events(span_named(exporter, "root"))] == ["rating"]
    assert score_events(span_named(exporter, "child")) == []
    assert carriers(exporter) == []


def test_step_scores_the_span_an_instrumentation_just_closed(tracer, exporter, caplog):
    """score_current_span(step="ChatCompletion") after the call scores that ended span (on a carrier under it)."""
    def create_completion():  # as OpenInference does: the LLM span opens and ends inside create()
        with tracer.start_as_current_span("ChatCompletion"):
            return "Paris"

    with tracer.start_as_current_span("handle-request") as request:
        create_completion()
        with tracer.start_as_current_span("ChatCompletion") as newest:
            pass
        otel_scoring.score_current_span(name="answer-quality", value=0.9, step="ChatCompletion")
        otel_scoring.score_current_span(name="self", value=1, step="handle-request")  # the active span itself
        otel_scoring.score_current_span(name="missing", value=1, step="NoSuchSpan")

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, newest.get_span_context().trace_id, newest.get_span_context().span_id)
    (score,) = score_events(carrier)
    assert (score.name, score.scope, score.span_id) == ("answer-quality", "span", span_hex(newest))
    assert [s.name for s in score_events(span_named(exporter, "handle-request"))] == ["self"]
    assert scoring_warnings(caplog.records) == ["score 'missing' not recorded: no span named 'NoSuchSpan' is open or has recently ended in the current trace"]
    assert request.get_span_context().trace_id == newest.get_span_context().trace_id
