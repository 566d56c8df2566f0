"""`otel-scoring compare` gates a deploy: it flags a real degradation and passes an unchanged release."""

from __future__ import annotations

import json

import pytest

from otel_scoring import cli
from support.dashboard_workload import fill


@pytest.fixture(scope="module")
def degraded_store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("degraded") / "scores.db")
    fill(path, runs_per_release=40, shift=0.15, seed=3)
    return path


def test_a_new_prompt_with_lower_scores_is_flagged_and_exits_1(degraded_store, capsys):
    """Release 1.1.0 (prompt v2) scores lower: the table shows both cohorts and the verdict is degraded, exit 1."""
    code = cli.main(["compare", "--db", degraded_store, "--name", "helpfulness", "--by", "service.version"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[2].split()[:3] == ["baseline", "1.0.0", "40"]  # the older release is the baseline
    assert lines[3].split()[:3] == ["candidate", "1.1.0", "40"]
    assert "95% CI [" in out and "Welch's t interval" in out
    assert lines[-1] == "verdict: degraded (higher is better)"


def test_the_same_split_by_run_metadata_agrees_and_lower_is_better_reverses_it(degraded_store, capsys):
    """Split by metadata.prompt.version the drop is found too; told lower is better, it is an improvement, exit 0."""
    assert cli.main(["compare", "--db", degraded_store, "--name", "helpfulness", "--by", "metadata.prompt.version", "--format", "json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert (answer["baseline"]["value"], answer["candidate"]["value"], answer["verdict"]) == ("v1", "v2", "degraded")
    assert answer["difference"]["high"] < 0
    code = cli.main(["compare", "--db", degraded_store, "--name", "helpfulness", "--by", "metadata.prompt.version", "--baseline", "v1", "--candidate", "v2", "--lower-is-better"])
    assert code == 0 and capsys.readouterr().out.splitlines()[-1] == "verdict: improved (lower is better)"


def test_an_unchanged_release_is_not_flagged(tmp_path, capsys):
    """Two releases drawing from the same distribution: no significant difference, exit 0."""
    path = str(tmp_path / "scores.db")
    fill(path, runs_per_release=40, shift=0.0, seed=11)
    assert cli.main(["compare", "--db", path, "--name", "helpfulness", "--by", "service.version"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "verdict: no significant difference (higher is better)"


def test_a_comparison_that_cannot_be_made_says_why_and_exits_2(degraded_store, capsys):
    """A key with many values and no cohorts named, or half a pair, is not a verdict: exit 2 with the reason."""
    assert cli.main(["compare", "--db", degraded_store, "--name", "helpfulness", "--by", "metadata.llm.tokens"]) == 2
    assert "more than two values" in capsys.readouterr().err
    assert cli.main(["compare", "--db", degraded_store, "--name", "helpfulness", "--by", "service.version", "--baseline", "1.0.0"]) == 2
    assert "give both baseline and candidate" in capsys.readouterr().err
