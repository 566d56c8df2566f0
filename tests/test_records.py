"""Records as the CLI prints them: ``to_dict`` gives exactly what ``dataclasses.asdict`` (its former
implementation) gave, for any record, and a copy that changing leaves the record alone."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from typing import Any, Dict

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_scoring.records import MetadataRecord, ScoreRecord

_text = st.text(max_size=12)
_optional_text = st.none() | _text
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)
_timestamps = st.datetimes(timezones=st.just(timezone.utc))

scores = st.builds(
    ScoreRecord,
    id=_text,
    name=_text,
    value=st.none() | st.floats(allow_nan=False),
    string_value=_optional_text,
    data_type=st.sampled_from(["NUMERIC", "CATEGORICAL", "BOOLEAN"]),
    scope=st.sampled_from(["span", "trace", "session", "dataset_run"]),
    trace_id=_optional_text,
    observation_id=_optional_text,
    session_id=_optional_text,
    dataset_run_id=_optional_text,
    source=_text,
    comment=_optional_text,
    config_id=_optional_text,
    metadata=_json,
    timestamp=_timestamps,
    service_name=_optional_text,
    span_name=_optional_text,
)
metadata_updates = st.builds(
    MetadataRecord,
    memo_id=_text,
    index=st.integers(min_value=0),
    kind=_text,
    scope=st.sampled_from(["run", "span"]),
    values=st.dictionaries(_text, _json, max_size=4),
    trace_id=_optional_text,
    span_id=_optional_text,
    timestamp=_timestamps,
    service_name=_optional_text,
    span_name=_optional_text,
)


def _former_score_dict(record: ScoreRecord) -> Dict[str, Any]:
    data = dataclasses.asdict(record)
    data["timestamp"] = record.timestamp.isoformat()
    return data


def _former_metadata_dict(record: MetadataRecord) -> Dict[str, Any]:
    data = dataclasses.asdict(record)
    data["values"] = dict(record.values)
    data["timestamp"] = record.timestamp.isoformat()
    return data


@settings(max_examples=300, deadline=None)
@given(scores)
def test_a_score_dict_is_what_asdict_gave(record):
    """For any score, to_dict has the same keys in the same order, equal values, and the same JSON."""
    new, former = record.to_dict(), _former_score_dict(record)
    assert list(new) == list(former) and new == former
    assert json.dumps(new) == json.dumps(former)


@settings(max_examples=300, deadline=None)
@given(metadata_updates)
def test_a_metadata_dict_is_what_asdict_gave(record):
    """For any metadata update, to_dict has the same keys in the same order, equal values, and the same JSON."""
    new, former = record.to_dict(), _former_metadata_dict(record)
    assert list(new) == list(former) and new == former
    assert json.dumps(new) == json.dumps(former)


def test_changing_a_score_dict_leaves_the_record_as_it_was():
    """Changing the metadata of a to_dict() result does not reach into the (frozen) record."""
    record = ScoreRecord("s", "n", 1.0, None, "NUMERIC", "trace", "a" * 32, None, None, None, "API", None, None, {"grader": {"model": ["gpt"]}}, datetime(2026, 11, 22, tzinfo=timezone.utc))
    data = record.to_dict()
    data["metadata"]["grader"]["model"].append("claude")
    data["metadata"]["extra"] = 1
    assert record.metadata == {"grader": {"model": ["gpt"]}}
