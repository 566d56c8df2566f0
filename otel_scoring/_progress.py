"""A progress line on stderr for the CLI's long commands: counts so far and a rate.

Shown only when stderr is a terminal (a person is watching), and never with ``--quiet``: a pipe, a
file or a CI log gets no progress, only the command's output. The line is redrawn in place at
most every :data:`REDRAW_SECONDS`, so reporting costs nothing measurable however often a command
counts; :meth:`Progress.finish` leaves the final counts, the time taken and the rate on the line.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Optional

__all__ = ["REDRAW_SECONDS", "Progress"]

REDRAW_SECONDS = 0.2
_CLEAR_LINE = "\r\x1b[K"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class Progress:
    """``update(n, "scores", m, "requests")``: ``n`` is what the rate is of, the rest is shown beside it.

    Args:
        command: names the line (``otel-scoring translate: ...``).
        quiet: ``--quiet``: never show anything.
        stream: where to draw (default ``sys.stderr``); shown only when it is a terminal.
    """

    def __init__(self, command: str, quiet: bool = False, stream: Optional[IO[str]] = None) -> None:
        self._stream = sys.stderr if stream is None else stream
        self.enabled = not quiet and _is_terminal(self._stream)
        self._prefix = f"otel-scoring {command}: "
        self._started = time.monotonic()
        self._next_draw = self._started + REDRAW_SECONDS
        self._drawn = False

    def update(self, count: int, unit: str, *others: Any, rate: bool = True) -> None:
        """Counts so far: ``count`` of ``unit`` (the rate's), then (number, unit) pairs in ``others``;
        with ``rate=False`` (a count that is not progress, such as a total to work through) the time so far instead."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now >= self._next_draw:
            self._next_draw = now + REDRAW_SECONDS
            elapsed = now - self._started
            text = self._describe(count, unit, others)
            self._draw(f"{text} ({count / elapsed:,.0f} {unit}/s)" if rate else f"{text} ({elapsed:.0f} s)", end="")

    def clear(self) -> None:
        """Take the line away before the command writes to the same terminal; the next update redraws it."""
        if self._drawn:
            self._draw("", end="", prefix="")
            self._drawn = False

    def finish(self, count: int, unit: str, *others: Any) -> None:
        """The final counts, how long it took and the rate, as a line of its own."""
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._started
        rate = count / elapsed if elapsed > 0 else 0.0
        self._draw(f"{self._describe(count, unit, others)} in {elapsed:.1f} s ({rate:,.0f} {unit}/s)", end="\n")
        self._drawn = False

    def _describe(self, count: int, unit: str, others: Any) -> str:
        parts = [f"{count:,} {unit}"]
        for number, label in zip(others[::2], others[1::2]):
            parts.append(f"{number:,} {label}" if isinstance(number, int) else f"{number} {label}")
        return ", ".join(parts)

    def _draw(self, text: str, end: str, prefix: Optional[str] = None) -> None:
        try:
            self._stream.write(_CLEAR_LINE + (self._prefix if prefix is None else prefix) + text + end)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: the command's work goes on without it
            self.enabled = False
            return
        self._drawn = bool(text)
