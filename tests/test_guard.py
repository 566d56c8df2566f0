"""otel-scoring's own failures never reach the caller: one guard, as a context manager and as a decorator."""

from __future__ import annotations

import logging

import pytest

from otel_scoring._guard import handle_internal_errors, report_internal_error
from otel_scoring.environment_variables import OTEL_SCORING_RAISE_INTERNAL_ERRORS
from otel_scoring.errors import ScoreValidationError


@pytest.fixture
def production(monkeypatch):
    """As in a user's process: internal errors are swallowed (the suite normally re-raises them)."""
    monkeypatch.delenv(OTEL_SCORING_RAISE_INTERNAL_ERRORS, raising=False)


def _internal_errors(caplog):
    return [record for record in caplog.records if record.name == "otel_scoring" and "Internal error in otel-scoring" in record.getMessage()]


def test_a_guarded_block_swallows_the_error_and_logs_it_once_with_its_traceback(production, caplog):
    """The code after the ``with`` block runs; one error names the block and carries the traceback."""
    ran_after = False
    with caplog.at_level(logging.ERROR, logger="otel_scoring"):
        with handle_internal_errors("the block"):
            raise RuntimeError("boom")
        ran_after = True
    assert ran_after
    [record] = _internal_errors(caplog)
    assert "(the block)" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_guarded_function_returns_its_default_after_an_error(production, caplog):
    """A decorated function that fails returns ``default`` to its caller and logs the error once."""

    @handle_internal_errors("flush", default=False)
    def flush() -> bool:
        raise OSError("disk gone")

    with caplog.at_level(logging.ERROR, logger="otel_scoring"):
        assert flush() is False
    [record] = _internal_errors(caplog)
    assert "(flush)" in record.getMessage() and isinstance(record.exc_info[1], OSError)
    assert flush.__name__ == "flush"  # functools.wraps: tracebacks and introspection name the real function


def test_a_guarded_function_returns_its_value_when_nothing_fails(production, caplog):
    """Without an error the guard is invisible: the value comes back and nothing is logged."""

    @handle_internal_errors("add")
    def add(a: int, b: int = 0) -> int:
        return a + b

    with handle_internal_errors("quiet block"):
        assert add(2, b=3) == 5
    assert _internal_errors(caplog) == []


def test_strict_mode_errors_and_interrupts_pass_through_the_guard(production):
    """A strict-mode ScoreValidationError and a KeyboardInterrupt reach the caller, in both forms."""
    with pytest.raises(ScoreValidationError):
        with handle_internal_errors("strict block"):
            raise ScoreValidationError("score 'x'", "bad")

    @handle_internal_errors("strict call")
    def strict_call() -> None:
        raise ScoreValidationError("score 'x'", "bad")

    with pytest.raises(ScoreValidationError):
        strict_call()
    with pytest.raises(KeyboardInterrupt):
        with handle_internal_errors("interrupted"):
            raise KeyboardInterrupt


@pytest.mark.parametrize("value", ["true", "1", "YES", " on "])
def test_the_suite_setting_re_raises_internal_errors(monkeypatch, value):
    """OTEL_SCORING_RAISE_INTERNAL_ERRORS (any true spelling) makes every form of the guard re-raise."""
    monkeypatch.setenv(OTEL_SCORING_RAISE_INTERNAL_ERRORS, value)
    with pytest.raises(RuntimeError):
        with handle_internal_errors("block"):
            raise RuntimeError("loud")

    @handle_internal_errors("call")
    def call() -> None:
        raise RuntimeError("loud")

    with pytest.raises(RuntimeError):
        call()
    with pytest.raises(RuntimeError):
        try:
            raise RuntimeError("loud")
        except RuntimeError:
            report_internal_error("inline")


def test_the_inline_form_logs_like_the_guard(production, caplog):
    """``report_internal_error`` in an ``except`` block logs the same message, traceback included."""
    with caplog.at_level(logging.ERROR, logger="otel_scoring"):
        try:
            raise ValueError("inline")
        except ValueError:
            report_internal_error("on_end")
    [record] = _internal_errors(caplog)
    assert "(on_end)" in record.getMessage() and isinstance(record.exc_info[1], ValueError)
