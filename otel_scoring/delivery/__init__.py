"""Score-first delivery: export that never gives up a score for a plain span, and a disk spool.

``configure()`` uses it by default. To build it by hand::

    from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor, SpanSpool

    processor = ScoreFirstSpanProcessor(sender=OTLPTraceSender(), spool=SpanSpool("/var/spool/my-app"))
    provider.add_span_processor(processor)
    ...
    processor.stats  # DeliveryStats: queued, exported, spooled, resent, dropped, per lane

What is and is not guaranteed is written down in ``docs/reliability.md``.
"""

from otel_scoring.delivery.processor import ScoreFirstSpanProcessor, carries_scores
from otel_scoring.delivery.sender import OTLPTraceSender, SendOutcome
from otel_scoring.delivery.spool import ResendResult, SpanSpool, SpoolEntry
from otel_scoring.delivery.stats import DeliveryStats

__all__ = [
    "DeliveryStats",
    "OTLPTraceSender",
    "ResendResult",
    "ScoreFirstSpanProcessor",
    "SendOutcome",
    "SpanSpool",
    "SpoolEntry",
    "carries_scores",
]
