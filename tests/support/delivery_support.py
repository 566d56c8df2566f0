"""Shared pieces of the delivery tests: spans to send, and OTLP collectors to send them to.

The collectors (gRPC and HTTP on 127.0.0.1) record every request they accept, can be stopped and
started again on the same port (to play a collector that goes away and comes back), and can be
told to answer with an error. ``ReceiverProcess`` runs the real ``otel-scoring serve``.
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoringSpanProcessor, schema

ExportRequest = trace_service_pb2.ExportTraceServiceRequest


def scoring_provider(delivery: SpanProcessor) -> TracerProvider:
    """A provider as configure() builds it: the scoring processor, then ``delivery``."""
    provider = TracerProvider(resource=Resource.create({"service.name": "delivery-test"}))
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(delivery)
    return provider


def end_spans(provider: TracerProvider, names: Sequence[str]) -> None:
    """One root span per name; names starting with "scored" get a score."""
    tracer = provider.get_tracer("tests")
    for name in names:
        with tracer.start_as_current_span(name):
            if name.startswith("scored"):
                otel_scoring.score_current_span(name="quality", value=0.5)


def one_request() -> bytes:
    """A real serialized ExportTraceServiceRequest holding one span called "raw"."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tests").start_as_current_span("raw"):
        pass
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


def free_ports(count: int) -> List[int]:
    """Distinct ports nothing listens on now: bind port 0 (with SO_REUSEADDR), read it, close."""
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probes.append(probe)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    return free_ports(1)[0]


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(0.2)
        return client.connect_ex(("127.0.0.1", port)) == 0


def span_names(request: ExportRequest) -> List[str]:
    return [span.name for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans]


def score_ids(request: ExportRequest) -> List[str]:
    """The score ids carried by the request's score events, in order, repeats kept."""
    found = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                for event in span.events:
                    if event.name != schema.EVALUATION_RESULT_EVENT:
                        continue
                    for attribute in event.attributes:
                        if attribute.key == schema.SCORE_ID:
                            found.append(attribute.value.string_value)
    return found


class _Recorder:
    def __init__(self) -> None:
        self.requests: List[ExportRequest] = []
        self.headers: List[Dict[str, str]] = []
        self._condition = threading.Condition()

    def record(self, request: ExportRequest, headers: Dict[str, str]) -> None:
        with self._condition:
            self.requests.append(request)
            self.headers.append(headers)
            self._condition.notify_all()

    def span_names(self) -> List[str]:
        with self._condition:
            return [name for request in self.requests for name in span_names(request)]

    def score_ids(self) -> List[str]:
        with self._condition:
            return [score_id for request in self.requests for score_id in score_ids(request)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"collector did not receive what was expected within {timeout} s")
                self._condition.wait(remaining)

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> List[str]:
        self.wait_for(lambda: sum(len(span_names(r)) for r in self.requests) >= count, timeout)
        return self.span_names()


class GrpcCollector(_Recorder):
    """An OTLP/gRPC TraceService on 127.0.0.1 that records requests; ``status`` makes it fail."""

    def __init__(self, port: int = 0, status: Optional[grpc.StatusCode] = None) -> None:
        super().__init__()
        self.port = port
        self.status = status
        self._server: Optional[grpc.Server] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GrpcCollector":
        collector = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802 (generated name)
                if collector.status is not None:
                    context.abort(collector.status, "told to fail")
                collector.record(request, dict(context.invocation_metadata()))
                return trace_service_pb2.ExportTraceServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
        bound = server.add_insecure_port(f"127.0.0.1:{self.port}")
        if not bound:
            raise OSError(f"cannot bind 127.0.0.1:{self.port}")
        self.port = bound
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def __enter__(self) -> "GrpcCollector":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class HttpCollector(_Recorder):
    """An OTLP/HTTP ``/v1/traces`` endpoint on 127.0.0.1 that records requests; ``status`` makes it fail."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if collector.status == 200 and self.path == "/v1/traces":
                    collector.record(ExportRequest.FromString(body), {k.lower(): v for k, v in self.headers.items()})
                    reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                    self.send_response(200)
                else:
                    reply = b""
                    self.send_response(collector.status if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "HttpCollector":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class ReceiverProcess:
    """``otel-scoring serve`` in a subprocess on fixed loopback ports, so it can be killed and restarted on them.

    Every start appends to ``log_path``. Always used as a context manager, which kills it at the end.
    """

    def __init__(self, db_path: Path, log_path: Path, args: Sequence[str] = ()) -> None:
        self.db_path = db_path
        self.log_path = log_path
        self.args = list(args)  # more serve options
        self.grpc_port, self.http_port = free_ports(2)
        self._process: Optional[subprocess.Popen] = None

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 30.0) -> "ReceiverProcess":
        command = [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port), "--db", str(self.db_path), *self.args]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not (_accepts(self.grpc_port) and _accepts(self.http_port)):
            if self._process.poll() is not None:
                raise RuntimeError(f"otel-scoring serve exited with {self._process.returncode}: {self.log_path.read_text()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"otel-scoring serve did not listen within {timeout} s: {self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: the receiver gets no chance to finish anything."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(10)
        self._process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within 10 s."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def __enter__(self) -> "ReceiverProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


def stored_score_ids(db_path: Path) -> List[str]:
    """Every score id in the store file, one per row (the store keys rows by score id)."""
    from otel_scoring.store import ScoreStore

    if not db_path.exists():
        return []
    with ScoreStore(db_path) as store:
        return [record.id for record in store.scores()]


def wait_for_stored(db_path: Path, expected: Set[str], timeout: float) -> List[str]:
    """Poll the store until it holds every id in ``expected`` or ``timeout`` passes; return what it holds."""
    deadline = time.monotonic() + timeout
    while True:
        stored = stored_score_ids(db_path)
        if expected <= set(stored) or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def subprocess_env() -> Dict[str, str]:
    """The test's environment, with the project importable and output unbuffered."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
