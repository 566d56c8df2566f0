"""3. CPU per score made and exported through ``configure()``'s pipeline, against no scores.

Both sides are providers built by ``configure()`` (scoring processor + score-first delivery) with
an exporter that encodes each batch to OTLP protobuf bytes with the SDK's encoder and sends
nothing, so the network is out of the picture and the encoding is in. The subject's traces
carry two scores each (one on a step span, one on the whole trace); the baseline's are the same
spans without them. Each round ends with ``force_flush``, so the export of the round is counted
in it. CPU time of the whole process (``time.process_time``: producer and delivery worker);
the exporter also measures its own thread's CPU, which splits the cost into making and encoding.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import otel_scoring
from benchmarks._timing import Outcome, compare
from otel_scoring.configuration import delivery_processor

CHILDREN = 3
SCORES_PER_TRACE = 2


class EncodingSpanExporter(SpanExporter):
    """Encodes every batch to OTLP protobuf bytes, as the OTLP exporters do, and sends nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.encode_seconds = 0.0  # CPU of the exporting thread spent encoding
        self.encoded_bytes = 0
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        start = time.thread_time()
        payload = encode_spans(spans).SerializeToString()
        elapsed = time.thread_time() - start
        with self._lock:
            self.encode_seconds += elapsed
            self.encoded_bytes += len(payload)
            self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Side:
    """One provider from configure() and the workload it runs, scored or not."""

    def __init__(self, scored: bool, traces: int) -> None:
        self.scored = scored
        self.traces = traces
        self.exporter = EncodingSpanExporter()
        self.provider: TracerProvider = otel_scoring.configure(service_name="benchmark", span_exporter=self.exporter, set_global=False)
        self.tracer = self.provider.get_tracer("benchmarks.export_cpu")
        self.caller_seconds: list = []  # CPU of the thread making the spans, per timed round
        self.encode_seconds: list = []  # CPU the exporter spent encoding, per timed round

    def __call__(self) -> float:
        tracer, scored = self.tracer, self.scored
        score_current_span, score_current_trace = otel_scoring.score_current_span, otel_scoring.score_current_trace
        spans_before, encoded_before = self.exporter.spans, self.exporter.encode_seconds
        caller_start = time.thread_time()
        start = time.process_time()
        for index in range(self.traces):
            with tracer.start_as_current_span("handle-request") as root:
                root.set_attribute("request.index", index)
                for child in range(CHILDREN):
                    with tracer.start_as_current_span("step") as step:
                        step.set_attribute("step.index", child)
                        if scored and child == 0:
                            score_current_span(name="model-confidence", value=0.83)
                if scored:
                    score_current_trace(name="guardrail-pass", value=True)
        if not self.provider.force_flush(30_000):
            raise RuntimeError("force_flush did not finish: the export of this round is not complete")
        elapsed = time.process_time() - start
        self.caller_seconds.append(time.thread_time() - caller_start)
        self.encode_seconds.append(self.exporter.encode_seconds - encoded_before)
        exported = self.exporter.spans - spans_before
        expected = self.traces * (1 + CHILDREN)
        if exported != expected:
            raise RuntimeError(f"{exported} of {expected} spans were exported: the comparison would not be like for like")
        return elapsed


def run(quick: bool) -> Outcome:
    traces = 100 if quick else 400  # 1 600 spans a round: under the 2 048-span queue, none dropped
    rounds = 5 if quick else 15
    subject, baseline = _Side(True, traces), _Side(False, traces)
    comparison = compare(subject, baseline, rounds)
    stats = delivery_processor(subject.provider).stats
    for side in (subject, baseline):
        side.provider.shutdown()
    ratio = comparison.ratio
    scores = traces * SCORES_PER_TRACE

    def per_score(subject_rounds: list, baseline_rounds: list) -> float:
        """Median extra CPU of the scored rounds over the unscored ones, in us per score."""
        return (statistics.median(subject_rounds) - statistics.median(baseline_rounds)) / scores * 1e6

    total = per_score(comparison.subject, comparison.baseline)
    making = per_score(subject.caller_seconds, baseline.caller_seconds)
    encoding = per_score(subject.encode_seconds, baseline.encode_seconds)
    encode_ratio = statistics.median(subject.encode_seconds) / statistics.median(baseline.encode_seconds)
    bytes_per_score = (subject.exporter.encoded_bytes - baseline.exporter.encoded_bytes) / (subject.exporter.spans / (1 + CHILDREN) * SCORES_PER_TRACE)
    print(
        f"  with {SCORES_PER_TRACE} scores per {1 + CHILDREN}-span trace: CPU ratio {ratio:.2f}x "
        f"(best rounds {comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds x {traces} traces); "
        f"{total:.1f} us CPU per score made and exported"
    )
    print(
        f"  split: {making:.1f} us in the thread making spans and scores, {encoding:.1f} us OTLP encoding "
        f"(encoding CPU with scores / without: {encode_ratio:.2f}x, {bytes_per_score:.0f} bytes per score), "
        f"{total - making - encoding:.1f} us elsewhere (delivery worker, thread switches)"
    )
    print(f"  delivery stats: exported_scored={stats.exported_scored}, dropped_scored={stats.dropped_scored}, dropped_plain={stats.dropped_plain}")
    return Outcome(3, "export CPU: scored / unscored spans (configure())", ratio, "x", "report", None, note=f"{total:.0f} us CPU per score")
