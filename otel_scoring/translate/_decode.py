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
import sys
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from otel_scoring import schema
from otel_scoring._wire import parse_timestamp
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.translate._span_view import SPAN_ID_BYTES, TRACE_ID_BYTES, SpanView
from otel_scoring.translate._translation import Translation

# Sources of scores that did not come through this package.
GENAI_EVENT_SOURCE = "GENAI_EVENT"
OPENINFERENCE_SOURCE = "OPENINFERENCE"
DEFAULT_SOURCE = "API"
DEFAULT_METADATA_KIND = "default"

# Event names the decoder reads; readers on a hot path keep only these.
DECODED_EVENT_NAMES = frozenset((schema.EVALUATION_RESULT_EVENT, schema.METADATA_UPDATE_EVENT))

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ISO_PARSER_READS_Z = sys.version_info >= (3, 11)  # and gives timezone.utc for it
_LOWER_HEX = frozenset("0123456789abcdef")
_isfinite = math.isfinite
_TRACE_ID_DIGITS = 2 * TRACE_ID_BYTES
_SPAN_ID_DIGITS = 2 * SPAN_ID_BYTES
_ANNOTATION_PREFIX = schema.OPENINFERENCE_ANNOTATION_PREFIX
_ANNOTATION_FIELDS = ("score", "label", "explanation")

# Wire names as module globals: the hot path reads each once per score.
_SCORE_EVENT = schema.EVALUATION_RESULT_EVENT
_METADATA_EVENT = schema.METADATA_UPDATE_EVENT
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

_SCORE_ORDER = attrgetter("timestamp", "id")
_METADATA_ORDER = attrgetter("timestamp", "memo_id", "index")


class _Skip(Exception):
    """This event or annotation breaks the schema: leave it out and carry on."""


def decode(views: Iterable[SpanView]) -> Translation:
    """Records of every score and metadata update in ``views``, latest write per id."""
    # key -> (time of the write in ns, record). Writes are read in input order, so a later write
    # with the same time wins: comparing times with <= is the (time, position) order.
    scores: Dict[str, Tuple[int, ScoreRecord]] = {}
    # A memo id is unique within one run only: the same code re-run in another trace reuses it.
    metadata: Dict[Tuple[Any, str, int], Tuple[int, MetadataRecord]] = {}
    for view in views:
        span_name = None if _is_carrier(view) else view.name
        for event_name, time_unix_nano, attributes in view.events:
            try:
                if event_name == _SCORE_EVENT:
                    if _SCORE_ID in attributes:
                        score = _score(view, span_name, time_unix_nano, attributes)
                    else:
                        score = _genai_score(view, span_name, time_unix_nano, attributes)
                    previous = scores.get(score.id)
                    if previous is None or previous[0] <= time_unix_nano:
                        scores[score.id] = (time_unix_nano, score)
                elif event_name == _METADATA_EVENT:
                    update = _metadata(view, span_name, time_unix_nano, attributes)
                    key = (update.trace_id, update.memo_id, update.index)
                    previous_update = metadata.get(key)
                    if previous_update is None or previous_update[0] <= time_unix_nano:
                        metadata[key] = (time_unix_nano, update)
            except (_Skip, ValueError, TypeError, OverflowError, RecursionError):
                continue
        if view.attributes:
            try:
                annotations = _annotation_scores(view, span_name)
            except (ValueError, TypeError, OverflowError):
                annotations = []
            for score in annotations:
                previous = scores.get(score.id)
                if previous is None or previous[0] <= view.start_time_unix_nano:
                    scores[score.id] = (view.start_time_unix_nano, score)
    return Translation(
        scores=sorted([record for _, record in scores.values()], key=_SCORE_ORDER),
        metadata=sorted([record for _, record in metadata.values()], key=_METADATA_ORDER),
    )


def _is_carrier(view: SpanView) -> bool:
    return view.name == _CARRIER_SPAN_NAME or (view.attributes.get(_CARRIER) is True if view.attributes else False)


# --- Our score events ------------------------------------------------------------------------------
#
# The hottest code of the receiver: one call per score of every export. Attributes are read with
# one bound ``get`` each and checked inline (str or None for text), not through a helper per field.


def _score(view: SpanView, span_name: Optional[str], time_unix_nano: int, attributes: Mapping[str, Any]) -> ScoreRecord:
    get = attributes.get
    score_id = get(_SCORE_ID)
    name = get(_NAME)
    if not (isinstance(score_id, str) and score_id and isinstance(name, str) and name):
        raise _Skip
    value = get(_VALUE)
    if value is not None:
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
    trace_id = get(_TRACE_ID)
    if trace_id is not None:
        trace_id = _id_text(trace_id, _TRACE_ID_DIGITS)
    span_id = get(_SPAN_ID)
    if span_id is not None:
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
        None if metadata_json is None else json.loads(metadata_json),
        _time_from_nanos(time_unix_nano) if timestamp_text is None else _parse_time(timestamp_text),
        view.service_name,
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


def _genai_score(view: SpanView, span_name: Optional[str], time_unix_nano: int, attributes: Mapping[str, Any]) -> ScoreRecord:
    """A span score of the span carrying the event; its id is derived from where it was found."""
    name = _required_text(attributes, schema.GEN_AI_EVALUATION_NAME)
    value = _optional_number(attributes, schema.GEN_AI_EVALUATION_SCORE_VALUE)
    label = _optional_text(attributes, schema.GEN_AI_EVALUATION_SCORE_LABEL)
    if (value is None and label is None) or view.trace_id is None or view.span_id is None:
        raise _Skip
    # Microseconds, not nanoseconds: Jaeger keeps only microseconds, and the id must not depend
    # on which backend the trace was read from.
    time_micros = time_unix_nano // 1000
    response_id = _optional_text(attributes, schema.GEN_AI_RESPONSE_ID)
    return ScoreRecord(
        id=_derived_id(GENAI_EVENT_SOURCE, view.trace_id, view.span_id, name, str(time_micros)),
        name=name,
        value=value,
        string_value=label,
        data_type="NUMERIC" if value is not None else "CATEGORICAL",
        scope="span",
        trace_id=view.trace_id,
        observation_id=view.span_id,
        session_id=None,
        dataset_run_id=None,
        source=GENAI_EVENT_SOURCE,
        comment=_optional_text(attributes, schema.GEN_AI_EVALUATION_EXPLANATION),
        config_id=None,
        metadata=None if response_id is None else {schema.GEN_AI_RESPONSE_ID: response_id},
        timestamp=_time_from_nanos(time_unix_nano),
        service_name=view.service_name,
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
                timestamp=_time_from_nanos(view.start_time_unix_nano),
                service_name=view.service_name,
                span_name=span_name,
            )
        )
    return records


# --- Metadata update events --------------------------------------------------------------------------


def _metadata(view: SpanView, span_name: Optional[str], time_unix_nano: int, attributes: Mapping[str, Any]) -> MetadataRecord:
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
    if trace_id is not None:
        trace_id = _id_text(trace_id, _TRACE_ID_DIGITS)
    span_id = get(_METADATA_SPAN_ID)
    if span_id is not None:
        span_id = _id_text(span_id, _SPAN_ID_DIGITS)
    values = json.loads(values_json)
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
        _time_from_nanos(time_unix_nano) if timestamp_text is None else _parse_time(timestamp_text),
        view.service_name,
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
    if len(value) == digits and _LOWER_HEX.issuperset(value):
        return value  # as we write ids: nothing to convert
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


def _parse_time(text: str) -> datetime:
    if len(text) == 27 and text[10] == "T" and text[26] == "Z" and text[19] == ".":
        # Our own format (``_wire.format_timestamp``): the C ISO parser is ten times strptime's speed.
        if _ISO_PARSER_READS_Z:
            return datetime.fromisoformat(text)
        return datetime.fromisoformat(text[:26]).replace(tzinfo=timezone.utc)
    try:
        return parse_timestamp(text)
    except ValueError:
        pass
    # Not our exact format: any ISO 8601 time, a naive one taken as UTC.
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _time_from_nanos(time_unix_nano: int) -> datetime:
    # Integer arithmetic: a float of nanoseconds since 1970 has no room for the microseconds.
    return _EPOCH + timedelta(microseconds=time_unix_nano // 1000)


def _derived_id(*parts: str) -> str:
    """A stable id for a score that came without one, so reading it twice yields one record."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
