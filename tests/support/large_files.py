"""Large Collector JSON-lines files of scored spans, for the CLI's long-work and memory tests.

One request is made for real (a TracerProvider with the scoring processor, the SDK's encoder, the
Collector's JSON spelling); the file repeats it with every score id made unique per copy, so a
file of any size is written in a fraction of the time the SDK would take to make every span.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Tuple

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoringSpanProcessor, schema
from support.span_forms import collector_json

_COPY = "\x00"  # where the copy number goes in the template; never in JSON text


def scored_request_template(spans: int) -> Tuple[str, int]:
    """One Collector JSON line of ``spans`` spans with one score each, its score ids ending in a
    copy marker; and the number of scores in it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("large-files")
    try:
        for number in range(spans):
            with tracer.start_as_current_span(f"answer-{number}"):
                otel_scoring.score_current_span(name="helpfulness", value=number / spans, comment="a comment of ordinary length")
        finished = exporter.get_finished_spans()
    finally:
        provider.shutdown()
    ids = [event.attributes[schema.SCORE_ID] for span in finished for event in span.events if schema.SCORE_ID in (event.attributes or {})]
    line = json.dumps(collector_json(finished), separators=(",", ":"))
    pattern = re.compile("|".join(re.escape(json.dumps(score_id)) for score_id in ids))
    template = pattern.sub(lambda found: found.group(0)[:-1] + "-" + _COPY + '"', line)
    return template, len(ids)


def write_collector_jsonl(path: Path, requests: int, spans_per_request: int) -> int:
    """``requests`` lines of ``spans_per_request`` scored spans each; returns the number of scores."""
    template, scores = scored_request_template(spans_per_request)
    with open(path, "w", encoding="utf-8") as file:
        for copy in range(requests):
            file.write(template.replace(_COPY, str(copy)))
            file.write("\n")
    return scores * requests
