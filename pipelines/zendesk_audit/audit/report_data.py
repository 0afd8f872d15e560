"""What the report shows, read from the models for one period: findings, activity, details, freshness.

Every query of the report is here, portable between DuckDB and PostgreSQL, each restricted to the
period and the subdomain by `Period.conditions` (one meaning of `--from`/`--to`/`--subdomain` in
every command). The marts are read by name (`sensitive_changes`, `off_hours_changes`, ...), so it
does not matter whether they are views or tables; the seeds the models applied (business hours,
holidays, sensitivity rules, approved actors) are read back from the models' schema, so the report
says what the figures were decided with, not what a file on this machine says today.

Open period ends become the first and the last record (`Window`), so every figure has a real span
and the previous period of the same length can be compared where the loaded data reaches it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from zendesk_audit.audit.period import Period, fetch
from zendesk_audit.models.account_zones import AccountTimeZone, account_time_zones
from zendesk_audit.models.seeds import SEVERITIES
from zendesk_audit.models.warehouse import sql_literal

if TYPE_CHECKING:
    from zendesk_audit.models.warehouse import DltSqlEngine

TABLE_LIMIT = 25
INCIDENT_CHANGES_LIMIT = 15
TOP_ACTORS = 10
# The marts the report reads; a missing one means the models are not built (one line, exit 2).
VIEWS = ("stg_audit_logs", "off_hours_changes", "sensitive_changes", "rule_changes", "user_role_history",
         "incident_changes", "unapproved_actor_changes")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Sign-ins and exports are not changes to anything (as in item_history).
NOT_A_CHANGE = "coalesce(action, '') not in ('login', 'exported')"
EXPORTED = "action = 'exported'"
CREATED = "action = 'create'"
API_TOKEN = "replace(lower(coalesce(source_type, '')), '_', '') = 'apitoken'"
ADMIN_ROLE = "grants_admin"  # user_role_history: the line gives an admin role in its product
# A role line as the report shows it: `not set` (Zendesk's words for no role in a product) for a null role.
ROLE_COLUMNS = "product, coalesce(old_role, 'not set'), coalesce(new_role, 'not set')"

__all__ = ["ReportData", "Rows", "VIEWS", "Window", "read_report_data"]


@dataclass(frozen=True)
class Window:
    """The period as shown: `[start, end)` in UTC, open ends replaced by the first and last record."""

    start: datetime
    end: datetime
    open_start: bool = False
    open_end: bool = False

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Window:
        """The period of the same length just before this one."""
        return Window(self.start - self.length, self.start)

    def as_period(self, subdomain: str | None) -> Period:
        return Period(self.start, self.end, subdomain)

    def local_days(self, zone: tzinfo) -> list[date]:
        """Every local date the window touches, first to last."""
        first = self.start.astimezone(zone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


@dataclass
class Rows:
    """Up to `TABLE_LIMIT` rows of a table and how many there are in all."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    total: int = 0


@dataclass
class Freshness:
    """How far the loaded data of one account reaches: what the cover's "data freshness" says."""

    subdomain: str
    records: int = 0
    first_record: datetime | None = None
    last_record: datetime | None = None
    cursor: datetime | None = None  # where the next API load starts; None: no API load recorded
    last_load: datetime | None = None


@dataclass
class Comparison:
    """The previous period of the same length, where the loaded data reaches it."""

    previous: Window
    coverage: str  # "full", "partial" (the data starts inside it) or "none" (no record before the period)
    data_starts: datetime | None
    figures: dict[str, int] = field(default_factory=dict)
    new_actors: Rows = field(default_factory=Rows)


@dataclass
class Incident:
    incident_id: str
    title: str
    started_at: datetime | None
    lookback_hours: int
    changes: int
    rows: list[tuple[Any, ...]]


@dataclass
class ReportData:
    """Everything the report shows, read once; the HTML is written from this alone."""

    period: Period
    window: Window | None  # None: no record and no bound given
    accounts: list[str]
    time_zones: list[AccountTimeZone]
    day_zone: str  # the zone of the holidays' dates (the accounts' zone when they share one, else UTC)
    freshness: list[Freshness]
    business_hours: list[tuple[int, int, int]] | None  # (iso weekday, opens, closes minute); None: unknown
    # Whose hours judged the period's records by people: (business_hours_source, schedule name, records).
    hours_sources: list[tuple[str, str, int]]
    # The hours the heatmap shades: the schedule's at the period's end when one Zendesk schedule
    # judged every record by people in the period, else business_hours (the seed's).
    heat_hours: list[tuple[int, int, int]] | None
    holidays: list[tuple[date, str]]  # in the period
    rules: list[tuple[str, str, str]]  # (severity, title, rule_id), most severe first
    approved_actors: int | None  # None: the models have no approved-actor list
    figures: dict[str, int]
    comparison: Comparison | None
    no_comparison: str  # why there is none, when there is none
    critical_high: Rows
    admin_roles: Rows
    unapproved: Rows  # per actor: name, id, records, sign-ins, first, last
    exports: Rows
    api_tokens: Rows
    per_day: list[tuple[date, int]]
    heat: dict[tuple[int, int], int]
    heat_off: dict[tuple[int, int], int]
    off_reasons: list[tuple[str, int]]
    top_actors: list[tuple[str, int]]
    off_hours: Rows
    sensitive_by_severity: list[tuple[str, int]]
    sensitive: Rows
    rule_kinds: list[tuple[str, int]]
    rule_changes: Rows
    role_history: Rows
    incidents: list[Incident]
    destination: str
    schema: str
    snapshot: str | None = None  # a DuckLake's snapshot the report was read from, in words


class _Queries:
    """The report's SQL restricted to one period (and subdomain)."""

    def __init__(self, engine: DltSqlEngine, schema: str, period: Period) -> None:
        self.engine, self.schema, self.period = engine, schema, period
        self._counts: dict[str, int] = {}  # a figure and its table's "N of M" ask the same count

    def view(self, name: str) -> str:
        return self.engine.relation(self.schema, name)

    def where(self, time_column: str = "created_at", extra: Sequence[str] = ()) -> str:
        conditions = self.period.conditions(["subdomain"], time_column=time_column) + list(extra)
        return (" where " + " and ".join(conditions)) if conditions else ""

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return fetch(self.engine, sql)[1]

    def count(self, sql: str) -> int:
        if sql not in self._counts:
            rows = self.rows(sql)
            self._counts[sql] = int(rows[0][0] or 0) if rows else 0
        return self._counts[sql]

    def table(self, name: str, columns: str, extra: Sequence[str], order: str, time_column: str = "created_at") -> Rows:
        where = self.where(time_column, extra)
        return Rows(
            self.rows(f"select {columns} from {self.view(name)}{where} order by {order} limit {TABLE_LIMIT}"),
            self.count(f"select count(*) from {self.view(name)}{where}"),
        )


def _utc(value: Any) -> datetime | None:
    """An aware UTC datetime from what a driver returns (naive values are UTC)."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _minute(text: Any) -> int:
    hours, _, minutes = str(text).strip().partition(":")
    return int(hours) * 60 + int(minutes or 0)


# ----------------------------------------------------------------------------- figures
def figures(q: _Queries, with_unapproved: bool) -> dict[str, int]:
    """The summary's counts for one period (also run for the previous period)."""
    stg, sensitive = q.view("stg_audit_logs"), q.view("sensitive_changes")
    found = {
        "records": q.count(f"select count(*) from {stg}{q.where()}"),
        "people": q.count(
            f"select count(distinct actor_id) from {stg}{q.where(extra=['not is_system', NOT_A_CHANGE])}"
        ),
        "critical": q.count(
            f"select count(*) from (select distinct subdomain, audit_log_id from {sensitive}"
            f"{q.where(extra=['severity_rank = 4'])}) as matched"
        ),
        "high": q.count(
            f"select count(*) from (select distinct subdomain, audit_log_id from {sensitive}"
            f"{q.where(extra=['severity_rank = 3'])}) as matched"
        ),
        "off_hours": q.count(f"select count(*) from {q.view('off_hours_changes')}{q.where()}"),
        "admin_roles": q.count(f"select count(*) from {q.view('user_role_history')}{q.where('changed_at', [ADMIN_ROLE])}"),
        "exports": q.count(f"select count(*) from {stg}{q.where(extra=[EXPORTED])}"),
        "api_tokens": q.count(f"select count(*) from {stg}{q.where(extra=[CREATED, API_TOKEN])}"),
    }
    if with_unapproved:
        found["unapproved"] = q.count(f"select count(*) from {q.view('unapproved_actor_changes')}{q.where()}")
    return found


def _new_actors(q: _Queries, previous: Period) -> Rows:
    """People who changed something in the period and nothing in the previous one."""
    stg = q.view("stg_audit_logs")
    before = _Queries(q.engine, q.schema, previous).where(extra=["not is_system", NOT_A_CHANGE, "actor_id is not null"])
    earlier = f"actor_id not in (select actor_id from {stg}{before})"
    where = q.where(extra=["not is_system", NOT_A_CHANGE, "actor_id is not null", earlier])
    rows = q.rows(
        f"select max(actor_name), actor_id, count(*), min(created_at_local) from {stg}{where} "
        f"group by actor_id order by 3 desc, 2 limit {TABLE_LIMIT}"
    )
    total = q.count(f"select count(distinct actor_id) from {stg}{where}")
    return Rows(rows, total)


def _comparison(q: _Queries, window: Window, with_unapproved: bool) -> tuple[Comparison | None, str]:
    if window.open_start:
        return None, "The report starts at the first record loaded, so there is no earlier period to compare with."
    stg = q.view("stg_audit_logs")
    subdomain = Period(subdomain=q.period.subdomain).where(["subdomain"])
    starts = _utc(q.rows(f"select min(created_at) from {stg}{subdomain}")[0][0])
    previous = window.previous()
    if starts is None or starts >= window.start:
        return None, "No record was loaded before this period, so there is no previous period to compare with."
    coverage = "partial" if starts > previous.start else "full"
    earlier = _Queries(q.engine, q.schema, previous.as_period(q.period.subdomain))
    comparison = Comparison(previous, coverage, starts, figures(earlier, with_unapproved),
                            _new_actors(q, previous.as_period(q.period.subdomain)))
    return comparison, ""


# ----------------------------------------------------------------------------- what was decided with
def _seed_rows(
    engine: DltSqlEngine, schema: str, present: dict[str, str], name: str, columns: str
) -> list[tuple[Any, ...]] | None:
    if name not in present:
        return None
    return fetch(engine, f"select {columns} from {engine.relation(schema, name)}")[1]


def _business_hours(rows: list[tuple[Any, ...]] | None) -> list[tuple[int, int, int]] | None:
    if rows is None:
        return None
    hours = []
    for weekday, opens, closes in rows:
        day = str(weekday or "").strip().lower()
        if day in WEEKDAYS and opens and closes:
            hours.append((WEEKDAYS.index(day) + 1, _minute(opens), _minute(closes)))
    return sorted(hours)


def _hours_sources(q: _Queries, present: dict[str, str]) -> list[tuple[str, str, int | None, int]]:
    """Whose business hours judged the period's records by people: (source, schedule name,
    schedule id, records), the account's own Zendesk schedule or the seed
    (int_audit_logs_business_hours_classified; none when the models predate schedules)."""
    name = "int_audit_logs_business_hours_classified"
    if name not in present or "business_hours_source" not in q.engine.columns(q.schema, name):
        return []
    rows = q.rows(f"select business_hours_source, coalesce(business_hours_schedule_name, ''), "
                  f"business_hours_schedule_id, count(*) from {q.view(name)}{q.where(extra=['not is_system'])} "
                  "group by 1, 2, 3 order by 1, 2, 3")
    return [(str(source), str(schedule), int(schedule_id) if schedule_id is not None else None, int(count or 0))
            for source, schedule, schedule_id, count in rows]


def _schedule_hours(q: _Queries, present: dict[str, str], sources: list[tuple[str, str, int | None, int]],
                    window: Window | None) -> list[tuple[int, int, int]] | None:
    """The hours of the one Zendesk schedule that judged every record in the period, in its
    version in force at the period's end (schedule_history); None when the seed or several did."""
    if len(sources) != 1 or sources[0][0] != "zendesk_schedules" or "schedule_history" not in present:
        return None
    schedule_id = sources[0][2]
    view = q.view("schedule_history")
    end = f" and (valid_from is null or valid_from < {sql_literal(window.end.isoformat())})" if window else ""
    rows = q.rows(f"select weekday, opens_at_minute, closes_at_minute from {view} where schedule_id = {schedule_id} "
                  f"and version_number = (select max(version_number) from {view} where schedule_id = {schedule_id}{end}) "
                  "and interval_number > 0")
    return sorted((int(day), int(opens), int(closes)) for day, opens, closes in rows)


def _rules(rows: list[tuple[Any, ...]] | None) -> list[tuple[str, str, str]]:
    order = {name: position for position, name in enumerate(reversed(SEVERITIES))}  # the scale's seed, highest first
    found = [(str(severity), str(title or rule_id), str(rule_id)) for rule_id, severity, title in rows or []]
    return sorted(found, key=lambda rule: (order.get(rule[0], 9), rule[1]))


# ----------------------------------------------------------------------------- freshness
def _cursors(engine: DltSqlEngine, dataset: str, present: dict[str, str], accounts: Sequence[str]) -> dict[str, datetime]:
    """Each account's cursor from the destination's copy of dlt's state (readable from any machine)."""
    from dlt.common.versioned_state import decompress_state

    from zendesk_audit.extract.cursor import saved_cursor
    from zendesk_audit.load.accounts import pipeline_name_for
    from zendesk_audit.load.state_layout import names_of
    from zendesk_audit.settings import DEFAULT_PIPELINE_NAME

    if "_dlt_pipeline_state" not in present:
        return {}
    rows = fetch(
        engine, f"select pipeline_name, state from {engine.relation(dataset, '_dlt_pipeline_state')} order by created_at"
    )[1]
    cursors: dict[str, datetime] = {}
    for subdomain in accounts:
        # Several accounts load as zendesk_audit_<subdomain>; a single one as zendesk_audit. Each
        # under its dlt name (base, destination, dataset, key); older versions under the base alone.
        bases = [pipeline_name_for(subdomain)] + ([DEFAULT_PIPELINE_NAME] if len(accounts) == 1 else [])
        state = None
        for base in bases:
            named = names_of(base, engine.name, dataset)
            found = [saved for name, saved in rows if named.match(str(name)) or str(name) == base]
            if found:
                state = found[-1]  # the latest saved
                break
        try:
            cursor = saved_cursor(decompress_state(state)) if state is not None else None
        except Exception:  # noqa: BLE001 - a state this version cannot read: the cover says "not recorded"
            cursor = None
        if cursor is not None:
            cursors[subdomain] = cursor
    return cursors


def _freshness(engine: DltSqlEngine, schema: str, dataset: str, subdomain: str | None) -> list[Freshness]:
    stg = engine.relation(schema, "stg_audit_logs")
    where = Period(subdomain=subdomain).where(["subdomain"])
    found = {
        str(name): Freshness(str(name), int(count or 0), _utc(first), _utc(last))
        for name, count, first, last in fetch(
            engine, f"select subdomain, count(*), min(created_at), max(created_at) from {stg}{where} group by subdomain"
        )[1]
    }
    if subdomain and subdomain not in found:
        found[subdomain] = Freshness(subdomain)
    present = engine.relations(dataset)
    loads: dict[str, datetime | None] = {}
    if "accounts" in present and "loaded_at" in engine.columns(dataset, "accounts"):
        loads = {str(name): _utc(loaded) for name, loaded in fetch(
            engine, f"select subdomain, max(loaded_at) from {engine.relation(dataset, 'accounts')} group by subdomain"
        )[1]}
    if "_dlt_loads" in present:
        last = fetch(engine, f"select max(inserted_at) from {engine.relation(dataset, '_dlt_loads')} where status = 0")[1]
        any_load = _utc(last[0][0]) if last else None
    else:
        any_load = None
    cursors = _cursors(engine, dataset, present, sorted(found))
    for name, item in found.items():
        item.cursor = cursors.get(name)
        item.last_load = loads.get(name) or any_load
    return [found[name] for name in sorted(found)]


# ----------------------------------------------------------------------------- activity
def _per_day(q: _Queries, window: Window | None) -> list[tuple[date, int]]:
    """Records per UTC day over every day of the window, days without records included.

    UTC days, like the period's bounds: local days would add a part-day at either end.
    """
    counted = {
        value if isinstance(value, date) else date.fromisoformat(str(value)[:10]): int(count or 0)
        for value, count in q.rows(
            f"select cast(created_at at time zone 'UTC' as date), count(*) from {q.view('stg_audit_logs')}{q.where()} "
            "group by 1"
        )
    }
    days = window.local_days(timezone.utc) if window else sorted(counted)
    return [(day, counted.get(day, 0)) for day in days]


def _heat(q: _Queries) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    people = q.rows(
        "select extract(isodow from created_at_local), extract(hour from created_at_local), count(*) "
        f"from {q.view('stg_audit_logs')}{q.where(extra=['not is_system'])} group by 1, 2"
    )
    off = q.rows(
        "select local_iso_weekday, floor(local_minute_of_day / 60.0), count(*) "
        f"from {q.view('off_hours_changes')}{q.where()} group by 1, 2"
    )
    return ({(int(day), int(hour)): int(count) for day, hour, count in people},
            {(int(day), int(hour)): int(count) for day, hour, count in off})


def _incidents(q: _Queries) -> list[Incident]:
    view = q.view("incident_changes")
    found = []
    for incident_id, title, started_at, lookback, count in q.rows(
        f"select incident_id, incident_title, incident_started_at, lookback_hours, count(*) from {view}"
        f"{q.where('incident_started_at')} group by 1, 2, 3, 4 order by 3 desc, 1"
    ):
        condition = f"incident_id = {sql_literal(str(incident_id))}"
        rows = q.rows(
            f"select minutes_before_incident, created_at_local, actor_name, action, source_type, source_label, "
            f"change_description_text from {view}{q.where('incident_started_at', [condition])} "
            f"order by seconds_before_incident, audit_log_id limit {INCIDENT_CHANGES_LIMIT}"
        )
        found.append(Incident(str(incident_id), str(title or ""), _utc(started_at), int(lookback or 0), int(count), rows))
    return found


def _window(q: _Queries, period: Period) -> Window | None:
    """The period with open ends replaced by the first and last record; None when an end is open
    and there is no record to close it with."""
    if period.start and period.end:
        return Window(period.start, period.end)
    first, last = q.rows(f"select min(created_at), max(created_at) from {q.view('stg_audit_logs')}{q.where()}")[0]
    first, last = _utc(first), _utc(last)
    if first is None or last is None:
        return None
    return Window(period.start or first, period.end or last + timedelta(seconds=1), period.start is None, period.end is None)


def _day_zone(zones: Sequence[AccountTimeZone]) -> str:
    names = {zone.time_zone for zone in zones}
    return names.pop() if len(names) == 1 else "UTC"


CHANGE_COLUMNS = "created_at_local, actor_name, ip_address, source_label, change_description_text"
SENSITIVE_COLUMNS = "severity, created_at_local, rule_title, actor_name, ip_address, source_label, change_description_text"
SENSITIVE_ORDER = "severity_rank desc, created_at desc, audit_log_id"


def _unapproved(q: _Queries, with_unapproved: bool) -> Rows:
    """Per person not on the approved list: name, id, records, sign-ins, first and last (local)."""
    if not with_unapproved:
        return Rows()
    view, where = q.view("unapproved_actor_changes"), q.where()
    return Rows(
        q.rows(
            "select max(actor_name), actor_id, count(*), sum(case when action = 'login' then 1 else 0 end), "
            f"min(created_at_local), max(created_at_local) from {view}{where} "
            f"group by actor_id order by 3 desc, 2 limit {TABLE_LIMIT}"
        ),
        q.count(f"select count(distinct actor_id) from {view}{where}"),
    )


def _pairs(rows: list[tuple[Any, ...]]) -> list[tuple[str, int]]:
    return [(str(name), int(count or 0)) for name, count in rows]


def read_report_data(engine: DltSqlEngine, dataset: str, period: Period) -> ReportData:
    """Read everything the report shows for `period` from the built models of `dataset`."""
    from zendesk_audit.models.build import models_schema_name

    schema = models_schema_name(dataset)
    q = _Queries(engine, schema, period)
    present = engine.relations(schema)
    approved = _seed_rows(engine, schema, present, "approved_actors", "count(*)")
    approved_actors = int(approved[0][0]) if approved else None
    with_unapproved = bool(approved_actors)
    window = _window(q, period)
    zones = account_time_zones(engine, dataset, period.subdomain)
    day_zone = _day_zone(zones)
    freshness = _freshness(engine, schema, dataset, period.subdomain)
    days = set(window.local_days(ZoneInfo(day_zone))) if window else set()
    holidays = sorted(
        (day, str(name or ""))
        for value, name in _seed_rows(engine, schema, present, "holidays", "holiday_date, holiday_name") or []
        for day in [value if isinstance(value, date) else date.fromisoformat(str(value)[:10])]
        if day in days
    )
    comparison, no_comparison = (_comparison(q, window, with_unapproved) if window
                                 else (None, "There is no record in this period."))
    heat, heat_off = _heat(q)
    stg = "stg_audit_logs"
    hours_sources = _hours_sources(q, present)
    seed_hours = _business_hours(_seed_rows(engine, schema, present, "business_hours", "weekday, opens_at, closes_at"))
    return ReportData(
        period=period,
        window=window,
        accounts=[item.subdomain for item in freshness],
        time_zones=zones,
        day_zone=day_zone,
        freshness=freshness,
        business_hours=seed_hours,
        hours_sources=[(source, name, count) for source, name, _, count in hours_sources],
        heat_hours=_schedule_hours(q, present, hours_sources, window) or seed_hours,
        holidays=holidays,
        rules=_rules(_seed_rows(engine, schema, present, "detection_rules", "rule_id, severity, title")),
        approved_actors=approved_actors,
        figures=figures(q, with_unapproved),
        comparison=comparison,
        no_comparison=no_comparison,
        critical_high=q.table("sensitive_changes", SENSITIVE_COLUMNS, ["severity_rank >= 3"], SENSITIVE_ORDER),
        admin_roles=q.table("user_role_history", f"changed_at_local, user_name, {ROLE_COLUMNS}, actor_name", [ADMIN_ROLE],
                            "changed_at desc, audit_log_id, line_number", time_column="changed_at"),
        unapproved=_unapproved(q, with_unapproved),
        exports=q.table(stg, CHANGE_COLUMNS, [EXPORTED], "created_at desc, id"),
        api_tokens=q.table(stg, CHANGE_COLUMNS, [CREATED, API_TOKEN], "created_at desc, id"),
        per_day=_per_day(q, window),
        heat=heat,
        heat_off=heat_off,
        off_reasons=_pairs(q.rows(f"select off_hours_reason, count(*) from {q.view('off_hours_changes')}{q.where()} "
                                  "group by 1 order by 2 desc, 1")),
        top_actors=[(str(name or actor_id), int(count)) for name, actor_id, count in q.rows(
            f"select max(actor_name), actor_id, count(*) from {q.view(stg)}{q.where(extra=['not is_system'])} "
            f"group by actor_id order by 3 desc, 1 limit {TOP_ACTORS}")],
        off_hours=q.table("off_hours_changes", "created_at_local, off_hours_reason, actor_name, action, source_type, "
                          "source_label", [], "created_at desc, audit_log_id"),
        sensitive_by_severity=_pairs(q.rows(f"select severity, count(*) from {q.view('sensitive_changes')}{q.where()} "
                                            "group by severity, severity_rank order by severity_rank desc")),
        sensitive=q.table("sensitive_changes", SENSITIVE_COLUMNS, [], SENSITIVE_ORDER),
        rule_kinds=_pairs(q.rows(f"select rule_kind, count(*) from {q.view('rule_changes')}{q.where()} "
                                 "group by 1 order by 2 desc, 1 limit 12")),
        rule_changes=q.table("rule_changes", "created_at_local, rule_kind, rule_name, action, actor_name, "
                             "change_description_text", [], "created_at desc, audit_log_id"),
        role_history=q.table("user_role_history", f"changed_at_local, user_name, {ROLE_COLUMNS}, actor_name",
                             [], "changed_at desc, audit_log_id, line_number", time_column="changed_at"),
        incidents=_incidents(q),
        destination=getattr(engine, "name", "sql"),
        schema=schema,
    )


def hour_zones(hours: Sequence[tuple[int, int, int]] | None) -> dict[tuple[int, int], str]:
    """Per (iso weekday, hour): `business` when the whole hour is inside business hours, `off` when
    none of it is, `partly` otherwise (e.g. opening at 09:30). Unknown hours: every cell `business`,
    so nothing is marked that the models did not decide."""
    zones: dict[tuple[int, int], str] = {}
    for day in range(1, 8):
        shifts = [(opens, closes) for weekday, opens, closes in hours or () if weekday == day]
        for hour in range(24):
            if hours is None:
                zones[(day, hour)] = "business"
                continue
            start, end = hour * 60, hour * 60 + 60
            inside = {minute for opens, closes in shifts for minute in range(max(start, opens), min(end, closes))}
            zones[(day, hour)] = "business" if len(inside) == 60 else ("partly" if inside else "off")
    return zones
