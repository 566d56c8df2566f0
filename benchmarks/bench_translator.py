"""4. Translator records/s from OTLP protobuf against a bare parse plus a walk over the events.

The input is one serialized ``ExportTraceServiceRequest`` of 512 spans as the SDK's encoder
writes it: 128 traces of a root and three steps, each trace with a span score, a trace score and
a metadata update (most spans carry nothing, as in real traffic). The subject is
``records_from_otlp_proto(bytes)``. The baseline is the least any reader must do: the generated
class's ``ParseFromString`` and a walk over every event of every span reading each attribute's
key and value. Every event there is one record, so the ratio is records/s over events/s.

A second pair adds what the CLI's ``translate --format json`` does with each request's records:
the subject writes them as JSON lines as the CLI does (``_formatting.json_lines``, tagged with
``record_type``), the baseline writes each event's attribute dict with ``json.dumps``, a line
each, into a buffer. (Benchmark 8 runs the whole CLI as a process on a large file.)
CPU time (``time.process_time``); both targets ≥ 0.8×.
"""

from __future__ import annotations

import io
import json
import time
from typing import List, Optional

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks import _workload
from benchmarks._timing import Outcome, compare

TARGET = 0.8
TRACES_PER_REQUEST = 128


def bare_walk(payload: bytes, out: Optional[io.StringIO] = None) -> int:
    """Parse and read every event's attributes (written as a JSON line each to ``out`` when given); the number of events read."""
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
                    if out is not None:
                        out.write(json.dumps(values, ensure_ascii=False, separators=(",", ":")))
                        out.write("\n")
                    events += 1
    return events


def run(quick: bool) -> List[Outcome]:
    from otel_scoring import _formatting
    from otel_scoring.translate import records_from_otlp_proto

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

    def subject_with_output() -> float:
        start = clock()
        for _ in range(requests_per_round):
            out = io.StringIO()
            translation = records_from_otlp_proto(payload)
            out.write(_formatting.json_lines(translation.scores, "score"))
            out.write("\n")
            out.write(_formatting.json_lines(translation.metadata, "metadata"))
        return clock() - start

    def baseline_with_output() -> float:
        start = clock()
        for _ in range(requests_per_round):
            bare_walk(payload, io.StringIO())
        return clock() - start

    core = compare(subject, baseline, rounds)
    with_output = compare(subject_with_output, baseline_with_output, rounds)
    per_round = requests_per_round * records
    outcomes = []
    for comparison, label in ((core, "core"), (with_output, "with the CLI's JSON lines")):
        throughput_ratio = 1 / comparison.ratio  # same records either way: records/s ratio is the inverse time ratio
        records_per_second = per_round / sorted(comparison.subject)[rounds // 2]
        events_per_second = per_round / sorted(comparison.baseline)[rounds // 2]
        print(
            f"  {label}: translator {records_per_second:,.0f} records/s, bare parse+walk {events_per_second:,.0f} events/s "
            f"({len(payload):,} byte request, {records} records); ratio {throughput_ratio:.2f}x "
            f"(best rounds {1 / comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds x {requests_per_round} requests)"
        )
        title = "translator core records/s / bare parse+walk" if label == "core" else "translator + JSON lines / bare parse+walk+json.dumps"
        outcomes.append(Outcome(4, title, throughput_ratio, "x", f">= {TARGET}x", throughput_ratio >= TARGET))
    return outcomes
