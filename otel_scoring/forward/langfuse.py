"""Forward scores to Langfuse through its public scores API (``POST /api/public/scores``).

Authentication is HTTP basic with the project's public key as user name and secret key as
password (``LANGFUSE_PUBLIC_KEY`` / ``LANGFUSE_SECRET_KEY``, as Langfuse's SDKs read them).

Mapping (one request per score, the scores API has no batch form; the first request goes alone,
so wrong keys cost one refused request, the rest ``concurrency`` at a time; Langfuse's score model
is the one otel-scoring follows):

- ``id`` is the score id: Langfuse upserts scores by id, so a retry or a re-send updates the score.
- a ``span`` score carries ``traceId`` and ``observationId``, a ``trace`` score ``traceId``, a
  ``session`` score ``sessionId``, a ``dataset_run`` score ``datasetRunId`` — exactly one target,
  as Langfuse requires. Trace and span ids are the W3C hex ids, which is how Langfuse names traces
  and observations ingested over OpenTelemetry.
- ``value`` is the number for NUMERIC, 0/1 for BOOLEAN, the label for CATEGORICAL, with
  ``dataType``; ``comment`` and ``metadata`` as they are.
- ``configId`` only when asked (``send_config_ids=True`` or ``OTEL_SCORING_LANGFUSE_SEND_CONFIG_IDS``):
  Langfuse rejects a score whose config id is not one of its own score configs. Otherwise the
  config id travels in ``metadata`` under ``otel_scoring.score.config_id``.

Metadata updates are skipped: the scores API has no place for run metadata.
"""

from __future__ import annotations

import base64
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence

from otel_scoring._settings import resolve_bool, resolve_str
from otel_scoring.environment_variables import (
    LANGFUSE_BASE_URL,
    LANGFUSE_HOST,
    LANGFUSE_PUBLIC_KEY,
    LANGFUSE_SECRET_KEY,
    OTEL_SCORING_LANGFUSE_SEND_CONFIG_IDS,
)
from otel_scoring.forward._base import ClosingForwarder, FailureLog, ForwardResult, forward_guarded
from otel_scoring.forward._http import DEFAULT_TIMEOUT_SECONDS, ForwardError, JsonHttpClient, RetryPolicy, is_auth_failure
from otel_scoring.forward._mapping import boolean_value, score_metadata
from otel_scoring.records import MetadataRecord, ScoreRecord

__all__ = ["DEFAULT_CONCURRENCY", "SCORES_PATH", "LangfuseForwarder"]

_logger = logging.getLogger(__name__)
_NOT_SENT = object()  # a score left unsent after another request's auth failure

SCORES_PATH = "/api/public/scores"
DEFAULT_CONCURRENCY = 4  # requests in flight at once: a large forward takes minutes, not hours


class LangfuseForwarder(ClosingForwarder):
    """Writes scores to a Langfuse project."""

    destination = "langfuse"

    def __init__(
        self,
        endpoint: Optional[str] = None,
        *,
        public_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        send_config_ids: Optional[bool] = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_policy: Optional[RetryPolicy] = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        """``endpoint`` is Langfuse's URL (``https://cloud.langfuse.com``), default
        ``LANGFUSE_BASE_URL`` then ``LANGFUSE_HOST``; keys default to ``LANGFUSE_PUBLIC_KEY`` and
        ``LANGFUSE_SECRET_KEY``. ``concurrency`` is how many requests may be in flight at once."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        url = resolve_str(endpoint, LANGFUSE_BASE_URL) or resolve_str(None, LANGFUSE_HOST)
        if not url:
            raise ValueError(f"Langfuse needs a URL: langfuse=https://cloud.langfuse.com or {LANGFUSE_BASE_URL}")
        public = resolve_str(public_key, LANGFUSE_PUBLIC_KEY)
        secret = resolve_str(secret_key, LANGFUSE_SECRET_KEY)
        if not public or not secret:
            raise ValueError(f"Langfuse needs API keys: set {LANGFUSE_PUBLIC_KEY} and {LANGFUSE_SECRET_KEY}")
        credentials = base64.b64encode(f"{public}:{secret}".encode("utf-8")).decode("ascii")
        self.endpoint = url.strip().rstrip("/")
        self.send_config_ids = resolve_bool(send_config_ids, OTEL_SCORING_LANGFUSE_SEND_CONFIG_IDS, False)
        self.concurrency = concurrency
        self._client = JsonHttpClient(
            self.endpoint,
            headers={"Authorization": f"Basic {credentials}"},
            timeout_seconds=timeout_seconds,
            retry_policy=retry_policy,
            max_idle_connections=concurrency,  # one kept alive per sending thread
        )
        self._failures = FailureLog(_logger, f"Langfuse at {self.endpoint}")

    def __repr__(self) -> str:
        return f"LangfuseForwarder({self.endpoint!r})"

    def forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord]) -> ForwardResult:
        """Create or update each score in Langfuse; never raises."""
        return forward_guarded(self.destination, "Langfuse", self._failures, self._forward, scores, metadata)

    def _forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord], result: ForwardResult) -> None:
        if metadata:
            result.metadata_skipped += len(metadata)
            _logger.debug("Langfuse: %d metadata update(s) skipped (the scores API has no place for them).", len(metadata))
        bodies: List[Dict[str, Any]] = []
        for record in scores:
            body = self.score_body(record)
            if body is None:
                result.skipped += 1
                _logger.debug("Langfuse: score %s (%s) has no trace, session or dataset run; skipped.", record.id, record.name)
            else:
                bodies.append(body)
        if not bodies or not self._count(self._post(bodies[0]), result):
            return  # nothing to send, or keys Langfuse refuses: the rest would be refused the same way
        rest = bodies[1:]
        if not rest:
            return
        # Two writes of one score id must land in the order given: one worker keeps the order.
        workers = self.concurrency if len({body["id"] for body in rest}) == len(rest) else 1
        refused = threading.Event()

        def post_unless_refused(share: Sequence[Dict[str, Any]]) -> List[object]:  # per body: None, a ForwardError or _NOT_SENT
            outcomes: List[object] = []
            for body in share:
                if refused.is_set():
                    outcomes.append(_NOT_SENT)
                    continue
                error = self._post(body)
                if error is not None and is_auth_failure(error):
                    refused.set()
                outcomes.append(error)
            return outcomes

        # One task per sending thread, each posting its share in turn (a task per score would cost
        # a future and two lock handovers each, more CPU than building its request).
        threads = min(workers, len(rest))
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="otel-scoring-langfuse") as pool:
            for outcomes in pool.map(post_unless_refused, [rest[index::threads] for index in range(threads)]):
                for outcome in outcomes:
                    if outcome is not _NOT_SENT:  # a score not sent is counted as failed after the batch
                        self._count(outcome, result)  # type: ignore[arg-type]

    def _post(self, body: Dict[str, Any]) -> Optional[ForwardError]:
        """Create or update one score; the error when Langfuse did not take it."""
        try:
            self._client.request("POST", SCORES_PATH, body=body)
        except ForwardError as error:
            return error
        return None

    @staticmethod
    def _count(error: Optional[ForwardError], result: ForwardResult) -> bool:
        """Count one request's outcome; False when Langfuse refused the keys."""
        if error is None:
            result.sent += 1
            return True
        result.failed += 1
        result.add_error(str(error), error.kind)
        return not is_auth_failure(error)

    def score_body(self, record: ScoreRecord) -> Optional[Dict[str, Any]]:
        """The request body for one score, or None when it has no target Langfuse accepts."""
        target = _target(record)
        if target is None:
            return None
        body: Dict[str, Any] = {"id": record.id, "name": record.name, **target}
        body["dataType"] = record.data_type
        body["value"] = _value(record)
        if record.comment is not None:
            body["comment"] = record.comment
        if self.send_config_ids and record.config_id is not None:
            body["configId"] = record.config_id
        metadata = score_metadata(record, with_config_id=not self.send_config_ids)
        if metadata:
            body["metadata"] = metadata
        return body


def _target(record: ScoreRecord) -> Optional[Dict[str, str]]:
    # Langfuse accepts exactly one of traceId (with an optional observationId), sessionId and
    # datasetRunId, so the scope alone decides; a trace score's session stays on the trace.
    if record.scope == "span" and record.trace_id and record.observation_id:
        return {"traceId": record.trace_id, "observationId": record.observation_id}
    if record.scope == "trace" and record.trace_id:
        return {"traceId": record.trace_id}
    if record.scope == "session" and record.session_id:
        return {"sessionId": record.session_id}
    if record.scope == "dataset_run" and record.dataset_run_id:
        return {"datasetRunId": record.dataset_run_id}
    return None


def _value(record: ScoreRecord) -> Any:
    if record.data_type == "CATEGORICAL":
        return record.string_value
    if record.data_type == "BOOLEAN":
        flag = boolean_value(record)
        return None if flag is None else (1 if flag else 0)
    return record.value
