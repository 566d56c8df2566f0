"""Turn what a caller passed into a validated :class:`Score` or :class:`MetadataUpdate`.

Every rule of the score model lives here and raises :class:`ScoreValidationError` naming the
score and the rule. Callers decide whether that becomes a warning or reaches the user (strict).
"""

from __future__ import annotations

import json
import math
import os
import random
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Tuple, Union

from otel_scoring._model import DataType, MetadataScope, MetadataUpdate, Score, Scope
from otel_scoring.configs import ScoreConfig, ScoreConfigRegistry
from otel_scoring.errors import ScoreValidationError
from otel_scoring.schema import BOOLEAN_LABELS

MAX_NAME_LENGTH = 200
MAX_ID_LENGTH = 200
MAX_COMMENT_LENGTH = 16_384
MAX_JSON_LENGTH = 32_768  # metadata of one score, or the values of one metadata update
MAX_METADATA_KEYS = 64  # keys of one metadata update

SHOWN_NAME_LENGTH = 60  # how much of an overlong name a warning quotes

IdInput = Union[str, int, None]

# Ids for scores and memo-less metadata updates. Not uuid4: it reads os.urandom, which releases the
# GIL and hands it to any busy thread (the export worker) on every score, costing more than the
# rest of the call. A private generator seeded from the OS, reseeded in a forked child so two
# processes never share a sequence, and untouched by anyone reseeding the global `random`.
_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)


def new_id() -> str:
    """32 random hex digits."""
    return _ids.getrandbits(128).to_bytes(16, "little").hex()  # bytes' hex: cheaper than "%032x"


class LazySubject:
    """``subject_for(what, name)``, formatted only if a warning is raised: on the path of every
    valid score, formatting the name would cost more than checking it."""

    __slots__ = ("what", "name")

    def __init__(self, what: str, name: Any) -> None:
        self.what = what
        self.name = name

    def __str__(self) -> str:
        return subject_for(self.what, self.name)


def subject_for(what: str, name: Any) -> str:
    """How a warning names a score or metadata update: by its name, cut short when overlong."""
    if not isinstance(name, str):
        return what
    shown = name if len(name) <= MAX_NAME_LENGTH else name[:SHOWN_NAME_LENGTH] + "..."
    return f"{what} {shown!r}"


def parse_trace_id(value: IdInput, subject: str) -> Optional[int]:
    return _parse_id(value, 32, "trace_id", subject)


def parse_span_id(value: IdInput, subject: str) -> Optional[int]:
    return _parse_id(value, 16, "span id", subject)


def _parse_id(value: IdInput, hex_digits: int, what: str, subject: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ScoreValidationError(subject, f"{what} must be a hex string or an int, not a bool")
    if isinstance(value, int):
        parsed = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("0x"):
            text = text[2:]
        # ASCII letters and digits only (int() would take "_", signs, spaces and non-ASCII digits),
        # then int() refuses what is not hex: cheaper than testing each character in Python.
        if len(text) != hex_digits or not (text.isascii() and text.isalnum()):
            raise ScoreValidationError(subject, f"{what} {shown(value)} is not {hex_digits} hex digits")
        try:
            parsed = int(text, 16)
        except ValueError:
            raise ScoreValidationError(subject, f"{what} {shown(value)} is not {hex_digits} hex digits") from None
    else:
        raise ScoreValidationError(subject, f"{what} must be a hex string or an int, not {type(value).__name__}")
    if not 0 < parsed < (1 << (4 * hex_digits)):
        raise ScoreValidationError(subject, f"{what} {shown(value)} is out of range (zero or too large)")
    return parsed


def shown(value: Any) -> str:
    """``repr(value)`` for a warning, short, and never raising: a caller's object may break its own ``__repr__``."""
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - any error of the caller's object
        return f"<{type(value).__name__} whose repr() raised {type(exc).__name__}>"
    return text if len(text) <= 2 * SHOWN_NAME_LENGTH else text[: 2 * SHOWN_NAME_LENGTH] + "..."


def check_encodable(text: str, what: str, subject: Any) -> str:
    """OTLP carries text as UTF-8: a lone surrogate (``"\\ud800"``) could not be exported at all."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ScoreValidationError(subject, f"{what} holds a lone surrogate character, which UTF-8 cannot encode; decode the text with errors='replace' first") from None
    return text


def check_name(name: Any, subject: str, what: str = "name") -> str:
    if not isinstance(name, str):
        raise ScoreValidationError(subject, f"{what} must be a string, not {type(name).__name__}")
    if not name.strip():
        raise ScoreValidationError(subject, f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ScoreValidationError(subject, f"{what} is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}")
    return check_encodable(name, what, subject)


def _check_optional_str(value: Any, what: str, subject: str, limit: int = MAX_ID_LENGTH) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ScoreValidationError(subject, f"{what} must be a non-empty string")
    if len(value) > limit:
        raise ScoreValidationError(subject, f"{what} is {len(value)} characters long; the limit is {limit}")
    return check_encodable(value, what, subject)


def encode_json(value: Any, what: str, subject: str) -> str:
    try:
        encoded = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ScoreValidationError(subject, f"{what} is not JSON-serialisable ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a caller's object whose __len__, __iter__ or __str__ raises
        raise ScoreValidationError(subject, f"{what} could not be read as JSON ({type(exc).__name__} from the object itself)") from None
    if len(encoded) > MAX_JSON_LENGTH:
        raise ScoreValidationError(subject, f"{what} is {len(encoded)} bytes as JSON; the limit is {MAX_JSON_LENGTH}")
    return check_encodable(encoded, what, subject)


def to_utc(timestamp: Optional[datetime], subject: str) -> datetime:
    """``None`` is now; a naive datetime is taken as UTC (the reference's "current UTC time")."""
    if timestamp is None:
        return datetime.now(timezone.utc)
    if not isinstance(timestamp, datetime):
        raise ScoreValidationError(subject, f"timestamp must be a datetime, not {type(timestamp).__name__}")
    if timestamp.tzinfo is None:
        return timestamp.replace(tzinfo=timezone.utc)
    return timestamp.astimezone(timezone.utc)


def _parse_data_type(data_type: Any, subject: str) -> Optional[DataType]:
    if data_type is None:
        return None
    try:
        return DataType(data_type.upper() if isinstance(data_type, str) else data_type)
    except ValueError:
        raise ScoreValidationError(subject, f"data_type {shown(data_type)} is not one of NUMERIC, CATEGORICAL, BOOLEAN") from None


def _infer_data_type(value: Any) -> DataType:
    # Langfuse's inference: a number is NUMERIC, a string CATEGORICAL. A Python bool says BOOLEAN.
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, str):
        return DataType.CATEGORICAL
    return DataType.NUMERIC


def _value_and_label(value: Any, data_type: DataType, config: Optional[ScoreConfig], subject: str) -> Tuple[Optional[float], Optional[str]]:
    if data_type is DataType.NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScoreValidationError(subject, f"value {shown(value)} does not match data_type NUMERIC (a number is required)")
        try:
            number = float(value)
        except OverflowError:  # an int too large for a double
            raise ScoreValidationError(subject, "value is an integer too large for a double") from None
        if not math.isfinite(number):
            raise ScoreValidationError(subject, f"value {shown(value)} is not a finite number")
        if config is not None:
            if config.min_value is not None and number < config.min_value:
                raise ScoreValidationError(subject, f"value {number} is below min_value {config.min_value} of config {config.id!r}")
            if config.max_value is not None and number > config.max_value:
                raise ScoreValidationError(subject, f"value {number} is above max_value {config.max_value} of config {config.id!r}")
        return number, None
    if data_type is DataType.BOOLEAN:
        if isinstance(value, bool):
            return float(value), BOOLEAN_LABELS[value]
        if isinstance(value, (int, float)) and value in (0, 1):
            return float(value), BOOLEAN_LABELS[bool(value)]
        raise ScoreValidationError(subject, f"value {shown(value)} does not match data_type BOOLEAN (0, 1, True or False)")
    if not isinstance(value, str):
        raise ScoreValidationError(subject, f"value {shown(value)} does not match data_type CATEGORICAL (a string label is required)")
    if not value:
        raise ScoreValidationError(subject, "a categorical value must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ScoreValidationError(subject, f"categorical value is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}")
    check_encodable(value, "categorical value", subject)
    if config is not None:
        if value not in config.categories:
            raise ScoreValidationError(subject, f"value {value!r} is not a category of config {config.id!r} ({', '.join(sorted(config.categories))})")
        return config.categories[value], value
    return None, value


def build_score(
    *,
    name: Any,
    value: Any,
    scope: Scope,
    trace_id: Optional[int],
    span_id: Optional[int],
    session_id: Any = None,
    dataset_run_id: Any = None,
    score_id: Any = None,
    data_type: Any = None,
    comment: Any = None,
    config_id: Any = None,
    metadata: Any = None,
    timestamp: Any = None,
    environment: Any = None,
    configs: Optional[ScoreConfigRegistry] = None,
) -> Score:
    """Validate one score; raise :class:`ScoreValidationError` naming the first rule it breaks."""
    subject: Any = LazySubject("score", name)
    name = check_name(name, subject)
    declared = _parse_data_type(data_type, subject)
    config = None
    if config_id is not None:
        config_id = _check_optional_str(config_id, "config_id", subject)
        config = configs.get(config_id) if configs is not None else None
        if config is None:
            raise ScoreValidationError(subject, f"config_id {config_id!r} is not a registered score config")
        if config.name != name:
            raise ScoreValidationError(subject, f"name must equal the name {config.name!r} of config {config_id!r}")
        if declared is not None and declared is not config.data_type:
            raise ScoreValidationError(subject, f"data_type {declared.value} does not match {config.data_type.value} of config {config_id!r}")
    effective = declared or (config.data_type if config is not None else _infer_data_type(value))
    number, label = _value_and_label(value, effective, config, subject)
    score_id = new_id() if score_id is None else _check_optional_str(score_id, "score_id", subject)
    if comment is not None:
        _check_comment(comment, subject)
    # Positional, in field order: keyword arguments to a named tuple cost a third of this function.
    return Score(
        score_id,
        name,
        number,
        label,
        effective,
        scope,
        trace_id,
        span_id,
        None if session_id is None else _check_optional_str(session_id, "session_id", subject),
        None if dataset_run_id is None else _check_optional_str(dataset_run_id, "dataset_run_id", subject),
        comment,
        config_id,
        None if metadata is None else encode_json(metadata, "metadata", subject),
        datetime.now(timezone.utc) if timestamp is None else to_utc(timestamp, subject),
        "API",
        None if environment is None else _check_optional_str(environment, "environment", subject),
    )


def build_span_score(name: Any, value: Any, comment: Any, trace_id: int, span_id: int) -> Score:
    """:func:`build_score` of the common call, a span's score with a name, a value and perhaps a
    comment: the same rules, without the keywords that are all None here."""
    subject: Any = LazySubject("score", name)
    name = check_name(name, subject)
    data_type = _infer_data_type(value)
    number, label = _value_and_label(value, data_type, None, subject)
    if comment is not None:
        _check_comment(comment, subject)
    return Score(new_id(), name, number, label, data_type, Scope.SPAN, trace_id, span_id, None, None, comment, None, None, datetime.now(timezone.utc), "API", None)


def _check_comment(comment: Any, subject: Any) -> None:
    if not isinstance(comment, str):
        raise ScoreValidationError(subject, f"comment must be a string, not {type(comment).__name__}")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise ScoreValidationError(subject, f"comment is {len(comment)} characters long; the limit is {MAX_COMMENT_LENGTH}")
    check_encodable(comment, "comment", subject)


def build_metadata_update(
    *,
    values: Any,
    kind: Any,
    memo_id: str,
    index: int,
    scope: MetadataScope,
    trace_id: Optional[int],
    span_id: Optional[int],
) -> MetadataUpdate:
    """Validate one metadata update; raise :class:`ScoreValidationError` naming the problem."""
    subject = f"metadata update {memo_id!r}"
    kind = check_name(kind, subject, "kind")
    if "." in kind:
        raise ScoreValidationError(subject, f"kind {kind!r} must not contain '.' (it is part of attribute names)")
    if not isinstance(values, Mapping):
        raise ScoreValidationError(subject, f"values must be a mapping of string keys, not {type(values).__name__}")
    try:
        values = dict(values)  # the caller's mapping is read once, here; its own errors are a validation error
    except Exception as exc:  # noqa: BLE001 - a Mapping whose __len__, __iter__ or __getitem__ raises
        raise ScoreValidationError(subject, f"values could not be read ({type(exc).__name__} from the mapping itself)") from None
    if not values:
        raise ScoreValidationError(subject, "values must not be empty")
    if len(values) > MAX_METADATA_KEYS:
        raise ScoreValidationError(subject, f"{len(values)} keys in one update; the limit is {MAX_METADATA_KEYS}")
    for key in values:
        check_name(key, subject, f"key {shown(key)}" if isinstance(key, str) else "key")
    return MetadataUpdate(
        memo_id=memo_id,
        index=index,
        kind=kind,
        scope=scope,
        values=values,
        values_json=encode_json(values, "values", subject),
        trace_id=trace_id,
        span_id=span_id,
        timestamp=datetime.now(timezone.utc),
    )
