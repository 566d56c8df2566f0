"""Security of the embedded receiver: loopback by default, an optional bearer token, TLS on both
transports, and SQL that never runs what a score carries.

TLS tests use a self-signed certificate made at test time with the ``openssl`` command and the
stock OTLP exporters configured with it.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, Iterator, Tuple

import grpc
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from support.receiver_support import (
    TIMEOUT_SECONDS,
    client_tls,
    grpc_status,
    http_request,
    raw_exchange,
    recorded_request,
    scored_request,
    self_signed_certificate,
    status_of,
)

import otel_scoring
from otel_scoring import ScoringSpanProcessor
from otel_scoring.cli import main
from otel_scoring.environment_variables import OTEL_SCORING_RECEIVER_TOKEN
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.store import ScoreStore

TOKEN = "s3cret-Token_value.1~+/="
SQL = "'; DROP TABLE scores; --"


@pytest.fixture
def store(tmp_path) -> Iterator[ScoreStore]:
    with ScoreStore(tmp_path / "scores.db") as opened:
        yield opened


@pytest.fixture
def guarded_receiver(store) -> Iterator[OTLPReceiver]:
    """A receiver on loopback that requires the bearer token."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, token=TOKEN, shutdown_timeout_seconds=2.0) as started:
        yield started


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def export_one_score(exporter: SpanExporter, name: str, value: float = 1.0) -> None:
    """Record one span score through a real provider and export it with ``exporter``."""
    provider = TracerProvider(resource=Resource.create({"service.name": "security-test"}))
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("tests").start_as_current_span("secured"):
            otel_scoring.score_current_span(name=name, value=value)
    finally:
        provider.shutdown()


def bearer(token: str = TOKEN) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- Loopback by default ----------------------------------------------------------------------------------


def test_the_receiver_listens_on_loopback_unless_told_otherwise(store):
    """With no host given, both endpoints are on 127.0.0.1."""
    with OTLPReceiver(store, grpc_port=0, http_port=0) as receiver:
        assert receiver.host == "127.0.0.1"
        assert receiver.grpc_endpoint.startswith("127.0.0.1:") and receiver.http_endpoint.startswith("http://127.0.0.1:")


def test_serve_on_a_non_loopback_host_needs_the_flag_and_then_warns(tmp_path, capsys):
    """--allow-non-loopback lets serve try a reachable address and warns it has no authentication (192.0.2.1 is not ours, so nothing binds)."""
    db = str(tmp_path / "scores.db")
    assert main(["serve", "--host", "192.0.2.1", "--grpc-port", "0", "--http-port", "0", "--db", db]) == 1
    assert "--allow-non-loopback" in capsys.readouterr().err
    assert main(["serve", "--host", "192.0.2.1", "--allow-non-loopback", "--grpc-port", "0", "--http-port", "0", "--db", db]) == 1
    err = capsys.readouterr().err
    assert "WARNING" in err and "192.0.2.1" in err and "no authentication" in err
    assert "cannot listen" in err


def test_a_non_loopback_receiver_with_a_token_but_no_tls_warns_that_the_token_travels_in_clear(store, caplog):
    """allow_non_loopback with a token and no TLS is allowed, with a warning about clear text (never started here)."""
    OTLPReceiver(store, host="0.0.0.0", grpc_port=0, http_port=0, allow_non_loopback=True, token=TOKEN)
    assert any(r.levelname == "WARNING" and "clear text" in r.getMessage() for r in caplog.records)


# --- Bearer token over HTTP ---------------------------------------------------------------------------------


def test_http_without_the_token_is_401_with_a_bearer_challenge(guarded_receiver, store):
    """No Authorization header: 401, WWW-Authenticate: Bearer, a google.rpc.Status body, nothing stored."""
    status, headers, body = http_request(guarded_receiver.http_port, scored_request("anonymous").SerializeToString())
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert status_pb2.Status.FromString(body).code == code_pb2.UNAUTHENTICATED
    assert store.scores() == []


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}", "Bearer " + "A" * len(TOKEN)],
    ids=["longer", "shorter", "empty", "basic-scheme", "no-scheme", "no-space", "same-length"],
)
def test_http_with_a_wrong_token_is_401_invalid_token(guarded_receiver, store, authorization):
    """Any Authorization other than exactly "Bearer <token>" is refused and says invalid_token."""
    status, headers, _ = http_request(guarded_receiver.http_port, scored_request("impostor").SerializeToString(), headers={"Authorization": authorization})
    assert status == 401
    assert 'error="invalid_token"' in headers["www-authenticate"]
    assert store.scores() == []


def test_http_with_the_token_is_stored_and_the_scheme_is_case_insensitive(guarded_receiver, store):
    """"Bearer <token>" (any case of "Bearer") is accepted and stored."""
    assert http_request(guarded_receiver.http_port, scored_request("trusted").SerializeToString(), headers=bearer())[0] == 200
    assert http_request(guarded_receiver.http_port, scored_request("trusted-lower").SerializeToString(), headers={"Authorization": f"bearer {TOKEN}"})[0] == 200
    assert sorted(score.name for score in store.scores()) == ["trusted", "trusted-lower"]


def test_the_token_is_checked_before_anything_else_is_revealed(guarded_receiver):
    """Without the token, other paths and oversized bodies (even with Expect: 100-continue) get 401, not 404 or 413."""
    assert http_request(guarded_receiver.http_port, b"", path="/v1/logs")[0] == 401
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 999999999\r\nExpect: 100-continue\r\n\r\n"
    assert status_of(raw_exchange(guarded_receiver.http_port, head)) == 401


def test_the_stock_http_exporter_with_the_token_header_is_stored(guarded_receiver):
    """OTLPSpanExporter (HTTP) with headers={"authorization": "Bearer <token>"} delivers its scores."""
    export_one_score(HTTPSpanExporter(endpoint=guarded_receiver.traces_url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=TIMEOUT_SECONDS), "via-http-exporter")
    assert [score.name for score in guarded_receiver.wait_for_scores(1, timeout=TIMEOUT_SECONDS)] == ["via-http-exporter"]


# --- Bearer token over gRPC ---------------------------------------------------------------------------------


def test_grpc_without_or_with_a_wrong_token_is_unauthenticated(guarded_receiver, store):
    """Missing or wrong authorization metadata gets UNAUTHENTICATED and stores nothing."""
    message = scored_request("anonymous").SerializeToString()
    assert grpc_status(guarded_receiver.grpc_endpoint, message) is grpc.StatusCode.UNAUTHENTICATED
    assert grpc_status(guarded_receiver.grpc_endpoint, message, metadata=[("authorization", "Bearer nope")]) is grpc.StatusCode.UNAUTHENTICATED
    assert store.scores() == []


def test_the_stock_grpc_exporter_with_the_token_header_is_stored(guarded_receiver):
    """OTLPSpanExporter (gRPC) with an authorization header delivers its scores."""
    exporter = GRPCSpanExporter(endpoint=guarded_receiver.grpc_endpoint, insecure=True, headers={"authorization": f"Bearer {TOKEN}"}, timeout=TIMEOUT_SECONDS)
    export_one_score(exporter, "via-grpc-exporter")
    assert [score.name for score in guarded_receiver.wait_for_scores(1, timeout=TIMEOUT_SECONDS)] == ["via-grpc-exporter"]


# --- Where the token comes from -------------------------------------------------------------------------------


def test_the_token_comes_from_the_environment_and_an_empty_keyword_turns_it_off(store, monkeypatch):
    """OTEL_SCORING_RECEIVER_TOKEN is required when no token is passed; token="" overrides it with none."""
    monkeypatch.setenv(OTEL_SCORING_RECEIVER_TOKEN, TOKEN)
    message = scored_request("from-env").SerializeToString()
    with OTLPReceiver(store, grpc_port=0, http_port=0) as receiver:
        assert http_request(receiver.http_port, message)[0] == 401
        assert http_request(receiver.http_port, message, headers=bearer())[0] == 200
    with OTLPReceiver(store, grpc_port=0, http_port=0, token="") as receiver:
        assert http_request(receiver.http_port, message)[0] == 200


@pytest.mark.parametrize("token", ["has space", "new\nline", "ünïcode", "=leading"])
def test_a_token_headers_cannot_carry_is_refused_at_construction(store, token):
    """A token that is not RFC 6750 token68 text raises ValueError instead of never matching."""
    with pytest.raises(ValueError, match="token"):
        OTLPReceiver(store, grpc_port=0, http_port=0, token=token)


# --- TLS --------------------------------------------------------------------------------------------------------


@pytest.fixture
def tls_receiver(store, certificate) -> Iterator[OTLPReceiver]:
    cert, key = certificate
    with OTLPReceiver(store, grpc_port=0, http_port=0, tls_cert_file=cert, tls_key_file=key, shutdown_timeout_seconds=2.0) as started:
        yield started


def test_the_stock_http_exporter_delivers_over_tls_with_the_certificate(tls_receiver, certificate, monkeypatch):
    """OTLPSpanExporter (HTTP) with certificate_file= sends to https:// and the score is stored."""
    assert tls_receiver.traces_url.startswith("https://")
    cert, _ = certificate
    # requests lets these variables override a session's own CA file (psf/requests#3829), and
    # the exporter's certificate_file is such a session setting.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    export_one_score(HTTPSpanExporter(endpoint=tls_receiver.traces_url, certificate_file=str(cert), timeout=TIMEOUT_SECONDS), "over-https")
    assert [score.name for score in tls_receiver.wait_for_scores(1, timeout=TIMEOUT_SECONDS)] == ["over-https"]


def test_the_stock_grpc_exporter_delivers_over_tls_with_the_certificate_variable(tls_receiver, certificate, monkeypatch):
    """OTLPSpanExporter (gRPC) with OTEL_EXPORTER_OTLP_CERTIFICATE and an https endpoint stores its score."""
    cert, _ = certificate
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(cert))
    export_one_score(GRPCSpanExporter(endpoint=f"https://localhost:{tls_receiver.grpc_port}", timeout=TIMEOUT_SECONDS), "over-grpc-tls")
    assert [score.name for score in tls_receiver.wait_for_scores(1, timeout=TIMEOUT_SECONDS)] == ["over-grpc-tls"]


def test_plaintext_clients_get_nothing_from_a_tls_receiver_and_it_keeps_serving(tls_receiver, certificate, store):
    """Plain HTTP gets no HTTP answer and plaintext gRPC is UNAVAILABLE; a TLS client is then served."""
    message = scored_request("after-plaintext").SerializeToString()
    try:
        answer = raw_exchange(tls_receiver.http_port, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    except OSError:  # the failed handshake may end in a reset rather than a close
        answer = b""
    assert not answer.startswith(b"HTTP/")
    assert grpc_status(tls_receiver.grpc_endpoint, message) is grpc.StatusCode.UNAVAILABLE
    cert, _ = certificate
    assert http_request(tls_receiver.http_port, message, tls=client_tls(cert))[0] == 200
    assert [score.name for score in store.scores()] == ["after-plaintext"]


def test_half_a_tls_pair_or_an_unreadable_certificate_fails_at_construction(store, certificate, tmp_path):
    """A certificate without its key is a ValueError; a key file that is not PEM is an OSError, before any port is bound."""
    cert, _ = certificate
    with pytest.raises(ValueError, match="both"):
        OTLPReceiver(store, grpc_port=0, http_port=0, tls_cert_file=cert)
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")
    with pytest.raises(OSError):
        OTLPReceiver(store, grpc_port=0, http_port=0, tls_cert_file=cert, tls_key_file=not_a_key)


def test_serve_with_token_and_tls_flags_serves_tls_and_checks_the_token(tmp_path, certificate):
    """`otel-scoring serve --token --tls-cert --tls-key` serves HTTPS and gRPC over TLS and refuses exports without the token."""
    cert, key = certificate
    command = [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--db", str(tmp_path / "cli.db")]
    command += ["--token", TOKEN, "--tls-cert", str(cert), "--tls-key", str(key)]
    env = {name: value for name, value in os.environ.items() if name != OTEL_SCORING_RECEIVER_TOKEN}
    lines: "queue.Queue[str]" = queue.Queue()
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    reader = threading.Thread(target=lambda: [lines.put(line) for line in iter(process.stdout.readline, "")], daemon=True)
    reader.start()
    try:
        endpoints: Dict[str, str] = {}
        while len(endpoints) < 2:
            found = re.search(r"receiving OTLP/(gRPC|HTTP) on (\S+)", lines.get(timeout=30))
            if found:
                endpoints[found.group(1)] = found.group(2)
        assert endpoints["HTTP"].startswith("https://127.0.0.1:")
        http_port = int(endpoints["HTTP"].rsplit(":", 1)[1].split("/")[0])
        message = scored_request("cli-secured").SerializeToString()
        tls = client_tls(cert)
        assert http_request(http_port, message, tls=tls)[0] == 401
        assert http_request(http_port, message, tls=tls, headers=bearer())[0] == 200
        credentials = grpc.ssl_channel_credentials(cert.read_bytes())
        target = endpoints["gRPC"].replace("127.0.0.1", "localhost")
        assert grpc_status(target, message, credentials=credentials) is grpc.StatusCode.UNAUTHENTICATED
        assert grpc_status(target, message, credentials=credentials, metadata=[("authorization", f"Bearer {TOKEN}")]) is grpc.StatusCode.OK
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(TIMEOUT_SECONDS * 2)
        finally:
            process.kill()
            reader.join(TIMEOUT_SECONDS)
            process.stdout.close()
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()
    with ScoreStore(tmp_path / "cli.db") as stored:
        assert [score.name for score in stored.scores()] == ["cli-secured"]


def test_serve_refuses_half_a_tls_pair(tmp_path, certificate, capsys):
    """--tls-cert without --tls-key exits 1 saying they go together."""
    cert, _ = certificate
    assert main(["serve", "--grpc-port", "0", "--http-port", "0", "--db", str(tmp_path / "x.db"), "--tls-cert", str(cert)]) == 1
    assert "--tls-key" in capsys.readouterr().err


# --- SQL -----------------------------------------------------------------------------------------------------------


def test_sql_in_a_score_name_is_stored_and_queried_literally(guarded_receiver, store):
    """A score named like an SQL injection arrives over OTLP, is stored as that text, and filters find it by exactly that text."""
    request = recorded_request(lambda: otel_scoring.create_score(name=SQL, value=1.0, session_id=SQL))
    assert http_request(guarded_receiver.http_port, request.SerializeToString(), headers=bearer())[0] == 200
    (stored,) = store.scores()
    assert stored.name == SQL and stored.session_id == SQL
    assert [score.name for score in store.scores(name=SQL)] == [SQL]
    assert [score.name for score in store.scores(session_id=SQL)] == [SQL]
    assert store.scores(name="' OR '1'='1") == []
    assert store.scores(trace_id="' OR '1'='1' --") == []
    assert store.metadata(trace_id=SQL) == []
    assert [row["name"] for row in store.stats(name=SQL)] == [SQL]
    assert store.count_scores() == 1  # the table is still there


def test_sql_in_cli_filters_is_a_literal_filter(guarded_receiver, store, capsys):
    """`otel-scoring scores --name "'; DROP TABLE scores; --"` prints that score and drops nothing."""
    assert http_request(guarded_receiver.http_port, scored_request(SQL).SerializeToString(), headers=bearer())[0] == 200
    assert http_request(guarded_receiver.http_port, scored_request("innocent").SerializeToString(), headers=bearer())[0] == 200
    assert main(["scores", "--db", store.path, "--name", SQL, "--format", "json"]) == 0
    printed = capsys.readouterr().out
    assert SQL in printed and "innocent" not in printed
    assert main(["scores", "--db", store.path, "--trace", "' OR 1=1 --", "--format", "json"]) == 0
    assert capsys.readouterr().out.strip() == ""
    assert sorted(score.name for score in store.scores()) == sorted([SQL, "innocent"])
