"""Zero-code activation: an unmodified app under ``opentelemetry-instrument`` records scores when
``OTEL_SCORING_ENABLED`` is true, and runs exactly as before when it is not or when something is off.

Every test runs a real ``opentelemetry-instrument python app.py`` subprocess, where app.py is the
one docs/zero-code.md shows (OpenTelemetry API and otel-scoring's scoring calls only), and the
console exporter prints its spans.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from otel_scoring import schema
from otel_scoring.environment_variables import OTEL_SCORING_ENABLED, OTEL_SCORING_RAISE_INTERNAL_ERRORS, OTEL_SCORING_SCORE_CONFIGS

pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parent.parent / "docs" / "zero-code.md"


def documented_app() -> str:
    """The app.py of docs/zero-code.md: the test runs what the page shows."""
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    [app] = [block for block in blocks if block.startswith("# app.py")]
    return app


APP_OUTPUT = "summary of T-1"

SUBPROCESS_TIMEOUT_SECONDS = 60

# Where scoring runs normally, internal errors stay loud (as in this suite); the failure tests run
# with production settings instead, to show what a user would see.
LOUD = {OTEL_SCORING_RAISE_INTERNAL_ERRORS: "true"}


def _instrument_command() -> str:
    found = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
    if found is None:
        pytest.fail("opentelemetry-instrument is not installed beside this Python; install the test extra: pip install -e '.[test]'")
    return found


def run_instrumented(tmp_path: Path, env: Dict[str, str], *instrument_args: str) -> subprocess.CompletedProcess:
    """Run app.py under opentelemetry-instrument with the console exporter, like a user would."""
    (tmp_path / "app.py").write_text(documented_app(), encoding="utf-8")
    child_env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "PYTHONPATH"))}
    child_env.update(
        {
            "OTEL_SERVICE_NAME": "support-bot",
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    child_env.update(env)
    return subprocess.run(
        [_instrument_command(), *instrument_args, sys.executable, "app.py"],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )


def console_spans(stdout: str) -> List[dict]:
    """The spans the console exporter printed (one JSON object per span, back to back)."""
    decoder = json.JSONDecoder()
    spans, position = [], 0
    while True:
        start = stdout.find("{", position)
        if start < 0:
            return spans
        span, position = decoder.raw_decode(stdout, start)
        spans.append(span)


def span_named(spans: List[dict], name: str) -> dict:
    matches = [span for span in spans if span["name"] == name]
    assert len(matches) == 1, f"expected one span {name!r}, got {[span['name'] for span in spans]}"
    return matches[0]


def score_event(span: dict, score_name: str) -> Optional[dict]:
    for event in span["events"]:
        if event["name"] == schema.EVALUATION_RESULT_EVENT and event["attributes"].get(schema.GEN_AI_EVALUATION_NAME) == score_name:
            return event
    return None


def test_enabled_app_exports_score_events_and_searchable_attributes(tmp_path: Path) -> None:
    """With OTEL_SCORING_ENABLED=true the unmodified app's spans carry its scores and metadata."""
    result = run_instrumented(tmp_path, {OTEL_SCORING_ENABLED: "true", **LOUD})

    assert result.returncode == 0, result.stderr
    assert APP_OUTPUT in result.stdout
    spans = console_spans(result.stdout)
    step = span_named(spans, "call-model")
    confidence = score_event(step, "model-confidence")
    assert confidence is not None, step["events"]
    assert confidence["attributes"][schema.GEN_AI_EVALUATION_SCORE_VALUE] == 0.83
    assert step["attributes"][schema.HAS_SCORES] is True
    assert step["attributes"][schema.score_value_attribute("span", "model-confidence")] == 0.83
    root = span_named(spans, "summarize-ticket")
    guardrail = score_event(root, "guardrail-pass")
    assert guardrail is not None, root["events"]
    assert guardrail["attributes"][schema.GEN_AI_EVALUATION_SCORE_LABEL] == "true"
    assert root["attributes"][schema.metadata_attribute("billing", "paymentId")] == "pi_123"
    assert root["resource"]["attributes"]["service.name"] == "support-bot"


def test_command_line_flag_enables_scoring_like_the_env_var(tmp_path: Path) -> None:
    """`opentelemetry-instrument --scoring_enabled true` works the same as setting the variable."""
    result = run_instrumented(tmp_path, LOUD, "--scoring_enabled", "true")

    assert result.returncode == 0, result.stderr
    assert score_event(span_named(console_spans(result.stdout), "call-model"), "model-confidence") is not None


def test_unset_variable_leaves_the_app_untouched(tmp_path: Path) -> None:
    """Without OTEL_SCORING_ENABLED the app runs and exports as before; the score call only warns."""
    result = run_instrumented(tmp_path, {})

    assert result.returncode == 0, result.stderr
    assert APP_OUTPUT in result.stdout
    spans = console_spans(result.stdout)
    step = span_named(spans, "call-model")
    assert step["events"] == []
    assert schema.HAS_SCORES not in step["attributes"]
    assert "no ScoringSpanProcessor is registered; set OTEL_SCORING_ENABLED=true in the environment opentelemetry-instrument runs in" in result.stderr
    assert "call otel_scoring.configure()" not in result.stderr  # docs/zero-code.md says not to, there


def test_unreadable_score_configs_warn_once_and_the_app_still_runs(tmp_path: Path) -> None:
    """A bad setting never breaks the app: one warning names it, and the app runs to the end."""
    missing = tmp_path / "no-such-configs.json"
    result = run_instrumented(tmp_path, {OTEL_SCORING_ENABLED: "true", OTEL_SCORING_SCORE_CONFIGS: str(missing)})

    assert result.returncode == 0, result.stderr
    assert APP_OUTPUT in result.stdout
    assert result.stderr.count("otel-scoring is not enabled") == 1
    assert "no-such-configs.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_an_sdk_provider_it_says_what_to_install(tmp_path: Path) -> None:
    """When no configurator built an SDK provider, the warning says how to get one and the app runs."""
    # Selecting a configurator that does not exist means none runs and the global provider stays a proxy.
    result = run_instrumented(tmp_path, {OTEL_SCORING_ENABLED: "true", "OTEL_PYTHON_CONFIGURATOR": "not-installed"})

    assert result.returncode == 0, result.stderr
    assert APP_OUTPUT in result.stdout
    assert "pip install opentelemetry-distro" in result.stderr
