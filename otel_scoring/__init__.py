"""otel-scoring: evaluation scores and run metadata as first-class OpenTelemetry data.

Public names are re-exported here; modules starting with an underscore are internal.
"""

from otel_scoring._api import create_score, score_current_span, score_current_trace
from otel_scoring.configs import ScoreConfig, ScoreConfigRegistry
from otel_scoring.configuration import configure
from otel_scoring.errors import ScoreValidationError
from otel_scoring.metadata import MetadataBatch, MetadataBuilder, ScopedMetadata, metadata
from otel_scoring.model import DataType, MetadataScope, Scope
from otel_scoring.processor import ScoringSpanProcessor
from otel_scoring.records import MetadataRecord, ScoreRecord

__all__ = [
    "DataType",
    "MetadataBatch",
    "MetadataBuilder",
    "MetadataRecord",
    "MetadataScope",
    "ScopedMetadata",
    "Scope",
    "ScoreConfig",
    "ScoreConfigRegistry",
    "ScoreRecord",
    "ScoreValidationError",
    "ScoringSpanProcessor",
    "configure",
    "create_score",
    "metadata",
    "score_current_span",
    "score_current_trace",
]
