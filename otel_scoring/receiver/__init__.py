"""An embedded OTLP receiver: OTLP/gRPC and OTLP/HTTP in, score and metadata records into a store.

::

    from otel_scoring.store import ScoreStore
from otel_scoring.store_postgres import PostgresScoreStore
    from otel_scoring.receiver import OTLPReceiver

    with ScoreStore("scores.db") as store, OTLPReceiver(store, grpc_port=0, http_port=0) as receiver:
        print(receiver.grpc_endpoint, receiver.http_endpoint)
        scores = receiver.wait_for_scores(3, timeout=10.0)

Both servers run on daemon threads and stop within a bounded time. The receiver listens on
loopback unless told otherwise. Without a ``token`` anyone who can reach it can write scores; with
one, every export must carry ``Authorization: Bearer <token>``. ``tls_cert_file`` and
``tls_key_file`` serve both transports over TLS. What it does with hostile input (limits, timeouts,
refusals) is listed in ``docs/reliability.md``, "Untrusted input and security". ``on_stored``
passes each stored batch on, e.g. to a :class:`~otel_scoring.forward.ForwardingSink` that forwards
it to Phoenix, MLflow or Langfuse in the background (``docs/forwarding.md``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
import time
from types import TracebackType
from typing import Any, Callable, List, Optional, Type, Union

from otel_scoring._settings import resolve_str
from otel_scoring.environment_variables import OTEL_SCORING_RECEIVER_TOKEN
from otel_scoring._receiver_defaults import (
    DEFAULT_GRPC_PORT,
    DEFAULT_HOST,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    MAX_BODY_BYTES_LIMIT,
    MAX_INGEST_WORKERS,
)
from otel_scoring.receiver._core import LOGS_PATH, TRACES_PATH, ReceiverCore, Reply, RequestHead
from otel_scoring.receiver._grpc import GRPCReceiverServer
from otel_scoring.receiver._http import HTTPReceiverThread
from otel_scoring.receiver._tls import server_tls
from otel_scoring.receiver._workers import IngestWorkers
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.store import ScoreStore
from otel_scoring.store_postgres import PostgresScoreStore

__all__ = [
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HOST",
    "DEFAULT_HTTP_PORT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_REQUEST_TIMEOUT_SECONDS",
    "MAX_BODY_BYTES_LIMIT",
    "MAX_INGEST_WORKERS",
    "OTLPReceiver",
    "ReceiverCore",
    "Reply",
    "RequestHead",
    "is_loopback",
]

_logger = logging.getLogger(__name__)



def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OTLPReceiver:
    """OTLP/gRPC and OTLP/HTTP trace and log receivers writing every export's records into ``store``.

    Args:
        store: where records go, normally a :class:`ScoreStore` (anything with its ``add``,
            ``count_scores``, ``count_metadata``, ``scores`` and ``metadata``).
        host: the address both servers bind; loopback unless ``allow_non_loopback``.
        grpc_port, http_port: ports to bind; 0 picks a free one (read it back from the properties).
        max_body_bytes: the largest export accepted, compressed or not (default 16 MiB); also
            gRPC's ``grpc.max_receive_message_length``.
        allow_non_loopback: permit a ``host`` other machines can reach (logged as a warning).
        shutdown_timeout_seconds: how long :meth:`stop` waits in all: for exports in flight, then
            for ``on_stored`` to shut down.
        token: a bearer token every export must present (``Authorization: Bearer <token>`` as an
            HTTP header or gRPC metadata); else ``OTEL_SCORING_RECEIVER_TOKEN``; unset or ``""``:
            no authentication.
        tls_cert_file, tls_key_file: a PEM certificate chain and its key, to serve both transports
            over TLS (both or neither).
        max_connections: OTLP/HTTP requests in progress at once (more are answered 503; idle
            connections hold no slot, and four times as many may wait) and gRPC calls in progress
            at once (more get ``RESOURCE_EXHAUSTED``; calls waiting for their message hold no
            slot and no thread, and four times as many may wait); default 32.
        max_connections_per_peer: how many of those one client address may hold (HTTP requests
            in progress, gRPC calls, and in proportion waiting connections and calls); past it
            that client hears 429 / ``RESOURCE_EXHAUSTED`` while others are served. Default half
            of ``max_connections``; raise it to ``max_connections`` when one collector sends
            everything.
        request_timeout_seconds: how long an OTLP/HTTP request may take to arrive, headers and
            body, before its connection is closed (default 30 s).
        max_in_flight_bytes: what all requests in flight may hold together, bodies, inflated
            copies and decoded messages (default 256 MiB); past it a request is answered 429 /
            ``RESOURCE_EXHAUSTED`` with a retry delay (``docs/reliability.md``).
        max_in_flight_bytes_per_peer: what the requests of one client address may hold of that
            budget (default half of it, or what one request at the body limit may cost if more).
        on_stored: called with each export's translation once its records are stored, on the
            request's thread, so it must return quickly (a :class:`~otel_scoring.forward.ForwardingSink`
            only queues). An exception from it is logged and the export still succeeds: the records
            are stored. When it has a ``shutdown(timeout_seconds)`` method, :meth:`stop` calls it
            after the servers stopped, with what is left of the shutdown timeout.
        ingest_workers: read and store exports in this many worker processes (1 to
            :data:`MAX_INGEST_WORKERS`) instead of on the request threads, so ingest uses more than
            one core: this process keeps the transports, the gate and the memory budget, and
            answers an export once a worker stored it (``docs/scaling.md``). Needs a store on a
            SQLite file or in PostgreSQL, and no ``on_stored``. Default None: no workers.

    Programmer errors (a non-loopback host without ``allow_non_loopback``, a bad limit or token,
    half a TLS pair) raise ``ValueError`` here, and TLS files that cannot be read or loaded raise
    ``OSError`` here; a port that cannot be bound raises ``OSError`` from :meth:`start`.
    """

    def __init__(
        self,
        store: ScoreStore,
        *,
        host: str = DEFAULT_HOST,
        grpc_port: int = DEFAULT_GRPC_PORT,
        http_port: int = DEFAULT_HTTP_PORT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        allow_non_loopback: bool = False,
        shutdown_timeout_seconds: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
        token: Optional[str] = None,
        tls_cert_file: Union[str, "os.PathLike[str]", None] = None,
        tls_key_file: Union[str, "os.PathLike[str]", None] = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        on_stored: Optional[Callable[[Any], object]] = None,
        max_in_flight_bytes: Optional[int] = None,
        max_connections_per_peer: Optional[int] = None,
        max_in_flight_bytes_per_peer: Optional[int] = None,
        ingest_workers: Optional[int] = None,
    ) -> None:
        if isinstance(host, str) and host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # "[::1]", as URLs write an IPv6 address: the address itself binds
        for port in (grpc_port, http_port):
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                raise ValueError(f"a port must be an integer from 0 to 65535, got {port!r}")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive integer, got {max_connections!r}")
        if max_connections_per_peer is not None and (
            isinstance(max_connections_per_peer, bool) or not isinstance(max_connections_per_peer, int) or not 1 <= max_connections_per_peer <= max_connections
        ):
            raise ValueError(f"max_connections_per_peer must be an integer from 1 to max_connections ({max_connections}), got {max_connections_per_peer!r}")
        if isinstance(request_timeout_seconds, bool) or not isinstance(request_timeout_seconds, (int, float)) or not request_timeout_seconds > 0:
            raise ValueError(f"request_timeout_seconds must be a positive number, got {request_timeout_seconds!r}")
        if (tls_cert_file is None) != (tls_key_file is None):
            raise ValueError("TLS needs both tls_cert_file and tls_key_file")
        resolved_token = resolve_str(token, OTEL_SCORING_RECEIVER_TOKEN) or None
        self._workers = None if ingest_workers is None else self._ingest_workers(store, ingest_workers, on_stored)
        self.core = ReceiverCore(
            self._store_translation,
            max_body_bytes=max_body_bytes,
            token=resolved_token,
            max_in_flight_bytes=max_in_flight_bytes,
            max_in_flight_bytes_per_peer=max_in_flight_bytes_per_peer,
            ingest=None if self._workers is None else self._workers.ingest,
        )
        self._tls = None if tls_cert_file is None or tls_key_file is None else server_tls(tls_cert_file, tls_key_file)
        if not is_loopback(host):
            if not allow_non_loopback:
                raise ValueError(f"host {host!r} is not a loopback address; pass allow_non_loopback=True to receive from other machines")
            if resolved_token is None:
                _logger.warning("The OTLP receiver listens on %s, which is reachable from other machines and has no authentication: anyone who can reach it can write scores.", host)
            elif self._tls is None:
                _logger.warning("The OTLP receiver listens on %s, which is reachable from other machines, without TLS: its bearer token travels in clear text.", host)
            else:
                _logger.warning("The OTLP receiver listens on %s, which is reachable from other machines (bearer token and TLS required).", host)
        self.store = store
        self.host = host
        self.shutdown_timeout_seconds = shutdown_timeout_seconds
        self.max_connections = max_connections
        self.max_connections_per_peer = max_connections_per_peer
        self.request_timeout_seconds = float(request_timeout_seconds)
        self._requested_ports = (grpc_port, http_port)
        self._on_stored = on_stored
        self._on_stored_failures = 0
        self._stored = threading.Condition()
        self._grpc: Optional[GRPCReceiverServer] = None
        self._http: Optional[HTTPReceiverThread] = None
        self._routes: List[Any] = []
        self._lifecycle = threading.Lock()
        self._stopped = False

    def _ingest_workers(self, store: Any, count: int, on_stored: Optional[Callable[[Any], object]]) -> IngestWorkers:
        if on_stored is not None:
            raise ValueError("ingest_workers cannot be combined with on_stored: the records are stored in the worker processes, which do not pass them on")
        if isinstance(store, ScoreStore):
            return IngestWorkers(store.path, count, on_stored=self._wake_waiters)
        if isinstance(store, PostgresScoreStore):
            return IngestWorkers(store.url, count, on_stored=self._wake_waiters)
        raise ValueError(f"ingest_workers needs a store the workers can open too (a ScoreStore on a file, or a PostgresScoreStore), not {type(store).__name__}")

    # --- Lifecycle ----------------------------------------------------------------------------------

    def start(self) -> "OTLPReceiver":
        """Bind both ports and serve; idempotent."""
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("an OTLPReceiver cannot be restarted after stop()")
            if self._grpc is not None:
                return self
            grpc_port, http_port = self._requested_ports
            ssl_context, credentials = self._tls if self._tls is not None else (None, None)
            grpc_server = GRPCReceiverServer(
                self.core,
                self.host,
                grpc_port,
                max_concurrent_rpcs=self.max_connections,
                max_concurrent_rpcs_per_peer=self.max_connections_per_peer,
                request_timeout_seconds=self.request_timeout_seconds,
                credentials=credentials,
            )
            try:
                http_server = HTTPReceiverThread(
                    self.core,
                    self.host,
                    http_port,
                    max_connections=self.max_connections,
                    max_connections_per_peer=self.max_connections_per_peer,
                    request_timeout_seconds=self.request_timeout_seconds,
                    ssl_context=ssl_context,
                )
            except BaseException:
                grpc_server.stop(0)
                raise
            if self._workers is not None:
                try:
                    self._workers.start()  # after both ports are bound: a port in use starts none
                except BaseException:
                    grpc_server.stop(0)
                    http_server.stop(0)
                    raise
            for route in self._routes:
                http_server.mount(route)
            grpc_server.start()
            http_server.start()
            self._grpc, self._http = grpc_server, http_server
            _logger.info("OTLP receiver on grpc %s and http %s", self.grpc_endpoint, self.http_endpoint)
        return self

    def mount(self, route: Any) -> None:
        """Serve ``route`` (such as the dashboard) on the OTLP/HTTP port too; call before :meth:`start`."""
        if self._http is not None:
            raise RuntimeError("mount routes before the receiver starts")
        self._routes.append(route)

    def stop(self, timeout_seconds: Optional[float] = None) -> None:
        """Stop both servers, waiting at most about ``timeout_seconds`` in all; idempotent."""
        timeout = self.shutdown_timeout_seconds if timeout_seconds is None else timeout_seconds
        deadline = time.monotonic() + timeout
        with self._lifecycle:
            if self._stopped:
                return
            self._stopped = True
            grpc_server, http_server = self._grpc, self._http
        # New requests are refused from here on; those in flight get what is left of the deadline.
        if not self.core.close(timeout):
            _logger.warning("OTLP receiver stopped with exports still in flight after %.1f s", timeout)
        if http_server is not None:
            http_server.stop(max(0.0, deadline - time.monotonic()))
        if grpc_server is not None:
            grpc_server.stop(max(0.0, deadline - time.monotonic()))
        if self._workers is not None:
            self._workers.close(max(0.0, deadline - time.monotonic()))
        # Only now, with no export left to pass records on, may the hook stop (a sink flushes).
        shutdown = getattr(self._on_stored, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown(max(0.0, deadline - time.monotonic()))
            except Exception:
                _logger.exception("The receiver's on_stored hook failed to shut down")

    def __enter__(self) -> "OTLPReceiver":
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.stop()

    # --- Where to send --------------------------------------------------------------------------------

    @property
    def grpc_port(self) -> int:
        return self._require(self._grpc).port

    @property
    def http_port(self) -> int:
        return self._require(self._http).port

    @property
    def worker_pids(self) -> List[int]:
        """The ingest worker processes' ids; empty without ``ingest_workers``."""
        return [] if self._workers is None else self._workers.pids

    @property
    def tls(self) -> bool:
        """True when both transports are served over TLS."""
        return self._tls is not None

    @property
    def grpc_endpoint(self) -> str:
        """``host:port`` for an OTLP/gRPC exporter (``insecure=True`` unless :attr:`tls`)."""
        return f"{self._url_host}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """``http://host:port`` (``https://`` with TLS); exports go to ``POST`` :attr:`traces_url`."""
        return f"{'https' if self.tls else 'http'}://{self._url_host}:{self.http_port}"

    @property
    def traces_url(self) -> str:
        return self.http_endpoint + TRACES_PATH

    @property
    def logs_url(self) -> str:
        """Where OTLP/HTTP logs go: log-based evaluation and metadata events (OTEP 4430)."""
        return self.http_endpoint + LOGS_PATH

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @staticmethod
    def _require(server: Any) -> Any:
        if server is None:
            raise RuntimeError("the OTLP receiver is not started; call start() or use it as a context manager")
        return server

    # --- Records --------------------------------------------------------------------------------------

    def wait_for_scores(self, count: int, timeout: float = 10.0) -> List[ScoreRecord]:
        """Block until the store holds at least ``count`` scores; return them all, oldest first.

        Raises ``TimeoutError`` after ``timeout`` seconds, saying how many arrived.
        """
        self._wait_until(self.store.count_scores, count, timeout, "scores")
        return self.store.scores()

    def wait_for_metadata(self, count: int, timeout: float = 10.0) -> List[MetadataRecord]:
        """Block until the store holds at least ``count`` metadata updates; return them all."""
        self._wait_until(self.store.count_metadata, count, timeout, "metadata updates")
        return self.store.metadata()

    def _wait_until(self, stored_count: Callable[[], int], count: int, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._stored:
            while True:
                stored = stored_count()
                if stored >= count:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the store holds {stored} of {count} {what} after {timeout} s")
                self._stored.wait(min(remaining, 0.5))

    def _store_translation(self, translation: Any) -> int:
        written = self.store.add(translation)
        self._wake_waiters()
        if self._on_stored is not None:
            self._pass_on(translation)
        return written

    def _wake_waiters(self) -> None:
        with self._stored:
            self._stored.notify_all()

    def _pass_on(self, translation: Any) -> None:
        # The records are stored, so the export succeeds whatever the hook does: an error here
        # must not make the exporter retry (or drop) data that already arrived.
        try:
            self._on_stored(translation)  # type: ignore[misc]
        except Exception:
            self._on_stored_failures += 1
            if self._on_stored_failures == 1:
                _logger.exception("The receiver's on_stored hook failed; the records are stored but were not passed on")
            else:
                _logger.debug("The receiver's on_stored hook failed again (%d times)", self._on_stored_failures, exc_info=True)
