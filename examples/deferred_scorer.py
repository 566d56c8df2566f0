"""A deferred scorer: outcomes that take time to resolve are scored later, from a queue.

Each run puts its run id on a queue and returns at once. A scorer thread takes run ids off the
queue when their outcome is known (here: whether the ticket was resolved) and scores those runs
with ``create_score``: no span of the run is open any more, and none needs to be.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/deferred_scorer.py
"""

import queue
import threading

from opentelemetry import trace

import otel_scoring

provider = otel_scoring.configure(service_name="support-bot")
tracer = trace.get_tracer("support-bot")

to_score: "queue.Queue[tuple]" = queue.Queue(maxsize=1000)  # bounded: a stuck scorer cannot eat memory
DONE = None


def handle_ticket(ticket_id: str, content: str) -> None:
    with tracer.start_as_current_span("handle-ticket") as run:
        run.set_attribute("ticket.id", ticket_id)
        with tracer.start_as_current_span("draft-reply"):
            reply = f"Thanks for reporting: {content}"
    to_score.put((trace.format_trace_id(run.get_span_context().trace_id), ticket_id, reply))


def ticket_resolved(ticket_id: str) -> bool:
    return not ticket_id.endswith("3")  # in real life: ask the ticketing system, days later


def scorer() -> None:
    while (item := to_score.get()) is not DONE:
        run_id, ticket_id, _reply = item
        otel_scoring.create_score(name="ticket-resolved", value=ticket_resolved(ticket_id), trace_id=run_id, comment=f"ticket {ticket_id}")


if __name__ == "__main__":
    worker = threading.Thread(target=scorer, name="deferred-scorer")
    worker.start()
    for n in range(1, 5):
        handle_ticket(f"T-{n}", f"problem number {n}")
    to_score.put(DONE)
    worker.join(timeout=30)
    provider.shutdown()
