"""Keep otel-scoring's own failures out of the user's code.

The SDK calls span processors in a bare loop, so an exception in ``on_start``/``on_end`` would
surface in the user's ``with`` block. Every hook, exporter call and public entry point runs inside
:class:`handle_internal_errors`, as a context manager or a decorator (the shape of Logfire's
``HandleInternalErrors``): an unexpected exception is logged once with its traceback and
swallowed. Our own test suite sets ``OTEL_SCORING_RAISE_INTERNAL_ERRORS`` so bugs stay loud there.
"""

from __future__ import annotations

import functools
import logging
from types import TracebackType
from typing import Any, Callable, Optional, Type, TypeVar

from otel_scoring._log_dedupe import install as install_repeat_filter
from otel_scoring._settings import resolve_bool
from otel_scoring.environment_variables import OTEL_SCORING_RAISE_INTERNAL_ERRORS
from otel_scoring.errors import ScoreValidationError

_logger = logging.getLogger("otel_scoring")
install_repeat_filter(_logger)  # every module that logs imports this one

F = TypeVar("F", bound=Callable[..., Any])

_MESSAGE = "Internal error in otel-scoring (%s); the call was ignored."


def _raise_internal_errors() -> bool:
    return resolve_bool(None, OTEL_SCORING_RAISE_INTERNAL_ERRORS, False)


class handle_internal_errors:  # noqa: N801 - used like a function: `with handle_internal_errors(...)`
    """Log and swallow any exception raised inside, except strict-mode validation errors.

    ``with handle_internal_errors("what runs"):`` guards a block; ``@handle_internal_errors("what
    runs", default=...)`` guards a function, which returns ``default`` after an error. The
    decorator is a plain try/except rather than the context manager around the call: it wraps
    span processor hooks that run for every span, where entering a context manager would cost
    more than the hook itself.
    """

    __slots__ = ("where", "default")

    def __init__(self, where: str, default: Any = None) -> None:
        self.where = where
        self.default = default

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, ScoreValidationError):
            return False  # nothing raised, KeyboardInterrupt and the like, or strict mode: the user asked for it
        if _raise_internal_errors():
            return False
        _logger.error(_MESSAGE, self.where, exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]
        return True

    def __call__(self, func: F) -> F:
        where, default = self.where, self.default

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except ScoreValidationError:
                raise
            except Exception:
                report_internal_error(where)
                return default

        return wrapper  # type: ignore[return-value]


def report_internal_error(where: str) -> None:
    """Call from an ``except Exception`` block: log once with the traceback, or re-raise in tests.

    The guard's own handling, for the hooks that run for every span, where even a decorator's
    extra call is measurable: they inline ``try``/``except Exception: report_internal_error(...)``.
    """
    if _raise_internal_errors():
        raise  # the exception being handled by the caller
    _logger.exception(_MESSAGE, where)
