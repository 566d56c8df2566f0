"""Warnings a person can act on: each distinct one at most once per interval, with a count of the
repeats, and naming the fix for how the app is set up.

Each case runs in a fresh Python process (the fix named depends on the process's global tracer
provider), with the default de-duplication unless the test sets OTEL_SCORING_WARNING_INTERVAL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import List

import pytest

pytestmark = pytest.mark.slow

PRELUDE = """
import logging, time
logging.basicConfig(format="%(levelname)s %(message)s")
import otel_scoring
from opentelemetry import trace
"""


def warnings_of(code: str, **env: str) -> List[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(env)
    finished = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    return finished.stderr.splitlines()


def test_500_identical_warnings_are_logged_once_then_counted():
    """500 calls without setup log one warning; the first after the interval says how many were not logged."""
    lines = warnings_of(
        """
        for _ in range(500):
            otel_scoring.create_score(name="accuracy", value=0.9, trace_id="abcdef1234567890abcdef1234567890")
        otel_scoring.create_score(name="tone", value="ok", trace_id="abcdef1234567890abcdef1234567890")
        time.sleep(1.2)
        otel_scoring.create_score(name="accuracy", value=0.9, trace_id="abcdef1234567890abcdef1234567890")
        """,
        OTEL_SCORING_WARNING_INTERVAL="1",
    )
    assert len(lines) == 3, lines
    first, other, after = lines
    assert first.startswith("WARNING score 'accuracy' not recorded: no ScoringSpanProcessor is registered")
    assert other.startswith("WARNING score 'tone' not recorded")  # a different warning is its own
    assert after.startswith(first) and after.endswith("(499 more like this in the last 1 s were not logged)")


def test_interval_zero_logs_every_warning():
    """OTEL_SCORING_WARNING_INTERVAL=0 turns de-duplication off."""
    lines = warnings_of(
        """
        for _ in range(3):
            otel_scoring.create_score(name="accuracy", value=0.9, trace_id="abcdef1234567890abcdef1234567890")
        """,
        OTEL_SCORING_WARNING_INTERVAL="0",
    )
    assert len(lines) == 3


def test_without_an_sdk_provider_the_warning_says_to_configure_not_no_active_span():
    """With the API's no-op provider, a score inside a `with` block names the missing setup, not a missing span."""
    (line,) = warnings_of(
        """
        with trace.get_tracer("app").start_as_current_span("request"):
            for _ in range(50):
                otel_scoring.score_current_span(name="accuracy", value=0.9)
        """
    )
    assert "no ScoringSpanProcessor is registered; call otel_scoring.configure() once at startup" in line
    assert "no active span" not in line


def test_with_an_sdk_provider_of_its_own_the_warning_says_to_add_the_processor():
    """An app that built its own TracerProvider is told to add ScoringSpanProcessor to it."""
    (line,) = warnings_of(
        """
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider())
        with trace.get_tracer("app").start_as_current_span("request"):
            otel_scoring.score_current_trace(name="accuracy", value=0.9)
        """
    )
    assert "add one to the TracerProvider you set up: provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))" in line
