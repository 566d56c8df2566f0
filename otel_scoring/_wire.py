"""Encode validated scores and metadata updates into span event and span attributes.

The inverse lives in :mod:`otel_scoring.translate`. Attribute dicts are built by small functions
that leave out what is None, so the wire carries only what the caller said.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

from otel_scoring import schema
from otel_scoring._model import DataType, MetadataUpdate, Score, Scope

Attributes = Dict[str, Any]

# Enum members' text by member: a dict lookup, where ``member.value`` is a Python-level property.
_TEXT: Dict[Any, str] = {member: member.value for member in (*Scope, *DataType)}

# (scope, score name) -> the summary's value and label attribute names, built once per name.
# Bounded: past the limit it starts afresh (an app has a handful of score names, not thousands).
_SUMMARY_KEYS_LIMIT = 1024
_summary_keys: Dict[Tuple[Scope, str], Tuple[str, str]] = {}


def _without_none(attributes: Dict[str, Optional[Any]]) -> Attributes:
    return {key: value for key, value in attributes.items() if value is not None}


def score_event_attributes(score: Score) -> Attributes:
    # Built key by key rather than filtered through _without_none: this runs for every score.
    attributes: Attributes = {schema.GEN_AI_EVALUATION_NAME: score.name}
    if score.value is not None:
        attributes[schema.GEN_AI_EVALUATION_SCORE_VALUE] = score.value
    if score.label is not None:
        attributes[schema.GEN_AI_EVALUATION_SCORE_LABEL] = score.label
    if score.comment is not None:
        attributes[schema.GEN_AI_EVALUATION_EXPLANATION] = score.comment
    attributes[schema.SCORE_ID] = score.id
    attributes[schema.SCORE_DATA_TYPE] = _TEXT[score.data_type]
    attributes[schema.SCORE_SCOPE] = _TEXT[score.scope]
    if score.config_id is not None:
        attributes[schema.SCORE_CONFIG_ID] = score.config_id
    attributes[schema.SCORE_SOURCE] = score.source
    if score.session_id is not None:
        attributes[schema.SCORE_SESSION_ID] = score.session_id
    if score.dataset_run_id is not None:
        attributes[schema.SCORE_DATASET_RUN_ID] = score.dataset_run_id
    if score.metadata_json is not None:
        attributes[schema.SCORE_METADATA] = score.metadata_json
    attributes[schema.SCORE_TIMESTAMP] = schema.format_timestamp(score.timestamp)
    if score.environment is not None:
        attributes[schema.SCORE_ENVIRONMENT] = score.environment
    if score.trace_id is not None:
        attributes[schema.SCORE_TRACE_ID] = schema.format_trace_id(score.trace_id)
    if score.span_id is not None:
        attributes[schema.SCORE_SPAN_ID] = schema.format_span_id(score.span_id)
    return attributes


def score_span_attributes(score: Score) -> Attributes:
    """The searchable summary: latest value and label of this score name at this scope."""
    keys = _summary_keys.get((score.scope, score.name))
    if keys is None:
        keys = _summary_keys_for(score.scope, score.name)
    attributes: Attributes = {schema.HAS_SCORES: True}
    if score.value is not None:
        attributes[keys[0]] = score.value
    if score.label is not None:
        attributes[keys[1]] = score.label
    return attributes


def _summary_keys_for(scope: Scope, name: str) -> Tuple[str, str]:
    if len(_summary_keys) >= _SUMMARY_KEYS_LIMIT:
        _summary_keys.clear()
    keys = _summary_keys[(scope, name)] = (schema.score_value_attribute(_TEXT[scope], name), schema.score_label_attribute(_TEXT[scope], name))
    return keys


def metadata_event_attributes(update: MetadataUpdate) -> Attributes:
    return _without_none(
        {
            schema.METADATA_UPDATE_KIND: update.kind,
            schema.METADATA_UPDATE_MEMO_ID: update.memo_id,
            schema.METADATA_UPDATE_INDEX: update.index,
            schema.METADATA_UPDATE_SCOPE: update.scope.value,
            schema.METADATA_UPDATE_VALUES: update.values_json,
            schema.METADATA_UPDATE_TIMESTAMP: schema.format_timestamp(update.timestamp),
            schema.METADATA_UPDATE_TRACE_ID: None if update.trace_id is None else schema.format_trace_id(update.trace_id),
            schema.METADATA_UPDATE_SPAN_ID: None if update.span_id is None else schema.format_span_id(update.span_id),
        }
    )


def metadata_span_attributes(update: MetadataUpdate) -> Attributes:
    """One searchable attribute per key; values OpenTelemetry cannot hold as-is go as JSON."""
    attributes: Attributes = {schema.HAS_METADATA: True}
    for key, value in update.values.items():
        attributes[schema.metadata_attribute(update.kind, key)] = _attribute_value(value)
    return attributes


def _attribute_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)) and not (isinstance(value, int) and not -(2**63) <= value < 2**63):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
