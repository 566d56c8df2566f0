"""A real Arize Phoenix server for the ``phoenix`` tests, from the venv ``.ci/phoenix.sh`` installs.

Phoenix runs offline: telemetry off, no external resources, its SQLite database in a temp working
directory, HTTP and gRPC bound to free ports on 127.0.0.1. It accepts OTLP over HTTP at
``/v1/traces`` and serves its REST API under ``/v1``.
"""

from __future__ import annotations

import json
import time
import uuid
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from support.fakes.server_process import ServerProcess, free_port, require_venv_executable, server_env

PHOENIX_VENV_ENV_VAR = "OTEL_SCORING_PHOENIX_VENV"  # test-only: where .ci/phoenix.sh installed Phoenix
DEFAULT_VENV = ".ci/.phoenix-venv"
STARTUP_TIMEOUT_SECONDS = 120.0  # ~15 s on a quiet machine; CI runners are slower


class PhoenixServer(ServerProcess):
    """``admin_secret`` turns Phoenix's authentication on; the secret is then the bearer token
    (Phoenix's ``PHOENIX_ADMIN_SECRET``) that every request, OTLP exports included, must carry."""

    def __init__(self, working_dir: Path, *, admin_secret: Optional[str] = None) -> None:
        executable = require_venv_executable(PHOENIX_VENV_ENV_VAR, DEFAULT_VENV, "phoenix", ".ci/phoenix.sh")
        port, grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = server_env({
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(grpc_port),
            "PHOENIX_WORKING_DIR": str(working_dir),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        })
        self.headers: Dict[str, str] = {}
        if admin_secret is not None:
            env.update({
                "PHOENIX_ENABLE_AUTH": "true",
                "PHOENIX_SECRET": f"jwt-signing-{uuid.uuid4().hex}",
                "PHOENIX_ADMIN_SECRET": admin_secret,
            })
            self.headers["Authorization"] = f"Bearer {admin_secret}"
        super().__init__(
            [str(executable), "serve"],
            health_url=f"{self.url}/healthz",
            env=env,
            cwd=working_dir,
            log_path=working_dir / "phoenix.log",
            startup_timeout_seconds=STARTUP_TIMEOUT_SECONDS,
        )

    @property
    def otlp_traces_url(self) -> str:
        return f"{self.url}/v1/traces"

    def get(self, path: str, **query: Any) -> Any:
        url = f"{self.url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        with urllib.request.urlopen(urllib.request.Request(url, headers=self.headers), timeout=10) as response:
            return json.loads(response.read())

    def annotations(self, kind: str, ids: Iterable[str], project: str = "default") -> List[Dict[str, Any]]:
        """Annotations of ``kind`` (span, trace, session) on these ids, as Phoenix's REST API lists them."""
        try:
            reply = self.get(f"/v1/projects/{project}/{kind}_annotations", **{f"{kind}_ids": list(ids), "limit": 1000})
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            error.close()
            return []  # the project does not exist yet: no span has arrived
        return reply["data"]

    def wait_for_spans(self, span_ids: Iterable[str], project: str = "default", timeout_seconds: float = 30.0) -> None:
        """Wait until Phoenix has stored these spans (it ingests OTLP asynchronously)."""
        wanted = set(span_ids)
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                spans = self.get(f"/v1/projects/{project}/spans", limit=1000)["data"]
            except urllib.error.HTTPError as error:
                if error.code != 404:  # 404: no span has created the project yet
                    raise
                error.close()
                spans = []
            stored = {span["context"]["span_id"] for span in spans}
            if wanted <= stored:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Phoenix did not store spans {sorted(wanted - stored)} within {timeout_seconds}s")
            time.sleep(0.3)
