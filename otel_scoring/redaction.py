"""Mask secrets in metadata before they reach a span.

::

    ScoringSpanProcessor(tracer_provider=provider, redact_keys=["*password*", "card_*", re.compile(r"token$")])
    ScoringSpanProcessor(tracer_provider=provider, redact=lambda key, value: "***" if key == "email" else value)

Both apply to the values of metadata updates and to a score's ``metadata``, at every depth (dicts
inside dicts and lists), before anything is written to a span, an event or a carrier span:

* ``redact_keys``: a value whose key matches a pattern becomes ``"[REDACTED]"``. Strings are glob
  patterns (``*``, ``?``, ``[...]``) matched against the whole key, ignoring case; compiled
  regular expressions are searched anywhere in the key, with their own flags. A string is split on
  commas, as ``OTEL_SCORING_REDACT_KEYS`` is, which is read when ``redact_keys`` is not given.
* ``redact(key, value) -> value``: called for every other key, innermost first, with the value as
  already masked below it; it returns what to record. If it raises, or returns something that is
  not JSON, that value is recorded as ``"[REDACTED]"`` and one warning names the key: a failing
  hook never reaches the caller and never lets a value through unmasked.

Keys themselves are kept: they are what the patterns are written against, and they name the
searchable ``otel_scoring.metadata.<kind>.<key>`` attributes.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import re
from typing import Any, Callable, Iterable, List, Mapping, Optional, Pattern, Sequence, Union

from otel_scoring._model import MetadataUpdate, Score
from otel_scoring._settings import resolve_str
from otel_scoring._validation import encode_json, subject_for
from otel_scoring.environment_variables import OTEL_SCORING_REDACT_KEYS
from otel_scoring.errors import ScoreValidationError

__all__ = [
    "REDACTED",
    "KeyMatcher",
    "KeyPattern",
    "RedactHook",
    "RedactKeys",
    "Redactor",
]

_logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"

KeyPattern = Union[str, Pattern[str]]
RedactKeys = Union[str, Pattern[str], Iterable[KeyPattern]]
RedactHook = Callable[[str, Any], Any]


class KeyMatcher:
    """Which keys to mask: glob strings (whole key, ignoring case) and compiled regexes (anywhere).

    ``redact_keys`` of None reads ``OTEL_SCORING_REDACT_KEYS``. Raises ``TypeError`` for anything
    but strings and compiled patterns: a pattern list that silently matched nothing would leak
    what it was meant to hide.
    """

    def __init__(self, redact_keys: Optional[RedactKeys] = None) -> None:
        if redact_keys is None:
            redact_keys = resolve_str(None, OTEL_SCORING_REDACT_KEYS, "") or ""
        items: Iterable[Any] = [redact_keys] if isinstance(redact_keys, (str, re.Pattern)) else redact_keys
        globs: List[str] = []
        self._anywhere: List[Pattern[str]] = []
        for item in items:
            if isinstance(item, re.Pattern):
                if not isinstance(item.pattern, str):
                    raise TypeError(f"redact_keys patterns must match str keys, not bytes: {item!r}")
                self._anywhere.append(item)
            elif isinstance(item, str):
                globs.extend(part.strip() for part in item.split(",") if part.strip())
            else:
                raise TypeError(f"redact_keys holds glob strings or compiled regular expressions, not {type(item).__name__}")
        # One alternation of every glob: one match call per key however many globs there are.
        self._whole: Optional[Pattern[str]] = (
            re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs), re.IGNORECASE) if globs else None
        )

    def __bool__(self) -> bool:
        return self._whole is not None or bool(self._anywhere)

    def __call__(self, key: str) -> bool:
        if self._whole is not None and self._whole.match(key) is not None:
            return True
        return any(pattern.search(key) is not None for pattern in self._anywhere)


class Redactor:
    """Masks metadata keys the ``matcher`` matches and passes every other key through ``hook``."""

    def __init__(self, matcher: KeyMatcher, hook: Optional[RedactHook] = None) -> None:
        if hook is not None and not callable(hook):
            raise TypeError(f"redact must be a callable (key, value) -> value, not {type(hook).__name__}")
        self._matches = matcher
        self._hook = hook

    @classmethod
    def from_settings(cls, redact_keys: Optional[RedactKeys] = None, redact: Optional[RedactHook] = None) -> Optional["Redactor"]:
        """A redactor, or None when there is nothing to redact (so callers skip the work)."""
        matcher = KeyMatcher(redact_keys)
        if not matcher and redact is None:
            return None
        return cls(matcher, redact)

    # --- What the processor records -------------------------------------------------------------------

    def updates(self, updates: Sequence[MetadataUpdate]) -> List[MetadataUpdate]:
        return [self.update(update) for update in updates]

    def update(self, update: MetadataUpdate) -> MetadataUpdate:
        """``update`` with its values (and their JSON) masked."""
        subject = f"metadata update {update.memo_id!r}"
        values = self._masked(update.values, subject)
        try:
            values_json = encode_json(values, "values", subject)
        except ScoreValidationError as error:
            # The hook made the values unencodable or too long: mask every value rather than guess.
            _logger.warning("%s; every value of it is recorded as %s", error, REDACTED)
            values = {key: REDACTED for key in update.values}
            values_json = encode_json(values, "values", subject)
        return dataclasses.replace(update, values=values, values_json=values_json)

    def score(self, score: Score) -> Score:
        """``score`` with its metadata masked (a score without metadata is returned as it is)."""
        if score.metadata_json is None:
            return score
        subject = subject_for("score", score.name)
        masked = self._masked(json.loads(score.metadata_json), subject)
        try:
            metadata_json = encode_json(masked, "metadata", subject)
        except ScoreValidationError as error:
            _logger.warning("%s; its metadata is recorded as %s", error, REDACTED)
            metadata_json = json.dumps(REDACTED)
        return score._replace(metadata_json=metadata_json)

    # --- The walk -------------------------------------------------------------------------------------

    def _masked(self, value: Any, subject: str) -> Any:
        failed: List[str] = []
        try:
            masked = self._walk(value, failed)
        except RecursionError:
            _logger.warning("%s is nested too deeply to redact; it is recorded as %s", subject, REDACTED)
            return {key: REDACTED for key in value} if isinstance(value, Mapping) else REDACTED
        if failed:
            shown = ", ".join(repr(key) for key in failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
            _logger.warning("The redact hook failed for key(s) %s of %s; those values are recorded as %s", shown, subject, REDACTED)
        return masked

    def _walk(self, value: Any, failed: List[str]) -> Any:
        if isinstance(value, Mapping):
            masked = {}
            for key, item in value.items():
                if isinstance(key, str) and self._matches(key):
                    masked[key] = REDACTED
                    continue
                item = self._walk(item, failed)
                masked[key] = item if self._hook is None else self._hooked(key, item, failed)
            return masked
        if isinstance(value, (list, tuple)):
            return [self._walk(item, failed) for item in value]
        return value

    def _hooked(self, key: Any, value: Any, failed: List[str]) -> Any:
        try:
            result = self._hook(key, value)  # type: ignore[misc]
            json.dumps(result, allow_nan=False)  # what cannot be recorded as JSON is a failure too
        except Exception as error:  # a user's hook: anything it raises stays here
            _logger.debug("The redact hook raised for key %r", key, exc_info=error)
            failed.append(str(key))
            return REDACTED
        return result
