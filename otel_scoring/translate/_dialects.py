"""Scores other producers write as span attributes or as spans of their own: one small reader each.

Every reader takes a span view and gives the records its producer's rules define, each with its
``source``. A form that breaks its producer's rules raises and is skipped (and counted) by the
collector on its own; nothing here is fatal.

* **Evaluation spans** (OpenSearch ``score()``, Strands Evals): a span with
  ``gen_ai.evaluation.name`` as a span attribute is an evaluation *of its parent*. Its
  ``gen_ai.evaluation.result`` events (OpenSearch) or else its attributes (Strands, value as a
  string) are the results. A parent id equal to the trace id's low 64 bits is how OpenSearch
  scores a whole trace: a trace score.
* **Logfire feedback** (``logfire.experimental.annotations.record_feedback``): a span with
  ``logfire.span_type = annotation`` and ``logfire.feedback.name``; the value under the attribute
  named after the score (number: score, string: label, bool: assertion), the comment in
  ``logfire.feedback.comment``; it scores its parent.
* **OpenInference feedback**: ``annotations.<i>.annotation.*`` and ``evaluations.<i>.evaluation.*``
  at span scope, ``trace.`` and ``session.`` prefixed at trace and session scope (the session from
  the span's ``session.id``); ``identifier`` gives the idempotent id, ``annotator_kind`` and
  ``metadata`` are kept in the record's metadata.
* **Braintrust**: ``braintrust.scores``, a JSON object of name → number. Braintrust's Eval (its
  Java SDK) writes it on one ``score`` span per scorer, typed ``"score"`` in the JSON attribute
  ``braintrust.span_attributes``, whose parent is the ``eval`` span of the case it scores: such a
  span scores its parent. On any other span (as Braintrust's OTel docs describe) it scores that span.
* **pydantic-evals case spans** (``Dataset.evaluate``): JSON attributes ``scores``, ``labels`` and
  ``assertions`` on the ``case: …`` span, each an object of name → ``{"value", "reason", ...}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from otel_scoring import schema
from otel_scoring.records import ScoreRecord
from otel_scoring.translate._span_view import SpanView, time_from_nanos

OPENINFERENCE_SOURCE = "OPENINFERENCE"

EVALUATION_SPAN_SOURCE = "GENAI_EVALUATION_SPAN"
LOGFIRE_SOURCE = "LOGFIRE"
BRAINTRUST_SOURCE = "BRAINTRUST"
PYDANTIC_EVALS_SOURCE = "PYDANTIC_EVALS"

LOGFIRE_SPAN_TYPE = schema.LOGFIRE_SPAN_TYPE
LOGFIRE_FEEDBACK_NAME = schema.LOGFIRE_FEEDBACK_NAME
LOGFIRE_FEEDBACK_COMMENT = schema.LOGFIRE_FEEDBACK_COMMENT
BRAINTRUST_SCORES = schema.BRAINTRUST_SCORES
BRAINTRUST_SPAN_ATTRIBUTES = schema.BRAINTRUST_SPAN_ATTRIBUTES
OPENINFERENCE_SESSION_ID = schema.OPENINFERENCE_SESSION_ID
PYDANTIC_EVALS_KINDS = dict(schema.PYDANTIC_EVALS_RESULTS)

# scope of each OpenInference prefix
_OPENINFERENCE_PREFIXES = {
    schema.OPENINFERENCE_SPAN_ANNOTATIONS: "span",
    schema.OPENINFERENCE_SPAN_EVALUATIONS: "span",
    schema.OPENINFERENCE_TRACE_ANNOTATIONS: "trace",
    schema.OPENINFERENCE_TRACE_EVALUATIONS: "trace",
    schema.OPENINFERENCE_SESSION_ANNOTATIONS: "session",
    schema.OPENINFERENCE_SESSION_EVALUATIONS: "session",
}
_OPENINFERENCE_KEY = re.compile(
    "(%s)(\\d+)\\.(annotation|evaluation)\\.(name|score|label|explanation|annotator_kind|identifier|metadata)" % "|".join(re.escape(prefix) for prefix in _OPENINFERENCE_PREFIXES)
)

# Attribute keys (exact, and prefixes) that may hold one of these forms: the OTLP protobuf reader
# builds a full view only for spans with one of them, and only when may_hold_dialects() says the
# request's bytes may hold any.
KEYS = frozenset((schema.GEN_AI_EVALUATION_NAME, LOGFIRE_FEEDBACK_NAME, BRAINTRUST_SCORES, *PYDANTIC_EVALS_KINDS))
KEY_PREFIXES = tuple(_OPENINFERENCE_PREFIXES)
MARKERS = (b"annotations.", b"evaluations.", b"logfire.feedback.name", b"braintrust.scores", b"assertions")
_EVALUATION_NAME_BYTES = schema.GEN_AI_EVALUATION_NAME.encode("utf-8")
_RESULT_EVENT_BYTES = schema.EVALUATION_RESULT_EVENT.encode("utf-8")


# In OpenInference's markers and in the annotation prefix (schema.OPENINFERENCE_ANNOTATION_PREFIX):
# one search for it rules out all three in most requests.
ANNOTATION_BYTES = b"annotation"
_MARKERS_BUT_ANNOTATIONS = tuple(marker for marker in MARKERS if ANNOTATION_BYTES not in marker)


def may_hold_dialects(raw: bytes, annotation_found: bool = True) -> bool:
    """Whether serialized spans may hold one of these forms (False: they certainly do not).

    Every ``gen_ai.evaluation.result`` event, ours included, holds one ``gen_ai.evaluation.name``:
    more names than events means some are span attributes, i.e. evaluation spans. Counting keeps
    requests of our own events, the receiver's usual load, off the per-span attribute scan.
    ``annotation_found``: False when the caller has found no ``annotation`` in ``raw`` (each search
    is a pass over the whole request, and together they cost more than parsing it).
    """
    if any(marker in raw for marker in (MARKERS if annotation_found else _MARKERS_BUT_ANNOTATIONS)):
        return True
    names = raw.count(_EVALUATION_NAME_BYTES)
    return names > 0 and names > raw.count(_RESULT_EVENT_BYTES)

# (trace id, span id, service name, span name, time, attributes) -> a GenAI score record; given
# by the decoder so the convention's rules have one home.
GenAIScore = Callable[[Optional[str], Optional[str], Optional[str], Optional[str], int, Mapping[str, Any]], ScoreRecord]
DerivedId = Callable[..., str]


def has_dialect_key(key: str) -> bool:
    return key in KEYS or key.startswith(KEY_PREFIXES)


def is_evaluation_span(attributes: Mapping[str, Any]) -> bool:
    return isinstance(attributes.get(schema.GEN_AI_EVALUATION_NAME), str)


def readers(view: SpanView) -> List[Callable[..., Iterable[ScoreRecord]]]:
    """The readers whose form ``view`` may hold (cheap checks; each reader checks fully)."""
    attributes = view.attributes
    found: List[Callable[..., Iterable[ScoreRecord]]] = []
    if is_evaluation_span(attributes):
        found.append(evaluation_span_scores)
    if attributes.get(LOGFIRE_SPAN_TYPE) == "annotation" and LOGFIRE_FEEDBACK_NAME in attributes:
        found.append(logfire_feedback_scores)
    if any(key.startswith(KEY_PREFIXES) for key in attributes):
        found.append(openinference_scores)
    if BRAINTRUST_SCORES in attributes:
        found.append(braintrust_scores)
    if any(key in attributes for key in PYDANTIC_EVALS_KINDS):
        found.append(pydantic_evals_scores)
    return found


class Malformed(ValueError):
    """The form is there but breaks its producer's rules."""


# --- Evaluation spans (OpenSearch, Strands) ---------------------------------------------------------


def evaluation_span_scores(view: SpanView, genai_score: GenAIScore, derived_id: DerivedId) -> List[ScoreRecord]:
    trace_id, span_id = _evaluated(view)
    results = [(time, attributes) for name, time, attributes in view.events if name == schema.EVALUATION_RESULT_EVENT and schema.SCORE_ID not in attributes]
    if not results:
        results = [(view.start_time_unix_nano, _numeric_value(view.attributes))]
    records = []
    for time_unix_nano, attributes in results:
        record = genai_score(trace_id, span_id, view.service_name, None, time_unix_nano, attributes)
        records.append(_with(record, source=EVALUATION_SPAN_SOURCE))
    return records


def _evaluated(view: SpanView) -> Tuple[Optional[str], Optional[str]]:
    """(trace id, span id) of what an evaluation span evaluates: its parent, or its trace."""
    if view.trace_id is None:
        raise Malformed("no trace id")
    parent = view.parent_span_id
    if parent is None:
        return None, None  # standalone: only a gen_ai.response.id can say what it scores
    if parent == view.trace_id[16:]:
        return view.trace_id, None  # OpenSearch's trace-level score: parent id from the trace id
    return view.trace_id, parent


def _numeric_value(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """Strands writes the value as a string; an empty explanation means none."""
    value = attributes.get(schema.GEN_AI_EVALUATION_SCORE_VALUE)
    fixed = dict(attributes)
    if isinstance(value, str):
        try:
            fixed[schema.GEN_AI_EVALUATION_SCORE_VALUE] = float(value)
        except ValueError:
            raise Malformed(f"score value {value!r} is not a number") from None
    if fixed.get(schema.GEN_AI_EVALUATION_EXPLANATION) == "":
        del fixed[schema.GEN_AI_EVALUATION_EXPLANATION]
    return fixed


# --- Logfire feedback ---------------------------------------------------------------------------------


def logfire_feedback_scores(view: SpanView, genai_score: GenAIScore, derived_id: DerivedId) -> List[ScoreRecord]:
    attributes = view.attributes
    name = attributes.get(LOGFIRE_FEEDBACK_NAME)
    if not isinstance(name, str) or not name or view.trace_id is None or view.span_id is None or view.parent_span_id is None:
        raise Malformed("feedback without a name or a parent span")
    value, label, data_type = _typed(attributes.get(name))
    comment = attributes.get(LOGFIRE_FEEDBACK_COMMENT)
    return [
        _record(
            # The annotation span is unique to this feedback: re-reading it gives the same id.
            derived_id(LOGFIRE_SOURCE, view.trace_id, view.span_id),
            name,
            value,
            label,
            data_type,
            "span",
            view.trace_id,
            view.parent_span_id,
            LOGFIRE_SOURCE,
            comment if isinstance(comment, str) else None,
            view,
        )
    ]


def _typed(raw: Any) -> Tuple[Optional[float], Optional[str], str]:
    """Logfire's rule: booleans are assertions, numbers scores, strings labels."""
    if isinstance(raw, bool):
        return (1.0 if raw else 0.0), schema.BOOLEAN_LABELS[raw], "BOOLEAN"
    if isinstance(raw, (int, float)):
        return _finite(raw), None, "NUMERIC"
    if isinstance(raw, str) and raw:
        return None, raw, "CATEGORICAL"
    raise Malformed(f"feedback value {raw!r} is neither a number, a string nor a boolean")


# --- OpenInference feedback -------------------------------------------------------------------------


def openinference_scores(view: SpanView, genai_score: GenAIScore, derived_id: DerivedId) -> List[ScoreRecord]:
    groups: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for key, value in view.attributes.items():
        match = _OPENINFERENCE_KEY.fullmatch(key)
        if match is not None:
            prefix, index, _, part = match.groups()
            groups.setdefault((prefix, index), {})[part] = value
    if view.trace_id is None or view.span_id is None:
        raise Malformed("no trace id or span id")
    records = []
    for (prefix, index), parts in sorted(groups.items(), key=lambda item: (item[0][0], int(item[0][1]))):
        name = parts.get("name")
        if not isinstance(name, str) or not name:
            continue
        score = parts.get("score")
        value = None if score is None else _finite(score)
        label = parts.get("label") if isinstance(parts.get("label"), str) and parts.get("label") else None
        if value is None and label is None:
            continue
        scope = _OPENINFERENCE_PREFIXES[prefix]
        session_id = view.attributes.get(OPENINFERENCE_SESSION_ID) if scope == "session" else None
        if scope == "session" and not isinstance(session_id, str):
            continue
        identifier = parts.get("identifier")
        target = {"span": (view.trace_id, view.span_id), "trace": (view.trace_id,), "session": (str(session_id),)}[scope]
        if isinstance(identifier, str) and identifier:
            score_id = derived_id(OPENINFERENCE_SOURCE, scope, *target, name, identifier)
        else:
            score_id = derived_id(OPENINFERENCE_SOURCE, view.trace_id, view.span_id, prefix, index, name)
        metadata = {field: _json_or_text(parts[field]) for field in ("annotator_kind", "identifier", "metadata") if parts.get(field) not in (None, "")}
        explanation = parts.get("explanation")
        records.append(
            _record(
                score_id,
                name,
                value,
                label,
                "NUMERIC" if value is not None else "CATEGORICAL",
                scope,
                view.trace_id if scope != "session" else None,
                view.span_id if scope == "span" else None,
                OPENINFERENCE_SOURCE,
                explanation if isinstance(explanation, str) and explanation else None,
                view,
                session_id=session_id if scope == "session" else None,
                metadata=metadata or None,
            )
        )
    return records


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# --- Braintrust ---------------------------------------------------------------------------------------


def braintrust_scores(view: SpanView, genai_score: GenAIScore, derived_id: DerivedId) -> List[ScoreRecord]:
    scores = _object(view.attributes.get(BRAINTRUST_SCORES))
    if view.trace_id is None or view.span_id is None:
        raise Malformed("no trace id or span id")
    scored = view.span_id
    if _braintrust_span_type(view) == "score":
        if view.parent_span_id is None:
            raise Malformed("a Braintrust score span without the span it scores")
        scored = view.parent_span_id
    records = []
    for name, raw in scores.items():
        if raw is None or isinstance(raw, bool) or not isinstance(raw, (int, float)) or not name:
            continue  # Braintrust writes null for a scorer that did not run
        value = _finite(raw)
        # The id is of the span carrying the scores: two scorers may each write a score of one name.
        records.append(_record(derived_id(BRAINTRUST_SOURCE, view.trace_id, view.span_id, name), name, value, None, "NUMERIC", "span", view.trace_id, scored, BRAINTRUST_SOURCE, None, view))
    return records


def _braintrust_span_type(view: SpanView) -> Optional[str]:
    raw = view.attributes.get(BRAINTRUST_SPAN_ATTRIBUTES)
    if raw is None:
        return None
    span_type = _object(raw).get("type")
    return span_type if isinstance(span_type, str) else None


# --- pydantic-evals case spans ----------------------------------------------------------------------


def pydantic_evals_scores(view: SpanView, genai_score: GenAIScore, derived_id: DerivedId) -> List[ScoreRecord]:
    if view.trace_id is None or view.span_id is None or not view.name.startswith("case: "):
        return []  # "scores" and friends are common words: only pydantic-evals' case spans count
    records = []
    for kind, data_type in PYDANTIC_EVALS_KINDS.items():
        if kind not in view.attributes:
            continue
        for name, result in _object(view.attributes[kind]).items():
            if not isinstance(result, Mapping) or not name:
                raise Malformed(f"{kind}.{name} is not an evaluation result")
            raw = result.get("value")
            if data_type == "BOOLEAN":
                if not isinstance(raw, bool):
                    raise Malformed(f"assertion {name} is not a boolean")
                value, label = (1.0 if raw else 0.0), schema.BOOLEAN_LABELS[raw]
            elif data_type == "CATEGORICAL":
                if not isinstance(raw, str):
                    raise Malformed(f"label {name} is not a string")
                value, label = None, raw
            else:
                if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                    raise Malformed(f"score {name} is not a number")
                value, label = _finite(raw), None
            reason = result.get("reason")
            records.append(
                _record(
                    derived_id(PYDANTIC_EVALS_SOURCE, view.trace_id, view.span_id, kind, name),
                    name,
                    value,
                    label,
                    data_type,
                    "span",
                    view.trace_id,
                    view.span_id,
                    PYDANTIC_EVALS_SOURCE,
                    reason if isinstance(reason, str) and reason else None,
                    view,
                )
            )
    return records


# --- Shared -------------------------------------------------------------------------------------------


def _object(raw: Any) -> Mapping[str, Any]:
    """A JSON object attribute: JSON text (as most SDKs write dicts) or a map value."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise Malformed("not JSON") from None
    if not isinstance(raw, Mapping):
        raise Malformed("not a JSON object")
    return raw


def _finite(raw: Any) -> float:
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise Malformed("not a finite number")
    return value


def _with(record: ScoreRecord, **changes: Any) -> ScoreRecord:
    return replace(record, **changes)


def _record(
    score_id: str,
    name: str,
    value: Optional[float],
    label: Optional[str],
    data_type: str,
    scope: str,
    trace_id: Optional[str],
    span_id: Optional[str],
    source: str,
    comment: Optional[str],
    view: SpanView,
    *,
    session_id: Optional[str] = None,
    metadata: Any = None,
) -> ScoreRecord:
    """A record found on ``view``; its span name is the view's when the view is what it scores."""
    return ScoreRecord(
        id=score_id,
        name=name,
        value=value,
        string_value=label,
        data_type=data_type,
        scope=scope,
        trace_id=trace_id,
        observation_id=span_id,
        session_id=session_id,
        dataset_run_id=None,
        source=source,
        comment=comment,
        config_id=None,
        metadata=metadata,
        timestamp=time_from_nanos(view.start_time_unix_nano),
        service_name=view.service_name,
        span_name=view.name if span_id is not None and span_id == view.span_id else None,
    )
