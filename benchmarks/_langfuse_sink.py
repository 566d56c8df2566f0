"""A local sink that answers what a Langfuse v5 client and an OTLP/HTTP exporter send, as the servers do.

- ``POST /api/public/scores`` takes a JSON list of scores (the v5 score consumer's batch) and
  answers 202 ``{"message": "Accepted"}``, as Langfuse does when it accepts the whole batch.
- ``POST /api/public/otel/v1/traces`` (Langfuse's OTLP endpoint) and ``POST /v1/traces`` (a
  collector's) take an OTLP protobuf request and answer 200 with an empty
  ``ExportTraceServiceResponse`` (zero bytes of protobuf).
- Anything else is counted under its path and answered 404, so an unexpected call shows in the
  benchmark's output instead of passing silently.

It runs in the benchmark's parent process, on a thread: the processes measured are the clients.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Tuple

TRACE_PATHS = ("/api/public/otel/v1/traces", "/v1/traces")
SCORES_PATH = "/api/public/scores"


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.scores = 0  # scores received on the Langfuse scores API
        self.trace_bytes = 0  # OTLP request bytes received
        self.calls: Counter = Counter()
        self._thread = threading.Thread(target=self.serve_forever, name="bench-sink", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "Sink":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Sink
    protocol_version = "HTTP/1.1"  # keep-alive, as both clients' HTTP pools expect
    # The reply's headers and body are two writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (40 ms), capping a keep-alive connection at ~25 requests/s.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.calls[f"POST {path}"] += 1
        if path == SCORES_PATH:
            batch = json.loads(body)
            with self.server.lock:
                self.server.scores += len(batch) if isinstance(batch, list) else 1
            self._reply(202, b'{"message":"Accepted"}', "application/json")
        elif path in TRACE_PATHS:
            with self.server.lock:
                self.server.trace_bytes += len(body)
            self._reply(200, b"", "application/x-protobuf")
        else:
            self._reply(404, b'{"message":"not found"}', "application/json")

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        with self.server.lock:
            self.server.calls[f"GET {self.path}"] += 1
        self._reply(404, b'{"message":"not found"}', "application/json")

    def _reply(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def counts(sink: Sink) -> Tuple[int, int]:
    with sink.lock:
        return sink.scores, sink.trace_bytes
