"""Scores and metadata from many threads and asyncio tasks land on the right spans."""

from __future__ import annotations

import asyncio
import threading

from support.exported import (
    all_score_events,
    assert_carrier_of,
    carriers,
    metadata_events,
    score_events,
    span_hex,
    span_named,
    trace_hex,
)

import otel_scoring
from otel_scoring import metadata

THREADS = 8
TASKS = 32


def run_threads(target, count: int = THREADS) -> None:
    errors = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as error:  # surfaced in the test thread below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(index,), name=f"scorer-{index}") for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a scoring thread hung"
    assert errors == []


def test_eight_threads_each_score_their_own_trace(tracer, exporter):
    """Eight threads, each in its own trace and all scoring at once, never cross-score."""
    barrier = threading.Barrier(THREADS, timeout=30)
    ids = {}

    def work(index: int) -> None:
        with tracer.start_as_current_span(f"run-{index}") as run:
            with tracer.start_as_current_span(f"step-{index}") as step:
                ids[index] = (trace_hex(run), span_hex(run), span_hex(step))
                barrier.wait()  # every thread is inside its step before anyone scores
                for round_ in range(5):
                    otel_scoring.score_current_span(name="thread", value=index * 10 + round_)
                    otel_scoring.score_current_trace(name="thread-trace", value=index)
                metadata("who").update({"thread": index})
                barrier.wait()  # every thread has scored before any span ends

    run_threads(work)

    for index in range(THREADS):
        trace_id, run_id, step_id = ids[index]
        step_scores = score_events(span_named(exporter, f"step-{index}"))
        assert [(s.value, s.trace_id, s.span_id) for s in step_scores] == [(index * 10 + r, trace_id, step_id) for r in range(5)]
        run = span_named(exporter, f"run-{index}")
        assert [(s.value, s.trace_id, s.scope) for s in score_events(run)] == [(index, trace_id, "trace")] * 5
        assert [u.values for u in metadata_events(run)] == [{"thread": index}]
        assert run.context.span_id == int(run_id, 16)
    assert carriers(exporter) == []


def test_threads_scoring_one_shared_span_lose_nothing(tracer, exporter):
    """Eight threads scoring the same open span by id: every score is there once, each carried
    under that span (a span known only by id gets its scores on carrier spans)."""
    barrier = threading.Barrier(THREADS, timeout=30)
    with tracer.start_as_current_span("shared") as shared:
        trace_id, span_id = trace_hex(shared), span_hex(shared)

        def work(index: int) -> None:
            barrier.wait()
            for n in range(10):
                otel_scoring.create_score(name=f"t{index}", value=n, trace_id=trace_id, observation_id=span_id)

        run_threads(work)

    found = carriers(exporter)
    for carrier in found:
        assert_carrier_of(carrier, shared.get_span_context().trace_id, shared.get_span_context().span_id)
    recorded = [score for carrier in found for score in score_events(carrier)]
    assert sorted((s.name, s.value) for s in recorded) == sorted((f"t{i}", float(n)) for i in range(THREADS) for n in range(10))
    assert len({s.id for s in recorded}) == THREADS * 10


def test_threads_scoring_ended_runs_get_one_carrier_each(tracer, exporter):
    """Late scores from eight threads for eight finished runs each ride a carrier under the right run."""
    runs = []
    for index in range(THREADS):
        with tracer.start_as_current_span(f"run-{index}") as run:
            pass
        runs.append(run)
    barrier = threading.Barrier(THREADS, timeout=30)

    def feedback(index: int) -> None:
        barrier.wait()
        otel_scoring.create_score(name="user-feedback", value=index, trace_id=trace_hex(runs[index]))

    run_threads(feedback)

    found = carriers(exporter)
    assert len(found) == THREADS
    for carrier in found:
        (score,) = score_events(carrier)
        run = runs[int(score.value)]
        assert_carrier_of(carrier, run.get_span_context().trace_id, run.get_span_context().span_id)


def test_asyncio_tasks_score_their_own_spans_and_traces(tracer, exporter):
    """Interleaved asyncio tasks see their own span through contextvars and score only it."""

    async def handle(index: int) -> None:
        with tracer.start_as_current_span(f"request-{index}"):
            await asyncio.sleep(0)
            with tracer.start_as_current_span(f"call-model-{index}"):
                await asyncio.sleep(0)
                otel_scoring.score_current_span(name="confidence", value=index)
                await asyncio.sleep(0)
                otel_scoring.score_current_trace(name="request-quality", value=index)
                async with metadata("task").batch() as batch:
                    await asyncio.sleep(0)
                    batch.update({"task": index})
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(handle(index) for index in range(TASKS)))

    asyncio.run(main())

    for index in range(TASKS):
        request = span_named(exporter, f"request-{index}")
        call_model = span_named(exporter, f"call-model-{index}")
        assert [(s.name, s.value, s.span_id) for s in score_events(call_model)] == [("confidence", index, span_hex(call_model))]
        assert [(s.name, s.value, s.trace_id) for s in score_events(request)] == [("request-quality", index, trace_hex(request))]
        assert [u.values for u in metadata_events(request)] == [{"task": index}]
    assert len(all_score_events(exporter)) == 2 * TASKS
    assert carriers(exporter) == []
