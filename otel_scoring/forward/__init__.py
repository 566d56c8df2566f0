"""Forward score records to the tools people already look at: Phoenix, MLflow, Langfuse.

Records come from the translator (or the store); each destination gets them in its own model —
Phoenix span/trace/session annotations, MLflow feedback assessments, Langfuse scores — keyed by
the score id, so a retry or a re-send updates instead of duplicating. Requests retry with
exponential backoff on connection errors, 429 and 5xx (bounded in attempts and time), never on
other 4xx. Nothing here raises into the caller: failures are counted in a :class:`ForwardResult`
and logged once.

    from otel_scoring.forward import build_forwarder, forward_records
    forwarders = [build_forwarder("phoenix=http://localhost:6006")]
    results = forward_records(translation, forwarders)

:class:`ForwardingSink` does the same in the background for a receiver that stores batches.
"""

from otel_scoring.forward._base import Forwarder, ForwardResult
from otel_scoring.forward._http import ForwardError, RetryPolicy
from otel_scoring.forward._sink import ForwardingSink, forward_records
from otel_scoring.forward._spec import DESTINATIONS, build_forwarder
from otel_scoring.forward.langfuse import LangfuseForwarder
from otel_scoring.forward.mlflow import MLflowForwarder, mlflow_trace_id
from otel_scoring.forward.phoenix import PhoenixForwarder

__all__ = [
    "DESTINATIONS",
    "ForwardError",
    "ForwardResult",
    "Forwarder",
    "ForwardingSink",
    "LangfuseForwarder",
    "MLflowForwarder",
    "PhoenixForwarder",
    "RetryPolicy",
    "build_forwarder",
    "forward_records",
    "mlflow_trace_id",
]
