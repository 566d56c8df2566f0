"""Edge cases of the producer dialect readers (the producers themselves are tested in test_producers.py): forms nobody's library writes today, and malformed ones."""

from __future__ import annotations

import json

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from google.protobuf.json_format import MessageToJson

from otel_scoring import schema
from otel_scoring.translate import records_from_otlp_json, records_from_otlp_proto, records_from_spans


def _spans(tracer, exporter, attributes, parent_attributes=None):
    with tracer.start_as_current_span("parent", attributes=parent_attributes or {}):
        with tracer.start_as_current_span("scored", attributes=attributes):
            pass
    return exporter.get_finished_spans()


def _every_route(spans):
    """The records of ``spans`` read as SDK spans, protobuf and JSON: one answer for all three."""
    request = encode_spans(spans)
    from_spans = records_from_spans(spans)
    assert records_from_otlp_proto(request.SerializeToString()).scores == from_spans.scores
    assert records_from_otlp_json(MessageToJson(request)).scores == from_spans.scores
    assert records_from_otlp_proto(request.SerializeToString()).skipped == from_spans.skipped
    return from_spans


def test_braintrust_scores_attribute_is_one_span_score_per_name(tracer, exporter):
    """braintrust.scores on a span that is not a Braintrust score span (the form Braintrust's OTel docs describe; null for a scorer that did not run) gives one score of that span per number."""
    spans = _spans(tracer, exporter, {"braintrust.scores": json.dumps({"Factuality": 0.25, "Levenshtein": 1, "skipped": None})})
    scored = next(span for span in spans if span.name == "scored")
    scores = _every_route(spans).scores
    assert sorted((s.name, s.value, s.scope, s.observation_id, s.source, s.span_name) for s in scores) == [
        ("Factuality", 0.25, "span", format(scored.context.span_id, "016x"), "BRAINTRUST", "scored"),
        ("Levenshtein", 1.0, "span", format(scored.context.span_id, "016x"), "BRAINTRUST", "scored"),
    ]


def test_a_braintrust_score_span_without_a_parent_is_skipped_and_counted(tracer, exporter):
    """A Braintrust score span scores its parent (its Eval's case span, as test_producers.py shows); with no parent it scores nothing."""
    attributes = {"braintrust.scores": json.dumps({"exact_match": 1.0}), "braintrust.span_attributes": json.dumps({"type": "score", "name": "exact_match"})}
    with tracer.start_as_current_span("score", attributes=attributes):
        pass
    translation = _every_route(exporter.get_finished_spans())
    assert (translation.scores, translation.skipped) == ([], 1)


def test_malformed_forms_are_skipped_and_counted_and_the_rest_is_read(tracer, exporter):
    """A form that breaks its producer's rules is left out and counted in Translation.skipped; a good score beside it is kept."""
    attributes = {
        "braintrust.scores": "{not json",
        schema.GEN_AI_EVALUATION_NAME: "judge",
        schema.GEN_AI_EVALUATION_SCORE_VALUE: "not a number",
    }
    with tracer.start_as_current_span("parent") as parent:
        with tracer.start_as_current_span("scored", attributes=attributes):
            pass
        parent.add_event(schema.EVALUATION_RESULT_EVENT, {schema.GEN_AI_EVALUATION_NAME: "kept", schema.GEN_AI_EVALUATION_SCORE_VALUE: 0.5})
    translation = _every_route(exporter.get_finished_spans())
    assert [score.name for score in translation.scores] == ["kept"]
    assert translation.skipped == 2


def test_common_attribute_names_outside_their_producer_read_as_nothing(tracer, exporter):
    """An attribute called scores on a span that is not a pydantic-evals case span is not a score."""
    translation = _every_route(_spans(tracer, exporter, {"scores": json.dumps({"a": {"value": 1}})}))
    assert translation.scores == [] and translation.skipped == 0
