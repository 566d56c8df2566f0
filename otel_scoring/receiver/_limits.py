"""What one stored record may hold: the receiver's bounds on records read from untrusted exports.

An export is bounded as a whole by ``max_body_bytes``, but one record inside it could still carry
a 10 MB comment or a metadata document nested a thousand levels deep. Before records reach the
store, each is checked here:

* identifying text (ids, score name, label, data type, scope, source, config id, session and
  dataset-run ids, memo id, kind) longer than :data:`MAX_IDENTIFIER_CHARS` characters: the record
  is dropped, since a shortened identifier would name something else;
* score or metadata JSON longer than :data:`MAX_METADATA_JSON_CHARS` characters, nested deeper
  than :data:`MAX_METADATA_DEPTH` levels, or not JSON at all: the record is dropped;
* text that cannot be stored as UTF-8 (lone surrogates, which JSON ``\\ud800`` escapes can
  produce), or a metadata index past SQLite's 64-bit integers: the record is dropped;
* a timestamp more than :data:`MAX_FUTURE_SECONDS` ahead of the receiver's clock: the record is
  dropped, since the store keeps the newest write of a score (one from year 9999 could never be
  updated again) and prunes by age (it would never be old enough to go);
* descriptive text is cut to its first characters instead: a comment to
  :data:`MAX_COMMENT_CHARS`, a span or service name to :data:`MAX_IDENTIFIER_CHARS`.

Dropped records are counted and reported in the export's partial success message; the rest of the
export is stored. The API side enforces tighter limits (``otel_scoring._validation``), so records
written by otel-scoring itself always fit.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from typing import Any, List, NamedTuple, Optional, Tuple

from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.store import MAX_FUTURE_SECONDS  # the store's rule, checked here to say so in the reply
from otel_scoring.translate import Translation

MAX_IDENTIFIER_CHARS = 1024
MAX_COMMENT_CHARS = 64 * 1024
MAX_METADATA_JSON_CHARS = 256 * 1024
MAX_METADATA_DEPTH = 64
_MAX_SQLITE_INTEGER = 2**63 - 1


class BoundedTranslation(NamedTuple):
    translation: Translation
    dropped: int  # records over a bound, left out
    truncated: int  # records stored with a descriptive field cut short


class _OverLimit(Exception):
    pass


def bounded(translation: Translation) -> BoundedTranslation:
    """``translation`` with every record within the bounds above; counts of what was changed."""
    scores: List[ScoreRecord] = []
    metadata: List[MetadataRecord] = []
    dropped = truncated = 0
    latest = datetime.now(timezone.utc) + timedelta(seconds=MAX_FUTURE_SECONDS)
    for score in translation.scores:
        try:
            _check_time(score.timestamp, latest)
            kept = _bounded_score(score)
        except _OverLimit:
            dropped += 1
            continue
        truncated += kept is not score
        scores.append(kept)
    for update in translation.metadata:
        try:
            _check_time(update.timestamp, latest)
            kept_update = _bounded_metadata(update)
        except _OverLimit:
            dropped += 1
            continue
        truncated += kept_update is not update
        metadata.append(kept_update)
    if not dropped and not truncated:
        return BoundedTranslation(translation, 0, 0)
    return BoundedTranslation(Translation(scores=scores, metadata=metadata, resources=translation.resources), dropped, truncated)


def _bounded_score(score: ScoreRecord) -> ScoreRecord:
    comment, span_name, service_name = score.comment, score.span_name, score.service_name
    _check_texts(
        (
            score.id,
            score.name,
            score.string_value,
            score.data_type,
            score.scope,
            score.trace_id,
            score.observation_id,
            score.session_id,
            score.dataset_run_id,
            score.source,
            score.config_id,
        ),
        (comment, span_name, service_name),
    )
    if score.metadata is not None:
        _check_json(score.metadata)
    changes = {}
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        changes["comment"] = comment[:MAX_COMMENT_CHARS]
    if span_name is not None and len(span_name) > MAX_IDENTIFIER_CHARS:
        changes["span_name"] = span_name[:MAX_IDENTIFIER_CHARS]
    if service_name is not None and len(service_name) > MAX_IDENTIFIER_CHARS:
        changes["service_name"] = service_name[:MAX_IDENTIFIER_CHARS]
    return dataclasses.replace(score, **changes) if changes else score


def _bounded_metadata(update: MetadataRecord) -> MetadataRecord:
    span_name, service_name = update.span_name, update.service_name
    _check_texts((update.memo_id, update.kind, update.scope, update.trace_id, update.span_id), (span_name, service_name))
    if isinstance(update.index, bool) or not isinstance(update.index, int) or not 0 <= update.index <= _MAX_SQLITE_INTEGER:
        raise _OverLimit
    _check_json(dict(update.values))
    changes = {}
    if span_name is not None and len(span_name) > MAX_IDENTIFIER_CHARS:
        changes["span_name"] = span_name[:MAX_IDENTIFIER_CHARS]
    if service_name is not None and len(service_name) > MAX_IDENTIFIER_CHARS:
        changes["service_name"] = service_name[:MAX_IDENTIFIER_CHARS]
    return dataclasses.replace(update, **changes) if changes else update


def _check_time(moment: datetime, latest: datetime) -> None:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment > latest:
        raise _OverLimit


def _check_texts(identifiers: Tuple[Optional[str], ...], descriptions: Tuple[Optional[str], ...]) -> None:
    """Identifiers no longer than the limit; all of them storable (descriptions are cut later).

    Every record passes here, so the common case is a few C-level passes over the texts joined
    together rather than a call per field: a joined text is ASCII only when every part is, and
    encodes as UTF-8 only when no part holds a lone surrogate (joining never pairs them up).
    ``filter(None, ...)`` leaves out empty texts as well as None: neither can break a bound.
    """
    present = list(filter(None, identifiers))
    if present and max(map(len, present)) > MAX_IDENTIFIER_CHARS:
        raise _OverLimit
    present.extend(filter(None, descriptions))
    joined = "".join(present)
    if not joined.isascii():
        _check_storable(joined)


def _check_storable(text: Optional[str]) -> None:
    """SQLite stores text as UTF-8; a lone surrogate cannot be encoded and would fail the write."""
    if text is None or text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _OverLimit from None


# json.dumps(value, separators=..., ensure_ascii=False) builds a new encoder on every call.
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _check_json(value: Any) -> None:
    # Size first, at C speed; only a document already known to be small is walked for its depth.
    try:
        encoded = _encode_json(value)
    except (TypeError, ValueError, RecursionError):
        raise _OverLimit from None
    if len(encoded) > MAX_METADATA_JSON_CHARS:
        raise _OverLimit
    _check_storable(encoded)
    # Each dict or list opens one bracket in the text (brackets inside strings only add to the
    # count), so a document with no more brackets than the depth limit cannot be deeper than it.
    if encoded.count("{") + encoded.count("[") > MAX_METADATA_DEPTH:
        _check_depth(value)


def _check_depth(value: Any) -> None:
    """Iteratively, so a deep document cannot exhaust the stack measuring itself."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_METADATA_DEPTH:
            raise _OverLimit
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
