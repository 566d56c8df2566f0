"""Send one serialized OTLP ``ExportTraceServiceRequest`` over gRPC or HTTP, exactly once.

The stock OTLP exporters retry inside ``export()`` for up to their timeout and then drop the
batch. Score-first delivery needs the opposite: one bounded attempt whose outcome says whether to
keep the request (the collector is down or busy) or give it up (the collector says it is
malformed), so the processor can spool it and retry on its own schedule. The same sender resends
spooled request bytes as they are, without decoding them.

Its settings resolve in :mod:`otel_scoring.export`, as the stock exporters resolve them.
"""

from __future__ import annotations

import enum
import gzip
import http.client
import logging
import os
import ssl
import threading
import urllib.error
import urllib.request
import zlib
from typing import Mapping, Optional, Sequence, Tuple
from urllib.parse import urlparse

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otel_scoring.export import (
    COMPRESSIONS,
    DEFAULT_GRPC_ENDPOINT,
    DEFAULT_HTTP_ENDPOINT,
    DEFAULT_TIMEOUT_SECONDS,
    GRPC,
    TRACES_PATH,
    Headers,
    grpc_target,
    http_traces_url,
    resolve_compression,
    resolve_headers,
    resolve_protocol,
    resolve_timeout,
    tls_files,
)

__all__ = [
    "COMPRESSIONS",  # the settings' names, re-exported from otel_scoring.export, their home
    "DEFAULT_GRPC_ENDPOINT",
    "DEFAULT_HTTP_ENDPOINT",
    "DEFAULT_TIMEOUT_SECONDS",
    "TRACES_PATH",
    "OTLPTraceSender",
    "SendOutcome",
]

_logger = logging.getLogger(__name__)

_TRACE_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"]
# "/opentelemetry.proto.collector.trace.v1.TraceService/Export", from the generated descriptor.
_GRPC_EXPORT_METHOD = f"/{_TRACE_SERVICE.full_name}/{_TRACE_SERVICE.methods_by_name['Export'].name}"
# A restarted collector is found again within this long, instead of gRPC's default of up to 120 s.
_GRPC_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
# Statuses that say the request itself is wrong; everything else (unreachable, busy, unauthorised,
# a crash) may pass on a later try, so the request is kept.
_HTTP_REJECTED = frozenset({400, 413, 415})
_GRPC_REJECTED_NAMES = ("INVALID_ARGUMENT", "UNIMPLEMENTED")


class SendOutcome(enum.Enum):
    """What became of one request."""

    DELIVERED = "delivered"
    RETRY = "retry"
    """The collector is unreachable, busy or failing: keep the request and try again later."""
    REJECTED = "rejected"
    """The collector says the request is malformed: sending it again cannot help."""


def _read_file(path: Optional[str]) -> Optional[bytes]:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        _logger.warning("Unable to read OTLP TLS file %s (%s). Continuing without it.", path, error)
        return None


class OTLPTraceSender:
    """Sends serialized ``ExportTraceServiceRequest`` bytes to one OTLP endpoint, one try per call.

    Args:
        endpoint: collector address; for gRPC ``http://host:4317`` (``https://`` for TLS), for
            HTTP the base URL or the full ``.../v1/traces`` URL.
        protocol: ``"grpc"`` or ``"http/protobuf"``.
        headers: a mapping or ``"k1=v1,k2=v2"``.
        compression: ``"gzip"``, ``"deflate"`` or ``"none"``.
        timeout: seconds one attempt may take at most.
        insecure: gRPC without TLS; by default true for an ``http://`` endpoint.

    Programmer errors (an unknown protocol or compression) raise ``ValueError`` here.
    """

    def __init__(
        self,
        *,
        endpoint: Optional[str] = None,
        protocol: Optional[str] = None,
        headers: Headers = None,
        compression: Optional[str] = None,
        timeout: Optional[float] = None,
        insecure: Optional[bool] = None,
    ) -> None:
        self.protocol = resolve_protocol(protocol)
        self.timeout_seconds = resolve_timeout(timeout)
        self.compression = resolve_compression(compression)
        self._headers = resolve_headers(headers)
        self._closed = False
        if self.protocol == GRPC:
            self._transport: _Transport = _GrpcTransport(endpoint, insecure, self._headers, self.compression)
        else:
            self._transport = _HttpTransport(endpoint, self._headers, self.compression)
        self.endpoint = self._transport.endpoint

    def send(self, request: bytes, timeout_seconds: Optional[float] = None) -> SendOutcome:
        """Send ``request`` once, waiting at most ``timeout_seconds`` (default: the sender's)."""
        if self._closed:
            return SendOutcome.RETRY
        timeout = self.timeout_seconds if timeout_seconds is None else max(0.001, min(timeout_seconds, self.timeout_seconds))
        return self._transport.send(request, timeout)

    def close(self) -> None:
        """Stop sending (a gRPC call in progress is cancelled; HTTP ends at its timeout). Idempotent."""
        self._closed = True
        self._transport.close()

    def __repr__(self) -> str:
        return f"OTLPTraceSender(protocol={self.protocol!r}, endpoint={self.endpoint!r})"


class _Transport:
    endpoint: str

    def send(self, request: bytes, timeout: float) -> SendOutcome:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _GrpcTransport(_Transport):
    def __init__(self, endpoint: Optional[str], insecure: Optional[bool], headers: Mapping[str, str], compression: str) -> None:
        import grpc

        self._grpc = grpc
        self.endpoint, insecure = grpc_target(endpoint, insecure)
        self._metadata: Sequence[Tuple[str, str]] = tuple(headers.items())
        if compression == "deflate":
            self._compression = grpc.Compression.Deflate
        elif compression == "gzip":
            self._compression = grpc.Compression.Gzip
        else:
            self._compression = grpc.Compression.NoCompression
        self._rejected = frozenset(getattr(grpc.StatusCode, name) for name in _GRPC_REJECTED_NAMES)
        self._credentials = None
        if not insecure:  # read once, at setup, as the stock exporter does
            files = tls_files()
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_read_file(files.certificate),
                private_key=_read_file(files.client_key),
                certificate_chain=_read_file(files.client_certificate),
            )
        self._lock = threading.Lock()
        self._channel = None
        self._export = None
        self._pid = os.getpid()

    def _call(self):
        if self._pid != os.getpid():
            # A forked child never reuses the parent's channel, nor a lock a parent thread held.
            self._lock = threading.Lock()
            self._channel = self._export = None
            self._pid = os.getpid()
        with self._lock:
            if self._export is None:
                grpc = self._grpc
                if self._credentials is None:
                    channel = grpc.insecure_channel(self.endpoint, options=_GRPC_CHANNEL_OPTIONS, compression=self._compression)
                else:
                    channel = grpc.secure_channel(self.endpoint, self._credentials, options=_GRPC_CHANNEL_OPTIONS, compression=self._compression)
                self._channel = channel
                # Bytes in, as spooled: no serializer, so a spooled request is never decoded.
                self._export = channel.unary_unary(
                    _GRPC_EXPORT_METHOD,
                    request_serializer=None,
                    response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
                )
            return self._export

    def _reset(self) -> None:
        with self._lock:
            channel, self._channel, self._export = self._channel, None, None
        if channel is not None and self._pid == os.getpid():
            channel.close()

    def send(self, request: bytes, timeout: float) -> SendOutcome:
        grpc = self._grpc
        try:
            response = self._call()(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            _logger.debug("OTLP gRPC export to %s failed: %s", self.endpoint, code)
            if code in self._rejected:
                return SendOutcome.REJECTED
            if code == grpc.StatusCode.UNAVAILABLE:
                # A fresh channel connects at once on the next try, without waiting out gRPC's
                # reconnect backoff (the processor keeps its own).
                self._reset()
            return SendOutcome.RETRY
        except ValueError:
            # grpc raises ValueError for a call on a channel closed under it (by close()).
            return SendOutcome.RETRY
        _log_partial_success(response, self.endpoint)
        return SendOutcome.DELIVERED

    def close(self) -> None:
        self._reset()


class _HttpTransport(_Transport):
    def __init__(self, endpoint: Optional[str], headers: Mapping[str, str], compression: str) -> None:
        url = http_traces_url(endpoint)
        self.endpoint = url
        self._headers = {"Content-Type": "application/x-protobuf", **headers}
        self._compression = compression
        if compression != "none":
            self._headers["Content-Encoding"] = compression
        self._context: Optional[ssl.SSLContext] = None
        if urlparse(url).scheme == "https":
            files = tls_files()
            context = ssl.create_default_context(cafile=files.certificate)
            if files.client_certificate:
                context.load_cert_chain(files.client_certificate, files.client_key)
            self._context = context

    def send(self, request: bytes, timeout: float) -> SendOutcome:
        if self._compression == "gzip":
            body = gzip.compress(request)
        elif self._compression == "deflate":
            body = zlib.compress(request)
        else:
            body = request
        http_request = urllib.request.Request(self.endpoint, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(http_request, timeout=timeout, context=self._context) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
            _logger.debug("OTLP HTTP export to %s failed with status %s", self.endpoint, status)
            return SendOutcome.REJECTED if status in _HTTP_REJECTED else SendOutcome.RETRY
        except (OSError, ValueError, http.client.HTTPException) as error:  # refused, reset, timed out, DNS, a bad answer
            _logger.debug("OTLP HTTP export to %s failed: %s", self.endpoint, error)
            return SendOutcome.RETRY
        if payload:
            try:
                _log_partial_success(trace_service_pb2.ExportTraceServiceResponse.FromString(payload), self.endpoint)
            except Exception:  # a 2xx with a body that is not OTLP protobuf: delivered all the same
                _logger.debug("OTLP HTTP response from %s is not an ExportTraceServiceResponse", self.endpoint)
        return SendOutcome.DELIVERED


def _log_partial_success(response: trace_service_pb2.ExportTraceServiceResponse, endpoint: str) -> None:
    partial = response.partial_success
    if partial.rejected_spans:
        _logger.warning("Collector %s rejected %d spans: %s", endpoint, partial.rejected_spans, partial.error_message)

