"""Forward scores to MLflow 3 as feedback assessments on traces and spans (REST ``/api/3.0``).

Trace ids: MLflow names a trace it received over OTLP (``POST /v1/traces`` with the
``x-mlflow-experiment-id`` header) ``tr-`` followed by the 32 hex digits of the OpenTelemetry trace
id, so a score on trace ``4bf9...4736`` goes to MLflow trace ``tr-4bf9...4736``; span ids are the
16 hex digits unchanged. (Traces that MLflow's own SDK created with another id scheme are not
found and count as failed.)

Mapping (MLflow's assessment model: name, source, feedback value, rationale, string metadata):

- a ``span`` score becomes a feedback assessment with ``span_id`` on the scored span, a ``trace``
  score one on the trace. Session and dataset-run scores are skipped: MLflow assessments belong to
  a trace.
- value → ``feedback.value`` (a number for NUMERIC, true/false for BOOLEAN, the label for
  CATEGORICAL), comment → ``rationale``, the score's timestamp → ``create_time``; the source type
  is ``HUMAN``, ``LLM_JUDGE`` or ``CODE`` from the score's source, the source id the service that
  recorded the score.
- ``metadata`` (strings only in MLflow) holds the score id under ``otel_scoring.score.id``, the
  data type and config id, and the score's own metadata (non-string values as JSON).

Idempotency: MLflow gives assessments its own ids, so the forwarder reads the trace's assessments
(``GET /api/3.0/mlflow/traces/{trace_id}``) and updates the one whose metadata carries the score
id (``PATCH .../assessments/{assessment_id}``) instead of creating another. A retried create
reads the trace again first, so a create whose answer was lost is never made twice.

Metadata updates of a run become trace tags (``PATCH /api/3.0/mlflow/traces/{trace_id}/tags``)
named ``otel_scoring.metadata.<kind>.<key>``, like the span attributes; span-scoped updates are
skipped (MLflow has no span tags).
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

from otel_scoring._settings import resolve_str
from otel_scoring.environment_variables import (
    MLFLOW_TRACKING_PASSWORD,
    MLFLOW_TRACKING_TOKEN,
    MLFLOW_TRACKING_URI,
    MLFLOW_TRACKING_USERNAME,
)
from otel_scoring.forward._base import ClosingForwarder, FailureLog, ForwardResult, forward_guarded, score_author
from otel_scoring.forward._http import (
    DEFAULT_TIMEOUT_SECONDS,
    ForwardError,
    JsonHttpClient,
    RetryPolicy,
    call_with_retries,
    is_auth_failure,
)
from otel_scoring.forward._mapping import as_text, boolean_value, score_metadata
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.schema import SCORE_DATA_TYPE, SCORE_ID, format_timestamp, metadata_attribute

__all__ = ["DEFAULT_SOURCE_ID", "TRACE_ID_PREFIX", "MLflowForwarder", "mlflow_trace_id"]

_logger = logging.getLogger(__name__)

TRACE_ID_PREFIX = "tr-"  # MLflow's trace id for an OpenTelemetry trace: "tr-" + 32 hex digits
DEFAULT_SOURCE_ID = "otel-scoring"
_SOURCE_TYPES = {"HUMAN": "HUMAN", "LLM": "LLM_JUDGE", "CODE": "CODE"}
_UPDATE_MASK = "feedback,rationale,metadata"


def mlflow_trace_id(trace_id: str) -> str:
    """MLflow's id of the OpenTelemetry trace ``trace_id`` (32 hex digits)."""
    return TRACE_ID_PREFIX + trace_id


class MLflowForwarder(ClosingForwarder):
    """Writes scores to an MLflow tracking server as feedback assessments."""

    destination = "mlflow"

    def __init__(
        self,
        tracking_uri: Optional[str] = None,
        *,
        token: Optional[str] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_policy: Optional[RetryPolicy] = None,
    ) -> None:
        """``tracking_uri`` is the tracking server's URL, default ``MLFLOW_TRACKING_URI``; auth is
        ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD`` (basic)."""
        uri = resolve_str(tracking_uri, MLFLOW_TRACKING_URI)
        if not uri:
            raise ValueError(f"MLflow needs a tracking server URL: mlflow=http://host:5000 or {MLFLOW_TRACKING_URI}")
        if not uri.startswith(("http://", "https://")):
            raise ValueError(f"MLflow forwarding needs an http(s) tracking server, got {uri!r}")
        bearer = resolve_str(token, MLFLOW_TRACKING_TOKEN)
        user = resolve_str(username, MLFLOW_TRACKING_USERNAME)
        secret = resolve_str(password, MLFLOW_TRACKING_PASSWORD)
        headers: Dict[str, str] = {}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        elif user and secret:
            credentials = base64.b64encode(f"{user}:{secret}".encode("utf-8")).decode("ascii")
            headers["Authorization"] = f"Basic {credentials}"
        self.endpoint = uri.strip().rstrip("/")
        self._client = JsonHttpClient(
            self.endpoint, headers=headers, timeout_seconds=timeout_seconds, retry_policy=retry_policy
        )
        self._failures = FailureLog(_logger, f"MLflow at {self.endpoint}")

    def __repr__(self) -> str:
        return f"MLflowForwarder({self.endpoint!r})"

    def forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord]) -> ForwardResult:
        """Create or update one assessment per score and one tag per run metadata value; never raises."""
        return forward_guarded(self.destination, "MLflow", self._failures, self._forward, scores, metadata)

    def _forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord], result: ForwardResult) -> None:
        by_trace: "OrderedDict[str, List[ScoreRecord]]" = OrderedDict()
        for record in scores:
            if record.scope in ("span", "trace") and record.trace_id and (record.scope == "trace" or record.observation_id):
                by_trace.setdefault(record.trace_id, []).append(record)
            else:
                result.skipped += 1
                _logger.debug("MLflow: score %s (%s, scope %s) is not on a trace; skipped.", record.id, record.name, record.scope)
        for trace_id, records in by_trace.items():
            if not self._forward_trace(trace_id, records, result):
                return  # auth failure: every other request would fail the same way
        for update in metadata:
            if update.scope != "run" or not update.trace_id:
                result.metadata_skipped += 1
                continue
            if not self._set_tags(update, result):
                return

    def _forward_trace(self, trace_id: str, records: Sequence[ScoreRecord], result: ForwardResult) -> bool:
        trace = mlflow_trace_id(trace_id)
        try:
            existing = self._existing_assessments(trace)
        except ForwardError as error:
            result.failed += len(records)
            result.add_error(_trace_error(trace, error), error.kind)
            return not is_auth_failure(error)
        for record in records:
            try:
                call_with_retries(
                    lambda attempt, record=record: self._upsert(trace, record, existing, attempt),
                    self._client.retry_policy,
                    f"MLflow assessment for score {record.id}",
                )
            except ForwardError as error:
                result.failed += 1
                result.add_error(_trace_error(trace, error), error.kind)
                if is_auth_failure(error):
                    return False
                continue
            result.sent += 1
        return True

    def _existing_assessments(self, trace: str, retry: bool = True) -> Dict[str, str]:
        """Score id -> assessment id, for the assessments this forwarder made on ``trace``."""
        reply = self._client.request("GET", f"/api/3.0/mlflow/traces/{_quote(trace)}", retry=retry)
        assessments = (((reply or {}).get("trace") or {}).get("trace_info") or {}).get("assessments") or []
        found: Dict[str, str] = {}
        for assessment in assessments:
            score_id = (assessment.get("metadata") or {}).get(SCORE_ID)
            if score_id and assessment.get("assessment_id"):
                found[score_id] = assessment["assessment_id"]
        return found

    def _upsert(self, trace: str, record: ScoreRecord, existing: Dict[str, str], attempt: int) -> None:
        if attempt > 1 and record.id not in existing:
            # The previous attempt may have created the assessment before its answer was lost.
            existing.update(self._existing_assessments(trace, retry=False))
        assessment = self.assessment(trace, record)
        assessment_id = existing.get(record.id)
        base = f"/api/3.0/mlflow/traces/{_quote(trace)}/assessments"
        if assessment_id is not None:
            self._client.request(
                "PATCH",
                f"{base}/{_quote(assessment_id)}",
                body={"assessment": assessment, "update_mask": _UPDATE_MASK},
                retry=False,
            )
            return
        reply = self._client.request("POST", base, body={"assessment": assessment}, retry=False)
        created = ((reply or {}).get("assessment") or {}).get("assessment_id")
        if created:
            existing[record.id] = created

    def assessment(self, trace: str, record: ScoreRecord) -> Dict[str, Any]:
        """The MLflow assessment (proto JSON) for one score."""
        assessment: Dict[str, Any] = {
            "assessment_name": record.name,
            "trace_id": trace,
            "source": {
                "source_type": _SOURCE_TYPES[score_author(record.source)],
                "source_id": record.service_name or DEFAULT_SOURCE_ID,
            },
            "create_time": format_timestamp(record.timestamp),
            "feedback": {"value": _feedback_value(record)},
            "metadata": _assessment_metadata(record),
        }
        if record.scope == "span" and record.observation_id:
            assessment["span_id"] = record.observation_id
        if record.comment is not None:
            assessment["rationale"] = record.comment
        return assessment

    def _set_tags(self, update: MetadataRecord, result: ForwardResult) -> bool:
        trace = mlflow_trace_id(update.trace_id or "")
        try:
            for key, value in update.values.items():
                self._client.request(
                    "PATCH",
                    f"/api/3.0/mlflow/traces/{_quote(trace)}/tags",
                    body={"key": metadata_attribute(update.kind, key), "value": as_text(value)},
                )
        except ForwardError as error:
            result.metadata_failed += 1
            result.add_error(_trace_error(trace, error), error.kind)
            return not is_auth_failure(error)
        result.metadata_sent += 1
        return True


def _feedback_value(record: ScoreRecord) -> Any:
    if record.data_type == "CATEGORICAL":
        return record.string_value
    if record.data_type == "BOOLEAN":
        return boolean_value(record)
    return record.value


def _assessment_metadata(record: ScoreRecord) -> Dict[str, str]:
    metadata = {key: as_text(value) for key, value in score_metadata(record).items()}
    metadata[SCORE_ID] = record.id
    metadata[SCORE_DATA_TYPE] = record.data_type
    return metadata


def _trace_error(trace: str, error: ForwardError) -> str:
    if error.status == 404:
        return f"trace {trace} not found in MLflow (was it sent to this tracking server?): {error}"
    return str(error)


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
