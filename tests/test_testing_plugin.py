"""The ``scoring_capture`` pytest fixture and ``ScoringCapture``, as users' test suites use them.

Suites using the fixture run in a pytest subprocess (``pytester.runpytest_subprocess``): the plugin
is found through its ``pytest11`` entry point exactly as in a user's project, and the global
tracer provider of that suite is not this one's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import otel_scoring
from otel_scoring import schema
from otel_scoring.testing import ScoringCapture

pytest_plugins = ["pytester"]

SUBPROCESS_TIMEOUT_SECONDS = 120

ZERO_CODE_DOC = Path(__file__).resolve().parent.parent / "docs" / "zero-code.md"

APP_MODULE = """\
from opentelemetry import trace
import otel_scoring

tracer = trace.get_tracer(__name__)  # bound at import, as apps do


def summarize(ticket):
    with tracer.start_as_current_span("summarize-ticket") as root:
        with tracer.start_as_current_span("call-model"):
            otel_scoring.score_current_span(name="model-confidence", value=0.83, comment=ticket)
        otel_scoring.score_current_trace(name="guardrail-pass", value=True)
        otel_scoring.metadata("record-payment-info").update({"paymentId": "pi_123"}, kind="billing")
    return format(root.get_span_context().trace_id, "032x")
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(support_bot=APP_MODULE)
    return pytester


def test_fixture_captures_app_scores_in_every_test(user_project: pytest.Pytester) -> None:
    """Each test sees exactly its own scores and metadata from app code bound to the global tracer."""
    user_project.makepyfile(
        test_bot="""
        import pytest
        from support_bot import summarize

        @pytest.mark.parametrize("ticket", ["T-1", "T-2"])
        def test_summary_is_scored(scoring_capture, ticket):
            trace_id = summarize(ticket)
            assert [s.name for s in scoring_capture.scores] == ["model-confidence", "guardrail-pass"]
            confidence = scoring_capture.score("model-confidence")
            assert confidence.value == 0.83
            assert confidence.comment == ticket
            assert confidence.trace_id == trace_id
            assert scoring_capture.score("guardrail-pass").string_value == "true"
            [update] = scoring_capture.metadata
            assert (update.kind, dict(update.values)) == ("billing", {"paymentId": "pi_123"})
            assert {span.name for span in scoring_capture.spans} == {"summarize-ticket", "call-model"}
        """
    )

    result = user_project.runpytest_subprocess("-p", "no:cacheprovider", timeout=SUBPROCESS_TIMEOUT_SECONDS)

    result.assert_outcomes(passed=2)


def test_missing_score_fails_the_test_listing_what_was_recorded(user_project: pytest.Pytester) -> None:
    """Asking for a score that was never recorded fails with the names that were."""
    user_project.makepyfile(
        test_bot="""
        from support_bot import summarize

        def test_wants_a_score_that_is_not_there(scoring_capture):
            summarize("T-1")
            scoring_capture.score("helpfulness")
        """
    )

    result = user_project.runpytest_subprocess("-p", "no:cacheprovider", timeout=SUBPROCESS_TIMEOUT_SECONDS)

    result.assert_outcomes(failed=1)
    assert "no score named 'helpfulness' was recorded; scores recorded: ['guardrail-pass', 'model-confidence']" in result.stdout.str()


def test_fixture_joins_a_provider_the_suite_already_set(user_project: pytest.Pytester) -> None:
    """A suite's own global provider keeps exporting everything; the capture sees only its test."""
    user_project.makeconftest(
        """
        import pytest
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        SUITE_EXPORTER = InMemorySpanExporter()
        _provider = TracerProvider()
        _provider.add_span_processor(SimpleSpanProcessor(SUITE_EXPORTER))
        trace.set_tracer_provider(_provider)
        """
    )
    user_project.makepyfile(
        test_bot="""
        from opentelemetry import trace
        from conftest import SUITE_EXPORTER
        from support_bot import summarize

        def test_1_captured(scoring_capture):
            summarize("T-1")
            assert scoring_capture.provider is trace.get_tracer_provider()
            assert scoring_capture.score("model-confidence").value == 0.83

        def test_2_without_capture_the_suite_exporter_still_gets_spans():
            SUITE_EXPORTER.clear()
            with trace.get_tracer("t").start_as_current_span("plain"):
                pass
            assert [span.name for span in SUITE_EXPORTER.get_finished_spans()] == ["plain"]
        """
    )

    result = user_project.runpytest_subprocess("-p", "no:cacheprovider", timeout=SUBPROCESS_TIMEOUT_SECONDS)

    result.assert_outcomes(passed=2)


def test_plugin_has_no_side_effects_until_the_fixture_is_used(pytester: pytest.Pytester) -> None:
    """Loading the plugin sets no tracer provider and registers no scoring processor."""
    pytester.makepyfile(
        test_plain="""
        import logging
        from opentelemetry import trace
        import otel_scoring

        def test_global_provider_untouched(caplog):
            assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
            with caplog.at_level(logging.WARNING):
                otel_scoring.create_score(name="x", value=1, session_id="s-1")
            assert "no ScoringSpanProcessor is registered" in caplog.text
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=SUBPROCESS_TIMEOUT_SECONDS)

    result.assert_outcomes(passed=1)


def test_capture_on_a_given_provider_reads_late_scores_back() -> None:
    """A score for a span that already ended is captured from its carrier span, with its target ids."""
    provider = TracerProvider()
    with ScoringCapture(tracer_provider=provider) as capture:
        with capture.tracer.start_as_current_span("answer") as span:
            pass
        context = span.get_span_context()
        otel_scoring.create_score(
            name="user-feedback",
            value="thumbs-up",
            data_type="CATEGORICAL",
            trace_id=format(context.trace_id, "032x"),
            observation_id=format(context.span_id, "016x"),
        )

    feedback = capture.score("user-feedback")
    assert (feedback.string_value, feedback.scope) == ("thumbs-up", "span")
    assert feedback.trace_id == format(context.trace_id, "032x")
    assert feedback.observation_id == format(context.span_id, "016x")
    assert [s.name for s in capture.spans] == ["answer", schema.CARRIER_SPAN_NAME]
    provider.shutdown()


def test_clear_forgets_what_was_captured_and_stop_ends_capturing() -> None:
    """clear() empties the capture; spans after stop() are not captured."""
    provider = TracerProvider()
    capture = ScoringCapture(tracer_provider=provider).start()
    with capture.tracer.start_as_current_span("first"):
        otel_scoring.score_current_span(name="model-confidence", value=0.5)
    capture.clear()
    assert capture.scores == []
    with capture.tracer.start_as_current_span("second"):
        otel_scoring.score_current_span(name="model-confidence", value=0.9)
    capture.stop()
    with provider.get_tracer("after").start_as_current_span("after-stop"):
        pass

    assert [s.name for s in capture.spans] == ["second"]
    assert capture.score("model-confidence").value == 0.9
    provider.shutdown()


def test_documented_test_example_passes_against_the_documented_app(pytester: pytest.Pytester) -> None:
    """The scoring_capture example in docs/zero-code.md passes as written, against the page's app.py."""
    blocks = re.findall(r"^```python\n(.*?)^```", ZERO_CODE_DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    [app] = [block for block in blocks if block.startswith("# app.py")]
    [example] = [block for block in blocks if "scoring_capture" in block]
    pytester.makepyfile(app=app, test_app=example)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=SUBPROCESS_TIMEOUT_SECONDS)

    result.assert_outcomes(passed=1)
