"""A Strands Evals experiment with one deterministic evaluator (run with the strands venv's python)."""

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from _export import TeeSpanExporter, arguments, report

endpoint, out = arguments()
provider = TracerProvider(resource=Resource.create({"service.name": "strands-app"}))
provider.add_span_processor(SimpleSpanProcessor(TeeSpanExporter(endpoint, out)))
trace.set_tracer_provider(provider)

from strands_evals import Case, Experiment  # noqa: E402 - after the provider, which it picks up
from strands_evals.evaluators import Evaluator  # noqa: E402
from strands_evals.types import EvaluationOutput  # noqa: E402


class ExactMatch(Evaluator):
    def evaluate(self, evaluation_case):
        matched = evaluation_case.actual_output == evaluation_case.expected_output
        return [EvaluationOutput(score=1.0 if matched else 0.0, test_pass=matched, reason="exact match" if matched else "differs")]

    async def evaluate_async(self, evaluation_case):
        return self.evaluate(evaluation_case)


experiment = Experiment(cases=[Case(name="greeting", input="hi", expected_output="HI")], evaluators=[ExactMatch()])
experiment.run_evaluations(lambda case: case.input.upper())
provider.shutdown()
report({})
