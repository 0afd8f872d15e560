"""What a Sigma rule means, in plain Python: the oracle the detection tests compare against.

Independent of every backend: it walks the rule as pySigma parsed it (the detections and the
unprocessed condition tree) and applies Sigma's matching rules itself, so a test that compares a
backend's answers (the SQL of `sensitive_changes`, a SIEM query) with this one proves the backend
right, not merely consistent with itself.

Supported, exactly the subset our rules may use (anything else raises `UnsupportedSigma`):
- plain values: whole-value match, case-insensitive (`cased`: as written), `*` and `?` wildcards;
  `null` matches a missing value (SQL's `is null`: not the empty string); `exists`; numbers with
  `gt`, `gte`, `lt`, `lte`;
- modifiers `contains`, `startswith`, `endswith` (case-insensitive), `all` (every value of the
  list instead of any), `re` (Python `re.search`, case-sensitive unless `(?i)` or `re|i`; `re|m`, `re|s` as Python's flags);
- several values of a field: any of them; several fields of a map: all of them; a list of maps: any;
- conditions: `and`, `or`, `not`, parentheses, `1 of X*`, `all of X*`, `1 of them`, `all of them`.

A missing or null field compares as the empty string (the marts compare `coalesce(column, '')`),
so `not <something about the field>` holds for a record that lacks it. Records are Zendesk's, as the
API serves them: `change_description` is read HTML-decoded twice (as staging decodes it) and
`is_system` is derived from `actor_id` -1, as the marts do.
"""
from __future__ import annotations

import fnmatch
import html
import re
from collections.abc import Mapping
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
)
from sigma.modifiers import (
    SigmaAllModifier,
    SigmaCaseSensitiveModifier,
    SigmaCompareModifier,
    SigmaContainsModifier,
    SigmaEndswithModifier,
    SigmaExistsModifier,
    SigmaRegularExpressionDotAllFlagModifier,
    SigmaRegularExpressionIgnoreCaseFlagModifier,
    SigmaRegularExpressionModifier,
    SigmaRegularExpressionMultilineFlagModifier,
    SigmaStartswithModifier,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

SUPPORTED_MODIFIERS = {
    SigmaContainsModifier: "contains",
    SigmaStartswithModifier: "startswith",
    SigmaEndswithModifier: "endswith",
    SigmaAllModifier: "all",
    SigmaRegularExpressionModifier: "re",
    SigmaRegularExpressionIgnoreCaseFlagModifier: "i",
    SigmaRegularExpressionMultilineFlagModifier: "m",
    SigmaRegularExpressionDotAllFlagModifier: "s",
    SigmaCaseSensitiveModifier: "cased",
    SigmaExistsModifier: "exists",
}


class UnsupportedSigma(ValueError):
    """The rule uses a Sigma feature outside the subset that compiles to plain SQL."""


def _text(record: Mapping[str, Any], field: str) -> str | None:
    if field == "is_system":
        return None if record.get("actor_id") is None else str(record["actor_id"] == -1).lower()
    value = record.get(field)
    if value is None:
        return None
    return html.unescape(html.unescape(value)) if field == "change_description" else str(value)


def _plain_pattern(value: SigmaString, modifiers: set[str]) -> re.Pattern[str]:
    parts = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            parts.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(".")
        elif isinstance(part, str):
            parts.append(re.escape(part))
        else:
            raise UnsupportedSigma(f"placeholder {part!r} in a value")
    body = "".join(parts)
    if "contains" in modifiers or "endswith" in modifiers:
        body = ".*" + body
    if "contains" in modifiers or "startswith" in modifiers:
        body = body + ".*"
    return re.compile(body, re.DOTALL if "cased" in modifiers else re.IGNORECASE | re.DOTALL)


_COMPARE = {
    SigmaCompareExpression.CompareOperators.GT: lambda a, b: a > b,
    SigmaCompareExpression.CompareOperators.GTE: lambda a, b: a >= b,
    SigmaCompareExpression.CompareOperators.LT: lambda a, b: a < b,
    SigmaCompareExpression.CompareOperators.LTE: lambda a, b: a <= b,
}


def _value_matches(value: Any, text: str | None, modifiers: set[str]) -> bool:
    if isinstance(value, SigmaNull):
        return text is None
    if isinstance(value, SigmaExists):
        return (text is not None) == value.exists
    if isinstance(value, SigmaCompareExpression):
        try:
            return text is not None and _COMPARE[value.op](float(text), float(value.number.number))
        except ValueError:
            return False
    text = text or ""
    if "re" in modifiers:
        if not isinstance(value, SigmaRegularExpression):
            raise UnsupportedSigma("re without a regular expression")
        flags = (re.IGNORECASE if "i" in modifiers else 0) | (re.MULTILINE if "m" in modifiers else 0)
        flags |= re.DOTALL if "s" in modifiers else 0
        return re.search(str(value.regexp), text, flags) is not None
    if isinstance(value, (SigmaNumber, SigmaBool)):
        return str(value.number if isinstance(value, SigmaNumber) else value.boolean).lower() == text.lower()
    if isinstance(value, SigmaString):
        return _plain_pattern(value, modifiers).fullmatch(text) is not None
    # numbers and booleans compare as their text
    return str(value).lower() == text.lower()


def _item_matches(item: SigmaDetectionItem, record: Mapping[str, Any]) -> bool:
    if item.field is None:
        raise UnsupportedSigma("a keyword (a value without a field)")
    modifiers = set()
    for modifier in item.modifiers:
        if issubclass(modifier, SigmaCompareModifier):
            modifiers.add("compare")
        elif modifier in SUPPORTED_MODIFIERS:
            modifiers.add(SUPPORTED_MODIFIERS[modifier])
        else:
            raise UnsupportedSigma(f"modifier {modifier.__name__}")
    text = _text(record, item.field)
    # The values as the modifiers made them where the oracle reads those (a regex, a comparison,
    # exists); else as written, the oracle applying contains/startswith/endswith itself.
    values = item.value if modifiers & {"re", "compare", "exists"} else item.original_value
    if not isinstance(values, list):
        values = [values]
    results = (_value_matches(value, text, modifiers) for value in values)
    return all(results) if "all" in modifiers else any(results)


def _detection_matches(detection: SigmaDetection | SigmaDetectionItem, record: Mapping[str, Any]) -> bool:
    if isinstance(detection, SigmaDetectionItem):
        return _item_matches(detection, record)
    results = (_detection_matches(child, record) for child in detection.detection_items)
    return all(results) if detection.item_linking is ConditionAND else any(results)


def _condition_matches(node: Any, rule: SigmaRule, record: Mapping[str, Any]) -> bool:
    detections = rule.detection.detections
    if isinstance(node, ConditionIdentifier):
        return _detection_matches(detections[node.identifier], record)
    if isinstance(node, ConditionSelector):
        pattern = "*" if node.pattern == "them" else node.pattern
        names = [name for name in detections if fnmatch.fnmatchcase(name, pattern)]
        if not names:
            raise UnsupportedSigma(f"'{node.pattern}' names no detection")
        results = (_detection_matches(detections[name], record) for name in names)
        return all(results) if node.cond_class is ConditionAND else any(results)
    if isinstance(node, ConditionNOT):
        return not _condition_matches(node.args[0], rule, record)
    if isinstance(node, ConditionAND):
        return all(_condition_matches(arg, rule, record) for arg in node.args)
    if isinstance(node, ConditionOR):
        return any(_condition_matches(arg, rule, record) for arg in node.args)
    raise UnsupportedSigma(f"condition element {type(node).__name__}")


def matches(rule: SigmaRule | Any, record: Mapping[str, Any]) -> bool:
    """Whether the record (Zendesk's audit-log fields) matches the rule (a pySigma rule, or our
    DetectionRule that holds one), any of its conditions."""
    rule = getattr(rule, "sigma", rule)
    return any(
        _condition_matches(condition.parse(postprocess=False), rule, record)
        for condition in rule.detection.parsed_condition
    )
