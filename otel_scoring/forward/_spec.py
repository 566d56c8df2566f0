"""``build_forwarder("phoenix=http://localhost:6006")``: a forwarder from a command-line spec."""

from __future__ import annotations

from typing import Callable, Dict, Optional

from otel_scoring.forward._base import Forwarder
from otel_scoring.forward._http import DEFAULT_TIMEOUT_SECONDS, RetryPolicy
from otel_scoring.forward.langfuse import LangfuseForwarder
from otel_scoring.forward.mlflow import MLflowForwarder
from otel_scoring.forward.phoenix import PhoenixForwarder

_FACTORIES: Dict[str, Callable[..., Forwarder]] = {
    "phoenix": PhoenixForwarder,
    "mlflow": MLflowForwarder,
    "langfuse": LangfuseForwarder,
}

DESTINATIONS = tuple(_FACTORIES)


def build_forwarder(
    spec: str,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    retry_policy: Optional[RetryPolicy] = None,
) -> Forwarder:
    """A forwarder from ``destination=URL`` (``phoenix=``, ``mlflow=``, ``langfuse=``).

    The URL may be left out (``phoenix``) to use the destination's own environment variable
    (``PHOENIX_COLLECTOR_ENDPOINT``, ``MLFLOW_TRACKING_URI``, ``LANGFUSE_BASE_URL``). Credentials
    always come from environment variables, never from the spec, so they stay out of shell history
    and process lists. Raises ``ValueError`` naming the problem.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("empty forward destination: expected phoenix=URL, mlflow=URL or langfuse=URL")
    name, _, url = spec.partition("=")
    destination = name.strip().lower()
    factory = _FACTORIES.get(destination)
    if factory is None:
        raise ValueError(
            f"unknown forward destination {name.strip()!r} in {spec!r}: expected one of "
            + ", ".join(f"{known}=URL" for known in DESTINATIONS)
        )
    return factory(url.strip() or None, timeout_seconds=timeout_seconds, retry_policy=retry_policy)
