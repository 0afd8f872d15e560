"""The detections in a SIEM's query language: `zendesk-audit detections export --target TARGET`.

The same Sigma rules that `sensitive_changes` runs as SQL (`models/detection_rules.py`) go through
pySigma's own backend for the SIEM, so a team's SIEM fires on what the marts report. pySigma's
backends are the optional extra `siem` (`pip install 'zendesk-audit[siem]'`); the marts need only
pySigma itself.

Our processing pipeline does three things before the backend converts a rule:
- maps each of our Sigma fields (Zendesk's record fields) to the field name the SIEM holds it
  under. Every ingestion of the Zendesk audit log we know of keeps Zendesk's own names (Panther's
  `Zendesk.Audit` log type, Sumo Logic's Zendesk C2C source, JSON ingested as is by Splunk, Elastic
  or Loki), so the maps are the identity; a SIEM with other names gets one line in `TARGETS`;
- refuses `is_system`, a column zendesk-audit computes (`actor_id` -1), which no SIEM holds;
- rewrites regular expressions for the SIEMs that match a regex against the whole value (Loki,
  Elasticsearch), so they still find the text anywhere (`siem_regex.py`);
- says where the records are (`--source`): Splunk's search prefix (`index=... sourcetype=...`),
  the ES|QL index pattern, the Kusto table, the Loki stream selector (Loki also parses the line
  as JSON, the form the API returns).
"""
from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zendesk_audit.errors import ConfigurationError
from zendesk_audit.models.detection_rules import DetectionRule

if TYPE_CHECKING:
    from sigma.processing.pipeline import ProcessingPipeline

SIEM_EXTRA = "pip install 'zendesk-audit[siem]'"


@dataclass(frozen=True)
class Target:
    """One SIEM query language and the pySigma backend that writes it."""

    name: str
    language: str
    module: str
    backend: str
    source_means: str
    default_source: str | None = None
    # our Sigma field -> the SIEM's field, where its Zendesk ingestion renames one
    fields: Mapping[str, str] = field(default_factory=dict)
    # the SIEM's regex matches the whole value: rewrite Sigma's (a search) as `re2` or `lucene`
    regex_syntax: str | None = None


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("splunk", "Splunk SPL", "sigma.backends.splunk", "SplunkBackend",
               "a search prefix such as 'index=zendesk sourcetype=zendesk:audit'"),
        Target("elasticsearch", "Elasticsearch Lucene query string", "sigma.backends.elasticsearch", "LuceneBackend",
               "nothing (choose the index in Kibana)", regex_syntax="lucene"),
        Target("esql", "Elasticsearch ES|QL", "sigma.backends.elasticsearch", "ESQLBackend",
               "the index pattern of the FROM clause", default_source="*", regex_syntax="lucene"),
        Target("loki", "Grafana Loki LogQL", "sigma.backends.loki", "LogQLBackend",
               "the stream selector", default_source='{job=~".+"}', regex_syntax="re2"),
        Target("kusto", "Kusto KQL (Microsoft Sentinel, Azure Data Explorer)", "sigma.backends.kusto", "KustoBackend",
               "the table", default_source="ZendeskAuditLogs"),
    )
}


class SiemExportError(ConfigurationError):
    """A target, a rule or the installation that cannot give a SIEM query; one line, exit 2."""


@dataclass(frozen=True)
class ExportedRule:
    """One rule as the SIEM's query."""

    rule: DetectionRule
    query: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.rule.name,
            "id": self.rule.sigma_id,
            "title": self.rule.title,
            "level": self.rule.level,
            "attack": list(self.rule.techniques),
            "file": str(self.rule.path),
            "query": self.query,
        }


def target_named(name: str) -> Target:
    """The target of that name; an unknown one fails in one line listing the targets."""
    target = TARGETS.get(name.strip().lower())
    if target is None:
        raise SiemExportError(f"unknown target {name!r}: use one of {', '.join(TARGETS)}")
    return target


def _backend_class(target: Target) -> type:
    try:
        module = importlib.import_module(target.module)
    except ImportError:
        raise SiemExportError(
            f"exporting to {target.name} needs pySigma's SIEM backends: {SIEM_EXTRA}"
        ) from None
    return getattr(module, target.backend)


def target_pipeline(target: Target, source: str | None) -> ProcessingPipeline:
    """Our small pySigma pipeline for the target: field names, is_system refused, where the records are."""
    from sigma.processing.conditions import IncludeFieldCondition, LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline, QueryPostprocessingItem
    from sigma.processing.postprocessing import QuerySimpleTemplateTransformation, ReplaceQueryTransformation
    from sigma.processing.transformations import (
        DetectionItemFailureTransformation,
        FieldMappingTransformation,
        SetStateTransformation,
    )

    def zendesk() -> list[LogsourceCondition]:  # a condition belongs to one item: a new one each
        return [LogsourceCondition(product="zendesk")]

    items: list[ProcessingItem] = [
        ProcessingItem(
            identifier="zendesk_audit_is_system",
            transformation=DetectionItemFailureTransformation(
                "is_system is computed by zendesk-audit; in a SIEM write actor_id: -1"
            ),
            field_name_conditions=[IncludeFieldCondition(fields=["is_system"])],
        )
    ]
    if target.fields:
        items.append(ProcessingItem(
            identifier="zendesk_audit_fields",
            transformation=FieldMappingTransformation(dict(target.fields)),
            rule_conditions=zendesk(),
        ))
    if target.regex_syntax:
        from zendesk_audit.audit.siem_regex import AnchoredRegexTransformation

        items.append(ProcessingItem(
            identifier="zendesk_audit_anchored_regex",
            transformation=AnchoredRegexTransformation(target.regex_syntax),
            rule_conditions=zendesk(),
        ))
    postprocessing: list[QueryPostprocessingItem] = []
    where = source if source is not None else target.default_source
    if target.name == "loki":
        from sigma.pipelines.loki.loki import LokiCustomAttributes, SetCustomAttributeTransformation

        items.append(ProcessingItem(
            identifier="zendesk_audit_loki_json",
            transformation=SetCustomAttributeTransformation(LokiCustomAttributes.PARSER.value, "json"),
            rule_conditions=zendesk(),
        ))
        items.append(ProcessingItem(
            identifier="zendesk_audit_loki_stream",
            transformation=SetCustomAttributeTransformation(LokiCustomAttributes.LOGSOURCE_SELECTION.value, where),
            rule_conditions=zendesk(),
        ))
    elif target.name == "esql":
        items.append(ProcessingItem(identifier="zendesk_audit_esql_index", transformation=SetStateTransformation("index", where)))
        # A Lucene regex holds a newline as the character itself; an ES|QL string writes it \n.
        postprocessing.append(QueryPostprocessingItem(
            identifier="zendesk_audit_esql_newline",
            transformation=ReplaceQueryTransformation(pattern="\n", replacement="\\\\n"),
        ))
    elif target.name in ("splunk", "kusto") and where:
        braces = where.replace("{", "{{").replace("}", "}}")
        template = f"{braces} {{query}}" if target.name == "splunk" else f"{braces}\n| where {{query}}"
        postprocessing.append(QueryPostprocessingItem(
            identifier=f"zendesk_audit_{target.name}_source",
            transformation=QuerySimpleTemplateTransformation(template),
        ))
    return ProcessingPipeline(
        name="zendesk-audit: Zendesk audit log", priority=20, items=items, postprocessing_items=postprocessing
    )


def export_detections(rules: Sequence[DetectionRule], target_name: str, source: str | None = None) -> list[ExportedRule]:
    """Each rule as one query of the target's language, in the rules' order.

    A rule the backend cannot express fails in one line naming its file (`SiemExportError`).
    """
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError

    target = target_named(target_name)
    backend_class = _backend_class(target)
    exported: list[ExportedRule] = []
    for rule in rules:
        backend = backend_class(processing_pipeline=target_pipeline(target, source))
        try:
            # a backend's pipeline edits the rule it converts: give it a copy, keep ours as read
            queries = backend.convert(SigmaCollection([copy.deepcopy(rule.sigma)]))
        except SigmaError as error:
            raise SiemExportError(
                f"{rule.path}: {target.name} cannot express this rule ({' '.join(str(error).split())}): "
                "simplify the detection or leave the rule out of this export"
            ) from None
        if len(queries) != 1:
            raise SiemExportError(f"{rule.path}: {target.name} gave {len(queries)} queries for one rule")
        exported.append(ExportedRule(rule=rule, query=str(queries[0])))
    return exported


def render_text(exported: Sequence[ExportedRule], target_name: str) -> str:
    """One block per rule: a comment line naming it (name, level, ATT&CK, title), then the query."""
    target = target_named(target_name)
    blocks = [f"# zendesk-audit detections for {target.language}: one query per rule"]
    for item in exported:
        techniques = f" [{', '.join(item.rule.techniques)}]" if item.rule.techniques else ""
        blocks.append(f"# {item.rule.name} ({item.rule.level}){techniques}: {item.rule.title}\n{item.query}")
    return "\n\n".join(blocks) + "\n"


def render_json(exported: Sequence[ExportedRule], target_name: str) -> str:
    """The queries as one JSON object: the target and one entry per rule."""
    target = target_named(target_name)
    return json.dumps(
        {"target": target.name, "language": target.language, "rules": [item.as_dict() for item in exported]},
        indent=2,
    ) + "\n"
