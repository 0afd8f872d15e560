"""The detections as Sigma rules: every shipped rule loads, means what its known answers say, and a
team's folder adds rules or fails in one line naming the file and the field.

The meaning is checked with `sigma_oracle` (plain Python over pySigma's parse, no backend); the SQL
of `sensitive_changes` is compared with the same known answers in the SQL models' tests.
"""
from __future__ import annotations

import csv
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml
from sigma.rule import SigmaRule
from sigma_oracle import UnsupportedSigma, matches

from zendesk_audit.models.detection_rules import (
    DEFAULT_RULES_DIR,
    FIELDS,
    DetectionRuleError,
    load_detection_rules,
    read_rule,
    team_rules_dir,
)

ROOT = Path(__file__).resolve().parents[1]
CASES_FILE = Path(__file__).parent / "data" / "detection_cases.yml"


def shipped_rules() -> dict:
    return {rule.name: rule for rule in load_detection_rules()}


def cases_by_rule() -> dict[str, dict[str, list[dict]]]:
    grouped: dict[str, dict[str, list[dict]]] = {}
    for entry in yaml.safe_load(CASES_FILE.read_text(encoding="utf-8")):
        assert entry.get("source"), f"{entry['rule']}: every case says where its records come from"
        into = grouped.setdefault(entry["rule"], {"positive": [], "negative": []})
        into["positive"].extend(entry.get("positive") or [])
        into["negative"].extend(entry.get("negative") or [])
    return grouped


RULE_NAMES = sorted(path.stem for path in DEFAULT_RULES_DIR.glob("*.yml"))


def test_every_shipped_rule_loads_with_its_metadata():
    rules = shipped_rules()
    assert sorted(rules) == RULE_NAMES, "one file per rule, named after the rule"
    severities = {row["severity"] for row in csv.DictReader((ROOT / "sql" / "seeds" / "severities.csv").open())}
    for name, rule in rules.items():
        assert rule.sigma_id == str(uuid.uuid5(uuid.NAMESPACE_URL, f"zendesk-audit/detections/{name}")), name
        assert rule.level in severities, f"{name}: the marts know the severities {sorted(severities)}"
        assert rule.title and rule.sigma.description, name
        assert rule.sigma.falsepositives and rule.sigma.references, name
        assert all(FIELDS.get(field) for field in _fields(rule.sigma)), name
    assert len({rule.sigma_id for rule in rules.values()}) == len(rules)


def test_the_seed_rules_keep_their_names():
    """Alerts, the report, tests and the README refer to the twelve rule ids of the retired seed
    sensitive_rules.csv (as it stood when it was retired)."""
    seed_names = {
        "api_token_created", "api_token_changed", "api_token_deleted", "role_changed_to_admin",
        "account_owner_changed", "two_factor_disabled", "account_assumption_changed",
        "credit_card_redaction_disabled", "user_suspended", "data_exported", "business_hours_changed",
        "permission_set_changed",
    }
    assert seed_names <= set(shipped_rules())


def test_every_rule_has_known_answers_both_ways():
    cases = cases_by_rule()
    assert set(cases) <= set(RULE_NAMES), f"cases for unknown rules: {set(cases) - set(RULE_NAMES)}"
    for name in RULE_NAMES:
        assert cases.get(name, {}).get("positive"), f"{name}: no positive case"
        assert cases[name]["negative"], f"{name}: no negative case"


@pytest.mark.parametrize("name", RULE_NAMES)
def test_known_answers(name):
    rule = shipped_rules()[name].sigma
    cases = cases_by_rule()[name]
    for record in cases["positive"]:
        assert matches(rule, record), f"{name} misses {record}"
    for record in cases["negative"]:
        assert not matches(rule, record), f"{name} fires on {record}"


# The events a SIEM vendor's Zendesk pack fires on (Panther's sample logs for its Zendesk rules and
# the standard rules it applies to Zendesk): each must land in sensitive_changes.
PANTHER_EVENTS = [
    ("user", "Bob Cat", "update", "Role changed from End User to Administrator"),
    ("user", "Bob Cat", "update", "Role changed from Administrator to End User"),
    ("user", "Bob Cat", "update", "Explore role changed from not set to Admin\nGuide role changed from not set to "
     "Admin\nSupport role changed from not set to Admin\nTalk role changed from not set to Admin"),
    ("user_setting", "Suspension state: Bob Cat", "update", "Unsuspended"),
    ("user_setting", "Suspension state: Bob Cat", "create", "Suspended"),
    ("account_setting", "Zendesk Support Mobile App Access", "create", "Disabled"),
    ("account_setting", "Zendesk Support Mobile App Access", "create", "Enabled"),
    ("account_setting", "Account Assumption", "update", "Changed"),
    ("api_token", "API token", "create", ""),
    ("api_token", "API token: a new description", "update", "description changed from not set to a new description"),
    ("account_setting", "Credit Card Redaction", "create", "Disabled"),
    ("account_setting", "Credit Card Redaction", "create", "Enabled"),
    ("account", "Account: Account", "update", "Owner changed from Bob Cat to Mountain Lion"),
    ("account_setting", "Two-Factor authentication for all admins and agents", "create", "Disabled"),
    ("account_setting", "Require Two Factor", "update", "Disabled"),
]


@pytest.mark.parametrize("source_type, source_label, action, description", PANTHER_EVENTS)
def test_every_event_a_siem_pack_fires_on_is_detected(source_type, source_label, action, description):
    record = {"source_type": source_type, "source_label": source_label, "action": action,
              "change_description": description}
    assert [name for name, rule in shipped_rules().items() if matches(rule.sigma, record)]


def _fields(rule: SigmaRule) -> set[str]:
    found: set[str] = set()

    def visit(item):
        if hasattr(item, "detection_items"):
            for child in item.detection_items:
                visit(child)
        else:
            found.add(item.field)

    for detection in rule.detection.detections.values():
        visit(detection)
    return found


# --- the oracle itself: Sigma's semantics on small rules, so a wrong oracle cannot pass silently ---

def sigma(detection: str) -> SigmaRule:
    return SigmaRule.from_yaml(
        "title: t\nid: 00000000-0000-0000-0000-000000000001\nlogsource: {product: zendesk}\n"
        "level: low\ndetection:\n" + textwrap.indent(textwrap.dedent(detection), "  ")
    )


@pytest.mark.parametrize("detection, record, expected", [
    ("sel: {action: UPDATE}\ncondition: sel", {"action": "update"}, True),
    ("sel: {action: update}\ncondition: sel", {"action": "updated"}, False),
    ("sel: {action: upd*}\ncondition: sel", {"action": "update"}, True),
    ("sel: {source_label|contains: Two Factor}\ncondition: sel", {"source_label": "Require two factor"}, True),
    ("sel: {source_label|startswith: factor}\ncondition: sel", {"source_label": "Require two factor"}, False),
    ("sel: {source_label|endswith: FACTOR}\ncondition: sel", {"source_label": "Require two factor"}, True),
    ("sel: {source_label|contains|all: [two, card]}\ncondition: sel", {"source_label": "two factor"}, False),
    ("sel: {source_label|contains: [two, card]}\ncondition: sel", {"source_label": "two factor"}, True),
    ("sel: {change_description|re: 'Admin$'}\ncondition: sel", {"change_description": "to admin"}, False),
    ("sel: {change_description|re: '(?i)Admin$'}\ncondition: sel", {"change_description": "to admin"}, True),
    ("sel: {change_description|re|i: 'Admin$'}\ncondition: sel", {"change_description": "to admin"}, True),
    ("sel: {change_description|re: 'b'}\ncondition: sel", {"change_description": "abc"}, True),
    ("sel: {ip_address: null}\ncondition: sel", {"action": "destroy"}, True),
    ("sel: {action: login}\nf: {change_description|startswith: ok}\ncondition: sel and not f", {"action": "login"}, True),
    ("a: {action: x}\nb: {action: y}\ncondition: 1 of them", {"action": "y"}, True),
    ("a: {action: x}\nb: {action: y}\ncondition: all of them", {"action": "y"}, False),
    ("s_a: {action: x}\ns_b: {source_type: y}\nt: {action: z}\ncondition: all of s_*",
     {"action": "x", "source_type": "y"}, True),
    ("sel:\n  - {action: x}\n  - {source_type: y}\ncondition: sel", {"source_type": "y"}, True),
])
def test_oracle_semantics(detection, record, expected):
    assert matches(sigma(detection), record) is expected


def test_oracle_refuses_what_sql_cannot_do():
    with pytest.raises(UnsupportedSigma):
        matches(sigma("sel: {action|base64: x}\ncondition: sel"), {"action": "eA=="})


# --- a team's folder ---

GOOD_RULE = """\
title: Trigger deleted
id: 5a2b4c47-6f61-4f43-9a57-3f7a31f6a2b1
name: trigger_deleted
status: experimental
logsource: {product: zendesk, service: audit_log}
detection:
  selection:
    source_type: rule
    source_label|startswith: 'Trigger:'
    action: destroy
  condition: selection
level: medium
"""


def test_a_dropped_rule_is_added(tmp_path):
    (tmp_path / "trigger_deleted.yml").write_text(GOOD_RULE)
    rules = load_detection_rules([tmp_path])
    assert {rule.name for rule in rules} == set(RULE_NAMES) | {"trigger_deleted"}
    added = next(rule for rule in rules if rule.name == "trigger_deleted")
    assert matches(added.sigma, {"source_type": "rule", "source_label": "Trigger: Notify", "action": "destroy"})


def test_the_team_folder_comes_from_the_option_or_the_config(tmp_path, monkeypatch):
    assert team_rules_dir(str(tmp_path)) == tmp_path
    monkeypatch.setenv("MODELS__DETECTIONS_DIR", str(tmp_path))
    assert team_rules_dir() == tmp_path


BROKEN = {
    "invalid_yaml": ("title: [unclosed\n", "not a Sigma rule (while parsing"),
    "no_name": (GOOD_RULE.replace("name: trigger_deleted\n", ""), "name:"),
    "unknown_field": (GOOD_RULE.replace("source_type: rule", "event_type: rule"), "detection: unknown field 'event_type'"),
    "bad_level": (GOOD_RULE.replace("level: medium", "level: urgent"), "level: 'urgent'"),
    "duplicate_name": (GOOD_RULE.replace("name: trigger_deleted", "name: two_factor_disabled"), "name: 'two_factor_disabled'"),
    "no_id": (GOOD_RULE.replace("id: 5a2b4c47-6f61-4f43-9a57-3f7a31f6a2b1\n", ""), "id: required"),
    "bad_id": (GOOD_RULE.replace("id: 5a2b4c47-6f61-4f43-9a57-3f7a31f6a2b1", "id: not-a-uuid"), "id: "),
    "bad_condition": (GOOD_RULE.replace("condition: selection", "condition: selection and selectoin"), "detection.condition: "),
    "not_zendesk": (GOOD_RULE.replace("product: zendesk", "product: okta"), "logsource.product: "),
    "base64": (GOOD_RULE.replace("action: destroy", "action|base64: destroy"), "detection: modifier 'base64' of field 'action'"),
    "lookahead": (GOOD_RULE.replace("action: destroy", "action|re: 'des(?=troy)'"),
                  "detection: the regular expression of field 'action'"),
    "keyword": (GOOD_RULE.replace("  selection:\n", "  keywords:\n    - destroy\n  selection:\n")
                .replace("condition: selection", "condition: selection and keywords"), "detection: a value without a field"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_fails_in_one_line_naming_file_and_field(tmp_path, case):
    text, field = BROKEN[case]
    path = tmp_path / f"{case}.yml"
    path.write_text(text)
    with pytest.raises(DetectionRuleError) as failure:
        load_detection_rules([tmp_path])
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}")


def test_read_rule_of_a_shipped_file_names_it():
    path = DEFAULT_RULES_DIR / "two_factor_disabled.yml"
    assert read_rule(path).path == path
