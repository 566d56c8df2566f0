"""Scale-out: ingest into PostgreSQL through the Collector's load_balancing exporter with 1, 2 and 3
receivers, as ratios to one receiver; and the store's per-score cost, PostgreSQL against SQLite.

``python -m benchmarks.bench_scale_out [--quick]`` from the repo root. Needs what the scale-out
tests need: PostgreSQL's binaries and the Collector of ``.ci/peers.sh otelcol`` (it uses their
helpers in tests/support/). A throwaway PostgreSQL cluster with fsync on, as deployed; three
``otel-scoring serve --db postgresql://…`` processes; three Collectors running
collector-config/collector-loadbalancing.yaml, over the first one, two and three receivers. In
each round every configuration ingests the same number of fresh scores (new ids, so inserts, not
updates): four client threads send pre-encoded 512-span OTLP requests (128 traces, 384 records)
to that configuration's Collector, and the time runs until the database holds them all. The
Collector answers the clients once a batch is queued, so the store's count is the only honest
end. Configurations take turns within each round; the figure is the median over rounds.

Per-score cost: ``add()`` of the same translated requests into a fresh SQLite file and into a
fresh PostgreSQL database, in this process, interleaved (``compare``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, List, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the scale-out tests' helpers: one home for them

from benchmarks import _workload  # noqa: E402
from benchmarks._timing import compare  # noqa: E402

TRACES_PER_REQUEST = 128  # 512 spans, the SDK's default export batch
CLIENT_THREADS = 4
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
STORE_TIMEOUT_SECONDS = 300.0


def _payloads(count: int) -> List[bytes]:
    spans = _workload.scored_spans(TRACES_PER_REQUEST * count)
    return [_workload.otlp_request(batch) for batch in _workload.batches(spans, TRACES_PER_REQUEST * (1 + _workload.CHILDREN))]


def _cpu_seconds(pid: int, with_children: bool = False) -> float:
    """User + system CPU seconds of a live process (and of its live children) from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")

    def own(one: int) -> float:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    total = own(pid)
    if with_children:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    total += own(int(stat.parent.name))
            except (OSError, ValueError):
                continue
    return total


def _ingest_seconds(collector_endpoint: str, payloads: Sequence[bytes], store, expected_total: int) -> float:
    """Seconds from the first request sent until the store holds ``expected_total`` scores."""
    import grpc

    channels = [grpc.insecure_channel(collector_endpoint.replace("http://", "")) for _ in range(CLIENT_THREADS)]
    try:
        exports = [channel.unary_unary(EXPORT_METHOD) for channel in channels]
        failures: List[BaseException] = []

        def send(index: int) -> None:
            try:
                for payload in payloads[index::CLIENT_THREADS]:
                    exports[index](payload, timeout=60)
            except BaseException as error:  # reported after the join
                failures.append(error)

        threads = [threading.Thread(target=send, args=(index,), daemon=True) for index in range(CLIENT_THREADS)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        if failures:
            raise RuntimeError(f"sending to the Collector failed: {failures[0]}")
        deadline = time.monotonic() + STORE_TIMEOUT_SECONDS
        while store.count_scores() < expected_total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the store reached {store.count_scores()} of {expected_total} scores")
            time.sleep(0.02)
        return time.perf_counter() - start
    finally:
        for channel in channels:
            channel.close()


def scale_out(quick: bool) -> None:
    from support.postgres import PostgresCluster, postgres_bin_dir
    from support.scale_out import ScaleOutReceiver, load_balancing_collector

    from otel_scoring.stores import open_store
    from otel_scoring.translate import records_from_otlp_proto

    bin_dir = postgres_bin_dir()
    collector = REPO_ROOT / ".ci" / ".peers" / "otelcol"
    if bin_dir is None or not collector.exists():
        raise SystemExit("needs PostgreSQL (apt-get install -y postgresql) and the Collector (.ci/peers.sh otelcol)")
    rounds = 2 if quick else 5
    requests = 4 if quick else 16
    with tempfile.TemporaryDirectory(prefix="otel-scoring-bench-pg-") as directory:
        root = Path(directory)
        cluster = PostgresCluster(bin_dir, Path(tempfile.mkdtemp(prefix="otel-scoring-bench-pg-")), fsync=True)
        cluster.start()
        receivers: List[ScaleOutReceiver] = []
        collectors: List[Any] = []
        try:
            url = cluster.new_database()
            receivers = [ScaleOutReceiver(n, url, root) for n in (1, 2, 3)]
            for receiver in receivers:
                receiver.start()
            for n in (1, 2, 3):
                (root / f"collector-{n}").mkdir()
                collectors.append(load_balancing_collector([r.backend for r in receivers[:n]], root / f"collector-{n}"))
            print(f"  preparing {rounds * 3 * requests} requests of {TRACES_PER_REQUEST} traces ({TRACES_PER_REQUEST * _workload.RECORDS_PER_TRACE} records) each ...", flush=True)
            payloads = _payloads(rounds * 3 * requests + 1)
            scores_per_request = len(records_from_otlp_proto(payloads[0]).scores)
            seconds = {n: [] for n in (1, 2, 3)}
            cpu = {n: {"receivers": 0.0, "Collector": 0.0, "PostgreSQL": 0.0, "clients": 0.0} for n in (1, 2, 3)}

            def cpu_now(n: int) -> dict:
                return {
                    "receivers": sum(_cpu_seconds(r.pid) for r in receivers[:n] if r.pid),
                    "Collector": _cpu_seconds(collectors[n - 1]._process.pid),  # the peer runner keeps its process private
                    "PostgreSQL": _cpu_seconds(cluster.pid, with_children=True) if cluster.pid else 0.0,
                    "clients": sum(os.times()[:2]),
                }

            with open_store(url) as store:
                # Warm-up: one request through each configuration opens its connections; the same
                # request three times stores its scores once.
                for one in collectors:
                    _ingest_seconds(f"http://{one.otlp_grpc_endpoint}", [payloads[-1]], store, scores_per_request)
                expected = scores_per_request
                used = 0
                for index in range(rounds):
                    order = (1, 2, 3) if index % 2 == 0 else (3, 2, 1)
                    for n in order:
                        batch = payloads[used : used + requests]
                        used += requests
                        expected += scores_per_request * len(batch)
                        before = cpu_now(n)
                        seconds[n].append(_ingest_seconds(f"http://{collectors[n - 1].otlp_grpc_endpoint}", batch, store, expected))
                        after = cpu_now(n)
                        for part in cpu[n]:
                            cpu[n][part] += after[part] - before[part]
            scores_per_round = scores_per_request * requests
            rates = {n: scores_per_round / statistics.median(values) for n, values in seconds.items()}
            for n in (1, 2, 3):
                spread = (max(seconds[n]) - min(seconds[n])) / statistics.median(seconds[n])
                print(f"  {n} receiver(s): {rates[n]:,.0f} scores/s ({rates[n] / rates[1]:.2f}x one receiver; {rounds} rounds, spread {spread:.0%})")
                wall = sum(seconds[n])
                parts = ", ".join(f"{part} {used / wall:.2f}" for part, used in cpu[n].items())
                print(f"    cores busy while ingesting (CPU s / wall s): {parts}; total {sum(cpu[n].values()) / wall:.2f} of {os.cpu_count()}")
        finally:
            for one in collectors:
                one.stop()
            for receiver in receivers:
                receiver.stop()
            cluster.stop()


def per_score_cost(quick: bool) -> None:
    from support.postgres import PostgresCluster, postgres_bin_dir

    from otel_scoring.store import ScoreStore
    from otel_scoring.store_postgres import PostgresScoreStore
    from otel_scoring.translate import records_from_otlp_proto

    rounds = 3 if quick else 9
    requests = 2 if quick else 6
    translations = [records_from_otlp_proto(payload) for payload in _payloads(requests * (rounds + 1) * 2)]
    records = sum(len(t.scores) + len(t.metadata) for t in translations[:requests])
    with tempfile.TemporaryDirectory(prefix="otel-scoring-bench-cost-") as directory:
        root = Path(directory)
        cluster = PostgresCluster(postgres_bin_dir(), Path(tempfile.mkdtemp(prefix="otel-scoring-bench-pg-")), fsync=True)  # type: ignore[arg-type]
        cluster.start()
        try:
            with ScoreStore(root / "scores.db") as lite, PostgresScoreStore(cluster.new_database()) as pg:
                fresh = iter(range(0, len(translations), requests))

                def timed(store) -> float:
                    start_index = next(fresh)
                    start = time.perf_counter()
                    for translation in translations[start_index : start_index + requests]:
                        store.add(translation)
                    return (time.perf_counter() - start) / records

                comparison = compare(lambda: timed(pg), lambda: timed(lite), rounds)
        finally:
            cluster.stop()
    pg_us = statistics.median(comparison.subject) * 1e6
    lite_us = statistics.median(comparison.baseline) * 1e6
    print(
        f"  store add() per record (one {records // requests}-record request per transaction, fresh rows): PostgreSQL {pg_us:.1f} µs, "
        f"SQLite {lite_us:.1f} µs; {comparison.ratio:.2f}x (best rounds {comparison.best_ratio:.2f}x, spread {comparison.spread:.0%}, {rounds} rounds)"
    )


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale_out", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few requests per round, to check it runs (numbers not meaningful)")
    args = parser.parse_args(argv)
    print("Ingest into PostgreSQL through the Collector's load_balancing exporter:")
    scale_out(args.quick)
    print("Per-record cost of the store, PostgreSQL / SQLite:")
    per_score_cost(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
