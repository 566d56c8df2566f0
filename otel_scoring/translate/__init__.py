"""The translator: trace data in any form it travels in → score and metadata records.

Every function is pure (no I/O, except :func:`records_from_file` reading its file) and returns a
:class:`Translation`. Scores are collapsed by id (the latest write wins) and sorted by timestamp;
data that is not understood is skipped. Only input that is not trace data at all raises
:class:`TranslationError`.

Forms read: SDK ``ReadableSpan`` objects, OTLP protobuf, OTLP JSON (one request or JSON lines, hex
or base64 ids, camelCase or snake_case keys), OTLP logs holding log-based events in each of those
encodings, Jaeger (legacy ``/api/traces`` and ``/api/v3``) and Tempo (``/api/traces`` and
``/api/v2/traces``). :func:`records_from_export` reads one export's body as the receiver gets it
and owns the rule of which spans and log records are rejected.
"""

from otel_scoring.translate._decode import GENAI_EVENT_SOURCE, OPENINFERENCE_SOURCE
from otel_scoring.translate._expected import expected_record
from otel_scoring.translate._readers import (
    LOGS,
    SIGNALS,
    TRACES,
    records_from_document,
    records_from_export,
    records_from_file,
    records_from_jaeger,
    records_from_otlp_json,
    records_from_otlp_logs,
    records_from_otlp_proto,
    records_from_spans,
    records_from_tempo,
)
from otel_scoring.translate._translation import Export, Translation, TranslationError

__all__ = [
    "Export",
    "GENAI_EVENT_SOURCE",
    "LOGS",
    "OPENINFERENCE_SOURCE",
    "SIGNALS",
    "TRACES",
    "Translation",
    "TranslationError",
    "expected_record",
    "records_from_document",
    "records_from_export",
    "records_from_file",
    "records_from_jaeger",
    "records_from_otlp_json",
    "records_from_otlp_logs",
    "records_from_otlp_proto",
    "records_from_spans",
    "records_from_tempo",
]
