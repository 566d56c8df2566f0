"""A throwaway PostgreSQL cluster for the tests: initdb in a temp dir, one server per session.

Debian's ``postgresql`` package provides the binaries (``.ci/run`` installs it when missing);
``OTEL_SCORING_PG_BIN`` (test-only) names another ``bin`` directory. The server listens on a free
loopback port with its unix socket in the temp dir, runs as an unprivileged user (``nobody`` when
the tests run as root: PostgreSQL refuses to run as root), and is stopped when the session ends.
Each test gets a database of its own. A missing PostgreSQL or psycopg skips the tests outside CI and
fails them in CI, like the other live peers (tests/support/peers.py).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from support.peers import in_ci

PG_BIN_ENV_VAR = "OTEL_SCORING_PG_BIN"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
_UNPRIVILEGED_USER = "nobody"


def _skip_or_fail(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI must run the PostgreSQL tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_bin_dir() -> Optional[Path]:
    configured = os.environ.get(PG_BIN_ENV_VAR)
    candidates = [configured] if configured else sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if candidate and os.access(Path(candidate) / "postgres", os.X_OK) and os.access(Path(candidate) / "initdb", os.X_OK):
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """A server on a cluster in ``root`` (a directory of its own: it is handed to the server's user
    and deleted by ``stop()``): ``url(database)`` connects to it; ``new_database()`` makes an empty one."""

    def __init__(self, bin_dir: Path, root: Path, fsync: bool = False) -> None:
        self.bin_dir = bin_dir
        self.fsync = fsync
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self._process: Optional[subprocess.Popen] = None
        self._names = itertools.count(1)

    @staticmethod
    def _user() -> Optional[str]:
        # Popen switches user itself (no runuser in between), so the server gets the stop signal.
        return _UNPRIVILEGED_USER if os.geteuid() == 0 else None

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user=_UNPRIVILEGED_USER)
        subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            user=self._user(), cwd=self.root, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=START_TIMEOUT_SECONDS,
        )
        log = open(self.root / "postgres.log", "wb")
        # fsync off for the tests: a throwaway cluster need not survive a power cut, and they run
        # faster; on for the benchmark, as a deployment runs it.
        self._process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
                "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=100",
            ],
            user=self._user(), cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}: {(self.root / 'postgres.log').read_text(errors='replace')[-2000:]}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    @property
    def pid(self) -> Optional[int]:
        """The postmaster's process id (each connection is served by a child of it)."""
        return None if self._process is None else self._process.pid

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete the cluster's directory."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
            try:
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the session, or skip/fail as the module docstring says."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _skip_or_fail("psycopg 3 is not installed: pip install -e '.[test]' (it is in the postgres extra)")
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        _skip_or_fail(f"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): apt-get install -y postgresql, or set {PG_BIN_ENV_VAR}")
    cluster = PostgresCluster(bin_dir, Path(tempfile.mkdtemp(prefix="otel-scoring-pg-")))  # type: ignore[arg-type]
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A ``postgresql://`` URL of an empty database of this test's own."""
    return postgres_cluster.new_database()
