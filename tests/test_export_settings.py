"""OTLP export settings resolve as the stock exporters resolve them: keyword, traces variable, general variable, default."""

from __future__ import annotations

import logging

import pytest

from otel_scoring import export
from otel_scoring.delivery import OTLPTraceSender

ALL_VARIABLES = [
    f"OTEL_EXPORTER_OTLP_{signal}{setting}"
    for signal in ("", "TRACES_")
    for setting in ("PROTOCOL", "ENDPOINT", "HEADERS", "COMPRESSION", "TIMEOUT", "INSECURE", "CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE")
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_protocol_keyword_then_traces_variable_then_general_then_grpc(monkeypatch):
    """Each source is used only when the ones before it are unset; unknown protocols raise at setup."""
    assert export.resolve_protocol() == "grpc"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert export.resolve_protocol() == "http/protobuf"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "GRPC")
    assert export.resolve_protocol() == "grpc"
    assert export.resolve_protocol("http/protobuf") == "http/protobuf"
    with pytest.raises(ValueError, match="unsupported OTLP protocol 'http/json'"):
        export.resolve_protocol("http/json")


def test_headers_from_a_mapping_a_string_or_the_variables(monkeypatch):
    """A mapping's keys are lower-cased (gRPC metadata needs it); strings parse as the SDK parses the variable."""
    assert export.resolve_headers(None) == {}
    assert export.resolve_headers({"Authorization": "Bearer t"}) == {"authorization": "Bearer t"}
    assert export.resolve_headers("api-key=secret,team=evals") == {"api-key": "secret", "team": "evals"}
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "from=general")
    assert export.resolve_headers(None) == {"from": "general"}
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "from=traces")
    assert export.resolve_headers(None) == {"from": "traces"}


def test_timeout_and_compression_warn_on_a_bad_variable_and_raise_on_a_bad_keyword(monkeypatch, caplog):
    """A bad variable value warns and the default applies; a bad keyword is a programmer error, raised at setup."""
    assert export.resolve_timeout(None) == export.DEFAULT_TIMEOUT_SECONDS
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3")
    assert export.resolve_timeout(None) == 3.0
    assert export.resolve_timeout(1.5) == 1.5
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        assert export.resolve_timeout(None) == export.DEFAULT_TIMEOUT_SECONDS
        assert export.resolve_compression(None) == "none"
    messages = [record.getMessage() for record in caplog.records]
    assert "Unable to parse OTLP timeout 'soon' as positive seconds. Defaulting to 10.0." in messages
    assert "Unable to parse OTLP compression 'zstd'. Defaulting to none." in messages
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP")
    assert export.resolve_compression(None) == "gzip"
    with pytest.raises(ValueError, match="timeout must be positive"):
        export.resolve_timeout(0)
    with pytest.raises(ValueError, match="unsupported OTLP compression 'zstd'"):
        export.resolve_compression("zstd")


def test_grpc_target_follows_the_stock_exporters_tls_rules(monkeypatch):
    """https means TLS whatever else says; else the keyword, then *_INSECURE (only "true"), then an http:// scheme means plaintext."""
    assert export.grpc_target(None, None) == ("localhost:4317", True)
    assert export.grpc_target("https://collector:4317", True) == ("collector:4317", False)
    assert export.grpc_target("collector:4317", None) == ("collector:4317", False)
    assert export.grpc_target("http://collector:4317", False) == ("collector:4317", False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    assert export.grpc_target("collector:4317", None) == ("collector:4317", True)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "1")  # not "true": the SDK reads it as false
    assert export.grpc_target("http://collector:4317", None) == ("collector:4317", False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4317")
    assert export.grpc_target(None, True)[0] == "general:4317"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317")
    assert export.grpc_target(None, True)[0] == "traces:4317"


def test_http_url_gets_the_traces_path_except_from_the_signal_variable(monkeypatch):
    """A base URL gains /v1/traces; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL, used as is."""
    assert export.http_traces_url(None) == "http://localhost:4318/v1/traces"
    assert export.http_traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert export.http_traces_url("http://collector:4318/v1/traces") == "http://collector:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318")
    assert export.http_traces_url(None) == "http://general:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom")
    assert export.http_traces_url(None) == "http://traces:4318/custom"


def test_tls_files_prefer_the_traces_variables(monkeypatch):
    """The CA, client key and client certificate each come from the traces variable, else the general one."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/general/ca.pem")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/general/key.pem")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/traces/cert.pem")
    files = export.tls_files()
    assert (files.certificate, files.client_key, files.client_certificate) == ("/general/ca.pem", "/general/key.pem", "/traces/cert.pem")


def test_the_sender_configure_exports_with_uses_these_settings(monkeypatch):
    """configure()'s sender takes its protocol, URL, timeout and compression from the one home above."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    sender = OTLPTraceSender()
    try:
        assert (sender.protocol, sender.endpoint, sender.timeout_seconds, sender.compression) == ("http/protobuf", "http://127.0.0.1:4318/v1/traces", 2.0, "gzip")
    finally:
        sender.close()
