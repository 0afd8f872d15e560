"""`zendesk-audit detections export` and `list`: every shipped rule converts with each SIEM's own
pySigma backend (one query per rule, the rule named), a team's folder is included, and what a user
can get wrong ends in one line with exit 2.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zendesk_audit.audit.detection_export import TARGETS, export_detections, render_text, target_named
from zendesk_audit.models.detection_rules import load_detection_rules

RULE_NAMES = sorted(rule.name for rule in load_detection_rules())

TEAM_RULE = """\
title: Trigger deleted
id: 5a2b4c47-6f61-4f43-9a57-3f7a31f6a2b1
name: trigger_deleted
logsource: {product: zendesk, service: audit_log}
detection:
  selection:
    source_type: rule
    source_label|startswith: 'Trigger:'
    action: destroy
  condition: selection
level: medium
"""


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
