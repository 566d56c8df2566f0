"""OpenInference feedback attributes written with the semantic-conventions constants through arize-phoenix-otel's ``register`` (openinference venv)."""

import json

from openinference.semconv.trace import AnnotationAttributes, EvaluationAttributes, SpanAttributes
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from phoenix.otel import register

from _export import TeeSpanExporter, arguments, hex_ids, report

endpoint, out = arguments()
# register() sets up the provider (project, resource); adding a processor replaces its default one.
provider = register(project_name="openinference-app", endpoint=endpoint + "/v1/traces", protocol="http/protobuf", batch=False, set_global_tracer_provider=False, verbose=False)
provider.add_span_processor(SimpleSpanProcessor(TeeSpanExporter(endpoint, out)))
tracer = provider.get_tracer("app")
with tracer.start_as_current_span("llm") as span:
    span.set_attribute(SpanAttributes.SESSION_ID, "session-7")
    annotation = "annotations.0."
    span.set_attribute(annotation + AnnotationAttributes.ANNOTATION_NAME, "correctness")
    span.set_attribute(annotation + AnnotationAttributes.ANNOTATION_SCORE, 0.9)
    span.set_attribute(annotation + AnnotationAttributes.ANNOTATION_LABEL, "correct")
    span.set_attribute(annotation + AnnotationAttributes.ANNOTATION_EXPLANATION, "matches the source")
    span.set_attribute(annotation + AnnotationAttributes.ANNOTATION_ANNOTATOR_KIND, "LLM")
    span.set_attribute(annotation + AnnotationAttributes.ANNOTATION_IDENTIFIER, "judge-run-1")
    span.set_attribute(annotation + AnnotationAttributes.ANNOTATION_METADATA, json.dumps({"model": "judge-1"}))
    evaluation = "evaluations.0."
    span.set_attribute(evaluation + EvaluationAttributes.EVALUATION_NAME, "relevance")
    span.set_attribute(evaluation + EvaluationAttributes.EVALUATION_LABEL, "relevant")
    span.set_attribute(evaluation + EvaluationAttributes.EVALUATION_ANNOTATOR_KIND, "HUMAN")
    span.set_attribute("trace." + annotation + AnnotationAttributes.ANNOTATION_NAME, "task-success")
    span.set_attribute("trace." + annotation + AnnotationAttributes.ANNOTATION_SCORE, 1.0)
    span.set_attribute("session." + evaluation + EvaluationAttributes.EVALUATION_NAME, "satisfaction")
    span.set_attribute("session." + evaluation + EvaluationAttributes.EVALUATION_SCORE, 4)
provider.shutdown()
report(hex_ids(span))
