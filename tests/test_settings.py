"""Settings resolve as documented: keyword argument, then environment variable, then default; one boolean rule."""

from __future__ import annotations

import logging

import pytest

from otel_scoring._settings import is_otel_true, parse_bool, resolve_bool, resolve_int, resolve_str

VARIABLE = "OTEL_SCORING_TEST_SETTING"


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "on", " True "])
def test_true_spellings(raw):
    """Every documented spelling of true parses as True, any case, surrounding spaces ignored."""
    assert parse_bool(raw) is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "off", "", "  "])
def test_false_spellings(raw):
    """Every documented spelling of false (and an empty value) parses as False."""
    assert parse_bool(raw) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "truee", "enabled"])
def test_anything_else_is_not_a_boolean(raw):
    """A value that is neither is reported as such (None), so the caller can warn and use its default."""
    assert parse_bool(raw) is None


def test_a_keyword_wins_over_the_environment(monkeypatch):
    """An explicit keyword decides, whatever the variable says."""
    monkeypatch.setenv(VARIABLE, "true")
    assert resolve_bool(False, VARIABLE, True) is False
    monkeypatch.setenv(VARIABLE, "5")
    assert resolve_int(7, VARIABLE, 3) == 7
    monkeypatch.setenv(VARIABLE, "from-env")
    assert resolve_str("from-keyword", VARIABLE) == "from-keyword"


def test_the_environment_wins_over_the_default(monkeypatch):
    """Without a keyword the variable decides; unset, the default does."""
    monkeypatch.delenv(VARIABLE, raising=False)
    assert resolve_bool(None, VARIABLE, True) is True
    assert resolve_int(None, VARIABLE, 3) == 3
    assert resolve_str(None, VARIABLE, "default") == "default"
    monkeypatch.setenv(VARIABLE, "off")
    assert resolve_bool(None, VARIABLE, True) is False
    monkeypatch.setenv(VARIABLE, "12")
    assert resolve_int(None, VARIABLE, 3) == 12
    monkeypatch.setenv(VARIABLE, "")
    assert resolve_str(None, VARIABLE, "default") == "default"  # empty means unset


@pytest.mark.parametrize(("raw", "kind"), [("maybe", "a boolean"), ("many", "an integer >= 1"), ("0", "an integer >= 1")])
def test_an_unparsable_variable_warns_once_and_keeps_the_default(monkeypatch, caplog, raw, kind):
    """A bad value names the variable and its value in one warning, and the default applies."""
    monkeypatch.setenv(VARIABLE, raw)
    with caplog.at_level(logging.WARNING):
        resolved = resolve_bool(None, VARIABLE, True) if kind == "a boolean" else resolve_int(None, VARIABLE, 3)
    assert resolved == (True if kind == "a boolean" else 3)
    [record] = [r for r in caplog.records if VARIABLE in r.getMessage()]
    assert f"{VARIABLE}={raw!r}" in record.getMessage() and kind in record.getMessage()


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "3"])
def test_a_bad_integer_keyword_raises_at_construction(bad):
    """A wrong keyword value is the caller's mistake, raised where it was made, not silently replaced."""
    with pytest.raises(ValueError, match="expected an integer >= 1"):
        resolve_int(bad, VARIABLE, 3)


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("TRUE", True), (" true ", True), ("1", False), ("yes", False), ("false", False)])
def test_opentelemetrys_own_variables_follow_the_sdk_rule(raw, expected):
    """OTEL_EXPORTER_OTLP_INSECURE and its kin mean what the SDK's exporters read: only "true" is true."""
    assert is_otel_true(raw) is expected
