"""Forward scores to Arize Phoenix as span, trace and session annotations (REST ``/v1``).

Mapping (Phoenix's annotation model: name, annotator kind, result {score, label, explanation},
metadata, identifier):

- a ``span`` score becomes a span annotation (``POST /v1/span_annotations``) on the scored span,
  a ``trace`` score a trace annotation (``POST /v1/trace_annotations``), a ``session`` score a
  session annotation (``POST /v1/session_annotations``) on the Phoenix session of that id (the
  OpenInference ``session.id`` of the app's spans). Dataset-run scores have no place in Phoenix
  and are skipped (counted, logged at debug). Metadata updates are skipped too: Phoenix cannot
  add attributes to a stored span.
- value → ``result.score``, label → ``result.label``, comment → ``result.explanation``, the score's
  metadata (plus its config id) → ``metadata``; the annotator kind is ``HUMAN``, ``LLM`` or ``CODE``
  from the score's source.
- the score id is the annotation's ``identifier``. Phoenix upserts annotations by (name, target,
  identifier), so a retry or a re-send updates the annotation instead of adding another.

Requests use ``sync=true`` so Phoenix confirms each write. When Phoenix answers 404 because a span,
trace or session is not stored yet (the trace may still be on its way), the batch is sent again
with ``sync=false``: Phoenix then queues the annotations and attaches them when their targets
arrive (it keeps trying for about ten minutes).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from otel_scoring._settings import resolve_str
from otel_scoring.environment_variables import PHOENIX_API_KEY, PHOENIX_COLLECTOR_ENDPOINT
from otel_scoring.forward._base import ClosingForwarder, FailureLog, ForwardResult, chunks, forward_guarded, score_author
from otel_scoring.forward._http import DEFAULT_TIMEOUT_SECONDS, ForwardError, JsonHttpClient, RetryPolicy, is_auth_failure
from otel_scoring.forward._mapping import score_metadata
from otel_scoring.records import MetadataRecord, ScoreRecord

__all__ = ["DEFAULT_BATCH_SIZE", "PhoenixForwarder"]

_logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100  # annotations per request: bounds the request body

# scope -> (REST path, id field, how to read the target id off a record)
_TARGETS = {
    "span": ("/v1/span_annotations", "span_id", lambda record: record.observation_id),
    "trace": ("/v1/trace_annotations", "trace_id", lambda record: record.trace_id),
    "session": ("/v1/session_annotations", "session_id", lambda record: record.session_id),
}


class PhoenixForwarder(ClosingForwarder):
    """Writes scores to a Phoenix server as annotations."""

    destination = "phoenix"

    def __init__(
        self,
        endpoint: Optional[str] = None,
        *,
        api_key: Optional[str] = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_policy: Optional[RetryPolicy] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """``endpoint`` is Phoenix's URL (``http://localhost:6006``; a trailing ``/v1/traces`` is
        ignored), default ``PHOENIX_COLLECTOR_ENDPOINT``; ``api_key`` default ``PHOENIX_API_KEY``."""
        url = resolve_str(endpoint, PHOENIX_COLLECTOR_ENDPOINT)
        if not url:
            raise ValueError(f"Phoenix needs a URL: phoenix=http://host:6006 or {PHOENIX_COLLECTOR_ENDPOINT}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        key = resolve_str(api_key, PHOENIX_API_KEY)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.endpoint = _phoenix_base_url(url)
        self._client = JsonHttpClient(
            self.endpoint, headers=headers, timeout_seconds=timeout_seconds, retry_policy=retry_policy
        )
        self._batch_size = batch_size
        self._failures = FailureLog(_logger, f"Phoenix at {self.endpoint}")
        self._queueing_explained = False

    def __repr__(self) -> str:
        return f"PhoenixForwarder({self.endpoint!r})"

    def forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord]) -> ForwardResult:
        """Annotate the scored spans, traces and sessions; never raises."""
        return forward_guarded(self.destination, "Phoenix", self._failures, self._forward, scores, metadata)

    def _forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord], result: ForwardResult) -> None:
        if metadata:
            result.metadata_skipped += len(metadata)
            _logger.debug("Phoenix: %d metadata update(s) skipped (Phoenix cannot add span attributes).", len(metadata))
        by_target: Dict[str, List[Dict[str, Any]]] = {scope: [] for scope in _TARGETS}
        for record in scores:
            annotation = self._annotation(record)
            if annotation is None:
                result.skipped += 1
                _logger.debug("Phoenix: score %s (%s, scope %s) has no span, trace or session there; skipped.",
                              record.id, record.name, record.scope)
            else:
                by_target[annotation[0]].append(annotation[1])
        for scope, pending in by_target.items():
            path = _TARGETS[scope][0]
            for batch in chunks(pending, self._batch_size):
                if not self._send(path, batch, result):
                    return  # auth failure: every other request would fail the same way

    def _annotation(self, record: ScoreRecord) -> Optional[Tuple[str, Dict[str, Any]]]:
        target = _TARGETS.get(record.scope)
        if target is None:
            return None
        _path, id_field, target_id = target
        identifier = target_id(record)
        if not identifier:
            return None
        return record.scope, {
            id_field: identifier,
            "name": record.name,
            "annotator_kind": score_author(record.source),
            "result": {"score": record.value, "label": record.string_value, "explanation": record.comment},
            "metadata": score_metadata(record),
            "identifier": record.id,
        }

    def _send(self, path: str, batch: Sequence[Dict[str, Any]], result: ForwardResult) -> bool:
        body = {"data": list(batch)}
        try:
            try:
                self._client.request("POST", path, body=body, query={"sync": "true"})
            except ForwardError as error:
                if error.status != 404:
                    raise
                # Some targets are not in Phoenix yet: let Phoenix queue the batch until they arrive.
                self._client.request("POST", path, body=body, query={"sync": "false"})
                _logger.log(
                    logging.DEBUG if self._queueing_explained else logging.INFO,
                    "Phoenix does not have every target of %d annotation(s) yet (%s); it queues them and "
                    "attaches them when the spans arrive (for about ten minutes).", len(batch), error,
                )
                self._queueing_explained = True
        except ForwardError as error:
            result.failed += len(batch)
            result.add_error(str(error), error.kind)
            return not is_auth_failure(error)
        result.sent += len(batch)
        return True


def _phoenix_base_url(url: str) -> str:
    base = url.strip().rstrip("/")
    for suffix in ("/v1/traces", "/v1"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base
