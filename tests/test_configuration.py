"""configure() builds the provider a user would: scoring first, score-first delivery after, found again by delivery_processor()."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoreFirstSpanProcessor, configure, delivery_processor
from otel_scoring import _registry


def test_configure_adds_scoring_then_delivery_and_exports_scores():
    """One scoring processor registers, delivery_processor() finds the delivery, and a score written before delivery reaches the exporter."""
    exporter = InMemorySpanExporter()
    before = len(_registry.live())
    provider = configure(service_name="checkout", span_exporter=exporter, set_global=False)
    try:
        assert len(_registry.live()) == before + 1
        assert isinstance(delivery_processor(provider), ScoreFirstSpanProcessor)
        assert provider.resource.attributes["service.name"] == "checkout"
        with provider.get_tracer("tests").start_as_current_span("step"):
            otel_scoring.score_current_span(name="quality", value=0.5)
        assert provider.force_flush()
        [span] = exporter.get_finished_spans()
        assert [event.name for event in span.events] == ["gen_ai.evaluation.result"]
    finally:
        provider.shutdown()


def test_a_resource_is_merged_under_the_service_name():
    """Attributes of the given resource stay; service_name wins over its service.name."""
    resource = Resource.create({"service.name": "other", "deployment.environment": "staging"})
    provider = configure(service_name="checkout", resource=resource, span_exporter=InMemorySpanExporter(), set_global=False)
    try:
        assert provider.resource.attributes["service.name"] == "checkout"
        assert provider.resource.attributes["deployment.environment"] == "staging"
    finally:
        provider.shutdown()


def test_set_global_false_leaves_the_global_provider_alone():
    """With set_global=False the global provider is not replaced."""
    before = trace.get_tracer_provider()
    provider = configure(span_exporter=InMemorySpanExporter(), set_global=False)
    try:
        assert trace.get_tracer_provider() is before
    finally:
        provider.shutdown()


def test_delivery_processor_is_none_for_a_provider_configure_did_not_build(provider):
    """A hand-built provider has no delivery processor to report."""
    assert delivery_processor(provider) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"protocol": "http/json"}, "unsupported OTLP protocol"),
        ({"span_exporter": InMemorySpanExporter(), "spool_dir": "/tmp/spool"}, "spool_dir= resends raw OTLP requests"),
        ({"span_exporter": InMemorySpanExporter(), "score_configs": "/nonexistent/configs.json"}, None),
    ],
)
def test_a_configure_that_raises_registers_no_processor(settings, message):
    """A setup mistake raises at configure() and leaves no scoring processor behind to take later scores."""
    before = len(_registry.live())
    with pytest.raises((ValueError, OSError), match=message):
        configure(set_global=False, **settings)
    assert len(_registry.live()) == before
