"""otel-scoring: evaluation scores and run metadata as first-class OpenTelemetry data.

Public names are re-exported here; modules starting with an underscore are internal. Names are
imported on first use (PEP 562), because installing otel-scoring registers a pytest plugin and
every pytest run in the environment imports this package: it should cost next to nothing until
something is actually scored or configured.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:  # "X as X": an explicit re-export, so mypy --strict accepts `from otel_scoring import X`
    from otel_scoring._api import create_score as create_score, score_current_span as score_current_span, score_current_trace as score_current_trace
    from otel_scoring.configs import ScoreConfig as ScoreConfig, ScoreConfigRegistry as ScoreConfigRegistry
    from otel_scoring.configuration import configure as configure, delivery_processor as delivery_processor
    from otel_scoring.delivery import ScoreFirstSpanProcessor as ScoreFirstSpanProcessor
    from otel_scoring.errors import ScoreValidationError as ScoreValidationError
    from otel_scoring._metadata import MetadataBatch as MetadataBatch, MetadataBuilder as MetadataBuilder, ScopedMetadata as ScopedMetadata, metadata as metadata
    from otel_scoring._model import DataType as DataType, MetadataScope as MetadataScope, Scope as Scope
    from otel_scoring.processor import ScoringSpanProcessor as ScoringSpanProcessor
    from otel_scoring.records import MetadataRecord as MetadataRecord, ScoreRecord as ScoreRecord

_EXPORTS = {
    "DataType": "otel_scoring._model",
    "MetadataBatch": "otel_scoring._metadata",
    "MetadataBuilder": "otel_scoring._metadata",
    "MetadataRecord": "otel_scoring.records",
    "MetadataScope": "otel_scoring._model",
    "ScopedMetadata": "otel_scoring._metadata",
    "Scope": "otel_scoring._model",
    "ScoreConfig": "otel_scoring.configs",
    "ScoreConfigRegistry": "otel_scoring.configs",
    "ScoreFirstSpanProcessor": "otel_scoring.delivery",
    "ScoreRecord": "otel_scoring.records",
    "ScoreValidationError": "otel_scoring.errors",
    "ScoringSpanProcessor": "otel_scoring.processor",
    "configure": "otel_scoring.configuration",
    "create_score": "otel_scoring._api",
    "delivery_processor": "otel_scoring.configuration",
    "metadata": "otel_scoring._metadata",
    "score_current_span": "otel_scoring._api",
    "score_current_trace": "otel_scoring._api",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'otel_scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
