"""7. The receiver's memory under attack mixes while good exports keep arriving, against its memory at rest.

``otel-scoring serve`` runs in a subprocess (its RSS is its own) on loopback ports picked by the
system. A good client sends one scored export over OTLP/HTTP every 50 ms throughout, retrying an
answer that says retry (429, 503) as an OTLP exporter does. The baseline is the server's peak RSS
under the good client alone; the subject is its peak RSS while each of the attack mixes of issue 13
runs beside the good client:

* 32 threads sending gzipped protobuf of millions of empty spans (16 KiB uploaded, 16 MiB inflated);
* 32 threads sending gzipped JSON ``{"resourceSpans":[{},{},...]}`` of the same size;
* 32 threads sending 2 MiB bodies of empty deflate members;
* 40 slowloris connections sending a header line a second.

The ratio says how much more memory the attacks cost than serving alone; the target is that the
growth stays within the receiver's memory budget (``max_in_flight_bytes``, 256 MiB by default)
and that every good export is stored. Wall-clock time bounds each phase.
"""

from __future__ import annotations

import gzip
import http.client
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from benchmarks._timing import Outcome

BUDGET_MB = 256.0  # the receiver's default max_in_flight_bytes
ATTACK_THREADS = 32
SLOWLORIS_CONNECTIONS = 40


def _delimited(tag: int, payload: bytes) -> bytes:
    length, out = len(payload), bytearray([tag])
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out) + payload


def _attack_bodies() -> Dict[str, Tuple[bytes, Dict[str, str]]]:
    limit = 16 * 1024 * 1024 - 16
    empty_spans = _delimited(0x0A, _delimited(0x12, b"\x12\x00" * (limit // 2 - 8)))
    empty_json = b'{"resourceSpans":[' + b"{}," * (limit // 3 - 16) + b"{}]}"
    member = zlib.compress(b"")
    return {
        "gzipped empty spans": (gzip.compress(empty_spans), {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}),
        "gzipped empty JSON": (gzip.compress(empty_json), {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        "deflate members": (member * (2 * 1024 * 1024 // len(member)), {"Content-Type": "application/x-protobuf", "Content-Encoding": "deflate"}),
    }


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _post(port: int, body: bytes, headers: Dict[str, str], timeout: float = 30.0) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


class _GoodClient:
    """One scored export every 50 ms; an answer saying retry is retried, as exporters do."""

    def __init__(self, port: int, body: bytes) -> None:
        self.port, self.body = port, body
        self.sent = self.stored = self.retries = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.sent += 1
            for _ in range(20):
                status = _post(self.port, self.body, {"Content-Type": "application/x-protobuf"}, timeout=10)
                if status == 200:
                    self.stored += 1
                    break
                self.retries += 1
                time.sleep(0.25)
            self.stop.wait(0.05)


def _peak_rss_during(pid: int, seconds: float) -> float:
    peak, until = 0.0, time.monotonic() + seconds
    while time.monotonic() < until:
        peak = max(peak, _rss_mb(pid))
        time.sleep(0.05)
    return peak


def _flood(port: int, body: bytes, headers: Dict[str, str], stop: threading.Event) -> Callable[[], None]:
    def run() -> None:
        while not stop.is_set():
            _post(port, body, headers)

    return run


def _slowloris(port: int, stop: threading.Event) -> Callable[[], None]:
    def run() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
                    connection.sendall(b"POST /v1/traces HTTP/1.1\r\n")
                    while not stop.wait(1.0):
                        connection.sendall(b"X-Slow: 1\r\n")
            except OSError:
                stop.wait(0.1)

    return run


def _serve(db: Path) -> Tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            found = re.search(r"receiving OTLP/HTTP on http://127\.0\.0\.1:(\d+)", lines.get(timeout=1))
        except queue.Empty:
            continue
        if found:
            return process, int(found.group(1))
    process.kill()
    raise RuntimeError("otel-scoring serve printed no HTTP port within 30 s")


def run(quick: bool) -> Outcome:
    title = "receiver peak RSS under attack mixes / at rest, good exports on"
    if not os.path.exists("/proc/self/status"):
        return Outcome(7, title, None, "x", f"growth <= {BUDGET_MB:.0f} MB", None, note="needs /proc to read RSS")
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from benchmarks import _workload

    phase_seconds = 3.0 if quick else 15.0
    good_body = encode_spans(_workload.scored_spans(1)).SerializeToString()
    bodies = _attack_bodies()
    with tempfile.TemporaryDirectory() as directory:
        process, port = _serve(Path(directory) / "scores.db")
        try:
            good = _GoodClient(port, good_body)
            good.thread.start()
            at_rest = _peak_rss_during(process.pid, phase_seconds)
            print(f"  at rest with good exports: peak RSS {at_rest:.0f} MB")
            peaks: List[float] = []
            mixes: List[Tuple[str, Callable[[threading.Event], Callable[[], None]], int]] = [
                (name, (lambda body, headers: lambda stop: _flood(port, body, headers, stop))(body, headers), ATTACK_THREADS)
                for name, (body, headers) in bodies.items()
            ]
            mixes.append(("slowloris", lambda stop: _slowloris(port, stop), SLOWLORIS_CONNECTIONS))
            for name, make, count in mixes:
                stop = threading.Event()
                stored_before = good.stored
                threads = [threading.Thread(target=make(stop), daemon=True) for _ in range(count)]
                for thread in threads:
                    thread.start()
                peak = _peak_rss_during(process.pid, phase_seconds)
                stop.set()
                for thread in threads:
                    thread.join(35)
                peaks.append(peak)
                print(f"  {name:<22} x{count}: peak RSS {peak:.0f} MB, good exports stored meanwhile {good.stored - stored_before}")
            good.stop.set()
            good.thread.join(30)
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    growth = max(peaks) - at_rest
    all_stored = good.stored == good.sent
    print(f"  good exports: {good.stored} of {good.sent} stored ({good.retries} retries); worst growth {growth:.0f} MB (budget {BUDGET_MB:.0f} MB)")
    return Outcome(7, title, max(peaks) / at_rest, "x", f"growth <= {BUDGET_MB:.0f} MB", growth <= BUDGET_MB and all_stored)
