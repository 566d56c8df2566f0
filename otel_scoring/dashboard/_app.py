"""The dashboard over HTTP: its page, its assets and its JSON API, mounted on an HTTP server.

A :class:`Dashboard` is a route the receiver's HTTP layer asks (``handles(path)``) before treating
a request as OTLP, and answers with a :class:`Reply` (``respond``). It never raises: a bug in an
endpoint answers 500 and is logged. Every asset is a file of this package; the
``Content-Security-Policy`` forbids the page any request to another origin (no CDN, fonts,
images or telemetry), so nothing it draws leaves the machine.

Authentication is the receiver's bearer token: ``Authorization: Bearer <token>`` (the CLI, curl),
or, for a browser, the URL ``<prefix>?token=<token>`` once, which sets an HttpOnly, SameSite=Strict
cookie scoped to the dashboard and redirects to the same page without the token in its address.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from importlib import resources
from typing import Any, Callable, Dict, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from otel_scoring.dashboard import _api
from otel_scoring.receiver._core import Reply
from otel_scoring.store import ScoreStore

_logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "/ui/"
TOKEN_COOKIE = "otel_scoring_token"
TOKEN_PARAMETER = "token"
MAX_QUERY_CHARS = 4096
_JSON = "application/json"
_ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8", "index.html": "text/html; charset=utf-8"}
_SECURITY_HEADERS: Tuple[Tuple[str, str], ...] = (
    # Only this origin: the page can fetch, load and draw nothing from anywhere else.
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)

Endpoint = Callable[[ScoreStore, Mapping[str, str]], Dict[str, Any]]


class Dashboard:
    """The dashboard of ``store`` under ``prefix``.

    Args:
        token: the bearer token every request must present (None: none needed).
        jaeger_url: Jaeger's UI base URL; a run's page links to the trace there when given.
        redirect_root: also answer ``/`` with a redirect to the dashboard (``otel-scoring ui``).
    """

    def __init__(
        self, store: ScoreStore, *, token: Optional[str] = None, jaeger_url: Optional[str] = None, prefix: str = DEFAULT_PREFIX, redirect_root: bool = False
    ) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/") or prefix == "/":
            raise ValueError(f"the dashboard prefix must look like /ui/, got {prefix!r}")
        self.store = store
        self.prefix = prefix
        self.jaeger_url = jaeger_url or None
        self._token = None if not token else token.encode("utf-8")
        self._redirect_root = redirect_root
        self._endpoints: Dict[str, Endpoint] = {
            "overview": _api.overview,
            "trends": _api.trends,
            "runs": _api.runs,
            "run": lambda store, params: _api.run(store, params, self.jaeger_url),
            "cohorts": _api.cohorts,
            "compare": _api.compare,
        }

    def handles(self, path: str) -> bool:
        return path.startswith(self.prefix) or path == self.prefix[:-1] or (self._redirect_root and path == "/")

    def respond(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        """The answer to one request for ``target`` (path and query); ``headers`` lower-cased."""
        try:
            return self._respond(method, target, headers)
        except Exception:  # a bug in an endpoint: answer it, never take the server thread down
            _logger.exception("The dashboard failed to answer %s %s", method, urlsplit(target).path)
            return _json_reply(500, {"error": "internal error; see the server's log"})

    def _respond(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        if method not in ("GET", "HEAD"):
            return _json_reply(405, {"error": f"{method} is not allowed here; the dashboard only reads"}, (("Allow", "GET, HEAD"),))
        if len(target) > MAX_QUERY_CHARS:
            return _json_reply(414, {"error": f"the address is longer than {MAX_QUERY_CHARS} characters"})
        parts = urlsplit(target)
        path = parts.path
        if path in ("/", self.prefix[:-1]):
            return _redirect(self.prefix)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        relative = path[len(self.prefix) :]
        presented = params.pop(TOKEN_PARAMETER, None)
        if presented is not None and relative == "":
            return self._sign_in(presented, params)
        if not self._authorized(headers):
            return self._unauthorized(relative)
        if relative in ("", "index.html"):
            return _asset("index.html")
        if relative in _ASSETS:
            return _asset(relative)
        if relative.startswith("api/"):
            endpoint = self._endpoints.get(relative[4:])
            if endpoint is None:
                return _json_reply(404, {"error": f"no API endpoint {relative[4:]!r}; see docs/dashboard.md"})
            try:
                return _json_reply(200, endpoint(self.store, params))
            except _api.ApiError as error:
                return _json_reply(error.status, {"error": error.message})
        return _json_reply(404, {"error": f"nothing at {path}"})

    def _sign_in(self, presented: str, params: Mapping[str, str]) -> Reply:
        """``?token=...``: check it, keep it in a cookie, and drop it from the address bar."""
        if self._token is not None and not hmac.compare_digest(presented.encode("utf-8"), self._token):
            return self._unauthorized("")
        rest = "&".join(f"{quote(key)}={quote(value)}" for key, value in params.items())
        cookie = f"{TOKEN_COOKIE}={quote(presented, safe='')}; Path={self.prefix}; HttpOnly; SameSite=Strict"
        return _redirect(self.prefix + (f"?{rest}" if rest else ""), (("Set-Cookie", cookie),))

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self._token is None:
            return True
        authorization = headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("utf-8"), self._token):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE and hmac.compare_digest(unquote(value).encode("utf-8"), self._token):
                return True
        return False

    def _unauthorized(self, relative: str) -> Reply:
        challenge = (("WWW-Authenticate", 'Bearer realm="otel-scoring"'),)
        if relative.startswith("api/"):
            return _json_reply(401, {"error": "a valid bearer token is required (Authorization: Bearer <token>)"}, challenge)
        page = (
            "<!doctype html><meta charset=utf-8><title>otel-scoring: sign in</title>"
            "<p>This dashboard needs the receiver's token. Open <code>"
            f"{self.prefix}?{TOKEN_PARAMETER}=&lt;token&gt;</code> once: the browser keeps it in a cookie for this dashboard.</p>"
        )
        return Reply(401, _ASSETS["index.html"], page.encode("utf-8"), headers=challenge + _SECURITY_HEADERS)


class NotReceiving:
    """Every other path of ``otel-scoring ui``, which opens a store without receiving."""

    def handles(self, path: str) -> bool:
        return True

    def respond(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        return _json_reply(404, {"error": "otel-scoring ui shows a store and receives nothing; send OTLP to otel-scoring serve"})


def _asset(name: str) -> Reply:
    body = resources.files("otel_scoring.dashboard").joinpath("static", name).read_bytes()
    return Reply(200, _ASSETS[name], body, headers=_SECURITY_HEADERS)


def _json_reply(status: int, document: Dict[str, Any], headers: Tuple[Tuple[str, str], ...] = ()) -> Reply:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=_json_default, allow_nan=False).encode("utf-8")
    return Reply(status, _JSON, body, headers=headers + _SECURITY_HEADERS)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _redirect(location: str, headers: Tuple[Tuple[str, str], ...] = ()) -> Reply:
    return Reply(303, "text/plain; charset=utf-8", b"", headers=(("Location", location),) + headers + _SECURITY_HEADERS)
