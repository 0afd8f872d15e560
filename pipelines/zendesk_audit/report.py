"""The HTML report: one self-contained file a Zendesk admin or an auditor reads instead of 40,000 rows.

`write_report` queries the model views (`<dataset>_models`) for a review period and writes one
HTML file with inline SVG charts (`report_charts`) and inline CSS: no script, no font, no image
file, no link. A Content-Security-Policy meta tag (`default-src 'none'`) makes the browser refuse
any request the page might still try, so it opens offline and leaks nothing. Print CSS keeps
sections and tables whole on paper (print to PDF for the audit file).

Names, labels and descriptions come from whoever can edit Zendesk: every value from the data goes
through `text_safety.html_text` (escaped, control characters as `\\x1b`, and bidirectional or
zero-width characters shown as a marked `<U+202E>`), so a label cannot pass for something else.

Sections, in order (each a `<section id=...>` with `data-rows`, the rows behind it): headline,
changes-per-day, heatmap, top-actors, off-hours, sensitive, rule-changes, role-history, incidents.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from zendesk_audit import report_charts as charts
from zendesk_audit.period import Period, fetch, iso, require_views
from zendesk_audit.text_safety import html_text
from zendesk_audit.time_zones import AccountTimeZone, account_time_zones, fallback_warnings
from zendesk_audit.time_zones import summary as time_zone_summary

SECTIONS = ("headline", "changes-per-day", "heatmap", "top-actors", "off-hours", "sensitive", "rule-changes",
            "role-history", "incidents")
VIEWS = ("stg_audit_logs", "off_hours_changes", "sensitive_changes", "rule_changes", "user_role_history",
         "incident_changes")
TABLE_LIMIT = 25
INCIDENT_CHANGES_LIMIT = 15
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

__all__ = ["SECTIONS", "ReportResult", "write_report"]


@dataclass
class ReportResult:
    """Where the report went and how many rows each section shows."""

    path: str
    period: Period
    section_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    time_zones: list[AccountTimeZone] = field(default_factory=list)

    def summary_line(self) -> str:
        records = self.section_rows.get("headline", 0)
        empty = [name for name in SECTIONS if not self.section_rows.get(name)]
        note = f"; empty: {', '.join(empty)}" if empty else ""
        return (
            f"report: {records:,} records, {self.period.label()}, {_zones_label(self.time_zones)}, written to {self.path} "
            f"in {self.seconds:.1f} s{note}"
        )


class _Queries:
    """The report's SQL, portable between DuckDB and PostgreSQL, each restricted to the period."""

    def __init__(self, engine: Any, schema: str, period: Period) -> None:
        self.engine, self.schema, self.period = engine, schema, period

    def view(self, name: str) -> str:
        return self.engine.relation(self.schema, name)

    def where(self, time_column: str = "created_at", extra: Sequence[str] = ()) -> str:
        conditions = self.period.conditions(["subdomain"], time_column=time_column) + list(extra)
        return (" where " + " and ".join(conditions)) if conditions else ""

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return fetch(self.engine, sql)[1]

    def scalar(self, sql: str) -> Any:
        rows = self.rows(sql)
        return rows[0][0] if rows else None


def _zones_label(zones: Sequence[AccountTimeZone]) -> str:
    """`local times in Europe/Paris (account_settings)`, or one zone per account when they differ."""
    if not zones:
        return "local times in UTC"
    if len({(zone.time_zone, zone.time_zone_source) for zone in zones}) == 1:
        return f"local times in {zones[0].time_zone} ({zones[0].time_zone_source})"
    return time_zone_summary(list(zones))


def _local(value: Any) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    return int(value or 0)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in headers)
    body = []
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            css = f' class="{classes[index]}"' if index < len(classes) and classes[index] else ""
            text = _local(value)
            cells.append(f"<td{css}>{html_text(text if len(text) <= 160 else text[:159] + '…')}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _section(section_id: str, title: str, rows: int, intro: str, content: str) -> str:
    body = content if rows else '<p class="empty">Nothing in this period.</p>'
    return (
        f'<section id="{section_id}" data-rows="{rows}"><h2>{escape(title)}</h2>'
        f'<p class="intro">{intro}</p>{body}</section>'
    )


def _more(shown: int, total: int, where: str) -> str:
    if total <= shown:
        return ""
    return f'<p class="more">{shown} of {total:,} shown; all rows: <code>{escape(where)}</code> (or the evidence export).</p>'


# ----------------------------------------------------------------------------- sections
def _headline(q: _Queries) -> tuple[str, int]:
    stg = q.view("stg_audit_logs")
    records, people, first, last = q.rows(
        f"select count(*), count(distinct case when not is_system then actor_id end), min(created_at), max(created_at) "
        f"from {stg}{q.where()}"
    )[0]
    figures = [
        ("records", _int(records)),
        ("people who changed something", _int(people)),
        ("off-hours changes", _int(q.scalar(f"select count(*) from {q.view('off_hours_changes')}{q.where()}"))),
        ("sensitive changes", _int(q.scalar(f"select count(*) from {q.view('sensitive_changes')}{q.where()}"))),
        ("critical", _int(q.scalar(f"select count(*) from {q.view('sensitive_changes')}"
                                   f"{q.where(extra=['severity_rank = 4'])}"))),
        ("business-rule changes", _int(q.scalar(f"select count(*) from {q.view('rule_changes')}{q.where()}"))),
        ("role changes", _int(q.scalar(f"select count(*) from {q.view('user_role_history')}{q.where('changed_at')}"))),
        ("incidents", _int(q.scalar(f"select count(distinct incident_id) from {q.view('incident_changes')}"
                                    f"{q.where('incident_started_at')}"))),
    ]
    cards = "".join(
        f'<div class="figure{" alarm" if name == "critical" and value else ""}"><b>{value:,}</b><span>{escape(name)}</span></div>'
        for name, value in figures
    )
    span = f"{iso(first)} to {iso(last)}" if isinstance(first, datetime) else "no records"
    intro = f"Records found: {escape(span)}."
    return _section("headline", "Headline figures", _int(records), intro, f'<div class="figures">{cards}</div>'), \
        _int(records)


def _per_day(q: _Queries) -> tuple[str, int]:
    rows = q.rows(
        f"select cast(created_at_local as date) as activity_date, count(*) from {q.view('stg_audit_logs')}{q.where()} "
        "group by 1 order by 1"
    )
    points = [(value.isoformat() if isinstance(value, date) else str(value), _int(count)) for value, count in rows]
    busiest = max(points, key=lambda point: point[1]) if points else ("", 0)
    intro = f"Every record, by local day. Busiest day: {escape(busiest[0])} ({busiest[1]:,})." if points else "By local day."
    return _section("changes-per-day", "Changes per day", len(points), intro,
                    charts.column_chart(points, "Changes per day")), len(points)


def _heatmap(q: _Queries) -> tuple[str, int]:
    rows = q.rows(
        "select extract(isodow from created_at_local) as weekday, extract(hour from created_at_local) as hour, count(*) "
        f"from {q.view('stg_audit_logs')}{q.where(extra=['not is_system'])} group by 1, 2"
    )
    counts = {(int(day), int(hour)): _int(count) for day, hour, count in rows}
    intro = "Changes by people (the system actor left out) by weekday and local hour: work outside the usual hours stands out."
    return _section("heatmap", "When changes happen", len(counts), intro,
                    charts.heatmap(counts, "Changes by weekday and local hour")), len(counts)


def _top_actors(q: _Queries) -> tuple[str, int]:
    rows = q.rows(
        f"select actor_name, actor_id, count(*) as changes from {q.view('stg_audit_logs')}{q.where(extra=['not is_system'])} "
        "group by 1, 2 order by 3 desc, 1 limit 10"
    )
    items = [(str(name or actor_id), _int(count)) for name, actor_id, count in rows]
    return _section("top-actors", "Top actors", len(items), "The ten people with the most records (sign-ins included).",
                    charts.bar_chart(items, "Top actors by records")), len(items)


def _off_hours(q: _Queries) -> tuple[str, int]:
    view = q.view("off_hours_changes")
    reasons = q.rows(f"select off_hours_reason, count(*) from {view}{q.where()} group by 1 order by 2 desc, 1")
    total = sum(_int(count) for _, count in reasons)
    latest = q.rows(
        f"select created_at_local, off_hours_reason, actor_name, action, source_type, source_label from {view}{q.where()} "
        f"order by created_at desc, audit_log_id limit {TABLE_LIMIT}"
    )
    content = (
        charts.bar_chart([(str(reason), _int(count)) for reason, count in reasons], "Off-hours changes by reason")
        + "<h3>Latest</h3>"
        + _table(["local time", "reason", "actor", "action", "type", "item"], latest, classes=["nowrap"])
        + _more(len(latest), total, f"select * from {view}")
    )
    intro = "Changes by people outside business hours (sql/seeds/business_hours.csv, holidays.csv)."
    return _section("off-hours", "Off-hours changes", total, intro, content), total


def _sensitive(q: _Queries) -> tuple[str, int]:
    view = q.view("sensitive_changes")
    by_severity = q.rows(f"select severity, severity_rank, count(*) from {view}{q.where()} group by 1, 2 order by 2 desc")
    total = sum(_int(count) for _, _, count in by_severity)
    rows = q.rows(
        f"select severity, created_at_local, rule_title, actor_name, source_label, change_description_text, ip_address "
        f"from {view}{q.where()} order by severity_rank desc, created_at desc, audit_log_id limit {TABLE_LIMIT}"
    )
    content = (
        charts.bar_chart([(str(name), _int(count)) for name, _, count in by_severity], "Sensitive changes by severity",
                         colours=charts.SEVERITY_COLOURS)
        + _table(["severity", "local time", "rule", "actor", "item", "change", "IP"], rows, classes=["severity", "nowrap"])
        + _more(len(rows), total, f"select * from {view}")
    )
    intro = "Changes matching sql/seeds/sensitive_rules.csv, most severe first (`zendesk-audit alerts` reports each once)."
    return _section("sensitive", "Sensitive changes by severity", total, intro, content), total


def _rule_changes(q: _Queries) -> tuple[str, int]:
    view = q.view("rule_changes")
    kinds = q.rows(f"select rule_kind, count(*) from {view}{q.where()} group by 1 order by 2 desc, 1 limit 12")
    total = _int(q.scalar(f"select count(*) from {view}{q.where()}"))
    rows = q.rows(
        f"select created_at_local, rule_kind, rule_name, action, actor_name, change_description_text from {view}{q.where()} "
        f"order by created_at desc, audit_log_id limit {TABLE_LIMIT}"
    )
    content = (
        charts.bar_chart([(str(kind), _int(count)) for kind, count in kinds], "Business-rule changes by kind")
        + "<h3>Latest</h3>"
        + _table(["local time", "kind", "rule", "action", "actor", "change"], rows, classes=["nowrap"])
        + _more(len(rows), total, f"select * from {view}")
    )
    intro = "Triggers, automations, macros, views and SLA policies that were created, changed or deleted."
    return _section("rule-changes", "Business-rule changes", total, intro, content), total


def _role_history(q: _Queries) -> tuple[str, int]:
    view = q.view("user_role_history")
    total = _int(q.scalar(f"select count(*) from {view}{q.where('changed_at')}"))
    rows = q.rows(
        f"select changed_at_local, user_name, role_kind, old_role, new_role, actor_name from {view}{q.where('changed_at')} "
        f"order by changed_at desc, audit_log_id, line_number limit {TABLE_LIMIT}"
    )
    content = _table(["local time", "user", "role kind", "from", "to", "changed by"], rows, classes=["nowrap"]) + _more(
        len(rows), total, f"select * from {view}"
    )
    return _section("role-history", "Role history", total, "Whose role changed, from what to what, and who changed it.",
                    content), total


def _incidents(q: _Queries) -> tuple[str, int]:
    view = q.view("incident_changes")
    incidents = q.rows(
        f"select incident_id, incident_title, incident_started_at, lookback_hours, count(*) from {view}"
        f"{q.where('incident_started_at')} group by 1, 2, 3, 4 order by 3 desc, 1"
    )
    blocks = []
    for incident_id, title, started_at, lookback, count in incidents:
        condition = f"incident_id = '{str(incident_id).replace(chr(39), chr(39) * 2)}'"
        rows = q.rows(
            f"select minutes_before_incident, created_at_local, actor_name, action, source_type, source_label, "
            f"change_description_text from {view}{q.where('incident_started_at', [condition])} "
            f"order by seconds_before_incident, audit_log_id limit {INCIDENT_CHANGES_LIMIT}"
        )
        blocks.append(
            f"<h3>{html_text(incident_id)}: {html_text(title or '')}</h3>"
            f'<p class="intro">Started {escape(iso(started_at) if isinstance(started_at, datetime) else str(started_at))}; '
            f"{_int(count):,} changes in the {_int(lookback)} hours before, nearest first.</p>"
            + _table(["minutes before", "local time", "actor", "action", "type", "item", "change"], rows, ["", "nowrap"])
            + _more(len(rows), _int(count), f"select * from {view} where {condition}")
        )
    intro = "Each incident of sql/seeds/incidents.csv that started in the period, with the changes in its lookback window."
    return _section("incidents", "Incidents and the changes before them", len(incidents), intro, "".join(blocks)), \
        len(incidents)


STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2937; margin: 0 auto;
       max-width: 1000px; padding: 24px; line-height: 1.4; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
header { border-bottom: 3px solid #2563eb; margin-bottom: 8px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { font-size: 19px; margin: 28px 0 4px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 4px; }
.meta, .intro, .more, .empty, footer { color: #6b7280; font-size: 13px; margin: 4px 0 10px; }
.notice { color: #b91c1c; border: 1px solid #b91c1c; border-radius: 6px; padding: 6px 10px; font-size: 13px; }
.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
.figure { border: 1px solid #e5e7eb; border-radius: 6px; padding: 10px 12px; }
.figure b { display: block; font-size: 24px; }
.figure span { color: #6b7280; font-size: 12px; }
.figure.alarm { border-color: #b91c1c; color: #b91c1c; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin: 6px 0; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { background: #f3f4f6; }
td { overflow-wrap: anywhere; }
td.severity { font-weight: 600; text-transform: uppercase; font-size: 11px; }
td.nowrap { white-space: nowrap; }
mark.hidden-char { background: #fde68a; color: #92400e; font-family: ui-monospace, monospace; font-size: 11px; }
code { font-size: 12px; }
footer { margin-top: 32px; border-top: 1px solid #e5e7eb; padding-top: 8px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  section { break-inside: avoid-page; }
  h2, h3 { break-after: avoid; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
  .figures { grid-template-columns: repeat(4, 1fr); }
}
"""


def render_html(title: str, meta: str, sections: Sequence[str], footer: str, notices: Sequence[str] = ()) -> str:
    """The page around the sections: CSP, inline CSS, nothing fetched; `notices` (text) stand out under the title."""
    warnings = "".join(f'<p class="notice">{html_text(notice)}</p>' for notice in notices)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>"
        f"<header><h1>{escape(title)}</h1><p class=\"meta\">{meta}</p>{warnings}</header>\n"
        + "\n".join(sections)
        + f"\n<footer>{footer}</footer></body></html>\n"
    )


def write_report(pipeline: Any, out: str | Path, period: Period) -> ReportResult:
    """Write the HTML report for `period` from the model views of the pipeline's destination.

    Args:
        pipeline: the dlt pipeline whose destination holds the built models.
        out: the HTML file to write (replaced if present).
        period: `[start, end)` in UTC and an optional subdomain (`Period.parse`); open ends mean
            "from the first record" and "to the last".

    Raises:
        ConfigurationError: the models are not built.

    Example:
        >>> print(write_report(pipeline, "report.html", Period.parse("2026-07-01", "2026-10-01")).summary_line())
    """
    from zendesk_audit.evidence import tool_version
    from zendesk_audit.models import models_schema_name
    from zendesk_audit.warehouse import open_engine

    started = time.monotonic()
    schema = models_schema_name(pipeline.dataset_name)
    result = ReportResult(str(out), period)
    with open_engine(pipeline) as engine:
        require_views(engine, pipeline.dataset_name, VIEWS)
        q = _Queries(engine, schema, period)
        headline, result.section_rows["headline"] = _headline(q)
        result.time_zones = account_time_zones(engine, pipeline.dataset_name, period.subdomain)
        html_sections = [headline]
        for name, build in (("changes-per-day", _per_day), ("heatmap", _heatmap), ("top-actors", _top_actors),
                            ("off-hours", _off_hours), ("sensitive", _sensitive), ("rule-changes", _rule_changes),
                            ("role-history", _role_history), ("incidents", _incidents)):
            html, result.section_rows[name] = build(q)
            html_sections.append(html)
    account = period.subdomain or "every account"
    meta = html_text(
        f"{account} · {period.label()} · {_zones_label(result.time_zones)} · generated "
        f"{iso(datetime.now(timezone.utc))} by zendesk-audit {tool_version()} from {pipeline.destination.destination_name} "
        f"schema {schema}"
    )
    footer = escape(
        "Figures come from the views of the schema above (see the README's SQL models section); "
        "`zendesk-audit evidence` exports every row behind them with SHA-256 hashes."
    )
    notices = [line[:1].upper() + line[1:] for line in fallback_warnings(result.time_zones)]
    Path(out).write_text(render_html("Zendesk audit report", meta, html_sections, footer, notices), encoding="utf-8")
    result.seconds = time.monotonic() - started
    return result
