"""The forwarders' connections: kept alive and reused, re-opened when the server closed them,
closed by ``close()``, over TLS and through a proxy as before, redirects reported."""

from __future__ import annotations

import base64
import gc
import http.client
import ssl
import threading
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from support.fakes.http_server import FakeJsonServer, Reply
from support.fakes.langfuse import FakeLangfuse
from support.fakes.mlflow import FakeMLflow
from support.receiver_support import self_signed_certificate
from support.record_builders import TRACE_A, TRACE_B, score
from otel_scoring.forward import ForwardingSink, LangfuseForwarder, MLflowForwarder, PhoenixForwarder, RetryPolicy, forward_records

ONE_ATTEMPT = RetryPolicy(max_attempts=1)  # a reconnect must not need the retry policy
FAST_RETRIES = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=5)


def _scores(count: int, prefix: str = "s") -> list:
    return [score(f"{prefix}-{n}", value=n / 100) for n in range(count)]


def _langfuse(server: FakeLangfuse, **options: Any) -> LangfuseForwarder:
    return LangfuseForwarder(server.url, public_key="pk", secret_key="sk", **options)


@pytest.fixture
def langfuse() -> Iterator[FakeLangfuse]:
    with FakeLangfuse(public_key="pk", secret_key="sk") as server:
        yield server


# --- reuse ------------------------------------------------------------------------------------------


def test_langfuse_sends_many_scores_over_one_connection_per_sending_thread(langfuse) -> None:
    """40 scores, 4 at a time, over at most 4 connections, and a second call reuses them."""
    with _langfuse(langfuse, concurrency=4, retry_policy=ONE_ATTEMPT) as forwarder:
        first = forwarder.forward(_scores(40, "a"), [])
        after_first = langfuse.connections_accepted
        second = forwarder.forward(_scores(40, "b"), [])

    assert (first.sent, second.sent) == (40, 40)
    assert 1 <= after_first <= 4
    assert langfuse.connections_accepted == after_first  # the second call opened none
    assert len(langfuse.scores) == 80


def test_mlflow_reads_and_writes_every_trace_over_one_connection() -> None:
    """MLflow's GET of a trace and the POSTs of its assessments, for two traces, share one connection."""
    with FakeMLflow() as mlflow:
        mlflow.add_trace(TRACE_A)
        mlflow.add_trace(TRACE_B)
        scores = _scores(3, "a") + [score(f"b-{n}", trace_id=TRACE_B) for n in range(3)]

        [result] = forward_records(scores, [MLflowForwarder(mlflow.url, retry_policy=ONE_ATTEMPT)])

        assert result.sent == 6
        assert len(mlflow.requests) == 8  # a GET and three POSTs per trace
        assert mlflow.connections_accepted == 1


class _FakePhoenix(FakeJsonServer):
    """Takes every annotation batch (``/v1/span_annotations`` etc.), as Phoenix answers them."""

    def handle(self, method: str, path: str, query: Any, headers: Any, body: Any) -> Reply:
        return 200, {"data": [{"id": str(n)} for n, _ in enumerate(body["data"])]}


def test_phoenix_sends_every_batch_over_one_connection() -> None:
    """Three batches of annotations, one connection."""
    with _FakePhoenix() as phoenix:
        [result] = forward_records(_scores(5), [PhoenixForwarder(phoenix.url, batch_size=2, retry_policy=ONE_ATTEMPT)])

        assert result.sent == 5
        assert (len(phoenix.requests), phoenix.connections_accepted) == (3, 1)


# --- a server that closes connections ---------------------------------------------------------------


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry(langfuse) -> None:
    """After the server drops its idle keep-alive connections, the next scores go on a new one."""
    with _langfuse(langfuse, concurrency=1, retry_policy=ONE_ATTEMPT) as forwarder:
        before = forwarder.forward(_scores(3, "a"), [])
        dropped = langfuse.drop_idle_connections()
        after = forwarder.forward(_scores(3, "b"), [])

    assert dropped == 1
    assert (before.sent, after.sent, after.failed) == (3, 3, 0)
    assert langfuse.connections_accepted == 2
    assert len(langfuse.requests) == 6  # nothing was asked twice


def test_a_server_that_ends_every_keep_alive_connection_after_one_answer_still_gets_every_score(langfuse) -> None:
    """The server closes each connection after answering, without saying so: each request is sent
    once more on a fresh connection, never counted as a failure, never stored twice."""
    langfuse.hang_up_after_answering = True

    with _langfuse(langfuse, concurrency=1, retry_policy=ONE_ATTEMPT) as forwarder:
        result = forwarder.forward(_scores(5), [])

    assert (result.sent, result.failed) == (5, 0)
    assert len(langfuse.requests) == 5
    assert len(langfuse.scores) == 5


class _HalfAnswer(BaseHTTPRequestHandler):
    """Answers its first request, then sends part of the next answer and hangs up."""

    protocol_version = "HTTP/1.1"
    received: List[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(self.path)
        if len(self.received) == 1:
            self._answer(b'{"id":"1"}', b'{"id":"1"}')
        else:
            self._answer(b'{"id":"2", "a long answer": "that never arrives whole"}', b'{"id":"2"')
            self.close_connection = True

    def _answer(self, promised: bytes, sent: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(promised)))
        self.end_headers()
        self.wfile.write(sent)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_answer_cut_short_is_a_failure_not_a_silent_second_send() -> None:
    """Part of the answer arrived, so the write may have happened: it is the retry policy's call
    (here one attempt: a failure), never the reconnect's."""
    _HalfAnswer.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HalfAnswer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with LangfuseForwarder(url, public_key="pk", secret_key="sk", concurrency=1, retry_policy=ONE_ATTEMPT) as forwarder:
            result = forwarder.forward(_scores(2), [])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    assert (result.sent, result.failed) == (1, 1)
    assert "cannot connect" in result.errors[0]
    assert len(_HalfAnswer.received) == 2


# --- close ------------------------------------------------------------------------------------------


def _resource_warnings(use: Any) -> List[str]:
    """The ResourceWarnings raised while ``use()`` runs and its garbage is collected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        use()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_close_closes_every_connection_and_leaves_no_resource_warning(langfuse) -> None:
    """After close() the server sees every connection end, and dropping the forwarder warns of nothing."""

    def forward_and_close() -> None:
        forwarder = _langfuse(langfuse, concurrency=4)
        assert forwarder.forward(_scores(20), []).sent == 20
        assert langfuse.open_connections >= 1
        forwarder.close()
        forwarder.close()  # idempotent

    assert _resource_warnings(forward_and_close) == []
    assert langfuse.wait_for_open_connections(0) == 0


def test_a_forwarder_dropped_without_close_is_what_the_warning_catches(langfuse) -> None:
    """The control of the test above: the check does see a connection left open."""

    def forward_and_drop() -> None:
        _langfuse(langfuse, concurrency=1).forward(_scores(2), [])

    assert any("unclosed" in message for message in _resource_warnings(forward_and_drop))


def test_a_closed_forwarder_forwards_again_on_a_new_connection(langfuse) -> None:
    """close() releases the connections; it does not end the forwarder."""
    forwarder = _langfuse(langfuse, concurrency=1)
    forwarder.forward(_scores(2, "a"), [])
    forwarder.close()

    [again] = forward_records(_scores(2, "b"), [forwarder])

    assert again.sent == 2
    assert langfuse.connections_accepted == 2
    assert langfuse.wait_for_open_connections(0) == 0


def test_the_sink_closes_its_forwarders_connections_when_it_shuts_down(langfuse) -> None:
    """ForwardingSink.shutdown forwards what is queued (both batches over one connection), then closes it."""
    sink = ForwardingSink([_langfuse(langfuse, concurrency=1)])
    sink.submit(_scores(3, "a"))
    sink.submit(_scores(3, "b"))

    assert _resource_warnings(lambda: sink.shutdown(10)) == []
    assert [t.sent for t in sink.totals] == [6]
    assert langfuse.connections_accepted == 1
    assert langfuse.wait_for_open_connections(0) == 0


def test_a_sink_shut_down_while_a_request_hangs_closes_that_connection_when_it_ends(langfuse) -> None:
    """The shutdown timeout passes with a request in flight: its connection is closed once it
    returns instead of going back to the forwarder."""
    sink = ForwardingSink([_langfuse(langfuse, retry_policy=ONE_ATTEMPT)])
    langfuse.pause()
    sink.submit(_scores(1))
    assert langfuse.wait_for_open_connections(1) == 1

    flushed = sink.shutdown(0.2)
    langfuse.resume()

    assert flushed is False
    assert langfuse.wait_for_open_connections(0) == 0


# --- TLS, proxies, redirects ------------------------------------------------------------------------


@pytest.fixture
def tls_langfuse(tmp_path: Path) -> Iterator[Any]:
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    with FakeLangfuse(public_key="pk", secret_key="sk", tls=context) as server:
        yield server, cert


def test_https_verifies_the_certificate_as_before_and_keeps_the_connection(tls_langfuse, monkeypatch) -> None:
    """The default verification (the system's CAs, or SSL_CERT_FILE): a certificate it does not
    trust is refused; one it trusts carries every request over one connection."""
    server, cert = tls_langfuse
    [refused] = forward_records(_scores(1), [_langfuse(server, retry_policy=ONE_ATTEMPT)])
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))

    [accepted] = forward_records(_scores(5), [_langfuse(server, concurrency=1, retry_policy=ONE_ATTEMPT)])

    assert (refused.sent, refused.failed) == (0, 1)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.errors[0]
    assert (accepted.sent, accepted.failed) == (5, 0)
    assert len(server.scores) == 5
    assert server.connections_accepted == 1  # one for the five (the refused handshake never became one)


class _Proxy(BaseHTTPRequestHandler):
    """A forwarding HTTP proxy: takes ``POST http://host:port/path`` and asks the host for it."""

    protocol_version = "HTTP/1.1"
    seen: List[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(f"{self.command} {self.path} {self.headers.get('Proxy-Authorization')}")
        body = self.rfile.read(int(self.headers["Content-Length"]))
        parts = urllib.parse.urlsplit(self.path)
        upstream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization", "connection")}
        try:
            upstream.request("POST", parts.path, body=body, headers=headers)
            reply = upstream.getresponse()
            payload = reply.read()
        finally:
            upstream.close()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_proxy_from_the_environment_is_used_as_urllib_used_it(langfuse, proxy, monkeypatch) -> None:
    """http_proxy (with credentials) carries the requests, asked for in full; no_proxy bypasses it."""
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://user:p%40ss@{proxy}")

    [proxied] = forward_records(_scores(3, "a"), [_langfuse(langfuse, concurrency=1, retry_policy=ONE_ATTEMPT)])
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    [direct] = forward_records(_scores(2, "b"), [_langfuse(langfuse, concurrency=1, retry_policy=ONE_ATTEMPT)])

    assert (proxied.sent, direct.sent) == (3, 2)
    assert len(langfuse.scores) == 5
    credentials = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert _Proxy.seen == [f"POST {langfuse.url}/api/public/scores {credentials}"] * 3


class _Redirecting(FakeJsonServer):
    def handle(self, method: str, path: str, query: Any, headers: Any, body: Any) -> Reply:
        raise AssertionError("not reached")  # pragma: no cover

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self.requests.append(handler.command)  # type: ignore[arg-type]
        handler.send_response(301)
        handler.send_header("Location", "https://langfuse.example/api/public/scores")
        handler.send_header("Content-Length", "0")
        handler.end_headers()


def test_a_redirect_is_not_followed_and_the_error_names_where_it_points() -> None:
    """urllib turned a redirected POST into a GET that "succeeded" without writing anything;
    now the score fails, once, with the URL to use instead."""
    with _Redirecting() as server:
        [result] = forward_records(_scores(1), [LangfuseForwarder(server.url, public_key="pk", secret_key="sk", retry_policy=FAST_RETRIES)])

        assert (result.sent, result.failed, result.error_kinds) == (0, 1, ["HTTP 301"])
        assert "https://langfuse.example/api/public/scores" in result.errors[0]
        assert server.requests == ["POST"]  # not retried, not re-sent as a GET


def test_connections_are_not_opened_until_a_request_needs_one(langfuse) -> None:
    """Building forwarders (the CLI builds them while parsing its arguments) opens nothing."""
    assert _resource_warnings(lambda: _langfuse(langfuse)) == []  # not even closed

    assert langfuse.connections_accepted == 0
