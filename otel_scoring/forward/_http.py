"""JSON over HTTP for the forwarders: stdlib ``urllib`` only, bounded retries with backoff.

A request either returns the decoded JSON body or raises :class:`ForwardError`, whose
``retryable`` flag says whether trying again could help: connection errors, timeouts, 429 and 5xx
are retryable; any other 4xx (bad request, auth, not found) is not and is never retried.
:func:`call_with_retries` retries an operation with exponential backoff and jitter, bounded by
a number of attempts and a total time. Retrying is only safe because every write the forwarders
make is idempotent (keyed by the score id), so a retried request never duplicates a score.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, TypeVar

_logger = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "otel-scoring"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a response larger than this is not ours to read
MAX_ERROR_EXCERPT = 300  # characters of a response body quoted in an error message


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
    """Sends JSON requests to one base URL with fixed headers (auth, content type)."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Optional[Mapping[str, str]] = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_policy: Optional[RetryPolicy] = None,
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
        headers = dict(self._headers)
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                payload = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise _http_error(method, url, error) from None
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ForwardError(f"{method} {url}: cannot connect ({reason})", retryable=True) from None
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


def _http_error(method: str, url: str, error: urllib.error.HTTPError) -> ForwardError:
    status = error.code
    try:
        body = error.read(MAX_ERROR_EXCERPT * 4)
    except OSError:
        body = b""
    finally:
        error.close()
    retryable = status == 429 or status >= 500
    retry_after = _retry_after_seconds(error.headers.get("Retry-After") if error.headers else None)
    return ForwardError(
        f"{method} {url}: HTTP {status} {_excerpt(body)}".rstrip(),
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
