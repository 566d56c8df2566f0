"""The client processes of benchmark 5; each prints one JSON line: ``{"seconds": S, "spans": N}``
(and the exporter its process CPU seconds, ``"cpu"``).

- ``python -m benchmarks._receiver_child send ENDPOINT FILE FIRST COUNT THREADS``: send requests
  FIRST..FIRST+COUNT of FILE (pre-encoded ``ExportTraceServiceRequest``s, each length-prefixed,
  written by the benchmark with fresh ids throughout) over OTLP/gRPC, THREADS at a time on a
  channel each, as that many applications would; wall seconds from the first send to the last
  answer. The receiver answers an export once its records are stored, so this is its ingest.
- ``python -m benchmarks._receiver_child export ENDPOINT REQUESTS``: one stock ``OTLPSpanExporter``
  (gRPC) exporting REQUESTS batches of the same kind of scored spans, made before the clock and
  encoded by the exporter as it sends: the rate at which one application sends.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
import time
from typing import List

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
CALL_TIMEOUT_SECONDS = 60.0
TRACES_PER_REQUEST = 128  # 512 spans, the SDK's default export batch


def read_payloads(path: str, first: int, count: int) -> List[bytes]:
    payloads = []
    with open(path, "rb") as file:
        index = 0
        while len(payloads) < count:
            header = file.read(4)
            if len(header) < 4:
                raise RuntimeError(f"{path} holds {index} requests; {first + count} wanted")
            (length,) = struct.unpack(">I", header)
            body = file.read(length)
            if index >= first:
                payloads.append(body)
            index += 1
    return payloads


def write_payloads(path: str, payloads: List[bytes]) -> None:
    with open(path, "wb") as file:
        for body in payloads:
            file.write(struct.pack(">I", len(body)))
            file.write(body)


def _send(endpoint: str, path: str, first: int, count: int, threads: int) -> dict:
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    payloads = read_payloads(path, first, count)
    spans = 0
    for body in payloads:
        request = ExportTraceServiceRequest.FromString(body)
        spans += sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    channels = [grpc.insecure_channel(endpoint) for _ in range(threads)]
    for channel in channels:
        grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT_SECONDS)  # connected before the clock
    exports = [channel.unary_unary(EXPORT_METHOD) for channel in channels]  # bytes in, bytes out
    start_together = threading.Barrier(threads + 1)
    failures: List[BaseException] = []

    def send(thread_index: int) -> None:
        start_together.wait(CALL_TIMEOUT_SECONDS)
        try:
            for body in payloads[thread_index::threads]:
                exports[thread_index](body, timeout=CALL_TIMEOUT_SECONDS)
        except BaseException as exc:  # reported after the join, never lost in the thread
            failures.append(exc)

    workers = [threading.Thread(target=send, args=(index,), daemon=True) for index in range(threads)]
    for worker in workers:
        worker.start()
    start_together.wait(CALL_TIMEOUT_SECONDS)
    start = time.perf_counter()
    for worker in workers:
        worker.join(CALL_TIMEOUT_SECONDS * len(payloads))
    seconds = time.perf_counter() - start
    if failures or any(worker.is_alive() for worker in workers):
        raise RuntimeError(f"a client thread failed or hung: {failures[:1]}")
    for channel in channels:
        channel.close()
    return {"seconds": seconds, "spans": spans}


def _export(endpoint: str, requests: int) -> dict:
    import logging

    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    from benchmarks import _workload

    logging.disable(logging.WARNING)
    spans = _workload.scored_spans(TRACES_PER_REQUEST * requests)
    batches = _workload.batches(spans, TRACES_PER_REQUEST * (1 + _workload.CHILDREN))
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=CALL_TIMEOUT_SECONDS)
    if exporter.export(batches[0]) is not SpanExportResult.SUCCESS:  # connects before the clock
        raise RuntimeError("the stock exporter's first export failed")
    start, cpu_start = time.perf_counter(), time.process_time()
    for batch in batches:
        if exporter.export(batch) is not SpanExportResult.SUCCESS:
            raise RuntimeError("the stock exporter's export failed")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    exporter.shutdown()
    return {"seconds": seconds, "spans": len(spans), "cpu": cpu}


def main(argv: List[str]) -> int:
    if argv[0] == "send":
        result = _send(argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif argv[0] == "export":
        result = _export(argv[1], int(argv[2]))
    else:
        raise SystemExit(f"unknown role {argv[0]!r}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
