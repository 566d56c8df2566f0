"""Shared pieces of the hostile-input, fuzz and security tests of the embedded receiver.

Real exports are recorded through a real ``TracerProvider`` with ``ScoringSpanProcessor`` and an
``InMemorySpanExporter``; requests go over real loopback sockets (raw ones where a well-behaved
client library would refuse to send what a hostile client sends).
"""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoringSpanProcessor, schema

TIMEOUT_SECONDS = 10.0
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


# --- Exports ------------------------------------------------------------------------------------------


def require_ipv6_loopback() -> None:
    """Skip the calling test, saying why, on a machine whose loopback has no IPv6 (``::1``)."""
    probe = socket.socket(socket.AF_INET6)
    try:
        probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    finally:
        probe.close()


def recorded_request(record: Callable[[], None], span_name: str = "hostile-input-test") -> ExportTraceServiceRequest:
    """The OTLP request the SDK exports for one root span inside which ``record()`` ran."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "hostile-input-test"}))
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("tests").start_as_current_span(span_name):
            record()
    finally:
        provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def scored_request(name: str, value: float = 0.5, **score: object) -> ExportTraceServiceRequest:
    """A request whose one span carries one span score called ``name``."""
    return recorded_request(lambda: otel_scoring.score_current_span(name=name, value=value, **score))


def score_event_attributes(request: ExportTraceServiceRequest):
    """The repeated KeyValue of the (first) score event in ``request``, to be tampered with."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                for event in span.events:
                    if event.name == schema.EVALUATION_RESULT_EVENT:
                        return event.attributes
    raise AssertionError("the request holds no score event")


def set_string_attribute(key_values, key: str, value: str) -> None:
    """Overwrite (or add) string attribute ``key``."""
    for kv in key_values:
        if kv.key == key:
            kv.value.string_value = value
            return
    key_values.add(key=key).value.string_value = value


# --- OTLP/HTTP ----------------------------------------------------------------------------------------


def http_request(
    port: int,
    body: bytes = b"",
    content_type: Optional[str] = "application/x-protobuf",
    *,
    method: str = "POST",
    path: str = "/v1/traces",
    headers: Optional[Dict[str, str]] = None,
    tls: Optional[ssl.SSLContext] = None,
    source: Optional[str] = None,
) -> Tuple[int, Dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one request on a fresh connection, from the
    loopback address ``source`` when given (``127.0.0.2``: another peer of the receiver)."""
    bind = None if source is None else (source, 0)
    if tls is None:
        connection: http.client.HTTPConnection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS, source_address=bind)
    else:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS, context=tls, source_address=bind)
    sent = dict(headers or {})
    if content_type is not None:
        sent.setdefault("Content-Type", content_type)
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw_exchange(port: int, data: bytes, *, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """Send ``data`` as-is, then read until the server closes the connection; returns what it said."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        return read_until_closed(connection)


def read_until_closed(connection: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response."""
    status_line = response.split(b"\r\n", 1)[0]
    if not status_line.startswith(b"HTTP/1.1 "):
        raise AssertionError(f"not an HTTP/1.1 response: {response[:200]!r}")
    return int(status_line.split()[1])


# --- OTLP/gRPC ----------------------------------------------------------------------------------------


def grpc_status(
    target: str,
    message: bytes,
    *,
    metadata: Sequence[Tuple[str, str]] = (),
    compression: Optional[grpc.Compression] = None,
    credentials: Optional[grpc.ChannelCredentials] = None,
) -> grpc.StatusCode:
    """The status of TraceService/Export called with raw ``message`` bytes."""
    channel = grpc.insecure_channel(target) if credentials is None else grpc.secure_channel(target, credentials)
    with channel:
        export = channel.unary_unary(EXPORT_METHOD)
        try:
            export(message, timeout=TIMEOUT_SECONDS, metadata=tuple(metadata) or None, compression=compression)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


# --- TLS ----------------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> Tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, made with the openssl command.

    The ``cryptography`` package is not among our dependencies' dependencies, so the ``openssl``
    command is used; without it the test is skipped, saying so.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a self-signed certificate (the cryptography package is not installed)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert, key


def client_tls(cert: Path) -> ssl.SSLContext:
    """A client context that trusts exactly ``cert``."""
    context = ssl.create_default_context(cafile=str(cert))
    return context
