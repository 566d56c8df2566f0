"""The live peers' binaries: Jaeger v2 and the OpenTelemetry Collector, built by ``.ci/peers.sh``.

``.ci/peers.sh`` builds them from their Go modules into ``.ci/.peers/`` and links the current builds
as ``.ci/.peers/jaeger`` and ``.ci/.peers/otelcol``; ``OTEL_SCORING_JAEGER_BIN`` and
``OTEL_SCORING_OTELCOL_BIN`` (test-only) name other binaries. A missing binary skips the live tests
outside CI and fails them in CI, where ``.ci/run`` builds the peers and the tests must really run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
