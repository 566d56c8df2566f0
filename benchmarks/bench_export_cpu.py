"""3. CPU per score made and exported through ``configure()``'s pipeline, against no scores.

Both sides are providers built by ``configure()`` (scoring processor + score-first delivery)
exporting for real: OTLP/gRPC to a collector sink in its own process (``_null_sink.py``). The
subject's traces carry two scores each (one on a step span, one on the whole trace); the
baseline's are the same spans without them. A round makes more spans than the delivery queue
holds (2 048), as fast as the application can, so a pipeline that cannot keep up drops spans
here; each round ends with ``force_flush``, so the export of the round is counted in it. Every
span must arrive: the delivery stats are printed and a drop fails the benchmark. CPU time of the
whole process (``time.process_time``: the application thread, the delivery worker and gRPC's
threads); the application thread's own CPU (``time.thread_time``) splits making from sending.
"""

from __future__ import annotations

import statistics
import time

from opentelemetry.sdk.trace import TracerProvider

import otel_scoring
from benchmarks._null_sink import NullSink
from benchmarks._timing import Outcome, compare

CHILDREN = 3
SCORES_PER_TRACE = 2
QUEUE_SPANS = 2048


class _Side:
    """One provider from configure() and the workload it runs, scored or not."""

    def __init__(self, scored: bool, traces: int, url: str) -> None:
        self.scored = scored
        self.traces = traces
        self.provider: TracerProvider = otel_scoring.configure(service_name="benchmark", endpoint=url, set_global=False)
        self.tracer = self.provider.get_tracer("benchmarks.export_cpu")
        self.caller_seconds: list = []  # CPU of the thread making the spans, per timed round

    def __call__(self) -> float:
        tracer, scored = self.tracer, self.scored
        score_current_span, score_current_trace = otel_scoring.score_current_span, otel_scoring.score_current_trace
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
        return elapsed


def run(quick: bool) -> Outcome:
    traces = 600 if quick else 1200  # 2 400 / 4 800 spans a round: over the 2 048-span queue
    rounds = 5 if quick else 15
    with NullSink() as sink:
        subject, baseline = _Side(True, traces, sink.url), _Side(False, traces, sink.url)
        comparison = compare(subject, baseline, rounds)
        stats = {side: otel_scoring.delivery_processor(side.provider).stats for side in (subject, baseline)}  # snapshots, read after the work
        for side in (subject, baseline):
            side.provider.shutdown()
    ratio = comparison.ratio
    scores = traces * SCORES_PER_TRACE
    spans = traces * (1 + CHILDREN)

    def per_score(subject_rounds: list, baseline_rounds: list) -> float:
        """Median extra CPU of the scored rounds over the unscored ones, in us per score."""
        return (statistics.median(subject_rounds) - statistics.median(baseline_rounds)) / scores * 1e6

    total = per_score(comparison.subject, comparison.baseline)
    making = per_score(subject.caller_seconds, baseline.caller_seconds)
    print(
        f"  with {SCORES_PER_TRACE} scores per {1 + CHILDREN}-span trace: CPU ratio {ratio:.2f}x "
        f"(best rounds {comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds x {spans} spans, queue {QUEUE_SPANS}); "
        f"{total:.1f} us CPU per score made and exported, {making:.1f} us of it in the application thread, "
        f"{total - making:.1f} us in delivery (encoding, gRPC)"
    )
    dropped = 0
    for side, name in ((subject, "scored"), (baseline, "unscored")):
        side_stats = stats[side]
        dropped += side_stats.dropped_scored + side_stats.dropped_plain
        print(
            f"  delivery, {name}: exported {side_stats.exported_scored:,} score-carrying and {side_stats.exported_plain:,} plain spans, "
            f"dropped {side_stats.dropped_scored} score-carrying and {side_stats.dropped_plain} plain"
        )
    if dropped:
        raise RuntimeError(f"{dropped} spans were dropped: the rounds did not export what they made")
    print(f"  0 dropped of {(rounds + 1) * spans * 2:,} spans made")
    return Outcome(3, "export CPU: scored / unscored spans (configure(), OTLP)", ratio, "x", "report", None, note=f"{total:.0f} us CPU per score, 0 dropped")
