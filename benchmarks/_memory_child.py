"""The workload of benchmark 6, run in a fresh interpreter so its RSS is its own.

``python -m benchmarks._memory_child MODE SPANS ENDPOINT`` prints one JSON line: the resident set
size after a short warm-up and at checkpoints through ``SPANS`` spans, and what the delivery
queue exported and dropped. Ended spans go through ``configure()``'s pipeline, exporting
OTLP/gRPC to ENDPOINT (the benchmark's collector sink) as an application's do; nothing waits
for the export between checkpoints, so whatever the delivery queue holds counts. Modes:

- ``scored``: traces of a root and three steps, every span scored, through ``configure()``;
- ``plain``: the same spans unscored, through ``configure()`` (the SDK's, the export's and the
  allocator's own growth);
- ``open-scored``: spans that are started and scored but never ended, through ``configure()``;
- ``open-plain``: spans started and never ended, a provider with no processor.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import resource
import sys
import time
from typing import Callable, List

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import otel_scoring

WARMUP_SPANS = 2000
CHECKPOINTS = 10
SPANS_PER_TRACE = 4


def rss_bytes() -> int:
    """Resident set size now: /proc/self/statm where there is one, else the peak from getrusage."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB elsewhere
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _ended_traces(tracer: trace.Tracer, scored: bool) -> Callable[[int], None]:
    def make(spans: int) -> None:
        for _ in range(spans // SPANS_PER_TRACE):
            with tracer.start_as_current_span("handle-request"):
                if scored:
                    otel_scoring.score_current_span(name="request-quality", value=0.5)
                for _ in range(SPANS_PER_TRACE - 1):
                    with tracer.start_as_current_span("step"):
                        if scored:
                            otel_scoring.score_current_span(name="model-confidence", value=0.83)

    return make


def _never_ended(tracer: trace.Tracer, scored: bool) -> Callable[[int], None]:
    def make(spans: int) -> None:
        for _ in range(spans):
            span = tracer.start_span("abandoned")  # never ended; the caller drops it
            if scored:
                with trace.use_span(span, end_on_exit=False):
                    otel_scoring.score_current_span(name="model-confidence", value=0.83)

    return make


def main(argv: List[str]) -> int:
    mode, total, endpoint = argv[0], int(argv[1]), argv[2]
    logging.disable(logging.WARNING)  # a run without a processor must not print a warning per span
    provider = TracerProvider() if mode == "open-plain" else otel_scoring.configure(service_name="benchmark", endpoint=endpoint, set_global=False)
    tracer = provider.get_tracer("benchmarks.memory")
    builders = {"scored": _ended_traces, "plain": _ended_traces, "open-scored": _never_ended, "open-plain": _never_ended}
    make = builders[mode](tracer, scored=mode in ("scored", "open-scored"))
    make(WARMUP_SPANS)
    # The warm-up includes one export, so the gRPC channel and the delivery worker that any
    # application pays for once are in the starting figure, not in the growth.
    provider.force_flush(30_000)
    gc.collect()
    start = rss_bytes()
    checkpoints = []
    step = total // CHECKPOINTS
    delivery = otel_scoring.delivery_processor(provider)
    backlog = []  # spans waiting in the delivery queue at each checkpoint: held in memory, so part of the growth
    for index in range(1, CHECKPOINTS + 1):
        make(step)
        gc.collect()
        checkpoints.append([index * step, rss_bytes() - start])
        if delivery is not None:
            stats = delivery.stats
            backlog.append(stats.pending_scored + stats.pending_plain)
    flush_started = time.monotonic()
    flushed = delivery is None or provider.force_flush(120_000)
    flush_seconds = time.monotonic() - flush_started
    stats = delivery.stats if delivery is not None else None
    exported = stats.exported_scored + stats.exported_plain if stats else 0
    dropped = stats.dropped_scored + stats.dropped_plain if stats else 0
    dropped_scored = stats.dropped_scored if stats else 0
    print(json.dumps({"mode": mode, "spans": total, "rss_start": start, "growth": checkpoints, "exported": exported, "dropped": dropped, "dropped_scored": dropped_scored,
                      "backlog": backlog, "flushed": flushed, "flush_seconds": round(flush_seconds, 2), "stats": str(stats)}))
    provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
