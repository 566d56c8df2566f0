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
_HEX = frozenset("0123456789abcdef")
_ANNOTATION_PREFIX = schema.OPENINFERENCE_ANNOTATION_PREFIX
_ANNOTATION_FIELDS = ("score", "label", "explanation")

# Which write of a record is the latest: (event time in ns, position in the input).
_Write = Tuple[int, int]


class _Skip(Exception):
    """This event or annotation breaks the schema: leave it out and carry on."""


def decode(views: Iterable[SpanView]) -> Translation:
    """Records of every score and metadata update in ``views``, latest write per id."""
    scores: Dict[str, Tuple[_Write, ScoreRecord]] = {}
    # A memo id is unique within one run only: the same code re-run in another trace reuses it.
    metadata: Dict[Tuple[Any, str, int], Tuple[_Write, MetadataRecord]] = {}
    position = 0
    for view in views:
        span_name = None if _is_carrier(view) else view.name
        for event_name, time_unix_nano, attributes in view.events:
            position += 1
            try:
                if event_name == schema.EVALUATION_RESULT_EVENT:
                    if schema.SCORE_ID in attributes:
                        score = _score(view, span_name, time_unix_nano, attributes)
                    else:
                        score = _genai_score(view, span_name, time_unix_nano, attributes)
                    _keep_latest(scores, score.id, (time_unix_nano, position), score)
                elif event_name == schema.METADATA_UPDATE_EVENT:
                    update = _metadata(view, span_name, time_unix_nano, attributes)
                    _keep_latest(metadata, (update.trace_id, update.memo_id, update.index), (time_unix_nano, position), update)
            except (_Skip, ValueError, TypeError, OverflowError, RecursionError):
                continue
        if view.attributes:
            try:
                annotations = _annotation_scores(view, span_name)
            except (ValueError, TypeError, OverflowError):
                annotations = []
            for score in annotations:
                position += 1
                _keep_latest(scores, score.id, (view.start_time_unix_nano, position), score)
    return Translation(
        scores=sorted((record for _, record in scores.values()), key=lambda r: (r.timestamp, r.id)),
        metadata=sorted((record for _, record in metadata.values()), key=lambda r: (r.timestamp, r.memo_id, r.index)),
    )


def _keep_latest(found: Dict[Any, Tuple[_Write, Any]], key: Any, write: _Write, record: Any) -> None:
    previous = found.get(key)
    if previous is None or previous[0] <= write:
        found[key] = (write, record)


def _is_carrier(view: SpanView) -> bool:
    return view.attributes.get(schema.CARRIER) is True or view.name == schema.CARRIER_SPAN_NAME


# --- Our score events ------------------------------------------------------------------------------


def _score(view: SpanView, span_name: Optional[str], time_unix_nano: int, attributes: Mapping[str, Any]) -> ScoreRecord:
    score_id = _required_text(attributes, schema.SCORE_ID)
    name = _required_text(attributes, schema.GEN_AI_EVALUATION_NAME)
    value = _optional_number(attributes, schema.GEN_AI_EVALUATION_SCORE_VALUE)
    label = _optional_text(attributes, schema.GEN_AI_EVALUATION_SCORE_LABEL)
    trace_id = _optional_id(attributes, schema.SCORE_TRACE_ID, TRACE_ID_BYTES)
    span_id = _optional_id(attributes, schema.SCORE_SPAN_ID, SPAN_ID_BYTES)
    session_id = _optional_text(attributes, schema.SCORE_SESSION_ID)
    dataset_run_id = _optional_text(attributes, schema.SCORE_DATASET_RUN_ID)
    data_type = _optional_text(attributes, schema.SCORE_DATA_TYPE)
    if data_type is None:
        data_type = "CATEGORICAL" if label is not None and value is None else "NUMERIC"
    elif data_type not in schema.DATA_TYPES:
        raise _Skip
    scope = _optional_text(attributes, schema.SCORE_SCOPE)
    if scope is None:
        scope = _implied_scope(trace_id, span_id, session_id, dataset_run_id)
    elif scope not in schema.SCORE_SCOPES:
        raise _Skip
    metadata_json = _optional_text(attributes, schema.SCORE_METADATA)
    timestamp_text = _optional_text(attributes, schema.SCORE_TIMESTAMP)
    return ScoreRecord(
        id=score_id,
        name=name,
        value=value,
        string_value=label,
        data_type=data_type,
        scope=scope,
        trace_id=trace_id,
        observation_id=span_id,
        session_id=session_id,
        dataset_run_id=dataset_run_id,
        source=_optional_text(attributes, schema.SCORE_SOURCE) or DEFAULT_SOURCE,
        comment=_optional_text(attributes, schema.GEN_AI_EVALUATION_EXPLANATION),
        config_id=_optional_text(attributes, schema.SCORE_CONFIG_ID),
        metadata=None if metadata_json is None else json.loads(metadata_json),
        timestamp=_time_from_nanos(time_unix_nano) if timestamp_text is None else _parse_time(timestamp_text),
        service_name=view.service_name,
        span_name=span_name,
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
    memo_id = _required_text(attributes, schema.METADATA_UPDATE_MEMO_ID)
    index = attributes.get(schema.METADATA_UPDATE_INDEX)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise _Skip
    values = json.loads(_required_text(attributes, schema.METADATA_UPDATE_VALUES))
    if not isinstance(values, dict):
        raise _Skip
    trace_id = _optional_id(attributes, schema.METADATA_UPDATE_TRACE_ID, TRACE_ID_BYTES)
    span_id = _optional_id(attributes, schema.METADATA_UPDATE_SPAN_ID, SPAN_ID_BYTES)
    scope = _optional_text(attributes, schema.METADATA_UPDATE_SCOPE) or ("span" if span_id is not None else "run")
    if scope not in schema.METADATA_SCOPES:
        raise _Skip
    timestamp_text = _optional_text(attributes, schema.METADATA_UPDATE_TIMESTAMP)
    return MetadataRecord(
        memo_id=memo_id,
        index=index,
        kind=_optional_text(attributes, schema.METADATA_UPDATE_KIND) or DEFAULT_METADATA_KIND,
        scope=scope,
        values=values,
        trace_id=trace_id,
        span_id=span_id,
        timestamp=_time_from_nanos(time_unix_nano) if timestamp_text is None else _parse_time(timestamp_text),
        service_name=view.service_name,
        span_name=span_name,
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
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Skip
    number = float(value)
    if not math.isfinite(number):
        raise _Skip
    return number


def _finite_float(value: Any) -> Optional[float]:
    if not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _optional_id(attributes: Mapping[str, Any], key: str, size: int) -> Optional[str]:
    value = attributes.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Skip
    text = value.lower()
    if len(text) != 2 * size or not _HEX.issuperset(text):
        raise _Skip
    return text


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
