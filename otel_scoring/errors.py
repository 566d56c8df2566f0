"""Exceptions otel-scoring raises, and only in strict mode or at construction."""

from __future__ import annotations

__all__ = ["ScoreValidationError"]


class ScoreValidationError(ValueError):
    """A score or metadata update broke a rule and was not recorded.

    Raised only in strict mode (``strict=True`` or ``OTEL_SCORING_STRICT=true``); otherwise the
    same message is logged once as a warning and the call returns without recording anything.
    """

    def __init__(self, subject: object, problem: str) -> None:
        subject = str(subject)  # may arrive as a lazily formatted name (_validation.LazySubject)
        self.subject = subject
        self.problem = problem
        super().__init__(f"{subject} not recorded: {problem}")
