"""5. Receiver ingest spans/s over loopback gRPC into SQLite, against one stock exporter's send rate.

An ``OTLPReceiver`` on 127.0.0.1 (port 0) writes into a ``ScoreStore`` on a temporary file. The
receiver answers an export only once its records are stored, so what a client sees completed has
been ingested. The subject is several client threads sending pre-encoded 512-span requests as
fast as the receiver answers them: the receiver's ingest rate. The baseline is one stock
``OTLPSpanExporter`` (gRPC) exporting the same spans in the same 512-span batches, encoding each
as it goes: the rate at which one application can send. The ratio says how many such
applications one receiver keeps up with. Clients and receiver share this process (and its GIL);
wall-clock time (``time.perf_counter``), as a throughput is.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import List

from benchmarks import _workload
from benchmarks._timing import Outcome, compare

TARGET = 3.0
TRACES_PER_REQUEST = 128  # 512 spans, the SDK's default export batch
CLIENT_THREADS = 4
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
CALL_TIMEOUT_SECONDS = 30.0


def run(quick: bool) -> Outcome:
    title = "receiver ingest spans/s / one OTLPSpanExporter's send rate"
    try:
        from otel_scoring.receiver import OTLPReceiver
        from otel_scoring.store import ScoreStore
    except ImportError as exc:
        print(f"  not available yet: otel_scoring.receiver / otel_scoring.store ({exc})")
        return Outcome(5, title, None, "x", f">= {TARGET}x", None, note="otel_scoring.receiver not available yet")

    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    distinct_requests = 2 if quick else 4
    requests_per_thread = 1 if quick else 4
    baseline_requests = 1 if quick else 4
    rounds = 3 if quick else 9
    spans = _workload.scored_spans(TRACES_PER_REQUEST * distinct_requests)
    batches = _workload.batches(spans, TRACES_PER_REQUEST * (1 + _workload.CHILDREN))
    payloads = [_workload.otlp_request(batch) for batch in batches]
    spans_per_request = len(batches[0])

    with tempfile.TemporaryDirectory(prefix="otel-scoring-bench-") as directory:
        store = ScoreStore(Path(directory) / "scores.db")
        receiver = OTLPReceiver(store, host="127.0.0.1", grpc_port=0, http_port=0, shutdown_timeout_seconds=5.0)
        receiver.start()
        channels: List[grpc.Channel] = []
        exporter = None
        try:
            # One channel per client thread, as separate applications would have.
            channels = [grpc.insecure_channel(receiver.grpc_endpoint) for _ in range(CLIENT_THREADS)]
            exports = [channel.unary_unary(EXPORT_METHOD) for channel in channels]  # bytes in, bytes out
            exporter = OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True, timeout=CALL_TIMEOUT_SECONDS)

            def subject() -> float:
                """Seconds per span with CLIENT_THREADS senders of pre-encoded requests."""
                start_together = threading.Barrier(CLIENT_THREADS + 1)
                failures: List[BaseException] = []

                def send(thread_index: int) -> None:
                    start_together.wait(CALL_TIMEOUT_SECONDS)
                    try:
                        for number in range(requests_per_thread):
                            exports[thread_index](payloads[(thread_index + number) % len(payloads)], timeout=CALL_TIMEOUT_SECONDS)
                    except BaseException as exc:  # reported after the join, never lost in the thread
                        failures.append(exc)

                threads = [threading.Thread(target=send, args=(index,), daemon=True) for index in range(CLIENT_THREADS)]
                for thread in threads:
                    thread.start()
                start_together.wait(CALL_TIMEOUT_SECONDS)
                start = time.perf_counter()
                for thread in threads:
                    thread.join(CALL_TIMEOUT_SECONDS * requests_per_thread)
                elapsed = time.perf_counter() - start
                if failures or any(thread.is_alive() for thread in threads):
                    raise RuntimeError(f"a client thread failed or hung: {failures[:1]}")
                return elapsed / (CLIENT_THREADS * requests_per_thread * spans_per_request)

            def baseline() -> float:
                """Seconds per span for one stock exporter sending the same batches."""
                start = time.perf_counter()
                for number in range(baseline_requests):
                    if exporter.export(batches[number % len(batches)]) is not SpanExportResult.SUCCESS:
                        raise RuntimeError("the stock exporter's export failed")
                return (time.perf_counter() - start) / (baseline_requests * spans_per_request)

            comparison = compare(subject, baseline, rounds)
            stored = store.count_scores()
        finally:
            for channel in channels:
                channel.close()
            if exporter is not None:
                exporter.shutdown()
            receiver.stop(5.0)
            store.close()

    throughput_ratio = 1 / comparison.ratio
    ingest = 1 / sorted(comparison.subject)[rounds // 2]
    send = 1 / sorted(comparison.baseline)[rounds // 2]
    print(
        f"  receiver ingest {ingest:,.0f} spans/s ({CLIENT_THREADS} client threads, pre-encoded {spans_per_request}-span requests), "
        f"one OTLPSpanExporter {send:,.0f} spans/s; ratio {throughput_ratio:.2f}x "
        f"(best rounds {1 / comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds); "
        f"{stored} distinct scores in the store"
    )
    return Outcome(5, title, throughput_ratio, "x", f">= {TARGET}x", throughput_ratio >= TARGET)
