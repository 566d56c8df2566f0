"""Records and stats as text for the CLI: aligned tables, JSON lines, CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

from otel_scoring.records import MetadataRecord, ScoreRecord

_NONE = "-"
# json.dumps with these options builds an encoder per call; one encoder serves every line.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_MAX_CELL = 48  # longer free text (comments, metadata values) is cut in tables; JSON and CSV keep it


def format_time(moment: datetime) -> str:
    """UTC to the millisecond: ``2026-11-22T04:33:05.116Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def format_number(value: Optional[float]) -> str:
    return _NONE if value is None else format(value, ".6g")


def _cut(text: Optional[str]) -> str:
    if text is None:
        return _NONE
    text = " ".join(text.split())  # one line per row
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]], right_aligned: Sequence[str] = ()) -> str:
    """Columns padded to their widest cell; ``right_aligned`` names the numeric columns."""
    return StreamedTable(headers, right_aligned).page(rows)


class StreamedTable:
    """A table printed a page at a time, for any number of rows in bounded memory.

    Columns are as wide as their header and the widest cell of the first page; a wider cell
    later widens only its own row (cells of free text are cut to a fixed length, so it is rare).
    """

    def __init__(self, headers: Sequence[str], right_aligned: Sequence[str] = ()) -> None:
        self._headers = list(headers)
        self._right = {self._headers.index(name) for name in right_aligned}
        self._widths: Optional[List[int]] = None

    def page(self, rows: Iterable[Sequence[str]]) -> str:
        """The lines of ``rows``, after the header and its rule when this is the first page."""
        rows = [list(row) for row in rows]
        lines = []
        if self._widths is None:
            self._widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, header in enumerate(self._headers)]
            lines = [self._line(self._headers), self._line(["-" * width for width in self._widths])]
        return "\n".join(lines + [self._line(row) for row in rows])

    def _line(self, cells: Sequence[str]) -> str:
        widths, right = self._widths or [], self._right
        return "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip()


SCORE_HEADERS = ("time", "name", "value", "label", "type", "scope", "trace", "span", "session", "comment")
SCORE_RIGHT_ALIGNED = ("value",)
METADATA_HEADERS = ("time", "memo id", "kind", "scope", "trace", "span", "values")


def score_table(records: Iterable[ScoreRecord]) -> str:
    return render_table(SCORE_HEADERS, score_rows(records), right_aligned=SCORE_RIGHT_ALIGNED)


def score_rows(records: Iterable[ScoreRecord]) -> Iterator[Sequence[str]]:
    return (
        (
            format_time(r.timestamp),
            r.name,
            format_number(r.value),
            r.string_value or _NONE,
            r.data_type,
            r.scope,
            r.trace_id or _NONE,
            r.observation_id or _NONE,
            r.session_id or _NONE,
            _cut(r.comment),
        )
        for r in records
    )


def metadata_table(records: Iterable[MetadataRecord]) -> str:
    return render_table(METADATA_HEADERS, metadata_rows(records))


def metadata_rows(records: Iterable[MetadataRecord]) -> Iterator[Sequence[str]]:
    return (
        (
            format_time(r.timestamp),
            r.id,
            r.kind,
            r.scope,
            r.trace_id or _NONE,
            r.span_id or _NONE,
            _cut(json.dumps(dict(r.values), separators=(",", ":"), ensure_ascii=False)),
        )
        for r in records
    )


def stats_table(rows: Iterable[Mapping[str, Any]]) -> str:
    figures = ("count", "mean", "min", "max", "p50", "p90")
    headers = ("name", "bucket start") + figures
    table_rows = (
        (row["name"], format_time(row["bucket_start"]), str(row["count"])) + tuple(format_number(row[f]) for f in figures[1:]) for row in rows
    )
    return render_table(headers, table_rows, right_aligned=figures)


def _json_ready(row: Mapping[str, Any]) -> Dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}


def json_lines(items: Iterable[Any], record_type: Optional[str] = None) -> str:
    """One JSON object per line: each record's ``to_dict()`` (or a stats row), tagged when asked."""
    lines = []
    for item in items:
        data = item.to_dict() if hasattr(item, "to_dict") else _json_ready(item)
        if record_type is not None:
            data = {"record_type": record_type, **data}
        lines.append(_encode_json(data))
    return "\n".join(lines)


def score_csv(records: Iterable[ScoreRecord], header: bool = True) -> str:
    """CSV with a header row of the record's field names (unless ``header`` is False, for the
    pages after the first); metadata as JSON."""
    buffer = io.StringIO()
    fields: List[str] = list(ScoreRecord.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    if header:
        writer.writeheader()
    for record in records:
        data = record.to_dict()
        data["metadata"] = None if record.metadata is None else json.dumps(record.metadata, ensure_ascii=False, separators=(",", ":"))
        writer.writerow(data)
    return buffer.getvalue().rstrip("\n")


def comparison_table(answer: Mapping[str, Any]) -> str:
    """`otel-scoring compare`: the two cohorts side by side, then the difference and the verdict."""
    rows = []
    for role in ("baseline", "candidate"):
        side = answer[role]
        rows.append((role, _cut(side["value"]), str(side["n"]), format_number(side["mean"]), format_number(side["sd"]), format_number(side["min"]), format_number(side["max"]), side["first"] or "-"))
    table = render_table(("cohort", answer["by"], "n", "mean", "sd", "min", "max", "first score"), rows, right_aligned=("n", "mean", "sd", "min", "max"))
    difference = answer["difference"]
    better = f"{answer['better']} is better"
    if difference is None:
        evidence = f"fewer than {answer['min_scores']} numeric {answer['name']} scores in a cohort"
    else:
        level = f"{answer['confidence']:.0%}"
        evidence = (
            f"difference in mean (candidate - baseline): {format_number(difference['estimate'])}, "
            f"{level} CI [{format_number(difference['low'])}, {format_number(difference['high'])}] ({answer['method']}, p = {difference['p_value']:.3g})"
        )
    return f"{table}\n\n{evidence}\nverdict: {answer['verdict']} ({better})"


def metadata_csv(records: Iterable[MetadataRecord], header: bool = True) -> str:
    """CSV of metadata updates like :func:`score_csv`: the record's fields, values as JSON."""
    buffer = io.StringIO()
    fields: List[str] = list(MetadataRecord.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    if header:
        writer.writeheader()
    for record in records:
        data = record.to_dict()
        data["values"] = json.dumps(data["values"], ensure_ascii=False, separators=(",", ":"))
        writer.writerow(data)
    return buffer.getvalue().rstrip("\n")
