"""OTLP/gRPC: the generated ``TraceService`` and ``LogsService`` as thin adapters over the core.

Each ``Export`` method is registered with the generated service's name but without its deserializer: the
core decodes the bytes itself, so a malformed message is answered ``INVALID_ARGUMENT`` like any
other bad request (gRPC's own deserializer would answer ``INTERNAL``). gRPC decompresses gzip and
enforces the size limit (``grpc.max_receive_message_length``, set to the core's ``max_body_bytes``:
``RESOURCE_EXHAUSTED``, after decompression too) before the servicer runs. At most
``max_concurrent_rpcs`` calls are in progress at once; more are answered ``RESOURCE_EXHAUSTED``.
The bearer token, when set, is checked by :class:`TokenInterceptor` from the call's
``authorization`` metadata before the message is awaited (and again by the core). A request the
memory budget has no room for is answered ``RESOURCE_EXHAUSTED`` with a ``RetryInfo``.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, Optional, Tuple

import grpc
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from otel_scoring.receiver._core import GRPC_EXPORT_PATH, GRPC_LOGS_EXPORT_PATH, ReceiverCore, Reply, RequestHead

_logger = logging.getLogger(__name__)

SERVICE_NAME = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
LOGS_SERVICE_NAME = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name
MAX_WORKERS = 4
# Calls beyond this many at once are answered RESOURCE_EXHAUSTED instead of queueing without bound.
MAX_CONCURRENT_RPCS = 32

_STATUS_CODES: Dict[str, grpc.StatusCode] = {code.name: code for code in grpc.StatusCode}


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


def abort_with(context: grpc.ServicerContext, reply: Reply) -> None:
    """End the call with the reply's status; a busy reply carries its retry delay as ``RetryInfo``."""
    code = _STATUS_CODES.get(reply.grpc_status_name, grpc.StatusCode.UNKNOWN)
    if reply.retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(reply.retry_after_seconds)
        details = status_pb2.Status(code=code.value[0], message=reply.message)
        details.details.add().Pack(retry)
        context.set_trailing_metadata(
            (
                ("grpc-status-details-bin", details.SerializeToString()),  # the standard place
                ("google.rpc.retryinfo-bin", retry.SerializeToString()),  # where the Python SDK reads it
            )
        )
    context.abort(code, reply.message)  # raises


class TokenInterceptor(grpc.ServerInterceptor):
    """Checks the bearer token from the call's metadata before gRPC waits for the message.

    A call without it is answered ``UNAUTHENTICATED`` at once by a handler that never reads a
    message, so a client that opens calls and sends nothing holds no worker thread waiting for one.
    """

    def __init__(self, core: ReceiverCore) -> None:
        self._core = core

    def intercept_service(self, continuation: Any, handler_call_details: grpc.HandlerCallDetails) -> Any:
        metadata = call_metadata(handler_call_details.invocation_metadata)
        if self._core.authorized(metadata):
            return continuation(handler_call_details)
        reply = self._core.unauthorized(RequestHead.grpc(metadata, 0))

        def refuse(requests: Any, context: grpc.ServicerContext) -> None:
            abort_with(context, reply)

        # Stream-unary: its behaviour runs without waiting for a request message.
        return grpc.stream_unary_rpc_method_handler(refuse)


class TraceServiceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """``TraceService.Export`` (and, with ``path``, ``LogsService.Export``), taking and returning serialized messages."""

    def __init__(self, core: ReceiverCore, path: str = GRPC_EXPORT_PATH) -> None:
        self._core = core
        self._path = path

    def Export(self, request: bytes, context: grpc.ServicerContext) -> bytes:  # noqa: N802 - the generated name
        head = RequestHead.grpc(call_metadata(context.invocation_metadata()), len(request), self._path)
        reply = self._core.handle(head, request)
        if not reply.ok:
            abort_with(context, reply)
        return reply.body


class GRPCReceiverServer:
    """A gRPC server with the trace and logs services, bound at construction."""

    def __init__(
        self,
        core: ReceiverCore,
        host: str,
        port: int,
        *,
        max_concurrent_rpcs: int = MAX_CONCURRENT_RPCS,
        credentials: Optional[grpc.ServerCredentials] = None,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="otel-scoring-grpc")
        self._server = grpc.server(
            self._executor,
            maximum_concurrent_rpcs=max_concurrent_rpcs,
            interceptors=(TokenInterceptor(core),) if core.requires_token else (),
            options=[
                # The same limit as OTLP/HTTP: gRPC checks it on the decompressed message as well.
                ("grpc.max_receive_message_length", core.max_body_bytes),
                # Without this, a second server on a taken port would silently share it (Linux).
                ("grpc.so_reuseport", 0),
            ],
        )
        handlers = [
            grpc.method_handlers_generic_handler(
                service,
                {"Export": grpc.unary_unary_rpc_method_handler(TraceServiceReceiver(core, path).Export)},  # bytes in, bytes out
            )
            for service, path in ((SERVICE_NAME, GRPC_EXPORT_PATH), (LOGS_SERVICE_NAME, GRPC_LOGS_EXPORT_PATH))
        ]
        self._server.add_generic_rpc_handlers(handlers)
        bind_host = f"[{host}]" if ":" in host else host
        try:
            address = f"{bind_host}:{port}"
            bound = self._server.add_insecure_port(address) if credentials is None else self._server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            bound = 0
            reason: Optional[str] = str(exc)
        else:
            reason = None
        if not bound:
            self._server.stop(None)
            self._executor.shutdown(wait=False)
            raise OSError(f"could not bind OTLP/gRPC to {host}:{port}" + (f" ({reason})" if reason else ""))
        self.port: int = bound
        self._stopped = False

    def start(self) -> None:
        self._server.start()

    def stop(self, timeout_seconds: float) -> None:
        """Stop taking calls, give those in flight ``timeout_seconds``, then cancel them."""
        if self._stopped:
            return
        self._stopped = True
        self._server.stop(grace=timeout_seconds).wait(timeout_seconds + 1.0)
        self._executor.shutdown(wait=False)
