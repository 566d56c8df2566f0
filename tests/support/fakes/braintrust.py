"""A local Braintrust API for the Braintrust Java SDK's ``Eval``, which cannot run without one.

Braintrust's server is not something the tests can run, so this answers the few REST calls Eval
makes before it traces, as Braintrust's API answers them (bearer API key, else 401):

- ``GET /v1/project?project_name=`` lists the one project; ``POST /api/apikey/login`` names its
  organization; ``POST /v1/experiment`` registers the experiment and returns it.
- ``POST /otel/v1/traces`` is Braintrust's OTLP ingestion: the SDK's own exporter sends its spans
  here. Nothing is faked there: the request is relayed byte for byte to otel-scoring's receiver,
  whose answer goes back to the SDK, and is written (uncompressed) to ``spans-<n>.bin`` and, in protobuf's JSON
  mapping as the Collector's file exporter writes it, ``spans.jsonl`` in ``out``.

Any other call is 404 and recorded, so a test can see that the SDK needed nothing more.
"""

from __future__ import annotations

import gzip
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, List, Mapping

from google.protobuf.json_format import MessageToJson, Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support.fakes.http_server import MAX_REQUEST_BYTES, FakeJsonServer, HttpError, Reply

TRACES_PATH = "/otel/v1/traces"
RELAY_TIMEOUT_SECONDS = 15


class FakeBraintrust(FakeJsonServer):
    def __init__(self, receiver_url: str, out: Path, api_key: str = "local-sink-key", project_name: str = "otel-scoring") -> None:
        super().__init__()
        self.receiver_url = receiver_url
        self.out = out
        self.api_key = api_key
        self.org = {"id": str(uuid.uuid4()), "name": "otel-scoring-tests"}
        self.project = {"id": str(uuid.uuid4()), "org_id": self.org["id"], "name": project_name, "created": "2026-01-01T00:00:00Z"}
        self.experiments: List[Any] = []
        self.unanswered: List[str] = []  # calls this sink does not know: the SDK wanted more of the API
        self._exports = 0
        self._files_lock = threading.Lock()

    def handle(self, method: str, path: str, query: Mapping[str, List[str]], headers: Mapping[str, str], body: Any) -> Reply:
        self._authenticate(headers)
        if (method, path) == ("GET", "/v1/project"):
            wanted = query.get("project_name", [self.project["name"]])[0]
            return 200, {"objects": [self.project] if wanted == self.project["name"] else []}
        if (method, path) == ("POST", "/api/apikey/login"):
            return 200, {"org_info": [self.org]}
        if (method, path) == ("POST", "/v1/experiment"):
            experiment = {"id": str(uuid.uuid4()), "project_id": body["project_id"], "name": body["name"], "created": "2026-01-01T00:00:00Z", "public": False}
            self.experiments.append(experiment)
            return 200, experiment
        self.unanswered.append(f"{method} {path}")
        raise HttpError(404, {"error": f"no such route: {method} {path}"})

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            raise HttpError(401, {"error": "Invalid API key"})

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.command != "POST" or handler.path.split("?")[0] != TRACES_PATH:
            return super()._answer(handler)
        try:
            self._authenticate({key.lower(): value for key, value in handler.headers.items()})
        except HttpError as error:
            self.unanswered.append(f"{handler.command} {TRACES_PATH} unauthenticated")
            return _reply(handler, error.status, "application/json", b'{"error": "Invalid API key"}')
        body = handler.rfile.read(min(int(handler.headers.get("Content-Length") or 0), MAX_REQUEST_BYTES))
        encoding = handler.headers.get("Content-Encoding", "")
        self._write_files(gzip.decompress(body) if encoding == "gzip" else body, handler.headers.get("Content-Type", ""))
        headers = {"Content-Type": handler.headers.get("Content-Type", "application/x-protobuf")}
        if encoding:
            headers["Content-Encoding"] = encoding
        relay = urllib.request.Request(self.receiver_url + "/v1/traces", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(relay, timeout=RELAY_TIMEOUT_SECONDS) as answer:
                status, content_type, payload = answer.status, answer.headers.get("Content-Type", ""), answer.read()
        except urllib.error.HTTPError as error:
            status, content_type, payload = error.code, error.headers.get("Content-Type", ""), error.read()
        _reply(handler, status, content_type, payload)

    def _write_files(self, body: bytes, content_type: str) -> None:
        request = ExportTraceServiceRequest()
        if content_type.startswith("application/json"):
            Parse(body, request)
            body = request.SerializeToString()
        else:
            request.ParseFromString(body)
        with self._files_lock:
            self._exports += 1
            (self.out / f"spans-{self._exports}.bin").write_bytes(body)
            with open(self.out / "spans.jsonl", "a", encoding="utf-8") as lines:
                lines.write(MessageToJson(request, indent=None) + "\n")


def _reply(handler: BaseHTTPRequestHandler, status: int, content_type: str, payload: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type or "application/octet-stream")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
