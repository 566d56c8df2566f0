"""The CLI on long work, as real processes: --version, a reader that closes the pipe early, and the
progress line drawn on a terminal's stderr (a real pseudo-terminal) but never on a pipe or with --quiet."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from importlib import metadata
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from otel_scoring import _progress
from otel_scoring.cli import CLOSED_PIPE_EXIT_CODE, main
from otel_scoring.environment_variables import LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY
from otel_scoring.store import ScoreStore
from otel_scoring.translate import Translation
from support.fakes.langfuse import FakeLangfuse
from support.large_files import write_collector_jsonl
from support.record_builders import score

PROCESS_TIMEOUT_SECONDS = 60
OLD = datetime.now(timezone.utc) - timedelta(days=40)
STORED_SCORES = 3000  # several pipe buffers of JSON lines


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "scores.db")
    with ScoreStore(path) as store:
        store.add(Translation(scores=[score(f"s-{n}", value=n / STORED_SCORES, at=OLD + timedelta(seconds=n), comment="x" * 80) for n in range(STORED_SCORES)]))
    return path


@pytest.fixture
def trace_file(tmp_path) -> Tuple[str, int]:
    path = tmp_path / "collector.jsonl"
    return str(path), write_collector_jsonl(path, requests=20, spans_per_request=100)


def _command(*argv: str) -> List[str]:
    return [sys.executable, "-m", "otel_scoring", *argv]


def _read_one_line_and_close(argv: Sequence[str]) -> Tuple[int, str, bytes]:
    """Run the command, read its first line of output, close the pipe as ``head -1`` does."""
    with subprocess.Popen(_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        err = process.stderr.read()
        return process.wait(timeout=PROCESS_TIMEOUT_SECONDS), err.decode(), first


def _run_with_terminal_stderr(argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> Tuple[int, str, str]:
    """Run the command with stderr on a pseudo-terminal (as in an interactive shell) and stdout in a
    file: (exit code, what the terminal showed, stdout)."""
    master, slave = pty.openpty()
    out = bytearray()
    with open(os.devnull, "rb") as stdin, subprocess.Popen(_command(*argv), stdin=stdin, stdout=subprocess.PIPE, stderr=slave, env=env) as process:
        os.close(slave)
        assert process.stdout is not None
        shown = bytearray()
        deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
        streams = {master: shown, process.stdout.fileno(): out}
        while streams and time.monotonic() < deadline:
            ready, _, _ = select.select(list(streams), [], [], 1.0)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the child has closed the terminal
                    data = b""
                if data:
                    streams[fd].extend(data)
                else:
                    del streams[fd]
        os.close(master)
        code = process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
    return code, shown.decode(), out.decode()


# --- --version ----------------------------------------------------------------------------------------


def test_version_prints_the_installed_version(capsys):
    """otel-scoring --version prints the installed package's version and exits 0."""
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"otel-scoring {metadata.version('otel-scoring')}\n"


# --- a reader that closes the pipe -----------------------------------------------------------------


@pytest.mark.slow
def test_scores_piped_into_head_exits_without_a_traceback(db):
    """`otel-scoring scores ... | head -1`: the first score arrives, then the command ends quietly with SIGPIPE's exit code."""
    code, err, first = _read_one_line_and_close(["scores", "--db", db, "--format", "json"])
    assert b'"id":"s-0"' in first
    assert err == "" and code == CLOSED_PIPE_EXIT_CODE


@pytest.mark.slow
def test_translate_piped_into_head_exits_without_a_traceback(trace_file):
    """`otel-scoring translate FILE | head -1`: the first record arrives, then the command ends quietly."""
    code, err, first = _read_one_line_and_close(["translate", trace_file[0]])
    assert first.startswith(b'{"record_type":"score"')
    assert err == "" and code == CLOSED_PIPE_EXIT_CODE


# --- the progress line ------------------------------------------------------------------------------


@pytest.mark.slow
def test_translate_shows_progress_on_a_terminal_and_writes_the_records_to_stdout(trace_file):
    """On a terminal, translate ends with a line of how many scores it read and how fast; stdout holds only records."""
    path, scores = trace_file
    code, shown, out = _run_with_terminal_stderr(["translate", path])
    assert code == 0
    assert f"otel-scoring translate: {scores:,} scores, 0 metadata update(s)" in shown and "scores/s)" in shown
    assert len(out.splitlines()) == scores and "otel-scoring" not in out


@pytest.mark.slow
def test_stats_prune_and_forward_show_progress_on_a_terminal(db, tmp_path, monkeypatch):
    """stats, prune and forward each end with a progress line of their counts on a terminal's stderr."""
    code, shown, out = _run_with_terminal_stderr(["stats", "--db", db, "--bucket", "1d"])
    assert code == 0 and f"otel-scoring stats: {STORED_SCORES:,} scores summarized, " in shown and "helpfulness" in out

    with FakeLangfuse(public_key="pk-lf-p", secret_key="sk-lf-p") as langfuse:
        env = {**os.environ, LANGFUSE_PUBLIC_KEY: "pk-lf-p", LANGFUSE_SECRET_KEY: "sk-lf-p"}
        code, shown, out = _run_with_terminal_stderr(["forward", "--db", db, "--to", f"langfuse={langfuse.url}"], env=env)
        assert code == 0 and f"otel-scoring forward: {STORED_SCORES:,} records forwarded, {STORED_SCORES:,} score(s)" in shown
        assert len(langfuse.scores) == STORED_SCORES

    code, shown, out = _run_with_terminal_stderr(["prune", "--db", db, "--older-than", "30d"])
    assert code == 0 and f"otel-scoring prune: {STORED_SCORES:,} records deleted in " in shown
    assert f"deleted {STORED_SCORES} score(s)" in out


@pytest.mark.slow
def test_no_progress_with_quiet_or_when_stderr_is_a_pipe(db, trace_file):
    """--quiet keeps a terminal free of progress; a piped stderr never gets any."""
    code, shown, _ = _run_with_terminal_stderr(["translate", trace_file[0], "--quiet"])
    assert code == 0 and shown == ""
    code, shown, _ = _run_with_terminal_stderr(["stats", "--db", db, "-q"])
    assert code == 0 and shown == ""
    result = subprocess.run(_command("prune", "--db", db, "--older-than", "30d"), capture_output=True, text=True, timeout=PROCESS_TIMEOUT_SECONDS)
    assert result.returncode == 0 and result.stderr == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_is_redrawn_in_place_with_a_rate(monkeypatch):
    """While work goes on, the line is redrawn over itself (carriage return, clear) with the counts and a rate."""
    monkeypatch.setattr(_progress, "REDRAW_SECONDS", 0.0)
    terminal = _Terminal()
    progress = _progress.Progress("translate", stream=terminal)
    time.sleep(0.01)
    progress.update(1500, "scores", 2, "file(s)")
    progress.update(3000, "scores", 4, "file(s)")
    progress.finish(3000, "scores", 4, "file(s)")
    drawn = terminal.getvalue().split("\r\x1b[K")[1:]
    assert drawn[0].startswith("otel-scoring translate: 1,500 scores, 2 file(s) (") and drawn[0].endswith(" scores/s)")
    assert drawn[1].startswith("otel-scoring translate: 3,000 scores, 4 file(s) (")
    assert drawn[-1].startswith("otel-scoring translate: 3,000 scores, 4 file(s) in ") and drawn[-1].endswith(" scores/s)\n")
