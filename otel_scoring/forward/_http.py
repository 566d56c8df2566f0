"""JSON over HTTP for the forwarders: stdlib ``http.client`` on kept-alive connections, bounded retries with backoff.

A request either returns the decoded JSON body or raises :class:`ForwardError`, whose
``retryable`` flag says whether trying again could help: connection errors, timeouts, 429 and 5xx
are retryable; any other 4xx (bad request, auth, not found) is not and is never retried, nor is a
3xx: redirects are not followed (the error names where the server points).
:func:`call_with_retries` retries an operation with exponential backoff and jitter, bounded by
a number of attempts and a total time. Retrying is only safe because every write the forwarders
make is idempotent (keyed by the score id), so a retried request never duplicates a score.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import random
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar

_logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "otel-scoring"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a response larger than this is not ours to read
MAX_ERROR_EXCERPT = 300  # characters of a response body quoted in an error message
DEFAULT_MAX_IDLE_CONNECTIONS = 4  # kept alive per client: one per sending thread (Langfuse's concurrency)


class ForwardError(Exception):
    """A request to a destination failed.

    ``status`` is the HTTP status (None for connection errors), ``retryable`` whether trying
    again could succeed, ``retry_after_seconds`` the server's ``Retry-After`` when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        retryable: bool = False,
        retry_after_seconds: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after_seconds = retry_after_seconds

    @property
    def kind(self) -> str:
        """The problem without its details (``HTTP 503``, ``cannot connect``), to log it once."""
        if self.status is not None:
            return f"HTTP {self.status}"
        return "cannot connect" if self.retryable else "bad response"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``max_attempts`` attempts within ``max_elapsed_seconds``.

    The wait before retry *n* is ``initial_backoff_seconds * 2**(n-1)``, capped at
    ``max_backoff_seconds``, with jitter (between half and all of it) so that many clients
    retrying after one outage do not arrive together. A server's ``Retry-After`` replaces the
    computed wait (still capped). A retry that would end past the time budget is not made.
    """

    max_attempts: int = 5
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0
    max_elapsed_seconds: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        for name in ("initial_backoff_seconds", "max_backoff_seconds", "max_elapsed_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")

    def backoff_seconds(self, retry_number: int, retry_after_seconds: Optional[float] = None) -> float:
        """The wait before retry ``retry_number`` (1 for the first retry)."""
        if retry_after_seconds is not None:
            return min(max(retry_after_seconds, 0.0), self.max_backoff_seconds)
        ceiling = min(self.initial_backoff_seconds * (2 ** (retry_number - 1)), self.max_backoff_seconds)
        return ceiling * random.uniform(0.5, 1.0)


def call_with_retries(
    operation: Callable[[int], T],
    policy: RetryPolicy,
    what: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``operation(attempt)`` (attempt counts from 1) until it succeeds or may not retry.

    Re-raises the last :class:`ForwardError` when the error is not retryable, the attempts are
    used up, or the next wait would overrun the time budget.
    """
    started = clock()
    attempt = 1
    while True:
        try:
            return operation(attempt)
        except ForwardError as error:
            if not error.retryable or attempt >= policy.max_attempts:
                raise
            delay = policy.backoff_seconds(attempt, error.retry_after_seconds)
            if clock() - started + delay > policy.max_elapsed_seconds:
                raise
            _logger.debug(
                "%s failed (%s); retry %d of %d in %.2fs", what, error, attempt, policy.max_attempts - 1, delay
            )
            sleep(delay)
            attempt += 1


class JsonHttpClient:
    """Sends JSON requests to one base URL with fixed headers (auth, content type).

    Connections are kept alive and reused, one request at a time each (see :class:`_Connections`):
    opening a connection per request cost 1.3-1.4 ms of CPU against 0.3 ms on a reused one.
    :meth:`close` closes them; a request after it opens a new one.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_policy: Optional[RetryPolicy] = None,
        max_idle_connections: int = DEFAULT_MAX_IDLE_CONNECTIONS,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"expected an http:// or https:// URL, got {base_url!r}")
        if parsed.username or parsed.password:
            # They would end up in log lines; every destination reads credentials from env vars.
            raise ValueError("put credentials in the destination's environment variables, not in the URL")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.retry_policy = retry_policy or RetryPolicy()
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **dict(headers or {})}
        self._route = _Route(parsed, timeout_seconds)
        self._headers.update(self._route.request_headers)
        self._connections = _Connections(self._route.connect, max_idle_connections)

    def close(self) -> None:
        """Close the kept-alive connections (one in use closes when its request ends). Idempotent."""
        self._connections.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Optional[Mapping[str, Any]] = None,
        retry: bool = True,
    ) -> Any:
        """Send one request (retrying per the policy unless ``retry`` is False); the JSON reply."""
        what = f"{method} {self.base_url}{path}"
        if not retry:
            return self.request_once(method, path, body=body, query=query)
        return call_with_retries(
            lambda _attempt: self.request_once(method, path, body=body, query=query), self.retry_policy, what
        )

    def request_once(
        self, method: str, path: str, *, body: Any = None, query: Optional[Mapping[str, Any]] = None
    ) -> Any:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = None
        headers = self._headers
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
            headers = {**headers, "Content-Type": "application/json"}
        target = self._route.target(url)
        connection, generation = self._connections.take()
        reusable = False
        try:
            status, reply_headers, payload, reusable = _exchange(connection, method, target, data, headers)
        except (http.client.HTTPException, OSError) as error:  # OSError: refused, reset, timeout, TLS
            raise ForwardError(f"{method} {url}: cannot connect ({error})", retryable=True) from None
        finally:
            self._connections.give_back(connection, generation, reusable)
        if status >= 300:
            raise _http_error(method, url, status, reply_headers, payload)
        if len(payload) > MAX_RESPONSE_BYTES:
            raise ForwardError(f"{method} {url}: response larger than {MAX_RESPONSE_BYTES} bytes")
        if not payload.strip():
            return None
        try:
            return json.loads(payload)
        except ValueError:
            raise ForwardError(
                f"{method} {url}: response is not JSON (is the URL right?): {_excerpt(payload)}"
            ) from None


# A kept-alive connection the server has closed meanwhile (idle too long, restarted) fails like
# this on the next request, before any of the answer arrives: the request is sent again, once, on
# a fresh connection. Not a timeout: a server that is merely slow may be doing the write.
_STALE_CONNECTION = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)  # RemoteDisconnected too


def _exchange(
    connection: http.client.HTTPConnection, method: str, target: str, data: Optional[bytes], headers: Mapping[str, str]
) -> Tuple[int, http.client.HTTPMessage, bytes, bool]:
    """Send one request and read its answer: (status, headers, body, connection reusable).

    A success body is read up to one byte past ``MAX_RESPONSE_BYTES``, an error body only as far
    as its excerpt; a connection whose answer was not read to its end cannot carry another."""
    reused = connection.sock is not None
    try:
        connection.request(method, target, body=data, headers=headers)
        response = connection.getresponse()
    except _STALE_CONNECTION:
        if not reused:
            raise
        connection.close()
        connection.request(method, target, body=data, headers=headers)
        response = connection.getresponse()
    try:
        success = response.status < 300
        payload = response.read(MAX_RESPONSE_BYTES + 1 if success else MAX_ERROR_EXCERPT * 4)
        complete = response.isclosed()  # http.client closes a response once its whole body is read
        if success and not complete and len(payload) <= MAX_RESPONSE_BYTES:
            # read(n) returns what came before the server hung up, without a word
            raise http.client.IncompleteRead(payload, response.length)
    finally:
        response.close()
    return response.status, response.headers, payload, complete and not response.will_close


class _Connections:
    """The idle kept-alive connections of one client, each taken by one request at a time.

    Bounded: at most ``max_idle`` wait for the next request (a client sending from 4 threads keeps
    4); one more is closed when its request ends. :meth:`close` closes the idle ones and, through
    the generation it bumps, each one in use when its request ends, so a forwarder closed while a
    request is still in flight (a sink shut down on its timeout) leaves no socket open behind.
    """

    def __init__(self, connect: Callable[[], http.client.HTTPConnection], max_idle: int) -> None:
        if isinstance(max_idle, bool) or not isinstance(max_idle, int) or max_idle < 1:
            raise ValueError(f"max_idle_connections must be a positive int, got {max_idle!r}")
        self._connect = connect
        self._max_idle = max_idle
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._generation = 0

    def take(self) -> Tuple[http.client.HTTPConnection, int]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), self._generation  # the most recent: least likely closed by the server
            generation = self._generation
        return self._connect(), generation  # not connected yet: http.client connects on the first request

    def give_back(self, connection: http.client.HTTPConnection, generation: int, reusable: bool) -> None:
        if reusable:
            with self._lock:
                if generation == self._generation and len(self._idle) < self._max_idle:
                    self._idle.append(connection)
                    return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class _Route:
    """How requests reach the base URL: directly, or through the proxy the environment names.

    ``urllib.request.urlopen``, which this client used before keeping connections alive, honours
    ``http_proxy``/``https_proxy``/``no_proxy``; so does this, the same way: an http:// URL is asked
    of the proxy in full (with ``Proxy-Authorization`` when the proxy URL has credentials), an
    https:// one through a ``CONNECT`` tunnel, TLS then verified against the destination as
    without a proxy (the default SSL context, as urllib's).
    """

    def __init__(self, parsed: urllib.parse.SplitResult, timeout_seconds: float) -> None:
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or ""
        self._port = parsed.port
        self._timeout = timeout_seconds
        self._proxy: Optional[urllib.parse.SplitResult] = None
        self.request_headers: Dict[str, str] = {}  # what every request through this route carries
        self._tunnel_headers: Dict[str, str] = {}
        self._origin_length = len(f"{parsed.scheme}://{parsed.netloc}")  # what a request line leaves out
        proxy = urllib.request.getproxies().get(parsed.scheme)
        if proxy and not urllib.request.proxy_bypass(parsed.netloc):
            self._proxy = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
            if not self._https:
                self._origin_length = 0  # the proxy is asked for the whole URL
            credentials = _proxy_credentials(self._proxy)
            if credentials:
                (self._tunnel_headers if self._https else self.request_headers)["Proxy-Authorization"] = credentials

    def connect(self) -> http.client.HTTPConnection:
        """A new, not yet connected connection (context None: the default verification, as urllib's)."""
        if self._proxy is None:
            if self._https:
                return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
            return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        proxy_host, proxy_port = self._proxy.hostname or "", self._proxy.port
        if self._https:
            connection = http.client.HTTPSConnection(proxy_host, proxy_port, timeout=self._timeout)
            connection.set_tunnel(self._host, self._port, headers=self._tunnel_headers)
            return connection
        if self._proxy.scheme == "https":  # as urllib: an http:// URL through an https:// proxy
            return http.client.HTTPSConnection(proxy_host, proxy_port, timeout=self._timeout)
        return http.client.HTTPConnection(proxy_host, proxy_port, timeout=self._timeout)

    def target(self, url: str) -> str:
        """What the request line names: the path and query, or the whole URL when a proxy forwards it."""
        return url[self._origin_length :] or "/"


def _proxy_credentials(proxy: urllib.parse.SplitResult) -> Optional[str]:
    """The ``Proxy-Authorization`` value for a proxy URL with a user and password, as urllib sends it."""
    if not (proxy.username and proxy.password):
        return None
    pair = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _http_error(method: str, url: str, status: int, headers: http.client.HTTPMessage, body: bytes) -> ForwardError:
    retryable = status == 429 or status >= 500
    retry_after = _retry_after_seconds(headers.get("Retry-After"))
    message = f"{method} {url}: HTTP {status} {_excerpt(body)}".rstrip()
    if 300 <= status < 400:
        # Not followed: urllib turned a redirected POST into a GET, which "succeeds" without
        # writing anything. The URL to use instead is what the user needs to know.
        message += f" (redirected to {headers.get('Location') or '?'}: forward to that URL instead)"
    return ForwardError(
        message,
        status=status,
        retryable=retryable,
        retry_after_seconds=retry_after if retryable else None,
    )


def _retry_after_seconds(value: Optional[str]) -> Optional[float]:
    # Only the delay-seconds form; an HTTP-date falls back to our own backoff.
    if value is None:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text if len(text) <= MAX_ERROR_EXCERPT else text[: MAX_ERROR_EXCERPT - 1] + "…"


def is_auth_failure(error: ForwardError) -> bool:
    """401 or 403: every further request with the same credentials would fail the same way."""
    return error.status in (401, 403)
