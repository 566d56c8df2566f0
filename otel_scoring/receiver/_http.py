"""OTLP/HTTP on the standard library's ``ThreadingHTTPServer``: a thin adapter over the core.

The handler turns a request line and headers into a :class:`RequestHead`, lets the core refuse it
before reading the body (so an oversized body is never read), reads exactly ``Content-Length``
bytes and writes the core's :class:`Reply` back.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Tuple
from urllib.parse import urlsplit

from otel_scoring.receiver._core import HTTP, ReceiverCore, Reply, RequestHead

_logger = logging.getLogger(__name__)

# A client that stops sending mid-request frees its thread after this long.
SOCKET_TIMEOUT_SECONDS = 30.0
_POLL_INTERVAL_SECONDS = 0.1  # how quickly serve_forever notices shutdown()


class _OTLPRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's HTTP exporter expects
    server_version = "otel-scoring"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_SECONDS
    server: "OTLPHTTPServer"

    def do_POST(self) -> None:
        self._answer()

    # Any other method reaches the core, which refuses it with 405.
    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def handle_expect_100(self) -> bool:
        # A client that asks before sending its body hears the refusal instead of "100 Continue".
        refusal = self.server.core.refuse(self._head())
        if refusal is not None:
            self._refuse(refusal)
            return False
        return super().handle_expect_100()

    def _head(self) -> RequestHead:
        headers = {name.lower(): value for name, value in self.headers.items()}
        return RequestHead(HTTP, self.command, urlsplit(self.path).path, headers, _content_length(headers))

    def _answer(self) -> None:
        head = self._head()
        refusal = self.server.core.refuse(head)
        if refusal is not None:
            self._refuse(refusal)
            return
        length = head.content_length or 0
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True  # the client went away mid-body; nobody to answer
            return
        self._send(self.server.core.handle(head, body))

    def _refuse(self, refusal: Reply) -> None:
        # The body is left unread, so this connection cannot carry another request.
        self.close_connection = True
        self._send(refusal)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        _logger.debug("%s - " + format, self.address_string(), *args)


def _content_length(headers: dict) -> Optional[int]:
    if "transfer-encoding" in headers:
        return None  # chunked bodies are not read: the core answers 411
    raw = headers.get("content-length")
    if raw is None:
        return None
    try:
        length = int(raw.strip())
    except ValueError:
        return None
    return length if length >= 0 else None


class OTLPHTTPServer(ThreadingHTTPServer):
    """``POST /v1/traces`` on a thread per connection; the threads never block shutdown."""

    daemon_threads = True
    block_on_close = False  # in-flight requests are awaited by the core, with a deadline

    def __init__(self, address: Tuple[str, int], core: ReceiverCore) -> None:
        self.core = core
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _OTLPRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup we neither need nor want.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: object, client_address: object) -> None:
        _logger.debug("OTLP/HTTP connection from %s failed", client_address, exc_info=True)


class HTTPReceiverThread:
    """An :class:`OTLPHTTPServer` bound at construction and served on a daemon thread."""

    def __init__(self, core: ReceiverCore, host: str, port: int) -> None:
        self._server = OTLPHTTPServer((host, port), core)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": _POLL_INTERVAL_SECONDS}, name="otel-scoring-http", daemon=True
        )
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_seconds: float) -> None:
        """Stop accepting connections; returns within about ``timeout_seconds``."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            # shutdown() waits for serve_forever to notice, which it does every poll interval.
            self._server.shutdown()
            self._thread.join(timeout_seconds)
        self._server.server_close()
