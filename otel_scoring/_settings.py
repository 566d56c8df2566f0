"""Resolve a setting: keyword argument, then environment variable, then default."""

from __future__ import annotations

import logging
import os
from typing import Optional

_logger = logging.getLogger(__name__)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def parse_bool(raw: str) -> Optional[bool]:
    """``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``/empty, any case; else None."""
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def is_otel_true(raw: str) -> bool:
    """OpenTelemetry's rule for its own boolean variables (``OTEL_EXPORTER_OTLP_INSECURE``): only
    ``true``, any case, is true. Read the SDK's variables as the SDK's exporters do, so one
    setting never means two things; otel-scoring's own variables take :func:`parse_bool`."""
    return raw.strip().lower() == "true"


def resolve_bool(value: Optional[bool], env_var: str, default: bool) -> bool:
    if value is not None:
        return bool(value)
    raw = os.environ.get(env_var)
    if raw is None:
        return default
    parsed = parse_bool(raw)
    if parsed is None:
        _logger.warning("Unable to parse %s=%r as a boolean. Defaulting to %s.", env_var, raw, default)
        return default
    return parsed


def resolve_int(value: Optional[int], env_var: str, default: int, minimum: int = 1) -> int:
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return value
    raw = os.environ.get(env_var)
    if raw is None or not raw.strip():
        return default
    try:
        parsed = int(raw)
    except ValueError:
        parsed = minimum - 1
    if parsed < minimum:
        _logger.warning("Unable to parse %s=%r as an integer >= %d. Defaulting to %d.", env_var, raw, minimum, default)
        return default
    return parsed


def resolve_str(value: Optional[str], env_var: str, default: Optional[str] = None) -> Optional[str]:
    if value is not None:
        return value
    raw = os.environ.get(env_var)
    return raw if raw else default
