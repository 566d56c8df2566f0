"""OpenSearch's ``score()`` on a span and on a trace (run with the opensearch venv's python)."""

from opensearch_genai_observability_sdk_py.score import score
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from _export import TeeSpanExporter, arguments, hex_ids, report

endpoint, out = arguments()
provider = TracerProvider(resource=Resource.create({"service.name": "opensearch-app"}))
provider.add_span_processor(SimpleSpanProcessor(TeeSpanExporter(endpoint, out)))
trace.set_tracer_provider(provider)
with trace.get_tracer("app").start_as_current_span("invoke_agent"):
    with trace.get_tracer("app").start_as_current_span("chat") as chat:
        pass
ids = hex_ids(chat)
score("accuracy", 0.95, trace_id=ids["trace_id"], span_id=ids["span_id"], label="correct", explanation="Weather data is correct")
score("helpfulness", 0.83, trace_id=ids["trace_id"], label="Very helpful")
provider.shutdown()
report(ids)
