"""Environment variables otel-scoring reads. Each constant's name equals its value.

Settings resolve in one order everywhere: keyword argument, then environment variable, then the
default. The standard ``OTEL_*`` variables (endpoint, protocol, headers, service name, ...) are read
by the OpenTelemetry SDK and exporters themselves.
"""

OTEL_SCORING_STRICT = "OTEL_SCORING_STRICT"
"""``true`` makes invalid scores and metadata raise ``ScoreValidationError`` instead of warning."""

OTEL_SCORING_SCORE_CONFIGS = "OTEL_SCORING_SCORE_CONFIGS"
"""Path of a JSON or YAML file of score configs, loaded by ``ScoringSpanProcessor``."""

OTEL_SCORING_MAX_TRACKED_SPANS = "OTEL_SCORING_MAX_TRACKED_SPANS"
"""How many live spans, local roots and recently ended spans the processor remembers (each)."""

OTEL_SCORING_RAISE_INTERNAL_ERRORS = "OTEL_SCORING_RAISE_INTERNAL_ERRORS"
"""``true`` re-raises internal errors instead of logging them. Set by otel-scoring's own test
suite so bugs stay loud; never set it in production."""
