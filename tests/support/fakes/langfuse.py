"""A local Langfuse public scores API, as Langfuse's server behaves (web/src/pages/api/public/scores).

- Basic auth with the project's public and secret key; anything else is 401 ``{"message": ...}``.
- ``POST /api/public/scores`` validates like ``PostScoresBody``: a non-empty ``name``; exactly one of
  ``traceId`` (with an optional ``observationId``), ``sessionId``, ``datasetRunId``; ``value`` a
  number for NUMERIC, 0 or 1 for BOOLEAN, a string for CATEGORICAL (400 otherwise); a ``configId``
  the project does not have is 404. It upserts by ``id`` (a new id when none is given) and answers
  200 ``{"id": ...}``.
- ``GET /api/public/scores/{id}`` returns a stored score or 404.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional

from support.fakes.http_server import FakeJsonServer, HttpError, Reply

SCORES_PATH = "/api/public/scores"
_TARGET_FIELDS = ("traceId", "sessionId", "datasetRunId")


class FakeLangfuse(FakeJsonServer):
    def __init__(
        self, public_key: str = "pk-lf-test", secret_key: str = "sk-lf-test", config_ids: Iterable[str] = (), tls: Optional[ssl.SSLContext] = None
    ) -> None:
        super().__init__(tls)
        self.public_key = public_key
        self.secret_key = secret_key
        self.config_ids = set(config_ids)
        self.scores: Dict[str, Dict[str, Any]] = {}

    def handle(self, method: str, path: str, query: Mapping[str, List[str]], headers: Mapping[str, str], body: Any) -> Reply:
        self._authenticate(headers.get("authorization", ""))
        if path == SCORES_PATH and method == "POST":
            return 200, {"id": self._upsert(body)}
        if path.startswith(SCORES_PATH + "/") and method == "GET":
            score = self.scores.get(path[len(SCORES_PATH) + 1 :])
            if score is None:
                raise HttpError(404, {"message": "Score not found within authorized project"})
            return 200, score
        raise HttpError(404, {"message": "Not found"})

    def _authenticate(self, authorization: str) -> None:
        expected = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        if authorization != f"Basic {expected}":
            raise HttpError(401, {"message": "Invalid credentials. Confirm that you've configured the correct host."})

    def _upsert(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise HttpError(400, {"message": "Invalid request data"})
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise HttpError(400, {"message": "Invalid request data", "error": "name: must be a non-empty string"})
        targets = [field for field in _TARGET_FIELDS if body.get(field)]
        if len(targets) != 1 or (body.get("observationId") and targets != ["traceId"]):
            raise HttpError(400, {
                "message": "Provide exactly one of the following: traceId (with optional observationId), "
                "sessionId or datasetRunId. ObservationId requires traceId."
            })
        data_type, value = body.get("dataType"), body.get("value")
        valid = {
            "NUMERIC": isinstance(value, (int, float)) and not isinstance(value, bool),
            "BOOLEAN": value in (0, 1) and not isinstance(value, bool),
            "CATEGORICAL": isinstance(value, str),
            None: isinstance(value, (int, float, str)) and not isinstance(value, bool),
        }.get(data_type, False)
        if not valid:
            raise HttpError(400, {"message": "Invalid request data", "error": f"value {value!r} invalid for {data_type}"})
        if body.get("configId") and body["configId"] not in self.config_ids:
            raise HttpError(404, {"message": "The configId you provided does not match a valid config in this project"})
        score_id = body.get("id") or str(uuid.uuid4())
        self.scores[score_id] = {**body, "id": score_id, "source": "API"}
        return score_id
