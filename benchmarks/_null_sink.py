"""A collector that takes every OTLP/gRPC trace export and keeps nothing, in a process of its own.

``python -m benchmarks._null_sink`` listens on 127.0.0.1 (a free port), prints ``port N`` on its
first line, answers each ``TraceService/Export`` with an empty ``ExportTraceServiceResponse``
(zero bytes of protobuf, as a collector that accepted everything does) without parsing it, and
exits when its stdin closes (so it cannot outlive the benchmark) or after MAX_SECONDS. On exit
it prints ``requests N bytes M``.

It is the peer of the exporters measured in benchmarks 2, 3, 5 and 6: a real OTLP exporter
sends over loopback to it, and its CPU is not the measured process's.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent import futures
from typing import Optional, Tuple

EXPORT_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
MAX_SECONDS = 3600.0


def _serve() -> int:
    import grpc

    counts = [0, 0]
    lock = threading.Lock()

    def export(request: bytes, context: object) -> bytes:
        with lock:
            counts[0] += 1
            counts[1] += len(request)
        return b""

    handler = grpc.method_handlers_generic_handler(
        EXPORT_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"port {port}", flush=True)
    closed = threading.Event()

    def wait_for_stdin_to_close() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
    closed.wait(MAX_SECONDS)
    server.stop(2).wait(5)
    print(f"requests {counts[0]} bytes {counts[1]}", flush=True)
    return 0


class NullSink:
    """``with NullSink() as sink:`` runs the sink process; ``sink.endpoint`` is ``127.0.0.1:PORT``, ``sink.url`` the
    ``http://127.0.0.1:PORT`` an insecure OTLP/gRPC exporter is given."""

    def __init__(self) -> None:
        self._process: Optional[subprocess.Popen] = None
        self.endpoint = ""
        self.url = ""
        self.requests = 0
        self.bytes = 0

    def __enter__(self) -> "NullSink":
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._null_sink"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        line = self._process.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("port "):
            self._process.kill()
            raise RuntimeError(f"the null sink did not start: {line!r}")
        self.endpoint = f"127.0.0.1:{int(line.split()[1])}"
        self.url = f"http://{self.endpoint}"
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is None:
            return
        try:
            output, _ = process.communicate(input="", timeout=20)
            self.requests, self.bytes = _counts(output)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _counts(output: str) -> Tuple[int, int]:
    for line in output.splitlines():
        if line.startswith("requests "):
            words = line.split()
            return int(words[1]), int(words[3])
    return 0, 0


if __name__ == "__main__":
    sys.exit(_serve())
