"""Score and metadata timestamps: one format written, one parser reading it back (and any ISO 8601 time) everywhere."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_scoring import schema
from otel_scoring.cli import parse_since


def test_the_written_format_is_utc_with_microseconds_and_a_z():
    """A moment in any zone is written in UTC, to the microsecond, ending in Z (what docs/schema.md shows)."""
    moment = datetime(2026, 11, 22, 11, 30, 5, 42, tzinfo=timezone(timedelta(hours=1)))
    assert schema.format_timestamp(moment) == "2026-11-22T10:30:05.000042Z"


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(timezone.utc)))
def test_what_is_written_reads_back_exactly(moment):
    """Every written timestamp parses back to the same instant, as an aware UTC datetime."""
    parsed = schema.parse_timestamp(schema.format_timestamp(moment))
    assert parsed == moment and parsed.tzinfo is timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:30:05.5Z", datetime(2026, 11, 22, 10, 30, 5, 500000, tzinfo=timezone.utc)),
        ("2026-11-22T10:30:05z", datetime(2026, 11, 22, 10, 30, 5, tzinfo=timezone.utc)),
        ("2026-11-22T11:30:05+01:00", datetime(2026, 11, 22, 10, 30, 5, tzinfo=timezone.utc)),
        ("2026-11-22T10:30:05", datetime(2026, 11, 22, 10, 30, 5, tzinfo=timezone.utc)),  # naive: UTC
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=timezone.utc)),
    ],
)
def test_other_tools_iso_times_read_as_utc(text, expected):
    """Timestamps other producers write (fewer digits, an offset, no zone) read as the UTC instant they mean."""
    assert schema.parse_timestamp(text) == expected


def test_text_that_is_no_time_is_refused():
    """Anything else raises ValueError, for the caller to report."""
    with pytest.raises(ValueError):
        schema.parse_timestamp("yesterday")


def test_the_cli_reads_times_by_the_same_rule():
    """``--since`` takes the same ISO times (spaces around ignored) and still takes durations."""
    assert parse_since(" 2026-11-22T11:30:05+01:00 ") == datetime(2026, 11, 22, 10, 30, 5, tzinfo=timezone.utc)
    now = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    with pytest.raises(argparse.ArgumentTypeError, match="neither an ISO time"):
        parse_since("yesterday")
