"""docs/score-configs.md is true: its JSON and YAML examples load to the same configs, which
enforce the rules it states; JSON needs no PyYAML; a YAML file without PyYAML disables only the
configs, with a warning that says what to install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.exported import score_events, scoring_warnings, span_named

import otel_scoring
from otel_scoring import DataType, ScoreConfigRegistry

DOC = (Path(__file__).resolve().parent.parent / "docs" / "score-configs.md").read_text(encoding="utf-8")


def example(language: str) -> str:
    (block,) = re.findall(rf"^```{language}\n(.*?)^```", DOC, re.MULTILINE | re.DOTALL)
    return block


@pytest.fixture
def score_configs(tmp_path) -> ScoreConfigRegistry:
    path = tmp_path / "configs.json"
    path.write_text(example("json"), encoding="utf-8")
    return ScoreConfigRegistry.from_file(path)


def test_the_json_and_yaml_examples_are_the_same_configs(score_configs, tmp_path):
    """Both examples load, in our spelling and Langfuse's, to equal configs."""
    yaml_path = tmp_path / "configs.yaml"
    yaml_path.write_text(example("yaml"), encoding="utf-8")
    assert list(ScoreConfigRegistry.from_file(yaml_path)) == list(score_configs)
    assert [(c.id, c.data_type) for c in score_configs] == [
        ("78545-6565-3453654-43543", DataType.NUMERIC),
        ("tone-v1", DataType.CATEGORICAL),
        ("resolved-v1", DataType.BOOLEAN),
        ("stars-v1", DataType.CATEGORICAL),
    ]
    assert score_configs.get("stars-v1").categories == {"one": 1.0, "five": 5.0}


def test_the_documented_rules_hold(tracer, exporter, caplog, score_configs):
    """In range, a known category and 0/1 are recorded; out of range, an unknown label and a wrong name are not."""
    with tracer.start_as_current_span("work"):
        otel_scoring.score_current_span(name="accuracy", value=0.9, config_id="78545-6565-3453654-43543")
        otel_scoring.score_current_span(name="accuracy", value=1.5, config_id="78545-6565-3453654-43543")
        otel_scoring.score_current_span(name="tone", value="friendly", config_id="tone-v1")
        otel_scoring.score_current_span(name="tone", value="sarcastic", config_id="tone-v1")
        otel_scoring.score_current_span(name="resolved", value=1, config_id="resolved-v1")
        otel_scoring.score_current_span(name="other", value=1, config_id="resolved-v1")

    recorded = [(s.name, s.value, s.label) for s in score_events(span_named(exporter, "work"))]
    assert recorded == [("accuracy", 0.9, None), ("tone", 1.0, "friendly"), ("resolved", 1.0, "true")]
    assert len(scoring_warnings(caplog.records)) == 3


WITHOUT_PYYAML = """
    import logging, sys
    sys.modules["yaml"] = None  # PyYAML not installed: `import yaml` raises ImportError
    logging.basicConfig(format="%(levelname)s %(message)s")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import otel_scoring
    from otel_scoring import ScoreConfigRegistry, ScoringSpanProcessor

    assert len(ScoreConfigRegistry.from_file(sys.argv[1])) == 4  # JSON: no PyYAML needed
    provider = TracerProvider()
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, score_configs=sys.argv[2]))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("work"):
        otel_scoring.score_current_span(name="helpfulness", value=0.8)
        otel_scoring.score_current_span(name="accuracy", value=0.9, config_id="78545-6565-3453654-43543")
    [span] = exporter.get_finished_spans()
    print([event.attributes["gen_ai.evaluation.name"] for event in span.events])
"""


@pytest.mark.slow
def test_without_pyyaml_json_loads_and_a_yaml_file_disables_only_the_configs(tmp_path):
    """No PyYAML: JSON configs load; a YAML file warns what to install, and scores without a config_id are still recorded."""
    (tmp_path / "configs.json").write_text(example("json"), encoding="utf-8")
    (tmp_path / "configs.yaml").write_text(example("yaml"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WITHOUT_PYYAML), str(tmp_path / "configs.json"), str(tmp_path / "configs.yaml")],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "['helpfulness']"
    first, second = finished.stderr.strip().splitlines()
    assert "configs.yaml were not loaded: loading score configs from YAML needs PyYAML: pip install 'otel-scoring[yaml]'" in first
    assert "scores naming a config_id are refused; all other scores are recorded" in first
    assert "config_id '78545-6565-3453654-43543' is not a registered score config" in second
