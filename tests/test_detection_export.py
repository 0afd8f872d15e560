"""`zendesk-audit detections export` and `list`: every shipped rule converts with each SIEM's own
pySigma backend (one query per rule, the rule named), a team's folder is included, and what a user
can get wrong ends in one line with exit 2.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sigma.types import SigmaRegularExpression
from test_detection_rules import GOOD_RULE as TEAM_RULE

from zendesk_audit.audit.detection_export import TARGETS, export_detections, render_text, target_named
from zendesk_audit.audit.siem_regex import anchored_re2, lucene_regex
from zendesk_audit.models.detection_rules import load_detection_rules

RULE_NAMES = sorted(rule.name for rule in load_detection_rules())
CASES_FILE = Path(__file__).parent / "data" / "detection_cases.yml"



def run(args: list[str], tmp_path: Path, *, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The command in a child process (real argv, exit code and streams); `without` makes those
    modules unimportable there, as on an installation without the `siem` extra."""
    bootstrap = (
        "import sys\n"
        f"for name in {list(without)!r}: sys.modules[name] = None\n"
        "from zendesk_audit.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("MODELS__")}
    env["DLT_DATA_DIR"] = str(tmp_path / "dlt-data")
    return subprocess.run(
        [sys.executable, "-c", bootstrap, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_rule_converts_with_the_targets_own_backend(target):
    rules = load_detection_rules()
    exported = export_detections(rules, target)
    assert [item.rule.name for item in exported] == [rule.name for rule in rules]
    assert all(item.query.strip() for item in exported)
    text = render_text(exported, target)
    for name in RULE_NAMES:
        assert f"# {name} (" in text


def test_the_pipeline_says_where_the_records_are():
    rules = [rule for rule in load_detection_rules() if rule.name == "two_factor_disabled"]
    assert export_detections(rules, "splunk", "index=zendesk")[0].query.startswith("index=zendesk ")
    assert export_detections(rules, "esql", "logs-zendesk-*")[0].query.startswith("from logs-zendesk-* ")
    assert export_detections(rules, "kusto", "Zendesk_CL")[0].query.startswith("Zendesk_CL\n| where ")
    loki = export_detections(rules, "loki", '{job="zendesk"}')[0].query
    assert loki.startswith('{job="zendesk"} | json | ')  # the API's records are JSON lines
    assert "source_label" in export_detections(rules, "elasticsearch")[0].query


def test_export_cli_writes_every_rule_and_the_teams(tmp_path):
    team = tmp_path / "our-rules"
    team.mkdir()
    (team / "trigger_deleted.yml").write_text(TEAM_RULE)
    out = tmp_path / "zendesk.json"
    result = run(["detections", "export", "--target", "Splunk", "--detections-dir", str(team),
                  "--format", "json", "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    exported = json.loads(out.read_text())
    assert exported["target"] == "splunk"
    assert sorted(rule["name"] for rule in exported["rules"]) == sorted(RULE_NAMES + ["trigger_deleted"])
    team_query = next(rule["query"] for rule in exported["rules"] if rule["name"] == "trigger_deleted")
    assert 'action="destroy"' in team_query


def test_export_cli_text_to_the_terminal(tmp_path):
    result = run(["detections", "export", "--target", "loki"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n# ") == len(RULE_NAMES)


def test_an_unknown_target_fails_in_one_line_listing_the_targets(tmp_path):
    result = run(["detections", "export", "--target", "qradar"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert all(name in result.stderr for name in TARGETS)
    with pytest.raises(Exception, match="unknown target"):
        target_named("qradar")


def test_without_the_siem_extra_one_line_says_what_to_install(tmp_path):
    result = run(["detections", "export", "--target", "splunk"], tmp_path, without=("sigma.backends.splunk",))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "pip install 'zendesk-audit[siem]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_team_rule_fails_in_one_line_naming_file_and_field(tmp_path):
    team = tmp_path / "our-rules"
    team.mkdir()
    broken = team / "broken.yml"
    broken.write_text(TEAM_RULE.replace("source_type: rule", "event_type: rule"))
    for args in (["detections", "export", "--target", "kusto"], ["detections", "list"]):
        result = run([*args, "--detections-dir", str(team)], tmp_path)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert f"{broken}: detection: unknown field 'event_type'" in result.stderr


def test_a_rule_the_siem_cannot_hold_fails_in_one_line_naming_its_file(tmp_path):
    """is_system is a column zendesk-audit computes: fine in the marts, absent from a SIEM."""
    team = tmp_path / "our-rules"
    team.mkdir()
    rule = team / "system_deletion.yml"
    rule.write_text(
        TEAM_RULE.replace("source_type: rule\n", "is_system: true\n").replace("name: trigger_deleted", "name: system_deletion")
    )
    result = run(["detections", "export", "--target", "elasticsearch", "--detections-dir", str(team)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert str(rule) in result.stderr and "actor_id: -1" in result.stderr


def test_list_names_level_attack_title_and_file(tmp_path):
    team = tmp_path / "our-rules"
    team.mkdir()
    (team / "trigger_deleted.yml").write_text(TEAM_RULE)
    result = run(["detections", "list", "--json", "--detections-dir", str(team)], tmp_path)
    assert result.returncode == 0, result.stderr
    rules = {rule["name"]: rule for rule in json.loads(result.stdout)}
    assert set(rules) == set(RULE_NAMES) | {"trigger_deleted"}
    assert rules["two_factor_disabled"]["level"] == "critical"
    assert rules["two_factor_disabled"]["attack"] == ["T1556.006"]
    assert rules["trigger_deleted"]["file"] == str(team / "trigger_deleted.yml")
    table = run(["detections", "list"], tmp_path)
    assert table.returncode == 0
    header, *lines = table.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "LEVEL", "ATT&CK"]
    assert len(lines) == len(RULE_NAMES)


# --- regexes for the SIEMs that match the whole value (Loki, Elasticsearch) ---

def _regex_items():
    for rule in load_detection_rules():
        stack = list(rule.sigma.detection.detections.values())
        while stack:
            item = stack.pop()
            if hasattr(item, "detection_items"):
                stack.extend(item.detection_items)
            elif any(isinstance(value, SigmaRegularExpression) for value in item.value):
                yield rule.name, item


def _case_texts(field: str) -> list[str]:
    texts = {"", "ROLE CHANGED FROM AGENT TO ADMIN", "x\nSupport role changed from Agent to Administrator\ny",
             "Support role changed from Admin to Agent\nGuide role changed from not set to Viewer", "2FA", "two factor"}
    for entry in yaml.safe_load(CASES_FILE.read_text(encoding="utf-8")):
        for record in (entry.get("positive") or []) + (entry.get("negative") or []):
            texts.add(str(record.get(field) or ""))
    return sorted(texts)



def test_anchored_regexes_match_what_the_rules_search_for():
    """Python's fullmatch stands in for Loki's and Lucene's whole-value match; the RE2 and Lucene
    forms must agree with Sigma's search on every known-answer text."""
    checked = 0
    for name, item in _regex_items():
        for value in item.value:
            pattern, flags = str(value.regexp), set(value.flags)
            loki = re.compile(anchored_re2(pattern, flags))
            lucene = re.compile(lucene_regex(pattern, flags), re.DOTALL)
            for text in _case_texts(item.field):
                searched = re.search(pattern, text, re.IGNORECASE if flags else 0) is not None
                assert (loki.fullmatch(text) is not None) == searched, (name, text)
                assert (lucene.fullmatch(text) is not None) == searched, (name, text)
                checked += 1
    assert checked > 100


@pytest.mark.parametrize("pattern, text, expected", [
    ("^abc", "abcdef", True), ("^abc", "xabc", False), ("def$", "abcdef", True), ("def$", "defx", False),
    ("a.c", "a\nc", True), ('say "hi" #1', 'I say "hi" #1 now', True), ("(?i)[a-c]x", "BX", True),
])
def test_lucene_form_of_small_regexes(pattern, text, expected):
    assert (re.fullmatch(lucene_regex(pattern), text, re.DOTALL) is not None) is expected


def test_a_regex_lucene_cannot_write_fails_in_one_line(tmp_path):
    team = tmp_path / "our-rules"
    team.mkdir()
    rule = team / "digits.yml"
    rule.write_text(TEAM_RULE.replace("action: destroy", "source_id|re: '\\d+'").replace("trigger_deleted", "digits"))
    result = run(["detections", "export", "--target", "esql", "--detections-dir", str(team)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(rule) in result.stderr and "\\d" in result.stderr
