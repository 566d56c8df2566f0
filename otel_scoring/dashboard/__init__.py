"""The score dashboard: trends, runs and cohort comparisons, in a browser and on the CLI.

``otel-scoring serve`` mounts a :class:`Dashboard` on its OTLP/HTTP port under ``/ui/``;
``otel-scoring ui`` serves one without receiving. The page and ``otel-scoring compare`` read the
same JSON API (:mod:`otel_scoring.dashboard._api`, documented in docs/dashboard.md).
"""

from otel_scoring.dashboard._api import ApiError, compare
from otel_scoring.dashboard._app import DEFAULT_PREFIX, Dashboard, NotReceiving

__all__ = ["ApiError", "DEFAULT_PREFIX", "Dashboard", "NotReceiving", "compare"]
