"""Sigma's regular expressions rewritten for the SIEMs whose regex match is anchored.

A Sigma `re` matches anywhere in the value (a search), like the marts' SQL and Splunk's or Kusto's
regex. Loki's label filters and Elasticsearch's regexps (Lucene query string, ES|QL RLIKE) match the
whole value, and pySigma's backends pass the expression through unchanged, so `role changed from
...` would never match a record that starts with "Support role ...". The export's pipeline
therefore rewrites each regex for those targets:

- Loki (RE2): `(?s).*(?:X).*` (or `(?s).*(?i:X).*` for `(?i)X`): same meaning, anchored.
- Elasticsearch (Lucene RegExp): no inline flags, no `\\n`, no anchors, more reserved characters.
  `(?i)` becomes `[aA]` classes, `\\n` a newline character, `^`/`$` decide whether `.*` surrounds
  the expression, and Lucene's operator characters are escaped. Shorthand classes (`\\d`, `\\w`,
  `\\s`, `\\b`) have no Lucene form: such a rule fails in one line for these targets.

Only the portable subset our rules may use (`detection_rules.PORTABLE_MODIFIERS`) is handled.
"""
from __future__ import annotations

from dataclasses import dataclass

from sigma.exceptions import SigmaTransformationError
from sigma.processing.transformations.base import ValueTransformation
from sigma.types import SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaType

# Characters Lucene's RegExp treats as operators (with all its optional syntax on).
_LUCENE_RESERVED = set('.?+*|{}[]()"\\#@&<>~')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _split_flags(text: str, flags: set[SigmaRegularExpressionFlag]) -> tuple[str, bool]:
    ignore_case = SigmaRegularExpressionFlag.IGNORECASE in flags
    if text.startswith("(?i)"):
        return text[4:], True
    return text, ignore_case


def anchored_re2(text: str, flags: set[SigmaRegularExpressionFlag] = frozenset()) -> str:
    """The regex as an anchored RE2 expression that matches where the search matched."""
    body, ignore_case = _split_flags(text, set(flags))
    return f"(?s).*(?{'i' if ignore_case else ''}:{body}).*"


def _both_cases(char: str) -> str:
    return char.lower() + char.upper() if char.lower() != char.upper() else char


def lucene_regex(text: str, flags: set[SigmaRegularExpressionFlag] = frozenset()) -> str:
    """The regex in Lucene's RegExp syntax, anchored as Lucene matches (the whole value)."""
    body, ignore_case = _split_flags(text, set(flags))
    starts = body.startswith("^")
    if starts:
        body = body[1:]
    ends = body.endswith("$") and not body.endswith("\\$")
    if ends:
        body = body[:-1]
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 >= len(body):
                raise SigmaTransformationError("a regular expression ends in a backslash")
            following = body[i + 1]
            if following in _ESCAPES:
                out.append(_ESCAPES[following])
            elif following.isalnum():
                raise SigmaTransformationError(f"\\{following} has no Lucene form: write the characters as a class")
            else:
                out.append("\\" + following)
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
                out.append(char)
            elif ignore_case and char.isalpha() and body[i + 1:i + 2] == "-" and body[i + 2:i + 3].isalpha():
                low, high = char, body[i + 2]
                out.append(f"{low.lower()}-{high.lower()}{low.upper()}-{high.upper()}")
                i += 3
                continue
            elif ignore_case and char.isalpha():
                out.append(_both_cases(char))
            else:
                out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if body[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
        elif char == "(":
            if body.startswith("(?:", i):
                i += 2
            elif body[i + 1:i + 2] == "?":
                raise SigmaTransformationError("an inline group option has no Lucene form")
            out.append("(")
        elif char in "|)*+?.{}":
            out.append(char)
        elif char in "^$":
            raise SigmaTransformationError(f"an anchor ({char}) inside the expression has no Lucene form")
        elif ignore_case and char.isalpha() and char.lower() != char.upper():
            out.append(f"[{_both_cases(char)}]")
        elif char in _LUCENE_RESERVED:
            out.append("\\" + char)
        else:
            out.append(char)
        i += 1
    return f"{'' if starts else '.*'}({''.join(out)}){'' if ends else '.*'}"


@dataclass
class AnchoredRegexTransformation(ValueTransformation):
    """Rewrites each Sigma regex for an anchored matcher: `syntax` is `re2` or `lucene`."""

    syntax: str

    def apply_value(self, field: str, val: SigmaType) -> SigmaType | None:
        if not isinstance(val, SigmaRegularExpression):
            return None
        rewrite = lucene_regex if self.syntax == "lucene" else anchored_re2
        return SigmaRegularExpression(rewrite(str(val.regexp), set(val.flags)))
