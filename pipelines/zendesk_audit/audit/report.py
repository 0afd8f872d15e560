"""The period review: one self-contained HTML file, or a paginated PDF, that an auditor can file.

`write_report` reads the models for a review period (`report_data`), writes the review in the
order an access review is done, and for a PDF prints it with a headless Chromium (`report_pdf`):

1. a cover: account, period in words, local time zone and where it came from, business hours,
   how far the loaded data reaches (the cursor and the last load), when and how it was generated;
2. at a glance: the counts, each against the previous period of the same length, and the people
   who changed something now but not then;
3. what needs attention: critical and high sensitive changes, role changes to admin roles,
   people outside the approved actors, data exports, API tokens created;
4. activity: every day of the period (days without records shaded), weekday by hour with the
   off-hours cells marked, the most active people;
5. details: off-hours changes, every sensitive change, business-rule changes, role history,
   incidents with the changes before them;
6. an appendix: values cut in the tables, in full, and how the report was made.

Each section says in one sentence what it shows and how it was decided, in words (the business
hours, the zone and its source, the rules), never with a file path or a code. The page has inline
CSS and SVG only, no script, no font, no image, no link out; a Content-Security-Policy
(`default-src 'none'`) makes the browser refuse any request, so it opens offline and leaks nothing.
Every value from the data goes through `text_safety.html_text` (escaped, controls visible,
invisible and bidirectional characters marked), so a label cannot pass for something else.

Sections (`<section id=... data-rows=N>`, N the rows behind it), in order: see `SECTIONS`.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from datetime import time as clock_time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zendesk_audit.audit import report_charts as charts
from zendesk_audit.audit.period import Period, require_views
from zendesk_audit.audit.report_data import VIEWS, ReportData, Rows, Window, hour_zones, read_report_data
from zendesk_audit.audit.report_html import Column, Notes, breakable, page, table
from zendesk_audit.audit.report_words import (
    action_words,
    business_hours_source_words,
    business_hours_words,
    count_words,
    long_date,
    moment,
    off_hours_words,
    zone_words,
)
from zendesk_audit.errors import ConfigurationError
from zendesk_audit.models.account_zones import AccountTimeZone, fallback_warnings
from zendesk_audit.models.account_zones import summary as time_zone_summary
from zendesk_audit.text_safety import html_text

if TYPE_CHECKING:
    import dlt

SECTIONS = (
    "headline", "new-actors",
    "critical-high", "admin-roles", "unapproved-actors", "data-exports", "api-tokens",
    "changes-per-day", "heatmap", "top-actors",
    "off-hours", "sensitive", "rule-changes", "role-history", "incidents",
)
PARTS = (
    ("part-summary", "At a glance", ("headline", "new-actors")),
    ("part-attention", "What needs attention", ("critical-high", "admin-roles", "unapproved-actors", "data-exports",
                                                "api-tokens")),
    ("part-activity", "Activity", ("changes-per-day", "heatmap", "top-actors")),
    ("part-details", "Details", ("off-hours", "sensitive", "rule-changes", "role-history", "incidents")),
)
FORMATS = ("html", "pdf")
FIGURE_NAMES = {
    "records": "records",
    "people": "people who changed something",
    "critical": "critical changes",
    "high": "high-severity changes",
    "off_hours": "records by people outside business hours",
    "admin_roles": "role changes to an admin role",
    "exports": "data exports",
    "api_tokens": "API tokens created",
    "unapproved": "records by people not on the approved list",
}
ALARMING = frozenset({"critical", "admin_roles", "unapproved"})

__all__ = ["FORMATS", "SECTIONS", "ReportResult", "report_format", "write_report"]


@dataclass
class ReportResult:
    """Where the report went, in which format, and how many rows each section shows."""

    path: str
    period: Period
    format: str = "html"
    section_rows: dict[str, int] = field(default_factory=dict)
    not_checked: dict[str, str] = field(default_factory=dict)  # section -> why it could not be checked
    seconds: float = 0.0
    time_zones: list[AccountTimeZone] = field(default_factory=list)
    snapshot: str | None = None  # a DuckLake's snapshot it was read from, in words

    def summary_line(self) -> str:
        records = self.section_rows.get("headline", 0)
        empty = [name for name in SECTIONS if not self.section_rows.get(name) and name not in self.not_checked]
        note = f"; empty: {', '.join(empty)}" if empty else ""
        if self.not_checked:
            note += f"; not checked: {', '.join(self.not_checked)}"
        zones = _zones_label(self.time_zones)
        return (
            f"report: {records:,} records, {self.period.label()}, {zones}, "
            f"{'from ' + self.snapshot + ', ' if self.snapshot else ''}{self.format.upper()} written to "
            f"{self.path} in {self.seconds:.1f} s{note}"
        )


def _zones_label(zones: Sequence[AccountTimeZone]) -> str:
    """`local times in Europe/Paris (account_settings)`, or one zone per account when they differ."""
    if not zones:
        return "local times in UTC"
    if len({(zone.time_zone, zone.time_zone_source) for zone in zones}) == 1:
        return f"local times in {zones[0].time_zone} ({zones[0].time_zone_source})"
    return time_zone_summary(list(zones))


def report_format(out: str | Path, format: str | None) -> str:
    """`pdf` or `html`: as given, else from the file's extension (`.pdf`), else HTML.

    Raises:
        ConfigurationError: the format and the extension disagree (`--format pdf --out r.html`).
    """
    suffix = Path(out).suffix.lower()
    implied = "pdf" if suffix == ".pdf" else ("html" if suffix in (".html", ".htm") else None)
    chosen = (format or implied or "html").lower()
    if chosen not in FORMATS:
        raise ConfigurationError(f"--format must be html or pdf, not {format!r}")
    if implied and chosen != implied:
        raise ConfigurationError(f"--format {chosen} and --out {Path(out).name} disagree: name the file .{chosen}")
    return chosen


# ----------------------------------------------------------------------------- words for the period
def _is_midnight(value: datetime) -> bool:
    return value.astimezone(timezone.utc).time() == clock_time(0)


def period_words(window: Window | None, period: Period | None = None) -> str:
    """`1 July 2026 to 30 September 2026` (whole UTC days), or the exact moments, or the data's span.

    Without a window (an open end and no record to close it), the bounds that were given.
    """
    if window is None:
        given = [f"from {moment(period.start)}"] if period and period.start else []
        given += [f"until {moment(period.end)} (not included)"] if period and period.end else []
        return (" ".join(given) + ", with no record loaded in it") if given else "no record loaded"
    start, end = window.start.astimezone(timezone.utc), window.end.astimezone(timezone.utc)
    if window.open_start or window.open_end:
        first = f"the first record loaded ({moment(start)})" if window.open_start else moment(start)
        last_record = end - timedelta(seconds=1)
        last = f"the last record loaded ({moment(last_record)})" if window.open_end else f"{moment(end)} (not included)"
        return f"from {first} to {last}"
    if _is_midnight(start) and _is_midnight(end):
        last_day = (end - timedelta(days=1)).date()
        if last_day == start.date():
            return long_date(start.date())
        return f"{long_date(start.date())} to {long_date(last_day)}"
    return f"{moment(start)} to {moment(end)} (not included)"


def _period_detail(window: Window | None) -> str:
    if window is None:
        return ""
    if window.open_start or window.open_end:
        return "Every record loaded, as no start or end was given." if window.open_start and window.open_end else \
            "The open end is the first or last record loaded."
    days = window.length / timedelta(days=1)
    span = count_words(int(days), "day") if days == int(days) else f"{days:.1f} days"
    start, end = window.start.astimezone(timezone.utc), window.end.astimezone(timezone.utc)
    if _is_midnight(start) and _is_midnight(end):
        return f"{span}, from 00:00 UTC on the first day to 24:00 UTC on the last."
    return f"{span}, in UTC."


def _short_period(window: Window | None, period: Period) -> str:
    if window is None:
        return period_words(None, period)
    if window.open_start or window.open_end:
        return f"{long_date(window.start.date())} to {long_date((window.end - timedelta(seconds=1)).date())}"
    return period_words(window)


# ----------------------------------------------------------------------------- pieces
class _Builder:
    """Writes the sections from `ReportData`, collecting cut values for the appendix."""

    def __init__(self, data: ReportData) -> None:
        self.data = data
        self.notes = Notes()
        self.rows: dict[str, int] = {}
        self.not_checked: dict[str, str] = {}
        zones = {zone.time_zone for zone in data.time_zones}
        self.when = f"when ({zones.pop()})" if len(zones) == 1 else "when (local)"
        seed = business_hours_words(data.business_hours) if data.business_hours is not None else None
        self.business = business_hours_source_words(data.hours_sources, seed)

    # ------------------------------------------------------------------ helpers
    def section(self, section_id: str, title: str, rows: int, intro: str, content: str, alarm: str = "",
                empty: str = "None in this period.", not_checked: str | None = None, badge: bool = True) -> str:
        self.rows[section_id] = rows
        if not_checked:
            self.not_checked[section_id] = not_checked
            body = f'<p class="not-checked">Not checked: {escape(not_checked)}</p>'
        else:
            body = content if rows else f'<p class="empty">{escape(empty)}</p>'
        count = f'<span class="count{" " + alarm if alarm and rows else ""}">{rows:,}</span>'
        return (
            f'<section id="{section_id}" data-rows="{rows}"><div class="section-head"><h3>{escape(title)}</h3>'
            f'{count if badge and not not_checked else ""}</div>'
            f'<p class="intro">{intro}</p>{body}</section>'
        )

    def table(self, title: str, columns: Sequence[Column], found: Rows, order: str = "latest first") -> str:
        shown = table(columns, found.rows, self.notes, title)
        if found.total > len(found.rows):
            shown += (f'<p class="more">{len(found.rows):,} of {found.total:,} shown, {escape(order)}; every row is in '
                      "the evidence export of this period.</p>")
        return shown

    def who(self, name: Any, ip: Any = None) -> str:
        text = breakable(str(name)) if name not in (None, "") else '<span class="more">unknown</span>'
        if not ip:
            return text
        address = str(ip)
        shown = html_text(address) if len(address) <= 20 else breakable(address)
        return text + f'<br><span class="more{" nowrap" if len(address) <= 20 else ""}">from {shown}</span>'

    # ------------------------------------------------------------------ 1. at a glance
    def headline(self) -> str:
        data, comparison = self.data, self.data.comparison
        cards = []
        for key, value in data.figures.items():
            then = ""
            if comparison is not None and key in comparison.figures:
                before = comparison.figures[key]
                change = value - before
                trend = ("same as" if not change else
                         f'<span class="up">▲ {change:,} more than</span>' if change > 0 else
                         f'<span class="down">▼ {-change:,} fewer than</span>')
                then = f'<span class="then">{trend} the previous period ({before:,})</span>'
            alarm = " alarm" if key in ALARMING and value else ""
            cards.append(f'<div class="figure{alarm}" data-figure="{key}"><b>{value:,}</b>'
                         f'<span class="name">{escape(FIGURE_NAMES[key])}</span>{then}</div>')
        if comparison is None:
            intro = f"Counts for the period. {escape(data.no_comparison)}"
        else:
            previous = period_words(comparison.previous)
            intro = f"Counts for the period, each against the previous period of the same length ({escape(previous)})."
            if comparison.coverage == "partial" and comparison.data_starts:
                intro += (f" The loaded records begin on {escape(long_date(comparison.data_starts.date()))}, so the "
                          "previous period is only partly covered.")
        return self.section("headline", "Counts", data.figures.get("records", 0), intro,
                            f'<div class="figures">{"".join(cards)}</div>', empty="No record in this period.", badge=False)

    def new_actors(self) -> str:
        comparison = self.data.comparison
        title = "People new to changing things"
        if comparison is None:
            return self.section("new-actors", title, 0, "People who changed something in this period but not in the "
                                "previous one.", "", not_checked=self.data.no_comparison.rstrip("."))
        intro = (f"People who changed something in this period and nothing in the previous one "
                 f"({escape(period_words(comparison.previous))}); sign-ins and exports are not changes. Most active first.")
        columns = [Column("person"), Column("Zendesk user id", "number"), Column("changes", "number"),
                   Column(f"first change, {self.when}", "time")]
        rows = [(name, str(actor_id), changes, first) for name, actor_id, changes, first in comparison.new_actors.rows]
        found = Rows(rows, comparison.new_actors.total)
        return self.section("new-actors", title, found.total, intro, self.table(title, columns, found, "most active first"),
                            alarm="warn", empty="Nobody: everyone who changed something also did in the previous period.")

    # ------------------------------------------------------------------ 2. attention
    def critical_high(self) -> str:
        data = self.data
        rules = [rule for rule in data.rules if rule[0] in ("critical", "high")]
        intro = (f"Changes that match a sensitivity rule of severity critical or high ({count_words(len(rules), 'such rule')}"
                 " set up, such as two-factor authentication disabled or an account owner changed; all rules are listed "
                 "in the appendix), most severe and latest first.")
        return self.section("critical-high", "Critical and high-severity changes", data.critical_high.total, intro,
                            self._sensitive_table("Critical and high-severity changes", data.critical_high), alarm="alarm")

    def _sensitive_table(self, title: str, found: Rows) -> str:
        columns = [Column("severity", "severity"), Column(self.when, "time"), Column("rule", limit=60),
                   Column("who", "html"), Column("item", limit=70), Column("change", "long", limit=220)]
        rows = [(severity, when, rule, self.who(actor, ip), item, change)
                for severity, when, rule, actor, ip, item, change in found.rows]
        return self.table(title, columns, Rows(rows, found.total), "most severe and latest first")

    def admin_roles(self) -> str:
        intro = ("Users given an admin role in a product (Admin, Administrator, account owner; in Guide also its "
                 "former name Manager) who did not have one there, latest first. A change from Admin to "
                 "Administrator is not listed.")
        columns = [Column(self.when, "time"), Column("user"), Column("product"), Column("from"), Column("to"),
                   Column("changed by")]
        title = "Role changes to an admin role"
        return self.section("admin-roles", title, self.data.admin_roles.total, intro,
                            self.table(title, columns, self.data.admin_roles), alarm="alarm")

    def unapproved(self) -> str:
        data = self.data
        title = "People outside the approved actors"
        if not data.approved_actors:
            return self.section(
                "unapproved-actors", title, 0, "People who did something in the period but are not on the list of "
                "approved actors.", "",
                not_checked="no list of approved actors is set up for this installation, so nobody can be outside it",
            )
        intro = (f"People who did something in the period (sign-ins included) but are not among the "
                 f"{count_words(data.approved_actors, 'approved actor')}, matched on the Zendesk user id; most active first.")
        columns = [Column("person"), Column("Zendesk user id", "number"), Column("records", "number"),
                   Column("of them sign-ins", "number"), Column(f"first, {self.when}", "time"), Column("last", "time")]
        rows = [(name, str(actor_id), records, logins, first, last)
                for name, actor_id, records, logins, first, last in data.unapproved.rows]
        return self.section("unapproved-actors", title, data.unapproved.total, intro,
                            self.table(title, columns, Rows(rows, data.unapproved.total), "most active first"),
                            alarm="alarm")

    def _changes(self, section_id: str, title: str, intro: str, found: Rows, item: str, alarm: str) -> str:
        columns = [Column(self.when, "time"), Column("who", "html"), Column(item, limit=70),
                   Column("description", "long", limit=200)]
        rows = [(when, self.who(actor, ip), label, change) for when, actor, ip, label, change in found.rows]
        return self.section(section_id, title, found.total, intro, self.table(title, columns, Rows(rows, found.total)),
                            alarm=alarm)

    def exports(self) -> str:
        return self._changes("data-exports", "Data exports", "Every record of data exported from Zendesk (the audit "
                             "log's “exported” action), latest first.", self.data.exports, "what", "warn")

    def api_tokens(self) -> str:
        return self._changes("api-tokens", "API tokens created", "API tokens created in the period: each gives a "
                             "program access to the account. Latest first.", self.data.api_tokens, "token", "warn")

    # ------------------------------------------------------------------ 3. activity
    def per_day(self) -> str:
        points = self.data.per_day
        empty = [day for day, count in points if not count]
        longest, run_start, best_start = 0, None, None
        run = 0
        for day, count in points:
            if count:
                run = 0
                continue
            run_start = day if run == 0 else run_start
            run += 1
            if run > longest:
                longest, best_start = run, run_start
        intro = ("Every record, by day in UTC like the period; days without any record are shaded, so a gap in the data "
                 f"or in the activity shows at once. {len(empty):,} of {count_words(len(points), 'day')} had no record")
        if longest > 1 and best_start is not None:
            end = best_start + timedelta(days=longest - 1)
            intro += (f"; the longest run without one is {longest} days, {escape(long_date(best_start))} to "
                      f"{escape(long_date(end))}")
        intro += "."
        if points and any(count for _, count in points):
            busiest = max(points, key=lambda point: point[1])
            intro += f" Busiest day: {escape(long_date(busiest[0]))} ({busiest[1]:,})."
        chart = charts.day_chart(points, "Records per day")
        return self.section("changes-per-day", "Records per day", len(points) if any(c for _, c in points) else 0, intro,
                            f'<figure class="chart" data-days="{len(points)}" data-empty-days="{len(empty)}">{chart}'
                            "</figure>")

    def heatmap(self) -> str:
        data = self.data
        reasons = ", ".join(f"{count:,} {escape(off_hours_words(reason))}" for reason, count in data.off_reasons)
        off_total = sum(count for _, count in data.off_reasons)
        if self.business is None:
            decided = "The business hours the figures were decided with could not be read, so no cell is marked."
        else:
            shaded = ("them" if data.heat_hours == data.business_hours or not data.heat_hours else
                      f"its hours at the end of the period ({escape(business_hours_words(data.heat_hours))})")
            decided = (f"Business hours: {escape(self.business)}; cells outside {shaded} are orange to red, the darker "
                       "the more records.")
        holidays = (f" {count_words(len(data.holidays), 'holiday')} in the period count as off hours all day."
                    if data.holidays else "")
        intro = (f"Records by people (Zendesk's own system actor left out, sign-ins included) by weekday and local hour, "
                 f"{escape(_zones_sentence(data.time_zones))}. {decided}{holidays}")
        if off_total:
            intro += f" Outside business hours: {count_words(off_total, 'record')} ({reasons})."
        chart = charts.heatmap(data.heat, data.heat_off, hour_zones(data.heat_hours), "Records by weekday and local hour")
        return self.section("heatmap", "When people work", len(data.heat), intro, f'<figure class="chart">{chart}</figure>')

    def top_actors(self) -> str:
        items = self.data.top_actors
        return self.section("top-actors", "Most active people", len(items),
                            "The ten people with the most records in the period (sign-ins included).",
                            f'<figure class="chart">{charts.bar_chart(items, "Most active people by records")}</figure>')

    # ------------------------------------------------------------------ 4. details
    def off_hours(self) -> str:
        found = self.data.off_hours
        decided = f"business hours {escape(self.business)}" if self.business else "the business hours set up"
        intro = (f"Records by people outside business hours ({decided}; holidays count all day), latest first; the "
                 "reason says why each is off hours.")
        columns = [Column(self.when, "time"), Column("why off hours"), Column("who"), Column("did"),
                   Column("item", limit=70)]
        rows = [(when, off_hours_words(reason, short=True), actor, action_words(action), _item(kind, label))
                for when, reason, actor, action, kind, label in found.rows]
        return self.section("off-hours", "Off-hours records", found.total, intro,
                            self.table("Off-hours records", columns, Rows(rows, found.total)))

    def sensitive(self) -> str:
        data = self.data
        chart = charts.bar_chart(data.sensitive_by_severity, "Sensitive changes by severity",
                                 colours=charts.SEVERITY_COLOURS)
        intro = (f"Every change matching one of the {count_words(len(data.rules), 'sensitivity rule')} (listed in the "
                 "appendix), all severities, most severe and latest first.")
        return self.section("sensitive", "Sensitive changes", data.sensitive.total, intro,
                            f'<figure class="chart">{chart}</figure>' + self._sensitive_table("Sensitive changes",
                                                                                             data.sensitive))

    def rule_changes(self) -> str:
        data = self.data
        chart = charts.bar_chart(data.rule_kinds, "Business-rule changes by kind")
        columns = [Column(self.when, "time"), Column("kind"), Column("rule", limit=70), Column("did"), Column("who"),
                   Column("change", "long", limit=200)]
        rows = [(when, kind, name, action_words(action), actor, change)
                for when, kind, name, action, actor, change in data.rule_changes.rows]
        intro = "Triggers, automations, macros, views and SLA policies created, changed or deleted, latest first."
        return self.section("rule-changes", "Business-rule changes", data.rule_changes.total, intro,
                            f'<figure class="chart">{chart}</figure>'
                            + self.table("Business-rule changes", columns, Rows(rows, data.rule_changes.total)))

    def role_history(self) -> str:
        columns = [Column(self.when, "time"), Column("user"), Column("product"), Column("from"), Column("to"),
                   Column("changed by")]
        intro = ("Every change of a user's role, in each product (Support, Guide, Explore, Talk, ...): from what to "
                 "what, and who changed it, latest first; “not set” is no role in that product.")
        return self.section("role-history", "Role history", self.data.role_history.total, intro,
                            self.table("Role history", columns, self.data.role_history))

    def incidents(self) -> str:
        blocks = []
        columns = [Column("minutes before", "number"), Column(self.when, "time"), Column("who"), Column("did"),
                   Column("item", limit=70), Column("change", "long", limit=160)]
        for incident in self.data.incidents:
            started = moment(incident.started_at) if incident.started_at else "at an unknown time"
            rows = [(minutes, when, actor, action_words(action), _item(kind, label), change)
                    for minutes, when, actor, action, kind, label, change in incident.rows]
            blocks.append(
                f"<h4>{html_text(incident.incident_id)}: {html_text(incident.title)}</h4>"
                f'<p class="intro">Started {escape(started)}; {count_words(incident.changes, "record")} in the '
                f"{incident.lookback_hours} hours before, nearest first.</p>"
                + self.table(f"Incident {incident.incident_id}", columns, Rows(rows, incident.changes), "nearest first")
            )
        intro = ("Each incident recorded for this installation that started in the period, with the records of the hours "
                 "before it (its look-back window).")
        return self.section("incidents", "Incidents and the changes before them", len(self.data.incidents), intro,
                            "".join(blocks), empty="No incident recorded for this period.")

    # ------------------------------------------------------------------ appendix
    def appendix(self) -> str:
        parts = ['<div class="part" id="part-appendix"><div class="part-head"><span class="num">A</span><h2>Appendix</h2></div>']
        if self.notes.items:
            rows = [(f"[{number}]", where, value) for number, where, value in self.notes.items]
            columns = [Column("note"), Column("where"), Column("full value", "long", limit=5000)]
            ids = [f"note-{number}" for number, _, _ in self.notes.items]
            parts.append('<section id="notes" class="notes"><h3>Values cut in the tables</h3>'
                         '<p class="intro">The full value of each cell that was cut short, by its note number.</p>'
                         f"{table(columns, rows, row_ids=ids)}</section>")
        parts.append(self.method())
        parts.append("</div>")
        return "".join(parts)

    def method(self) -> str:
        data = self.data
        items = [
            "<p><b>Records.</b> Every figure counts records of the Zendesk audit log as loaded into the database named on "
            "the cover. Zendesk's own system actor is left out wherever people are counted. A record matching two "
            "sensitivity rules appears once per rule in the tables and once in the counts.</p>",
            f"<p><b>Local times.</b> {escape(_sentence(_zones_sentence(data.time_zones)))}.</p>",
        ]
        if self.business is not None:
            holidays = ("; ".join(f"{long_date(day)} ({name})" if name else long_date(day) for day, name in data.holidays)
                        or "none in the period")
            items.append(f"<p><b>Business hours.</b> {escape(self.business)}. Holidays: {html_text(holidays)}. A record "
                         "outside them is off hours: on a day without business hours, on a holiday, before opening time, "
                         "or after closing time (also between two shifts).</p>")
        items.append("<p><b>Admin roles.</b> A role change counts as a change to an admin role when the new role's name "
                     "contains “admin”.</p>")
        items.append("<p><b>Approved actors.</b> " + (
            f"{count_words(data.approved_actors, 'person', 'people')} are approved; anyone else who did something is "
            "listed." if data.approved_actors else "No list is set up, so this check was not made.") + "</p>")
        items.append("<p><b>Comparison.</b> The previous period has the same length and ends where this one starts; "
                     "people new to changing things changed something now and nothing then.</p>")
        items.append("<p><b>Tables</b> show at most 25 rows each; the evidence export of the same period holds every "
                     "row, with a checksum for each file.</p>")
        rules = "".join(
            f'<dt><span class="badge sev-{escape(severity) if severity in ("critical", "high", "medium", "low") else "other"}">'
            f"{html_text(severity)}</span></dt><dd>{html_text(title)}</dd>"
            for severity, title, _ in data.rules
        )
        if rules:
            items.append(f'<h4>Sensitivity rules</h4><dl class="rules">{rules}</dl>')
        return ('<section id="method"><h3>How this report was made</h3>' + "".join(items) + "</section>")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _item(kind: Any, label: Any) -> str:
    """The changed item as a reader names it: the label, else the kind."""
    return str(label) if label not in (None, "") else str(kind or "")


def _zones_sentence(zones: Sequence[AccountTimeZone]) -> str:
    """`in Europe/Paris, the time zone in the account's Zendesk settings` (per account when they differ)."""
    if not zones:
        return "in UTC (no time zone is recorded for these records)"
    if len({(zone.time_zone, zone.time_zone_source) for zone in zones}) == 1:
        return f"in {zone_words(zones[0].time_zone, zones[0].time_zone_source)}"
    return "per account: " + "; ".join(f"{zone.subdomain} in {zone_words(zone.time_zone, zone.time_zone_source)}"
                                       for zone in zones)


def _cover_zones(zones: Sequence[AccountTimeZone]) -> str:
    """`Europe/Paris, the time zone in the account's Zendesk settings` (per account when they differ)."""
    if not zones:
        return "UTC (no time zone is recorded for these records)"
    if len({(zone.time_zone, zone.time_zone_source) for zone in zones}) == 1:
        return _sentence(zone_words(zones[0].time_zone, zones[0].time_zone_source))
    return "; ".join(f"{zone.subdomain}: {zone_words(zone.time_zone, zone.time_zone_source)}" for zone in zones)


def _cover(data: ReportData, generated: datetime, version: str, period_text: str) -> str:
    accounts = ", ".join(data.accounts) or (data.period.subdomain or "none")
    facts = [
        ("Account" if len(data.accounts) <= 1 else "Accounts", html_text(accounts)),
        ("Period", f"{escape(period_text)}<br><span class=\"more\">{escape(_period_detail(data.window))}</span>"),
        ("Local times", escape(_cover_zones(data.time_zones))),
        ("Business hours", escape(business_hours_source_words(
            data.hours_sources, business_hours_words(data.business_hours) if data.business_hours is not None else None)
            or "not recorded with the models")),
    ]
    freshness = []
    for item in data.freshness:
        cursor = (f"loaded up to {moment(item.cursor)} (the next load continues from there)" if item.cursor
                  else "no cursor is recorded (no load from the Zendesk API: records imported from a CSV export, "
                  "or loaded by an older version)")
        last_load = f"; last load {moment(item.last_load)}" if item.last_load else ""
        latest = f", the latest of {moment(item.last_record)}" if item.last_record else ""
        name = f"{item.subdomain}: " if len(data.freshness) > 1 else ""
        freshness.append(f"<p>{html_text(name)}{count_words(item.records, 'record')} in all{escape(latest)}; "
                         f"{escape(cursor)}{escape(last_load)}.</p>")
    facts.append(("Data freshness", "".join(freshness) or "no record loaded"))
    read_from = f"; read from {data.snapshot} (`--as-of` reproduces it)" if data.snapshot else ""
    facts.append(("Generated", escape(f"{moment(generated)} by zendesk-audit {version}, from the {data.destination} "
                                      f"database (models in {data.schema}){read_from}")))
    notices = [line[:1].upper() + line[1:] for line in fallback_warnings(data.time_zones)]
    window = data.window
    if window is not None and not window.open_end:
        reached = [item.cursor or item.last_record for item in data.freshness]
        known = [value for value in reached if value is not None]
        if known and min(known) < window.end:
            notices.append(f"The data was loaded up to {moment(min(known))}, before the end of the period: records made "
                           "after that are not in this report.")
    contents = "".join(f'<a href="#{part_id}">{number}. {escape(title)}</a>'
                       for number, (part_id, title, _) in enumerate(PARTS, start=1))
    return (
        '<header class="cover" id="cover"><p class="kicker">Zendesk audit log · period review</p>'
        f"<h1>Zendesk audit review</h1><p class=\"period\">{html_text(accounts)} · {escape(period_text)}</p>"
        '<dl class="facts">' + "".join(f"<dt>{escape(name)}</dt><dd>{value}</dd>" for name, value in facts) + "</dl>"
        + "".join(f'<p class="notice">{html_text(notice)}</p>' for notice in notices)
        + f'<nav class="contents">Contents: {contents}<a href="#part-appendix">Appendix</a></nav></header>'
    )


def render_report(data: ReportData, generated: datetime, version: str, paper: str | None = None) -> tuple[str, _Builder]:
    """The whole HTML document for `data`, and the builder (its rows per section and notes)."""
    builder = _Builder(data)
    builders = {
        "headline": builder.headline, "new-actors": builder.new_actors,
        "critical-high": builder.critical_high, "admin-roles": builder.admin_roles,
        "unapproved-actors": builder.unapproved, "data-exports": builder.exports, "api-tokens": builder.api_tokens,
        "changes-per-day": builder.per_day, "heatmap": builder.heatmap, "top-actors": builder.top_actors,
        "off-hours": builder.off_hours, "sensitive": builder.sensitive, "rule-changes": builder.rule_changes,
        "role-history": builder.role_history, "incidents": builder.incidents,
    }
    leads = {
        "part-summary": "The period's counts next to the previous period's.",
        "part-attention": "What an access review looks at first. A green tick means nothing was found.",
        "part-activity": "When the account was worked on, and by whom.",
        "part-details": "The records behind the figures, latest first.",
    }
    parts = []
    for number, (part_id, title, sections) in enumerate(PARTS, start=1):
        body = "".join(builders[name]() for name in sections)
        parts.append(f'<div class="part" id="{part_id}"><div class="part-head"><span class="num">{number}</span>'
                     f"<h2>{escape(title)}</h2></div>"
                     f'<p class="lead">{escape(leads[part_id])}</p>{body}</div>')
    parts.append(builder.appendix())
    period_text = period_words(data.window, data.period)
    accounts = ", ".join(data.accounts) or (data.period.subdomain or "")
    snapshot = f" ({data.snapshot})" if data.snapshot else ""
    footer = escape(
        f"Generated {moment(generated)} by zendesk-audit {version} from the audit-log records in the {data.destination} "
        f"database{snapshot}. Every row behind these figures is in the evidence export of the same period, with a checksum for "
        "each file."
    )
    title = f"Zendesk audit review: {accounts + ', ' if accounts else ''}{_short_period(data.window, data.period)}"
    footer_line = f"Zendesk audit review · {accounts + ' · ' if accounts else ''}{_short_period(data.window, data.period)}"
    html = page(title, _cover(data, generated, version, period_text), parts, footer, footer_line, paper)
    return html, builder


def write_report(pipeline: dlt.Pipeline, out: str | Path, period: Period, format: str | None = None, paper: str | None = None,
                 browser: str | None = None) -> ReportResult:
    """Write the period review for `period` from the models of the pipeline's destination, as HTML or PDF.

    Args:
        pipeline: the dlt pipeline whose destination holds the built models.
        out: the file to write (replaced if present).
        period: `[start, end)` in UTC and an optional subdomain (`Period.parse`); open ends mean
            "from the first record" and "to the last".
        format: `html` or `pdf`; None: from `out`'s extension (`.pdf`), else HTML.
        paper: `a4` or `letter` page size (a PDF's default: A4); None for HTML leaves it to the printer.
        browser: the Chromium (or Chrome, Edge) to print a PDF with; None: `ZENDESK_AUDIT_BROWSER`,
            then the usual names on the PATH.

    Raises:
        ConfigurationError: the models are not built, the format and file name disagree, or no
            browser for a PDF (checked before anything is read or written).
        ReportPrintError: the browser failed to print the PDF.

    Example:
        >>> print(write_report(pipeline, "q3.pdf", Period.parse("2026-07-01", "2026-10-01")).summary_line())
    """
    from zendesk_audit.audit.evidence import tool_version
    from zendesk_audit.models.warehouse import open_engine

    started = time.monotonic()
    chosen = report_format(out, format)
    if paper is not None and paper not in ("a4", "letter"):
        raise ConfigurationError(f"--paper must be a4 or letter, not {paper!r}")
    found_browser = None
    if chosen == "pdf":
        from zendesk_audit.audit.report_pdf import find_browser

        found_browser = find_browser(browser)
        paper = paper or "a4"
    from zendesk_audit.load.pipeline import read_snapshot

    snapshot = read_snapshot(pipeline)
    with open_engine(pipeline) as engine:
        require_views(engine, pipeline.dataset_name, VIEWS)
        data = read_report_data(engine, pipeline.dataset_name, period)
    data.snapshot = snapshot.words() if snapshot else None
    html, builder = render_report(data, datetime.now(timezone.utc), tool_version(), paper)
    if found_browser:
        from zendesk_audit.audit.report_pdf import print_pdf

        print_pdf(html, Path(out), found_browser)
    else:
        Path(out).write_text(html, encoding="utf-8")
    result = ReportResult(str(out), period, chosen, builder.rows, builder.not_checked, time_zones=data.time_zones,
                          snapshot=data.snapshot)
    result.seconds = time.monotonic() - started
    return result
