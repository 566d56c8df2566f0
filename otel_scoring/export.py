"""OTLP export settings, in one home: protocol, endpoint, headers, compression, timeout, TLS.

Each resolves as the stock OTLP exporters resolve it: the keyword, then the
``OTEL_EXPORTER_OTLP_TRACES_*`` variable, then the ``OTEL_EXPORTER_OTLP_*`` one, then the
default. :class:`~otel_scoring.delivery.OTLPTraceSender` (what ``configure()`` exports with)
reads them here. Under ``opentelemetry-instrument``, export with the stock exporter
(``OTEL_TRACES_EXPORTER=otlp``, the default), which reads the same variables.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Mapping, Optional, Tuple, Union
from urllib.parse import urlparse

from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_INSECURE,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_INSECURE,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
)
from opentelemetry.util.re import parse_env_headers

from otel_scoring._settings import is_otel_true

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_GRPC_ENDPOINT",
    "DEFAULT_HTTP_ENDPOINT",
    "DEFAULT_TIMEOUT_SECONDS",
    "GRPC",
    "HTTP_PROTOBUF",
    "PROTOCOLS",
    "TRACES_PATH",
    "Headers",
    "TlsFiles",
    "grpc_target",
    "http_traces_url",
    "resolve_compression",
    "resolve_headers",
    "resolve_protocol",
    "resolve_timeout",
    "tls_files",
]

_logger = logging.getLogger(__name__)

GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"
PROTOCOLS = (GRPC, HTTP_PROTOBUF)
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
TRACES_PATH = "/v1/traces"
DEFAULT_TIMEOUT_SECONDS = 10.0
COMPRESSIONS = ("gzip", "deflate", "none")

Headers = Union[Mapping[str, str], str, None]


class TlsFiles:
    """Paths of the CA certificate, client key and client certificate (each None when unset)."""

    __slots__ = ("certificate", "client_key", "client_certificate")

    def __init__(self, certificate: Optional[str], client_key: Optional[str], client_certificate: Optional[str]) -> None:
        self.certificate = certificate
        self.client_key = client_key
        self.client_certificate = client_certificate


def _env(*names: str) -> Optional[str]:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_protocol(protocol: Optional[str] = None) -> str:
    """Keyword, then ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, then ``OTEL_EXPORTER_OTLP_PROTOCOL``, then grpc."""
    chosen = protocol or os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or os.environ.get(OTEL_EXPORTER_OTLP_PROTOCOL) or GRPC
    chosen = chosen.strip().lower()
    if chosen not in PROTOCOLS:
        raise ValueError(f"unsupported OTLP protocol {chosen!r}; expected one of {', '.join(PROTOCOLS)}")
    return chosen


def resolve_headers(headers: Headers) -> Dict[str, str]:
    """A mapping (keys lower-cased, as gRPC metadata needs) or ``"k1=v1,k2=v2"``, parsed as the SDK parses the variables."""
    if headers is None:
        headers = _env(OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_HEADERS)
    if headers is None:
        return {}
    if isinstance(headers, str):
        return dict(parse_env_headers(headers, liberal=True))
    return {str(key).lower(): str(value) for key, value in headers.items()}


def resolve_timeout(timeout: Optional[float]) -> float:
    """Seconds one export may take; a bad keyword raises, a bad variable warns and the default applies."""
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        return float(timeout)
    raw = _env(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT)
    if raw is None:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        parsed = float(raw)
    except ValueError:
        parsed = 0.0
    if parsed <= 0:
        _logger.warning("Unable to parse OTLP timeout %r as positive seconds. Defaulting to %s.", raw, DEFAULT_TIMEOUT_SECONDS)
        return DEFAULT_TIMEOUT_SECONDS
    return parsed


def resolve_compression(compression: Optional[str]) -> str:
    """``gzip``, ``deflate`` or ``none``; a bad keyword raises, a bad variable warns and none applies."""
    chosen = (compression or _env(OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION) or "none").strip().lower()
    if chosen not in COMPRESSIONS:
        if compression is not None:
            raise ValueError(f"unsupported OTLP compression {chosen!r}; expected one of {', '.join(COMPRESSIONS)}")
        _logger.warning("Unable to parse OTLP compression %r. Defaulting to none.", chosen)
        return "none"
    return chosen


def grpc_target(endpoint: Optional[str], insecure: Optional[bool]) -> Tuple[str, bool]:
    """The gRPC ``host:port`` and whether to skip TLS, by the stock gRPC exporter's rules: https
    means TLS; otherwise ``insecure``, then the ``*_INSECURE`` variable, then an http:// scheme
    means plaintext."""
    raw = endpoint or _env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT) or DEFAULT_GRPC_ENDPOINT
    parsed = urlparse(raw)
    if parsed.scheme == "https":
        insecure = False
    if insecure is None:
        env_insecure = _env(OTEL_EXPORTER_OTLP_TRACES_INSECURE, OTEL_EXPORTER_OTLP_INSECURE)
        insecure = is_otel_true(env_insecure) if env_insecure is not None else parsed.scheme == "http"
    return parsed.netloc or raw, insecure


def http_traces_url(endpoint: Optional[str]) -> str:
    """The OTLP/HTTP traces URL: a base URL gets ``/v1/traces``; the signal variable is used as is."""
    if endpoint is not None:
        return endpoint if endpoint.rstrip("/").endswith(TRACES_PATH) else endpoint.rstrip("/") + TRACES_PATH
    signal_url = _env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    return signal_url or (_env(OTEL_EXPORTER_OTLP_ENDPOINT) or DEFAULT_HTTP_ENDPOINT).rstrip("/") + TRACES_PATH


def tls_files() -> TlsFiles:
    """The TLS files the ``*_CERTIFICATE``, ``*_CLIENT_KEY`` and ``*_CLIENT_CERTIFICATE`` variables name."""
    return TlsFiles(
        _env(OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, OTEL_EXPORTER_OTLP_CERTIFICATE),
        _env(OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, OTEL_EXPORTER_OTLP_CLIENT_KEY),
        _env(OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE),
    )
