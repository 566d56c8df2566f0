"""Pieces of a score that several destinations write the same way."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from otel_scoring.records import ScoreRecord
from otel_scoring.schema import SCORE_CONFIG_ID


def score_metadata(record: ScoreRecord, *, with_config_id: bool = True) -> Dict[str, Any]:
    """The score's metadata as a JSON object, plus its config id where the destination has no field.

    Metadata that is not an object (a list, a string) is kept under ``"metadata"``.
    """
    metadata = record.metadata
    if metadata is None:
        result: Dict[str, Any] = {}
    elif isinstance(metadata, dict):
        result = dict(metadata)
    else:
        result = {"metadata": metadata}
    if with_config_id and record.config_id is not None:
        result[SCORE_CONFIG_ID] = record.config_id
    return result


def as_text(value: Any) -> str:
    """A metadata or tag value as a string: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def boolean_value(record: ScoreRecord) -> Optional[bool]:
    """A BOOLEAN score's value as a bool, from its numeric value or its ``true``/``false`` label."""
    if record.value is not None:
        return record.value != 0
    if record.string_value is not None:
        return record.string_value.strip().lower() == "true"
    return None
