"""Run a real server (Phoenix, MLflow) from its own venv for the length of a test module.

The server binds 127.0.0.1 on ports picked free just before it starts, logs to a file in a temp
directory, gets a bounded time to answer its health check, and is terminated (then killed) in
teardown. A venv that is not installed skips the tests outside CI and fails them in CI, where
``.ci/run`` installs it and the tests must really run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Optional, Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_venv_executable(venv_env_var: str, default_venv: str, executable: str, install_hint: str) -> Path:
    """The server's executable, or skip (outside CI) / fail (in CI) with how to install it."""
    venv = Path(os.environ.get(venv_env_var) or REPO_ROOT / default_venv)
    path = venv / "bin" / executable
    if path.exists():
        return path
    reason = f"{executable} is not installed in {venv}: run {install_hint} (or set {venv_env_var})"
    if in_ci():
        pytest.fail(f"CI must run these tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A port free on 127.0.0.1 now (the server binds it a moment later; the race is tiny)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A subprocess that is up once ``health_url`` answers 200."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        health_url: str,
        env: Dict[str, str],
        cwd: Path,
        log_path: Path,
        startup_timeout_seconds: float = 120.0,
    ) -> None:
        self.argv = list(argv)
        self.health_url = health_url
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.startup_timeout_seconds = startup_timeout_seconds
        self._process: Optional[subprocess.Popen] = None

    def __enter__(self) -> "ServerProcess":
        with open(self.log_path, "wb") as log:
            # Its own process group, so teardown also ends the workers it starts (MLflow runs uvicorn).
            self._process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_seconds
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.argv[0]} did not answer {self.health_url} within {self.startup_timeout_seconds}s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        self._signal_group(process, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(process, signal.SIGKILL)  # whatever of the group is left
        process.wait(10)

    @staticmethod
    def _signal_group(process: subprocess.Popen, signum: int) -> None:
        try:
            os.killpg(process.pid, signum)  # the group started with the process: same id
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def server_env(extra: Dict[str, str]) -> Dict[str, str]:
    """The environment for a server process: ours minus proxies and venv, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy", "virtual_env", "pythonpath"}}
    env.update(extra)
    return env
