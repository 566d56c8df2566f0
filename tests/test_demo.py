"""The one-command demo: real OTLP/gRPC into the embedded receiver, every score read back and shown."""

from __future__ import annotations

import io

from opentelemetry import trace

from otel_scoring.cli import main
from otel_scoring._demo import SCORE_NAMES, run_demo
from otel_scoring.store import ScoreStore


def test_the_demo_prints_every_score_including_late_user_feedback():
    """run_demo exits 0 and prints each score name, the late user feedback, metadata and the trend table."""
    out = io.StringIO()
    assert run_demo(out=out) == 0
    printed = out.getvalue()
    assert "16 scores exported over OTLP/gRPC" in printed
    for name in SCORE_NAMES:
        assert name in printed
    assert "user-feedback" in printed and "fixed on the first try" in printed
    assert "Trend per score name per hour" in printed
    for kind in ("ticket", "retrieval", "llm", "workflow", "infra"):
        assert f" {kind} " in printed


def test_the_demo_shows_the_metadata_of_every_run():
    """Each of the three tickets' five metadata updates is stored and printed, though the runs share memo ids."""
    out = io.StringIO()
    assert run_demo(out=out) == 0
    printed = out.getvalue()
    assert "15 metadata updates" in printed
    for ticket in ("T-1001", "T-1002", "T-1003"):
        assert ticket in printed


def test_the_demo_leaves_global_tracing_alone():
    """Running the demo inside another program does not replace its global tracer provider."""
    before = trace.get_tracer_provider()
    assert run_demo(out=io.StringIO()) == 0
    assert trace.get_tracer_provider() is before


def test_the_demo_command_can_keep_its_store(tmp_path, capsys):
    """otel-scoring demo --db PATH leaves a store holding every demo score, user feedback included."""
    path = tmp_path / "demo.db"
    assert main(["demo", "--db", str(path)]) == 0
    assert "user-feedback" in capsys.readouterr().out
    with ScoreStore(path) as store:
        names = {s.name for s in store.scores()}
        feedback = store.scores(name="user-feedback")
    assert names == set(SCORE_NAMES)
    assert len(feedback) == 3 and all(s.trace_id for s in feedback)
