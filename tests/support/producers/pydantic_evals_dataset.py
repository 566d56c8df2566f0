"""pydantic-evals offline ``Dataset.evaluate``: case spans with scores, labels and assertions (pydantic-evals venv)."""

from dataclasses import dataclass

import logfire
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

from _export import TeeSpanExporter, arguments, report

endpoint, out = arguments()
logfire.configure(send_to_logfire=False, console=False, service_name="dataset-app", additional_span_processors=[SimpleSpanProcessor(TeeSpanExporter(endpoint, out))])


@dataclass
class Closeness(Evaluator):
    def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        return EvaluationReason(value=0.5, reason="half right")


@dataclass
class Verdict(Evaluator):
    def evaluate(self, ctx: EvaluatorContext) -> str:
        return "partial"


@dataclass
class Matches(Evaluator):
    def evaluate(self, ctx: EvaluatorContext) -> bool:
        return ctx.output == ctx.expected_output


dataset = Dataset(name="capitals", cases=[Case(name="capital", inputs="France", expected_output="Paris")], evaluators=[Closeness(), Verdict(), Matches()])
dataset.evaluate_sync(lambda country: "Paris")
logfire.force_flush()
logfire.shutdown()
report({})
