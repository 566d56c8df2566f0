"""SDK ``ReadableSpan`` objects → span views (what an in-process exporter or test sees)."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

from otel_scoring.schema import format_span_id, format_trace_id
from otel_scoring.translate._span_view import SpanView

_SERVICE_NAME = "service.name"


def span_views(spans: Iterable[Any]) -> Iterator[SpanView]:
    """One view per span; an object that is not a usable span is skipped."""
    for span in spans:
        view = _view(span)
        if view is not None:
            yield view


def _view(span: Any) -> Optional[SpanView]:
    try:
        context = span.context
        if context is None:
            return None
        parent = span.parent
        resource = span.resource
        service_name = resource.attributes.get(_SERVICE_NAME) if resource is not None else None
        return SpanView(
            trace_id=_id(context.trace_id, format_trace_id),
            span_id=_id(context.span_id, format_span_id),
            parent_span_id=_id(parent.span_id, format_span_id) if parent is not None else None,
            name=span.name,
            service_name=service_name if isinstance(service_name, str) else None,
            start_time_unix_nano=span.start_time or 0,
            attributes=span.attributes or {},
            events=[(event.name, event.timestamp, event.attributes or {}) for event in span.events],
            links=[(format_trace_id(link.context.trace_id), format_span_id(link.context.span_id)) for link in span.links],
            resource=dict(resource.attributes) if resource is not None else None,
        )
    except (AttributeError, TypeError, ValueError):
        return None


def _id(value: Any, formatter: Any) -> Optional[str]:
    return formatter(value) if isinstance(value, int) and value > 0 else None
