"""A local MLflow 3 tracking server's trace and assessment REST API, as MLflow 3.x answers it.

Checked against a real ``mlflow server`` (3.17): traces ingested over OTLP are named ``tr-<hex>``;
``GET /api/3.0/mlflow/traces/{id}`` returns ``{"trace": {"trace_info": {..., "assessments": [...],
"tags": {...}}}}``; ``POST .../assessments`` answers ``{"assessment": {...}}`` with a new
``a-<hex>`` id; ``PATCH .../assessments/{id}`` applies the fields named in ``update_mask``;
``PATCH .../tags`` sets one tag; an unknown trace is 404 ``RESOURCE_DOES_NOT_EXIST``. Metadata is a
map of strings: the real server drops a metadata map holding a non-string value, and so does this
fake. With ``token`` set, requests without ``Authorization: Bearer <token>`` get 401.
"""

from __future__ import annotations

import copy
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional

from support.fakes.http_server import FakeJsonServer, HttpError, Reply

_TRACE = re.compile(r"^/api/3\.0/mlflow/traces/(?P<trace>[^/]+)(?P<rest>/.*)?$")
_ASSESSMENT = re.compile(r"^/assessments/(?P<assessment>[^/]+)$")
_FIELDS_BY_MASK = {"feedback": "feedback", "rationale": "rationale", "metadata": "metadata", "assessmentName": "assessment_name", "valid": "valid"}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeMLflow(FakeJsonServer):
    def __init__(self, token: Optional[str] = None) -> None:
        super().__init__()
        self.token = token
        self.traces: Dict[str, Dict[str, Any]] = {}

    def add_trace(self, otel_trace_id: str, experiment_id: str = "0") -> str:
        """Store a trace as MLflow does when it receives it over OTLP; its MLflow id."""
        trace_id = "tr-" + otel_trace_id
        self.traces[trace_id] = {"trace_id": trace_id, "experiment_id": experiment_id, "assessments": {}, "tags": {}}
        return trace_id

    def assessments(self, trace_id: str) -> List[Dict[str, Any]]:
        return [copy.deepcopy(a) for a in self.traces[trace_id]["assessments"].values()]

    def handle(self, method: str, path: str, query: Mapping[str, List[str]], headers: Mapping[str, str], body: Any) -> Reply:
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            raise HttpError(401, {"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."})
        match = _TRACE.match(path)
        if match is None:
            raise HttpError(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "Not found"})
        trace = self.traces.get(match["trace"])
        if trace is None:
            raise HttpError(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Trace with ID '{match['trace']}' not found."})
        rest = match["rest"] or ""
        if rest == "" and method == "GET":
            return 200, {"trace": {"trace_info": self._trace_info(trace)}}
        if rest == "/assessments" and method == "POST":
            return 200, {"assessment": self._create(trace, body)}
        assessment_match = _ASSESSMENT.match(rest)
        if assessment_match and method == "PATCH":
            return 200, {"assessment": self._update(trace, assessment_match["assessment"], body)}
        if rest == "/tags" and method == "PATCH":
            if not isinstance(body, dict) or not isinstance(body.get("key"), str):
                raise HttpError(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'key'."})
            trace["tags"][body["key"]] = str(body.get("value", ""))
            return 200, {}
        raise HttpError(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "Not found"})

    def _trace_info(self, trace: Dict[str, Any]) -> Dict[str, Any]:
        info: Dict[str, Any] = {
            "trace_id": trace["trace_id"],
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": trace["experiment_id"]}},
            "state": "OK",
            "tags": dict(trace["tags"]),
        }
        if trace["assessments"]:
            info["assessments"] = [copy.deepcopy(a) for a in trace["assessments"].values()]
        return info

    def _create(self, trace: Dict[str, Any], body: Any) -> Dict[str, Any]:
        proposed = body.get("assessment") if isinstance(body, dict) else None
        if not isinstance(proposed, dict):
            raise HttpError(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'assessment'."})
        assessment = copy.deepcopy(proposed)
        assessment["assessment_id"] = "a-" + uuid.uuid4().hex
        assessment["trace_id"] = trace["trace_id"]
        assessment.setdefault("create_time", _now())
        assessment["last_update_time"] = _now()
        assessment["valid"] = True
        _keep_string_metadata(assessment)
        trace["assessments"][assessment["assessment_id"]] = assessment
        return copy.deepcopy(assessment)

    def _update(self, trace: Dict[str, Any], assessment_id: str, body: Any) -> Dict[str, Any]:
        stored = trace["assessments"].get(assessment_id)
        if stored is None:
            raise HttpError(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Assessment with ID '{assessment_id}' not found."})
        if not isinstance(body, dict) or "assessment" not in body or "update_mask" not in body:
            raise HttpError(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'update_mask'."})
        for path in str(body["update_mask"]).split(","):
            field = _FIELDS_BY_MASK.get(path.strip())
            if field is None:
                raise HttpError(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Invalid update mask path {path!r}."})
            stored[field] = copy.deepcopy(body["assessment"].get(field))
        _keep_string_metadata(stored)
        stored["last_update_time"] = _now()
        return copy.deepcopy(stored)


def _keep_string_metadata(assessment: Dict[str, Any]) -> None:
    metadata = assessment.get("metadata")
    if metadata is None:
        assessment.pop("metadata", None)
    elif not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        assessment.pop("metadata", None)
