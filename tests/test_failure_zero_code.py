"""Failure tests (a) and (c) in zero-code mode: an unmodified app under ``opentelemetry-instrument``
with ``OTEL_SCORING_ENABLED=true`` loses no score in the 10k-span burst, nor while the receiver is
killed mid-stream (with ``OTEL_SCORING_SPOOL_DIR``, and without one), exactly as ``configure()``
does in tests/test_failure_burst.py, tests/test_failure_receiver_restart.py and
tests/test_failure_defaults.py.

The app is a real ``opentelemetry-instrument python app.py`` subprocess using only the
OpenTelemetry API and otel-scoring's scoring calls; it exports over OTLP/gRPC to a real
``otel-scoring serve`` process, the same harness as the configure() tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
from support.delivery_support import ReceiverProcess, wait_for_stored

pytestmark = pytest.mark.slow

APP = """
import json, sys, time
from opentelemetry import trace
import otel_scoring
from otel_scoring.configuration import delivery_processor

tracer = trace.get_tracer("zero-code-failure")
sent = []
if sys.argv[1] == "burst":  # burst SPANS EVERY: SPANS spans, every EVERY-th scored
    spans, every = int(sys.argv[2]), int(sys.argv[3])
    for index in range(spans):
        if index % every:
            tracer.start_span("work").end()
            continue
        with tracer.start_as_current_span("scored-work"):
            score_id = f"zc-{index:05d}"
            otel_scoring.score_current_span(name="quality", value=0.5, score_id=score_id)
            sent.append(score_id)
else:  # stream SECONDS RATE: RATE scored spans a second for SECONDS
    print("streaming", flush=True)
    until = time.monotonic() + float(sys.argv[2])
    next_at = time.monotonic()
    while time.monotonic() < until:
        score_id = f"zc-stream-{len(sent):05d}"
        with tracer.start_as_current_span("step"):
            otel_scoring.score_current_span(name="quality", value=len(sent) % 100 / 100, score_id=score_id)
        sent.append(score_id)
        next_at += 1 / float(sys.argv[3])
        time.sleep(max(0.0, next_at - time.monotonic()))
provider = trace.get_tracer_provider()
provider.force_flush(30_000)
delivery = delivery_processor(provider)
deadline = time.monotonic() + 30  # a server stays up: give the spool time to drain before exiting
while delivery.stats.spool_pending and time.monotonic() < deadline:
    time.sleep(0.2)
print(json.dumps({"sent": sent, "stats": delivery.stats.as_dict()}), flush=True)
"""


def instrumented(app: Path, receiver: ReceiverProcess, *args: str, extra: Dict[str, str]) -> subprocess.Popen:
    command = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
    if command is None:
        pytest.fail("opentelemetry-instrument is not installed beside this Python; install the test extra: pip install -e '.[test]'")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "PYTHONPATH"))}
    env.update(
        {
            "OTEL_SCORING_ENABLED": "true",
            "OTEL_SERVICE_NAME": "zero-code-failure",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return subprocess.Popen([command, sys.executable, str(app), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result_of(process: subprocess.Popen, timeout: float = 120) -> dict:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_zero_code_burst_drops_plain_spans_but_never_a_score(tmp_path: Path, report_counts) -> None:
    """The 10k-span burst under opentelemetry-instrument stores every score; only plain spans are shed."""
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    db_path = tmp_path / "scores.db"
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        result = result_of(instrumented(app, receiver, "burst", "10000", "10", extra={}))
        stored = wait_for_stored(db_path, set(result["sent"]), timeout=30)
        receiver.stop()

    stats = result["stats"]
    report_counts(
        f"(c, zero-code) 10000-span burst, {len(result['sent'])} scored: scores sent={len(result['sent'])} stored={len(set(stored))} "
        f"duplicated={len(stored) - len(set(stored))}; plain spans shed={stats['dropped_plain']}"
    )
    assert sorted(stored) == sorted(result["sent"])
    assert stats["dropped_scored"] == 0


def test_zero_code_keeps_every_score_when_the_receiver_is_killed_mid_stream(tmp_path: Path, report_counts) -> None:
    """With OTEL_SCORING_SPOOL_DIR, a receiver SIGKILLed for 3 s mid-stream still ends up storing every score."""
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    db_path = tmp_path / "scores.db"
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        process = instrumented(app, receiver, "stream", "6", "100", extra={"OTEL_SCORING_SPOOL_DIR": str(tmp_path / "spool"), "OTEL_BSP_SCHEDULE_DELAY": "200"})
        assert process.stdout is not None and process.stdout.readline().strip() == "streaming"
        time.sleep(1.5)
        receiver.kill()
        time.sleep(3.0)
        receiver.start()  # the same ports
        result = result_of(process)
        stored = wait_for_stored(db_path, set(result["sent"]), timeout=30)
        receiver.stop()

    stats = result["stats"]
    report_counts(
        f"(a, zero-code) receiver killed for 3 s mid-stream: scores sent={len(result['sent'])} stored={len(set(stored))} "
        f"duplicated={len(stored) - len(set(stored))}; spooled={stats['spooled']} resent={stats['resent']}"
    )
    assert sorted(stored) == sorted(result["sent"])
    assert stats["dropped_scored"] == 0
    assert stats["spooled"] > 0  # the outage really happened while scores were flowing


def test_zero_code_20000_span_burst_every_span_scored_loses_no_score(tmp_path: Path, report_counts) -> None:
    """tests/test_failure_defaults.py's burst (20 000 spans, each scored) under opentelemetry-instrument: every score is stored."""
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    db_path = tmp_path / "scores.db"
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        result = result_of(instrumented(app, receiver, "burst", "20000", "1", extra={}))
        stored = wait_for_stored(db_path, set(result["sent"]), timeout=60)
        receiver.stop()

    report_counts(f"(d, zero-code) 20000-span burst, every span scored: scores sent={len(result['sent'])} stored={len(set(stored))} lost={len(set(result['sent']) - set(stored))}")
    assert set(stored) == set(result["sent"])
    assert result["stats"]["dropped_scored"] == 0


def test_zero_code_receiver_killed_for_5_s_under_200_scores_a_second_without_a_spool(tmp_path: Path, report_counts) -> None:
    """tests/test_failure_defaults.py's outage (200 scores/s for 20 s, receiver SIGKILLed for 5 s), no spool: every score is stored."""
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    db_path = tmp_path / "scores.db"
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:
        receiver.start()
        process = instrumented(app, receiver, "stream", "20", "200", extra={})
        assert process.stdout is not None and process.stdout.readline().strip() == "streaming"
        time.sleep(7.5)
        receiver.kill()
        time.sleep(5.0)
        receiver.start()
        result = result_of(process)
        stored = wait_for_stored(db_path, set(result["sent"]), timeout=60)
        receiver.stop()

    report_counts(
        f"(e, zero-code) receiver killed for 5 s under 200 scores/s, no spool: scores sent={len(result['sent'])} stored={len(set(stored))} "
        f"lost={len(set(result['sent']) - set(stored))}"
    )
    assert set(stored) == set(result["sent"])
    assert result["stats"]["dropped_scored"] == 0
