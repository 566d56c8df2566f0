"""gRPC calls opened by hand over HTTP/2 (the ``h2`` package), from a chosen source address.

grpcio's client cannot bind its socket to a source address, and a well-behaved client sends its
message right after its headers. A hostile one opens a call (HEADERS, no END_STREAM) and then sends
nothing: :class:`SilentCalls` does that, from e.g. 127.0.0.2 (Linux routes all of 127/8 to the
loopback interface), and records the ``grpc-status`` of every call the server ends.
"""

from __future__ import annotations

import socket
import threading
from typing import Dict, List, Optional, Sequence, Tuple

import h2.config
import h2.connection
import h2.events

EXPORT_PATH = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class SilentCalls:
    """One HTTP/2 connection from ``source`` to a gRPC server, whose calls never send a message."""

    def __init__(self, port: int, *, source: str = "127.0.0.2", host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self._authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._socket = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0))
        self._connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self._lock = threading.Lock()
        self._ended: Dict[int, Optional[str]] = {}  # stream id -> grpc-status (None: reset or no status)
        self._opened: List[int] = []
        self.closed = threading.Event()
        with self._lock:
            self._connection.initiate_connection()
            self._socket.sendall(self._connection.data_to_send())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def open(self, count: int, metadata: Sequence[Tuple[str, str]] = ()) -> None:
        """Open ``count`` calls: their headers only, no message and no end of stream."""
        with self._lock:
            for _ in range(count):
                stream_id = self._connection.get_next_available_stream_id()
                headers = [
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", EXPORT_PATH),
                    (":authority", self._authority),
                    ("content-type", "application/grpc"),
                    ("te", "trailers"),
                    *metadata,
                ]
                self._connection.send_headers(stream_id, headers, end_stream=False)
                self._opened.append(stream_id)
            self._socket.sendall(self._connection.data_to_send())

    def statuses(self) -> Dict[int, Optional[str]]:
        """The calls the server has ended so far, with their ``grpc-status``."""
        with self._lock:
            return dict(self._ended)

    def still_open(self) -> int:
        with self._lock:
            return sum(1 for stream_id in self._opened if stream_id not in self._ended)

    def close(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        self._reader.join(10)

    def __enter__(self) -> "SilentCalls":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self) -> None:
        statuses: Dict[int, str] = {}
        try:
            while True:
                data = self._socket.recv(65536)
                if not data:
                    return
                with self._lock:
                    for event in self._connection.receive_data(data):
                        if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                            for name, value in event.headers:
                                if name == "grpc-status":
                                    statuses[event.stream_id] = value
                        elif isinstance(event, h2.events.StreamEnded):
                            self._ended[event.stream_id] = statuses.get(event.stream_id)
                        elif isinstance(event, h2.events.StreamReset):
                            self._ended[event.stream_id] = statuses.get(event.stream_id)
                    pending = self._connection.data_to_send()  # SETTINGS and PING acknowledgements
                    if pending:
                        self._socket.sendall(pending)
        except OSError:
            return
        finally:
            self.closed.set()
