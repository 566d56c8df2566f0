"""Every code example of the four reference pages, in Python, with what it exports.

An Inngest "run" is a trace (the function is its root span) and a "step" is a child span; a
Langfuse or SDK-reference "observation" is a span. Each test names the snippet it mirrors.
"""

from __future__ import annotations

import pytest
from support.exported import (
    assert_carrier_of,
    carriers,
    metadata_events,
    score_events,
    scoring_warnings,
    span_hex,
    span_named,
    trace_hex,
)

import otel_scoring
from otel_scoring import DataType, ScoreConfig, ScoreConfigRegistry, metadata, schema

LANGFUSE_CONFIG_ID = "78545-6565-3453654-43543"


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    """The Langfuse page's config: an "accuracy" score between 0 and 1."""
    return ScoreConfigRegistry([ScoreConfig(id=LANGFUSE_CONFIG_ID, name="accuracy", data_type=DataType.NUMERIC, min_value=0, max_value=1)])


# --- Inngest: Score a function run ------------------------------------------------------------


def summarize_ticket(tracer, passed: bool):
    """The page's ``summarize-ticket`` function: two steps, then ``step.score`` on the run."""
    with tracer.start_as_current_span("summarize-ticket") as run:
        with tracer.start_as_current_span("generate-summary"):
            summary = "Customer cannot log in after the password reset."
        with tracer.start_as_current_span("check-guardrails"):
            passed = passed and bool(summary)
        otel_scoring.score_current_trace(name="guardrail-pass", value=1 if passed else 0)
    return run


@pytest.mark.parametrize("passed, expected", [(True, 1.0), (False, 0.0)])
def test_score_the_current_run_with_guardrail_pass(tracer, exporter, passed, expected):
    """step.score({name: "guardrail-pass"}) lands on the run's root span, not on its steps."""
    run = summarize_ticket(tracer, passed)

    root = span_named(exporter, "summarize-ticket")
    (score,) = score_events(root)
    assert (score.name, score.value, score.label, score.data_type, score.scope) == ("guardrail-pass", expected, None, "NUMERIC", "trace")
    assert (score.trace_id, score.span_id) == (trace_hex(run), None)
    assert root.attributes[schema.score_value_attribute("trace", "guardrail-pass")] == expected
    assert root.attributes[schema.HAS_SCORES] is True
    for step in ("generate-summary", "check-guardrails"):
        assert score_events(span_named(exporter, step)) == []
    assert carriers(exporter) == []


def test_score_a_step_from_inside_it_with_model_confidence(tracer, exporter):
    """inngest.score({name: "model-confidence"}) inside step "call-model" lands on that step only."""
    with tracer.start_as_current_span("summarize-ticket"):
        with tracer.start_as_current_span("call-model") as step:
            confidence = 0.87  # result.metadata.confidence
            otel_scoring.score_current_span(name="model-confidence", value=confidence)

    call_model = span_named(exporter, "call-model")
    (score,) = score_events(call_model)
    assert (score.name, score.value, score.scope) == ("model-confidence", 0.87, "span")
    assert (score.trace_id, score.span_id) == (trace_hex(step), span_hex(step))
    assert call_model.attributes[schema.score_value_attribute("span", "model-confidence")] == 0.87
    assert score_events(span_named(exporter, "summarize-ticket")) == []


def test_score_a_run_from_outside_by_run_id_after_it_finished(tracer, exporter):
    """inngest.score({name: "user-feedback", runId}) after the run is carried by a child of its root."""
    run = summarize_ticket(tracer, passed=True)
    run_id = trace_hex(run)  # what the application stored and later gets back with the feedback

    otel_scoring.create_score(name="user-feedback", value=1, trace_id=run_id)

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, run.get_span_context().trace_id, run.get_span_context().span_id)
    (score,) = score_events(carrier)
    assert (score.name, score.value, score.scope, score.trace_id, score.span_id) == ("user-feedback", 1.0, "trace", run_id, None)
    assert carrier.attributes[schema.score_value_attribute("trace", "user-feedback")] == 1.0
    assert [s.name for s in score_events(span_named(exporter, "summarize-ticket"))] == ["guardrail-pass"]


def test_score_a_specific_step_of_a_run_from_outside(tracer, exporter):
    """inngest.score({name: "accuracy", runId, stepId}) after the run is carried by a child of that step."""
    with tracer.start_as_current_span("summarize-ticket") as run:
        with tracer.start_as_current_span("generate-summary") as step:
            pass
    run_id, step_id = trace_hex(run), span_hex(step)

    otel_scoring.create_score(name="accuracy", value=0.9, trace_id=run_id, observation_id=step_id)

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, step.get_span_context().trace_id, step.get_span_context().span_id)
    (score,) = score_events(carrier)
    assert (score.name, score.value, score.scope, score.trace_id, score.span_id) == ("accuracy", 0.9, "span", run_id, step_id)
    assert carrier.attributes[schema.score_value_attribute("span", "accuracy")] == 0.9


# --- Inngest: run metadata ----------------------------------------------------------------------


def test_add_metadata_to_a_run(tracer, exporter):
    """step.metadata("record-payment-info").update({...}) between steps attaches to the run."""
    with tracer.start_as_current_span("process-order") as run:
        with tracer.start_as_current_span("process-payment"):
            charge_id = "ch_3PqR"
        metadata("record-payment-info").update({"paymentId": charge_id, "processor": "stripe", "amount": 4999})
        with tracer.start_as_current_span("send-confirmation"):
            pass

    root = span_named(exporter, "process-order")
    (update,) = metadata_events(root)
    assert (update.memo_id, update.index, update.kind, update.scope) == ("record-payment-info", 0, "default", "run")
    assert update.values == {"paymentId": "ch_3PqR", "processor": "stripe", "amount": 4999}
    assert (update.trace_id, update.span_id) == (trace_hex(run), None)
    assert root.attributes[schema.metadata_attribute("default", "paymentId")] == "ch_3PqR"
    assert root.attributes[schema.metadata_attribute("default", "processor")] == "stripe"
    assert root.attributes[schema.metadata_attribute("default", "amount")] == 4999
    assert root.attributes[schema.HAS_METADATA] is True
    for step in ("process-payment", "send-confirmation"):
        assert metadata_events(span_named(exporter, step)) == []


def test_add_metadata_from_within_an_existing_step(tracer, exporter):
    """inngest.metadata.update({company}) inside step "fetch-user" attaches to the run, no new span."""
    with tracer.start_as_current_span("process-order"):
        with tracer.start_as_current_span("fetch-user"):
            user = {"id": "u_1", "company": "Acme"}
            metadata.update({"company": user["company"]})

    (update,) = metadata_events(span_named(exporter, "process-order"))
    assert (update.kind, update.scope, update.values) == ("default", "run", {"company": "Acme"})
    assert metadata_events(span_named(exporter, "fetch-user")) == []
    assert [span.name for span in exporter.get_finished_spans()] == ["fetch-user", "process-order"]


def test_custom_kinds_group_metadata(tracer, exporter):
    """.update(values, "billing") and .update(values, "analytics") land as two kinds of metadata."""
    with tracer.start_as_current_span("process-order"):
        metadata("payment-meta").update({"invoiceId": "inv_123", "total": 99.99}, "billing")
        metadata("tracking-meta").update({"source": "organic", "campaign": "spring-2025"}, "analytics")

    root = span_named(exporter, "process-order")
    billing, analytics = metadata_events(root)
    assert (billing.memo_id, billing.kind, billing.values) == ("payment-meta", "billing", {"invoiceId": "inv_123", "total": 99.99})
    assert (analytics.memo_id, analytics.kind, analytics.values) == ("tracking-meta", "analytics", {"source": "organic", "campaign": "spring-2025"})
    assert root.attributes[schema.metadata_attribute("billing", "invoiceId")] == "inv_123"
    assert root.attributes[schema.metadata_attribute("billing", "total")] == 99.99
    assert root.attributes[schema.metadata_attribute("analytics", "source")] == "organic"
    assert root.attributes[schema.metadata_attribute("analytics", "campaign")] == "spring-2025"


def test_batch_multiple_updates_in_one_memoised_step(tracer, exporter):
    """Three updates in one batch share the memo id "update-all-statuses", in order, each its kind."""
    with tracer.start_as_current_span("process-order"):
        with metadata("update-all-statuses").batch() as builder:
            builder.update({"phase": "started", "initiator": "system"}, "workflow")
            builder.update({"estimatedDuration": 30}, "timing")
            builder.update({"region": "us-east-1"}, "infra")

    root = span_named(exporter, "process-order")
    updates = metadata_events(root)
    assert [(u.memo_id, u.index, u.kind, u.values) for u in updates] == [
        ("update-all-statuses", 0, "workflow", {"phase": "started", "initiator": "system"}),
        ("update-all-statuses", 1, "timing", {"estimatedDuration": 30}),
        ("update-all-statuses", 2, "infra", {"region": "us-east-1"}),
    ]
    assert root.attributes[schema.metadata_attribute("timing", "estimatedDuration")] == 30
    assert root.attributes[schema.metadata_attribute("infra", "region")] == "us-east-1"


def test_batch_executed_twice_records_once(tracer, exporter):
    """"All three updates share the same memoization step and execute exactly once."""
    with tracer.start_as_current_span("process-order"):
        for _execution in range(2):
            with metadata("update-all-statuses").batch() as builder:
                builder.update({"phase": "started"}, "workflow")
                builder.update({"region": "us-east-1"}, "infra")

    assert [(u.index, u.kind) for u in metadata_events(span_named(exporter, "process-order"))] == [(0, "workflow"), (1, "infra")]


def test_scope_metadata_to_the_run_a_step_or_a_span(tracer, exporter):
    """.run(), .step("process-data") and .span(span_id) put each update on its own target."""
    with tracer.start_as_current_span("my-function") as run:
        with tracer.start_as_current_span("process-data") as process_data:
            pass
        metadata("run-status").run().update({"priority": "high"})
        metadata("step-annotation").step("process-data").update({"recordsProcessed": 1500})
        with tracer.start_as_current_span("external-call") as extended:  # an extended trace span
            span_id = span_hex(extended)
            metadata("span-details").span(span_id).update({"externalCallDuration": 230})

    (run_update,) = metadata_events(span_named(exporter, "my-function"))
    assert (run_update.memo_id, run_update.scope, run_update.values) == ("run-status", "run", {"priority": "high"})
    assert run_update.trace_id == trace_hex(run)

    # "process-data" had ended, so its annotation rides a carrier that is its child.
    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, process_data.get_span_context().trace_id, process_data.get_span_context().span_id)
    (step_update,) = metadata_events(carrier)
    assert (step_update.memo_id, step_update.scope, step_update.values) == ("step-annotation", "span", {"recordsProcessed": 1500})
    assert step_update.span_id == span_hex(process_data)
    assert carrier.attributes[schema.metadata_attribute("default", "recordsProcessed")] == 1500

    external = span_named(exporter, "external-call")
    (span_update,) = metadata_events(external)
    assert (span_update.memo_id, span_update.scope, span_update.span_id) == ("span-details", "span", span_id)
    assert external.attributes[schema.metadata_attribute("default", "externalCallDuration")] == 230


def test_a_chosen_target_cannot_be_chosen_again():
    """"Once you call .run(), you can't also call .step() on the same builder."""
    scoped = metadata("run-status").run()
    for method in ("run", "step", "span"):
        assert not hasattr(scoped, method)
    assert callable(scoped.update) and callable(scoped.batch)


def test_update_metadata_on_a_different_run(tracer, exporter):
    """evaluate-run records "record-score" on the completed AI run: a carrier under that run's root."""
    with tracer.start_as_current_span("ai-run") as ai_run:
        pass
    completed_run_id = trace_hex(ai_run)  # event.data.runId

    with tracer.start_as_current_span("evaluate-run") as evaluate_run:
        with tracer.start_as_current_span("score-output"):
            quality, relevance = 0.91, 0.84
        metadata("record-score").run(completed_run_id).update({"qualityScore": quality, "relevanceScore": relevance, "evaluatedAt": 1767225600000})

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, ai_run.get_span_context().trace_id, ai_run.get_span_context().span_id)
    (update,) = metadata_events(carrier)
    assert (update.memo_id, update.scope, update.trace_id) == ("record-score", "run", completed_run_id)
    assert update.values == {"qualityScore": 0.91, "relevanceScore": 0.84, "evaluatedAt": 1767225600000}
    assert metadata_events(span_named(exporter, "evaluate-run")) == []
    assert evaluate_run.get_span_context().trace_id != carrier.context.trace_id


def test_update_metadata_from_outside_a_function(tracer, exporter):
    """inngest.metadata.run(runId).update({...}) from an API route, no span active, reaches the run."""
    with tracer.start_as_current_span("process-order") as run:
        pass

    metadata.run(trace_hex(run)).update({"approvedBy": "admin@example.com", "approvalTimestamp": 1767225600000})

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, run.get_span_context().trace_id, run.get_span_context().span_id)
    (update,) = metadata_events(carrier)
    assert (update.scope, update.trace_id) == ("run", trace_hex(run))
    assert update.values == {"approvedBy": "admin@example.com", "approvalTimestamp": 1767225600000}


def test_same_memo_id_executed_twice_records_once(tracer, exporter):
    """A function re-executed from the top records "record-payment-info" once; a memo-less update every time."""
    with tracer.start_as_current_span("process-order"):
        for _driver_call in range(2):
            metadata("record-payment-info").update({"paymentId": "ch_1"})
            metadata.update({"attempt": "again"})  # "not durable": fires on every execution

    updates = metadata_events(span_named(exporter, "process-order"))
    assert [u.memo_id for u in updates if u.memo_id == "record-payment-info"] == ["record-payment-info"]
    unmemoised = [u for u in updates if u.memo_id != "record-payment-info"]
    assert len(unmemoised) == 2 and unmemoised[0].memo_id != unmemoised[1].memo_id


def test_memo_ids_are_per_run(tracer, exporter):
    """The same memo id in two runs records once in each."""
    for order in ("order-1", "order-2"):
        with tracer.start_as_current_span("process-order"):
            metadata("record-payment-info").update({"order": order})

    recorded = [metadata_events(span) for span in exporter.get_finished_spans()]
    assert [[u.values["order"] for u in updates] for updates in recorded] == [["order-1"], ["order-2"]]


# --- SDK scoring reference ----------------------------------------------------------------------


def test_create_score_numeric_for_accuracy_by_trace_id(exporter, provider):
    """create_score(name="accuracy", value=0.92, trace_id=..., data_type="NUMERIC", comment=...)."""
    otel_scoring.create_score(
        name="accuracy",
        value=0.92,
        trace_id="abcdef1234567890abcdef1234567890",
        data_type="NUMERIC",
        comment="High accuracy with minor irrelevant details",
    )

    (carrier,) = carriers(exporter)
    # This process never saw the trace: the carrier joins it under a placeholder parent, unlinked.
    assert carrier.context.trace_id == 0xABCDEF1234567890ABCDEF1234567890
    assert carrier.parent is not None and carrier.parent.trace_id == carrier.context.trace_id
    assert carrier.links == ()
    (score,) = score_events(carrier)
    assert (score.name, score.value, score.data_type, score.scope) == ("accuracy", 0.92, "NUMERIC", "trace")
    assert (score.comment, score.trace_id, score.span_id) == ("High accuracy with minor irrelevant details", "abcdef1234567890abcdef1234567890", None)


def test_create_score_categorical_for_sentiment_on_an_observation(exporter, provider):
    """create_score(name="sentiment", value="positive", trace_id=..., observation_id=..., data_type="CATEGORICAL")."""
    otel_scoring.create_score(
        name="sentiment",
        value="positive",
        trace_id="abcdef1234567890abcdef1234567890",
        observation_id="abcdef1234567890",
        data_type="CATEGORICAL",
    )

    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, 0xABCDEF1234567890ABCDEF1234567890, 0xABCDEF1234567890)
    (score,) = score_events(carrier)
    assert (score.name, score.value, score.label, score.data_type, score.scope) == ("sentiment", None, "positive", "CATEGORICAL", "span")
    assert (score.trace_id, score.span_id) == ("abcdef1234567890abcdef1234567890", "abcdef1234567890")
    assert carrier.attributes[schema.score_label_attribute("span", "sentiment")] == "positive"


def test_score_current_span_scores_the_generation(tracer, exporter):
    """score_current_span(name="relevance", ...) inside "answer-query" lands on that span."""
    with tracer.start_as_current_span("answer-query") as generation:
        response = "Paris is the capital of France."
        generation.set_attribute("output", response)
        otel_scoring.score_current_span(
            name="relevance",
            value=0.85,
            data_type="NUMERIC",
            comment="Mostly relevant but contains some tangential information",
        )

    span = span_named(exporter, "answer-query")
    (score,) = score_events(span)
    assert (score.name, score.value, score.scope, score.span_id) == ("relevance", 0.85, "span", span_hex(generation))
    assert score.comment == "Mostly relevant but contains some tangential information"


def test_score_current_trace_scores_the_whole_trace(tracer, exporter):
    """score_current_trace(name="overall_quality", ...) inside "process-user-request" scores the trace."""
    with tracer.start_as_current_span("process-user-request") as span:
        with tracer.start_as_current_span("process-complete-request"):
            otel_scoring.score_current_trace(name="overall_quality", value=0.95, data_type="NUMERIC", comment="High quality end-to-end response")

    root = span_named(exporter, "process-user-request")
    (score,) = score_events(root)
    assert (score.name, score.value, score.scope, score.trace_id, score.span_id) == ("overall_quality", 0.95, "trace", trace_hex(span), None)
    assert score.comment == "High quality end-to-end response"
    assert score_events(span_named(exporter, "process-complete-request")) == []


# --- Langfuse: custom scores -------------------------------------------------------------------


def test_langfuse_method_1_low_level_create_score(tracer, exporter):
    """create_score(name="correctness", trace_id, observation_id, ...) on an open observation writes on it."""
    with tracer.start_as_current_span("my-operation") as operation:
        with tracer.start_as_current_span("generation") as observation:
            trace_id, observation_id = trace_hex(observation), span_hex(observation)
        with tracer.start_as_current_span("other-step"):
            pass
        otel_scoring.create_score(
            name="correctness",
            value=0.9,
            trace_id=trace_id,
            observation_id=span_hex(operation),
            data_type="NUMERIC",
            comment="Factually correct",
        )
    otel_scoring.create_score(name="correctness", value=0.8, trace_id=trace_id, observation_id=observation_id)

    (on_operation,) = score_events(span_named(exporter, "my-operation"))
    assert (on_operation.value, on_operation.comment, on_operation.span_id) == (0.9, "Factually correct", span_hex(operation))
    (carrier,) = carriers(exporter)
    assert_carrier_of(carrier, observation.get_span_context().trace_id, observation.get_span_context().span_id)
    assert [(s.name, s.value, s.span_id) for s in score_events(carrier)] == [("correctness", 0.8, observation_id)]


def test_langfuse_methods_2_and_3_score_the_span_and_the_trace_in_context(tracer, exporter):
    """Inside "my-operation": correctness scores the span, overall_quality the trace.

    Langfuse's ``span.score``/``span.score_trace`` (method 2) and ``score_current_span``/
    ``score_current_trace`` (method 3) are the same calls here: the span is the active one.
    """
    with tracer.start_as_current_span("my-operation") as span:
        otel_scoring.score_current_span(name="correctness", value=0.9, data_type="NUMERIC", comment="Factually correct")
        otel_scoring.score_current_trace(name="overall_quality", value=0.95, data_type="NUMERIC")

    operation = span_named(exporter, "my-operation")
    correctness, overall = score_events(operation)
    assert (correctness.name, correctness.value, correctness.scope, correctness.span_id) == ("correctness", 0.9, "span", span_hex(span))
    assert (overall.name, overall.value, overall.scope, overall.span_id) == ("overall_quality", 0.95, "trace", None)
    assert operation.attributes[schema.score_value_attribute("span", "correctness")] == 0.9
    assert operation.attributes[schema.score_value_attribute("trace", "overall_quality")] == 0.95


def test_langfuse_allows_duplicate_scores_by_default(tracer, exporter):
    """Two user-feedback scores on one trace are two scores with different ids."""
    with tracer.start_as_current_span("chat") as span:
        otel_scoring.score_current_trace(name="user-feedback", value=1)
        otel_scoring.score_current_trace(name="user-feedback", value=0)

    first, second = score_events(span_named(exporter, "chat"))
    assert (first.value, second.value) == (1.0, 0.0)
    assert first.id != second.id
    assert span.attributes[schema.score_value_attribute("trace", "user-feedback")] == 0.0


def test_langfuse_idempotency_key_updates_the_score(tracer, exporter):
    """A score id "<trace_id>-<score_name>" given twice writes the same score twice; the latest wins."""
    with tracer.start_as_current_span("chat") as span:
        key = f"{trace_hex(span)}-user-feedback"
        otel_scoring.score_current_trace(name="user-feedback", value=0, score_id=key)
    otel_scoring.create_score(name="user-feedback", value=1, trace_id=trace_hex(span), score_id=key)

    (first,) = score_events(span_named(exporter, "chat"))
    (carrier,) = carriers(exporter)
    (update,) = score_events(carrier)
    assert (first.id, first.value) == (key, 0.0)
    assert (update.id, update.value) == (key, 1.0)
    assert update.timestamp > first.timestamp


def test_langfuse_score_config_enforced_by_low_level_method(tracer, exporter):
    """create_score(..., score_id="unique_id", config_id="78545-...") validates and records the config id."""
    with tracer.start_as_current_span("my-operation") as span:
        pass
    otel_scoring.create_score(
        trace_id=trace_hex(span),
        observation_id=span_hex(span),
        name="accuracy",
        value=0.9,
        comment="Factually correct",
        score_id="unique_id",
        config_id=LANGFUSE_CONFIG_ID,
        data_type="NUMERIC",
    )

    (carrier,) = carriers(exporter)
    (score,) = score_events(carrier)
    assert (score.id, score.name, score.value, score.config_id, score.data_type) == ("unique_id", "accuracy", 0.9, LANGFUSE_CONFIG_ID, "NUMERIC")


def test_langfuse_score_config_enforced_within_context(tracer, exporter, caplog):
    """score_current_span(..., config_id=...) records a value in range and refuses one out of range."""
    with tracer.start_as_current_span("my-operation"):
        otel_scoring.score_current_span(name="accuracy", value=0.9, comment="Factually correct", config_id=LANGFUSE_CONFIG_ID, data_type="NUMERIC")
        otel_scoring.score_current_span(name="accuracy", value=1.5, config_id=LANGFUSE_CONFIG_ID)

    assert [(s.value, s.config_id) for s in score_events(span_named(exporter, "my-operation"))] == [(0.9, LANGFUSE_CONFIG_ID)]
    assert scoring_warnings(caplog.records) == [f"score 'accuracy' not recorded: value 1.5 is above max_value 1 of config {LANGFUSE_CONFIG_ID!r}"]
