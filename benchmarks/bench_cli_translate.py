"""8. ``otel-scoring translate --format json`` of a large Collector export, as users run it: a whole process.

The input is a Collector JSON-lines export written to a temporary directory: 178 MB (about 140
requests of 500 scored spans, one line each), 2 MB with ``--quick``. The subject is the CLI
(``python -m otel_scoring translate FILE``, stdout to /dev/null). The baseline is the least any
reader of that file must do, also as a process: read each line, ``json.loads`` it, walk every
span's events and write each score event's attributes as a JSON line. Reported: the CLI's speed
as a fraction of the baseline's (baseline CPU / subject CPU of the child, user + system, from
``os.wait4``); and the CLI's memory: its peak RSS (its own ``VmHWM``) less the peak of the same
command on a file of one small request (the interpreter, the imports, the output buffers), as a
ratio to the largest request in the file (target ≤ 2×, so memory follows the request, not the
file). The bare reader's own growth, measured the same way, is the floor ``json.loads`` sets.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from benchmarks._timing import Outcome

TARGET = 0.8
MEMORY_TARGET = 2.0
FULL_FILE_BYTES = 178_000_000
QUICK_FILE_BYTES = 2_000_000
SPANS_PER_REQUEST = 500
REPO_ROOT = Path(__file__).resolve().parent.parent

_SUBJECT = (
    "import sys\n"
    "from otel_scoring.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print([line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0].split()[1], file=sys.stderr)\n"
    "sys.exit(code)\n"
)
_BASELINE = """
import json, sys
def peak():
    print([line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0].split()[1], file=sys.stderr)
write = sys.stdout.write
with open(sys.argv[1], "rb") as file:
    for line in file:
        for resource in json.loads(line).get("resourceSpans", ()):
            for scope in resource.get("scopeSpans", ()):
                for span in scope.get("spans", ()):
                    for event in span.get("events", ()):
                        if event.get("name") == "gen_ai.evaluation.result":
                            values = {kv["key"]: next(iter(kv["value"].values()), None) for kv in event.get("attributes", ())}
                            write(json.dumps(values, separators=(",", ":")) + "\\n")
peak()
"""


def _write_export(path: Path, target_bytes: int, spans_per_request: int = SPANS_PER_REQUEST) -> int:
    """A Collector export of at least ``target_bytes``; returns the size of one request (line)."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    try:
        from support.large_files import scored_request_template, write_collector_jsonl
    finally:
        sys.path.pop(0)
    request_bytes = len(scored_request_template(spans_per_request)[0])
    write_collector_jsonl(path, requests=max(1, -(-target_bytes // request_bytes)), spans_per_request=spans_per_request)
    return request_bytes


def _peak_kib(err: str) -> int:
    return int(err.split()[-1])


def _child(argv: List[str]) -> Tuple[float, str]:
    """CPU seconds of a child process (user + system) and its stderr."""
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=devnull, stderr=err, cwd=REPO_ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {process.returncode}: {text[-2000:]}")
    return usage.ru_utime + usage.ru_stime, text


def run(quick: bool) -> List[Outcome]:
    title = "translate --format json (process) / bare parse+walk+JSON lines"
    if not Path("/proc/self/status").exists():
        return [Outcome(8, title, None, "x", f">= {TARGET}x", None, note="needs Linux /proc for peak RSS")]
    rounds = 2 if quick else 3
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "collector-export.jsonl"
        small = Path(directory) / "one-request.jsonl"
        _write_export(small, 1, spans_per_request=1)
        started = time.perf_counter()
        request_bytes = _write_export(path, QUICK_FILE_BYTES if quick else FULL_FILE_BYTES)
        size = path.stat().st_size
        print(f"  wrote {size / 1e6:.0f} MB ({size // request_bytes} requests of {request_bytes / 1e6:.2f} MB) in {time.perf_counter() - started:.0f} s", flush=True)
        subject_cpu: List[float] = []
        baseline_cpu: List[float] = []
        peaks: List[int] = []
        baseline_peaks: List[int] = []
        for index in range(rounds):  # interleaved, alternating which goes first
            order = ("baseline", "subject") if index % 2 == 0 else ("subject", "baseline")
            for side in order:
                if side == "baseline":
                    cpu, err = _child([sys.executable, "-c", _BASELINE, str(path)])
                    baseline_cpu.append(cpu)
                    baseline_peaks.append(_peak_kib(err) * 1024)
                else:
                    cpu, err = _child([sys.executable, "-c", _SUBJECT, "translate", str(path), "--format", "json"])
                    subject_cpu.append(cpu)
                    peaks.append(_peak_kib(err) * 1024)
        idle = _peak_kib(_child([sys.executable, "-c", _SUBJECT, "translate", str(small), "--format", "json"])[1]) * 1024
        baseline_idle = _peak_kib(_child([sys.executable, "-c", _BASELINE, str(small)])[1]) * 1024
    ratio = statistics.median(b / s for s, b in zip(subject_cpu, baseline_cpu))
    peak = max(peaks)
    growth = peak - idle
    memory_ratio = growth / request_bytes
    floor = (max(baseline_peaks) - baseline_idle) / request_bytes
    print(f"  CLI {statistics.median(subject_cpu):.1f} s CPU, baseline {statistics.median(baseline_cpu):.1f} s CPU; speed ratio {ratio:.2f}x")
    print(
        f"  CLI peak RSS {peak / 1e6:.0f} MB for a {size / 1e6:.0f} MB file, {idle / 1e6:.0f} MB on a one-request file: "
        f"+{growth / 1e6:.1f} MB, {memory_ratio:.1f}x the largest request ({request_bytes / 1e6:.2f} MB); "
        f"the bare reader's growth the same way (json.loads of one line): {floor:.1f}x"
    )
    return [
        Outcome(8, title, ratio, "x", f">= {TARGET}x", ratio >= TARGET),
        Outcome(8, "translate memory growth / largest request", memory_ratio, "x", f"<= {MEMORY_TARGET:g}x", memory_ratio <= MEMORY_TARGET, note=f"json.loads floor {floor:.1f}x; file {size / 1e6:.0f} MB"),
    ]
