"""The dashboard on the receiver's OTLP/HTTP port: the same token, a browser-friendly sign-in, read-only."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from otel_scoring.dashboard import Dashboard
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.store import ScoreStore
from support.dashboard_workload import fill

TOKEN = "s3cret-token"


@pytest.fixture
def receiver(tmp_path):
    path = str(tmp_path / "scores.db")
    fill(path, runs_per_release=4)
    with ScoreStore(path) as store:
        receiver = OTLPReceiver(store, grpc_port=0, http_port=0, token=TOKEN)
        receiver.mount(Dashboard(store, token=TOKEN, jaeger_url="http://127.0.0.1:16686/"))
        with receiver:
            yield receiver


def _get(receiver, path, headers=None, method="GET"):
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_dashboard_needs_the_receivers_token_and_a_browser_passes_it_once(receiver):
    """No token: 401; the bearer header works; ?token= sets an HttpOnly cookie and drops the token from the address."""
    status, _, body = _get(receiver, "/ui/api/overview")
    assert status == 401 and "bearer token" in json.loads(body)["error"]
    assert _get(receiver, "/ui/api/overview", {"Authorization": "Bearer wrong"})[0] == 401
    status, _, body = _get(receiver, "/ui/api/overview", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and json.loads(body)["scores"] == 4 * 2 * 5
    status, headers, _ = _get(receiver, f"/ui/?token={TOKEN}")
    assert status == 303 and headers["Location"] == "/ui/"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui/" in cookie
    status, headers, body = _get(receiver, "/ui/", {"Cookie": cookie.split(";")[0]})
    assert status == 200 and b"<script src=\"app.js\"" in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]  # the page may load nothing from elsewhere
    assert _get(receiver, "/ui/?token=guess")[0] == 401


def test_a_run_links_to_jaeger_and_the_dashboard_only_reads(receiver):
    """A run's answer carries its Jaeger link; writes are refused with 405, and OTLP still works beside it."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    runs = json.loads(_get(receiver, "/ui/api/runs?limit=1", auth)[2])["runs"]
    run = json.loads(_get(receiver, f"/ui/api/run?trace={runs[0]['trace_id']}", auth)[2])
    assert run["jaeger_url"] == f"http://127.0.0.1:16686/trace/{runs[0]['trace_id']}"
    assert [section["title"] for section in run["metadata"]] == ["User Metadata (llm)", "User Metadata (prompt)"]
    assert _get(receiver, "/ui/api/runs", auth, method="POST")[0] == 405
    assert _get(receiver, "/ui/api/nothing", auth)[0] == 404
    assert _get(receiver, "/ui/api/run?trace=xyz", auth)[0] == 400
    # The OTLP endpoint is untouched: a GET there is still the receiver's 405, not the dashboard's.
    status, headers, _ = _get(receiver, urlsplit(receiver.traces_url).path, auth)
    assert status == 405 and "Content-Security-Policy" not in headers


def test_otel_scoring_ui_prints_its_url_first_and_receives_nothing(tmp_path):
    """`otel-scoring ui --port 0` prints the dashboard's URL on its first line; OTLP sent to it is refused, the store unchanged."""
    import subprocess
    import sys

    path = str(tmp_path / "scores.db")
    fill(path, runs_per_release=2)
    process = subprocess.Popen([sys.executable, "-m", "otel_scoring", "ui", "--db", path, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/ui/")
        connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=10)
        connection.request("GET", "/ui/api/trends?bucket=1d&name=helpfulness")
        series = json.loads(connection.getresponse().read())["series"]
        assert [(entry["name"], entry["count"]) for entry in series] == [("helpfulness", 4)]
        connection.request("POST", "/v1/traces", body=b"\x00", headers={"Content-Type": "application/x-protobuf"})
        response = connection.getresponse()
        assert response.status == 404 and "receives nothing" in json.loads(response.read())["error"]
        connection.close()
    finally:
        process.terminate()
        process.communicate(timeout=10)
    with ScoreStore(path) as store:
        assert store.count_scores() == 4 * 5
