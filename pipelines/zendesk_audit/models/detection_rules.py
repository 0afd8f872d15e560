"""The detections as Sigma rules: read, checked, and described in the words of our columns.

Sigma is the format security teams exchange detection content in, so the rules live as one Sigma
YAML file each (`sql/detections/*.yml`, shipped in the package) and a team adds its own by dropping
files in a folder it names. The same rules compile to the warehouse's SQL for `sensitive_changes`
(`detection_sql.py`) and to a SIEM's query language (`audit/detection_export.py`), so a detection
means the same thing in the marts and in the SIEM.

Rules are written against Zendesk's own record fields (`action`, `source_type`, `source_label`,
`change_description`, ...): that is what a SIEM that ingests the audit log sees. `FIELDS` maps each
to the column of `int_audit_logs_deduplicated` that holds it (the description there is decoded).

Each rule must carry, beyond Sigma's required fields: `name` (our stable rule id, the
`sensitive_changes.rule_id`, snake_case), `level` (its severity) and `logsource.product: zendesk`.
MITRE ATT&CK techniques are `attack.tNNNN[.NNN]` tags. A rule that breaks any of this fails the
build in one line naming the file and the field.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.settings import SQL_DIR

if TYPE_CHECKING:
    from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

# The rules that ship with the package.
DEFAULT_RULES_DIR = SQL_DIR / "detections"

# Sigma field (Zendesk's record field) -> column of int_audit_logs_deduplicated.
FIELDS: dict[str, str] = {
    "id": "audit_log_id",
    "created_at": "created_at",
    "action": "action",
    "action_label": "action_label",
    "actor_id": "actor_id",
    "actor_name": "actor_name",
    "ip_address": "ip_address",
    "source_id": "source_id",
    "source_type": "source_type",
    "source_label": "source_label",
    "change_description": "change_description_text",
    "is_system": "is_system",
}

LEVELS = ("informational", "low", "medium", "high", "critical")
_NAME = re.compile(r"[a-z][a-z0-9_]{2,63}")
_TECHNIQUE = re.compile(r"t\d{4}(\.\d{3})?")
# Sigma modifiers that compile to the same SQL on DuckDB, PostgreSQL and Spark (detection_sql.py):
# matching, `cased` (case kept), `exists`, number comparisons, and `re` with its flags
# (`i`/`ignorecase`, `m`/`multiline`, `s`/`dotall`). The one list the reader, the compiler and the
# tests' oracle keep to; a SIEM backend may refuse some (the export then names the rule).
PORTABLE_MODIFIERS = ("contains", "startswith", "endswith", "all", "cased", "exists", "gt", "gte", "lt", "lte",
                      "re", "i", "ignorecase", "m", "multiline", "s", "dotall")
_NON_PORTABLE_REGEX = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P?<[a-zA-Z]")


# pySigma's error classes -> the rule's field they are about (the one-line message names it).
_SIGMA_ERROR_FIELDS = {
    "SigmaAuthorError": "author",
    "SigmaConditionError": "detection.condition",
    "SigmaDateError": "date",
    "SigmaDescriptionError": "description",
    "SigmaDetectionError": "detection",
    "SigmaFalsePositivesError": "falsepositives",
    "SigmaFieldsError": "fields",
    "SigmaIdentifierError": "id",
    "SigmaLevelError": "level",
    "SigmaLicenseError": "license",
    "SigmaLogsourceError": "logsource",
    "SigmaModifiedError": "modified",
    "SigmaModifierError": "detection",
    "SigmaNameError": "name",
    "SigmaReferencesError": "references",
    "SigmaRegularExpressionError": "detection",
    "SigmaRelatedError": "related",
    "SigmaStatusError": "status",
    "SigmaTagError": "tags",
    "SigmaTitleError": "title",
    "SigmaTypeError": "detection",
    "SigmaValueError": "detection",
}


class DetectionRuleError(ConfigurationError):
    """A rule file that cannot be used; the message is `file: field: reason`."""


@dataclass(frozen=True)
class DetectionRule:
    """One checked rule and what the marts and the report say of it."""

    name: str
    sigma_id: str
    title: str
    level: str
    techniques: tuple[str, ...]
    path: Path
    sigma: SigmaRule


def rule_files(folders: Iterable[Path]) -> list[Path]:
    """Every `*.yml` / `*.yaml` file of the folders, sorted by name within each folder."""
    files: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise DetectionRuleError(f"{folder}: not a folder of Sigma rules: name an existing folder")
        files.extend(sorted(path for path in folder.iterdir() if path.suffix in (".yml", ".yaml") and path.is_file()))
    return files


def _detection_items(rule: SigmaRule) -> list[SigmaDetectionItem]:
    """Every field condition of the rule's detections, nested lists of maps included."""
    from sigma.rule import SigmaDetectionItem

    found: list[SigmaDetectionItem] = []

    def visit(item: SigmaDetection | SigmaDetectionItem) -> None:
        if isinstance(item, SigmaDetectionItem):
            found.append(item)
        else:
            for child in item.detection_items:
                visit(child)

    for detection in rule.detection.detections.values():
        visit(detection)
    return found


def _fields_of(rule: SigmaRule) -> set[str]:
    return {item.field for item in _detection_items(rule) if item.field is not None}


def _portability_problem(rule: SigmaRule) -> str | None:
    """What in the rule would not compile to plain SQL on every engine, or None.

    Our rules run as SQL in DuckDB, PostgreSQL and Spark, so they keep to what all three do alike:
    equality, `contains`/`startswith`/`endswith` (with `all`), and `re` without lookarounds,
    back-references or named groups (PostgreSQL, RE2 and Java regexes differ there; `(?i)` is fine).
    """
    from sigma.modifiers import reverse_modifier_mapping
    from sigma.types import SigmaRegularExpression

    for item in _detection_items(rule):
        if item.field is None:
            return "a value without a field (keyword search) cannot compile to SQL: name the field"
        for modifier in item.modifiers:
            name = reverse_modifier_mapping.get(modifier.__name__, modifier.__name__)
            if name not in PORTABLE_MODIFIERS:
                return f"modifier {name!r} of field {item.field!r} is not supported: use {', '.join(PORTABLE_MODIFIERS)}"
        for value in item.value:
            if isinstance(value, SigmaRegularExpression) and _NON_PORTABLE_REGEX.search(str(value.regexp)):
                return (
                    f"the regular expression of field {item.field!r} uses a lookaround, back-reference or named "
                    "group (not portable across the SQL engines): rewrite it without"
                )
    return None


def read_rule(path: Path) -> DetectionRule:
    """One rule file, checked; `DetectionRuleError` names the file and the field."""
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DetectionRuleError(f"{path}: cannot be read ({error}): save it as UTF-8 text") from None
    try:
        rule = SigmaRule.from_yaml(text)
        for condition in rule.detection.parsed_condition:
            condition.parse()  # pySigma parses conditions lazily: a typo would surface only at conversion
    except SigmaError as error:
        field = _SIGMA_ERROR_FIELDS.get(type(error).__name__, "rule")
        raise DetectionRuleError(
            f"{path}: {field}: {' '.join(str(error).split())}: fix the rule (see the Sigma specification)"
        ) from None
    except Exception as error:  # YAML syntax errors and the like come as plain exceptions
        raise DetectionRuleError(f"{path}: not a Sigma rule ({' '.join(str(error).split())[:200]}): fix the YAML") from None
    if not rule.name or not _NAME.fullmatch(rule.name):
        raise DetectionRuleError(f"{path}: name: required, snake_case (a-z, 0-9, _; 3 to 64 characters): it is the rule_id")
    if rule.level is None or rule.level.name.lower() not in LEVELS:
        raise DetectionRuleError(f"{path}: level: required, one of {', '.join(LEVELS)}")
    if rule.id is None:
        raise DetectionRuleError(f"{path}: id: required, a UUID (python -c 'import uuid; print(uuid.uuid4())')")
    if (rule.logsource.product or "").lower() != "zendesk":
        raise DetectionRuleError(f"{path}: logsource.product: must be zendesk")
    unknown = sorted(_fields_of(rule) - FIELDS.keys())
    if unknown:
        raise DetectionRuleError(f"{path}: detection: unknown field {unknown[0]!r}: use one of {', '.join(FIELDS)}")
    problem = _portability_problem(rule)
    if problem:
        raise DetectionRuleError(f"{path}: detection: {problem}")
    techniques = tuple(
        tag.name.upper() for tag in rule.tags if tag.namespace == "attack" and _TECHNIQUE.fullmatch(tag.name.lower())
    )
    return DetectionRule(
        name=rule.name,
        sigma_id=str(rule.id),
        title=rule.title,
        level=rule.level.name.lower(),
        techniques=techniques,
        path=path,
        sigma=rule,
    )


def team_rules_dir(option: str | Path | None = None) -> Path | None:
    """The team's own rules folder: the `--detections-dir` option, else the config key
    `models.detections_dir` (env `MODELS__DETECTIONS_DIR`), else none (the shipped rules only)."""
    if option is None:
        import dlt

        option = dlt.config.get("models.detections_dir", str)
    return Path(option) if option else None


def load_detection_rules(extra_dirs: Sequence[Path] = (), *, include_default: bool = True) -> list[DetectionRule]:
    """The shipped rules and those of the team's folders, checked; names must be unique."""
    folders = ([DEFAULT_RULES_DIR] if include_default else []) + [Path(folder) for folder in extra_dirs]
    rules: list[DetectionRule] = []
    seen: dict[str, Path] = {}
    for path in rule_files(folders):
        rule = read_rule(path)
        if rule.name in seen:
            raise DetectionRuleError(f"{path}: name: {rule.name!r} is already the name of {seen[rule.name]}: rename one")
        seen[rule.name] = path
        rules.append(rule)
    return rules
