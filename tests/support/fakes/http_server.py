"""A JSON HTTP server on 127.0.0.1, port 0, in a daemon thread: the base of the local fakes.

A fake answers from its ``handle`` method and records every request. ``fail_next`` makes the next
requests fail with a status (e.g. 503 twice), either before handling them or after (the write
happened but the answer was lost), to test retries; ``pause`` holds requests like a hung server.
It speaks HTTP/1.1 keep-alive and counts connections (``connections_accepted``, ``open_connections``);
``drop_idle_connections`` closes the ones waiting for a request, as a server's idle timeout does,
``hang_up_after_answering`` closes each connection after one answer without saying so, and
``tls`` (an ``ssl.SSLContext``) serves https.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Mapping, Optional, Set, Tuple

MAX_REQUEST_BYTES = 1024 * 1024

Reply = Tuple[int, Any]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: Any
    status: int


@dataclass
class _Failure:
    status: int
    method: Optional[str]
    after_handling: bool
    retry_after: Optional[str]


class HttpError(Exception):
    """Raised by a fake's handler to answer with an error status and JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class FakeJsonServer:
    """Subclasses implement ``handle(method, path, query, headers, body) -> (status, body)``."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.requests: List[RecordedRequest] = []
        self.connections_accepted = 0
        self.hang_up_after_answering = False
        self._connections: Set[socket.socket] = set()  # open, server side
        self._answering: Set[socket.socket] = set()  # of those, the ones a request is being answered on
        self._failures: Deque[_Failure] = deque()
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        self.delay_seconds = 0.0  # how long each answer takes: a remote destination
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._serve(self)

            do_POST = do_PATCH = do_DELETE = do_PUT = do_GET

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        class Server(ThreadingHTTPServer):
            def get_request(self) -> Tuple[socket.socket, Any]:
                connection, address = super().get_request()
                if tls is not None:
                    connection = tls.wrap_socket(connection, server_side=True)
                with fake._lock:
                    fake.connections_accepted += 1
                    fake._connections.add(connection)
                return connection, address

            def shutdown_request(self, request: Any) -> None:
                with fake._lock:
                    fake._connections.discard(request)
                super().shutdown_request(request)

        self._tls = tls
        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def wait_for_open_connections(self, count: int, timeout: float = 5.0) -> int:
        """The number of open connections once it is ``count`` (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while self.open_connections != count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.open_connections

    def drop_idle_connections(self) -> int:
        """Close every connection that is waiting for its next request; how many were closed."""
        with self._lock:
            idle = [c for c in self._connections if c not in self._answering]
        for connection in idle:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # the handler sees the end and closes it
            except OSError:
                pass
        self.wait_for_open_connections(len(self._connections) - len(idle))
        return len(idle)

    def __enter__(self) -> "FakeJsonServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.resume()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def fail_next(
        self,
        count: int,
        status: int = 503,
        *,
        method: Optional[str] = None,
        after_handling: bool = False,
        retry_after: Optional[str] = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``method``, if given) with ``status``."""
        with self._lock:
            for _ in range(count):
                self._failures.append(_Failure(status, method, after_handling, retry_after))

    def pause(self) -> None:
        """Hold every request until :meth:`resume` (at most 10 s): a destination that hangs."""
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def requests_to(self, method: str, path_prefix: str = "") -> List[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def handle(self, method: str, path: str, query: Mapping[str, List[str]], headers: Mapping[str, str], body: Any) -> Reply:
        raise NotImplementedError

    def _take_failure(self, method: str) -> Optional[_Failure]:
        with self._lock:
            if self._failures and self._failures[0].method in (None, method):
                return self._failures.popleft()
        return None

    def requests_in_flight(self) -> int:
        """Requests received and not answered yet (e.g. held by :meth:`pause`)."""
        with self._lock:
            return self._in_flight

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._answering.add(handler.connection)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            self._open.wait(10)
            time.sleep(self.delay_seconds)
            self._answer(handler)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._answering.discard(handler.connection)
            if self.hang_up_after_answering:
                handler.close_connection = True  # without a "Connection: close": a keep-alive the server ends

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(parsed.query)
        headers = {key.lower(): value for key, value in handler.headers.items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(min(length, MAX_REQUEST_BYTES)) if length else b""
        method = handler.command
        failure = self._take_failure(method)
        extra_headers: Dict[str, str] = {}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            status, reply = 400, {"message": "body is not JSON"}
        else:
            if failure is not None and not failure.after_handling:
                status, reply = failure.status, {"message": "injected failure"}
            else:
                try:
                    status, reply = self.handle(method, parsed.path, query, headers, body)
                except HttpError as error:
                    status, reply = error.status, error.body
                if failure is not None:  # the write happened, but its answer is lost
                    status, reply = failure.status, {"message": "injected failure after handling"}
            if failure is not None and failure.retry_after is not None:
                extra_headers["Retry-After"] = failure.retry_after
        with self._lock:
            self.requests.append(RecordedRequest(method, parsed.path, query, headers, body, status))
        payload = json.dumps(reply).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in extra_headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)
