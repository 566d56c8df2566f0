"""A Langfuse user changes one import line: ``from otel_scoring.langfuse import get_client``.

The reference page's snippets (tests/reference_snippets/, copied from the Langfuse "Custom Scores
via API/SDKs" page) run as published with only that line changed. The examples of the Langfuse 5
Python SDK's own docs (the docstrings of ``Langfuse.create_score``, ``score_current_span``,
``score_current_trace``, ``LangfuseSpan.score`` and ``score_trace``) are mirrored as test code,
each test naming its example. A last test runs a Langfuse-style app in a subprocess with no
provider set up, where ``get_client()`` configures export from ``OTEL_*`` to a real receiver.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.delivery_support import ReceiverProcess, subprocess_env, wait_for_stored
from support.exported import assert_carrier_of, carriers, score_events, scoring_warnings, span_hex, span_named, trace_hex

from otel_scoring import DataType, ScoreConfig, ScoreConfigRegistry, schema
from otel_scoring.langfuse import Langfuse, LangfuseSpan, get_client

SNIPPETS = Path(__file__).resolve().parent / "reference_snippets"
LANGFUSE_IMPORT = "from langfuse import get_client"
OUR_IMPORT = "from otel_scoring.langfuse import get_client"
CONFIG_ID = "78545-6565-3453654-43543"  # the page's config id


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    """The page's config "78545-6565-3453654-43543": an "accuracy" score between 0 and 1."""
    return ScoreConfigRegistry([ScoreConfig(id=CONFIG_ID, name="accuracy", data_type=DataType.NUMERIC, min_value=0, max_value=1)])


def run_snippet(file_name: str, **placeholders: str) -> None:
    """Run a page's snippet with only the import line changed (and, if given, its placeholder ids
    filled in, as a user does with "trace_id_here")."""
    source = (SNIPPETS / file_name).read_text(encoding="utf-8")
    assert source.startswith(LANGFUSE_IMPORT + "\n")
    source = source.replace(LANGFUSE_IMPORT, OUR_IMPORT, 1)
    for placeholder, value in placeholders.items():
        source = source.replace(f'"{placeholder}"', f'"{value}"')
    exec(compile(source, file_name, "exec"), {"__name__": "snippet"})  # noqa: S102 - the test input is the page's code


def test_ingesting_scores_snippet_runs_with_only_the_import_changed(provider, exporter, caplog):
    """Methods 2 and 3 score "my-operation" and its trace; method 1's placeholder ids get one warning, no raise."""
    run_snippet("langfuse_ingesting_scores.py.txt")

    operations = [span for span in exporter.get_finished_spans() if span.name == "my-operation"]
    assert len(operations) == 2
    for operation in operations:
        correctness, overall = score_events(operation)
        assert (correctness.name, correctness.value, correctness.scope, correctness.comment) == ("correctness", 0.9, "span", "Factually correct")
        assert correctness.span_id == span_hex(operation)
        assert (overall.name, overall.value, overall.scope, overall.data_type) == ("overall_quality", 0.95, "trace", "NUMERIC")
        assert operation.attributes[schema.score_value_attribute("trace", "overall_quality")] == 0.95
    assert carriers(exporter) == []
    [warning] = scoring_warnings(caplog.records)
    assert warning.startswith("score 'correctness' not recorded: trace_id") and "'trace_id_here'" in warning


def test_ingesting_scores_method_1_with_real_ids_scores_that_observation(provider, exporter, tracer):
    """create_score(trace_id=, observation_id=) from the page, ids filled in, lands under that observation."""
    with tracer.start_as_current_span("earlier-request") as earlier:
        pass

    run_snippet("langfuse_ingesting_scores.py.txt", trace_id_here=trace_hex(earlier), observation_id_here=span_hex(earlier))

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, earlier.get_span_context().trace_id, earlier.get_span_context().span_id)
    (score,) = score_events(carrier)
    assert (score.name, score.value, score.data_type, score.comment, score.span_id) == ("correctness", 0.9, "NUMERIC", "Factually correct", span_hex(earlier))


def test_score_config_snippet_validates_against_the_config(provider, exporter, tracer):
    """Both methods of "Enforcing a Score Config" record "accuracy" 0.9 with the config id and the idempotency key."""
    with tracer.start_as_current_span("earlier-request") as earlier:
        pass

    run_snippet("langfuse_enforcing_a_score_config.py.txt", trace_id_here=trace_hex(earlier), observation_id_here=span_hex(earlier))

    (carrier,) = carriers(exporter)
    (low_level,) = score_events(carrier)
    assert (low_level.id, low_level.name, low_level.value, low_level.config_id) == ("unique_id", "accuracy", 0.9, CONFIG_ID)
    (in_context,) = score_events(span_named(exporter, "my-operation"))
    assert (in_context.name, in_context.value, in_context.config_id, in_context.scope) == ("accuracy", 0.9, CONFIG_ID, "span")


# --- The Langfuse 5 Python SDK's own examples ------------------------------------------------------


def test_sdk_example_score_current_span_with_metadata_in_a_generation(provider, exporter):
    """score_current_span's example: inside start_as_current_generation, metadata= is kept on the score."""
    langfuse = get_client()
    with langfuse.start_as_current_generation(name="answer-query") as generation:
        generation.update(output="Paris")
        langfuse.score_current_span(
            name="relevance",
            value=0.85,
            data_type="NUMERIC",
            comment="Mostly relevant but contains some tangential information",
            metadata={"model": "gpt-4", "prompt_version": "v2"},
        )

    span = span_named(exporter, "answer-query")
    (score,) = score_events(span)
    assert (score.name, score.value, score.scope, score.metadata) == ("relevance", 0.85, "span", {"model": "gpt-4", "prompt_version": "v2"})
    assert span.attributes[schema.LANGFUSE_OBSERVATION_TYPE] == "generation"
    assert span.attributes[schema.LANGFUSE_OBSERVATION_OUTPUT] == "Paris"


def test_sdk_example_score_current_trace_with_metadata(provider, exporter):
    """score_current_trace's example: inside start_as_current_observation, the trace gets overall_quality."""
    langfuse = get_client()
    with langfuse.start_as_current_observation(name="process-user-request") as span:
        span.update(output={"answer": 42})
        langfuse.score_current_trace(
            name="overall_quality",
            value=0.95,
            data_type="NUMERIC",
            comment="High quality end-to-end response",
            metadata={"evaluator": "gpt-4", "criteria": "comprehensive"},
        )

    root = span_named(exporter, "process-user-request")
    (score,) = score_events(root)
    assert (score.scope, score.value, score.metadata) == ("trace", 0.95, {"evaluator": "gpt-4", "criteria": "comprehensive"})
    assert root.attributes[schema.LANGFUSE_OBSERVATION_OUTPUT] == '{"answer":42}'


def test_sdk_example_span_score_and_score_trace_with_timestamp(provider, exporter):
    """LangfuseSpan.score / score_trace examples, with timestamp= and metadata=, on "process-query"."""
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    langfuse = get_client()
    with langfuse.start_as_current_observation(name="process-query") as span:
        span.score(name="accuracy", value=0.95, data_type="NUMERIC", comment="High accuracy result", timestamp=at, metadata={"k": 1})
        span.score_trace(name="overall_quality", value=0.9, data_type="NUMERIC", comment="Good overall experience")

    accuracy, overall = score_events(span_named(exporter, "process-query"))
    assert (accuracy.scope, accuracy.value, accuracy.timestamp, accuracy.metadata) == ("span", 0.95, "2026-01-02T03:04:05.000000Z", {"k": 1})
    assert (overall.scope, overall.value, overall.comment) == ("trace", 0.9, "Good overall experience")


def test_sdk_example_create_score_examples_and_environment(provider, exporter, caplog):
    """create_score's examples (accuracy by trace id, sentiment on an observation) plus environment="prod"."""
    langfuse = get_client()
    langfuse.create_score(
        name="accuracy", value=0.92, trace_id="abcdef1234567890abcdef1234567890", data_type="NUMERIC", comment="High accuracy with minor irrelevant details", environment="prod"
    )
    langfuse.create_score(name="sentiment", value="positive", trace_id="abcdef1234567890abcdef1234567890", observation_id="abcdef1234567890", data_type="CATEGORICAL")

    accuracy_carrier, sentiment_carrier = carriers(exporter)
    [accuracy] = score_events(accuracy_carrier)
    [sentiment] = score_events(sentiment_carrier)
    assert (accuracy.value, accuracy.trace_id) == (0.92, "abcdef1234567890abcdef1234567890")
    assert accuracy_carrier.events[0].attributes[schema.SCORE_ENVIRONMENT] == "prod"
    assert (sentiment.label, sentiment.span_id) == ("positive", "abcdef1234567890")
    assert scoring_warnings(caplog.records) == []


def test_span_ids_are_langfuse_hex_strings_and_score_after_the_span_ended(provider, exporter):
    """span.trace_id / span.id are 32 and 16 hex digits; span.score() after the block goes on a carrier under it."""
    langfuse = get_client()
    with langfuse.start_as_current_span(name="chat") as span:
        assert langfuse.get_current_trace_id() == span.trace_id
        assert langfuse.get_current_observation_id() == span.id
    span.score(name="user-feedback", value=1)
    langfuse.create_score(name="later", value=0.5, trace_id=span.trace_id, observation_id=span.id)

    chat = span_named(exporter, "chat")
    assert (span.trace_id, span.id) == (trace_hex(chat), span_hex(chat))
    assert len(span.trace_id) == 32 and len(span.id) == 16
    assert sorted(s.name for c in carriers(exporter) for s in score_events(c)) == ["later", "user-feedback"]
    assert isinstance(span, LangfuseSpan) and isinstance(langfuse, Langfuse)


def test_child_observations_and_trace_context(provider, exporter):
    """A child started from a span is its child; trace_context continues a trace known by id."""
    langfuse = get_client()
    with langfuse.start_as_current_span(name="parent") as parent:
        child = parent.start_observation(name="child", input={"q": "hi"})
        child.score(name="child-score", value=1)
        child.end()
    with langfuse.start_as_current_span(name="continued", trace_context={"trace_id": parent.trace_id, "parent_span_id": parent.id}):
        pass

    child_span = span_named(exporter, "child")
    assert child_span.parent.span_id == int(parent.id, 16)
    assert child_span.attributes[schema.LANGFUSE_OBSERVATION_INPUT] == '{"q":"hi"}'
    assert [s.name for s in score_events(child_span)] == ["child-score"]
    assert trace_hex(span_named(exporter, "continued")) == parent.trace_id
    assert Langfuse.create_trace_id(seed="order-1") == Langfuse.create_trace_id(seed="order-1") != Langfuse.create_trace_id()


def test_every_langfuse_keyword_is_accepted_without_raising(provider, exporter, caplog):
    """Langfuse-only keywords (prompt, usage/cost details, level, model, end_on_exit, public_key) never raise."""
    langfuse = get_client(public_key="pk-lf-unused")
    with langfuse.start_as_current_observation(
        name="gen", as_type="generation", model="gpt-4o", model_parameters={"t": 0}, usage_details={"input": 3}, cost_details={"input": 0.1}, prompt=None, level="DEFAULT", version="v1"
    ) as generation:
        generation.update(status_message="ok", completion_start_time=datetime.now(timezone.utc), usage_details={"output": 4}, name="generation-renamed")
        langfuse.update_current_span(metadata={"tier": "gold"})
        generation.score(name="s", value=1, environment="staging")
    langfuse.flush()

    span = span_named(exporter, "generation-renamed")
    assert span.attributes[schema.LANGFUSE_OBSERVATION_MODEL] == "gpt-4o"
    assert span.attributes[schema.LANGFUSE_OBSERVATION_METADATA] == '{"tier":"gold"}'
    assert scoring_warnings(caplog.records) == []


APP = """
from otel_scoring.langfuse import get_client

langfuse = get_client()
with langfuse.start_as_current_span(name="my-operation") as span:
    span.score(name="correctness", value=0.9, score_id="s-1")
    langfuse.score_current_trace(name="overall_quality", value=0.95, score_id="s-2")
langfuse.create_score(name="user-feedback", value=1, trace_id=span.trace_id, score_id="s-3")
langfuse.shutdown()
"""


@pytest.mark.slow
def test_get_client_configures_export_from_the_otel_environment(tmp_path):
    """With no provider set up, get_client() exports over OTLP to OTEL_EXPORTER_OTLP_ENDPOINT: all three scores are stored."""
    with ReceiverProcess(tmp_path / "scores.db", tmp_path / "receiver.log").start() as receiver:
        env = subprocess_env()
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_SERVICE_NAME": "langfuse-app"})
        result = subprocess.run([sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        stored = wait_for_stored(receiver.db_path, {"s-1", "s-2", "s-3"}, timeout=20)
    assert sorted(stored) == ["s-1", "s-2", "s-3"]


OWN_PROVIDER_APP = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

from otel_scoring.langfuse import get_client

langfuse = get_client()
assert get_client() is langfuse  # one client per process, as Langfuse's get_client
with langfuse.start_as_current_span(name="my-operation") as span:
    span.score(name="correctness", value=0.9)
[exported] = exporter.get_finished_spans()
print(exported.name, [event.name for event in exported.events])
"""


@pytest.mark.slow
def test_get_client_enables_scoring_on_an_sdk_provider_the_app_built():
    """An app's own global SDK provider without scoring gets a ScoringSpanProcessor from get_client(), not a second provider."""
    env = {k: v for k, v in subprocess_env().items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", OWN_PROVIDER_APP], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "my-operation ['gen_ai.evaluation.result']"
    assert result.stderr == ""
