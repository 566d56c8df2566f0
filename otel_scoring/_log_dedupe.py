"""Each distinct otel-scoring warning at most once per interval, with a count of the repeats.

Scoring calls run per request: a misconfiguration would otherwise log one identical warning per
call (500 for 500 calls). Like the SDK's ``DuplicateFilter`` this is a ``logging.Filter`` on the
package's logger, but it keys on the whole formatted message (so warnings about two different
scores both appear), remembers many keys at once, and tells how many it swallowed: the first
repeat after the interval carries "(N more like this in the last 60 s were not logged)".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Tuple

from otel_scoring.environment_variables import OTEL_SCORING_WARNING_INTERVAL

DEFAULT_INTERVAL_SECONDS = 60
MAX_REMEMBERED = 1024  # distinct messages tracked; the oldest is forgotten first


class RepeatFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # message key -> (time it was last logged, repeats suppressed since)
        self._seen: "OrderedDict[Tuple[int, str], Tuple[float, int]]" = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        interval = _interval()
        if interval == 0:
            return True
        key = (record.levelno, record.getMessage())
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < interval:
                self._seen[key] = (last[0], last[1] + 1)
                return False
            self._seen[key] = (now, 0)
            self._seen.move_to_end(key)
            while len(self._seen) > MAX_REMEMBERED:
                self._seen.popitem(last=False)
        if last is not None and last[1]:
            record.msg = f"{record.getMessage()} ({last[1]} more like this in the last {interval} s were not logged)"
            record.args = None
        return True


def _interval() -> int:
    # Parsed here, not with _settings.resolve_int: its warning about a bad value would come back
    # through this filter.
    raw = os.environ.get(OTEL_SCORING_WARNING_INTERVAL, "").strip()
    try:
        return max(0, int(raw)) if raw else DEFAULT_INTERVAL_SECONDS
    except ValueError:
        return DEFAULT_INTERVAL_SECONDS


def install(logger: logging.Logger) -> None:
    if not any(isinstance(existing, RepeatFilter) for existing in logger.filters):
        logger.addFilter(RepeatFilter())
