"""N ``otel-scoring serve`` processes behind a real Collector's load_balancing exporter, for the
scale-out tests and benchmark: each receiver on its own free loopback ports, all writing one store;
the Collector (tests/support/peers.py) runs collector-config/collector-loadbalancing.yaml with its
ports and backend list overridden on the command line, so the file tested is the file users deploy.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from support.peers import Collector, accepts_connections

REPO_ROOT = Path(__file__).resolve().parents[2]
LOAD_BALANCING_CONFIG = REPO_ROOT / "collector-config" / "collector-loadbalancing.yaml"
RECORDING_SERVE = Path(__file__).resolve().parent / "recording_serve.py"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


def free_ports(count: int) -> List[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _wait_listening(process: subprocess.Popen, ports: Sequence[int], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not all(accepts_connections(f"127.0.0.1:{port}") for port in ports):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{what} did not listen within {START_TIMEOUT_SECONDS} s: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


def _stop(process: Optional[subprocess.Popen]) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_SECONDS)


class ScaleOutReceiver:
    """``otel-scoring serve --db DB`` on fixed free ports (so it restarts on them), noting each
    stored batch in ``records-<n>-<life>.jsonl`` (tests/support/recording_serve.py)."""

    def __init__(self, number: int, db: str, workdir: Path) -> None:
        self.number = number
        self.db = db
        self.workdir = workdir
        self.grpc_port, self.http_port = free_ports(2)
        self.log = workdir / f"receiver-{number}.log"
        self.lives = 0
        self._process: Optional[subprocess.Popen] = None

    @property
    def backend(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def record_path(self, life: int) -> Path:
        return self.workdir / f"records-{self.number}-{life}.jsonl"

    def start(self) -> None:
        self.lives += 1
        command = [sys.executable, str(RECORDING_SERVE), "serve", "--db", self.db, "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port)]
        env = {**os.environ, "OTEL_SCORING_TEST_RECORD": str(self.record_path(self.lives))}
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        _wait_listening(self._process, (self.grpc_port, self.http_port), self.log, f"receiver {self.number}")

    @property
    def pid(self) -> Optional[int]:
        return None if self._process is None else self._process.pid

    def stop(self) -> None:
        """SIGTERM (serve stops accepting, finishes the requests it has, closes the store)."""
        _stop(self._process)
        self._process = None

    def records(self, life: Optional[int] = None) -> List[Dict[str, List[str]]]:
        lives = [life] if life is not None else range(1, self.lives + 1)
        lines: List[Dict[str, List[str]]] = []
        for n in lives:
            path = self.record_path(n)
            if path.exists():
                lines.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
        return lines

    def traces(self, life: Optional[int] = None) -> set:
        return {trace for line in self.records(life) for trace in line["traces"]}


def load_balancing_collector(backends: Sequence[str], work_dir: Path) -> Collector:
    """The Collector running collector-config/collector-loadbalancing.yaml, its OTLP receivers on
    free loopback ports (``otlp_grpc_endpoint``) and its backend list ``backends``."""
    return Collector(LOAD_BALANCING_CONFIG, work_dir, env={}, overrides={"exporters::load_balancing::resolver::static::hostnames": f"[{', '.join(backends)}]"})
