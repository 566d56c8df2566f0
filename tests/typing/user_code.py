"""A user's module that calls the whole public API; tests/test_typing.py runs mypy --strict on it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import List, Optional

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import (
    DataType,
    MetadataBatch,
    MetadataBuilder,
    MetadataRecord,
    MetadataScope,
    Scope,
    ScopedMetadata,
    ScoreConfig,
    ScoreConfigRegistry,
    ScoreFirstSpanProcessor,
    ScoreRecord,
    ScoreValidationError,
    ScoringSpanProcessor,
    configure,
    create_score,
    delivery_processor,
    metadata,
    score_current_span,
    score_current_trace,
)
from otel_scoring.langfuse import Langfuse, LangfuseSpan, get_client


def setup() -> TracerProvider:
    registry = ScoreConfigRegistry([ScoreConfig(id="c1", name="accuracy", data_type=DataType.NUMERIC, min_value=0, max_value=1)])
    provider: TracerProvider = configure(service_name="typed", span_exporter=InMemorySpanExporter(), score_configs=registry, set_global=False)
    extra = TracerProvider()
    extra.add_span_processor(ScoringSpanProcessor(tracer_provider=extra))
    extra.add_span_processor(ScoreFirstSpanProcessor(InMemorySpanExporter()))
    found: Optional[ScoreFirstSpanProcessor] = delivery_processor(provider)
    assert found is not None
    return provider


def score(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("typed")
    with tracer.start_as_current_span("run") as run:
        score_current_span(name="accuracy", value=0.9, data_type="NUMERIC", comment="ok", config_id="c1", metadata={"k": 1})
        score_current_span(name="quality", value=1, step="run", timestamp=datetime.now(timezone.utc), environment="prod")
        score_current_trace(name="guardrail-pass", value=True)
        otel_scoring.score_current_trace(name="label", value="good", score_id="s-1")
        builder: MetadataBuilder = metadata("memo")
        scoped: ScopedMetadata = builder.step()
        scoped.update({"a": 1}, kind="k")
        metadata.update({"b": 2})
        with metadata("batch").batch() as batch:
            typed_batch: MetadataBatch = batch
            typed_batch.update({"c": 3})
        result: int = metadata("do").run().do(lambda b: len([b.update({"d": 4})]))
        assert result == 1
    trace_id = run.get_span_context().trace_id
    create_score(name="user-feedback", value="helpful", trace_id=trace_id, observation_id=None, session_id=None, environment="prod")
    metadata("late").run(trace_id).update({"e": 5})
    metadata("span").span(run.get_span_context().span_id, trace_id).update({"f": 6})


async def score_async() -> str:
    async def record(builder: MetadataBatch) -> str:
        await builder.update({"g": 7})
        return "done"

    await metadata("awaited").update({"h": 8})
    return await metadata("async-do").do(record)


def langfuse_user() -> None:
    langfuse: Langfuse = get_client()
    with langfuse.start_as_current_span(name="my-operation") as span:
        typed: LangfuseSpan = span
        typed.score(name="correctness", value=0.9, data_type="NUMERIC", comment="Factually correct", timestamp=None, metadata=None)
        typed.score_trace(name="overall_quality", value=0.95)
        typed.update(output="x")
        trace_id: str = typed.trace_id
        span_id: str = typed.id
    langfuse.create_score(name="n", value=1, trace_id=trace_id, observation_id=span_id, environment="prod")
    langfuse.score_current_span(name="n", value=1, metadata={"m": 1})
    langfuse.score_current_trace(name="n", value=1)
    langfuse.flush()


def records(record: ScoreRecord, update: MetadataRecord) -> List[str]:
    scopes: List[str] = [Scope.SPAN.value, MetadataScope.RUN.value]
    try:
        pass
    except ScoreValidationError as error:
        scopes.append(str(error))
    return [record.name, str(record.value), update.kind, *scopes]


if __name__ == "__main__":
    built = setup()
    score(built)
    asyncio.run(score_async())
    built.shutdown()
