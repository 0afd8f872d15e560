"""An independent reading of the Sigma rules in plain Python: what a SIEM would fire on a Zendesk record.

The known-answer tests compare `sensitive_changes` (the rules compiled to SQL) with this. It shares
nothing with the compiler but pySigma's parse of the rule (the condition tree, with each
modifier already applied to its value): the matching itself is written here from Sigma's
specification. Strings match case-insensitively and whole (`*` and `?` are the wildcards; the
modifiers contains/startswith/endswith add them), `|cased` keeps case, `|re` is a search with the
rule's flags, a missing or null field matches nothing, numbers compare as numbers.

The record is Zendesk's, as the API serves it: `change_description` is read HTML-decoded twice
(what `change_description_text` holds), `is_system` is `actor_id == -1`, `audit_log_id` is `id`.
"""
from __future__ import annotations

import html
import re
from typing import Any

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from zendesk_audit.models.detection_rules import DetectionRule

_PYTHON_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


def field_value(record: dict[str, Any], field: str) -> Any:
    """A Sigma field of a Zendesk record, as the rules read it."""
    if field == "change_description":
        raw = record.get("change_description")
        return html.unescape(html.unescape(raw)) if raw is not None else None
    if field == "is_system":
        return record.get("actor_id") == -1 if record.get("actor_id") is not None else None
    if field in ("id", "audit_log_id"):
        return record.get("id")
    return record.get(field)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string_matches(pattern: SigmaString, value: Any, cased: bool) -> bool:
    if value is None:
        return False
    regex = ""
    for part in pattern.s:
        if part is SpecialChars.WILDCARD_MULTI:
            regex += ".*"
        elif part is SpecialChars.WILDCARD_SINGLE:
            regex += "."
        else:
            regex += re.escape(str(part))
    flags = re.DOTALL | (0 if cased else re.IGNORECASE)
    return re.fullmatch(regex, _as_text(value), flags) is not None


def _value_matches(expected: Any, value: Any) -> bool:
    if isinstance(expected, SigmaNull):
        return value is None
    if isinstance(expected, SigmaExists):
        return (value is not None) == expected.exists
    if value is None:
        return False
    if isinstance(expected, SigmaCasedString):
        return _string_matches(expected, value, cased=True)
    if isinstance(expected, SigmaString):
        return _string_matches(expected, value, cased=False)
    if isinstance(expected, SigmaRegularExpression):
        flags = 0
        for flag in expected.flags:
            flags |= _PYTHON_FLAGS[flag]
        return re.search(expected.regexp.original, _as_text(value), flags) is not None
    if isinstance(expected, SigmaBool):
        return value is expected.boolean if isinstance(value, bool) else _as_text(value).lower() == _as_text(expected.boolean)
    if isinstance(expected, SigmaNumber):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value == expected.number
        return _as_text(value).lower() == str(expected.number)
    if isinstance(expected, SigmaCompareExpression):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        number = expected.number.number
        return {
            CompareOperators.LT: value < number, CompareOperators.LTE: value <= number,
            CompareOperators.GT: value > number, CompareOperators.GTE: value >= number,
        }[expected.op]
    raise NotImplementedError(f"the oracle does not read {type(expected).__name__}")


def _holds(condition: Any, record: dict[str, Any]) -> bool:
    if isinstance(condition, ConditionAND):
        return all(_holds(arg, record) for arg in condition.args)
    if isinstance(condition, ConditionOR):
        return any(_holds(arg, record) for arg in condition.args)
    if isinstance(condition, ConditionNOT):
        return not _holds(condition.args[0], record)
    if isinstance(condition, ConditionFieldEqualsValueExpression):
        return _value_matches(condition.value, field_value(record, condition.field))
    raise NotImplementedError(f"the oracle does not read {type(condition).__name__}")


def matches(rule: DetectionRule, record: dict[str, Any]) -> bool:
    """Whether the rule fires on the Zendesk record (any of its conditions holds)."""
    return any(_holds(condition.parsed, record) for condition in rule.sigma.detection.parsed_condition)
