"""Redaction: metadata keys matching configured patterns, or a user hook, never let a secret reach a span.

Every test records through a real ``TracerProvider`` and reads what the ``InMemorySpanExporter``
received: span attributes, event attributes, and the records the translator rebuilds from them.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterator, List, Tuple

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoringSpanProcessor, schema
from otel_scoring.environment_variables import OTEL_SCORING_REDACT_KEYS
from otel_scoring.redaction import REDACTED
from otel_scoring.translate import records_from_spans

SECRET = "hunter2-do-not-export"


class Recorder:
    """A provider with a redacting ScoringSpanProcessor and an in-memory exporter."""

    def __init__(self, **redaction: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "redaction-test"}))
        self.provider.add_span_processor(ScoringSpanProcessor(tracer_provider=self.provider, **redaction))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests")

    def exported_values(self) -> List[str]:
        """Every attribute value of every exported span and event, as text."""
        values = []
        for span in self.exporter.get_finished_spans():
            values += [str(value) for value in span.attributes.values()]
            for event in span.events:
                values += [str(value) for value in event.attributes.values()]
        return values

    def assert_no_secret(self) -> None:
        values = self.exported_values()
        assert values, "nothing was exported"
        assert not [value for value in values if SECRET in value]

    def span_attribute(self, key: str) -> Any:
        (value,) = [span.attributes[key] for span in self.exporter.get_finished_spans() if key in span.attributes]
        return value


@pytest.fixture
def recorders() -> Iterator[List[Recorder]]:
    made: List[Recorder] = []
    yield made
    for recorder in made:
        recorder.provider.shutdown()


@pytest.fixture
def recorder_with(recorders):
    def make(**redaction: Any) -> Recorder:
        recorder = Recorder(**redaction)
        recorders.append(recorder)
        return recorder

    return make


PAYMENT = {
    "userPassword": SECRET,
    "card_number": SECRET,
    "CARD_CVC": SECRET,
    "customer": {"name": "Ada", "db_password": SECRET, "cards": [{"card_last4": SECRET, "brand": "visa"}]},
    "amount": 12.5,
}
MASKED_PAYMENT = {
    "userPassword": REDACTED,
    "card_number": REDACTED,
    "CARD_CVC": REDACTED,
    "customer": {"name": "Ada", "db_password": REDACTED, "cards": [{"card_last4": REDACTED, "brand": "visa"}]},
    "amount": 12.5,
}


def test_glob_patterns_mask_matching_keys_at_every_depth_ignoring_case(recorder_with):
    """"*password*" and "card_*" mask top-level and nested keys (any case); other values are exported as they were."""
    recorder = recorder_with(redact_keys=["*password*", "card_*"])
    with recorder.tracer.start_as_current_span("checkout"):
        otel_scoring.metadata("payment").update(PAYMENT, kind="billing")
    recorder.assert_no_secret()
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == MASKED_PAYMENT
    assert recorder.span_attribute(schema.metadata_attribute("billing", "userPassword")) == REDACTED
    assert recorder.span_attribute(schema.metadata_attribute("billing", "amount")) == 12.5


def test_compiled_regexes_are_searched_anywhere_in_the_key(recorder_with):
    """A compiled regex masks keys it finds anywhere in (with its own flags); a comma-separated string is several globs."""
    recorder = recorder_with(redact_keys=[re.compile(r"token|secret"), "api_key, session_*"])
    with recorder.tracer.start_as_current_span("call"):
        otel_scoring.metadata("auth").update({"github_token_v2": SECRET, "client_secret": SECRET, "TOKEN": "kept", "api_key": SECRET, "session_id": SECRET, "user": "ada"})
    recorder.assert_no_secret()
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == {"github_token_v2": REDACTED, "client_secret": REDACTED, "TOKEN": "kept", "api_key": REDACTED, "session_id": REDACTED, "user": "ada"}


def test_score_metadata_is_masked_too(recorder_with):
    """A score's metadata (nested) is masked before it reaches the score event."""
    recorder = recorder_with(redact_keys="*password*")
    with recorder.tracer.start_as_current_span("judge") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        otel_scoring.create_score(name="judged", value=1.0, trace_id=trace_id, metadata={"judge": {"password": SECRET, "model": "m1"}, "items": [{"admin_password": SECRET}]})
    recorder.assert_no_secret()
    (score,) = records_from_spans(recorder.exporter.get_finished_spans()).scores
    assert score.metadata == {"judge": {"password": REDACTED, "model": "m1"}, "items": [{"admin_password": REDACTED}]}


def test_late_metadata_on_a_carrier_span_is_masked(recorder_with):
    """Metadata for a run that already ended travels on a carrier span, masked all the same."""
    recorder = recorder_with(redact_keys=["*password*"])
    with recorder.tracer.start_as_current_span("finished-run") as span:
        trace_id = span.get_span_context().trace_id
    otel_scoring.metadata("late").run(trace_id).update({"password": SECRET, "note": "late"})
    recorder.assert_no_secret()
    carriers = [s for s in recorder.exporter.get_finished_spans() if s.name == schema.CARRIER_SPAN_NAME]
    assert len(carriers) == 1
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == {"password": REDACTED, "note": "late"}


def test_patterns_come_from_the_environment_when_not_given(recorder_with, monkeypatch):
    """OTEL_SCORING_REDACT_KEYS="*password*,card_*" configures the same masking as the keyword."""
    monkeypatch.setenv(OTEL_SCORING_REDACT_KEYS, "*password*, card_*")
    recorder = recorder_with()
    with recorder.tracer.start_as_current_span("checkout"):
        otel_scoring.metadata("payment").update(PAYMENT, kind="billing")
    recorder.assert_no_secret()
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == MASKED_PAYMENT


def test_without_patterns_or_hook_nothing_is_masked(recorder_with, monkeypatch):
    """Redaction is off unless configured: values are exported exactly as given."""
    monkeypatch.delenv(OTEL_SCORING_REDACT_KEYS, raising=False)
    recorder = recorder_with()
    with recorder.tracer.start_as_current_span("checkout"):
        otel_scoring.metadata("payment").update(PAYMENT, kind="billing")
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == PAYMENT


def test_a_hook_rewrites_values_and_sees_only_already_masked_children(recorder_with):
    """redact=(key, value) -> value is applied to every unmatched key, innermost first, after pattern masking."""
    seen: List[Tuple[str, Any]] = []

    def hook(key: str, value: Any) -> Any:
        seen.append((key, value))
        return "a***@example.com" if key == "email" else value

    recorder = recorder_with(redact_keys=["*password*"], redact=hook)
    with recorder.tracer.start_as_current_span("signup"):
        otel_scoring.metadata("user").update({"email": "ada@example.com", "profile": {"password": SECRET, "email": "ada@work.example"}})
    recorder.assert_no_secret()
    assert "ada@example.com" not in " ".join(recorder.exported_values())
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == {"email": "a***@example.com", "profile": {"password": REDACTED, "email": "a***@example.com"}}
    assert ("profile", {"password": REDACTED, "email": "a***@example.com"}) in seen
    assert all(key != "password" for key, _ in seen)


def test_a_failing_hook_warns_and_records_that_value_masked_never_unmasked(recorder_with, caplog):
    """A hook that raises for one key: one warning naming it, the update recorded with that key masked, nothing raised to the caller (strict or not)."""

    def hook(key: str, value: Any) -> Any:
        if key == "api_token":
            raise RuntimeError("hook bug")
        return value

    recorder = recorder_with(redact=hook, strict=True)
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        with recorder.tracer.start_as_current_span("call"):
            otel_scoring.metadata("auth").update({"api_token": SECRET, "user": "ada"})
    recorder.assert_no_secret()
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == {"api_token": REDACTED, "user": "ada"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'api_token'" in warnings[0] and "redact hook" in warnings[0]


def test_a_hook_returning_something_that_is_not_json_masks_that_value(recorder_with, caplog):
    """A hook result that cannot be recorded as JSON (an object, NaN) is masked with a warning."""
    recorder = recorder_with(redact=lambda key, value: object() if key == "secret" else (float("nan") if key == "ratio" else value))
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        with recorder.tracer.start_as_current_span("call"):
            otel_scoring.metadata("odd").update({"secret": SECRET, "ratio": 0.5, "user": "ada"})
    recorder.assert_no_secret()
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == {"secret": REDACTED, "ratio": REDACTED, "user": "ada"}
    assert any("'secret', 'ratio'" in r.getMessage() for r in caplog.records)


def test_a_hook_that_bloats_values_past_the_limit_masks_the_whole_update(recorder_with, caplog):
    """A hook whose results no longer fit the metadata size limit: every value is masked, with a warning."""
    recorder = recorder_with(redact=lambda key, value: value * 100_000 if isinstance(value, str) else value)
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        with recorder.tracer.start_as_current_span("call"):
            otel_scoring.metadata("bloat").update({"token": SECRET, "n": 1})
    recorder.assert_no_secret()
    (update,) = records_from_spans(recorder.exporter.get_finished_spans()).metadata
    assert dict(update.values) == {"token": REDACTED, "n": REDACTED}
    assert any("limit" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("redact_keys", [[42], [re.compile(rb"password")], [None]], ids=["int", "bytes-regex", "none-item"])
def test_patterns_of_the_wrong_type_are_refused_at_construction(redact_keys):
    """A pattern that could never match a key raises TypeError rather than silently leaking."""
    with pytest.raises(TypeError):
        ScoringSpanProcessor(redact_keys=redact_keys)


def test_a_hook_that_is_not_callable_is_refused_at_construction():
    """redact= must be callable."""
    with pytest.raises(TypeError, match="callable"):
        ScoringSpanProcessor(redact="*password*")  # type: ignore[arg-type]


def test_configure_passes_redaction_to_its_processor(exporter):
    """`configure(redact_keys=...)` masks metadata keys as the processor argument does."""
    provider = otel_scoring.configure(service_name="redacting", span_exporter=exporter, redact_keys=["card_*"], set_global=False)
    try:
        with provider.get_tracer("t").start_as_current_span("checkout"):
            otel_scoring.metadata.update({"card_number": "4242424242424242", "plan": "pro"}, kind="billing")
        provider.force_flush()
        (span,) = exporter.get_finished_spans()
        assert span.attributes["otel_scoring.metadata.billing.card_number"] == "[REDACTED]"
        assert span.attributes["otel_scoring.metadata.billing.plan"] == "pro"
        assert "4242" not in repr(span.events)
    finally:
        provider.shutdown()
