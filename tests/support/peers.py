"""The live peers' binaries: Jaeger v2 and the OpenTelemetry Collector, built by ``.ci/peers.sh``.

``.ci/peers.sh`` builds them from their Go modules into ``.ci/.peers/`` and links the current builds
as ``.ci/.peers/jaeger`` and ``.ci/.peers/otelcol``; ``OTEL_SCORING_JAEGER_BIN`` and
``OTEL_SCORING_OTELCOL_BIN`` (test-only) name other binaries. A missing binary skips the live tests
outside CI and fails them in CI, where ``.ci/run`` builds the peers and the tests must really run.

Running them: ``Jaeger(work_dir)`` runs collector-config/jaeger.yaml; ``Collector(config, work_dir,
env, overrides)`` runs a Collector config, its exporter endpoints from ``env`` (the configs read
them from ``${env:...}``) and any other setting from ``overrides`` (``{"a::b::c": "value"}``, as
``--config=yaml:`` takes them). Both move every receiver to a free loopback port, turn their own
telemetry off, keep their log in ``work_dir``, wait until ready (bounded) and stop on ``stop()`` /
leaving ``with``.
``validate_collector_config`` / ``validate_jaeger_config`` run each binary's ``validate``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import pytest
import yaml

from support.fakes.server_process import server_env

REPO_ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO_ROOT / ".ci" / ".peers"

JAEGER_BIN_ENV_VAR = "OTEL_SCORING_JAEGER_BIN"
OTELCOL_BIN_ENV_VAR = "OTEL_SCORING_OTELCOL_BIN"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _require_binary(env_var: str, name: str) -> Path:
    path = Path(os.environ.get(env_var) or PEERS_DIR / name)
    if os.access(path, os.X_OK) and path.is_file():
        return path.resolve()
    reason = f"{path} is not built: run .ci/peers.sh {name} (or set {env_var})"
    if in_ci():
        pytest.fail(f"CI must run the live-peer tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def jaeger_binary() -> Path:
    """Jaeger v2 (``cmd/jaeger``), or skip/fail as the module docstring says."""
    return _require_binary(JAEGER_BIN_ENV_VAR, "jaeger")


def collector_binary() -> Path:
    """The Collector built from ``collector-config/builder-config.yaml``, or skip/fail."""
    return _require_binary(OTELCOL_BIN_ENV_VAR, "otelcol")


# --- Running them ------------------------------------------------------------------------------------

CONFIG_DIR = REPO_ROOT / "collector-config"
JAEGER_CONFIG = CONFIG_DIR / "jaeger.yaml"
STARTUP_TIMEOUT_SECONDS = 60.0
COMMAND_TIMEOUT_SECONDS = 60.0
# What the Collector logs once every pipeline is up (service.go); its configs carry no health
# check extension, so readiness is read from its log.
COLLECTOR_READY_LINE = "Everything is ready. Begin running and processing data."


def free_port() -> int:
    """A port free on 127.0.0.1 now (the peer binds it a moment later; the race is tiny)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PeerProcess:
    """A peer binary running until ``stop()``: its log in ``log_path``, up once ``ready()`` holds."""

    def __init__(self, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str], ready: Callable[["PeerProcess"], bool]) -> None:
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_path
        self._ready = ready
        self._log = open(log_path, "wb")
        self._process: Optional[subprocess.Popen] = subprocess.Popen(
            self.argv, env=server_env(dict(env)), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=log_path.parent
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self._process.returncode}:\n{self.log_tail()}")
            if self._ready(self):
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.argv[0]} was not ready within {STARTUP_TIMEOUT_SECONDS}s:\n{self.log_tail()}")

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._log.close()

    def __enter__(self) -> "PeerProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Jaeger(PeerProcess):
    """Jaeger v2 running collector-config/jaeger.yaml with its listeners moved to free loopback ports."""

    def __init__(self, work_dir: Path) -> None:
        self.otlp_grpc_endpoint = f"127.0.0.1:{free_port()}"  # host:port, as the Collector's exporters take it
        otlp_http = f"127.0.0.1:{free_port()}"
        self.otlp_traces_url = f"http://{otlp_http}/v1/traces"
        query_http, query_grpc = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        self.query_url = f"http://{query_http}"  # UI and HTTP query API: /api/traces, /api/v3/traces
        config = yaml.safe_load(JAEGER_CONFIG.read_text(encoding="utf-8"))
        config["receivers"]["otlp"]["protocols"] = {"grpc": {"endpoint": self.otlp_grpc_endpoint}, "http": {"endpoint": otlp_http}}
        query = config["extensions"]["jaeger_query"]
        query["http"], query["grpc"] = {"endpoint": query_http}, {"endpoint": query_grpc}
        assert query["enable_tracing"] is False and config["service"]["telemetry"]["metrics"]["level"] == "none"
        self.config_path = work_dir / "jaeger.yaml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        super().__init__([jaeger_binary(), "--config", self.config_path], log_path=work_dir / "jaeger.log", env={}, ready=lambda _: self._answers())

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.query_url}/api/services", timeout=2) as response:
                return response.status == 200 and accepts_connections(self.otlp_grpc_endpoint)
        except (urllib.error.URLError, OSError):
            return False


def accepts_connections(endpoint: str) -> bool:
    """Whether something listens on ``host:port`` now."""
    host, _, port = endpoint.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def loopback_overrides(config_path: Path) -> Dict[str, str]:
    """Free loopback endpoints for every OTLP receiver protocol in ``config_path`` (which binds
    0.0.0.0:4317/4318 for containers), keyed by the ``--config yaml:`` path that sets each."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    overrides = {}
    for receiver, settings in (config.get("receivers") or {}).items():
        for protocol in (settings or {}).get("protocols") or {}:
            overrides[f"receivers::{receiver}::protocols::{protocol}::endpoint"] = f"127.0.0.1:{free_port()}"
    return overrides


def collector_args(config_path: Path, overrides: Mapping[str, str]) -> List[str]:
    # The Collector's own telemetry is off: its default metrics listener is 127.0.0.1:8888, a fixed port.
    settings = {"service::telemetry::metrics::level": "none", **overrides}
    return ["--config", str(config_path)] + [f"--config=yaml:{key}: {value}" for key, value in settings.items()]


class Collector(PeerProcess):
    """The built Collector running ``config_path`` (exporter endpoints from ``env``), its OTLP
    receivers on free loopback ports: ``otlp_grpc_endpoint`` / ``otlp_traces_url``."""

    def __init__(self, config_path: Path, work_dir: Path, env: Mapping[str, str], overrides: Optional[Mapping[str, str]] = None) -> None:
        endpoints = loopback_overrides(config_path)
        self.otlp_grpc_endpoint = endpoints.get("receivers::otlp::protocols::grpc::endpoint", "")
        http = endpoints.get("receivers::otlp::protocols::http::endpoint", "")
        self.otlp_traces_url = f"http://{http}/v1/traces" if http else ""
        argv = [collector_binary(), *collector_args(config_path, {**endpoints, **(overrides or {})})]
        super().__init__(argv, log_path=work_dir / f"{config_path.stem}.log", env=env, ready=lambda peer: COLLECTOR_READY_LINE in peer.log_text())


def validate_collector_config(config_path: Path, env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
    """``otelcol-scoring validate`` of ``config_path``: return code 0 when the Collector would start it."""
    return _run([collector_binary(), "validate", "--config", config_path], env)


def validate_jaeger_config(config_path: Path, env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
    """``jaeger validate`` of ``config_path``."""
    return _run([jaeger_binary(), "validate", "--config", config_path], env)


def _run(argv: Sequence[object], env: Optional[Mapping[str, str]]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(arg) for arg in argv], env=server_env(dict(env or {})), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL
    )
