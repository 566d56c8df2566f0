"""docs/schema.md names exactly the events and attributes otel_scoring.schema defines."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from otel_scoring import schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"

# Constants that are not wire names: the namespace itself and enumerations.
NOT_NAMES = {"NAMESPACE", "DATA_TYPES", "SCORE_SCOPES", "METADATA_SCOPES", "BOOLEAN_LABELS", "PYDANTIC_EVALS_RESULTS"}


def names_in_code() -> set:
    names = set()
    for constant, value in vars(schema).items():
        if not constant.isupper() or constant in NOT_NAMES or not isinstance(value, str):
            continue
        if "{scope}" in value:
            names.add(value.format(scope="<scope>") + "<name>")
        elif value == schema.METADATA_ATTRIBUTE_PREFIX:
            names.add(schema.metadata_attribute("<kind>", "<key>"))
        else:
            names.add(value)
    return names


def names_in_doc() -> set:
    # The "What the translator reads" table quotes producers' examples; every name it relies on is
    # listed above it, in "Names read but never written".
    text = DOC.read_text(encoding="utf-8").split("## What the translator reads", 1)[0]
    tokens = re.findall(r"`([^`\s]+)`", text)
    return {t for t in tokens if re.fullmatch(r"(gen_ai|otel_scoring|annotations?|deployment|langfuse|evaluations|trace\.|session\.|event\.name|logfire\.|braintrust\.)[a-z_.<>]*", t)}


def test_every_name_in_the_code_is_documented():
    """A name the package writes or reads but docs/schema.md does not mention fails the build."""
    missing = names_in_code() - names_in_doc()
    assert not missing, f"add to docs/schema.md: {sorted(missing)}"


def test_every_documented_name_exists_in_the_code():
    """A name docs/schema.md promises but the code does not define fails the build."""
    stale = names_in_doc() - names_in_code()
    assert not stale, f"docs/schema.md names what otel_scoring.schema does not define: {sorted(stale)}"


def test_templated_names_are_built_by_the_schema_functions():
    """Score and metadata attribute names built from user input follow the documented templates."""
    assert schema.score_value_attribute("trace", "guardrail-pass") == "otel_scoring.trace_score.value.guardrail-pass"
    assert schema.score_label_attribute("span", "sentiment") == "otel_scoring.span_score.label.sentiment"
    assert schema.metadata_attribute("billing", "invoiceId") == "otel_scoring.metadata.billing.invoiceId"


@given(trace_id=st.integers(min_value=1, max_value=2**128 - 1), span_id=st.integers(min_value=1, max_value=2**64 - 1))
def test_ids_are_written_as_w3c_hex_that_reads_back(trace_id, span_id):
    """Trace ids as 32 and span ids as 16 lowercase hex digits (W3C trace context, OTLP JSON), zero-padded."""
    trace_text, span_text = schema.format_trace_id(trace_id), schema.format_span_id(span_id)
    assert len(trace_text) == 32 and len(span_text) == 16
    assert trace_text == trace_text.lower() and int(trace_text, 16) == trace_id and int(span_text, 16) == span_id
