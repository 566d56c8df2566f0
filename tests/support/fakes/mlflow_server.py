"""A real MLflow tracking server, from the venv ``.ci/mlflow.sh`` installs.

It runs offline on a free port of 127.0.0.1 with its SQLite store and artifacts in a temp directory,
one worker, telemetry off. It accepts OTLP over HTTP at ``/v1/traces`` (with the
``x-mlflow-experiment-id`` header) and serves the REST API under ``/api``.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any, Dict

from support.fakes.server_process import ServerProcess, free_port, require_venv_executable, server_env

MLFLOW_VENV_ENV_VAR = "OTEL_SCORING_MLFLOW_VENV"  # test-only: where .ci/mlflow.sh installed MLflow
DEFAULT_VENV = ".ci/.mlflow-venv"
STARTUP_TIMEOUT_SECONDS = 120.0  # ~8 s on a quiet machine
EXPERIMENT_ID_HEADER = "x-mlflow-experiment-id"
DEFAULT_EXPERIMENT_ID = "0"


class MLflowServer(ServerProcess):
    def __init__(self, working_dir: Path) -> None:
        executable = require_venv_executable(MLFLOW_VENV_ENV_VAR, DEFAULT_VENV, "mlflow", ".ci/mlflow.sh")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [
            str(executable), "server",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--workers", "1",
            "--backend-store-uri", f"sqlite:///{working_dir / 'mlflow.db'}",
            "--default-artifact-root", str(working_dir / "artifacts"),
        ]
        env = server_env({"MLFLOW_TELEMETRY_ENABLED": "false", "DO_NOT_TRACK": "true"})
        super().__init__(
            argv,
            health_url=f"{self.url}/health",
            env=env,
            cwd=working_dir,
            log_path=working_dir / "mlflow.log",
            startup_timeout_seconds=STARTUP_TIMEOUT_SECONDS,
        )

    @property
    def otlp_traces_url(self) -> str:
        return f"{self.url}/v1/traces"

    @property
    def otlp_headers(self) -> Dict[str, str]:
        return {EXPERIMENT_ID_HEADER: DEFAULT_EXPERIMENT_ID}

    def trace_info(self, mlflow_trace_id: str) -> Dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/api/3.0/mlflow/traces/{mlflow_trace_id}", timeout=10) as response:
            return json.loads(response.read())["trace"]["trace_info"]
