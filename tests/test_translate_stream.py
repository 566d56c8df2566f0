"""Trace files read a request at a time: every form still reads as before, a Collector export
streams line by line, and `otel-scoring translate` of a large export needs the memory of its
largest request, not of the file (peak RSS of a real process)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from otel_scoring import metadata, score_current_span
from otel_scoring.cli import main
from otel_scoring.translate import TranslationError, records_from_file, records_from_spans, translations_from_file
from support.large_files import scored_request_template, write_collector_jsonl
from support.span_forms import collector_json, collector_json_lines, jaeger_legacy, otlp_proto

PROCESS_TIMEOUT_SECONDS = 300
# Parsed JSON costs about 8.5x its text in Python objects (measured: 1.3 MB and 2.5 MB requests
# added 10.8 and 21 MB over the interpreter); with the line read next and the allocator's slack,
# translating holds at most this many times the largest request, however long the file.
MEMORY_PER_REQUEST_BYTES = 16


def _two_requests(tracer, exporter):
    with tracer.start_as_current_span("first"):
        score_current_span(name="helpfulness", value=0.25)
    first = exporter.get_finished_spans()
    exporter.clear()
    with tracer.start_as_current_span("second"):
        score_current_span(name="tone", value=1.0)
        metadata("ticket").update({"ticketId": "T-1"})
    return first, exporter.get_finished_spans()


def test_a_collector_export_is_read_one_request_per_line(tracer, exporter, tmp_path):
    """Each line of a Collector JSON-lines file gives its own translation, in file order."""
    first, second = _two_requests(tracer, exporter)
    path = tmp_path / "export.jsonl"
    path.write_text(collector_json_lines(collector_json(first), collector_json(second)), encoding="utf-8")
    assert list(translations_from_file(path)) == [records_from_spans(first), records_from_spans(second)]


def test_files_of_one_request_are_read_whole_as_before(tracer, exporter, tmp_path):
    """Binary OTLP and a pretty-printed Jaeger answer are one translation each, what records_from_file gives."""
    first, second = _two_requests(tracer, exporter)
    spans = [*first, *second]
    (tmp_path / "traces.binpb").write_bytes(otlp_proto(spans))
    (tmp_path / "jaeger.json").write_text(json.dumps(jaeger_legacy(spans), indent=2), encoding="utf-8")
    for name in ("traces.binpb", "jaeger.json"):
        assert list(translations_from_file(tmp_path / name)) == [records_from_file(tmp_path / name)] == [records_from_spans(spans)], name


def test_a_cut_short_line_is_skipped_with_a_warning_and_a_foreign_line_is_an_error(tracer, exporter, tmp_path, caplog):
    """A malformed line (a file exporter's last line cut short) is skipped with one warning; a JSON line
    that is not trace data stops the file with an error naming the line, after the records before it."""
    first, second = _two_requests(tracer, exporter)
    cut = tmp_path / "cut.jsonl"
    cut.write_text(collector_json_lines(collector_json(first), collector_json(second))[:-40], encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="otel_scoring"):
        assert list(translations_from_file(cut)) == [records_from_spans(first)]
    assert "skipped 1 malformed JSON line(s) of 2" in caplog.text

    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(collector_json_lines(collector_json(first), {"shopping": ["milk"]}), encoding="utf-8")
    read = translations_from_file(foreign)
    assert next(read) == records_from_spans(first)
    with pytest.raises(TranslationError, match="foreign.jsonl line 2"):
        next(read)


def test_translate_prints_a_streamed_table_with_one_header(tracer, exporter, tmp_path, capsys):
    """--format table over a file of several requests prints one score table (one header) with every
    score, then one metadata table, each followed by its count."""
    first, second = _two_requests(tracer, exporter)
    path = tmp_path / "export.jsonl"
    path.write_text(collector_json_lines(collector_json(first), collector_json(second)), encoding="utf-8")
    assert main(["translate", str(path), "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.split()[:2] == ["time", "name"] for line in lines) == 1
    scores_end = lines.index("2 score(s)")
    assert [line.split()[1] for line in lines[2:scores_end]] == ["helpfulness", "tone"]
    assert lines[scores_end + 1].split()[:3] == ["time", "memo", "id"] and "ticket/0" in lines[scores_end + 3]
    assert lines[-1] == "1 metadata update(s)"


_PEAK_RSS = (
    "import sys\n"
    "from otel_scoring.cli import main\n"
    "code = main(sys.argv[1:])\n"
    # VmHWM is this program's own peak (it starts again at exec; getrusage's maxrss would count the
    # pytest process this one was forked from).
    "print([line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0].split()[1], file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _peak_rss_bytes(*argv: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=PROCESS_TIMEOUT_SECONDS
    )
    assert result.returncode == 0, result.stderr
    return int(result.stderr.split()[-1]) * 1024


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)")
@pytest.mark.parametrize("output", ["json", "table"])
def test_translate_of_a_large_export_needs_the_memory_of_one_request_not_of_the_file(tmp_path, output):
    """translate of a 40-request Collector export grows the process by at most a stated multiple of one
    request (the whole file, parsed at once, would take ten times its size)."""
    requests, spans = 40, 500
    request_bytes = len(scored_request_template(spans)[0])
    tiny, large = tmp_path / "tiny.jsonl", tmp_path / "large.jsonl"
    write_collector_jsonl(tiny, requests=1, spans_per_request=1)
    write_collector_jsonl(large, requests=requests, spans_per_request=spans)
    interpreter = _peak_rss_bytes("translate", str(tiny), "--format", output)
    growth = _peak_rss_bytes("translate", str(large), "--format", output) - interpreter
    assert growth <= MEMORY_PER_REQUEST_BYTES * request_bytes, f"{growth / 1e6:.1f} MB for requests of {request_bytes / 1e6:.2f} MB"
    assert growth < large.stat().st_size / 2

