"""The delivery path's OTLP encoder writes, for any spans, the very bytes the SDK's
``encode_spans(spans).SerializeToString()`` writes, and where it does not cover something it
leaves it to the SDK: the same bytes, the same logged errors, the same exceptions."""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel_scoring.delivery._encoder import encode_request, write_request

EXAMPLES = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

INT64 = (-(2**63), 2**63 - 1)
SCHEMA_URLS = st.sampled_from(["", "https://opentelemetry.io/schemas/1.21.0"])
TRACE_STATES = st.sampled_from([TraceState(), TraceState([("vendor", "v1")]), TraceState([("a", "1"), ("b-2", "x/y")])])

# Text UTF-8 can encode (no lone surrogates), short and long (a length past one varint byte).
texts = st.one_of(st.text(max_size=10), st.sampled_from(["", "é", "\U0001f600", "a\x00b", "x" * 125, "é" * 70, "y" * 20_000]))
keys = st.one_of(st.sampled_from(["k", "service.name", "gen_ai.evaluation.name", "otel_scoring.score.id"]), st.text(min_size=1, max_size=10))
scalars = st.one_of(
    texts,
    st.booleans(),
    st.integers(*INT64),
    st.sampled_from([0, -1, 1, 127, 128, 2**31, -(2**31), INT64[0], INT64[1]]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, float("nan"), float("inf"), float("-inf"), 5e-324]),
    st.binary(max_size=20),
    st.none(),
)
# What the SDK's attribute cleaning keeps: scalars, sequences of them (homogeneous or not, nested,
# empty) and mappings of them.
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(st.sampled_from([1, 2]) | st.integers(*INT64), max_size=4),
        st.lists(texts, max_size=4),
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=3),
    ),
    max_leaves=6,
)
attribute_maps = st.dictionaries(keys, values, max_size=6)
timestamps = st.one_of(st.none(), st.just(0), st.integers(1, 2**64 - 1))
kinds = st.sampled_from(list(SpanKind))
statuses = st.one_of(
    st.builds(Status, st.sampled_from(list(StatusCode)), st.one_of(st.none(), texts)),
    st.just(Status(StatusCode.UNSET)),
)


def contexts(remote: Any = st.booleans()) -> st.SearchStrategy[SpanContext]:
    return st.builds(
        SpanContext,
        trace_id=st.integers(1, 2**128 - 1),
        span_id=st.integers(1, 2**64 - 1),
        is_remote=remote,
        trace_flags=st.sampled_from([TraceFlags(0), TraceFlags(1)]),
        trace_state=TRACE_STATES,
    )


def sdk_bytes(spans: List[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializeToString()


# --- Spans made through real TracerProviders ------------------------------------------------------


def _provider(data: st.DataObject, exporter: InMemorySpanExporter) -> TracerProvider:
    limits = data.draw(
        st.one_of(
            st.just(SpanLimits()),
            st.builds(
                SpanLimits,
                max_span_attributes=st.integers(0, 4),
                max_events=st.integers(0, 3),
                max_links=st.integers(0, 2),
                max_event_attributes=st.integers(0, 3),
                max_link_attributes=st.integers(0, 3),
                max_span_attribute_length=st.one_of(st.none(), st.integers(0, 8)),
            ),
        )
    )
    resource = Resource(data.draw(attribute_maps), data.draw(SCHEMA_URLS))
    provider = TracerProvider(resource=resource, span_limits=limits, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _tracer(data: st.DataObject, provider: TracerProvider):
    return provider.get_tracer(
        data.draw(texts),
        data.draw(st.one_of(st.none(), st.just(""), texts)),
        schema_url=data.draw(st.one_of(st.none(), SCHEMA_URLS)),
        attributes=data.draw(st.one_of(st.none(), attribute_maps)),
    )


def _one_span(data: st.DataObject, tracer: Any) -> None:
    parent = data.draw(st.one_of(st.none(), contexts()))
    context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
    links = [Link(link_context, data.draw(st.one_of(st.none(), attribute_maps))) for link_context in data.draw(st.lists(contexts(), max_size=3))]
    start = data.draw(st.one_of(st.none(), st.integers(1, 2**63)))
    span = tracer.start_span(data.draw(texts), context=context, kind=data.draw(kinds), attributes=data.draw(st.one_of(st.none(), attribute_maps)), links=links, start_time=start)
    for key, value in data.draw(st.lists(st.tuples(keys, values), max_size=3)):
        span.set_attribute(key, value)
    for _ in range(data.draw(st.integers(0, 3))):
        span.add_event(data.draw(texts), data.draw(st.one_of(st.none(), attribute_maps)), timestamp=data.draw(st.one_of(st.none(), st.integers(0, 2**64 - 1))))
    if data.draw(st.booleans()):
        span.set_status(data.draw(statuses))
    span.end(end_time=data.draw(st.one_of(st.none(), st.integers(1, 2**64 - 1))))


@settings(EXAMPLES, max_examples=100)
@given(data=st.data())
def test_spans_from_real_providers_encode_to_the_sdks_bytes(data):
    """Spans of up to three providers (resources, equal ones among them), each with up to three
    tracers (scopes), interleaved in one batch: the encoder writes every byte as the SDK does, and
    writes it itself."""
    exporter = InMemorySpanExporter()
    providers = [_provider(data, exporter) for _ in range(data.draw(st.integers(1, 3)))]
    if data.draw(st.booleans()):  # an equal resource from another provider shares its group
        twin = TracerProvider(resource=Resource(providers[0].resource.attributes, providers[0].resource.schema_url), shutdown_on_exit=False)
        twin.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(twin)
    tracers = [_tracer(data, provider) for provider in providers for _ in range(data.draw(st.integers(1, 3)))]
    for _ in range(data.draw(st.integers(0, 8))):
        _one_span(data, data.draw(st.sampled_from(tracers)))
    spans = list(exporter.get_finished_spans())
    for provider in providers:
        provider.shutdown()
    assert write_request(spans) == sdk_bytes(spans)
    assert encode_request(spans) == sdk_bytes(spans)


# --- ReadableSpans built directly -----------------------------------------------------------------

scopes = st.one_of(
    st.none(),
    st.builds(InstrumentationScope, texts, st.one_of(st.none(), texts), st.one_of(st.none(), SCHEMA_URLS), st.one_of(st.none(), attribute_maps)),
)
resources = st.builds(Resource, attribute_maps, SCHEMA_URLS)
events = st.builds(Event, texts, st.one_of(st.none(), attribute_maps), st.integers(0, 2**64 - 1))


def readable_spans(names: Any = texts, attributes: Any = attribute_maps, event_list: Any = st.lists(events, max_size=3)) -> st.SearchStrategy[ReadableSpan]:
    return st.builds(
        ReadableSpan,
        name=names,
        context=contexts(st.just(False)),
        parent=st.one_of(st.none(), contexts()),
        resource=resources,
        attributes=st.one_of(st.none(), attributes),
        events=event_list,
        links=st.lists(st.builds(Link, contexts(), st.one_of(st.none(), attributes)), max_size=2),
        kind=kinds,
        status=st.one_of(statuses, st.none()),
        start_time=timestamps,
        end_time=timestamps,
        instrumentation_scope=scopes,
    )


@EXAMPLES
@given(spans=st.lists(readable_spans(), max_size=6))
def test_readable_spans_built_directly_encode_to_the_sdks_bytes(spans):
    """Plain dicts as attributes, no scope, no status, no or zero timestamps, parents local and
    remote, links with trace_state (which the SDK leaves out): the same bytes, written here."""
    assert write_request(spans) == sdk_bytes(spans)


def test_every_attribute_value_edge_is_written_as_the_sdk_writes_it():
    """One span holding each edge the wire distinguishes, checked by name after a round trip too."""
    edges = {
        "int.max": INT64[1],
        "int.min": INT64[0],
        "int.minus_one": -1,
        "float.nan": float("nan"),
        "float.inf": float("inf"),
        "float.minus_inf": float("-inf"),
        "float.minus_zero": -0.0,
        "float.zero": 0.0,
        "bool.false": False,
        "str.empty": "",
        "bytes.empty": b"",
        "none": None,
        "array.empty": (),
        "array.mixed": (1, "a", 2.5, True, None, b"x"),
        "array.nested": ((1, 2), ("a",), ()),
        "kvlist": {"a": 1, "b": {"c": ()}},
        "kvlist.empty": {},
    }
    span = ReadableSpan("edges", SpanContext(1, 2, False), attributes=edges, events=[Event("e", edges, 5)], links=[Link(SpanContext(3, 4, True), edges)])
    written = write_request([span])
    assert written == sdk_bytes([span])
    parsed = ExportTraceServiceRequest.FromString(written).resource_spans[0].scope_spans[0].spans[0]
    by_key = {kv.key: kv.value for kv in parsed.attributes}
    assert by_key["int.min"].int_value == INT64[0] and str(by_key["float.minus_zero"].double_value) == "-0.0"
    assert by_key["none"].WhichOneof("value") is None and by_key["array.empty"].WhichOneof("value") == "array_value"


# --- What the encoder leaves to the SDK -----------------------------------------------------------


class Colour(enum.IntEnum):
    RED = 1


class Label(str):
    pass


# Values the SDK encodes in ways of its own (a subclass, an int protobuf refuses, text UTF-8
# cannot encode): the SDK logs "Failed to encode key" and skips the attribute, or writes it.
uncovered_values = st.one_of(
    values,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, Colour.RED, Label("x"), bytearray(b"ab"), range(3), "\ud800", ("ok", "\udfff"), {"k": "\ud800"}, {1: "a"}, 1.5j]),
)
uncovered_texts = st.one_of(texts, st.sampled_from(["\ud800", "bad \udfff name", Label("label")]))
uncovered_events = st.builds(Event, uncovered_texts, st.one_of(st.none(), st.dictionaries(keys, uncovered_values, max_size=3)), st.sampled_from([1, 0, -1]))


def _outcome(encode: Callable[[], bytes], caplog: pytest.LogCaptureFixture) -> Tuple[Optional[bytes], Optional[type], List[str]]:
    caplog.clear()
    try:
        written, raised = encode(), None
    except Exception as error:  # noqa: BLE001 - which exception is what is compared
        written, raised = None, type(error)
    return written, raised, [record.getMessage() for record in caplog.records]


@EXAMPLES
@given(
    spans=st.lists(
        readable_spans(names=uncovered_texts, attributes=st.dictionaries(keys, uncovered_values, max_size=4), event_list=st.lists(uncovered_events, max_size=2)),
        min_size=1,
        max_size=3,
    )
)
def test_what_the_encoder_does_not_cover_encodes_logs_and_raises_as_the_sdk(caplog, spans):
    """Lone surrogates, ints past int64, subclasses, negative timestamps: encode_request gives the
    SDK's bytes with the SDK's error logs, or raises what the SDK raises (the delivery path repairs
    a span on that)."""
    with caplog.at_level(logging.ERROR):
        ours = _outcome(lambda: encode_request(spans), caplog)
        theirs = _outcome(lambda: sdk_bytes(spans), caplog)
    assert ours == theirs


def test_a_lone_surrogate_in_a_span_name_raises_as_the_sdk_raises():
    """The delivery path relies on that failure to repair the span and keep its scores."""
    span = ReadableSpan("bad \ud800", SpanContext(1, 2, False))
    with pytest.raises(UnicodeEncodeError):
        sdk_bytes([span])
    with pytest.raises(UnicodeEncodeError):
        encode_request([span])
