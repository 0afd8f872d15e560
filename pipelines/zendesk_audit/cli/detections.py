"""`zendesk-audit detections`: list the Sigma rules and export them to a SIEM's query language.

Registered in `commands.py` with `cli.add_command(detections_group)`; parsing and printing only, the
work is in `zendesk_audit.models.detection_rules` (reading the rules) and
`zendesk_audit.audit.detection_export` (the SIEM queries).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from zendesk_audit.cli.options import fails_in_one_line
from zendesk_audit.errors import ConfigurationError
from zendesk_audit.models.detection_rules import DetectionRule, load_detection_rules, team_rules_dir

detections_dir_option = click.option(
    "--detections-dir",
    type=click.Path(file_okay=False),
    help="A folder of your own Sigma rules, added to the shipped ones (default: config models.detections_dir).",
)


def _rules(detections_dir: str | None) -> list[DetectionRule]:
    folder = team_rules_dir(detections_dir)
    return load_detection_rules([folder] if folder else [])


@click.group("detections", context_settings={"help_option_names": ["-h", "--help"]})
def detections_group() -> None:
    """The detections: Sigma rules behind sensitive_changes, the alerts and the report.

    Example: zendesk-audit detections export --target splunk --out zendesk.spl
    """


@detections_group.command("list")
@detections_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the rules as one JSON array.")
@fails_in_one_line
def list_command(detections_dir: str | None, as_json: bool) -> None:
    """The rules: name (the rule_id of sensitive_changes), level, MITRE ATT&CK techniques, title, file.

    Example: zendesk-audit detections list --detections-dir ./our-rules
    """
    rules = _rules(detections_dir)
    if as_json:
        click.echo(json.dumps([
            {"name": rule.name, "id": rule.sigma_id, "level": rule.level, "attack": list(rule.techniques),
             "title": rule.title, "file": str(rule.path)}
            for rule in rules
        ], indent=2))
        return
    rows = [("NAME", "LEVEL", "ATT&CK", "TITLE", "FILE")] + [
        (rule.name, rule.level, ",".join(rule.techniques) or "-", rule.title, str(rule.path)) for rule in rules
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4])


@detections_group.command("export")
@click.option("--target", required=True, metavar="TARGET",
              help="splunk, elasticsearch (Lucene), esql (Elasticsearch ES|QL), loki (LogQL) or kusto (Sentinel KQL).")
@detections_dir_option
@click.option("--source", metavar="WHERE",
              help="Where the SIEM holds the Zendesk records: Splunk search prefix, ES|QL index, Kusto table, "
                   "Loki stream selector.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a comment line naming each rule, then its query; json: one object with every rule.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of the terminal.")
@fails_in_one_line
def export_command(target: str, detections_dir: str | None, source: str | None, output_format: str,
                   out: str | None) -> None:
    """Convert every rule (shipped and your own) to the SIEM's query language, one query per rule.

    The conversion is pySigma's own backend for the SIEM (install them with
    pip install 'zendesk-audit[siem]'), so the SIEM fires on what sensitive_changes reports.

    Example: zendesk-audit detections export --target kusto --source ZendeskAuditLogs --out zendesk.kql
    """
    from zendesk_audit.audit.detection_export import export_detections, render_json, render_text, target_named

    target_named(target)  # an unknown target fails before any rule is read
    exported = export_detections(_rules(detections_dir), target, source)
    text = render_json(exported, target) if output_format == "json" else render_text(exported, target)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {out}: {exc.strerror or exc}: name a writable file") from None
    click.echo(f"wrote {len(exported)} {target} queries to {out}", err=True)
