"""Environment variables otel-scoring reads. Each constant's name equals its value.

Settings resolve in one order everywhere: keyword argument, then environment variable, then the
default. The standard ``OTEL_*`` variables (endpoint, protocol, headers, service name, ...) are read
by the OpenTelemetry SDK and exporters themselves.
"""

__all__ = [
    "LANGFUSE_BASE_URL",
    "LANGFUSE_HOST",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "OTEL_SCORING_DB",
    "OTEL_SCORING_ENABLED",
    "OTEL_SCORING_EVENTS",
    "OTEL_SCORING_LANGFUSE_SEND_CONFIG_IDS",
    "OTEL_SCORING_MAX_TRACKED_SPANS",
    "OTEL_SCORING_RAISE_INTERNAL_ERRORS",
    "OTEL_SCORING_RECEIVER_TOKEN",
    "OTEL_SCORING_REDACT_KEYS",
    "OTEL_SCORING_SCORE_CONFIGS",
    "OTEL_SCORING_SPOOL_DIR",
    "OTEL_SCORING_SPOOL_MAX_BYTES",
    "OTEL_SCORING_STRICT",
    "PHOENIX_API_KEY",
    "PHOENIX_COLLECTOR_ENDPOINT",
]

OTEL_SCORING_STRICT = "OTEL_SCORING_STRICT"
"""``true`` makes invalid scores and metadata raise ``ScoreValidationError`` instead of warning."""

OTEL_SCORING_SCORE_CONFIGS = "OTEL_SCORING_SCORE_CONFIGS"
"""Path of a JSON or YAML file of score configs, loaded by ``ScoringSpanProcessor``."""

OTEL_SCORING_MAX_TRACKED_SPANS = "OTEL_SCORING_MAX_TRACKED_SPANS"
"""How many open local roots, ended roots and recently ended spans the processor remembers (each)."""

OTEL_SCORING_EVENTS = "OTEL_SCORING_EVENTS"
"""How scores and metadata updates are recorded: ``spans`` (span events, the default: what Jaeger,
Phoenix and MLflow read), ``logs`` (log-based events through the Logs SDK, OTEP 4430) or ``both``."""

OTEL_SCORING_ENABLED = "OTEL_SCORING_ENABLED"
"""``true`` adds ``ScoringSpanProcessor`` to the tracer provider ``opentelemetry-instrument`` built,
so an unmodified app records scores (zero-code; see ``docs/zero-code.md``). Default false."""

OTEL_SCORING_KEEP_LATE_SCORES = "OTEL_SCORING_KEEP_LATE_SCORES"
"""``true`` carries every late score, even for a trace the configured sampler drops. Default
false: a late score's carrier span is kept only when the sampler keeps its trace."""

OTEL_SCORING_WARNING_INTERVAL = "OTEL_SCORING_WARNING_INTERVAL"
"""Seconds within which a repeated, identical otel-scoring warning is logged once (default 60;
the next one says how many were not logged). 0 logs every one."""

OTEL_SCORING_RAISE_INTERNAL_ERRORS = "OTEL_SCORING_RAISE_INTERNAL_ERRORS"
"""``true`` re-raises internal errors instead of logging them. Set by otel-scoring's own test
suite so bugs stay loud; never set it in production."""

OTEL_SCORING_DB = "OTEL_SCORING_DB"
"""Path of the SQLite score store the ``otel-scoring`` CLI writes and reads (default
``./otel-scoring.db``)."""

OTEL_SCORING_RECEIVER_TOKEN = "OTEL_SCORING_RECEIVER_TOKEN"
"""Bearer token the embedded OTLP receiver (``otel-scoring serve``, ``OTLPReceiver``) requires of
every export, as ``Authorization: Bearer <token>``. Unset: no authentication."""

OTEL_SCORING_REDACT_KEYS = "OTEL_SCORING_REDACT_KEYS"
"""Comma-separated glob patterns (``*password*,card_*``) of metadata keys whose values
``ScoringSpanProcessor`` replaces with ``"[REDACTED]"`` before they reach a span."""

# --- Forwarding to other tools (otel_scoring.forward) -------------------------------------------
OTEL_SCORING_LANGFUSE_SEND_CONFIG_IDS = "OTEL_SCORING_LANGFUSE_SEND_CONFIG_IDS"
"""``true`` sends each score's ``config_id`` to Langfuse as ``configId``. Only for score configs
whose ids are Langfuse score-config ids: Langfuse rejects a score whose ``configId`` it does not
know. Off by default; the config id then travels in the score's metadata."""

# Names defined by the tools themselves, read the way their own SDKs read them.
PHOENIX_COLLECTOR_ENDPOINT = "PHOENIX_COLLECTOR_ENDPOINT"
"""Phoenix's base URL, used when ``phoenix`` is given without a URL."""

PHOENIX_API_KEY = "PHOENIX_API_KEY"
"""Phoenix API key, sent as ``Authorization: Bearer``; only needed when Phoenix has auth on."""

MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
"""MLflow tracking server URL, used when ``mlflow`` is given without a URL."""

MLFLOW_TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"
"""MLflow bearer token (takes precedence over username and password)."""

MLFLOW_TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME"
"""MLflow basic-auth user name, with ``MLFLOW_TRACKING_PASSWORD``."""

MLFLOW_TRACKING_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
"""MLflow basic-auth password."""

LANGFUSE_PUBLIC_KEY = "LANGFUSE_PUBLIC_KEY"
"""Langfuse public key (basic-auth user name)."""

LANGFUSE_SECRET_KEY = "LANGFUSE_SECRET_KEY"
"""Langfuse secret key (basic-auth password)."""

LANGFUSE_BASE_URL = "LANGFUSE_BASE_URL"
"""Langfuse URL, used when ``langfuse`` is given without a URL (``LANGFUSE_HOST`` is the older name)."""

LANGFUSE_HOST = "LANGFUSE_HOST"
"""Older name of ``LANGFUSE_BASE_URL``, still read by Langfuse's SDKs."""

# --- Score-first delivery (otel_scoring.delivery) -----------------------------------------------
OTEL_SCORING_SPOOL_DIR = "OTEL_SCORING_SPOOL_DIR"
"""Directory where ``configure()`` spools score-carrying spans the collector did not take, to
resend them (also after a restart). Unset: no spool; undelivered scores are retried from memory."""

OTEL_SCORING_SPOOL_MAX_BYTES = "OTEL_SCORING_SPOOL_MAX_BYTES"
"""Most bytes the spool directory may hold (default 64 MiB); past it, new requests are dropped."""

OTEL_SCORING_MAX_SCORED_BYTES = "OTEL_SCORING_MAX_SCORED_BYTES"
"""Most bytes (estimated) of score-carrying spans the delivery queue holds while the collector
catches up (default 64 MiB); past it the oldest are spilled to the spool, or dropped and logged."""

OTEL_SCORING_MAX_BLOCK_MILLIS = "OTEL_SCORING_MAX_BLOCK_MILLIS"
"""Opt-in backpressure without a spool: how long ending a score-carrying span may wait for room in
a full score lane before the oldest score is dropped (default 0: never block the application)."""
