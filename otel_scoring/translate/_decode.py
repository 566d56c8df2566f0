"""Span views → score and metadata records: the read side of the wire schema.

Three kinds of score are read:

* our ``gen_ai.evaluation.result`` events, which carry ``otel_scoring.score.*`` attributes and
  decode into full records;
* the same event written by other tools with only the GenAI convention's ``gen_ai.evaluation.*``
  attributes: a span score of the span carrying it, with an id derived from where it was found;
* OpenInference annotation attributes on a span (``annotation.<name>.score|label|explanation``).

Metadata update events decode into :class:`MetadataRecord`. An event that breaks the schema (a
missing name, a wrong type, malformed JSON) is skipped on its own; nothing here raises.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import replace
from datetime import datetime
from itertools import islice
from operator import attrgetter, eq
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from otel_scoring import schema
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.translate import _dialects
from otel_scoring.translate._dialects import OPENINFERENCE_SOURCE
from otel_scoring.translate._span_view import SPAN_ID_BYTES, TRACE_ID_BYTES, LogView, SpanView, time_from_nanos
from otel_scoring.translate._translation import Translation

# Sources of scores that did not come through this package.
GENAI_EVENT_SOURCE = "GENAI_EVENT"
DEFAULT_SOURCE = "API"
DEFAULT_METADATA_KIND = "default"

_parse_timestamp = schema.parse_timestamp  # bound once: it runs for every record read
_LOWER_HEX = frozenset("0123456789abcdef")
_is_trace_id = re.compile("[0-9a-f]{%d}" % (2 * TRACE_ID_BYTES)).fullmatch
_is_span_id = re.compile("[0-9a-f]{%d}" % (2 * SPAN_ID_BYTES)).fullmatch
_isfinite = math.isfinite
# The scanner json.loads runs; shared between threads safely (its only state is a key-interning memo).
_scan_json = json.JSONDecoder().scan_once
_TRACE_ID_DIGITS = 2 * TRACE_ID_BYTES
_SPAN_ID_DIGITS = 2 * SPAN_ID_BYTES
_ANNOTATION_PREFIX = schema.OPENINFERENCE_ANNOTATION_PREFIX
_ANNOTATION_FIELDS = ("score", "label", "explanation")

# Wire names as module globals: the hot path reads each once per score.
_SCORE_EVENT = schema.EVALUATION_RESULT_EVENT
_METADATA_EVENT = schema.METADATA_UPDATE_EVENT
_LOG_SPAN_NAME = schema.LOG_SPAN_NAME
_CARRIER = schema.CARRIER
_CARRIER_SPAN_NAME = schema.CARRIER_SPAN_NAME
_SCORE_ID = schema.SCORE_ID
_NAME = schema.GEN_AI_EVALUATION_NAME
_VALUE = schema.GEN_AI_EVALUATION_SCORE_VALUE
_LABEL = schema.GEN_AI_EVALUATION_SCORE_LABEL
_EXPLANATION = schema.GEN_AI_EVALUATION_EXPLANATION
_TRACE_ID = schema.SCORE_TRACE_ID
_SPAN_ID = schema.SCORE_SPAN_ID
_SESSION_ID = schema.SCORE_SESSION_ID
_DATASET_RUN_ID = schema.SCORE_DATASET_RUN_ID
_DATA_TYPE = schema.SCORE_DATA_TYPE
_SCOPE = schema.SCORE_SCOPE
_SOURCE = schema.SCORE_SOURCE
_CONFIG_ID = schema.SCORE_CONFIG_ID
_METADATA = schema.SCORE_METADATA
_TIMESTAMP = schema.SCORE_TIMESTAMP
_DATA_TYPES = tuple(schema.DATA_TYPES)
_SCORE_SCOPES = tuple(schema.SCORE_SCOPES)
_MEMO_ID = schema.METADATA_UPDATE_MEMO_ID
_INDEX = schema.METADATA_UPDATE_INDEX
_VALUES = schema.METADATA_UPDATE_VALUES
_KIND = schema.METADATA_UPDATE_KIND
_METADATA_SCOPE = schema.METADATA_UPDATE_SCOPE
_METADATA_TIMESTAMP = schema.METADATA_UPDATE_TIMESTAMP
_METADATA_TRACE_ID = schema.METADATA_UPDATE_TRACE_ID
_METADATA_SPAN_ID = schema.METADATA_UPDATE_SPAN_ID
_METADATA_SCOPES = tuple(schema.METADATA_SCOPES)

_BY_TIMESTAMP = attrgetter("timestamp")
_SCORE_ORDER = attrgetter("timestamp", "id")
_METADATA_ORDER = attrgetter("timestamp", "memo_id", "index")


class _Skip(Exception):
    """This event or annotation breaks the schema: leave it out and carry on."""


def decode(views: Iterable[Union[SpanView, LogView]]) -> Translation:
    """Records of every score and metadata update in ``views``, latest write per id."""
    collector = RecordCollector()
    for view in views:
        if view.__class__ is LogView:
            collector.add_log_record(view)
        else:
            collector.add_view(view)
    return collector.translation()


# Anything an event that breaks the schema can raise while it is decoded; such an event is skipped.
_UNREADABLE = (_Skip, ValueError, TypeError, OverflowError, RecursionError)  # _dialects.Malformed is a ValueError


class RecordCollector:
    """Records as a reader finds them, keeping the latest write of each score and metadata update.

    Readers hand over whole span views (:meth:`add_view`); the OTLP protobuf reader, the
    receiver's hot path, hands over events one at a time instead, without building a view per
    span. A write is the latest when its time is the latest or, at equal times, when it was found
    last: readers add in input order, so comparing times with ``<=`` is that (time, position) order.
    """

    __slots__ = ("_scores", "_score_times", "_metadata", "_metadata_times", "_derived_seen", "_derived_container", "skipped", "resource", "_resources")

    def __init__(self) -> None:
        # key -> record, and key -> time of that write in ns. Two dicts rather than one of
        # (time, record) pairs: with a tuple per record (here and as sort keys) the garbage
        # collector's passes took a tenth of translating an export; without, about 1 %.
        self._scores: Dict[str, ScoreRecord] = {}
        self._score_times: Dict[str, int] = {}
        # A memo id is unique within one run only: the same code re-run in another trace reuses it.
        self._metadata: Dict[Tuple[Any, str, int], MetadataRecord] = {}
        self._metadata_times: Dict[Tuple[Any, str, int], int] = {}
        # Derived ids seen in the span (or log request) being read, and how often: a second result
        # of the same name at the same time on the same span is a second score, not a rewrite.
        self._derived_seen: Dict[str, int] = {}
        self._derived_container: Any = None
        # Score and metadata forms found but not readable (a missing name, a wrong type, no place).
        self.skipped = 0
        # The attributes of the resource whose events are being added, set by the reader (None
        # when it has none); the first seen per trace, a run's own spans' before a carrier's.
        self.resource: Optional[Mapping[str, Any]] = None
        self._resources: Dict[str, Tuple[Mapping[str, Any], bool]] = {}

    def add_view(self, view: SpanView) -> None:
        span_name = None if is_carrier(view.name, view.attributes) else view.name
        self.resource = view.resource
        # Another tool's results on an evaluation span are about its parent: its reader takes them.
        evaluation_span = bool(view.attributes) and _dialects.is_evaluation_span(view.attributes)
        for event_name, time_unix_nano, attributes in view.events:
            if event_name == _SCORE_EVENT:
                if evaluation_span and _SCORE_ID not in attributes:
                    continue
                self.add_score_event(time_unix_nano, attributes, view.service_name, span_name, view, _view_ids)
            elif event_name == _METADATA_EVENT:
                self.add_metadata_event(time_unix_nano, attributes, view.service_name, span_name)
        if view.attributes:
            self.add_annotations(view, span_name)
            self.add_dialects(view)

    def add_dialects(self, view: SpanView) -> None:
        """Scores in other producers' forms on ``view`` (:mod:`._dialects`), each form on its own."""
        for read in _dialects.readers(view):
            try:
                scores = read(view, _genai_score, _derived_id)
            except _UNREADABLE:
                self.skipped += 1
                continue
            for score in scores:
                self._keep_score(self.occurrence(view, score), view.start_time_unix_nano)

    def add_score_event(
        self,
        time_unix_nano: int,
        attributes: Mapping[str, Any],
        service_name: Optional[str],
        span_name: Optional[str],
        span: Any,
        span_ids: Callable[[Any], Tuple[Optional[str], Optional[str]]],
        container: Any = None,
    ) -> None:
        """A ``gen_ai.evaluation.result`` event; ``span_name`` is None for a carrier span.

        ``span_ids(span)`` gives the (trace id, span id) of the span carrying the event: only an
        event written by another tool needs them, so a reader need not work them out for ours.
        ``container`` is what holds the event, the span itself unless given.
        """
        try:
            if _SCORE_ID in attributes:
                score = _score(service_name, span_name, time_unix_nano, attributes)
            else:
                trace_id, span_id = span_ids(span)
                score = self.occurrence(span if container is None else container, _genai_score(trace_id, span_id, service_name, span_name, time_unix_nano, attributes))
        except _UNREADABLE:
            self.skipped += 1
            return
        self._keep_score(score, time_unix_nano)
        if self.resource is not None and score.trace_id is not None:
            self._note_resource(score.trace_id, span_name is not None)

    def add_log_record(self, record: LogView) -> None:
        """A log-based event (OTEP 4430): the record's own trace and span ids say what it scores.

        The log records of one request are one container for :meth:`occurrence`.
        """
        span_name = record.attributes.get(_LOG_SPAN_NAME)  # ours: the span it was recorded on
        if not isinstance(span_name, str):
            span_name = None
        if record.event_name == _SCORE_EVENT:
            self.add_score_event(record.time_unix_nano, record.attributes, record.service_name, span_name, record, _log_ids, record.batch)
        elif record.event_name == _METADATA_EVENT:
            self.add_metadata_event(record.time_unix_nano, record.attributes, record.service_name, span_name)

    def occurrence(self, container: Any, score: ScoreRecord) -> ScoreRecord:
        """``score``, its derived id made unique among the results ``container`` holds.

        Ids derived from where a score was found (trace, span, name, time) coincide for two results
        of one name written at the same time: the second and later get their position appended, so
        re-reading the same span gives the same ids and none of the results is lost.
        """
        if container is not self._derived_container:
            self._derived_container = container
            self._derived_seen = {}
        seen = self._derived_seen.get(score.id, 0)
        self._derived_seen[score.id] = seen + 1
        if not seen:
            return score
        return replace(score, id=_derived_id(score.id, str(seen)))

    def add_metadata_event(self, time_unix_nano: int, attributes: Mapping[str, Any], service_name: Optional[str], span_name: Optional[str]) -> None:
        try:
            update = _metadata(service_name, span_name, time_unix_nano, attributes)
        except _UNREADABLE:
            self.skipped += 1
            return
        key = (update.trace_id, update.memo_id, update.index)
        previous = self._metadata_times.get(key)
        if previous is None or previous <= time_unix_nano:
            self._metadata[key] = update
            self._metadata_times[key] = time_unix_nano
        if self.resource is not None and update.trace_id is not None:
            self._note_resource(update.trace_id, span_name is not None)

    def _note_resource(self, trace_id: str, from_run: bool) -> None:
        known = self._resources.get(trace_id)
        if known is None or (from_run and not known[1]):
            self._resources[trace_id] = (self.resource, from_run)  # type: ignore[assignment]

    def add_annotations(self, view: SpanView, span_name: Optional[str]) -> None:
        """OpenInference annotation attributes of a span (found at the span's start)."""
        try:
            annotations = _annotation_scores(view, span_name)
        except (ValueError, TypeError, OverflowError):
            self.skipped += 1
            return
        for score in annotations:
            self._keep_score(score, view.start_time_unix_nano)
            if self.resource is not None and score.trace_id is not None:
                self._note_resource(score.trace_id, span_name is not None)

    def _keep_score(self, score: ScoreRecord, time_unix_nano: int) -> None:
        previous = self._score_times.get(score.id)
        if previous is None or previous <= time_unix_nano:
            self._scores[score.id] = score
            self._score_times[score.id] = time_unix_nano

    def translation(self) -> Translation:
        return Translation(
            scores=_sorted(self._scores.values(), _SCORE_ORDER),
            metadata=_sorted(self._metadata.values(), _METADATA_ORDER),
            skipped=self.skipped,
            resources=self._resources,
        )


def _sorted(records: Iterable[Any], order: Callable[[Any], Any]) -> List[Any]:
    """``records`` by timestamp, ties broken by ``order`` (a key that starts with the timestamp).

    Sorted by the timestamp alone first, which needs no tuple per record (garbage for the
    collector) and is one linear pass for records that arrive in time order, as they nearly
    always do; only equal timestamps need the full key.
    """
    result = sorted(records, key=_BY_TIMESTAMP)
    times = list(map(_BY_TIMESTAMP, result))
    if any(map(eq, times, islice(times, 1, None))):
        result.sort(key=order)
    return result


def is_carrier(span_name: str, attributes: Optional[Mapping[str, Any]]) -> bool:
    """A carrier span (made only to carry a late score) is known by its name or its flag attribute."""
    return span_name == _CARRIER_SPAN_NAME or (attributes.get(_CARRIER) is True if attributes else False)


def _view_ids(view: SpanView) -> Tuple[Optional[str], Optional[str]]:
    return view.trace_id, view.span_id


def _log_ids(record: LogView) -> Tuple[Optional[str], Optional[str]]:
    return record.trace_id, record.span_id


# --- Our score events ------------------------------------------------------------------------------
#
# The hottest code of the receiver: one call per score of every export. Attributes are read with
# one bound ``get`` each and checked inline (str or None for text), not through a helper per field.


def _score(service_name: Optional[str], span_name: Optional[str], time_unix_nano: int, attributes: Mapping[str, Any]) -> ScoreRecord:
    get = attributes.get
    score_id = get(_SCORE_ID)
    name = get(_NAME)
    if not (isinstance(score_id, str) and score_id and isinstance(name, str) and name):
        raise _Skip
    value = get(_VALUE)
    if value is not None and (value.__class__ is not float or not _isfinite(value)):
        value = _number(value)
    label = get(_LABEL)
    session_id = get(_SESSION_ID)
    dataset_run_id = get(_DATASET_RUN_ID)
    data_type = get(_DATA_TYPE)
    scope = get(_SCOPE)
    source = get(_SOURCE)
    comment = get(_EXPLANATION)
    config_id = get(_CONFIG_ID)
    metadata_json = get(_METADATA)
    timestamp_text = get(_TIMESTAMP)
    if (
        (label is not None and not isinstance(label, str))
        or (session_id is not None and not isinstance(session_id, str))
        or (dataset_run_id is not None and not isinstance(dataset_run_id, str))
        or (source is not None and not isinstance(source, str))
        or (comment is not None and not isinstance(comment, str))
        or (config_id is not None and not isinstance(config_id, str))
        or (metadata_json is not None and not isinstance(metadata_json, str))
        or (timestamp_text is not None and not isinstance(timestamp_text, str))
    ):
        raise _Skip
    # Ids as we write them (lowercase hex of the right length) pass one regex match; the rest
    # (uppercase, wrong length, not text: a TypeError) go through the full check.
    trace_id = get(_TRACE_ID)
    if trace_id is not None and _is_trace_id(trace_id) is None:
        trace_id = _id_text(trace_id, _TRACE_ID_DIGITS)
    span_id = get(_SPAN_ID)
    if span_id is not None and _is_span_id(span_id) is None:
        span_id = _id_text(span_id, _SPAN_ID_DIGITS)
    if data_type is None:
        data_type = "CATEGORICAL" if label is not None and value is None else "NUMERIC"
    elif data_type not in _DATA_TYPES:  # a tuple of str: anything else, str or not, is not in it
        raise _Skip
    if scope is None:
        scope = _implied_scope(trace_id, span_id, session_id, dataset_run_id)
    elif scope not in _SCORE_SCOPES:
        raise _Skip
    return ScoreRecord(
        score_id,
        name,
        value,
        label,
        data_type,
        scope,
        trace_id,
        span_id,  # observation_id
        session_id,
        dataset_run_id,
        source or DEFAULT_SOURCE,
        comment,
        config_id,
        None if metadata_json is None else _json_value(metadata_json),
        time_from_nanos(time_unix_nano) if timestamp_text is None else _parse_timestamp(timestamp_text),
        service_name,
        span_name,
    )


def _implied_scope(trace_id: Optional[str], span_id: Optional[str], session_id: Optional[str], dataset_run_id: Optional[str]) -> str:
    if span_id is not None and trace_id is not None:
        return "span"
    if trace_id is not None:
        return "trace"
    if session_id is not None:
        return "session"
    if dataset_run_id is not None:
        return "dataset_run"
    raise _Skip


# --- Evaluation events from other tools (the GenAI convention alone) --------------------------------


def _genai_score(
    trace_id: Optional[str],
    span_id: Optional[str],
    service_name: Optional[str],
    span_name: Optional[str],
    time_unix_nano: int,
    attributes: Mapping[str, Any],
) -> ScoreRecord:
    """A score written by another tool with the GenAI convention's attributes alone.

    The convention parents the result to the evaluated span: with a trace and span id it scores
    that span, with a trace id alone the trace, and with no ids the completion its
    ``gen_ai.response.id`` names (a span score placed by that id, kept in ``metadata``). Its id is
    derived from where it was found.
    """
    name = _required_text(attributes, schema.GEN_AI_EVALUATION_NAME)
    value = _optional_number(attributes, schema.GEN_AI_EVALUATION_SCORE_VALUE)
    label = _optional_text(attributes, schema.GEN_AI_EVALUATION_SCORE_LABEL)
    response_id = _optional_text(attributes, schema.GEN_AI_RESPONSE_ID) or None
    if value is None and label is None:
        raise _Skip
    if trace_id is None:
        span_id = None
        if response_id is None:
            raise _Skip  # nothing says what it scores
    # Microseconds, not nanoseconds: Jaeger keeps only microseconds, and the id must not depend
    # on which backend the trace was read from.
    time_micros = time_unix_nano // 1000
    if trace_id is not None:
        score_id = _derived_id(GENAI_EVENT_SOURCE, trace_id, span_id or "", name, str(time_micros))
    else:
        score_id = _derived_id(GENAI_EVENT_SOURCE, schema.GEN_AI_RESPONSE_ID, response_id or "", name, str(time_micros))
    return ScoreRecord(
        id=score_id,
        name=name,
        value=value,
        string_value=label,
        data_type="NUMERIC" if value is not None else "CATEGORICAL",
        scope="trace" if trace_id is not None and span_id is None else "span",
        trace_id=trace_id,
        observation_id=span_id,
        session_id=None,
        dataset_run_id=None,
        source=GENAI_EVENT_SOURCE,
        comment=_optional_text(attributes, schema.GEN_AI_EVALUATION_EXPLANATION),
        config_id=None,
        metadata=None if response_id is None else {schema.GEN_AI_RESPONSE_ID: response_id},
        timestamp=time_from_nanos(time_unix_nano),
        service_name=service_name,
        span_name=span_name,
    )


# --- OpenInference annotations (span attributes) ----------------------------------------------------


def _annotation_scores(view: SpanView, span_name: Optional[str]) -> List[ScoreRecord]:
    """``annotation.<name>.score|label|explanation`` on a span: one span score per name."""
    found: Dict[str, Dict[str, Any]] = {}
    for key, value in view.attributes.items():
        if not key.startswith(_ANNOTATION_PREFIX):
            continue
        name, _, part = key[len(_ANNOTATION_PREFIX) :].rpartition(".")
        if name and part in _ANNOTATION_FIELDS:
            found.setdefault(name, {})[part] = value
    if not found or view.trace_id is None or view.span_id is None:
        return []
    records = []
    for name, parts in found.items():
        value = _finite_float(parts.get("score"))  # a boolean too: Phoenix stores booleans as 1/0
        label = parts.get("label") if isinstance(parts.get("label"), str) and parts.get("label") else None
        if value is None and label is None:
            continue
        explanation = parts.get("explanation")
        records.append(
            ScoreRecord(
                id=_derived_id(OPENINFERENCE_SOURCE, view.trace_id, view.span_id, name),
                name=name,
                value=value,
                string_value=label,
                data_type="NUMERIC" if value is not None else "CATEGORICAL",
                scope="span",
                trace_id=view.trace_id,
                observation_id=view.span_id,
                session_id=None,
                dataset_run_id=None,
                source=OPENINFERENCE_SOURCE,
                comment=explanation if isinstance(explanation, str) else None,
                config_id=None,
                metadata=None,
                timestamp=time_from_nanos(view.start_time_unix_nano),
                service_name=view.service_name,
                span_name=span_name,
            )
        )
    return records


# --- Metadata update events --------------------------------------------------------------------------


def _metadata(service_name: Optional[str], span_name: Optional[str], time_unix_nano: int, attributes: Mapping[str, Any]) -> MetadataRecord:
    get = attributes.get
    memo_id = get(_MEMO_ID)
    index = get(_INDEX)
    values_json = get(_VALUES)
    if not (isinstance(memo_id, str) and memo_id and isinstance(values_json, str) and values_json):
        raise _Skip
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise _Skip
    kind = get(_KIND)
    scope = get(_METADATA_SCOPE)
    timestamp_text = get(_METADATA_TIMESTAMP)
    if (
        (kind is not None and not isinstance(kind, str))
        or (scope is not None and not isinstance(scope, str))
        or (timestamp_text is not None and not isinstance(timestamp_text, str))
    ):
        raise _Skip
    trace_id = get(_METADATA_TRACE_ID)
    if trace_id is not None and _is_trace_id(trace_id) is None:
        trace_id = _id_text(trace_id, _TRACE_ID_DIGITS)
    span_id = get(_METADATA_SPAN_ID)
    if span_id is not None and _is_span_id(span_id) is None:
        span_id = _id_text(span_id, _SPAN_ID_DIGITS)
    values = _json_value(values_json)
    if not isinstance(values, dict):
        raise _Skip
    if not scope:
        scope = "span" if span_id is not None else "run"
    elif scope not in _METADATA_SCOPES:
        raise _Skip
    return MetadataRecord(
        memo_id,
        index,
        kind or DEFAULT_METADATA_KIND,
        scope,
        values,
        trace_id,
        span_id,
        time_from_nanos(time_unix_nano) if timestamp_text is None else _parse_timestamp(timestamp_text),
        service_name,
        span_name,
    )


# --- Typed attribute access ----------------------------------------------------------------------------


def _required_text(attributes: Mapping[str, Any], key: str) -> str:
    value = attributes.get(key)
    if not isinstance(value, str) or not value:
        raise _Skip
    return value


def _optional_text(attributes: Mapping[str, Any], key: str) -> Optional[str]:
    value = attributes.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Skip
    return value


def _optional_number(attributes: Mapping[str, Any], key: str) -> Optional[float]:
    value = attributes.get(key)
    return None if value is None else _number(value)


def _finite_float(value: Any) -> Optional[float]:
    if not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _id_text(value: Any, digits: int) -> str:
    """A hex id of ``digits`` digits as lowercase text; anything else skips the event."""
    if not isinstance(value, str):
        raise _Skip
    text = value.lower()
    if len(text) != digits or not _LOWER_HEX.issuperset(text):
        raise _Skip
    return text


def _number(value: Any) -> float:
    """A finite number as a float (never a bool); anything else skips the event."""
    if value.__class__ is not float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Skip
        value = float(value)  # an int past a float's range raises OverflowError: skipped too
    if not _isfinite(value):
        raise _Skip
    return value


def _json_value(text: str) -> Any:
    """``json.loads(text)``, in a third of the time for the compact JSON our writer produces.

    ``json.loads`` wraps the C scanner in two frames and two whitespace regex matches; a document
    the scanner reads to its very end needs neither. Anything else (surrounding whitespace,
    trailing data, malformed JSON) goes to ``json.loads`` itself, so results and errors are its own.
    """
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value




def _derived_id(*parts: str) -> str:
    """A stable id for a score that came without one, so reading it twice yields one record."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
