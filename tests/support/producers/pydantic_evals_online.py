"""pydantic-evals online ``evaluate``: log-based gen_ai.evaluation.result events of a live call (pydantic-evals venv)."""

import asyncio
from dataclasses import dataclass

import logfire
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext
from pydantic_evals.online import evaluate, wait_for_evaluations

from _export import TeeLogExporter, TeeSpanExporter, arguments, report

endpoint, out = arguments()
logfire.configure(
    send_to_logfire=False,
    console=False,
    service_name="online-app",
    additional_span_processors=[SimpleSpanProcessor(TeeSpanExporter(endpoint, out))],
    advanced=logfire.AdvancedOptions(log_record_processors=[SimpleLogRecordProcessor(TeeLogExporter(endpoint, out))]),
)


@dataclass
class Length(Evaluator):
    def evaluate(self, ctx: EvaluatorContext) -> float:
        return float(len(ctx.output))


@dataclass
class Shouting(Evaluator):
    def evaluate(self, ctx: EvaluatorContext) -> EvaluationReason:
        return EvaluationReason(value=ctx.output.isupper(), reason="all capitals")


@dataclass
class Mood(Evaluator):
    def evaluate(self, ctx: EvaluatorContext) -> str:
        return "cheerful"


@evaluate(Length(), Shouting(), Mood())
async def shout(text: str) -> str:
    return text.upper()


async def main() -> None:
    await shout("hello")
    await wait_for_evaluations(timeout=20)


asyncio.run(main())
logfire.force_flush()
logfire.shutdown()
report({})
