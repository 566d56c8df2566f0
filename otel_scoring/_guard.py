"""Keep otel-scoring's own failures out of the user's code.

The SDK calls span processors in a bare loop, so an exception in ``on_start``/``on_end`` would
surface in the user's ``with`` block. Every hook, exporter call and public entry point runs inside
:func:`handle_internal_errors`: an unexpected exception is logged once with its traceback and
swallowed. Our own test suite sets ``OTEL_SCORING_RAISE_INTERNAL_ERRORS`` so bugs stay loud there.
"""

from __future__ import annotations

import functools
import logging
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from otel_scoring._log_dedupe import install as install_repeat_filter
from otel_scoring.environment_variables import OTEL_SCORING_RAISE_INTERNAL_ERRORS
from otel_scoring.errors import ScoreValidationError

_logger = logging.getLogger("otel_scoring")
install_repeat_filter(_logger)  # every module that logs imports this one

F = TypeVar("F", bound=Callable[..., Any])


def _raise_internal_errors() -> bool:
    return os.environ.get(OTEL_SCORING_RAISE_INTERNAL_ERRORS, "").strip().lower() in {"1", "true", "yes"}


@contextmanager
def handle_internal_errors(where: str) -> Iterator[None]:
    """Log and swallow any exception raised inside, except strict-mode validation errors."""
    try:
        yield
    except ScoreValidationError:
        raise  # only reaches here in strict mode: the user asked for it
    except Exception:
        if _raise_internal_errors():
            raise
        _logger.exception("Internal error in otel-scoring (%s); the call was ignored.", where)


def report_internal_error(where: str) -> None:
    """Call from an ``except Exception`` block: log once with the traceback, or re-raise in tests.

    For hooks that run for every span, where even a decorator's extra call is measurable: they
    inline ``try``/``except Exception: report_internal_error(...)`` instead of :func:`guarded`.
    """
    if _raise_internal_errors():
        raise  # the exception being handled by the caller
    _logger.exception("Internal error in otel-scoring (%s); the call was ignored.", where)


def guarded(where: str, default: Any = None) -> Callable[[F], F]:
    """Decorator form of :func:`handle_internal_errors`; returns ``default`` after an error.

    Written as a plain try/except rather than with the context manager: it wraps span processor
    hooks that run for every span, where a generator-based context manager would cost more than
    the hook itself.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except ScoreValidationError:
                raise
            except Exception:
                if _raise_internal_errors():
                    raise
                _logger.exception("Internal error in otel-scoring (%s); the call was ignored.", where)
                return default

        return wrapper  # type: ignore[return-value]

    return decorate
