"""Failure test (b): the app is SIGKILLed while the receiver is down; its spooled scores arrive after a restart.

The counts appear in the run's "scores through failures" summary.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.delivery_support import ReceiverProcess, subprocess_env, wait_for_stored

pytestmark = pytest.mark.slow

APP = r"""
import json
import sys
import time

import otel_scoring
from otel_scoring.configuration import delivery_processor

endpoint, spool_dir, prefix, count, mode = sys.argv[1:6]
provider = otel_scoring.configure(service_name="killed-app", endpoint=endpoint, protocol="http/protobuf", spool_dir=spool_dir)
tracer = provider.get_tracer("app")
for index in range(int(count)):
    with tracer.start_as_current_span("step"):
        otel_scoring.score_current_span(name="quality", value=index / 100, score_id=f"{prefix}-{index:04d}")
delivery = delivery_processor(provider)
flushed = provider.force_flush(20000)  # with the receiver down this fails and spools the scores
print(json.dumps({"flushed": flushed, **delivery.stats.as_dict()}), flush=True)
if mode == "wait-for-sigkill":
    time.sleep(60)  # the test kills it long before; bounded if it does not
    sys.exit(3)
"""

FIRST_RUN_SCORES = 40
SECOND_RUN_SCORES = 10


def read_line(process: subprocess.Popen, timeout: float) -> str:
    """One line of the process's stdout, or TimeoutError: never blocks past ``timeout``."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no output from the app within {timeout} s")
    return process.stdout.readline().decode()


def test_scores_spooled_by_a_killed_app_are_delivered_exactly_once_after_restart(tmp_path: Path, report_counts) -> None:
    """Scores an app spooled before SIGKILL reach the store when it restarts, each exactly once, with its new scores."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    spool_dir = tmp_path / "spool"
    db_path = tmp_path / "scores.db"
    with ReceiverProcess(db_path, tmp_path / "receiver.log") as receiver:  # not started: the collector is down
        first = subprocess.Popen(
            [sys.executable, str(app), receiver.http_endpoint, str(spool_dir), "first", str(FIRST_RUN_SCORES), "wait-for-sigkill"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its one warning: the receiver is down, scores are spooled
            env=subprocess_env(),
        )
        try:
            first_stats = json.loads(read_line(first, timeout=30))
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            first.stdout.close()
        spool_files = [name for name in spool_dir.iterdir() if not name.name.startswith(".")]
        assert first_stats["flushed"] is False and first_stats["spooled"] == FIRST_RUN_SCORES

        receiver.start()
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, str(app), receiver.http_endpoint, str(spool_dir), "second", str(SECOND_RUN_SCORES), "deliver"],
            capture_output=True,
            env=subprocess_env(),
            timeout=60,
        )
        assert second.returncode == 0, second.stderr.decode()
        second_stats = json.loads(second.stdout.decode().splitlines()[-1])
        expected = {f"first-{i:04d}" for i in range(FIRST_RUN_SCORES)} | {f"second-{i:04d}" for i in range(SECOND_RUN_SCORES)}
        stored = wait_for_stored(db_path, expected, timeout=20)
        receiver.stop()

    report_counts(
        f"(b) app SIGKILLed with the receiver down ({len(spool_files)} spool files), restarted: "
        f"scores sent={len(expected)} stored={len(set(stored))} duplicated={len(stored) - len(set(stored))} "
        f"(resent from spool={second_stats['resent']}, restart delivered in {time.monotonic() - started:.1f} s)"
    )
    assert sorted(stored) == sorted(expected)
    assert second_stats["flushed"] is True and second_stats["resent"] == FIRST_RUN_SCORES
    assert [name for name in spool_dir.iterdir() if not name.name.startswith(".")] == []
