"""Every name otel-scoring writes on the wire, in one place.

Scores travel as the OpenTelemetry GenAI ``gen_ai.evaluation.result`` span event, with the
convention's own attributes where it has them and the ``otel_scoring.`` namespace for the rest.
Metadata travels as span attributes (for search) plus one event per update (so kinds, batches and
history can be rebuilt). ``docs/schema.md`` mirrors this module; ``tests/test_schema.py`` fails
when the two disagree.

Names built from user input (a score name, a metadata kind and key) are made by the functions at
the bottom, never by string formatting elsewhere.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Tuple

__all__ = [
    "BOOLEAN_LABELS",
    "CARRIER",
    "CARRIER_SPAN_NAME",
    "DATA_TYPES",
    "EVALUATION_RESULT_EVENT",
    "GEN_AI_EVALUATION_EXPLANATION",
    "GEN_AI_EVALUATION_NAME",
    "GEN_AI_EVALUATION_SCORE_LABEL",
    "GEN_AI_EVALUATION_SCORE_VALUE",
    "GEN_AI_RESPONSE_ID",
    "HAS_METADATA",
    "HAS_SCORES",
    "INSTRUMENTATION_SCOPE",
    "METADATA_ATTRIBUTE_PREFIX",
    "METADATA_SCOPES",
    "METADATA_UPDATE_EVENT",
    "METADATA_UPDATE_INDEX",
    "METADATA_UPDATE_KIND",
    "METADATA_UPDATE_MEMO_ID",
    "METADATA_UPDATE_SCOPE",
    "METADATA_UPDATE_SPAN_ID",
    "METADATA_UPDATE_TIMESTAMP",
    "METADATA_UPDATE_TRACE_ID",
    "METADATA_UPDATE_VALUES",
    "NAMESPACE",
    "OPENINFERENCE_ANNOTATION_PREFIX",
    "SCORE_CONFIG_ID",
    "SCORE_DATASET_RUN_ID",
    "SCORE_DATA_TYPE",
    "SCORE_ID",
    "SCORE_LABEL_ATTRIBUTE_PREFIX",
    "SCORE_METADATA",
    "SCORE_SCOPE",
    "SCORE_SCOPES",
    "SCORE_SESSION_ID",
    "SCORE_SOURCE",
    "SCORE_SPAN_ID",
    "SCORE_TIMESTAMP",
    "SCORE_TRACE_ID",
    "SCORE_VALUE_ATTRIBUTE_PREFIX",
    "format_span_id",
    "format_timestamp",
    "format_trace_id",
    "metadata_attribute",
    "parse_timestamp",
    "score_label_attribute",
    "score_value_attribute",
]

NAMESPACE = "otel_scoring"

# --- Score event (OpenTelemetry GenAI semantic conventions) -------------------------------------
EVALUATION_RESULT_EVENT = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
# Read (never written): other tools correlate an evaluation with a completion by response id.
GEN_AI_RESPONSE_ID = "gen_ai.response.id"

# --- Score event: what the convention lacks -----------------------------------------------------
SCORE_ID = "otel_scoring.score.id"
SCORE_DATA_TYPE = "otel_scoring.score.data_type"
SCORE_SCOPE = "otel_scoring.score.scope"
SCORE_CONFIG_ID = "otel_scoring.score.config_id"
SCORE_SOURCE = "otel_scoring.score.source"
SCORE_SESSION_ID = "otel_scoring.score.session_id"
SCORE_DATASET_RUN_ID = "otel_scoring.score.dataset_run_id"
SCORE_METADATA = "otel_scoring.score.metadata"
SCORE_TIMESTAMP = "otel_scoring.score.timestamp"
# The deployment environment a score belongs to (Langfuse's ``environment``), under the
# semantic conventions' resource attribute name.
SCORE_ENVIRONMENT = "deployment.environment.name"
# The scored trace and span as lowercase hex, so a score reads the same whichever span carries it
# (the scored span itself, the trace's root, or a carrier span) and whatever the backend did to
# parent/child references.
SCORE_TRACE_ID = "otel_scoring.score.trace_id"
SCORE_SPAN_ID = "otel_scoring.score.span_id"
# On a log-based event (configure(events="logs"/"both")), score or metadata update: the name of
# the span it was recorded on, which a span event's record takes from the span carrying it and a
# log record has no field for. Absent when it was carried (for a span or run not open here).
LOG_SPAN_NAME = "otel_scoring.span_name"

# --- Span attributes on a span that carries scores or metadata ----------------------------------
# Booleans a Collector filter or a tag search can key on without reading events.
HAS_SCORES = "otel_scoring.has_scores"
HAS_METADATA = "otel_scoring.has_metadata"
# A short span that exists only to carry scores or metadata for a span that had already ended,
# lives in another process, or is known only by ids. Child of the target, with one link to it.
CARRIER = "otel_scoring.carrier"
CARRIER_SPAN_NAME = "otel_scoring.carrier"
INSTRUMENTATION_SCOPE = "otel_scoring"

# Latest value / label per score name, by scope: otel_scoring.<scope>_score.value.<name>
SCORE_VALUE_ATTRIBUTE_PREFIX = "otel_scoring.{scope}_score.value."
SCORE_LABEL_ATTRIBUTE_PREFIX = "otel_scoring.{scope}_score.label."

# --- Metadata -----------------------------------------------------------------------------------
METADATA_UPDATE_EVENT = "otel_scoring.metadata.update"
METADATA_UPDATE_KIND = "otel_scoring.metadata_update.kind"
METADATA_UPDATE_MEMO_ID = "otel_scoring.metadata_update.memo_id"
METADATA_UPDATE_INDEX = "otel_scoring.metadata_update.index"
METADATA_UPDATE_SCOPE = "otel_scoring.metadata_update.scope"
METADATA_UPDATE_VALUES = "otel_scoring.metadata_update.values"
METADATA_UPDATE_TRACE_ID = "otel_scoring.metadata_update.trace_id"
METADATA_UPDATE_SPAN_ID = "otel_scoring.metadata_update.span_id"
METADATA_UPDATE_TIMESTAMP = "otel_scoring.metadata_update.timestamp"
# Searchable copy of each value: otel_scoring.metadata.<kind>.<key>
METADATA_ATTRIBUTE_PREFIX = "otel_scoring.metadata."

# --- Written by the Langfuse drop-in's span wrapper (Langfuse's own names, which its OTLP
# endpoint reads): what span.update(input=..., output=..., metadata=...) was given, as JSON ------
LANGFUSE_OBSERVATION_TYPE = "langfuse.observation.type"
LANGFUSE_OBSERVATION_INPUT = "langfuse.observation.input"
LANGFUSE_OBSERVATION_OUTPUT = "langfuse.observation.output"
LANGFUSE_OBSERVATION_METADATA = "langfuse.observation.metadata"
LANGFUSE_OBSERVATION_LEVEL = "langfuse.observation.level"
LANGFUSE_OBSERVATION_STATUS_MESSAGE = "langfuse.observation.status_message"
LANGFUSE_OBSERVATION_MODEL = "langfuse.observation.model.name"
LANGFUSE_VERSION = "langfuse.version"

# --- Names read from other tools (never written) ------------------------------------------------
# What each form means and which producer writes it: docs/schema.md, "What the translator reads".
OPENINFERENCE_ANNOTATION_PREFIX = "annotation."
# OpenInference indexed feedback: <prefix><i>.annotation.<field> and <prefix><i>.evaluation.<field>
# (field: name, score, label, explanation, annotator_kind, identifier, metadata), by scope.
OPENINFERENCE_SPAN_ANNOTATIONS = "annotations."
OPENINFERENCE_SPAN_EVALUATIONS = "evaluations."
OPENINFERENCE_TRACE_ANNOTATIONS = "trace.annotations."
OPENINFERENCE_TRACE_EVALUATIONS = "trace.evaluations."
OPENINFERENCE_SESSION_ANNOTATIONS = "session.annotations."
OPENINFERENCE_SESSION_EVALUATIONS = "session.evaluations."
OPENINFERENCE_SESSION_ID = "session.id"
# A log record's event name as SDKs wrote it before LogRecord.event_name existed.
LOG_EVENT_NAME = "event.name"
LOGFIRE_SPAN_TYPE = "logfire.span_type"
LOGFIRE_FEEDBACK_NAME = "logfire.feedback.name"
LOGFIRE_FEEDBACK_COMMENT = "logfire.feedback.comment"
BRAINTRUST_SCORES = "braintrust.scores"
# Braintrust's span facts, a JSON object; "type": "score" marks a scorer's span (it scores its parent).
BRAINTRUST_SPAN_ATTRIBUTES = "braintrust.span_attributes"
# pydantic-evals case span attributes (JSON objects of name -> result) and the data type of each.
PYDANTIC_EVALS_RESULTS = (("scores", "NUMERIC"), ("labels", "CATEGORICAL"), ("assertions", "BOOLEAN"))

# --- Enumerations written as strings ------------------------------------------------------------
DATA_TYPES = ("NUMERIC", "CATEGORICAL", "BOOLEAN")
SCORE_SCOPES = ("span", "trace", "session", "dataset_run")
METADATA_SCOPES = ("run", "span")
BOOLEAN_LABELS = {True: "true", False: "false"}


def score_value_attribute(scope: str, name: str) -> str:
    """The span attribute holding the latest numeric value of score ``name`` at ``scope``."""
    return SCORE_VALUE_ATTRIBUTE_PREFIX.format(scope=scope) + name


def score_label_attribute(scope: str, name: str) -> str:
    """The span attribute holding the latest label of score ``name`` at ``scope``."""
    return SCORE_LABEL_ATTRIBUTE_PREFIX.format(scope=scope) + name


def metadata_attribute(kind: str, key: str) -> str:
    """The span attribute holding metadata ``key`` of ``kind``."""
    return f"{METADATA_ATTRIBUTE_PREFIX}{kind}.{key}"


def format_trace_id(trace_id: int) -> str:
    """32 lowercase hex digits, as W3C trace context and OTLP JSON write a trace id."""
    try:  # the bytes' hex: the same digits at half the cost of format()'s mini-language
        return trace_id.to_bytes(16, "big").hex()
    except OverflowError:  # negative or wider than 128 bits: format() writes it as it is
        return format(trace_id, "032x")


def format_span_id(span_id: int) -> str:
    """16 lowercase hex digits, as W3C trace context and OTLP JSON write a span id."""
    try:
        return span_id.to_bytes(8, "big").hex()
    except OverflowError:
        return format(span_id, "016x")


# --- Timestamps (otel_scoring.score.timestamp, otel_scoring.metadata_update.timestamp) ----------

# The text up to the second of the last timestamp formatted: scores come many to a second, and
# formatting only the microseconds is a fraction of the cost. A (key, text) tuple is swapped whole,
# so threads never see a half-updated pair.
_last_second: Tuple[Tuple[int, ...], str] = ((), "")
_ISO_PARSER_READS_Z = sys.version_info >= (3, 11)  # and gives timezone.utc for it


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``: exact, sortable, and readable in any trace UI."""
    global _last_second
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    key = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    cached_key, prefix = _last_second
    if cached_key != key:
        prefix = "%04d-%02d-%02dT%02d:%02d:%02d." % key
        _last_second = (key, prefix)
    # Six digits by dropping the leading 1 of 1 000 000 + µs: cheaper than "%06d" formatting.
    return prefix + str(1_000_000 + moment.microsecond)[1:] + "Z"


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from :func:`format_timestamp`'s format, or from any ISO 8601 time
    (``Z`` or an offset; a naive one is taken as UTC). ``ValueError`` if it is neither."""
    if len(text) == 27 and text[10] == "T" and text[26] == "Z" and text[19] == ".":
        # Our own format: the C ISO parser is ten times strptime's speed.
        if _ISO_PARSER_READS_Z:
            return datetime.fromisoformat(text)
        return datetime.fromisoformat(text[:26]).replace(tzinfo=timezone.utc)
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
