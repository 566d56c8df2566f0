"""4. Translator records/s from OTLP protobuf against a bare parse plus a walk over the events.

The input is one serialized ``ExportTraceServiceRequest`` of 512 spans as the SDK's encoder
writes it: 128 traces of a root and three steps, each trace with a span score, a trace score and
a metadata update (most spans carry nothing, as in real traffic). The subject is
``records_from_otlp_proto(bytes)``. The baseline is the least any reader must do: the generated
class's ``ParseFromString`` and a walk over every event of every span reading each attribute's
key and value. Every event there is one record, so the ratio is records/s over events/s.
CPU time (``time.process_time``).
"""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks import _workload
from benchmarks._timing import Outcome, compare

TARGET = 0.8
TRACES_PER_REQUEST = 128


def bare_walk(payload: bytes) -> int:
    """Parse and read every event's attributes; the number of events read."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    events = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                for event in span.events:
                    values = {}
                    for kv in event.attributes:
                        value = kv.value
                        values[kv.key] = getattr(value, value.WhichOneof("value"))
                    events += 1
    return events


def run(quick: bool) -> Outcome:
    title = "translator records/s / bare parse+walk events/s"
    try:
        from otel_scoring.translate import records_from_otlp_proto
    except ImportError as exc:
        print(f"  not available yet: otel_scoring.translate ({exc})")
        return Outcome(4, title, None, "x", f">= {TARGET}x", None, note="otel_scoring.translate not available yet")

    payload = _workload.otlp_request(_workload.scored_spans(TRACES_PER_REQUEST))
    translation = records_from_otlp_proto(payload)
    records = len(translation.scores) + len(translation.metadata)
    events = bare_walk(payload)
    expected = TRACES_PER_REQUEST * _workload.RECORDS_PER_TRACE
    if not records == events == expected:
        raise RuntimeError(f"the request holds {events} events and translates to {records} records; expected {expected} of each")

    requests_per_round = 5 if quick else 40
    rounds = 5 if quick else 15
    clock = time.process_time

    def subject() -> float:
        start = clock()
        for _ in range(requests_per_round):
            records_from_otlp_proto(payload)
        return clock() - start

    def baseline() -> float:
        start = clock()
        for _ in range(requests_per_round):
            bare_walk(payload)
        return clock() - start

    comparison = compare(subject, baseline, rounds)
    throughput_ratio = 1 / comparison.ratio  # same records either way: records/s ratio is the inverse time ratio
    per_round = requests_per_round * records
    records_per_second = per_round / sorted(comparison.subject)[rounds // 2]
    events_per_second = per_round / sorted(comparison.baseline)[rounds // 2]
    print(
        f"  records_from_otlp_proto {records_per_second:,.0f} records/s, bare parse+walk {events_per_second:,.0f} events/s "
        f"({len(payload):,} byte request, {records} records); ratio {throughput_ratio:.2f}x "
        f"(best rounds {1 / comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds x {requests_per_round} requests)"
    )
    return Outcome(4, title, throughput_ratio, "x", f">= {TARGET}x", throughput_ratio >= TARGET)
