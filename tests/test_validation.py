"""Invalid input: one warning naming the score (or update) and the rule, nothing recorded, no exception.

Strict mode (``strict=True`` or ``OTEL_SCORING_STRICT=true``) raises ``ScoreValidationError`` instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime

import pytest
from support.exported import all_metadata_events, all_score_events, carriers, scoring_warnings, span_hex, trace_hex
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import DataType, ScoreConfig, ScoreConfigRegistry, ScoreValidationError, ScoringSpanProcessor, metadata
from otel_scoring.environment_variables import OTEL_SCORING_STRICT

TRACE = "abcdef1234567890abcdef1234567890"
SPAN = "abcdef1234567890"
LONG = "n" * 201


class NotJSON:
    pass


class StartsWith(str):
    """An expected message whose end quotes Python's own error text, which varies by version."""


def assert_message(actual: str, expected: str) -> None:
    if isinstance(expected, StartsWith):
        assert actual.startswith(expected), f"{actual!r} does not start with {expected!r}"
    else:
        assert actual == expected


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    return ScoreConfigRegistry(
        [
            ScoreConfig(id="sentiment-v1", name="sentiment", data_type=DataType.CATEGORICAL, categories={"negative": 0, "positive": 1}),
            ScoreConfig(id="helpful-v1", name="helpful", data_type=DataType.BOOLEAN),
        ]
    )


# Keyword arguments of score_current_span / score_current_trace (called inside a span) and the
# exact warning each gives.
BAD_CURRENT_SCORES = [
    pytest.param({"name": "accuracy", "value": float("nan")}, "score 'accuracy' not recorded: value nan is not a finite number", id="NaN"),
    pytest.param({"name": "accuracy", "value": float("inf")}, "score 'accuracy' not recorded: value inf is not a finite number", id="+inf"),
    pytest.param({"name": "accuracy", "value": float("-inf")}, "score 'accuracy' not recorded: value -inf is not a finite number", id="-inf"),
    pytest.param({"name": "", "value": 1}, "score '' not recorded: name must not be empty", id="empty name"),
    pytest.param({"name": " \t ", "value": 1}, "score ' \\t ' not recorded: name must not be empty", id="whitespace name"),
    pytest.param({"name": LONG, "value": 1}, f"score {'n' * 60 + '...'!r} not recorded: name is 201 characters long; the limit is 200", id="overlong name"),
    pytest.param({"name": 42, "value": 1}, "score not recorded: name must be a string, not int", id="name not a string"),
    pytest.param({"name": None, "value": 1}, "score not recorded: name must be a string, not NoneType", id="name None"),
    pytest.param({"name": "accuracy", "value": None}, "score 'accuracy' not recorded: value None does not match data_type NUMERIC (a number is required)", id="value None"),
    pytest.param({"name": "accuracy", "value": [0.9]}, "score 'accuracy' not recorded: value [0.9] does not match data_type NUMERIC (a number is required)", id="value a list"),
    pytest.param({"name": "accuracy", "value": "0.9", "data_type": "NUMERIC"}, "score 'accuracy' not recorded: value '0.9' does not match data_type NUMERIC (a number is required)", id="numeric string"),
    pytest.param({"name": "accuracy", "value": True, "data_type": "NUMERIC"}, "score 'accuracy' not recorded: value True does not match data_type NUMERIC (a number is required)", id="bool as NUMERIC"),
    pytest.param({"name": "accuracy", "value": 1, "data_type": "PERCENT"}, "score 'accuracy' not recorded: data_type 'PERCENT' is not one of NUMERIC, CATEGORICAL, BOOLEAN", id="unknown data type"),
    pytest.param({"name": "accuracy", "value": 1, "data_type": 3}, "score 'accuracy' not recorded: data_type 3 is not one of NUMERIC, CATEGORICAL, BOOLEAN", id="data type not a string"),
    pytest.param({"name": "sentiment", "value": 1, "data_type": "CATEGORICAL"}, "score 'sentiment' not recorded: value 1 does not match data_type CATEGORICAL (a string label is required)", id="categorical with a number"),
    pytest.param({"name": "sentiment", "value": ""}, "score 'sentiment' not recorded: a categorical value must not be empty", id="empty category"),
    pytest.param({"name": "sentiment", "value": "x" * 201}, "score 'sentiment' not recorded: categorical value is 201 characters long; the limit is 200", id="overlong category"),
    pytest.param({"name": "helpful", "value": 2, "data_type": "BOOLEAN"}, "score 'helpful' not recorded: value 2 does not match data_type BOOLEAN (0, 1, True or False)", id="boolean with 2"),
    pytest.param({"name": "helpful", "value": "true", "data_type": "BOOLEAN"}, "score 'helpful' not recorded: value 'true' does not match data_type BOOLEAN (0, 1, True or False)", id="boolean with a string"),
    pytest.param({"name": "sentiment", "value": 1, "config_id": "sentiment-v1"}, "score 'sentiment' not recorded: value 1 does not match data_type CATEGORICAL (a string label is required)", id="categorical config with a number"),
    pytest.param({"name": "helpful", "value": 2, "config_id": "helpful-v1"}, "score 'helpful' not recorded: value 2 does not match data_type BOOLEAN (0, 1, True or False)", id="boolean config with 2"),
    pytest.param({"name": "accuracy", "value": 1, "config_id": "nope"}, "score 'accuracy' not recorded: config_id 'nope' is not a registered score config", id="unknown config id"),
    pytest.param({"name": "accuracy", "value": 1, "config_id": ""}, "score 'accuracy' not recorded: config_id must be a non-empty string", id="empty config id"),
    pytest.param({"name": "accuracy", "value": 1, "config_id": 78545}, "score 'accuracy' not recorded: config_id must be a non-empty string", id="config id not a string"),
    pytest.param({"name": "accuracy", "value": 1, "comment": 5}, "score 'accuracy' not recorded: comment must be a string, not int", id="comment not a string"),
    pytest.param({"name": "accuracy", "value": 1, "comment": "c" * 16_385}, "score 'accuracy' not recorded: comment is 16385 characters long; the limit is 16384", id="overlong comment"),
    pytest.param({"name": "accuracy", "value": 1, "score_id": ""}, "score 'accuracy' not recorded: score_id must be a non-empty string", id="empty score id"),
    pytest.param({"name": "accuracy", "value": 1, "score_id": 7}, "score 'accuracy' not recorded: score_id must be a non-empty string", id="score id not a string"),
    pytest.param({"name": "accuracy", "value": 1, "score_id": "i" * 201}, "score 'accuracy' not recorded: score_id is 201 characters long; the limit is 200", id="overlong score id"),
]

# Keyword arguments of create_score (called while the span "work" is open, its ids in TRACE/SPAN
# replaced by the real ones) and the exact warning each gives.
BAD_CREATE_SCORES = [
    pytest.param({"trace_id": "xyz"}, "score 'accuracy' not recorded: trace_id 'xyz' is not 32 hex digits", id="trace id not hex"),
    pytest.param({"trace_id": TRACE[:-1]}, f"score 'accuracy' not recorded: trace_id {TRACE[:-1]!r} is not 32 hex digits", id="trace id too short"),
    pytest.param({"trace_id": TRACE + "0"}, f"score 'accuracy' not recorded: trace_id {TRACE + '0'!r} is not 32 hex digits", id="trace id too long"),
    pytest.param({"trace_id": "0" * 32}, f"score 'accuracy' not recorded: trace_id {'0' * 32!r} is out of range (zero or too large)", id="trace id zero"),
    pytest.param({"trace_id": 1 << 128}, f"score 'accuracy' not recorded: trace_id {1 << 128} is out of range (zero or too large)", id="trace id int too large"),
    pytest.param({"trace_id": -1}, "score 'accuracy' not recorded: trace_id -1 is out of range (zero or too large)", id="trace id negative"),
    pytest.param({"trace_id": True}, "score 'accuracy' not recorded: trace_id must be a hex string or an int, not a bool", id="trace id a bool"),
    pytest.param({"trace_id": 1.5}, "score 'accuracy' not recorded: trace_id must be a hex string or an int, not float", id="trace id a float"),
    pytest.param({"trace_id": TRACE, "observation_id": "zz"}, "score 'accuracy' not recorded: span id 'zz' is not 16 hex digits", id="observation id not hex"),
    # The right length, and each a number to int(text, 16), but not hex digits alone.
    pytest.param({"trace_id": TRACE, "observation_id": "0000000000000_01"}, "score 'accuracy' not recorded: span id '0000000000000_01' is not 16 hex digits", id="observation id with an underscore"),
    pytest.param({"trace_id": TRACE, "observation_id": "+000000000000001"}, "score 'accuracy' not recorded: span id '+000000000000001' is not 16 hex digits", id="observation id with a sign"),
    pytest.param({"trace_id": TRACE, "observation_id": "\u0663" * 16}, f"score 'accuracy' not recorded: span id {chr(0x663) * 16!r} is not 16 hex digits", id="observation id of non-ascii digits"),
    pytest.param({"trace_id": TRACE, "observation_id": "g" * 16}, f"score 'accuracy' not recorded: span id {'g' * 16!r} is not 16 hex digits", id="observation id of letters past f"),
    pytest.param({"trace_id": TRACE, "observation_id": "0" * 16}, f"score 'accuracy' not recorded: span id {'0' * 16!r} is out of range (zero or too large)", id="observation id zero"),
    pytest.param({"observation_id": SPAN}, "score 'accuracy' not recorded: observation_id needs trace_id too", id="observation id without trace id"),
    pytest.param({}, "score 'accuracy' not recorded: create_score needs a target: trace_id, session_id or dataset_run_id", id="no target"),
    pytest.param({"session_id": ""}, "score 'accuracy' not recorded: session_id must be a non-empty string", id="empty session id"),
    pytest.param({"dataset_run_id": 5}, "score 'accuracy' not recorded: dataset_run_id must be a non-empty string", id="dataset run id not a string"),
    pytest.param({"trace_id": TRACE, "metadata": {"client": NotJSON()}}, StartsWith("score 'accuracy' not recorded: metadata is not JSON-serialisable (Object of type NotJSON"), id="metadata not serialisable"),
    pytest.param({"trace_id": TRACE, "metadata": {"x": float("nan")}}, StartsWith("score 'accuracy' not recorded: metadata is not JSON-serialisable (Out of range float values"), id="metadata with NaN"),
    pytest.param({"trace_id": TRACE, "metadata": {"blob": "b" * 40_000}}, "score 'accuracy' not recorded: metadata is 40011 bytes as JSON; the limit is 32768", id="metadata too large"),
    pytest.param({"trace_id": TRACE, "timestamp": "2026-01-01T00:00:00Z"}, "score 'accuracy' not recorded: timestamp must be a datetime, not str", id="timestamp a string"),
]


def real_ids(kwargs, span):
    """The test's kwargs with the placeholder ids swapped for those of the open span."""
    swap = {TRACE: trace_hex(span), SPAN: span_hex(span)}
    return {key: swap.get(value, value) if isinstance(value, str) else value for key, value in kwargs.items()}


def assert_nothing_recorded(exporter):
    assert all_score_events(exporter) == []
    assert all_metadata_events(exporter) == []
    assert carriers(exporter) == []


@pytest.mark.parametrize("function", [otel_scoring.score_current_span, otel_scoring.score_current_trace], ids=["span", "trace"])
@pytest.mark.parametrize("kwargs, warning", BAD_CURRENT_SCORES)
def test_bad_score_in_context_warns_once_and_records_nothing(tracer, exporter, caplog, function, kwargs, warning):
    """An invalid score for the active span or trace gives one warning and writes nothing."""
    with tracer.start_as_current_span("work"):
        result = function(**kwargs)

    assert result is None
    (logged,) = scoring_warnings(caplog.records)
    assert_message(logged, warning)
    assert_nothing_recorded(exporter)


@pytest.mark.parametrize("kwargs, warning", BAD_CREATE_SCORES)
def test_bad_create_score_warns_once_and_records_nothing(tracer, exporter, caplog, kwargs, warning):
    """An invalid create_score call gives one warning and writes nothing, on the span or a carrier."""
    with tracer.start_as_current_span("work") as span:
        result = otel_scoring.create_score(name="accuracy", value=0.9, **real_ids(kwargs, span))

    assert result is None
    (logged,) = scoring_warnings(caplog.records)
    assert_message(logged, warning)
    assert_nothing_recorded(exporter)


@pytest.mark.parametrize("function", [otel_scoring.score_current_span, otel_scoring.score_current_trace], ids=["span", "trace"])
def test_scoring_the_current_span_without_one_warns(exporter, provider, caplog, function):
    """Outside any span there is nothing to score: one warning says so."""
    function(name="accuracy", value=0.9)

    assert scoring_warnings(caplog.records) == [
        "score 'accuracy' not recorded: there is no active span (call it inside a `with tracer.start_as_current_span(...)` block)"
    ]
    assert_nothing_recorded(exporter)


# --- Metadata ---------------------------------------------------------------------------------

ITEMS_65 = {f"k{i}": i for i in range(65)}

# (call inside the span "work", exact warning)
BAD_METADATA = [
    pytest.param(lambda: metadata("m").update({"a": 1}, kind=""), "metadata update 'm' not recorded: kind must not be empty", id="empty kind"),
    pytest.param(lambda: metadata("m").update({"a": 1}, kind="   "), "metadata update 'm' not recorded: kind must not be empty", id="whitespace kind"),
    pytest.param(lambda: metadata("m").update({"a": 1}, kind="a.b"), "metadata update 'm' not recorded: kind 'a.b' must not contain '.' (it is part of attribute names)", id="kind with a dot"),
    pytest.param(lambda: metadata("m").update({"a": 1}, kind=5), "metadata update 'm' not recorded: kind must be a string, not int", id="kind not a string"),
    pytest.param(lambda: metadata("m").update({"a": 1}, kind="k" * 201), "metadata update 'm' not recorded: kind is 201 characters long; the limit is 200", id="overlong kind"),
    pytest.param(lambda: metadata("m").update([("a", 1)]), "metadata update 'm' not recorded: values must be a mapping of string keys, not list", id="values not a mapping"),
    pytest.param(lambda: metadata("m").update({}), "metadata update 'm' not recorded: values must not be empty", id="no values"),
    pytest.param(lambda: metadata("m").update({1: "a"}), "metadata update 'm' not recorded: key must be a string, not int", id="key not a string"),
    pytest.param(lambda: metadata("m").update({"": "a"}), "metadata update 'm' not recorded: key '' must not be empty", id="empty key"),
    pytest.param(lambda: metadata("m").update({"client": NotJSON()}), StartsWith("metadata update 'm' not recorded: values is not JSON-serialisable (Object of type NotJSON"), id="value not serialisable"),
    pytest.param(lambda: metadata("m").update({"ratio": float("nan")}), StartsWith("metadata update 'm' not recorded: values is not JSON-serialisable (Out of range float values"), id="NaN value"),
    pytest.param(lambda: metadata("m").update(ITEMS_65), "metadata update 'm' not recorded: 65 keys in one update; the limit is 64", id="too many keys"),
    pytest.param(lambda: metadata("m").update({"blob": "b" * 40_000}), "metadata update 'm' not recorded: values is 40011 bytes as JSON; the limit is 32768", id="values too large"),
    pytest.param(lambda: metadata("").update({"a": 1}), "metadata update '' not recorded: memo id must not be empty", id="empty memo id"),
    pytest.param(lambda: metadata(5).update({"a": 1}), "metadata update not recorded: memo id must be a string, not int", id="memo id not a string"),
    pytest.param(lambda: metadata("m").step("missing").update({"a": 1}), "metadata update 'm' not recorded: no span named 'missing' has ended in the current trace", id="unknown step"),
    pytest.param(lambda: metadata("m").span("zz").update({"a": 1}), "metadata update 'm' not recorded: span id 'zz' is not 16 hex digits", id="span id not hex"),
    pytest.param(lambda: metadata("m").run("not-a-trace").update({"a": 1}), "metadata update 'm' not recorded: trace_id 'not-a-trace' is not 32 hex digits", id="run id not hex"),
    pytest.param(lambda: metadata("m").span(SPAN, trace_id=True).update({"a": 1}), "metadata update 'm' not recorded: trace_id must be a hex string or an int, not a bool", id="trace id a bool"),
]


def bad_batch():
    with metadata("update-all-statuses").batch() as batch:
        batch.update({"phase": "started"}, "workflow")
        batch.update({"estimatedDuration": float("inf")}, "timing")
        batch.update({"region": "us-east-1"}, "infra")


@pytest.mark.parametrize(
    "call, warning",
    BAD_METADATA
    + [
        pytest.param(
            bad_batch,
            StartsWith("metadata update 'update-all-statuses' not recorded: values is not JSON-serialisable (Out of range float values"),
            id="one bad update spoils its batch",
        )
    ],
)
def test_bad_metadata_warns_once_and_records_nothing(tracer, exporter, caplog, call, warning):
    """An invalid metadata update (or batch) gives one warning and writes nothing."""
    with tracer.start_as_current_span("work"):
        result = call()  # returns, never raises (update() returns its awaitable marker, a batch None)
    assert result is None or repr(result) == "<metadata update recorded>"

    (logged,) = scoring_warnings(caplog.records)
    assert_message(logged, warning)
    assert_nothing_recorded(exporter)


@pytest.mark.parametrize(
    "call",
    [lambda: metadata.update({"a": 1}), lambda: metadata("m").run().update({"a": 1}), lambda: metadata("m").step("process-data").update({"a": 1})],
    ids=["update", "run()", "step()"],
)
def test_metadata_for_the_current_run_without_a_span_warns(exporter, provider, caplog, call):
    """Outside any span the current run is unknown: one warning says how to name one."""
    call()

    (warning,) = scoring_warnings(caplog.records)
    assert warning.endswith("not recorded: there is no active span; name the run with .run(trace_id) or the span with .span(span_id, trace_id)")
    assert_nothing_recorded(exporter)


def test_metadata_for_the_current_span_without_a_span_warns(exporter, provider, caplog):
    """.span() with no id and no active span has no target: one warning."""
    metadata("m").span(trace_id=TRACE).update({"a": 1})

    assert scoring_warnings(caplog.records) == [
        "metadata update 'm' not recorded: there is no active span in that trace; name the span with .span(span_id, trace_id)"
    ]
    assert_nothing_recorded(exporter)


def test_a_bad_call_does_not_stop_later_good_ones(tracer, exporter, caplog):
    """After an invalid score the next valid one records normally."""
    with tracer.start_as_current_span("work"):
        otel_scoring.score_current_span(name="accuracy", value=float("nan"))
        otel_scoring.score_current_span(name="accuracy", value=0.5)

    assert [s.value for s in all_score_events(exporter)] == [0.5]
    assert len(scoring_warnings(caplog.records)) == 1


# --- Strict mode ------------------------------------------------------------------------------


@pytest.fixture(params=["strict=True", "OTEL_SCORING_STRICT=true"])
def strict_tracer(request, monkeypatch):
    """A provider whose scoring processor is strict, by keyword or by environment variable."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    if request.param == "strict=True":
        processor = ScoringSpanProcessor(tracer_provider=provider, strict=True)
    else:
        monkeypatch.setenv(OTEL_SCORING_STRICT, "true")
        processor = ScoringSpanProcessor(tracer_provider=provider)
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests"), exporter
    provider.shutdown()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: otel_scoring.score_current_span(name="accuracy", value=float("nan")), "score 'accuracy' not recorded: value nan is not a finite number"),
        (lambda: otel_scoring.score_current_trace(name="", value=1), "score '' not recorded: name must not be empty"),
        (lambda: otel_scoring.create_score(name="accuracy", value=1, observation_id=SPAN), "score 'accuracy' not recorded: observation_id needs trace_id too"),
        (lambda: otel_scoring.create_score(name="accuracy", value=1, trace_id=TRACE, config_id="nope"), "score 'accuracy' not recorded: config_id 'nope' is not a registered score config"),
        (lambda: metadata("m").update({"a": 1}, kind="a.b"), "metadata update 'm' not recorded: kind 'a.b' must not contain '.' (it is part of attribute names)"),
        (bad_batch, StartsWith("metadata update 'update-all-statuses' not recorded: values is not JSON-serialisable (Out of range float values")),
    ],
    ids=["NaN", "empty name", "observation id alone", "unknown config", "kind with a dot", "bad batch"],
)
def test_strict_mode_raises_score_validation_error(strict_tracer, caplog, call, message):
    """In strict mode the same problem raises ScoreValidationError, and still records nothing."""
    tracer, exporter = strict_tracer
    with tracer.start_as_current_span("work"):
        with pytest.raises(ScoreValidationError) as raised:
            call()

    assert_message(str(raised.value), message)
    assert scoring_warnings(caplog.records) == []
    assert_nothing_recorded(exporter)


def test_strict_mode_raises_without_an_active_span(strict_tracer):
    """In strict mode scoring outside any span raises."""
    with pytest.raises(ScoreValidationError, match="there is no active span"):
        otel_scoring.score_current_span(name="accuracy", value=0.9)


def test_strict_mode_still_records_valid_scores(strict_tracer):
    """Strict mode changes nothing for valid input."""
    tracer, exporter = strict_tracer
    with tracer.start_as_current_span("work"):
        otel_scoring.score_current_span(name="accuracy", value=0.9)

    assert [s.value for s in all_score_events(exporter)] == [0.9]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=60)


NO_PROCESSOR_CODE = """
    import logging
    logging.basicConfig(format="%(levelname)s %(name)s %(message)s")
    import otel_scoring
    otel_scoring.create_score(name="accuracy", value=0.9, trace_id="abcdef1234567890abcdef1234567890")
    print("returned")
"""


@pytest.mark.slow
def test_scoring_without_any_processor_warns_once():
    """With no ScoringSpanProcessor anywhere, a score warns how to set one up and the program goes on."""
    finished = run_python(NO_PROCESSOR_CODE)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout == "returned\n"
    assert finished.stderr.splitlines() == [
        "WARNING otel_scoring score 'accuracy' not recorded: no ScoringSpanProcessor is registered; "
        "call otel_scoring.configure() once at startup (or add a ScoringSpanProcessor to the TracerProvider you build)"
    ]


@pytest.mark.slow
def test_strict_mode_without_any_processor_raises():
    """With OTEL_SCORING_STRICT=true and no processor, the missing setup raises ScoreValidationError."""
    finished = run_python(NO_PROCESSOR_CODE, OTEL_SCORING_STRICT="true")

    assert finished.returncode == 1
    assert "otel_scoring.errors.ScoreValidationError: score 'accuracy' not recorded: no ScoringSpanProcessor is registered" in finished.stderr


def test_timestamps_must_be_datetimes_not_dates(tracer, exporter, caplog):
    """A date without a time is refused rather than guessed at."""
    with tracer.start_as_current_span("work") as span:
        otel_scoring.create_score(name="accuracy", value=1, trace_id=trace_hex(span), timestamp=datetime(2026, 1, 1).date())

    assert scoring_warnings(caplog.records) == ["score 'accuracy' not recorded: timestamp must be a datetime, not date"]
    assert_nothing_recorded(exporter)
