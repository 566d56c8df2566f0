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
* descriptive text is cut to its first characters instead: a comment to
  :data:`MAX_COMMENT_CHARS`, a span or service name to :data:`MAX_IDENTIFIER_CHARS`.

Dropped records are counted and reported in the export's partial success message; the rest of the
export is stored. The API side enforces tighter limits (``otel_scoring.validation``), so records
written by otel-scoring itself always fit.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, List, NamedTuple, Optional

from otel_scoring.records import MetadataRecord, ScoreRecord
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
    for score in translation.scores:
        try:
            kept = _bounded_score(score)
        except _OverLimit:
            dropped += 1
            continue
        truncated += kept is not score
        scores.append(kept)
    for update in translation.metadata:
        try:
            kept_update = _bounded_metadata(update)
        except _OverLimit:
            dropped += 1
            continue
        truncated += kept_update is not update
        metadata.append(kept_update)
    if not dropped and not truncated:
        return BoundedTranslation(translation, 0, 0)
    return BoundedTranslation(Translation(scores=scores, metadata=metadata), dropped, truncated)


def _bounded_score(score: ScoreRecord) -> ScoreRecord:
    for text in (score.id, score.name, score.string_value, score.data_type, score.scope, score.trace_id, score.observation_id):
        _check_identifier(text)
    for text in (score.session_id, score.dataset_run_id, score.source, score.config_id):
        _check_identifier(text)
    if score.metadata is not None:
        _check_json(score.metadata)
    changes = {}
    for field, limit in (("comment", MAX_COMMENT_CHARS), ("span_name", MAX_IDENTIFIER_CHARS), ("service_name", MAX_IDENTIFIER_CHARS)):
        text = getattr(score, field)
        _check_storable(text)
        if text is not None and len(text) > limit:
            changes[field] = text[:limit]
    return dataclasses.replace(score, **changes) if changes else score


def _bounded_metadata(update: MetadataRecord) -> MetadataRecord:
    for text in (update.memo_id, update.kind, update.scope, update.trace_id, update.span_id):
        _check_identifier(text)
    if isinstance(update.index, bool) or not isinstance(update.index, int) or not 0 <= update.index <= _MAX_SQLITE_INTEGER:
        raise _OverLimit
    _check_json(dict(update.values))
    changes = {}
    for field in ("span_name", "service_name"):
        text = getattr(update, field)
        _check_storable(text)
        if text is not None and len(text) > MAX_IDENTIFIER_CHARS:
            changes[field] = text[:MAX_IDENTIFIER_CHARS]
    return dataclasses.replace(update, **changes) if changes else update


def _check_identifier(text: Optional[str]) -> None:
    if text is None:
        return
    if len(text) > MAX_IDENTIFIER_CHARS:
        raise _OverLimit
    _check_storable(text)


def _check_storable(text: Optional[str]) -> None:
    """SQLite stores text as UTF-8; a lone surrogate cannot be encoded and would fail the write."""
    if text is None or text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _OverLimit from None


def _check_json(value: Any) -> None:
    # Size first, at C speed; only a document already known to be small is walked for its depth.
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        raise _OverLimit from None
    if len(encoded) > MAX_METADATA_JSON_CHARS:
        raise _OverLimit
    _check_storable(encoded)
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
