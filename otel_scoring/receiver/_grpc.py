"""OTLP/gRPC: ``TraceService.Export`` and ``LogsService.Export`` on an asyncio gRPC server, over the core.

The server is ``grpc.aio``, on an event loop of its own thread, so a call waiting for its message
costs a coroutine, not a thread: a client that opens calls and never sends (with or without the
token) cannot take the workers good exports need. Each ``Export`` is registered under the
generated service's name as a *stream*-unary handler without a deserializer, so it runs as soon
as the call's headers arrive, before any message, and reads the message itself:

1. the bearer token, when set, is checked from the call's metadata: without it, ``UNAUTHENTICATED``
   at once;
2. the call takes a *waiting* place: at most ``max_connections`` calls wait for their message
   (when all wait, the one waiting longest is ended for the newcomer), and one peer (client
   address, :mod:`._peers`) at most its share of them; its message must arrive within
   ``request_timeout_seconds`` (or the call's own deadline), else ``DEADLINE_EXCEEDED``. Fewer
   places than OTLP/HTTP's, because a call waiting for its message lets gRPC buffer that message
   as it trickles in, up to ``max_body_bytes``, before the memory budget can see it (measured:
   64 such calls, 800 MB); the places bound that to ``max_connections`` times ``max_body_bytes``;
3. with its message the call takes a *slot*: at most ``max_connections`` calls are handled at once
   and one peer at most ``max_connections_per_peer`` (half by default); the core then decodes and
   stores on one of :data:`MAX_WORKERS` threads.

Past a limit, or when the memory budget (or the peer's share of it) has no room, the call is
answered ``RESOURCE_EXHAUSTED`` with a ``RetryInfo``, which OTLP exporters retry. The core decodes
the bytes itself, so a malformed message is answered ``INVALID_ARGUMENT`` like any other bad
request (gRPC's own deserializer would answer ``INTERNAL``). gRPC decompresses gzip and enforces
the size limit (``grpc.max_receive_message_length``, set to the core's ``max_body_bytes``:
``RESOURCE_EXHAUSTED``, after decompression too) before the message is read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Dict, Iterable, Optional, Tuple, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otel_scoring.receiver._core import BUSY_RETRY_AFTER_SECONDS, GRPC_EXPORT_PATH, GRPC_LOGS_EXPORT_PATH, ReceiverCore, Reply, RequestHead
from otel_scoring.receiver._peers import PEER, TOTAL, SharedLimit, peer_of_grpc, peer_share

_logger = logging.getLogger(__name__)

SERVICE_NAME = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
LOGS_SERVICE_NAME = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name
MAX_WORKERS = 4  # threads decoding and storing; calls waiting for a message hold none
DEFAULT_MAX_CONCURRENT_RPCS = 32
_START_TIMEOUT_SECONDS = 30.0  # binding and starting on the server's loop
_BUSY_WARNING_INTERVAL_SECONDS = 60.0

_STATUS_CODES: Dict[str, grpc.StatusCode] = {code.name: code for code in grpc.StatusCode}
_T = TypeVar("_T")


def call_metadata(pairs: Optional[Iterable[Tuple[str, Any]]]) -> Dict[str, str]:
    """gRPC metadata with lower-case keys; a key sent twice keeps both values, joined with ", ".

    Two ``authorization`` entries thus never match the token (the last one no longer wins).
    """
    metadata: Dict[str, str] = {}
    for key, value in pairs or ():
        if not isinstance(value, str):
            continue  # binary (-bin) metadata
        name = key.lower()
        metadata[name] = f"{metadata[name]}, {value}" if name in metadata else value
    return metadata


async def abort_with(context: grpc.aio.ServicerContext, reply: Reply) -> None:
    """End the call with the reply's status; a busy reply carries its retry delay as ``RetryInfo``."""
    code = _STATUS_CODES.get(reply.grpc_status_name, grpc.StatusCode.UNKNOWN)
    trailers: Tuple[Tuple[str, bytes], ...] = ()
    if reply.retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(reply.retry_after_seconds)
        details = status_pb2.Status(code=code.value[0], message=reply.message)
        details.details.add().Pack(retry)
        trailers = (
            ("grpc-status-details-bin", details.SerializeToString()),  # the standard place
            ("google.rpc.retryinfo-bin", retry.SerializeToString()),  # where the Python SDK reads it
        )
    await context.abort(code, reply.message, trailers)  # raises


def _busy_call(reason: str) -> Reply:
    if reason == PEER:
        message = "this client has too many calls in progress; retry later"
    else:
        message = "too many calls in progress; retry later"
    reply = ReceiverCore.error_reply(429, message)
    return Reply(reply.status, reply.content_type, reply.body, message, retry_after_seconds=BUSY_RETRY_AFTER_SECONDS)


class _Calls:
    """What calls may hold: places to wait for a message and slots to be handled, per peer too.

    Used only on the server's event loop thread. When every waiting place is taken, a newcomer
    ends the call that has waited longest (as OTLP/HTTP closes its longest-waiting connection),
    so several addresses together cannot keep new calls out either; a peer past its own share of
    places is refused instead.
    """

    def __init__(self, max_connections: int, per_peer: int) -> None:
        self.waiting = SharedLimit(max_connections, per_peer)
        self.slots = SharedLimit(max_connections, per_peer)
        self._waiters: "OrderedDict[int, Tuple[str, asyncio.Future[None]]]" = OrderedDict()
        self._last_warning = -math.inf

    def start_waiting(self, key: int, peer: str) -> "Tuple[Optional[str], asyncio.Future[None]]":
        """Take a waiting place for call ``key``: (None, a future done if it is evicted), or (why not, that future)."""
        evicted = asyncio.get_running_loop().create_future()
        if self.waiting.used_by(peer) >= self.waiting.per_peer:
            return PEER, evicted  # its own share is full: ending another's call would not help
        refused = self.waiting.take(1, peer)
        if refused == TOTAL and self._waiters:
            _, (owner, oldest) = self._waiters.popitem(last=False)
            self.waiting.give_back(1, owner)  # its place, handed over now
            oldest.set_result(None)
            self.log_refused(owner, TOTAL, self.waiting, "calls waiting for their message (the longest-waiting call was ended)")
            refused = self.waiting.take(1, peer)
        if refused is None:
            self._waiters[key] = (peer, evicted)
        return refused, evicted

    def stop_waiting(self, key: int, peer: str, evicted: "asyncio.Future[None]") -> None:
        if not evicted.done():  # an evicted call's place was given back when it was evicted
            del self._waiters[key]
            self.waiting.give_back(1, peer)

    def log_refused(self, peer: str, reason: str, limit: SharedLimit, what: str) -> None:
        """Warn, at most once a minute, that calls are refused: which limit, and the setting that raises it."""
        now = time.monotonic()
        if now - self._last_warning >= _BUSY_WARNING_INTERVAL_SECONDS:  # a flood logs once a minute
            self._last_warning = now
            if reason == PEER:
                _logger.warning(
                    "OTLP/gRPC calls refused with RESOURCE_EXHAUSTED (retried by exporters): the client %s holds its share of %s (%d); "
                    "raise max_connections_per_peer (serve --max-connections-per-peer, at most max_connections) when one collector sends everything",
                    peer,
                    what,
                    limit.per_peer,
                )
            else:
                _logger.warning(
                    "OTLP/gRPC calls refused with RESOURCE_EXHAUSTED (retried by exporters): the receiver holds all the %s it allows (%d); "
                    "raise max_connections (serve --max-connections) if exporters keep retrying",
                    what,
                    limit.limit,
                )


class _Export:
    """One ``Export`` method: token, waiting place, message, slot, then the core on a worker thread."""

    def __init__(self, core: ReceiverCore, path: str, calls: _Calls, executor: ThreadPoolExecutor, request_timeout_seconds: float) -> None:
        self._core = core
        self._path = path
        self._calls = calls
        self._executor = executor
        self._request_timeout_seconds = request_timeout_seconds

    async def export(self, requests: Any, context: grpc.aio.ServicerContext) -> bytes:
        peer = peer_of_grpc(context.peer())
        metadata = call_metadata(context.invocation_metadata())
        if not self._core.authorized(metadata):
            await abort_with(context, self._core.unauthorized(RequestHead.grpc(metadata, 0, self._path, peer)))
        message = await self._message(context, peer)
        refused = self._calls.slots.take(1, peer)
        if refused is not None:
            self._calls.log_refused(peer, refused, self._calls.slots, "calls handled at once")
            await abort_with(context, _busy_call(refused))
        try:
            head = RequestHead.grpc(metadata, len(message), self._path, peer)
            reply = await asyncio.get_running_loop().run_in_executor(self._executor, self._core.handle, head, message)
        finally:
            self._calls.slots.give_back(1, peer)
        if not reply.ok:
            await abort_with(context, reply)
        return reply.body

    async def _message(self, context: grpc.aio.ServicerContext, peer: str) -> bytes:
        """The call's one message, awaited in a waiting place for at most the request timeout."""
        key = id(context)
        refused, evicted = self._calls.start_waiting(key, peer)
        if refused is not None:
            self._calls.log_refused(peer, refused, self._calls.waiting, "calls waiting for their message")
            await abort_with(context, _busy_call(refused))
        read = asyncio.ensure_future(context.read())
        try:
            timeout = self._request_timeout_seconds
            remaining = context.time_remaining()
            if remaining is not None:
                timeout = min(timeout, max(0.0, remaining))
            await asyncio.wait((read, evicted), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._calls.stop_waiting(key, peer, evicted)
            if not read.done():
                read.cancel()
        if not read.done() or read.cancelled():
            if evicted.done():
                await abort_with(context, _busy_call(TOTAL))
            await abort_with(context, ReceiverCore.error_reply(408, "the message did not arrive within the request timeout"))
        message = read.result()
        if not isinstance(message, bytes):  # grpc.aio.EOF: the client half-closed without one
            await abort_with(context, ReceiverCore.error_reply(400, "the call ended without a message"))
        return message  # type: ignore[return-value]


class GRPCReceiverServer:
    """A ``grpc.aio`` server with the trace and logs services, on its own event loop thread, bound at construction."""

    def __init__(
        self,
        core: ReceiverCore,
        host: str,
        port: int,
        *,
        max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS,
        max_concurrent_rpcs_per_peer: Optional[int] = None,
        request_timeout_seconds: float = 30.0,
        credentials: Optional[grpc.ServerCredentials] = None,
    ) -> None:
        per_peer = peer_share(max_concurrent_rpcs) if max_concurrent_rpcs_per_peer is None else min(max_concurrent_rpcs, max_concurrent_rpcs_per_peer)
        self._calls = _Calls(max_concurrent_rpcs, per_peer)
        self._executor = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="otel-scoring-grpc")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="otel-scoring-grpc-loop", daemon=True)
        self._thread.start()
        self._server: Any = None
        self._stopped = False
        exports = {path: _Export(core, path, self._calls, self._executor, request_timeout_seconds) for path in (GRPC_EXPORT_PATH, GRPC_LOGS_EXPORT_PATH)}
        options = [
            # The same limit as OTLP/HTTP: gRPC checks it on the decompressed message as well.
            ("grpc.max_receive_message_length", core.max_body_bytes),
            # Without this, a second server on a taken port would silently share it (Linux).
            ("grpc.so_reuseport", 0),
        ]
        # The hard outer bound on calls: every waiting place and slot, twice over for calls
        # being refused; our own limits answer first, with a RetryInfo.
        outer = 2 * (self._calls.waiting.limit + self._calls.slots.limit)
        try:
            self.port: int = self._run(self._bind(host, port, exports, options, outer, credentials))
        except BaseException:
            self._shut_loop()
            raise

    async def _bind(self, host: str, port: int, exports: Dict[str, _Export], options: Any, outer: int, credentials: Optional[grpc.ServerCredentials]) -> int:
        # Created on the loop's own thread: a grpc.aio server belongs to the loop running it.
        self._server = grpc.aio.server(options=options, maximum_concurrent_rpcs=outer)
        handlers = [
            grpc.method_handlers_generic_handler(service, {"Export": grpc.stream_unary_rpc_method_handler(exports[path].export)})  # bytes in, bytes out
            for service, path in ((SERVICE_NAME, GRPC_EXPORT_PATH), (LOGS_SERVICE_NAME, GRPC_LOGS_EXPORT_PATH))
        ]
        self._server.add_generic_rpc_handlers(handlers)
        bind_host = f"[{host}]" if ":" in host else host
        address = f"{bind_host}:{port}"
        try:
            bound = self._server.add_insecure_port(address) if credentials is None else self._server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            bound, reason = 0, str(exc)
        else:
            reason = ""
        if not bound:
            await self._server.stop(None)
            raise OSError(f"could not bind OTLP/gRPC to {host}:{port}" + (f" ({reason})" if reason else ""))
        return int(bound)

    def _run(self, coroutine: Awaitable[_T], timeout: float = _START_TIMEOUT_SECONDS) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)  # type: ignore[arg-type]

    def start(self) -> None:
        self._run(self._server.start())

    def stop(self, timeout_seconds: float) -> None:
        """Stop taking calls, give those in flight ``timeout_seconds``, then cancel them."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._run(self._server.stop(grace=timeout_seconds), timeout_seconds + 1.0)
        except Exception:  # the loop is wedged or the wait ran out: the thread is a daemon
            _logger.debug("The OTLP/gRPC server did not stop cleanly", exc_info=True)
        self._shut_loop()

    def _shut_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()
        self._executor.shutdown(wait=False)
