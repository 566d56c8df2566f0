"""Input OTLP cannot carry, or objects that break when looked at: one validation warning naming the
score and the problem, nothing recorded, never an internal error."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from support.exported import all_metadata_events, all_score_events, carriers, scoring_warnings

import otel_scoring
from otel_scoring import metadata

SURROGATE_FIX = "holds a lone surrogate character, which UTF-8 cannot encode; decode the text with errors='replace' first"


class BrokenRepr:
    """A value whose __repr__ and __float__ raise, as a half-built ORM object might."""

    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


class BrokenMapping(Mapping):
    """A mapping whose __len__ and __iter__ raise."""

    def __len__(self) -> int:
        raise RuntimeError("len is broken")

    def __iter__(self):
        raise RuntimeError("iter is broken")

    def __getitem__(self, key):
        raise KeyError(key)


@pytest.mark.parametrize(
    "kwargs, warning",
    [
        pytest.param({"name": "x\ud800", "value": 1}, f"score 'x\\ud800' not recorded: name {SURROGATE_FIX}", id="surrogate in the name"),
        pytest.param({"name": "tone", "value": "calm\udfff"}, f"score 'tone' not recorded: categorical value {SURROGATE_FIX}", id="surrogate in the label"),
        pytest.param({"name": "accuracy", "value": 1, "comment": "bad \ud800 text"}, f"score 'accuracy' not recorded: comment {SURROGATE_FIX}", id="surrogate in the comment"),
        pytest.param({"name": "accuracy", "value": 1, "score_id": "id-\udc80"}, f"score 'accuracy' not recorded: score_id {SURROGATE_FIX}", id="surrogate in the score id"),
        pytest.param({"name": "accuracy", "value": BrokenRepr()}, "score 'accuracy' not recorded: value <BrokenRepr whose repr() raised RuntimeError> does not match data_type NUMERIC (a number is required)", id="value whose repr raises"),
    ],
)
def test_a_score_otlp_cannot_carry_warns_once_and_records_nothing(tracer, exporter, caplog, kwargs, warning):
    """Lone surrogates in a score's text and values whose repr raises give exactly one warning, not an internal error."""
    with tracer.start_as_current_span("work"):
        assert otel_scoring.score_current_span(**kwargs) is None
    (logged,) = scoring_warnings(caplog.records)
    assert logged == warning
    assert all_score_events(exporter) == [] and carriers(exporter) == []


def test_score_metadata_with_a_lone_surrogate_warns_once(tracer, exporter, caplog):
    """Score metadata holding a lone surrogate is one warning; no score is written."""
    with tracer.start_as_current_span("work"):
        otel_scoring.create_score(name="accuracy", value=1, trace_id="abcdef1234567890abcdef1234567890", metadata={"note": "a\ud800b"})
    (logged,) = scoring_warnings(caplog.records)
    assert logged == f"score 'accuracy' not recorded: metadata {SURROGATE_FIX}"
    assert all_score_events(exporter) == [] and carriers(exporter) == []


@pytest.mark.parametrize(
    "values, warning",
    [
        pytest.param({"region": "eu\udc00"}, f"metadata update 'm' not recorded: values {SURROGATE_FIX}", id="surrogate in a value"),
        pytest.param(BrokenMapping(), "metadata update 'm' not recorded: values could not be read (RuntimeError from the mapping itself)", id="mapping whose len raises"),
    ],
)
def test_metadata_otlp_cannot_carry_warns_once_and_records_nothing(tracer, exporter, caplog, values, warning):
    """A metadata update with a lone surrogate, or a mapping that raises when read, gives one warning."""
    with tracer.start_as_current_span("work"):
        result = metadata("m").update(values)  # returns, never raises: the awaitable marker update() always returns
    assert repr(result) == "<metadata update recorded>"
    (logged,) = scoring_warnings(caplog.records)
    assert logged == warning
    assert all_metadata_events(exporter) == []
