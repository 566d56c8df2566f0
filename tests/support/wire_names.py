"""Is a name one that otel_scoring.schema defines? Shared by the query and Collector-config tests.

A name is a wire name when it is one of the schema's constants, or when the schema's own template
functions (``score_value_attribute``, ``score_label_attribute``, ``metadata_attribute``) build it.
"""

from __future__ import annotations

from otel_scoring import schema

EXACT_NAMES = frozenset(value for constant, value in vars(schema).items() if constant.isupper() and isinstance(value, str) and "{" not in value)

EVENT_NAMES = frozenset((schema.EVALUATION_RESULT_EVENT, schema.METADATA_UPDATE_EVENT))


def is_score_value_attribute(name: str) -> bool:
    """A summary ``otel_scoring.<scope>_score.value.<name>`` attribute (a double)."""
    return _templated_score_name(name, schema.score_value_attribute)


def is_wire_name(name: str) -> bool:
    if name in EXACT_NAMES:
        return True
    if _templated_score_name(name, schema.score_value_attribute) or _templated_score_name(name, schema.score_label_attribute):
        return True
    if name.startswith(schema.METADATA_ATTRIBUTE_PREFIX):
        kind, _, key = name[len(schema.METADATA_ATTRIBUTE_PREFIX) :].partition(".")
        return bool(kind and key) and schema.metadata_attribute(kind, key) == name
    return False


def is_numeric_score_attribute(name: str) -> bool:
    """Attributes holding a score's value as a double."""
    return name == schema.GEN_AI_EVALUATION_SCORE_VALUE or is_score_value_attribute(name)


def _templated_score_name(name: str, build) -> bool:
    for scope in schema.SCORE_SCOPES:
        prefix = build(scope, "")
        score_name = name[len(prefix) :]
        if name.startswith(prefix) and score_name and build(scope, score_name) == name:
            return True
    return False
