"""The SDK internals otel-scoring reads still exist on this opentelemetry-sdk, so its span-limit checks are really on."""

from __future__ import annotations

import copy
import logging

import pytest
from opentelemetry.sdk.trace import Span, SpanLimits, TracerProvider

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
    monkeypatch.setattr(_sdk_span, "_plain_span_types", _sdk_span._plain_span_types)  # restored after
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        _sdk_span.check_sdk_shape()
        _sdk_span.check_sdk_shape()
    [record] = [r for r in caplog.records if "opentelemetry-sdk" in r.getMessage()]
    assert "_renamed_limits" in record.getMessage() and "drop older events" in record.getMessage()


def _span_pair(limits: SpanLimits):
    """Two live spans of one provider with these limits, for events written side by side."""
    provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
    _sdk_span.check_sdk_shape()
    tracer = provider.get_tracer("tests")
    return tracer.start_span("public"), tracer.start_span("clean")


def _encoded_events(span) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    request = encode_spans([span])
    return b"".join(event.SerializeToString() for event in request.resource_spans[0].scope_spans[0].spans[0].events)


ATTRIBUTES = {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.5, "flag": True, "count": 3, "comment": "x" * 40}


@pytest.mark.parametrize(
    "limits",
    [SpanLimits(), SpanLimits(max_event_attributes=2), SpanLimits(max_attribute_length=10)],
    ids=["defaults", "fewer-attributes-allowed", "short-values"],
)
def test_a_clean_event_is_the_event_add_event_writes(limits):
    """What an exporter, a processor or a deep copy sees of add_clean_event's event is add_event's, limits applied alike."""
    public, clean = _span_pair(limits)
    public.add_event("gen_ai.evaluation.result", dict(ATTRIBUTES), timestamp=1_700_000_000_000_000_000)
    _sdk_span.add_clean_event(clean, "gen_ai.evaluation.result", dict(ATTRIBUTES), timestamp=1_700_000_000_000_000_000)
    public.end()
    clean.end()
    [expected], [got] = public.events, clean.events
    assert type(got.attributes) is type(expected.attributes)
    assert dict(got.attributes) == dict(expected.attributes) and got.dropped_attributes == expected.dropped_attributes
    assert _encoded_events(clean) == _encoded_events(public)
    with pytest.raises(TypeError):
        got.attributes["more"] = 1  # immutable, as add_event's
    assert dict(copy.deepcopy(got).attributes) == dict(expected.attributes)


def test_a_clean_event_on_an_ended_span_is_refused_as_add_event_refuses_it(caplog):
    """The SDK's own check applies: an ended span gains nothing and the SDK warns as it does for add_event."""
    _, clean = _span_pair(SpanLimits())
    clean.end()
    with caplog.at_level(logging.WARNING):
        _sdk_span.add_clean_event(clean, "late", {"a": 1})
    assert clean.events == () and any("ended span" in r.getMessage() for r in caplog.records)


def test_a_span_subclass_gets_its_own_add_event():
    """A Span subclass may override add_event (a wrapper recording elsewhere too): it is called, not bypassed."""
    calls = []

    class Recording(Span):
        def add_event(self, name, attributes=None, timestamp=None):
            calls.append((name, dict(attributes)))
            super().add_event(name, attributes, timestamp)

    _sdk_span.check_sdk_shape()
    span = Recording("recording", context=None)
    span.start()
    _sdk_span.add_clean_event(span, "scored", {"a": 1})
    assert calls == [("scored", {"a": 1})] and dict(span.events[0].attributes) == {"a": 1}


SUMMARY = {"gen_ai.evaluation.score.value.relevance": 0.5, "otel_scoring.score.label.relevance": "good", "flag": True, "count": 3}


@pytest.mark.parametrize(
    "limits",
    [SpanLimits(), SpanLimits(max_span_attributes=5), SpanLimits(max_attribute_length=3)],
    ids=["defaults", "room-for-fewer-attributes", "short-values"],
)
def test_clean_attributes_are_the_attributes_set_attributes_writes(limits):
    """Over attributes already on the span (one rewritten, so it moves last), set_clean_attributes
    leaves what set_attributes leaves: the same keys in the same order, values, drops and bytes."""
    public, clean = _span_pair(limits)
    for span in (public, clean):
        span.set_attributes({"http.route": "/score", "count": 1, "user": "u-1"})
    public.set_attributes(dict(SUMMARY))
    _sdk_span.set_clean_attributes(clean, dict(SUMMARY))
    public.end()
    clean.end()
    assert list(clean.attributes.items()) == list(public.attributes.items())
    assert clean.dropped_attributes == public.dropped_attributes
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    assert encode_spans([clean]).resource_spans[0].scope_spans[0].spans[0].attributes == encode_spans([public]).resource_spans[0].scope_spans[0].spans[0].attributes


def test_clean_attributes_on_an_ended_span_are_refused_as_set_attributes_refuses_them(caplog):
    """An ended span gains nothing, and the SDK warns as it does for set_attributes."""
    _, clean = _span_pair(SpanLimits())
    clean.end()
    with caplog.at_level(logging.WARNING):
        _sdk_span.set_clean_attributes(clean, {"a": 1})
    assert dict(clean.attributes) == {} and any("ended span" in r.getMessage() for r in caplog.records)


def test_a_span_subclass_gets_its_own_set_attributes():
    """A Span subclass may override set_attributes: it is called, not bypassed."""
    calls = []

    class Recording(Span):
        def set_attributes(self, attributes):
            calls.append(dict(attributes))
            super().set_attributes(attributes)

    _sdk_span.check_sdk_shape()
    span = Recording("recording", context=None)
    span.start()
    _sdk_span.set_clean_attributes(span, {"a": 1})
    assert calls == [{"a": 1}] and dict(span.attributes) == {"a": 1}
