"""The Sigma rules compiled to SQL: one boolean condition per rule, for the warehouse's engine.

`sensitive_changes` keeps a record once per rule whose condition holds on it. The conditions are
written over the columns of `int_audit_logs_deduplicated` (`detection_rules.FIELDS`, applied as a
pySigma processing pipeline) by a small pySigma backend of ours. The public SQL backends do not
fit: pysigma-backend-duckdb (0.1.4) emits whole `SELECT * FROM logs` statements for DuckDB only,
matches plain values case-sensitively but wildcards with ILIKE, leaves `_` and `%` of a value
unescaped, and negates without regard to nulls; there is none for PostgreSQL or Spark.

What a condition means, on every engine, is Sigma's meaning:

- strings match case-insensitively (`lower(column) = 'value'`, `lower(column) like 'pattern'`),
  `*` and `?` are the only wildcards (a `%`, `_` or `\\` of the value is escaped); `|cased` keeps case;
- `|re` is a search (not a full match) with the rule's flags (`(?i)` at the start of the pattern,
  or `|i`, `|m`, `|s`) translated per engine: DuckDB `regexp_matches` (RE2), PostgreSQL `~`
  (its ARE embedded options; `.` does not cross a line unless `s`), Spark `rlike` (Java, with
  UNIX_LINES and Unicode case), BigQuery `regexp_contains`, Snowflake `regexp_instr`;
- a null field never matches: every comparison is `coalesce(..., false)`, so `not selection`
  holds on a record whose field is null, as in a SIEM;
- numbers compare as numbers on the numeric columns (`actor_id`, `source_id`, `id`), as text elsewhere.

A rule that needs more (keywords without a field, `|cidr`, `|fieldref`, `|expand`, time parts,
correlations) fails in one line naming the file and the modifier.

`python -m zendesk_audit.models.detection_sql` rewrites what plain dbt reads (without this
package's CLI, which passes the shipped rules and the team's as a var and a seed at each build):
`sql/macros/shipped_detections.sql`, the shipped rules' conditions per engine, and
`sql/seeds/detection_rules.csv`, their ids, titles, levels and techniques.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from zendesk_audit.models.detection_rules import FIELDS, DetectionRule, DetectionRuleError
from zendesk_audit.models.seeds import Seed, seed_checksum, seed_csv_text
from zendesk_audit.settings import SQL_DIR

# dbt's target.type -> the SQL spelling used. Databricks is Spark SQL.
DIALECTS = ("duckdb", "postgres", "spark", "databricks", "snowflake", "bigquery")
SHIPPED_MACRO = SQL_DIR / "macros" / "shipped_detections.sql"
SHIPPED_SEED = SQL_DIR / "seeds" / "detection_rules.csv"
RULES_SEED = "detection_rules"
RULES_SEED_COLUMNS = ("rule_id", "title", "severity", "mitre_techniques", "sigma_id", "rule_file")

_NUMERIC = {"audit_log_id", "actor_id", "source_id"}
_BOOLEAN = {"is_system"}
_TEMPORAL = {"created_at"}
_TEXT_TYPE = {"duckdb": "varchar", "postgres": "text", "spark": "string", "databricks": "string",
              "snowflake": "varchar", "bigquery": "string"}
# Engines whose string literals treat a backslash as an escape.
_BACKSLASH_LITERALS = {"spark", "databricks", "bigquery", "snowflake"}
_LEADING_FLAGS = re.compile(r"^\(\?([imsx]+)\)")


class UnsupportedInSql(Exception):
    """A Sigma feature the SQL compiler does not translate; `what` names it."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _field_pipeline() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="zendesk-audit fields",
        priority=20,
        items=[ProcessingItem(identifier="zendesk_audit_fields", transformation=FieldMappingTransformation(dict(FIELDS)))],
    )


class ZendeskSqlBackend(TextQueryBackend):
    """Sigma -> a boolean SQL condition over `int_audit_logs_deduplicated`, for one engine."""

    name: ClassVar[str] = "zendesk-audit SQL condition"
    formats: ClassVar[dict[str, str]] = {"default": "a boolean SQL condition"}
    requires_pipeline: ClassVar[bool] = False
    backend_processing_pipeline: ClassVar[ProcessingPipeline] = _field_pipeline()

    precedence: ClassVar[tuple[type, type, type]] = (ConditionNOT, ConditionAND, ConditionOR)
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "or"
    and_token: ClassVar[str] = "and"
    not_token: ClassVar[str] = "not"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    field_null_expression: ClassVar[str] = "{field} is null"

    def __init__(self, dialect: str) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"no SQL dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
        super().__init__()
        self.dialect = dialect

    # ------------------------------------------------------------------ SQL pieces
    def literal(self, text: str) -> str:
        """A string literal that reads back as `text` on this engine."""
        if self.dialect in _BACKSLASH_LITERALS:
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"

    def _text(self, column: str) -> str:
        if column not in FIELDS.values():
            raise UnsupportedInSql(f"field {column!r}")
        if column in _NUMERIC | _BOOLEAN | _TEMPORAL:
            return f"cast({column} as {_TEXT_TYPE[self.dialect]})"
        return column

    @staticmethod
    def _null_safe(expression: str) -> str:
        return f"coalesce({expression}, false)"

    def _match(self, column: str, value: SigmaString, cased: bool) -> str:
        parts = value.s
        if any(not isinstance(part, (str, SpecialChars)) for part in parts):
            raise UnsupportedInSql("a placeholder (|expand)")
        target = self._text(column) if cased else f"lower({self._text(column)})"

        def fold(text: str) -> str:
            return text if cased else text.lower()

        if not value.contains_special():
            return self._null_safe(f"{target} = {self.literal(fold(''.join(parts)))}")  # type: ignore[arg-type]
        pattern = ""
        for part in parts:
            if part is SpecialChars.WILDCARD_MULTI:
                pattern += "%"
            elif part is SpecialChars.WILDCARD_SINGLE:
                pattern += "_"
            else:
                pattern += re.sub(r"([\\%_])", r"\\\1", fold(str(part)))
        escape = "" if self.dialect == "bigquery" else f" escape {self.literal(chr(92))}"
        return self._null_safe(f"{target} like {self.literal(pattern)}{escape}")

    def _regex(self, column: str, value: SigmaRegularExpression) -> str:
        pattern = value.regexp.original
        flags = {flag for flag, letter in SigmaRegularExpression.sigma_to_re_flag.items() if flag in value.flags}
        leading = _LEADING_FLAGS.match(pattern)
        if leading:
            letters = leading.group(1)
            if "x" in letters:
                raise UnsupportedInSql("the regular expression flag x (verbose)")
            pattern = pattern[leading.end():]
            flags |= {flag for flag, letter in SigmaRegularExpression.sigma_to_re_flag.items() if letter in letters}
        ignore_case = SigmaRegularExpressionFlag.IGNORECASE in flags
        multiline = SigmaRegularExpressionFlag.MULTILINE in flags
        dotall = SigmaRegularExpressionFlag.DOTALL in flags
        text = self._text(column)
        if self.dialect in ("duckdb", "bigquery"):  # RE2
            letters = ("i" if ignore_case else "") + ("m" if multiline else "") + ("s" if dotall else "")
            regex = self.literal(f"(?{letters}){pattern}" if letters else pattern)
            function = "regexp_matches" if self.dialect == "duckdb" else "regexp_contains"
            return self._null_safe(f"{function}({text}, {regex})")
        if self.dialect == "postgres":  # ARE embedded options, only at the start
            newline = {(False, False): "p", (False, True): "n", (True, True): "w", (True, False): ""}[(dotall, multiline)]
            letters = ("i" if ignore_case else "") + newline
            regex = self.literal(f"(?{letters}){pattern}" if letters else pattern)
            return self._null_safe(f"{text} ~ {regex}")
        if self.dialect in ("spark", "databricks"):  # java.util.regex
            letters = "d" + ("iu" if ignore_case else "") + ("m" if multiline else "") + ("s" if dotall else "")
            return self._null_safe(f"{text} rlike {self.literal(f'(?{letters}){pattern}')}")
        parameters = ("i" if ignore_case else "c") + ("m" if multiline else "") + ("s" if dotall else "")
        return self._null_safe(f"regexp_instr({text}, {self.literal(pattern)}, 1, 1, 0, {self.literal(parameters)}) > 0")

    # ------------------------------------------------------------------ pySigma's hooks
    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        return self._match(cond.field, cond.value, cased=False)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self._match(cond.field, cond.value, cased=True)

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        number: SigmaNumber = cond.value
        if cond.field in _NUMERIC:
            return self._null_safe(f"{cond.field} = {number.number}")
        return self._match(cond.field, SigmaString(str(number.number)), cased=False)

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        value: SigmaBool = cond.value
        if cond.field in _BOOLEAN:
            return self._null_safe(f"{cond.field} = {'true' if value.boolean else 'false'}")
        return self._match(cond.field, SigmaString("true" if value.boolean else "false"), cased=False)

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        return self._regex(cond.field, cond.value)

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        self._text(cond.field)
        return f"{cond.field} is null"

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        self._text(cond.field)
        return f"{cond.field} is not null"

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value: SigmaCompareExpression = cond.value
        if cond.field not in _NUMERIC:
            raise UnsupportedInSql(f"a number comparison on {cond.field!r} (only on {', '.join(sorted(_NUMERIC))})")
        operator = {CompareOperators.LT: "<", CompareOperators.LTE: "<=", CompareOperators.GT: ">",
                    CompareOperators.GTE: ">="}.get(value.op)
        if operator is None:
            raise UnsupportedInSql(f"the comparison {value.op.name.lower()}")
        return self._null_safe(f"{cond.field} {operator} {value.number.number}")

    def convert_condition_field_eq_val_cidr(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("modifier |cidr")

    def convert_condition_field_eq_field(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("modifier |fieldref")

    def convert_condition_field_eq_val_timestamp_part(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("a time-part modifier (|minute, |hour, |day, ...)")

    def convert_condition_field_eq_expansion(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("modifier |expand")

    def convert_condition_field_eq_query_expr(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("a query expression")

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("a keyword without a field")

    def convert_condition_val_num(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("a keyword without a field")

    def convert_condition_val_re(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("a keyword without a field")

    def convert_condition_query_expr(self, cond: Any, state: ConversionState) -> str:
        raise UnsupportedInSql("a query expression")


# ----------------------------------------------------------------------------- rules -> conditions
def rule_condition(rule: DetectionRule, dialect: str, backend: ZendeskSqlBackend | None = None) -> str:
    """The rule's condition in `dialect`'s SQL.

    Raises:
        DetectionRuleError: `file: detection: ...` naming what the compiler does not translate.
    """
    # The reader (detection_rules.read_rule) already refused modifiers outside PORTABLE_MODIFIERS.
    backend = backend or ZendeskSqlBackend(dialect)
    # The pipeline renames the rule's fields in place: compile a copy, the rule stays Zendesk's words.
    copy = SigmaRule.from_dict(rule.sigma.to_dict())
    try:
        queries = backend.convert_rule(copy)
    except UnsupportedInSql as error:
        raise DetectionRuleError(f"{rule.path}: detection: {error.what} is not supported in SQL") from None
    except SigmaError as error:
        raise DetectionRuleError(f"{rule.path}: detection: {' '.join(str(error).split())}") from None
    if not queries:
        raise DetectionRuleError(f"{rule.path}: detection: the condition selects nothing")
    return " or ".join(f"({query})" for query in queries) if len(queries) > 1 else f"({queries[0]})"


@dataclass(frozen=True)
class CompiledRule:
    """A rule and its condition for one engine: what the model's loop reads."""

    rule_id: str
    condition: str

    def as_var(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "condition": self.condition}


def compile_rules(rules: Sequence[DetectionRule], dialect: str) -> list[CompiledRule]:
    """Every rule's condition for `dialect`, in the rules' order."""
    backend = ZendeskSqlBackend(dialect)
    return [CompiledRule(rule.name, rule_condition(rule, dialect, backend)) for rule in rules]


def detections_var(compiled: Sequence[CompiledRule]) -> list[dict[str, str]]:
    """The value of the dbt var `zendesk_audit_detections`."""
    return [rule.as_var() for rule in compiled]


def detections_fingerprint(compiled: Sequence[CompiledRule]) -> str:
    """Changes when any rule's id or condition changes, so `sensitive_changes` is rebuilt in full."""
    return hashlib.sha256(json.dumps(detections_var(compiled), sort_keys=True).encode("utf-8")).hexdigest()


def techniques_text(rule: DetectionRule) -> str | None:
    """`sensitive_changes.mitre_techniques`: the rule's ATT&CK techniques, comma-separated, or null."""
    return ", ".join(rule.techniques) or None


def rules_seed(rules: Sequence[DetectionRule]) -> Seed:
    """The seed `detection_rules` (one row per rule: what the mart, the report and the evidence show).

    Written from the rules at each build, never edited: the rules are the Sigma files.
    """
    rows = [
        (rule.name, rule.title, rule.level, techniques_text(rule), rule.sigma_id, rule.path.name)
        for rule in rules
    ]
    columns = [(name, "text") for name in RULES_SEED_COLUMNS]
    return Seed(RULES_SEED, Path(f"{RULES_SEED}.csv"), columns, rows, seed_checksum(columns, rows))


def check_levels(rules: Sequence[DetectionRule], seeds: Sequence[Seed]) -> None:
    """Every rule's level must have a rank in seed `severities`, else its rows would vanish from the mart.

    Raises:
        DetectionRuleError: `file: level: ...` saying which row to add.
    """
    severities = next((seed for seed in seeds if seed.name == "severities"), None)
    if severities is None:
        return
    ranks = {str(row[0]) for row in severities.rows}
    for rule in rules:
        if rule.level not in ranks:
            raise DetectionRuleError(
                f"{rule.path}: level: {rule.level!r} has no row in seed severities ({', '.join(sorted(ranks))}): "
                f"add one to severities.csv (informational is 0 in the shipped seed)"
            )


@dataclass(frozen=True)
class DetectionInputs:
    """What a build gives dbt for `sensitive_changes`: the seeds (with `detection_rules` written from
    the rules), the var's value, and the fingerprint of the compiled conditions."""

    seeds: list[Seed]
    detections: list[dict[str, str]]
    fingerprint: str
    rules: list[DetectionRule]


def detection_inputs(seeds: Sequence[Seed], dialect: str, detections_dir: str | Path | None = None) -> DetectionInputs:
    """The shipped rules and the team's (`--detections-dir`, else config `models.detections_dir`),
    compiled for `dialect`; the seed `detection_rules` replaced by one written from them.

    Raises:
        DetectionRuleError: a rule that does not parse or compile, or whose level has no rank (one line).
    """
    from zendesk_audit.models.detection_rules import load_detection_rules, team_rules_dir

    team = team_rules_dir(detections_dir)
    rules = load_detection_rules([team] if team else [])
    compiled = compile_rules(rules, dialect)
    checked = [seed for seed in seeds if seed.name != RULES_SEED] + [rules_seed(rules)]
    check_levels(rules, checked)
    return DetectionInputs(checked, detections_var(compiled), detections_fingerprint(compiled), rules)


# ----------------------------------------------------------------------------- the plain-dbt macro
def shipped_macro_text(rules: Sequence[DetectionRule]) -> str:
    """`sql/macros/shipped_detections.sql`: the shipped rules' conditions for every engine."""
    lines = [
        "{#- GENERATED from sql/detections/*.yml by `python -m zendesk_audit.models.detection_sql`: do not edit.",
        "    The shipped Sigma rules compiled per engine (models/detection_sql.py), for a team that runs this",
        "    project with plain dbt. `zendesk-audit models build` passes the var zendesk_audit_detections",
        "    instead: the same rules plus the team's folder (--detections-dir). tests/test_detections_sql.py",
        "    fails when this file is out of date. -#}",
        "{% macro shipped_detections(dialect) -%}",
    ]
    for index, dialect in enumerate(DIALECTS):
        keyword = "if" if index == 0 else "elif"
        lines.append(f"    {{%- {keyword} dialect == '{dialect}' %}}")
        lines.append("    {{ return([")
        for compiled in compile_rules(rules, dialect):
            lines.append(f"        {{'rule_id': {json.dumps(compiled.rule_id)}, 'condition': {json.dumps(compiled.condition)}}},")
        lines.append("    ]) }}")
    lines += [
        "    {%- else %}",
        "    {{ exceptions.raise_compiler_error('sensitive_changes: no compiled detections for ' ~ dialect ~ "
        "': pass the var zendesk_audit_detections (see docs/detections.md)') }}",
        "    {%- endif %}",
        "{%- endmacro %}",
        "",
    ]
    return "\n".join(lines)


def shipped_files() -> dict[Path, str]:
    """The files generated from the shipped rules, for plain dbt: the macro and the seed, with their text."""
    from zendesk_audit.models.detection_rules import load_detection_rules

    rules = load_detection_rules()
    return {SHIPPED_MACRO: shipped_macro_text(rules), SHIPPED_SEED: seed_csv_text(rules_seed(rules))}


def write_shipped_files() -> list[Path]:
    """Rewrite the generated files from the shipped rules; the ones that changed."""
    changed = []
    for path, text in shipped_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    written = write_shipped_files()
    print("rewritten: " + ", ".join(map(str, written)) if written else "the generated detection files are up to date")
