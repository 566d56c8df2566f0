"""The copy-paste queries in docs/finding-scores.md and docs/grafana/score-trends.json find what
otel-scoring really writes: every attribute and event name in them is one otel_scoring.schema
defines, and numbers are written the way each backend compares them.

The Jaeger searches also run on a live Jaeger (tests/test_live_peers.py). Tempo cannot run here,
so every TraceQL query is parsed by Grafana's TraceQL grammar (tests/support/traceql.py) and
checked here against the wire schema and against spans a real TracerProvider exports.
"""

from __future__ import annotations

import json
import re
import shlex
from decimal import Decimal
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import otel_scoring
from otel_scoring import schema
from support.traceql import traceql_syntax_errors
from support.wire_names import EVENT_NAMES, is_numeric_score_attribute, is_wire_name

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "finding-scores.md"
DASHBOARD = ROOT / "docs" / "grafana" / "score-trends.json"

FENCE = re.compile(r"^```(traceql|jaeger-tags)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def doc_queries(language: str) -> List[str]:
    return [body.strip() for lang, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_targets() -> List[Tuple[str, dict]]:
    return [(panel["title"], target) for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def with_grafana_variables_filled(query: str) -> str:
    """``$score_name`` / ``${score_name}`` as a user would fill them in."""
    return re.sub(r"\$\{?\w+\}?", "example-score", query)


# --- TraceQL ----------------------------------------------------------------------------------------

# Left to right, an attribute reference (scope, dot, bare or quoted name), a string value, or anything else.
_TRACEQL_TOKEN = re.compile(
    r'(?P<attribute>\b(?P<scope>span|event|resource|link|instrumentation)\.(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[A-Za-z0-9_.]+)))'
    r'|(?P<string>"(?:[^"\\]|\\.)*")'
    r"|(?P<other>.)",
    re.DOTALL,
)
_COMPARISON = r"\s*(?:=|!=|<=|>=|<|>)\s*"


def traceql_attributes(query: str) -> List[Tuple[str, str, int]]:
    """(scope, attribute name, end offset) of every attribute reference in a TraceQL query."""
    found = []
    for token in _TRACEQL_TOKEN.finditer(query):
        if token.group("attribute"):
            name = token.group("quoted") if token.group("quoted") is not None else token.group("bare")
            found.append((token.group("scope"), name, token.end()))
    return found


def check_traceql(query: str) -> None:
    assert query.count("{") == query.count("}") and query.count("(") == query.count(")"), f"unbalanced: {query}"
    references = traceql_attributes(query)
    assert references or "event:name" in query or re.search(r"(?<![:.\w])name\s*=", query), f"no attribute in: {query}"
    for scope, name, end in references:
        assert query[end : end + 1] != "-", f"attribute names containing '-' must be quoted (span.\"...\") in: {query}"
        assert scope in {"span", "event"}, f"{scope}.{name}: scores are span and event attributes, in: {query}"
        assert is_wire_name(name), f"{scope}.{name} is not a name otel_scoring.schema defines, in: {query}"
        number = re.match(_COMPARISON + r"(-?\d+(?:\.\d+)?)\b", query[end:])
        if number and is_numeric_score_attribute(name):
            assert "." in number.group(1), f"{name} is a double: compare it with a decimal literal (1.0, not 1) in: {query}"
    for event_name in re.findall(r'event:name' + _COMPARISON + r'"([^"]+)"', query):
        assert event_name in EVENT_NAMES, f"event {event_name!r} is not one otel-scoring writes, in: {query}"
    for span_name in re.findall(r'(?<![:.\w])name' + _COMPARISON + r'"([^"]+)"', query):
        assert span_name == schema.CARRIER_SPAN_NAME, f"span name {span_name!r} in: {query}"


def test_doc_has_traceql_and_jaeger_queries():
    """The page offers both kinds of queries, in fenced blocks the checks below can read."""
    assert len(doc_queries("traceql")) >= 10
    assert len(doc_queries("jaeger-tags")) >= 8


@pytest.mark.parametrize("query", doc_queries("traceql"))
def test_doc_traceql_names_only_schema_attributes(query: str):
    """Each TraceQL query names only schema attributes, quotes names with '-', and compares doubles with decimals."""
    check_traceql(query)


@pytest.mark.parametrize("title, target", dashboard_targets(), ids=[f"{title}/{t['refId']}" for title, t in dashboard_targets()])
def test_dashboard_traceql_names_only_schema_attributes(title: str, target: dict):
    """Each dashboard panel query is TraceQL on schema attributes, with the score name a variable fills in."""
    assert target["queryType"] == "traceql", title
    check_traceql(with_grafana_variables_filled(target["query"]))


@pytest.mark.peers
def test_every_traceql_query_parses_with_grafanas_traceql_grammar():
    """Each TraceQL query of the doc and of every dashboard panel is valid TraceQL to Grafana's own parser."""
    queries = doc_queries("traceql") + [with_grafana_variables_filled(target["query"]) for _, target in dashboard_targets()]
    errors = traceql_syntax_errors(queries)
    assert {query: error for query, error in zip(queries, errors) if error} == {}


@pytest.mark.peers
def test_the_traceql_parser_rejects_broken_queries():
    """The parser is strict: an unclosed selector, a missing operand and a dangling pipe are errors."""
    broken = ['{ span.otel_scoring.has_scores = true', '{ event.gen_ai.evaluation.score.value < }', '{ name = "otel_scoring.carrier" } |']
    assert all(traceql_syntax_errors(broken))


def test_traceql_checks_reject_what_tempo_would_not_match():
    """The TraceQL checks catch an unquoted '-', a name the schema lacks, and an integer compared with a double."""
    with pytest.raises(AssertionError, match="must be quoted"):
        check_traceql('{ span.otel_scoring.span_score.value.model-confidence < 0.5 }')
    with pytest.raises(AssertionError, match="not a name"):
        check_traceql('{ event.gen_ai.evaluation.score = 1.0 }')
    with pytest.raises(AssertionError, match="decimal literal"):
        check_traceql('{ span."otel_scoring.trace_score.value.guardrail-pass" = 1 }')


def test_dashboard_charts_score_trends_per_name_from_tempo():
    """The dashboard picks its Tempo data source, and charts TraceQL metrics by score name."""
    board = dashboard()
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "tempo"
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "tempo", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
    metrics = [t["query"] for _, t in dashboard_targets() if t.get("metricsQueryType") == "range"]
    assert any(f"by (event.{schema.GEN_AI_EVALUATION_NAME})" in q and "avg_over_time" in q for q in metrics)
    assert any(schema.score_value_attribute("trace", "$score_name") in q for q in metrics)
    assert any(schema.score_value_attribute("span", "$score_name") in q for q in metrics)


# --- Jaeger tag search ------------------------------------------------------------------------------


def jaeger_number_text(value: float) -> str:
    """How Jaeger writes a double before comparing it with a tag search: JavaScript's number format.

    Jaeger (pdata ``Value.AsString``) formats with Go's shortest round-trip digits, fixed notation
    for 1e-6 <= |x| < 1e21 and exponent notation otherwise, without ``.0`` and with exponents
    unpadded (``1e-7``).
    """
    if value == 0:
        return "0"
    digits = Decimal(repr(value))
    if 1e-6 <= abs(value) < 1e21:
        text = format(digits, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    sign, coefficient, exponent = digits.normalize().as_tuple()
    mantissa = "".join(map(str, coefficient))
    power = exponent + len(mantissa) - 1
    mantissa = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"


def jaeger_tags(query: str) -> Dict[str, str]:
    pairs = shlex.split(query)
    assert pairs and all("=" in pair for pair in pairs), f"Jaeger tags are key=value pairs: {query}"
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.mark.parametrize("query", doc_queries("jaeger-tags"))
def test_doc_jaeger_tags_name_only_schema_attributes(query: str):
    """Each Jaeger tag search names schema attributes, with values typed as Jaeger compares them."""
    for key, value in jaeger_tags(query).items():
        assert is_wire_name(key), f"{key} is not a name otel_scoring.schema defines, in: {query}"
        if is_numeric_score_attribute(key):
            assert value == jaeger_number_text(float(value)), f"Jaeger compares {key} as the text {jaeger_number_text(float(value))!r}, not {value!r}"
        if key in (schema.HAS_SCORES, schema.HAS_METADATA, schema.CARRIER):
            assert value in ("true", "false"), f"{key} is a boolean: {query}"


@pytest.mark.parametrize(
    "value, text",
    [(1.0, "1"), (0.0, "0"), (0.5, "0.5"), (0.83, "0.83"), (-2.5, "-2.5"), (123456789.0, "123456789"), (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (1e21, "1e+21")],
)
def test_jaeger_number_text_matches_jaegers_formatting(value: float, text: str):
    """The helper writes doubles the way Jaeger's value formatting does."""
    assert jaeger_number_text(value) == text


def test_doc_types_the_boolean_score_value_a_real_span_carries(tracer, exporter):
    """The guardrail query's value is what Jaeger shows for the attribute a boolean trace score really sets."""
    with tracer.start_as_current_span("summarize-ticket"):
        otel_scoring.score_current_trace(name="guardrail-pass", value=True)
    [span] = exporter.get_finished_spans()
    attribute = schema.score_value_attribute("trace", "guardrail-pass")
    exported = span.attributes[attribute]
    assert isinstance(exported, float)

    searches = [jaeger_tags(query) for query in doc_queries("jaeger-tags")]
    typed = [tags[attribute] for tags in searches if attribute in tags]
    assert typed == [jaeger_number_text(exported)] == ["1"]
