"""Run metadata: where each builder puts an update, how values travel, memo ids, batches."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from support.exported import (
    all_metadata_events,
    assert_carrier_of,
    carriers,
    metadata_events,
    scoring_warnings,
    span_hex,
    span_named,
    trace_hex,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from otel_scoring import ScoringSpanProcessor, metadata, schema


def test_update_without_memo_id_goes_to_the_run_with_a_fresh_id_each_time(tracer, exporter):
    """metadata.update() attaches to the run; each call records, under its own generated memo id."""
    with tracer.start_as_current_span("run") as run:
        with tracer.start_as_current_span("step"):
            metadata.update({"tier": "gold"})
            metadata.update({"tier": "platinum"})

    first, second = metadata_events(span_named(exporter, "run"))
    assert (first.scope, first.trace_id, first.values, second.values) == ("run", trace_hex(run), {"tier": "gold"}, {"tier": "platinum"})
    assert re.fullmatch(r"[0-9a-f]{32}", first.memo_id) and first.memo_id != second.memo_id
    assert span_named(exporter, "run").attributes[schema.metadata_attribute("default", "tier")] == "platinum"


def test_run_from_inside_a_nested_step_goes_to_the_root(tracer, exporter):
    """.run() inside a step of a step still targets the run's root span."""
    with tracer.start_as_current_span("run"):
        with tracer.start_as_current_span("step"):
            with tracer.start_as_current_span("sub-step"):
                metadata("priority").run().update({"priority": "high"})

    assert [u.memo_id for u in metadata_events(span_named(exporter, "run"))] == ["priority"]
    assert metadata_events(span_named(exporter, "step")) == metadata_events(span_named(exporter, "sub-step")) == []


def test_span_without_an_id_is_the_current_span(tracer, exporter):
    """.span() with no id targets the active span, not the run."""
    with tracer.start_as_current_span("run"):
        with tracer.start_as_current_span("call-model") as step:
            metadata("tokens").span().update({"promptTokens": 812, "completionTokens": 95}, kind="llm")

    call_model = span_named(exporter, "call-model")
    (update,) = metadata_events(call_model)
    assert (update.scope, update.kind, update.span_id, update.trace_id) == ("span", "llm", span_hex(step), trace_hex(step))
    assert call_model.attributes[schema.metadata_attribute("llm", "promptTokens")] == 812
    assert metadata_events(span_named(exporter, "run")) == []


def test_step_by_name_from_inside_that_step_lands_on_it(tracer, exporter):
    """.step("process-data") called inside that very step writes on the step itself."""
    with tracer.start_as_current_span("run"):
        with tracer.start_as_current_span("process-data") as step:
            metadata("step-annotation").step("process-data").update({"recordsProcessed": 1500})

    (update,) = metadata_events(span_named(exporter, "process-data"))
    assert (update.scope, update.span_id) == ("span", span_hex(step))
    assert carriers(exporter) == []


def test_step_by_name_of_a_step_still_running_around_the_caller_is_refused(tracer, exporter, caplog):
    """A step is named once it has run (or from inside it); an enclosing step still running is
    not known by name, so the update warns and records nothing."""
    with tracer.start_as_current_span("run"):
        with tracer.start_as_current_span("process-data"):
            with tracer.start_as_current_span("read-batch"):
                metadata("step-annotation").step("process-data").update({"recordsProcessed": 1500})

    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "metadata update 'step-annotation' not recorded: no span named 'process-data' has ended in the current trace"
    ]
    assert all(metadata_events(span) == [] for span in exporter.get_finished_spans())


def test_step_by_name_picks_the_newest_span_of_that_name(tracer, exporter):
    """A step that ran twice (a retry) is annotated on its latest attempt."""
    with tracer.start_as_current_span("run"):
        with tracer.start_as_current_span("call-api"):
            pass
        with tracer.start_as_current_span("call-api") as retry:
            pass
        metadata("retry-info").step("call-api").update({"attempts": 2})

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, retry.get_span_context().trace_id, retry.get_span_context().span_id)


def test_span_of_another_trace_by_ids(tracer, exporter):
    """.span(span_id, trace_id) reaches a span of another, finished trace through a carrier."""
    with tracer.start_as_current_span("ingest") as other_root:
        with tracer.start_as_current_span("parse") as parse:
            pass
    with tracer.start_as_current_span("audit"):
        metadata("audit").span(span_hex(parse), trace_id=trace_hex(other_root)).update({"reviewed": True})

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, parse.get_span_context().trace_id, parse.get_span_context().span_id)
    (update,) = metadata_events(carrier)
    assert (update.scope, update.trace_id, update.span_id, update.values) == ("span", trace_hex(parse), span_hex(parse), {"reviewed": True})


@pytest.mark.parametrize(
    "value, on_span",
    [
        ("stripe", "stripe"),
        (True, True),
        (1500, 1500),
        (99.99, 99.99),
        (2**70, str(2**70)),
        (None, "null"),
        (["a", "b"], '["a","b"]'),
        ({"city": "Zürich", "zip": 8001}, '{"city":"Zürich","zip":8001}'),
    ],
    ids=["str", "bool", "int", "float", "big int", "None", "list", "dict"],
)
def test_values_travel_as_json_and_as_searchable_attributes(tracer, exporter, value, on_span):
    """Each value reads back exactly from the event; the span attribute keeps OTel types or JSON."""
    with tracer.start_as_current_span("run"):
        metadata("m").update({"field": value})

    run = span_named(exporter, "run")
    (update,) = metadata_events(run)
    assert update.values == {"field": value}
    assert run.attributes[schema.metadata_attribute("default", "field")] == on_span


def test_the_span_attribute_holds_the_latest_value_of_a_key(tracer, exporter):
    """Two updates of one key keep both events; the searchable attribute shows the latest."""
    with tracer.start_as_current_span("run"):
        metadata("status-1").update({"status": "started"}, kind="workflow")
        metadata("status-2").update({"status": "done"}, kind="workflow")

    run = span_named(exporter, "run")
    assert [u.values["status"] for u in metadata_events(run)] == ["started", "done"]
    assert run.attributes[schema.metadata_attribute("workflow", "status")] == "done"


def test_memo_id_counts_once_per_target_run_whoever_sends_it(tracer, exporter):
    """Two evaluators sending "record-score" for the same run record it once."""
    with tracer.start_as_current_span("ai-run") as ai_run:
        pass
    for evaluator in ("evaluate-run-1", "evaluate-run-2"):
        with tracer.start_as_current_span(evaluator):
            metadata("record-score").run(trace_hex(ai_run)).update({"qualityScore": 0.9})

    assert [u.memo_id for u in all_metadata_events(exporter)] == ["record-score"]


def test_a_batch_that_raises_records_nothing_and_lets_the_error_through(tracer, exporter, caplog):
    """An exception inside the batch block is the caller's: it propagates and no update is recorded."""
    with tracer.start_as_current_span("run"):
        with pytest.raises(RuntimeError, match="payment failed"):
            with metadata("update-all-statuses").batch() as batch:
                batch.update({"phase": "started"}, "workflow")
                raise RuntimeError("payment failed")

    assert all_metadata_events(exporter) == []
    assert scoring_warnings(caplog.records) == []


def test_an_empty_batch_records_nothing_quietly(tracer, exporter, caplog):
    """A batch with no updates writes nothing and warns about nothing."""
    with tracer.start_as_current_span("run"):
        with metadata("nothing-to-say").batch():
            pass

    assert all_metadata_events(exporter) == []
    assert scoring_warnings(caplog.records) == []


def test_an_async_batch_records_its_updates_together(tracer, exporter):
    """`async with metadata(...).batch()` works in coroutines like the sync form."""

    async def process_order() -> None:
        with tracer.start_as_current_span("process-order"):
            async with metadata("update-all-statuses").batch() as batch:
                batch.update({"phase": "started"}, "workflow")
                await asyncio.sleep(0)
                batch.update({"region": "us-east-1"}, "infra")

    asyncio.run(process_order())

    assert [(u.memo_id, u.index, u.kind) for u in metadata_events(span_named(exporter, "process-order"))] == [
        ("update-all-statuses", 0, "workflow"),
        ("update-all-statuses", 1, "infra"),
    ]


def test_a_scoped_builder_can_batch_too(tracer, exporter):
    """.step(name).batch() records every update of the batch on that step."""
    with tracer.start_as_current_span("run"):
        with tracer.start_as_current_span("process-data") as step:
            with metadata("stats").step("process-data").batch() as batch:
                batch.update({"rows": 1500}, "io")
                batch.update({"ms": 230}, "timing")

    process_data = span_named(exporter, "process-data")
    assert [(u.kind, u.span_id) for u in metadata_events(process_data)] == [("io", span_hex(step)), ("timing", span_hex(step))]
    assert process_data.attributes[schema.metadata_attribute("io", "rows")] == 1500
    assert process_data.attributes[schema.metadata_attribute("timing", "ms")] == 230


def test_the_event_values_are_a_json_object_with_the_keys_as_given(tracer, exporter):
    """Keys keep their case and order in the event's JSON."""
    with tracer.start_as_current_span("run"):
        metadata("m").update({"paymentId": "pi_1", "Amount": 5, "currency": "EUR"}, kind="billing")

    (event,) = [e for e in span_named(exporter, "run").events if e.name == schema.METADATA_UPDATE_EVENT]
    assert list(json.loads(event.attributes[schema.METADATA_UPDATE_VALUES])) == ["paymentId", "Amount", "currency"]


def test_metadata_in_a_sampled_out_trace_exports_nothing(caplog):
    """When the sampler drops a trace, its metadata is dropped with it: no carrier span, no warning."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    try:
        with tracer.start_as_current_span("run"):
            with tracer.start_as_current_span("step"):
                metadata("record-payment-info").update({"paymentId": "pi_1"})
                metadata.update({"tier": "gold"})
                metadata("span-note").span().update({"note": "x"})
    finally:
        provider.shutdown()

    assert exporter.get_finished_spans() == ()
    assert scoring_warnings(caplog.records) == []


# --- Inngest parity ---------------------------------------------------------------------------------


def test_step_without_a_name_is_the_current_step(tracer, exporter):
    """metadata("m").step() with no id targets the active span, as Inngest's .step() targets the current step."""
    with tracer.start_as_current_span("run"):
        with tracer.start_as_current_span("process-data") as step:
            metadata("step-annotation").step().update({"recordsProcessed": 1500})

    (update,) = metadata_events(span_named(exporter, "process-data"))
    assert (update.scope, update.span_id, update.values) == ("span", span_hex(step), {"recordsProcessed": 1500})
    assert metadata_events(span_named(exporter, "run")) == []


def test_do_with_a_plain_function_records_one_batch_and_returns_its_result(tracer, exporter):
    """.do(fn) runs fn with a builder, records its updates under one memo id, and returns fn's result."""
    def record(builder):
        builder.update({"phase": "started", "initiator": "system"}, "workflow")
        builder.update({"estimatedDuration": 30}, "timing")
        return "done"

    with tracer.start_as_current_span("process-order"):
        assert metadata("update-all-statuses").do(record) == "done"
        metadata("update-all-statuses").do(record)  # re-executed: memoised

    updates = metadata_events(span_named(exporter, "process-order"))
    assert [(u.memo_id, u.index, u.kind) for u in updates] == [("update-all-statuses", 0, "workflow"), ("update-all-statuses", 1, "timing")]


def test_do_with_an_async_function_and_awaited_updates_as_on_the_inngest_page(tracer, exporter):
    """The page's `await step.metadata("update-all-statuses").do(async (builder) => { await builder.update(...) })` in Python."""
    async def handler():
        with tracer.start_as_current_span("process-order"):
            async def record(builder):
                await builder.update({"phase": "started", "initiator": "system"}, "workflow")
                await builder.update({"estimatedDuration": 30}, "timing")
                await builder.update({"region": "us-east-1"}, "infra")

            await metadata("update-all-statuses").do(record)
            await metadata("record-payment-info").update({"paymentId": "pi_1"})
            await metadata("step-annotation").run().update({"priority": "high"})

    asyncio.run(handler())

    updates = metadata_events(span_named(exporter, "process-order"))
    assert [(u.memo_id, u.index, u.kind) for u in updates] == [
        ("update-all-statuses", 0, "workflow"),
        ("update-all-statuses", 1, "timing"),
        ("update-all-statuses", 2, "infra"),
        ("record-payment-info", 0, "default"),
        ("step-annotation", 0, "default"),
    ]


def test_an_async_do_that_raises_records_nothing(tracer, exporter):
    """An async fn that raises inside .do() lets the error through and records none of its updates."""
    async def record(builder):
        await builder.update({"phase": "started"})
        raise ValueError("payment declined")

    with tracer.start_as_current_span("process-order"):
        with pytest.raises(ValueError, match="payment declined"):
            asyncio.run(metadata("m").do(record))

    assert metadata_events(span_named(exporter, "process-order")) == []


def test_a_memo_id_in_a_loop_of_steps_records_every_iteration(tracer, exporter, caplog):
    """Three llm-call spans each updating their own span under "llm-usage" keep all three; the run's once."""
    caplog.set_level("INFO", logger="otel_scoring")
    with tracer.start_as_current_span("agent"):
        for tokens in (10, 20, 30):
            with tracer.start_as_current_span("llm-call"):
                metadata("llm-usage").span().update({"tokens": tokens})
                metadata("llm-usage-total").update({"last": tokens})  # the run: recorded once

    calls = [span for span in exporter.get_finished_spans() if span.name == "llm-call"]
    assert [[u.values["tokens"] for u in metadata_events(call)] for call in calls] == [[10], [20], [30]]
    assert [u.values for u in metadata_events(span_named(exporter, "agent"))] == [{"last": 10}]
    skipped = [r for r in caplog.records if r.name == "otel_scoring" and "already recorded" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].levelname == "INFO"
    assert "'llm-usage-total'" in skipped[0].getMessage()
