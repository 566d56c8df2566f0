"""OTLP/HTTP on the standard library's ``ThreadingHTTPServer``: a thin adapter over the core.

The handler turns a request line and headers into a :class:`RequestHead`, lets the core refuse it
before reading the body (so an oversized body is never read), reads exactly ``Content-Length``
bytes, or the chunks of a chunked body up to the body limit (OpenTelemetry JS streams gzip bodies
that way), and writes the core's :class:`Reply` back.

What a hostile client cannot do to it:

* hold a thread forever: each request (waiting for it on a kept-alive connection included) must
  arrive whole, headers and body, within ``request_timeout_seconds`` — a total deadline, not a
  per-read timeout, so a client trickling a byte at a time is cut off too — and its headers
  within :data:`DEFAULT_HEADER_TIMEOUT_SECONDS`;
* starve good clients by being slow or idle: a connection takes one of ``max_connections`` slots
  only once its headers are complete (past them the request is answered ``503`` with
  ``Retry-After``, which an OTLP exporter retries); waiting connections hold no slot, and when
  too many wait the one waiting longest is closed (see :class:`OTLPHTTPServer`);
* starve others from one address: a peer holds at most its share (half by default) of the
  slots, waiting places, threads and memory budget, and hears 429 past it;
* be heard without the token: a wrong ``Authorization`` line ends the request as it arrives, and
  a request without the token is answered 401 before anything about its framing or method;
* get an HTML error page: errors the standard library detects itself (a malformed request line,
  too many or too long headers, an unknown method) are answered with a ``google.rpc.Status``, as
  OTLP asks of every error.

A refused request's body is never read, yet its client may still be sending it: after the answer
the connection reads and discards for a moment (at most ``_LINGER_SECONDS`` and
``_LINGER_MAX_BYTES``) before closing, so the client reads the 413 instead of a reset.

With TLS, the handshake runs on the connection's own thread (never the accepting one), so a client
that connects and stays silent holds only its own slot, for at most the request timeout per read.
"""

from __future__ import annotations

import io
import logging
import math
import socket
import socketserver
import ssl
import threading
import time
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple
from urllib.parse import urlsplit

from otel_scoring._receiver_defaults import DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT_SECONDS
from otel_scoring.receiver._core import HTTP, ReceiverCore, Reply, RequestHead
from otel_scoring.receiver._peers import PEER, TOTAL, SharedLimit, peer_of_address, peer_share

_logger = logging.getLogger(__name__)

# Connections that have not sent a whole request head, per request slot, before the oldest is
# closed: a waiting connection costs a thread and a socket, so more may wait than are served.
WAITING_PER_SLOT = 4
# The request line and headers must arrive within this long (or the request timeout, if shorter).
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0
# How long a reply may take to leave: replies are small, so only a client not reading at all waits.
_WRITE_TIMEOUT_SECONDS = 10.0
_POLL_INTERVAL_SECONDS = 0.1  # how quickly serve_forever notices shutdown()
_BUSY_RETRY_AFTER_SECONDS = 1
_BUSY_WARNING_INTERVAL_SECONDS = 60.0  # a flood of refused connections logs one warning a minute
_LINGER_SECONDS = 2.0
_LINGER_MAX_BYTES = 64 * 1024 * 1024


class _DeadlineReader(io.RawIOBase):
    """Socket reads that all share one deadline, so a whole request is bounded in time."""

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        self._connection = connection
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive within the request timeout")
        self._connection.settimeout(remaining)
        return self._connection.recv_into(buffer)


class _OTLPRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's HTTP exporter expects
    server_version = "otel-scoring"
    sys_version = ""
    timeout = _WRITE_TIMEOUT_SECONDS
    server: "OTLPHTTPServer"

    def setup(self) -> None:
        super().setup()
        # Replace the plain socket file with one bounded by the request deadline. The original must
        # be closed, or the socket stays open after the connection is done with.
        self.rfile.close()
        self._reader = _DeadlineReader(self.connection)
        self._lines = _HeaderLines(io.BufferedReader(self._reader, io.DEFAULT_BUFFER_SIZE), self.server.core)
        self.rfile = self._lines
        self._refused = False
        self._key = self.connection.fileno()
        self._peer = peer_of_address(self.client_address)
        self.server.start_waiting(self._key, self.connection, self._peer)

    def finish(self) -> None:
        self.server.stop_waiting(self._key)
        super().finish()
        if self._refused:
            _linger(self.connection)

    def handle_one_request(self) -> None:
        # One deadline per request, counted from when the connection starts waiting for it; the
        # headers must arrive within the (shorter) header timeout of that.
        started = time.monotonic()
        self._request_deadline = started + self.server.request_timeout_seconds
        self._reader.deadline = min(self._request_deadline, started + self.server.header_timeout_seconds)
        self._lines.watching = True
        try:
            super().handle_one_request()
        except _WrongToken as wrong:
            # Refused the moment the header arrived, before the rest of the headers.
            self._lines.watching = False
            self.close_connection = True
            head = RequestHead(HTTP, self.command or "POST", "", {"authorization": wrong.value}, None)
            self._refuse(self.server.core.unauthorized(head))

    def do_POST(self) -> None:
        # The headers are complete: from here the request needs a slot, which waiting never held.
        self._lines.watching = False
        self._reader.deadline = self._request_deadline
        server = self.server
        server.stop_waiting(self._key)
        if server.route_for(urlsplit(self.path).path) is None and not server.core.authorized(_lower_headers(self.headers)):
            # Without the token, refused before taking a slot: it never holds one an export needs.
            self._refuse(server.core.unauthorized(self._head()))
            return
        refused = server.slots.take(1, self._peer)
        if refused is not None:
            server.log_busy(self.client_address, refused)
            self._refuse(_busy_reply(refused))
            return
        try:
            self._answer()
        finally:
            server.slots.give_back(1, self._peer)
            if not self.close_connection:
                server.start_waiting(self._key, self.connection, self._peer)  # kept alive: waiting for its next request

    # Any other method reaches the core, which refuses it with 405.
    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def handle_expect_100(self) -> bool:
        # A client that asks before sending its body hears the refusal instead of "100 Continue".
        refusal = self._refusal(self._head())
        if refusal is not None:
            self._refuse(refusal)
            return False
        return super().handle_expect_100()

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """Errors found by the standard library itself, answered like every other refusal.

        When its headers were read, a request without the token hears 401 first: an unknown
        method (501) says nothing to a client that could not send a request at all.
        """
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # never answer without a status line
        headers = getattr(self, "headers", None)
        if headers is not None and not self.server.core.authorized(_lower_headers(headers)):
            self._refuse(self.server.core.unauthorized(self._head()))
            return
        status = int(code)
        try:
            text = message or HTTPStatus(status).phrase
        except ValueError:
            text = "error"
        self._refuse(ReceiverCore.error_reply(status, text))

    def _head(self) -> RequestHead:
        headers = _lower_headers(self.headers)
        lengths = self.headers.get_all("Content-Length") or []
        chunked = headers.get("transfer-encoding", "").strip().lower() == "chunked" and not lengths
        path = urlsplit(self.path).path
        return RequestHead(HTTP, self.command, path, headers, _content_length(headers, lengths), chunked, self._peer)

    def _refusal(self, head: RequestHead) -> Optional[Reply]:
        core = self.server.core
        if not core.authorized(head.headers):
            return core.unauthorized(head)  # before framing: nothing is revealed without the token
        return _framing_refusal(self.headers) or core.refuse(head)

    def _answer(self) -> None:
        route = self.server.route_for(urlsplit(self.path).path)
        if route is not None:
            self._answer_route(route)
            return
        head = self._head()
        refusal = self._refusal(head)
        if refusal is not None:
            self._refuse(refusal)
            return
        core = self.server.core
        reserved, busy = core.reserve_body(head)  # before reading: waiting bodies count as well
        if busy is not None:
            self._refuse(busy)
            return
        try:
            body = self._read_body(head)
        except _ClientGone:
            core.give_back(head, reserved)
            self.close_connection = True  # the client went away mid-body; nobody to answer
            return
        except _BadBody as bad:
            core.give_back(head, reserved)
            self._refuse(ReceiverCore.error_reply(bad.status, bad.message, head.encoding))
            return
        except BaseException:
            core.give_back(head, reserved)
            raise
        self._send(core.handle(head, body, reserved))

    def _answer_route(self, route: "Route") -> None:
        """A request for a mounted route (the dashboard): read-only, so its body is never read."""
        if self.headers.get("Content-Length", "0").strip() not in ("", "0") or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # an unread body cannot be followed by another request
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._send(route.respond(self.command, self.path, headers))

    def _read_body(self, head: RequestHead) -> bytes:
        if head.chunked:
            return _read_chunked(self.rfile, self.server.core.max_body_bytes)
        length = head.content_length or 0
        body = self.rfile.read(length)
        if len(body) < length:
            raise _ClientGone()
        return body

    def _refuse(self, refusal: Reply) -> None:
        # The body is left unread, so this connection cannot carry another request.
        self.close_connection = True
        self._refused = True
        self._send(refusal)

    def _send(self, reply: Reply) -> None:
        self.connection.settimeout(self.timeout)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        _logger.debug("%s - " + format, self.address_string(), *args)


def _lower_headers(headers: Any) -> Dict[str, str]:
    """Header names in lower case; a header sent twice keeps both values, joined as RFC 9110 says.

    Two ``Authorization`` headers thus never match the token (the last one no longer wins).
    """
    lowered: Dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
    return lowered


def _linger(connection: socket.socket) -> None:
    """Stop sending, then discard what the client still sends, briefly, so it reads our answer.

    Closing a socket with unread data resets the connection, and a reset can destroy the answer
    before the client reads it (a client still writing its body sees only "broken pipe").
    """
    deadline = time.monotonic() + _LINGER_SECONDS
    discarded = 0
    try:
        connection.shutdown(socket.SHUT_WR)
        while discarded < _LINGER_MAX_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            connection.settimeout(remaining)
            chunk = connection.recv(65536)
            if not chunk:
                return
            discarded += len(chunk)
    except OSError:
        return  # reset, timed out, already closed: nothing more to wait for


class _WrongToken(Exception):
    def __init__(self, value: str) -> None:
        super().__init__("wrong bearer token")
        self.value = value


class _HeaderLines:
    """The request's input, checking each header line as it arrives while ``watching``.

    The standard library reads all headers before the handler sees any; an ``Authorization``
    line that does not carry the token ends the request the moment it is read instead.
    """

    def __init__(self, reader: io.BufferedReader, core: ReceiverCore) -> None:
        self._reader = reader
        self._core = core
        self.watching = False

    def readline(self, limit: int = -1) -> bytes:
        line = self._reader.readline(limit)
        if self.watching and self._core.requires_token and line[:14].lower() == b"authorization:":
            value = line[14:].decode("latin-1").strip()
            if not self._core.authorized({"authorization": value}):
                raise _WrongToken(value)
        return line

    def read(self, size: int = -1) -> bytes:
        return self._reader.read(size)

    def close(self) -> None:
        self._reader.close()

    @property
    def closed(self) -> bool:
        return self._reader.closed


class _ClientGone(Exception):
    """The connection ended before the whole body arrived."""


class _BadBody(Exception):
    """A body this server will not read further, with the status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_MAX_CHUNK_LINE_BYTES = 1024  # a chunk size with its extensions, or one trailer line
_MAX_TRAILER_LINES = 32
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _framing_refusal(headers: Any) -> Optional[Reply]:
    """The refusal of a body framed in a way this server does not read, or None.

    Only ``Transfer-Encoding: chunked`` alone is read. With a ``Content-Length`` beside it, two
    readers of the same bytes (a proxy and this server) could disagree on where the request ends:
    how requests are smuggled, so it is refused, as RFC 9112 allows.
    """
    codings = headers.get_all("Transfer-Encoding") or []
    if not codings:
        return None
    if headers.get_all("Content-Length"):
        return ReceiverCore.error_reply(400, "Transfer-Encoding and Content-Length together; send one of them")
    if len(codings) != 1 or codings[0].strip().lower() != "chunked":
        return ReceiverCore.error_reply(501, f"transfer coding {', '.join(codings)!r} is not supported; send the body chunked or with a Content-Length")
    return None


def _read_chunked(rfile: Any, max_body_bytes: int) -> bytes:
    """A chunked body (RFC 9112 §7.1), refused with 413 as soon as it outgrows ``max_body_bytes``."""
    body = bytearray()
    while True:
        size = _chunk_size(_read_line(rfile))
        if size == 0:
            break
        if len(body) + size > max_body_bytes:
            raise _BadBody(413, f"the chunked body exceeds the limit of {max_body_bytes} bytes")
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise _ClientGone()
        body += chunk
        if _read_line(rfile) not in (b"\r\n", b"\n"):
            raise _BadBody(400, "a chunk is longer than its declared size")
    for _ in range(_MAX_TRAILER_LINES):  # trailers are read and ignored
        if _read_line(rfile) in (b"\r\n", b"\n"):
            return bytes(body)
    raise _BadBody(400, f"more than {_MAX_TRAILER_LINES} trailer lines")


def _read_line(rfile: Any) -> bytes:
    line = rfile.readline(_MAX_CHUNK_LINE_BYTES + 1)
    if len(line) > _MAX_CHUNK_LINE_BYTES:
        raise _BadBody(400, f"a chunk size or trailer line longer than {_MAX_CHUNK_LINE_BYTES} bytes")
    if not line.endswith(b"\n"):
        raise _ClientGone()  # the connection ended mid-line
    return line


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()  # chunk extensions are ignored
    # Only hex digits, and few of them: int(..., 16) would also take "0x1f", "+1f" and "1_f".
    if not digits or len(digits) > 16 or not _HEX_DIGITS.issuperset(digits):
        raise _BadBody(400, f"{digits[:32]!r} is not a chunk size")
    return int(digits, 16)


def _content_length(headers: dict, lengths: List[str]) -> Optional[int]:
    """The declared body size; None when undeclared, malformed, or declared twice differently."""
    if "transfer-encoding" in headers:
        return None  # a chunked body declares no size
    declared = {raw.strip() for raw in lengths}
    if len(declared) != 1:
        return None  # conflicting lengths are how requests get smuggled past proxies
    raw = declared.pop()
    # Only plain ASCII digits: int() would also take "+5", "1_000" and non-ASCII digits.
    if not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def _busy_reply(reason: str) -> Reply:
    """503 when every slot is taken; 429 when this client holds its whole share of them."""
    if reason == PEER:
        reply = ReceiverCore.error_reply(429, "this client has too many requests in progress; retry later")
    else:
        reply = ReceiverCore.error_reply(503, "too many connections; retry later")
    return Reply(reply.status, reply.content_type, reply.body, reply.message, headers=(("Retry-After", str(_BUSY_RETRY_AFTER_SECONDS)),))


def _busy_response(reason: str) -> bytes:
    reply = _busy_reply(reason)
    head = (
        f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        f"Retry-After: {_BUSY_RETRY_AFTER_SECONDS}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + reply.body


class Route(Protocol):
    """Another application on the OTLP/HTTP port (the dashboard), asked before the OTLP core."""

    def handles(self, path: str) -> bool: ...

    def respond(self, method: str, target: str, headers: Mapping[str, str]) -> Reply: ...


class OTLPHTTPServer(ThreadingHTTPServer):
    """``POST /v1/traces`` on a thread per connection, at most ``max_connections`` requests at once.

    A connection is *waiting* while it has not sent a whole request head (a new connection, or a
    kept-alive one between requests) and *busy* from its complete headers until its answer. Busy
    connections take one of ``max_connections`` slots (past them a request is answered 503 with
    ``Retry-After``); waiting ones never hold a slot, and at most ``WAITING_PER_SLOT`` times as
    many wait: when that many wait, the one waiting longest is closed for the newcomer. A client
    trickling its headers (slowloris) thus neither holds a slot nor keeps a good exporter, whose
    headers arrive at once, from being heard. The threads never block shutdown: requests in
    flight are awaited by the core, with a deadline.

    Per peer (client address, :mod:`._peers`): one peer holds at most ``max_connections_per_peer``
    slots (half by default; past them its requests are answered 429 with ``Retry-After``), as
    many times ``WAITING_PER_SLOT`` waiting connections (past them its own longest-waiting one is
    closed, nobody else's) and connection threads in proportion (past them it is answered 429
    without a thread). One client saturating the receiver leaves the rest to the others.
    Mounted :class:`Route` s answer the paths they handle, within the same connection limits.
    """

    daemon_threads = True
    block_on_close = False
    routes: Tuple[Route, ...] = ()

    def route_for(self, path: str) -> Optional[Route]:
        for route in self.routes:
            if route.handles(path):
                return route
        return None

    def __init__(
        self,
        address: Tuple[str, int],
        core: ReceiverCore,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_peer: Optional[int] = None,
        request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        per_peer = peer_share(max_connections) if max_connections_per_peer is None else min(max_connections, max_connections_per_peer)
        self.core = core
        self.request_timeout_seconds = request_timeout_seconds
        self.header_timeout_seconds = min(request_timeout_seconds, DEFAULT_HEADER_TIMEOUT_SECONDS)
        self._ssl_context = ssl_context
        self.max_connections = max_connections
        self.max_waiting = WAITING_PER_SLOT * max_connections
        self.max_waiting_per_peer = WAITING_PER_SLOT * per_peer
        self.slots = SharedLimit(max_connections, per_peer)
        self._waiting: "OrderedDict[int, Tuple[socket.socket, str]]" = OrderedDict()
        self._waiting_by_peer: Dict[str, int] = {}
        self._waiting_lock = threading.Lock()
        # Every connection thread, waiting, busy or closing: the hard bound on threads.
        self._thread_slots = SharedLimit(self.max_waiting + max_connections, self.max_waiting_per_peer + per_peer)
        self._last_busy_warning = -math.inf
        self._last_eviction_warning = -math.inf
        self._busy_responses = {reason: _busy_response(reason) for reason in (PEER, TOTAL)}
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _OTLPRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup we neither need nor want.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        peer = peer_of_address(client_address)
        refused = self._thread_slots.take(1, peer)
        if refused is not None:
            self._refuse_busy(request, client_address, refused)
            return
        key = request.fileno()
        self.start_waiting(key, request, peer)  # before the thread starts, so the count holds at once
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self.stop_waiting(key)
            self._thread_slots.give_back(1, peer)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        key = request.fileno()  # before TLS detaches the socket
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.stop_waiting(key)
            self._thread_slots.give_back(1, peer_of_address(client_address))

    def start_waiting(self, key: int, connection: socket.socket, peer: str) -> None:
        """Count the connection on file descriptor ``key`` as waiting; close the longest-waiting
        one of the same peer if that peer has its share waiting, else the longest-waiting one of
        all if too many wait. Called again for the same key, it keeps its place (TLS wraps the
        socket after it was counted)."""
        evicted = None
        with self._waiting_lock:
            if key not in self._waiting:
                if self._waiting_by_peer.get(peer, 0) >= self.max_waiting_per_peer:
                    oldest = next(waiting for waiting, (_, owner) in self._waiting.items() if owner == peer)
                    evicted = self._pop_waiting(oldest)
                elif len(self._waiting) >= self.max_waiting:
                    evicted = self._pop_waiting(next(iter(self._waiting)))
                self._waiting_by_peer[peer] = self._waiting_by_peer.get(peer, 0) + 1
            self._waiting[key] = (connection, peer)
        if evicted is not None:
            self._evict(evicted)

    def stop_waiting(self, key: int) -> None:
        with self._waiting_lock:
            if key in self._waiting:
                self._pop_waiting(key)

    def _pop_waiting(self, key: int) -> socket.socket:
        """Under the waiting lock: forget a waiting connection, in both counts."""
        connection, peer = self._waiting.pop(key)
        left = self._waiting_by_peer[peer] - 1
        if left:
            self._waiting_by_peer[peer] = left
        else:
            del self._waiting_by_peer[peer]
        return connection

    def _evict(self, connection: socket.socket) -> None:
        now = time.monotonic()
        if now - self._last_eviction_warning >= _BUSY_WARNING_INTERVAL_SECONDS:
            self._last_eviction_warning = now
            _logger.warning("OTLP/HTTP: %d connections were waiting without sending a request; closed the oldest (a slow or idle client)", self.max_waiting)
        try:
            connection.shutdown(socket.SHUT_RDWR)  # its thread's read returns, and the thread ends
        except OSError:
            pass

    def log_busy(self, client_address: Any, reason: str, connections: bool = False) -> None:
        """Warn, at most once a minute, that requests are refused: which limit, and the setting
        that raises it. ``connections``: the bound on connections (waiting ones included) was hit,
        not the bound on requests in progress."""
        now = time.monotonic()
        if now - self._last_busy_warning >= _BUSY_WARNING_INTERVAL_SECONDS:
            self._last_busy_warning = now
            limit = self._thread_slots if connections else self.slots
            what = "open connections" if connections else "requests in progress"
            if reason == PEER:
                _logger.warning(
                    "OTLP/HTTP requests from %s refused with 429 (retried by exporters): that client holds its share of %s (%d); "
                    "raise max_connections_per_peer (serve --max-connections-per-peer, at most max_connections) when one collector sends everything",
                    client_address[0],
                    what,
                    limit.per_peer,
                )
            else:
                _logger.warning(
                    "OTLP/HTTP requests refused with 503 (retried by exporters): the receiver holds all the %s it allows (%d; latest from %s); "
                    "raise max_connections (serve --max-connections) if exporters keep retrying",
                    what,
                    limit.limit,
                    client_address[0],
                )

    def _refuse_busy(self, request: socket.socket, client_address: Any, reason: str) -> None:
        """Answer 503 (429 past the peer's share) without a thread: runs on the accepting thread,
        so it must never block."""
        self.log_busy(client_address, reason, connections=True)
        if self._ssl_context is None:
            try:
                request.setblocking(False)
                request.send(self._busy_responses[reason])  # a fresh socket's send buffer takes it whole
            except OSError:
                pass
        self.shutdown_request(request)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self._ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(self.request_timeout_seconds)
        try:
            connection = self._ssl_context.wrap_socket(request, server_side=True)  # the handshake
        except OSError as error:  # ssl.SSLError included: plain HTTP, a bad client certificate, ...
            _logger.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            self.shutdown_request(connection)  # the plain socket was detached into this one

    def handle_error(self, request: object, client_address: object) -> None:
        _logger.debug("OTLP/HTTP connection from %s failed", client_address, exc_info=True)


class HTTPReceiverThread:
    """An :class:`OTLPHTTPServer` bound at construction and served on a daemon thread."""

    def __init__(
        self,
        core: ReceiverCore,
        host: str,
        port: int,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_peer: Optional[int] = None,
        request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self._server = OTLPHTTPServer(
            (host, port),
            core,
            max_connections=max_connections,
            max_connections_per_peer=max_connections_per_peer,
            request_timeout_seconds=request_timeout_seconds,
            ssl_context=ssl_context,
        )
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": _POLL_INTERVAL_SECONDS}, name="otel-scoring-http", daemon=True
        )
        self._stopped = False

    def mount(self, route: Route) -> None:
        """Serve ``route`` beside OTLP (routes mounted first are asked first)."""
        self._server.routes = (*self._server.routes, route)

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
