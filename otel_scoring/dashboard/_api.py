"""The dashboard's JSON API: one function per endpoint, shared by the page and the CLI.

Each function takes the store and the request's query parameters (text, as a URL carries them)
and returns a JSON-ready dict, or raises :class:`ApiError` naming the parameter that is wrong.
The HTTP layer (``_app``) only routes and encodes; ``otel-scoring compare`` calls :func:`compare`
and prints the same answer as a table. Every figure is an SQLite aggregate: no endpoint loads all
scores. docs/dashboard.md documents every endpoint.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Tuple

from otel_scoring.dashboard._stats import CONFIDENCE, MIN_SCORES, Sample, welch_difference, verdict
from otel_scoring.store import METADATA_KEY_PREFIX, ScoreStore

Params = Mapping[str, str]

DEFAULT_BUCKET_SECONDS = 3600
MIN_BUCKET_SECONDS = 1
MAX_BUCKETS = 2000  # per score name: a bucket size too small for the time range is refused
DEFAULT_RUNS_PAGE = 50
MAX_RUNS_PAGE = 500
MAX_HISTOGRAM_BINS = 20
MAX_DISTINCT_BINS = 40  # integer scores over at most this range get one bin per value (1-5 stars)
# Keys every store can split by, besides its resource attributes and metadata keys.
BUILTIN_KEYS = ("service.name", "dataset_run", "time")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ApiError(ValueError):
    """A request the API cannot answer: ``status`` (400, 404) and a message that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- Endpoints ------------------------------------------------------------------------------------


def overview(store: ScoreStore, params: Params) -> Dict[str, Any]:
    """``/api/overview``: what the filters and pickers offer, and how much the store holds."""
    keys = [key for key in store.cohort_keys() if key != "service.name"]
    return {
        "scores": store.count_scores(),
        "metadata_updates": store.count_metadata(),
        "names": store.score_names(),
        "services": store.services(),
        "keys": [*BUILTIN_KEYS[:1], *[key for key in keys if not key.startswith(METADATA_KEY_PREFIX)], *[key for key in keys if key.startswith(METADATA_KEY_PREFIX)], *BUILTIN_KEYS[1:]],
    }


def trends(store: ScoreStore, params: Params) -> Dict[str, Any]:
    """``/api/trends``: per score name, mean/p50/p90 and count per bucket, and label shares."""
    bucket = _duration(params.get("bucket"), "bucket", DEFAULT_BUCKET_SECONDS)
    since, until = _time(params.get("since"), "since"), _time(params.get("until"), "until")
    if since is not None and until is not None and until <= since:
        raise ApiError("until must be after since")
    figures, labels = store.trends(bucket, name=_text(params.get("name")), service=_text(params.get("service")), since=since, until=until)
    series: Dict[str, Dict[str, Any]] = {}
    for row in figures:
        entry = series.setdefault(row["name"], {"name": row["name"], "data_type": row["data_type"], "count": 0, "buckets": [], "labels": []})
        entry["count"] += row["count"]
        entry["buckets"].append({"start": _iso(row["bucket_start"]), "count": row["count"], "mean": row["mean"], "p50": row["p50"], "p90": row["p90"]})
        if len(entry["buckets"]) > MAX_BUCKETS:
            raise ApiError(f"more than {MAX_BUCKETS} buckets of {bucket:g}s: choose a larger bucket or a shorter time range")
    shares: Dict[Tuple[str, str], Dict[str, int]] = {}
    for score_name, start, label, count in labels:
        shares.setdefault((score_name, _iso(start)), {})[label] = count
    for (score_name, start), counts in shares.items():
        total = sum(counts.values())
        series[score_name]["labels"].append({"start": start, "count": total, "shares": {label: count / total for label, count in sorted(counts.items())}})
    return {"bucket_seconds": bucket, "series": [series[key] for key in sorted(series)]}


def runs(store: ScoreStore, params: Params) -> Dict[str, Any]:
    """``/api/runs``: runs newest first, each with its scores; ``q`` searches them."""
    limit = _integer(params.get("limit"), "limit", DEFAULT_RUNS_PAGE, 1, MAX_RUNS_PAGE)
    offset = _integer(params.get("offset"), "offset", 0, 0, 10**9)
    total, page = store.runs(_text(params.get("q")), limit=limit, offset=offset)
    for run in page:
        run["first"], run["last"] = _iso(run["first"]), _iso(run["last"])
    return {"total": total, "offset": offset, "limit": limit, "runs": page}


def run(store: ScoreStore, params: Params, jaeger_url: Optional[str] = None) -> Dict[str, Any]:
    """``/api/run?trace=ID``: a run's scores and its metadata grouped by kind, keys sorted."""
    trace_id = _text(params.get("trace"))
    if trace_id is None or len(trace_id) != 32 or any(c not in "0123456789abcdefABCDEF" for c in trace_id):
        raise ApiError("trace must be a trace id of 32 hex digits")
    trace_id = trace_id.lower()
    summary = store.run(trace_id)
    scores = store.scores(trace_id=trace_id)
    updates = store.metadata(trace_id=trace_id)
    if summary is None and not scores and not updates:
        raise ApiError(f"no run with trace id {trace_id} in the store", status=404)
    answer: Dict[str, Any] = summary or {"trace_id": trace_id, "name": None, "service_name": None, "resource": {}}
    for key in ("first", "last"):
        if isinstance(answer.get(key), datetime):
            answer[key] = _iso(answer[key])
    answer["scores"] = [
        {
            "id": score.id,
            "name": score.name,
            "value": score.value,
            "label": score.string_value,
            "data_type": score.data_type,
            "scope": score.scope,
            "span_id": score.observation_id,
            "span_name": score.span_name,
            "late": score.span_name is None,  # carried by a carrier span: scored after its span or run ended
            "comment": score.comment,
            "source": score.source,
            "timestamp": _iso(score.timestamp),
        }
        for score in scores
    ]
    answer["metadata"] = metadata_sections(updates)
    answer["jaeger_url"] = jaeger_trace_url(jaeger_url, trace_id)
    return answer


def metadata_sections(updates: List[Any]) -> List[Dict[str, Any]]:
    """Metadata as the trace detail panel shows it: one section per kind ("User Metadata
    (billing)"), each entry with its scope, timestamp and key-value pairs sorted by key."""
    sections: Dict[str, Dict[str, Any]] = {}
    for update in updates:
        section = sections.setdefault(update.kind, {"kind": update.kind, "title": f"User Metadata ({update.kind})", "entries": []})
        section["entries"].append(
            {
                "memo_id": update.memo_id,
                "index": update.index,
                "scope": update.scope,
                "span_id": update.span_id,
                "span_name": update.span_name,
                "timestamp": _iso(update.timestamp),
                "values": [[key, update.values[key]] for key in sorted(update.values)],
            }
        )
    return [sections[kind] for kind in sorted(sections)]


def jaeger_trace_url(jaeger_url: Optional[str], trace_id: str) -> Optional[str]:
    return None if not jaeger_url else f"{jaeger_url.rstrip('/')}/trace/{trace_id}"


def cohorts(store: ScoreStore, params: Params) -> Dict[str, Any]:
    """``/api/cohorts?name=N&by=KEY``: the values KEY takes among scores named N, oldest first."""
    name = _required(params, "name")
    key = _key(_required(params, "by"))
    if key == "time":
        return {"name": name, "by": key, "values": []}
    values = store.cohort_values(key, name)
    return {"name": name, "by": key, "values": [{"value": value, "count": count, "first": _iso(first)} for value, count, first in values]}


def compare(store: ScoreStore, params: Params) -> Dict[str, Any]:
    """``/api/compare``: two cohorts of one score name, side by side, and a verdict.

    ``by`` is a resource attribute (``service.version``), ``metadata.<kind>.<key>``,
    ``dataset_run`` or ``time`` (then ``baseline`` and ``candidate`` are ``START/END`` windows).
    Without ``baseline`` and ``candidate``, a key with exactly two values compares them, the
    older cohort (by its first score) as the baseline.
    """
    name = _required(params, "name")
    key = _key(_required(params, "by"))
    lower_is_better = _boolean(params.get("lower_is_better"), "lower_is_better")
    baseline_text, candidate_text = _text(params.get("baseline")), _text(params.get("candidate"))
    if (baseline_text is None) != (candidate_text is None):
        raise ApiError("give both baseline and candidate, or neither")
    if baseline_text is None or candidate_text is None:
        if key == "time":
            raise ApiError("by=time needs baseline and candidate windows, as START/END (ISO 8601)")
        values = store.cohort_values(key, name, limit=3)
        if len(values) != 2:
            found = ", ".join(value for value, _, _ in values[:2]) + (", ..." if len(values) > 2 else "") if values else "none"
            many = "more than two values" if len(values) > 2 else f"{len(values)} value{'s' if len(values) != 1 else ''}"
            raise ApiError(f"{key} takes {many} among {name!r} scores ({found}): name the baseline and the candidate")
        baseline_text, candidate_text = values[0][0], values[1][0]  # oldest first: the baseline
    baseline_value: Any = _window(baseline_text, "baseline") if key == "time" else baseline_text
    candidate_value: Any = _window(candidate_text, "candidate") if key == "time" else candidate_text
    values = {"baseline": baseline_value, "candidate": candidate_value}
    sides = {role: store.cohort_summary(name, key, value) for role, value in values.items()}
    bins = _shared_bins([side for side in sides.values() if side["n"]])
    samples = {}
    for role, side in sides.items():
        squares, counts = store.cohort_spread(name, key, values[role], side["mean"], *bins) if side["n"] else (0.0, [0] * bins[2])
        variance = squares / (side["n"] - 1) if side["n"] >= 2 else None
        side["sd"] = None if variance is None else math.sqrt(variance)
        side["histogram"] = counts
        samples[role] = Sample(side["n"], side["mean"] or 0.0, variance or 0.0)
    difference = welch_difference(samples["baseline"], samples["candidate"])
    text, degraded = verdict(difference, lower_is_better)
    low, width, count = bins
    answer = {
        "name": name,
        "by": key,
        "baseline": {"value": baseline_text, **_json_side(sides["baseline"])},
        "candidate": {"value": candidate_text, **_json_side(sides["candidate"])},
        "bins": {"low": low, "width": width, "count": count, "edges": [low + width * index for index in range(count + 1)]},
        "better": "lower" if lower_is_better else "higher",
        "method": "Welch's t interval",
        "confidence": CONFIDENCE,
        "min_scores": MIN_SCORES,
        "difference": None,
        "verdict": text,
        "degraded": degraded,
    }
    if difference is not None:
        answer["difference"] = {
            "estimate": difference.estimate,
            "low": difference.low,
            "high": difference.high,
            "p_value": difference.p_value,
            "degrees_of_freedom": None if math.isinf(difference.degrees_of_freedom) else difference.degrees_of_freedom,
        }
    return answer


# --- Parameters -----------------------------------------------------------------------------------


def _shared_bins(sides: List[Dict[str, Any]]) -> Tuple[float, float, int]:
    """(low, width, count) of histogram bins both cohorts share: one per value for small integer
    ranges, else MAX_HISTOGRAM_BINS equal bins over both cohorts' range."""
    if not sides:
        return 0.0, 1.0, 1
    low = min(side["min"] for side in sides)
    high = max(side["max"] for side in sides)
    if float(low).is_integer() and float(high).is_integer() and high - low < MAX_DISTINCT_BINS:
        return low - 0.5, 1.0, int(high - low) + 1
    if high == low:
        return low - 0.5, 1.0, 1
    return low, (high - low) / MAX_HISTOGRAM_BINS, MAX_HISTOGRAM_BINS


def _json_side(side: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "count": side["count"],
        "n": side["n"],
        "mean": side["mean"],
        "sd": side["sd"],
        "min": side["min"],
        "max": side["max"],
        "first": None if side["first"] is None else _iso(side["first"]),
        "labels": side["labels"],
        "histogram": side["histogram"],
    }


def _key(text: str) -> str:
    if text.startswith(METADATA_KEY_PREFIX) and text.count(".") < 2:
        raise ApiError(f"{text!r}: a metadata key is metadata.<kind>.<key>, such as metadata.prompt.version")
    return text


def _required(params: Params, name: str) -> str:
    value = _text(params.get(name))
    if value is None:
        raise ApiError(f"{name} is required")
    return value


def _text(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _integer(value: Optional[str], name: str, default: int, low: int, high: int) -> int:
    if _text(value) is None:
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ApiError(f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise ApiError(f"{name} must be from {low} to {high}, got {number}")
    return number


def _boolean(value: Optional[str], name: str) -> bool:
    text = (_text(value) or "false").lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ApiError(f"{name} must be true or false, got {value!r}")


def _duration(value: Optional[str], name: str, default: float) -> float:
    """Seconds, from ``3600``, ``15m``, ``1h``, ``1d``."""
    text = _text(value)
    if text is None:
        return float(default)
    unit = _DURATION_UNITS.get(text[-1].lower())
    number_text = text[:-1] if unit is not None else text
    try:
        number = float(number_text) * (unit or 1)
    except ValueError:
        raise ApiError(f"{name} must be a duration such as 15m, 1h or 1d, got {value!r}") from None
    if not math.isfinite(number) or number < MIN_BUCKET_SECONDS:
        raise ApiError(f"{name} must be at least {MIN_BUCKET_SECONDS}s, got {value!r}")
    return number


def _time(value: Optional[str], name: str) -> Optional[datetime]:
    """An ISO 8601 time (naive means UTC), or None when not given."""
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(f"{name} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _window(text: str, name: str) -> Tuple[datetime, datetime]:
    start_text, separator, end_text = text.partition("/")
    start, end = _time(start_text, f"{name} start"), _time(end_text, f"{name} end")
    if not separator or start is None or end is None:
        raise ApiError(f"{name} must be a time window START/END (ISO 8601), got {text!r}")
    if end <= start:
        raise ApiError(f"{name} window ends before it starts: {text!r}")
    return start, end


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


__all__ = ["ApiError", "overview", "trends", "runs", "run", "cohorts", "compare", "metadata_sections", "jaeger_trace_url"]
