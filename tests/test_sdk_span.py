"""The SDK internals otel-scoring reads still exist on this opentelemetry-sdk, so its span-limit checks are really on."""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from otel_scoring import _sdk_span


def test_this_sdk_has_every_internal_otel_scoring_reads():
    """An SDK span carries its SpanLimits and its event list under the names read (else this fails loudly)."""
    assert _sdk_span.missing_sdk_attributes() == []
    provider = TracerProvider(span_limits=SpanLimits(max_events=7), shutdown_on_exit=False)
    span = provider.get_tracer("tests").start_span("probe")
    span.add_event("one")
    assert getattr(span, _sdk_span.LIMITS).max_events == 7
    assert len(getattr(span, _sdk_span.EVENTS)) == 1 == len(span.events)
    span.end()
    assert not span.is_recording()  # the public way to ask whether a span has ended


def test_an_sdk_without_them_is_reported_once(monkeypatch, caplog):
    """Were the SDK to rename them, building a processor warns once, naming what is missing and what it costs."""
    monkeypatch.setattr(_sdk_span, "LIMITS", "_renamed_limits")
    monkeypatch.setattr(_sdk_span, "_checked", False)
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        _sdk_span.check_sdk_shape()
        _sdk_span.check_sdk_shape()
    [record] = [r for r in caplog.records if "opentelemetry-sdk" in r.getMessage()]
    assert "_renamed_limits" in record.getMessage() and "drop older events" in record.getMessage()
